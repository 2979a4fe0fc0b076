//! AwsAccount creation while the operator is killed with SIGKILL at random moments and
//! restarted each time, as a Deployment restarts a crashed container: every account is
//! created exactly once and every object becomes Ready.

use orgops_e2e::accounts::{PAYROLL, account, email, ready_count, setup, status_str, until_condition};
use orgops_e2e::aws::{self, organizations};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::{apply, condition, eventually};
use serde_json::json;
use std::time::{Duration, Instant};

const ACCOUNTS: usize = 12;
/// After the last restart, every object is Ready within this many seconds: the 60 s
/// grace of a marker whose request never left (the worst place for a kill), plus the
/// creations still to do.
const READY_WITHIN_S: u64 = 100;

/// xorshift64*: a small seeded generator, so a failing run can be replayed.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
}

#[tokio::test]
async fn a_batch_created_under_random_kills_gets_each_account_exactly_once() {
    let seed = env_number("ORGOPS_CHAOS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    // A namespace (and so emails) of its own per run, so that runs never meet.
    let ns = &format!("acct-chaos-{:04x}", seed & 0xffff);
    let api = setup(ns).await;
    let org = organizations().await;
    let kills = env_number("ORGOPS_CHAOS_KILLS").unwrap_or(10);
    eprintln!("chaos seed {seed}, {kills} kills (replay with ORGOPS_CHAOS_SEED={seed})");
    let mut random = Random(seed);

    // AWS calls counted by a proxy in front of moto, outside the process under test.
    let (proxy, calls) = orgops_e2e::proxy::counting().await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.aws_endpoint = Some(proxy);
    let mut operator = Operator::start(options).await;

    let names: Vec<String> = (0..ACCOUNTS).map(|i| format!("batch-{i:02}")).collect();
    let started = Instant::now();
    for name in &names {
        apply(&api, &account(ns, name, json!({}))).await.unwrap();
    }
    let watcher = api.clone();
    let all_ready = tokio::spawn(async move {
        eventually(600, "all Ready", || async { (ready_count(&watcher).await == ACCOUNTS).then(|| started.elapsed()) })
            .await
    });
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(300 + random.below(2200))).await;
        operator.kill9();
        operator.restart("3s").await;
    }
    let last_restart = Instant::now();
    eventually(READY_WITHIN_S, &format!("{ACCOUNTS} accounts Ready after the last restart (seed {seed})"), || async {
        (ready_count(&api).await == ACCOUNTS).then_some(())
    })
    .await;
    let restarts_took = last_restart.duration_since(started);
    eprintln!(
        "{ACCOUNTS} accounts Ready {:.1} s after they were applied ({kills} kills and restarts over the first {:.1} s)",
        all_ready.await.unwrap().as_secs_f64(),
        restarts_took.as_secs_f64()
    );

    let mut all = Vec::new();
    for name in &names {
        let ids = aws::accounts_with_email(&org, &email(ns, name)).await;
        assert_eq!(ids.len(), 1, "{name}: accounts with its email: {ids:?} (seed {seed})");
        all.extend(ids);
    }
    let in_namespace = aws::accounts_with_email_suffix(&org, &format!("@{ns}.example.com")).await;
    assert_eq!(in_namespace.len(), ACCOUNTS, "no account beyond one per object (seed {seed})");
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.get("CreateAccount"), Some(&(ACCOUNTS as u32)), "one CreateAccount per account: {calls:?}");
    eprintln!(
        "AWS calls per created account: {}",
        calls.iter().map(|(op, n)| format!("{op}={:.2}", *n as f64 / ACCOUNTS as f64)).collect::<Vec<_>>().join(" ")
    );
}

#[tokio::test]
async fn a_marker_whose_request_never_reached_aws_waits_out_the_grace_then_creates_once() {
    let ns = "acct-lost-marker";
    let api = setup(ns).await;
    let org = organizations().await;
    // A previous leader persisted the marker and died before sending CreateAccount.
    apply(&api, &account(ns, "main", json!({}))).await.unwrap();
    let marked_at = k8s_openapi::jiff::Timestamp::now();
    let status = json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "AwsAccount",
        "status": {"pendingCreation": {"requestedAt": marked_at.to_string()}}
    });
    api.patch_status(
        "main",
        &kube::api::PatchParams::apply("previous-leader").force(),
        &kube::api::Patch::Apply(&status),
    )
    .await
    .unwrap();
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.extra_args = vec!["--unconfirmed-create-grace".into(), "8s".into()];
    let operator = Operator::start(options).await;

    let waiting = until_condition(&api, "main", "Ready", "False", "Creating").await;
    let (_, _, message) = condition(&waiting, "Ready").unwrap();
    assert!(message.contains("to learn whether the CreateAccount sent at"), "{message}");
    assert!(aws::accounts_with_email(&org, &email(ns, "main")).await.is_empty());

    let ready = until_condition(&api, "main", "Ready", "True", "Available").await;
    let waited = k8s_openapi::jiff::Timestamp::now().duration_since(marked_at).as_secs_f64();
    eprintln!("created {waited:.1} s after the marker (grace 8 s)");
    assert!(waited >= 8.0, "created before the grace ended");
    let ids = aws::accounts_with_email(&org, &email(ns, "main")).await;
    assert_eq!(ids, [status_str(&ready, "accountId")]);
    assert_eq!(operator.aws_calls().get("CreateAccount"), Some(&1.0));
}

/// A crash loop must not buy a fresh CreateAccount burst: 20 accounts applied at once
/// behind a proxy that enforces AWS's 5 creations in progress (each held IN_PROGRESS for
/// a few polls), with the operator SIGKILLed and restarted every second or two. Each new
/// process counts the creations its predecessors left in flight from their persisted
/// markers before it sends any, so AWS never refuses a CreateAccount for that quota.
#[tokio::test]
async fn restarts_never_take_more_creations_in_progress_than_aws_allows() {
    const BATCH: usize = 20;
    let seed = env_number("ORGOPS_CHAOS_SEED").unwrap_or(7);
    // A namespace (and so emails) of its own per run, so that reruns create anew.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let ns = &format!("acct-quota-{:04x}", nanos & 0xffff);
    let api = setup(ns).await;
    let faults = orgops_e2e::faults::Faults { quota: true, in_progress_polls: 3, seed, ..Default::default() };
    let proxy = orgops_e2e::proxy::with_faults(faults).await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.aws_endpoint = Some(proxy.url.clone());
    // Few workers: after a restart, objects never reconciled may come before those whose
    // markers a predecessor left, as in a large backlog.
    options.extra_args = ["--poll-interval", "1s", "--concurrency", "3"].map(String::from).to_vec();
    let mut operator = Operator::start(options).await;
    let names: Vec<String> = (0..BATCH).map(|i| format!("quota-{i:02}")).collect();
    for name in &names {
        apply(&api, &account(ns, name, json!({}))).await.unwrap();
    }
    let mut random = Random(seed);
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(700 + random.below(1300))).await;
        operator.kill9();
        operator.restart("3s").await;
    }
    eventually(180, &format!("{BATCH} accounts Ready (seed {seed})"), || async {
        (ready_count(&api).await == BATCH).then_some(())
    })
    .await;
    let injected = proxy.injected();
    assert_eq!(injected.creations_over_quota, 0, "a CreateAccount refused for the in-progress quota: {injected:?}");
    assert!(injected.in_progress > 0, "creations were held in progress: {injected:?}");
    let creates = proxy.calls.lock().unwrap().get("organizations:CreateAccount").copied();
    assert_eq!(creates, Some(BATCH as u32), "one CreateAccount per account");
}
