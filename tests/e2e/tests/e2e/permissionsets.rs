//! PermissionSetRequest end to end: the real API server, the operator as a process, moto
//! (with the harness's Identity Center extension) as AWS.

use orgops_e2e::accounts::{PAYROLL, account, status_str, until_condition};
use orgops_e2e::identity::{self, denied_in, revocation_statements};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::requests::{self, permission_set_name, request};
use orgops_e2e::{apply, condition, events_of, eventually, kubectl};
use serde_json::json;

const READ_ONLY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const POWER_USER: &str = "arn:aws:iam::aws:policy/PowerUserAccess";

fn inline_policy() -> serde_json::Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "DeployPayroll", "Effect": "Allow", "Action": ["ecs:UpdateService"], "Resource": "*"}]
    })
}

#[tokio::test]
async fn a_request_creates_its_permission_set_with_every_policy_and_assigns_the_group() {
    let ns = "psr-create";
    let (accounts_api, api) = requests::setup(ns).await;
    let group = identity::create_group(&format!("{ns}-devs")).await;
    let operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    apply(&accounts_api, &account(ns, "main", json!({}))).await.unwrap();
    let main = until_condition(&accounts_api, "main", "Ready", "True", "Available").await;
    let account_id = status_str(&main, "accountId");

    let spec = json!({
        "permissionSet": {
            "description": "Payroll developers", "sessionDuration": "PT4H",
            "managedPolicies": [READ_ONLY], "customerManagedPolicies": [{"name": "payroll-deploy"}],
            "inlinePolicy": inline_policy(), "permissionsBoundary": {"managedPolicyArn": POWER_USER},
            "tags": {"team": "payroll"}
        },
        "assignments": [{"group": format!("{ns}-devs"), "targets": [{"accountRef": "main"}]}]
    });
    apply(&api, &request(ns, "developers", spec)).await.unwrap();
    let object = until_condition(&api, "developers", "Ready", "True", "Available").await;

    let arns = identity::permission_sets_named(&permission_set_name(ns, "developers")).await;
    assert_eq!(arns.len(), 1, "one permission set");
    let arn = &arns[0];
    assert_eq!(status_str(&object, "permissionSetArn"), *arn);
    assert_eq!(identity::managed_policies(arn).await, [READ_ONLY]);
    assert_eq!(identity::customer_policies(arn).await, ["payroll-deploy"]);
    assert!(identity::inline_policy(arn).await.contains("DeployPayroll"));
    assert_eq!(identity::boundary(arn).await.as_deref(), Some(POWER_USER));
    assert_eq!(identity::assignments(arn, &account_id).await, std::slice::from_ref(&group));
    assert_eq!(status_str(&object, "assignmentSummary"), "1/1");
    assert_eq!(object.data["status"]["provisioned"], true);
    assert_eq!(object.data["status"]["principals"][0]["id"], group.as_str());
    assert_eq!(condition(&object, "Synced").unwrap().0, "True");
    assert!(events_of(ns, "developers").iter().any(|(reason, _)| reason == "Created"));
    let columns = kubectl(&["get", "psr", "-n", ns, "developers", "--no-headers"]);
    assert!(columns.contains("1/1") && columns.contains("True"), "{columns}");

    let calls = operator.aws_calls();
    eprintln!("AWS calls for one created request: {calls:?}");
    assert_eq!(calls.get("CreatePermissionSet"), Some(&1.0));
    assert_eq!(calls.get("CreateAccountAssignment"), Some(&1.0));
}

#[tokio::test]
async fn an_unknown_group_is_named_then_assigned_once_it_exists() {
    let ns = "psr-group-later";
    let (accounts_api, api) = requests::setup(ns).await;
    let _operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    apply(&accounts_api, &account(ns, "main", json!({}))).await.unwrap();
    let main = until_condition(&accounts_api, "main", "Ready", "True", "Available").await;
    let group_name = format!("{ns}-oncall");
    let spec = json!({"assignments": [{"group": group_name, "targets": [{"accountRef": "main"}]}]});
    apply(&api, &request(ns, "oncall", spec)).await.unwrap();

    let object = until_condition(&api, "oncall", "Ready", "False", "Unavailable").await;
    let (_, _, message) = condition(&object, "Ready").unwrap();
    assert!(message.contains(&format!("group {group_name} is not in the Identity Store")), "{message}");

    let group = identity::create_group(&group_name).await;
    let object = until_condition(&api, "oncall", "Ready", "True", "Available").await;
    let arn = status_str(&object, "permissionSetArn");
    assert_eq!(identity::assignments(&arn, &status_str(&main, "accountId")).await, [group]);
}

#[tokio::test]
async fn an_ou_target_expands_and_an_account_created_in_it_later_is_assigned_within_seconds() {
    let ns = "psr-ou";
    let (accounts_api, api) = requests::setup(ns).await;
    let org = orgops_e2e::aws::organizations().await;
    orgops_e2e::aws::ensure_ou(&org, PAYROLL, ns).await;
    let ou = format!("{PAYROLL}/{ns}");
    let group = identity::create_group(&format!("{ns}-devs")).await;
    // A resync far longer than the test: only the AwsAccount watch can bring the change.
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.resync = "10m";
    let _operator = Operator::start(options).await;
    apply(&accounts_api, &account(ns, "first", json!({"organizationalUnit": ou}))).await.unwrap();
    let first = until_condition(&accounts_api, "first", "Ready", "True", "Available").await;
    let spec = json!({"assignments": [{"group": format!("{ns}-devs"), "targets": [{"organizationalUnit": ou}]}]});
    apply(&api, &request(ns, "team", spec)).await.unwrap();
    let object = until_condition(&api, "team", "Ready", "True", "Available").await;
    let arn = status_str(&object, "permissionSetArn");
    assert_eq!(identity::assignments(&arn, &status_str(&first, "accountId")).await, std::slice::from_ref(&group));
    assert_eq!(status_str(&object, "assignmentSummary"), "1/1");

    apply(&accounts_api, &account(ns, "second", json!({"organizationalUnit": ou}))).await.unwrap();
    let second = until_condition(&accounts_api, "second", "Ready", "True", "Available").await;
    let ready_at = std::time::Instant::now();
    let second_id = status_str(&second, "accountId");
    eventually(20, "the new account assigned", || async {
        (identity::assignments(&arn, &second_id).await == [group.clone()]).then_some(())
    })
    .await;
    eprintln!("assigned {:.1} s after the new account was Ready (resync 10 min)", ready_at.elapsed().as_secs_f64());
    eventually(20, "2/2 in status", || async {
        let object = api.get("team").await.ok()?;
        (status_str(&object, "assignmentSummary") == "2/2").then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_expiring_assignment_is_removed_at_its_time_and_not_recreated() {
    let ns = "psr-expiry";
    let (accounts_api, api) = requests::setup(ns).await;
    let group = identity::create_group(&format!("{ns}-oncall")).await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.resync = "10m";
    let operator = Operator::start(options).await;
    apply(&accounts_api, &account(ns, "prod", json!({}))).await.unwrap();
    let prod = until_condition(&accounts_api, "prod", "Ready", "True", "Available").await;
    let account_id = status_str(&prod, "accountId");

    let expires = k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(12);
    let spec = json!({"assignments": [{"group": format!("{ns}-oncall"), "expiresAt": expires.to_string(),
                                        "targets": [{"accountRef": "prod"}]}]});
    apply(&api, &request(ns, "oncall", spec.clone())).await.unwrap();
    let object = until_condition(&api, "oncall", "Ready", "True", "Available").await;
    let arn = status_str(&object, "permissionSetArn");
    assert_eq!(identity::assignments(&arn, &account_id).await, std::slice::from_ref(&group));

    eventually(30, "the assignment removed at its expiry", || async {
        identity::assignments(&arn, &account_id).await.is_empty().then_some(())
    })
    .await;
    let late = k8s_openapi::jiff::Timestamp::now().duration_since(expires).as_secs_f64();
    eprintln!("removed {late:.1} s after expiresAt (resync 10 min)");
    let object = eventually(10, "EXPIRED in status", || async {
        let object = api.get("oncall").await.ok()?;
        (object.data["status"]["assignments"][0]["state"] == "EXPIRED").then_some(object)
    })
    .await;
    assert_eq!(status_str(&object, "assignmentSummary"), "0/0");
    assert!(
        events_of(ns, "oncall").iter().any(|(reason, message)| reason == "Expired" && message.contains(&account_id))
    );

    // A spec change makes the operator look again: the expired assignment stays removed.
    let mut changed = spec;
    changed["permissionSet"] = json!({"description": "on-call, expired"});
    apply(&api, &request(ns, "oncall", changed)).await.unwrap();
    eventually(20, "the change reconciled", || async {
        let object = api.get("oncall").await.ok()?;
        let generation = object.metadata.generation?;
        (object.data["status"]["observedGeneration"] == generation && condition(&object, "Synced")?.0 == "True")
            .then_some(())
    })
    .await;
    assert!(identity::assignments(&arn, &account_id).await.is_empty(), "never recreated");
    assert_eq!(operator.aws_calls().get("CreateAccountAssignment"), Some(&1.0));
}

/// A request with a managed and an inline policy assigned to a group in one account.
async fn drift_fixture(ns: &str, drift_policy: &str) -> (Operator, String, String, String) {
    let (accounts_api, api) = requests::setup(ns).await;
    let group = identity::create_group(&format!("{ns}-devs")).await;
    let operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    apply(&accounts_api, &account(ns, "main", json!({}))).await.unwrap();
    let main = until_condition(&accounts_api, "main", "Ready", "True", "Available").await;
    let spec = json!({
        "driftPolicy": drift_policy,
        "permissionSet": {"managedPolicies": [READ_ONLY], "inlinePolicy": inline_policy()},
        "assignments": [{"group": format!("{ns}-devs"), "targets": [{"accountRef": "main"}]}]
    });
    apply(&api, &request(ns, "devs", spec)).await.unwrap();
    let object = until_condition(&api, "devs", "Ready", "True", "Available").await;
    (operator, status_str(&object, "permissionSetArn"), status_str(&main, "accountId"), group)
}

const EDITED_INLINE: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}"#;

#[tokio::test]
async fn out_of_band_changes_are_corrected_each_with_an_event() {
    let ns = "psr-drift";
    let (_operator, arn, account_id, group) = drift_fixture(ns, "Correct").await;
    let intruder = identity::create_group(&format!("{ns}-intruders")).await;

    identity::detach_managed(&arn, READ_ONLY).await;
    identity::put_inline_policy(&arn, EDITED_INLINE).await;
    identity::set_group_assignment(&arn, &account_id, &group, false).await;
    identity::set_group_assignment(&arn, &account_id, &intruder, true).await;

    eventually(20, "every change corrected", || async {
        let back = identity::managed_policies(&arn).await == [READ_ONLY]
            && identity::inline_policy(&arn).await.contains("DeployPayroll")
            && identity::assignments(&arn, &account_id).await == [group.clone()];
        back.then_some(())
    })
    .await;
    let corrected: Vec<String> =
        events_of(ns, "devs").into_iter().filter(|(r, _)| r == "DriftCorrected").map(|(_, m)| m).collect();
    for change in [
        format!("permissionSet.managedPolicies:  → {READ_ONLY}"),
        "permissionSet.inlinePolicy: a different document →".to_string(),
        format!("assignments: (absent) → group {ns}-devs in {account_id}"),
        format!("assignments: GROUP {intruder} in {account_id} → (absent)"),
    ] {
        assert!(corrected.iter().any(|m| m.contains(&change)), "{change:?} not reported: {corrected:?}");
    }
    let object = requests::setup(ns).await.1.get("devs").await.unwrap();
    assert_eq!(object.data["status"]["lastDrift"]["corrected"], true);
}

#[tokio::test]
async fn report_mode_leaves_out_of_band_changes_and_reports_them() {
    let ns = "psr-report";
    let (operator, arn, account_id, group) = drift_fixture(ns, "Report").await;
    identity::detach_managed(&arn, READ_ONLY).await;
    identity::set_group_assignment(&arn, &account_id, &group, false).await;
    let api = requests::setup(ns).await.1;
    until_condition(&api, "devs", "Synced", "False", "DriftDetected").await;
    // The two changes may be seen in two passes (the assignment first): the condition
    // names every difference once both are seen.
    let object = eventually(30, "both differences reported", || async {
        let object = api.get("devs").await.ok()?;
        let (status, reason, message) = condition(&object, "Synced")?;
        let both = message.contains("permissionSet.managedPolicies") && message.contains("assignments");
        (status == "False" && reason == "DriftDetected" && both).then_some(object)
    })
    .await;
    assert_eq!(object.data["status"]["lastDrift"]["corrected"], false);
    assert!(events_of(ns, "devs").iter().any(|(r, _)| r == "DriftDetected"));
    // Two more resyncs: still left as it is.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    assert!(identity::managed_policies(&arn).await.is_empty());
    assert!(identity::assignments(&arn, &account_id).await.is_empty());
    assert_eq!(operator.aws_calls().get("AttachManagedPolicyToPermissionSet"), Some(&1.0), "only at creation");
}

#[tokio::test]
async fn deletion_removes_the_assignments_then_the_permission_set() {
    let ns = "psr-delete";
    let (operator, arn, account_id, _) = drift_fixture(ns, "Correct").await;
    let api = requests::setup(ns).await.1;
    api.delete("devs", &Default::default()).await.unwrap();
    eventually(30, "the request gone", || async { api.get_opt("devs").await.ok()?.is_none().then_some(()) }).await;
    assert!(identity::assignments(&arn, &account_id).await.is_empty());
    assert!(identity::permission_sets_named(&permission_set_name(ns, "devs")).await.is_empty());
    let calls = operator.aws_calls();
    assert_eq!(calls.get("DeleteAccountAssignment"), Some(&1.0));
    assert_eq!(calls.get("DeletePermissionSet"), Some(&1.0));
    assert!(events_of(ns, "devs").iter().any(|(r, m)| r == "Deleted" && m.contains("removed 1 assignments")));
}

#[tokio::test]
async fn requests_the_platform_policy_forbids_are_refused_with_no_aws_write() {
    let ns = "psr-forbidden";
    let (_, api) = requests::setup(ns).await;
    let org = orgops_e2e::aws::organizations().await;
    let outsider =
        orgops_e2e::aws::create_account_in(&org, "outsider", "outsider@psr-forbidden.example.com", "Workloads/Billing")
            .await;
    let management = orgops_e2e::aws::management_account(&org).await;
    identity::create_group(&format!("{ns}-devs")).await;
    let (proxy, calls) = orgops_e2e::proxy::counting().await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.policy = format!(
        "deniedManagedPolicies: [AdministratorAccess, IAMFullAccess]\nnamespaces:\n  {ns}:\n    \
         organizationalUnits: [\"{PAYROLL}\"]\n    maxSessionDuration: PT4H\n    maxAssignmentDuration: 1d\n"
    );
    options.aws_endpoint = Some(proxy);
    let _operator = Operator::start(options).await;
    // Permission sets of the names two requests ask for: another team's object's, and one
    // made outside orgops.
    let other_teams =
        identity::foreign_permission_set(&permission_set_name(ns, "taken"), &[("orgops.dev/owner", "billing/ops")])
            .await;
    let outside = identity::foreign_permission_set(&permission_set_name(ns, "foreign"), &[]).await;

    let devs = format!("{ns}-devs");
    let in_three_days =
        (k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_hours(72)).to_string();
    let cases = [
        (
            "admin",
            json!({"permissionSet": {"managedPolicies": ["arn:aws:iam::aws:policy/AdministratorAccess"]}}),
            "Forbidden",
            "deniedManagedPolicies: AdministratorAccess",
        ),
        (
            "long-session",
            json!({"permissionSet": {"sessionDuration": "PT8H"}}),
            "Forbidden",
            "maxSessionDuration: PT4H",
        ),
        (
            "far-expiry",
            json!({"assignments": [{"group": devs, "expiresAt": in_three_days, "targets": [{"organizationalUnit": PAYROLL}]}]}),
            "Forbidden",
            "maxAssignmentDuration: 1d",
        ),
        (
            "outsider",
            json!({"assignments": [{"group": devs, "targets": [{"accountId": outsider}]}]}),
            "Forbidden",
            "is not an account of namespace",
        ),
        (
            "management",
            json!({"assignments": [{"group": devs, "targets": [{"accountId": management}]}]}),
            "Forbidden",
            "management account",
        ),
        (
            "other-ou",
            json!({"assignments": [{"group": devs, "targets": [{"organizationalUnit": "Workloads/Billing"}]}]}),
            "Forbidden",
            "outside the organizational units",
        ),
        (
            "bad-inline",
            json!({"permissionSet": {"inlinePolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Permit", "Action": "s3:GetObject", "Resource": "*"}]}}}),
            "Invalid",
            "Statement[0].Effect: must be Allow or Deny",
        ),
        ("taken", json!({}), "Forbidden", "is managed by PermissionSetRequest billing/ops"),
        ("foreign", json!({}), "ReconcileError", "already exists and is not owned by this object"),
    ];
    for (name, spec, _, _) in &cases {
        apply(&api, &request(ns, name, spec.clone())).await.unwrap();
    }
    for (name, _, reason, rule) in &cases {
        let object = until_condition(&api, name, "Synced", "False", reason).await;
        let (_, _, message) = condition(&object, "Synced").unwrap();
        assert!(message.contains(rule), "{name}: {message}");
        assert!(events_of(ns, name).iter().any(|(r, m)| r == *reason || m.contains(rule)), "{name}: an Event");
    }
    // Three resyncs later, still nothing written.
    tokio::time::sleep(std::time::Duration::from_secs(9)).await;
    let counted = calls.lock().unwrap().clone();
    let writes: Vec<&String> = counted
        .keys()
        .filter(|op| !(op.starts_with("List") || op.starts_with("Describe") || op.starts_with("Get")))
        .collect();
    assert!(writes.is_empty(), "no AWS write: {counted:?}");

    // Deleted (deletionPolicy Delete, the default): each owns nothing, so each goes at
    // once, and nothing is written, least of all to the permission sets they only named.
    let names: Vec<&str> = cases.iter().map(|(name, ..)| *name).collect();
    orgops_e2e::delete_and_wait_gone(&api, &names, 10).await;
    let counted = calls.lock().unwrap().clone();
    assert!(counted.keys().all(|op| !orgops_e2e::proxy::is_write(op)), "no AWS write on delete: {counted:?}");
    assert_eq!(identity::permission_sets_named(&permission_set_name(ns, "taken")).await, [other_teams]);
    assert_eq!(identity::permission_sets_named(&permission_set_name(ns, "foreign")).await, [outside]);
    let events = events_of(ns, "taken");
    assert!(events.iter().any(|(r, m)| r == "Deleted" && m.contains("left in AWS, untouched")), "{events:?}");
}

#[tokio::test]
async fn killed_right_after_create_permission_set_the_restarted_operator_makes_no_second_one() {
    let ns = "psr-crash";
    let (_, api) = requests::setup(ns).await;
    // Moto has created the permission set; the operator is killed before it reads the answer.
    let (proxy, pid) = orgops_e2e::proxy::killing_after("CreatePermissionSet").await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.aws_endpoint = Some(proxy);
    let mut operator = Operator::start(options).await;
    pid.store(operator.pid(), std::sync::atomic::Ordering::SeqCst);
    let spec = json!({"permissionSet": {"managedPolicies": [READ_ONLY]}});
    apply(&api, &request(ns, "crash", spec)).await.unwrap();
    eventually(30, "the operator killed by the proxy", || async {
        (pid.load(std::sync::atomic::Ordering::SeqCst) == 0).then_some(())
    })
    .await;
    operator.kill9();
    let name = permission_set_name(ns, "crash");
    assert_eq!(identity::permission_sets_named(&name).await.len(), 1, "AWS created it");
    let object = api.get("crash").await.unwrap();
    assert!(object.data["status"]["permissionSetArn"].is_null(), "the answer never reached the status");

    operator.restart("3s").await;
    let object = until_condition(&api, "crash", "Ready", "True", "Available").await;
    let arns = identity::permission_sets_named(&name).await;
    assert_eq!(arns, [status_str(&object, "permissionSetArn")], "exactly one permission set");
    assert_eq!(identity::managed_policies(&arns[0]).await, [READ_ONLY], "finished after the restart");
    assert_eq!(operator.aws_calls().get("CreatePermissionSet"), None, "the restarted operator created none");
}

#[tokio::test]
async fn an_idle_resync_of_requests_over_five_accounts_reads_only_what_it_must() {
    // 50 requests measure 601 reads in about 30 s; 10 keep the test short, and the count
    // per request is the same.
    const REQUESTS: u32 = 10;
    let ns = "psr-idle";
    let (_, api) = requests::setup(ns).await;
    let org = orgops_e2e::aws::organizations().await;
    let mut accounts = Vec::new();
    for i in 0..5 {
        let email = format!("idle-{i}@{ns}.example.com");
        let existing = orgops_e2e::aws::accounts_with_email(&org, &email).await;
        accounts.push(match existing.first() {
            Some(id) => id.clone(),
            None => orgops_e2e::aws::create_account_in(&org, &format!("idle-{i}"), &email, PAYROLL).await,
        });
    }
    identity::create_group(&format!("{ns}-devs")).await;
    let (proxy, calls) = orgops_e2e::proxy::counting().await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.aws_endpoint = Some(proxy);
    // Longer than one sweep of these requests (121 calls at Identity Center's 20 a second),
    // so that sweeps do not run back to back and one can be counted alone.
    options.resync = "12s";
    let operator = Operator::start(options).await;
    let targets: Vec<serde_json::Value> = accounts.iter().map(|a| json!({"accountId": a})).collect();
    for i in 0..REQUESTS {
        let spec = json!({"assignments": [{"group": format!("{ns}-devs"), "targets": targets}]});
        apply(&api, &request(ns, &format!("r{i:02}"), spec)).await.unwrap();
    }
    eventually(180, "the requests Ready", || async {
        (orgops_e2e::accounts::ready_count(&api).await == REQUESTS as usize).then_some(())
    })
    .await;
    let mut spent = operator.calls_of_one_idle_sweep("PermissionSetRequest", &calls).await;
    spent.sort();
    eprintln!("AWS calls of one idle resync, {REQUESTS} requests x 5 accounts: {spent:?}");
    let identity_center: Vec<(String, u32)> = spent
        .iter()
        .filter(|(op, _)| {
            !["ListRoots", "ListOrganizationalUnitsForParent", "ListAccountsForParent"].contains(&op.as_str())
        })
        .cloned()
        .collect();
    // Per request: 6 reads of the permission set, 1 of its provisioned accounts, 1 list
    // of assignments per account; one GetGroupId for the group they share.
    let expected: Vec<(String, u32)> = [
        ("DescribePermissionSet", REQUESTS),
        ("GetGroupId", 1),
        ("GetInlinePolicyForPermissionSet", REQUESTS),
        ("GetPermissionsBoundaryForPermissionSet", REQUESTS),
        ("ListAccountAssignments", 5 * REQUESTS),
        ("ListAccountsForProvisionedPermissionSet", REQUESTS),
        ("ListCustomerManagedPolicyReferencesInPermissionSet", REQUESTS),
        ("ListManagedPoliciesInPermissionSet", REQUESTS),
        ("ListTagsForResource", REQUESTS),
    ]
    .into_iter()
    .map(|(op, n)| (op.to_string(), n))
    .collect();
    assert_eq!(identity_center, expected);
    let writes = spent.iter().filter(|(op, _)| !["List", "Describe", "Get"].iter().any(|r| op.starts_with(r))).count();
    assert_eq!(writes, 0, "an idle resync writes nothing: {spent:?}");
}

/// Temporary access that really ends: a user's assignment expiring, then a group's
/// assignment removed from the spec while another user keeps the permission set in the
/// account. Each time the inline policy gains a Deny of exactly the users who lost access
/// (the group's members, one by one), that account and sessions issued before the end,
/// and the permission set is provisioned; the user's own inline policy is kept, a
/// revocation removed out of band comes back, the operator killed right after the
/// assignment's removal finishes the revocation when it restarts, and each Deny goes once
/// its hold (shortened here by --session-revocation-hold) has passed.
#[tokio::test]
async fn sessions_of_an_ended_assignment_are_denied_within_a_minute_then_the_deny_goes() {
    let ns = "psr-revoke";
    let (accounts_api, api) = requests::setup(ns).await;
    let alice = identity::create_user(&format!("{ns}-alice")).await;
    let dave = identity::create_user(&format!("{ns}-dave")).await;
    let devs = identity::create_group(&format!("{ns}-devs")).await;
    let (bob, carol) =
        (identity::create_user(&format!("{ns}-bob")).await, identity::create_user(&format!("{ns}-carol")).await);
    identity::add_member(&devs, &bob).await;
    identity::add_member(&devs, &carol).await;

    let (proxy, pid) = orgops_e2e::proxy::killing_after("DeleteAccountAssignment").await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.aws_endpoint = Some(proxy);
    options.extra_args = ["--session-revocation-hold", "25s", "--poll-interval", "1s"].map(String::from).to_vec();
    let mut operator = Operator::start(options).await;
    apply(&accounts_api, &account(ns, "prod", json!({}))).await.unwrap();
    let prod = until_condition(&accounts_api, "prod", "Ready", "True", "Available").await;
    let account_id = status_str(&prod, "accountId");

    let expires = k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(10);
    let to = json!([{"accountRef": "prod"}]);
    let spec = |with_devs: bool| {
        let mut assignments = vec![
            json!({"user": format!("{ns}-alice"), "expiresAt": expires.to_string(), "targets": to}),
            json!({"user": format!("{ns}-dave"), "targets": to}),
        ];
        if with_devs {
            assignments.push(json!({"group": format!("{ns}-devs"), "targets": to}));
        }
        json!({"permissionSet": {"sessionDuration": "PT2H", "inlinePolicy": inline_policy()}, "assignments": assignments})
    };
    apply(&api, &request(ns, "access", spec(true))).await.unwrap();
    let object = until_condition(&api, "access", "Ready", "True", "Available").await;
    let arn = status_str(&object, "permissionSetArn");
    assert!(revocation_statements(&identity::inline_policy(&arn).await).is_empty());

    // Alice's assignment expires: her sessions are denied in prod, and only hers.
    let statements = eventually(60, "alice's sessions denied", || async {
        let statements = revocation_statements(&identity::inline_policy(&arn).await);
        (!statements.is_empty()).then_some(statements)
    })
    .await;
    let revoked_after = k8s_openapi::jiff::Timestamp::now().duration_since(expires).as_secs_f64();
    eprintln!("the Deny was in the permission set {revoked_after:.1} s after expiresAt");
    assert_eq!(denied_in(&statements, &account_id), std::slice::from_ref(&alice));
    let before: k8s_openapi::jiff::Timestamp =
        statements[0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"].as_str().unwrap().parse().unwrap();
    assert!(before >= expires, "sessions issued up to the end are denied: {before} vs {expires}");
    assert!(identity::inline_policy(&arn).await.contains("DeployPayroll"), "the user's inline policy is kept");
    let object = eventually(20, "the revocation in status, provisioned", || async {
        let object = api.get("access").await.ok()?;
        let listed = object.data["status"]["revocations"].as_array().is_some_and(|r| r.len() == 1);
        (listed && object.data["status"]["provisioned"] == true).then_some(object)
    })
    .await;
    assert_eq!(object.data["status"]["revocations"][0]["principal"], format!("user {ns}-alice"));
    eventually(20, "provisioned after the Deny", || async {
        operator.aws_calls().get("ProvisionPermissionSet").is_some_and(|n| *n >= 1.0).then_some(())
    })
    .await;
    let events = events_of(ns, "access");
    assert!(
        events
            .iter()
            .any(|(r, m)| r == "SessionsRevoked" && m.contains(&format!("user {ns}-alice")) && m.contains(&account_id)),
        "{events:?}"
    );

    // Removed out of band: the Deny comes back with the next sweep, after the user's
    // inline policy.
    identity::put_inline_policy(&arn, &inline_policy().to_string()).await;
    eventually(30, "the revocation restored", || async {
        (denied_in(&revocation_statements(&identity::inline_policy(&arn).await), &account_id) == [alice.clone()])
            .then_some(())
    })
    .await;

    // The group's assignment removed by a spec change, and the operator killed right
    // after AWS removed it: the restarted operator denies both members' sessions, not
    // dave's, who keeps the permission set in prod.
    pid.store(operator.pid(), std::sync::atomic::Ordering::SeqCst);
    apply(&api, &request(ns, "access", spec(false))).await.unwrap();
    eventually(30, "the operator killed after DeleteAccountAssignment", || async {
        (pid.load(std::sync::atomic::Ordering::SeqCst) == 0).then_some(())
    })
    .await;
    operator.restart("3s").await;
    let expected = [bob.clone(), carol.clone()];
    eventually(60, "the members' sessions denied after the restart", || async {
        let statements = revocation_statements(&identity::inline_policy(&arn).await);
        let denied = denied_in(&statements, &account_id);
        (expected.iter().all(|u| denied.contains(u)) && !denied.contains(&dave)).then_some(())
    })
    .await;

    // Every hold passed: the Deny statements go, the user's inline policy stays, and the
    // status, written at the end of the pass that removed them, lists none.
    eventually(60, "the revocations removed after their hold", || async {
        let document = identity::inline_policy(&arn).await;
        let object = api.get("access").await.ok()?;
        let listed = !object.data["status"]["revocations"].is_null();
        (revocation_statements(&document).is_empty() && document.contains("DeployPayroll") && !listed).then_some(())
    })
    .await;
    assert_eq!(identity::assignments(&arn, &account_id).await, std::slice::from_ref(&dave));
}

/// The platform policy withdraws an organizational unit from the namespace: the request's
/// assignment in an account of that OU is removed, the user's sessions there are denied,
/// its assignment in a still-granted account stays, and the request is then refused for
/// the withdrawn target, writing nothing more.
#[tokio::test]
async fn a_grant_the_platform_policy_withdraws_ends_its_assignments_and_their_sessions() {
    let ns = "psr-withdrawn";
    let (_, api) = requests::setup(ns).await;
    let org = orgops_e2e::aws::organizations().await;
    let billing = "Workloads/Billing";
    let lost = orgops_e2e::aws::create_account_in(&org, "withdrawn", "lost@psr-withdrawn.example.com", billing).await;
    let kept = orgops_e2e::aws::create_account_in(&org, "kept", "kept@psr-withdrawn.example.com", PAYROLL).await;
    let erin = identity::create_user(&format!("{ns}-erin")).await;
    let grant = |ous: &str| format!("namespaces:\n  {ns}:\n    organizationalUnits: [{ous}]\n");
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.policy = grant(&format!("\"{PAYROLL}\", \"{billing}\""));
    options.extra_args = ["--poll-interval", "1s"].map(String::from).to_vec();
    let operator = Operator::start(options).await;
    let targets = json!([{"organizationalUnit": billing}, {"accountId": kept}]);
    let spec = json!({"assignments": [{"user": format!("{ns}-erin"), "targets": targets}]});
    apply(&api, &request(ns, "access", spec)).await.unwrap();
    let object = until_condition(&api, "access", "Ready", "True", "Available").await;
    let arn = status_str(&object, "permissionSetArn");
    assert_eq!(identity::assignments(&arn, &lost).await, std::slice::from_ref(&erin));

    operator.set_policy(&grant(&format!("\"{PAYROLL}\"")));
    let withdrawn = std::time::Instant::now();
    let statements = eventually(60, "erin's sessions in the withdrawn account denied", || async {
        let statements = revocation_statements(&identity::inline_policy(&arn).await);
        (denied_in(&statements, &lost) == [erin.clone()]).then_some(statements)
    })
    .await;
    eprintln!(
        "the Deny was in the permission set {:.1} s after the grant was withdrawn",
        withdrawn.elapsed().as_secs_f64()
    );
    assert!(denied_in(&statements, &kept).is_empty(), "the account still granted is not denied");
    assert!(identity::assignments(&arn, &lost).await.is_empty(), "the withdrawn assignment is removed");
    assert_eq!(identity::assignments(&arn, &kept).await, std::slice::from_ref(&erin), "the granted one stays");
    let object = until_condition(&api, "access", "Synced", "False", "Forbidden").await;
    let (_, _, message) = condition(&object, "Synced").unwrap();
    assert!(message.contains("spec.assignments[0].targets[0].organizationalUnit"), "{message}");
    let events = events_of(ns, "access");
    assert!(events.iter().any(|(r, m)| r == "SessionsRevoked" && m.contains(&lost)), "{events:?}");
    let writes = |calls: &std::collections::BTreeMap<String, f64>| -> f64 {
        calls.iter().filter(|(op, _)| orgops_e2e::proxy::is_write(op)).map(|(_, n)| n).sum()
    };
    let before = writes(&operator.aws_calls());
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    assert_eq!(writes(&operator.aws_calls()), before, "a refused request writes nothing more");
}
