//! One route's sliding windows. Requests add to a live set of atomic counters (no lock on
//! the request path); every [`TICK`] the ticker moves the live counts into a ring of 5-second
//! slots (five minutes' worth), and every minute the slots of that minute into a ring of
//! one-minute slots (an hour's worth). A window is read as the live counts plus the newest
//! slots, so it is current to the request and covers its length to within one slot.

use super::cache::CacheResult;
use super::histogram::{AtomicHistogram, Histogram};
use gatehouse_traffic::{Latency, Window, WindowStats};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Length of one fine slot.
pub(crate) const TICK: Duration = Duration::from_secs(5);
const FINE_SLOTS: usize = 60;
const TICKS_PER_MINUTE: u32 = 12;
const MINUTE_SLOTS: usize = 60;

/// Counts over some stretch of time.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    requests: u64,
    server_errors: u64,
    client_errors: u64,
    hits: u64,
    misses: u64,
    latency: Histogram,
}

impl Slot {
    fn new() -> Self {
        Slot {
            requests: 0,
            server_errors: 0,
            client_errors: 0,
            hits: 0,
            misses: 0,
            latency: Histogram::new(),
        }
    }

    fn add(&mut self, o: &Slot) {
        self.requests += o.requests;
        self.server_errors += o.server_errors;
        self.client_errors += o.client_errors;
        self.hits += o.hits;
        self.misses += o.misses;
        self.latency.add(&o.latency);
    }

    fn stats(&self, covered: f64) -> WindowStats {
        let ratio = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        WindowStats {
            covered_seconds: covered,
            requests: self.requests,
            rate: if covered > 0.0 {
                self.requests as f64 / covered
            } else {
                0.0
            },
            server_errors: self.server_errors,
            client_errors: self.client_errors,
            error_ratio: ratio(self.server_errors, self.requests),
            client_error_ratio: ratio(self.client_errors, self.requests),
            latency: Latency {
                p50: self.latency.quantile(0.50),
                p95: self.latency.quantile(0.95),
                p99: self.latency.quantile(0.99),
            },
            cache_hits: self.hits,
            cache_misses: self.misses,
            cache_hit_ratio: ratio(self.hits, self.hits + self.misses),
        }
    }
}

/// The counts requests add to.
struct Live {
    requests: AtomicU64,
    server_errors: AtomicU64,
    client_errors: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    latency: AtomicHistogram,
}

impl Live {
    fn read(&self, take: bool) -> Slot {
        let get = |a: &AtomicU64| {
            if take {
                a.swap(0, Ordering::Relaxed)
            } else {
                a.load(Ordering::Relaxed)
            }
        };
        let mut slot = Slot {
            requests: get(&self.requests),
            server_errors: get(&self.server_errors),
            client_errors: get(&self.client_errors),
            hits: get(&self.hits),
            misses: get(&self.misses),
            latency: Histogram::new(),
        };
        if take {
            self.latency.drain_into(&mut slot.latency);
        } else {
            self.latency.add_into(&mut slot.latency);
        }
        slot
    }
}

struct Rings {
    /// Completed fine slots, oldest first.
    fine: VecDeque<Slot>,
    /// The fine slots of the minute under way, summed.
    minute: Slot,
    ticks_in_minute: u32,
    /// Completed minutes, oldest first.
    minutes: VecDeque<Slot>,
    last_tick: Instant,
}

/// One route's live signals.
pub(crate) struct RouteWindows {
    live: Live,
    rings: Mutex<Rings>,
}

impl RouteWindows {
    pub(crate) fn new(now: Instant) -> Self {
        RouteWindows {
            live: Live {
                requests: AtomicU64::new(0),
                server_errors: AtomicU64::new(0),
                client_errors: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                latency: AtomicHistogram::new(),
            },
            rings: Mutex::new(Rings {
                fine: VecDeque::with_capacity(FINE_SLOTS + 1),
                minute: Slot::new(),
                ticks_in_minute: 0,
                minutes: VecDeque::with_capacity(MINUTE_SLOTS + 1),
                last_tick: now,
            }),
        }
    }

    /// Count one finished request.
    pub(crate) fn record(&self, status: u16, seconds: f64, cache: Option<CacheResult>) {
        let l = &self.live;
        l.requests.fetch_add(1, Ordering::Relaxed);
        match status {
            500..=599 => {
                l.server_errors.fetch_add(1, Ordering::Relaxed);
            }
            400..=499 => {
                l.client_errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        match cache {
            Some(CacheResult::Hit) => {
                l.hits.fetch_add(1, Ordering::Relaxed);
            }
            Some(CacheResult::Miss) => {
                l.misses.fetch_add(1, Ordering::Relaxed);
            }
            Some(CacheResult::Bypass) | None => {}
        }
        l.latency.record(seconds);
    }

    fn rings(&self) -> std::sync::MutexGuard<'_, Rings> {
        self.rings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Close the fine slot under way (called every [`TICK`]).
    pub(crate) fn tick(&self, now: Instant) {
        let slot = self.live.read(true);
        let mut r = self.rings();
        r.minute.add(&slot);
        r.fine.push_back(slot);
        if r.fine.len() > FINE_SLOTS {
            r.fine.pop_front();
        }
        r.ticks_in_minute += 1;
        if r.ticks_in_minute == TICKS_PER_MINUTE {
            let minute = std::mem::replace(&mut r.minute, Slot::new());
            r.minutes.push_back(minute);
            if r.minutes.len() > MINUTE_SLOTS {
                r.minutes.pop_front();
            }
            r.ticks_in_minute = 0;
        }
        r.last_tick = now;
    }

    /// The figures over `window` as of `now`.
    pub(crate) fn window(&self, window: Window, now: Instant) -> WindowStats {
        let r = self.rings();
        let mut sum = self.live.read(false);
        let partial = now.saturating_duration_since(r.last_tick).as_secs_f64();
        let tick = TICK.as_secs_f64();
        let covered = match window {
            Window::OneMinute | Window::FiveMinutes => {
                let want = (window.seconds() / TICK.as_secs()) as usize - 1;
                let used = want.min(r.fine.len());
                for s in r.fine.iter().rev().take(used) {
                    sum.add(s);
                }
                used as f64 * tick + partial
            }
            Window::OneHour => {
                sum.add(&r.minute);
                let used = (MINUTE_SLOTS - 1).min(r.minutes.len());
                for s in r.minutes.iter().rev().take(used) {
                    sum.add(s);
                }
                used as f64 * 60.0 + f64::from(r.ticks_in_minute) * tick + partial
            }
        };
        sum.stats(covered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_slide_with_the_ticks() {
        let t0 = Instant::now();
        let w = RouteWindows::new(t0);
        // 100 requests in the first slot: 10 fail with 500, 5 with 404; 20 hits, 5 misses.
        for i in 0..100u32 {
            let status = match i {
                0..=9 => 500,
                10..=14 => 404,
                _ => 200,
            };
            let cache = match i {
                0..=19 => Some(CacheResult::Hit),
                20..=24 => Some(CacheResult::Miss),
                25..=29 => Some(CacheResult::Bypass),
                _ => None,
            };
            w.record(status, if i < 95 { 0.01 } else { 2.0 }, cache);
        }
        let now = t0 + Duration::from_secs(1);
        let m1 = w.window(Window::OneMinute, now);
        assert_eq!(m1.requests, 100);
        assert_eq!(m1.error_ratio, Some(0.1));
        assert_eq!(m1.client_error_ratio, Some(0.05));
        assert_eq!(m1.cache_hit_ratio, Some(0.8));
        assert!((m1.rate - 100.0).abs() < 1e-9, "rate {}", m1.rate);
        let p95 = m1.latency.p95.expect("p95");
        let p99 = m1.latency.p99.expect("p99");
        assert!((p95 - 0.01).abs() / 0.01 < 0.05, "p95 {p95}");
        assert!((p99 - 2.0).abs() / 2.0 < 0.05, "p99 {p99}");

        // One minute of ticks later the requests have left the 1m window but not the others.
        let mut t = t0;
        for _ in 0..12 {
            t += TICK;
            w.tick(t);
        }
        assert_eq!(w.window(Window::OneMinute, t).requests, 0);
        assert_eq!(w.window(Window::OneMinute, t).error_ratio, None);
        assert_eq!(w.window(Window::FiveMinutes, t).requests, 100);
        assert_eq!(w.window(Window::OneHour, t).requests, 100);
        let covered = w.window(Window::OneMinute, t).covered_seconds;
        assert!((covered - 55.0).abs() < 1e-9, "covered {covered}");

        // After five minutes they leave the 5m window; after an hour the 1h window.
        for _ in 0..48 {
            t += TICK;
            w.tick(t);
        }
        assert_eq!(w.window(Window::FiveMinutes, t).requests, 0);
        assert_eq!(w.window(Window::OneHour, t).requests, 100);
        for _ in 0..(55 * 12) {
            t += TICK;
            w.tick(t);
        }
        let h1 = w.window(Window::OneHour, t);
        assert_eq!(h1.requests, 0);
        assert!(
            (h1.covered_seconds - 3540.0).abs() < 1e-9,
            "{}",
            h1.covered_seconds
        );
    }
}
