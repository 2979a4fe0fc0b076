//! Runs one kind: a watch feeds the [`WorkQueue`], workers reconcile what it hands out,
//! and a sweeper re-checks every object once per resync. A sweep first re-reads the
//! kind's shared snapshots of AWS, then queues a re-check of every object, so a change
//! made in AWS at T is found by T + one resync + one sweep. When the AWS rate limits make
//! a sweep longer than the resync, the next one starts when it ends: re-checks stretch,
//! changes never wait for them, and orgops says so.

use super::queue::{Next, Priority, WorkQueue};
use super::{Driver, KubeSide, ManagedKind};
use crate::aws::limits::in_background;
use crate::metrics::Metrics;
use futures::TryStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How a kind is run.
#[derive(Clone, Debug)]
pub struct RunnerSettings {
    /// Objects reconciled at once.
    pub concurrency: usize,
    /// Of those, how many may be periodic re-checks.
    pub recheck_slots: usize,
    /// How often a sweep re-checks every object: fixed, or set by the change feed (long
    /// while it delivers, short while it does not).
    pub resync: watch::Receiver<Duration>,
    /// Only the objects matching this label selector (default: every object).
    pub selector: Option<String>,
}

impl RunnerSettings {
    /// The resync period now.
    pub fn resync(&self) -> Duration {
        *self.resync.borrow()
    }
}

/// How often start-up progress is logged while objects found unsettled are worked off.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

fn key_of<R: Resource>(obj: &R) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Strips what orgops never reads from cached objects: managed fields and the
/// last-applied annotation are often larger than the rest of the object.
fn slim<R: Resource>(obj: &mut R) {
    obj.meta_mut().managed_fields = None;
    if let Some(annotations) = obj.meta_mut().annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Called with each object of the kind that changed or was deleted after the first list.
pub type Observer<R> = Box<dyn Fn(&R) + Send + Sync>;

/// One kind's queue and cache of objects, made before the kind runs so that other kinds
/// can read its objects and queue its objects when something they depend on changes.
pub struct Runner<K: ManagedKind> {
    queue: Arc<WorkQueue>,
    store: Store<K::Resource>,
    writer: reflector::store::Writer<K::Resource>,
    observers: Vec<Observer<K::Resource>>,
}

/// Queues objects of a kind as changes, for another kind's events.
#[derive(Clone)]
pub struct Poker<R: Resource<DynamicType = ()> + Clone + 'static> {
    queue: Arc<WorkQueue>,
    store: Store<R>,
}

impl<R: Resource<DynamicType = ()> + Clone + 'static> Poker<R> {
    /// Queues, as a change, every object for which `affected` says yes; how many.
    pub fn poke_where(&self, affected: impl Fn(&R) -> bool) -> usize {
        let mut poked = 0;
        for obj in self.store.state() {
            if affected(&obj) {
                self.queue.poke(&key_of(obj.as_ref()));
                poked += 1;
            }
        }
        poked
    }
}

impl<K: ManagedKind> Runner<K> {
    /// A runner whose re-checks take at most `settings.recheck_slots` workers.
    pub fn new(settings: &RunnerSettings) -> Self {
        let (store, writer) = reflector::store();
        Runner { queue: Arc::new(WorkQueue::new(settings.recheck_slots)), store, writer, observers: Vec::new() }
    }

    /// The kind's objects as last watched.
    pub fn store(&self) -> Store<K::Resource> {
        self.store.clone()
    }

    /// Lets another kind queue this kind's objects.
    pub fn poker(&self) -> Poker<K::Resource> {
        Poker { queue: self.queue.clone(), store: self.store.clone() }
    }

    /// Calls `observer` with each object that changes or is deleted after the first list.
    pub fn observe_changes(&mut self, observer: Observer<K::Resource>) {
        self.observers.push(observer);
    }

    /// Runs the kind until `stop` turns true.
    pub async fn run<S: KubeSide<K::Resource> + 'static>(
        self,
        api: Api<K::Resource>,
        driver: Arc<Driver<K, S>>,
        metrics: Metrics,
        settings: RunnerSettings,
        stop: watch::Receiver<bool>,
    ) {
        let Runner { queue, store, writer, observers } = self;
        let (listed_tx, listed_rx) = watch::channel(false);
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..settings.concurrency.max(1) {
            workers.spawn(work(queue.clone(), store.clone(), driver.clone(), stop.clone()));
        }
        let selector = settings.selector.clone();
        let sweeper =
            tokio::spawn(sweep(queue.clone(), store.clone(), driver.clone(), metrics.clone(), settings, listed_rx));
        let reporter = tokio::spawn(report_progress::<K>(queue.clone(), metrics.clone()));

        let mut stopped = stop.clone();
        let watch_ended = tokio::select! {
            () = feed(api, selector, writer, queue, driver, observers, listed_tx) => true,
            _ = stopped.wait_for(|s| *s) => false,
        };
        if watch_ended {
            tracing::error!(kind = K::KIND, "the watch ended; reconciling stops");
            let _ = stopped.wait_for(|s| *s).await;
        }
        sweeper.abort();
        reporter.abort();
        // Workers finish the pass they are in.
        while workers.join_next().await.is_some() {}
    }
}

/// Watches the kind, keeps the store and offers every event to the queue. Says when the
/// first list is complete.
async fn feed<K, S>(
    api: Api<K::Resource>,
    selector: Option<String>,
    writer: reflector::store::Writer<K::Resource>,
    queue: Arc<WorkQueue>,
    driver: Arc<Driver<K, S>>,
    observers: Vec<Observer<K::Resource>>,
    listed: watch::Sender<bool>,
) where
    K: ManagedKind,
    S: KubeSide<K::Resource> + 'static,
{
    let mut listing = true;
    let config = match &selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    let events = watcher(api, config).default_backoff().modify(slim).reflect(writer);
    let mut events = std::pin::pin!(events);
    loop {
        let event = match events.try_next().await {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(kind = K::KIND, %error, "watch failed; retrying");
                continue;
            }
        };
        match event {
            watcher::Event::Init => listing = true,
            watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) => {
                let settled = Driver::<K, S>::settled(&obj);
                queue.offer(&key_of(&obj), Driver::<K, S>::version(&obj), settled, listing);
                if !listing {
                    observers.iter().for_each(|observe| observe(&obj));
                }
            }
            watcher::Event::InitDone => {
                listing = false;
                listed.send_replace(true);
            }
            watcher::Event::Delete(obj) => {
                let key = key_of(&obj);
                queue.forget(&key);
                driver.forget(&key);
                observers.iter().for_each(|observe| observe(&obj));
            }
        }
    }
}

/// One worker: takes keys until told to stop, between passes.
async fn work<K, S>(
    queue: Arc<WorkQueue>,
    store: Store<K::Resource>,
    driver: Arc<Driver<K, S>>,
    mut stop: watch::Receiver<bool>,
) where
    K: ManagedKind,
    S: KubeSide<K::Resource> + 'static,
{
    // Until the first list is complete the store is empty (the reflector swaps the whole
    // list in at once): a key taken before then would look deleted.
    tokio::select! {
        ready = store.wait_until_ready() => if ready.is_err() { return },
        _ = stop.wait_for(|s| *s) => return,
    }
    loop {
        let work = tokio::select! {
            work = queue.next() => work,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (namespace, name) = work.key.split_once('/').unwrap_or(("", &work.key));
        let Some(obj) = store.get(&ObjectRef::new(name).within(namespace)) else {
            queue.done(&work.key, Next::Settled);
            queue.forget(&work.key);
            continue;
        };
        queue.looking_at(&work.key, Driver::<K, S>::version(&obj));
        // Only changes use the whole AWS budget: the backlog and re-checks leave room.
        let next = match work.priority {
            Priority::Change => driver.reconcile(&obj).await,
            Priority::Backlog | Priority::Recheck => in_background(driver.reconcile(&obj)).await,
        };
        queue.done(&work.key, next);
    }
}

/// Re-checks every object once per resync, or back to back when a sweep takes longer.
async fn sweep<K, S>(
    queue: Arc<WorkQueue>,
    store: Store<K::Resource>,
    driver: Arc<Driver<K, S>>,
    metrics: Metrics,
    settings: RunnerSettings,
    mut listed: watch::Receiver<bool>,
) where
    K: ManagedKind,
    S: KubeSide<K::Resource> + 'static,
{
    if listed.wait_for(|listed| *listed).await.is_err() {
        return;
    }
    let mut resync = settings.resync.clone();
    loop {
        let began = Instant::now();
        let period = settings.resync();
        metrics.resync.set(period.as_secs_f64());
        // The sweep's shared snapshot is read at full priority: changes wait on it too.
        if let Err(error) = driver.kind().begin_sweep().await {
            tracing::warn!(kind = K::KIND, error = %error.message, "refreshing the shared snapshot failed");
        }
        let objects = store.state();
        let count = objects.len();
        queue.recheck_all(objects.iter().map(|o| key_of(o.as_ref())));
        drop(objects);
        queue.sweep_finished().await;
        let took = began.elapsed();
        metrics.sweep_duration.with_label_values(&[K::KIND]).set(took.as_secs_f64());
        metrics.recheck_period.with_label_values(&[K::KIND]).set(took.max(period).as_secs_f64());
        metrics.sweeps.with_label_values(&[K::KIND]).inc();
        if took > period {
            tracing::warn!(
                kind = K::KIND,
                objects = count,
                sweep_s = took.as_secs(),
                resync_s = period.as_secs(),
                "re-checking every {} took {} s, longer than --resync {} s: the AWS rate limits allow a \
                 resync of {} s or more for this many objects; each is re-checked every {} s meanwhile",
                K::KIND,
                took.as_secs(),
                period.as_secs(),
                took.as_secs() + 1,
                took.as_secs()
            );
        } else {
            tracing::debug!(kind = K::KIND, objects = count, sweep_ms = took.as_millis() as u64, "sweep finished");
        }
        // A resync shortened meanwhile (the change feed went quiet) takes effect at once.
        loop {
            let period = *resync.borrow_and_update();
            tokio::select! {
                () = tokio::time::sleep_until(began + period) => break,
                changed = resync.changed() => if changed.is_err() {
                    tokio::time::sleep_until(began + period).await;
                    break;
                },
            }
        }
    }
}

/// Keeps the pending gauge current and, while objects found at start-up are worked off,
/// logs progress with an estimate.
async fn report_progress<K: ManagedKind>(queue: Arc<WorkQueue>, metrics: Metrics) {
    let mut began = Instant::now();
    let mut most = 0usize;
    let mut last_log = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let pending = queue.pending_changes();
        metrics.pending.with_label_values(&[K::KIND]).set(pending as i64);
        if pending == 0 {
            most = 0;
            continue;
        }
        if most == 0 {
            began = Instant::now();
        }
        most = most.max(pending);
        if most > 100 && last_log.elapsed() >= PROGRESS_EVERY {
            last_log = Instant::now();
            let done = most - pending;
            let pace = done as f64 / began.elapsed().as_secs_f64().max(1.0);
            let left = match (pending as f64 / pace) as u64 {
                _ if pace <= 0.0 => "no estimate yet".to_string(),
                seconds if seconds >= 120 => format!("about {} minutes left", seconds / 60),
                seconds => format!("about {seconds} s left"),
            };
            tracing::info!(
                kind = K::KIND,
                done,
                of = most,
                "reconciled {done} of {most} {}s; {left} at {pace:.1} a second",
                K::KIND
            );
        }
    }
}
