//! The reconcile model: one generic [`Driver`] owns the order of every reconcile; each
//! kind implements [`ManagedKind`] and only translates between its spec and AWS.

pub mod conditions;
mod driver;
pub mod error;
pub mod ownership;
pub mod queue;
pub mod runner;

pub use driver::{Driver, DriverConfig, EventKind, FINALIZER, KubeSide, ObjectEvent};
pub use error::Error;

use crate::policy::Grants;
use futures::future::BoxFuture;
use kube::Resource;
use kube::core::object::{HasSpec, HasStatus};
use orgops_api::{ManagedSpec, ManagedStatus};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;

/// The status type of a kind.
pub type StatusOf<K> = <<K as ManagedKind>::Resource as HasStatus>::Status;

/// One field where AWS differs from the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDiff {
    /// Path of the spec field (`organizationalUnit`, `tags.team`).
    pub path: String,
    /// What the spec says, for messages.
    pub desired: String,
    /// What AWS has, for messages.
    pub actual: String,
    /// An ownership tag rather than a field the user wrote (see [`ownership`]).
    pub ownership: bool,
    /// A change the spec scheduled for a time that has come (an assignment's expiry):
    /// neither drift nor a spec change, and made whatever the drift policy, with an Event
    /// of this reason.
    pub scheduled: Option<EventKind>,
    /// A difference orgops sees but cannot write back (resources changed inside a stack,
    /// which CloudFormation does not restore): reported whatever the drift policy.
    pub report_only: bool,
}

impl FieldDiff {
    /// A difference at `path`.
    pub fn new(path: impl Into<String>, desired: impl Into<String>, actual: impl Into<String>) -> Self {
        FieldDiff {
            path: path.into(),
            desired: desired.into(),
            actual: actual.into(),
            ownership: false,
            scheduled: None,
            report_only: false,
        }
    }

    /// A difference orgops can only report.
    pub fn report_only(path: impl Into<String>, desired: impl Into<String>, actual: impl Into<String>) -> Self {
        FieldDiff { report_only: true, ..FieldDiff::new(path, desired, actual) }
    }

    /// A difference the spec scheduled for a time that has come (Event `Expired`).
    pub fn scheduled(path: impl Into<String>, desired: impl Into<String>, actual: impl Into<String>) -> Self {
        FieldDiff::scheduled_with(path, desired, actual, EventKind::Expired)
    }

    /// A scheduled difference announced by an Event of its own reason.
    pub fn scheduled_with(
        path: impl Into<String>,
        desired: impl Into<String>,
        actual: impl Into<String>,
        event: EventKind,
    ) -> Self {
        FieldDiff { scheduled: Some(event), ..FieldDiff::new(path, desired, actual) }
    }

    /// A difference in an ownership tag.
    pub fn ownership(path: impl Into<String>, desired: impl Into<String>, actual: impl Into<String>) -> Self {
        FieldDiff { ownership: true, ..FieldDiff::new(path, desired, actual) }
    }
}

/// Whether the AWS resource can be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// It exists and is usable.
    Available,
    /// It exists but is not usable (suspended, closing, ...): the reason.
    Unavailable(String),
}

/// What `observe` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// Nothing in AWS answers to this object. (An AWS operation still running for it is
    /// reported as a waiting error instead.)
    Absent,
    /// It exists in AWS.
    Present {
        /// Where AWS differs from the spec; empty when in sync.
        diffs: Vec<FieldDiff>,
        /// Whether it is usable.
        availability: Availability,
        /// Set when this observe linked the object to the AWS resource for the first time.
        linked: Option<Linked>,
    },
}

/// How an object came to be linked to its AWS resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linked {
    /// An existing resource was adopted: the message says which and why.
    Adopted(String),
    /// The resource orgops asked for finished creating.
    Created(String),
}

/// The result of a write: finished, or still running in AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Finished; the message describes what was done.
    Done(String),
    /// Accepted by AWS and still running; requeue soon.
    InProgress(String),
}

/// Writes status right away, for kinds that must persist a marker before an AWS call
/// (CreateAccount has no idempotency token).
pub trait StatusSink<S>: Send + Sync {
    /// Persists `status` now.
    fn persist<'a>(&'a self, status: &'a S) -> BoxFuture<'a, Result<(), Error>>;
}

/// A [`StatusSink`] that keeps nothing, for unit tests of kinds that do not look at what
/// was persisted mid-create.
#[cfg(test)]
pub struct NoSink;

#[cfg(test)]
impl<S: Sync> StatusSink<S> for NoSink {
    fn persist<'a>(&'a self, _: &'a S) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
}

/// One kind of managed resource. Every method is idempotent; the driver decides which to
/// call and when.
pub trait ManagedKind: Send + Sync + 'static {
    /// The custom resource.
    type Resource: Resource<DynamicType = ()>
        + HasSpec<Spec: ManagedSpec + Send + Sync>
        + HasStatus<Status: ManagedStatus + Default + Clone + PartialEq + Serialize + Debug + Send + Sync>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static;

    /// The kind's name, for metrics and logs.
    const KIND: &'static str;

    /// Checks the object against what the platform policy grants its namespace. Nothing
    /// here writes to AWS.
    fn check_policy(&self, obj: &Self::Resource, grants: &Grants) -> impl Future<Output = Result<(), Error>> + Send;

    /// Finds the AWS resource and what differs; records what it saw in `status`.
    fn observe(
        &self,
        obj: &Self::Resource,
        status: &mut StatusOf<Self>,
    ) -> impl Future<Output = Result<Observation, Error>> + Send;

    /// Creates the AWS resource (called only after observe said `Absent`).
    fn create(
        &self,
        obj: &Self::Resource,
        status: &mut StatusOf<Self>,
        sink: &dyn StatusSink<StatusOf<Self>>,
    ) -> impl Future<Output = Result<Progress, Error>> + Send;

    /// Makes AWS match the spec in the given fields, calling only the APIs they need.
    fn update(
        &self,
        obj: &Self::Resource,
        status: &mut StatusOf<Self>,
        diffs: &[FieldDiff],
    ) -> impl Future<Output = Result<Progress, Error>> + Send;

    /// Starts a periodic sweep: re-reads the kind's shared snapshots of AWS, so that every
    /// object checked in this sweep is judged against AWS as it was after the sweep began.
    fn begin_sweep(&self) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// Runs the kind's slower, deeper check of AWS when it falls due (CloudFormation's own
    /// drift detection), for an owned object the pass left in sync or only reported. It
    /// may start an AWS job that changes no resource; a later observe reads its findings.
    fn audit(
        &self,
        _obj: &Self::Resource,
        _status: &mut StatusOf<Self>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// How soon something the spec set for a time falls due (an assignment's expiry), so
    /// the object is looked at then rather than at the next sweep.
    fn revisit_in(&self, _obj: &Self::Resource, _status: &StatusOf<Self>) -> Option<std::time::Duration> {
        None
    }

    /// Deletes the AWS resource: called only with `deletionPolicy: Delete`, after observe
    /// said `Present` and the driver verified that this object owns what it found
    /// ([`ownership::verify`], the only maker of `owned`).
    fn delete(
        &self,
        obj: &Self::Resource,
        status: &mut StatusOf<Self>,
        owned: &ownership::Owned,
    ) -> impl Future<Output = Result<Progress, Error>> + Send;
}
