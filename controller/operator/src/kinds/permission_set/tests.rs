//! PermissionSetRequest against an in-memory Identity Center and organization: what moto
//! cannot produce (assignments and provisionings IN_PROGRESS, FAILED with a reason,
//! ConflictException while another operation runs, throttling), the guardrails, and the
//! pure rules.

use super::*;
use crate::aws::organizations::fake::FakeOrg;
use crate::aws::sso_admin::fake::{FakeSso, sso_error};
use crate::aws::sso_admin::{Attributes, Boundary, PolicyRef, PrincipalKind};
use crate::kinds::directory::DirectoryEntry;
use crate::kinds::directory::fake::{Accounts as Directory, Claims};
use crate::policy::{NamespacePolicy, Policy, PolicyStore};
use crate::reconcile::NoSink;
use crate::reconcile::error::{ErrorClass, TerminalReason};

const PROD: &str = "111100000001";
const OUTSIDER: &str = "222200000002";
const MANAGEMENT: &str = "000000000000";

type Kind = PermissionSetKind<Arc<FakeSso>, Arc<FakeSso>, Arc<FakeOrg>, Directory, Arc<Claims>>;

struct Fixture {
    sso: Arc<FakeSso>,
    org: Arc<FakeOrg>,
    kind: Kind,
    requests: Arc<Claims>,
}

fn fixture() -> Fixture {
    let sso = FakeSso::new();
    sso.state.lock().unwrap().groups.insert("payroll-developers".into(), "g-1".into());
    let org = Arc::new(FakeOrg::new());
    org.add_account(PROD, "prod@example.com", "ou-root-payr0000");
    org.add_account(OUTSIDER, "outsider@example.com", "ou-root-bill0000");
    org.add_account(MANAGEMENT, "root@example.com", "r-root");
    let mut directory = Directory::default();
    let prod = DirectoryEntry { account_id: Some(PROD.into()), ready: true };
    directory.0.insert(("payroll".into(), "payroll-prod".into()), prod);
    let center = Arc::new(IdentityCenter::new(sso.clone(), sso.clone(), None));
    let requests = Arc::new(Claims::default());
    let payroll =
        NamespacePolicy { organizational_units: vec!["Workloads/Payroll".into()], ..NamespacePolicy::default() };
    let policy = Policy { namespaces: [("payroll".to_string(), payroll)].into(), ..Policy::default() };
    let policy = Arc::new(PolicyStore::fixed(policy));
    let kind =
        PermissionSetKind::new(center, Arc::new(OrgCache::new(org.clone())), directory, requests.clone(), policy);
    Fixture { kind, sso, org, requests }
}

fn request(extra: serde_json::Value) -> PermissionSetRequest {
    let mut object = serde_json::json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "PermissionSetRequest",
        "metadata": {"name": "developers", "namespace": "payroll", "uid": "uid-1", "generation": 1},
        "spec": {
            "permissionSet": {"name": "PayrollDeveloper", "managedPolicies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
            "assignments": [{"group": "payroll-developers", "targets": [{"accountRef": "payroll-prod"}]}]
        }
    });
    crate_merge(&mut object["spec"], extra);
    serde_json::from_value(object).unwrap()
}

fn crate_merge(target: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(target), serde_json::Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}

fn grants(yaml: &str) -> Grants {
    let policy: Policy = yaml_serde::from_str(yaml).unwrap();
    PolicyStore::fixed(policy).grants("payroll")
}

fn payroll_grants() -> Grants {
    let payroll =
        NamespacePolicy { organizational_units: vec!["Workloads/Payroll".into()], ..NamespacePolicy::default() };
    let policy = Policy { namespaces: [("payroll".to_string(), payroll)].into(), ..Policy::default() };
    PolicyStore::fixed(policy).grants("payroll")
}

async fn create(f: &Fixture, obj: &PermissionSetRequest) -> (PermissionSetRequestStatus, Progress) {
    let mut status = PermissionSetRequestStatus::default();
    assert_eq!(f.kind.observe(obj, &mut status).await, Ok(Observation::Absent));
    let progress = f.kind.create(obj, &mut status, &NoSink).await.unwrap();
    (status, progress)
}

fn group(id: &str) -> Principal {
    Principal { kind: PrincipalKind::Group, id: id.into() }
}

#[tokio::test]
async fn an_assignment_in_progress_is_waited_for_then_succeeds() {
    let f = fixture();
    f.sso.script(vec![OperationState::InProgress, OperationState::InProgress, OperationState::Succeeded]);
    let obj = request(serde_json::json!({}));
    let (mut status, progress) = create(&f, &obj).await;
    assert!(matches!(progress, Progress::InProgress(_)), "{progress:?}");
    assert_eq!(status.assignments[0].state, "IN_PROGRESS");
    assert!(status.assignments[0].request_id.is_some());

    let waiting = f.kind.observe(&obj, &mut status).await.unwrap_err();
    assert_eq!(waiting.class, ErrorClass::Waiting, "still in progress: {waiting:?}");
    let Observation::Present { diffs, availability, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
        panic!("present")
    };
    assert!(diffs.is_empty(), "{diffs:?}");
    assert_eq!(availability, Availability::Available);
    assert_eq!(status.assignments[0].state, "SUCCEEDED");
    assert_eq!(status.assignment_summary.as_deref(), Some("1/1"));
    assert_eq!(f.sso.assigned(status.permission_set_arn.as_deref().unwrap(), PROD), [group("g-1")]);
    assert_eq!(f.sso.count("CreateAccountAssignment"), 1, "polled, never sent twice");
}

#[tokio::test]
async fn a_failed_assignment_reports_aws_reason_and_is_tried_again() {
    let f = fixture();
    f.sso.script(vec![OperationState::InProgress, OperationState::Failed("the account is suspended".into())]);
    let obj = request(serde_json::json!({}));
    let (mut status, _) = create(&f, &obj).await;
    let Observation::Present { diffs, availability, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
        panic!("present")
    };
    let Availability::Unavailable(message) = availability else { panic!("unavailable") };
    assert!(message.contains("the account is suspended") && message.contains(PROD), "{message}");
    assert_eq!(status.assignments[0].state, "FAILED");
    assert_eq!(status.assignment_summary.as_deref(), Some("0/1"));
    assert_eq!(diffs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["assignments"], "retried by update");
    f.kind.update(&obj, &mut status, &diffs).await.unwrap();
    assert_eq!(f.sso.count("CreateAccountAssignment"), 2);
    assert_eq!(status.assignments[0].state, "SUCCEEDED");
}

#[tokio::test]
async fn a_policy_change_is_provisioned_once_and_waited_for() {
    let f = fixture();
    let obj = request(serde_json::json!({}));
    let (mut status, _) = create(&f, &obj).await;
    let arn = status.permission_set_arn.clone().unwrap();
    let changed = request(serde_json::json!({"permissionSet": {
        "name": "PayrollDeveloper",
        "managedPolicies": ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/AWSSupportAccess"]
    }}));
    let Observation::Present { diffs, .. } = f.kind.observe(&changed, &mut status).await.unwrap() else {
        panic!("present")
    };
    assert_eq!(diffs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["permissionSet.managedPolicies"]);
    f.sso.script(vec![OperationState::InProgress, OperationState::Succeeded]);
    let progress = f.kind.update(&changed, &mut status, &diffs).await.unwrap();
    assert!(matches!(progress, Progress::InProgress(_)), "{progress:?}");
    assert_eq!(f.sso.count("AttachManagedPolicyToPermissionSet"), 2, "one at creation, one now");
    assert_eq!(f.sso.count("ProvisionPermissionSet"), 1);
    assert!(!status.provisioned);
    assert!(f.kind.observe(&changed, &mut status).await.is_ok(), "the provisioning finished");
    assert!(status.provisioned);
    assert!(status.provisioning_request_id.is_none());
    assert_eq!(f.sso.count("ProvisionPermissionSet"), 1, "provisioned once");
    assert!(f.sso.state.lock().unwrap().sets[&arn].managed_policies.len() == 2);
}

#[tokio::test]
async fn a_conflict_with_another_running_operation_is_a_wait_and_throttling_a_retry() {
    let f = fixture();
    let obj = request(serde_json::json!({}));
    let (mut status, _) = create(&f, &obj).await;
    let changed = request(serde_json::json!({"permissionSet": {"name": "PayrollDeveloper", "managedPolicies": []}}));
    let Observation::Present { diffs, .. } = f.kind.observe(&changed, &mut status).await.unwrap() else {
        panic!("present")
    };
    f.sso.fail_next(
        "ProvisionPermissionSet",
        sso_error(FailureKind::Client, "ConflictException", "another provisioning is running"),
    );
    let error = f.kind.update(&changed, &mut status, &diffs).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Waiting, "{error:?}");
    assert!(error.message.contains("another Identity Center operation is running"), "{}", error.message);

    f.kind.begin_sweep().await.unwrap();
    f.sso.fail_next("DescribePermissionSet", sso_error(FailureKind::Throttled, "ThrottlingException", "slow down"));
    let error = f.kind.observe(&changed, &mut status).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Retryable, "{error:?}");
}

#[tokio::test]
async fn at_most_ten_assignments_are_outstanding() {
    let f = fixture();
    let accounts: Vec<String> = (0..12).map(|i| format!("3333000000{i:02}")).collect();
    for account in &accounts {
        f.org.add_account(account, &format!("{account}@example.com"), "ou-root-payr0000");
        f.sso.script(vec![OperationState::InProgress]);
    }
    let targets: Vec<serde_json::Value> = accounts.iter().map(|a| serde_json::json!({"accountId": a})).collect();
    let obj = request(
        serde_json::json!({"assignments": [{"groupId": "d1a2b3c4-0000-0000-0000-000000000001", "targets": targets}]}),
    );
    let mut status = PermissionSetRequestStatus::default();
    f.kind.observe(&obj, &mut status).await.unwrap();
    let error = f.kind.create(&obj, &mut status, &NoSink).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Waiting);
    assert_eq!(error.wait, Some(IN_FLIGHT_RECHECK));
    assert_eq!(f.sso.count("CreateAccountAssignment"), usize::from(DEFAULT_ASSIGNMENTS_IN_FLIGHT));
}

#[tokio::test]
async fn a_permission_set_of_that_name_owned_by_no_one_is_never_taken_over() {
    let f = fixture();
    let existing = PermissionSetState {
        attributes: Attributes { name: "PayrollDeveloper".into(), ..Attributes::default() },
        ..PermissionSetState::default()
    };
    f.sso.state.lock().unwrap().sets.insert("arn:ps-theirs".into(), existing);
    let obj = request(serde_json::json!({}));
    let error = f.kind.observe(&obj, &mut PermissionSetRequestStatus::default()).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Terminal);
    assert!(
        error.message.contains("already exists and is not owned by this object")
            && error.message.contains("orgops.dev/uid=uid-1"),
        "{}",
        error.message
    );
    assert_eq!(f.sso.count("CreatePermissionSet"), 0);
}

#[tokio::test]
async fn a_permission_set_named_by_the_adopt_annotation_is_adopted_and_tagged_by_the_update() {
    let f = fixture();
    let existing = PermissionSetState {
        attributes: Attributes { name: "PayrollDeveloper".into(), ..Attributes::default() },
        ..PermissionSetState::default()
    };
    f.sso.state.lock().unwrap().sets.insert("arn:ps-theirs".into(), existing);
    let mut obj = request(serde_json::json!({}));
    obj.metadata.annotations = Some([(ownership::ADOPT_ANNOTATION.to_string(), "arn:ps-other".to_string())].into());
    let refused = f.kind.observe(&obj, &mut PermissionSetRequestStatus::default()).await.unwrap_err();
    assert!(refused.message.contains("orgops.dev/adopt: \"arn:ps-theirs\""), "another ARN adopts nothing: {refused:?}");

    obj.metadata.annotations = Some([(ownership::ADOPT_ANNOTATION.to_string(), "arn:ps-theirs".to_string())].into());
    let mut status = PermissionSetRequestStatus::default();
    let Observation::Present { linked, diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
        panic!("present")
    };
    assert!(matches!(linked, Some(Linked::Adopted(_))), "{linked:?}");
    assert_eq!(status.permission_set_arn.as_deref(), Some("arn:ps-theirs"));
    assert!(diffs.iter().any(|d| d.ownership && d.path == "tags.orgops.dev/owner"), "{diffs:?}");
    assert_eq!(f.sso.count("CreatePermissionSet"), 0);
}

#[tokio::test]
async fn a_permission_set_carrying_this_objects_uid_is_its_own_after_a_restart() {
    let f = fixture();
    let obj = request(serde_json::json!({}));
    let tags = ownership::desired_tags(&obj, &Default::default());
    let existing = PermissionSetState {
        attributes: Attributes { name: "PayrollDeveloper".into(), ..Attributes::default() },
        tags,
        ..PermissionSetState::default()
    };
    f.sso.state.lock().unwrap().sets.insert("arn:ps-mine".into(), existing);
    let mut status = PermissionSetRequestStatus::default();
    let Observation::Present { linked, diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
        panic!("present")
    };
    assert!(matches!(linked, Some(Linked::Created(_))), "{linked:?}");
    assert_eq!(status.permission_set_arn.as_deref(), Some("arn:ps-mine"));
    assert!(diffs.iter().any(|d| d.path == "permissionSet.managedPolicies"), "finished by update: {diffs:?}");
}

#[tokio::test]
async fn an_expired_assignment_is_a_scheduled_removal_and_never_created() {
    let f = fixture();
    let past = (Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(60)).to_string();
    let obj = request(serde_json::json!({"assignments": [
        {"group": "payroll-developers", "expiresAt": past, "targets": [{"accountRef": "payroll-prod"}]}
    ]}));
    let (mut status, _) = create(&f, &obj).await;
    assert_eq!(f.sso.count("CreateAccountAssignment"), 0, "already expired: never created");
    assert_eq!(status.assignments[0].state, "EXPIRED");

    // Assigned meanwhile (say, before its expiry by an earlier pass): removed as scheduled.
    let arn = status.permission_set_arn.clone().unwrap();
    f.sso.state.lock().unwrap().assignments.insert((arn.clone(), PROD.into()), vec![group("g-1")]);
    f.kind.begin_sweep().await.unwrap();
    let Observation::Present { diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
        panic!("present")
    };
    assert!(diffs.iter().all(|d| d.scheduled.is_some() && d.path == "assignments"), "{diffs:?}");
    f.kind.update(&obj, &mut status, &diffs).await.unwrap();
    assert!(f.sso.assigned(&arn, PROD).is_empty());
    assert_eq!(status.assignments[0].state, "EXPIRED");
}

#[tokio::test]
async fn the_request_is_looked_at_again_when_its_next_assignment_expires() {
    let f = fixture();
    let soon = (Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(90)).to_string();
    let later = (Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(3600)).to_string();
    let obj = request(serde_json::json!({"assignments": [
        {"group": "payroll-developers", "expiresAt": later, "targets": [{"accountRef": "payroll-prod"}]},
        {"group": "payroll-developers", "expiresAt": soon, "targets": [{"accountId": OUTSIDER}]}
    ]}));
    let due = f.kind.revisit_in(&obj, &PermissionSetRequestStatus::default()).unwrap();
    assert!(due > Duration::from_secs(85) && due <= Duration::from_secs(91), "{due:?}");
    assert_eq!(f.kind.revisit_in(&request(serde_json::json!({})), &PermissionSetRequestStatus::default()), None);
}

#[tokio::test]
async fn a_foreign_assignment_on_an_owned_permission_set_is_removed() {
    let f = fixture();
    let obj = request(serde_json::json!({}));
    let (mut status, _) = create(&f, &obj).await;
    let arn = status.permission_set_arn.clone().unwrap();
    f.sso.state.lock().unwrap().assignments.get_mut(&(arn.clone(), PROD.into())).unwrap().push(group("g-intruder"));
    f.kind.begin_sweep().await.unwrap();
    let Observation::Present { diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
        panic!("present")
    };
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0].actual, format!("GROUP g-intruder in {PROD}"));
    f.kind.update(&obj, &mut status, &diffs).await.unwrap();
    assert_eq!(f.sso.assigned(&arn, PROD), [group("g-1")]);
}

#[tokio::test]
async fn an_unknown_group_waits_without_failing_and_keeps_what_it_had() {
    let f = fixture();
    let obj = request(serde_json::json!({}));
    let (mut status, _) = create(&f, &obj).await;
    let arn = status.permission_set_arn.clone().unwrap();
    // The group is renamed away: its name no longer resolves.
    f.sso.state.lock().unwrap().groups.clear();
    f.kind.begin_sweep().await.unwrap();
    let Observation::Present { diffs, availability, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
        panic!("present")
    };
    let Availability::Unavailable(message) = availability else { panic!("unavailable") };
    assert!(message.contains("group payroll-developers is not in the Identity Store"), "{message}");
    assert!(diffs.is_empty(), "the assignment made under its last id is kept: {diffs:?}");
    assert_eq!(f.sso.assigned(&arn, PROD), [group("g-1")]);
}

#[tokio::test]
async fn an_account_ref_not_ready_is_waited_for() {
    let mut f = fixture();
    f.kind
        .directory
        .0
        .insert(("payroll".into(), "payroll-dev".into()), DirectoryEntry { account_id: None, ready: false });
    let obj = request(serde_json::json!({"assignments": [
        {"group": "payroll-developers", "targets": [{"accountRef": "payroll-dev"}]}
    ]}));
    let (mut status, _) = create(&f, &obj).await;
    let Observation::Present { availability, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
        panic!("present")
    };
    assert_eq!(
        availability,
        Availability::Unavailable(
            "spec.assignments[0].targets[0]: waiting for AwsAccount payroll-dev to be Ready".into()
        )
    );
}

#[tokio::test]
async fn deletion_removes_every_assignment_before_the_permission_set() {
    let f = fixture();
    let obj = request(serde_json::json!({}));
    let (mut status, _) = create(&f, &obj).await;
    let arn = status.permission_set_arn.clone().unwrap();
    f.sso.script(vec![OperationState::InProgress, OperationState::Succeeded]);
    let progress = f.kind.delete(&obj, &mut status, &crate::reconcile::ownership::Owned::for_tests()).await.unwrap();
    assert!(matches!(progress, Progress::InProgress(_)), "waits for the deletion: {progress:?}");
    assert_eq!(f.sso.count("DeletePermissionSet"), 0);
    f.kind.begin_sweep().await.unwrap();
    assert!(f.kind.observe(&obj, &mut status).await.is_ok(), "the deletion finished");
    let progress = f.kind.delete(&obj, &mut status, &crate::reconcile::ownership::Owned::for_tests()).await.unwrap();
    assert!(matches!(progress, Progress::Done(_)), "{progress:?}");
    assert!(!f.sso.state.lock().unwrap().sets.contains_key(&arn));
}

#[tokio::test]
async fn guardrails_refuse_before_any_aws_call() {
    let f = fixture();
    let policy = "
deniedManagedPolicies: [AdministratorAccess]
namespaces:
  payroll: {organizationalUnits: [Workloads/Payroll], maxSessionDuration: PT4H, maxAssignmentDuration: 1d}
";
    let cases = [
        (
            serde_json::json!({"permissionSet": {"name": "X", "managedPolicies": ["arn:aws:iam::aws:policy/AdministratorAccess"]}}),
            "deniedManagedPolicies",
        ),
        (serde_json::json!({"permissionSet": {"name": "X", "sessionDuration": "PT8H"}}), "maxSessionDuration"),
        (
            serde_json::json!({"assignments": [{"groupId": "d1a2b3c4-0000-0000-0000-000000000001", "targets": [{"accountId": OUTSIDER}]}]}),
            "is not an account of namespace",
        ),
        (
            serde_json::json!({"assignments": [{"groupId": "d1a2b3c4-0000-0000-0000-000000000001", "targets": [{"accountId": MANAGEMENT}]}]}),
            "management account",
        ),
        (
            serde_json::json!({"assignments": [{"groupId": "d1a2b3c4-0000-0000-0000-000000000001", "targets": [{"organizationalUnit": "Workloads/Billing"}]}]}),
            "outside the organizational units",
        ),
        (
            serde_json::json!({"assignments": [{"groupId": "d1a2b3c4-0000-0000-0000-000000000001", "expiresAt": "2999-01-01T00:00:00Z", "targets": [{"accountId": PROD}]}]}),
            "maxAssignmentDuration",
        ),
    ];
    for (spec, rule) in cases {
        let error = f.kind.check_policy(&request(spec.clone()), &grants(policy)).await.unwrap_err();
        assert_eq!(error.reason, TerminalReason::Forbidden, "{spec}");
        assert!(error.message.contains(rule), "{rule}: {}", error.message);
    }
    // Its own account (an AwsAccount in the namespace) and one in a granted OU are allowed.
    for target in [serde_json::json!({"accountRef": "payroll-prod"}), serde_json::json!({"accountId": PROD})] {
        let spec = serde_json::json!({"assignments": [{"groupId": "d1a2b3c4-0000-0000-0000-000000000001", "targets": [target]}]});
        assert_eq!(f.kind.check_policy(&request(spec), &payroll_grants()).await, Ok(()));
    }
    assert_eq!(f.sso.count("CreatePermissionSet") + f.sso.count("CreateAccountAssignment"), 0);
}

#[tokio::test]
async fn a_second_request_for_a_permission_set_is_refused_naming_the_older_one() {
    let f = fixture();
    let older = Claim { key: "billing/readers".into(), created: Some(Timestamp::MIN) };
    f.requests.0.lock().unwrap().push(("PayrollDeveloper".into(), older));
    let mine = Claim::of(&request(serde_json::json!({})));
    f.requests.0.lock().unwrap().push(("PayrollDeveloper".into(), mine));
    let error = f.kind.check_policy(&request(serde_json::json!({})), &payroll_grants()).await.unwrap_err();
    assert_eq!(error.reason, TerminalReason::Forbidden);
    assert!(error.message.contains("already claimed by PermissionSetRequest billing/readers"), "{}", error.message);
    f.requests.0.lock().unwrap().remove(0);
    assert_eq!(f.kind.check_policy(&request(serde_json::json!({})), &payroll_grants()).await, Ok(()));
    assert_eq!(f.sso.log.calls().len(), 0, "no Identity Center call");
}

/// A request that owns its permission set, with a live assignment in `account`.
fn holding(spec: serde_json::Value, account: &str) -> PermissionSetRequest {
    let mut obj = request(spec);
    obj.status = Some(PermissionSetRequestStatus {
        common: orgops_api::CommonStatus { owned: Some(true), ..Default::default() },
        assignments: vec![AssignmentStatus {
            principal_type: "GROUP".into(),
            principal_id: "g-1".into(),
            principal: None,
            account_id: account.into(),
            state: "SUCCEEDED".into(),
            expires_at: None,
            request_id: None,
            message: None,
        }],
        ..Default::default()
    });
    obj
}

#[tokio::test]
async fn a_grant_withdrawn_lets_the_pass_remove_its_assignments_then_refuses_the_target() {
    let f = fixture();
    let to = |target: serde_json::Value| serde_json::json!({"assignments": [{"groupId": "d1a2b3c4-0000-0000-0000-000000000001", "targets": [target]}]});
    let billing = serde_json::json!({"organizationalUnit": "Workloads/Billing"});
    // Assignments still held where the policy no longer grants: the pass goes on, and
    // resolves no wanted assignment there, so they are removed.
    assert_eq!(f.kind.check_policy(&holding(to(billing.clone()), OUTSIDER), &payroll_grants()).await, Ok(()));
    let mut status = PermissionSetRequestStatus::default();
    let resolution = f.kind.resolve(&holding(to(billing.clone()), OUTSIDER), &mut status).await.unwrap();
    assert!(resolution.wanted.is_empty(), "nothing wanted outside the grants");
    // Nothing held there any more (or never): refused as any target outside the grants.
    let error = f.kind.check_policy(&request(to(billing.clone())), &payroll_grants()).await.unwrap_err();
    assert!(error.message.contains("outside the organizational units"), "{}", error.message);
    let error = f.kind.check_policy(&holding(to(billing), PROD), &payroll_grants()).await.unwrap_err();
    assert_eq!(error.reason, TerminalReason::Forbidden);
    // A new ungranted target naming an account a granted target still covers is refused.
    let both = serde_json::json!({"assignments": [{"groupId": "d1a2b3c4-0000-0000-0000-000000000001",
        "targets": [{"accountId": PROD}, {"organizationalUnit": "Workloads/Billing"}]}]});
    let error = f.kind.check_policy(&holding(both, PROD), &payroll_grants()).await.unwrap_err();
    assert_eq!(error.reason, TerminalReason::Forbidden);
    assert_eq!(f.sso.count("CreateAccountAssignment") + f.sso.count("DeleteAccountAssignment"), 0);
}

#[test]
fn inline_policies_are_checked_as_iam_would() {
    let ok = serde_json::json!({"Version": "2012-10-17", "Statement": {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}});
    assert!(rules::inline_policy_document(&ok).is_ok());
    let cases = [
        (serde_json::json!([1]), "inlinePolicy: must be a JSON object"),
        (serde_json::json!({"Statement": []}), ".Version: is required"),
        (serde_json::json!({"Version": "2012-10-17", "Statement": []}), ".Statement: must hold at least one"),
        (
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*"}]}),
            "Statement[0].Resource: one of Resource or NotResource is required",
        ),
        (
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "NotAction": "x:y", "Resource": "*"}]}),
            "Statement[0].Action: Action and NotAction cannot both be set",
        ),
        (
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}, {"Effect": "Allow", "Action": "GetObject", "Resource": "*"}]}),
            "Statement[1].Action: \"GetObject\" is not an action",
        ),
        (
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "bucket"}]}),
            "Statement[0].Resource: \"bucket\" is neither",
        ),
        (
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}),
            "Statement[0].Principal: is not allowed in an identity-based policy",
        ),
        (
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Sid": "a-b", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
            "Statement[0].Sid: may hold only letters and digits",
        ),
        (
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": "x"}}]}),
            "Statement[0].Condition.StringEquals: must be an object",
        ),
    ];
    for (document, expected) in cases {
        let error = rules::inline_policy_document(&document).unwrap_err();
        assert_eq!(error.reason, TerminalReason::Invalid);
        assert!(error.message.contains(expected), "{expected}: {}", error.message);
    }
    let resources: Vec<String> = (0..1200).map(|i| format!("arn:aws:s3:::bucket-number-{i}/*")).collect();
    let large = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": resources}]});
    let error = rules::inline_policy_document(&large).unwrap_err();
    assert!(error.message.contains("at most 32768"), "{}", error.message);
}

#[test]
fn the_assignment_plan_creates_removes_and_expires_exactly_what_differs() {
    let now = Timestamp::now();
    let past = now - k8s_openapi::jiff::SignedDuration::from_secs(1);
    let want = |id: &str, account: &str, expires_at| rules::Wanted {
        principal: group(id),
        label: format!("group {id}"),
        account: account.into(),
        expires_at,
    };
    let wanted = [want("a", "1", None), want("b", "1", Some(past)), want("c", "2", None), want("d", "2", Some(past))];
    let actual = BTreeMap::from([
        ("1".to_string(), vec![group("a"), group("b"), group("intruder")]),
        ("2".to_string(), vec![group("kept")]),
    ]);
    let keep = BTreeSet::from([group("kept")]);
    let plan = rules::assignment_plan(&wanted, &actual, &keep, now);
    assert_eq!(plan.create, [want("c", "2", None)], "d expired before it was made: never created");
    assert_eq!(plan.expire, [(group("b"), "1".to_string(), "group b".to_string())]);
    assert_eq!(plan.remove, [(group("intruder"), "1".to_string())], "kept stays");
    let diffs = rules::assignment_diffs(&plan);
    assert_eq!(diffs.iter().filter(|d| d.scheduled.is_some()).count(), 1);
}

#[tokio::test]
async fn a_created_request_costs_one_write_per_thing_it_asks_for_and_a_few_reads() {
    let f = fixture();
    let obj = request(serde_json::json!({"permissionSet": {
        "name": "PayrollDeveloper",
        "managedPolicies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "customerManagedPolicies": [{"name": "payroll-deploy"}],
        "inlinePolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]},
        "permissionsBoundary": {"managedPolicyArn": "arn:aws:iam::aws:policy/PowerUserAccess"}
    }}));
    let (mut status, _) = create(&f, &obj).await;
    let Observation::Present { diffs, availability, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
        panic!("present")
    };
    assert!(diffs.is_empty() && availability == Availability::Available, "{diffs:?} {availability:?}");
    let mut calls = f.sso.log.calls();
    calls.sort();
    calls.dedup();
    let counted: Vec<(String, usize)> = calls.into_iter().map(|c| (c.clone(), f.sso.count(&c))).collect();
    let expected = [
        ("AttachCustomerManagedPolicyReferenceToPermissionSet", 1),
        ("AttachManagedPolicyToPermissionSet", 1),
        ("CreateAccountAssignment", 1),
        ("CreatePermissionSet", 1),
        ("GetGroupId", 1),
        ("ListAccountsForProvisionedPermissionSet", 1),
        ("ListInstances", 1),
        ("ListPermissionSets", 1),
        ("PutInlinePolicyToPermissionSet", 1),
        ("PutPermissionsBoundaryToPermissionSet", 1),
    ];
    assert_eq!(counted, expected.map(|(op, n)| (op.to_string(), n)), "creation, then the pass that finds it Ready");
}

#[test]
fn the_spec_of_a_permission_set_asks_for_exactly_that_permission_set() {
    let state = PermissionSetState {
        attributes: Attributes {
            name: "Auditor".into(),
            description: Some("read and audit".into()),
            session_duration: Some("PT2H".into()),
            relay_state: Some("https://console.aws.amazon.com/".into()),
        },
        tags: Default::default(),
        managed_policies: vec!["arn:aws:iam::aws:policy/SecurityAudit".into()],
        customer_policies: vec![
            PolicyRef { name: "audit-extra".into(), path: "/".into() },
            PolicyRef { name: "logs".into(), path: "/team/".into() },
        ],
        inline_policy: Some(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:Delete*","Resource":"*"}]}"#.into(),
        ),
        boundary: Some(Boundary::Customer(PolicyRef { name: "boundary".into(), path: "/".into() })),
    };
    let spec = rules::spec_of(&state, Default::default()).unwrap();
    assert_eq!(spec.customer_managed_policies[0].path, None, "the default path is left out");
    let desired = rules::desired_state(&spec).unwrap();
    assert_eq!(rules::policy_diffs(&desired, &state), []);
    let broken = PermissionSetState { inline_policy: Some("{not json".into()), ..state };
    assert!(rules::spec_of(&broken, Default::default()).unwrap_err().contains("not JSON"));
}

#[tokio::test]
async fn a_removed_group_s_members_lose_their_sessions_except_those_another_assignment_keeps() {
    let f = fixture();
    {
        let mut state = f.sso.state.lock().unwrap();
        state.groups.insert("payroll-oncall".into(), "g-2".into());
        state.members.insert("g-1".into(), vec!["u-1".into(), "u-2".into()]);
        state.members.insert("g-2".into(), vec!["u-2".into()]);
    }
    let to_prod = serde_json::json!([{"accountRef": "payroll-prod"}]);
    let both = request(serde_json::json!({"assignments": [
        {"group": "payroll-developers", "targets": to_prod}, {"group": "payroll-oncall", "targets": to_prod}
    ]}));
    let (mut status, _) = create(&f, &both).await;
    let arn = status.permission_set_arn.clone().unwrap();
    assert_eq!(f.sso.assigned(&arn, PROD).len(), 2);

    // The developers' assignment leaves the spec: removed, then their sessions revoked.
    let mut oncall_only =
        request(serde_json::json!({"assignments": [{"group": "payroll-oncall", "targets": to_prod}]}));
    oncall_only.metadata.generation = Some(2);
    f.kind.begin_sweep().await.unwrap();
    let Observation::Present { diffs, .. } = f.kind.observe(&oncall_only, &mut status).await.unwrap() else {
        panic!("present")
    };
    let progress = f.kind.update(&oncall_only, &mut status, &diffs).await.unwrap();
    assert!(matches!(progress, Progress::InProgress(ref m) if m.contains("1 session revocations")), "{progress:?}");
    assert_eq!(f.sso.assigned(&arn, PROD), [group("g-2")]);
    assert_eq!(status.revocations.len(), 1);
    assert_eq!(status.revocations[0].principal, "group payroll-developers");
    assert_eq!(status.revocations[0].user_ids, ["u-1"], "u-2 keeps the permission set in prod through on-call");

    let provisions = f.sso.count("ProvisionPermissionSet");
    let Observation::Present { diffs, .. } = f.kind.observe(&oncall_only, &mut status).await.unwrap() else {
        panic!("present")
    };
    let revocations: Vec<&FieldDiff> = diffs.iter().filter(|d| d.path == "revocations").collect();
    assert_eq!(revocations.len(), 1, "{diffs:?}");
    assert_eq!(revocations[0].scheduled, Some(EventKind::SessionsRevoked));
    assert!(revocations[0].desired.contains(&format!("group payroll-developers in {PROD}")), "{:?}", revocations[0]);
    f.kind.update(&oncall_only, &mut status, &diffs).await.unwrap();
    let document = f.sso.state.lock().unwrap().sets[&arn].inline_policy.clone().unwrap();
    let (_, written) = revocation::split(Some(&document));
    assert_eq!(written.len(), 1, "{document}");
    assert_eq!(written[0]["Condition"]["StringEquals"]["identitystore:UserId"], serde_json::json!(["u-1"]));
    assert_eq!(f.sso.count("ProvisionPermissionSet"), provisions + 1, "provisioned after the Deny");

    // In sync afterwards: nothing more to write.
    let Observation::Present { diffs, .. } = f.kind.observe(&oncall_only, &mut status).await.unwrap() else {
        panic!("present")
    };
    assert!(!diffs.iter().any(|d| d.path == "revocations" || d.path == "permissionSet.inlinePolicy"), "{diffs:?}");
}
