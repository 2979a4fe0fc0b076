//! Objects of the cluster as other kinds see them: which account an `accountRef` names,
//! whether it is Ready, which namespace owns an account id, which objects claim a domain
//! or a permission set, and what a ConfigMap holds.

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use orgops_api::{AwsAccount, PermissionSetRequest, SubdomainDelegation};

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
    /// Every AwsAccount, in any namespace and whatever its management policy, that names
    /// the account with this id (in its spec or status) or this email.
    fn claims(&self, account_id: Option<&str>, email: &str) -> Vec<Claim>;
    /// The UIDs of the AwsAccounts whose persisted status holds a CreateAccount marker not
    /// settled yet: creations that may be in progress in AWS, whichever process sent them.
    fn creations_in_flight(&self) -> Vec<String>;
}

/// Whether an AwsAccount names this account, by id or by email.
fn claims_account(account: &AwsAccount, account_id: Option<&str>, email: &str) -> bool {
    let status_id = account.status.as_ref().and_then(|s| s.account_id.as_deref());
    let by_id = account_id.is_some() && (account.spec.account_id.as_deref() == account_id || status_id == account_id);
    by_id || account.spec.email.eq_ignore_ascii_case(email)
}

fn entry(account: &AwsAccount) -> DirectoryEntry {
    let status = account.status.as_ref();
    let ready = status.is_some_and(|s| {
        s.common.conditions.iter().any(|c| c.type_ == crate::reconcile::conditions::READY && c.status == "True")
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

    fn claims(&self, account_id: Option<&str>, email: &str) -> Vec<Claim> {
        claims_in(self, |a| claims_account(a, account_id, email))
    }

    fn creations_in_flight(&self) -> Vec<String> {
        self.state()
            .iter()
            .filter(|a| a.status.as_ref().is_some_and(|s| s.pending_creation.is_some()))
            .filter_map(|a| a.uid())
            .collect()
    }
}

/// An object claiming something in AWS that only one object may hold (a domain, an
/// account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `namespace/name`.
    pub key: String,
    /// When it was created.
    pub created: Option<Timestamp>,
}

impl Claim {
    /// The claim an object makes.
    pub fn of<R: kube::Resource>(obj: &R) -> Self {
        Claim {
            key: format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any()),
            created: obj.meta().creation_timestamp.as_ref().map(|t| t.0),
        }
    }

    /// The claim among `others` that holds the thing before this one, if any: the oldest
    /// wins, and between claims made in the same second, the first by `namespace/name`.
    /// An object read from files (not created yet) comes after every stored one.
    pub fn earlier<'a>(&self, others: &'a [Claim]) -> Option<&'a Claim> {
        let order = |c: &Claim| (c.created.unwrap_or(Timestamp::MAX), c.key.clone());
        others.iter().filter(|c| c.key != self.key && order(c) < order(self)).min_by_key(|c| order(c))
    }
}

/// Objects of one kind claiming something in AWS only one object may hold, by its key:
/// a SubdomainDelegation its `spec.domain`, a PermissionSetRequest its
/// `spec.permissionSet.name` (whatever either's management policy).
pub trait ClaimDirectory: Send + Sync + 'static {
    /// Every object, not being deleted, that claims `key`.
    fn claims(&self, key: &str) -> Vec<Claim>;
}

impl<T: ClaimDirectory> ClaimDirectory for std::sync::Arc<T> {
    fn claims(&self, key: &str) -> Vec<Claim> {
        self.as_ref().claims(key)
    }
}

fn claims_in<R>(store: &Store<R>, claims: impl Fn(&R) -> bool) -> Vec<Claim>
where
    R: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .iter()
        .filter(|o| o.meta().deletion_timestamp.is_none() && claims(o))
        .map(|o| Claim::of(o.as_ref()))
        .collect()
}

impl ClaimDirectory for Store<SubdomainDelegation> {
    fn claims(&self, domain: &str) -> Vec<Claim> {
        claims_in(self, |d| d.spec.domain == domain)
    }
}

impl ClaimDirectory for Store<PermissionSetRequest> {
    fn claims(&self, name: &str) -> Vec<Claim> {
        claims_in(self, |r| r.spec.permission_set.name == name)
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
mod tests {
    use super::*;

    #[test]
    fn the_older_claim_wins() {
        let at = |s: i64| Some(Timestamp::from_second(s).unwrap());
        let me = Claim { key: "b/new".into(), created: at(200) };
        let others = [Claim { key: "a/old".into(), created: at(100) }, me.clone()];
        assert_eq!(me.earlier(&others).map(|c| c.key.as_str()), Some("a/old"));
        assert_eq!(others[0].earlier(&others), None);
        let twin = Claim { key: "a/twin".into(), created: at(200) };
        assert_eq!(me.earlier(std::slice::from_ref(&twin)).map(|c| c.key.as_str()), Some("a/twin"));
        let from_files = Claim { key: "c/unstored".into(), created: None };
        assert_eq!(from_files.earlier(&others).map(|c| c.key.as_str()), Some("a/old"));
    }
}

#[cfg(test)]
pub mod fake {
    use super::*;
    use std::collections::HashMap;

    /// AwsAccounts by (namespace, name), and the UIDs of those with a creation marker.
    #[derive(Default)]
    pub struct Accounts(pub HashMap<(String, String), DirectoryEntry>, pub Vec<String>);

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
        /// By id only; the AwsAccounts here are older than any object under test.
        fn claims(&self, account_id: Option<&str>, _: &str) -> Vec<Claim> {
            let named = |e: &DirectoryEntry| account_id.is_some() && e.account_id.as_deref() == account_id;
            self.0
                .iter()
                .filter(|(_, e)| named(e))
                .map(|((ns, name), _)| Claim { key: format!("{ns}/{name}"), created: Some(Timestamp::MIN) })
                .collect()
        }
        fn creations_in_flight(&self) -> Vec<String> {
            self.1.clone()
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

    /// Claims as (key, claim).
    #[derive(Default)]
    pub struct Claims(pub std::sync::Mutex<Vec<(String, Claim)>>);

    impl ClaimDirectory for Claims {
        fn claims(&self, key: &str) -> Vec<Claim> {
            self.0.lock().unwrap().iter().filter(|(k, _)| k == key).map(|(_, c)| c.clone()).collect()
        }
    }
}
