//! `make bench`: the mixed estate (1,000 AwsAccounts in 10 OUs, 200 PermissionSetRequests
//! × 5 accounts, 100 SubdomainDelegations, 5 SecurityBaselines) converged cold, left
//! idle, drifted, then AwsAccounts under AWS's quotas, then sessions revoked when
//! assignments end; the memory run is `scale_bench`.
//! Each item writes `target/bench/<item>.json`; `report` writes `docs/performance.md`
//! from them. The items are ignored tests, run by `make bench` with the release build;
//! `a_small_bench_runs_end_to_end` runs them all on a few objects in `make test`, so they
//! cannot rot.

use orgops_e2e::accounts::PAYROLL;
use orgops_e2e::bench;
use orgops_e2e::estate::{Estate, Sizes, fresh_namespace};
use orgops_e2e::faults::Faults;
use orgops_e2e::feed::ChangeFeed;
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::proxy::with_faults;
use orgops_e2e::repo_root;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Limits raised to what moto takes, so the bench measures orgops, not AWS's quotas
/// (item 5 keeps them).
fn raised_limits() -> Vec<String> {
    let flags = [
        "organizations-read-rate",
        "organizations-write-rate",
        "create-account-rate",
        "account-read-rate",
        "account-write-rate",
        "sso-rate",
        "identitystore-rate",
        "route53-rate",
        "cloudformation-rate",
    ];
    let mut args: Vec<String> = flags.iter().flat_map(|f| [format!("--{f}"), "1000".to_string()]).collect();
    // AWS's in-flight quotas, and the poll of a creation moto finishes at once.
    for (flag, value) in
        [("create-account-concurrency", "100"), ("assignment-concurrency", "100"), ("poll-interval", "1s")]
    {
        args.extend([format!("--{flag}"), value.to_string()]);
    }
    args
}

/// What `make bench` writes, one JSON file each.
const ITEMS: [&str; 7] = ["converge", "idle", "drift", "memory", "quota", "feed", "revocation"];

fn write(dir: &Path, item: &str, value: &Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{item}.json")), serde_json::to_string_pretty(value).unwrap()).unwrap();
    eprintln!("{item}: {value}");
}

fn runs(dir: &Path) -> BTreeMap<String, Value> {
    let mut runs = BTreeMap::new();
    for item in ITEMS {
        if let Ok(text) = std::fs::read_to_string(dir.join(format!("{item}.json"))) {
            runs.insert(item.to_string(), serde_json::from_str(&text).unwrap());
        }
    }
    runs
}

/// Items 1 to 3 on one estate: converge, idle, drift.
async fn mixed(ns: &str, sizes: Sizes, resync: &str, changes: usize, feed_window: Duration, out: &Path) {
    let estate = Estate::prepare(ns, sizes).await;
    let proxy = with_faults(Faults::default()).await;
    let mut options = OperatorOptions::new(ns, &[]);
    options.policy = estate.policy.clone();
    options.resync = resync;
    options.aws_endpoint = Some(proxy.url.clone());
    options.extra_args = raised_limits();
    let operator = Operator::start(options).await;
    write(out, "converge", &bench::converge(&estate, &proxy).await);
    let idle = bench::idle(&estate, &operator, &proxy, resync).await;
    write(out, "idle", &idle);
    let mut drift = bench::drift(&estate, changes, 11, None).await;
    drift["resync"] = resync.into();
    write(out, "drift", &drift);

    // Item 6: the same estate with the change feed and its default resync.
    drop(operator);
    let feed = ChangeFeed::new(ns).await;
    let mut options = OperatorOptions::new(ns, &[]);
    options.policy = estate.policy.clone();
    options.resync = "24h";
    options.aws_endpoint = Some(proxy.url.clone());
    options.extra_args = raised_limits();
    options.extra_args.extend(["--change-queue-url".to_string(), feed.queue_url.clone()]);
    let operator = Operator::start(options).await;
    operator.until_swept(&estate.kinds()).await;
    write(out, "feed", &bench::feed(&estate, &proxy, &feed, &idle, feed_window, changes).await);
}

/// Item 5: AwsAccounts through the quota-enforcing proxy, default limits.
async fn quota(ns: &str, accounts: usize, out: &Path) {
    let sizes = Sizes { accounts, ous: 10, requests: 0, accounts_per_request: 0, delegations: 0, baselines: 0 };
    let estate = Estate::prepare(ns, sizes).await;
    let proxy = with_faults(Faults { quota: true, in_progress_polls: 2, ..Faults::default() }).await;
    let mut options = OperatorOptions::new(ns, &[]);
    options.policy = estate.policy.clone();
    options.resync = "5m";
    options.aws_endpoint = Some(proxy.url.clone());
    let _operator = Operator::start(options).await;
    write(out, "quota", &bench::quota(&estate, &proxy).await);
}

/// Item 7: assignments of `users` users ending at once, and the Deny of their sessions.
async fn revocation(ns: &str, users: usize, out: &Path) {
    orgops_e2e::requests::setup(ns).await;
    let org = orgops_e2e::aws::organizations().await;
    let email = format!("revoke@{ns}.example.com");
    let account = orgops_e2e::aws::create_account_in(&org, "revoke", &email, PAYROLL).await;
    let proxy = with_faults(Faults::default()).await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.aws_endpoint = Some(proxy.url.clone());
    options.extra_args = raised_limits();
    let _operator = Operator::start(options).await;
    write(out, "revocation", &bench::revocation(ns, &account, users, &proxy).await);
}

fn bench_dir() -> PathBuf {
    repo_root().join("target/bench")
}

#[tokio::test]
#[ignore = "minutes: `make bench`"]
async fn mixed_estate() {
    let sizes =
        Sizes { accounts: 1_000, ous: 10, requests: 200, accounts_per_request: 5, delegations: 100, baselines: 5 };
    mixed(&fresh_namespace("bench"), sizes, "60s", 50, Duration::from_secs(300), &bench_dir()).await;
}

#[tokio::test]
#[ignore = "minutes: `make bench`"]
async fn quota_mode() {
    quota(&fresh_namespace("bench-quota"), 200, &bench_dir()).await;
}

#[tokio::test]
#[ignore = "minutes: `make bench`"]
async fn session_revocation() {
    revocation(&fresh_namespace("bench-revoke"), 10, &bench_dir()).await;
}

#[tokio::test]
#[ignore = "run by `make bench` after the items"]
async fn report() {
    let header = format!(
        "Written by `make bench` on {} ({}, release build, orgops {}, Kubernetes {}, moto {}). The AWS side is \
         moto behind a counting proxy; items 1 to 4 and 6 raise orgops's client-side limits to what moto takes, item 5 \
         keeps AWS's.",
        std::env::var("ORGOPS_BENCH_DATE").unwrap_or_else(|_| "an unrecorded date".into()),
        bench::machine(),
        env!("CARGO_PKG_VERSION"),
        std::env::var("KUBE_VERSION").unwrap_or_default(),
        std::env::var("MOTO_VERSION").unwrap_or_default(),
    );
    let runs = runs(&bench_dir());
    for item in ITEMS {
        assert!(runs.contains_key(item), "no {item}.json in target/bench: run `make bench`");
    }
    std::fs::write(repo_root().join("docs/performance.md"), bench::report(&runs, &header)).unwrap();
}

#[tokio::test]
async fn a_small_bench_runs_end_to_end() {
    let out = repo_root().join("target/bench-smoke");
    let _ = std::fs::remove_dir_all(&out);
    let sizes = Sizes { accounts: 4, ous: 2, requests: 2, accounts_per_request: 2, delegations: 2, baselines: 1 };
    mixed(&fresh_namespace("bench-smoke"), sizes, "5s", 4, Duration::from_secs(10), &out).await;
    quota(&fresh_namespace("bench-smoke-quota"), 4, &out).await;
    revocation(&fresh_namespace("bench-smoke-revoke"), 2, &out).await;
    let runs = runs(&out);
    let text = bench::report(&runs, "smoke");
    for section in [
        "## 1. Cold convergence",
        "## 2. Idle",
        "## 3. Drift",
        "## 5. Under AWS's quotas",
        "## 6. The change feed",
        "## 7. Session revocation",
    ] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
    let drift = &runs["drift"];
    assert_eq!(drift["changes"], 4, "one change of each kind: {drift}");
    assert_eq!(runs["feed"]["drift"]["changes"], 4, "the same with the feed: {}", runs["feed"]);
    for kind in runs["idle"]["kinds"].as_array().unwrap() {
        assert_eq!(kind["writes"], 0);
    }
    assert!(runs["revocation"]["provisioned_seconds"].is_number(), "the Deny provisioned: {}", runs["revocation"]);
    eprintln!("{text}");
}
