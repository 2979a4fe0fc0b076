//! The work queue of one kind: which object is reconciled next. Changes go first, then
//! the objects found unsettled at start-up, then periodic re-checks, so a merged pull
//! request is acted on within seconds whatever the size of the estate; re-checks get
//! only the workers (and so the AWS budget) that changes leave.
//!
//! Pure bookkeeping on object keys (`namespace/name`): the runner feeds it watch events
//! and sweeps, and workers take keys from it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Why a key is queued; earlier variants are served first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// A new object, a spec change, a deletion, or a requeue of work in flight.
    Change = 0,
    /// An object found unsettled when the operator started (never reconciled, or left
    /// mid-work by the previous leader).
    Backlog = 1,
    /// A periodic re-check of a settled object.
    Recheck = 2,
}

const PRIORITIES: [Priority; 3] = [Priority::Change, Priority::Backlog, Priority::Recheck];

/// The version of an object a pass looked at. A later watch event with the same version
/// is only a status or metadata write, often orgops's own: no reason to look again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

/// What a finished pass asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Settled: look again at the next sweep, or when the object changes.
    Settled,
    /// Look again after this delay (an AWS operation in flight, or a retry).
    After(Duration),
    /// Settled, and also look again after this delay, when something the spec set for a
    /// time falls due (an assignment's expiry). Sweeps still re-check it meanwhile.
    SettledUntil(Duration),
}

/// A key handed to a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    /// `namespace/name`.
    pub key: String,
    /// Why it was queued.
    pub priority: Priority,
}

#[derive(Default)]
struct State {
    ready: [VecDeque<String>; 3],
    /// Keys waiting in `ready`, with the priority they wait at (entries of a key at any
    /// other priority are stale and skipped).
    queued: HashMap<String, Priority>,
    /// Keys being reconciled, with their priority and the version the pass looks at.
    active: HashMap<String, (Priority, Option<Version>)>,
    /// Keys that changed while being reconciled: queued again when the pass ends.
    dirty: HashSet<String>,
    /// Keys to requeue at a time, with the version their last pass saw.
    delayed: HashMap<String, (Instant, Version)>,
    /// Settled keys with something falling due at a time.
    alarms: HashMap<String, Instant>,
    timers: BinaryHeap<Reverse<(Instant, String)>>,
    /// Re-checks of the current sweep not finished yet.
    sweep_left: usize,
    /// Re-checks running now.
    rechecks_running: usize,
}

impl State {
    fn push(&mut self, key: &str, priority: Priority) -> bool {
        if self.queued.get(key).is_some_and(|p| *p <= priority) {
            return false;
        }
        if self.queued.get(key) == Some(&Priority::Recheck) {
            // Upgraded: the re-check it replaces counts as done when this pass ends.
            self.sweep_left = self.sweep_left.saturating_sub(1);
        }
        self.queued.insert(key.to_string(), priority);
        self.ready[priority as usize].push_back(key.to_string());
        true
    }

    fn release_due_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                return;
            }
            let Reverse((at, key)) = self.timers.pop().expect("peeked");
            if self.delayed.get(&key).is_some_and(|(due, _)| *due == at) {
                self.delayed.remove(&key);
                self.push(&key, Priority::Change);
            } else if self.alarms.get(&key) == Some(&at) {
                self.alarms.remove(&key);
                if !self.active.contains_key(&key) {
                    self.push(&key, Priority::Change);
                } else {
                    self.dirty.insert(key);
                }
            }
        }
    }

    fn pop(&mut self, recheck_slots: usize) -> Option<Work> {
        for priority in PRIORITIES {
            if priority == Priority::Recheck && self.rechecks_running >= recheck_slots {
                return None;
            }
            while let Some(key) = self.ready[priority as usize].pop_front() {
                if self.queued.get(&key) != Some(&priority) {
                    continue;
                }
                self.queued.remove(&key);
                self.active.insert(key.clone(), (priority, None));
                if priority == Priority::Recheck {
                    self.rechecks_running += 1;
                }
                return Some(Work { key, priority });
            }
        }
        None
    }

    fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }
}

/// The queue shared by a kind's runner and workers.
pub struct WorkQueue {
    state: Mutex<State>,
    recheck_slots: usize,
    wake: Notify,
    sweep_finished: Notify,
}

impl WorkQueue {
    /// A queue whose re-checks occupy at most `recheck_slots` workers at once.
    pub fn new(recheck_slots: usize) -> Self {
        WorkQueue {
            state: Mutex::new(State::default()),
            recheck_slots: recheck_slots.max(1),
            wake: Notify::new(),
            sweep_finished: Notify::new(),
        }
    }

    /// A watch event: the object is at `version`; `settled` when its status says nothing is
    /// left to do; `at_start` for the objects listed when the operator started.
    pub fn offer(&self, key: &str, version: Version, settled: bool, at_start: bool) {
        let mut state = self.state.lock().unwrap();
        if let Some((_, seen)) = state.active.get(key) {
            if *seen != Some(version) {
                state.dirty.insert(key.to_string());
            }
            return;
        }
        if state.delayed.get(key).is_some_and(|(_, seen)| *seen == version) {
            return; // its requeue is already scheduled
        }
        if settled && !state.queued.contains_key(key) {
            return;
        }
        state.delayed.remove(key);
        let priority = if at_start { Priority::Backlog } else { Priority::Change };
        if state.push(key, priority) {
            drop(state);
            self.wake.notify_one();
        }
    }

    /// Something the object depends on changed (not the object itself): look at it again
    /// as a change, whatever its status says.
    pub fn poke(&self, key: &str) {
        let mut state = self.state.lock().unwrap();
        if state.active.contains_key(key) {
            state.dirty.insert(key.to_string());
            return;
        }
        state.delayed.remove(key);
        if state.push(key, Priority::Change) {
            drop(state);
            self.wake.notify_one();
        }
    }

    /// Starts a sweep: every key is re-checked, except those with work already queued or
    /// scheduled; one being reconciled now is looked at again when it finishes, since its
    /// pass may have read AWS before the sweep began.
    pub fn recheck_all(&self, keys: impl IntoIterator<Item = String>) {
        let mut state = self.state.lock().unwrap();
        for key in keys {
            if state.active.contains_key(&key) {
                state.dirty.insert(key);
            } else if !state.queued.contains_key(&key) && !state.delayed.contains_key(&key) {
                state.push(&key, Priority::Recheck);
                state.sweep_left += 1;
            }
        }
        let empty = state.sweep_left == 0;
        drop(state);
        self.wake.notify_waiters();
        if empty {
            self.sweep_finished.notify_waiters();
        }
    }

    /// Waits until every re-check of the current sweep has finished.
    pub async fn sweep_finished(&self) {
        loop {
            let finished = self.sweep_finished.notified();
            if self.state.lock().unwrap().sweep_left == 0 {
                return;
            }
            finished.await;
        }
    }

    /// The next key to reconcile, waiting until there is one.
    pub async fn next(&self) -> Work {
        loop {
            let woken = self.wake.notified();
            let wake_at = {
                let mut state = self.state.lock().unwrap();
                state.release_due_timers(Instant::now());
                if let Some(work) = state.pop(self.recheck_slots) {
                    return work;
                }
                state.next_timer()
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        () = woken => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => woken.await,
            }
        }
    }

    /// The version of the object the pass of `key` looks at.
    pub fn looking_at(&self, key: &str, version: Version) {
        if let Some(entry) = self.state.lock().unwrap().active.get_mut(key) {
            entry.1 = Some(version);
        }
    }

    /// The pass of `key` ended.
    pub fn done(&self, key: &str, next: Next) {
        let mut state = self.state.lock().unwrap();
        let Some((priority, version)) = state.active.remove(key) else { return };
        let mut sweep_ended = false;
        if priority == Priority::Recheck {
            state.rechecks_running -= 1;
            state.sweep_left = state.sweep_left.saturating_sub(1);
            sweep_ended = state.sweep_left == 0;
        }
        if state.dirty.remove(key) {
            state.push(key, Priority::Change);
        } else {
            match (next, version) {
                (Next::After(delay), Some(version)) => {
                    let at = Instant::now() + delay;
                    state.delayed.insert(key.to_string(), (at, version));
                    state.timers.push(Reverse((at, key.to_string())));
                }
                (Next::SettledUntil(delay), _) => {
                    let at = Instant::now() + delay;
                    state.alarms.insert(key.to_string(), at);
                    state.timers.push(Reverse((at, key.to_string())));
                }
                _ => {}
            }
        }
        drop(state);
        // Another worker may wait for a re-check slot, or for the timer just set.
        self.wake.notify_waiters();
        if sweep_ended {
            self.sweep_finished.notify_waiters();
        }
    }

    /// The object is gone: drop whatever was queued or scheduled for it.
    pub fn forget(&self, key: &str) {
        let mut state = self.state.lock().unwrap();
        if state.queued.remove(key) == Some(Priority::Recheck) {
            state.sweep_left = state.sweep_left.saturating_sub(1);
        }
        state.delayed.remove(key);
        state.alarms.remove(key);
        state.dirty.remove(key);
        let ended = state.sweep_left == 0;
        drop(state);
        if ended {
            self.sweep_finished.notify_waiters();
        }
    }

    /// Keys waiting at `Change` or `Backlog` priority, or being reconciled for them.
    pub fn pending_changes(&self) -> usize {
        let state = self.state.lock().unwrap();
        let waiting = state.queued.values().filter(|p| **p != Priority::Recheck).count();
        waiting + state.active.values().filter(|(p, _)| *p != Priority::Recheck).count()
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
