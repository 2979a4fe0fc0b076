//! `orgops import`: brings an existing organization under orgops without a single change
//! to AWS. It reads the accounts (OU paths, tags, alternate contacts), the Identity Center
//! permission sets (policies, tags, assignments, principals by name) and the subdomains
//! delegated from given parent zones, on a call gate that refuses any write, and writes
//! one folder per team of objects that adopt them, with the platform-policy grants they
//! need. What orgops already manages (its owner tag) is left out.

pub mod build;
#[cfg(test)]
mod tests;
mod yaml;

use crate::aws::account::{AccountManagement, ContactType, SdkAccountManagement};
use crate::aws::identity_store::{IdentityStore, SdkIdentityStore};
use crate::aws::load_sdk_config;
use crate::aws::member::MemberAccess;
use crate::aws::organizations::{Organizations, SdkOrganizations};
use crate::aws::route53::{Route53, SdkRoute53, normalize};
use crate::aws::snapshots::dns::DnsView;
use crate::aws::snapshots::identity_center::IdentityCenter;
use crate::aws::snapshots::organization::OrgCache;
use crate::aws::sso_admin::{SdkSsoAdmin, SsoAdmin};
use crate::cli::ReadArgs;
use crate::kinds::account::rules::alternate_contacts;
use crate::kinds::permission_set::rules::spec_of;
use crate::metrics::Metrics;
use crate::policy::{ParentDomain, PolicyStore};
use crate::reconcile::ownership::OWNER_TAG;
use anyhow::{Context, bail};
use build::{Estate, Options, TeamRule};
use futures::{StreamExt, TryStreamExt};
use orgops_api::{Tags, normalize_ou_path};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `orgops import` arguments.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("team").required(true).args(["team_tag", "team_ou_level"])))]
pub struct ImportArgs {
    /// The folder to write into (`teams/<namespace>/`, `<admin namespace>/`): a new one,
    /// or a repository where none of the files to write exists yet.
    #[arg(long)]
    pub out: PathBuf,
    /// An account's team is the value of this tag.
    #[arg(long)]
    pub team_tag: Option<String>,
    /// An account's team is the name of its OU at this level below the root (1: the
    /// root's children).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=5))]
    pub team_ou_level: Option<u16>,
    /// The namespace of what belongs to no single team: the management account, accounts
    /// under the root or without a team, permission sets assigned across teams.
    #[arg(long, default_value = "platform")]
    pub admin_namespace: String,
    /// Write `managementPolicy: Full`, with the adopt annotation naming each permission
    /// set and zone: orgops then tags what it adopted and corrects drift. Without it,
    /// everything is `ObserveOnly`: read and reported, never written.
    #[arg(long)]
    pub manage: bool,
    /// A parent domain whose delegated subdomains are imported: `example.com` (its zone in
    /// the management account) or `example.com@111122223333`. Repeatable.
    #[arg(long = "parent-domain", value_parser = parse_parent)]
    pub parent_domains: Vec<ParentArg>,
    /// Where to read AWS from.
    #[command(flatten)]
    pub reads: ReadArgs,
}

/// A parent domain and, when not the management account, the account of its zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentArg {
    pub domain: String,
    pub account: Option<String>,
}

fn parse_parent(text: &str) -> Result<ParentArg, String> {
    let (domain, account) = match text.split_once('@') {
        Some((domain, account)) => (domain, Some(account.to_string())),
        None => (text, None),
    };
    if account.as_ref().is_some_and(|a| a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit())) {
        return Err(format!("{text}: the account after @ must be a 12-digit account id"));
    }
    let domain = normalize(domain);
    if domain.is_empty() || !domain.contains('.') {
        return Err(format!("{text}: not a domain name"));
    }
    Ok(ParentArg { domain, account })
}

/// Tags without orgops's bookkeeping and AWS's reserved ones, which no spec holds.
fn user_tags(tags: &Tags) -> Tags {
    tags.iter()
        .filter(|(k, _)| !k.starts_with(&format!("{}/", orgops_api::GROUP)) && !k.starts_with("aws:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What the estate reads from, each on the read-only gate.
pub struct Sources<O: Organizations, C: AccountManagement, A: SsoAdmin, I: IdentityStore, R: Route53> {
    pub org: OrgCache<O>,
    pub contacts: C,
    pub center: IdentityCenter<A, I>,
    pub dns: DnsView<R>,
}

/// Per-account reads in flight at once (each still under its API's rate limit).
const CONCURRENT_READS: usize = 8;

impl<O: Organizations, C: AccountManagement, A: SsoAdmin, I: IdentityStore, R: Route53> Sources<O, C, A, I, R> {
    async fn account(
        &self,
        account: crate::aws::organizations::OrgAccount,
        parent: String,
        management: bool,
    ) -> anyhow::Result<Result<build::Account, String>> {
        let tags = self.org.tags(&account.id).await.with_context(|| format!("reading the tags of {}", account.id))?;
        if let Some(owner) = tags.get(OWNER_TAG) {
            return Ok(Err(format!("account {} is already managed by orgops ({owner})", account.id)));
        }
        let mut found = Vec::new();
        // The management account's own contacts are read without an AccountId: AWS
        // refuses the caller's own id.
        let target = (!management).then_some(account.id.as_str());
        for kind in ContactType::ALL {
            let details = self.contacts.get_contact(target, kind).await;
            if let Some(details) = details.with_context(|| format!("reading the contacts of account {}", account.id))? {
                found.push((kind, details));
            }
        }
        let ou_path = self.org.read(|s| s.ou_path(&parent)).unwrap_or_default();
        Ok(Ok(build::Account {
            id: account.id,
            name: account.name,
            email: account.email,
            ou_path: normalize_ou_path(&ou_path),
            ou_id: parent,
            tags: user_tags(&tags),
            contacts: alternate_contacts(&found),
            management,
        }))
    }

    async fn accounts(&self, notes: &mut Vec<String>) -> anyhow::Result<Vec<build::Account>> {
        self.org.ensure_loaded().await.context("reading the organization")?;
        let (management, listed) = self.org.read(|s| {
            let listed: Vec<_> = s
                .accounts()
                .into_iter()
                .map(|a| (a.clone(), s.parent_of(&a.id).unwrap_or_default().to_string()))
                .collect();
            (s.management_account().map(str::to_string), listed)
        });
        let (active, inactive): (Vec<_>, Vec<_>) = listed.into_iter().partition(|(a, _)| a.state == "ACTIVE");
        for (account, _) in inactive {
            notes.push(format!("account {} ({}) is {}", account.id, account.name, account.state));
        }
        let read = futures::stream::iter(active)
            .map(|(account, parent)| {
                let management = management.as_deref() == Some(account.id.as_str());
                self.account(account, parent, management)
            })
            .buffered(CONCURRENT_READS)
            .try_collect::<Vec<_>>()
            .await?;
        let mut accounts = Vec::new();
        for result in read {
            match result {
                Ok(account) => accounts.push(account),
                Err(note) => notes.push(note),
            }
        }
        Ok(accounts)
    }

    async fn permission_set(
        &self,
        arn: String,
        names: &mut BTreeMap<crate::aws::sso_admin::Principal, Option<String>>,
    ) -> anyhow::Result<Result<build::PermissionSet, String>> {
        let Some(state) = self.center.state(&arn).await.with_context(|| format!("reading permission set {arn}"))?
        else {
            return Ok(Err(format!("permission set {arn} was deleted while reading")));
        };
        let name = &state.attributes.name;
        if let Some(owner) = state.tags.get(OWNER_TAG) {
            return Ok(Err(format!("permission set {name} is already managed by orgops ({owner})")));
        }
        let spec = match spec_of(&state, user_tags(&state.tags)) {
            Ok(spec) => spec,
            Err(why) => return Ok(Err(format!("permission set {name}: {why}"))),
        };
        let mut assignments = Vec::new();
        let accounts = self.center.provisioned_accounts(&arn).await.with_context(|| format!("reading {name}"))?;
        for account in accounts {
            let principals =
                self.center.assignments(&arn, &account).await.with_context(|| format!("reading {name}"))?;
            for principal in principals {
                if !names.contains_key(&principal) {
                    let found = self.center.principal_name(&principal).await.context("reading the identity store")?;
                    names.insert(principal.clone(), found);
                }
                let name = names[&principal].clone();
                let principal = build::Principal { kind: principal.kind, id: principal.id, name };
                assignments.push((principal, account.clone()));
            }
        }
        Ok(Ok(build::PermissionSet { arn, spec, assignments }))
    }

    async fn permission_sets(&self, notes: &mut Vec<String>) -> anyhow::Result<Vec<build::PermissionSet>> {
        let instance = self.center.instance().await.context("finding the IAM Identity Center instance")?;
        let arns = self.center.admin().permission_sets(&instance.arn).await.context("listing permission sets")?;
        let mut names = BTreeMap::new();
        let mut sets = Vec::new();
        for arn in arns {
            match self.permission_set(arn, &mut names).await? {
                Ok(set) => sets.push(set),
                Err(note) => notes.push(note),
            }
        }
        Ok(sets)
    }

    /// The zone of `domain` in one of the accounts whose name servers are `servers`.
    async fn child_zone(
        &self,
        domain: &str,
        servers: &[String],
        accounts: &[String],
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Option<(String, String, Tags)>> {
        for account in accounts {
            let zones = match self.dns.zones(account).await {
                Ok(zones) => zones,
                Err(error) => {
                    notes.push(format!("the hosted zones of account {account} could not be read: {error}"));
                    continue;
                }
            };
            for zone in zones.iter().filter(|z| z.name == domain) {
                let route53 = self.dns.route53();
                let mut found = route53.name_servers(account, &zone.id).await?.unwrap_or_default();
                found.sort();
                if found == servers {
                    let tags = route53.zone_tags(account, &zone.id).await?;
                    return Ok(Some((account.clone(), zone.id.clone(), tags)));
                }
            }
        }
        Ok(None)
    }

    async fn delegations(
        &self,
        parents: &[ParentArg],
        accounts: &[String],
        management: Option<&str>,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Vec<build::Delegation>> {
        let mut delegations = Vec::new();
        for parent in parents {
            let Some(account) = parent.account.as_deref().or(management) else {
                bail!("--parent-domain {}: give the account of its zone ({0}@<account id>)", parent.domain);
            };
            let route53 = self.dns.route53();
            let zones = route53.zones_named(account, &parent.domain).await?;
            let zones: Vec<_> = zones.into_iter().filter(|z| z.name == parent.domain).collect();
            let Some(zone) = zones.first() else {
                bail!("--parent-domain {}: account {account} has no hosted zone of that name", parent.domain);
            };
            if zones.len() > 1 {
                notes.push(format!(
                    "{} has {} zones in account {account}; only {} was read",
                    parent.domain,
                    zones.len(),
                    zone.id
                ));
            }
            let policy_parent = ParentDomain {
                domain: parent.domain.clone(),
                zone_id: zone.id.clone(),
                account_id: account.to_string(),
            };
            let suffix = format!(".{}", parent.domain);
            for record in route53.records(account, &zone.id).await? {
                if record.kind != "NS" || !record.name.ends_with(&suffix) {
                    continue;
                }
                match self.child_zone(&record.name, &record.values, accounts, notes).await? {
                    Some((_, zone_id, tags)) if tags.contains_key(OWNER_TAG) => notes.push(format!(
                        "{} (zone {zone_id}) is already managed by orgops ({})",
                        record.name, tags[OWNER_TAG]
                    )),
                    Some((account_id, zone_id, _)) => delegations.push(build::Delegation {
                        domain: record.name.clone(),
                        parent: policy_parent.clone(),
                        account_id,
                        zone_id,
                        ttl: record.ttl.unwrap_or(300),
                    }),
                    None => notes.push(format!(
                        "the NS record of {} in {} points at no hosted zone of the organization's accounts",
                        record.name, zone.id
                    )),
                }
            }
        }
        Ok(delegations)
    }

    /// Everything import reads, and what it leaves out and why.
    pub async fn read(&self, parents: &[ParentArg]) -> anyhow::Result<(Estate, Vec<String>)> {
        let mut notes = Vec::new();
        let accounts = self.accounts(&mut notes).await?;
        let permission_sets = self.permission_sets(&mut notes).await?;
        let management = self.org.read(|s| s.management_account().map(str::to_string));
        let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
        let delegations = self.delegations(parents, &ids, management.as_deref(), &mut notes).await?;
        Ok((Estate { accounts, permission_sets, delegations }, notes))
    }
}

/// Where an object's file goes: `<admin>/` or `teams/<namespace>/`.
fn folder(out: &Path, namespace: &str, admin: &str) -> PathBuf {
    if namespace == admin { out.join(admin) } else { out.join("teams").join(namespace) }
}

const POLICY_HEADER: &str = "\
# The platform-policy grants the imported objects need, written by orgops import: each
# team's OUs, the accounts its permission sets assign in beyond its own, the parent
# domains of its subdomains. Merge them into the platform policy.
";

/// Writes the objects and the policy; the files written. Refuses, before writing any,
/// when one of them exists: import never writes over a file.
pub fn write(out: &Path, import: &build::Import, admin: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for object in &import.objects {
        let path =
            folder(out, &object.namespace, admin).join(format!("{}-{}.yaml", object.kind.to_lowercase(), object.name));
        files.push((path, yaml::to_string(&serde_json::to_value(&object.body)?)));
    }
    let policy = format!("{POLICY_HEADER}{}", yaml::to_string(&serde_json::to_value(&import.policy)?));
    files.push((out.join(admin).join("policy.yaml"), policy));
    if let Some((existing, _)) = files.iter().find(|(path, _)| path.exists()) {
        bail!("{} exists: import writes new files only, never over one", existing.display());
    }
    for (path, text) in &files {
        let dir = path.parent().expect("a file in a folder");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// `orgops import`.
pub async fn run(args: &ImportArgs) -> anyhow::Result<bool> {
    let admin = build::label(&args.admin_namespace)
        .filter(|l| *l == args.admin_namespace)
        .with_context(|| format!("--admin-namespace {:?} is not a namespace name", args.admin_namespace))?;
    let rule = match (&args.team_tag, args.team_ou_level) {
        (Some(tag), _) => TeamRule::Tag(tag.clone()),
        (None, Some(level)) => TeamRule::OuLevel(level.into()),
        (None, None) => bail!("give --team-tag or --team-ou-level"),
    };
    let sdk = load_sdk_config().await;
    let gate = crate::run::args::aws_gate(&args.reads.limits, Metrics::new().aws_calls)?.read_only();
    let instance = args.reads.instance();
    let roles = args.reads.roles();
    let members = Arc::new(MemberAccess::new(sdk.clone(), roles, gate.clone()));
    let sources = Sources {
        org: OrgCache::new(SdkOrganizations::new(aws_sdk_organizations::Client::new(&sdk), gate.clone())),
        contacts: SdkAccountManagement::new(aws_sdk_account::Client::new(&sdk), gate.clone()),
        center: IdentityCenter::new(
            SdkSsoAdmin::new(aws_sdk_ssoadmin::Client::new(&sdk), gate.clone()),
            SdkIdentityStore::new(aws_sdk_identitystore::Client::new(&sdk), gate.clone()),
            instance,
        ),
        dns: DnsView::new(SdkRoute53::new(members, gate.clone())),
    };
    let (estate, notes) = sources.read(&args.parent_domains).await?;
    let import = build::build(&estate, &Options { rule, admin_namespace: admin.clone(), manage: args.manage });
    let written = write(&args.out, &import, &admin)?;

    let namespaces: std::collections::BTreeSet<&str> = import.objects.iter().map(|o| o.namespace.as_str()).collect();
    let count = |kind: &str| import.objects.iter().filter(|o| o.kind == kind).count();
    eprintln!(
        "orgops import: {} AwsAccounts, {} PermissionSetRequests, {} SubdomainDelegations in {} namespaces ({}), {} files under {}",
        count("AwsAccount"),
        count("PermissionSetRequest"),
        count("SubdomainDelegation"),
        namespaces.len(),
        if args.manage { "managementPolicy Full" } else { "managementPolicy ObserveOnly" },
        written.len(),
        args.out.display()
    );
    for note in notes.iter().chain(&import.notes) {
        eprintln!("  not imported: {note}");
    }
    // What was written must pass the checks a pull request gets.
    let policy_file = args.out.join(&admin).join("policy.yaml");
    let policy = PolicyStore::open(Some(policy_file.clone()))?;
    let findings = crate::cli::validate::validate(&written, Some(&policy))?;
    for finding in &findings {
        eprintln!("{}", finding.text());
    }
    let errors = findings.iter().filter(|f| !f.not_checked).count();
    eprintln!(
        "next: review {}, then `orgops plan {} --policy {}` shows what applying it does ({})",
        policy_file.display(),
        args.out.display(),
        policy_file.display(),
        if args.manage { "the ownership tags the adoption writes" } else { "nothing" }
    );
    Ok(errors == 0)
}
