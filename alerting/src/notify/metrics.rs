//! The notifiers' metrics.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::time::Duration;

/// `gatehouse_notifications_total{notifier,result}` (once per notification, after retries:
/// `ok` delivered, `error` refused for good, `expired` not accepted before the outbox's
/// expiry), `gatehouse_notification_retries_total{notifier}` (attempts repeated after a
/// failure) and `gatehouse_notification_duration_seconds{notifier}` (one attempt).
#[derive(Clone)]
pub struct NotifyMetrics {
    sent: IntCounterVec,
    retries: IntCounterVec,
    duration: HistogramVec,
}

impl NotifyMetrics {
    /// Create the metrics and register them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let sent = IntCounterVec::new(
            Opts::new(
                "gatehouse_notifications_total",
                "Notifications by notifier and outcome after every retry (ok, error or expired).",
            ),
            &["notifier", "result"],
        )?;
        let retries = IntCounterVec::new(
            Opts::new(
                "gatehouse_notification_retries_total",
                "Delivery attempts repeated after a failed one.",
            ),
            &["notifier"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "gatehouse_notification_duration_seconds",
                "Time of one delivery attempt, until the answer, an error or the timeout.",
            )
            .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["notifier"],
        )?;
        registry.register(Box::new(sent.clone()))?;
        registry.register(Box::new(retries.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(NotifyMetrics {
            sent,
            retries,
            duration,
        })
    }

    /// Create the series of a notifier at zero, so dashboards see it before it sends.
    pub(super) fn init(&self, notifier: &str) {
        for result in ["ok", "error", "expired"] {
            let _ = self.sent.with_label_values(&[notifier, result]);
        }
        let _ = self.retries.with_label_values(&[notifier]);
    }

    pub(super) fn attempt(&self, notifier: &str, took: Duration) {
        self.duration
            .with_label_values(&[notifier])
            .observe(took.as_secs_f64());
    }

    pub(super) fn retry(&self, notifier: &str) {
        self.retries.with_label_values(&[notifier]).inc();
    }

    pub(super) fn expired(&self, notifier: &str) {
        self.sent.with_label_values(&[notifier, "expired"]).inc();
    }

    pub(super) fn done(&self, notifier: &str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.sent.with_label_values(&[notifier, result]).inc();
    }
}
