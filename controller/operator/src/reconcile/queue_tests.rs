use super::*;

fn v(generation: i64) -> Version {
    Version { generation: Some(generation), deleting: false }
}

async fn take(queue: &WorkQueue) -> Work {
    tokio::time::timeout(Duration::from_secs(1), queue.next()).await.expect("a key is ready")
}

async fn nothing_ready(queue: &WorkQueue) -> bool {
    tokio::time::timeout(Duration::from_millis(50), queue.next()).await.is_err()
}

#[tokio::test(start_paused = true)]
async fn changes_go_before_the_start_up_backlog_and_both_before_rechecks() {
    let queue = WorkQueue::new(4);
    queue.recheck_all(["ns/old".to_string()]);
    queue.offer("ns/found-at-start", v(1), false, true);
    queue.offer("ns/new", v(1), false, false);
    assert_eq!(take(&queue).await, Work { key: "ns/new".into(), priority: Priority::Change });
    assert_eq!(take(&queue).await, Work { key: "ns/found-at-start".into(), priority: Priority::Backlog });
    assert_eq!(take(&queue).await, Work { key: "ns/old".into(), priority: Priority::Recheck });
}

#[tokio::test(start_paused = true)]
async fn rechecks_take_only_their_slots_and_a_change_still_gets_a_worker() {
    let queue = WorkQueue::new(2);
    queue.recheck_all((0..10).map(|i| format!("ns/a{i}")));
    assert_eq!(take(&queue).await.priority, Priority::Recheck);
    assert_eq!(take(&queue).await.priority, Priority::Recheck);
    assert!(nothing_ready(&queue).await, "a third re-check would exceed the slots");
    queue.offer("ns/new", v(1), false, false);
    assert_eq!(take(&queue).await.key, "ns/new");
}

#[tokio::test(start_paused = true)]
async fn settled_objects_are_left_to_the_sweep() {
    let queue = WorkQueue::new(2);
    queue.offer("ns/a", v(3), true, false);
    assert!(nothing_ready(&queue).await);
}

#[tokio::test(start_paused = true)]
async fn its_own_status_write_does_not_requeue_an_object_but_a_spec_change_does() {
    let queue = WorkQueue::new(2);
    queue.offer("ns/a", v(1), false, false);
    let work = take(&queue).await;
    queue.looking_at(&work.key, v(1));
    queue.offer("ns/a", v(1), false, false); // the pass wrote status
    queue.done("ns/a", Next::Settled);
    assert!(nothing_ready(&queue).await);

    queue.offer("ns/a", v(2), false, false);
    let work = take(&queue).await;
    queue.looking_at(&work.key, v(2));
    queue.offer("ns/a", v(3), false, false); // edited while reconciled
    queue.done("ns/a", Next::Settled);
    assert_eq!(take(&queue).await, Work { key: "ns/a".into(), priority: Priority::Change });
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_requeue_waits_its_delay_unless_the_spec_changes() {
    let queue = WorkQueue::new(2);
    queue.offer("ns/a", v(1), false, false);
    take(&queue).await;
    queue.looking_at("ns/a", v(1));
    queue.done("ns/a", Next::After(Duration::from_secs(5)));
    queue.offer("ns/a", v(1), false, false); // the status write of that pass
    assert!(nothing_ready(&queue).await, "no retry before the delay");
    let started = Instant::now();
    assert_eq!(queue.next().await.key, "ns/a");
    assert_eq!(started.elapsed().as_secs(), 4, "due 5 s after the pass, 50 ms of which had passed");

    queue.looking_at("ns/a", v(1));
    queue.done("ns/a", Next::After(Duration::from_secs(60)));
    queue.offer("ns/a", v(2), false, false);
    assert_eq!(take(&queue).await.key, "ns/a", "a spec change does not wait for the retry");
}

#[tokio::test(start_paused = true)]
async fn a_sweep_ends_when_its_rechecks_are_done_and_rechecks_a_pass_already_running() {
    let queue = WorkQueue::new(4);
    queue.offer("ns/busy", v(1), false, false);
    take(&queue).await;
    queue.looking_at("ns/busy", v(1));
    queue.recheck_all(["ns/a".to_string(), "ns/b".to_string(), "ns/busy".to_string()]);
    let a = take(&queue).await;
    queue.offer("ns/b", v(2), false, false); // upgraded to a change: counts as checked
    let b = take(&queue).await;
    assert_eq!(b, Work { key: "ns/b".into(), priority: Priority::Change });
    queue.looking_at(&a.key, v(1));
    queue.done(&a.key, Next::Settled);
    tokio::time::timeout(Duration::from_secs(1), queue.sweep_finished()).await.expect("sweep finished");

    queue.done("ns/busy", Next::Settled);
    assert_eq!(take(&queue).await.key, "ns/busy", "its pass may have read AWS before the sweep");
}

#[tokio::test(start_paused = true)]
async fn a_deleted_object_is_forgotten() {
    let queue = WorkQueue::new(4);
    queue.recheck_all(["ns/gone".to_string()]);
    queue.forget("ns/gone");
    tokio::time::timeout(Duration::from_secs(1), queue.sweep_finished()).await.expect("nothing left to check");
    assert!(nothing_ready(&queue).await);
    assert_eq!(queue.pending_changes(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_settled_object_with_something_due_is_looked_at_then_and_still_rechecked_by_sweeps() {
    let queue = WorkQueue::new(4);
    queue.offer("ns/oncall", v(1), false, false);
    let work = take(&queue).await;
    queue.looking_at(&work.key, v(1));
    queue.done(&work.key, Next::SettledUntil(Duration::from_secs(600)));
    queue.recheck_all(["ns/oncall".to_string()]);
    assert_eq!(take(&queue).await.priority, Priority::Recheck, "the alarm does not hold back the sweep");
    queue.done("ns/oncall", Next::SettledUntil(Duration::from_secs(590)));
    assert!(nothing_ready(&queue).await);
    tokio::time::advance(Duration::from_secs(590)).await;
    assert_eq!(take(&queue).await, Work { key: "ns/oncall".into(), priority: Priority::Change });
    queue.done("ns/oncall", Next::Settled);
    tokio::time::advance(Duration::from_secs(600)).await;
    assert!(nothing_ready(&queue).await, "the replaced alarm does not fire");
}

#[tokio::test(start_paused = true)]
async fn a_poke_queues_a_settled_object_as_a_change() {
    let queue = WorkQueue::new(4);
    queue.offer("ns/psr", v(1), true, false);
    assert!(nothing_ready(&queue).await);
    queue.poke("ns/psr");
    assert_eq!(take(&queue).await, Work { key: "ns/psr".into(), priority: Priority::Change });
    queue.poke("ns/psr");
    queue.done("ns/psr", Next::Settled);
    assert_eq!(take(&queue).await.priority, Priority::Change, "poked while running: looked at again");
}
