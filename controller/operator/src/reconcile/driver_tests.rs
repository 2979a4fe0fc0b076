//! The driver's branches, with a scripted kind and an in-memory Kubernetes side.

use super::*;
use crate::policy::{Grants, Policy};
use crate::reconcile::conditions::{READY, SYNCED};
use orgops_api::{AwsAccount, AwsAccountStatus};
use std::collections::VecDeque;

/// A kind whose answers are scripted and whose calls are recorded.
#[derive(Default)]
struct ScriptedKind {
    policy: Mutex<Option<Error>>,
    observations: Mutex<VecDeque<Result<Observation, Error>>>,
    create: Mutex<Option<Result<Progress, Error>>>,
    update: Mutex<Option<Result<Progress, Error>>>,
    delete: Mutex<Option<Result<Progress, Error>>>,
    calls: Mutex<Vec<String>>,
    audits: Mutex<u32>,
    /// Create persists a creation marker first, as AwsAccount does, and leaves `status`
    /// without it (as when AWS refused the request).
    marks_creation: bool,
}

impl ScriptedKind {
    fn observing(observations: Vec<Result<Observation, Error>>) -> Self {
        ScriptedKind { observations: Mutex::new(observations.into()), ..Default::default() }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: &str) {
        self.calls.lock().unwrap().push(call.to_string());
    }
}

fn present(diffs: Vec<FieldDiff>) -> Result<Observation, Error> {
    Ok(Observation::Present { diffs, availability: Availability::Available, linked: None })
}

impl ManagedKind for ScriptedKind {
    type Resource = AwsAccount;
    const KIND: &'static str = "Scripted";

    async fn check_policy(&self, _: &AwsAccount, _: &Grants) -> Result<(), Error> {
        self.record("check_policy");
        self.policy.lock().unwrap().clone().map_or(Ok(()), Err)
    }

    async fn observe(&self, _: &AwsAccount, status: &mut AwsAccountStatus) -> Result<Observation, Error> {
        self.record("observe");
        status.account_id = Some("111122223333".into());
        self.observations.lock().unwrap().pop_front().expect("an observation was scripted")
    }

    async fn create(
        &self,
        _: &AwsAccount,
        status: &mut AwsAccountStatus,
        sink: &dyn StatusSink<AwsAccountStatus>,
    ) -> Result<Progress, Error> {
        self.record("create");
        if self.marks_creation {
            let mut marked = status.clone();
            marked.pending_creation =
                Some(orgops_api::account::PendingCreation { requested_at: Time(Timestamp::now()), request_id: None });
            sink.persist(&marked).await?;
        } else {
            sink.persist(status).await?;
        }
        self.create.lock().unwrap().take().expect("a create result was scripted")
    }

    async fn update(&self, _: &AwsAccount, _: &mut AwsAccountStatus, diffs: &[FieldDiff]) -> Result<Progress, Error> {
        self.record(&format!("update {}", diffs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>().join(",")));
        self.update.lock().unwrap().take().unwrap_or(Ok(Progress::Done("updated".into())))
    }

    async fn delete(&self, _: &AwsAccount, _: &mut AwsAccountStatus, _: &ownership::Owned) -> Result<Progress, Error> {
        self.record("delete");
        self.delete.lock().unwrap().take().expect("a delete result was scripted")
    }

    async fn audit(&self, _: &AwsAccount, _: &mut AwsAccountStatus) -> Result<(), Error> {
        *self.audits.lock().unwrap() += 1;
        Ok(())
    }
}

/// Kubernetes in memory: what the driver wrote.
#[derive(Default)]
struct RecordingKube {
    statuses: Mutex<Vec<AwsAccountStatus>>,
    finalizer_changes: Mutex<Vec<&'static str>>,
    events: Mutex<Vec<ObjectEvent>>,
}

impl RecordingKube {
    fn last_status(&self) -> AwsAccountStatus {
        self.statuses.lock().unwrap().last().cloned().expect("a status was written")
    }

    fn event_reasons(&self) -> Vec<&'static str> {
        self.events.lock().unwrap().iter().map(|e| e.kind.reason()).collect()
    }
}

impl KubeSide<AwsAccount> for RecordingKube {
    fn apply_status(&self, _: &AwsAccount, status: serde_json::Value) -> BoxFuture<'_, Result<(), Error>> {
        self.statuses.lock().unwrap().push(serde_json::from_value(status).unwrap());
        Box::pin(async { Ok(()) })
    }
    fn add_finalizer<'a>(&'a self, _: &'a AwsAccount) -> BoxFuture<'a, Result<(), Error>> {
        self.finalizer_changes.lock().unwrap().push("add");
        Box::pin(async { Ok(()) })
    }
    fn remove_finalizer<'a>(&'a self, _: &'a AwsAccount) -> BoxFuture<'a, Result<(), Error>> {
        self.finalizer_changes.lock().unwrap().push("remove");
        Box::pin(async { Ok(()) })
    }
    fn publish<'a>(&'a self, _: &'a AwsAccount, event: ObjectEvent) -> BoxFuture<'a, ()> {
        self.events.lock().unwrap().push(event);
        Box::pin(async {})
    }
}

fn driver(kind: ScriptedKind) -> Driver<ScriptedKind, RecordingKube> {
    Driver::new(
        kind,
        RecordingKube::default(),
        Arc::new(PolicyStore::fixed(Policy::default())),
        Metrics::new(),
        config(),
    )
}

fn config() -> DriverConfig {
    DriverConfig {
        waiting: Duration::from_secs(5),
        backoff_base: Duration::from_secs(2),
        backoff_max: Duration::from_secs(60),
    }
}

fn account(yaml_extra: serde_json::Value) -> AwsAccount {
    let mut object = serde_json::json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "AwsAccount",
        "metadata": {"name": "a", "namespace": "team", "uid": "u-1", "generation": 1},
        "spec": {"accountName": "a", "email": "a@example.com", "organizationalUnit": "Root"}
    });
    merge(&mut object, yaml_extra);
    serde_json::from_value(object).unwrap()
}

fn merge(target: &mut serde_json::Value, patch: serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}

/// The object as it is after the driver wrote `status` (and the finalizer).
fn with_status(obj: &AwsAccount, status: AwsAccountStatus) -> AwsAccount {
    let mut next = obj.clone();
    next.status = Some(status);
    next.metadata.finalizers = Some(vec![FINALIZER.to_string()]);
    next
}

fn condition<'a>(
    status: &'a AwsAccountStatus,
    type_: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    status.common.conditions.iter().find(|c| c.type_ == type_).expect("condition present")
}

#[tokio::test]
async fn absent_object_is_created_and_waits_for_aws() {
    let kind = ScriptedKind::observing(vec![Ok(Observation::Absent)]);
    *kind.create.lock().unwrap() = Some(Ok(Progress::InProgress("CreateAccount requested".into())));
    let driver = driver(kind);
    let requeue = driver.reconcile(&account(serde_json::json!({}))).await;

    assert_eq!(requeue, Next::After(Duration::from_secs(5)), "waiting requeues soon");
    assert_eq!(driver.kind.calls(), ["check_policy", "observe", "create"]);
    assert_eq!(*driver.kube.finalizer_changes.lock().unwrap(), ["add"]);
    assert_eq!(driver.kube.event_reasons(), ["Created"]);
    let status = driver.kube.last_status();
    assert_eq!(condition(&status, READY).reason, "Creating");
    assert_eq!(condition(&status, SYNCED).status, "True");
    assert_eq!(driver.kube.statuses.lock().unwrap().len(), 2, "the kind persisted once mid-create, the driver once");
    assert_eq!(driver.metrics.reconciles.with_label_values(&["Scripted", "waiting"]).get(), 1);
}

#[tokio::test]
async fn in_sync_object_is_ready_and_writes_nothing_to_aws() {
    let driver = driver(ScriptedKind::observing(vec![present(vec![]), present(vec![])]));
    let obj = account(serde_json::json!({}));
    assert_eq!(driver.reconcile(&obj).await, Next::Settled, "the sweep looks again");
    let status = driver.kube.last_status();
    assert_eq!(condition(&status, READY).reason, "Available");
    assert_eq!(condition(&status, SYNCED).reason, "ReconcileSuccess");
    assert_eq!(status.common.observed_generation, Some(1));

    // A second pass over the written object changes nothing, so it writes no status.
    let writes = driver.kube.statuses.lock().unwrap().len();
    driver.reconcile(&with_status(&obj, status)).await;
    assert_eq!(driver.kube.statuses.lock().unwrap().len(), writes);
    assert_eq!(driver.kind.calls().iter().filter(|c| c.starts_with("update") || *c == "create").count(), 0);
    assert_eq!(driver.metrics.resources.with_label_values(&["Scripted", "true"]).get(), 1);
}

#[tokio::test]
async fn observe_failure_backs_off_and_creates_nothing() {
    let transient = || Err(Error::retryable("organizations:ListRoots failed: 503"));
    let driver = driver(ScriptedKind::observing(vec![transient(), transient(), transient()]));
    let obj = account(serde_json::json!({}));
    let delay = |next| match next {
        Next::After(delay) => delay,
        Next::Settled | Next::SettledUntil(_) => panic!("a retryable error is retried"),
    };
    let first = delay(driver.reconcile(&obj).await);
    let status = driver.kube.last_status();
    let second = delay(driver.reconcile(&with_status(&obj, status.clone())).await);
    let third = delay(driver.reconcile(&with_status(&obj, status.clone())).await);
    assert!(first >= Duration::from_secs(2) && first < Duration::from_secs(3), "{first:?}");
    assert!(second >= Duration::from_secs(4) && second < Duration::from_secs(5), "{second:?}");
    assert!(third >= Duration::from_secs(8) && third < Duration::from_secs(10), "{third:?}");
    assert!(!driver.kind.calls().contains(&"create".to_string()));
    assert_eq!(condition(&status, SYNCED).reason, "Retrying", "apart from terminal errors");
    assert_eq!(driver.kube.event_reasons(), ["Failed"], "one Event for a repeated failure");
}

#[tokio::test]
async fn retryable_errors_lasting_ten_minutes_are_reported_as_such() {
    let retrying = ConditionUpdate::false_(SYNCED, "Retrying", "Throttling");
    let eleven_minutes_ago = Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_mins(11);
    for (since, reason) in [(eleven_minutes_ago, "RetryingTooLong"), (Timestamp::now(), "Retrying")] {
        let throttled = driver(ScriptedKind::observing(vec![Err(Error::retryable("Throttling"))]));
        let mut status = AwsAccountStatus::default();
        conditions::set(&mut status.common.conditions, retrying.clone(), Some(1), since);
        throttled.reconcile(&with_status(&account(serde_json::json!({})), status)).await;
        assert_eq!(condition(&throttled.kube.last_status(), SYNCED).reason, reason);
    }
}

#[tokio::test]
async fn work_in_flight_on_an_existing_resource_is_updating() {
    let kind = ScriptedKind::observing(vec![present(vec![FieldDiff::new("organizationalUnit", "A", "B")])]);
    *kind.update.lock().unwrap() = Some(Ok(Progress::InProgress("moving".into())));
    let driver = driver(kind);
    driver.reconcile(&account(serde_json::json!({}))).await;
    assert_eq!(condition(&driver.kube.last_status(), READY).reason, "Updating");
}

#[tokio::test]
async fn backoff_is_capped() {
    let errors = (0..12).map(|_| Err(Error::retryable("throttled"))).collect();
    let driver = driver(ScriptedKind::observing(errors));
    let obj = account(serde_json::json!({}));
    let mut last = Next::Settled;
    for _ in 0..12 {
        last = driver.reconcile(&obj).await;
    }
    let Next::After(last) = last else { panic!("retried") };
    assert!(last >= Duration::from_secs(60) && last <= Duration::from_secs(75), "{last:?}");
}

#[tokio::test]
async fn terminal_error_waits_for_a_spec_change() {
    let driver = driver(ScriptedKind::observing(vec![Err(Error::terminal("CreateAccount failed: INVALID_EMAIL"))]));
    let requeue = driver.reconcile(&account(serde_json::json!({}))).await;
    assert_eq!(requeue, Next::Settled, "no retry storm: the sweep or a spec change looks again");
    let status = driver.kube.last_status();
    assert_eq!(condition(&status, SYNCED).reason, "ReconcileError");
    assert!(condition(&status, SYNCED).message.contains("INVALID_EMAIL"));
    assert_eq!(driver.metrics.reconciles.with_label_values(&["Scripted", "terminal_error"]).get(), 1);
}

#[tokio::test]
async fn forbidden_object_is_never_observed_or_created() {
    let kind = ScriptedKind::default();
    *kind.policy.lock().unwrap() = Some(Error::forbidden("spec.organizationalUnit \"Billing\" is outside ..."));
    let driver = driver(kind);
    driver.reconcile(&account(serde_json::json!({}))).await;
    assert_eq!(driver.kind.calls(), ["check_policy"]);
    let status = driver.kube.last_status();
    assert_eq!(condition(&status, SYNCED).reason, "Forbidden");
    assert_eq!(driver.kube.event_reasons(), ["Forbidden"]);
    assert_eq!(driver.metrics.forbidden.with_label_values(&["Scripted"]).get(), 1);
}

fn in_sync(obj: &AwsAccount) -> AwsAccount {
    let mut status = AwsAccountStatus {
        common: orgops_api::CommonStatus { observed_generation: obj.metadata.generation, ..Default::default() },
        ..Default::default()
    };
    let now = Timestamp::now();
    conditions::set(&mut status.common.conditions, ConditionUpdate::true_(READY, "Available", ""), Some(1), now);
    conditions::set(
        &mut status.common.conditions,
        ConditionUpdate::true_(SYNCED, "ReconcileSuccess", ""),
        Some(1),
        now,
    );
    with_status(obj, status)
}

#[tokio::test]
async fn drift_on_a_synced_object_is_corrected_and_reported() {
    let driver =
        driver(ScriptedKind::observing(vec![present(vec![FieldDiff::new("tags.team", "payroll", "billing")])]));
    let obj = in_sync(&account(serde_json::json!({})));
    driver.reconcile(&obj).await;
    assert_eq!(driver.kind.calls(), ["check_policy", "observe", "update tags.team"]);
    assert_eq!(driver.kube.event_reasons(), ["DriftDetected", "DriftCorrected"]);
    let status = driver.kube.last_status();
    let drift = status.common.last_drift.as_ref().expect("drift recorded");
    assert_eq!(drift.fields, ["tags.team"]);
    assert!(drift.corrected);
    assert_eq!(condition(&status, SYNCED).status, "True");
    assert_eq!(driver.metrics.drift_corrected.with_label_values(&["Scripted", "tags.team"]).get(), 1);
    assert_eq!(driver.metrics.drifted.with_label_values(&["Scripted", "team", "a"]).get(), 0);
}

#[tokio::test]
async fn drift_under_report_policy_is_only_recorded() {
    let moved = || present(vec![FieldDiff::new("organizationalUnit", "A", "B")]);
    let driver = driver(ScriptedKind::observing(vec![moved(), moved()]));
    let obj = in_sync(&account(serde_json::json!({"spec": {"driftPolicy": "Report"}})));
    driver.reconcile(&obj).await;
    assert_eq!(driver.kind.calls(), ["check_policy", "observe"], "no update");
    assert_eq!(driver.kube.event_reasons(), ["DriftDetected"]);
    let status = driver.kube.last_status();
    assert!(!status.common.last_drift.as_ref().unwrap().corrected);
    assert_eq!(condition(&status, SYNCED).reason, "DriftDetected");
    assert_eq!(condition(&status, READY).status, "True", "still usable");
    assert_eq!(driver.metrics.drift_detected.with_label_values(&["Scripted", "organizationalUnit"]).get(), 1);
    assert_eq!(driver.metrics.drifted.with_label_values(&["Scripted", "team", "a"]).get(), 1);

    // The next resync finds the same drift: still no write, and no second report.
    driver.reconcile(&with_status(&obj, status)).await;
    assert_eq!(driver.kind.calls(), ["check_policy", "observe", "check_policy", "observe"], "no update");
    assert_eq!(driver.kube.event_reasons(), ["DriftDetected"]);
    assert_eq!(condition(&driver.kube.last_status(), SYNCED).reason, "DriftDetected");
    assert_eq!(driver.metrics.drift_detected.with_label_values(&["Scripted", "organizationalUnit"]).get(), 1);
}

#[tokio::test]
async fn what_orgops_cannot_write_back_is_reported_under_correct_and_the_rest_corrected() {
    let resources = || FieldDiff::report_only("resources", "as the template made them", "changed in 1/us-east-1");
    let driver = driver(ScriptedKind::observing(vec![
        present(vec![resources()]),
        present(vec![FieldDiff::new("tags.team", "payroll", "billing"), resources()]),
    ]));
    let obj = in_sync(&account(serde_json::json!({})));
    driver.reconcile(&obj).await;
    assert_eq!(driver.kind.calls(), ["check_policy", "observe"], "nothing to write");
    let status = driver.kube.last_status();
    assert_eq!(condition(&status, SYNCED).reason, "DriftDetected");
    assert!(condition(&status, SYNCED).message.contains("cannot write it back"), "{status:?}");
    assert_eq!(*driver.kind.audits.lock().unwrap(), 1, "the deeper check still runs");

    driver.reconcile(&in_sync(&obj)).await;
    assert_eq!(driver.kind.calls()[4], "update tags.team", "only what can be written back");
}

#[tokio::test]
async fn the_deeper_check_runs_only_for_owned_objects_in_full_management() {
    let driver = driver(ScriptedKind::observing(vec![present(vec![]), present(vec![])]));
    driver.reconcile(&in_sync(&account(serde_json::json!({})))).await;
    driver.reconcile(&account(serde_json::json!({"spec": {"managementPolicy": "ObserveOnly"}}))).await;
    assert_eq!(*driver.kind.audits.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_spec_change_is_an_update_not_drift() {
    let driver = driver(ScriptedKind::observing(vec![present(vec![FieldDiff::new("tags.team", "new", "old")])]));
    let mut obj = in_sync(&account(serde_json::json!({})));
    obj.metadata.generation = Some(2);
    driver.reconcile(&obj).await;
    assert_eq!(driver.kube.event_reasons(), ["Updated"]);
    let status = driver.kube.last_status();
    assert!(status.common.last_drift.is_none());
    assert_eq!(status.common.observed_generation, Some(2));
}

#[tokio::test]
async fn observe_only_never_writes_to_aws() {
    let driver = driver(ScriptedKind::observing(vec![
        Ok(Observation::Absent),
        present(vec![FieldDiff::new("organizationalUnit", "A", "B")]),
    ]));
    let obj = account(serde_json::json!({"spec": {"managementPolicy": "ObserveOnly"}}));
    driver.reconcile(&obj).await;
    let status = driver.kube.last_status();
    assert_eq!(condition(&status, READY).reason, "Unavailable");
    driver.reconcile(&obj).await;
    assert_eq!(driver.kind.calls(), ["check_policy", "observe", "check_policy", "observe"]);
    assert!(driver.kube.finalizer_changes.lock().unwrap().is_empty(), "nothing to clean up, no finalizer");
    assert_eq!(condition(&driver.kube.last_status(), SYNCED).reason, "DriftDetected");
}

fn deleting(obj: AwsAccount) -> AwsAccount {
    let mut obj = with_status(&obj, AwsAccountStatus::default());
    obj.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
    obj
}

/// Being deleted, with a status that records the resource as this object's.
fn deleting_owned(obj: AwsAccount) -> AwsAccount {
    let mut obj = deleting(obj);
    obj.status = Some(AwsAccountStatus {
        common: orgops_api::CommonStatus { owned: Some(true), ..Default::default() },
        ..Default::default()
    });
    obj
}

fn to_delete() -> AwsAccount {
    account(serde_json::json!({"spec": {"deletionPolicy": "Delete"}}))
}

fn left_message(driver: &Driver<ScriptedKind, RecordingKube>) -> String {
    let events = driver.kube.events.lock().unwrap();
    let deleted = events.iter().find(|e| e.kind == EventKind::Deleted).expect("a Deleted event");
    assert!(deleted.message.starts_with("left in AWS, untouched:"), "{}", deleted.message);
    deleted.message.clone()
}

#[tokio::test]
async fn an_object_that_owns_nothing_lets_go_at_once_without_any_aws_call() {
    // Refused (another team's account named by id), never created, or status lost: the
    // persisted status does not record ownership.
    let mut refused = deleting(to_delete());
    let mut status = AwsAccountStatus::default();
    conditions::set(
        &mut status.common.conditions,
        ConditionUpdate::false_(SYNCED, "Forbidden", "outside the granted OUs"),
        Some(1),
        Timestamp::now(),
    );
    refused.status = Some(status);
    for (obj, why) in [(refused, "(it was refused: Forbidden: outside the granted OUs)"), (deleting(to_delete()), "")] {
        let driver = driver(ScriptedKind::default());
        assert_eq!(driver.reconcile(&obj).await, Next::Settled);
        assert!(driver.kind.calls().is_empty(), "no policy check, no observe, no delete: {:?}", driver.kind.calls());
        assert_eq!(*driver.kube.finalizer_changes.lock().unwrap(), ["remove"]);
        let message = left_message(&driver);
        assert!(message.contains("never created or adopted") && message.contains(why), "{message}");
    }
}

#[tokio::test]
async fn delete_is_reached_only_for_what_aws_records_as_this_object_s() {
    let adopted_now = Ok(Observation::Present {
        diffs: vec![],
        availability: Availability::Available,
        linked: Some(Linked::Adopted("adopted account 1 named by spec.accountId".into())),
    });
    let untagged = present(unowned());
    for (observation, why) in [(adopted_now, "only names it"), (untagged, "does not record this object")] {
        let driver = driver(ScriptedKind::observing(vec![observation]));
        driver.reconcile(&deleting_owned(to_delete())).await;
        assert_eq!(driver.kind.calls(), ["check_policy", "observe"], "no delete");
        assert_eq!(*driver.kube.finalizer_changes.lock().unwrap(), ["remove"]);
        assert!(left_message(&driver).contains(why), "{}", left_message(&driver));
    }
}

#[tokio::test]
async fn the_platform_policy_is_checked_on_delete_too() {
    let kind = ScriptedKind::default();
    *kind.policy.lock().unwrap() = Some(Error::forbidden("spec.organizationalUnit X is not granted"));
    let driver = driver(kind);
    driver.reconcile(&deleting_owned(to_delete())).await;
    assert_eq!(driver.kind.calls(), ["check_policy"], "nothing observed or deleted");
    assert_eq!(*driver.kube.finalizer_changes.lock().unwrap(), ["remove"]);
    assert!(left_message(&driver).contains("platform policy refuses"));
}

#[tokio::test]
async fn a_terminal_refusal_while_observing_for_delete_lets_go_and_a_retryable_one_retries() {
    let kind = ScriptedKind::observing(vec![Err(Error::forbidden("account 1 is managed by AwsAccount b/x"))]);
    let refused = driver(kind);
    refused.reconcile(&deleting_owned(to_delete())).await;
    assert_eq!(*refused.kube.finalizer_changes.lock().unwrap(), ["remove"]);
    assert!(left_message(&refused).contains("managed by AwsAccount b/x"));

    let throttled = driver(ScriptedKind::observing(vec![Err(Error::retryable("Throttling"))]));
    assert!(matches!(throttled.reconcile(&deleting_owned(to_delete())).await, Next::After(_)));
    assert!(throttled.kube.finalizer_changes.lock().unwrap().is_empty(), "kept until AWS answers");
}

#[tokio::test]
async fn what_an_object_creates_is_recorded_as_its_own_from_the_first_status_written_mid_create() {
    let kind = ScriptedKind::observing(vec![Ok(Observation::Absent)]);
    *kind.create.lock().unwrap() = Some(Ok(Progress::InProgress("requested".into())));
    let created = driver(kind);
    created.reconcile(&account(serde_json::json!({}))).await;
    let persisted = created.kube.statuses.lock().unwrap().clone();
    assert!(
        persisted.iter().all(|s| s.common.owned == Some(true)),
        "the mid-create write carries it too: {persisted:?}"
    );

    let kind = ScriptedKind::observing(vec![Ok(Observation::Absent)]);
    *kind.create.lock().unwrap() = Some(Err(Error::terminal("refused")));
    let refused = driver(kind);
    refused.reconcile(&account(serde_json::json!({}))).await;
    assert_eq!(refused.kube.last_status().common.owned, Some(true), "persisted mid-create: the kind recorded a claim");
}

#[tokio::test]
async fn retain_lets_the_object_go_without_touching_aws() {
    let driver = driver(ScriptedKind::default());
    driver.reconcile(&deleting(account(serde_json::json!({})))).await;
    assert!(driver.kind.calls().is_empty());
    assert_eq!(*driver.kube.finalizer_changes.lock().unwrap(), ["remove"]);
    assert_eq!(driver.kube.event_reasons(), ["Deleted"]);
}

#[tokio::test]
async fn delete_waits_for_aws_then_removes_the_finalizer() {
    let kind = ScriptedKind::observing(vec![present(vec![]), present(vec![])]);
    *kind.delete.lock().unwrap() = Some(Ok(Progress::InProgress("PENDING_CLOSURE".into())));
    let driver = driver(kind);
    let obj = deleting_owned(to_delete());
    assert_eq!(driver.reconcile(&obj).await, Next::After(Duration::from_secs(5)));
    assert!(driver.kube.finalizer_changes.lock().unwrap().is_empty());
    assert_eq!(condition(&driver.kube.last_status(), READY).reason, "Deleting");

    *driver.kind.delete.lock().unwrap() = Some(Ok(Progress::Done("closed (SUSPENDED)".into())));
    driver.reconcile(&obj).await;
    assert_eq!(*driver.kube.finalizer_changes.lock().unwrap(), ["remove"]);
    assert_eq!(driver.kube.event_reasons(), ["Deleted"]);
}

#[tokio::test]
async fn deleted_while_create_pending_waits_for_the_creation_before_deleting() {
    let kind = ScriptedKind::observing(vec![
        Err(Error::waiting("CreateAccount request car-1 is in progress")),
        present(vec![]),
    ]);
    *kind.delete.lock().unwrap() = Some(Ok(Progress::Done("closed".into())));
    let driver = driver(kind);
    let obj = deleting_owned(to_delete());
    assert_eq!(driver.reconcile(&obj).await, Next::After(Duration::from_secs(5)));
    assert_eq!(
        driver.kind.calls(),
        ["check_policy", "observe"],
        "nothing deleted while the account does not exist yet"
    );
    assert!(driver.kube.finalizer_changes.lock().unwrap().is_empty());

    driver.reconcile(&obj).await;
    assert_eq!(driver.kind.calls(), ["check_policy", "observe", "check_policy", "observe", "delete"]);
    assert_eq!(*driver.kube.finalizer_changes.lock().unwrap(), ["remove"]);
}

#[tokio::test]
async fn absent_on_delete_just_lets_go() {
    let driver = driver(ScriptedKind::observing(vec![Ok(Observation::Absent)]));
    driver.reconcile(&deleting_owned(to_delete())).await;
    assert_eq!(driver.kind.calls(), ["check_policy", "observe"]);
    assert_eq!(*driver.kube.finalizer_changes.lock().unwrap(), ["remove"]);
}

#[tokio::test]
async fn adoption_is_announced() {
    let driver = driver(ScriptedKind::observing(vec![Ok(Observation::Present {
        diffs: vec![],
        availability: Availability::Available,
        linked: Some(Linked::Adopted("adopted existing account 111122223333".into())),
    })]));
    driver.reconcile(&account(serde_json::json!({}))).await;
    assert_eq!(driver.kube.event_reasons(), ["Adopted"]);
}

#[tokio::test]
async fn unavailable_resource_is_not_ready() {
    let driver = driver(ScriptedKind::observing(vec![Ok(Observation::Present {
        diffs: vec![],
        availability: Availability::Unavailable("account is SUSPENDED".into()),
        linked: None,
    })]));
    driver.reconcile(&account(serde_json::json!({}))).await;
    let status = driver.kube.last_status();
    assert_eq!(condition(&status, READY).reason, "Unavailable");
    assert_eq!(condition(&status, SYNCED).status, "True");
}

type TestDriver = Driver<ScriptedKind, RecordingKube>;

#[tokio::test]
async fn settled_objects_are_the_ones_only_a_sweep_or_a_change_needs_to_look_at() {
    let obj = account(serde_json::json!({}));
    assert!(!TestDriver::settled(&obj), "never reconciled");
    let synced = in_sync(&obj);
    assert!(TestDriver::settled(&synced));

    let mut edited = synced.clone();
    edited.metadata.generation = Some(2);
    assert!(!TestDriver::settled(&edited), "a spec change");
    assert!(!TestDriver::settled(&deleting(synced.clone())));
    let mut no_finalizer = synced.clone();
    no_finalizer.metadata.finalizers = None;
    assert!(!TestDriver::settled(&no_finalizer), "Full objects carry the finalizer");

    // What the driver writes after each outcome.
    let driver =
        driver(ScriptedKind::observing(vec![Err(Error::waiting("CreateAccount request car-1 is in progress"))]));
    driver.reconcile(&synced).await;
    assert!(!TestDriver::settled(&with_status(&obj, driver.kube.last_status())), "creating");
    let kind = ScriptedKind::default();
    *kind.policy.lock().unwrap() = Some(Error::forbidden("spec.organizationalUnit is outside the grants"));
    let driver = self::driver(kind);
    driver.reconcile(&obj).await;
    assert!(TestDriver::settled(&with_status(&obj, driver.kube.last_status())), "refused until something changes");
    let driver = self::driver(ScriptedKind::observing(vec![Err(Error::retryable("throttled"))]));
    driver.reconcile(&obj).await;
    assert!(!TestDriver::settled(&with_status(&obj, driver.kube.last_status())), "a retry is due");
}

fn unowned() -> Vec<FieldDiff> {
    vec![
        FieldDiff::ownership("tags.orgops.dev/owner", "team/a", "(absent)"),
        FieldDiff::ownership("tags.orgops.dev/uid", "u-1", "(absent)"),
    ]
}

#[tokio::test]
async fn under_observe_only_missing_ownership_tags_are_no_drift() {
    let driver = driver(ScriptedKind::observing(vec![present(unowned())]));
    let obj = account(serde_json::json!({"spec": {"managementPolicy": "ObserveOnly"}}));
    driver.reconcile(&obj).await;
    assert_eq!(driver.kind.calls(), ["check_policy", "observe"], "no write");
    assert!(driver.kube.event_reasons().is_empty(), "{:?}", driver.kube.event_reasons());
    let status = driver.kube.last_status();
    assert_eq!(condition(&status, SYNCED).reason, "ReconcileSuccess");
    assert_eq!(condition(&status, READY).status, "True");
    assert!(condition(&status, READY).message.contains("not owned by orgops"));
    assert_eq!(status.common.owned, Some(false));
    assert!(status.common.last_drift.is_none());
}

#[tokio::test]
async fn under_full_management_taking_ownership_is_adoption_and_losing_it_later_is_drift() {
    let lost = vec![FieldDiff::ownership("tags.orgops.dev/owner", "team/a", "(absent)")];
    let driver = driver(ScriptedKind::observing(vec![present(unowned()), present(lost)]));
    // Switched from ObserveOnly to Full: a new generation, not owned yet.
    let mut obj = in_sync(&account(serde_json::json!({})));
    obj.status.as_mut().unwrap().common.owned = Some(false);
    obj.metadata.generation = Some(2);
    driver.reconcile(&obj).await;
    assert_eq!(driver.kind.calls(), ["check_policy", "observe", "update tags.orgops.dev/owner,tags.orgops.dev/uid"]);
    assert_eq!(driver.kube.event_reasons(), ["Adopted"]);
    let status = driver.kube.last_status();
    assert_eq!(status.common.owned, Some(true));
    assert!(status.common.last_drift.is_none(), "adoption is no drift");
    assert_eq!(condition(&status, SYNCED).status, "True");

    // Later someone removes the owner tag: drift, corrected.
    driver.reconcile(&with_status(&obj, status)).await;
    assert_eq!(driver.kube.event_reasons(), ["Adopted", "DriftDetected", "DriftCorrected"]);
    assert_eq!(driver.kube.last_status().common.last_drift.unwrap().fields, ["tags.orgops.dev/owner"]);
}

#[tokio::test]
async fn drift_whose_correction_waited_for_aws_is_corrected_as_drift_and_counted_once() {
    let drifted = || present(vec![FieldDiff::new("template", "rendered", "edited")]);
    let kind = ScriptedKind::observing(vec![drifted(), drifted()]);
    *kind.update.lock().unwrap() = Some(Err(Error::waiting("another operation on the stack set is running")));
    let driver = driver(kind);
    let obj = in_sync(&account(serde_json::json!({})));
    driver.reconcile(&obj).await;
    assert_eq!(driver.kube.event_reasons(), ["DriftDetected"]);
    let status = driver.kube.last_status();
    assert_eq!(condition(&status, READY).status, "False", "waiting");

    driver.reconcile(&with_status(&obj, status)).await;
    assert_eq!(driver.kube.event_reasons(), ["DriftDetected", "DriftCorrected"], "not an Updated spec change");
    assert_eq!(driver.metrics.drift_detected.with_label_values(&["Scripted", "template"]).get(), 1);
    assert_eq!(driver.metrics.drift_corrected.with_label_values(&["Scripted", "template"]).get(), 1);
}

#[tokio::test]
async fn an_object_not_ready_has_a_series_until_it_is_ready() {
    let kind = ScriptedKind::observing(vec![Ok(Observation::Absent), present(vec![])]);
    *kind.create.lock().unwrap() = Some(Ok(Progress::InProgress("creating".into())));
    let driver = driver(kind);
    let obj = account(serde_json::json!({}));
    driver.reconcile(&obj).await;
    assert_eq!(driver.metrics.not_ready.with_label_values(&["Scripted", "team", "a"]).get(), 1);
    driver.reconcile(&with_status(&obj, driver.kube.last_status())).await;
    assert!(!driver.metrics.render().contains("orgops_not_ready{"), "{}", driver.metrics.render());
}

#[tokio::test]
async fn a_status_persisted_mid_create_is_overwritten_even_by_the_status_the_pass_began_with() {
    let refused = || Err(Error::retryable("CreateAccount failed: TooManyRequestsException"));
    let kind = ScriptedKind { marks_creation: true, ..ScriptedKind::observing(vec![Ok(Observation::Absent)]) };
    *kind.create.lock().unwrap() = Some(refused());
    let driver = driver(kind);
    let obj = account(serde_json::json!({}));
    driver.reconcile_object(&obj, "team/a").await;
    let settled = driver.kube.last_status();
    assert!(settled.pending_creation.is_none());

    // The same refusal again: the pass ends with the very status the object has.
    let obj = with_status(&obj, settled.clone());
    driver.kind.observations.lock().unwrap().push_back(Ok(Observation::Absent));
    *driver.kind.create.lock().unwrap() = Some(refused());
    let written = driver.kube.statuses.lock().unwrap().len();
    driver.reconcile_object(&obj, "team/a").await;
    let statuses = driver.kube.statuses.lock().unwrap().clone();
    assert_eq!(statuses.len(), written + 2, "the marker, then the status without it");
    assert!(statuses[written].pending_creation.is_some());
    assert_eq!(statuses.last(), Some(&settled), "no marker is left behind");
}
