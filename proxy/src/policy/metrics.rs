//! Metrics of the edge policies.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Metric families of the edge policies.
#[derive(Clone)]
pub(crate) struct PolicyMetrics {
    decisions: IntCounterVec,
    rate_limit_keys: IntGaugeVec,
    csp_reports: IntCounterVec,
    pub(crate) redis_errors: IntCounter,
}

impl PolicyMetrics {
    /// Create the families and register them in `registry`.
    pub(crate) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = PolicyMetrics {
            decisions: IntCounterVec::new(
                Opts::new(
                    "gatehouse_policy_decisions_total",
                    "Edge policy decisions by route, policy (cors, csrf, ip, api_key, basic_auth, rate_limit:<rule>, lockout:<rule>) and decision (allowed, blocked, limited, locked, store_error_allowed, store_error_denied).",
                ),
                &["route", "policy", "decision"],
            )?,
            rate_limit_keys: IntGaugeVec::new(
                Opts::new(
                    "gatehouse_rate_limit_keys",
                    "Keys with state in a local rate limit (refreshed every second; idle keys are evicted).",
                ),
                &["route", "rule"],
            )?,
            csp_reports: IntCounterVec::new(
                Opts::new(
                    "gatehouse_csp_reports_total",
                    "Content-Security-Policy violation reports received by the built-in collector.",
                ),
                &["route"],
            )?,
            redis_errors: IntCounter::new(
                "gatehouse_redis_errors_total",
                "Redis calls for shared rate limits that failed or timed out.",
            )?,
        };
        registry.register(Box::new(m.decisions.clone()))?;
        registry.register(Box::new(m.rate_limit_keys.clone()))?;
        registry.register(Box::new(m.csp_reports.clone()))?;
        registry.register(Box::new(m.redis_errors.clone()))?;
        Ok(m)
    }

    pub(crate) fn decision(&self, route: &str, policy: &str, decision: &str) -> IntCounter {
        self.decisions.with_label_values(&[route, policy, decision])
    }

    pub(crate) fn rate_limit_keys(&self, route: &str, rule: &str) -> IntGauge {
        self.rate_limit_keys.with_label_values(&[route, rule])
    }

    pub(crate) fn csp_reports(&self, route: &str) -> IntCounter {
        self.csp_reports.with_label_values(&[route])
    }
}
