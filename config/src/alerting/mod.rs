//! `alerting`: rules over probe results, route signals, certificates and gatehouse itself;
//! how incidents are grouped, reminded and suppressed; and the notifiers they are sent to.

pub(crate) mod compile;
pub mod maintenance;
pub mod notifiers;
pub(crate) mod raw;
pub mod rules;
#[cfg(test)]
mod tests;

use maintenance::Maintenance;
use notifiers::Notifier;
use rules::Rule;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// How urgent an alert is; routes pick notifiers by it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Someone should look now.
    Critical,
    /// Someone should look soon.
    Warning,
    /// For the record.
    Info,
}

impl Severity {
    /// `critical`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `alerting` section, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingConfig {
    /// How often route, certificate and self rules are evaluated (probe rules run on every
    /// result).
    pub evaluation_interval: Duration,
    /// Wait after the first alert of a new group before sending, to collect the others.
    pub group_wait: Duration,
    /// Shortest gap between two notifications of one group.
    pub group_interval: Duration,
    /// Reminder interval while a group has firing alerts; zero turns reminders off.
    pub repeat_interval: Duration,
    /// Labels whose values form the group key.
    pub group_by: Vec<String>,
    /// Send a notification when an incident resolves.
    pub send_resolved: bool,
    /// Flapping guard.
    pub flapping: Flapping,
    /// How notifications are retried until a notifier takes them.
    pub delivery: DeliveryPolicy,
    /// The rules, defaults first (unless `default_rules: false`).
    pub rules: Vec<Rule>,
    /// Maintenance windows.
    pub maintenance: Vec<Maintenance>,
    /// The notifiers incidents can be sent to.
    pub notifiers: Vec<Notifier>,
    /// Which notifications go to which notifiers; empty sends everything everywhere.
    pub routes: Vec<NotifyRoute>,
    /// Inhibit rules: a firing source alert keeps matching target alerts quiet.
    pub inhibit: Vec<Inhibit>,
}

/// An inhibit rule, as in Alertmanager: while an alert whose labels match `source` fires,
/// alerts whose labels match `target` and that have the same values of every `equal` label
/// are not notified (they are still recorded). An alert never inhibits itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inhibit {
    /// Labels (exact values) of the inhibiting alert.
    pub source: BTreeMap<String, String>,
    /// Labels (exact values) of the inhibited alerts.
    pub target: BTreeMap<String, String>,
    /// Labels whose values must be the same on both.
    pub equal: Vec<String>,
}

impl Inhibit {
    /// Whether a firing alert with `source` labels inhibits one with `target` labels.
    pub fn inhibits(
        &self,
        source: &BTreeMap<String, String>,
        target: &BTreeMap<String, String>,
    ) -> bool {
        let all = |want: &BTreeMap<String, String>, have: &BTreeMap<String, String>| {
            want.iter().all(|(k, v)| have.get(k) == Some(v))
        };
        all(&self.source, source)
            && all(&self.target, target)
            && self.equal.iter().all(|l| source.get(l) == target.get(l))
    }
}

/// Flap control. A subject's last `window` checks are kept; their weighted share of state
/// changes (Nagios' "percent state change": newer changes weigh more) marks it flapping at
/// `high` percent and stable again below `low`, the gap keeping it from toggling. While
/// flapping, its incident stays open: one notification says it flaps, and no firing/resolved
/// pairs go out until it is stable. `settle` holds a recovery for a while before the incident
/// resolves, so the up-phase of a flap does not send a resolve before the flapping is seen.
/// The older guard stays: an incident that opens `threshold` times within `period` is held
/// open, marked flapping, until its subject has been healthy for a whole `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flapping {
    /// Openings within `period` that make an incident flapping; 0 turns that guard off.
    pub threshold: u32,
    /// The period of the openings guard.
    pub period: Duration,
    /// Checks in the state history (at most [`Flapping::MAX_WINDOW`]); 0 turns the rate off.
    pub window: u32,
    /// Percent state change at or above which a subject is flapping.
    pub high: u32,
    /// Percent state change below which a flapping subject is stable again.
    pub low: u32,
    /// How long a recovered subject must stay good before its incident resolves.
    pub settle: Duration,
}

impl Flapping {
    /// The longest state history (it fits in a 128-bit register per subject).
    pub const MAX_WINDOW: u32 = 100;
}

/// Every notification is kept in the alert store until its notifier accepts it: failed
/// attempts are retried after `backoff`, doubling up to `max_backoff` (or later when the
/// notifier says `Retry-After`), until `expiry` has passed since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// The wait after the first failed attempt.
    pub backoff: Duration,
    /// The longest wait between two attempts (a `Retry-After` may ask for more, up to an hour).
    pub max_backoff: Duration,
    /// How long an undelivered notification is kept trying.
    pub expiry: Duration,
}

/// Sends matching notifications to `notifiers`.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyRoute {
    /// Only these severities (empty: any).
    pub severities: Vec<Severity>,
    /// Only alerts with every one of these labels (exact values).
    pub labels: BTreeMap<String, String>,
    /// Notifier names.
    pub notifiers: Vec<String>,
    /// Go on matching later routes after this one matched.
    pub continue_matching: bool,
}
