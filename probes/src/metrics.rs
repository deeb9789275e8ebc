//! Probe metrics. Per-probe series are removed when a probe is removed from the config.

use crate::result::CheckResult;
use prometheus::{GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry};

/// The probe metrics, registered once.
#[derive(Clone)]
pub struct ProbeMetrics {
    up: IntGaugeVec,
    duration: GaugeVec,
    status: IntGaugeVec,
    cert_expiry: GaugeVec,
    hit_ratio: GaugeVec,
    checks: IntCounterVec,
    pub(crate) lag: Histogram,
    pub(crate) skipped: IntCounterVec,
    pub(crate) store_errors: IntCounterVec,
}

const PHASES: [&str; 5] = ["total", "dns", "connect", "tls", "first_byte"];
const RESULTS: [&str; 3] = ["up", "up_after_retry", "down"];

impl ProbeMetrics {
    /// Register on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = ProbeMetrics {
            up: IntGaugeVec::new(
                Opts::new("gatehouse_probe_up", "1 when the probe's last check passed every condition, else 0."),
                &["probe", "group"],
            )?,
            duration: GaugeVec::new(
                Opts::new("gatehouse_probe_duration_seconds", "Duration of the last check, end to end (phase=total) and by phase."),
                &["probe", "phase"],
            )?,
            status: IntGaugeVec::new(
                Opts::new("gatehouse_probe_http_status_code", "HTTP status of the last check's final response."),
                &["probe"],
            )?,
            cert_expiry: GaugeVec::new(
                Opts::new("gatehouse_probe_tls_cert_expiry_timestamp_seconds", "Unix time when the certificate the probe saw expires."),
                &["probe"],
            )?,
            hit_ratio: GaugeVec::new(
                Opts::new("gatehouse_probe_cache_hit_ratio", "Redis keyspace hit ratio seen by the last check."),
                &["probe"],
            )?,
            checks: IntCounterVec::new(
                Opts::new("gatehouse_probe_checks_total", "Completed checks by result: up, up_after_retry (an attempt failed, a retry passed), down."),
                &["probe", "result"],
            )?,
            lag: Histogram::with_opts(
                HistogramOpts::new("gatehouse_probe_schedule_lag_seconds", "How late checks start against their schedule (waiting for a concurrency slot included).")
                    .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]),
            )?,
            skipped: IntCounterVec::new(
                Opts::new("gatehouse_probe_checks_skipped_total", "Scheduled checks skipped because the previous check of the probe was still running."),
                &["probe"],
            )?,
            store_errors: IntCounterVec::new(
                Opts::new("gatehouse_probe_store_errors_total", "Failures of the result store by operation (open, write, prune, queue_full); probing goes on."),
                &["op"],
            )?,
        };
        registry.register(Box::new(m.up.clone()))?;
        registry.register(Box::new(m.duration.clone()))?;
        registry.register(Box::new(m.status.clone()))?;
        registry.register(Box::new(m.cert_expiry.clone()))?;
        registry.register(Box::new(m.hit_ratio.clone()))?;
        registry.register(Box::new(m.checks.clone()))?;
        registry.register(Box::new(m.lag.clone()))?;
        registry.register(Box::new(m.skipped.clone()))?;
        registry.register(Box::new(m.store_errors.clone()))?;
        for op in ["open", "write", "prune", "queue_full"] {
            m.store_errors.with_label_values(&[op]);
        }
        Ok(m)
    }

    /// Export one result.
    pub(crate) fn observe(&self, r: &CheckResult) {
        let p = &*r.probe;
        self.up
            .with_label_values(&[p, &r.group])
            .set(i64::from(r.up));
        let phases = [
            Some(r.duration),
            r.phases.dns,
            r.phases.connect,
            r.phases.tls,
            r.phases.first_byte,
        ];
        for (name, d) in PHASES.iter().zip(phases) {
            match d {
                Some(d) => self
                    .duration
                    .with_label_values(&[p, name])
                    .set(d.as_secs_f64()),
                None => {
                    let _ = self.duration.remove_label_values(&[p, name]);
                }
            }
        }
        // No response (refused, timed out) reads 0, as in the blackbox exporter.
        if r.kind == "http" {
            let status = r.status_code.map_or(0, i64::from);
            self.status.with_label_values(&[p]).set(status);
        }
        if let Some(t) = r.cert_expiry {
            let secs = crate::result::unix_millis(t) as f64 / 1000.0;
            self.cert_expiry.with_label_values(&[p]).set(secs);
        }
        if let Some(h) = r.hit_ratio {
            self.hit_ratio.with_label_values(&[p]).set(h);
        }
        let result = match (r.up, r.attempts > 1) {
            (true, false) => "up",
            (true, true) => "up_after_retry",
            (false, _) => "down",
        };
        self.checks.with_label_values(&[p, result]).inc();
        self.lag.observe(r.lag.as_secs_f64());
    }

    /// Create the counters of a probe at zero so that rates work from its first check.
    pub(crate) fn add(&self, probe: &str) {
        for result in RESULTS {
            self.checks.with_label_values(&[probe, result]);
        }
    }

    /// Drop every series of a removed probe.
    pub(crate) fn remove(&self, probe: &str, group: &str) {
        let _ = self.up.remove_label_values(&[probe, group]);
        for phase in PHASES {
            let _ = self.duration.remove_label_values(&[probe, phase]);
        }
        let _ = self.status.remove_label_values(&[probe]);
        let _ = self.cert_expiry.remove_label_values(&[probe]);
        let _ = self.hit_ratio.remove_label_values(&[probe]);
        for result in RESULTS {
            let _ = self.checks.remove_label_values(&[probe, result]);
        }
        let _ = self.skipped.remove_label_values(&[probe]);
    }
}
