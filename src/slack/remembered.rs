//! Answers Slack gave, kept by key so that asking again does not cost a call: people, their
//! DM channels, group members. A plain map behind a lock; a panic while it was held leaves the
//! map as it was, still worth reading, so the lock's poisoning is ignored.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub struct Remembered<K, V> {
    map: Mutex<HashMap<K, V>>,
}

impl<K, V> Default for Remembered<K, V> {
    fn default() -> Self {
        Remembered {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Remembered<K, V> {
    /// What is kept for `key`, if anything.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map().get(key).cloned()
    }

    /// Keeps `value` for `key`, replacing what was kept.
    pub fn keep(&self, key: K, value: V) {
        self.map().insert(key, value);
    }

    /// Forgets what was kept for `key`.
    pub fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map().remove(key);
    }

    fn map(&self) -> MutexGuard<'_, HashMap<K, V>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
