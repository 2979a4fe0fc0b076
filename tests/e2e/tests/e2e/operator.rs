//! `orgops run` as a process: it connects, finds the CRDs, takes the leader lease, serves
//! its endpoints, and on SIGTERM stops cleanly and gives the lease up.

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use orgops_e2e::accounts::PAYROLL;
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::{client, ensure_namespace, eventually, repo_root};

#[tokio::test]
async fn run_serves_endpoints_and_stops_on_sigterm() {
    let ns = "run";
    let client = client().await; // installs the CRDs
    ensure_namespace(&client, ns).await;
    let mut operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;

    eventually(30, "orgops to lead", || async { operator.is_leader().then_some(()) }).await;
    assert_eq!(operator.http("/healthz"), Some((200, "ok".to_string())));
    assert_eq!(operator.http("/readyz").map(|(code, _)| code), Some(200));
    let leases: Api<Lease> = Api::namespaced(client, ns);
    let holder = |lease: Lease| lease.spec.and_then(|s| s.holder_identity).unwrap_or_default();
    assert!(!holder(leases.get("orgops").await.unwrap()).is_empty(), "the lease names its holder");

    let exit = operator.terminate().await;
    let log = operator.log();
    assert!(exit.success(), "orgops exited with {exit}: {log}");
    assert_eq!(holder(leases.get("orgops").await.unwrap()), "", "the lease is given up on shutdown");
    let lines: Vec<serde_json::Value> =
        log.lines().map(|line| serde_json::from_str(line).expect("every log line is JSON")).collect();
    assert!(lines.iter().any(|line| line["message"] == "shutting down"), "{log}");
}

#[test]
fn template_prints_what_a_baseline_rolls_out() {
    let example = repo_root().join("examples/securitybaseline.yaml");
    let out =
        std::process::Command::new(orgops_e2e::operator::binary()).arg("template").arg(&example).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let snapshot = std::fs::read_to_string(repo_root().join("tests/baseline/example.template.json")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), snapshot, "the template cfn-lint checked");

    let not_a_baseline = repo_root().join("examples/awsaccount.yaml");
    let out = std::process::Command::new(orgops_e2e::operator::binary())
        .arg("template")
        .arg(&not_a_baseline)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a SecurityBaseline"));
}
