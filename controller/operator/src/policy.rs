//! The platform policy: what each namespace may target beyond what it owns. Owned by the
//! platform team as a YAML file (a ConfigMap in the cluster), re-read when it changes.
//!
//! ```yaml
//! namespaces:
//!   platform:
//!     admin: true                     # may target anything
//!   payroll:
//!     organizationalUnits:            # account placement and OU targets
//!       - Workloads/Payroll           # the OU and everything below it
//! ```
//!
//! A namespace the policy does not name is granted nothing.

use crate::reconcile::Error;
use orgops_api::normalize_ou_path;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// The policy file's contents.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Grants by namespace.
    #[serde(default)]
    pub namespaces: BTreeMap<String, NamespacePolicy>,
}

/// What one namespace is granted.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamespacePolicy {
    /// May target anything.
    #[serde(default)]
    pub admin: bool,
    /// OU paths from the root; each grants the OU and every OU below it.
    #[serde(default)]
    pub organizational_units: Vec<String>,
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
    pub fn check_organizational_unit(&self, field: &str, ou_path: &str) -> Result<(), Error> {
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
            Err(Error::forbidden(format!(
                "{field} {ou_path:?} is outside the organizational units the platform policy grants namespace {:?} ({})",
                self.namespace,
                granted_list(&self.policy.organizational_units)
            )))
        }
    }
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
        Grants {
            namespace: namespace.to_string(),
            policy: loaded.1.namespaces.get(namespace).cloned().unwrap_or_default(),
        }
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
    let policy = serde_yaml::from_str(&text).with_context(|| format!("parsing platform policy {}", path.display()))?;
    Ok((modified, policy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::error::TerminalReason;

    fn policy(yaml: &str) -> Policy {
        serde_yaml::from_str(yaml).unwrap()
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
            assert_eq!(err.reason, TerminalReason::Forbidden);
            assert!(
                err.message.contains("spec.organizationalUnit") && err.message.contains("payroll"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn admin_may_target_anything_and_unknown_namespaces_nothing() {
        let store = PolicyStore::fixed(policy(POLICY));
        assert_eq!(store.grants("platform").check_organizational_unit("f", "Root"), Ok(()));
        let err = store.grants("billing").check_organizational_unit("f", "Workloads").unwrap_err();
        assert!(err.message.contains("(none)"), "{}", err.message);
    }

    #[test]
    fn granting_root_grants_everything() {
        let store = PolicyStore::fixed(policy("namespaces: {infra: {organizationalUnits: [Root]}}"));
        assert_eq!(store.grants("infra").check_organizational_unit("f", "Any/Where"), Ok(()));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(serde_yaml::from_str::<Policy>("namespaces: {a: {admn: true}}").is_err());
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
