//! The Helm chart on the real API server: rendered with every option on, applied
//! server-side, and the operator run as the chart's ServiceAccount (a token of it, as the
//! pod would have) reconciles an AwsAccount end to end; that identity can do nothing else
//! (no Secrets, no other kinds); the ValidatingAdmissionPolicy refuses what the platform
//! policy forbids, with its message. The Deployment itself never runs here (no kubelet).

use orgops_e2e::accounts::{account, status_str, until_condition};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::{client, ensure_namespace, repo_root};
use serde::Deserialize;
use serde_json::json;
use std::process::Command;

const RELEASE: &str = "chart-e2e";
const TEAM: &str = "chart-team";
const SERVICE_ACCOUNT: &str = "system:serviceaccount:chart-e2e:orgops";

fn helm() -> String {
    std::env::var("ORGOPS_HELM").expect("ORGOPS_HELM names the helm binary (make e2e sets it)")
}

/// The chart rendered with tests/chart/values-full.yaml, the team granted an OU and the
/// admission policy bound to the team's namespace only (other tests share the API server).
fn render() -> Vec<yaml_serde::Value> {
    let out = Command::new(helm())
        .current_dir(repo_root())
        .args(["template", RELEASE, "charts/orgops", "--namespace", RELEASE, "--include-crds"])
        .args(["-f", "tests/chart/values-full.yaml"])
        .args(["--set-json", &format!(r#"platformPolicy.namespaces.{TEAM}={{"organizationalUnits":["Workloads/Payroll"],"maxSessionDuration":"PT4H"}}"#)])
        .args([
            "--set-json",
            &format!(r#"admissionPolicy.namespaceSelector={{"matchLabels":{{"kubernetes.io/metadata.name":"{TEAM}"}}}}"#),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "helm template: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    yaml_serde::Deserializer::from_str(&text)
        .map(|document| yaml_serde::Value::deserialize(document).unwrap())
        .filter(|document| !document.is_null())
        .collect()
}

fn kind(document: &yaml_serde::Value) -> &str {
    document["kind"].as_str().unwrap_or_default()
}

/// `kubectl auth can-i` as the chart's ServiceAccount.
fn can(verb: &str, resource: &str, namespace: &str) -> bool {
    let out = Command::new("kubectl")
        .args(["auth", "can-i", verb, resource, "-n", namespace, "--as", SERVICE_ACCOUNT])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "yes"
}

/// A kubeconfig for the same server with a token of the chart's ServiceAccount.
fn service_account_kubeconfig() -> std::path::PathBuf {
    let token = Command::new("kubectl")
        .args(["create", "token", "orgops", "-n", RELEASE, "--duration", "1h"])
        .output()
        .unwrap();
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    let current: yaml_serde::Value =
        yaml_serde::from_str(&std::fs::read_to_string(std::env::var("KUBECONFIG").unwrap()).unwrap()).unwrap();
    let cluster = current["clusters"][0]["cluster"].clone();
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster}],
        "users": [{"name": "orgops", "user": {"token": token}}],
        "contexts": [{"name": "orgops", "context": {"cluster": "test", "user": "orgops"}}],
        "current-context": "orgops"
    });
    let path = repo_root().join("target/e2e/chart-service-account.kubeconfig");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, yaml_serde::to_string(&config).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn the_chart_installs_and_its_service_account_runs_orgops_with_least_privilege() {
    orgops_e2e::aws::organizations().await;
    let kube = client().await;
    ensure_namespace(&kube, RELEASE).await;
    let accounts = orgops_e2e::accounts::setup(TEAM).await;
    let documents = render();
    // ServiceMonitor and PrometheusRule need the Prometheus Operator's CRDs, which this
    // server lacks: `make chart` checks them against that operator's types and promtool.
    let (monitoring, applied): (Vec<_>, Vec<_>) =
        documents.into_iter().partition(|d| kind(d) == "ServiceMonitor" || kind(d) == "PrometheusRule");
    assert_eq!(monitoring.len(), 2);
    let file = repo_root().join("target/e2e/chart-rendered.yaml");
    let text: Vec<String> = applied.iter().map(|d| yaml_serde::to_string(d).unwrap()).collect();
    std::fs::write(&file, text.join("---\n")).unwrap();
    let out = Command::new("kubectl")
        .args(["apply", "--server-side", "--force-conflicts", "-f", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "the rendered chart is refused: {}", String::from_utf8_lossy(&out.stderr));

    // Least privilege, as the API server's authorizer sees it.
    for (verb, resource, namespace) in [
        ("patch", "awsaccounts.orgops.dev", TEAM),
        ("patch", "securitybaselines.orgops.dev/status", TEAM),
        ("create", "events.events.k8s.io", TEAM),
        ("get", "configmaps", TEAM),
        ("update", "leases.coordination.k8s.io/orgops", RELEASE),
    ] {
        assert!(can(verb, resource, namespace), "the ServiceAccount may {verb} {resource} in {namespace}");
    }
    for (verb, resource, namespace) in [
        ("get", "secrets", TEAM),
        ("list", "secrets", RELEASE),
        ("list", "configmaps", TEAM),
        ("create", "awsaccounts.orgops.dev", TEAM),
        ("delete", "awsaccounts.orgops.dev", TEAM),
        ("get", "pods", TEAM),
        ("create", "deployments.apps", RELEASE),
        ("update", "leases.coordination.k8s.io/orgops", TEAM),
        ("update", "leases.coordination.k8s.io/other", RELEASE),
    ] {
        assert!(!can(verb, resource, namespace), "the ServiceAccount must not {verb} {resource} in {namespace}");
    }

    // The operator with nothing but the ServiceAccount's token and the chart's policy.
    let policy = applied
        .iter()
        .find(|d| kind(d) == "ConfigMap" && d["metadata"]["name"] == format!("{RELEASE}-policy").as_str())
        .and_then(|d| d["data"]["policy.yaml"].as_str())
        .expect("the policy ConfigMap")
        .to_string();
    let mut options = OperatorOptions::new(TEAM, &[]);
    options.policy = policy;
    options.kubeconfig = Some(service_account_kubeconfig());
    options.extra_args = vec!["--lease-namespace".into(), RELEASE.into()];
    let operator = Operator::start(options).await;
    orgops_e2e::apply(&accounts, &account(TEAM, "chart-account", json!({"organizationalUnit": "Workloads/Payroll"})))
        .await
        .unwrap();
    let object = until_condition(&accounts, "chart-account", "Ready", "True", "Available").await;
    assert!(!status_str(&object, "accountId").is_empty());
    let events = orgops_e2e::events_of(TEAM, "chart-account");
    assert!(events.iter().any(|(reason, _)| reason == "Created"), "Events are written: {events:?}");
    assert!(!operator.log().contains("forbidden"), "no request was refused: {}", operator.log());

    // The admission policy: a denied managed policy and a session above the cap.
    let api = orgops_e2e::dynamic_api(&kube, TEAM, "PermissionSetRequest");
    let request = |name: &str, permission_set: serde_json::Value| {
        json!({
            "apiVersion": "orgops.dev/v1alpha1", "kind": "PermissionSetRequest",
            "metadata": {"name": name, "namespace": TEAM},
            "spec": {"permissionSet": permission_set, "assignments": []}
        })
    };
    let admin = request(
        "admin",
        json!({"name": "ChartAdmin", "managedPolicies": ["arn:aws:iam::aws:policy/AdministratorAccess"]}),
    );
    let error = orgops_e2e::apply(&api, &admin).await.unwrap_err().to_string();
    assert!(error.contains("arn:aws:iam::aws:policy/AdministratorAccess is denied by the platform policy"), "{error}");
    let long = request("long", json!({"name": "ChartLong", "sessionDuration": "PT6H"}));
    let error = orgops_e2e::apply(&api, &long).await.unwrap_err().to_string();
    assert!(error.contains("PT6H is longer than the platform policy allows namespace chart-team"), "{error}");
    let reader = request(
        "reader",
        json!({"name": "ChartReader", "managedPolicies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}),
    );
    orgops_e2e::apply(&api, &reader).await.expect("an allowed request passes the admission policy");
}
