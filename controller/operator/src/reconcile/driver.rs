//! The driver: finalizer, platform policy, observe, create / update / delete, conditions,
//! drift, Events, metrics and requeue, in that order, for every kind.

use super::conditions::{self, ConditionUpdate, READY, SYNCED};
use super::error::{Error, ErrorClass};
use super::ownership::{self, NotOwned};
use super::queue::{Next, Version};
use super::{Availability, FieldDiff, Linked, ManagedKind, Observation, Progress, StatusOf, StatusSink};
use crate::metrics::Metrics;
use crate::policy::PolicyStore;
use futures::future::BoxFuture;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::core::object::{HasSpec, HasStatus};
use kube::{Resource, ResourceExt};
use orgops_api::{DeletionPolicy, DriftPolicy, DriftRecord, ManagedSpec, ManagedStatus, ManagementPolicy};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The finalizer orgops puts on every object it manages with `managementPolicy: Full`.
pub const FINALIZER: &str = "orgops.dev/finalizer";
/// The `Synced` reason of drift left in place (driftPolicy Report, or ObserveOnly).
const DRIFT_DETECTED: &str = "DriftDetected";
/// The `Synced` reason of a retryable error (throttling, 5xx, a limit): it usually fixes
/// itself, so Argo CD shows the object Progressing, not Degraded.
pub const RETRYING: &str = "Retrying";
/// The `Synced` reason once retryable errors have lasted [`RETRYING_IS_DEGRADED_AFTER`].
pub const RETRYING_TOO_LONG: &str = "RetryingTooLong";
/// How long retryable errors may last before they are reported as a failure.
pub const RETRYING_IS_DEGRADED_AFTER: Duration = Duration::from_secs(600);

/// Timing of requeues.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// How soon an object with AWS work in flight is looked at again.
    pub waiting: Duration,
    /// First retry delay after a retryable error; doubles per failure.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            waiting: Duration::from_secs(5),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// The reason of a Kubernetes Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A create was sent to AWS.
    Created,
    /// An existing AWS resource was adopted.
    Adopted,
    /// AWS was changed to follow a spec change.
    Updated,
    /// AWS differs from a spec it used to match.
    DriftDetected,
    /// AWS was changed back to the spec.
    DriftCorrected,
    /// A reconcile failed.
    Failed,
    /// The platform policy refused the object.
    Forbidden,
    /// The AWS resource was deleted, or retained, and the finalizer removed.
    Deleted,
    /// Something the spec granted until a time was removed at that time.
    Expired,
    /// The sessions issued through an ended assignment were denied.
    SessionsRevoked,
}

impl EventKind {
    /// The Event's reason.
    pub fn reason(self) -> &'static str {
        match self {
            EventKind::Created => "Created",
            EventKind::Adopted => "Adopted",
            EventKind::Updated => "Updated",
            EventKind::DriftDetected => "DriftDetected",
            EventKind::DriftCorrected => "DriftCorrected",
            EventKind::Failed => "Failed",
            EventKind::Forbidden => "Forbidden",
            EventKind::Deleted => "Deleted",
            EventKind::Expired => "Expired",
            EventKind::SessionsRevoked => "SessionsRevoked",
        }
    }

    /// Whether the Event is a warning.
    pub fn is_warning(self) -> bool {
        matches!(self, EventKind::DriftDetected | EventKind::Failed | EventKind::Forbidden)
    }
}

/// An Event about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectEvent {
    /// Its reason.
    pub kind: EventKind,
    /// What happened.
    pub message: String,
}

/// The Kubernetes writes the driver makes. Implemented on the API server in production
/// and in memory in the driver's tests.
pub trait KubeSide<R>: Send + Sync {
    /// Writes the object's whole status (server-side apply).
    fn apply_status(&self, obj: &R, status: serde_json::Value) -> BoxFuture<'_, Result<(), Error>>;
    /// Adds [`FINALIZER`].
    fn add_finalizer<'a>(&'a self, obj: &'a R) -> BoxFuture<'a, Result<(), Error>>;
    /// Removes [`FINALIZER`].
    fn remove_finalizer<'a>(&'a self, obj: &'a R) -> BoxFuture<'a, Result<(), Error>>;
    /// Publishes an Event; failures are logged, not returned.
    fn publish<'a>(&'a self, obj: &'a R, event: ObjectEvent) -> BoxFuture<'a, ()>;
}

/// The generic reconciler of one kind.
pub struct Driver<K: ManagedKind, S: KubeSide<K::Resource>> {
    kind: K,
    kube: S,
    policy: Arc<PolicyStore>,
    metrics: Metrics,
    config: DriverConfig,
    failures: Mutex<HashMap<String, u32>>,
    readiness: Mutex<HashMap<String, bool>>,
}

/// What one reconcile ended with, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    /// Waiting, to look again after the given delay or the driver's default.
    Waiting(Option<Duration>),
    Retryable,
    Terminal,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Waiting(_) => "waiting",
            Outcome::Retryable => "retryable_error",
            Outcome::Terminal => "terminal_error",
        }
    }
}

/// A reconcile in progress: the object, the status being built and what to do next.
struct Pass<'a, K: ManagedKind> {
    obj: &'a K::Resource,
    status: StatusOf<K>,
    generation: Option<i64>,
    now: Timestamp,
    events: Vec<ObjectEvent>,
    /// The kind persisted a status mid-create: the object's status is no longer the one
    /// the pass began with, so the pass's own status is written even if it equals that.
    persisted_midway: bool,
    /// The AWS resource exists: work in flight on it is an update, not a creation.
    exists: bool,
}

impl<K: ManagedKind> Pass<'_, K> {
    fn condition(&mut self, update: ConditionUpdate) {
        conditions::set(&mut self.status.common_mut().conditions, update, self.generation, self.now);
    }

    fn event(&mut self, kind: EventKind, message: impl Into<String>) {
        self.events.push(ObjectEvent { kind, message: message.into() });
    }

    fn synced(&mut self) {
        self.condition(ConditionUpdate::true_(SYNCED, "ReconcileSuccess", ""));
        self.status.common_mut().observed_generation = self.generation;
    }

    fn availability(&mut self, availability: &Availability) {
        let observed_only =
            "observed, not owned by orgops: managementPolicy ObserveOnly writes nothing, not even ownership tags";
        match availability {
            Availability::Available => {
                let message = if self.status.common().owned == Some(false) { observed_only } else { "" };
                self.condition(ConditionUpdate::true_(READY, "Available", message))
            }
            Availability::Unavailable(why) => {
                self.condition(ConditionUpdate::false_(READY, "Unavailable", why.clone()))
            }
        }
    }
}

/// Writes status through the driver's [`KubeSide`] while a kind is mid-create.
struct Sink<'a, K: ManagedKind, S: KubeSide<K::Resource>> {
    kube: &'a S,
    obj: &'a K::Resource,
    persisted: std::sync::atomic::AtomicBool,
}

impl<K: ManagedKind, S: KubeSide<K::Resource>> StatusSink<StatusOf<K>> for Sink<'_, K, S> {
    fn persist<'b>(&'b self, status: &'b StatusOf<K>) -> BoxFuture<'b, Result<(), Error>> {
        Box::pin(async move {
            let value = serde_json::to_value(status).map_err(|e| Error::retryable(format!("encoding status: {e}")))?;
            self.persisted.store(true, std::sync::atomic::Ordering::Relaxed);
            self.kube.apply_status(self.obj, value).await
        })
    }
}

impl<K: ManagedKind, S: KubeSide<K::Resource>> Driver<K, S> {
    /// A driver for one kind.
    pub fn new(kind: K, kube: S, policy: Arc<PolicyStore>, metrics: Metrics, config: DriverConfig) -> Self {
        Driver {
            kind,
            kube,
            policy,
            metrics,
            config,
            failures: Mutex::new(HashMap::new()),
            readiness: Mutex::new(HashMap::new()),
        }
    }

    /// The kind's own operations, for the runner's sweeps.
    pub fn kind(&self) -> &K {
        &self.kind
    }

    /// The version of the object a pass looks at.
    pub fn version(obj: &K::Resource) -> Version {
        Version { generation: obj.meta().generation, deleting: obj.meta().deletion_timestamp.is_some() }
    }

    /// Whether the object's status says nothing is left to do until the next sweep: this
    /// generation was reconciled, nothing is being created or deleted, and the last pass
    /// ended in sync or with an outcome only a change can alter (drift reported, refused
    /// by policy, invalid). An object that is not settled is reconciled as a change.
    pub fn settled(obj: &K::Resource) -> bool {
        let meta = obj.meta();
        let Some(status) = obj.status() else { return false };
        let full = obj.spec().policies().management_policy == ManagementPolicy::Full;
        if meta.deletion_timestamp.is_some()
            || status.common().observed_generation != meta.generation
            || (full && !obj.finalizers().iter().any(|f| f == FINALIZER))
        {
            return false;
        }
        let conditions = &status.common().conditions;
        if matches!(conditions::reason(conditions, READY), Some("Creating" | "Updating" | "Deleting")) {
            return false;
        }
        conditions::is_true(conditions, SYNCED)
            || matches!(conditions::reason(conditions, SYNCED), Some(DRIFT_DETECTED | "Forbidden" | "Invalid"))
    }

    /// Reconciles one object and says when to look at it again. Every error is turned
    /// into conditions, an Event and a requeue here, so this never fails.
    pub async fn reconcile(&self, obj: &K::Resource) -> Next {
        let started = Instant::now();
        let key = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
        let (outcome, requeue) = self.reconcile_object(obj, &key).await;
        self.metrics.reconciles.with_label_values(&[K::KIND, outcome.label()]).inc();
        self.metrics.reconcile_duration.with_label_values(&[K::KIND]).observe(started.elapsed().as_secs_f64());
        tracing::debug!(kind = K::KIND, object = %key, outcome = outcome.label(), next = ?requeue, "reconciled");
        requeue
    }

    async fn reconcile_object(&self, obj: &K::Resource, key: &str) -> (Outcome, Next) {
        let mut pass = Pass::<K> {
            obj,
            status: obj.status().cloned().unwrap_or_default(),
            generation: obj.meta().generation,
            now: Timestamp::now(),
            events: Vec::new(),
            persisted_midway: false,
            exists: obj.status().is_some_and(|s| {
                matches!(conditions::reason(&s.common().conditions, READY), Some("Available" | "Updating"))
            }),
        };
        let result = if obj.meta().deletion_timestamp.is_some() {
            self.finalize(&mut pass, key).await
        } else {
            self.converge(&mut pass).await
        };
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => self.record_error(&mut pass, error),
        };
        if matches!(outcome, Outcome::Success | Outcome::Waiting(_)) {
            self.failures.lock().unwrap().remove(key);
        }
        let finished = obj.meta().deletion_timestamp.is_some() && outcome == Outcome::Success;
        if !finished {
            self.write_status(&mut pass).await;
            self.track_readiness(key, conditions::is_true(&pass.status.common().conditions, READY));
        }
        for event in std::mem::take(&mut pass.events) {
            self.kube.publish(obj, event).await;
        }
        let requeue = match outcome {
            Outcome::Success | Outcome::Terminal => match self.kind.revisit_in(obj, &pass.status) {
                Some(due) => Next::SettledUntil(due),
                None => Next::Settled,
            },
            Outcome::Waiting(wait) => Next::After(wait.unwrap_or(self.config.waiting)),
            Outcome::Retryable => Next::After(self.backoff(key)),
        };
        (outcome, requeue)
    }

    /// Create, adopt, update or report: everything but deletion.
    async fn converge(&self, pass: &mut Pass<'_, K>) -> Result<Outcome, Error> {
        let obj = pass.obj;
        let spec = obj.spec();
        let policies = spec.policies();
        let full = policies.management_policy == ManagementPolicy::Full;
        if full && !obj.finalizers().iter().any(|f| f == FINALIZER) {
            self.kube.add_finalizer(obj).await?;
        }

        let grants = self.policy.grants(&obj.namespace().unwrap_or_default());
        if let Err(error) = self.kind.check_policy(obj, &grants).await {
            if error.reason == super::error::TerminalReason::Forbidden {
                self.metrics.forbidden.with_label_values(&[K::KIND]).inc();
            }
            return Err(error);
        }

        match self.kind.observe(obj, &mut pass.status).await? {
            Observation::Absent if !full => {
                pass.condition(ConditionUpdate::false_(
                    READY,
                    "Unavailable",
                    "not found in AWS; managementPolicy ObserveOnly does not create it",
                ));
                pass.synced();
                Ok(Outcome::Success)
            }
            Observation::Absent => {
                pass.exists = false;
                // What this object creates is its own from the first byte persisted: a
                // marker written mid-create records the ownership with it.
                let owned_before = pass.status.common().owned;
                pass.status.common_mut().owned = Some(true);
                let sink = Sink::<K, S> { kube: &self.kube, obj, persisted: Default::default() };
                let created = self.kind.create(obj, &mut pass.status, &sink).await;
                pass.persisted_midway = sink.persisted.load(std::sync::atomic::Ordering::Relaxed);
                if created.is_err() && !pass.persisted_midway {
                    pass.status.common_mut().owned = owned_before;
                }
                match created? {
                    Progress::Done(message) => {
                        pass.event(EventKind::Created, message.clone());
                        pass.condition(ConditionUpdate::false_(READY, "Creating", message));
                        pass.synced();
                        Ok(Outcome::Waiting(None))
                    }
                    Progress::InProgress(message) => {
                        pass.event(EventKind::Created, message.clone());
                        Err(Error::waiting(message))
                    }
                }
            }
            Observation::Present { diffs, availability, linked } => {
                pass.exists = true;
                let (ownership, diffs): (Vec<FieldDiff>, Vec<FieldDiff>) = diffs.into_iter().partition(|d| d.ownership);
                let (scheduled, mut diffs): (Vec<FieldDiff>, Vec<FieldDiff>) =
                    diffs.into_iter().partition(|d| d.scheduled.is_some() && full);
                let just_linked = linked.is_some();
                let adopted = match linked {
                    Some(Linked::Adopted(message)) => Some(message),
                    Some(Linked::Created(message)) => {
                        tracing::info!(kind = K::KIND, "{message}");
                        None
                    }
                    None => None,
                };
                let (lost, took) = self.apply_ownership(pass, ownership, full, just_linked).await?;
                diffs.extend(lost);
                let mut scheduled_running = None;
                if !scheduled.is_empty() {
                    if let Progress::InProgress(message) = self.kind.update(obj, &mut pass.status, &scheduled).await? {
                        scheduled_running = Some(message);
                    }
                    let mut announced: Vec<EventKind> = scheduled.iter().filter_map(|d| d.scheduled).collect();
                    announced.dedup();
                    for event in announced {
                        let these: Vec<FieldDiff> =
                            scheduled.iter().filter(|d| d.scheduled == Some(event)).cloned().collect();
                        pass.event(event, describe(&these));
                    }
                }
                let adopted = match (adopted, took) {
                    (Some(message), Some(took)) => Some(format!("{message}; {took}")),
                    (None, Some(took)) => Some(format!("took ownership: {took}")),
                    (message, None) => message,
                };
                if let Some(message) = adopted {
                    pass.event(EventKind::Adopted, message);
                }
                pass.availability(&availability);
                let outcome = if diffs.is_empty() {
                    self.set_drifted(obj, false);
                    pass.synced();
                    Outcome::Success
                } else {
                    self.handle_differences(pass, diffs, full, policies.drift_policy).await?
                };
                if let (Outcome::Success, Some(message)) = (outcome, scheduled_running) {
                    // A scheduled change still running in AWS: looked at again soon.
                    return Err(Error::waiting(message));
                }
                if full && outcome == Outcome::Success && pass.status.common().owned != Some(false) {
                    self.kind.audit(obj, &mut pass.status).await?;
                }
                Ok(outcome)
            }
        }
    }

    /// The ownership tags' differences (see [`super::ownership`]). Under ObserveOnly they
    /// are only a fact; under Full they are written as part of adoption the first time
    /// (returning what was written), and are drift once the resource was owned
    /// (returned, to be handled with the other differences). A resource linked in this
    /// very pass was not owned before, whatever the status says.
    async fn apply_ownership(
        &self,
        pass: &mut Pass<'_, K>,
        ownership: Vec<FieldDiff>,
        full: bool,
        just_linked: bool,
    ) -> Result<(Vec<FieldDiff>, Option<String>), Error> {
        let owned_before = !just_linked && pass.obj.status().and_then(|s| s.common().owned) == Some(true);
        if !full || ownership.is_empty() {
            pass.status.common_mut().owned = Some(ownership.is_empty());
            return Ok((Vec::new(), None));
        }
        if owned_before {
            return Ok((ownership, None));
        }
        self.kind.update(pass.obj, &mut pass.status, &ownership).await?;
        pass.status.common_mut().owned = Some(true);
        let paths: Vec<&str> = ownership.iter().map(|d| d.path.as_str()).collect();
        Ok((Vec::new(), Some(format!("wrote the ownership tags {}", paths.join(", ")))))
    }

    /// AWS differs from the spec. After a spec change that is work to do; when AWS moved
    /// away from a spec it already matched, it is drift, corrected or only reported.
    async fn handle_differences(
        &self,
        pass: &mut Pass<'_, K>,
        diffs: Vec<FieldDiff>,
        full: bool,
        drift_policy: DriftPolicy,
    ) -> Result<Outcome, Error> {
        let previous = pass.obj.status().filter(|s| s.common().observed_generation == pass.generation);
        let mut fields: Vec<String> = Vec::new();
        for diff in &diffs {
            if !fields.contains(&diff.path) {
                fields.push(diff.path.clone());
            }
        }
        // Drift already reported at this generation stays drift: it is not a spec change.
        let reported =
            previous.is_some_and(|s| conditions::reason(&s.common().conditions, SYNCED) == Some(DRIFT_DETECTED));
        // So does drift whose correction had to wait (another operation ran in AWS): it
        // was detected and counted once, and is corrected now.
        let continuing = previous.is_some_and(|s| {
            !conditions::is_true(&s.common().conditions, READY)
                && s.common().last_drift.as_ref().is_some_and(|d| d.corrected && d.fields == fields)
        });
        let was_in_sync = reported
            || continuing
            || previous.is_some_and(|s| {
                conditions::is_true(&s.common().conditions, SYNCED)
                    && conditions::is_true(&s.common().conditions, READY)
            });
        let writable: Vec<FieldDiff> = diffs.iter().filter(|d| !d.report_only).cloned().collect();
        let may_write = full && !writable.is_empty() && (!was_in_sync || drift_policy == DriftPolicy::Correct);
        let described = describe(&diffs);
        let is_drift = was_in_sync || !may_write;
        let already_recorded = continuing
            || (reported
                && !may_write
                && previous
                    .and_then(|s| s.common().last_drift.as_ref())
                    .is_some_and(|d| d.fields == fields && !d.corrected));
        if is_drift && !already_recorded {
            for field in &fields {
                self.metrics.drift_detected.with_label_values(&[K::KIND, field]).inc();
            }
            pass.status.common_mut().last_drift =
                Some(DriftRecord { detected_at: Time(pass.now), fields: fields.clone(), corrected: may_write });
            pass.event(EventKind::DriftDetected, format!("AWS differs from the spec (AWS → spec): {described}"));
        }
        if !may_write {
            let why = if !full {
                "managementPolicy is ObserveOnly"
            } else if writable.is_empty() {
                "orgops cannot write it back"
            } else {
                "driftPolicy is Report"
            };
            self.set_drifted(pass.obj, true);
            pass.condition(ConditionUpdate::false_(
                SYNCED,
                DRIFT_DETECTED,
                format!("AWS differs from the spec and {why}, so it is left as it is (AWS → spec): {described}"),
            ));
            pass.status.common_mut().observed_generation = pass.generation;
            return Ok(Outcome::Success);
        }
        let progress = self.kind.update(pass.obj, &mut pass.status, &writable).await?;
        self.set_drifted(pass.obj, false);
        if is_drift {
            for field in &fields {
                self.metrics.drift_corrected.with_label_values(&[K::KIND, field]).inc();
            }
            pass.event(EventKind::DriftCorrected, format!("changed AWS back to the spec: {described}"));
        } else {
            pass.event(EventKind::Updated, format!("changed AWS to follow the spec: {described}"));
        }
        match progress {
            Progress::Done(_) => {
                pass.synced();
                Ok(Outcome::Success)
            }
            Progress::InProgress(message) => Err(Error::waiting(message)),
        }
    }

    /// The object is being deleted: delete or retain in AWS, then let it go.
    async fn finalize(&self, pass: &mut Pass<'_, K>, key: &str) -> Result<Outcome, Error> {
        let obj = pass.obj;
        if !obj.finalizers().iter().any(|f| f == FINALIZER) {
            return Ok(Outcome::Success);
        }
        let spec = obj.spec();
        let deletes = spec.policies().management_policy == ManagementPolicy::Full
            && spec.deletion_policy() == DeletionPolicy::Delete;
        if deletes {
            match self.delete_if_owned(pass).await? {
                Progress::Done(message) => pass.event(EventKind::Deleted, message),
                Progress::InProgress(message) => {
                    pass.condition(ConditionUpdate::false_(READY, "Deleting", message.clone()));
                    return Err(Error::waiting(message));
                }
            }
        } else {
            pass.event(EventKind::Deleted, "left in AWS (deletionPolicy Retain or managementPolicy ObserveOnly)");
        }
        self.kube.remove_finalizer(obj).await?;
        self.forget(key);
        Ok(Outcome::Success)
    }

    /// Deletes what this object owns in AWS, and nothing else: an object that owns nothing
    /// (refused, never created, status lost, only naming a resource) lets go at once with
    /// no AWS call, and one whose delete the platform policy now refuses leaves the
    /// resource where it is. Either way the message says what was left and why.
    async fn delete_if_owned(&self, pass: &mut Pass<'_, K>) -> Result<Progress, Error> {
        let obj = pass.obj;
        let left = |why: String| Ok(Progress::Done(format!("left in AWS, untouched: {why}")));
        let owned_in_status = obj.status().and_then(|s| s.common().owned);
        if owned_in_status != Some(true) {
            let refusal = obj.status().and_then(|s| {
                let synced = s.common().conditions.iter().find(|c| c.type_ == SYNCED && c.status == "False")?;
                Some(format!(" (it was refused: {}: {})", synced.reason, synced.message))
            });
            return left(format!("{}{}", NotOwned::NeverRecorded, refusal.unwrap_or_default()));
        }
        let grants = self.policy.grants(&obj.namespace().unwrap_or_default());
        match self.kind.check_policy(obj, &grants).await {
            Err(error) if error.class == ErrorClass::Terminal => {
                return left(format!("the platform policy refuses this object now: {}", error.message));
            }
            result => result?,
        }
        let observation = match self.kind.observe(obj, &mut pass.status).await {
            // Refused by what AWS holds (another object's resource, a foreign record) or
            // gone from where the spec points: nothing of this object's to delete.
            Err(error) if error.class == ErrorClass::Terminal => return left(error.message),
            result => result?,
        };
        match observation {
            Observation::Absent => Ok(Progress::Done("not found in AWS; nothing to delete".into())),
            Observation::Present { diffs, linked, .. } => {
                let tags: Vec<&FieldDiff> = diffs.iter().filter(|d| d.ownership).collect();
                match ownership::verify(owned_in_status, &tags, linked.as_ref()) {
                    Ok(owned) => self.kind.delete(obj, &mut pass.status, &owned).await,
                    Err(why) => left(why.to_string()),
                }
            }
        }
    }

    /// Turns an error into conditions and an Event (once per distinct message).
    fn record_error(&self, pass: &mut Pass<'_, K>, error: Error) -> Outcome {
        match error.class {
            ErrorClass::Waiting => {
                let reason = match (pass.obj.meta().deletion_timestamp.is_some(), pass.exists) {
                    (true, _) => "Deleting",
                    (false, true) => "Updating",
                    (false, false) => "Creating",
                };
                pass.condition(ConditionUpdate::false_(READY, reason, error.message.clone()));
                pass.synced();
                Outcome::Waiting(error.wait)
            }
            ErrorClass::Retryable | ErrorClass::Terminal => {
                let reason = match error.class {
                    ErrorClass::Retryable => retrying_reason(&pass.status.common().conditions, pass.now),
                    _ => error.reason.as_str(),
                };
                let repeated = pass.status.common().conditions.iter().any(|c| {
                    c.type_ == SYNCED && c.status == "False" && c.reason == reason && c.message == error.message
                });
                if !repeated {
                    let kind = if reason == "Forbidden" { EventKind::Forbidden } else { EventKind::Failed };
                    pass.event(kind, error.message.clone());
                }
                tracing::warn!(kind = K::KIND, object = %pass.obj.name_any(), class = ?error.class, reason, error = %error.message, "reconcile failed");
                pass.condition(ConditionUpdate::false_(SYNCED, reason, error.message.clone()));
                if !pass.status.common().conditions.iter().any(|c| c.type_ == READY) {
                    pass.condition(ConditionUpdate::false_(READY, reason, error.message));
                }
                pass.status.common_mut().observed_generation = pass.generation;
                if error.class == ErrorClass::Terminal { Outcome::Terminal } else { Outcome::Retryable }
            }
        }
    }

    async fn write_status(&self, pass: &mut Pass<'_, K>) {
        if !pass.persisted_midway && pass.obj.status() == Some(&pass.status) {
            return;
        }
        let value = match serde_json::to_value(&pass.status) {
            Ok(value) => value,
            Err(error) => return tracing::error!(%error, "encoding status"),
        };
        if let Err(error) = self.kube.apply_status(pass.obj, value).await {
            tracing::warn!(kind = K::KIND, object = %pass.obj.name_any(), error = %error.message, "writing status failed");
        }
    }

    fn backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap();
        let attempts = failures.entry(key.to_string()).or_insert(0);
        *attempts = attempts.saturating_add(1);
        let exponential = self.config.backoff_base.saturating_mul(1u32 << (*attempts - 1).min(16));
        let capped = exponential.min(self.config.backoff_max);
        // Up to 25% random jitter, so objects that failed together do not retry together.
        let jitter = RandomState::new().hash_one(key) % 1000;
        capped + capped.mul_f64(jitter as f64 / 4000.0)
    }

    /// Only drifted objects have a series: at 10,000 objects one series each would cost
    /// more memory than the objects.
    fn set_drifted(&self, obj: &K::Resource, drifted: bool) {
        let labels = [K::KIND, &obj.namespace().unwrap_or_default(), &obj.name_any()];
        if drifted {
            self.metrics.drifted.with_label_values(&labels).set(1);
        } else {
            let _ = self.metrics.drifted.remove_label_values(&labels);
        }
    }

    fn track_readiness(&self, key: &str, ready: bool) {
        let previous = self.readiness.lock().unwrap().insert(key.to_string(), ready);
        if previous != Some(ready) {
            if let Some(was) = previous {
                self.metrics.resources.with_label_values(&[K::KIND, ready_label(was)]).dec();
            }
            self.metrics.resources.with_label_values(&[K::KIND, ready_label(ready)]).inc();
            let (namespace, name) = key.split_once('/').unwrap_or(("", key));
            if ready {
                let _ = self.metrics.not_ready.remove_label_values(&[K::KIND, namespace, name]);
            } else {
                self.metrics.not_ready.with_label_values(&[K::KIND, namespace, name]).set(1);
            }
        }
    }

    /// Drops what the driver keeps about an object that is gone (`namespace/name`).
    pub fn forget(&self, key: &str) {
        if let Some(was) = self.readiness.lock().unwrap().remove(key) {
            self.metrics.resources.with_label_values(&[K::KIND, ready_label(was)]).dec();
        }
        self.failures.lock().unwrap().remove(key);
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let _ = self.metrics.drifted.remove_label_values(&[K::KIND, namespace, name]);
        let _ = self.metrics.not_ready.remove_label_values(&[K::KIND, namespace, name]);
    }
}

/// The `Synced` reason of a retryable error: [`RETRYING`] until retryable errors have
/// held Synced False for [`RETRYING_IS_DEGRADED_AFTER`], then [`RETRYING_TOO_LONG`].
fn retrying_reason(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    now: Timestamp,
) -> &'static str {
    let retrying_since = conditions
        .iter()
        .find(|c| c.type_ == SYNCED && c.status == "False" && matches!(c.reason.as_str(), RETRYING | RETRYING_TOO_LONG))
        .map(|c| c.last_transition_time.0);
    match retrying_since {
        Some(since) if now.duration_since(since).as_secs() >= RETRYING_IS_DEGRADED_AFTER.as_secs() as i64 => {
            RETRYING_TOO_LONG
        }
        _ => RETRYING,
    }
}

fn ready_label(ready: bool) -> &'static str {
    if ready { "true" } else { "false" }
}

/// What AWS had and what the spec says, per field:
/// `organizationalUnit: Workloads/Billing → Workloads/Payroll; tags.team: (absent) → payroll`.
fn describe(diffs: &[FieldDiff]) -> String {
    diffs.iter().map(|d| format!("{}: {} → {}", d.path, d.actual, d.desired)).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
