//! PermissionSetRequest end to end: the real API server, the operator as a process, moto
//! (with the harness's Identity Center extension) as AWS.

use orgops_e2e::accounts::{PAYROLL, account, status_str, until_condition};
use orgops_e2e::identity;
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::requests::{self, permission_set_name, request};
use orgops_e2e::{apply, condition, events_of, kubectl};
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
