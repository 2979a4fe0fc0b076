//! The change feed: AWS's own record of writes (CloudTrail events through EventBridge to
//! an SQS queue) tells orgops what changed, so drift is found seconds after it happens
//! and the periodic resync becomes a slow safety net.
//!
//! Each message names AWS resources; every kind forgets what its snapshots hold of them
//! and queues the objects that depend on them, as changes. A message is deleted only
//! after that. Writes orgops made itself are recognised by their caller and ignored. A
//! feed that fails, or stays silent longer than its heartbeat allows, switches the
//! resync back to the short period until it delivers again.

pub mod change_event;

use crate::aws::sqs::{ChangeQueue, LONG_POLL_SECONDS};
use crate::feed::change_event::{ChangeMessage, OwnIdentity, Touched, parse};
use crate::metrics::Metrics;
use crate::reconcile::runner::Poker;
use crate::reconcile::{Driver, KubeSide, ManagedKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// A kind that takes the feed's news.
pub trait FollowsChanges: ManagedKind {
    /// Drops what the kind's snapshots hold of `touched`, so its next observe reads AWS.
    fn forget(&self, touched: &Touched);
    /// Whether `obj` depends on `touched`.
    fn concerns(&self, obj: &Self::Resource, touched: &Touched) -> bool;
}

/// One kind, as the feed sees it.
pub trait Follower: Send + Sync {
    /// The kind's name.
    fn kind(&self) -> &'static str;
    /// Forgets what the kind holds of `touched` and queues its objects that depend on it;
    /// how many were queued.
    fn changed(&self, touched: &Touched) -> usize;
}

/// A kind's driver and queue, following the feed.
pub struct KindFollower<K: FollowsChanges, S: KubeSide<K::Resource>> {
    driver: Arc<Driver<K, S>>,
    poker: Poker<K::Resource>,
}

impl<K: FollowsChanges, S: KubeSide<K::Resource>> KindFollower<K, S> {
    /// Follows with `driver`'s kind, queueing through `poker`.
    pub fn new(driver: Arc<Driver<K, S>>, poker: Poker<K::Resource>) -> Self {
        KindFollower { driver, poker }
    }
}

impl<K: FollowsChanges, S: KubeSide<K::Resource> + 'static> Follower for KindFollower<K, S> {
    fn kind(&self) -> &'static str {
        K::KIND
    }

    fn changed(&self, touched: &Touched) -> usize {
        let kind = self.driver.kind();
        kind.forget(touched);
        self.poker.poke_where(|obj| kind.concerns(obj, touched))
    }
}

/// How the feed runs.
#[derive(Clone, Debug)]
pub struct FeedSettings {
    /// The resync while the feed delivers: the safety net's period.
    pub resync: Duration,
    /// The resync while it does not.
    pub fallback_resync: Duration,
    /// How long the feed may go without a message (the heartbeat included) or without a
    /// successful receive before it counts as down.
    pub silence: Duration,
}

/// What became of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Objects were queued.
    Mapped,
    /// A write orgops made itself.
    Own,
    /// A write to nothing an object depends on.
    Unrelated,
    /// A failed or read-only call.
    NoChange,
    /// The feed's heartbeat.
    Heartbeat,
    /// An event of a kind the feed does not carry.
    Unknown,
    /// Not an EventBridge event.
    Malformed,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Mapped => "mapped",
            Outcome::Own => "own",
            Outcome::Unrelated => "unrelated",
            Outcome::NoChange => "no_change",
            Outcome::Heartbeat => "heartbeat",
            Outcome::Unknown => "unknown",
            Outcome::Malformed => "malformed",
        }
    }
}

/// The consumer of the change queue: tells `followers` what changed and sets the
/// runners' resync through `resync`.
pub struct Feed<Q: ChangeQueue> {
    pub queue: Q,
    pub own: OwnIdentity,
    pub followers: Vec<Box<dyn Follower>>,
    pub metrics: Metrics,
    pub settings: FeedSettings,
    pub resync: watch::Sender<Duration>,
}

impl<Q: ChangeQueue> Feed<Q> {
    /// Handles one message body: forgets and queues what it names.
    pub fn handle(&self, body: &str) -> Outcome {
        let message = match parse(body) {
            Ok(message) => message,
            Err(why) => {
                tracing::warn!(why, body = %body.chars().take(200).collect::<String>(), "dropping a malformed change message");
                return Outcome::Malformed;
            }
        };
        let call = match message {
            ChangeMessage::ApiCall(call) => call,
            ChangeMessage::NoChange => return Outcome::NoChange,
            ChangeMessage::Heartbeat => return Outcome::Heartbeat,
            ChangeMessage::Unknown(what) => {
                tracing::warn!(event = what, "dropping a change message of a kind the feed does not carry");
                return Outcome::Unknown;
            }
        };
        if self.own.made(&call.caller) {
            return Outcome::Own;
        }
        let mut queued = 0;
        for touched in &call.touched {
            for follower in &self.followers {
                let count = follower.changed(touched);
                if count > 0 {
                    self.metrics.feed_requeues.with_label_values(&[follower.kind()]).inc_by(count as u64);
                }
                queued += count;
            }
        }
        if queued == 0 {
            return Outcome::Unrelated;
        }
        if let Some(lag) = lag_of(&call.time) {
            self.metrics.feed_lag.observe(lag.as_secs_f64());
        }
        tracing::info!(
            event = call.name,
            source = call.source,
            caller = call.caller.arn,
            id = call.id,
            objects = queued,
            "AWS changed outside orgops; re-checking the objects it concerns"
        );
        Outcome::Mapped
    }

    /// Receives, handles and deletes messages until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let began = Instant::now();
        let mut heard = began;
        let mut received_ok = began;
        let mut failing_since: Option<Instant> = None;
        let mut healthy = None;
        loop {
            let received = tokio::select! {
                received = self.queue.receive(LONG_POLL_SECONDS) => received,
                _ = stop.wait_for(|s| *s) => return,
            };
            let now = Instant::now();
            match received {
                Ok(messages) => {
                    received_ok = now;
                    failing_since = None;
                    if !messages.is_empty() {
                        heard = now;
                        self.metrics.feed_last_message.set(unix_now());
                    }
                    let mut receipts = Vec::with_capacity(messages.len());
                    for message in messages {
                        let outcome = self.handle(&message.body);
                        self.metrics.feed_events.with_label_values(&[outcome.label()]).inc();
                        receipts.push(message.receipt);
                    }
                    if let Err(error) = self.queue.delete(receipts).await {
                        tracing::warn!(%error, "deleting handled change messages failed; they come back and are handled again");
                    }
                }
                Err(error) => {
                    let since = *failing_since.get_or_insert(now);
                    tracing::warn!(%error, failing_s = since.elapsed().as_secs(), "receiving from the change queue failed");
                }
            }
            let up = now.duration_since(heard) <= self.settings.silence
                && now.duration_since(received_ok) <= self.settings.silence;
            if healthy != Some(up) {
                self.set_health(up, now.duration_since(heard.min(received_ok)));
                healthy = Some(up);
            }
            if failing_since.is_some() {
                // Do not spin on a queue that fails at once.
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    }

    fn set_health(&self, up: bool, quiet: Duration) {
        self.metrics.feed_healthy.with_label_values(&[] as &[&str]).set(i64::from(up));
        let resync = if up { self.settings.resync } else { self.settings.fallback_resync };
        self.resync.send_replace(resync);
        self.metrics.resync.set(resync.as_secs_f64());
        if up {
            tracing::info!(
                resync_s = resync.as_secs(),
                "the change feed delivers; the periodic resync is the safety net"
            );
        } else {
            tracing::error!(
                quiet_s = quiet.as_secs(),
                resync_s = resync.as_secs(),
                "the change feed has delivered nothing for too long; falling back to the short resync"
            );
        }
    }
}

/// How long ago an event's RFC 3339 time was.
fn lag_of(time: &str) -> Option<Duration> {
    let at: k8s_openapi::jiff::Timestamp = time.parse().ok()?;
    let lag = k8s_openapi::jiff::Timestamp::now().duration_since(at);
    Some(Duration::from_secs_f64(lag.as_secs_f64().max(0.0)))
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
