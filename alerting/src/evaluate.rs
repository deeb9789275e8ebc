//! The periodic rules: route signals, certificates and gatehouse itself, each turned into one
//! verdict per subject (bad or not, and the value measured, in words).

use crate::facts::{CertFact, Facts};
use gatehouse_config::alerting::rules::{Cmp, RuleKind, SelfCheck, Signal, SignalWindow, Target};
use gatehouse_traffic::{TrafficSignals, Window, WindowStats};
use jiff::Timestamp;
use std::time::Duration;

/// One subject's state under one rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub subject: String,
    pub bad: bool,
    pub value: String,
    /// `false` when there was too little to judge (a quiet route): the tracker keeps its
    /// state instead of counting it as good.
    pub judged: bool,
}

/// One verdict per subject: two certificates with the same first name (RSA and ECDSA, or a
/// file and an ACME one) must not make the incident flap. A bad verdict wins over a good one,
/// a judged one over an unjudged one.
fn worst_per_subject(list: Vec<Verdict>) -> Vec<Verdict> {
    let mut out: Vec<Verdict> = Vec::with_capacity(list.len());
    for v in list {
        match out.iter_mut().find(|o| o.subject == v.subject) {
            Some(o) => {
                if (v.bad && !o.bad) || (v.judged && !o.judged) {
                    *o = v;
                }
            }
            None => out.push(v),
        }
    }
    out
}

/// Everything a periodic evaluation reads.
pub(crate) struct Inputs<'a> {
    pub now: Timestamp,
    pub signals: Option<&'a dyn TrafficSignals>,
    pub certificates: &'a [CertFact],
    pub facts: &'a dyn Facts,
    /// Every notifier, the error of those whose last delivery failed, and whether it has
    /// tried one since start.
    pub notifiers: &'a [(String, Option<String>, bool)],
}

/// The verdicts of a periodic rule (empty for probe rules, which run on results).
pub(crate) fn verdicts(kind: &RuleKind, input: &Inputs<'_>) -> Vec<Verdict> {
    worst_per_subject(all_verdicts(kind, input))
}

fn all_verdicts(kind: &RuleKind, input: &Inputs<'_>) -> Vec<Verdict> {
    match kind {
        RuleKind::Probe { .. } => Vec::new(),
        RuleKind::Route {
            routes,
            signal,
            op,
            threshold,
            window,
            min_requests,
            ..
        } => {
            let Some(signals) = input.signals else {
                return Vec::new();
            };
            signals
                .routes()
                .into_iter()
                .filter(|r| routes.covers(r))
                .filter_map(|route| {
                    let stats = signals.window(&route, window_of(*window))?;
                    Some(route_verdict(
                        route,
                        &stats,
                        *signal,
                        *op,
                        *threshold,
                        *window,
                        *min_requests,
                    ))
                })
                .collect()
        }
        RuleKind::CertificateExpiry { names, within } => input
            .certificates
            .iter()
            .filter(|c| names.covers(&c.name))
            .map(|c| {
                let left = c.not_after.duration_since(input.now);
                let value = if left.is_negative() {
                    format!("expired {} ago", human(left.unsigned_abs()))
                } else {
                    human(left.unsigned_abs())
                };
                Verdict {
                    subject: c.name.clone(),
                    bad: left.is_negative() || left.unsigned_abs() < *within,
                    value,
                    judged: true,
                }
            })
            .collect(),
        RuleKind::AcmeFailing { names, failures } => input
            .certificates
            .iter()
            .filter(|c| names.covers(&c.name))
            .map(|c| Verdict {
                subject: c.name.clone(),
                judged: c.acme_tried,
                bad: c.acme_failures >= *failures,
                value: format!(
                    "{} failed attempts in a row{}",
                    c.acme_failures,
                    c.acme_error
                        .as_deref()
                        .map(|e| format!(", last: {e}"))
                        .unwrap_or_default()
                ),
            })
            .collect(),
        RuleKind::Gatehouse { check } => match check {
            SelfCheck::ReloadFailed => vec![optional("config", input.facts.reload_error(), |e| {
                format!("the config reload failed; the previous config is still serving: {e}")
            })],
            SelfCheck::StoreFailing => vec![optional("store", input.facts.store_error(), |e| {
                format!("the store fails: {e}")
            })],
            SelfCheck::NotifierFailing => input
                .notifiers
                .iter()
                .map(|(name, error, tried)| Verdict {
                    judged: *tried,
                    ..optional(name, error.clone(), |e| {
                        format!("notifier {name} cannot deliver: {e}")
                    })
                })
                .collect(),
        },
    }
}

fn optional(subject: &str, error: Option<String>, say: impl Fn(&str) -> String) -> Verdict {
    Verdict {
        subject: subject.to_string(),
        judged: true,
        bad: error.is_some(),
        value: error.as_deref().map(say).unwrap_or_else(|| "ok".into()),
    }
}

pub(crate) fn window_of(w: SignalWindow) -> Window {
    match w {
        SignalWindow::OneMinute => Window::OneMinute,
        SignalWindow::FiveMinutes => Window::FiveMinutes,
        SignalWindow::OneHour => Window::OneHour,
    }
}

fn route_verdict(
    route: String,
    stats: &WindowStats,
    signal: Signal,
    op: Cmp,
    threshold: f64,
    window: SignalWindow,
    min_requests: u64,
) -> Verdict {
    let value = match signal {
        Signal::ErrorRatio => stats.error_ratio,
        Signal::ClientErrorRatio => stats.client_error_ratio,
        Signal::P50 => stats.latency.p50,
        Signal::P95 => stats.latency.p95,
        Signal::P99 => stats.latency.p99,
        Signal::RequestRate => Some(stats.rate),
        Signal::CacheHitRatio => stats.cache_hit_ratio,
    };
    let w = window_of(window);
    let judged = stats.requests >= min_requests || signal == Signal::RequestRate;
    match value {
        Some(v) if judged => Verdict {
            judged: true,
            bad: op.holds(v, threshold),
            value: format!(
                "{} is {} over {} ({} requests; threshold {} {})",
                signal.as_str(),
                show(signal, v),
                w,
                stats.requests,
                op.as_str(),
                show(signal, threshold)
            ),
            subject: route,
        },
        _ => Verdict {
            subject: route,
            judged: false,
            bad: false,
            value: format!(
                "not judged: {} requests over {w} (at least {min_requests} needed)",
                stats.requests
            ),
        },
    }
}

/// A signal's value in words: `12.5%`, `2.41 s`, `850 ms`, `3.2 req/s`.
pub(crate) fn show(signal: Signal, v: f64) -> String {
    match signal {
        Signal::ErrorRatio | Signal::ClientErrorRatio | Signal::CacheHitRatio => {
            let p = v * 100.0;
            if p == p.trunc() {
                format!("{p:.0}%")
            } else {
                format!("{p:.1}%")
            }
        }
        Signal::P50 | Signal::P95 | Signal::P99 if v < 1.0 => format!("{:.0} ms", v * 1000.0),
        Signal::P50 | Signal::P95 | Signal::P99 => format!("{v:.2} s"),
        Signal::RequestRate => format!("{v:.1} req/s"),
    }
}

/// `6d 23h`, `3h 5m`, `42s`.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes) = (s / 86400, s % 86400 / 3600, s % 3600 / 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {}s", s % 60)
    } else {
        format!("{s}s")
    }
}

/// Whether a rule of this kind covers probe `name` of `group`.
pub(crate) fn covers_probe(probes: &Target, groups: &[String], name: &str, group: &str) -> bool {
    probes.covers(name) && (groups.is_empty() || groups.iter().any(|g| g == group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_verdict_per_subject_the_worst() {
        let v = |bad, judged| Verdict {
            subject: "example.com".into(),
            bad,
            value: String::new(),
            judged,
        };
        let merged = worst_per_subject(vec![v(false, true), v(true, true), v(false, true)]);
        assert_eq!(merged.len(), 1);
        assert!(merged[0].bad);
        let merged = worst_per_subject(vec![v(false, false), v(false, true)]);
        assert!(merged[0].judged);
    }

    #[test]
    fn values_in_words() {
        assert_eq!(show(Signal::ErrorRatio, 0.125), "12.5%");
        assert_eq!(show(Signal::ErrorRatio, 0.05), "5%");
        assert_eq!(show(Signal::P95, 0.85), "850 ms");
        assert_eq!(show(Signal::P95, 2.414), "2.41 s");
        assert_eq!(
            human(Duration::from_secs(6 * 86400 + 23 * 3600 + 5)),
            "6d 23h"
        );
        assert_eq!(human(Duration::from_secs(42)), "42s");
    }

    #[test]
    fn route_rules_need_enough_requests() {
        let stats = WindowStats {
            requests: 10,
            server_errors: 3,
            error_ratio: Some(0.3),
            ..WindowStats::default()
        };
        let v = route_verdict(
            "api".into(),
            &stats,
            Signal::ErrorRatio,
            Cmp::Gt,
            0.05,
            SignalWindow::FiveMinutes,
            20,
        );
        assert!(!v.bad && !v.judged, "10 < 20 requests: {v:?}");
        let v = route_verdict(
            "api".into(),
            &stats,
            Signal::ErrorRatio,
            Cmp::Gt,
            0.05,
            SignalWindow::FiveMinutes,
            5,
        );
        assert!(v.bad);
        assert_eq!(
            v.value,
            "error_ratio is 30% over 5m (10 requests; threshold > 5%)"
        );
    }
}
