//! The template against snapshots (`tests/baseline/*.template.json`, which `make test`
//! also runs cfn-lint on), and the rules the snapshots show.

use super::template;
use orgops_api::SecurityBaseline;
use orgops_api::baseline::SecurityBaselineSpec;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn baseline(relative: &str) -> SecurityBaseline {
    let text = std::fs::read_to_string(root().join(relative)).unwrap();
    yaml_serde::from_str(&text).unwrap()
}

fn render(spec: &SecurityBaselineSpec) -> String {
    template::render(spec.controls.as_ref().expect("generated controls"), &spec.targets.regions)
}

fn template(spec: &SecurityBaselineSpec) -> serde_json::Value {
    template::template(spec.controls.as_ref().expect("generated controls"), &spec.targets.regions)
}

/// The SecurityBaselines with a snapshot: (spec file, snapshot file).
const VARIANTS: [(&str, &str); 3] = [
    ("examples/securitybaseline.yaml", "tests/baseline/example.template.json"),
    ("tests/baseline/everything.yaml", "tests/baseline/everything.template.json"),
    ("tests/baseline/guardduty-only.yaml", "tests/baseline/guardduty-only.template.json"),
];

#[test]
fn every_variant_renders_its_snapshot_byte_for_byte() {
    let update = std::env::var_os("ORGOPS_UPDATE_SNAPSHOTS").is_some();
    let mut stale = Vec::new();
    for (spec, snapshot) in VARIANTS {
        let rendered = render(&baseline(spec).spec);
        let path = root().join(snapshot);
        if update {
            std::fs::write(&path, &rendered).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(rendered.as_str()) {
            stale.push(snapshot);
        }
    }
    assert!(stale.is_empty(), "stale snapshots {stale:?}: rerun with ORGOPS_UPDATE_SNAPSHOTS=1 and review the diff");
}

#[test]
fn the_same_spec_renders_the_same_bytes() {
    let spec = baseline("tests/baseline/everything.yaml").spec;
    let mut shuffled = spec.clone();
    shuffled.controls.as_mut().unwrap().security_hub.as_mut().unwrap().standards.reverse();
    assert_eq!(render(&spec), render(&spec));
    assert_eq!(render(&spec), render(&shuffled), "the order of standards does not matter");
}

#[test]
fn global_resources_and_a_multi_region_trail_live_in_the_home_region_only() {
    let mut spec = baseline("examples/securitybaseline.yaml").spec;
    let t = template(&spec);
    assert_eq!(t["Conditions"]["HomeRegion"]["Fn::Equals"][1], "us-east-1", "the Config control names it");
    let recording = &t["Resources"]["ConfigRecorder"]["Properties"]["RecordingGroup"];
    assert_eq!(recording["IncludeGlobalResourceTypes"]["Fn::If"][0], "HomeRegion");
    assert_eq!(t["Resources"]["CloudTrail"]["Condition"], "HomeRegion", "multi-region: one trail");

    spec.controls.as_mut().unwrap().cloud_trail.as_mut().unwrap().multi_region = false;
    spec.controls.as_mut().unwrap().config = None;
    let t = template(&spec);
    assert!(t["Resources"]["CloudTrail"].get("Condition").is_none(), "a trail per region");
    assert_eq!(t["Conditions"]["HomeRegion"]["Fn::Equals"][1], "ap-northeast-1", "else the first target region");
}

#[test]
fn each_notification_is_one_rule_and_slack_adds_a_chatbot_channel() {
    let spec = baseline("tests/baseline/everything.yaml").spec;
    let t = template(&spec);
    let resources = t["Resources"].as_object().unwrap();
    let alerting =
        |r: &serde_json::Value| r["Type"] == "AWS::Events::Rule" && r["Properties"]["Targets"][0]["Id"] == "AlertTopic";
    let rules: Vec<&String> = resources.iter().filter(|(_, r)| alerting(r)).map(|(n, _)| n).collect();
    assert_eq!(rules.len(), 7, "{rules:?}");
    assert_eq!(
        resources["GuardDutyFindingRule"]["Properties"]["EventPattern"]["detail"]["severity"][0]["numeric"],
        serde_json::json!([">=", 4.5])
    );
    assert_eq!(resources["ChatbotSlackChannel"]["Properties"]["SlackChannelId"], "C0456FGHIJ");

    let mut quiet = spec.clone();
    let n = quiet.controls.as_mut().unwrap().notifications.as_mut().unwrap();
    (n.health_events, n.failed_sign_ins, n.guard_duty_min_severity, n.slack) = (false, false, None, None);
    let t = template(&quiet);
    let resources = t["Resources"].as_object().unwrap();
    assert_eq!(resources.values().filter(|r| alerting(r)).count(), 4);
    assert!(!resources.contains_key("ChatbotSlackChannel"));
}

#[test]
fn only_the_chosen_controls_appear() {
    let t = template(&baseline("tests/baseline/guardduty-only.yaml").spec);
    let types: Vec<&str> = t["Resources"].as_object().unwrap().values().filter_map(|r| r["Type"].as_str()).collect();
    assert_eq!(types, ["AWS::GuardDuty::Detector"]);
    assert!(t.get("Conditions").is_none());
}

mod kind {
    use super::super::*;
    use crate::aws::account::fake::FakeAccountManagement;
    use crate::aws::organizations::fake::FakeOrg;
    use crate::aws::stack_sets::OperationState;
    use crate::aws::stack_sets::fake::FakeStackSets;
    use crate::aws::{AwsError, FailureKind};
    use crate::kinds::directory::fake::{Accounts, Maps};
    use crate::policy::{Policy, PolicyStore};
    use crate::reconcile::NoSink;
    use crate::reconcile::error::{ErrorClass, TerminalReason};

    const PAYROLL_OU: &str = "ou-root-payr0000";

    struct Fixture {
        org: Arc<FakeOrg>,
        stack_sets: Arc<FakeStackSets>,
        regions: Arc<FakeAccountManagement>,
        kind: BaselineKind<Arc<FakeStackSets>, Arc<FakeOrg>, Accounts, Maps, Arc<FakeAccountManagement>>,
    }

    const DAY: Duration = Duration::from_secs(86_400);

    fn fixture() -> Fixture {
        let org = Arc::new(FakeOrg::new());
        org.add_account("111100000001", "a@example.com", PAYROLL_OU);
        org.add_account("111100000002", "b@example.com", PAYROLL_OU);
        org.add_account("222200000002", "c@example.com", "ou-root-bill0000");
        let stack_sets = FakeStackSets::new();
        stack_sets
            .state
            .lock()
            .unwrap()
            .ou_accounts
            .insert(PAYROLL_OU.into(), vec!["111100000001".into(), "111100000002".into()]);
        let regions = Arc::new(FakeAccountManagement::default());
        let kind = BaselineKind::new(
            stack_sets.clone(),
            Arc::new(OrgCache::new(org.clone())),
            Accounts::default(),
            Maps::default(),
            EnabledRegions::new(regions.clone()),
            DAY,
        );
        Fixture { org, stack_sets, regions, kind }
    }

    fn baseline(extra: serde_json::Value) -> SecurityBaseline {
        let mut object = serde_json::json!({
            "apiVersion": "orgops.dev/v1alpha1", "kind": "SecurityBaseline",
            "metadata": {"name": "payroll-baseline", "namespace": "payroll", "uid": "uid-1", "generation": 1},
            "spec": {"targets": {"organizationalUnits": ["Workloads/Payroll"], "regions": ["eu-west-1", "us-east-1"]},
                     "controls": {"guardDuty": {}}}
        });
        if let (Some(spec), serde_json::Value::Object(extra)) = (object["spec"].as_object_mut(), extra) {
            spec.extend(extra);
        }
        serde_json::from_value(object).unwrap()
    }

    async fn created(f: &Fixture, obj: &SecurityBaseline) -> SecurityBaselineStatus {
        let mut status = SecurityBaselineStatus::default();
        assert_eq!(f.kind.observe(obj, &mut status).await, Ok(Observation::Absent));
        f.kind.create(obj, &mut status, &NoSink).await.unwrap();
        status
    }

    #[tokio::test]
    async fn an_ou_target_gets_one_instance_per_account_and_region() {
        let f = fixture();
        let obj = baseline(serde_json::json!({}));
        let mut status = created(&f, &obj).await;
        let Observation::Present { diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
            panic!("present")
        };
        assert!(diffs.is_empty(), "{diffs:?}");
        assert_eq!(status.instance_summary.as_deref(), Some("4/4"));
        assert_eq!(status.target_summary.as_deref(), Some("2 accounts × 2 regions"));
        let mut single = baseline(
            serde_json::json!({"targets": {"accounts": [{"accountId": "111100000001"}], "regions": ["us-east-1"]}}),
        );
        single.metadata.name = Some("single".into());
        let mut status = created(&f, &single).await;
        f.kind.observe(&single, &mut status).await.unwrap();
        assert_eq!(status.target_summary.as_deref(), Some("1 account × 1 region"));
        assert_eq!(status.last_operation.as_ref().map(|o| o.status.as_str()), Some("SUCCEEDED"));
    }

    #[tokio::test]
    async fn an_account_the_stack_set_missed_is_covered() {
        let f = fixture();
        let obj = baseline(serde_json::json!({}));
        let mut status = created(&f, &obj).await;
        // A new account in the OU, which automatic deployment did not reach.
        f.org.add_account("111100000003", "d@example.com", PAYROLL_OU);
        f.stack_sets.state.lock().unwrap().ou_accounts.get_mut(PAYROLL_OU).unwrap().push("111100000003".into());
        f.kind.org.ensure_current().await.unwrap();
        let Observation::Present { diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
            panic!("present")
        };
        assert_eq!(diffs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["instances"]);
        assert!(diffs[0].actual.contains("111100000003"), "{:?}", diffs[0]);
        f.kind.update(&obj, &mut status, &diffs).await.unwrap();
        assert_eq!(f.stack_sets.state.lock().unwrap().instances["orgops-payroll-payroll-baseline"].len(), 6);
    }

    #[tokio::test]
    async fn a_running_operation_is_waited_for_and_a_change_meanwhile_queued_behind_it() {
        let f = fixture();
        let obj = baseline(serde_json::json!({}));
        f.stack_sets.state.lock().unwrap().scripts.push_back(vec![
            OperationState::Running,
            OperationState::Running,
            OperationState::Succeeded,
        ]);
        let mut status = created(&f, &obj).await;
        assert_eq!(status.last_operation.as_ref().map(|o| o.status.as_str()), Some("RUNNING"));
        let changed =
            baseline(serde_json::json!({"controls": {"guardDuty": {"findingPublishingFrequency": "ONE_HOUR"}}}));
        let waiting = f.kind.observe(&changed, &mut status).await.unwrap_err();
        assert_eq!(waiting.class, ErrorClass::Waiting, "the change waits, no failure: {waiting:?}");
        let Observation::Present { diffs, .. } = f.kind.observe(&changed, &mut status).await.unwrap() else {
            panic!("present")
        };
        assert_eq!(diffs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["template"]);
        f.kind.update(&changed, &mut status, &diffs).await.unwrap();
        assert_eq!(f.stack_sets.log.count("UpdateStackSet"), 1);
    }

    #[tokio::test]
    async fn a_failed_operation_and_operation_in_progress_are_reported_not_raised() {
        let f = fixture();
        let obj = baseline(serde_json::json!({}));
        f.stack_sets
            .state
            .lock()
            .unwrap()
            .scripts
            .push_back(vec![OperationState::Failed("2 stack instances failed".into())]);
        let mut status = created(&f, &obj).await;
        let operation = status.last_operation.clone().unwrap();
        assert_eq!(
            (operation.status.as_str(), operation.reason.as_deref()),
            ("FAILED", Some("2 stack instances failed"))
        );

        f.stack_sets.state.lock().unwrap().scripts.push_back(vec![OperationState::Running]);
        let changed =
            baseline(serde_json::json!({"controls": {"guardDuty": {"findingPublishingFrequency": "ONE_HOUR"}}}));
        let diffs = [FieldDiff::new("template", "", "")];
        f.kind.update(&changed, &mut status, &diffs).await.unwrap();
        // Another writer's operation, say, is still running: a wait, never a failure.
        let error = f.kind.update(&changed, &mut status, &diffs).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::Waiting, "{error:?}");
    }

    #[tokio::test]
    async fn targets_outside_the_grants_are_refused_before_any_call() {
        let f = fixture();
        let policy: Policy =
            yaml_serde::from_str("namespaces: {payroll: {organizationalUnits: [Workloads/Payroll]}}").unwrap();
        let grants = PolicyStore::fixed(policy).grants("payroll");
        let other = baseline(
            serde_json::json!({"targets": {"organizationalUnits": ["Workloads/Billing"], "regions": ["us-east-1"]}}),
        );
        let error = f.kind.check_policy(&other, &grants).await.unwrap_err();
        assert_eq!(error.reason, TerminalReason::Forbidden);
        let account = baseline(
            serde_json::json!({"targets": {"accounts": [{"accountId": "222200000002"}], "regions": ["us-east-1"]}}),
        );
        let error = f.kind.check_policy(&account, &grants).await.unwrap_err();
        assert!(error.message.contains("is not an account of namespace"), "{}", error.message);
        assert_eq!(f.kind.check_policy(&baseline(serde_json::json!({})), &grants).await, Ok(()));
        assert!(f.stack_sets.log.calls().is_empty());
    }

    /// Deletes: the instances in a first pass, the stack set in the next.
    async fn delete_in_two_passes(f: &Fixture, obj: &SecurityBaseline, status: &mut SecurityBaselineStatus) {
        let owned = crate::reconcile::ownership::Owned::for_tests();
        assert!(matches!(f.kind.delete(obj, status, &owned).await.unwrap(), Progress::InProgress(_)));
        assert!(matches!(f.kind.delete(obj, status, &owned).await.unwrap(), Progress::Done(_)));
    }

    #[tokio::test]
    async fn delete_removes_the_instances_then_the_stack_set() {
        let f = fixture();
        let obj = baseline(serde_json::json!({}));
        let mut status = created(&f, &obj).await;
        delete_in_two_passes(&f, &obj, &mut status).await;
        let s = f.stack_sets.state.lock().unwrap();
        assert!(s.sets.is_empty());
        assert_eq!(s.deleted_stacks.len(), 4, "deleted through their OU");
    }

    fn operation_action(status: &SecurityBaselineStatus) -> Option<(&str, &str)> {
        status.last_operation.as_ref().map(|o| (o.action.as_str(), o.status.as_str()))
    }

    const CUSTOM: &str = "Parameters:\n  Level:\n    Type: String\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n";

    #[tokio::test]
    async fn a_custom_template_comes_from_its_config_map_with_its_parameters() {
        let f = fixture();
        let obj = baseline(serde_json::json!({
            "controls": null,
            "template": {"configMapName": "payroll-template", "key": "template.yaml"},
            "parameters": {"Level": "high"}
        }));
        let mut status = SecurityBaselineStatus::default();
        assert_eq!(f.kind.observe(&obj, &mut status).await, Ok(Observation::Absent));
        let error = f.kind.create(&obj, &mut status, &NoSink).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::Retryable, "the ConfigMap may come with the next sync: {error:?}");
        assert!(error.message.contains("ConfigMap payroll/payroll-template does not exist"), "{}", error.message);

        let key = ("payroll".to_string(), "payroll-template".to_string());
        let data = |body: &str| BTreeMap::from([("template.yaml".to_string(), body.to_string())]);
        f.kind.config_maps.0.lock().unwrap().insert(key.clone(), data("Resources: {}\n"));
        let error = f.kind.create(&obj, &mut status, &NoSink).await.unwrap_err();
        assert_eq!(error.reason, TerminalReason::Invalid);
        assert!(error.message.contains("has no Resources"), "{}", error.message);
        f.kind.config_maps.0.lock().unwrap().insert(key.clone(), data("Resources:\n  T: {Type: AWS::SNS::Topic}\n"));
        let error = f.kind.create(&obj, &mut status, &NoSink).await.unwrap_err();
        assert!(error.message.contains("spec.parameters.Level is not a parameter"), "{}", error.message);
        assert_eq!(f.stack_sets.log.calls(), ["DescribeStackSet"], "no write reached AWS");

        f.kind.config_maps.0.lock().unwrap().insert(key.clone(), data(CUSTOM));
        f.kind.create(&obj, &mut status, &NoSink).await.unwrap();
        let set = f.stack_sets.state.lock().unwrap().sets["orgops-payroll-payroll-baseline"].clone();
        assert_eq!((set.template.as_str(), set.parameters["Level"].as_str()), (CUSTOM, "high"));

        // An edit of the ConfigMap, and a parameter changed out of band, are both differences.
        let edited = CUSTOM.replace("Topic:", "Alerts:");
        f.kind.config_maps.0.lock().unwrap().insert(key, data(&edited));
        f.stack_sets.state.lock().unwrap().sets.get_mut("orgops-payroll-payroll-baseline").unwrap().parameters =
            BTreeMap::from([("Level".to_string(), "low".to_string())]);
        let Observation::Present { diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
            panic!("present")
        };
        assert_eq!(diffs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["template", "parameters.Level"]);
        f.kind.update(&obj, &mut status, &diffs).await.unwrap();
        let set = f.stack_sets.state.lock().unwrap().sets["orgops-payroll-payroll-baseline"].clone();
        assert_eq!((set.template, set.parameters["Level"].as_str()), (edited, "high"));
    }

    #[tokio::test]
    async fn listed_accounts_get_a_self_managed_stack_set_and_only_admins_reach_the_management_account() {
        let f = fixture();
        let obj = baseline(serde_json::json!({
            "targets": {"accounts": [{"accountId": "111100000002"}, {"accountId": "222200000002"}], "regions": ["us-east-1"]}
        }));
        let mut status = created(&f, &obj).await;
        let instances = f.stack_sets.state.lock().unwrap().instances["orgops-payroll-payroll-baseline"].clone();
        let placed: Vec<(&str, Option<&str>)> =
            instances.iter().map(|i| (i.account.as_str(), i.ou.as_deref())).collect();
        assert_eq!(placed, [("111100000002", None), ("222200000002", None)], "by account, through no OU");
        f.kind.observe(&obj, &mut status).await.unwrap();
        assert_eq!(status.instance_summary.as_deref(), Some("2/2"));

        let policy: Policy = yaml_serde::from_str("namespaces: {payroll: {accounts: ['000000000000']}}").unwrap();
        let management = baseline(
            serde_json::json!({"targets": {"accounts": [{"accountId": "000000000000"}], "regions": ["us-east-1"]}}),
        );
        let error = f.kind.check_policy(&management, &PolicyStore::fixed(policy).grants("payroll")).await.unwrap_err();
        assert_eq!(error.reason, TerminalReason::Forbidden);
        assert!(error.message.contains("management account"), "{}", error.message);
    }

    #[tokio::test]
    async fn cloudformation_drift_detection_runs_rarely_and_its_findings_are_reported() {
        let f = fixture();
        let obj = baseline(serde_json::json!({}));
        let mut status = created(&f, &obj).await;
        f.kind.observe(&obj, &mut status).await.unwrap();
        f.kind.audit(&obj, &mut status).await.unwrap();
        assert_eq!(operation_action(&status), Some(("DETECT_DRIFT", "SUCCEEDED")));
        f.kind.audit(&obj, &mut status).await.unwrap();
        assert_eq!(f.stack_sets.log.count("DetectStackSetDrift"), 1, "not again before the interval");
        let Observation::Present { diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
            panic!("present")
        };
        assert!(diffs.is_empty(), "{diffs:?}");
        assert_eq!(status.drift_status.as_deref(), Some("IN_SYNC"));

        // Someone changes a detector in one account: the next detection finds it, and it
        // is reported, never "corrected" by an update that would not restore it.
        f.stack_sets.state.lock().unwrap().instances.get_mut("orgops-payroll-payroll-baseline").unwrap()[0]
            .drift_status = Some("DRIFTED".into());
        status.drift_checked_at = Some("2020-01-01T00:00:00Z".into());
        f.kind.audit(&obj, &mut status).await.unwrap();
        let Observation::Present { diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
            panic!("present")
        };
        assert_eq!(status.drift_status.as_deref(), Some("DRIFTED"));
        assert_eq!(status.drifted_instances.len(), 1);
        assert_eq!(diffs.len(), 1);
        assert!(diffs[0].report_only && diffs[0].path == "resources", "{diffs:?}");
        assert!(diffs[0].actual.contains("111100000001/eu-west-1"), "{:?}", diffs[0]);
    }

    #[tokio::test]
    async fn an_endpoint_without_drift_detection_is_no_failure() {
        let f = fixture();
        let obj = baseline(serde_json::json!({}));
        let mut status = created(&f, &obj).await;
        let unsupported = AwsError {
            operation: "cloudformation:DetectStackSetDrift".into(),
            code: Some("InternalFailure".into()),
            message: "not implemented".into(),
            kind: FailureKind::Transient,
        };
        f.stack_sets.log.fail_next("DetectStackSetDrift", unsupported);
        assert_eq!(f.kind.audit(&obj, &mut status).await, Ok(()));
        assert_eq!(status.drift_status.as_deref(), Some("NOT_CHECKED"));
        assert!(status.drift_checked_at.is_some(), "tried again after the interval, not at every pass");
        f.kind.audit(&obj, &mut status).await.unwrap();
        assert_eq!(f.stack_sets.log.count("DetectStackSetDrift"), 1);
    }

    #[tokio::test]
    async fn retain_stacks_takes_the_instances_out_but_keeps_their_stacks() {
        let f = fixture();
        let obj = baseline(serde_json::json!({"retainStacks": true}));
        let mut status = created(&f, &obj).await;
        delete_in_two_passes(&f, &obj, &mut status).await;
        let s = f.stack_sets.state.lock().unwrap();
        assert_eq!((s.retained_stacks.len(), s.deleted_stacks.len()), (4, 0));
        assert!(s.sets.is_empty());
    }

    #[tokio::test]
    async fn a_region_an_account_has_not_enabled_is_skipped_and_listed_not_failed() {
        let f = fixture();
        let statuses = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(r, s)| (r.to_string(), s.to_string())).collect()
        };
        *f.regions.regions.lock().unwrap() = BTreeMap::from([
            (None, statuses(&[("us-east-1", "ENABLED_BY_DEFAULT"), ("af-south-1", "ENABLED")])),
            (Some("111100000001".into()), statuses(&[("af-south-1", "ENABLED")])),
            (Some("111100000002".into()), statuses(&[("af-south-1", "DISABLED")])),
        ]);
        let obj = baseline(
            serde_json::json!({"targets": {"organizationalUnits": ["Workloads/Payroll"], "regions": ["us-east-1", "af-south-1"]}}),
        );
        let mut status = created(&f, &obj).await;
        // The accounts missing different regions are two operations, one after the other.
        let Observation::Present { diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
            panic!("present")
        };
        assert_eq!(diffs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["instances"]);
        f.kind.update(&obj, &mut status, &diffs).await.unwrap();
        assert_eq!(f.stack_sets.log.count("CreateStackInstances"), 2);
        let instances = f.stack_sets.state.lock().unwrap().instances["orgops-payroll-payroll-baseline"].clone();
        let placed: BTreeSet<(&str, &str)> =
            instances.iter().map(|i| (i.account.as_str(), i.region.as_str())).collect();
        assert_eq!(placed.len(), 3);
        assert!(!placed.contains(&("111100000002", "af-south-1")), "{placed:?}");
        let Observation::Present { diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
            panic!("present")
        };
        assert!(diffs.is_empty(), "a skipped region is not a missing instance: {diffs:?}");
        assert_eq!(status.instance_summary.as_deref(), Some("3/3"));
        let skipped: Vec<(&str, &str)> =
            status.skipped_regions.iter().map(|s| (s.account_id.as_str(), s.region.as_str())).collect();
        assert_eq!(skipped, [("111100000002", "af-south-1")]);
        assert!(status.failures.is_empty());
    }
}

#[test]
fn change_feed_forwarding_sends_member_writes_to_the_central_bus_from_the_global_region_only() {
    let spec = baseline("tests/baseline/everything.yaml").spec;
    let t = template(&spec);
    let rule = &t["Resources"]["ChangeFeedForwardingRule"];
    assert_eq!(rule["Condition"], "ForwardingRegion");
    assert_eq!(t["Resources"]["ChangeFeedForwardingRole"]["Condition"], "ForwardingRegion");
    assert_eq!(t["Conditions"]["ForwardingRegion"]["Fn::Equals"][1], "us-east-1");
    let target = &rule["Properties"]["Targets"][0];
    assert_eq!(target["Arn"], "arn:aws:events:us-east-1:123456789012:event-bus/default");
    assert_eq!(target["RoleArn"]["Fn::GetAtt"][0], "ChangeFeedForwardingRole");
    let sources = &rule["Properties"]["EventPattern"]["detail"]["eventSource"];
    assert_eq!(sources, &serde_json::json!(["route53.amazonaws.com", "account.amazonaws.com"]));
    let policy = &t["Resources"]["ChangeFeedForwardingRole"]["Properties"]["Policies"][0]["PolicyDocument"];
    assert_eq!(policy["Statement"][0]["Resource"], target["Arn"], "the role may put events on that bus only");

    let mut without = spec.clone();
    without.controls.as_mut().unwrap().change_feed_forwarding = None;
    let t = template(&without);
    assert!(t["Resources"].get("ChangeFeedForwardingRule").is_none());
    assert!(t["Conditions"].get("ForwardingRegion").is_none());
}
