//! The CRDs against the real API server: the examples are accepted, invalid objects are
//! rejected at admission with a message naming the field, and `kubectl get` shows the
//! printer columns.

use kube::api::{DynamicObject, Patch, PatchParams};
use orgops_e2e::{apply, client, dynamic_api, ensure_namespace, kubectl, merge, read_yaml, repo_root};
use serde_json::{Value, json};

const NAMESPACE: &str = "admission";

/// One invalid object: the kind's example with `patch` merged in. With `on_update`, the
/// example is created first and the patch is an update of it.
struct Case {
    name: &'static str,
    example: &'static str,
    patch: Value,
    on_update: bool,
    field: &'static str,
}

fn case(name: &'static str, example: &'static str, patch: Value, field: &'static str) -> Case {
    Case { name, example, patch, on_update: false, field }
}

fn update_case(name: &'static str, example: &'static str, patch: Value, field: &'static str) -> Case {
    Case { name, example, patch, on_update: true, field }
}

const ACCOUNT: &str = "examples/awsaccount.yaml";
const PSR: &str = "examples/permissionsetrequest.yaml";
const SUBDEL: &str = "examples/subdomaindelegation.yaml";
const BASELINE: &str = "examples/securitybaseline.yaml";

fn invalid_objects() -> Vec<Case> {
    let many_tags: serde_json::Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    vec![
        case("bad-email", ACCOUNT, json!({"spec": {"email": "not-an-email"}}), "spec.email"),
        case("short-account-id", ACCOUNT, json!({"spec": {"accountId": "12345678901"}}), "spec.accountId"),
        case(
            "bad-ou",
            ACCOUNT,
            json!({"spec": {"organizationalUnit": "Workloads//Payroll"}}),
            "spec.organizationalUnit",
        ),
        case("short-ou-id", ACCOUNT, json!({"spec": {"organizationalUnit": "ou-ab12-abc"}}), "spec.organizationalUnit"),
        case(
            "upper-case-ou-id",
            ACCOUNT,
            json!({"spec": {"organizationalUnit": "ou-AB12-ABCDEFGH"}}),
            "spec.organizationalUnit",
        ),
        case(
            "upper-case-root-id",
            ACCOUNT,
            json!({"spec": {"organizationalUnit": "r-AB12"}}),
            "spec.organizationalUnit",
        ),
        case(
            "short-ou-id-target",
            PSR,
            json!({"spec": {"assignments": [{"group": "a", "targets": [{"organizationalUnit": "ou-ab12-abc"}]}]}}),
            "spec.assignments[0].targets[0].organizationalUnit",
        ),
        case(
            "upper-case-baseline-ou-id",
            BASELINE,
            json!({"spec": {"targets": {"organizationalUnits": ["ou-AB12-ABCDEFGH"]}}}),
            "spec.targets.organizationalUnits[0]",
        ),
        case("too-many-tags", ACCOUNT, json!({"spec": {"tags": many_tags}}), "spec.tags"),
        case("reserved-tag", ACCOUNT, json!({"spec": {"tags": {"aws:owner": "x"}}}), "spec.tags"),
        case("long-tag-value", ACCOUNT, json!({"spec": {"tags": {"team": "x".repeat(257)}}}), "spec.tags.team"),
        case("long-tag-key", ACCOUNT, json!({"spec": {"tags": {"k".repeat(129): "v"}}}), "spec.tags"),
        case("long-account-name", ACCOUNT, json!({"spec": {"accountName": "a".repeat(51)}}), "spec.accountName"),
        case(
            "bad-management-policy",
            ACCOUNT,
            json!({"spec": {"managementPolicy": "Sometimes"}}),
            "spec.managementPolicy",
        ),
        case("bad-deletion-policy", ACCOUNT, json!({"spec": {"deletionPolicy": "Destroy"}}), "spec.deletionPolicy"),
        case("bad-drift-policy", ACCOUNT, json!({"spec": {"driftPolicy": "Ignore"}}), "spec.driftPolicy"),
        case(
            "bad-phone",
            ACCOUNT,
            json!({"spec": {"alternateContacts": {"security": {"phoneNumber": "call me"}}}}),
            "spec.alternateContacts.security.phoneNumber",
        ),
        update_case("email-change", ACCOUNT, json!({"spec": {"email": "someone-else@example.com"}}), "spec.email"),
        case(
            "bad-policy-arn",
            PSR,
            json!({"spec": {"permissionSet": {"managedPolicies": ["arn:aws:iam::123456789012:role/Admin"]}}}),
            "spec.permissionSet.managedPolicies[0]",
        ),
        case(
            "two-principals",
            PSR,
            json!({"spec": {"assignments": [{"group": "a", "user": "b", "targets": [{"accountRef": "x"}]}]}}),
            "spec.assignments[0]",
        ),
        case(
            "no-principal",
            PSR,
            json!({"spec": {"assignments": [{"targets": [{"accountRef": "x"}]}]}}),
            "spec.assignments[0]",
        ),
        case(
            "expiry-not-a-time",
            PSR,
            json!({"spec": {"assignments": [{"group": "a", "expiresAt": "next Friday", "targets": [{"accountRef": "x"}]}]}}),
            "spec.assignments[0].expiresAt",
        ),
        case(
            "expiry-without-zone",
            PSR,
            json!({"spec": {"assignments": [{"group": "a", "expiresAt": "2027-01-15T18:00:00", "targets": [{"accountRef": "x"}]}]}}),
            "spec.assignments[0].expiresAt",
        ),
        case(
            "expiry-month-13",
            PSR,
            json!({"spec": {"assignments": [{"group": "a", "expiresAt": "2027-13-15T18:00:00Z", "targets": [{"accountRef": "x"}]}]}}),
            "spec.assignments[0].expiresAt",
        ),
        case(
            "no-target",
            PSR,
            json!({"spec": {"assignments": [{"group": "a", "targets": []}]}}),
            "spec.assignments[0].targets",
        ),
        case(
            "two-targets-in-one",
            PSR,
            json!({"spec": {"assignments": [{"group": "a", "targets": [{"accountRef": "x", "organizationalUnit": "Root"}]}]}}),
            "spec.assignments[0].targets[0]",
        ),
        case(
            "bad-permission-set-name",
            PSR,
            json!({"spec": {"permissionSet": {"name": "Payroll Developer"}}}),
            "spec.permissionSet.name",
        ),
        case(
            "session-too-long",
            PSR,
            json!({"spec": {"permissionSet": {"sessionDuration": "PT13H"}}}),
            "spec.permissionSet.sessionDuration",
        ),
        case(
            "session-too-short",
            PSR,
            json!({"spec": {"permissionSet": {"sessionDuration": "PT30M"}}}),
            "spec.permissionSet.sessionDuration",
        ),
        case(
            "inline-policy-without-statement",
            PSR,
            json!({"spec": {"permissionSet": {"inlinePolicy": {"Version": "2012-10-17", "Statement": null}}}}),
            "spec.permissionSet.inlinePolicy.Statement",
        ),
        case(
            "two-boundaries",
            PSR,
            json!({"spec": {"permissionSet": {"permissionsBoundary": {
                "managedPolicyArn": "arn:aws:iam::aws:policy/PowerUserAccess",
                "customerManagedPolicy": {"name": "Boundary"}}}}}),
            "spec.permissionSet.permissionsBoundary",
        ),
        update_case(
            "permission-set-rename",
            PSR,
            json!({"spec": {"permissionSet": {"name": "Renamed"}}}),
            "spec.permissionSet.name",
        ),
        case("subdomain-outside-parent", SUBDEL, json!({"spec": {"domain": "payroll.example.org"}}), "spec.domain"),
        case("subdomain-is-parent", SUBDEL, json!({"spec": {"domain": "example.com"}}), "spec.domain"),
        case("bad-dns-name", SUBDEL, json!({"spec": {"domain": "pay_roll.example.com"}}), "spec.domain"),
        case("ttl-too-low", SUBDEL, json!({"spec": {"ttl": 10}}), "spec.ttl"),
        case("account-with-both", SUBDEL, json!({"spec": {"account": {"accountId": "123456789012"}}}), "spec.account"),
        update_case("domain-change", SUBDEL, json!({"spec": {"domain": "pay.example.com"}}), "spec.domain"),
        case(
            "no-targets",
            BASELINE,
            json!({"spec": {"targets": {"organizationalUnits": [], "accounts": []}}}),
            "spec.targets",
        ),
        case("bad-region", BASELINE, json!({"spec": {"targets": {"regions": ["tokyo"]}}}), "spec.targets.regions[0]"),
        case(
            "no-controls",
            BASELINE,
            json!({"spec": {"controls": {"guardDuty": null, "securityHub": null, "config": null, "cloudTrail": null, "accessAnalyzer": null, "notifications": null}}}),
            "spec.controls",
        ),
        case(
            "bad-guardduty-frequency",
            BASELINE,
            json!({"spec": {"controls": {"guardDuty": {"findingPublishingFrequency": "DAILY"}}}}),
            "spec.controls.guardDuty.findingPublishingFrequency",
        ),
        case(
            "ous-and-accounts",
            BASELINE,
            json!({"spec": {"targets": {"accounts": [{"accountId": "123456789012"}]}}}),
            "spec.targets",
        ),
        case(
            "controls-and-template",
            BASELINE,
            json!({"spec": {"template": {"configMapName": "t", "key": "template.yaml"}}}),
            "spec",
        ),
        case("neither-controls-nor-template", BASELINE, json!({"spec": {"controls": null}}), "spec"),
        case("parameters-without-template", BASELINE, json!({"spec": {"parameters": {"Level": "high"}}}), "spec"),
        case(
            "count-and-percentage",
            BASELINE,
            json!({"spec": {"operationPreferences": {"maxConcurrentCount": 2}}}),
            "spec.operationPreferences",
        ),
        case(
            "failure-tolerance-over-100",
            BASELINE,
            json!({"spec": {"operationPreferences": {"failureTolerancePercentage": 150}}}),
            "spec.operationPreferences.failureTolerancePercentage",
        ),
    ]
}

#[tokio::test]
async fn ou_ids_and_paths_from_the_root_are_accepted() {
    let client = client().await;
    ensure_namespace(&client, NAMESPACE).await;
    let api = dynamic_api(&client, NAMESPACE, "AwsAccount");
    let dry_run = PatchParams::apply("orgops-e2e").dry_run();
    // An OU whose own name begins with `ou-` is written as a path from the root.
    for ou in ["ou-ab12-abcdefgh", "r-ab12", "Root/ou-legacy", "Workloads/ou-legacy", "Root"] {
        let mut object = example_named(ACCOUNT, "ou-forms");
        merge(&mut object, &json!({"spec": {"organizationalUnit": ou}}));
        api.patch("ou-forms", &dry_run, &Patch::Apply(&object)).await.unwrap_or_else(|e| panic!("{ou}: {e}"));
    }
}

fn example_named(example: &str, name: &str) -> Value {
    let mut object = read_yaml(example);
    merge(&mut object, &json!({"metadata": {"name": name, "namespace": NAMESPACE}}));
    object
}

#[tokio::test]
async fn invalid_objects_are_rejected_with_the_field_named() {
    let client = client().await;
    ensure_namespace(&client, NAMESPACE).await;
    let cases = invalid_objects();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in &cases {
        let kind = read_yaml(case.example)["kind"].as_str().unwrap().to_string();
        let api = dynamic_api(&client, NAMESPACE, &kind);
        let mut object = example_named(case.example, case.name);
        if case.on_update {
            apply(&api, &object).await.unwrap_or_else(|e| panic!("{}: creating the valid object: {e}", case.name));
        }
        merge(&mut object, &case.patch);
        match apply(&api, &object).await {
            Ok(_) => failures.push(format!("{}: accepted", case.name)),
            Err(kube::Error::Api(status)) => {
                if status.code != 422 || !status.message.contains(&format!("{}:", case.field)) {
                    failures.push(format!(
                        "{}: expected 422 naming {}, got {}: {}",
                        case.name, case.field, status.code, status.message
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.name)),
        }
        if !case.on_update {
            assert!(api.get_opt(case.name).await.unwrap().is_none(), "{}: a rejected object was stored", case.name);
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[tokio::test]
async fn every_example_is_accepted() {
    let client = client().await;
    for namespace in ["payroll", "platform"] {
        ensure_namespace(&client, namespace).await;
    }
    let examples = repo_root().join("examples");
    // A server-side dry run goes through the whole admission chain without storing.
    let out = kubectl(&["apply", "--dry-run=server", "-f", examples.to_str().unwrap()]);
    for kind in ["awsaccount", "permissionsetrequest", "subdomaindelegation", "securitybaseline"] {
        assert!(out.contains(&format!("{kind}.orgops.dev/")), "no {kind} in examples/: {out}");
    }
}

#[tokio::test]
async fn kubectl_get_shows_the_printer_columns() {
    let client = client().await;
    ensure_namespace(&client, NAMESPACE).await;
    let api = dynamic_api(&client, NAMESPACE, "AwsAccount");
    let object = example_named(ACCOUNT, "columns");
    apply(&api, &object).await.expect("creating the account");
    let status = json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "AwsAccount",
        "status": {
            "accountId": "210987654321",
            "state": "ACTIVE",
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available", "message": "",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}]
        }
    });
    let _: DynamicObject = api
        .patch_status("columns", &PatchParams::apply("orgops-e2e").force(), &Patch::Apply(&status))
        .await
        .expect("writing status");

    let out = kubectl(&["get", "awsaccounts", "-A"]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAMESPACE", "NAME", "ACCOUNT-ID", "EMAIL", "OU", "STATE", "READY", "AGE"]);
    let row = out.lines().find(|l| l.contains("columns")).expect("the account's row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..7],
        [NAMESPACE, "columns", "210987654321", "aws+payroll-prod@example.com", "Workloads/Payroll", "ACTIVE", "True"]
    );
    assert!(kubectl(&["get", "awsacct", "-n", NAMESPACE]).contains("columns"), "short name awsacct");
    assert!(kubectl(&["get", "orgops", "-n", NAMESPACE]).contains("awsaccount.orgops.dev/columns"), "category orgops");
}
