//! The status page for every state, built from plain data: operational, degraded, partial and
//! major outage, maintenance; what visitors must never see; badges; the JSON.

#![allow(clippy::unwrap_used)]

use super::model::{build, component_level, probe_health, Health, Inputs, Level, ProbeData};
use super::{format, html, svg};
use gatehouse_alerting::{Announcement, Incident, IncidentUpdate};
use gatehouse_config::alerting::maintenance::{Maintenance, Schedule};
use gatehouse_config::alerting::Severity;
use gatehouse_config::status::{Component, StatusPageConfig};
use gatehouse_probes::store::Bucket;
use gatehouse_probes::{History, Range};
use jiff::Timestamp;
use std::collections::BTreeMap;

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn page() -> StatusPageConfig {
    let c = |name: &str, probes: &[&str], routes: &[&str]| Component {
        name: name.into(),
        slug: name.to_lowercase(),
        group: "Services".into(),
        description: None,
        probes: probes.iter().map(|s| s.to_string()).collect(),
        routes: routes.iter().map(|s| s.to_string()).collect(),
    };
    StatusPageConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        host: None,
        path: "/".into(),
        title: "Acme <status>".into(),
        description: None,
        show_errors: false,
        components: vec![
            c("API", &["api-a", "api-b"], &["api"]),
            c("Web", &["web"], &[]),
        ],
        connections: gatehouse_config::server::ConnectionLimits::STATUS_PAGE,
    }
}

fn history(checks: u64, failures: u64, range: Range) -> History {
    let day = now().as_second() - now().as_second() % 86400;
    History {
        probe: "x".into(),
        range,
        checks,
        failures,
        maintenance: 0,
        uptime: None,
        series: vec![Bucket {
            start: if matches!(range, Range::Day) {
                now().as_second() - 3600
            } else {
                day
            },
            checks,
            failures,
            avg_ms: 120.0,
            max_ms: 300.0,
            maintenance: 0,
        }],
        recent_failures: vec![],
    }
}

fn probes(states: &[(&str, Option<bool>)]) -> BTreeMap<String, ProbeData> {
    states
        .iter()
        .map(|(n, up)| {
            (
                n.to_string(),
                ProbeData {
                    up: *up,
                    streak: 1,
                    watched: true,
                    labels: BTreeMap::from([
                        ("group".to_string(), "default".to_string()),
                        ("kind".to_string(), "probe".to_string()),
                        ("subject".to_string(), n.to_string()),
                        (
                            "tier".to_string(),
                            if n.starts_with("api") {
                                "backend"
                            } else {
                                "frontend"
                            }
                            .to_string(),
                        ),
                    ]),
                    day: Some(history(1000, 1, Range::Day)),
                    week: Some(history(1000, 1, Range::Week)),
                    month: Some(history(1000, 1, Range::Month)),
                    quarter: Some(history(1000, 1, Range::Quarter)),
                },
            )
        })
        .collect()
}

fn incident(id: i64, kind: &str, subject: &str, open: bool) -> Incident {
    Incident {
        id,
        rule: "r".into(),
        kind: kind.into(),
        subject: subject.into(),
        severity: Severity::Critical,
        labels: BTreeMap::new(),
        summary: "api-a is down: connect to 10.0.0.7:8080 refused".into(),
        value: String::new(),
        cause: String::new(),
        runbook: None,
        started_at: "2026-11-23T11:00:00Z".parse().unwrap(),
        ended_at: (!open).then(|| "2026-11-23T11:30:00Z".parse().unwrap()),
        flapping: false,
        notified: true,
        queued: true,
        last_notified: None,
    }
}

fn render(
    states: &[(&str, Option<bool>)],
    incidents: &[Incident],
    maintenance: &[Maintenance],
    updates: &[IncidentUpdate],
    announcements: &[Announcement],
) -> (super::model::StatusView, String) {
    let cfg = page();
    let p = probes(states);
    let v = build(&Inputs {
        config: &cfg,
        maintenance,
        rules: &[],
        probes: &p,
        incidents,
        updates,
        announcements,
        now: now(),
    });
    let html = html::page(&v, "/");
    (v, html)
}

const ALL_UP: [(&str, Option<bool>); 3] = [
    ("api-a", Some(true)),
    ("api-b", Some(true)),
    ("web", Some(true)),
];

#[test]
fn operational() {
    let (v, page) = render(&ALL_UP, &[], &[], &[], &[]);
    assert_eq!(v.status, Level::Operational);
    assert!(page.contains(
        "<div class=\"banner ok\" role=\"status\" id=\"banner\">All systems operational</div>"
    ));
    assert!(page.contains("No incidents in the last 90 days."));
    assert!(
        page.contains("<title>Acme &lt;status&gt;</title>"),
        "escaped"
    );
    assert!(!page.contains("<status>"));
    let api = &v.groups[0].components[0];
    assert_eq!(api.days.len(), 90);
    assert_eq!(api.days[89].date, "2026-11-23");
    assert_eq!(api.days[89].uptime, Some(0.999));
    assert_eq!(format::percent(api.uptime.month), "99.90%");
    assert!(page.contains("<main>") && page.contains("<header>") && page.contains("<footer"));
    assert!(page.contains("aria-label=\"API: 90-day uptime 99.90%\""));
    assert!(
        page.contains("<title>2026-11-23: 99.90%</title>"),
        "a day's cell says its figure"
    );
}

#[test]
fn degraded_by_a_route_incident() {
    let (v, page) = render(&ALL_UP, &[incident(1, "route", "api", true)], &[], &[], &[]);
    assert_eq!(v.status, Level::Degraded);
    assert!(page.contains(">Degraded performance</div>"));
    assert_eq!(v.incidents[0].title, "API: degraded performance");
}

#[test]
fn partial_outage_when_one_of_two_probes_is_down() {
    let states = [
        ("api-a", Some(false)),
        ("api-b", Some(true)),
        ("web", Some(true)),
    ];
    let updates = [IncidentUpdate {
        id: 1,
        incident_id: 7,
        status: "identified".into(),
        message: "A node lost its disk; traffic moved.".into(),
        created_at: "2026-11-23T11:10:00Z".parse().unwrap(),
    }];
    let (v, page) = render(
        &states,
        &[incident(7, "probe", "api-a", true)],
        &[],
        &updates,
        &[],
    );
    assert_eq!(v.status, Level::PartialOutage);
    assert_eq!(v.groups[0].components[0].status, Level::PartialOutage);
    assert_eq!(v.groups[0].components[1].status, Level::Operational);
    assert!(page.contains(">Partial outage</div>"));
    assert!(page.contains("API: partial outage"));
    assert!(page.contains("A node lost its disk; traffic moved."));
    // Internal addresses and error texts stay private unless show_errors is set.
    assert!(!page.contains("10.0.0.7"), "{page}");
    assert!(v.incidents[0].details.is_none());
}

#[test]
fn major_outage_when_every_probe_is_down_and_errors_shown_only_when_configured() {
    let states = [
        ("api-a", Some(true)),
        ("api-b", Some(true)),
        ("web", Some(false)),
    ];
    let mut cfg = page();
    cfg.show_errors = true;
    let p = probes(&states);
    let incidents = [
        incident(3, "probe", "web", true),
        incident(2, "probe", "web", false),
    ];
    let v = build(&Inputs {
        config: &cfg,
        maintenance: &[],
        rules: &[],
        probes: &p,
        incidents: &incidents,
        updates: &[],
        announcements: &[],
        now: now(),
    });
    assert_eq!(v.status, Level::MajorOutage);
    assert_eq!(v.incidents.len(), 1);
    assert_eq!(v.history.len(), 1);
    assert_eq!(v.history[0].duration_seconds, 1800);
    assert_eq!(
        v.incidents[0].details.as_deref(),
        Some("api-a is down: connect to 10.0.0.7:8080 refused")
    );
    let page = html::page(&v, "/");
    assert!(page.contains(">Major outage</div>"));
    assert!(page.contains("resolved"), "history lists the past incident");
    let web = &v.groups[0].components[1];
    assert!(
        web.days[89].incidents[0].starts_with("Web: major outage"),
        "{:?}",
        web.days[89]
    );
}

#[test]
fn maintenance_shows_instead_of_an_outage_and_is_listed() {
    let states = [
        ("api-a", Some(true)),
        ("api-b", Some(true)),
        ("web", Some(false)),
    ];
    let m = Maintenance {
        name: "web-upgrade".into(),
        description: Some("Web server upgrade".into()),
        subjects: vec!["web".into()],
        labels: BTreeMap::new(),
        schedule: Schedule::Once {
            start: now().as_second() - 600,
            end: now().as_second() + 600,
        },
    };
    let later = Maintenance {
        name: "db".into(),
        description: None,
        subjects: vec!["api-a".into()],
        labels: BTreeMap::new(),
        schedule: Schedule::Once {
            start: now().as_second() + 86400,
            end: now().as_second() + 90000,
        },
    };
    // Alerts are quiet in the window, but the incident is recorded: it is what shows.
    let (v, page) = render(
        &states,
        &[incident(4, "probe", "web", true)],
        &[m, later],
        &[],
        &[],
    );
    assert_eq!(v.status, Level::Maintenance);
    assert!(page.contains(">Maintenance in progress</div>"));
    assert!(page.contains("Web server upgrade") && page.contains("In progress"));
    assert!(page.contains("Scheduled"), "the upcoming window is listed");
    assert_eq!(v.maintenance.len(), 2);
}

#[test]
fn announcements_and_badges() {
    let a = Announcement {
        id: 1,
        title: "New region".into(),
        body: "EU customers are served from Frankfurt.".into(),
        level: "info".into(),
        created_at: now(),
        ends_at: None,
    };
    let (v, page) = render(&ALL_UP, &[], &[], &[], &[a]);
    assert!(page.contains("EU customers are served from Frankfurt."));
    let api = &v.groups[0].components[0];
    let s = svg::status_badge(api);
    assert!(
        s.contains("aria-label=\"API: operational\"") && s.contains("#1a7f37"),
        "{s}"
    );
    assert!(svg::uptime_badge(api).contains("uptime 30d: 99.90%"));
    assert!(svg::response_badge(api).contains("response time: 120 ms"));
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["status"], "operational");
    assert_eq!(json["groups"][0]["components"][0]["uptime"]["30d"], 0.999);
}

#[test]
fn component_levels() {
    use Health::*;
    assert_eq!(
        component_level(&[Unknown, Unknown], &[], false),
        Level::Operational,
        "no data yet"
    );
    assert_eq!(component_level(&[Down], &[], true), Level::Maintenance);
    assert_eq!(component_level(&[Fine], &[], true), Level::Operational);
    assert_eq!(
        component_level(&[Down, Unknown], &[], false),
        Level::MajorOutage
    );
    assert_eq!(
        component_level(&[Down, Fine], &[], false),
        Level::PartialOutage
    );
}

#[test]
fn one_failed_check_is_not_an_outage_a_firing_alert_is() {
    let states = [
        ("api-a", Some(true)),
        ("api-b", Some(true)),
        ("web", Some(false)),
    ];
    // The check failed once; the rule has not fired (pending): still operational.
    let (v, _) = render(&states, &[], &[], &[], &[]);
    assert_eq!(v.status, Level::Operational);
    assert_eq!(v.groups[0].components[1].status, Level::Operational);
    // The rule fires: the outage.
    let (v, _) = render(&states, &[incident(1, "probe", "web", true)], &[], &[], &[]);
    assert_eq!(v.groups[0].components[1].status, Level::MajorOutage);
    // The probe's checks pass again but the incident is open (its success threshold is
    // not met yet): still the outage, as the alert says.
    let (v, _) = render(&ALL_UP, &[incident(1, "probe", "web", true)], &[], &[], &[]);
    assert_eq!(v.groups[0].components[1].status, Level::MajorOutage);
}

#[test]
fn an_unwatched_probe_counts_after_three_failures_in_a_row() {
    let mut data = ProbeData {
        up: Some(false),
        streak: 2,
        watched: false,
        ..ProbeData::default()
    };
    assert_eq!(probe_health("web", Some(&data), &[]), Health::Fine);
    data.streak = 3;
    assert_eq!(probe_health("web", Some(&data), &[]), Health::Down);
    data.watched = true;
    assert_eq!(
        probe_health("web", Some(&data), &[]),
        Health::Fine,
        "a watched probe waits for its rule"
    );
    assert_eq!(probe_health("web", None, &[]), Health::Unknown);
}

#[test]
fn a_maintenance_window_scoped_by_labels_shows_only_where_it_applies() {
    let m = Maintenance {
        name: "backend-patching".into(),
        description: Some("Patching the API nodes".into()),
        subjects: vec![],
        labels: BTreeMap::from([("tier".to_string(), "backend".to_string())]),
        schedule: Schedule::Once {
            start: now().as_second() - 600,
            end: now().as_second() + 600,
        },
    };
    // Both components have a firing incident; only the API's probes carry `tier: backend`.
    let states = [
        ("api-a", Some(false)),
        ("api-b", Some(false)),
        ("web", Some(false)),
    ];
    let open = [
        incident(1, "probe", "api-a", true),
        incident(2, "probe", "api-b", true),
        incident(3, "probe", "web", true),
    ];
    let (v, _) = render(&states, &open, &[m], &[], &[]);
    assert_eq!(v.groups[0].components[0].status, Level::Maintenance);
    assert_eq!(
        v.groups[0].components[1].status,
        Level::MajorOutage,
        "the window does not cover Web"
    );
    assert_eq!(v.maintenance.len(), 1);
    assert_eq!(v.maintenance[0].components, ["API"]);
}

/// An incident that began inside a window covering it is planned work: the page shows the
/// maintenance (component state, a blue day in the bar), not an incident, and the day's uptime
/// leaves the maintenance checks out.
#[test]
fn planned_work_is_maintenance_not_an_incident_and_not_downtime() {
    let m = Maintenance {
        name: "backend-patching".into(),
        description: None,
        subjects: vec![],
        labels: BTreeMap::from([("tier".to_string(), "backend".to_string())]),
        schedule: Schedule::Once {
            start: now().as_second() - 7200,
            end: now().as_second() + 600,
        },
    };
    let backend = |mut i: Incident| {
        i.labels.insert("tier".into(), "backend".into());
        i
    };
    let open = [
        backend(incident(1, "probe", "api-a", true)),
        backend(incident(2, "probe", "api-b", true)),
        incident(3, "probe", "web", true),
    ];
    let states = [
        ("api-a", Some(false)),
        ("api-b", Some(false)),
        ("web", Some(false)),
    ];
    let cfg = page();
    let mut p = probes(&states);
    // The API's checks today: 10 counted (none failed), 50 during the maintenance.
    for name in ["api-a", "api-b"] {
        let d = p.get_mut(name).unwrap();
        let mut h = history(10, 0, Range::Quarter);
        h.maintenance = 50;
        h.series[0].maintenance = 50;
        d.quarter = Some(h);
    }
    let v = build(&Inputs {
        config: &cfg,
        maintenance: &[m],
        rules: &[],
        probes: &p,
        incidents: &open,
        updates: &[],
        announcements: &[],
        now: now(),
    });
    let titles: Vec<&str> = v.incidents.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Web: major outage"],
        "planned work is not an incident"
    );
    let api = &v.groups[0].components[0];
    assert_eq!(api.status, Level::Maintenance);
    let today = api.days.last().unwrap();
    assert_eq!((today.uptime, today.maintenance), (Some(1.0), 100));
    assert!(today.incidents.is_empty(), "{:?}", today.incidents);
    let bar = super::svg::uptime_bar(api).into_string();
    assert!(bar.contains("rect class=\"maint\""), "{bar}");
    assert!(bar.contains("; maintenance"), "{bar}");
    let web = &v.groups[0].components[1];
    let bar = super::svg::uptime_bar(web).into_string();
    assert!(!bar.contains("maint"), "{bar}");
}

/// A rule's `impact` says what its incident does to a component: a probe rule with
/// `impact: degraded` (a slow check) degrades; a plain probe rule is the outage.
#[test]
fn a_rule_with_impact_degraded_degrades_and_a_probe_rule_is_the_outage() {
    let config = gatehouse_config::Config::from_yaml(
        "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]
upstreams:
  app: { backends: [{ address: \"127.0.0.1:3000\" }] }
routes: [{ name: app, upstream: app }]
probes:
  - { name: web, http: { url: \"http://127.0.0.1:3000/\" } }
alerting:
  rules:
    - { name: down, probe: web }
    - { name: slow, probe: web, impact: degraded }
",
    )
    .unwrap();
    let rules = &config.alerting.rules;
    let cfg = page();
    let states = [
        ("api-a", Some(true)),
        ("api-b", Some(true)),
        ("web", Some(false)),
    ];
    let p = probes(&states);
    let mut slow = incident(1, "probe", "web", true);
    slow.rule = "slow".into();
    let mut down = incident(2, "probe", "web", true);
    down.rule = "down".into();
    let view = |incidents: &[Incident]| {
        build(&Inputs {
            config: &cfg,
            maintenance: &[],
            rules,
            probes: &p,
            incidents,
            updates: &[],
            announcements: &[],
            now: now(),
        })
    };
    let v = view(std::slice::from_ref(&slow));
    assert_eq!(v.groups[0].components[1].status, Level::Degraded);
    assert_eq!(v.incidents[0].title, "Web: degraded performance");
    let v = view(&[slow, down]);
    assert_eq!(v.groups[0].components[1].status, Level::MajorOutage);
}

/// An incident that outlasts the maintenance window it began in is an incident after all.
#[test]
fn an_incident_outlasting_its_window_is_an_incident() {
    let m = Maintenance {
        name: "backend-patching".into(),
        description: None,
        subjects: vec![],
        labels: BTreeMap::from([("tier".to_string(), "backend".to_string())]),
        schedule: Schedule::Once {
            // 10:30 to 11:30; the incident began at 11:00 and is still open at 12:00.
            start: now().as_second() - 5400,
            end: now().as_second() - 1800,
        },
    };
    let mut i = incident(1, "probe", "api-a", true);
    i.labels.insert("tier".into(), "backend".into());
    let states = [
        ("api-a", Some(false)),
        ("api-b", Some(true)),
        ("web", Some(true)),
    ];
    let (v, _) = render(&states, &[i], &[m], &[], &[]);
    assert_eq!(
        v.incidents.len(),
        1,
        "the window is over, the outage is not"
    );
    assert_eq!(v.groups[0].components[0].status, Level::PartialOutage);
}
