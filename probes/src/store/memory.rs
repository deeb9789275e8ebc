//! The in-memory store: the same behaviour as the SQLite store, nothing kept across restarts.
//! For tests, and for running without a state directory.

use super::{
    duration_from_ms, history, kind_from_str, Bucket, Cutoffs, Failure, History, Period, Range,
    Retention, Store, StoreError, Window, RECENT_FAILURES,
};
use crate::result::{from_unix_millis, unix_millis, CheckResult, Phases};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

/// The in-memory store.
#[derive(Debug)]
pub struct MemoryStore {
    retention: Retention,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Raw results in the order they were written.
    results: Vec<Arc<CheckResult>>,
    /// Keyed by probe, period and bucket start (Unix seconds).
    rollups: BTreeMap<(Arc<str>, Period, i64), Rollup>,
    state: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Rollup {
    checks: u64,
    failures: u64,
    maintenance: u64,
    latency_sum_ms: f64,
    latency_max_ms: f64,
}

impl MemoryStore {
    /// An empty store that prunes by `retention`.
    pub fn new(retention: Retention) -> MemoryStore {
        MemoryStore {
            retention,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change below is completed before the guard drops; a panic elsewhere cannot
        // leave the maps half-updated.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `r` as the SQLite store gives it back: phases and lag are not kept, the duration goes
/// through (fractional) milliseconds, times are whole milliseconds, an unknown kind reads as `unknown`.
fn as_stored(r: &CheckResult) -> CheckResult {
    CheckResult {
        kind: kind_from_str(r.kind),
        at: from_unix_millis(unix_millis(r.at)),
        cert_expiry: r.cert_expiry.map(|t| from_unix_millis(unix_millis(t))),
        duration: duration_from_ms(r.duration.as_secs_f64() * 1000.0),
        phases: Phases::default(),
        failures: if r.up { Vec::new() } else { r.failures.clone() },
        lag: Duration::ZERO,
        ..r.clone()
    }
}

impl Store for MemoryStore {
    fn write(&self, results: &[Arc<CheckResult>]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for r in results {
            let at = r.at_unix_ms();
            let ms = r.duration.as_secs_f64() * 1000.0;
            for period in Period::BOTH {
                let key = (r.probe.clone(), period, period.bucket(at));
                let rollup = inner.rollups.entry(key).or_default();
                if r.maintenance {
                    rollup.maintenance += 1;
                    continue;
                }
                rollup.checks += 1;
                rollup.failures += u64::from(!r.up);
                rollup.latency_sum_ms += ms;
                rollup.latency_max_ms = if rollup.checks == 1 {
                    ms
                } else {
                    rollup.latency_max_ms.max(ms)
                };
            }
            inner.results.push(r.clone());
        }
        Ok(())
    }

    fn prune(&self, now: SystemTime) -> Result<u64, StoreError> {
        let cut = Cutoffs::new(self.retention, now);
        let mut inner = self.lock();
        let before = inner.results.len() + inner.rollups.len();
        inner.results.retain(|r| r.at_unix_ms() >= cut.raw_ms);
        inner
            .rollups
            .retain(|(_, period, start), _| *start >= cut.rollup(*period));
        let after = inner.results.len() + inner.rollups.len();
        Ok((before - after) as u64)
    }

    fn history(&self, probe: &str, range: Range, now: SystemTime) -> Result<History, StoreError> {
        let w = Window::new(range, now);
        let inner = self.lock();
        let probe_key: Arc<str> = Arc::from(probe);
        let from = (probe_key.clone(), w.period, w.first_bucket);
        let to = (probe_key, w.period, w.last_bucket);
        let series = if from <= to {
            inner
                .rollups
                .range(from..=to)
                .map(|((_, _, start), r)| Bucket {
                    start: *start,
                    checks: r.checks,
                    failures: r.failures,
                    avg_ms: if r.checks == 0 {
                        0.0
                    } else {
                        r.latency_sum_ms / r.checks as f64
                    },
                    max_ms: r.latency_max_ms,
                    maintenance: r.maintenance,
                })
                .collect()
        } else {
            Vec::new()
        };
        // Newest written first, then a stable sort by time: ties go to the last written.
        let mut failures: Vec<Failure> = inner
            .results
            .iter()
            .rev()
            .filter(|r| &*r.probe == probe && !r.up)
            .filter(|r| (w.from_ms..=w.to_ms).contains(&r.at_unix_ms()))
            .map(|r| Failure {
                at: r.at_unix_ms(),
                status_code: r.status_code,
                reasons: r.failures.clone(),
            })
            .collect();
        failures.sort_by_key(|f| std::cmp::Reverse(f.at));
        failures.truncate(RECENT_FAILURES);
        Ok(history(probe, range, series, failures))
    }

    fn latest(&self) -> Result<Vec<CheckResult>, StoreError> {
        let inner = self.lock();
        let mut newest: BTreeMap<&str, &CheckResult> = BTreeMap::new();
        for r in &inner.results {
            let slot = newest.entry(&r.probe).or_insert(r);
            if unix_millis(r.at) >= unix_millis(slot.at) {
                *slot = r;
            }
        }
        Ok(newest.into_values().map(as_stored).collect())
    }

    fn get_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock().state.get(key).cloned())
    }

    fn put_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.lock().state.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}
