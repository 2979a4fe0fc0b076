//! A map whose entries expire: per-resource details read from AWS at most once per
//! resync, and overwritten by what orgops itself writes.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Entries younger than `max_age` are served; older ones count as missing.
pub struct Expiring<K, V> {
    max_age: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Expiring<K, V> {
    /// An empty map with the given maximum age.
    pub fn new(max_age: Duration) -> Self {
        Expiring { max_age, entries: Mutex::new(HashMap::new()) }
    }

    /// The entry, if it is fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        self.entries.lock().unwrap().get(key).filter(|(at, _)| at.elapsed() < self.max_age).map(|(_, v)| v.clone())
    }

    /// Stores a value read or written just now.
    pub fn insert(&self, key: K, value: V) {
        self.entries.lock().unwrap().insert(key, (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire() {
        let map = Expiring::new(Duration::from_secs(10));
        map.insert("a", 1);
        assert_eq!(map.get(&"a"), Some(1));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(map.get(&"a"), None);
        assert_eq!(map.get(&"b"), None);
    }
}
