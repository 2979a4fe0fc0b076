//! Bringing an existing estate under orgops read-only: matching accounts observed with
//! `ObserveOnly` are Ready and Synced with no AWS write, although they lack orgops's
//! ownership tags; switching one to `Full` adopts it (the tags are written, Event
//! `Adopted`), and from then on losing them is drift.

use orgops_e2e::accounts::{PAYROLL, account, email, setup, until_condition};
use orgops_e2e::aws::{self, organizations};
use orgops_e2e::operator::{Operator, OperatorOptions};
use orgops_e2e::{apply, condition, events_of, eventually};
use serde_json::json;
use std::collections::BTreeMap;

/// Organizations writes (the spec declares no contacts, so no Account Management call).
const WRITES: [&str; 5] = ["CreateAccount", "MoveAccount", "TagResource", "UntagResource", "CloseAccount"];

#[tokio::test]
async fn an_estate_observed_read_only_is_in_sync_and_adopting_one_writes_its_ownership() {
    let ns = "adopt-observe";
    let api = setup(ns).await;
    let org = organizations().await;
    let names: Vec<String> = (0..5).map(|i| format!("estate-{i}")).collect();
    let mut ids = Vec::new();
    for name in &names {
        let id = aws::create_account_in(&org, name, &email(ns, name), PAYROLL).await;
        aws::set_tag(&org, &id, "team", "payroll").await;
        ids.push(id);
    }

    // Every call the operator makes, counted by a proxy in front of moto.
    let (proxy, calls) = orgops_e2e::proxy::counting().await;
    let mut options = OperatorOptions::new(ns, &[PAYROLL]);
    options.aws_endpoint = Some(proxy);
    let operator = Operator::start(options).await;
    let observed = |name: &str, id: &str, extra: serde_json::Value| {
        let mut spec = json!({"managementPolicy": "ObserveOnly", "accountId": id, "tags": {"team": "payroll"}});
        orgops_e2e::merge(&mut spec, &extra);
        account(ns, name, spec)
    };
    for (name, id) in names.iter().zip(&ids) {
        apply(&api, &observed(name, id, json!({}))).await.unwrap();
    }
    for name in &names {
        let object = until_condition(&api, name, "Synced", "True", "ReconcileSuccess").await;
        let (ready, _, message) = condition(&object, "Ready").unwrap();
        assert_eq!(ready, "True", "{name}");
        assert!(message.contains("not owned by orgops"), "{name}: {message}");
        assert_eq!(object.data["status"]["owned"], false, "{name}");
        assert!(object.data["status"]["lastDrift"].is_null(), "{name}: {}", object.data["status"]);
    }
    tokio::time::sleep(std::time::Duration::from_secs(4)).await; // a sweep more
    let writes = |calls: &BTreeMap<String, u32>| WRITES.iter().filter_map(|w| calls.get(*w)).sum::<u32>();
    let seen = calls.lock().unwrap().clone();
    assert_eq!(writes(&seen), 0, "no AWS write: {seen:?}");
    let drifted: f64 =
        operator.metrics().iter().filter(|(k, _)| k.starts_with("orgops_drifted{")).map(|(_, v)| v).sum();
    assert_eq!(drifted, 0.0, "the drift gauge");

    // A real difference is drift, named alone.
    apply(&api, &observed(&names[0], &ids[0], json!({"tags": {"cost-center": "42"}}))).await.unwrap();
    let object = until_condition(&api, &names[0], "Synced", "False", "DriftDetected").await;
    let (_, _, message) = condition(&object, "Synced").unwrap();
    assert!(message.contains("tags.cost-center: (absent) → 42") && !message.contains("orgops.dev"), "{message}");
    assert_eq!(object.data["status"]["lastDrift"]["fields"], json!(["tags.cost-center"]));
    assert_eq!(writes(&calls.lock().unwrap()), 0);

    // Switched to Full: adopted, the ownership tags written, then in sync.
    apply(&api, &observed(&names[1], &ids[1], json!({"managementPolicy": "Full"}))).await.unwrap();
    let object = eventually(30, "adopted under Full", || async {
        let object = api.get(&names[1]).await.ok()?;
        let synced = condition(&object, "Synced").is_some_and(|(s, _, _)| s == "True");
        (synced && object.data["status"]["owned"] == true).then_some(object)
    })
    .await;
    let tags = aws::tags_of(&org, &ids[1]).await;
    assert_eq!(tags.get("orgops.dev/owner"), Some(&format!("{ns}/{}", names[1])));
    assert_eq!(tags.get("orgops.dev/uid").map(String::as_str), object.metadata.uid.as_deref());
    let events = events_of(ns, &names[1]);
    assert!(events.iter().any(|(r, m)| r == "Adopted" && m.contains("ownership tags")), "{events:?}");
    assert!(!events.iter().any(|(r, _)| r.starts_with("Drift")), "adoption is no drift: {events:?}");
    assert_eq!(calls.lock().unwrap().get("TagResource"), Some(&1), "one TagResource for the two tags");

    // Its owner tag removed out of band: restored and reported as drift.
    aws::remove_tag(&org, &ids[1], "orgops.dev/owner").await;
    eventually(15, "the owner tag restored", || async {
        aws::tags_of(&org, &ids[1]).await.contains_key("orgops.dev/owner").then_some(())
    })
    .await;
    let events = eventually(10, "DriftCorrected", || async {
        let events = events_of(ns, &names[1]);
        events.iter().any(|(r, m)| r == "DriftCorrected" && m.contains("tags.orgops.dev/owner")).then_some(events)
    })
    .await;
    assert!(events.iter().any(|(r, _)| r == "DriftDetected"), "{events:?}");
    assert_eq!(writes(&calls.lock().unwrap()), 2, "only the adoption and the correction wrote");
}
