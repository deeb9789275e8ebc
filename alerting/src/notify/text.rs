//! Text helpers shared by the message formats: limits, colours, the alert line, escaping.

use crate::{Alert, Notification, Status};
use gatehouse_config::alerting::Severity;

/// At most `max` bytes of `s`, cut at a character boundary, ending in `…` when cut.
pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `parts` joined by `sep` while they fit in `max` bytes; the rest is counted in a last
/// `… and N more` line. A part is never cut (it may hold markup).
pub(super) fn fit(parts: &[String], sep: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        let more = format!("{sep}… and {} more", parts.len() - i);
        let needed = out.len() + if i > 0 { sep.len() } else { 0 } + part.len();
        let reserve = if i + 1 < parts.len() { more.len() } else { 0 };
        if needed + reserve > max {
            if out.is_empty() {
                return truncate(&format!("… and {} alerts", parts.len()), max);
            }
            out.push_str(&more);
            return out;
        }
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(part);
    }
    out
}

/// Red, amber or blue while firing (by severity), green when resolved.
pub(super) fn colour(n: &Notification) -> u32 {
    match (n.status, n.severity) {
        (Status::Resolved, _) => 0x2E_B6_7D,
        (Status::Firing, Severity::Critical) => 0xE0_1E_5A,
        (Status::Firing, Severity::Warning) => 0xEC_B2_2E,
        (Status::Firing, Severity::Info) => 0x36_C5_F0,
    }
}

/// `#rrggbb`.
pub(super) fn colour_hex(n: &Notification) -> String {
    format!("#{:06X}", colour(n))
}

/// `FIRING` or `RESOLVED`.
pub(super) fn upper(status: Status) -> &'static str {
    match status {
        Status::Firing => "FIRING",
        Status::Resolved => "RESOLVED",
    }
}

/// `since 2024-05-01 10:00:00 UTC[, resolved ...]`.
pub(super) fn since(a: &Alert) -> String {
    let mut s = format!("since {}", a.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"));
    if let Some(end) = a.ended_at {
        s.push_str(&format!(
            ", resolved {}",
            end.strftime("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    if a.flapping {
        s.push_str(" (flapping)");
    }
    s
}

/// How a chat format marks up an alert line; [`alert_lines`] writes the line itself, so the
/// Slack, Telegram and Discord lines say the same things in the same order.
pub(super) struct LineMarkup {
    /// Escapes the subject and summary for the format.
    pub(super) escape: fn(&str) -> String,
    /// The head: `FIRING`/`RESOLVED` and the (escaped) subject, in the format's bold.
    pub(super) head: fn(&str, &str) -> String,
    /// The `since …` line in the format's emphasis.
    pub(super) since: fn(&str) -> String,
    /// The runbook link, given the URL as configured (each format escapes it as it needs).
    pub(super) runbook: fn(&str) -> String,
}

/// One line per alert: `head — summary`, then `since …` and the runbook link.
pub(super) fn alert_lines(alerts: &[Alert], m: &LineMarkup) -> Vec<String> {
    alerts
        .iter()
        .map(|a| {
            let mut line = format!(
                "{} — {}\n{}",
                (m.head)(upper(a.status), &(m.escape)(&a.subject)),
                (m.escape)(&a.summary),
                (m.since)(&since(a))
            );
            if let Some(r) = &a.runbook {
                line.push_str(" · ");
                line.push_str(&(m.runbook)(r));
            }
            line
        })
        .collect()
}

/// Escapes `&`, `<`, `>` and `"` for HTML (and Slack's `&`, `<`, `>`).
pub(super) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes the characters Markdown (Discord, Teams) gives a meaning to.
pub(super) fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\*_~`|>[]()#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A notification whose two alerts carry every character the chat formats escape: one
/// firing with a runbook, one resolved and flapping without.
#[cfg(test)]
pub(super) fn sample() -> Notification {
    use std::collections::BTreeMap;
    let t = |s: &str| {
        s.parse::<jiff::Timestamp>()
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    };
    let alert = |subject: &str, summary: &str| Alert {
        id: 1,
        rule: "r".into(),
        kind: "probe".into(),
        subject: subject.into(),
        severity: Severity::Critical,
        status: Status::Firing,
        summary: summary.into(),
        value: String::new(),
        runbook: None,
        labels: BTreeMap::new(),
        started_at: t("2025-05-01T10:00:00Z"),
        ended_at: None,
        flapping: false,
        unreached: false,
    };
    let mut a = alert("api<1>&\"x\"*_", "down: a*b_c & <d>");
    a.runbook = Some("https://r.test/a?b=1&c=\"2\"".into());
    let mut b = alert("db", "ok again");
    b.status = Status::Resolved;
    b.ended_at = Some(t("2025-05-01T10:05:00Z"));
    b.flapping = true;
    Notification {
        version: 1,
        status: Status::Firing,
        reminder: false,
        test: false,
        group_key: "group=api".into(),
        dedup_key: "k".into(),
        title: "[FIRING:1] r".into(),
        severity: Severity::Critical,
        alerts: vec![a, b],
        sent_at: t("2025-05-01T10:01:00Z"),
        instance: "host".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_cuts_at_a_char_boundary() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello world", 8), "hello…");
        let cut = truncate("ééééé", 6);
        assert!(cut.len() <= 6 && cut.ends_with('…'), "{cut}");
    }

    #[test]
    fn fit_counts_what_does_not_fit() {
        let parts: Vec<String> = (0..5).map(|i| format!("alert {i}")).collect();
        assert_eq!(fit(&parts, "\n", 1000), parts.join("\n"));
        let out = fit(&parts, "\n", 40);
        assert!(out.len() <= 40, "{out}");
        assert!(out.starts_with("alert 0\nalert 1"), "{out}");
        assert!(out.ends_with("more"), "{out}");
    }
}
