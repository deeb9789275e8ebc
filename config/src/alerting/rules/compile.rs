//! `alerting.rules`: each rule's kind (probe, route, certificate, gatehouse), its threshold,
//! and the built-in defaults that cover the usual checklist without any config.

use super::*;
use crate::alerting::raw::*;
use crate::alerting::Severity;
use crate::compiler::{Compiler, NamedList};
use crate::probes::ProbesConfig;
use crate::units::parse_duration;
use serde_yaml::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// The rules every gatehouse has unless `default_rules: false`. A rule in the file with the
/// same name replaces the default.
pub(crate) fn default_rules() -> Vec<Rule> {
    let rule = |name: &str, kind: RuleKind, severity: Severity| Rule {
        name: name.into(),
        summary: default_summary(&kind),
        impact: Impact::default_for(&kind),
        kind,
        severity,
        labels: BTreeMap::new(),
        runbook: None,
        builtin: true,
    };
    let route = |signal, threshold| RuleKind::Route {
        routes: Target::All,
        signal,
        op: Cmp::Gt,
        threshold,
        window: SignalWindow::FiveMinutes,
        hold: Duration::from_secs(60),
        min_requests: 20,
    };
    vec![
        rule(
            "probe-down",
            RuleKind::Probe {
                probes: Target::All,
                groups: Vec::new(),
                failure_threshold: Threshold::consecutive(3),
                success_threshold: Threshold::consecutive(2),
            },
            Severity::Critical,
        ),
        rule(
            "high-error-ratio",
            route(Signal::ErrorRatio, 0.05),
            Severity::Critical,
        ),
        rule("slow-responses", route(Signal::P95, 2.0), Severity::Warning),
        rule(
            "certificate-expiry",
            RuleKind::CertificateExpiry {
                names: Target::All,
                within: Duration::from_secs(14 * 86400),
            },
            Severity::Warning,
        ),
        rule(
            "acme-failing",
            RuleKind::AcmeFailing {
                names: Target::All,
                failures: 3,
            },
            Severity::Warning,
        ),
        rule(
            "reload-failed",
            RuleKind::Gatehouse {
                check: SelfCheck::ReloadFailed,
            },
            Severity::Warning,
        ),
        rule(
            "store-failing",
            RuleKind::Gatehouse {
                check: SelfCheck::StoreFailing,
            },
            Severity::Warning,
        ),
        rule(
            "notifier-failing",
            RuleKind::Gatehouse {
                check: SelfCheck::NotifierFailing,
            },
            Severity::Warning,
        ),
    ]
}

fn default_summary(kind: &RuleKind) -> String {
    match kind {
        RuleKind::Probe { .. } => "{subject} is down: {value}",
        RuleKind::Route { .. } => "route {subject}: {value}",
        RuleKind::CertificateExpiry { .. } => "certificate {subject} expires in {value}",
        RuleKind::AcmeFailing { .. } => "ACME renewal of {subject} has failed: {value}",
        RuleKind::Gatehouse { .. } => "{value}",
    }
    .into()
}

impl Compiler {
    /// A probe rule's threshold: a number of checks in a row, or `{ count: 3, of: 5 }` for
    /// 3 of the last 5. Mistakes are reported at `path`; the result is always usable.
    fn threshold(&mut self, value: Option<Value>, path: &str, default: u32) -> Threshold {
        let t = match value {
            None => return Threshold::consecutive(default),
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Threshold::consecutive(n),
                None => {
                    self.err(path, format!("`{n}` is not a number of checks"));
                    return Threshold::consecutive(default);
                }
            },
            Some(v @ Value::Mapping(_)) => match self.section::<RawThreshold>(v, path) {
                Some(r) => Threshold {
                    count: r.count,
                    of: Some(r.of),
                },
                None => return Threshold::consecutive(default),
            },
            Some(_) => {
                self.err(
                    path,
                    "give checks in a row (`3`) or some of the last checks (`{ count: 3, of: 5 }`)",
                );
                return Threshold::consecutive(default);
            }
        };
        if t.count == 0 {
            self.err(path, "must be at least 1");
        }
        if let Some(of) = t.of {
            if of < t.count {
                self.err(
                    path,
                    format!(
                        "{} of the last {of} can never happen: `of` must be at least `count`",
                        t.count
                    ),
                );
            } else if of > Threshold::MAX_OF {
                self.err(
                    path,
                    format!("`of: {of}`: at most {} checks are kept", Threshold::MAX_OF),
                );
            }
        }
        let count = t.count.max(1);
        Threshold {
            count,
            of: t.of.map(|of| of.clamp(count, Threshold::MAX_OF.max(count))),
        }
    }

    pub(crate) fn rules(
        &mut self,
        value: Option<Value>,
        defaults: bool,
        probes: &ProbesConfig,
        routes: &[crate::routes::Route],
    ) -> Vec<Rule> {
        let probe_names: HashSet<&str> = probes.probes.iter().map(|p| p.name.as_str()).collect();
        let groups: HashSet<&str> = probes.probes.iter().map(|p| p.group.as_str()).collect();
        let route_names: HashSet<&str> = routes.iter().map(|r| r.name.as_str()).collect();
        let known = Known {
            probes: &probe_names,
            groups: &groups,
            routes: &route_names,
        };
        let mut written = Vec::new();
        let mut names = NamedList::new("alerting.rules", "rule name");
        for (i, item) in self.list(value, "alerting.rules").into_iter().enumerate() {
            let Some((path, raw)) = names.item::<RawRule>(self, i, item) else {
                continue;
            };
            if let Some(rule) = self.rule(raw, &path, &known) {
                written.push(rule);
            }
        }
        let mut out: Vec<Rule> = if defaults {
            default_rules()
                .into_iter()
                .filter(|d| !names.contains(&d.name))
                .collect()
        } else {
            Vec::new()
        };
        out.extend(written);
        out
    }

    fn rule(&mut self, raw: RawRule, path: &str, known: &Known<'_>) -> Option<Rule> {
        let given = [
            raw.probe.is_some() || raw.group.is_some(),
            raw.route.is_some(),
            raw.certificate.is_some(),
            raw.gatehouse.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            self.err(
                path,
                "a rule watches exactly one of `probe` (or `group`), `route`, `certificate` or `gatehouse`",
            );
            return None;
        }
        let kind = if raw.probe.is_some() || raw.group.is_some() {
            let probes_target = match raw.probe {
                Some(p) => self.target(p, &format!("{path}.probe"), Some((known.probes, "probe"))),
                None => Target::All,
            };
            let groups = raw.group.map(OneOrMany::into_vec).unwrap_or_default();
            for g in &groups {
                if !known.groups.contains(g.as_str()) {
                    self.err(
                        format!("{path}.group"),
                        format!("no probe is in group `{g}`"),
                    );
                }
            }
            let failure_threshold = self.threshold(
                raw.failure_threshold,
                &format!("{path}.failure_threshold"),
                3,
            );
            let success_threshold = self.threshold(
                raw.success_threshold,
                &format!("{path}.success_threshold"),
                2,
            );
            RuleKind::Probe {
                probes: probes_target,
                groups,
                failure_threshold,
                success_threshold,
            }
        } else if let Some(r) = raw.route {
            let routes = self.target(r, &format!("{path}.route"), Some((known.routes, "route")));
            let Some(when) = raw.when.as_deref() else {
                self.err(
                    format!("{path}.when"),
                    "a route rule needs `when`, e.g. `error_ratio > 5%` or `p95 > 2s`",
                );
                return None;
            };
            let (signal, op, threshold) = match parse_when(when) {
                Ok(v) => v,
                Err(e) => {
                    self.err(format!("{path}.when"), format!("`{when}`: {e}"));
                    return None;
                }
            };
            let window = match raw.window.as_deref() {
                None | Some("5m") => SignalWindow::FiveMinutes,
                Some("1m") => SignalWindow::OneMinute,
                Some("1h") => SignalWindow::OneHour,
                Some(other) => {
                    self.err(
                        format!("{path}.window"),
                        format!("`{other}` is not a window gatehouse keeps; use 1m, 5m or 1h"),
                    );
                    SignalWindow::FiveMinutes
                }
            };
            RuleKind::Route {
                routes,
                signal,
                op,
                threshold,
                window,
                hold: self.duration(raw.hold.as_deref(), format!("{path}.for"), Duration::ZERO),
                min_requests: raw.min_requests.unwrap_or(1),
            }
        } else if let Some(c) = raw.certificate {
            let names = self.target(c, &format!("{path}.certificate"), None);
            match (raw.expires_within.as_deref(), raw.acme_failures) {
                (Some(w), None) => RuleKind::CertificateExpiry {
                    names,
                    within: self.duration(
                        Some(w),
                        format!("{path}.expires_within"),
                        Duration::from_secs(14 * 86400),
                    ),
                },
                (None, Some(f)) => RuleKind::AcmeFailing {
                    names,
                    failures: f.max(1),
                },
                _ => {
                    self.err(
                        path,
                        "a certificate rule needs exactly one of `expires_within` (e.g. `14d`) or `acme_failures` (e.g. 3)",
                    );
                    return None;
                }
            }
        } else {
            let check = raw.gatehouse.as_deref().unwrap_or_default();
            let check = match check {
                "reload_failed" => SelfCheck::ReloadFailed,
                "store_failing" => SelfCheck::StoreFailing,
                "notifier_failing" => SelfCheck::NotifierFailing,
                other => {
                    self.err(
                        format!("{path}.gatehouse"),
                        format!("unknown check `{other}`; expected reload_failed, store_failing or notifier_failing"),
                    );
                    return None;
                }
            };
            RuleKind::Gatehouse { check }
        };
        let severity = match raw.severity.as_deref() {
            Some(s) => self.severity(s, &format!("{path}.severity"))?,
            None => Severity::Warning,
        };
        if let Some(r) = &raw.runbook {
            if !(r.starts_with("https://") || r.starts_with("http://")) {
                self.err(format!("{path}.runbook"), "must be an http(s) URL");
            }
        }
        let impact = match raw.impact.as_deref() {
            None => Impact::default_for(&kind),
            Some("outage") => Impact::Outage,
            Some("degraded") => Impact::Degraded,
            Some(other) => {
                self.err(
                    format!("{path}.impact"),
                    format!("`{other}` is not an impact; expected outage or degraded"),
                );
                Impact::default_for(&kind)
            }
        };
        Some(Rule {
            name: raw.name,
            summary: raw.summary.unwrap_or_else(|| default_summary(&kind)),
            impact,
            kind,
            severity,
            labels: raw.labels,
            runbook: raw.runbook,
            builtin: false,
        })
    }

    /// `*`, a name or a list of names; probe and route names are checked.
    fn target(
        &mut self,
        value: OneOrMany,
        path: &str,
        known: Option<(&HashSet<&str>, &str)>,
    ) -> Target {
        let names = value.into_vec();
        if names.iter().any(|n| n == "*") {
            return Target::All;
        }
        if names.is_empty() {
            self.err(path, "name at least one, or `*` for all");
        }
        if let Some((known, what)) = known {
            for n in &names {
                if !known.contains(n.as_str()) {
                    self.err(path, format!("unknown {what} `{n}`"));
                }
            }
        }
        Target::Names(names)
    }
}

/// The names rules may point at.
struct Known<'a> {
    probes: &'a HashSet<&'a str>,
    groups: &'a HashSet<&'a str>,
    routes: &'a HashSet<&'a str>,
}

/// `SIGNAL OP VALUE`, e.g. `error_ratio > 5%`, `p95 > 1.5s`, `request_rate < 0.5`.
pub(crate) fn parse_when(text: &str) -> Result<(Signal, Cmp, f64), String> {
    let mut parts = text.split_whitespace();
    let (Some(s), Some(op), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("write SIGNAL OP VALUE, e.g. `error_ratio > 5%` or `p95 > 2s`".into());
    };
    let signal = match s {
        "error_ratio" => Signal::ErrorRatio,
        "client_error_ratio" => Signal::ClientErrorRatio,
        "p50" => Signal::P50,
        "p95" => Signal::P95,
        "p99" => Signal::P99,
        "request_rate" => Signal::RequestRate,
        "cache_hit_ratio" => Signal::CacheHitRatio,
        other => {
            return Err(format!(
                "unknown signal `{other}`; expected error_ratio, client_error_ratio, p50, p95, p99, request_rate or cache_hit_ratio"
            ))
        }
    };
    let op = match op {
        ">" => Cmp::Gt,
        ">=" => Cmp::Ge,
        "<" => Cmp::Lt,
        "<=" => Cmp::Le,
        other => {
            return Err(format!(
                "unknown operator `{other}`; expected >, >=, < or <="
            ))
        }
    };
    let value = match signal {
        Signal::P50 | Signal::P95 | Signal::P99 => {
            parse_duration(v).map_err(|e| e.to_string())?.as_secs_f64()
        }
        Signal::RequestRate => v
            .trim_end_matches("/s")
            .parse::<f64>()
            .map_err(|_| format!("`{v}` is not a rate; write requests per second, e.g. `10`"))?,
        _ => {
            let ratio = match v.strip_suffix('%') {
                Some(p) => p.parse::<f64>().map(|x| x / 100.0),
                None => v.parse::<f64>(),
            }
            .map_err(|_| format!("`{v}` is not a ratio; write e.g. `5%` or `0.05`"))?;
            if !(0.0..=1.0).contains(&ratio) {
                return Err(format!("`{v}` is not between 0 and 100%"));
            }
            ratio
        }
    };
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{v}` must be a finite number ≥ 0"));
    }
    Ok((signal, op, value))
}
