//! Live per-route traffic signals, as the proxy measures them from real requests over sliding
//! windows, and the interface through which other parts (alert rules, the status page) read
//! them. This crate holds only the types, so that a reader does not depend on the proxy: the
//! proxy implements [`TrafficSignals`], and the binary hands it to whoever reads.

use serde::Serialize;
use std::fmt;

/// A sliding window the signals are kept over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Window {
    /// The last minute.
    #[serde(rename = "1m")]
    OneMinute,
    /// The last five minutes.
    #[serde(rename = "5m")]
    FiveMinutes,
    /// The last hour.
    #[serde(rename = "1h")]
    OneHour,
}

impl Window {
    /// Every window, shortest first.
    pub const ALL: [Window; 3] = [Window::OneMinute, Window::FiveMinutes, Window::OneHour];

    /// The window's length in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Window::OneMinute => 60,
            Window::FiveMinutes => 300,
            Window::OneHour => 3600,
        }
    }

    /// The label used in metrics and JSON: `1m`, `5m`, `1h`.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::OneMinute => "1m",
            Window::FiveMinutes => "5m",
            Window::OneHour => "1h",
        }
    }

    /// The window named `s` (`1m`, `5m`, `1h`).
    pub fn parse(s: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.as_str() == s)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Latency quantiles in seconds; `None` when the window saw no request.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

/// What one route saw over one window.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct WindowStats {
    /// The seconds of traffic the figures cover: the window's length, or less right after
    /// start-up.
    pub covered_seconds: f64,
    /// Requests that finished in the window.
    pub requests: u64,
    /// Requests per second over `covered_seconds`.
    pub rate: f64,
    /// Responses with a 5xx status.
    pub server_errors: u64,
    /// Responses with a 4xx status.
    pub client_errors: u64,
    /// `server_errors / requests`; `None` without requests.
    pub error_ratio: Option<f64>,
    /// `client_errors / requests`; `None` without requests.
    pub client_error_ratio: Option<f64>,
    /// Latency quantiles.
    pub latency: Latency,
    /// Responses an upstream cache says it served (`Cache-Status`, `X-Cache`, ...).
    pub cache_hits: u64,
    /// Responses an upstream cache says it had to fetch.
    pub cache_misses: u64,
    /// `cache_hits / (cache_hits + cache_misses)`; `None` when no response said.
    pub cache_hit_ratio: Option<f64>,
}

/// One route's signals over every window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteSnapshot {
    /// The route's name from the config.
    pub route: String,
    /// The figures per window, in the order of [`Window::ALL`].
    pub windows: Vec<(Window, WindowStats)>,
}

impl RouteSnapshot {
    /// The figures for `window`.
    pub fn window(&self, window: Window) -> Option<&WindowStats> {
        self.windows
            .iter()
            .find(|(w, _)| *w == window)
            .map(|(_, s)| s)
    }
}

/// Read access to the live signals. Cheap enough to call every few seconds per rule.
pub trait TrafficSignals: Send + Sync {
    /// The names of the routes being measured now.
    fn routes(&self) -> Vec<String>;
    /// One route over one window; `None` for an unknown route.
    fn window(&self, route: &str, window: Window) -> Option<WindowStats>;
    /// Every route over every window.
    fn snapshot(&self) -> Vec<RouteSnapshot>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_round_trip_their_names() {
        for w in Window::ALL {
            assert_eq!(Window::parse(w.as_str()), Some(w));
        }
        assert_eq!(Window::parse("2m"), None);
        assert_eq!(Window::FiveMinutes.seconds(), 300);
    }
}
