//! Lockouts: count responses with chosen statuses (e.g. 401) per client within a window; after
//! `max_failures` the client is refused for `block_for`. Requests still in flight count
//! against the budget too (failures + in flight < max_failures), so that parallel guesses
//! cannot all pass before their failures are counted. Entries whose window and block are over
//! are swept every few seconds.

use super::key::Key;
use gatehouse_config::LockoutRule;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
const SWEEP_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    in_flight: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
}

/// The counters of one lockout rule; kept across reloads while the rule is unchanged.
pub(crate) struct Lockout {
    pub(crate) rule: LockoutRule,
    shards: Vec<Mutex<HashMap<Key, Entry>>>,
}

impl Lockout {
    pub(crate) fn new(rule: &LockoutRule) -> Arc<Lockout> {
        Arc::new(Lockout {
            rule: rule.clone(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        })
    }

    fn shard(&self, key: Key) -> &Mutex<HashMap<Key, Entry>> {
        &self.shards[(key as usize) % SHARDS]
    }

    /// Admit a request of `key`, or say how long to wait. An admitted request must be
    /// [`finish`](Lockout::finish)ed exactly once.
    pub(crate) fn begin(&self, key: Key, now: Instant) -> Result<(), Duration> {
        let Ok(mut map) = self.shard(key).lock() else {
            return Ok(());
        };
        let e = map.entry(key).or_insert(Entry {
            failures: 0,
            in_flight: 0,
            window_start: now,
            blocked_until: None,
        });
        match e.blocked_until {
            Some(until) if until > now => return Err(until - now),
            Some(_) => {
                e.failures = 0;
                e.window_start = now;
                e.blocked_until = None;
            }
            None if now.duration_since(e.window_start) > self.rule.window => {
                e.failures = 0;
                e.window_start = now;
            }
            None => {}
        }
        if e.failures + e.in_flight >= self.rule.max_failures {
            return Err(Duration::from_secs(1));
        }
        e.in_flight += 1;
        Ok(())
    }

    /// The end of an admitted request: with its status when a response was sent. True when
    /// this response started a block.
    pub(crate) fn finish(&self, key: Key, status: Option<u16>, now: Instant) -> bool {
        let Ok(mut map) = self.shard(key).lock() else {
            return false;
        };
        let Some(e) = map.get_mut(&key) else {
            return false;
        };
        e.in_flight = e.in_flight.saturating_sub(1);
        if !status.is_some_and(|s| self.rule.statuses.contains(&s)) {
            return false;
        }
        if e.blocked_until.is_some_and(|u| u > now) {
            return false;
        }
        if now.duration_since(e.window_start) > self.rule.window {
            e.failures = 0;
            e.window_start = now;
        }
        e.failures += 1;
        if e.failures >= self.rule.max_failures {
            e.blocked_until = Some(now + self.rule.block_for);
            return true;
        }
        false
    }

    fn sweep(&self, now: Instant) {
        for shard in &self.shards {
            if let Ok(mut map) = shard.lock() {
                map.retain(|_, e| {
                    e.in_flight > 0
                        || match e.blocked_until {
                            Some(u) => u > now,
                            None => now.duration_since(e.window_start) <= self.rule.window,
                        }
                });
                map.shrink_to_fit();
            }
        }
    }

    pub(crate) fn spawn_sweeper(self: &Arc<Self>, rt: &tokio::runtime::Handle) {
        let weak: Weak<Lockout> = Arc::downgrade(self);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                let Some(l) = weak.upgrade() else { break };
                l.sweep(Instant::now());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::KeyPart;

    fn lockout(max_failures: u32, window: u64) -> Arc<Lockout> {
        Lockout::new(&LockoutRule {
            name: "login".into(),
            statuses: vec![401],
            max_failures,
            window: Duration::from_secs(window),
            block_for: Duration::from_secs(10),
            key: vec![KeyPart::ClientIp],
        })
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
        l.sweep(later + Duration::from_secs(61));
        assert!(l
            .shards
            .iter()
            .all(|s| s.lock().map(|m| m.is_empty()).unwrap_or(false)));
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
        l.sweep(t0 + Duration::from_secs(120));
        assert!(l
            .shards
            .iter()
            .any(|s| s.lock().map(|m| !m.is_empty()).unwrap_or(false)));
    }
}
