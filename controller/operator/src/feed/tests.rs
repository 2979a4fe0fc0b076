//! The feed against a scripted queue: what each message leads to, when messages are
//! deleted, and the fallback to the short resync.

use super::*;
use crate::aws::sqs::Received;
use crate::aws::{AwsError, FailureKind};
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Mutex;

/// What one receive answers.
type Answer = Result<Vec<Received>, AwsError>;

/// Answers receives from a script, then waits out the long poll with nothing.
#[derive(Clone, Default)]
struct ScriptedQueue {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    deleted: Arc<Mutex<Vec<String>>>,
}

impl ScriptedQueue {
    fn then(&self, answer: Answer) {
        self.answers.lock().unwrap().push_back(answer);
    }
}

impl ChangeQueue for ScriptedQueue {
    async fn receive(&self, wait_seconds: i32) -> Result<Vec<Received>, AwsError> {
        let next = self.answers.lock().unwrap().pop_front();
        match next {
            Some(answer) => answer,
            None => {
                tokio::time::sleep(Duration::from_secs(wait_seconds as u64)).await;
                Ok(Vec::new())
            }
        }
    }

    async fn delete(&self, receipts: Vec<String>) -> Result<(), AwsError> {
        self.deleted.lock().unwrap().extend(receipts);
        Ok(())
    }
}

/// Records what it was told; depends on account 111111111111 only.
#[derive(Clone, Default)]
struct Recorder {
    told: Arc<Mutex<Vec<Touched>>>,
}

impl Follower for Recorder {
    fn kind(&self) -> &'static str {
        "AwsAccount"
    }

    fn changed(&self, touched: &Touched) -> usize {
        self.told.lock().unwrap().push(touched.clone());
        usize::from(*touched == Touched::Account("111111111111".into()))
    }
}

const ORGOPS: &str = "arn:aws:sts::123456789012:assumed-role/orgops/orgops-1";

fn moved(account: &str, caller: &str) -> String {
    json!({
        "id": "e-1",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.organizations",
        "time": "2026-12-03T04:00:00Z",
        "detail": {
            "eventSource": "organizations.amazonaws.com",
            "eventName": "MoveAccount",
            "userIdentity": {"arn": caller},
            "requestParameters": {"accountId": account},
        }
    })
    .to_string()
}

fn heartbeat() -> String {
    json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}).to_string()
}

fn message(receipt: &str, body: String) -> Received {
    Received { receipt: receipt.into(), body }
}

fn feed(queue: ScriptedQueue, recorder: &Recorder) -> (Feed<ScriptedQueue>, watch::Receiver<Duration>, Metrics) {
    let metrics = Metrics::new();
    let (resync, resync_rx) = watch::channel(Duration::from_secs(300));
    let own = OwnIdentity {
        caller_arn: ORGOPS.into(),
        member_role_name: "OrganizationAccountAccessRole".into(),
        session_name: "orgops".into(),
        ..OwnIdentity::default()
    };
    let settings = FeedSettings {
        resync: Duration::from_secs(24 * 3600),
        fallback_resync: Duration::from_secs(300),
        silence: Duration::from_secs(900),
    };
    let feed =
        Feed { queue, own, followers: vec![Box::new(recorder.clone())], metrics: metrics.clone(), settings, resync };
    (feed, resync_rx, metrics)
}

fn count(metrics: &Metrics, outcome: &str) -> u64 {
    metrics.feed_events.with_label_values(&[outcome]).get()
}

#[test]
fn each_message_is_mapped_ignored_or_dropped() {
    let recorder = Recorder::default();
    let (feed, _, metrics) = feed(ScriptedQueue::default(), &recorder);
    let alice = "arn:aws:sts::123456789012:assumed-role/Admin/alice";

    assert_eq!(feed.handle(&moved("111111111111", alice)), Outcome::Mapped);
    assert_eq!(metrics.feed_requeues.with_label_values(&["AwsAccount"]).get(), 1);
    assert_eq!(metrics.feed_lag.get_sample_count(), 1, "the lag of a mapped event is measured");
    assert_eq!(feed.handle(&moved("222222222222", alice)), Outcome::Unrelated, "no object depends on it");
    assert_eq!(
        *recorder.told.lock().unwrap(),
        [Touched::Account("111111111111".into()), Touched::Account("222222222222".into())]
    );

    assert_eq!(feed.handle(&moved("111111111111", ORGOPS)), Outcome::Own);
    assert_eq!(recorder.told.lock().unwrap().len(), 2, "orgops's own write tells no kind");
    assert_eq!(feed.handle(&heartbeat()), Outcome::Heartbeat);
    assert_eq!(feed.handle("{\"detail-type\": \"Object Created\", \"source\": \"aws.s3\"}"), Outcome::Unknown);
    assert_eq!(feed.handle("<xml/>"), Outcome::Malformed);
    assert_eq!(recorder.told.lock().unwrap().len(), 2);
    assert_eq!(count(&metrics, "mapped"), 0, "run counts outcomes, not handle");
}

#[tokio::test(start_paused = true)]
async fn messages_are_deleted_after_handling_and_counted_whatever_they_were() {
    let queue = ScriptedQueue::default();
    queue.then(Ok(vec![
        message("r1", moved("111111111111", "arn:aws:sts::123456789012:assumed-role/Admin/alice")),
        message("r2", "garbage".into()),
        message("r3", heartbeat()),
    ]));
    let recorder = Recorder::default();
    let (feed, _, metrics) = feed(queue.clone(), &recorder);
    let (stop, stop_rx) = watch::channel(false);
    let running = tokio::spawn(feed.run(stop_rx));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(*queue.deleted.lock().unwrap(), ["r1", "r2", "r3"]);
    assert_eq!(recorder.told.lock().unwrap().len(), 1);
    assert_eq!((count(&metrics, "mapped"), count(&metrics, "malformed"), count(&metrics, "heartbeat")), (1, 1, 1));
    stop.send_replace(true);
    running.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_silent_or_failing_feed_falls_back_to_the_short_resync_until_it_delivers() {
    let queue = ScriptedQueue::default();
    let recorder = Recorder::default();
    let (feed, resync, metrics) = feed(queue.clone(), &recorder);
    let (stop, stop_rx) = watch::channel(false);
    let running = tokio::spawn(feed.run(stop_rx));

    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(*resync.borrow(), Duration::from_secs(24 * 3600), "delivering: the long resync");
    assert_eq!(metrics.feed_healthy.with_label_values(&[] as &[&str]).get(), 1);

    // Nothing at all, not even the heartbeat, for longer than the silence allows.
    tokio::time::sleep(Duration::from_secs(900)).await;
    assert_eq!(*resync.borrow(), Duration::from_secs(300), "silent: the short resync");
    assert_eq!(metrics.feed_healthy.with_label_values(&[] as &[&str]).get(), 0);

    queue.then(Ok(vec![message("h1", heartbeat())]));
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(*resync.borrow(), Duration::from_secs(24 * 3600), "a heartbeat: delivering again");

    // Receives that fail, for longer than the silence allows.
    let denied = AwsError {
        operation: "sqs:ReceiveMessage".into(),
        code: Some("AccessDenied".into()),
        message: "not authorized".into(),
        kind: FailureKind::Client,
    };
    for _ in 0..400 {
        queue.then(Err(denied.clone()));
    }
    tokio::time::sleep(Duration::from_secs(960)).await;
    assert_eq!(metrics.feed_healthy.with_label_values(&[] as &[&str]).get(), 0, "failing: down");
    assert_eq!(*resync.borrow(), Duration::from_secs(300));
    stop.send_replace(true);
    running.await.unwrap();
}
