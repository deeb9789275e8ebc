//! The windows as Prometheus gauges, computed when Prometheus scrapes (so they are as fresh
//! as the scrape, and a removed route's series disappear with it).

use super::Signals;
use gatehouse_signals::TrafficSignals;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, Opts};
use std::sync::Mutex;

pub(super) struct WindowCollector {
    signals: Signals,
    gauges: Mutex<Gauges>,
    descs: Vec<Desc>,
}

struct Gauges {
    rate: GaugeVec,
    error_ratio: GaugeVec,
    client_error_ratio: GaugeVec,
    latency: GaugeVec,
    cache_hit_ratio: GaugeVec,
}

impl Gauges {
    fn all(&self) -> [&GaugeVec; 5] {
        [
            &self.rate,
            &self.error_ratio,
            &self.client_error_ratio,
            &self.latency,
            &self.cache_hit_ratio,
        ]
    }
}

impl WindowCollector {
    pub(super) fn new(signals: Signals) -> Result<Self, prometheus::Error> {
        let g = |name: &str, help: &str| GaugeVec::new(Opts::new(name, help), &["route", "window"]);
        let gauges = Gauges {
            rate: g(
                "gatehouse_route_requests_per_second",
                "Requests per second over the sliding window (1m, 5m, 1h), by route.",
            )?,
            error_ratio: g(
                "gatehouse_route_error_ratio",
                "Share of responses with a 5xx status over the sliding window, by route.",
            )?,
            client_error_ratio: g(
                "gatehouse_route_client_error_ratio",
                "Share of responses with a 4xx status over the sliding window, by route.",
            )?,
            latency: GaugeVec::new(
                Opts::new(
                    "gatehouse_route_latency_seconds",
                    "Latency quantile (0.5, 0.95, 0.99) over the sliding window, by route; within 5 % of the true value.",
                ),
                &["route", "window", "quantile"],
            )?,
            cache_hit_ratio: g(
                "gatehouse_route_cache_hit_ratio",
                "Share of upstream cache lookups that hit over the sliding window, by route.",
            )?,
        };
        let descs = gauges
            .all()
            .iter()
            .flat_map(|g| g.desc().into_iter().cloned())
            .collect();
        Ok(WindowCollector {
            signals,
            gauges: Mutex::new(gauges),
            descs,
        })
    }
}

impl Collector for WindowCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let g = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        for v in g.all() {
            v.reset();
        }
        for snap in self.signals.snapshot() {
            let route = snap.route.as_str();
            for (w, s) in &snap.windows {
                let labels = [route, w.as_str()];
                g.rate.with_label_values(&labels).set(s.rate);
                if let Some(r) = s.error_ratio {
                    g.error_ratio.with_label_values(&labels).set(r);
                }
                if let Some(r) = s.client_error_ratio {
                    g.client_error_ratio.with_label_values(&labels).set(r);
                }
                if let Some(r) = s.cache_hit_ratio {
                    g.cache_hit_ratio.with_label_values(&labels).set(r);
                }
                for (q, v) in [
                    ("0.5", s.latency.p50),
                    ("0.95", s.latency.p95),
                    ("0.99", s.latency.p99),
                ] {
                    if let Some(v) = v {
                        g.latency.with_label_values(&[route, w.as_str(), q]).set(v);
                    }
                }
            }
        }
        g.all().iter().flat_map(|v| v.collect()).collect()
    }
}
