//! Lockouts: count responses with chosen statuses (e.g. 401) per client within a window; after
//! `max_failures` the client is refused for `block_for`. Requests still in flight count
//! against the budget too (failures + in flight < max_failures), so that parallel guesses
//! cannot all pass before their failures are counted. A client whose requests all succeed
//! holds no entry; the others are held in a [`Bounded`] store of at most `max_keys` entries
//! (least recently used evicted first, attempts in flight last) and swept every few seconds
//! once their window and block are over.

use super::bounded::{Bounded, Held};
use super::key::Key;
use super::redis_store::RedisStore;
use gatehouse_config::policy::LockoutRule;
use prometheus::{IntCounter, IntGauge};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

const SWEEP_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    in_flight: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
}

impl Held for Entry {
    /// Requests in flight, and a block still running: a client flooding other keys must not
    /// push its own block out of a full store (only when every entry of a shard is pinned does
    /// one go).
    fn pinned(&self) -> bool {
        self.in_flight > 0 || self.blocked_until.is_some_and(|u| u > Instant::now())
    }
}

/// The counters of one lockout rule; kept across reloads while the rule is unchanged.
pub(crate) struct Lockout {
    pub(crate) rule: LockoutRule,
    entries: Bounded<Entry>,
}

impl Lockout {
    /// Counters of `rule`; keys evicted to stay within `max_keys` are counted in `evicted`.
    pub(crate) fn new(rule: &LockoutRule, evicted: IntCounter) -> Arc<Lockout> {
        Arc::new(Lockout {
            rule: rule.clone(),
            entries: Bounded::new(rule.max_keys, evicted),
        })
    }

    /// Admit a request of `key`, or say how long to wait. An admitted request must be
    /// [`finish`](Lockout::finish)ed exactly once.
    pub(crate) fn begin(&self, key: Key, now: Instant) -> Result<(), Duration> {
        let fresh = || Entry {
            failures: 0,
            in_flight: 0,
            window_start: now,
            blocked_until: None,
        };
        self.entries.with(key, fresh, |e| {
            match e.blocked_until {
                Some(until) if until > now => return Err(until - now),
                Some(_) => {
                    e.failures = 0;
                    e.blocked_until = None;
                }
                None if now.duration_since(e.window_start) > self.rule.window => e.failures = 0,
                None => {}
            }
            if e.failures + e.in_flight >= self.rule.max_failures {
                return Err(Duration::from_secs(1));
            }
            e.in_flight += 1;
            Ok(())
        })
    }

    /// The end of an admitted request: with its final status when a response was sent. True
    /// when this response started a block.
    pub(crate) fn finish(&self, key: Key, status: Option<u16>, now: Instant) -> bool {
        let failed = status.is_some_and(|s| self.rule.statuses.contains(&s));
        self.entries
            .update(key, |e| {
                e.in_flight = e.in_flight.saturating_sub(1);
                let blocked = e.blocked_until.is_some_and(|u| u > now);
                let mut started = false;
                if failed && !blocked {
                    // The window starts at the first failure.
                    if e.failures == 0 || now.duration_since(e.window_start) > self.rule.window {
                        e.failures = 0;
                        e.window_start = now;
                    }
                    e.failures += 1;
                    if e.failures >= self.rule.max_failures {
                        e.blocked_until = Some(now + self.rule.block_for);
                        started = true;
                    }
                }
                // An entry without failures, block or requests in flight says nothing.
                let keep = e.in_flight > 0 || e.failures > 0 || e.blocked_until.is_some();
                (started, keep)
            })
            .unwrap_or(false)
    }

    /// Drop entries whose window and block are over; returns how many are held.
    fn sweep(&self, now: Instant) -> usize {
        self.entries.retain(|e| {
            e.in_flight > 0
                || match e.blocked_until {
                    Some(u) => u > now,
                    None => {
                        e.failures > 0 && now.duration_since(e.window_start) <= self.rule.window
                    }
                }
        })
    }

    /// Sweep every few seconds and publish how many keys are held, until the counters are
    /// dropped (the rule was removed or changed by a reload).
    pub(crate) fn spawn_sweeper(self: &Arc<Self>, rt: &tokio::runtime::Handle, held: IntGauge) {
        let weak: Weak<Lockout> = Arc::downgrade(self);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                let Some(l) = weak.upgrade() else { break };
                held.set(l.sweep(Instant::now()) as i64);
            }
        });
    }
}

/// A request admitted by a lockout; its slot is given back once, with the response's status
/// or — when no response was sent — when the request ends.
pub(crate) struct Attempt {
    pub(crate) lockout: Arc<Lockout>,
    key: Key,
    /// With `store: redis`: the server and the rule's key prefix there.
    shared: Option<(Arc<RedisStore>, String)>,
    finished: std::sync::atomic::AtomicBool,
}

impl Attempt {
    /// A request admitted by [`Lockout::begin`] for `key`.
    pub(crate) fn new(
        lockout: Arc<Lockout>,
        key: Key,
        shared: Option<(Arc<RedisStore>, String)>,
    ) -> Attempt {
        Attempt {
            lockout,
            key,
            shared,
            finished: Default::default(),
        }
    }

    /// Count a failure in the shared store, in the background (the response is not held for
    /// it); a block it starts holds on every instance.
    fn count_shared(&self, status: Option<u16>) {
        let failed = status.is_some_and(|s| self.lockout.rule.statuses.contains(&s));
        let (Some((redis, prefix)), true) = (&self.shared, failed) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (redis, name, rule) = (
            redis.clone(),
            format!("{prefix}{:032x}", self.key),
            self.lockout.rule.clone(),
        );
        rt.spawn(async move {
            match redis
                .lockout_failed(&name, rule.max_failures, rule.window, rule.block_for)
                .await
            {
                Ok(true) => tracing::warn!(rule = %rule.name, block_for = ?rule.block_for, "a client reached the shared lockout limit and is blocked on every instance"),
                Ok(false) => {}
                Err(e) => tracing::debug!(rule = %rule.name, error = %e, "a failure could not be counted in the shared lockout"),
            }
        });
    }

    /// Give the slot back with the response's `status`; an interim (1xx) response other than
    /// 101 Switching Protocols is not the answer, so the attempt waits for the final one.
    pub(crate) fn finish(&self, status: Option<u16>) -> bool {
        if status.is_some_and(|s| (100..200).contains(&s) && s != 101) {
            return false;
        }
        if self
            .finished
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return false;
        }
        self.count_shared(status);
        self.lockout.finish(self.key, status, Instant::now())
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.finish(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::policy::KeyPart;

    fn rule(max_failures: u32, window: u64, max_keys: usize) -> LockoutRule {
        LockoutRule {
            name: "login".into(),
            statuses: vec![401],
            max_failures,
            window: Duration::from_secs(window),
            block_for: Duration::from_secs(10),
            key: vec![KeyPart::ClientIp],
            max_keys,
            store: gatehouse_config::policy::LimitStore::Local,
        }
    }

    fn lockout(max_failures: u32, window: u64) -> Arc<Lockout> {
        let evicted = IntCounter::new("evicted", "evicted").expect("counter");
        Lockout::new(&rule(max_failures, window, 1000), evicted)
    }

    /// One request of `key` answered with `status`.
    fn attempt(l: &Lockout, key: Key, status: u16, at: Instant) -> Result<bool, Duration> {
        l.begin(key, at)?;
        Ok(l.finish(key, Some(status), at))
    }

    #[test]
    fn blocks_after_n_failures_and_releases() {
        let l = lockout(3, 60);
        let t0 = Instant::now();
        assert_eq!(attempt(&l, 1, 401, t0), Ok(false));
        assert_eq!(attempt(&l, 1, 200, t0), Ok(false));
        assert_eq!(attempt(&l, 1, 401, t0), Ok(false));
        assert_eq!(attempt(&l, 1, 401, t0), Ok(true));
        assert_eq!(l.begin(1, t0), Err(Duration::from_secs(10)));
        assert_eq!(attempt(&l, 2, 200, t0), Ok(false));
        let later = t0 + Duration::from_secs(11);
        // A fresh window after the block.
        assert_eq!(attempt(&l, 1, 401, later), Ok(false));
        assert_eq!(l.sweep(later + Duration::from_secs(61)), 0);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let l = lockout(2, 5);
        let t0 = Instant::now();
        assert_eq!(attempt(&l, 1, 401, t0), Ok(false));
        assert_eq!(attempt(&l, 1, 401, t0 + Duration::from_secs(6)), Ok(false));
        assert_eq!(attempt(&l, 1, 401, t0 + Duration::from_secs(7)), Ok(true));
    }

    #[test]
    fn parallel_attempts_cannot_outrun_the_count() {
        let l = lockout(3, 60);
        let t0 = Instant::now();
        assert_eq!(attempt(&l, 1, 401, t0), Ok(false));
        assert!(l.begin(1, t0).is_ok());
        assert!(l.begin(1, t0).is_ok());
        // One failure and two in flight: the budget of three is used.
        assert!(l.begin(1, t0).is_err());
        assert!(!l.finish(1, Some(200), t0));
        // A request that ended without a response frees its slot too.
        assert!(!l.finish(1, None, t0));
        assert!(l.begin(1, t0).is_ok());
        assert_eq!(l.sweep(t0 + Duration::from_secs(120)), 1);
    }

    #[test]
    fn successful_clients_hold_no_entry() {
        let l = lockout(3, 60);
        let t0 = Instant::now();
        for key in 0..100 {
            assert_eq!(attempt(&l, key, 200, t0), Ok(false));
        }
        assert_eq!(l.entries.len(), 0);
        assert_eq!(attempt(&l, 7, 401, t0), Ok(false));
        assert_eq!(l.entries.len(), 1);
    }

    #[test]
    fn a_flood_of_keys_evicts_the_oldest_not_the_active() {
        let evicted = IntCounter::new("evicted", "evicted").expect("counter");
        let l = Lockout::new(&rule(3, 60, 64), evicted.clone());
        let t0 = Instant::now();
        // Key 0 is one failure from its block and keeps guessing between flooded keys.
        assert_eq!(attempt(&l, 0, 401, t0), Ok(false));
        assert_eq!(attempt(&l, 0, 401, t0), Ok(false));
        for key in 1..5_000u128 {
            assert_eq!(attempt(&l, key * 7919, 401, t0), Ok(false));
            if key % 8 == 0 {
                // Still counted: admitted, answered 200, the two failures stay.
                assert_eq!(attempt(&l, 0, 200, t0), Ok(false));
            }
            assert!(l.entries.len() <= 64);
        }
        assert!(evicted.get() >= 5_000 - 64, "{}", evicted.get());
        assert_eq!(attempt(&l, 0, 401, t0), Ok(true));
        assert!(l.begin(0, t0).is_err());
    }

    #[test]
    fn a_flood_of_keys_cannot_push_a_running_block_out() {
        let evicted = IntCounter::new("evicted", "evicted").expect("counter");
        let l = Lockout::new(&rule(2, 60, 64), evicted.clone());
        let t0 = Instant::now();
        assert_eq!(attempt(&l, 0, 401, t0), Ok(false));
        assert_eq!(attempt(&l, 0, 401, t0), Ok(true));
        // The blocked client rotates a key part to fill the store, never touching key 0.
        for key in 1..5_000u128 {
            let _ = attempt(&l, key * 7919, 401, t0);
        }
        assert!(evicted.get() > 0);
        assert!(l.begin(0, t0).is_err(), "the block was evicted");
    }
}
