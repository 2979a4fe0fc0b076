//! The template against snapshots (`tests/baseline/*.template.json`, which `make test`
//! also runs cfn-lint on), and the rules the snapshots show.

use super::template::{render, template};
use orgops_api::SecurityBaseline;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn baseline(relative: &str) -> SecurityBaseline {
    let text = std::fs::read_to_string(root().join(relative)).unwrap();
    serde_yaml::from_str(&text).unwrap()
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
    shuffled.controls.security_hub.as_mut().unwrap().standards.reverse();
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

    spec.controls.cloud_trail.as_mut().unwrap().multi_region = false;
    spec.controls.config = None;
    let t = template(&spec);
    assert!(t["Resources"]["CloudTrail"].get("Condition").is_none(), "a trail per region");
    assert_eq!(t["Conditions"]["HomeRegion"]["Fn::Equals"][1], "ap-northeast-1", "else the first target region");
}

#[test]
fn each_notification_is_one_rule_and_slack_adds_a_chatbot_channel() {
    let spec = baseline("tests/baseline/everything.yaml").spec;
    let t = template(&spec);
    let resources = t["Resources"].as_object().unwrap();
    let rules: Vec<&String> =
        resources.iter().filter(|(_, r)| r["Type"] == "AWS::Events::Rule").map(|(n, _)| n).collect();
    assert_eq!(rules.len(), 7, "{rules:?}");
    assert_eq!(
        resources["GuardDutyFindingRule"]["Properties"]["EventPattern"]["detail"]["severity"][0]["numeric"],
        serde_json::json!([">=", 4.5])
    );
    assert_eq!(resources["ChatbotSlackChannel"]["Properties"]["SlackChannelId"], "C0456FGHIJ");

    let mut quiet = spec.clone();
    let n = quiet.controls.notifications.as_mut().unwrap();
    (n.health_events, n.failed_sign_ins, n.guard_duty_min_severity, n.slack) = (false, false, None, None);
    let t = template(&quiet);
    let resources = t["Resources"].as_object().unwrap();
    assert_eq!(resources.values().filter(|r| r["Type"] == "AWS::Events::Rule").count(), 4);
    assert!(!resources.contains_key("ChatbotSlackChannel"));
}

#[test]
fn only_the_chosen_controls_appear() {
    let t = template(&baseline("tests/baseline/guardduty-only.yaml").spec);
    let types: Vec<&str> = t["Resources"].as_object().unwrap().values().filter_map(|r| r["Type"].as_str()).collect();
    assert_eq!(types, ["AWS::GuardDuty::Detector"]);
    assert!(t.get("Conditions").is_none());
}
