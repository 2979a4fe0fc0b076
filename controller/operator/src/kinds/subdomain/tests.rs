//! SubdomainDelegation against Route 53 in memory: what moto cannot produce (changes
//! PENDING then INSYNC, PriorRequestNotComplete, a CallerReference already used), the
//! guardrails and conflicts, drift and deletion.

use super::*;
use crate::aws::FailureKind;
use crate::aws::route53::fake::{FakeRoute53, route53_error};
use crate::kinds::directory::fake::{Accounts, Claims};
use crate::policy::Policy;
use crate::reconcile::NoSink;
use crate::reconcile::error::{ErrorClass, TerminalReason};
use orgops_api::SubdomainDelegationStatus as Status;

const TEAM: &str = "111100000001";
const CENTRAL: &str = "999900000009";

struct Fixture {
    route53: Arc<FakeRoute53>,
    parent_zone: String,
    kind: SubdomainKind<Arc<FakeRoute53>, Accounts, Arc<Claims>>,
    delegations: Arc<Claims>,
}

fn fixture() -> Fixture {
    let route53 = FakeRoute53::new();
    let parent_zone = route53.add_zone(CENTRAL, "example.com", "platform", Default::default());
    let policy: Policy = yaml_serde::from_str(&format!(
        "namespaces: {{payroll: {{parentDomains: [{{domain: example.com, zoneId: {parent_zone}, accountId: '{CENTRAL}'}}]}}}}"
    ))
    .unwrap();
    let delegations = Arc::new(Claims::default());
    let kind = SubdomainKind::new(
        Arc::new(DnsView::new(route53.clone())),
        Accounts::with("payroll", "payroll-prod", TEAM),
        delegations.clone(),
        Arc::new(PolicyStore::fixed(policy)),
    );
    Fixture { route53, parent_zone, kind, delegations }
}

fn delegation(extra: serde_json::Value) -> SubdomainDelegation {
    let mut object = serde_json::json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "SubdomainDelegation",
        "metadata": {"name": "payroll", "namespace": "payroll", "uid": "uid-1", "generation": 1,
                     "creationTimestamp": "2026-12-01T00:00:00Z"},
        "spec": {"domain": "payroll.example.com", "parentDomain": "example.com", "account": {"accountRef": "payroll-prod"}, "ttl": 300}
    });
    if let (Some(spec), serde_json::Value::Object(extra)) = (object["spec"].as_object_mut(), extra) {
        spec.extend(extra);
    }
    serde_json::from_value(object).unwrap()
}

fn grants(f: &Fixture) -> Grants {
    f.kind.policy.grants("payroll")
}

async fn created(f: &Fixture, obj: &SubdomainDelegation) -> (Status, Progress) {
    let mut status = Status::default();
    assert_eq!(f.kind.check_policy(obj, &grants(f)).await, Ok(()));
    assert_eq!(f.kind.observe(obj, &mut status).await, Ok(Observation::Absent));
    let progress = f.kind.create(obj, &mut status, &NoSink).await.unwrap();
    (status, progress)
}

fn present(observation: Observation) -> (Vec<FieldDiff>, Availability, Option<Linked>) {
    match observation {
        Observation::Present { diffs, availability, linked } => (diffs, availability, linked),
        Observation::Absent => panic!("absent"),
    }
}

#[tokio::test]
async fn the_zone_is_made_in_the_team_account_and_delegated_from_the_central_one() {
    let f = fixture();
    let obj = delegation(serde_json::json!({}));
    let (mut status, progress) = created(&f, &obj).await;
    assert!(matches!(progress, Progress::Done(_)), "{progress:?}");
    let zone = status.zone_id.clone().unwrap();
    assert_eq!(f.route53.zones_in(TEAM).len(), 1, "in the team account");
    assert_eq!(f.route53.zones_in(CENTRAL).len(), 1, "the parent only");
    let record = f.route53.record(CENTRAL, &f.parent_zone, "payroll.example.com").unwrap();
    assert_eq!(record.values, status.name_servers);
    assert_eq!(record.ttl, Some(300));
    assert!(status.delegated && status.parent_zone_id.as_deref() == Some(f.parent_zone.as_str()));
    let uid = f.route53.state.lock().unwrap().zones[&(TEAM.to_string(), zone)].tags.get(ownership::UID_TAG).cloned();
    assert_eq!(uid.as_deref(), Some("uid-1"));
    let (diffs, availability, _) = present(f.kind.observe(&obj, &mut status).await.unwrap());
    assert!(diffs.is_empty(), "{diffs:?}");
    assert_eq!(availability, Availability::Available);
}

#[tokio::test]
async fn a_pending_change_is_waited_for_then_in_sync() {
    let f = fixture();
    let obj = delegation(serde_json::json!({}));
    {
        let mut s = f.route53.state.lock().unwrap();
        s.scripts.push_back(vec![ChangeState::InSync]); // the zone's own creation
        s.scripts.push_back(vec![ChangeState::Pending, ChangeState::Pending, ChangeState::InSync]);
    }
    let (mut status, progress) = created(&f, &obj).await;
    assert!(matches!(progress, Progress::InProgress(_)), "{progress:?}");
    assert!(status.change_id.is_some() && !status.delegated);
    let error = f.kind.observe(&obj, &mut status).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Waiting, "{error:?}");
    let (diffs, availability, _) = present(f.kind.observe(&obj, &mut status).await.unwrap());
    assert!(diffs.is_empty() && availability == Availability::Available);
    assert!(status.change_id.is_none() && status.delegated);
}

#[tokio::test]
async fn prior_request_not_complete_is_retried() {
    let f = fixture();
    let obj = delegation(serde_json::json!({}));
    f.route53.fail_next("ChangeResourceRecordSets", route53_error(FailureKind::Throttled, "PriorRequestNotComplete"));
    let mut status = Status::default();
    f.kind.observe(&obj, &mut status).await.unwrap();
    let error = f.kind.create(&obj, &mut status, &NoSink).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Retryable, "{error:?}");
    // The zone exists (its id in status); the next pass delegates it.
    let (diffs, _, _) = present(f.kind.observe(&obj, &mut status).await.unwrap());
    assert_eq!(diffs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["delegation"]);
    f.kind.update(&obj, &mut status, &diffs).await.unwrap();
    assert!(status.delegated);
    assert_eq!(f.route53.count("CreateHostedZone"), 1);
}

#[tokio::test]
async fn a_zone_whose_create_answer_was_lost_is_found_by_its_caller_reference() {
    let f = fixture();
    let obj = delegation(serde_json::json!({}));
    let reference = rules::caller_reference("uid-1", "payroll.example.com", 0);
    let zone = f.route53.add_zone(TEAM, "payroll.example.com", &reference, Default::default());
    let mut status = Status::default();
    let (diffs, _, linked) = present(f.kind.observe(&obj, &mut status).await.unwrap());
    assert!(matches!(linked, Some(Linked::Created(_))), "{linked:?}");
    assert_eq!(status.zone_id.as_deref(), Some(zone.as_str()));
    assert_eq!(diffs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["delegation"]);
    assert_eq!(f.route53.count("CreateHostedZone"), 0);

    // And when AWS answers that the CallerReference was used, no second zone appears.
    f.route53.fail_next("CreateHostedZone", route53_error(FailureKind::Client, "HostedZoneAlreadyExists"));
    let error = f.kind.create(&obj, &mut Status::default(), &NoSink).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Retryable);
    assert_eq!(f.route53.zones_in(TEAM).len(), 1);
}

#[tokio::test]
async fn a_zone_named_by_the_adopt_annotation_is_adopted_with_no_zone_created() {
    let f = fixture();
    let mut obj = delegation(serde_json::json!({}));
    let theirs = f.route53.add_zone(TEAM, "payroll.example.com", "terraform", Default::default());
    obj.metadata.annotations = Some([(ownership::ADOPT_ANNOTATION.to_string(), theirs.clone())].into());
    let mut status = Status::default();
    let Observation::Present { linked, diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else {
        panic!("present")
    };
    assert!(matches!(linked, Some(Linked::Adopted(_))), "{linked:?}");
    assert_eq!(status.zone_id.as_deref(), Some(theirs.as_str()));
    assert!(diffs.iter().any(|d| d.ownership), "the update tags it: {diffs:?}");
    assert_eq!(f.route53.zones_in(TEAM).len(), 1);
}

#[tokio::test]
async fn a_zone_of_that_name_owned_by_no_one_and_a_foreign_parent_record_are_refused_with_no_write() {
    let f = fixture();
    let obj = delegation(serde_json::json!({}));
    let theirs = f.route53.add_zone(TEAM, "payroll.example.com", "terraform", Default::default());
    let error = f.kind.observe(&obj, &mut Status::default()).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Terminal);
    assert!(error.message.contains(&theirs) && error.message.contains("not owned by this object"), "{}", error.message);

    let f = fixture();
    let foreign = RecordSet {
        name: "payroll.example.com".into(),
        kind: "NS".into(),
        ttl: Some(60),
        values: vec!["ns1.elsewhere.net".into()],
    };
    f.route53.set_record(CENTRAL, &f.parent_zone, Some(foreign), "payroll.example.com");
    let error = f.kind.observe(&obj, &mut Status::default()).await.unwrap_err();
    assert_eq!(error.reason, TerminalReason::Forbidden);
    assert!(
        error.message.contains("ns1.elsewhere.net") && error.message.contains("never overwritten"),
        "{}",
        error.message
    );
    assert_eq!(f.route53.writes(), 0);
}

#[tokio::test]
async fn a_changed_or_deleted_parent_record_is_restored() {
    let f = fixture();
    let obj = delegation(serde_json::json!({}));
    let (mut status, _) = created(&f, &obj).await;
    for record in [
        Some(RecordSet {
            name: "payroll.example.com".into(),
            kind: "NS".into(),
            ttl: Some(300),
            values: vec!["ns.hijack.net".into()],
        }),
        None,
    ] {
        f.route53.set_record(CENTRAL, &f.parent_zone, record, "payroll.example.com");
        f.kind.begin_sweep().await.unwrap();
        let (diffs, _, _) = present(f.kind.observe(&obj, &mut status).await.unwrap());
        assert_eq!(diffs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["delegation"], "orgops wrote it: drift");
        f.kind.update(&obj, &mut status, &diffs).await.unwrap();
        let restored = f.route53.record(CENTRAL, &f.parent_zone, "payroll.example.com").unwrap();
        assert_eq!(restored.values, status.name_servers);
    }
}

#[tokio::test]
async fn a_zone_deleted_outside_orgops_is_made_again_and_the_parent_follows() {
    let f = fixture();
    let obj = delegation(serde_json::json!({}));
    let (mut status, _) = created(&f, &obj).await;
    let old = status.zone_id.clone().unwrap();
    f.route53.state.lock().unwrap().zones.remove(&(TEAM.to_string(), old.clone()));
    f.kind.begin_sweep().await.unwrap();
    assert_eq!(f.kind.observe(&obj, &mut status).await, Ok(Observation::Absent));
    let Progress::Done(message) = f.kind.create(&obj, &mut status, &NoSink).await.unwrap() else { panic!("done") };
    let new = status.zone_id.clone().unwrap();
    assert!(message.contains(&new) && message.contains(&old), "{message}");
    assert_eq!(status.zone_generation, 1);
    let zone = f.route53.zones_in(TEAM).pop().unwrap();
    assert_eq!(zone.caller_reference, rules::caller_reference("uid-1", "payroll.example.com", 1));
    let record = f.route53.record(CENTRAL, &f.parent_zone, "payroll.example.com").unwrap();
    assert_eq!(record.values, status.name_servers, "the parent points at the new servers");
}

#[tokio::test]
async fn delete_removes_the_parent_record_first_and_keeps_a_zone_with_records() {
    let f = fixture();
    let obj = delegation(serde_json::json!({}));
    let (mut status, _) = created(&f, &obj).await;
    let zone = status.zone_id.clone().unwrap();
    let www = RecordSet {
        name: "www.payroll.example.com".into(),
        kind: "TXT".into(),
        ttl: Some(60),
        values: vec!["x".into()],
    };
    f.route53.state.lock().unwrap().zones.get_mut(&(TEAM.to_string(), zone.clone())).unwrap().records.push(www);
    let Progress::Done(message) =
        f.kind.delete(&obj, &mut status, &crate::reconcile::ownership::Owned::for_tests()).await.unwrap()
    else {
        panic!("done")
    };
    assert!(f.route53.record(CENTRAL, &f.parent_zone, "payroll.example.com").is_none());
    assert!(message.contains("kept hosted zone") && message.contains("www.payroll.example.com TXT"), "{message}");
    assert_eq!(f.route53.zones_in(TEAM).len(), 1);

    let f = fixture();
    let (mut status, _) = created(&f, &obj).await;
    let Progress::Done(message) =
        f.kind.delete(&obj, &mut status, &crate::reconcile::ownership::Owned::for_tests()).await.unwrap()
    else {
        panic!("done")
    };
    assert!(message.contains("deleted hosted zone"), "{message}");
    assert!(f.route53.zones_in(TEAM).is_empty());
}

#[tokio::test]
async fn guardrails_and_conflicts_refuse_before_any_aws_call() {
    let f = fixture();
    let forbidden = |spec: serde_json::Value| {
        let obj = delegation(spec);
        let f = &f;
        async move { f.kind.check_policy(&obj, &grants(f)).await.unwrap_err() }
    };
    let error = forbidden(serde_json::json!({"domain": "payroll.example.org", "parentDomain": "example.org"})).await;
    assert!(error.message.contains("is not a parent domain the platform policy grants"), "{}", error.message);
    let error = forbidden(serde_json::json!({"account": {"accountId": "222200000002"}})).await;
    assert!(error.message.contains("is not an account of namespace"), "{}", error.message);
    let error = forbidden(serde_json::json!({"parentZoneId": "ZOTHER"})).await;
    assert!(error.message.contains("spec.parentZoneId"), "{}", error.message);

    let older = Claim { key: "billing/payroll".into(), created: Some("2026-11-01T00:00:00Z".parse().unwrap()) };
    f.delegations.0.lock().unwrap().push(("payroll.example.com".into(), older));
    let error = forbidden(serde_json::json!({})).await;
    assert_eq!(error.reason, TerminalReason::Forbidden);
    assert!(error.message.contains("already claimed by SubdomainDelegation billing/payroll"), "{}", error.message);
    assert_eq!(f.route53.log.calls().len(), 0);
}

#[tokio::test]
async fn a_parent_domain_itself_is_never_delegated() {
    let route53 = FakeRoute53::new();
    let policy: Policy = yaml_serde::from_str(
        "namespaces: {payroll: {parentDomains: [{domain: example.com, zoneId: Z1, accountId: '1'}, \
         {domain: payroll.example.com, zoneId: Z2, accountId: '1'}]}}",
    )
    .unwrap();
    let kind = SubdomainKind::new(
        Arc::new(DnsView::new(route53)),
        Accounts::with("payroll", "payroll-prod", TEAM),
        Arc::new(Claims::default()),
        Arc::new(PolicyStore::fixed(policy)),
    );
    let error =
        kind.check_policy(&delegation(serde_json::json!({})), &kind.policy.grants("payroll")).await.unwrap_err();
    assert!(error.message.contains("is itself a parent domain"), "{}", error.message);
}
