//! What a check measured, in the form conditions are evaluated against.

use crate::result::Phases;
use std::time::Duration;

/// Facts from one attempt. A field is `None` when the kind does not measure it or the attempt
/// stopped before it; a condition on a missing fact fails with "not measured".
#[derive(Debug, Default, Clone)]
pub struct Observation {
    /// HTTP status code.
    pub status: Option<u16>,
    /// The attempt end to end.
    pub latency: Option<Duration>,
    /// Phase timings.
    pub phases: Phases,
    /// Response body (HTTP, at most the read limit).
    pub body: Option<bytes::Bytes>,
    /// Response headers (HTTP).
    pub headers: Option<http::HeaderMap>,
    /// Seconds until the leaf certificate expires; negative when it has expired.
    pub cert_expiry_secs: Option<f64>,
    /// Whether the chain verified for the name.
    pub cert_valid: Option<bool>,
    /// Whether a connection was made.
    pub connected: Option<bool>,
    /// Redis keyspace hit ratio.
    pub hit_ratio: Option<f64>,
    /// Redis `keyspace_hits`.
    pub keyspace_hits: Option<u64>,
    /// Redis `keyspace_misses`.
    pub keyspace_misses: Option<u64>,
    /// DNS answers as text (`1.2.3.4`, `mail.example.com.`, ...).
    pub records: Option<Vec<String>>,
    /// What a TCP probe read.
    pub response: Option<String>,
}

impl Observation {
    /// Set the DNS answers.
    pub(crate) fn set_records(&mut self, records: Vec<String>) {
        self.records = Some(records);
    }
}
