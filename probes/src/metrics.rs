//! Probe metrics. Per-probe series are removed when a probe is removed from the config.
//!
//! A check's end-to-end duration and its phases are two families, as the blackbox exporter
//! has them (`probe_duration_seconds`, `probe_http_duration_seconds{phase}`): with the total
//! beside the phases under one name, a sum over `phase` would count every check twice.

use crate::result::CheckResult;
use prometheus::{GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry};

/// The probe metrics, registered once.
#[derive(Clone)]
pub struct ProbeMetrics {
    up: IntGaugeVec,
    duration: GaugeVec,
    phase_duration: GaugeVec,
    status: IntGaugeVec,
    cert_expiry: GaugeVec,
    hit_ratio: GaugeVec,
    checks: IntCounterVec,
    pub(crate) lag: Histogram,
    pub(crate) skipped: IntCounterVec,
    pub(crate) store_errors: IntCounterVec,
    pub(crate) buffered: prometheus::IntGauge,
    missed: IntCounterVec,
}

const PHASES: [&str; 4] = ["dns", "connect", "tls", "first_byte"];
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
                Opts::new("gatehouse_probe_duration_seconds", "Duration of the last check, end to end."),
                &["probe"],
            )?,
            phase_duration: GaugeVec::new(
                Opts::new("gatehouse_probe_phase_duration_seconds", "Duration of each phase of the last check (dns, connect, tls, first_byte) that it went through; they add up to at most its total."),
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
                Opts::new("gatehouse_probe_store_errors_total", "Failures of the result store by operation (open, write, prune, queue_full, buffer_full: results dropped because the store failed longer than the buffer holds); probing goes on."),
                &["op"],
            )?,
            buffered: prometheus::IntGauge::new(
                "gatehouse_probe_store_buffered",
                "Results kept in memory because the store failed; written when it answers again (at most store.buffer).",
            )?,
            missed: IntCounterVec::new(
                Opts::new("gatehouse_probe_results_missed_total", "Probe results a subscriber never got because it fell more than 4096 results behind (subscriber: alerting); an alert rule judged on the ones it got."),
                &["subscriber"],
            )?,
        };
        registry.register(Box::new(m.up.clone()))?;
        registry.register(Box::new(m.duration.clone()))?;
        registry.register(Box::new(m.phase_duration.clone()))?;
        registry.register(Box::new(m.status.clone()))?;
        registry.register(Box::new(m.cert_expiry.clone()))?;
        registry.register(Box::new(m.hit_ratio.clone()))?;
        registry.register(Box::new(m.checks.clone()))?;
        registry.register(Box::new(m.lag.clone()))?;
        registry.register(Box::new(m.skipped.clone()))?;
        registry.register(Box::new(m.store_errors.clone()))?;
        registry.register(Box::new(m.missed.clone()))?;
        registry.register(Box::new(m.buffered.clone()))?;
        m.missed.with_label_values(&["alerting"]);
        for op in ["open", "write", "prune", "queue_full", "buffer_full"] {
            m.store_errors.with_label_values(&[op]);
        }
        Ok(m)
    }

    /// `n` results `subscriber` missed (a lagged broadcast receiver).
    pub fn missed(&self, subscriber: &str, n: u64) {
        self.missed.with_label_values(&[subscriber]).inc_by(n);
    }

    /// Export one result.
    pub(crate) fn observe(&self, r: &CheckResult) {
        let p = &*r.probe;
        self.up
            .with_label_values(&[p, &r.group])
            .set(i64::from(r.up));
        self.duration
            .with_label_values(&[p])
            .set(r.duration.as_secs_f64());
        let phases = [
            r.phases.dns,
            r.phases.connect,
            r.phases.tls,
            r.phases.first_byte,
        ];
        for (name, d) in PHASES.iter().zip(phases) {
            match d {
                Some(d) => self
                    .phase_duration
                    .with_label_values(&[p, name])
                    .set(d.as_secs_f64()),
                None => {
                    let _ = self.phase_duration.remove_label_values(&[p, name]);
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
        let _ = self.duration.remove_label_values(&[probe]);
        for phase in PHASES {
            let _ = self.phase_duration.remove_label_values(&[probe, phase]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::Phases;
    use std::time::{Duration, SystemTime};

    fn labels(registry: &Registry, name: &str) -> Vec<(Vec<(String, String)>, f64)> {
        registry
            .gather()
            .iter()
            .filter(|f| f.name() == name)
            .flat_map(|f| f.get_metric().iter())
            .map(|m| {
                let l = m
                    .get_label()
                    .iter()
                    .map(|l| (l.name().to_string(), l.value().to_string()))
                    .collect();
                (l, m.get_gauge().get_value())
            })
            .collect()
    }

    /// The total is its own family, so that summing the phases never counts it.
    #[test]
    fn the_total_and_the_phases_are_two_families() {
        let registry = Registry::new();
        let m = ProbeMetrics::register(&registry).expect("register");
        let ms = Duration::from_millis;
        m.observe(&CheckResult {
            probe: "web".into(),
            group: "site".into(),
            kind: "http",
            at: SystemTime::now(),
            duration: ms(100),
            up: true,
            attempts: 1,
            phases: Phases {
                dns: Some(ms(10)),
                connect: Some(ms(20)),
                tls: None,
                first_byte: Some(ms(50)),
            },
            status_code: Some(200),
            cert_expiry: None,
            hit_ratio: None,
            failures: Vec::new(),
            lag: Duration::ZERO,
            maintenance: false,
        });
        let probe = ("probe".to_string(), "web".to_string());
        assert_eq!(
            labels(&registry, "gatehouse_probe_duration_seconds"),
            [(vec![probe.clone()], 0.1)]
        );
        let phases = labels(&registry, "gatehouse_probe_phase_duration_seconds");
        let names: Vec<&str> = phases.iter().map(|(l, _)| l[0].1.as_str()).collect();
        assert_eq!(
            names,
            ["connect", "dns", "first_byte"],
            "no tls phase, no total"
        );
        let sum: f64 = phases.iter().map(|(_, v)| v).sum();
        assert!((sum - 0.08).abs() < 1e-9, "phases add up to {sum}");
        m.remove("web", "site");
        assert!(labels(&registry, "gatehouse_probe_duration_seconds").is_empty());
        assert!(labels(&registry, "gatehouse_probe_phase_duration_seconds").is_empty());
    }

    #[test]
    fn missed_results_are_counted_per_subscriber() {
        let registry = Registry::new();
        let m = ProbeMetrics::register(&registry).expect("register");
        let count = |r: &Registry| -> Vec<(String, f64)> {
            r.gather()
                .iter()
                .filter(|f| f.name() == "gatehouse_probe_results_missed_total")
                .flat_map(|f| f.get_metric().iter())
                .map(|x| {
                    (
                        x.get_label()[0].value().to_string(),
                        x.get_counter().get_value(),
                    )
                })
                .collect()
        };
        assert_eq!(
            count(&registry),
            [("alerting".to_string(), 0.0)],
            "there from the start"
        );
        m.missed("alerting", 7);
        m.missed("alerting", 3);
        assert_eq!(count(&registry), [("alerting".to_string(), 10.0)]);
    }
}
