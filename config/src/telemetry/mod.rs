//! The `telemetry` section: OpenTelemetry traces (OTLP/HTTP) and Sentry error events.
//! Both are optional; the live per-route signals need no configuration.

pub(crate) mod compile;
pub(crate) mod raw;

use crate::secret::Secret;
use crate::units::Rate;
use std::collections::BTreeMap;
use std::time::Duration;

/// Traces and error events.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `service.name` of traces and the Sentry `server_name` prefix.
    pub service_name: String,
    /// `service.instance.id`: this instance (default: the host name).
    pub instance: String,
    /// Extra resource attributes, e.g. `deployment.environment`.
    pub resource: BTreeMap<String, String>,
    /// Keep the live per-route signals (sliding windows); on by default.
    pub signals: bool,
    /// Span export over OTLP, when configured.
    pub tracing: Option<TracingConfig>,
    /// Error events to Sentry, when configured.
    pub sentry: Option<SentryConfig>,
}

/// OTLP/HTTP (protobuf) span export.
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    /// Full URL spans are POSTed to (ends in `/v1/traces` unless the operator wrote a path).
    pub endpoint: String,
    /// Extra request headers (e.g. an API key of a hosted collector).
    pub headers: Vec<(String, Secret)>,
    /// Share of new traces that are recorded, 0.0 to 1.0.
    pub sample_ratio: f64,
    /// Follow the caller's sampling decision when its `traceparent` carries one.
    pub parent_based: bool,
    /// Spans waiting for export; beyond this, new spans are dropped (and counted).
    pub queue_size: usize,
    /// Spans per export request.
    pub batch_size: usize,
    /// Longest wait before a partial batch is sent.
    pub batch_delay: Duration,
    /// Deadline of one export request.
    pub export_timeout: Duration,
}

/// Sentry error events.
#[derive(Debug, Clone, PartialEq)]
pub struct SentryConfig {
    /// The project's DSN (`https://KEY@HOST/PROJECT`).
    pub dsn: Secret,
    /// Sentry `environment`.
    pub environment: String,
    /// Sentry `release`; `None` means `gatehouse@VERSION`.
    pub release: Option<String>,
    /// Share of errors sent, 0.0 to 1.0.
    pub sample_rate: f64,
    /// At most this many events per period; the rest are dropped (and counted).
    pub max_events: Rate,
    /// Report upstream responses with status 500-599 (proxy-side errors are always reported).
    pub upstream_5xx: bool,
    /// Lower-case query parameter names whose values are replaced by `[Filtered]`.
    pub sensitive_query_params: Vec<String>,
}

/// Query parameters that are always filtered from events.
pub const DEFAULT_SENSITIVE_QUERY_PARAMS: &[&str] = &[
    "access_token",
    "api_key",
    "apikey",
    "auth",
    "code",
    "id_token",
    "key",
    "password",
    "passwd",
    "refresh_token",
    "secret",
    "session",
    "sig",
    "signature",
    "token",
];
