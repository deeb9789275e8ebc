//! What a notifier is given: one notification for one group of alerts. The same shape is the
//! generic webhook's JSON body (documented in the README), so its fields are a public schema.

use gatehouse_config::alerting::Severity;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Whether an alert (or a whole notification) is firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The condition holds.
    Firing,
    /// The condition no longer holds.
    Resolved,
}

impl Status {
    /// `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// One alert inside a notification: one incident of one rule for one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The incident's id (stable across restarts).
    pub id: i64,
    /// The rule's name.
    pub rule: String,
    /// What the rule watches: `probe`, `route`, `certificate` or `gatehouse`.
    pub kind: String,
    /// The probe, route, certificate or check the incident is about.
    pub subject: String,
    /// Severity.
    pub severity: Severity,
    /// Firing or resolved.
    pub status: Status,
    /// The rendered summary, e.g. "api is down: status was 503".
    pub summary: String,
    /// The measured value, e.g. `12.5%` or `status was 503`.
    pub value: String,
    /// Runbook link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// Every label: `rule`, `severity`, `kind`, `subject`, `group` and the rule's own.
    pub labels: BTreeMap<String, String>,
    /// When the incident started firing.
    pub started_at: Timestamp,
    /// When it resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Held open by the flapping guard.
    pub flapping: bool,
    /// Resolved, and its firing never reached this notifier (it could not be reached while
    /// the incident lasted): this one message tells both.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreached: bool,
}

/// One message to send: the alerts of one group that changed (or, for a reminder, that are
/// still firing).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// Schema version of this JSON.
    pub version: u32,
    /// `firing` when any alert fires, else `resolved`.
    pub status: Status,
    /// A reminder of alerts that were already notified.
    pub reminder: bool,
    /// Sent by `gatehouse notify-test`.
    pub test: bool,
    /// The group's label values, e.g. `group=api,rule=probe-down`.
    pub group_key: String,
    /// A stable hash of `group_key` (hex): PagerDuty's `dedup_key`, Opsgenie's alias.
    pub dedup_key: String,
    /// One line: "[FIRING:2] probe-down (group=api)".
    pub title: String,
    /// The highest severity among the alerts.
    pub severity: Severity,
    /// The alerts, firing first.
    pub alerts: Vec<Alert>,
    /// When the notification was made.
    pub sent_at: Timestamp,
    /// The host name of the gatehouse that sent it.
    pub instance: String,
}

impl Notification {
    /// Alerts with `status`.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(move |a| a.status == status)
    }

    /// A plain-text body: the title, then one line per alert with its summary, start, runbook.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.title);
        for a in &self.alerts {
            let _ = write!(
                out,
                "\n[{}] {} — {}",
                a.status.as_str().to_uppercase(),
                a.subject,
                a.summary
            );
            if a.flapping {
                out.push_str(" (flapping)");
            }
            let _ = write!(
                out,
                "\n  since {}",
                a.started_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            );
            if let Some(end) = a.ended_at {
                let _ = write!(out, ", resolved {}", end.strftime("%Y-%m-%d %H:%M:%S UTC"));
            }
            if a.unreached {
                out.push_str(" (fired and resolved while this notifier could not be reached)");
            }
            if let Some(r) = &a.runbook {
                let _ = write!(out, "\n  runbook: {r}");
            }
        }
        out
    }

    /// A notification for `gatehouse notify-test`.
    pub fn test_message(instance: &str) -> Notification {
        let now = Timestamp::now();
        let mut labels = BTreeMap::new();
        labels.insert("rule".to_string(), "notify-test".to_string());
        labels.insert("severity".to_string(), "info".to_string());
        Notification {
            version: 1,
            status: Status::Firing,
            reminder: false,
            test: true,
            group_key: "rule=notify-test".into(),
            dedup_key: dedup_key("rule=notify-test"),
            title: "[TEST] gatehouse notification test".into(),
            severity: Severity::Info,
            alerts: vec![Alert {
                id: 0,
                rule: "notify-test".into(),
                kind: "gatehouse".into(),
                subject: "notify-test".into(),
                severity: Severity::Info,
                status: Status::Firing,
                summary: "This is a test notification from gatehouse; no action is needed.".into(),
                value: String::new(),
                runbook: None,
                labels,
                started_at: now,
                ended_at: None,
                flapping: false,
                unreached: false,
            }],
            sent_at: now,
            instance: instance.to_string(),
        }
    }
}

/// A stable 64-bit FNV-1a hash of `key`, as 16 hex digits (the same on every build and
/// restart, unlike std's hasher).
pub fn dedup_key(key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
