//! SecurityBaseline end to end: the real API server, the operator as a process, moto's
//! StackSets deploying the generated template into member accounts. moto runs each
//! StackSet operation for a couple of seconds, one at a time, as AWS does (see
//! tests/harness/moto_stack_sets.py).

use orgops_e2e::accounts::{PAYROLL, account, status_str, until_condition};
use orgops_e2e::aws::{self, organizations};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::stack_sets::{cloudformation, exists, instances, when_free};
use orgops_e2e::{apply, client, condition, dynamic_api, eventually};
use serde_json::json;
use std::collections::BTreeSet;

/// A test's namespace with its AwsAccount and SecurityBaseline APIs, and its own OU
/// (Workloads/Payroll/<namespace>), which the namespace's policy grants.
struct Scene {
    org: aws_sdk_organizations::Client,
    accounts: kube::Api<kube::api::DynamicObject>,
    api: kube::Api<kube::api::DynamicObject>,
    ou: String,
}

async fn scene(ns: &str) -> Scene {
    let org = organizations().await;
    let accounts = orgops_e2e::accounts::setup(ns).await;
    let api = dynamic_api(&client().await, ns, "SecurityBaseline");
    aws::ensure_ou(&org, PAYROLL, ns).await;
    Scene { org, accounts, api, ou: format!("{PAYROLL}/{ns}") }
}

fn security_baseline(ns: &str, name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "SecurityBaseline",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec
    })
}

#[tokio::test]
async fn a_baseline_on_an_ou_reaches_every_account_and_region_and_a_new_account_too() {
    let ns = "baseline-ou";
    let Scene { accounts, api, ou, .. } = scene(ns).await;
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
    // moto has no DetectStackSetDrift (it answers 500): no failure, the drift NOT_CHECKED.
    assert_eq!(status_str(&object, "driftStatus"), "NOT_CHECKED");
}

#[tokio::test]
async fn the_template_edited_and_an_instance_deleted_out_of_band_are_restored() {
    let ns = "baseline-drift";
    let Scene { accounts, api, ou, .. } = scene(ns).await;
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
    when_free(|| cfn.update_stack_set().stack_set_name(&stack_set).template_body(tampered).send()).await;
    eventually(20, "the template restored", || async { (body().await == rendered).then_some(()) }).await;
    eventually(20, "the correction's operation finished and seen", || async {
        let object = api.get("security").await.ok()?;
        let operation = &object.data["status"]["lastOperation"];
        let finished = operation["action"] == "UPDATE" && operation["status"] == "SUCCEEDED";
        (finished && condition(&object, "Ready").is_some_and(|c| c.0 == "True")).then_some(())
    })
    .await;

    when_free(|| {
        cfn.delete_stack_instances()
            .stack_set_name(&stack_set)
            .accounts(&main)
            .regions("us-east-1")
            .retain_stacks(false)
            .send()
    })
    .await;
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
    let email = "outsider@baseline-forbidden.example.com";
    let outsider = aws::existing_account_in(&org, "outsider", email, "Workloads/Billing").await;
    // Stack sets of the names two baselines would use: another team's object's, and one
    // made outside orgops.
    let (taken, foreign) = (format!("orgops-{ns}-taken"), format!("orgops-{ns}-foreign"));
    orgops_e2e::stack_sets::foreign_stack_set(&taken, &[("orgops.dev/owner", "billing/guard")]).await;
    orgops_e2e::stack_sets::foreign_stack_set(&foreign, &[]).await;
    let (proxy, calls) = orgops_e2e::proxy::counting().await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.aws_endpoint = Some(proxy);
    let _operator = Operator::start(options).await;
    let in_payroll = json!({"organizationalUnits": [PAYROLL], "regions": ["us-east-1"]});
    let cases = [
        (
            "other-ou",
            json!({"organizationalUnits": ["Workloads/Billing"], "regions": ["us-east-1"]}),
            "Forbidden",
            "outside the organizational units",
        ),
        (
            "other-account",
            json!({"accounts": [{"accountId": outsider}], "regions": ["us-east-1"]}),
            "Forbidden",
            "is not an account of namespace",
        ),
        ("taken", in_payroll.clone(), "Forbidden", "is managed by SecurityBaseline billing/guard"),
        ("foreign", in_payroll, "ReconcileError", "already exists and is not owned by this object"),
    ];
    for (name, targets, ..) in &cases {
        let baseline = json!({
            "apiVersion": "orgops.dev/v1alpha1", "kind": "SecurityBaseline",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"targets": targets, "controls": {"guardDuty": {}}}
        });
        apply(&api, &baseline).await.unwrap();
    }
    for (name, _, reason, rule) in &cases {
        let object = until_condition(&api, name, "Synced", "False", reason).await;
        let (_, _, message) = condition(&object, "Synced").unwrap();
        assert!(message.contains(rule), "{name}: {message}");
    }
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let stack_set_writes = || {
        let counted = calls.lock().unwrap().clone();
        counted
            .into_iter()
            .filter(|(op, _)| op.contains("Stack") && orgops_e2e::proxy::is_write(op))
            .collect::<Vec<_>>()
    };
    assert!(stack_set_writes().is_empty(), "no StackSets write: {:?}", calls.lock().unwrap());

    // Deleted (deletionPolicy Delete, the default): each owns nothing, so each goes at
    // once and writes nothing; the stack sets they only named are still there.
    let names: Vec<&str> = cases.iter().map(|(name, ..)| *name).collect();
    orgops_e2e::delete_and_wait_gone(&api, &names, 10).await;
    assert!(stack_set_writes().is_empty(), "no StackSets write on delete: {:?}", calls.lock().unwrap());
    assert!(exists(&taken).await && exists(&foreign).await);
}

#[tokio::test]
async fn a_spec_change_while_an_operation_runs_waits_for_it_and_fails_nothing() {
    let ns = "baseline-queue";
    let Scene { accounts, api, ou, .. } = scene(ns).await;
    let _operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    apply(&accounts, &account(ns, "main", json!({"organizationalUnit": ou}))).await.unwrap();
    until_condition(&accounts, "main", "Ready", "True", "Available").await;
    let targets = json!({"organizationalUnits": [ou], "regions": ["eu-west-1", "us-east-1"]});
    apply(&api, &security_baseline(ns, "security", json!({"targets": targets, "controls": {"guardDuty": {}}})))
        .await
        .unwrap();
    let running = |object: &kube::api::DynamicObject| {
        object.data["status"]["lastOperation"]["status"].as_str() == Some("RUNNING")
    };
    eventually(20, "the first rollout running", || async { api.get("security").await.ok().filter(running) }).await;
    let changed = json!({"targets": targets, "controls": {"guardDuty": {}, "accessAnalyzer": {}}});
    apply(&api, &security_baseline(ns, "security", changed)).await.unwrap();

    let seen = std::sync::Mutex::new(Vec::new());
    let stack_set = format!("orgops-{ns}-security");
    eventually(40, "the change applied after the rollout", || {
        let (api, seen, stack_set) = (&api, &seen, &stack_set);
        async move {
            let object = api.get("security").await.ok()?;
            if let Some(synced) = condition(&object, "Synced") {
                seen.lock().unwrap().push(synced);
            }
            let ready = condition(&object, "Ready").is_some_and(|c| c.0 == "True");
            let generation = object.data["status"]["observedGeneration"].as_i64() == Some(2);
            let out = cloudformation().await.describe_stack_set().stack_set_name(stack_set).send().await.ok()?;
            let body = out.stack_set().and_then(|s| s.template_body()).unwrap_or_default().to_string();
            (ready && generation && body.contains("AWS::AccessAnalyzer::Analyzer")).then_some(())
        }
    })
    .await;
    let seen = seen.into_inner().unwrap();
    let failures: Vec<&(String, String, String)> = seen.iter().filter(|c| c.0 == "False").collect();
    assert!(failures.is_empty(), "waiting for the operation is no failure: {failures:?}");
    let warnings = orgops_e2e::events_of(ns, "security");
    assert!(!warnings.iter().any(|(_, m)| m.contains("OperationInProgress")), "{warnings:?}");
}

#[tokio::test]
async fn deleting_a_baseline_removes_its_instances_and_stack_set_and_retain_keeps_them() {
    let ns = "baseline-delete";
    let Scene { accounts, api, ou, .. } = scene(ns).await;
    let _operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    apply(&accounts, &account(ns, "main", json!({"organizationalUnit": ou}))).await.unwrap();
    until_condition(&accounts, "main", "Ready", "True", "Available").await;
    for (name, policy) in [("removed", "Delete"), ("kept", "Retain")] {
        let spec = json!({"targets": {"organizationalUnits": [ou], "regions": ["us-east-1", "eu-west-1"]},
                          "controls": {"guardDuty": {}}, "deletionPolicy": policy});
        apply(&api, &security_baseline(ns, name, spec)).await.unwrap();
    }
    for name in ["removed", "kept"] {
        until_condition(&api, name, "Ready", "True", "Available").await;
        assert_eq!(instances(&format!("orgops-{ns}-{name}")).await.len(), 2);
    }
    for name in ["removed", "kept"] {
        api.delete(name, &Default::default()).await.unwrap();
    }
    for name in ["removed", "kept"] {
        eventually(40, "the object gone", || async { api.get_opt(name).await.unwrap().is_none().then_some(()) }).await;
    }
    let removed = format!("orgops-{ns}-removed");
    assert!(!exists(&removed).await, "the stack set is deleted after its instances");
    let events = orgops_e2e::events_of(ns, "removed");
    assert!(events.iter().any(|(r, m)| r == "Deleted" && m.contains("deleted stack set")), "{events:?}");
    let kept = format!("orgops-{ns}-kept");
    assert!(exists(&kept).await);
    assert_eq!(instances(&kept).await.len(), 2, "Retain leaves everything");
}

#[tokio::test]
async fn a_custom_template_from_a_config_map_reaches_listed_accounts_and_follows_its_edits() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let ns = "baseline-custom";
    let Scene { accounts, api, ou, .. } = scene(ns).await;
    let kube = client().await;
    let _operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    apply(&accounts, &account(ns, "main", json!({"organizationalUnit": ou}))).await.unwrap();
    let main = status_str(&until_condition(&accounts, "main", "Ready", "True", "Available").await, "accountId");

    let template = |resource: &str| {
        format!(
            "Parameters:\n  TopicName:\n    Type: String\nResources:\n  {resource}:\n    Type: AWS::SNS::Topic\n    \
             Properties:\n      TopicName: !Ref TopicName\n"
        )
    };
    let config_maps: kube::Api<ConfigMap> = kube::Api::namespaced(kube.clone(), ns);
    let config_map = |body: String| {
        serde_json::from_value::<ConfigMap>(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "security-template", "namespace": ns},
            "data": {"template.yaml": body}
        }))
        .unwrap()
    };
    let params = kube::api::PatchParams::apply("orgops-e2e").force();
    config_maps
        .patch("security-template", &params, &kube::api::Patch::Apply(config_map(template("Alerts"))))
        .await
        .unwrap();
    let spec = json!({
        "targets": {"accounts": [{"accountRef": "main"}], "regions": ["us-east-1"]},
        "template": {"configMapName": "security-template", "key": "template.yaml"},
        "parameters": {"TopicName": "custom-alerts"}
    });
    apply(&api, &security_baseline(ns, "custom", spec)).await.unwrap();
    until_condition(&api, "custom", "Ready", "True", "Available").await;
    let stack_set = format!("orgops-{ns}-custom");
    let describe = || async {
        let out = cloudformation().await.describe_stack_set().stack_set_name(&stack_set).send().await.unwrap();
        out.stack_set().cloned().unwrap()
    };
    let set = describe().await;
    assert_eq!(set.permission_model().map(|m| m.as_str()), Some("SELF_MANAGED"), "listed accounts: self-managed");
    assert_eq!(set.template_body(), Some(template("Alerts").as_str()));
    let parameter = set.parameters().iter().find(|p| p.parameter_key() == Some("TopicName")).cloned().unwrap();
    assert_eq!(parameter.parameter_value(), Some("custom-alerts"));
    assert_eq!(instances(&stack_set).await, BTreeSet::from([(main.clone(), "us-east-1".to_string())]));

    // An edit of the ConfigMap is rolled out at the next resync.
    config_maps
        .patch("security-template", &params, &kube::api::Patch::Apply(config_map(template("Findings"))))
        .await
        .unwrap();
    eventually(30, "the edited template rolled out", || async {
        (describe().await.template_body() == Some(template("Findings").as_str())).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_rollout_to_ten_accounts_in_two_regions_costs_two_writes() {
    let ns = "baseline-cost";
    let Scene { org, api, ou, .. } = scene(ns).await;
    // Accounts that exist before the baseline: the OU target reaches them without any AwsAccount.
    for index in 0..10 {
        let email = format!("member{index}@baseline-cost.example.com");
        if aws::accounts_with_email(&org, &email).await.is_empty() {
            aws::create_account_in(&org, &format!("member{index}"), &email, &ou).await;
        }
    }
    let (proxy, calls) = orgops_e2e::proxy::counting().await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.aws_endpoint = Some(proxy);
    let _operator = Operator::start(options).await;
    let spec = json!({"targets": {"organizationalUnits": [ou], "regions": ["eu-west-1", "us-east-1"]},
                      "controls": {"guardDuty": {}, "notifications": {}}});
    apply(&api, &security_baseline(ns, "security", spec)).await.unwrap();
    let started = std::time::Instant::now();
    eventually(60, "20/20 instances, Ready", || async {
        let object = api.get("security").await.ok()?;
        let ready = condition(&object, "Ready").is_some_and(|c| c.0 == "True");
        (ready && status_str(&object, "instanceSummary") == "20/20").then_some(())
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let counted = calls.lock().unwrap().clone();
    let stack_set_calls: Vec<(&String, &u32)> = counted.iter().filter(|(op, _)| op.contains("Stack")).collect();
    eprintln!("rollout to 10 accounts × 2 regions: Ready in {elapsed:.1} s; StackSets calls {stack_set_calls:?}");
    let count = |op: &str| counted.get(op).copied().unwrap_or(0);
    assert_eq!((count("CreateStackSet"), count("CreateStackInstances")), (1, 1), "{stack_set_calls:?}");
    assert_eq!(count("UpdateStackSet") + count("DeleteStackInstances"), 0, "{stack_set_calls:?}");
}
