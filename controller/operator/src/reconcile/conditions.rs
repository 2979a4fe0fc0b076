//! `Ready` and `Synced` conditions, with `lastTransitionTime` kept while the status holds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The `Ready` condition type: the AWS resource exists and is usable.
pub const READY: &str = "Ready";
/// The `Synced` condition type: the last reconcile made AWS match the spec.
pub const SYNCED: &str = "Synced";

/// A condition to set: type, status, reason and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionUpdate {
    /// `Ready` or `Synced`.
    pub type_: &'static str,
    /// `True`, `False` or `Unknown`.
    pub status: bool,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
}

impl ConditionUpdate {
    /// A condition that is `True`.
    pub fn true_(type_: &'static str, reason: &str, message: impl Into<String>) -> Self {
        ConditionUpdate { type_, status: true, reason: reason.into(), message: message.into() }
    }

    /// A condition that is `False`.
    pub fn false_(type_: &'static str, reason: &str, message: impl Into<String>) -> Self {
        ConditionUpdate { type_, status: false, reason: reason.into(), message: message.into() }
    }
}

/// Sets a condition in the list. `lastTransitionTime` changes only when the status does.
pub fn set(conditions: &mut Vec<Condition>, update: ConditionUpdate, generation: Option<i64>, now: Timestamp) {
    let status = if update.status { "True" } else { "False" }.to_string();
    let existing = conditions.iter_mut().find(|c| c.type_ == update.type_);
    let transition = match &existing {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(now),
    };
    let condition = Condition {
        type_: update.type_.to_string(),
        status,
        reason: update.reason,
        message: update.message,
        observed_generation: generation,
        last_transition_time: transition,
    };
    match existing {
        Some(c) => *c = condition,
        None => conditions.push(condition),
    }
}

/// The reason of the condition of this type, if it is set.
pub fn reason<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a str> {
    conditions.iter().find(|c| c.type_ == type_).map(|c| c.reason.as_str())
}

/// Whether the condition of this type is `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn transition_time_is_kept_while_the_status_holds() {
        let mut conditions = Vec::new();
        set(&mut conditions, ConditionUpdate::false_(READY, "Creating", "creating"), Some(1), at(100));
        set(&mut conditions, ConditionUpdate::false_(READY, "Creating", "still creating"), Some(1), at(200));
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, Time(at(100)));
        assert_eq!(conditions[0].message, "still creating");

        set(&mut conditions, ConditionUpdate::true_(READY, "Available", ""), Some(2), at(300));
        assert_eq!(conditions[0].last_transition_time, Time(at(300)));
        assert_eq!(conditions[0].observed_generation, Some(2));
        assert!(is_true(&conditions, READY));
        assert!(!is_true(&conditions, SYNCED));
    }

    #[test]
    fn conditions_of_other_types_are_independent() {
        let mut conditions = Vec::new();
        set(&mut conditions, ConditionUpdate::true_(READY, "Available", ""), None, at(1));
        set(&mut conditions, ConditionUpdate::false_(SYNCED, "ReconcileError", "boom"), None, at(2));
        assert_eq!(conditions.len(), 2);
        assert!(is_true(&conditions, READY));
    }
}
