//! Metrics of the edge policies. A rate limit's or a lockout's rule name is a label of its
//! own (`policy="rate_limit", rule="burst"`), empty for the policies that have no rules, so
//! that a query selects a policy without a regular expression and sums over rules.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Metric families of the edge policies.
#[derive(Clone)]
pub(crate) struct PolicyMetrics {
    decisions: IntCounterVec,
    rate_limit_keys: IntGaugeVec,
    lockout_keys: IntGaugeVec,
    keys_evicted: IntCounterVec,
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
                    "Edge policy decisions by route, policy (cors, csrf, ip, api_key, basic_auth, rate_limit, lockout), rule (a rate limit's or lockout's name, else empty) and decision (allowed, blocked, limited, locked, store_error_allowed, store_error_denied).",
                ),
                &["route", "policy", "rule", "decision"],
            )?,
            rate_limit_keys: IntGaugeVec::new(
                Opts::new(
                    "gatehouse_rate_limit_keys",
                    "Keys with state in a local rate limit (refreshed every second; idle keys are evicted).",
                ),
                &["route", "rule"],
            )?,
            lockout_keys: IntGaugeVec::new(
                Opts::new(
                    "gatehouse_lockout_keys",
                    "Keys with counters in a lockout (refreshed every 5 s; keys whose window and block are over are evicted).",
                ),
                &["route", "rule"],
            )?,
            keys_evicted: IntCounterVec::new(
                Opts::new(
                    "gatehouse_policy_keys_evicted_total",
                    "Keys evicted, least recently used first, from a full local rate limit or lockout (its max_keys) or from basic auth's cache of verified logins (1024), by route, policy (rate_limit, lockout, basic_auth) and rule (a rate limit's or lockout's name, else empty).",
                ),
                &["route", "policy", "rule"],
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
        registry.register(Box::new(m.lockout_keys.clone()))?;
        registry.register(Box::new(m.keys_evicted.clone()))?;
        registry.register(Box::new(m.csp_reports.clone()))?;
        registry.register(Box::new(m.redis_errors.clone()))?;
        Ok(m)
    }

    /// Decisions of `policy`; `rule` is the rate limit's or lockout's name, else empty.
    pub(crate) fn decision(
        &self,
        route: &str,
        policy: &str,
        rule: &str,
        decision: &str,
    ) -> IntCounter {
        self.decisions
            .with_label_values(&[route, policy, rule, decision])
    }

    pub(crate) fn rate_limit_keys(&self, route: &str, rule: &str) -> IntGauge {
        self.rate_limit_keys.with_label_values(&[route, rule])
    }

    pub(crate) fn lockout_keys(&self, route: &str, rule: &str) -> IntGauge {
        self.lockout_keys.with_label_values(&[route, rule])
    }

    /// Evictions of a store; `policy` is `rate_limit` or `lockout` with its `rule`, or
    /// `basic_auth` with an empty one.
    pub(crate) fn keys_evicted(&self, route: &str, policy: &str, rule: &str) -> IntCounter {
        self.keys_evicted.with_label_values(&[route, policy, rule])
    }

    pub(crate) fn csp_reports(&self, route: &str) -> IntCounter {
        self.csp_reports.with_label_values(&[route])
    }
}

/// Allowed/blocked counters of one gate (a policy without rules).
pub(super) struct Decisions {
    allowed: IntCounter,
    blocked: IntCounter,
}

impl Decisions {
    pub(super) fn new(metrics: &PolicyMetrics, route: &str, policy: &str) -> Decisions {
        Decisions {
            allowed: metrics.decision(route, policy, "", "allowed"),
            blocked: metrics.decision(route, policy, "", "blocked"),
        }
    }

    pub(super) fn count(&self, ok: bool) -> bool {
        if ok { &self.allowed } else { &self.blocked }.inc();
        ok
    }
}
