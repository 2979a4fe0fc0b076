//! `orgops run` as a process: it connects, finds the CRDs, serves its endpoints and stops
//! cleanly on SIGTERM.

use orgops_e2e::{client, repo_root};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn get(url: &str) -> Option<(u16, String)> {
    let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}", url]).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.parse().ok()?, body.to_string()))
}

#[tokio::test]
async fn run_serves_endpoints_and_stops_on_sigterm() {
    let _ = client().await; // installs the CRDs
    let binary = repo_root().join("target/debug/orgops");
    assert!(binary.exists(), "build the operator first (`make build`)");
    let port = free_port();
    let mut child = Command::new(&binary)
        .args(["run", "--http-addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting orgops run");

    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("{base}/readyz")).map(|(code, _)| code) != Some(200) {
        assert!(Instant::now() < deadline, "orgops never became ready");
        assert!(child.try_wait().unwrap().is_none(), "orgops exited early: {:?}", child.wait_with_output());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get(&format!("{base}/healthz")), Some((200, "ok".to_string())));
    let (code, metrics) = get(&format!("{base}/metrics")).unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("orgops_ready 1"), "{metrics}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "orgops did not stop within 10 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "orgops exited with {exit}");
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> =
        log.lines().map(|line| serde_json::from_str(line).expect("every log line is JSON")).collect();
    assert!(lines.iter().any(|line| line["level"] == "INFO"), "no INFO line in {log}");
}
