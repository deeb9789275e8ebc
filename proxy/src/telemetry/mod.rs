//! Traffic telemetry beyond the Prometheus counters: OpenTelemetry server spans exported over
//! OTLP/HTTP, and Sentry error events. Both are set up once at start (the `telemetry` section
//! is not reloaded) and both leave the request path through bounded queues, so a collector or
//! Sentry that is down costs dropped (and counted) telemetry, never request latency.

mod client;
mod errors;
mod outbox;
mod sentry_transport;
mod trace;

pub(crate) use errors::Failure;
pub(crate) use trace::{finish, span_id, trace_id, trace_id_of_header};

use gatehouse_config::telemetry::TelemetryConfig;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use std::time::Duration;

/// Counters of the telemetry pipelines themselves.
#[derive(Clone)]
pub(crate) struct TelemetryMetrics {
    dropped: IntCounterVec,
    exported: IntCounterVec,
    sampled_out: IntCounter,
}

impl TelemetryMetrics {
    fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = TelemetryMetrics {
            dropped: IntCounterVec::new(
                Opts::new(
                    "gatehouse_telemetry_dropped_total",
                    "Spans (signal=traces) and error events (signal=errors) that were not delivered: queue_full, export_failed or rate_limited.",
                ),
                &["signal", "reason"],
            )?,
            exported: IntCounterVec::new(
                Opts::new(
                    "gatehouse_telemetry_exported_total",
                    "Spans and error events accepted by the collector or Sentry.",
                ),
                &["signal"],
            )?,
            sampled_out: IntCounter::new(
                "gatehouse_telemetry_errors_sampled_out_total",
                "Error events not sent because of telemetry.sentry.sample_rate.",
            )?,
        };
        registry.register(Box::new(m.dropped.clone()))?;
        registry.register(Box::new(m.exported.clone()))?;
        registry.register(Box::new(m.sampled_out.clone()))?;
        // Present from the start, so that dashboards and alert rules see zeros, not gaps.
        for signal in ["traces", "errors"] {
            for reason in ["queue_full", "export_failed"] {
                m.dropped.with_label_values(&[signal, reason]);
            }
            m.exported.with_label_values(&[signal]);
        }
        m.dropped.with_label_values(&["errors", "rate_limited"]);
        Ok(m)
    }
}

/// Why telemetry cannot start; each names the config section it comes from.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The telemetry metrics cannot be registered.
    #[error("{0}")]
    Metrics(#[from] prometheus::Error),
    /// `telemetry.sentry.dsn` does not parse.
    #[error("telemetry.sentry.dsn: {0}")]
    SentryDsn(#[source] sentry::types::ParseDsnError),
    /// `telemetry.sentry.max_events` makes a zero period.
    #[error("telemetry.sentry.max_events: the period is zero")]
    ZeroPeriod,
    /// The Sentry transport's HTTP client cannot be built.
    #[error("telemetry.sentry: {0}")]
    SentryClient(#[source] gatehouse_outbound::Error),
    /// The Sentry transport's sending thread cannot be started.
    #[error("telemetry.sentry: cannot start the sending thread: {0}")]
    SentryThread(#[source] std::io::Error),
    /// The OTLP exporter's HTTP client cannot be built.
    #[error("telemetry.tracing: {0}")]
    TracingClient(#[source] gatehouse_outbound::Error),
    /// `telemetry.tracing` does not make an OTLP exporter.
    #[error("telemetry.tracing: cannot build the OTLP exporter: {0}")]
    TracingExporter(#[source] opentelemetry_otlp::ExporterBuildError),
    /// The span export thread cannot be started.
    #[error("telemetry.tracing: cannot start the export thread: {0}")]
    TracingThread(#[source] std::io::Error),
}

/// The tracer and the error reporter, each present when configured.
pub struct Telemetry {
    pub(crate) tracing: Option<trace::Tracing>,
    pub(crate) errors: Option<errors::ErrorReporter>,
}

impl Telemetry {
    /// Register the telemetry metrics and start what `config` asks for.
    pub fn start(
        config: &TelemetryConfig,
        registry: &Registry,
    ) -> Result<Telemetry, TelemetryError> {
        let metrics = TelemetryMetrics::register(registry)?;
        let tracing = config
            .tracing
            .as_ref()
            .map(|t| trace::Tracing::start(config, t, &metrics))
            .transpose()?;
        let errors = config
            .sentry
            .as_ref()
            .map(|s| errors::ErrorReporter::start(config, s, &metrics))
            .transpose()?;
        if let Some(t) = &config.tracing {
            tracing::info!(endpoint = %t.endpoint, sample_ratio = t.sample_ratio, "exporting spans over OTLP/HTTP");
        }
        if let Some(s) = &config.sentry {
            tracing::info!(environment = %s.environment, "reporting errors to Sentry");
        }
        Ok(Telemetry { tracing, errors })
    }

    /// No tracing, no error events.
    pub fn disabled() -> Telemetry {
        Telemetry {
            tracing: None,
            errors: None,
        }
    }

    /// Send what is queued (at shutdown), waiting at most `timeout` for each pipeline.
    pub fn flush(&self, timeout: Duration) {
        if let Some(t) = &self.tracing {
            t.flush(timeout);
        }
        if let Some(e) = &self.errors {
            e.flush(timeout);
        }
    }
}
