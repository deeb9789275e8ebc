//! Lockouts: count responses with chosen statuses (e.g. 401) per client within a window; after
//! `max_failures` the client is refused for `block_for`. Entries whose window and block are
//! over are swept every few seconds.

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

    /// How long `key` is still blocked, if it is.
    pub(crate) fn blocked_for(&self, key: Key, now: Instant) -> Option<Duration> {
        let map = self.shard(key).lock().ok()?;
        let until = map.get(&key)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Record a response; true when this one started a block.
    pub(crate) fn record(&self, key: Key, status: u16, now: Instant) -> bool {
        if !self.rule.statuses.contains(&status) {
            return false;
        }
        let Ok(mut map) = self.shard(key).lock() else {
            return false;
        };
        let e = map.entry(key).or_insert(Entry {
            failures: 0,
            window_start: now,
            blocked_until: None,
        });
        if e.blocked_until.is_some_and(|u| u > now) {
            return false;
        }
        if now.duration_since(e.window_start) > self.rule.window || e.blocked_until.is_some() {
            *e = Entry {
                failures: 0,
                window_start: now,
                blocked_until: None,
            };
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
                map.retain(|_, e| match e.blocked_until {
                    Some(u) => u > now,
                    None => now.duration_since(e.window_start) <= self.rule.window,
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

    #[test]
    fn blocks_after_n_failures_and_releases() {
        let l = Lockout::new(&LockoutRule {
            name: "login".into(),
            statuses: vec![401],
            max_failures: 3,
            window: Duration::from_secs(60),
            block_for: Duration::from_secs(10),
            key: vec![KeyPart::ClientIp],
        });
        let t0 = Instant::now();
        assert!(!l.record(1, 401, t0));
        assert!(!l.record(1, 200, t0));
        assert!(!l.record(1, 401, t0));
        assert_eq!(l.blocked_for(1, t0), None);
        assert!(l.record(1, 401, t0));
        assert_eq!(l.blocked_for(1, t0), Some(Duration::from_secs(10)));
        assert_eq!(l.blocked_for(2, t0), None);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(l.blocked_for(1, later), None);
        // A fresh window after the block.
        assert!(!l.record(1, 401, later));
        l.sweep(later + Duration::from_secs(61));
        assert!(l
            .shards
            .iter()
            .all(|s| s.lock().map(|m| m.is_empty()).unwrap_or(false)));
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let l = Lockout::new(&LockoutRule {
            name: "login".into(),
            statuses: vec![401],
            max_failures: 2,
            window: Duration::from_secs(5),
            block_for: Duration::from_secs(10),
            key: vec![KeyPart::ClientIp],
        });
        let t0 = Instant::now();
        assert!(!l.record(1, 401, t0));
        assert!(!l.record(1, 401, t0 + Duration::from_secs(6)));
        assert!(l.record(1, 401, t0 + Duration::from_secs(7)));
    }
}
