//! A bounded store of per-key state (lockout counters, rate-limit buckets) for the request
//! path. It is sharded — one small lock per shard, never one lock for every request (a store
//! of fewer than 128 keys has one shard, so that its LRU order is not too coarse) — and a
//! shard holds at most its share of `max_keys` entries. Every use of an entry stamps it with
//! the shard's next tick; when a new key finds its shard full, the least recently used eighth
//! of the shard is evicted at once, so the scan that finds them is paid once per many new
//! keys, and none on the requests of keys already held. Entries that say they are pinned (a
//! lockout attempt still in flight) go last.
//!
//! Shards are chosen, and keys hashed, with per-process random keys (SipHash): the bucket keys
//! come from request headers, and a client that could predict where they land could crowd
//! one shard or one hash chain.

use super::key::Key;
use prometheus::IntCounter;
use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Shards of a store at most.
const SHARDS: usize = 16;
/// Entries per shard at least (when `max_keys` allows): the LRU order is kept per shard, and
/// in a tiny shard a few new keys landing together could push out an entry used a moment ago.
const MIN_PER_SHARD: usize = 64;

/// What the store needs to know about an entry.
pub(crate) trait Held {
    /// Evict this entry only when nothing else can go.
    fn pinned(&self) -> bool {
        false
    }
}

struct Slot<V> {
    value: V,
    used: u64,
}

struct Shard<V> {
    map: HashMap<Key, Slot<V>>,
    tick: u64,
}

impl<V> Shard<V> {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

/// At most `max_keys` entries of `V`, least recently used evicted first.
pub(crate) struct Bounded<V> {
    shards: Box<[Mutex<Shard<V>>]>,
    per_shard: usize,
    seed: RandomState,
    evicted: IntCounter,
}

impl<V: Held> Bounded<V> {
    /// A store of at most `max_keys` (at least 1) entries; evictions are counted in `evicted`.
    pub(crate) fn new(max_keys: usize, evicted: IntCounter) -> Bounded<V> {
        let max_keys = max_keys.max(1);
        let n = (max_keys / MIN_PER_SHARD).clamp(1, SHARDS);
        Bounded {
            shards: (0..n)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        tick: 0,
                    })
                })
                .collect(),
            per_shard: max_keys / n,
            seed: RandomState::new(),
            evicted,
        }
    }

    fn shard(&self, key: Key) -> MutexGuard<'_, Shard<V>> {
        let i = (self.seed.hash_one(key) % self.shards.len() as u64) as usize;
        // A panic while a shard was locked leaves entries that are still whole (every change
        // is a plain field update), so the shard stays in use.
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `f` on `key`'s entry, created with `new` when the key has none (evicting the least
    /// recently used entries of its shard when that is full).
    pub(crate) fn with<R>(
        &self,
        key: Key,
        new: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> R {
        let mut shard = self.shard(key);
        let tick = shard.next_tick();
        // The length first: a shard with room needs no second lookup of the key.
        if shard.map.len() >= self.per_shard && !shard.map.contains_key(&key) {
            let gone = make_room(&mut shard.map, self.per_shard);
            self.evicted.inc_by(gone);
        }
        let slot = match shard.map.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(Slot {
                value: new(),
                used: tick,
            }),
        };
        slot.used = tick;
        f(&mut slot.value)
    }

    /// Run `f` on `key`'s entry if it has one; the entry is kept when `f` says so.
    pub(crate) fn update<R>(&self, key: Key, f: impl FnOnce(&mut V) -> (R, bool)) -> Option<R> {
        let mut shard = self.shard(key);
        let tick = shard.next_tick();
        let slot = shard.map.get_mut(&key)?;
        slot.used = tick;
        let (out, keep) = f(&mut slot.value);
        if !keep {
            shard.map.remove(&key);
        }
        Some(out)
    }

    /// Keep the entries for which `keep` is true (one shard locked at a time); returns how many
    /// entries are held afterwards.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&V) -> bool) -> usize {
        let mut held = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            shard.map.retain(|_, s| keep(&s.value));
            if shard.map.capacity() > 4 * shard.map.len().max(16) {
                shard.map.shrink_to_fit();
            }
            held += shard.map.len();
        }
        held
    }

    /// Entries held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }
}

/// Evict the least recently used eighth (at least one) of a full shard, unpinned entries
/// first; returns how many went.
fn make_room<V: Held>(map: &mut HashMap<Key, Slot<V>>, per_shard: usize) -> u64 {
    let want = (per_shard / 8).max(1);
    let mut ticks: Vec<u64> = map
        .values()
        .filter(|s| !s.value.pinned())
        .map(|s| s.used)
        .collect();
    let spare_pinned = !ticks.is_empty();
    if !spare_pinned {
        ticks = map.values().map(|s| s.used).collect();
    }
    let n = want.min(ticks.len());
    if n == 0 {
        return 0;
    }
    // Ticks are unique within a shard, so exactly `n` entries are at or below the cut.
    let cut = *ticks.select_nth_unstable(n - 1).1;
    let before = map.len();
    map.retain(|_, s| s.used > cut || (spare_pinned && s.value.pinned()));
    (before - map.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct V(u32, bool);

    impl Held for V {
        fn pinned(&self) -> bool {
            self.1
        }
    }

    fn counter() -> IntCounter {
        IntCounter::new("evicted", "evicted").expect("counter")
    }

    fn has(b: &Bounded<V>, key: Key) -> bool {
        b.update(key, |_| ((), true)).is_some()
    }

    #[test]
    fn the_least_recently_used_go_first() {
        assert_eq!(Bounded::<V>::new(100, counter()).shards.len(), 1);
        assert_eq!(Bounded::<V>::new(1000, counter()).shards.len(), 15);
        assert_eq!(Bounded::<V>::new(100_000, counter()).shards.len(), SHARDS);
        // One shard of 8: a new key evicts one entry.
        let b: Bounded<V> = Bounded {
            shards: vec![Mutex::new(Shard {
                map: HashMap::new(),
                tick: 0,
            })]
            .into_boxed_slice(),
            per_shard: 8,
            seed: RandomState::new(),
            evicted: counter(),
        };
        for k in 0..8 {
            b.with(k, || V(0, false), |v| v.0 += 1);
        }
        // Key 0 is used again, so key 1 is now the least recently used.
        b.with(0, || V(0, false), |v| v.0 += 1);
        b.with(100, || V(0, false), |_| ());
        assert_eq!(b.len(), 8);
        assert!(has(&b, 0) && !has(&b, 1) && has(&b, 2) && has(&b, 100));
        assert_eq!(b.evicted.get(), 1);
        assert_eq!(b.update(0, |v| (v.0, true)), Some(2));
    }

    #[test]
    fn pinned_entries_stay_while_others_can_go() {
        let b: Bounded<V> = Bounded {
            shards: vec![Mutex::new(Shard {
                map: HashMap::new(),
                tick: 0,
            })]
            .into_boxed_slice(),
            per_shard: 2,
            seed: RandomState::new(),
            evicted: counter(),
        };
        b.with(1, || V(0, true), |_| ());
        b.with(2, || V(0, false), |_| ());
        b.with(3, || V(0, false), |_| ());
        assert!(has(&b, 1) && !has(&b, 2) && has(&b, 3));
        // Only pinned entries left: the oldest of them goes.
        b.with(3, || V(0, false), |v| v.1 = true);
        b.with(4, || V(0, false), |_| ());
        assert!(!has(&b, 1) && has(&b, 3) && has(&b, 4));
        assert_eq!(b.evicted.get(), 2);
    }

    #[test]
    fn a_flood_never_holds_more_than_the_bound() {
        for max in [1, 5, 16, 100, 1000] {
            let b: Bounded<V> = Bounded::new(max, counter());
            for k in 0..20_000u128 {
                b.with(
                    k.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    || V(0, false),
                    |_| (),
                );
                if k % 97 == 0 {
                    assert!(b.len() <= max, "{} > {max}", b.len());
                }
            }
            assert!(b.len() <= max && b.len() >= max / 2, "{} of {max}", b.len());
            assert_eq!(b.evicted.get() as usize + b.len(), 20_000);
            // update() and retain() drop entries.
            assert_eq!(b.retain(|_| false), 0);
        }
    }
}
