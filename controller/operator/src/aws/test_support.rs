//! What the in-memory fakes of the services share: the log of calls with their queued
//! failures, and the scripted states of long-running operations.

use crate::aws::AwsError;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The calls a fake received, and the errors its next calls fail with, one per call.
#[derive(Default)]
pub struct CallLog {
    calls: Mutex<Vec<String>>,
    failing: Mutex<HashMap<&'static str, VecDeque<AwsError>>>,
}

impl CallLog {
    /// Records a call; fails it when an error was queued for the operation.
    pub fn call(&self, name: &'static str) -> Result<(), AwsError> {
        self.calls.lock().unwrap().push(name.to_string());
        match self.failing.lock().unwrap().get_mut(name).and_then(VecDeque::pop_front) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Every call, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// How many calls of the operation were made.
    pub fn count(&self, name: &str) -> usize {
        self.calls.lock().unwrap().iter().filter(|c| *c == name).count()
    }

    /// The next call of the operation fails with `error`.
    pub fn fail_next(&self, name: &'static str, error: AwsError) {
        self.failing.lock().unwrap().entry(name).or_default().push_back(error);
    }
}

/// The state a scripted operation reports at a status call: the next of its states, the
/// last one repeating (`done` when there are none).
pub fn next_state<T: Clone>(states: &mut VecDeque<T>, done: T) -> T {
    if states.len() > 1 {
        states.pop_front().expect("more than one state")
    } else {
        states.front().cloned().unwrap_or(done)
    }
}
