//! Short human forms of durations for messages: `512ms`, `3.2s`, `4m 10s`, `3d 4h`.

use std::time::Duration;

/// A short human form of `d`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    if secs < 60 {
        let tenths = (d.as_millis() / 100) as f64 / 10.0;
        return format!("{tenths}s");
    }
    let (d_, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d_, h, m) {
        (0, 0, _) if s == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{d_}d"),
        _ => format!("{d_}d {h}h"),
    }
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(duration(Duration::from_millis(512)), "512ms");
        assert_eq!(duration(Duration::from_millis(3250)), "3.2s");
        assert_eq!(duration(Duration::from_secs(250)), "4m 10s");
        assert_eq!(duration(Duration::from_secs(3600)), "1h");
        assert_eq!(
            duration(Duration::from_secs(3 * 86400 + 4 * 3600 + 5)),
            "3d 4h"
        );
    }
}
