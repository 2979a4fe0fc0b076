//! Objects of the cluster as other kinds see them: which account an `accountRef` names,
//! whether it is Ready, which namespace owns an account id, which SubdomainDelegations
//! claim a domain, and what a ConfigMap holds.

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use orgops_api::{AwsAccount, SubdomainDelegation};

/// An AwsAccount as another kind needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The AWS account id, once known.
    pub account_id: Option<String>,
    /// Whether the AwsAccount is Ready.
    pub ready: bool,
}

/// Looks up AwsAccounts.
pub trait AccountDirectory: Send + Sync + 'static {
    /// The AwsAccount `name` in `namespace`.
    fn account(&self, namespace: &str, name: &str) -> Option<DirectoryEntry>;
    /// Whether an AwsAccount in `namespace` manages the account with this id.
    fn owned_by(&self, namespace: &str, account_id: &str) -> bool;
}

fn entry(account: &AwsAccount) -> DirectoryEntry {
    let status = account.status.as_ref();
    let ready = status.is_some_and(|s| {
        s.conditions.iter().any(|c| c.type_ == crate::reconcile::conditions::READY && c.status == "True")
    });
    DirectoryEntry { account_id: status.and_then(|s| s.account_id.clone()), ready }
}

impl AccountDirectory for Store<AwsAccount> {
    fn account(&self, namespace: &str, name: &str) -> Option<DirectoryEntry> {
        self.get(&ObjectRef::new(name).within(namespace)).map(|a| entry(&a))
    }

    fn owned_by(&self, namespace: &str, account_id: &str) -> bool {
        self.state().iter().any(|a| {
            a.metadata.namespace.as_deref() == Some(namespace)
                && (a.spec.account_id.as_deref() == Some(account_id)
                    || a.status.as_ref().and_then(|s| s.account_id.as_deref()) == Some(account_id))
        })
    }
}

/// An object claiming a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `namespace/name`.
    pub key: String,
    /// When it was created.
    pub created: Option<Timestamp>,
}

/// Looks up SubdomainDelegations.
pub trait DelegationDirectory: Send + Sync + 'static {
    /// Every object whose `spec.domain` is `domain`.
    fn claims(&self, domain: &str) -> Vec<Claim>;
}

impl DelegationDirectory for Store<SubdomainDelegation> {
    fn claims(&self, domain: &str) -> Vec<Claim> {
        self.state()
            .iter()
            .filter(|d| d.spec.domain == domain && d.metadata.deletion_timestamp.is_none())
            .map(|d| Claim {
                key: format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any()),
                created: d.metadata.creation_timestamp.as_ref().map(|t| t.0),
            })
            .collect()
    }
}

/// Reads ConfigMaps (a SecurityBaseline's custom template).
pub trait ConfigMaps: Send + Sync + 'static {
    /// The data of ConfigMap `name` in `namespace`; `None` when there is none.
    fn data(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<std::collections::BTreeMap<String, String>>, kube::Error>> + Send;
}

impl ConfigMaps for kube::Client {
    async fn data(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, kube::Error> {
        let api = kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(self.clone(), namespace);
        Ok(api.get_opt(name).await?.map(|c| c.data.unwrap_or_default()))
    }
}

/// ConfigMaps given as a list (the ConfigMaps of a folder, for `orgops plan`).
impl ConfigMaps for Vec<k8s_openapi::api::core::v1::ConfigMap> {
    async fn data(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, kube::Error> {
        Ok(self
            .iter()
            .find(|c| c.metadata.namespace.as_deref() == Some(namespace) && c.metadata.name.as_deref() == Some(name))
            .map(|c| c.data.clone().unwrap_or_default()))
    }
}

/// Directories in memory, for the kinds' unit tests.
#[cfg(test)]
pub mod fake {
    use super::*;
    use std::collections::HashMap;

    /// AwsAccounts by (namespace, name).
    #[derive(Default)]
    pub struct Accounts(pub HashMap<(String, String), DirectoryEntry>);

    impl Accounts {
        /// With one Ready AwsAccount.
        pub fn with(namespace: &str, name: &str, account_id: &str) -> Self {
            let mut accounts = Accounts::default();
            let entry = DirectoryEntry { account_id: Some(account_id.into()), ready: true };
            accounts.0.insert((namespace.into(), name.into()), entry);
            accounts
        }
    }

    impl AccountDirectory for Accounts {
        fn account(&self, namespace: &str, name: &str) -> Option<DirectoryEntry> {
            self.0.get(&(namespace.to_string(), name.to_string())).cloned()
        }
        fn owned_by(&self, namespace: &str, account_id: &str) -> bool {
            self.0.iter().any(|((ns, _), e)| ns == namespace && e.account_id.as_deref() == Some(account_id))
        }
    }

    /// ConfigMaps' data by (namespace, name).
    #[derive(Default)]
    pub struct Maps(pub std::sync::Mutex<HashMap<(String, String), std::collections::BTreeMap<String, String>>>);

    impl ConfigMaps for Maps {
        async fn data(
            &self,
            namespace: &str,
            name: &str,
        ) -> Result<Option<std::collections::BTreeMap<String, String>>, kube::Error> {
            Ok(self.0.lock().unwrap().get(&(namespace.to_string(), name.to_string())).cloned())
        }
    }

    /// SubdomainDelegations as (domain, claim).
    #[derive(Default)]
    pub struct Delegations(pub std::sync::Mutex<Vec<(String, Claim)>>);

    impl DelegationDirectory for Delegations {
        fn claims(&self, domain: &str) -> Vec<Claim> {
            self.0.lock().unwrap().iter().filter(|(d, _)| d == domain).map(|(_, c)| c.clone()).collect()
        }
    }
}
