//! `PermissionSetRequest`: an IAM Identity Center permission set (attributes, policies,
//! boundary, tags) and its account assignments, temporary ones removed at their expiry.
//! The AWS calls are here; the decisions that need none are in `rules`.

pub mod revocation;
pub mod rules;

use crate::aws::identity_store::IdentityStore;
use crate::aws::organizations::Organizations;
use crate::aws::snapshots::identity_center::{IdentityCenter, PermissionSetState};
use crate::aws::snapshots::organization::OrgCache;
use crate::aws::sso_admin::{Operation, OperationState, Principal, SsoAdmin};
use crate::aws::{AwsError, FailureKind};
use crate::feed::FollowsChanges;
use crate::feed::change_event::Touched;
use crate::kinds::aws_error;
use crate::kinds::directory::{AccountDirectory, Claim, ClaimDirectory};
use crate::metrics::Metrics;
use crate::policy::{Grants, PolicyStore};
use crate::reconcile::ownership;
use crate::reconcile::{
    Availability, Error, EventKind, FieldDiff, Linked, ManagedKind, Observation, Progress, StatusSink,
};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use orgops_api::permission_set::{AssignmentStatus, AssignmentTarget, ResolvedPrincipal, SessionRevocation};
use orgops_api::{ManagementPolicy, PermissionSetRequest, PermissionSetRequestStatus};
use rules::{AssignmentPlan, PrincipalSpec, Wanted};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Identity Center allows this many CreateAccountAssignment requests outstanding.
pub const DEFAULT_ASSIGNMENTS_IN_FLIGHT: u16 = 10;

/// How soon an assignment that found every slot taken looks again (costs no AWS call).
const IN_FLIGHT_RECHECK: Duration = Duration::from_secs(1);

/// The PermissionSetRequest implementation of [`ManagedKind`].
pub struct PermissionSetKind<A: SsoAdmin, I: IdentityStore, O: Organizations, D: AccountDirectory, C: ClaimDirectory> {
    center: Arc<IdentityCenter<A, I>>,
    org: Arc<OrgCache<O>>,
    directory: D,
    /// The PermissionSetRequests claiming each permission set name.
    requests: C,
    /// The platform policy: a target it no longer grants loses its assignments.
    policy: Arc<PolicyStore>,
    /// CreateAccountAssignment requests in progress, by request id.
    outstanding: Mutex<HashSet<String>>,
    /// How many may be (Identity Center allows [`DEFAULT_ASSIGNMENTS_IN_FLIGHT`]).
    assignments_in_flight: usize,
    /// How long a session revocation is held instead of the permission set's session
    /// duration plus [`revocation::MARGIN`] (a setting for tests).
    revocation_hold: Option<Duration>,
    /// Where session revocations are counted (none in `orgops plan`).
    metrics: Option<Metrics>,
}

/// An assignment that ended: its principal and account.
type Ended = (Principal, String);

/// Where an assignment request stands after its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tracked {
    Running,
    Finished,
    Failed,
}

/// The assignments the spec asks for, as far as they resolve now.
#[derive(Default)]
struct Resolution {
    wanted: Vec<Wanted>,
    /// Principals whose name did not resolve this time, by their last known id: their
    /// assignments are kept, not removed.
    keep: BTreeSet<Principal>,
    /// Why some assignments cannot be made yet (a principal or an account not found).
    waiting: Vec<String>,
    /// The refusals of targets the platform policy no longer grants (a grant withdrawn):
    /// they resolve to no assignment, so theirs are removed.
    withdrawn: Vec<Error>,
}

/// An sso-admin error: ConflictException means another operation on the same permission
/// set is running, which is a wait, not a failure.
fn sso_error(error: AwsError) -> Error {
    if error.is("ConflictException") && error.kind == FailureKind::Client {
        return Error::waiting(format!("another Identity Center operation is running: {error}"));
    }
    aws_error(error)
}

/// The accounts where the object's persisted status lists an assignment AWS holds (or
/// is still removing) or a session revocation still held, when the object owns its
/// permission set: what a withdrawn grant still has to end there.
fn held_accounts(obj: &PermissionSetRequest, now: Timestamp) -> BTreeSet<String> {
    let Some(status) = obj.status.as_ref().filter(|s| s.common.owned == Some(true)) else { return BTreeSet::new() };
    let assigned = status.assignments.iter().filter(|e| is_live(&e.state)).map(|e| &e.account_id);
    let held = |r: &&SessionRevocation| r.held_until.parse::<Timestamp>().is_ok_and(|until| until > now);
    let revoked = status.revocations.iter().filter(held).map(|r| &r.account_id);
    assigned.chain(revoked).cloned().collect()
}

/// Whether an assignment in this state exists in AWS.
fn is_live(state: &str) -> bool {
    matches!(state, "SUCCEEDED" | "REMOVING" | "DELETING")
}

fn entry_key(entry: &AssignmentStatus) -> (String, String, String) {
    (entry.principal_type.clone(), entry.principal_id.clone(), entry.account_id.clone())
}

impl<A: SsoAdmin, I: IdentityStore, O: Organizations, D: AccountDirectory, C: ClaimDirectory>
    PermissionSetKind<A, I, O, D, C>
{
    /// A kind on the shared Identity Center view, organization snapshot, AwsAccounts,
    /// PermissionSetRequests and platform policy.
    pub fn new(
        center: Arc<IdentityCenter<A, I>>,
        org: Arc<OrgCache<O>>,
        directory: D,
        requests: C,
        policy: Arc<PolicyStore>,
    ) -> Self {
        let outstanding = Mutex::new(HashSet::new());
        PermissionSetKind {
            center,
            org,
            directory,
            requests,
            policy,
            outstanding,
            assignments_in_flight: DEFAULT_ASSIGNMENTS_IN_FLIGHT.into(),
            revocation_hold: None,
            metrics: None,
        }
    }

    /// The same kind, counting its session revocations in `metrics`.
    pub fn with_metrics(self, metrics: Metrics) -> Self {
        PermissionSetKind { metrics: Some(metrics), ..self }
    }

    /// The same kind, holding each session revocation this long after the end.
    pub fn with_revocation_hold(self, hold: Option<Duration>) -> Self {
        PermissionSetKind { revocation_hold: hold, ..self }
    }

    /// The same kind, with this many CreateAccountAssignment requests in progress at most.
    pub fn with_assignments_in_flight(self, limit: usize) -> Self {
        PermissionSetKind { assignments_in_flight: limit, ..self }
    }

    /// Whether the platform policy lets the namespace assign to this target (`field`).
    async fn check_target(
        &self,
        namespace: &str,
        grants: &Grants,
        field: &str,
        target: &AssignmentTarget,
    ) -> Result<(), Error> {
        if grants.policy.admin {
            return Ok(());
        }
        let account = match (&target.account_ref, &target.account_id, &target.organizational_unit) {
            (Some(name), _, _) => self.directory.account(namespace, name).and_then(|e| e.account_id),
            (_, Some(id), _) => Some(id.clone()),
            (_, _, Some(ou)) => {
                let path = if ou.starts_with("ou-") || ou.starts_with("r-") {
                    self.org.ensure_loaded().await.map_err(aws_error)?;
                    self.org.read(|s| s.ou_path(ou))
                } else {
                    Some(ou.clone())
                };
                return match path {
                    Some(path) => Ok(grants.check_organizational_unit(&format!("{field}.organizationalUnit"), &path)?),
                    None => Ok(()),
                };
            }
            _ => None,
        };
        let Some(account) = account else { return Ok(()) };
        self.org.ensure_loaded().await.map_err(aws_error)?;
        if self.org.read(|s| s.management_account() == Some(account.as_str())) {
            return Err(Error::forbidden(format!(
                "{field} is the management account {account}: only an admin namespace may assign there \
                 (a delegated Identity Center administrator cannot manage it anyway)"
            )));
        }
        if target.account_ref.is_some()
            || self.directory.owned_by(namespace, &account)
            || grants.grants_account(&account)
        {
            return Ok(());
        }
        let path = self.org.read(|s| s.parent_of(&account).and_then(|p| s.ou_path(p)));
        if path.as_deref().is_some_and(|p| grants.check_organizational_unit("", p).is_ok()) {
            return Ok(());
        }
        Err(Error::forbidden(format!(
            "{field}.accountId {account} is not an account of namespace {namespace:?} (no AwsAccount in it manages \
             it), nor listed or inside an organizational unit the platform policy grants it"
        )))
    }

    /// The accounts a target names now, as far as the cluster and the organization
    /// snapshot know them (no AWS call).
    fn accounts_named(&self, namespace: &str, target: &AssignmentTarget) -> Vec<String> {
        if let Some(name) = &target.account_ref {
            return self.directory.account(namespace, name).and_then(|e| e.account_id).into_iter().collect();
        }
        if let Some(id) = &target.account_id {
            return vec![id.clone()];
        }
        let Some(ou) = &target.organizational_unit else { return Vec::new() };
        self.org.read(|s| {
            s.resolve_ou(ou)
                .map(|id| s.accounts_under(&id).into_iter().map(|a| a.id.clone()).collect())
                .unwrap_or_default()
        })
    }

    async fn instance(&self) -> Result<String, Error> {
        Ok(self.center.instance().await.map_err(aws_error)?.arn)
    }

    /// Resolves principals and targets. Unknown names and AwsAccounts not Ready yet are
    /// reasons to wait, reported in `waiting`; the rest is `wanted`.
    async fn resolve(
        &self,
        obj: &PermissionSetRequest,
        status: &mut PermissionSetRequestStatus,
    ) -> Result<Resolution, Error> {
        let namespace = obj.namespace().unwrap_or_default();
        let grants = self.policy.grants(&namespace);
        let mut resolution = Resolution::default();
        let mut principals = Vec::new();
        let needs_org = obj.spec.assignments.iter().flat_map(|a| &a.targets).any(|t| t.organizational_unit.is_some());
        if needs_org {
            self.org.ensure_loaded().await.map_err(aws_error)?;
        }
        let management = self.org.read(|s| s.management_account().map(str::to_string));
        for (index, assignment) in obj.spec.assignments.iter().enumerate() {
            let spec = PrincipalSpec::of(assignment);
            let principal = match &spec {
                PrincipalSpec::Id(kind, id) => Principal { kind: *kind, id: id.clone() },
                PrincipalSpec::Named(kind, name) => {
                    match self.center.principal_id(*kind, name).await.map_err(aws_error)? {
                        Some(id) => {
                            principals.push(ResolvedPrincipal {
                                principal_type: kind.as_str().into(),
                                name: name.clone(),
                                id: id.clone(),
                            });
                            Principal { kind: *kind, id }
                        }
                        None => {
                            resolution.waiting.push(format!(
                                "spec.assignments[{index}]: {} is not in the Identity Store; orgops looks again at each resync",
                                spec.label()
                            ));
                            let known =
                                status.principals.iter().find(|p| p.name == *name && p.principal_type == kind.as_str());
                            if let Some(known) = known {
                                resolution.keep.insert(Principal { kind: *kind, id: known.id.clone() });
                            }
                            continue;
                        }
                    }
                }
            };
            let expires_at = match &assignment.expires_at {
                Some(text) => Some(rules::expiry(&format!("spec.assignments[{index}].expiresAt"), text)?),
                None => None,
            };
            for (t, target) in assignment.targets.iter().enumerate() {
                let field = format!("spec.assignments[{index}].targets[{t}]");
                if let Err(refused) = self.check_target(&namespace, &grants, &field, target).await {
                    // A grant withdrawn (see check_policy): its assignments go.
                    resolution.withdrawn.push(refused);
                    continue;
                }
                let accounts: Vec<String> = if let Some(name) = &target.account_ref {
                    match self.directory.account(&namespace, name) {
                        Some(entry) if entry.ready && entry.account_id.is_some() => {
                            entry.account_id.into_iter().collect()
                        }
                        Some(_) => {
                            resolution.waiting.push(format!(
                                "spec.assignments[{index}].targets[{t}]: waiting for AwsAccount {name} to be Ready"
                            ));
                            continue;
                        }
                        None => {
                            resolution.waiting.push(format!(
                                "spec.assignments[{index}].targets[{t}]: no AwsAccount {name} in namespace {namespace}"
                            ));
                            continue;
                        }
                    }
                } else if let Some(id) = &target.account_id {
                    vec![id.clone()]
                } else if let Some(ou) = &target.organizational_unit {
                    let under = self.org.read(|s| {
                        s.resolve_ou(ou).map(|id| {
                            s.accounts_under(&id)
                                .into_iter()
                                .filter(|a| a.state == "ACTIVE" && Some(&a.id) != management.as_ref())
                                .map(|a| a.id.clone())
                                .collect::<Vec<_>>()
                        })
                    });
                    match under {
                        Some(accounts) => accounts,
                        None => {
                            return Err(Error::terminal(format!(
                                "spec.assignments[{index}].targets[{t}].organizationalUnit {ou:?} does not exist in the organization"
                            )));
                        }
                    }
                } else {
                    continue;
                };
                for account in accounts {
                    resolution.wanted.push(Wanted {
                        principal: principal.clone(),
                        label: spec.label(),
                        account,
                        expires_at,
                    });
                }
            }
        }
        principals.sort_by(|a, b| (&a.principal_type, &a.name).cmp(&(&b.principal_type, &b.name)));
        principals.dedup();
        status.principals = principals;
        Ok(resolution)
    }

    /// AWS's assignments of the permission set in every account orgops must look at: the
    /// wanted ones, those in status, and those the permission set is provisioned to.
    async fn actual_assignments(
        &self,
        arn: &str,
        resolution: &Resolution,
        status: &PermissionSetRequestStatus,
    ) -> Result<BTreeMap<String, Vec<Principal>>, Error> {
        let mut accounts: BTreeSet<String> = resolution.wanted.iter().map(|w| w.account.clone()).collect();
        accounts.extend(status.assignments.iter().map(|a| a.account_id.clone()));
        accounts.extend(self.center.provisioned_accounts(arn).await.map_err(aws_error)?);
        let mut actual = BTreeMap::new();
        for account in accounts {
            let principals = self.center.assignments(arn, &account).await.map_err(aws_error)?;
            actual.insert(account, principals);
        }
        Ok(actual)
    }

    /// Polls the assignment requests still running; `true` when some still are.
    async fn poll_assignments(
        &self,
        status: &mut PermissionSetRequestStatus,
        arn: &str,
        ended: &mut Vec<Ended>,
    ) -> Result<bool, Error> {
        let instance = self.instance().await?;
        let mut running = false;
        let mut finished_deletions = Vec::new();
        for entry in status.assignments.iter_mut() {
            let Some(request) = entry.request_id.clone() else { continue };
            let deleting = entry.state == "DELETING";
            let admin = self.center.admin();
            let operation = if deleting {
                admin.unassign_status(&instance, &request).await
            } else {
                admin.assign_status(&instance, &request).await
            }
            .map_err(sso_error)?;
            let principal = Principal { kind: kind_of(&entry.principal_type), id: entry.principal_id.clone() };
            match operation.state {
                OperationState::InProgress => running = true,
                OperationState::Succeeded => {
                    self.outstanding.lock().unwrap().remove(&request);
                    entry.request_id = None;
                    self.center.record_assignment(arn, &entry.account_id, &principal, !deleting);
                    if deleting {
                        finished_deletions.push(entry_key(entry));
                        ended.push((principal.clone(), entry.account_id.clone()));
                    } else {
                        entry.state = "SUCCEEDED".into();
                        entry.message = None;
                    }
                }
                OperationState::Failed(reason) => {
                    self.outstanding.lock().unwrap().remove(&request);
                    entry.request_id = None;
                    entry.state = "FAILED".into();
                    entry.message = Some(reason);
                }
            }
        }
        status.assignments.retain(|e| !finished_deletions.contains(&entry_key(e)) || e.state == "EXPIRED");
        Ok(running)
    }

    /// Polls a provisioning still running; `true` while it runs.
    async fn poll_provisioning(&self, status: &mut PermissionSetRequestStatus) -> Result<bool, Error> {
        let Some(request) = status.provisioning_request_id.clone() else { return Ok(false) };
        let instance = self.instance().await?;
        let operation = self.center.admin().provision_status(&instance, &request).await.map_err(sso_error)?;
        match operation.state {
            OperationState::InProgress => return Ok(true),
            OperationState::Succeeded => status.provisioned = true,
            OperationState::Failed(reason) => {
                tracing::warn!(request, reason, "ProvisionPermissionSet failed; it is sent again");
                status.provisioned = false;
            }
        }
        status.provisioning_request_id = None;
        Ok(false)
    }

    /// Rewrites the status entries from the wanted assignments and AWS; returns the
    /// assignments that ended without orgops seeing their removal finish (a restart
    /// between the removal and its record): live at the last record, gone from AWS now,
    /// and not wanted any more.
    fn record_assignments(
        status: &mut PermissionSetRequestStatus,
        resolution: &Resolution,
        actual: &BTreeMap<String, Vec<Principal>>,
        now: Timestamp,
    ) -> Vec<Ended> {
        let mut ended = Vec::new();
        let previous = std::mem::take(&mut status.assignments);
        let mut entries: Vec<AssignmentStatus> = Vec::new();
        for want in &resolution.wanted {
            let kind = want.principal.kind.as_str().to_string();
            let key = (kind.clone(), want.principal.id.clone(), want.account.clone());
            if let Some(existing) = entries.iter_mut().find(|e| entry_key(e) == key) {
                // The same principal and account twice: the later expiry (or none) wins.
                if existing.state == "EXPIRED" && !want.expired(now) {
                    existing.state = "PENDING".into();
                    existing.expires_at = want.expires_at.map(|t| t.to_string());
                }
                continue;
            }
            let before = previous.iter().find(|e| entry_key(e) == key);
            let present = actual.get(&want.account).is_some_and(|p| p.contains(&want.principal));
            if want.expired(now) && !present && before.is_some_and(|e| is_live(&e.state) && e.request_id.is_none()) {
                ended.push((want.principal.clone(), want.account.clone()));
            }
            let (state, request_id, message) = match before {
                Some(e) if e.request_id.is_some() => (e.state.clone(), e.request_id.clone(), e.message.clone()),
                _ if want.expired(now) && !present => ("EXPIRED".into(), None, None),
                _ if present => ("SUCCEEDED".into(), None, None),
                Some(e) if e.state == "FAILED" => (e.state.clone(), None, e.message.clone()),
                _ => ("PENDING".into(), None, None),
            };
            entries.push(AssignmentStatus {
                principal_type: kind,
                principal_id: want.principal.id.clone(),
                principal: Some(want.label.clone()),
                account_id: want.account.clone(),
                state,
                expires_at: want.expires_at.map(|t| t.to_string()),
                request_id,
                message,
            });
        }
        // Assignments orgops made that are no longer wanted stay listed until removed, so
        // their accounts are looked at again; deletions still running, until they finish.
        for mut entry in previous {
            if entries.iter().any(|n| entry_key(n) == entry_key(&entry)) {
                continue;
            }
            let principal = Principal { kind: kind_of(&entry.principal_type), id: entry.principal_id.clone() };
            if entry.state != "DELETING" {
                if !actual.get(&entry.account_id).is_some_and(|p| p.contains(&principal)) {
                    if is_live(&entry.state) {
                        ended.push((principal, entry.account_id.clone()));
                    }
                    continue;
                }
                entry.state = "REMOVING".into();
            }
            entries.push(entry);
        }
        status.assignments = entries;
        summarize(status);
        ended
    }

    /// Creates, removes and expires assignments as the plan says; `true` when some
    /// request is still running.
    async fn apply_assignments(
        &self,
        status: &mut PermissionSetRequestStatus,
        arn: &str,
        plan: &AssignmentPlan,
        ended: &mut Vec<Ended>,
    ) -> Result<bool, Error> {
        let instance = self.instance().await?;
        let admin = self.center.admin();
        let mut running = false;
        for (principal, account, _) in &plan.expire {
            let operation = admin.unassign(&instance, arn, account, principal).await.map_err(sso_error)?;
            match self.track(status, arn, account, principal, operation, "EXPIRED") {
                Tracked::Running => running = true,
                Tracked::Finished => ended.push((principal.clone(), account.clone())),
                Tracked::Failed => {}
            }
        }
        for (principal, account) in &plan.remove {
            let operation = admin.unassign(&instance, arn, account, principal).await.map_err(sso_error)?;
            match self.track(status, arn, account, principal, operation, "REMOVED") {
                Tracked::Running => running = true,
                Tracked::Finished => ended.push((principal.clone(), account.clone())),
                Tracked::Failed => {}
            }
        }
        for want in &plan.create {
            {
                let outstanding = self.outstanding.lock().unwrap();
                let limit = self.assignments_in_flight;
                if outstanding.len() >= limit {
                    return Err(Error::waiting_for_turn(
                        format!("{limit} account assignments are being created; waiting for one to finish"),
                        IN_FLIGHT_RECHECK,
                    ));
                }
            }
            let operation = admin.assign(&instance, arn, &want.account, &want.principal).await.map_err(sso_error)?;
            running |=
                self.track(status, arn, &want.account, &want.principal, operation, "SUCCEEDED") == Tracked::Running;
        }
        summarize(status);
        Ok(running)
    }

    /// Records an assignment request's answer in status; `true` while it runs. `done` is
    /// the entry's state once it finished: SUCCEEDED for a creation, EXPIRED for an
    /// expiry, REMOVED (the entry goes) for a removal.
    fn track(
        &self,
        status: &mut PermissionSetRequestStatus,
        arn: &str,
        account: &str,
        principal: &Principal,
        operation: Operation,
        done: &str,
    ) -> Tracked {
        let creating = done == "SUCCEEDED";
        let key = (principal.kind.as_str().to_string(), principal.id.clone(), account.to_string());
        let index = match status.assignments.iter().position(|e| entry_key(e) == key) {
            Some(index) => index,
            None => {
                status.assignments.push(AssignmentStatus {
                    principal_type: key.0.clone(),
                    principal_id: key.1.clone(),
                    account_id: key.2.clone(),
                    ..AssignmentStatus::default()
                });
                status.assignments.len() - 1
            }
        };
        let entry = &mut status.assignments[index];
        match operation.state {
            OperationState::InProgress => {
                if creating {
                    self.outstanding.lock().unwrap().insert(operation.request_id.clone());
                }
                entry.state = if creating { "IN_PROGRESS" } else { "DELETING" }.into();
                entry.request_id = Some(operation.request_id);
                Tracked::Running
            }
            OperationState::Succeeded => {
                self.center.record_assignment(arn, account, principal, creating);
                entry.state = done.into();
                entry.request_id = None;
                entry.message = None;
                if done == "REMOVED" {
                    status.assignments.remove(index);
                }
                Tracked::Finished
            }
            OperationState::Failed(reason) => {
                entry.state = "FAILED".into();
                entry.request_id = None;
                entry.message = Some(reason);
                Tracked::Failed
            }
        }
    }

    /// Writes the permission set's attributes, policies, boundary and tags where they
    /// differ from `from`, the inline policy with the session revocations holding now;
    /// returns what AWS now has.
    async fn write_permission_set(
        &self,
        obj: &PermissionSetRequest,
        arn: &str,
        from: &PermissionSetState,
        diffs: &[FieldDiff],
        revocations: &[SessionRevocation],
    ) -> Result<(PermissionSetState, Vec<String>), Error> {
        let instance = self.instance().await?;
        let admin = self.center.admin();
        let desired = rules::desired_state(&obj.spec.permission_set)?;
        let touched = |path: &str| diffs.iter().any(|d| d.path == path);
        let mut now = from.clone();
        let mut done = Vec::new();
        if ["permissionSet.description", "permissionSet.sessionDuration", "permissionSet.relayState"]
            .iter()
            .any(|p| touched(p))
        {
            let mut attributes = from.attributes.clone();
            let wanted = &desired.attributes;
            for (field, value) in [
                (&mut attributes.description, &wanted.description),
                (&mut attributes.session_duration, &wanted.session_duration),
                (&mut attributes.relay_state, &wanted.relay_state),
            ] {
                if value.is_some() {
                    field.clone_from(value);
                }
            }
            admin.update(&instance, arn, &attributes).await.map_err(sso_error)?;
            now.attributes = attributes;
            done.push("updated the attributes".to_string());
        }
        if touched("permissionSet.managedPolicies") {
            for policy in desired.managed_policies.iter().filter(|p| !from.managed_policies.contains(p)) {
                admin.attach_managed(&instance, arn, policy).await.map_err(sso_error)?;
                done.push(format!("attached {policy}"));
            }
            for policy in from.managed_policies.iter().filter(|p| !desired.managed_policies.contains(p)) {
                admin.detach_managed(&instance, arn, policy).await.map_err(sso_error)?;
                done.push(format!("detached {policy}"));
            }
            now.managed_policies = desired.managed_policies.clone();
        }
        if touched("permissionSet.customerManagedPolicies") {
            for policy in desired.customer_policies.iter().filter(|p| !from.customer_policies.contains(p)) {
                admin.attach_customer(&instance, arn, policy).await.map_err(sso_error)?;
                done.push(format!("attached {}{}", policy.path, policy.name));
            }
            for policy in from.customer_policies.iter().filter(|p| !desired.customer_policies.contains(p)) {
                admin.detach_customer(&instance, arn, policy).await.map_err(sso_error)?;
                done.push(format!("detached {}{}", policy.path, policy.name));
            }
            now.customer_policies = desired.customer_policies.clone();
        }
        if touched("permissionSet.inlinePolicy") || touched("revocations") {
            // The user's document, with orgops's revocation statements after it.
            let statements = revocation::statements(revocations, Timestamp::now());
            let document = revocation::merged(desired.inline_policy.as_deref(), statements).map_err(|why| {
                if let Some(metrics) = &self.metrics {
                    metrics.session_revocations_failed.with_label_values(&[&obj.namespace().unwrap_or_default()]).inc();
                }
                Error::terminal(format!(
                    "a session revocation cannot be written: {why}; shorten spec.permissionSet.inlinePolicy"
                ))
            })?;
            match &document {
                Some(document) => admin.put_inline_policy(&instance, arn, document).await.map_err(sso_error)?,
                None => admin.delete_inline_policy(&instance, arn).await.map_err(sso_error)?,
            }
            now.inline_policy = document;
            done.push("wrote the inline policy".to_string());
        }
        if touched("permissionSet.permissionsBoundary") {
            match &desired.boundary {
                Some(boundary) => admin.put_boundary(&instance, arn, boundary).await.map_err(sso_error)?,
                None => admin.delete_boundary(&instance, arn).await.map_err(sso_error)?,
            }
            now.boundary = desired.boundary.clone();
            done.push("set the permissions boundary".to_string());
        }
        let (to_set, to_remove) =
            ownership::tag_changes(diffs, &ownership::desired_tags(obj, &obj.spec.permission_set.tags));
        if !to_set.is_empty() || !to_remove.is_empty() {
            if !to_set.is_empty() {
                admin.tag(&instance, arn, &to_set).await.map_err(sso_error)?;
            }
            if !to_remove.is_empty() {
                admin.untag(&instance, arn, &to_remove).await.map_err(sso_error)?;
            }
            now.tags.extend(to_set);
            now.tags.retain(|k, _| !to_remove.contains(k));
            done.push("tagged".to_string());
        }
        self.center.record_state(arn, now.clone());
        Ok((now, done))
    }

    /// Provisions the permission set to every account it is provisioned to, after a
    /// change to what its roles may do; `true` while it runs.
    async fn provision(&self, status: &mut PermissionSetRequestStatus, arn: &str) -> Result<bool, Error> {
        let assigned = status.assignments.iter().any(|a| a.state == "SUCCEEDED");
        if !assigned && self.center.provisioned_accounts(arn).await.map_err(aws_error)?.is_empty() {
            // Nothing is provisioned yet: each new assignment provisions the current version.
            status.provisioned = true;
            return Ok(false);
        }
        let instance = self.instance().await?;
        let operation = self.center.admin().provision(&instance, arn).await.map_err(sso_error)?;
        match operation.state {
            OperationState::InProgress => {
                status.provisioned = false;
                status.provisioning_request_id = Some(operation.request_id);
                Ok(true)
            }
            OperationState::Succeeded => {
                status.provisioned = true;
                Ok(false)
            }
            OperationState::Failed(reason) => {
                status.provisioned = false;
                Err(Error::retryable(format!("ProvisionPermissionSet failed: {reason}")))
            }
        }
    }

    /// Records the session revocations that ended assignments need: the users each stood
    /// for (a group's members now), less those who still hold the permission set in that
    /// account through another of its assignments. One end is recorded once.
    async fn revoke(
        &self,
        obj: &PermissionSetRequest,
        status: &mut PermissionSetRequestStatus,
        arn: &str,
        ended: &[Ended],
        now: Timestamp,
    ) -> Result<(), Error> {
        let hold = match self.revocation_hold {
            Some(hold) => SignedDuration::try_from(hold).unwrap_or(SignedDuration::MAX),
            None => revocation::hold(obj.spec.permission_set.session_duration.as_deref()),
        };
        for (principal, account) in ended {
            let kind = principal.kind.as_str().to_lowercase();
            let known = status.principals.iter().find(|p| p.id == principal.id).map(|p| p.name.clone());
            // A principal gone from the spec is named by the Identity Store (one read per end).
            let name = match known {
                Some(name) => Some(name),
                None => self.center.principal_name(principal).await.map_err(aws_error)?,
            };
            let label = format!("{kind} {}", name.unwrap_or_else(|| principal.id.clone()));
            let recorded = status.revocations.iter().any(|r| {
                r.principal == label
                    && r.account_id == *account
                    && r.issued_before.parse::<Timestamp>().is_ok_and(|t| now.duration_since(t) < RECORDED_AGO)
            });
            if recorded {
                continue;
            }
            let mut users: BTreeSet<String> =
                self.center.users_of(principal).await.map_err(aws_error)?.into_iter().collect();
            let remaining = self.center.assignments(arn, account).await.map_err(aws_error)?;
            for other in remaining.iter().filter(|p| *p != principal) {
                for user in self.center.users_of(other).await.map_err(aws_error)? {
                    users.remove(&user);
                }
            }
            if !users.is_empty() {
                status.revocations.push(revocation::revocation(&label, account, users, now, hold));
            }
        }
        Ok(())
    }
}

/// An end seen again within this time is the same end (a pass that saw the removal
/// finish, then the next that no longer finds the assignment).
const RECORDED_AGO: SignedDuration = SignedDuration::from_mins(2);

fn kind_of(principal_type: &str) -> crate::aws::sso_admin::PrincipalKind {
    if principal_type == "USER" {
        crate::aws::sso_admin::PrincipalKind::User
    } else {
        crate::aws::sso_admin::PrincipalKind::Group
    }
}

fn summarize(status: &mut PermissionSetRequestStatus) {
    let live = status.assignments.iter().filter(|a| !matches!(a.state.as_str(), "EXPIRED" | "DELETING" | "REMOVING"));
    let (ready, total) = live.fold((0, 0), |(r, t), a| (r + usize::from(a.state == "SUCCEEDED"), t + 1));
    status.assignment_summary = Some(format!("{ready}/{total}"));
}

impl<A: SsoAdmin, I: IdentityStore, O: Organizations, D: AccountDirectory, C: ClaimDirectory> ManagedKind
    for PermissionSetKind<A, I, O, D, C>
{
    type Resource = PermissionSetRequest;
    const KIND: &'static str = "PermissionSetRequest";

    async fn begin_sweep(&self) -> Result<(), Error> {
        self.center.begin_sweep();
        Ok(())
    }

    async fn check_policy(&self, obj: &PermissionSetRequest, grants: &Grants) -> Result<(), Error> {
        let spec = &obj.spec;
        if let Some(document) = &spec.permission_set.inline_policy {
            rules::inline_policy_document(document)?;
        }
        for (index, policy) in spec.permission_set.managed_policies.iter().enumerate() {
            grants.check_managed_policy(&format!("spec.permissionSet.managedPolicies[{index}]"), policy)?;
        }
        if let Some(session) = &spec.permission_set.session_duration {
            grants.check_session_duration("spec.permissionSet.sessionDuration", session)?;
        }
        let name = &spec.permission_set.name;
        if let Some(older) = Claim::of(obj).earlier(&self.requests.claims(name)) {
            return Err(Error::forbidden(format!(
                "spec.permissionSet.name {name} is already claimed by PermissionSetRequest {}, which is older: one \
                 permission set, one object, even one that only observes it",
                older.key
            )));
        }
        let namespace = obj.namespace().unwrap_or_default();
        let now = Timestamp::now();
        let (mut granted_targets, mut refused_targets) = (Vec::new(), Vec::new());
        for (index, assignment) in spec.assignments.iter().enumerate() {
            if let Some(text) = &assignment.expires_at {
                let field = format!("spec.assignments[{index}].expiresAt");
                let at = rules::expiry(&field, text)?;
                let ahead = Duration::from_secs(at.duration_since(now).as_secs().max(0) as u64);
                grants.check_assignment_duration(&field, text, ahead)?;
            }
            for (t, target) in assignment.targets.iter().enumerate() {
                let field = format!("spec.assignments[{index}].targets[{t}]");
                match self.check_target(&namespace, grants, &field, target).await {
                    Ok(()) => granted_targets.push(target),
                    Err(refused) => refused_targets.push((refused, target)),
                }
            }
        }
        if refused_targets.is_empty() {
            return Ok(());
        }
        // A target the platform policy no longer grants, where this object still holds
        // assignments (or session revocations) no granted target covers, is a grant
        // withdrawn: the pass goes on without it, so those assignments are removed and
        // their sessions denied; observe then reports the refusal. Once nothing is held
        // there, the same target is refused here like any other.
        self.org.ensure_loaded().await.map_err(aws_error)?;
        let granted: BTreeSet<String> =
            granted_targets.into_iter().flat_map(|t| self.accounts_named(&namespace, t)).collect();
        let live = held_accounts(obj, now);
        for (refused, target) in refused_targets {
            let withdrawn = self.accounts_named(&namespace, target);
            if !withdrawn.iter().any(|a| live.contains(a) && !granted.contains(a)) {
                return Err(refused);
            }
        }
        Ok(())
    }

    async fn observe(
        &self,
        obj: &PermissionSetRequest,
        status: &mut PermissionSetRequestStatus,
    ) -> Result<Observation, Error> {
        let spec = &obj.spec.permission_set;
        let full = obj.spec.policies.management_policy == ManagementPolicy::Full;
        let mut linked = None;
        let known = status.permission_set_arn.clone();
        let arn = match &known {
            Some(arn) => arn.clone(),
            None => match self.center.find_by_name(&spec.name).await.map_err(aws_error)? {
                Some(arn) => arn,
                None => return Ok(Observation::Absent),
            },
        };
        let Some(actual) = self.center.state(&arn).await.map_err(aws_error)? else {
            // Deleted outside orgops: created again (with the same name) by the driver.
            status.permission_set_arn = None;
            status.provisioned = false;
            return Ok(Observation::Absent);
        };
        let resource = format!("permission set {} ({arn})", spec.name);
        ownership::check_not_owned_by_another(obj, &resource, &actual.tags)?;
        if known.is_none() {
            linked = Some(if ownership::carries_uid(obj, &actual.tags) {
                Linked::Created(format!("found {resource}, created for this object before a restart"))
            } else if ownership::names_for_adoption(obj, &arn) {
                Linked::Adopted(format!("adopted {resource}, named by annotation {}", ownership::ADOPT_ANNOTATION))
            } else if full {
                return Err(ownership::not_owned(obj, &resource, &arn));
            } else {
                Linked::Adopted(format!("observing {resource} (managementPolicy ObserveOnly)"))
            });
        }
        status.permission_set_arn = Some(arn.clone());

        let provisioning = self.poll_provisioning(status).await?;
        let mut ended = Vec::new();
        let assigning = self.poll_assignments(status, &arn, &mut ended).await?;
        if provisioning || assigning {
            if full {
                self.revoke(obj, status, &arn, &ended, Timestamp::now()).await?;
            }
            return Err(Error::waiting(format!(
                "Identity Center is still {}",
                if provisioning { "provisioning the permission set" } else { "changing assignments" }
            )));
        }

        let desired = rules::desired_state(spec)?;
        let mut diffs = rules::policy_diffs(&desired, &actual);
        diffs.extend(ownership::tag_diffs(obj, &spec.tags, &actual.tags));
        if !status.provisioned && full {
            diffs.push(FieldDiff::new("provisioning", "provisioned", "not provisioned"));
        }
        let resolution = self.resolve(obj, status).await?;
        let actual_assignments = self.actual_assignments(&arn, &resolution, status).await?;
        let now = Timestamp::now();
        let plan = rules::assignment_plan(&resolution.wanted, &actual_assignments, &resolution.keep, now);
        diffs.extend(rules::assignment_diffs(&plan));
        ended.extend(Self::record_assignments(status, &resolution, &actual_assignments, now));
        if full {
            self.revoke(obj, status, &arn, &ended, now).await?;
            let wanted = revocation::statements(&status.revocations, now);
            let (_, written) = revocation::split(actual.inline_policy.as_deref());
            if !revocation::same(&wanted, &written) {
                let desired = revocation::describe_holding(&status.revocations, now);
                diffs.push(FieldDiff::scheduled_with(
                    "revocations",
                    desired,
                    revocation::describe(&written),
                    EventKind::SessionsRevoked,
                ));
            }
            status.revocations.retain(|r| revocation::holds(r, now));
            if let Some(metrics) = &self.metrics {
                let (namespace, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
                let labels = [namespace.as_str(), name.as_str()];
                match status.revocations.len() {
                    0 => _ = metrics.session_revocations.remove_label_values(&labels),
                    held => metrics.session_revocations.with_label_values(&labels).set(held as i64),
                }
            }
        }

        if diffs.is_empty()
            && let Some(refused) = resolution.withdrawn.into_iter().next()
        {
            // A withdrawn grant's assignments are gone and their sessions denied: what is
            // left is the refusal, and a refused object writes nothing more.
            return Err(refused);
        }
        let mut problems = resolution.waiting;
        problems.extend(status.assignments.iter().filter(|a| a.state == "FAILED").map(|a| {
            format!(
                "assignment of {} in {} failed: {}",
                a.principal.clone().unwrap_or_else(|| a.principal_id.clone()),
                a.account_id,
                a.message.clone().unwrap_or_default()
            )
        }));
        let availability =
            if problems.is_empty() { Availability::Available } else { Availability::Unavailable(problems.join("; ")) };
        Ok(Observation::Present { diffs, availability, linked })
    }

    async fn create(
        &self,
        obj: &PermissionSetRequest,
        status: &mut PermissionSetRequestStatus,
        _sink: &dyn StatusSink<PermissionSetRequestStatus>,
    ) -> Result<Progress, Error> {
        let spec = &obj.spec.permission_set;
        let instance = self.instance().await?;
        let desired = rules::desired_state(spec)?;
        let tags = ownership::desired_tags(obj, &spec.tags);
        // The name is unique in the instance and the tags carry this object's uid, so a
        // create whose answer is lost is found by name afterwards, never made twice.
        let arn = match self.center.admin().create(&instance, &desired.attributes, &tags).await {
            Ok(arn) => arn,
            Err(error) if error.is("ConflictException") => {
                self.center.forget_names().await;
                return Err(Error::retryable(format!(
                    "a permission set named {} appeared meanwhile; orgops looks at it again: {error}",
                    spec.name
                )));
            }
            Err(error) => {
                // Its answer may have been lost after AWS created it: found by name next.
                if error.kind != FailureKind::Client {
                    self.center.forget_names().await;
                }
                return Err(aws_error(error));
            }
        };
        status.permission_set_arn = Some(arn.clone());
        let created =
            PermissionSetState { attributes: desired.attributes.clone(), tags, ..PermissionSetState::default() };
        self.center.record_created(&arn, created.clone()).await;
        let diffs = rules::policy_diffs(&desired, &created);
        let (_, mut done) = self.write_permission_set(obj, &arn, &created, &diffs, &[]).await?;
        status.provisioned = true;
        let resolution = self.resolve(obj, status).await?;
        let (empty, now) = (BTreeMap::new(), Timestamp::now());
        let plan = rules::assignment_plan(&resolution.wanted, &empty, &resolution.keep, now);
        Self::record_assignments(status, &resolution, &empty, now);
        let running = self.apply_assignments(status, &arn, &plan, &mut Vec::new()).await?;
        done.insert(0, format!("created permission set {} ({arn})", spec.name));
        if !plan.create.is_empty() {
            done.push(format!("requested {} assignments", plan.create.len()));
        }
        if running { Ok(Progress::InProgress(done.join(", "))) } else { Ok(Progress::Done(done.join(", "))) }
    }

    async fn update(
        &self,
        obj: &PermissionSetRequest,
        status: &mut PermissionSetRequestStatus,
        diffs: &[FieldDiff],
    ) -> Result<Progress, Error> {
        let arn = status.permission_set_arn.clone().ok_or_else(|| Error::retryable("no permission set ARN yet"))?;
        let from = self.center.state(&arn).await.map_err(aws_error)?.unwrap_or_default();
        let (_, mut done) = self.write_permission_set(obj, &arn, &from, diffs, &status.revocations).await?;
        let mut running = false;
        if diffs.iter().any(|d| d.path == "assignments") {
            let resolution = self.resolve(obj, status).await?;
            let actual = self.actual_assignments(&arn, &resolution, status).await?;
            let mut plan = rules::assignment_plan(&resolution.wanted, &actual, &resolution.keep, Timestamp::now());
            // Only what these differences cover: expiries are made on their own, whatever
            // the drift policy; the rest only when the driver asked for them.
            let scheduled = diffs.iter().any(|d| d.path == "assignments" && d.scheduled.is_some());
            let unscheduled = diffs.iter().any(|d| d.path == "assignments" && d.scheduled.is_none());
            if !scheduled {
                plan.expire.clear();
            }
            if !unscheduled {
                plan.create.clear();
                plan.remove.clear();
            }
            let mut ended = Vec::new();
            running |= self.apply_assignments(status, &arn, &plan, &mut ended).await?;
            if !ended.is_empty() && obj.spec.policies.management_policy == ManagementPolicy::Full {
                // Recorded in this pass's status (a restart before it is written finds the
                // end again from the last status and AWS); written by the next pass, soon,
                // which announces them (Event SessionsRevoked).
                let before = status.revocations.len();
                self.revoke(obj, status, &arn, &ended, Timestamp::now()).await?;
                if status.revocations.len() > before {
                    running = true;
                    done.push(format!("{} session revocations to write", status.revocations.len() - before));
                }
            }
        }
        if rules::needs_provisioning(diffs) {
            running |= self.provision(status, &arn).await?;
            done.push("provisioned".to_string());
        }
        let message = done.join(", ");
        Ok(if running { Progress::InProgress(message) } else { Progress::Done(message) })
    }

    fn revisit_in(&self, obj: &PermissionSetRequest, status: &PermissionSetRequestStatus) -> Option<Duration> {
        let now = Timestamp::now();
        let expiries = obj.spec.assignments.iter().filter_map(|a| a.expires_at.as_deref()?.parse::<Timestamp>().ok());
        let revocations_end = status.revocations.iter().filter_map(|r| r.held_until.parse::<Timestamp>().ok());
        expiries
            .chain(revocations_end)
            .filter(|at| *at > now)
            .map(|at| Duration::from_secs(at.duration_since(now).as_secs().max(0) as u64 + 1))
            .min()
    }

    async fn delete(
        &self,
        obj: &PermissionSetRequest,
        status: &mut PermissionSetRequestStatus,
        _owned: &ownership::Owned,
    ) -> Result<Progress, Error> {
        let arn = status.permission_set_arn.clone().ok_or_else(|| Error::retryable("no permission set ARN yet"))?;
        let resolution = Resolution::default();
        let actual = self.actual_assignments(&arn, &resolution, status).await?;
        let plan = AssignmentPlan {
            remove: actual
                .iter()
                .flat_map(|(account, list)| list.iter().map(|p| (p.clone(), account.clone())))
                .collect(),
            ..AssignmentPlan::default()
        };
        if self.apply_assignments(status, &arn, &plan, &mut Vec::new()).await? {
            return Ok(Progress::InProgress(format!(
                "removing the assignments of permission set {}",
                obj.spec.permission_set.name
            )));
        }
        let instance = self.instance().await?;
        match self.center.admin().delete(&instance, &arn).await {
            Ok(()) => {}
            Err(error) if error.is("ResourceNotFoundException") => {}
            Err(error) => return Err(sso_error(error)),
        }
        self.center.record_deleted(&arn).await;
        Ok(Progress::Done(format!(
            "removed {} assignments, then deleted permission set {} ({arn})",
            plan.remove.len(),
            obj.spec.permission_set.name
        )))
    }
}

/// Whether the request assigns in organizational units, whose accounts change as accounts move.
pub fn targets_organizational_units(obj: &PermissionSetRequest) -> bool {
    obj.spec.assignments.iter().flat_map(|a| &a.targets).any(|t| t.organizational_unit.is_some())
}

impl<A: SsoAdmin, I: IdentityStore, O: Organizations, D: AccountDirectory, C: ClaimDirectory> FollowsChanges
    for PermissionSetKind<A, I, O, D, C>
{
    fn forget(&self, touched: &Touched) {
        match touched {
            Touched::PermissionSet(arn) => self.center.forget_permission_set(arn),
            Touched::Account(id) => self.org.forget_account(id),
            Touched::OrganizationalUnits => self.org.forget_organizational_units(),
            _ => {}
        }
    }

    fn concerns(&self, obj: &PermissionSetRequest, touched: &Touched) -> bool {
        let status = obj.status.as_ref();
        match touched {
            Touched::PermissionSet(arn) => status.and_then(|s| s.permission_set_arn.as_ref()) == Some(arn),
            // An account that moved may have joined or left a targeted OU.
            Touched::Account(_) | Touched::OrganizationalUnits => targets_organizational_units(obj),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
