//! Passive health of one backend: failures of real requests in a row, and the ejection they
//! cause (`upstreams.*.passive_health`). Lock-free: a few atomics per backend.

use prometheus::IntCounter;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a backend's requests taught us.
pub(crate) struct Passive {
    failures: AtomicU32,
    /// Milliseconds since the pool's epoch until which the backend is out; 0: in service.
    ejected_until: AtomicU64,
    /// Ejections in a row (the next cool-off doubles with each).
    streak: AtomicU32,
    pub(crate) ejections: IntCounter,
}

impl Passive {
    pub(crate) fn new(ejections: IntCounter) -> Passive {
        Passive {
            failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            streak: AtomicU32::new(0),
            ejections,
        }
    }

    fn ms(epoch: Instant, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the backend is ejected at `now`.
    pub(crate) fn ejected(&self, epoch: Instant, now: Instant) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        until != 0 && Self::ms(epoch, now) < until
    }

    /// A request succeeded: the failure count starts again, and a backend back from an
    /// ejection has its streak forgotten.
    pub(crate) fn success(&self, epoch: Instant, now: Instant) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if !self.ejected(epoch, now) && self.streak.load(Ordering::Relaxed) != 0 {
            self.streak.store(0, Ordering::Relaxed);
        }
    }

    /// A request failed. `Some(cool_off)` when this failure ejected the backend.
    pub(crate) fn failure(
        &self,
        threshold: u32,
        cool_off: Duration,
        max: Duration,
        epoch: Instant,
        now: Instant,
    ) -> Option<Duration> {
        if threshold == 0 || self.ejected(epoch, now) {
            return None;
        }
        if self.failures.fetch_add(1, Ordering::Relaxed) + 1 < threshold {
            return None;
        }
        self.failures.store(0, Ordering::Relaxed);
        let streak = self.streak.fetch_add(1, Ordering::Relaxed).min(16);
        let cool = cool_off.saturating_mul(1 << streak).min(max);
        self.ejected_until
            .store(Self::ms(epoch, now + cool).max(1), Ordering::Relaxed);
        self.ejections.inc();
        Some(cool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejects_after_failures_in_a_row_with_a_growing_cool_off() {
        let p = Passive::new(IntCounter::new("e", "e").expect("counter"));
        let epoch = Instant::now();
        let s = Duration::from_secs;
        let fail = |at: Instant| p.failure(3, s(10), s(25), epoch, at);
        let t = epoch + s(1);
        assert_eq!(fail(t), None);
        assert_eq!(fail(t), None);
        p.success(epoch, t);
        assert_eq!(fail(t), None);
        assert_eq!(fail(t), None);
        assert_eq!(fail(t), Some(s(10)));
        assert!(p.ejected(epoch, t + s(9)));
        assert!(!p.ejected(epoch, t + s(11)));
        // Failing again right after: doubled, then capped.
        let t2 = t + s(11);
        for _ in 0..2 {
            assert_eq!(fail(t2), None);
        }
        assert_eq!(fail(t2), Some(s(20)));
        let t3 = t2 + s(21);
        for _ in 0..2 {
            assert_eq!(fail(t3), None);
        }
        assert_eq!(fail(t3), Some(s(25)));
        // Back and healthy: the streak is forgotten.
        let t4 = t3 + s(26);
        p.success(epoch, t4);
        for _ in 0..2 {
            assert_eq!(fail(t4), None);
        }
        assert_eq!(fail(t4), Some(s(10)));
        assert_eq!(p.ejections.get(), 4);
    }
}
