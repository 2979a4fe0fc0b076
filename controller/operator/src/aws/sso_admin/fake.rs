//! IAM Identity Center in memory, for unit tests of what moto cannot produce: assignments
//! and provisionings IN_PROGRESS then SUCCEEDED or FAILED, ConflictException while
//! another operation runs, throttling.

use crate::aws::snapshots::identity_center::PermissionSetState;
use crate::aws::sso_admin::{
    Attributes, Boundary, Instance, Operation, OperationState, PolicyRef, Principal, SsoAdmin, Tags,
};
use crate::aws::test_support::{CallLog, next_state};
use crate::aws::{AwsError, FailureKind};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// What an assignment or provisioning request does: its answer, then one state per
/// status call (the last one repeats).
#[derive(Clone, Debug)]
struct Request {
    kind: RequestKind,
    states: VecDeque<OperationState>,
}

#[derive(Clone, Debug)]
enum RequestKind {
    Assign(String, String, Principal),
    Unassign(String, String, Principal),
    Provision,
}

#[derive(Default)]
pub struct SsoState {
    pub sets: BTreeMap<String, PermissionSetState>,
    pub assignments: BTreeMap<(String, String), Vec<Principal>>,
    pub groups: BTreeMap<String, String>,
    /// User ids by group id.
    pub members: BTreeMap<String, Vec<String>>,
    /// The states the next assignment or provisioning requests go through, in order of
    /// the requests (default: SUCCEEDED at once).
    pub scripts: VecDeque<Vec<OperationState>>,
    requests: HashMap<String, Request>,
}

/// An Identity Center instance in memory.
#[derive(Default)]
pub struct FakeSso {
    pub state: Mutex<SsoState>,
    pub log: CallLog,
}

pub fn sso_error(kind: FailureKind, code: &str, message: &str) -> AwsError {
    AwsError { operation: "sso:Test".into(), code: Some(code.into()), message: message.into(), kind }
}

impl FakeSso {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeSso::default())
    }

    pub(crate) fn call(&self, name: &'static str) -> Result<(), AwsError> {
        self.log.call(name)
    }

    pub fn count(&self, name: &str) -> usize {
        self.log.count(name)
    }

    pub fn fail_next(&self, operation: &'static str, error: AwsError) {
        self.log.fail_next(operation, error);
    }

    pub fn script(&self, states: Vec<OperationState>) {
        self.state.lock().unwrap().scripts.push_back(states);
    }

    pub fn assigned(&self, arn: &str, account: &str) -> Vec<Principal> {
        self.state.lock().unwrap().assignments.get(&(arn.to_string(), account.to_string())).cloned().unwrap_or_default()
    }

    fn set<T>(&self, arn: &str, f: impl FnOnce(&mut PermissionSetState) -> T) -> Result<T, AwsError> {
        let mut s = self.state.lock().unwrap();
        let set = s
            .sets
            .get_mut(arn)
            .ok_or_else(|| sso_error(FailureKind::Client, "ResourceNotFoundException", "no such permission set"))?;
        Ok(f(set))
    }

    /// Starts a request; its effect happens when it reaches SUCCEEDED.
    fn start(&self, kind: RequestKind) -> Operation {
        let mut s = self.state.lock().unwrap();
        let states: VecDeque<OperationState> =
            s.scripts.pop_front().unwrap_or_else(|| vec![OperationState::Succeeded]).into();
        let id = format!("req-{}", s.requests.len() + 1);
        s.requests.insert(id.clone(), Request { kind, states });
        drop(s);
        self.advance(&id)
    }

    fn advance(&self, id: &str) -> Operation {
        let mut s = self.state.lock().unwrap();
        let request = s.requests.get_mut(id).expect("a known request");
        let state = next_state(&mut request.states, OperationState::Succeeded);
        let effect = (state == OperationState::Succeeded).then(|| request.kind.clone());
        if let Some(RequestKind::Assign(arn, account, who)) = effect.clone() {
            let list = s.assignments.entry((arn, account)).or_default();
            if !list.contains(&who) {
                list.push(who);
            }
        }
        if let Some(RequestKind::Unassign(arn, account, who)) = effect {
            s.assignments.entry((arn, account)).or_default().retain(|p| *p != who);
        }
        Operation { request_id: id.to_string(), state }
    }
}

impl SsoAdmin for Arc<FakeSso> {
    async fn instance(&self) -> Result<Option<Instance>, AwsError> {
        self.call("ListInstances")?;
        Ok(Some(Instance { arn: "arn:aws:sso:::instance/ssoins-test".into(), identity_store_id: "d-test".into() }))
    }
    async fn permission_sets(&self, _instance: &str) -> Result<Vec<String>, AwsError> {
        self.call("ListPermissionSets")?;
        Ok(self.state.lock().unwrap().sets.keys().cloned().collect())
    }
    async fn describe(&self, _instance: &str, arn: &str) -> Result<Attributes, AwsError> {
        self.call("DescribePermissionSet")?;
        self.set(arn, |s| s.attributes.clone())
    }
    async fn create(&self, _instance: &str, attributes: &Attributes, tags: &Tags) -> Result<String, AwsError> {
        self.call("CreatePermissionSet")?;
        let mut s = self.state.lock().unwrap();
        if s.sets.values().any(|set| set.attributes.name == attributes.name) {
            return Err(sso_error(FailureKind::Client, "ConflictException", "name taken"));
        }
        let arn = format!("arn:aws:sso:::permissionSet/ssoins-test/ps-{}", s.sets.len() + 1);
        let state = PermissionSetState { attributes: attributes.clone(), tags: tags.clone(), ..Default::default() };
        s.sets.insert(arn.clone(), state);
        Ok(arn)
    }
    async fn update(&self, _instance: &str, arn: &str, attributes: &Attributes) -> Result<(), AwsError> {
        self.call("UpdatePermissionSet")?;
        self.set(arn, |s| s.attributes = attributes.clone())
    }
    async fn delete(&self, _instance: &str, arn: &str) -> Result<(), AwsError> {
        self.call("DeletePermissionSet")?;
        let mut s = self.state.lock().unwrap();
        if s.assignments.iter().any(|((a, _), list)| a == arn && !list.is_empty()) {
            return Err(sso_error(FailureKind::Client, "ConflictException", "still assigned"));
        }
        s.sets.remove(arn);
        Ok(())
    }
    async fn tags(&self, _instance: &str, arn: &str) -> Result<Tags, AwsError> {
        self.call("ListTagsForResource")?;
        self.set(arn, |s| s.tags.clone())
    }
    async fn tag(&self, _instance: &str, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.call("TagResource")?;
        self.set(arn, |s| s.tags.extend(tags.clone()))
    }
    async fn untag(&self, _instance: &str, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        self.call("UntagResource")?;
        self.set(arn, |s| s.tags.retain(|k, _| !keys.contains(k)))
    }
    async fn managed_policies(&self, _instance: &str, arn: &str) -> Result<Vec<String>, AwsError> {
        self.call("ListManagedPoliciesInPermissionSet")?;
        self.set(arn, |s| s.managed_policies.clone())
    }
    async fn attach_managed(&self, _instance: &str, arn: &str, policy: &str) -> Result<(), AwsError> {
        self.call("AttachManagedPolicyToPermissionSet")?;
        self.set(arn, |s| s.managed_policies.push(policy.to_string()))
    }
    async fn detach_managed(&self, _instance: &str, arn: &str, policy: &str) -> Result<(), AwsError> {
        self.call("DetachManagedPolicyFromPermissionSet")?;
        self.set(arn, |s| s.managed_policies.retain(|p| p != policy))
    }
    async fn customer_policies(&self, _instance: &str, arn: &str) -> Result<Vec<PolicyRef>, AwsError> {
        self.call("ListCustomerManagedPolicyReferencesInPermissionSet")?;
        self.set(arn, |s| s.customer_policies.clone())
    }
    async fn attach_customer(&self, _instance: &str, arn: &str, policy: &PolicyRef) -> Result<(), AwsError> {
        self.call("AttachCustomerManagedPolicyReferenceToPermissionSet")?;
        self.set(arn, |s| s.customer_policies.push(policy.clone()))
    }
    async fn detach_customer(&self, _instance: &str, arn: &str, policy: &PolicyRef) -> Result<(), AwsError> {
        self.call("DetachCustomerManagedPolicyReferenceFromPermissionSet")?;
        self.set(arn, |s| s.customer_policies.retain(|p| p != policy))
    }
    async fn inline_policy(&self, _instance: &str, arn: &str) -> Result<Option<String>, AwsError> {
        self.call("GetInlinePolicyForPermissionSet")?;
        self.set(arn, |s| s.inline_policy.clone())
    }
    async fn put_inline_policy(&self, _instance: &str, arn: &str, document: &str) -> Result<(), AwsError> {
        self.call("PutInlinePolicyToPermissionSet")?;
        self.set(arn, |s| s.inline_policy = Some(document.to_string()))
    }
    async fn delete_inline_policy(&self, _instance: &str, arn: &str) -> Result<(), AwsError> {
        self.call("DeleteInlinePolicyFromPermissionSet")?;
        self.set(arn, |s| s.inline_policy = None)
    }
    async fn boundary(&self, _instance: &str, arn: &str) -> Result<Option<Boundary>, AwsError> {
        self.call("GetPermissionsBoundaryForPermissionSet")?;
        self.set(arn, |s| s.boundary.clone())
    }
    async fn put_boundary(&self, _instance: &str, arn: &str, boundary: &Boundary) -> Result<(), AwsError> {
        self.call("PutPermissionsBoundaryToPermissionSet")?;
        self.set(arn, |s| s.boundary = Some(boundary.clone()))
    }
    async fn delete_boundary(&self, _instance: &str, arn: &str) -> Result<(), AwsError> {
        self.call("DeletePermissionsBoundaryFromPermissionSet")?;
        self.set(arn, |s| s.boundary = None)
    }
    async fn provisioned_accounts(&self, _instance: &str, arn: &str) -> Result<Vec<String>, AwsError> {
        self.call("ListAccountsForProvisionedPermissionSet")?;
        let s = self.state.lock().unwrap();
        Ok(s.assignments
            .iter()
            .filter(|((a, _), list)| a == arn && !list.is_empty())
            .map(|((_, id), _)| id.clone())
            .collect())
    }
    async fn assignments(&self, _instance: &str, arn: &str, account: &str) -> Result<Vec<Principal>, AwsError> {
        self.call("ListAccountAssignments")?;
        Ok(self.assigned(arn, account))
    }
    async fn assign(&self, _instance: &str, arn: &str, account: &str, who: &Principal) -> Result<Operation, AwsError> {
        self.call("CreateAccountAssignment")?;
        Ok(self.start(RequestKind::Assign(arn.into(), account.into(), who.clone())))
    }
    async fn unassign(
        &self,
        _instance: &str,
        arn: &str,
        account: &str,
        who: &Principal,
    ) -> Result<Operation, AwsError> {
        self.call("DeleteAccountAssignment")?;
        Ok(self.start(RequestKind::Unassign(arn.into(), account.into(), who.clone())))
    }
    async fn assign_status(&self, _instance: &str, request: &str) -> Result<Operation, AwsError> {
        self.call("DescribeAccountAssignmentCreationStatus")?;
        Ok(self.advance(request))
    }
    async fn unassign_status(&self, _instance: &str, request: &str) -> Result<Operation, AwsError> {
        self.call("DescribeAccountAssignmentDeletionStatus")?;
        Ok(self.advance(request))
    }
    async fn provision(&self, _instance: &str, _arn: &str) -> Result<Operation, AwsError> {
        self.call("ProvisionPermissionSet")?;
        Ok(self.start(RequestKind::Provision))
    }
    async fn provision_status(&self, _instance: &str, request: &str) -> Result<Operation, AwsError> {
        self.call("DescribePermissionSetProvisioningStatus")?;
        Ok(self.advance(request))
    }
}
