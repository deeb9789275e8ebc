//! The proxy's Prometheus metrics, registered in a registry the caller owns.
//!
//! Per-route handles are resolved when a config is compiled (see [`RouteMetrics`]), so the
//! request path touches atomics only, not the metric families' label maps.

use http::Method;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};
use std::sync::OnceLock;

/// Metric families of the proxy.
#[derive(Clone)]
pub struct ProxyMetrics {
    pub(crate) requests_total: IntCounterVec,
    pub(crate) request_duration: HistogramVec,
    pub(crate) in_flight: IntGauge,
    pub(crate) backend_up: IntGaugeVec,
    pub(crate) connect_errors: IntCounterVec,
    pub(crate) ejections: IntCounterVec,
    pub(crate) rejected: IntCounterVec,
    pub(crate) policy: crate::policy::PolicyMetrics,
    pub(crate) traffic: crate::traffic::TrafficWindows,
}

/// Latency buckets (seconds): 1 ms to 60 s.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

impl ProxyMetrics {
    /// Create the families and register them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = ProxyMetrics {
            requests_total: IntCounterVec::new(
                Opts::new("gatehouse_http_requests_total", "HTTP requests answered, by route, method and status."),
                &["route", "method", "status"],
            )?,
            request_duration: HistogramVec::new(
                HistogramOpts::new(
                    "gatehouse_http_request_duration_seconds",
                    "Time from the request's arrival to the end of the response, by route.",
                )
                .buckets(DURATION_BUCKETS.to_vec()),
                &["route"],
            )?,
            in_flight: IntGauge::new(
                "gatehouse_http_requests_in_flight",
                "Requests being processed now.",
            )?,
            backend_up: IntGaugeVec::new(
                Opts::new(
                    "gatehouse_upstream_backend_up",
                    "1 when the backend passes its health check (or has none), 0 when it is taken out.",
                ),
                &["upstream", "backend"],
            )?,
            connect_errors: IntCounterVec::new(
                Opts::new(
                    "gatehouse_upstream_connect_errors_total",
                    "Failed connection attempts to an upstream's backends.",
                ),
                &["upstream"],
            )?,
            ejections: IntCounterVec::new(
                Opts::new(
                    "gatehouse_upstream_ejections_total",
                    "Backends taken out of service by passive health (failed requests in a row).",
                ),
                &["upstream", "backend"],
            )?,
            rejected: IntCounterVec::new(
                Opts::new(
                    "gatehouse_requests_rejected_total",
                    "Requests the proxy refused itself (bad path, host or framing, limits, policies), by reason.",
                ),
                &["reason"],
            )?,
            policy: crate::policy::PolicyMetrics::register(registry)?,
            traffic: crate::traffic::TrafficWindows::register(registry)?,
        };
        registry.register(Box::new(m.requests_total.clone()))?;
        registry.register(Box::new(m.request_duration.clone()))?;
        registry.register(Box::new(m.in_flight.clone()))?;
        registry.register(Box::new(m.backend_up.clone()))?;
        registry.register(Box::new(m.connect_errors.clone()))?;
        registry.register(Box::new(m.rejected.clone()))?;
        registry.register(Box::new(m.ejections.clone()))?;
        Ok(m)
    }

    /// `gatehouse_requests_rejected_total{reason}`, for refusals made outside a request.
    pub fn rejected(&self, reason: &str) -> prometheus::IntCounter {
        self.rejected.with_label_values(&[reason])
    }

    /// The live per-route signals (sliding windows) of the traffic.
    pub fn traffic(&self) -> &crate::traffic::TrafficWindows {
        &self.traffic
    }

    /// The number of requests being processed now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }
}

/// Status codes whose counters are cached per route and method.
const CACHED_STATUS: [u16; 16] = [
    200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 413, 429, 500, 502, 503, 504,
];
const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
    Method::CONNECT,
    Method::TRACE,
];

/// Handles for one route, resolved once per compiled config.
pub(crate) struct RouteMetrics {
    route: String,
    family: IntCounterVec,
    duration: Histogram,
    counters: Box<[[OnceLock<IntCounter>; CACHED_STATUS.len()]; METHODS.len()]>,
}

impl RouteMetrics {
    pub(crate) fn new(metrics: &ProxyMetrics, route: &str) -> Self {
        RouteMetrics {
            route: route.to_string(),
            family: metrics.requests_total.clone(),
            duration: metrics.request_duration.with_label_values(&[route]),
            counters: Box::new(std::array::from_fn(|_| {
                std::array::from_fn(|_| OnceLock::new())
            })),
        }
    }

    /// Count one finished request and its duration.
    pub(crate) fn observe(&self, method: &Method, status: u16, seconds: f64) {
        self.duration.observe(seconds);
        let m = METHODS.iter().position(|x| x == method);
        let s = CACHED_STATUS.iter().position(|x| *x == status);
        match (m, s) {
            (Some(m), Some(s)) => self.counters[m][s]
                .get_or_init(|| {
                    self.family.with_label_values(&[
                        self.route.as_str(),
                        method.as_str(),
                        status_str(status).as_str(),
                    ])
                })
                .inc(),
            _ => {
                // Rare method or status: label lookup (still bounded: methods outside the
                // standard set are counted as OTHER).
                let method = if m.is_some() {
                    method.as_str()
                } else {
                    "OTHER"
                };
                self.family
                    .with_label_values(&[self.route.as_str(), method, status_str(status).as_str()])
                    .inc()
            }
        }
    }
}

fn status_str(status: u16) -> String {
    status.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_route_method_and_status() {
        let registry = Registry::new();
        let m = ProxyMetrics::register(&registry).expect("register");
        let r = RouteMetrics::new(&m, "api");
        r.observe(&Method::GET, 200, 0.01);
        r.observe(&Method::GET, 200, 0.02);
        r.observe(&Method::from_bytes(b"PURGE").expect("method"), 418, 0.5);
        assert_eq!(
            m.requests_total
                .with_label_values(&["api", "GET", "200"])
                .get(),
            2
        );
        assert_eq!(
            m.requests_total
                .with_label_values(&["api", "OTHER", "418"])
                .get(),
            1
        );
        assert_eq!(
            m.request_duration
                .with_label_values(&["api"])
                .get_sample_count(),
            3
        );
    }

    /// The shapes of issue 18: latency only as the histogram, no precomputed rate, a rule
    /// name in a label of its own.
    #[test]
    fn exported_shapes_follow_prometheus_conventions() {
        let registry = Registry::new();
        let m = ProxyMetrics::register(&registry).expect("register");
        m.traffic
            .route("api")
            .record(500, 0.01, Some(crate::traffic::CacheResult::Hit));
        m.policy
            .decision("api", "rate_limit", "burst", "limited")
            .inc();
        m.policy.keys_evicted("api", "lockout", "guess").inc();
        let families = registry.gather();
        let family = |name: &str| families.iter().find(|f| f.name() == name);
        for gone in [
            "gatehouse_route_latency_seconds",
            "gatehouse_route_requests_per_second",
        ] {
            assert!(family(gone).is_none(), "{gone} is still exported");
        }
        let ratio = family("gatehouse_route_error_ratio").expect("error ratio");
        assert_eq!(ratio.get_metric().len(), 3, "one per window");
        let labels = |name: &str| -> Vec<Vec<(String, String)>> {
            family(name)
                .unwrap_or_else(|| panic!("{name}"))
                .get_metric()
                .iter()
                .map(|s| {
                    s.get_label()
                        .iter()
                        .map(|l| (l.name().to_string(), l.value().to_string()))
                        .collect()
                })
                .collect()
        };
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            labels("gatehouse_policy_decisions_total"),
            [pairs(&[
                ("decision", "limited"),
                ("policy", "rate_limit"),
                ("route", "api"),
                ("rule", "burst"),
            ])]
        );
        assert_eq!(
            labels("gatehouse_policy_keys_evicted_total"),
            [pairs(&[
                ("policy", "lockout"),
                ("route", "api"),
                ("rule", "guess")
            ])]
        );
    }
}
