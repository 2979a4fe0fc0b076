//! SecurityBaseline end to end: the real API server, the operator as a process, moto's
//! StackSets deploying the generated template into member accounts.

use aws_sdk_cloudformation::Client;
use orgops_e2e::accounts::{PAYROLL, account, status_str, until_condition};
use orgops_e2e::aws::{self, organizations};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::{apply, client, condition, dynamic_api, eventually};
use serde_json::json;
use std::collections::BTreeSet;

async fn cloudformation() -> Client {
    Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
}

/// The (account, region) pairs of the stack set's instances.
async fn instances(name: &str) -> BTreeSet<(String, String)> {
    let out = cloudformation().await.list_stack_instances().stack_set_name(name).send().await.unwrap();
    out.summaries()
        .iter()
        .map(|s| (s.account().unwrap_or_default().to_string(), s.region().unwrap_or_default().to_string()))
        .collect()
}

#[tokio::test]
async fn a_baseline_on_an_ou_reaches_every_account_and_region_and_a_new_account_too() {
    let ns = "baseline-ou";
    let org = organizations().await;
    let accounts = orgops_e2e::accounts::setup(ns).await;
    let api = dynamic_api(&client().await, ns, "SecurityBaseline");
    aws::ensure_ou(&org, PAYROLL, ns).await;
    let ou = format!("{PAYROLL}/{ns}");
    // A resync far longer than the test: only the AwsAccount watch can bring the new account.
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.resync = "10m";
    let _operator = Operator::start(options).await;
    apply(&accounts, &account(ns, "first", json!({"organizationalUnit": ou}))).await.unwrap();
    let first = status_str(&until_condition(&accounts, "first", "Ready", "True", "Available").await, "accountId");

    let baseline = json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "SecurityBaseline",
        "metadata": {"name": "security", "namespace": ns},
        "spec": {"targets": {"organizationalUnits": [ou], "regions": ["eu-west-1", "us-east-1"]},
                 "controls": {"guardDuty": {}, "notifications": {"topicName": "baseline-ou-alerts"}}}
    });
    apply(&api, &baseline).await.unwrap();
    let object = until_condition(&api, "security", "Ready", "True", "Available").await;
    let stack_set = format!("orgops-{ns}-security");
    let regions = ["eu-west-1", "us-east-1"];
    let expected = |ids: &[&str]| -> BTreeSet<(String, String)> {
        ids.iter().flat_map(|id| regions.iter().map(move |r| (id.to_string(), r.to_string()))).collect()
    };
    assert_eq!(instances(&stack_set).await, expected(&[&first]));
    assert!(!status_str(&object, "stackSetId").is_empty());
    let template = cloudformation().await.describe_stack_set().stack_set_name(&stack_set).send().await.unwrap();
    let body = template.stack_set().and_then(|s| s.template_body()).unwrap_or_default().to_string();
    assert!(body.contains("AWS::GuardDuty::Detector") && body.contains("baseline-ou-alerts"));

    apply(&accounts, &account(ns, "second", json!({"organizationalUnit": ou}))).await.unwrap();
    let second = status_str(&until_condition(&accounts, "second", "Ready", "True", "Available").await, "accountId");
    let ready_at = std::time::Instant::now();
    eventually(30, "the new account covered", || async {
        (instances(&stack_set).await == expected(&[&first, &second])).then_some(())
    })
    .await;
    eprintln!("new account covered {:.1} s after it was Ready (resync 10 min)", ready_at.elapsed().as_secs_f64());
    let object = eventually(20, "4/4 instances in status", || async {
        let object = api.get("security").await.ok()?;
        (status_str(&object, "instanceSummary") == "4/4").then_some(object)
    })
    .await;
    assert_eq!(condition(&object, "Synced").unwrap().0, "True");
}

#[tokio::test]
async fn the_template_edited_and_an_instance_deleted_out_of_band_are_restored() {
    let ns = "baseline-drift";
    let org = organizations().await;
    let accounts = orgops_e2e::accounts::setup(ns).await;
    let api = dynamic_api(&client().await, ns, "SecurityBaseline");
    aws::ensure_ou(&org, PAYROLL, ns).await;
    let ou = format!("{PAYROLL}/{ns}");
    let _operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    apply(&accounts, &account(ns, "main", json!({"organizationalUnit": ou}))).await.unwrap();
    let main = status_str(&until_condition(&accounts, "main", "Ready", "True", "Available").await, "accountId");
    let baseline = json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "SecurityBaseline",
        "metadata": {"name": "security", "namespace": ns},
        "spec": {"targets": {"organizationalUnits": [ou], "regions": ["us-east-1"]}, "controls": {"guardDuty": {}}}
    });
    apply(&api, &baseline).await.unwrap();
    until_condition(&api, "security", "Ready", "True", "Available").await;
    let stack_set = format!("orgops-{ns}-security");
    let cfn = cloudformation().await;
    let body = || async {
        let out = cloudformation().await.describe_stack_set().stack_set_name(&stack_set).send().await.unwrap();
        out.stack_set().and_then(|s| s.template_body()).unwrap_or_default().to_string()
    };
    let rendered = body().await;

    let tampered = r#"{"Resources": {"Nothing": {"Type": "AWS::SNS::Topic"}}}"#;
    cfn.update_stack_set().stack_set_name(&stack_set).template_body(tampered).send().await.unwrap();
    eventually(20, "the template restored", || async { (body().await == rendered).then_some(()) }).await;

    cfn.delete_stack_instances()
        .stack_set_name(&stack_set)
        .accounts(&main)
        .regions("us-east-1")
        .retain_stacks(false)
        .send()
        .await
        .unwrap();
    assert!(instances(&stack_set).await.is_empty());
    eventually(20, "the instance recreated", || async {
        (instances(&stack_set).await == BTreeSet::from([(main.clone(), "us-east-1".to_string())])).then_some(())
    })
    .await;
    // The Event follows the correction's status write.
    eventually(10, "a DriftCorrected Event for each", || async {
        let events = orgops_e2e::events_of(ns, "security");
        let corrected = |field: &str| events.iter().any(|(r, m)| r == "DriftCorrected" && m.contains(field));
        (corrected("template") && corrected("instances")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_baseline_outside_the_namespace_grants_is_forbidden_and_writes_nothing() {
    let ns = "baseline-forbidden";
    let org = organizations().await;
    let _accounts = orgops_e2e::accounts::setup(ns).await;
    let api = dynamic_api(&client().await, ns, "SecurityBaseline");
    let outsider = match aws::accounts_with_email(&org, "outsider@baseline-forbidden.example.com").await.first() {
        Some(id) => id.clone(),
        None => {
            aws::create_account_in(&org, "outsider", "outsider@baseline-forbidden.example.com", "Workloads/Billing")
                .await
        }
    };
    let (proxy, calls) = orgops_e2e::proxy::counting().await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.aws_endpoint = Some(proxy);
    let _operator = Operator::start(options).await;
    let cases = [
        (
            "other-ou",
            json!({"organizationalUnits": ["Workloads/Billing"], "regions": ["us-east-1"]}),
            "outside the organizational units",
        ),
        (
            "other-account",
            json!({"accounts": [{"accountId": outsider}], "regions": ["us-east-1"]}),
            "is not an account of namespace",
        ),
    ];
    for (name, targets, _) in &cases {
        let baseline = json!({
            "apiVersion": "orgops.dev/v1alpha1", "kind": "SecurityBaseline",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"targets": targets, "controls": {"guardDuty": {}}}
        });
        apply(&api, &baseline).await.unwrap();
    }
    for (name, _, rule) in &cases {
        let object = until_condition(&api, name, "Synced", "False", "Forbidden").await;
        let (_, _, message) = condition(&object, "Synced").unwrap();
        assert!(message.contains(rule), "{name}: {message}");
    }
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let counted = calls.lock().unwrap().clone();
    let cloudformation: Vec<&String> = counted.keys().filter(|op| op.contains("Stack")).collect();
    assert!(cloudformation.is_empty(), "no StackSets call at all: {counted:?}");
}
