//! Per-resource details read from AWS (tags, contacts) kept for the current sweep: an
//! entry read or written since the sweep began is served; older ones count as missing,
//! so every object's periodic check reads AWS as it was after its sweep began.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use tokio::time::Instant;

struct Entries<K, V> {
    /// When the current sweep began; entries stored before it are stale.
    since: Option<Instant>,
    map: HashMap<K, (Instant, V)>,
}

/// Details valid for the current sweep.
pub struct SweepCache<K, V> {
    entries: Mutex<Entries<K, V>>,
}

impl<K: Eq + Hash, V: Clone> Default for SweepCache<K, V> {
    fn default() -> Self {
        SweepCache { entries: Mutex::new(Entries { since: None, map: HashMap::new() }) }
    }
}

impl<K: Eq + Hash, V: Clone> SweepCache<K, V> {
    /// The entry, if it was stored since the current sweep began.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap();
        let (at, value) = entries.map.get(key)?;
        entries.since.is_none_or(|since| *at >= since).then(|| value.clone())
    }

    /// Stores a value read or written just now.
    pub fn insert(&self, key: K, value: V) {
        self.entries.lock().unwrap().map.insert(key, (Instant::now(), value));
    }

    /// Drops the entries for which `stale` says yes, so they are read again: AWS said
    /// they changed.
    pub fn forget_where(&self, stale: impl Fn(&K, &V) -> bool) {
        self.entries.lock().unwrap().map.retain(|key, (_, value)| !stale(key, value));
    }

    /// A sweep began at `at`: what was stored before is stale, and dropped.
    pub fn begin_sweep(&self, at: Instant) {
        let mut entries = self.entries.lock().unwrap();
        entries.since = Some(at);
        entries.map.retain(|_, (stored, _)| *stored >= at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn entries_stored_before_the_sweep_began_are_stale() {
        let cache = SweepCache::default();
        cache.insert("a", 1);
        assert_eq!(cache.get(&"a"), Some(1), "no sweep yet: kept");
        tokio::time::advance(Duration::from_secs(1)).await;
        cache.begin_sweep(Instant::now());
        assert_eq!(cache.get(&"a"), None);
        cache.insert("a", 2);
        assert_eq!(cache.get(&"a"), Some(2), "read again during the sweep");
        assert_eq!(cache.get(&"b"), None);
        cache.insert("b", 3);
        cache.forget_where(|key, _| *key == "a");
        assert_eq!((cache.get(&"a"), cache.get(&"b")), (None, Some(3)), "only the stale entry is dropped");
    }
}
