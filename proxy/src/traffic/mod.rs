//! Live per-route signals from real traffic: request rate, 5xx and 4xx ratios, latency
//! quantiles and upstream cache-hit ratio over 1m/5m/1h sliding windows. Read through
//! [`gatehouse_traffic::TrafficSignals`] (the alert rules, the admin API's JSON); the ratios
//! are also Prometheus gauges (computed at scrape time, in `collector.rs`).

mod cache;
mod collector;
mod histogram;
mod window;

pub(crate) use cache::{classify, CacheResult};

use gatehouse_traffic::{RouteSnapshot, TrafficSignals, Window, WindowStats};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;
use window::RouteWindows;

/// The windows of every route, kept across config reloads (by route name).
#[derive(Clone)]
pub struct TrafficWindows(Arc<Inner>);

struct Inner {
    routes: RwLock<BTreeMap<String, Arc<RouteWindows>>>,
    lookups: IntCounterVec,
}

/// What one compiled route records into.
pub(crate) struct RouteTraffic {
    windows: Arc<RouteWindows>,
    hit: IntCounter,
    miss: IntCounter,
    bypass: IntCounter,
}

impl RouteTraffic {
    /// Count one finished request.
    pub(crate) fn record(&self, status: u16, seconds: f64, cache: Option<CacheResult>) {
        match cache {
            Some(CacheResult::Hit) => self.hit.inc(),
            Some(CacheResult::Miss) => self.miss.inc(),
            Some(CacheResult::Bypass) => self.bypass.inc(),
            None => {}
        }
        self.windows.record(status, seconds, cache);
    }
}

impl TrafficWindows {
    /// Register the signal metrics in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let lookups = IntCounterVec::new(
            Opts::new(
                "gatehouse_http_cache_lookups_total",
                "Upstream responses whose cache headers (Cache-Status, X-Cache, CF-Cache-Status, Age) say hit, miss or bypass.",
            ),
            &["route", "result"],
        )?;
        registry.register(Box::new(lookups.clone()))?;
        let windows = TrafficWindows(Arc::new(Inner {
            routes: RwLock::new(BTreeMap::new()),
            lookups,
        }));
        registry.register(Box::new(collector::WindowCollector::new(windows.clone())?))?;
        Ok(windows)
    }

    /// The recorder for `route`: the same windows as before when the route existed.
    pub(crate) fn route(&self, route: &str) -> RouteTraffic {
        let windows = {
            let mut map = self.0.routes.write().unwrap_or_else(|p| p.into_inner());
            map.entry(route.to_string())
                .or_insert_with(|| Arc::new(RouteWindows::new(Instant::now())))
                .clone()
        };
        let l = |r: CacheResult| self.0.lookups.with_label_values(&[route, r.as_str()]);
        RouteTraffic {
            windows,
            hit: l(CacheResult::Hit),
            miss: l(CacheResult::Miss),
            bypass: l(CacheResult::Bypass),
        }
    }

    /// Forget the routes not in `names` (after a reload removed them).
    pub(crate) fn retain(&self, names: &[&str]) {
        let mut map = self.0.routes.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|k, _| names.contains(&k.as_str()));
    }

    fn all(&self) -> Vec<(String, Arc<RouteWindows>)> {
        let map = self.0.routes.read().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Close the current slot of every route; run every [`window::TICK`].
    pub fn tick(&self) {
        let now = Instant::now();
        for (_, w) in self.all() {
            w.tick(now);
        }
    }

    /// Run [`TrafficWindows::tick`] on schedule until the runtime ends.
    pub async fn run_ticker(self) {
        let mut every = tokio::time::interval(window::TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            self.tick();
        }
    }
}

impl TrafficSignals for TrafficWindows {
    fn routes(&self) -> Vec<String> {
        let map = self.0.routes.read().unwrap_or_else(|p| p.into_inner());
        map.keys().cloned().collect()
    }

    fn window(&self, route: &str, window: Window) -> Option<WindowStats> {
        let w = {
            let map = self.0.routes.read().unwrap_or_else(|p| p.into_inner());
            map.get(route)?.clone()
        };
        Some(w.window(window, Instant::now()))
    }

    fn snapshot(&self) -> Vec<RouteSnapshot> {
        let now = Instant::now();
        self.all()
            .into_iter()
            .map(|(route, w)| RouteSnapshot {
                route,
                windows: Window::ALL
                    .into_iter()
                    .map(|win| (win, w.window(win, now)))
                    .collect(),
            })
            .collect()
    }
}
