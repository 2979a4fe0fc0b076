//! The AwsAccounts of the cluster as other kinds see them: which account an `accountRef`
//! names, whether it is Ready, and which namespace owns an account id.

use kube::runtime::reflector::{ObjectRef, Store};
use orgops_api::AwsAccount;

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
