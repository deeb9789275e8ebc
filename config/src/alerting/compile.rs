//! `alerting`: rules (built-in defaults first), grouping, flapping, maintenance windows,
//! notifiers and the routes to them.

use super::notifiers::Notifier;
use super::raw::*;
use super::*;
use crate::compiler::Compiler;
use serde_yaml::Value;
use std::collections::HashSet;
use std::time::Duration;

/// Defaults of `alerting`.
pub(crate) mod defaults {
    use std::time::Duration;
    pub(crate) const EVALUATION_INTERVAL: Duration = Duration::from_secs(15);
    pub(crate) const GROUP_WAIT: Duration = Duration::from_secs(30);
    pub(crate) const GROUP_INTERVAL: Duration = Duration::from_secs(300);
    pub(crate) const REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
    pub(crate) const FLAP_THRESHOLD: u32 = 4;
    pub(crate) const FLAP_PERIOD: Duration = Duration::from_secs(1800);
    pub(crate) const FLAP_WINDOW: u32 = 20;
    pub(crate) const FLAP_HIGH: u32 = 20;
    pub(crate) const FLAP_LOW: u32 = 5;
    pub(crate) const FLAP_SETTLE: Duration = Duration::ZERO;
    pub(crate) const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
    pub(crate) const NOTIFY_RETRIES: u32 = 3;
    pub(crate) const GROUP_BY: [&str; 2] = ["rule", "group"];
    pub(crate) const DELIVERY_BACKOFF: Duration = Duration::from_secs(1);
    pub(crate) const DELIVERY_MAX_BACKOFF: Duration = Duration::from_secs(300);
    pub(crate) const DELIVERY_EXPIRY: Duration = Duration::from_secs(24 * 3600);
}

impl Compiler {
    pub(crate) fn alerting(
        &mut self,
        value: Option<Value>,
        probes: &crate::probes::ProbesConfig,
        routes: &[crate::routes::Route],
    ) -> AlertingConfig {
        let raw: RawAlerting = value
            .and_then(|v| self.section(v, "alerting"))
            .unwrap_or_default();
        let d = |c: &mut Compiler, v: Option<String>, name: &str, default: Duration| {
            c.duration(v.as_deref(), format!("alerting.{name}"), default)
        };
        let evaluation_interval = d(
            self,
            raw.evaluation_interval,
            "evaluation_interval",
            defaults::EVALUATION_INTERVAL,
        );
        if evaluation_interval.is_zero() {
            self.err("alerting.evaluation_interval", "must be longer than zero");
        }
        let group_wait = d(self, raw.group_wait, "group_wait", defaults::GROUP_WAIT);
        let group_interval = d(
            self,
            raw.group_interval,
            "group_interval",
            defaults::GROUP_INTERVAL,
        );
        let repeat_interval = d(
            self,
            raw.repeat_interval,
            "repeat_interval",
            defaults::REPEAT_INTERVAL,
        );
        let flapping = self.flapping(raw.flapping.unwrap_or_default());
        let delivery = self.delivery(raw.delivery.unwrap_or_default());
        let group_by = raw
            .group_by
            .unwrap_or_else(|| defaults::GROUP_BY.iter().map(|s| s.to_string()).collect());
        let timeout = d(self, raw.timeout, "timeout", defaults::NOTIFY_TIMEOUT);
        let retries = raw.retries.unwrap_or(defaults::NOTIFY_RETRIES);
        let rules = self.rules(raw.rules, raw.default_rules.unwrap_or(true), probes, routes);
        let maintenance = self.maintenance(raw.maintenance);
        for (i, m) in maintenance.iter().enumerate() {
            for (j, s) in m.subjects.iter().enumerate() {
                let known = probes.probes.iter().any(|p| &p.name == s)
                    || routes.iter().any(|r| &r.name == s);
                if !known {
                    self.warn(
                        format!("alerting.maintenance[{i}].subjects[{j}]"),
                        format!("`{s}` is neither a probe nor a route (it may be a certificate name; otherwise this window covers nothing)"),
                    );
                }
            }
        }
        let notifiers = self.notifiers(raw.notifiers, timeout, retries);
        let routes = self.notify_routes(raw.routes, &notifiers);
        let inhibit = self.inhibit(raw.inhibit);
        AlertingConfig {
            evaluation_interval: evaluation_interval.max(Duration::from_millis(100)),
            group_wait,
            group_interval,
            repeat_interval,
            group_by,
            send_resolved: raw.send_resolved.unwrap_or(true),
            flapping,
            delivery,
            rules,
            maintenance,
            notifiers,
            routes,
            inhibit,
        }
    }

    fn inhibit(&mut self, value: Option<Value>) -> Vec<Inhibit> {
        let mut out = Vec::new();
        for (i, item) in self.list(value, "alerting.inhibit").into_iter().enumerate() {
            let path = format!("alerting.inhibit[{i}]");
            let Some(raw) = self.section::<RawInhibit>(item, &path) else {
                continue;
            };
            for (side, labels) in [("source", &raw.source), ("target", &raw.target)] {
                if labels.is_empty() {
                    self.err(
                        format!("{path}.{side}"),
                        "give at least one label, e.g. { severity: critical }",
                    );
                }
            }
            out.push(Inhibit {
                source: raw.source,
                target: raw.target,
                equal: raw.equal,
            });
        }
        out
    }

    fn delivery(&mut self, raw: RawDelivery) -> DeliveryPolicy {
        let d = |c: &mut Compiler, v: Option<String>, name: &str, default: Duration| {
            c.duration(v.as_deref(), format!("alerting.delivery.{name}"), default)
        };
        let backoff = d(self, raw.backoff, "backoff", defaults::DELIVERY_BACKOFF);
        let max_backoff = d(
            self,
            raw.max_backoff,
            "max_backoff",
            defaults::DELIVERY_MAX_BACKOFF,
        );
        let expiry = d(self, raw.expiry, "expiry", defaults::DELIVERY_EXPIRY);
        if backoff.is_zero() {
            self.err("alerting.delivery.backoff", "must be longer than zero");
        }
        if max_backoff < backoff {
            self.err(
                "alerting.delivery.max_backoff",
                format!("must not be shorter than `backoff` ({backoff:?})"),
            );
        }
        if expiry < max_backoff {
            self.err(
                "alerting.delivery.expiry",
                format!("must not be shorter than `max_backoff` ({max_backoff:?})"),
            );
        }
        DeliveryPolicy {
            backoff,
            max_backoff,
            expiry,
        }
    }

    fn flapping(&mut self, raw: RawFlapping) -> Flapping {
        let period = self.duration(
            raw.period.as_deref(),
            "alerting.flapping.period".into(),
            defaults::FLAP_PERIOD,
        );
        let settle = self.duration(
            raw.settle.as_deref(),
            "alerting.flapping.settle".into(),
            defaults::FLAP_SETTLE,
        );
        let window = raw.window.unwrap_or(defaults::FLAP_WINDOW);
        if window == 1 || window > Flapping::MAX_WINDOW {
            self.err(
                "alerting.flapping.window",
                format!(
                    "{window} checks: give 2 to {} (or 0 to turn the rate off)",
                    Flapping::MAX_WINDOW
                ),
            );
        }
        let high = raw.high.unwrap_or(defaults::FLAP_HIGH);
        let low = raw.low.unwrap_or(defaults::FLAP_LOW.min(high));
        for (v, name) in [(high, "high"), (low, "low")] {
            if v > 100 {
                self.err(
                    format!("alerting.flapping.{name}"),
                    format!("{v} is a percentage: at most 100"),
                );
            }
        }
        if high == 0 {
            self.err(
                "alerting.flapping.high",
                "must be above 0 (`window: 0` turns the rate off)",
            );
        }
        if low > high {
            self.err(
                "alerting.flapping.low",
                format!("{low}% is above `high` ({high}%): a subject would never be stable again"),
            );
        }
        Flapping {
            threshold: raw.threshold.unwrap_or(defaults::FLAP_THRESHOLD),
            period,
            window: if window == 1 {
                0
            } else {
                window.min(Flapping::MAX_WINDOW)
            },
            high: high.clamp(1, 100),
            low: low.min(high).min(100),
            settle,
        }
    }

    fn notify_routes(&mut self, value: Option<Value>, notifiers: &[Notifier]) -> Vec<NotifyRoute> {
        let known: HashSet<&str> = notifiers.iter().map(|n| n.name.as_str()).collect();
        let mut out = Vec::new();
        for (i, item) in self.list(value, "alerting.routes").into_iter().enumerate() {
            let path = format!("alerting.routes[{i}]");
            let Some(raw) = self.section::<RawNotifyRoute>(item, &path) else {
                continue;
            };
            let mut severities = Vec::new();
            for (j, s) in raw
                .severity
                .map(OneOrMany::into_vec)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                if let Some(s) = self.severity(&s, &format!("{path}.severity[{j}]")) {
                    severities.push(s);
                }
            }
            let names = raw.notifiers.into_vec();
            if names.is_empty() {
                self.err(format!("{path}.notifiers"), "name at least one notifier");
            }
            for (j, n) in names.iter().enumerate() {
                if !known.contains(n.as_str()) && !self.notifier_failed(n) {
                    self.err(
                        format!("{path}.notifiers[{j}]"),
                        format!("unknown notifier `{n}`"),
                    );
                }
            }
            out.push(NotifyRoute {
                severities,
                labels: raw.labels,
                notifiers: names,
                continue_matching: raw.continue_matching,
            });
        }
        out
    }

    /// Whether a notifier of that name was written but failed to compile (already reported).
    fn notifier_failed(&self, _name: &str) -> bool {
        !self.errors.is_empty()
            && self
                .errors
                .iter()
                .any(|e| e.path.starts_with("alerting.notifiers"))
    }

    pub(crate) fn severity(&mut self, s: &str, path: &str) -> Option<Severity> {
        match s {
            "critical" => Some(Severity::Critical),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            other => {
                self.err(
                    path,
                    format!("unknown severity `{other}`; expected critical, warning or info"),
                );
                None
            }
        }
    }
}
