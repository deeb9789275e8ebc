//! Push monitors: a job calls `POST /api/v1/heartbeat/{name}` with the monitor's token; the
//! monitor is up while the last beat is within `period` + `grace`. Until the first beat, the
//! deadline counts from when the monitor was configured (or from the beat stored before a
//! restart). A beat is taken at its arrival; one remembered from ahead of the clock (stored
//! before the clock was stepped back) counts as arriving now, so a dead job is found one
//! period after that, not when the clock catches up.

use crate::kinds::Attempt;
use gatehouse_config::probes::{HeartbeatProbe, Probe, ProbeKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

struct Entry {
    token: String,
    last_beat: AtomicI64,
    /// The last check found it overdue: a beat triggers a check at once.
    down: AtomicBool,
    wake: Arc<Notify>,
}

/// Why a beat was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BeatError {
    /// No heartbeat monitor has this name.
    #[error("no heartbeat monitor has this name")]
    NotFound,
    /// The token is missing or wrong.
    #[error("the token is missing or wrong")]
    Unauthorized,
}

/// The heartbeat monitors and their last beats.
#[derive(Default)]
pub(crate) struct Heartbeats {
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    /// A store shared with other instances (cluster mode): a beat any of them took counts.
    shared: std::sync::OnceLock<Arc<dyn crate::store::Store>>,
}

/// The state key of a monitor's last beat (Unix ms).
pub(crate) fn key(name: &str) -> String {
    format!("heartbeat:{name}")
}

impl Heartbeats {
    /// Read last beats from `store` before each deadline check (a beat may reach another
    /// instance of the cluster).
    pub(crate) fn share(&self, store: Arc<dyn crate::store::Store>) {
        let _ = self.shared.set(store);
    }

    /// Take the newest beat the shared store knows for `name` (no-op without one). A store
    /// that does not answer within a second leaves the local view as it is.
    pub(crate) async fn refresh(&self, name: &str) {
        let (Some(store), Some(entry)) = (self.shared.get().cloned(), self.get(name)) else {
            return;
        };
        let k = key(name);
        let read = tokio::task::spawn_blocking(move || store.get_state(&k));
        let Ok(Ok(Ok(Some(v)))) = tokio::time::timeout(Duration::from_secs(1), read).await else {
            return;
        };
        if let Ok(ms) = v.parse::<i64>() {
            let now = crate::result::unix_millis(SystemTime::now());
            entry.last_beat.fetch_max(ms.min(now), Ordering::Relaxed);
        }
    }

    /// Take the configured monitors; existing ones keep their last beat. `restored` gives the
    /// stored last beat (Unix ms) of a monitor that is new to this process.
    pub(crate) fn configure(&self, probes: &[Probe], restored: &dyn Fn(&str) -> Option<i64>) {
        let now = crate::result::unix_millis(SystemTime::now());
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let mut next = HashMap::new();
        for p in probes {
            let ProbeKind::Heartbeat(h) = &p.kind else {
                continue;
            };
            let entry = match entries.remove(&p.name) {
                Some(old) if old.token == h.token.0 => old,
                Some(old) => Arc::new(Entry {
                    token: h.token.0.clone(),
                    last_beat: AtomicI64::new(old.last_beat.load(Ordering::Relaxed)),
                    down: AtomicBool::new(old.down.load(Ordering::Relaxed)),
                    wake: old.wake.clone(),
                }),
                None => Arc::new(Entry {
                    token: h.token.0.clone(),
                    last_beat: AtomicI64::new(restored(&p.name).map_or(now, |t| t.min(now))),
                    down: AtomicBool::new(false),
                    wake: Arc::new(Notify::new()),
                }),
            };
            next.insert(p.name.clone(), entry);
        }
        *entries = next;
    }

    fn get(&self, name: &str) -> Option<Arc<Entry>> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Record a beat at `now`. Returns the beat's time in Unix ms (for the store).
    pub(crate) fn beat(&self, name: &str, token: &str, now: SystemTime) -> Result<i64, BeatError> {
        let entry = self.get(name).ok_or(BeatError::NotFound)?;
        if !constant_time_eq(entry.token.as_bytes(), token.as_bytes()) {
            return Err(BeatError::Unauthorized);
        }
        let ms = crate::result::unix_millis(now);
        // The arrival time, even when an earlier beat was recorded ahead of it.
        entry.last_beat.store(ms, Ordering::Relaxed);
        if entry.down.load(Ordering::Relaxed) {
            entry.wake.notify_one();
        }
        Ok(ms)
    }

    /// Woken when a beat arrives for a monitor that is down.
    pub(crate) fn wake_of(&self, name: &str) -> Option<Arc<Notify>> {
        self.get(name).map(|e| e.wake.clone())
    }

    /// Evaluate the deadline now.
    pub(crate) fn attempt(&self, name: &str, h: &HeartbeatProbe) -> Attempt {
        self.attempt_at(name, h, SystemTime::now())
    }

    fn attempt_at(&self, name: &str, h: &HeartbeatProbe, now: SystemTime) -> Attempt {
        let mut attempt = Attempt::default();
        let Some(entry) = self.get(name) else {
            attempt.error = Some("the monitor is not configured".into());
            return attempt;
        };
        let now = crate::result::unix_millis(now);
        // A last beat ahead of the clock is taken as now: the deadline runs from here.
        let last = entry.last_beat.fetch_min(now, Ordering::Relaxed).min(now);
        let since = Duration::from_millis(u64::try_from(now - last).unwrap_or(0));
        let allowed = h.period + h.grace;
        attempt.obs.latency = Some(Duration::ZERO);
        if since > allowed {
            attempt.error = Some(format!(
                "no beat for {} (expected every {}, grace {})",
                crate::format::duration(since),
                crate::format::duration(h.period),
                crate::format::duration(h.grace)
            ));
        }
        entry.down.store(since > allowed, Ordering::Relaxed);
        attempt
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::probes::{Probe, ProbeKind};
    use gatehouse_config::secret::Secret;

    fn monitor() -> (Probe, HeartbeatProbe) {
        let h = HeartbeatProbe {
            token: Secret("t".into()),
            period: Duration::from_secs(60),
            grace: Duration::ZERO,
        };
        let p = Probe {
            name: "cron".into(),
            group: "default".into(),
            kind: ProbeKind::Heartbeat(h.clone()),
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(1),
            retries: 0,
            retry_delay: Duration::ZERO,
            conditions: Vec::new(),
            labels: Default::default(),
            depends_on: Vec::new(),
            depends_on_settle: None,
            quorum: Default::default(),
        };
        (p, h)
    }

    #[test]
    fn a_beat_from_ahead_of_the_clock_counts_from_now() {
        let (p, h) = monitor();
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        // Stored before a restart by a clock an hour ahead.
        let future = crate::result::unix_millis(now + hour);
        let beats = Heartbeats::default();
        beats.configure(std::slice::from_ref(&p), &|_| Some(future));
        assert!(beats.attempt_at("cron", &h, now).error.is_none());
        // Two minutes later the job has not beaten: down, not up for another hour.
        let later = now + Duration::from_secs(120);
        assert!(beats.attempt_at("cron", &h, later).error.is_some());
        // A beat recorded ahead of the clock, then the clock steps back: taken at arrival.
        beats.beat("cron", "t", now + hour).unwrap_or_default();
        assert!(beats.attempt_at("cron", &h, now).error.is_none());
        assert!(beats.attempt_at("cron", &h, later).error.is_some());
        // A beat arriving after one from the future replaces it.
        beats.beat("cron", "t", now + hour).unwrap_or_default();
        beats.beat("cron", "t", now).unwrap_or_default();
        assert!(beats.attempt_at("cron", &h, later).error.is_some());
        assert!(beats
            .attempt_at("cron", &h, now + Duration::from_secs(30))
            .error
            .is_none());
    }
}
