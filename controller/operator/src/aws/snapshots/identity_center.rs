//! What orgops reads of IAM Identity Center, shared by every PermissionSetRequest: the
//! instance, the permission sets by name, each permission set's policies and tags, its
//! assignments per account and principal names resolved to ids. Each is read at most
//! once per sweep; writes update it in place, so nothing is read back after a write.
//!
//! Identity Center lists assignments only per (permission set, account) and policies only
//! per permission set, so those reads are per request. The name index, which costs a
//! list of every permission set in the instance, is read only for a request that does
//! not know its permission set's ARN yet (a new one, or one whose create answer was lost).

use crate::aws::identity_store::IdentityStore;
use crate::aws::snapshots::sweep::SweepCache;
use crate::aws::sso_admin::{Attributes, Boundary, Instance, PolicyRef, Principal, PrincipalKind, SsoAdmin, Tags};
use crate::aws::{AwsError, FailureKind};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// Everything orgops compares on one permission set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PermissionSetState {
    /// Name, description, session duration, relay state.
    pub attributes: Attributes,
    /// Its tags.
    pub tags: Tags,
    /// Attached AWS managed policy ARNs.
    pub managed_policies: Vec<String>,
    /// Attached customer managed policy references.
    pub customer_policies: Vec<PolicyRef>,
    /// The inline policy document as AWS returns it.
    pub inline_policy: Option<String>,
    /// The permissions boundary.
    pub boundary: Option<Boundary>,
}

#[derive(Default)]
struct NameIndex {
    /// ARN → name; names are immutable, so a known ARN is never described again.
    names: HashMap<String, String>,
    listed_at: Option<Instant>,
}

/// The shared view of one Identity Center instance.
pub struct IdentityCenter<A: SsoAdmin, I: IdentityStore> {
    admin: A,
    store: I,
    configured: Option<Instance>,
    instance: OnceCell<Instance>,
    index: tokio::sync::Mutex<NameIndex>,
    sweep_began: Mutex<Option<Instant>>,
    states: SweepCache<String, PermissionSetState>,
    provisioned: SweepCache<String, Vec<String>>,
    assignments: SweepCache<(String, String), Vec<Principal>>,
    principals: SweepCache<(PrincipalKind, String), Option<String>>,
}

impl<A: SsoAdmin, I: IdentityStore> IdentityCenter<A, I> {
    /// A view of the instance given (by flags), or of the one ListInstances finds first.
    pub fn new(admin: A, store: I, configured: Option<Instance>) -> Self {
        IdentityCenter {
            admin,
            store,
            configured,
            instance: OnceCell::new(),
            index: tokio::sync::Mutex::new(NameIndex::default()),
            sweep_began: Mutex::new(None),
            states: SweepCache::default(),
            provisioned: SweepCache::default(),
            assignments: SweepCache::default(),
            principals: SweepCache::default(),
        }
    }

    /// The sso-admin calls, for writes.
    pub fn admin(&self) -> &A {
        &self.admin
    }

    /// The instance: as configured, or found once with ListInstances.
    pub async fn instance(&self) -> Result<Instance, AwsError> {
        if let Some(instance) = &self.configured {
            return Ok(instance.clone());
        }
        self.instance
            .get_or_try_init(|| async {
                self.admin.instance().await?.ok_or_else(|| AwsError {
                    operation: "sso:ListInstances".into(),
                    code: None,
                    message: "no IAM Identity Center instance is enabled for this organization: enable one, or \
                              give it with --sso-instance-arn and --identity-store-id"
                        .into(),
                    kind: FailureKind::Client,
                })
            })
            .await
            .cloned()
    }

    /// A sweep began: everything read before it is stale.
    pub fn begin_sweep(&self) {
        let now = Instant::now();
        *self.sweep_began.lock().unwrap() = Some(now);
        self.states.begin_sweep(now);
        self.provisioned.begin_sweep(now);
        self.assignments.begin_sweep(now);
        self.principals.begin_sweep(now);
    }

    /// The ARN of the permission set with this name, listing the instance's permission
    /// sets again unless they were listed since the sweep began. A name not found in a
    /// current listing is absent: orgops records what it creates, so new requests share
    /// one listing per sweep instead of each listing the instance again.
    pub async fn find_by_name(&self, name: &str) -> Result<Option<String>, AwsError> {
        let instance = self.instance().await?;
        let mut index = self.index.lock().await;
        let began = *self.sweep_began.lock().unwrap();
        let current = index.listed_at.is_some_and(|at| began.is_none_or(|b| at >= b));
        let found = |index: &NameIndex| index.names.iter().find(|(_, n)| *n == name).map(|(arn, _)| arn.clone());
        if current {
            return Ok(found(&index));
        }
        let listed_at = Instant::now();
        let arns = self.admin.permission_sets(&instance.arn).await?;
        index.names.retain(|arn, _| arns.contains(arn));
        for arn in arns.into_iter().filter(|arn| !index.names.contains_key(arn)).collect::<Vec<_>>() {
            let attributes = self.admin.describe(&instance.arn, &arn).await?;
            index.names.insert(arn, attributes.name);
        }
        index.listed_at = Some(listed_at);
        Ok(found(&index))
    }

    /// A name turned out taken, or a create's answer was lost: the next lookup lists the
    /// instance again.
    pub async fn forget_names(&self) {
        self.index.lock().await.listed_at = None;
    }

    /// AWS said the permission set changed (policies, tags, assignments): everything read
    /// of it is read again.
    pub fn forget_permission_set(&self, arn: &str) {
        self.states.forget_where(|key, _| key == arn);
        self.provisioned.forget_where(|key, _| key == arn);
        self.assignments.forget_where(|(key, _), _| key == arn);
    }

    /// Records a permission set orgops just created.
    pub async fn record_created(&self, arn: &str, state: PermissionSetState) {
        self.index.lock().await.names.insert(arn.to_string(), state.attributes.name.clone());
        self.states.insert(arn.to_string(), state);
    }

    /// Forgets a permission set orgops just deleted.
    pub async fn record_deleted(&self, arn: &str) {
        self.index.lock().await.names.remove(arn);
    }

    /// Everything orgops compares on a permission set, read once per sweep; `None` when
    /// it does not exist.
    pub async fn state(&self, arn: &str) -> Result<Option<PermissionSetState>, AwsError> {
        if let Some(state) = self.states.get(&arn.to_string()) {
            return Ok(Some(state));
        }
        let instance = self.instance().await?.arn;
        let attributes = match self.admin.describe(&instance, arn).await {
            Ok(attributes) => attributes,
            Err(error) if error.is("ResourceNotFoundException") => return Ok(None),
            Err(error) => return Err(error),
        };
        let mut managed_policies = self.admin.managed_policies(&instance, arn).await?;
        managed_policies.sort();
        let mut customer_policies = self.admin.customer_policies(&instance, arn).await?;
        customer_policies.sort();
        let state = PermissionSetState {
            attributes,
            tags: self.admin.tags(&instance, arn).await?,
            managed_policies,
            customer_policies,
            inline_policy: self.admin.inline_policy(&instance, arn).await?,
            boundary: self.admin.boundary(&instance, arn).await?,
        };
        self.states.insert(arn.to_string(), state.clone());
        Ok(Some(state))
    }

    /// Records what orgops wrote to a permission set.
    pub fn record_state(&self, arn: &str, state: PermissionSetState) {
        self.states.insert(arn.to_string(), state);
    }

    /// The accounts the permission set is provisioned to, read once per sweep.
    pub async fn provisioned_accounts(&self, arn: &str) -> Result<Vec<String>, AwsError> {
        if let Some(accounts) = self.provisioned.get(&arn.to_string()) {
            return Ok(accounts);
        }
        let instance = self.instance().await?.arn;
        let accounts = self.admin.provisioned_accounts(&instance, arn).await?;
        self.provisioned.insert(arn.to_string(), accounts.clone());
        Ok(accounts)
    }

    /// Who has the permission set in the account, read once per sweep.
    pub async fn assignments(&self, arn: &str, account: &str) -> Result<Vec<Principal>, AwsError> {
        let key = (arn.to_string(), account.to_string());
        if let Some(principals) = self.assignments.get(&key) {
            return Ok(principals);
        }
        let instance = self.instance().await?.arn;
        let mut principals = self.admin.assignments(&instance, arn, account).await?;
        principals.sort();
        principals.dedup();
        self.assignments.insert(key, principals.clone());
        Ok(principals)
    }

    /// Records an assignment orgops created (`true`) or deleted (`false`).
    pub fn record_assignment(&self, arn: &str, account: &str, principal: &Principal, present: bool) {
        let key = (arn.to_string(), account.to_string());
        let mut principals = self.assignments.get(&key).unwrap_or_default();
        principals.retain(|p| p != principal);
        if present {
            principals.push(principal.clone());
            principals.sort();
        }
        self.assignments.insert(key, principals);
    }

    /// The identity store id of a group (by display name) or user (by user name),
    /// resolved once per sweep; `None` when there is none by that name.
    pub async fn principal_id(&self, kind: PrincipalKind, name: &str) -> Result<Option<String>, AwsError> {
        let key = (kind, name.to_string());
        if let Some(id) = self.principals.get(&key) {
            return Ok(id);
        }
        let store = self.instance().await?.identity_store_id;
        let id = match kind {
            PrincipalKind::Group => self.store.group_id(&store, name).await?,
            PrincipalKind::User => self.store.user_id(&store, name).await?,
        };
        self.principals.insert(key, id.clone());
        Ok(id)
    }

    /// The user ids a principal stands for: the user, or the group's members now (read
    /// each time: only an ended assignment asks).
    pub async fn users_of(&self, principal: &Principal) -> Result<Vec<String>, AwsError> {
        match principal.kind {
            PrincipalKind::User => Ok(vec![principal.id.clone()]),
            PrincipalKind::Group => {
                let store = self.instance().await?.identity_store_id;
                self.store.members(&store, &principal.id).await
            }
        }
    }

    /// The name of a principal (a group's display name, a user's user name); `None` when
    /// the identity store has no such principal. Read each time: only `orgops import`
    /// asks, once per principal.
    pub async fn principal_name(&self, principal: &Principal) -> Result<Option<String>, AwsError> {
        let store = self.instance().await?.identity_store_id;
        match principal.kind {
            PrincipalKind::Group => self.store.group_name(&store, &principal.id).await,
            PrincipalKind::User => self.store.user_name(&store, &principal.id).await,
        }
    }
}
