//! `make chaos`: the controller killed 200 times while it creates, AWS throttling and
//! failing, the API server going away, the leader killed again and again, bad input.
//! Each item writes `target/chaos/<item>.json`; `report` writes `docs/reliability.md`.
//! The items are ignored tests, run by `make chaos` with the release build;
//! `a_small_chaos_run_end_to_end` and `a_small_api_server_outage_end_to_end` run them all
//! on a few objects in `make test`, so they cannot rot.

use orgops_e2e::chaos;
use orgops_e2e::estate::{Sizes, fresh_namespace};
use orgops_e2e::repo_root;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ITEMS: [&str; 5] = ["kills", "faults", "api_server", "leaders", "bad_input"];

fn write(dir: &Path, item: &str, value: &Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{item}.json")), serde_json::to_string_pretty(value).unwrap()).unwrap();
    eprintln!("{item}: {value}");
}

fn runs(dir: &Path) -> BTreeMap<String, Value> {
    ITEMS
        .iter()
        .filter_map(|item| {
            let text = std::fs::read_to_string(dir.join(format!("{item}.json"))).ok()?;
            Some((item.to_string(), serde_json::from_str(&text).unwrap()))
        })
        .collect()
}

fn chaos_dir() -> PathBuf {
    repo_root().join("target/chaos")
}

fn sizes(accounts: usize, requests: usize, delegations: usize, baselines: usize) -> Sizes {
    Sizes { accounts, ous: 5, requests, accounts_per_request: 3, delegations, baselines }
}

#[tokio::test]
#[ignore = "minutes: `make chaos`"]
async fn kills() {
    let run = chaos::kills(&fresh_namespace("chaos-kills"), sizes(100, 20, 20, 0), 200, 3).await;
    write(&chaos_dir(), "kills", &run);
}

#[tokio::test]
#[ignore = "minutes: `make chaos`"]
async fn faults() {
    let run = chaos::faults(&fresh_namespace("chaos-faults"), sizes(100, 20, 20, 2), 5).await;
    write(&chaos_dir(), "faults", &run);
}

#[tokio::test]
#[ignore = "minutes: `make chaos`"]
async fn api_server() {
    let run = chaos::api_server(&fresh_namespace("chaos-api"), sizes(50, 10, 10, 0), Duration::from_secs(10)).await;
    write(&chaos_dir(), "api_server", &run);
}

#[tokio::test]
#[ignore = "minutes: `make chaos`"]
async fn leaders() {
    let run = chaos::leaders(&fresh_namespace("chaos-leaders"), sizes(50, 10, 10, 0), 10, 7).await;
    write(&chaos_dir(), "leaders", &run);
}

#[tokio::test]
#[ignore = "minutes: `make chaos`"]
async fn bad_input() {
    write(&chaos_dir(), "bad_input", &chaos::bad_input(&fresh_namespace("chaos-bad")).await);
}

#[tokio::test]
#[ignore = "run by `make chaos` after the items"]
async fn report() {
    let header = format!(
        "Written by `make chaos` on {} (release build, orgops {}, Kubernetes {}, moto {}). The AWS side is moto \
         behind a fault-injecting proxy.",
        std::env::var("ORGOPS_BENCH_DATE").unwrap_or_else(|_| "an unrecorded date".into()),
        env!("CARGO_PKG_VERSION"),
        std::env::var("KUBE_VERSION").unwrap_or_default(),
        std::env::var("MOTO_VERSION").unwrap_or_default(),
    );
    let runs = runs(&chaos_dir());
    for item in ITEMS {
        assert!(runs.contains_key(item), "no {item}.json in target/chaos: run `make chaos`");
    }
    std::fs::write(repo_root().join("docs/reliability.md"), chaos::report(&runs, &header)).unwrap();
}

/// The four items that leave the API server up, at once on a few objects each, each in
/// its own namespace with its own operator, beside the other end-to-end tests.
#[tokio::test]
async fn a_small_chaos_run_end_to_end() {
    let out = repo_root().join("target/chaos-smoke");
    let small = || sizes(4, 2, 2, 0);
    let namespaces = ["kills", "faults", "leaders", "bad"].map(|item| fresh_namespace(&format!("chaos-smoke-{item}")));
    let (kills, faults, leaders, bad_input) = tokio::join!(
        chaos::kills(&namespaces[0], small(), 5, 3),
        chaos::faults(&namespaces[1], small(), 5),
        chaos::leaders(&namespaces[2], small(), 2, 7),
        chaos::bad_input(&namespaces[3]),
    );
    for (item, run) in [("kills", kills), ("faults", faults), ("leaders", leaders), ("bad_input", bad_input)] {
        write(&out, item, &run);
    }
    let mut runs = runs(&out);
    runs.remove("api_server");
    let text = chaos::report(&runs, "smoke");
    for section in ["## 1.", "## 2.", "## 4.", "## 5."] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
    assert!(runs["bad_input"]["rejected_by_api_server"].as_u64().unwrap() >= 25, "{}", runs["bad_input"]);
    assert!(runs["bad_input"]["refused_by_controller"].as_u64().unwrap() >= 5, "{}", runs["bad_input"]);
    eprintln!("{text}");
}

/// The item that stops the API server, alone: `make e2e` runs it after every other test.
#[tokio::test]
async fn a_small_api_server_outage_end_to_end() {
    let out = repo_root().join("target/chaos-smoke");
    let api = chaos::api_server(&fresh_namespace("chaos-smoke-api"), sizes(4, 2, 2, 0), Duration::from_secs(3)).await;
    write(&out, "api_server", &api);
    let runs = BTreeMap::from([("api_server".to_string(), api)]);
    let text = chaos::report(&runs, "smoke");
    assert!(text.contains("## 3. The API server goes away"), "{text}");
    eprintln!("{text}");
}
