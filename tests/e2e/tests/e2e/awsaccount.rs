//! AwsAccount end to end: the real API server, the operator as a process, moto as AWS.

use kube::api::DeleteParams;
use orgops_e2e::accounts::{PAYROLL, account, email, ready_count, setup, status_str, until_condition};
use orgops_e2e::aws::{self, organizations};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::{apply, condition, events_of, eventually};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Instant;

const BILLING: &str = "Workloads/Billing";

const WRITES: [&str; 6] =
    ["CreateAccount", "MoveAccount", "TagResource", "UntagResource", "PutAlternateContact", "CloseAccount"];

#[tokio::test]
async fn created_account_is_ready_in_its_ou_with_tags_and_contacts() {
    let ns = "acct-create";
    let api = setup(ns).await;
    let org = organizations().await;
    let operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    let spec = json!({
        "tags": {"team": "payroll", "env": "prod"},
        "alternateContacts": {"security": {"name": "Sec", "title": "Lead", "email": "sec@example.com", "phoneNumber": "+1 555 0100"}}
    });
    apply(&api, &account(ns, "main", spec)).await.unwrap();
    let object = until_condition(&api, "main", "Ready", "True", "Available").await;

    let id = status_str(&object, "accountId");
    assert_eq!(aws::accounts_with_email(&org, &email(ns, "main")).await, std::slice::from_ref(&id));
    assert_eq!(aws::parent_of(&org, &id).await, aws::ou_id(&org, PAYROLL).await);
    assert_eq!(status_str(&object, "ouPath"), PAYROLL);
    assert_eq!(status_str(&object, "state"), "ACTIVE");
    let tags = aws::tags_of(&org, &id).await;
    assert_eq!(tags.get("team").map(String::as_str), Some("payroll"));
    assert_eq!(tags.get("orgops.dev/owner").map(String::as_str), Some("acct-create/main"));
    assert_eq!(aws::security_contact_name(&id).await.as_deref(), Some("Sec"));
    let (synced, _, _) = condition(&object, "Synced").unwrap();
    assert_eq!(synced, "True");
    assert!(events_of(ns, "main").iter().any(|(reason, _)| reason == "Created"));
    assert_eq!(operator.aws_calls().get("CreateAccount"), Some(&1.0));
}

#[tokio::test]
async fn existing_accounts_are_adopted_by_id_and_by_email() {
    let ns = "acct-adopt";
    let api = setup(ns).await;
    let org = organizations().await;
    let mut ids = Vec::new();
    for name in ["by-id", "by-email"] {
        ids.push(aws::create_account_in(&org, name, &email(ns, name), PAYROLL).await);
    }
    let operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    apply(&api, &account(ns, "by-id", json!({"accountId": ids[0]}))).await.unwrap();
    apply(&api, &account(ns, "by-email", json!({}))).await.unwrap();
    for (name, id) in ["by-id", "by-email"].iter().zip(&ids) {
        let object = until_condition(&api, name, "Ready", "True", "Available").await;
        assert_eq!(&status_str(&object, "accountId"), id);
        assert!(events_of(ns, name).iter().any(|(reason, _)| reason == "Adopted"), "{name}: Adopted event");
        assert_eq!(aws::accounts_with_email(&org, &email(ns, name)).await.len(), 1);
    }
    assert_eq!(operator.aws_calls().get("CreateAccount"), None, "adoption never creates");
}

#[tokio::test]
async fn out_of_band_changes_are_corrected_within_a_resync() {
    let ns = "acct-drift";
    let api = setup(ns).await;
    let org = organizations().await;
    let _operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    let security = json!({"name": "Sec", "title": "Lead", "email": "sec@example.com", "phoneNumber": "+1 555 0100"});
    let spec = json!({"tags": {"team": "payroll"}, "alternateContacts": {"security": security}});
    apply(&api, &account(ns, "main", spec)).await.unwrap();
    let object = until_condition(&api, "main", "Ready", "True", "Available").await;
    let id = status_str(&object, "accountId");
    let payroll = aws::ou_id(&org, PAYROLL).await;
    let billing = aws::ou_id(&org, BILLING).await;

    // An intruder moves the account, edits a tag, adds one and replaces a contact.
    org.move_account().account_id(&id).source_parent_id(&payroll).destination_parent_id(&billing).send().await.unwrap();
    aws::set_tag(&org, &id, "team", "intruder").await;
    aws::set_tag(&org, &id, "stray", "x").await;
    aws::set_security_contact(&id, "Intruder").await;
    let changed_at = Instant::now();

    eventually(15, "drift corrected", || async {
        let tags = aws::tags_of(&org, &id).await;
        let back = aws::parent_of(&org, &id).await == payroll
            && tags.get("team").map(String::as_str) == Some("payroll")
            && !tags.contains_key("stray")
            && aws::security_contact_name(&id).await.as_deref() == Some("Sec");
        back.then_some(())
    })
    .await;
    eprintln!("drift corrected {:.1} s after the out-of-band change (resync 3 s)", changed_at.elapsed().as_secs_f64());
    let object = api.get("main").await.unwrap();
    let drift = &object.data["status"]["lastDrift"];
    assert_eq!(drift["corrected"], true);
    let fields: Vec<&str> = drift["fields"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(!fields.is_empty());
    // A sweep may fall between the intruder's edits, so the fields may span two Events.
    let corrected = || async {
        let events = events_of(ns, "main");
        events.into_iter().filter(|(r, _)| r == "DriftCorrected").map(|(_, m)| m).collect::<Vec<_>>()
    };
    let first = corrected().await;
    for change in [
        &format!("organizationalUnit: {BILLING} → {PAYROLL}"),
        "tags.team: intruder → payroll",
        "tags.stray: x → (absent)",
        "alternateContacts.security: Intruder <intruder@example.com> → Sec <sec@example.com>",
    ] {
        assert!(first.iter().any(|m| m.contains(change)), "{change} not reported: {first:?}");
    }

    // A second, different correction is an Event of its own, not folded into the first.
    aws::set_tag(&org, &id, "team", "other-intruder").await;
    let second = eventually(15, "a second DriftCorrected Event", || async {
        let now = corrected().await;
        (now.len() > first.len()).then_some(now)
    })
    .await;
    assert!(second.iter().any(|m| m.contains("tags.team: other-intruder → payroll")), "{second:?}");
    assert!(first.iter().all(|m| second.contains(m)), "earlier corrections are kept: {second:?}");
}

/// Samples the time from an out-of-band OU move to its correction, at spread points of
/// the resync cycle; each must be within one resync plus a pass.
#[tokio::test]
async fn a_move_is_corrected_within_one_resync_wherever_it_lands_in_the_cycle() {
    const RESYNC_S: f64 = 10.0;
    // One sweep of this namespace: the snapshot of the shared test organization, then one
    // account, read at 8 calls a second on a loaded machine.
    const MARGIN_S: f64 = 4.0;
    let ns = "acct-drift-bound";
    let api = setup(ns).await;
    let org = organizations().await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.resync = "10s";
    let _operator = Operator::start(options).await;
    apply(&api, &account(ns, "main", json!({}))).await.unwrap();
    let id = status_str(&until_condition(&api, "main", "Ready", "True", "Available").await, "accountId");
    let payroll = aws::ou_id(&org, PAYROLL).await;
    let billing = aws::ou_id(&org, BILLING).await;

    let mut samples = Vec::new();
    for step in 0..6 {
        // Corrections happen just after a sweep begins: waiting step/6 of a resync after
        // one puts the next move at that point of the cycle.
        tokio::time::sleep(std::time::Duration::from_secs_f64(RESYNC_S * step as f64 / 6.0 + 0.3)).await;
        org.move_account()
            .account_id(&id)
            .source_parent_id(&payroll)
            .destination_parent_id(&billing)
            .send()
            .await
            .unwrap();
        let moved = Instant::now();
        eventually(30, "the move corrected", || async { (aws::parent_of(&org, &id).await == payroll).then_some(()) })
            .await;
        samples.push(moved.elapsed().as_secs_f64());
    }
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "OU move corrected after min {:.1} s, median {:.1} s, max {:.1} s (resync {RESYNC_S} s): {samples:.1?}",
        sorted[0],
        (sorted[2] + sorted[3]) / 2.0,
        sorted[5]
    );
    assert!(
        sorted[5] <= RESYNC_S + MARGIN_S,
        "a correction took longer than one resync plus {MARGIN_S} s: {samples:?}"
    );
    let object = api.get("main").await.unwrap();
    assert_eq!(object.data["status"]["lastDrift"]["fields"], json!(["organizationalUnit"]));
}

#[tokio::test]
async fn report_policy_leaves_aws_alone_and_reports() {
    let ns = "acct-report";
    let api = setup(ns).await;
    let org = organizations().await;
    let operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    apply(&api, &account(ns, "main", json!({"driftPolicy": "Report", "tags": {"team": "payroll"}}))).await.unwrap();
    let object = until_condition(&api, "main", "Ready", "True", "Available").await;
    let id = status_str(&object, "accountId");
    let writes_before: f64 = WRITES.iter().filter_map(|w| operator.aws_calls().get(*w).copied()).sum();

    aws::set_tag(&org, &id, "team", "intruder").await;
    let object = until_condition(&api, "main", "Synced", "False", "DriftDetected").await;
    assert_eq!(object.data["status"]["lastDrift"]["corrected"], false);
    tokio::time::sleep(std::time::Duration::from_secs(7)).await; // two more resyncs
    assert_eq!(aws::tags_of(&org, &id).await.get("team").map(String::as_str), Some("intruder"));
    let writes_after: f64 = WRITES.iter().filter_map(|w| operator.aws_calls().get(*w).copied()).sum();
    assert_eq!(writes_before, writes_after, "no AWS write after the drift");
    let drifted = operator.metrics();
    assert_eq!(drifted.get("orgops_drifted{kind=\"AwsAccount\",name=\"main\",namespace=\"acct-report\"}"), Some(&1.0));
}

#[tokio::test]
async fn observe_only_makes_zero_write_calls() {
    let ns = "acct-observe";
    let api = setup(ns).await;
    let org = organizations().await;
    let id = aws::create_account(&org, "observed", &email(ns, "observed")).await;
    let operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL, "Root"])).await;
    // Differs from AWS in OU and tags, and a second one does not exist at all.
    apply(
        &api,
        &account(ns, "observed", json!({"managementPolicy": "ObserveOnly", "accountId": id, "tags": {"team": "x"}})),
    )
    .await
    .unwrap();
    apply(&api, &account(ns, "missing", json!({"managementPolicy": "ObserveOnly"}))).await.unwrap();

    let observed = until_condition(&api, "observed", "Synced", "False", "DriftDetected").await;
    assert_eq!(status_str(&observed, "accountId"), id);
    until_condition(&api, "missing", "Ready", "False", "Unavailable").await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await; // another resync
    let calls = operator.aws_calls();
    for write in WRITES {
        assert_eq!(calls.get(write), None, "{write} was called: {calls:?}");
    }
    assert!(aws::accounts_with_email(&org, &email(ns, "missing")).await.is_empty());
    assert!(api.get("observed").await.unwrap().metadata.finalizers.is_none(), "no finalizer: nothing to clean up");
}

#[tokio::test]
async fn an_ou_outside_the_policy_is_forbidden_and_nothing_is_created() {
    let ns = "acct-forbid";
    let api = setup(ns).await;
    let org = organizations().await;
    let operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    apply(&api, &account(ns, "elsewhere", json!({"organizationalUnit": BILLING}))).await.unwrap();
    let object = until_condition(&api, "elsewhere", "Synced", "False", "Forbidden").await;
    let (_, _, message) = condition(&object, "Synced").unwrap();
    assert!(message.contains("spec.organizationalUnit") && message.contains(BILLING), "{message}");
    assert!(events_of(ns, "elsewhere").iter().any(|(reason, _)| reason == "Forbidden"));
    assert!(aws::accounts_with_email(&org, &email(ns, "elsewhere")).await.is_empty());
    assert_eq!(operator.aws_calls().get("CreateAccount"), None);
}

#[tokio::test]
async fn deletion_retains_or_closes_the_account() {
    let ns = "acct-delete";
    let api = setup(ns).await;
    let org = organizations().await;
    let _operator = Operator::start(OperatorOptions::new(ns, &[PAYROLL])).await;
    apply(&api, &account(ns, "kept", json!({}))).await.unwrap();
    apply(&api, &account(ns, "closed", json!({"deletionPolicy": "Delete"}))).await.unwrap();
    let mut ids = Vec::new();
    for name in ["kept", "closed"] {
        ids.push(status_str(&until_condition(&api, name, "Ready", "True", "Available").await, "accountId"));
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for name in ["kept", "closed"] {
        eventually(30, &format!("{name} gone"), || async { api.get_opt(name).await.unwrap().is_none().then_some(()) })
            .await;
    }
    assert_eq!(aws::state_of(&org, &ids[0]).await, "ACTIVE", "Retain leaves the account");
    assert_eq!(aws::state_of(&org, &ids[1]).await, "SUSPENDED", "Delete closes it");
}

#[tokio::test]
async fn killed_right_after_create_account_the_restarted_operator_creates_no_second_account() {
    let ns = "acct-crash";
    let api = setup(ns).await;
    let org = organizations().await;
    // Moto has created the account; the operator is killed before it reads the answer.
    let (proxy, pid) = orgops_e2e::proxy::killing_after("CreateAccount").await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.aws_endpoint = Some(proxy);
    let mut operator = Operator::start(options).await;
    pid.store(operator.pid(), Ordering::SeqCst);

    apply(&api, &account(ns, "main", json!({}))).await.unwrap();
    eventually(30, "the operator killed by the proxy", || async { (pid.load(Ordering::SeqCst) == 0).then_some(()) })
        .await;
    operator.kill9();
    let object = api.get("main").await.unwrap();
    let pending = &object.data["status"]["pendingCreation"];
    assert!(pending["requestedAt"].is_string(), "the marker was persisted before CreateAccount: {pending}");
    assert!(pending["requestId"].is_null(), "the answer never reached the operator: {pending}");
    assert_eq!(aws::accounts_with_email(&org, &email(ns, "main")).await.len(), 1, "AWS created it");

    operator.restart("3s").await;
    let object = until_condition(&api, "main", "Ready", "True", "Available").await;
    let ids = aws::accounts_with_email(&org, &email(ns, "main")).await;
    assert_eq!(ids, [status_str(&object, "accountId")], "exactly one account with that email");
    assert_eq!(operator.aws_calls().get("CreateAccount"), None, "the restarted operator sent no CreateAccount");
    assert!(object.data["status"]["pendingCreation"].is_null());
}

#[tokio::test]
async fn fifty_accounts_created_concurrently_are_all_ready_each_once() {
    let ns = "acct-fifty";
    let api = setup(ns).await;
    let org = organizations().await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.resync = "20s";
    let operator = Operator::start(options).await;
    let names: Vec<String> = (0..50).map(|i| format!("team-{i:02}")).collect();
    let started = Instant::now();
    for name in &names {
        apply(&api, &account(ns, name, json!({"tags": {"team": name}}))).await.unwrap();
    }
    eventually(240, "50 accounts Ready", || async { (ready_count(&api).await == names.len()).then_some(()) }).await;
    let elapsed = started.elapsed();
    let calls = operator.aws_calls();
    for name in &names {
        assert_eq!(aws::accounts_with_email(&org, &email(ns, name)).await.len(), 1, "{name}");
    }
    assert_eq!(calls.get("CreateAccount"), Some(&50.0));

    // One more resync with nothing to do: only reads.
    let before = operator.aws_calls();
    tokio::time::sleep(std::time::Duration::from_secs(21)).await;
    let after = operator.aws_calls();
    let per_resync: Vec<String> = after
        .iter()
        .map(|(op, n)| (op, n - before.get(op).copied().unwrap_or(0.0)))
        .filter(|(_, n)| *n > 0.0)
        .map(|(op, n)| format!("{op}={n}"))
        .collect();
    for write in WRITES {
        assert_eq!(after.get(write), calls.get(write), "{write} called while nothing changed");
    }
    eprintln!("50 accounts Ready in {:.1} s", elapsed.as_secs_f64());
    eprintln!(
        "calls per created account: {}",
        calls.iter().map(|(op, n)| format!("{op}={:.2}", n / 50.0)).collect::<Vec<_>>().join(" ")
    );
    eprintln!("calls in one idle resync of 50 accounts: {}", per_resync.join(" "));
    eprintln!("operator resident set after 50 accounts: {} kB", operator.resident_kib());
}

/// Accounts a team names but does not own: team-b's objects name team-a's observed
/// account by id, an account no object names by email, an id outside the organization,
/// and an account an older object of team-b observes, each
/// with deletionPolicy Delete, beside accounts it does own (created, adopted, retained).
/// The operator stops between apply and delete and two statuses are stripped meanwhile.
/// Only what team-b owns is closed; everything else is gone from the cluster within
/// seconds with no write at all.
#[tokio::test]
async fn a_team_deletes_only_what_it_owns_whatever_its_objects_name() {
    let (ns_a, ns_b) = ("own-team-a", "own-team-b");
    let (api_a, api_b) = (setup(ns_a).await, setup(ns_b).await);
    let org = organizations().await;
    let core_email = email(ns_a, "core");
    let observed = aws::existing_account_in(&org, "core", &core_email, PAYROLL).await;
    let security_email = email(ns_a, "security");
    let untouched = aws::existing_account_in(&org, "security", &security_email, PAYROLL).await;
    let old_email = email(ns_b, "adopted");
    let adoptable = aws::existing_account_in(&org, "adopted", &old_email, BILLING).await;
    let shared_email = email(ns_b, "shared");
    let shared = aws::existing_account_in(&org, "shared", &shared_email, BILLING).await;

    // team-a observes its account read-only: no ownership tag is written.
    let _team_a = Operator::start(OperatorOptions::new(ns_a, &[PAYROLL])).await;
    let core = json!({"managementPolicy": "ObserveOnly", "accountId": observed});
    apply(&api_a, &account(ns_a, "core", core)).await.unwrap();
    until_condition(&api_a, "core", "Ready", "True", "Available").await;

    // team-b is granted Billing only; every write it makes is logged with its body.
    let proxy = orgops_e2e::proxy::with_faults(Default::default()).await;
    let mut options = OperatorOptions::new(ns_b, &[BILLING]);
    options.aws_endpoint = Some(proxy.url.clone());
    let mut team_b = Operator::start(options).await;
    let shared_observer =
        json!({"managementPolicy": "ObserveOnly", "accountId": shared, "organizationalUnit": BILLING});
    apply(&api_b, &account(ns_b, "shared", shared_observer)).await.unwrap();
    until_condition(&api_b, "shared", "Ready", "True", "Available").await;

    let spec = |extra: Value| {
        let mut spec = json!({"deletionPolicy": "Delete", "organizationalUnit": BILLING});
        orgops_e2e::merge(&mut spec, &extra);
        spec
    };
    let outside_ous = "outside the organizational units";
    let refused = [
        ("by-id", spec(json!({"accountId": observed, "email": core_email})), "Forbidden", outside_ous),
        ("by-email", spec(json!({"email": security_email})), "Forbidden", outside_ous),
        (
            "missing",
            spec(json!({"accountId": "999999999999"})),
            "ReconcileError",
            "not an account of this organization",
        ),
        (
            "squatter",
            spec(json!({"accountId": shared, "email": shared_email})),
            "Forbidden",
            "already claimed by AwsAccount own-team-b/shared, which is older",
        ),
    ];
    let owned = [
        ("adopted", spec(json!({"accountId": adoptable, "email": old_email}))),
        ("created", spec(json!({}))),
        ("kept", spec(json!({"deletionPolicy": "Retain"}))),
    ];
    for (name, spec) in refused.iter().map(|(n, s, ..)| (n, s)).chain(owned.iter().map(|(n, s)| (n, s))) {
        apply(&api_b, &account(ns_b, name, spec.clone())).await.unwrap();
    }
    for (name, _, reason, rule) in &refused {
        let object = until_condition(&api_b, name, "Synced", "False", reason).await;
        let (_, _, message) = condition(&object, "Synced").unwrap();
        assert!(message.contains(rule), "{name}: {message}");
    }
    let mut ids = std::collections::BTreeMap::new();
    for (name, _) in &owned {
        let object = until_condition(&api_b, name, "Ready", "True", "Available").await;
        assert_eq!(object.data["status"]["owned"], true, "{name}");
        ids.insert(*name, status_str(&object, "accountId"));
    }
    assert_eq!(ids["adopted"], adoptable);

    // The operator stops; two refused objects lose their status (re-applied from git,
    // say); then every object of team-b is deleted and the operator comes back.
    team_b.terminate().await;
    for name in ["by-id", "missing"] {
        let strip = kube::api::Patch::Merge(json!({"status": null}));
        api_b.patch_status(name, &kube::api::PatchParams::default(), &strip).await.unwrap();
    }
    let names: Vec<&str> =
        refused.iter().map(|(n, ..)| *n).chain(owned.iter().map(|(n, _)| *n)).chain(["shared"]).collect();
    for name in &names {
        api_b.delete(name, &DeleteParams::default()).await.unwrap();
    }
    let started = Instant::now();
    team_b.restart("3s").await;
    orgops_e2e::delete_and_wait_gone(&api_b, &names, 30).await;
    eprintln!("every object of team-b gone {:.1} s after the operator restarted", started.elapsed().as_secs_f64());

    let writes = proxy.write_log.lock().unwrap().clone();
    let closed: Vec<&String> = writes.iter().filter(|w| w.call.ends_with(":CloseAccount")).map(|w| &w.body).collect();
    assert_eq!(closed.len(), 2, "{closed:?}");
    assert!(closed.iter().any(|b| b.contains(&ids["adopted"])) && closed.iter().any(|b| b.contains(&ids["created"])));
    for foreign in [&observed, &untouched, &shared] {
        let touching: Vec<_> = writes.iter().filter(|w| w.names(foreign)).collect();
        assert!(touching.is_empty(), "a write to account {foreign} that team-b does not own: {touching:?}");
        assert_eq!(aws::state_of(&org, foreign).await, "ACTIVE");
        assert!(!aws::tags_of(&org, foreign).await.contains_key("orgops.dev/owner"), "{foreign}");
    }
    assert_eq!(aws::state_of(&org, &ids["adopted"]).await, "SUSPENDED");
    assert_eq!(aws::state_of(&org, &ids["created"]).await, "SUSPENDED");
    assert_eq!(aws::state_of(&org, &ids["kept"]).await, "ACTIVE", "Retain leaves it");
    for (name, ..) in &refused {
        let events = events_of(ns_b, name);
        let left = events.iter().find(|(r, m)| r == "Deleted" && m.starts_with("left in AWS, untouched"));
        assert!(left.is_some(), "{name}: {events:?}");
    }
    until_condition(&api_a, "core", "Ready", "True", "Available").await;
}
