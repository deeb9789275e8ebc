//! Where check results are kept: raw results for a while, hourly and daily rollups for the
//! uptime history. SQLite by default ([`SqliteStore`]); [`MemoryStore`] for tests and for
//! running without a state directory. Both are behind [`Store`] so that other stores can come.
//! (implementation by the store helper)

use crate::result::{unix_millis, CheckResult};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

mod memory;
mod postgres;
mod postgres_latest;
#[cfg(test)]
mod postgres_tests;
mod sqlite;
#[cfg(test)]
mod tests;

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw results.
    pub raw: Duration,
    /// Hourly rollups.
    pub hourly: Duration,
    /// Daily rollups.
    pub daily: Duration,
}

/// The ranges the history API offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Range {
    /// `24h` (hourly points)
    #[serde(rename = "24h")]
    Day,
    /// `7d` (hourly points)
    #[serde(rename = "7d")]
    Week,
    /// `30d` (daily points)
    #[serde(rename = "30d")]
    Month,
    /// `90d` (daily points)
    #[serde(rename = "90d")]
    Quarter,
}

impl Range {
    /// Every range, shortest first.
    pub const ALL: [Range; 4] = [Range::Day, Range::Week, Range::Month, Range::Quarter];

    /// Parses `24h`, `7d`, `30d` or `90d`.
    pub fn parse(s: &str) -> Option<Range> {
        Range::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The name the API uses: `24h`, `7d`, `30d` or `90d`.
    pub fn as_str(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
            Range::Quarter => "90d",
        }
    }

    /// How far back the range reaches.
    pub fn duration(self) -> Duration {
        const DAY: u64 = 86_400;
        Duration::from_secs(match self {
            Range::Day => DAY,
            Range::Week => 7 * DAY,
            Range::Month => 30 * DAY,
            Range::Quarter => 90 * DAY,
        })
    }

    /// Whether the series has hourly points (24h, 7d) rather than daily ones (30d, 90d).
    pub fn hourly(self) -> bool {
        matches!(self, Range::Day | Range::Week)
    }

    fn period(self) -> Period {
        if self.hourly() {
            Period::Hour
        } else {
            Period::Day
        }
    }
}

/// A failing store.
#[derive(Debug, thiserror::Error)]
#[error("probe store: {0}")]
pub struct StoreError(pub String);

/// The store interface. Calls block (SQLite); async callers use `spawn_blocking`.
pub trait Store: Send + Sync + 'static {
    /// Append results (one transaction per call) and fold them into the rollups.
    fn write(&self, results: &[Arc<CheckResult>]) -> Result<(), StoreError>;
    /// Delete rows older than their retention, as of `now`; returns rows deleted.
    fn prune(&self, now: SystemTime) -> Result<u64, StoreError>;
    /// Uptime and latency of `probe` over `range` ending at `now`.
    fn history(&self, probe: &str, range: Range, now: SystemTime) -> Result<History, StoreError>;
    /// The newest result of each probe (to show state right after a restart).
    fn latest(&self) -> Result<Vec<CheckResult>, StoreError>;
    /// A small persistent value (e.g. a heartbeat's last beat).
    fn get_state(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Set a small persistent value.
    fn put_state(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Whether other instances write to this store too (cluster mode): state such as a
    /// heartbeat's last beat is then read back before it is judged.
    fn shared(&self) -> bool {
        false
    }
    /// Cluster mode: the newest verdict (up or not) of `probe` by each *other* instance that
    /// checked it at or after `since`. Empty for a store of one instance.
    fn others_verdicts(
        &self,
        _probe: &str,
        _since: SystemTime,
    ) -> Result<Vec<(String, bool)>, StoreError> {
        Ok(Vec::new())
    }
}

/// One point of a history series: a rollup bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Start of the bucket, Unix seconds (UTC hour or day).
    pub start: i64,
    /// Checks in the bucket.
    pub checks: u64,
    /// Failed checks in the bucket.
    pub failures: u64,
    /// Mean duration of the checks, milliseconds.
    pub avg_ms: f64,
    /// Longest duration, milliseconds.
    pub max_ms: f64,
    /// Checks taken during maintenance: not in `checks`, `failures` or the latencies.
    pub maintenance: u64,
}

/// A failed check, as the history shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// Unix milliseconds.
    pub at: i64,
    /// The HTTP status, when there was one.
    pub status_code: Option<u16>,
    /// Why it failed.
    pub reasons: Vec<String>,
}

/// Uptime history of one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    /// The probe.
    pub probe: String,
    /// The range asked for.
    pub range: Range,
    /// Checks in the range.
    pub checks: u64,
    /// Failed checks in the range.
    pub failures: u64,
    /// Checks taken during maintenance windows (not in `checks`).
    pub maintenance: u64,
    /// `(checks - failures) / checks`; `None` without checks. Maintenance is left out, as
    /// Statuspage and Uptime Kuma leave it out.
    pub uptime: Option<f64>,
    /// Hourly buckets for 24h and 7d, daily for 30d and 90d, oldest first, only those with
    /// checks (or checks during maintenance).
    pub series: Vec<Bucket>,
    /// The newest failures in the range (at most 50, newest first), from the raw results.
    pub recent_failures: Vec<Failure>,
}

/// The length of a rollup bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Period {
    Hour,
    Day,
}

impl Period {
    const BOTH: [Period; 2] = [Period::Hour, Period::Day];

    /// The `period` column of the `rollups` table.
    fn as_str(self) -> &'static str {
        match self {
            Period::Hour => "h",
            Period::Day => "d",
        }
    }

    fn secs(self) -> i64 {
        match self {
            Period::Hour => 3_600,
            Period::Day => 86_400,
        }
    }

    /// Start (Unix seconds) of the UTC hour or day holding `at_ms`.
    fn bucket(self, at_ms: i64) -> i64 {
        at_ms.div_euclid(self.secs() * 1000) * self.secs()
    }
}

/// Milliseconds of `d`, saturating.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `a / b` rounded up (`b > 0`).
fn ceil_div(a: i64, b: i64) -> i64 {
    -(a.saturating_neg().div_euclid(b))
}

/// Unix seconds of the first whole second at or after `ms`.
fn ceil_secs(ms: i64) -> i64 {
    ceil_div(ms, 1000)
}

/// The part of the raw results and rollups that a history over `range` ending at `now` reads.
///
/// The rule: a history is made of whole buckets (hours for 24h and 7d, days for 30d and 90d)
/// that *start* within the range, i.e. `now - range <= start <= now`. The bucket holding
/// `now - range` started before the range and is left out (so "24h" at 14:20 covers
/// 15:00 yesterday to now); the bucket holding `now` is in, up to `now`. Recent failures
/// are taken from the same span, so they always agree with the uptime figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    period: Period,
    /// First bucket start in the range, Unix seconds.
    first_bucket: i64,
    /// Last bucket start in the range (the bucket holding `now`), Unix seconds.
    last_bucket: i64,
    /// Raw results from this time (Unix ms, inclusive) ...
    from_ms: i64,
    /// ... to this time (Unix ms, inclusive).
    to_ms: i64,
}

impl Window {
    fn new(range: Range, now: SystemTime) -> Window {
        let period = range.period();
        let to_ms = unix_millis(now);
        let start_ms = to_ms.saturating_sub(millis(range.duration()));
        // The first bucket boundary at or after `start_ms`.
        let size = period.secs();
        let first_bucket = ceil_div(start_ms, size * 1000) * size;
        Window {
            period,
            first_bucket,
            last_bucket: period.bucket(to_ms),
            from_ms: first_bucket.saturating_mul(1000),
            to_ms,
        }
    }
}

/// Cut-offs of a prune at `now`: rows older than these go.
#[derive(Debug, Clone, Copy)]
struct Cutoffs {
    /// Raw results with `at` (Unix ms) before this.
    raw_ms: i64,
    /// Hourly rollups starting (Unix seconds) before this.
    hourly: i64,
    /// Daily rollups starting (Unix seconds) before this.
    daily: i64,
}

impl Cutoffs {
    fn new(retention: Retention, now: SystemTime) -> Cutoffs {
        let now_ms = unix_millis(now);
        let before = |d: Duration| now_ms.saturating_sub(millis(d));
        Cutoffs {
            raw_ms: before(retention.raw),
            hourly: ceil_secs(before(retention.hourly)),
            daily: ceil_secs(before(retention.daily)),
        }
    }

    fn rollup(self, period: Period) -> i64 {
        match period {
            Period::Hour => self.hourly,
            Period::Day => self.daily,
        }
    }
}

/// The `&'static str` kind for a stored kind name.
fn kind_from_str(kind: &str) -> &'static str {
    const KINDS: [&str; 6] = ["http", "tcp", "tls", "dns", "redis", "heartbeat"];
    KINDS.into_iter().find(|k| *k == kind).unwrap_or("unknown")
}

/// A duration stored as (fractional) milliseconds, back to a `Duration` (to the nanosecond).
fn duration_from_ms(ms: f64) -> Duration {
    // `as` saturates: negative and NaN become zero.
    Duration::from_nanos((ms * 1e6).round() as u64)
}

/// A history from its buckets (oldest first) and its recent failures (newest first).
fn history(
    probe: &str,
    range: Range,
    series: Vec<Bucket>,
    recent_failures: Vec<Failure>,
) -> History {
    let checks = series.iter().map(|b| b.checks).sum::<u64>();
    let failures = series.iter().map(|b| b.failures).sum::<u64>();
    let maintenance = series.iter().map(|b| b.maintenance).sum::<u64>();
    let uptime = (checks > 0).then(|| checks.saturating_sub(failures) as f64 / checks as f64);
    History {
        probe: probe.to_owned(),
        range,
        checks,
        failures,
        maintenance,
        uptime,
        series,
        recent_failures,
    }
}

/// At most this many failures are listed in a history.
const RECENT_FAILURES: usize = 50;
