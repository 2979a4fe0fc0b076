//! The platform policy: what each namespace may target beyond what it owns. Owned by the
//! platform team as a YAML file (a ConfigMap in the cluster), re-read when it changes.
//!
//! ```yaml
//! deniedManagedPolicies:              # denied to every namespace that is not admin
//!   - AdministratorAccess
//! namespaces:
//!   platform:
//!     admin: true                     # may target anything
//!   payroll:
//!     organizationalUnits:            # account placement and OU targets
//!       - Workloads/Payroll           # the OU and everything below it
//!     accounts: ["111122223333"]      # accounts it may target without owning them
//!     deniedManagedPolicies: [IAMFullAccess]
//!     maxSessionDuration: PT8H        # permission sets' session length
//!     maxAssignmentDuration: 7d       # how far ahead an expiresAt may be
//!     parentDomains:                  # where its subdomains may be delegated from
//!       - {domain: example.com, zoneId: Z0123456789, accountId: "222233334444"}
//! ```
//!
//! A namespace the policy does not name is granted nothing.

use orgops_api::normalize_ou_path;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use std::time::SystemTime;

/// What the platform policy refuses, and why: the message names the field and the rule.
/// The driver reports it as `Synced=False` with reason `Forbidden`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

/// The policy file's contents.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// AWS managed policies (names or ARNs) no namespace but an admin one may attach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_managed_policies: Vec<String>,
    /// Grants by namespace.
    #[serde(default)]
    pub namespaces: BTreeMap<String, NamespacePolicy>,
}

/// What one namespace is granted.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamespacePolicy {
    /// May target anything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    /// OU paths from the root; each grants the OU and every OU below it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizational_units: Vec<String>,
    /// Account ids it may target without owning them (as an AwsAccount in the namespace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// AWS managed policies (names or ARNs) it may not attach, besides those denied to all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_managed_policies: Vec<String>,
    /// The longest session its permission sets may have (ISO 8601, `PT8H`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_duration: Option<String>,
    /// How far ahead an assignment's `expiresAt` may be (`90m`, `12h`, `7d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_assignment_duration: Option<String>,
    /// Parent domains its subdomains may be delegated from, each with its hosted zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent_domains: Vec<ParentDomain>,
}

/// A parent domain and the hosted zone that holds it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ParentDomain {
    /// The domain, lower case, no trailing dot (`example.com`).
    pub domain: String,
    /// The hosted zone id (`Z…`).
    pub zone_id: String,
    /// The account that holds the zone.
    pub account_id: String,
}

/// The grants of one namespace, as the kinds check them.
#[derive(Clone, Debug, PartialEq)]
pub struct Grants {
    /// The namespace.
    pub namespace: String,
    /// What the policy grants it (nothing when it is not named).
    pub policy: NamespacePolicy,
}

impl Grants {
    /// Allows an OU, given as a path from the root, when the namespace is admin or the OU
    /// is at or below one it is granted.
    pub fn check_organizational_unit(&self, field: &str, ou_path: &str) -> Result<(), Refusal> {
        if self.policy.admin {
            return Ok(());
        }
        let path = normalize_ou_path(ou_path);
        let allowed = self.policy.organizational_units.iter().map(|a| normalize_ou_path(a)).any(|granted| {
            granted.is_empty() || path == granted || path.strip_prefix(&granted).is_some_and(|r| r.starts_with('/'))
        });
        if allowed {
            Ok(())
        } else {
            Err(Refusal(format!(
                "{field} {ou_path:?} is outside the organizational units the platform policy grants namespace {:?} ({})",
                self.namespace,
                granted_list(&self.policy.organizational_units)
            )))
        }
    }
}

impl Grants {
    /// Allows an account the namespace does not own when the policy lists it.
    pub fn grants_account(&self, account_id: &str) -> bool {
        self.policy.admin || self.policy.accounts.iter().any(|a| a == account_id)
    }

    /// Refuses an account id the namespace neither owns (`owned`: an AwsAccount in it
    /// manages the account) nor is granted by the policy.
    pub fn check_account(&self, field: &str, account_id: &str, owned: bool) -> Result<(), Refusal> {
        if owned || self.grants_account(account_id) {
            return Ok(());
        }
        Err(Refusal(format!(
            "{field} {account_id} is not an account of namespace {:?} (no AwsAccount in it manages it), nor one the \
             platform policy lists for it",
            self.namespace
        )))
    }

    /// Refuses an AWS managed policy the namespace is denied. Entries match the whole ARN
    /// or the policy's name (the ARN's last segment).
    pub fn check_managed_policy(&self, field: &str, arn: &str) -> Result<(), Refusal> {
        if self.policy.admin {
            return Ok(());
        }
        let name = arn.rsplit('/').next().unwrap_or(arn);
        match self.policy.denied_managed_policies.iter().find(|denied| *denied == arn || *denied == name) {
            Some(denied) => Err(Refusal(format!(
                "{field} {arn} is denied to namespace {:?} by the platform policy (deniedManagedPolicies: {denied})",
                self.namespace
            ))),
            None => Ok(()),
        }
    }

    /// Refuses a session longer than the namespace's maximum.
    pub fn check_session_duration(&self, field: &str, duration: &str) -> Result<(), Refusal> {
        let Some(max) = self.policy.max_session_duration.as_deref().filter(|_| !self.policy.admin) else {
            return Ok(());
        };
        match (iso_duration(duration), iso_duration(max)) {
            (Some(asked), Some(allowed)) if asked > allowed => Err(Refusal(format!(
                "{field} {duration} is longer than the platform policy allows namespace {:?} (maxSessionDuration: {max})",
                self.namespace
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses an expiry further ahead than the namespace's maximum; `ahead` is how far
    /// ahead of now it is.
    pub fn check_assignment_duration(&self, field: &str, expires_at: &str, ahead: Duration) -> Result<(), Refusal> {
        let Some(max) = self.policy.max_assignment_duration.as_deref().filter(|_| !self.policy.admin) else {
            return Ok(());
        };
        match parse_span(max) {
            Some(allowed) if ahead > allowed => Err(Refusal(format!(
                "{field} {expires_at} is further ahead than the platform policy allows namespace {:?} \
                 (maxAssignmentDuration: {max})",
                self.namespace
            ))),
            _ => Ok(()),
        }
    }
}

impl Policy {
    /// Every parent domain the policy grants to any namespace.
    pub fn parent_domains(&self) -> impl Iterator<Item = &ParentDomain> {
        self.namespaces.values().flat_map(|n| &n.parent_domains)
    }
}

impl PolicyStore {
    /// The parent domain as some namespace is granted it: an admin namespace may delegate
    /// from any parent the policy knows.
    pub fn parent_anywhere(&self, parent: &str) -> Option<ParentDomain> {
        self.reload_if_changed();
        self.loaded.lock().unwrap().1.parent_domains().find(|p| p.domain == parent).cloned()
    }

    /// Whether the domain is a parent domain the policy grants to some namespace: a zone
    /// the platform keeps, never delegated itself.
    pub fn is_parent_domain(&self, domain: &str) -> bool {
        self.reload_if_changed();
        self.loaded.lock().unwrap().1.parent_domains().any(|p| p.domain == domain)
    }
}

impl Grants {
    /// The parent zone of a subdomain: the granted parent domain it names, when the
    /// subdomain is below it. Forbidden otherwise.
    pub fn parent_domain(&self, domain: &str, parent: &str) -> Result<ParentDomain, Refusal> {
        let granted = self.policy.parent_domains.iter().find(|p| p.domain == parent);
        match granted {
            Some(p) if domain.ends_with(&format!(".{parent}")) => Ok(p.clone()),
            _ => Err(Refusal(format!(
                "spec.parentDomain {parent:?} is not a parent domain the platform policy grants namespace {:?} ({})",
                self.namespace,
                granted_list(&self.policy.parent_domains.iter().map(|p| p.domain.clone()).collect::<Vec<_>>())
            ))),
        }
    }
}

/// An ISO 8601 duration of hours and minutes (`PT4H`, `PT1H30M`, `PT90M`).
pub fn iso_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix("PT")?;
    let (mut minutes, mut number) = (0u64, String::new());
    for c in rest.chars() {
        match c {
            '0'..='9' => number.push(c),
            'H' => minutes += number.parse::<u64>().ok()? * 60,
            'M' => minutes += number.parse::<u64>().ok()?,
            _ => return None,
        }
        if !c.is_ascii_digit() {
            number.clear();
        }
    }
    number.is_empty().then_some(Duration::from_secs(minutes * 60))
}

/// A span like `90m`, `12h` or `7d`.
fn parse_span(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let value: u64 = number.parse().ok()?;
    let seconds = match unit {
        "m" => value * 60,
        "h" => value * 3600,
        "d" => value * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

fn granted_list(items: &[String]) -> String {
    if items.is_empty() { "none".to_string() } else { items.join(", ") }
}

/// The policy in force, re-read from its file whenever the file's modification time changes.
pub struct PolicyStore {
    path: Option<PathBuf>,
    loaded: Mutex<(Option<SystemTime>, Policy)>,
}

impl PolicyStore {
    /// Reads the policy at `path` (None: nothing is granted to anyone). Fails when the
    /// file cannot be read or parsed, so a broken policy stops the start-up.
    pub fn open(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let store = PolicyStore { path, loaded: Mutex::new((None, Policy::default())) };
        if let Some(path) = &store.path {
            let (modified, policy) = read(path)?;
            *store.loaded.lock().unwrap() = (modified, policy);
        }
        Ok(store)
    }

    /// A store holding a fixed policy, for tests.
    #[cfg(test)]
    pub fn fixed(policy: Policy) -> Self {
        PolicyStore { path: None, loaded: Mutex::new((None, policy)) }
    }

    /// The grants of a namespace under the current policy.
    pub fn grants(&self, namespace: &str) -> Grants {
        self.reload_if_changed();
        let loaded = self.loaded.lock().unwrap();
        let mut policy = loaded.1.namespaces.get(namespace).cloned().unwrap_or_default();
        policy.denied_managed_policies.extend(loaded.1.denied_managed_policies.iter().cloned());
        Grants { namespace: namespace.to_string(), policy }
    }

    fn reload_if_changed(&self) {
        let Some(path) = &self.path else { return };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified == self.loaded.lock().unwrap().0 {
            return;
        }
        match read(path) {
            Ok(fresh) => {
                tracing::info!(path = %path.display(), "platform policy reloaded");
                *self.loaded.lock().unwrap() = fresh;
            }
            Err(error) => {
                tracing::error!(path = %path.display(), error = %format!("{error:#}"), "platform policy not reloaded; keeping the previous one");
                self.loaded.lock().unwrap().0 = modified;
            }
        }
    }
}

fn read(path: &PathBuf) -> anyhow::Result<(Option<SystemTime>, Policy)> {
    use anyhow::Context;
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading platform policy {}", path.display()))?;
    let policy: Policy =
        yaml_serde::from_str(&text).with_context(|| format!("parsing platform policy {}", path.display()))?;
    check(&policy).with_context(|| format!("checking platform policy {}", path.display()))?;
    Ok((modified, policy))
}

/// Refuses a policy whose limits cannot be read, so a typo never lifts a limit silently.
fn check(policy: &Policy) -> anyhow::Result<()> {
    for (namespace, grants) in &policy.namespaces {
        if let Some(max) = &grants.max_session_duration
            && iso_duration(max).is_none()
        {
            anyhow::bail!("namespaces.{namespace}.maxSessionDuration {max:?} is not an ISO 8601 duration like PT8H");
        }
        if let Some(max) = &grants.max_assignment_duration
            && parse_span(max).is_none()
        {
            anyhow::bail!("namespaces.{namespace}.maxAssignmentDuration {max:?} is not a span like 90m, 12h or 7d");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> Policy {
        yaml_serde::from_str(yaml).unwrap()
    }

    const POLICY: &str = "
namespaces:
  platform:
    admin: true
  payroll:
    organizationalUnits: [Workloads/Payroll, Sandbox]
";

    #[test]
    fn an_ou_at_or_below_a_granted_one_is_allowed() {
        let store = PolicyStore::fixed(policy(POLICY));
        let payroll = store.grants("payroll");
        for ok in ["Workloads/Payroll", "Workloads/Payroll/Prod", "Root/Workloads/Payroll", "Sandbox"] {
            assert_eq!(payroll.check_organizational_unit("spec.organizationalUnit", ok), Ok(()), "{ok}");
        }
        for denied in ["Workloads", "Workloads/PayrollX", "Workloads/Billing", "Root", "SandboxB"] {
            let err = payroll.check_organizational_unit("spec.organizationalUnit", denied).unwrap_err();
            assert!(err.0.contains("spec.organizationalUnit") && err.0.contains("payroll"), "{}", err.0);
        }
    }

    #[test]
    fn admin_may_target_anything_and_unknown_namespaces_nothing() {
        let store = PolicyStore::fixed(policy(POLICY));
        assert_eq!(store.grants("platform").check_organizational_unit("f", "Root"), Ok(()));
        let err = store.grants("billing").check_organizational_unit("f", "Workloads").unwrap_err();
        assert!(err.0.contains("(none)"), "{}", err.0);
    }

    #[test]
    fn granting_root_grants_everything() {
        let store = PolicyStore::fixed(policy("namespaces: {infra: {organizationalUnits: [Root]}}"));
        assert_eq!(store.grants("infra").check_organizational_unit("f", "Any/Where"), Ok(()));
    }

    #[test]
    fn denied_policies_session_and_expiry_limits() {
        let store = PolicyStore::fixed(policy(
            "
deniedManagedPolicies: [AdministratorAccess]
namespaces:
  platform: {admin: true}
  payroll: {deniedManagedPolicies: ['arn:aws:iam::aws:policy/IAMFullAccess'], maxSessionDuration: PT4H, maxAssignmentDuration: 7d}
",
        ));
        let payroll = store.grants("payroll");
        let admin_access = "arn:aws:iam::aws:policy/AdministratorAccess";
        let err = payroll.check_managed_policy("spec.permissionSet.managedPolicies[0]", admin_access).unwrap_err();
        assert!(err.0.contains("deniedManagedPolicies: AdministratorAccess"), "{}", err.0);
        assert!(payroll.check_managed_policy("f", "arn:aws:iam::aws:policy/IAMFullAccess").is_err());
        assert_eq!(payroll.check_managed_policy("f", "arn:aws:iam::aws:policy/ReadOnlyAccess"), Ok(()));
        assert_eq!(store.grants("platform").check_managed_policy("f", admin_access), Ok(()));
        assert!(store.grants("billing").check_managed_policy("f", admin_access).is_err(), "denied to everyone");

        assert_eq!(payroll.check_session_duration("f", "PT4H"), Ok(()));
        assert_eq!(payroll.check_session_duration("f", "PT3H59M"), Ok(()));
        let err = payroll.check_session_duration("spec.permissionSet.sessionDuration", "PT4H1M").unwrap_err();
        assert!(err.0.contains("maxSessionDuration: PT4H"), "{}", err.0);
        assert_eq!(store.grants("platform").check_session_duration("f", "PT12H"), Ok(()));

        let week = Duration::from_secs(7 * 86_400);
        assert_eq!(payroll.check_assignment_duration("f", "t", week), Ok(()));
        let err = payroll.check_assignment_duration("f", "t", week + Duration::from_secs(60)).unwrap_err();
        assert!(err.0.contains("maxAssignmentDuration: 7d"), "{}", err.0);
    }

    #[test]
    fn subdomains_only_under_a_granted_parent() {
        let store = PolicyStore::fixed(policy(
            "namespaces: {payroll: {parentDomains: [{domain: example.com, zoneId: ZPARENT, accountId: '222233334444'}]}}",
        ));
        let payroll = store.grants("payroll");
        assert_eq!(payroll.parent_domain("payroll.example.com", "example.com").unwrap().zone_id, "ZPARENT");
        let err = payroll.parent_domain("payroll.example.org", "example.org").unwrap_err();
        assert!(err.0.contains("(example.com)"), "{}", err.0);
        assert!(store.grants("billing").parent_domain("billing.example.com", "example.com").is_err());
        assert!(store.is_parent_domain("example.com") && !store.is_parent_domain("payroll.example.com"));
    }

    #[test]
    fn iso_durations_parse() {
        assert_eq!(iso_duration("PT1H30M"), Some(Duration::from_secs(5400)));
        assert_eq!(iso_duration("PT90M"), Some(Duration::from_secs(5400)));
        assert_eq!(iso_duration("PT12H"), Some(Duration::from_secs(43_200)));
        assert_eq!(iso_duration("P1D"), None);
        assert_eq!(iso_duration("PT5"), None);
    }

    #[test]
    fn unreadable_limits_are_refused() {
        assert!(check(&policy("namespaces: {a: {maxSessionDuration: 8h}}")).is_err());
        assert!(check(&policy("namespaces: {a: {maxAssignmentDuration: a week}}")).is_err());
        assert!(check(&policy("namespaces: {a: {maxSessionDuration: PT8H, maxAssignmentDuration: 7d}}")).is_ok());
    }

    #[test]
    fn the_example_policy_is_valid() {
        let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/platform/policy.yaml"));
        let store = PolicyStore::open(Some(path)).unwrap();
        let payroll = store.grants("payroll");
        assert!(payroll.check_managed_policy("f", "arn:aws:iam::aws:policy/AdministratorAccess").is_err());
        assert!(payroll.check_session_duration("f", "PT12H").is_err());
        assert_eq!(payroll.check_organizational_unit("f", "Workloads/Payroll"), Ok(()));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(yaml_serde::from_str::<Policy>("namespaces: {a: {admn: true}}").is_err());
    }

    #[test]
    fn the_file_is_reread_when_it_changes_and_a_broken_one_is_ignored() {
        let dir = std::env::temp_dir().join(format!("orgops-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("policy.yaml");
        std::fs::write(&path, "namespaces: {a: {organizationalUnits: [X]}}").unwrap();
        let store = PolicyStore::open(Some(path.clone())).unwrap();
        assert!(store.grants("a").check_organizational_unit("f", "Y").is_err());

        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::write(&path, "namespaces: {a: {organizationalUnits: [X, Y]}}").unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(later).unwrap();
        assert_eq!(store.grants("a").check_organizational_unit("f", "Y"), Ok(()));

        std::fs::write(&path, "namespaces: [broken").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later + std::time::Duration::from_secs(5))
            .unwrap();
        assert_eq!(store.grants("a").check_organizational_unit("f", "Y"), Ok(()), "previous policy kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
