//! Alerting's own metrics.

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

/// `gatehouse_alerts_firing`, `gatehouse_incidents_total` and friends.
#[derive(Clone, Debug)]
pub struct AlertMetrics {
    pub(crate) firing: IntGaugeVec,
    pub(crate) suppressed: IntGaugeVec,
    pub(crate) incidents: IntCounterVec,
    pub(crate) dropped: IntCounter,
    pub(crate) pending: IntGaugeVec,
}

impl AlertMetrics {
    /// Register on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let firing = IntGaugeVec::new(
            Opts::new(
                "gatehouse_alerts_firing",
                "Incidents firing now, per rule and severity (suppressed ones included).",
            ),
            &["rule", "severity"],
        )?;
        let suppressed = IntGaugeVec::new(
            Opts::new(
                "gatehouse_alerts_suppressed",
                "Firing incidents not notified now, per rule and reason (dependency, maintenance, silence).",
            ),
            &["rule", "reason"],
        )?;
        let incidents = IntCounterVec::new(
            Opts::new("gatehouse_incidents_total", "Incidents opened, per rule."),
            &["rule"],
        )?;
        let dropped = IntCounter::new(
            "gatehouse_alerting_events_dropped_total",
            "Probe results alerting could not take because its queue was full.",
        )?;
        let pending = IntGaugeVec::new(
            Opts::new(
                "gatehouse_notifications_pending",
                "Notifications in the outbox not delivered yet, per notifier.",
            ),
            &["notifier"],
        )?;
        registry.register(Box::new(pending.clone()))?;
        registry.register(Box::new(firing.clone()))?;
        registry.register(Box::new(suppressed.clone()))?;
        registry.register(Box::new(incidents.clone()))?;
        registry.register(Box::new(dropped.clone()))?;
        Ok(AlertMetrics {
            firing,
            suppressed,
            incidents,
            dropped,
            pending,
        })
    }
}
