//! The windows' ratios as Prometheus gauges, computed when Prometheus scrapes (so they are as
//! fresh as the scrape, and a removed route's series disappear with it). They show what the
//! built-in route rules judge; a ratio has no counter of its own to take a `rate()` of.
//!
//! The windows' latency quantiles and request rate are not exported: Prometheus computes
//! both from `gatehouse_http_request_duration_seconds` (a histogram of the same requests) and
//! `gatehouse_http_requests_total`, and a gauge with a `quantile` label would pass for a
//! summary. They stay in [`gatehouse_traffic::TrafficSignals`], read by the alert rules and
//! the admin API's `/api/v1/routes`.

use super::TrafficWindows;
use gatehouse_traffic::TrafficSignals;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, Opts};
use std::sync::Mutex;

pub(super) struct WindowCollector {
    windows: TrafficWindows,
    gauges: Mutex<Gauges>,
    descs: Vec<Desc>,
}

struct Gauges {
    error_ratio: GaugeVec,
    client_error_ratio: GaugeVec,
    cache_hit_ratio: GaugeVec,
}

impl Gauges {
    fn all(&self) -> [&GaugeVec; 3] {
        [
            &self.error_ratio,
            &self.client_error_ratio,
            &self.cache_hit_ratio,
        ]
    }
}

impl WindowCollector {
    pub(super) fn new(windows: TrafficWindows) -> Result<Self, prometheus::Error> {
        let g = |name: &str, help: &str| GaugeVec::new(Opts::new(name, help), &["route", "window"]);
        let gauges = Gauges {
            error_ratio: g(
                "gatehouse_route_error_ratio",
                "Share of responses with a 5xx status over the sliding window, by route.",
            )?,
            client_error_ratio: g(
                "gatehouse_route_client_error_ratio",
                "Share of responses with a 4xx status over the sliding window, by route.",
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
            windows,
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
        for snap in self.windows.snapshot() {
            let route = snap.route.as_str();
            for (w, s) in &snap.windows {
                let labels = [route, w.as_str()];
                if let Some(r) = s.error_ratio {
                    g.error_ratio.with_label_values(&labels).set(r);
                }
                if let Some(r) = s.client_error_ratio {
                    g.client_error_ratio.with_label_values(&labels).set(r);
                }
                if let Some(r) = s.cache_hit_ratio {
                    g.cache_hit_ratio.with_label_values(&labels).set(r);
                }
            }
        }
        g.all().iter().flat_map(|v| v.collect()).collect()
    }
}
