//! Changes first at scale: with more accounts than the read budget lets a resync
//! re-check, a new AwsAccount is still created within seconds, both while the accounts
//! found at start-up are being adopted and while re-checks saturate the budget; the
//! re-checks stretch instead of starving anything, and the metric says by how much.

use orgops_e2e::accounts::{account, email, ready_count, setup, status_str, until_condition};
use orgops_e2e::aws::{self, organizations};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::{apply, eventually};
use serde_json::json;
use std::time::Instant;

const ADOPTED: usize = 150;
/// Organizations reads a second: a re-check of 150 accounts needs 15 s of tag reads,
/// plus the reads of the organization's snapshot, well over the resync.
const READ_RATE: &str = "10";
const RESYNC_S: f64 = 10.0;
/// A new account is Ready within this many seconds, whatever the queue holds.
const NEW_ACCOUNT_READY_WITHIN_S: f64 = 20.0;

fn metric(operator: &Operator, name: &str) -> f64 {
    operator.metrics().get(&format!("{name}{{kind=\"AwsAccount\"}}")).copied().unwrap_or(0.0)
}

async fn time_to_ready(api: &kube::Api<kube::api::DynamicObject>, ns: &str, name: &str) -> f64 {
    let applied = Instant::now();
    apply(api, &account(ns, name, json!({"organizationalUnit": "Root"}))).await.unwrap();
    until_condition(api, name, "Ready", "True", "Available").await;
    applied.elapsed().as_secs_f64()
}

#[tokio::test]
async fn a_new_account_is_created_within_seconds_while_the_read_budget_is_saturated() {
    let ns = "scale-starve";
    let api = setup(ns).await;
    let org = organizations().await;

    // An estate of existing accounts, each described by an object that adopts it by id,
    // with orgops's ownership tags already in place: adopting needs no write.
    let names: Vec<String> = (0..ADOPTED).map(|i| format!("estate-{i:03}")).collect();
    let mut ids = Vec::new();
    for name in &names {
        ids.push(aws::create_account(&org, name, &email(ns, name)).await);
    }
    for (name, id) in names.iter().zip(&ids) {
        let object =
            apply(&api, &account(ns, name, json!({"organizationalUnit": "Root", "accountId": id}))).await.unwrap();
        aws::set_tag(&org, id, "orgops.dev/owner", &format!("{ns}/{name}")).await;
        aws::set_tag(&org, id, "orgops.dev/uid", object.metadata.uid.as_deref().unwrap()).await;
    }

    let mut options = OperatorOptions::new(ns, &["Root"]);
    options.resync = "10s";
    options.extra_args = vec!["--organizations-read-rate".into(), READ_RATE.into()];
    let operator = Operator::start(options).await;
    let backlog = eventually(10, "the start-up backlog reported", || async {
        let pending = metric(&operator, "orgops_pending_objects");
        (pending > 0.0).then_some(pending)
    })
    .await;
    assert!(backlog >= 100.0, "the accounts found at start-up wait as a backlog, not as re-checks: {backlog}");

    // During the start-up backlog: the new account goes first. Applied once the first
    // adoption shows the organization's snapshot read: that first read is the same for
    // every object.
    eventually(120, "the first account adopted", || async { (ready_count(&api).await >= 1).then_some(()) }).await;
    let during_backlog = time_to_ready(&api, ns, "newcomer-1").await;
    let backlog_left = ADOPTED + 1 - ready_count(&api).await;
    eprintln!("new account Ready in {during_backlog:.1} s during the start-up backlog ({backlog_left} still to adopt)");
    assert!(backlog_left > 0, "the backlog was already gone: the test proves nothing");

    let started = Instant::now();
    eventually(240, "every adopted account Ready", || async { (ready_count(&api).await == ADOPTED + 1).then_some(()) })
        .await;
    eprintln!(
        "{ADOPTED} accounts adopted, the last {:.1} s after the new one was Ready",
        started.elapsed().as_secs_f64()
    );

    // Re-checks now need three times the budget a resync gives them.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let during_rechecks = time_to_ready(&api, ns, "newcomer-2").await;
    eprintln!("new account Ready in {during_rechecks:.1} s while re-checks saturate the read budget");
    for (name, seconds) in [("newcomer-1", during_backlog), ("newcomer-2", during_rechecks)] {
        assert!(seconds <= NEW_ACCOUNT_READY_WITHIN_S, "{name} took {seconds:.1} s");
        let object = api.get(name).await.unwrap();
        assert_eq!(aws::accounts_with_email(&org, &email(ns, name)).await, [status_str(&object, "accountId")]);
    }

    // Every adopted account is still re-checked: complete sweeps go on, stretched.
    let sweeps = metric(&operator, "orgops_sweeps_total");
    eventually(120, "two more complete sweeps", || async {
        (metric(&operator, "orgops_sweeps_total") >= sweeps + 2.0).then_some(())
    })
    .await;
    let period = metric(&operator, "orgops_recheck_period_seconds");
    eprintln!("each account re-checked every {period:.1} s in fact (resync {RESYNC_S} s, {READ_RATE} reads/s)");
    assert!(period > RESYNC_S, "the re-check period stretched past the resync: {period}");
    assert!(operator.log().contains("longer than --resync"), "the overrun is logged");
}
