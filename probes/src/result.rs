//! The outcome of one check: what every consumer (metrics, store, API, alerting) reads.

use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Durations of the phases of a check, where the kind has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Phases {
    /// Name resolution.
    #[serde(serialize_with = "opt_ms")]
    pub dns: Option<Duration>,
    /// TCP connect.
    #[serde(serialize_with = "opt_ms")]
    pub connect: Option<Duration>,
    /// TLS handshake.
    #[serde(serialize_with = "opt_ms")]
    pub tls: Option<Duration>,
    /// Request written until the response head arrived.
    #[serde(serialize_with = "opt_ms")]
    pub first_byte: Option<Duration>,
}

/// One completed check of one probe (after its retries).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// The probe's name.
    pub probe: Arc<str>,
    /// The probe's group.
    pub group: Arc<str>,
    /// `http`, `tcp`, `tls`, `dns`, `redis` or `heartbeat`.
    pub kind: &'static str,
    /// When the check started.
    #[serde(serialize_with = "unix_ms")]
    pub at: SystemTime,
    /// How long the last attempt took, end to end.
    #[serde(serialize_with = "ms")]
    pub duration: Duration,
    /// Whether every condition held (on the last attempt).
    pub up: bool,
    /// Attempts made: 1, or more when retries were needed.
    pub attempts: u32,
    /// Phase timings of the last attempt.
    pub phases: Phases,
    /// HTTP status of the final response.
    pub status_code: Option<u16>,
    /// When the leaf certificate expires (`not_after`).
    #[serde(serialize_with = "opt_unix_ms")]
    pub cert_expiry: Option<SystemTime>,
    /// Redis keyspace hit ratio.
    pub hit_ratio: Option<f64>,
    /// Why the probe is down: the error that stopped the check, or each failed condition
    /// with what was measured. Empty when up.
    pub failures: Vec<String>,
    /// How late the check started against its schedule.
    #[serde(serialize_with = "ms")]
    pub lag: Duration,
    /// Taken during a maintenance window that covers the probe: kept, but not counted in
    /// uptime (set by the hub as the result is published).
    pub maintenance: bool,
}

impl CheckResult {
    /// The start time in Unix milliseconds.
    pub fn at_unix_ms(&self) -> i64 {
        unix_millis(self.at)
    }
}

/// Unix milliseconds of `t` (negative before 1970).
pub fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// The time at Unix milliseconds `ms`.
pub fn from_unix_millis(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

fn opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64() * 1000.0),
        None => s.serialize_none(),
    }
}

fn unix_ms<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(unix_millis(*t))
}

fn opt_unix_ms<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_i64(unix_millis(*t)),
        None => s.serialize_none(),
    }
}
