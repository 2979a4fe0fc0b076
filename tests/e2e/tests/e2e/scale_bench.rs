//! The scale run (`make scale`, not part of `make test`): an organization of 10,000
//! existing accounts, each described by an AwsAccount that adopts it by id with the
//! ownership tags already in place, adopted by the release build with default flags.
//! Measures the time until every object is Ready against the floor the read limit sets,
//! the time to Ready of a new account applied halfway, and the operator's resident
//! memory at 100, 1,000 and all objects reconciled.
//!
//! The accounts are put into moto before it serves (`tests/bench/seeded_moto.py`):
//! creating them through moto's API would take a quarter of an hour.

use orgops_e2e::accounts::{account, email, setup};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::{apply, condition, repo_root};
use serde_json::json;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn accounts_wanted() -> usize {
    std::env::var("ORGOPS_SCALE_ACCOUNTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

fn ready_count(operator: &Operator) -> usize {
    operator.metrics().get("orgops_resources{kind=\"AwsAccount\",ready=\"true\"}").copied().unwrap_or(0.0) as usize
}

/// Kills the seeded moto when the run ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
#[ignore = "a scale run of minutes: `make scale`"]
async fn ten_thousand_accounts_are_adopted_at_the_read_limit_and_a_new_one_goes_first() {
    let total = accounts_wanted();
    let ns = "scale";
    let api = setup(ns).await;

    // The objects first: their UIDs go into the ownership tags of the seeded accounts.
    let started = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(32));
    let mut creating = tokio::task::JoinSet::new();
    for i in 0..total {
        let (api, limit) = (api.clone(), limit.clone());
        creating.spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let name = format!("acct-{i:05}");
            let id = format!("9{i:011}");
            let spec = json!({"organizationalUnit": "Root", "accountId": id});
            let object = apply(&api, &account(ns, &name, spec)).await.unwrap();
            json!({"id": id, "name": name, "email": email(ns, &name), "tags": {
                "orgops.dev/owner": format!("{ns}/{name}"), "orgops.dev/uid": object.metadata.uid.unwrap()}})
        });
    }
    let records: Vec<serde_json::Value> = creating.join_all().await;
    eprintln!("{total} AwsAccounts applied in {:.0} s", started.elapsed().as_secs_f64());

    let dir = repo_root().join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("accounts.json");
    std::fs::write(&file, serde_json::to_vec(&records).unwrap()).unwrap();
    drop(records);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let python = std::env::var("ORGOPS_MOTO_PYTHON").expect("ORGOPS_MOTO_PYTHON from the harness");
    let mut moto = Child(
        Command::new(python)
            .arg(repo_root().join("tests/bench/seeded_moto.py"))
            .args(["--port", &port.to_string(), "--accounts"])
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut first_line = String::new();
    std::io::BufReader::new(moto.0.stdout.take().unwrap()).read_line(&mut first_line).unwrap();
    assert_eq!(first_line.trim(), "ready", "the seeded moto did not start");

    let mut options = OperatorOptions::new(ns, &["Root"]);
    options.resync = "5m";
    options.aws_endpoint = Some(format!("http://127.0.0.1:{port}"));
    // `make bench` raises the read limit to what moto takes, to measure memory quickly;
    // `make scale` keeps the default, to measure against AWS's pace.
    if let Ok(rate) = std::env::var("ORGOPS_SCALE_READ_RATE") {
        options.extra_args = vec!["--organizations-read-rate".into(), rate];
    }
    let operator = Operator::start(options).await;
    let began = Instant::now();
    let mut memory = Vec::new();
    // Memory is sampled as the Ready count passes these; the last counts the new account.
    let mut thresholds: Vec<usize> = [100, 1_000].into_iter().filter(|t| *t < total).collect();
    thresholds.push(total + 1);
    let mut newcomer: Option<(Instant, Option<f64>)> = None;
    let mut last_report = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let ready = ready_count(&operator);
        while thresholds.first().is_some_and(|t| ready >= *t) {
            let at = thresholds.remove(0);
            memory.push((at, operator.resident_kib(), began.elapsed().as_secs_f64()));
        }
        if newcomer.is_none() && ready >= total / 2 {
            apply(&api, &account(ns, "newcomer", json!({"organizationalUnit": "Root"}))).await.unwrap();
            newcomer = Some((Instant::now(), None));
        }
        if let Some((applied, None)) = newcomer {
            let object = api.get("newcomer").await.unwrap();
            if condition(&object, "Ready").is_some_and(|(s, _, _)| s == "True") {
                newcomer = Some((applied, Some(applied.elapsed().as_secs_f64())));
            }
        }
        if last_report.elapsed() >= Duration::from_secs(60) {
            last_report = Instant::now();
            eprintln!("{ready} of {total} Ready after {:.0} s", began.elapsed().as_secs_f64());
        }
        if thresholds.is_empty() && newcomer.is_some_and(|(_, took)| took.is_some()) {
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(3600), "not all Ready within an hour: {ready} of {total}");
    }
    let all_ready = memory.last().map(|(_, _, at)| *at).unwrap();
    let calls = operator.aws_calls();
    let reads_needed = calls.get("ListTagsForResource").copied().unwrap_or(0.0)
        + calls.get("ListAccountsForParent").copied().unwrap_or(0.0);
    eprintln!("--- scale run: {total} adopted AwsAccounts, release build, default flags ---");
    // The snapshot (one ListAccountsForParent page per 20 accounts) comes first, then one
    // ListTagsForResource per account, each at 8 a second.
    let floor = (total as f64 / 20.0 + total as f64) / 8.0;
    eprintln!(
        "all Ready in {all_ready:.0} s; the floor set by 8 Organizations reads a second is {floor:.0} s \
         (the snapshot's pages, then one ListTagsForResource per account)"
    );
    eprintln!("Organizations reads made: {reads_needed:.0} ({calls:?})");
    let (_, took) = newcomer.unwrap();
    eprintln!("a new account applied at {} Ready was Ready {:.1} s later", total / 2, took.unwrap());
    for (at, kib, seconds) in &memory {
        eprintln!("resident memory at {at} reconciled: {:.1} MiB (after {seconds:.0} s)", *kib as f64 / 1024.0);
    }
    let samples: Vec<serde_json::Value> =
        memory.iter().map(|(at, kib, _)| json!({"objects": at, "mib": *kib as f64 / 1024.0})).collect();
    let ((first_at, first_kib, _), (last_at, last_kib, _)) = (memory[0], memory[memory.len() - 1]);
    let per_object = (last_kib as f64 - first_kib as f64) / (last_at - first_at).max(1) as f64;
    let run = json!({"samples": samples, "kib_per_object": per_object, "all_ready_seconds": all_ready});
    std::fs::write(dir.join("memory.json"), serde_json::to_string_pretty(&run).unwrap()).unwrap();
}
