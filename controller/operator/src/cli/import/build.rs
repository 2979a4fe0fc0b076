//! From what `orgops import` read of the organization to the objects that adopt it and the
//! platform-policy grants they need: which team (namespace) each account, permission set
//! and delegation belongs to, its object name, its spec. No AWS call here.

use crate::aws::sso_admin::PrincipalKind;
use crate::policy::{NamespacePolicy, ParentDomain, Policy};
use orgops_api::account::AlternateContacts;
use orgops_api::permission_set::{Assignment, AssignmentTarget, PermissionSetSpec};
use orgops_api::{AccountTarget, ManagementPolicy, Tags};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// An account of the organization.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
    /// Path of its parent OU from the root; empty under the root.
    pub ou_path: String,
    /// Id of its parent OU (or the root).
    pub ou_id: String,
    /// Its tags, orgops's own aside.
    pub tags: Tags,
    pub contacts: Option<AlternateContacts>,
    /// The organization's management account.
    pub management: bool,
}

/// Who has a permission set in an account.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub id: String,
    /// The group's display name or the user's user name, when the identity store has one.
    pub name: Option<String>,
}

/// A permission set and its assignments.
#[derive(Clone, Debug, PartialEq)]
pub struct PermissionSet {
    pub arn: String,
    /// The spec that asks for it as it is.
    pub spec: PermissionSetSpec,
    /// (principal, account id).
    pub assignments: Vec<(Principal, String)>,
}

/// A child zone delegated from a parent zone by an NS record.
#[derive(Clone, Debug, PartialEq)]
pub struct Delegation {
    pub domain: String,
    pub parent: ParentDomain,
    /// The account holding the child zone.
    pub account_id: String,
    pub zone_id: String,
    /// The NS record's TTL.
    pub ttl: i64,
}

/// What was read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estate {
    pub accounts: Vec<Account>,
    pub permission_sets: Vec<PermissionSet>,
    pub delegations: Vec<Delegation>,
}

/// How an account's team is found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TeamRule {
    /// The value of this account tag.
    Tag(String),
    /// The name of the OU at this level below the root (1: the root's children).
    OuLevel(usize),
}

/// How the estate becomes objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub rule: TeamRule,
    /// The namespace of everything that belongs to no single team.
    pub admin_namespace: String,
    /// `managementPolicy: Full` (with the adopt annotation) instead of `ObserveOnly`.
    pub manage: bool,
}

/// One object to write.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    pub namespace: String,
    pub kind: &'static str,
    pub name: String,
    pub body: Value,
}

/// The objects, the grants they need, and what was left out and why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Import {
    pub objects: Vec<Object>,
    pub policy: Policy,
    pub notes: Vec<String>,
}

/// A DNS label made of the text: lower case, `-` for anything else, at most 63
/// characters; `None` when nothing is left.
pub fn label(text: &str) -> Option<String> {
    let mut out = String::new();
    for c in text.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_string();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// The team of an account, `None` for the admin namespace: the management account and
/// accounts under the root belong to no team.
fn team_of(account: &Account, rule: &TeamRule) -> Option<String> {
    if account.management || account.ou_path.is_empty() {
        return None;
    }
    match rule {
        TeamRule::Tag(key) => account.tags.get(key).and_then(|v| label(v)),
        TeamRule::OuLevel(level) => account.ou_path.split('/').nth(level.saturating_sub(1)).and_then(label),
    }
}

/// The OU a team's account makes the policy grant: the team's OU under an OU level, the
/// account's own OU under a tag.
fn granted_ou(account: &Account, rule: &TeamRule) -> String {
    match rule {
        TeamRule::OuLevel(level) => account.ou_path.split('/').take(*level).collect::<Vec<_>>().join("/"),
        TeamRule::Tag(_) => account.ou_path.clone(),
    }
}

/// The paths without those below another of them.
fn outermost(paths: BTreeSet<String>) -> Vec<String> {
    paths.iter().filter(|p| !paths.iter().any(|q| q != *p && p.starts_with(&format!("{q}/")))).cloned().collect()
}

/// Object names by namespace and kind, unique within each.
#[derive(Default)]
struct Names(BTreeSet<(String, &'static str, String)>);

impl Names {
    /// `label(text)`, or with `-<suffix>` (then a number) when taken.
    fn claim(&mut self, namespace: &str, kind: &'static str, text: &str, suffix: &str) -> String {
        let base = label(text).unwrap_or_else(|| kind.to_lowercase());
        let mut candidates = vec![base.clone(), format!("{base}-{suffix}")];
        candidates.extend((2..).take(1000).map(|n| format!("{base}-{suffix}-{n}")));
        let name = candidates
            .into_iter()
            .map(|c| label(&c).unwrap_or(c))
            .find(|c| !self.0.contains(&(namespace.to_string(), kind, c.clone())))
            .expect("a free name");
        self.0.insert((namespace.to_string(), kind, name.clone()));
        name
    }
}

fn metadata(namespace: &str, name: &str, adopt: Option<&str>) -> Value {
    let mut metadata = json!({"name": name, "namespace": namespace});
    if let Some(id) = adopt {
        metadata["annotations"] = json!({ crate::reconcile::ownership::ADOPT_ANNOTATION: id });
    }
    metadata
}

fn object(kind: &'static str, namespace: &str, name: &str, adopt: Option<&str>, spec: Value) -> Object {
    let body = json!({
        "apiVersion": format!("{}/v1alpha1", orgops_api::GROUP),
        "kind": kind,
        "metadata": metadata(namespace, name, adopt),
        "spec": spec,
    });
    Object { namespace: namespace.to_string(), kind, name: name.to_string(), body }
}

struct Builder<'a> {
    options: &'a Options,
    names: Names,
    /// Account id → (namespace, object name).
    accounts: BTreeMap<String, (String, String)>,
    management: Option<String>,
    policy: Policy,
    out: Import,
}

impl Builder<'_> {
    fn management_policy(&self) -> ManagementPolicy {
        if self.options.manage { ManagementPolicy::Full } else { ManagementPolicy::ObserveOnly }
    }

    fn grants(&mut self, namespace: &str) -> &mut NamespacePolicy {
        self.policy.namespaces.entry(namespace.to_string()).or_default()
    }

    fn account(&mut self, account: &Account, ou_pattern: &regex::Regex) {
        let team = team_of(account, &self.options.rule);
        let namespace = team.clone().unwrap_or_else(|| self.options.admin_namespace.clone());
        let name = self.names.claim(&namespace, "AwsAccount", &account.name, &account.id[account.id.len() - 4..]);
        let organizational_unit = if account.ou_path.is_empty() {
            "Root".to_string()
        } else if ou_pattern.is_match(&account.ou_path) {
            account.ou_path.clone()
        } else {
            account.ou_id.clone()
        };
        let mut spec = json!({
            "accountName": account.name,
            "email": account.email,
            "organizationalUnit": organizational_unit,
            "accountId": account.id,
            "managementPolicy": self.management_policy(),
        });
        if !account.tags.is_empty() {
            spec["tags"] = json!(account.tags);
        }
        if let Some(contacts) = &account.contacts {
            spec["alternateContacts"] = json!(contacts);
        }
        if team.is_some() {
            let ou = granted_ou(account, &self.options.rule);
            self.grants(&namespace).organizational_units.push(ou);
        }
        if account.management {
            self.management = Some(account.id.clone());
        }
        self.accounts.insert(account.id.clone(), (namespace.clone(), name.clone()));
        self.out.objects.push(object("AwsAccount", &namespace, &name, None, spec));
    }

    /// The namespace of a permission set: its team tag's, else the one team owning every
    /// account it is assigned in, else the admin namespace. Only the admin namespace may
    /// assign in the management account.
    fn permission_set_namespace(&self, set: &PermissionSet) -> String {
        let admin = &self.options.admin_namespace;
        let in_management = set.assignments.iter().any(|(_, a)| self.management.as_deref() == Some(a.as_str()));
        let by_tag = match &self.options.rule {
            TeamRule::Tag(key) => set.spec.tags.get(key).and_then(|v| label(v)),
            TeamRule::OuLevel(_) => None,
        };
        let owners: BTreeSet<&str> = set
            .assignments
            .iter()
            .map(|(_, a)| self.accounts.get(a).map_or(admin.as_str(), |(ns, _)| ns.as_str()))
            .collect();
        let by_accounts = (owners.len() == 1).then(|| owners.first().map(|o| o.to_string())).flatten();
        match by_tag.or(by_accounts) {
            Some(namespace) if !in_management => namespace,
            _ => admin.clone(),
        }
    }

    fn permission_set(&mut self, set: &PermissionSet) {
        let namespace = self.permission_set_namespace(set);
        let arn_suffix: String = set.arn.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        let name = self.names.claim(&namespace, "PermissionSetRequest", &set.spec.name, &arn_suffix);
        let mut by_principal: BTreeMap<&Principal, BTreeSet<&str>> = BTreeMap::new();
        for (principal, account) in &set.assignments {
            by_principal.entry(principal).or_default().insert(account);
        }
        let mut assignments = Vec::new();
        let mut granted = Vec::new();
        for (principal, accounts) in by_principal {
            let targets: Vec<AssignmentTarget> = accounts
                .into_iter()
                .map(|account| match self.accounts.get(account) {
                    Some((ns, object)) if *ns == namespace => {
                        AssignmentTarget { account_ref: Some(object.clone()), ..Default::default() }
                    }
                    _ => {
                        granted.push(account.to_string());
                        AssignmentTarget { account_id: Some(account.to_string()), ..Default::default() }
                    }
                })
                .collect();
            for chunk in targets.chunks(50) {
                let mut assignment = Assignment { targets: chunk.to_vec(), ..Default::default() };
                match (principal.kind, principal.name.clone()) {
                    (PrincipalKind::Group, Some(name)) => assignment.group = Some(name),
                    (PrincipalKind::Group, None) => assignment.group_id = Some(principal.id.clone()),
                    (PrincipalKind::User, Some(name)) => assignment.user = Some(name),
                    (PrincipalKind::User, None) => assignment.user_id = Some(principal.id.clone()),
                }
                assignments.push(assignment);
            }
        }
        if assignments.len() > 100 {
            self.out.notes.push(format!(
                "permission set {} has {} assignments (principal × 50 accounts); a request holds at most 100",
                set.spec.name,
                assignments.len()
            ));
        }
        if namespace != self.options.admin_namespace {
            self.grants(&namespace).accounts.extend(granted);
        }
        let spec = json!({
            "permissionSet": set.spec,
            "assignments": assignments,
            "managementPolicy": self.management_policy(),
            // Imported, not created by orgops: removing the object leaves it in AWS.
            "deletionPolicy": "Retain",
        });
        let adopt = self.options.manage.then_some(set.arn.as_str());
        self.out.objects.push(object("PermissionSetRequest", &namespace, &name, adopt, spec));
    }

    fn delegation(&mut self, delegation: &Delegation) {
        let admin = self.options.admin_namespace.clone();
        let (namespace, account) = match self.accounts.get(&delegation.account_id) {
            Some((ns, object)) => (ns.clone(), AccountTarget { account_ref: Some(object.clone()), account_id: None }),
            None => {
                (admin.clone(), AccountTarget { account_ref: None, account_id: Some(delegation.account_id.clone()) })
            }
        };
        let zone_suffix: String =
            delegation.zone_id.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        let name = self.names.claim(&namespace, "SubdomainDelegation", &delegation.domain, &zone_suffix.to_lowercase());
        let spec = json!({
            "domain": delegation.domain,
            "parentDomain": delegation.parent.domain,
            "account": account,
            "ttl": delegation.ttl,
            "managementPolicy": self.management_policy(),
        });
        // Parents the policy knows, for the admin namespace too: it delegates from those.
        for ns in [namespace.clone(), admin] {
            let parents = &mut self.grants(&ns).parent_domains;
            if !parents.contains(&delegation.parent) {
                parents.push(delegation.parent.clone());
            }
        }
        let adopt = self.options.manage.then_some(delegation.zone_id.as_str());
        self.out.objects.push(object("SubdomainDelegation", &namespace, &name, adopt, spec));
    }
}

/// The objects and the grants that adopt the estate, in a stable order.
pub fn build(estate: &Estate, options: &Options) -> Import {
    let ou_pattern = regex::Regex::new(orgops_api::OU_PATTERN).expect("the OU pattern compiles");
    let mut builder = Builder {
        options,
        names: Names::default(),
        accounts: BTreeMap::new(),
        management: None,
        policy: Policy::default(),
        out: Import::default(),
    };
    builder.grants(&options.admin_namespace).admin = true;
    let mut accounts: Vec<&Account> = estate.accounts.iter().collect();
    accounts.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    for account in accounts {
        builder.account(account, &ou_pattern);
    }
    let mut sets: Vec<&PermissionSet> = estate.permission_sets.iter().collect();
    sets.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    for set in sets {
        builder.permission_set(set);
    }
    let mut delegations: Vec<&Delegation> = estate.delegations.iter().collect();
    delegations.sort_by(|a, b| a.domain.cmp(&b.domain));
    for delegation in delegations {
        builder.delegation(delegation);
    }
    let mut policy = builder.policy;
    for grants in policy.namespaces.values_mut() {
        grants.organizational_units = outermost(grants.organizational_units.drain(..).collect());
        grants.accounts.sort();
        grants.accounts.dedup();
        grants.parent_domains.sort();
    }
    Import { policy, ..builder.out }
}
