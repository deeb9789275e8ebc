//! `alerting.rules`: what each rule watches (probes, route signals, certificates, gatehouse
//! itself), its threshold and timing; the built-in defaults.

pub(crate) mod compile;

use super::Severity;
use std::collections::BTreeMap;
use std::time::Duration;

/// One alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name; the `rule` label.
    pub name: String,
    /// What it watches.
    pub kind: RuleKind,
    /// Severity.
    pub severity: Severity,
    /// Extra labels on its alerts.
    pub labels: BTreeMap<String, String>,
    /// Summary template: `{subject}`, `{value}`, `{rule}`, `{severity}` and
    /// `{labels.NAME}` are replaced.
    pub summary: String,
    /// Runbook link.
    pub runbook: Option<String>,
    /// Built in (not written in the file).
    pub builtin: bool,
    /// What its incidents mean on the status page.
    pub impact: Impact,
}

/// What a rule's incident does to the status page components it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impact {
    /// An outage (partial or major by how many of the component's probes): the default of
    /// probe rules.
    Outage,
    /// Degraded performance: the default of every other rule (a route's error ratio or
    /// latency, a certificate soon to expire).
    Degraded,
}

impl Impact {
    /// The default for a rule of `kind`.
    pub fn default_for(kind: &RuleKind) -> Impact {
        match kind {
            RuleKind::Probe { .. } => Impact::Outage,
            _ => Impact::Degraded,
        }
    }
}

/// Which subjects a rule covers: one name, or every one (`*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every subject of the kind.
    All,
    /// These names.
    Names(Vec<String>),
}

impl Target {
    /// Whether `name` is covered.
    pub fn covers(&self, name: &str) -> bool {
        match self {
            Target::All => true,
            Target::Names(n) => n.iter().any(|x| x == name),
        }
    }
}

/// How many checks must agree before a probe rule fires or resolves: `count` in a row, or
/// (for targets that fail intermittently, never twice in a row) `count` of the last `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    /// Checks that must agree.
    pub count: u32,
    /// Out of the last this many; `None`: in a row.
    pub of: Option<u32>,
}

impl Threshold {
    /// The longest `of` (a subject's history is kept in 128 bits).
    pub const MAX_OF: u32 = 100;

    /// `count` checks in a row.
    pub const fn consecutive(count: u32) -> Threshold {
        Threshold { count, of: None }
    }
}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// A probe is down for `failure_threshold` checks (in a row, or k of the last n); it
    /// resolves after `success_threshold` good checks.
    Probe {
        /// The probes.
        probes: Target,
        /// Only probes of these groups (empty: any).
        groups: Vec<String>,
        /// Failed checks before firing.
        failure_threshold: Threshold,
        /// Good checks before resolving.
        success_threshold: Threshold,
    },
    /// A live route signal compared with a threshold for `for`.
    Route {
        /// The routes.
        routes: Target,
        /// The signal.
        signal: Signal,
        /// Comparison.
        op: Cmp,
        /// Threshold (a ratio 0..1, seconds, or requests per second).
        threshold: f64,
        /// The window the signal is read over.
        window: SignalWindow,
        /// How long the comparison must hold before firing.
        hold: Duration,
        /// Windows with fewer requests than this are not judged.
        min_requests: u64,
    },
    /// A served certificate expires within `within`.
    CertificateExpiry {
        /// The certificates (their first name).
        names: Target,
        /// How close expiry may come.
        within: Duration,
    },
    /// ACME renewal has failed `failures` times in a row.
    AcmeFailing {
        /// The certificates.
        names: Target,
        /// Consecutive failures before firing.
        failures: u32,
    },
    /// gatehouse itself.
    Gatehouse {
        /// Which check.
        check: SelfCheck,
    },
}

impl RuleKind {
    /// `probe`, `route`, `certificate` or `gatehouse`.
    pub fn family(&self) -> &'static str {
        match self {
            RuleKind::Probe { .. } => "probe",
            RuleKind::Route { .. } => "route",
            RuleKind::CertificateExpiry { .. } | RuleKind::AcmeFailing { .. } => "certificate",
            RuleKind::Gatehouse { .. } => "gatehouse",
        }
    }
}

/// A route signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// 5xx responses / requests.
    ErrorRatio,
    /// 4xx responses / requests.
    ClientErrorRatio,
    /// Median latency, seconds.
    P50,
    /// 95th percentile latency, seconds.
    P95,
    /// 99th percentile latency, seconds.
    P99,
    /// Requests per second.
    RequestRate,
    /// Cache hits / (hits + misses).
    CacheHitRatio,
}

impl Signal {
    /// The name used in `when:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::ErrorRatio => "error_ratio",
            Signal::ClientErrorRatio => "client_error_ratio",
            Signal::P50 => "p50",
            Signal::P95 => "p95",
            Signal::P99 => "p99",
            Signal::RequestRate => "request_rate",
            Signal::CacheHitRatio => "cache_hit_ratio",
        }
    }
}

/// The live windows a route rule can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalWindow {
    /// The last minute.
    OneMinute,
    /// The last five minutes.
    FiveMinutes,
    /// The last hour.
    OneHour,
}

/// Comparison of a signal with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Cmp {
    /// Whether `value OP threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Cmp::Gt => value > threshold,
            Cmp::Ge => value >= threshold,
            Cmp::Lt => value < threshold,
            Cmp::Le => value <= threshold,
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
        }
    }
}

/// The checks of gatehouse itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfCheck {
    /// The last config reload failed (the old config is still serving).
    ReloadFailed,
    /// The probe/alert store fails to write.
    StoreFailing,
    /// A notifier's last delivery failed after its retries.
    NotifierFailing,
}

impl SelfCheck {
    /// The name used in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            SelfCheck::ReloadFailed => "reload_failed",
            SelfCheck::StoreFailing => "store_failing",
            SelfCheck::NotifierFailing => "notifier_failing",
        }
    }
}
