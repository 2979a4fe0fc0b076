//! `orgops run` as a process: it connects, finds the CRDs, takes the leader lease, serves
//! its endpoints, and on SIGTERM stops cleanly and gives the lease up.

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use orgops_e2e::operator::http_get;
use orgops_e2e::{client, ensure_namespace, repo_root};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn run_serves_endpoints_and_stops_on_sigterm() {
    let ns = "run";
    let client = client().await; // installs the CRDs
    ensure_namespace(&client, ns).await;
    let binary = repo_root().join("target/debug/orgops");
    assert!(binary.exists(), "build the operator first (`make build`)");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_path = repo_root().join("target/e2e/run-operator.log");
    std::fs::create_dir_all(log_path.parent().unwrap()).unwrap();
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(&binary)
        .args(["run", "--namespace", ns, "--http-addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("starting orgops run");

    let deadline = Instant::now() + Duration::from_secs(30);
    while !http_get(port, "/metrics").is_some_and(|(code, metrics)| code == 200 && metrics.contains("orgops_leader 1"))
    {
        assert!(child.try_wait().unwrap().is_none(), "orgops exited early: {}", read(&log_path));
        assert!(Instant::now() < deadline, "orgops did not lead within 30 s: {}", read(&log_path));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(http_get(port, "/healthz"), Some((200, "ok".to_string())));
    assert_eq!(http_get(port, "/readyz").map(|(code, _)| code), Some(200));
    let leases: Api<Lease> = Api::namespaced(client, ns);
    let holder = |lease: Lease| lease.spec.and_then(|s| s.holder_identity).unwrap_or_default();
    assert!(!holder(leases.get("orgops").await.unwrap()).is_empty(), "the lease names its holder");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "orgops did not stop within 10 s of SIGTERM: {}", read(&log_path));
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "orgops exited with {exit}: {}", read(&log_path));
    assert_eq!(holder(leases.get("orgops").await.unwrap()), "", "the lease is given up on shutdown");
    let log = read(&log_path);
    let lines: Vec<serde_json::Value> =
        log.lines().map(|line| serde_json::from_str(line).expect("every log line is JSON")).collect();
    assert!(lines.iter().any(|line| line["message"] == "shutting down"), "{log}");
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
