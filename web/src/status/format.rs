//! Numbers as the status page writes them, in its HTML, its badges and its incident titles.

use std::time::Duration;

/// `99.95%`, or `no data`.
pub(crate) fn percent(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 1.0 => "100%".into(),
        Some(v) => format!("{:.2}%", (v * 100.0 * 100.0).floor() / 100.0),
        None => "no data".into(),
    }
}

/// `2h 5m`, `3d 4h`, `45s`.
pub(crate) fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 86400, s % 86400 / 3600, s % 3600 / 60) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}
