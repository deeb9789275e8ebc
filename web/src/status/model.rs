//! What the status page shows, derived from probe states and history, incidents, operator
//! updates, announcements and maintenance windows. Pure functions over plain data, so every
//! state can be tested without a server.

use gatehouse_alerting::{Announcement, Incident, IncidentUpdate};
use gatehouse_config::alerting::maintenance::Maintenance;
use gatehouse_config::alerting::rules::{Impact, Rule};
use gatehouse_config::status::{Component, StatusPageConfig};
use gatehouse_probes::store::Bucket;
use gatehouse_probes::History;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::Serialize;
use std::collections::BTreeMap;

/// A component's (or the whole page's) state, least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Level {
    Operational,
    Maintenance,
    Degraded,
    PartialOutage,
    MajorOutage,
}

impl Level {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Level::Operational => "Operational",
            Level::Maintenance => "Under maintenance",
            Level::Degraded => "Degraded performance",
            Level::PartialOutage => "Partial outage",
            Level::MajorOutage => "Major outage",
        }
    }

    pub(crate) fn banner(self) -> &'static str {
        match self {
            Level::Operational => "All systems operational",
            Level::Maintenance => "Maintenance in progress",
            Level::Degraded => "Degraded performance",
            Level::PartialOutage => "Partial outage",
            Level::MajorOutage => "Major outage",
        }
    }

    pub(crate) fn css(self) -> &'static str {
        match self {
            Level::Operational => "ok",
            Level::Maintenance => "maint",
            Level::Degraded => "degraded",
            Level::PartialOutage => "partial",
            Level::MajorOutage => "major",
        }
    }
}

/// A component's uptime over the four ranges (ratios 0..1).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Uptime {
    #[serde(rename = "24h")]
    pub day: Option<f64>,
    #[serde(rename = "7d")]
    pub week: Option<f64>,
    #[serde(rename = "30d")]
    pub month: Option<f64>,
    #[serde(rename = "90d")]
    pub quarter: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Day {
    /// `2026-11-23` (UTC).
    pub date: String,
    pub uptime: Option<f64>,
    /// Checks taken during maintenance that day (left out of `uptime`); the bar shows such a
    /// day as maintenance unless it also had failures outside it.
    pub maintenance: u64,
    /// Titles of the incidents that touched the day.
    pub incidents: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Point {
    pub at: Timestamp,
    pub ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ComponentView {
    pub name: String,
    pub slug: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub status: Level,
    pub uptime: Uptime,
    /// The last 90 days, oldest first.
    pub days: Vec<Day>,
    /// Hourly mean response time over the last 24 hours.
    pub response_time: Vec<Point>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Group {
    pub name: String,
    pub components: Vec<ComponentView>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Update {
    pub status: String,
    pub message: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PublicIncident {
    pub id: i64,
    pub title: String,
    pub components: Vec<String>,
    pub impact: Level,
    pub started_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    pub duration_seconds: u64,
    pub updates: Vec<Update>,
    /// The alert's summary, only with `show_errors: true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct MaintenanceView {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub active: bool,
    pub components: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatusView {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub generated_at: Timestamp,
    pub status: Level,
    pub status_text: String,
    pub groups: Vec<Group>,
    pub incidents: Vec<PublicIncident>,
    pub maintenance: Vec<MaintenanceView>,
    pub history: Vec<PublicIncident>,
    pub announcements: Vec<Announcement>,
}

/// Per probe: its last state, whether an alert rule watches it, and its history over the
/// four ranges.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProbeData {
    /// The last check (`None`: no check yet).
    pub up: Option<bool>,
    /// Checks in a row with that state.
    pub streak: u64,
    /// A probe rule covers it: its incidents, not its checks, say whether it is down.
    pub watched: bool,
    /// The labels its alerts carry (`group`, `kind`, `subject` and its own), for
    /// maintenance windows scoped by labels.
    pub labels: BTreeMap<String, String>,
    pub day: Option<History>,
    pub week: Option<History>,
    pub month: Option<History>,
    pub quarter: Option<History>,
}

/// Everything a view is made from.
pub(crate) struct Inputs<'a> {
    pub config: &'a StatusPageConfig,
    pub maintenance: &'a [Maintenance],
    /// The alert rules, for the impact of their incidents.
    pub rules: &'a [Rule],
    pub probes: &'a BTreeMap<String, ProbeData>,
    /// Incidents of the last 90 days (open ones included).
    pub incidents: &'a [Incident],
    pub updates: &'a [IncidentUpdate],
    pub announcements: &'a [Announcement],
    pub now: Timestamp,
}

/// How many resolved incidents the history lists.
const HISTORY: usize = 20;

fn covers(c: &Component, subject: &str, kind: &str) -> bool {
    match kind {
        "probe" => c.probes.iter().any(|p| p == subject),
        "route" => c.routes.iter().any(|r| r == subject),
        _ => false,
    }
}

/// Whether `m` covers a probe or route of `c`: by name (`subjects`) and by the labels its
/// alerts carry (`labels`), both when given, as alerting decides what a window keeps quiet.
fn maintenance_covers(
    m: &Maintenance,
    c: &Component,
    probes: &BTreeMap<String, ProbeData>,
) -> bool {
    let probe = c.probes.iter().any(|p| {
        let own = probes.get(p).map(|d| d.labels.clone()).unwrap_or_default();
        m.covers(p, &own)
    });
    let route = c.routes.iter().any(|r| {
        let labels = BTreeMap::from([
            ("kind".to_string(), "route".to_string()),
            ("subject".to_string(), r.clone()),
            ("group".to_string(), "routes".to_string()),
        ]);
        m.covers(r, &labels)
    });
    probe || route
}

/// Whether an incident is planned work: it began inside a maintenance window that covers it
/// (as alerting decides, by its subject and labels) and ended within that window, or the
/// window is still on. Shown as the maintenance, not as an incident; one that outlasts its
/// window is an incident after all.
fn planned(i: &Incident, windows: &[Maintenance], now: Timestamp) -> bool {
    let end = i.ended_at.unwrap_or(now);
    windows.iter().any(|m| {
        m.covers(&i.subject, &i.labels)
            && m.window(i.started_at)
                .is_some_and(|(s, e)| s <= i.started_at && end <= e)
    })
}

/// An unwatched probe (no alert rule covers it) counts as down after this many failed checks
/// in a row, as the built-in `probe-down` rule would say.
const UNWATCHED_THRESHOLD: u64 = 3;

/// How one probe of a component is doing, from the alerts about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Health {
    /// No check yet.
    Unknown,
    /// No incident (a failing check that has not reached its rule's threshold included).
    Fine,
    /// An open incident (or, unwatched, failing long enough).
    Down,
}

/// A probe's health: its open outage incidents when a rule watches it, else its failure
/// streak.
pub(crate) fn probe_health(name: &str, data: Option<&ProbeData>, open: &[&Incident]) -> Health {
    if open.iter().any(|i| i.kind == "probe" && i.subject == name) {
        return Health::Down;
    }
    match data {
        None | Some(ProbeData { up: None, .. }) => Health::Unknown,
        Some(d) if !d.watched && d.up == Some(false) && d.streak >= UNWATCHED_THRESHOLD => {
            Health::Down
        }
        Some(_) => Health::Fine,
    }
}

/// Whether an incident takes its subject down (its rule's `impact`, by default: probe rules)
/// rather than degrading it (route rules, certificates, `impact: degraded`).
fn outage(i: &Incident, rules: &[Rule]) -> bool {
    rules
        .iter()
        .find(|r| r.name == i.rule)
        .map_or(i.kind == "probe", |r| r.impact == Impact::Outage)
}

/// The state of one component: an outage when its probes' outage alerts fire (major when all
/// of them), degraded while one of `degrading` (its other open incidents) is open; never by
/// one failed check.
pub(crate) fn component_level(
    probes: &[Health],
    degrading: &[&Incident],
    in_maintenance: bool,
) -> Level {
    let known = probes.iter().filter(|h| **h != Health::Unknown).count();
    let down = probes.iter().filter(|h| **h == Health::Down).count();
    let degraded = !degrading.is_empty();
    let level = if down > 0 && down == known {
        Level::MajorOutage
    } else if down > 0 {
        Level::PartialOutage
    } else if degraded {
        Level::Degraded
    } else {
        Level::Operational
    };
    if in_maintenance && level > Level::Operational {
        Level::Maintenance
    } else {
        level
    }
}

fn ratio(checks: u64, failures: u64) -> Option<f64> {
    (checks > 0).then(|| (checks - failures.min(checks)) as f64 / checks as f64)
}

fn combined(histories: &[&History]) -> Option<f64> {
    let checks: u64 = histories.iter().map(|h| h.checks).sum();
    let failures: u64 = histories.iter().map(|h| h.failures).sum();
    ratio(checks, failures)
}

/// Buckets of several probes summed.
#[derive(Debug, Default, Clone, Copy)]
struct Sum {
    checks: u64,
    failures: u64,
    latency_sum_ms: f64,
    maintenance: u64,
}

/// Buckets of several probes summed by start.
fn merge<'a>(series: impl Iterator<Item = &'a Bucket>) -> BTreeMap<i64, Sum> {
    let mut out: BTreeMap<i64, Sum> = BTreeMap::new();
    for b in series {
        let e = out.entry(b.start).or_default();
        e.checks += b.checks;
        e.failures += b.failures;
        e.latency_sum_ms += b.avg_ms * b.checks as f64;
        e.maintenance += b.maintenance;
    }
    out
}

fn incident_title(c_names: &[String], impact: Level) -> String {
    format!("{}: {}", c_names.join(", "), impact.label().to_lowercase())
}

pub(crate) fn build(input: &Inputs<'_>) -> StatusView {
    let now = input.now;
    let cfg = input.config;
    let open: Vec<&Incident> = input
        .incidents
        .iter()
        .filter(|i| i.ended_at.is_none())
        .collect();
    let mut groups: Vec<Group> = Vec::new();
    let mut levels: BTreeMap<&str, Level> = BTreeMap::new();
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    for c in &cfg.components {
        let data: Vec<&ProbeData> = c
            .probes
            .iter()
            .filter_map(|p| input.probes.get(p))
            .collect();
        let mine: Vec<&Incident> = open
            .iter()
            .copied()
            .filter(|i| covers(c, &i.subject, &i.kind))
            .collect();
        let in_maintenance = input
            .maintenance
            .iter()
            .any(|m| maintenance_covers(m, c, input.probes) && m.active(now));
        let (outages, degrading): (Vec<&Incident>, Vec<&Incident>) =
            mine.iter().partition(|i| outage(i, input.rules));
        let health: Vec<Health> = c
            .probes
            .iter()
            .map(|p| probe_health(p, input.probes.get(p), &outages))
            .collect();
        let level = component_level(&health, &degrading, in_maintenance);
        levels.insert(c.name.as_str(), level);
        let pick = |f: fn(&ProbeData) -> Option<&History>| -> Vec<&History> {
            data.iter().filter_map(|d| f(d)).collect()
        };
        let uptime = Uptime {
            day: combined(&pick(|d| d.day.as_ref())),
            week: combined(&pick(|d| d.week.as_ref())),
            month: combined(&pick(|d| d.month.as_ref())),
            quarter: combined(&pick(|d| d.quarter.as_ref())),
        };
        let daily = merge(
            pick(|d| d.quarter.as_ref())
                .into_iter()
                .flat_map(|h| h.series.iter()),
        );
        let all_mine: Vec<&Incident> = input
            .incidents
            .iter()
            .filter(|i| covers(c, &i.subject, &i.kind) && !planned(i, input.maintenance, now))
            .collect();
        let days = (0..90)
            .rev()
            .filter_map(|back: i64| {
                let date = today.checked_sub(back.days()).ok()?;
                let start = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
                let end = start.checked_add(SignedDuration::from_hours(24)).ok()?;
                let bucket = daily.get(&start.as_second());
                let uptime = bucket.and_then(|b| ratio(b.checks, b.failures));
                let maintenance = bucket.map_or(0, |b| b.maintenance);
                let incidents = all_mine
                    .iter()
                    .filter(|i| i.started_at < end && i.ended_at.is_none_or(|e| e >= start))
                    .map(|i| {
                        format!(
                            "{} ({})",
                            incident_title(
                                std::slice::from_ref(&c.name),
                                impact_of(i, c, input.rules)
                            ),
                            crate::status::format::duration_text(i.duration(now))
                        )
                    })
                    .collect();
                Some(Day {
                    date: date.to_string(),
                    uptime,
                    maintenance,
                    incidents,
                })
            })
            .collect();
        let response_time = merge(
            pick(|d| d.day.as_ref())
                .into_iter()
                .flat_map(|h| h.series.iter()),
        )
        .into_iter()
        .filter(|(_, b)| b.checks > 0)
        .filter_map(|(start, b)| {
            Some(Point {
                at: Timestamp::from_second(start).ok()?,
                ms: b.latency_sum_ms / b.checks as f64,
            })
        })
        .collect();
        let view = ComponentView {
            name: c.name.clone(),
            slug: c.slug.clone(),
            description: c.description.clone(),
            status: level,
            uptime,
            days,
            response_time,
        };
        match groups.iter_mut().find(|g| g.name == c.group) {
            Some(g) => g.components.push(view),
            None => groups.push(Group {
                name: c.group.clone(),
                components: vec![view],
            }),
        }
    }
    let status = levels.values().copied().max().unwrap_or(Level::Operational);
    let public = |i: &Incident| -> Option<PublicIncident> {
        let hit: Vec<&Component> = cfg
            .components
            .iter()
            .filter(|c| covers(c, &i.subject, &i.kind))
            .collect();
        let impact = hit.iter().map(|c| impact_of(i, c, input.rules)).max()?;
        let components: Vec<String> = hit.iter().map(|c| c.name.clone()).collect();
        Some(PublicIncident {
            id: i.id,
            title: incident_title(&components, impact),
            components,
            impact,
            started_at: i.started_at,
            ended_at: i.ended_at,
            duration_seconds: i.duration(now).as_secs(),
            updates: input
                .updates
                .iter()
                .filter(|u| u.incident_id == i.id)
                .map(|u| Update {
                    status: u.status.clone(),
                    message: u.message.clone(),
                    at: u.created_at,
                })
                .rev()
                .collect(),
            details: cfg.show_errors.then(|| i.summary.clone()),
        })
    };
    let incidents: Vec<PublicIncident> = open
        .iter()
        .filter(|i| !planned(i, input.maintenance, now))
        .filter_map(|i| public(i))
        .collect();
    let mut history: Vec<PublicIncident> = input
        .incidents
        .iter()
        .filter(|i| i.ended_at.is_some() && !planned(i, input.maintenance, now))
        .filter_map(public)
        .collect();
    history.sort_by_key(|i| std::cmp::Reverse(i.started_at));
    history.truncate(HISTORY);
    let horizon = now
        .checked_add(SignedDuration::from_hours(14 * 24))
        .unwrap_or(now);
    let maintenance = input
        .maintenance
        .iter()
        .filter_map(|m| {
            let components: Vec<String> = cfg
                .components
                .iter()
                .filter(|c| maintenance_covers(m, c, input.probes))
                .map(|c| c.name.clone())
                .collect();
            let (s, e) = m.window(now)?;
            (!components.is_empty() && s <= horizon).then(|| MaintenanceView {
                name: m.name.clone(),
                description: m.description.clone(),
                starts_at: s,
                ends_at: e,
                active: s <= now,
                components,
            })
        })
        .collect();
    StatusView {
        title: cfg.title.clone(),
        description: cfg.description.clone(),
        generated_at: now,
        status,
        status_text: status.banner().to_string(),
        groups,
        incidents,
        maintenance,
        history,
        announcements: input.announcements.to_vec(),
    }
}

/// What an incident did to its component: a probe alert is an outage (major when it is the
/// component's only probe), a route alert a degradation.
fn impact_of(i: &Incident, c: &Component, rules: &[Rule]) -> Level {
    if !outage(i, rules) {
        return Level::Degraded;
    }
    match i.kind.as_str() {
        "probe" if c.probes.len() <= 1 => Level::MajorOutage,
        "probe" => Level::PartialOutage,
        _ => Level::Degraded,
    }
}
