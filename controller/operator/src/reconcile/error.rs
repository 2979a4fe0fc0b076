//! Errors of a reconcile, each with the class that decides what happens next.

use crate::policy::Refusal;
use std::fmt;
use std::time::Duration;

/// What the driver does with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The spec (or the platform policy) must change: report and wait, no retry storm.
    Terminal,
    /// A transient failure (throttling, 5xx, a limit): retry with capped, jittered backoff.
    Retryable,
    /// AWS is still working on something: requeue soon; not a failure.
    Waiting,
}

/// The `Synced=False` reason a terminal error reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminalReason {
    /// The platform policy does not allow it.
    Forbidden,
    /// The spec is invalid in a way admission cannot see.
    Invalid,
    /// AWS refused it for a reason the spec must fix.
    ReconcileError,
}

impl TerminalReason {
    /// The condition reason.
    pub fn as_str(self) -> &'static str {
        match self {
            TerminalReason::Forbidden => "Forbidden",
            TerminalReason::Invalid => "Invalid",
            TerminalReason::ReconcileError => "ReconcileError",
        }
    }
}

/// An error of a kind's observe/create/update/delete, or of a policy check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What happens next.
    pub class: ErrorClass,
    /// For terminal errors, the `Synced` reason.
    pub reason: TerminalReason,
    /// A message for the condition and the Event: names the field or rule, and AWS's reason.
    pub message: String,
    /// For waiting errors, how soon to look again when it is not the driver's default.
    pub wait: Option<Duration>,
}

impl Error {
    /// The platform policy forbids it; the message names the rule.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Error { class: ErrorClass::Terminal, reason: TerminalReason::Forbidden, message: message.into(), wait: None }
    }

    /// The spec is invalid; the message names the field and the rule.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error { class: ErrorClass::Terminal, reason: TerminalReason::Invalid, message: message.into(), wait: None }
    }

    /// AWS refused for a reason only a spec change fixes.
    pub fn terminal(message: impl Into<String>) -> Self {
        Error {
            class: ErrorClass::Terminal,
            reason: TerminalReason::ReconcileError,
            message: message.into(),
            wait: None,
        }
    }

    /// A transient failure.
    pub fn retryable(message: impl Into<String>) -> Self {
        Error {
            class: ErrorClass::Retryable,
            reason: TerminalReason::ReconcileError,
            message: message.into(),
            wait: None,
        }
    }

    /// An AWS operation is in flight.
    pub fn waiting(message: impl Into<String>) -> Self {
        Error {
            class: ErrorClass::Waiting,
            reason: TerminalReason::ReconcileError,
            message: message.into(),
            wait: None,
        }
    }

    /// Waiting for a turn that costs no AWS call to check (a free slot among the
    /// creations in flight): look again after `wait`.
    pub fn waiting_for_turn(message: impl Into<String>, wait: Duration) -> Self {
        Error { wait: Some(wait), ..Error::waiting(message) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.class, self.message)
    }
}

impl std::error::Error for Error {}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        Error::forbidden(refusal.0)
    }
}
