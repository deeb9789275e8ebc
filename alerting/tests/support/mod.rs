//! What the notifier tests share: notifications, notifiers, metrics, and the local peers.
#![allow(dead_code, unreachable_pub)]

// Not every test binary uses both peers.
#[allow(unused_imports)]
pub use gatehouse_testkit::{receiver, smtp};

use gatehouse_alerting::notify::{Notifiers, NotifyMetrics};
use gatehouse_alerting::{dedup_key, Alert, Notification, Status};
use gatehouse_config::alerting::notifiers::{Notifier, NotifierKind, WebhookNotifier};
use gatehouse_config::alerting::Severity;
use gatehouse_config::secret::Secret;
use jiff::Timestamp;
use prometheus::{Encoder, Registry, TextEncoder};
use std::collections::BTreeMap;
use std::time::Duration;

pub const GROUP: &str = "group=api,rule=probe-down";
pub const RUNBOOK: &str = "https://runbooks.example.com/probe-down";

pub fn alert(subject: &str, severity: Severity, summary: &str, runbook: bool) -> Alert {
    let mut labels = BTreeMap::new();
    labels.insert("rule".to_string(), "probe-down".to_string());
    labels.insert("group".to_string(), "api".to_string());
    labels.insert("severity".to_string(), severity.as_str().to_string());
    Alert {
        id: 7,
        rule: "probe-down".into(),
        kind: "probe".into(),
        subject: subject.into(),
        severity,
        status: Status::Firing,
        summary: summary.into(),
        value: "status was 503".into(),
        runbook: runbook.then(|| RUNBOOK.to_string()),
        labels,
        started_at: "2025-05-01T10:00:00Z".parse::<Timestamp>().unwrap(),
        ended_at: None,
        flapping: false,
        unreached: false,
    }
}

/// Two firing alerts of one group: a critical one with a runbook and a warning.
pub fn firing() -> Notification {
    Notification {
        version: 1,
        status: Status::Firing,
        reminder: false,
        test: false,
        group_key: GROUP.into(),
        dedup_key: dedup_key(GROUP),
        title: "[FIRING:2] probe-down (group=api)".into(),
        severity: Severity::Critical,
        alerts: vec![
            alert(
                "api",
                Severity::Critical,
                "api is down: status was 503",
                true,
            ),
            alert(
                "api-eu",
                Severity::Warning,
                "api-eu is slow: p95 > 2s & <rising>",
                false,
            ),
        ],
        sent_at: "2025-05-01T10:01:00Z".parse::<Timestamp>().unwrap(),
        instance: "gh-test".into(),
    }
}

/// The same group, resolved.
pub fn resolved() -> Notification {
    let mut n = firing();
    n.status = Status::Resolved;
    n.title = "[RESOLVED] probe-down (group=api)".into();
    for a in &mut n.alerts {
        a.status = Status::Resolved;
        a.ended_at = Some("2025-05-01T10:05:00Z".parse::<Timestamp>().unwrap());
    }
    n
}

pub fn notifier(name: &str, kind: NotifierKind) -> Notifier {
    Notifier {
        name: name.into(),
        timeout: Duration::from_secs(5),
        retries: 0,
        kind,
    }
}

pub fn secret(s: &str) -> Secret {
    Secret(s.to_string())
}

/// A webhook notifier named `hook` posting to `url`.
pub fn hook(url: &str, retries: u32) -> Notifier {
    let mut n = notifier(
        "hook",
        NotifierKind::Webhook(WebhookNotifier {
            url: Secret(url.to_string()),
            headers: Vec::new(),
            secret: None,
            template: None,
            content_type: "application/json".into(),
        }),
    );
    n.retries = retries;
    n
}

/// The notifiers with a 10 ms first backoff, and the registry of their metrics.
pub fn start(config: &[Notifier]) -> (Notifiers, Registry) {
    let registry = Registry::new();
    let metrics = NotifyMetrics::register(&registry).unwrap();
    let notifiers = Notifiers::new(config, metrics)
        .unwrap()
        .with_backoff(Duration::from_millis(10));
    (notifiers, registry)
}

/// A sample's value as Prometheus would scrape it (0 when the series does not exist).
pub fn metric(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}
