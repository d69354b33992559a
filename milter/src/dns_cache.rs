//! A small TTL cache for mail-auth's DNS lookups, so a sender domain's SPF, DKIM and DMARC
//! records are fetched once per TTL, not once per message.

use mail_auth::{MX, ResolverCache, Txt};
use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::{Arc, Mutex},
    time::Instant,
};

/// One cache of DNS answers of one kind, bounded: emptied when it grows past `capacity`.
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    capacity: usize,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// An empty cache holding at most `capacity` answers.
    pub fn new(capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        // A poisoned map only ever loses entries, which are refetched.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for TtlCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.lock();
        match entries.get(name) {
            Some((value, until)) if *until > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(name);
                None
            }
            None => None,
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, (value, valid_until));
    }
}

/// The five caches mail-auth can use.
pub struct DnsCaches {
    /// TXT records (SPF, DKIM keys, DMARC).
    pub txt: TtlCache<String, Txt>,
    /// MX records (SPF `mx`).
    pub mx: TtlCache<String, Arc<Vec<MX>>>,
    /// A records.
    pub ipv4: TtlCache<String, Arc<Vec<Ipv4Addr>>>,
    /// AAAA records.
    pub ipv6: TtlCache<String, Arc<Vec<Ipv6Addr>>>,
    /// PTR records.
    pub ptr: TtlCache<IpAddr, Arc<Vec<String>>>,
}

impl DnsCaches {
    /// Empty caches of `capacity` answers each.
    pub fn new(capacity: usize) -> Self {
        Self {
            txt: TtlCache::new(capacity),
            mx: TtlCache::new(capacity),
            ipv4: TtlCache::new(capacity),
            ipv6: TtlCache::new(capacity),
            ptr: TtlCache::new(capacity),
        }
    }
}
