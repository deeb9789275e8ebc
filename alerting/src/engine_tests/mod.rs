//! The engine with a test clock: thresholds, grouping, reminders, dependencies, maintenance,
//! silences, flapping and a restart, all through `Engine` and a real (in-memory or file)
//! SQLite store.

#![allow(clippy::unwrap_used)]

use crate::dispatch::Outgoing;
use crate::engine::Engine;
use crate::facts::ProbeEvent;
use crate::metrics::AlertMetrics;
use crate::notification::Status;
use crate::silence::Silence;
use crate::store::AlertStore;
use gatehouse_config::Config;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

fn config(alerting: &str, probes: &str) -> Arc<Config> {
    let yaml = format!(
        "listeners: [{{ name: http, address: \"127.0.0.1:0\" }}]
upstreams:
  app: {{ backends: [{{ address: \"127.0.0.1:9\" }}] }}
routes:
  - {{ name: app, upstream: app }}
probes:
{probes}
alerting:
{alerting}
"
    );
    Arc::new(Config::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}")))
}

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}

fn engine(c: Arc<Config>, store: AlertStore, now: Timestamp) -> Engine {
    let metrics = AlertMetrics::register(&prometheus::Registry::new()).unwrap();
    Engine::new(c, store, metrics, now)
}

fn ev(probe: &str, up: bool, at: Timestamp) -> ProbeEvent {
    ProbeEvent {
        probe: probe.into(),
        up,
        reason: if up {
            String::new()
        } else {
            "`status < 400`: status was 503".into()
        },
        at,
    }
}

const PROBES: &str = "  - { name: db, group: core, tcp: { address: \"127.0.0.1:9\" } }
  - { name: api, group: core, depends_on: [db], http: { url: \"http://127.0.0.1:9/\" } }
  - { name: web, group: edge, http: { url: \"http://127.0.0.1:9/\" } }";

const BASE: &str = "  default_rules: false
  group_wait: 2s
  group_interval: 10s
  repeat_interval: 60s
  flapping: { threshold: 0 }
  notifiers: [{ name: hook, type: webhook, url: \"http://127.0.0.1:9/\" }]
  rules:
    - { name: down, probe: \"*\", failure_threshold: 2, success_threshold: 1, severity: critical }";

/// Run the engine's flush every second from `from` to `to` (inclusive), collecting what goes out.
fn run(e: &mut Engine, from: i64, to: i64) -> Vec<(i64, Outgoing)> {
    let mut out = Vec::new();
    for s in from..=to {
        for o in e.flush(t(s)).outgoing {
            out.push((s, o));
        }
    }
    out
}

#[test]
fn threshold_notification_reminder_and_resolve() {
    let mut e = engine(config(BASE, PROBES), AlertStore::open(None).unwrap(), t(0));
    e.on_probe(&ev("web", false, t(0)));
    assert!(
        run(&mut e, 0, 5).is_empty(),
        "one failure is below the threshold"
    );
    e.on_probe(&ev("web", false, t(5)));
    let sent = run(&mut e, 5, 8);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (at, o) = &sent[0];
    assert_eq!(*at, 7, "after group_wait");
    assert_eq!(o.notifier, "hook");
    assert_eq!(o.notification.status, Status::Firing);
    assert_eq!(
        o.notification.alerts[0].summary,
        "web is down: `status < 400`: status was 503"
    );
    assert!(!o.notification.reminder);
    let key = o.notification.dedup_key.clone();
    // Still down: a reminder after repeat_interval (60 s after 7), and nothing before.
    e.on_probe(&ev("web", false, t(20)));
    let sent = run(&mut e, 9, 70);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, 67);
    assert!(sent[0].1.notification.reminder);
    // Back up: one resolve at the next group interval.
    e.on_probe(&ev("web", true, t(71)));
    let sent = run(&mut e, 71, 100);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1.notification.status, Status::Resolved);
    assert_eq!(
        sent[0].1.notification.dedup_key, key,
        "trigger and resolve share it"
    );
    let recent = e.store().recent(10).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].cause, "`status < 400`: status was 503");
    assert_eq!(recent[0].ended_at, Some(t(71)));
}

#[test]
fn twenty_probes_in_a_group_make_one_notification() {
    let probes: String = (0..20)
        .map(|i| {
            format!("  - {{ name: p{i}, group: rack, tcp: {{ address: \"127.0.0.1:9\" }} }}\n")
        })
        .collect();
    let mut e = engine(config(BASE, &probes), AlertStore::open(None).unwrap(), t(0));
    for round in 0..2 {
        for i in 0..20 {
            e.on_probe(&ev(&format!("p{i}"), false, t(round)));
        }
    }
    let sent = run(&mut e, 1, 30);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let n = &sent[0].1.notification;
    assert_eq!(n.alerts.len(), 20);
    assert_eq!(n.group_key, "rule=down,group=rack");
    assert!(n.title.starts_with("[FIRING:20]"), "{}", n.title);
}

#[test]
fn a_child_is_quiet_while_its_parent_is_down() {
    let mut e = engine(config(BASE, PROBES), AlertStore::open(None).unwrap(), t(0));
    for s in 0..2 {
        e.on_probe(&ev("db", false, t(s)));
        e.on_probe(&ev("api", false, t(s)));
    }
    let sent = run(&mut e, 1, 20);
    let alerts: Vec<&str> = sent
        .iter()
        .flat_map(|(_, o)| o.notification.alerts.iter().map(|a| a.subject.as_str()))
        .collect();
    assert_eq!(alerts, ["db"], "api depends on db");
    let (open, _) = e.open(t(20));
    let api = open.iter().find(|(i, _)| i.subject == "api").unwrap();
    assert_eq!(api.1.as_deref(), Some("depends on `db`, which is down"));
    // The parent recovers, the child stays down: it is held for its settle time (twice its
    // success threshold, 1, at its interval, 60 s: until 120 s after db recovered) ...
    e.on_probe(&ev("db", true, t(21)));
    let held = run(&mut e, 21, 140);
    assert!(
        held.iter()
            .all(|(_, o)| o.notification.alerts.iter().all(|a| a.subject == "db")),
        "only db's resolve; api settles after db recovered: {held:?}"
    );
    let (open, _) = e.open(t(140));
    let api = open.iter().find(|(i, _)| i.subject == "api").unwrap();
    assert!(
        api.1.as_deref().unwrap_or("").contains("settling until"),
        "{:?}",
        api.1
    );
    // ... then, still down, it is notified.
    let sent = run(&mut e, 141, 160);
    let firing: Vec<&str> = sent
        .iter()
        .flat_map(|(_, o)| {
            o.notification
                .with_status(Status::Firing)
                .map(|a| a.subject.as_str())
        })
        .collect();
    assert_eq!(firing, ["api"]);
}

#[test]
fn a_child_recovering_soon_after_its_parent_never_pages() {
    let probes = PROBES.replace(
        "depends_on: [db],",
        "depends_on: [db], depends_on_settle: 30s,",
    );
    let mut e = engine(config(BASE, &probes), AlertStore::open(None).unwrap(), t(0));
    for s in 0..3 {
        e.on_probe(&ev("db", false, t(s)));
        e.on_probe(&ev("api", false, t(s)));
    }
    let sent = run(&mut e, 0, 20);
    assert_eq!(sent.len(), 1, "db only: {sent:?}");
    // db recovers at 21; api a few checks later (before its settle of 30 s is over).
    e.on_probe(&ev("db", true, t(21)));
    let mut sent = run(&mut e, 21, 24);
    e.on_probe(&ev("api", false, t(25)));
    sent.extend(run(&mut e, 25, 39));
    e.on_probe(&ev("api", true, t(40)));
    sent.extend(run(&mut e, 40, 120));
    let api: Vec<&Outgoing> = sent
        .iter()
        .map(|(_, o)| o)
        .filter(|o| o.notification.alerts.iter().any(|a| a.subject == "api"))
        .collect();
    assert!(api.is_empty(), "no page for api: {api:?}");
    // Without the settle time it would have paged between 21 and 40.
}

#[test]
fn maintenance_and_silences_keep_alerts_quiet_but_recorded() {
    let alerting = format!(
        "{BASE}
  maintenance:
    - {{ name: upgrade, subjects: [web], start: \"{}\", end: \"{}\" }}",
        t(0),
        t(100)
    );
    let mut e = engine(
        config(&alerting, PROBES),
        AlertStore::open(None).unwrap(),
        t(0),
    );
    for s in 0..2 {
        e.on_probe(&ev("web", false, t(s)));
    }
    assert!(run(&mut e, 0, 99).is_empty());
    let (open, _) = e.open(t(50));
    assert_eq!(open.len(), 1, "the incident is recorded");
    assert_eq!(
        open[0].1.as_deref(),
        Some("in maintenance window `upgrade`")
    );
    // A silence on the same alert takes over when the window ends.
    let mut matchers = BTreeMap::new();
    matchers.insert("subject".to_string(), "web".to_string());
    e.add_silence(
        Silence {
            id: "s1".into(),
            matchers,
            starts_at: t(90),
            ends_at: t(150),
            comment: "deploy".into(),
            created_by: "ops".into(),
        },
        t(90),
    )
    .unwrap();
    assert!(run(&mut e, 100, 149).is_empty());
    // Expired early: the alert goes out at the next flush.
    e.expire_silence("s1", t(150)).unwrap().unwrap();
    let sent = run(&mut e, 150, 170);
    assert_eq!(sent.len(), 1, "{sent:?}");
}

#[test]
fn restart_while_firing_does_not_notify_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.db");
    let c = config(BASE, PROBES);
    {
        let mut e = engine(c.clone(), AlertStore::open(Some(&path)).unwrap(), t(0));
        e.on_probe(&ev("web", false, t(0)));
        e.on_probe(&ev("web", false, t(1)));
        assert_eq!(run(&mut e, 1, 5).len(), 1);
    }
    let mut e = engine(c, AlertStore::open(Some(&path)).unwrap(), t(10));
    let (open, _) = e.open(t(10));
    assert_eq!(open.len(), 1);
    assert!(open[0].0.queued);
    e.on_probe(&ev("web", false, t(11)));
    assert!(
        run(&mut e, 10, 60).is_empty(),
        "no duplicate after the restart"
    );
    // The reminder keeps its schedule: 60 s after the notification at 3.
    assert_eq!(run(&mut e, 61, 63).len(), 1);
    e.on_probe(&ev("web", true, t(64)));
    let sent = run(&mut e, 64, 80);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.notification.status, Status::Resolved);
}

#[test]
fn flapping_incident_is_held_open() {
    let alerting = BASE
        .replace(
            "flapping: { threshold: 0 }",
            // The openings guard alone (the rate would hold it from the second opening).
            "flapping: { threshold: 3, period: 100s, window: 0 }",
        )
        .replace("failure_threshold: 2", "failure_threshold: 1");
    let mut e = engine(
        config(&alerting, PROBES),
        AlertStore::open(None).unwrap(),
        t(0),
    );
    for i in 0..3 {
        e.on_probe(&ev("web", false, t(i * 10)));
        e.on_probe(&ev("web", true, t(i * 10 + 5)));
    }
    let (open, _) = e.open(t(26));
    assert_eq!(open.len(), 1, "the third opening is held open");
    assert!(open[0].0.flapping);
    assert_eq!(e.store().recent(10).unwrap().len(), 2);
    e.on_probe(&ev("web", true, t(130)));
    assert_eq!(e.open(t(130)).0.len(), 0, "resolved after a calm period");
}

/// Route signals the test sets by hand.
struct Signals(std::sync::Mutex<gatehouse_traffic::WindowStats>);

impl gatehouse_traffic::TrafficSignals for Signals {
    fn routes(&self) -> Vec<String> {
        vec!["app".into()]
    }
    fn window(
        &self,
        _: &str,
        _: gatehouse_traffic::Window,
    ) -> Option<gatehouse_traffic::WindowStats> {
        self.0.lock().ok().map(|s| s.clone())
    }
    fn snapshot(&self) -> Vec<gatehouse_traffic::RouteSnapshot> {
        Vec::new()
    }
}

fn stats(requests: u64, errors: u64) -> gatehouse_traffic::WindowStats {
    gatehouse_traffic::WindowStats {
        requests,
        server_errors: errors,
        error_ratio: (requests > 0).then(|| errors as f64 / requests as f64),
        ..Default::default()
    }
}

fn evaluate(e: &mut Engine, signals: &Signals, at: Timestamp) {
    e.evaluate(&crate::evaluate::Inputs {
        now: at,
        signals: Some(signals),
        certificates: &[],
        facts: &crate::facts::NoFacts,
        notifiers: &[],
    });
}

#[test]
fn a_quiet_route_keeps_its_incident_until_a_window_without_data_has_passed() {
    let alerting = BASE.replace(
        "    - { name: down, probe: \"*\", failure_threshold: 2, success_threshold: 1, severity: critical }",
        "    - { name: errors, route: app, when: \"error_ratio > 5%\", window: 1m, min_requests: 10 }",
    );
    let mut e = engine(
        config(&alerting, PROBES),
        AlertStore::open(None).unwrap(),
        t(0),
    );
    let signals = Signals(std::sync::Mutex::new(stats(20, 10)));
    evaluate(&mut e, &signals, t(0));
    assert_eq!(e.open(t(0)).0.len(), 1);
    // Traffic falls below min_requests: not judged, the incident holds...
    *signals.0.lock().unwrap() = stats(3, 0);
    for s in 1..=60 {
        evaluate(&mut e, &signals, t(s));
    }
    assert_eq!(
        e.open(t(60)).0.len(),
        1,
        "one quiet window does not resolve it"
    );
    // ...until longer than its window without data.
    evaluate(&mut e, &signals, t(62));
    assert_eq!(e.open(t(62)).0.len(), 0);
    assert_eq!(
        e.store().recent(1).unwrap()[0].value,
        "error_ratio is 50% over 1m (20 requests; threshold > 5%)"
    );
}

#[test]
fn a_probe_removed_while_stopped_closes_its_incident_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.db");
    {
        let mut e = engine(
            config(BASE, PROBES),
            AlertStore::open(Some(&path)).unwrap(),
            t(0),
        );
        e.on_probe(&ev("web", false, t(0)));
        e.on_probe(&ev("web", false, t(1)));
        assert_eq!(run(&mut e, 1, 5).len(), 1);
    }
    let without_web = "  - { name: db, group: core, tcp: { address: \"127.0.0.1:9\" } }";
    let mut e = engine(
        config(BASE, without_web),
        AlertStore::open(Some(&path)).unwrap(),
        t(10),
    );
    assert!(e.open(t(10)).0.is_empty());
    let sent = run(&mut e, 10, 30);
    assert_eq!(sent.len(), 1, "the resolve: {sent:?}");
    assert_eq!(sent[0].1.notification.status, Status::Resolved);
}

#[test]
fn a_changed_group_by_neither_pages_twice_nor_leaves_a_ghost() {
    let mut e = engine(config(BASE, PROBES), AlertStore::open(None).unwrap(), t(0));
    e.on_probe(&ev("web", false, t(0)));
    e.on_probe(&ev("web", false, t(1)));
    assert_eq!(run(&mut e, 1, 5).len(), 1);
    let regrouped = BASE.replace("group_wait: 2s", "group_wait: 2s\n  group_by: [rule]");
    e.apply(config(&regrouped, PROBES), t(6));
    let mut other = ev("web", false, t(7));
    other.reason = "another reason".into();
    e.on_probe(&other);
    assert!(
        run(&mut e, 7, 50).is_empty(),
        "no second page for the same incident"
    );
    e.on_probe(&ev("web", true, t(51)));
    let sent = run(&mut e, 51, 200);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1.notification.status, Status::Resolved);
}

#[test]
fn a_parent_with_one_good_check_still_holds_its_children() {
    let alerting = BASE.replace("success_threshold: 1", "success_threshold: 2");
    let mut e = engine(
        config(&alerting, PROBES),
        AlertStore::open(None).unwrap(),
        t(0),
    );
    for s in 0..2 {
        e.on_probe(&ev("db", false, t(s)));
        e.on_probe(&ev("api", false, t(s)));
    }
    e.on_probe(&ev("db", true, t(2)));
    let subjects: Vec<String> = run(&mut e, 2, 20)
        .iter()
        .flat_map(|(_, o)| o.notification.alerts.iter().map(|a| a.subject.clone()))
        .collect();
    assert_eq!(
        subjects,
        ["db"],
        "db's incident is still open after one good check"
    );
}

#[test]
fn a_label_naming_itself_in_the_summary_does_not_hang() {
    let alerting = BASE.replace(
        "severity: critical }",
        "severity: critical, labels: { x: \"{labels.x}\" }, summary: \"{subject}: {labels.x} {value}\" }",
    );
    let mut e = engine(
        config(&alerting, PROBES),
        AlertStore::open(None).unwrap(),
        t(0),
    );
    e.on_probe(&ev("web", false, t(0)));
    e.on_probe(&ev("web", false, t(1)));
    let (open, _) = e.open(t(1));
    assert_eq!(
        open[0].0.summary,
        "web: {labels.x} `status < 400`: status was 503"
    );
}

#[test]
fn a_resolve_still_waiting_when_the_process_died_goes_out_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.db");
    {
        let mut e = engine(
            config(BASE, PROBES),
            AlertStore::open(Some(&path)).unwrap(),
            t(0),
        );
        e.on_probe(&ev("web", false, t(0)));
        e.on_probe(&ev("web", false, t(1)));
        assert_eq!(run(&mut e, 1, 5).len(), 1);
        e.on_probe(&ev("web", true, t(6)));
        // Killed before the group interval let the resolve out.
        assert!(run(&mut e, 6, 10).is_empty());
    }
    let mut e = engine(
        config(BASE, PROBES),
        AlertStore::open(Some(&path)).unwrap(),
        t(20),
    );
    let sent = run(&mut e, 20, 30);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1.notification.status, Status::Resolved);
    // Sent once: another restart does not repeat it.
    drop(e);
    let mut e = engine(
        config(BASE, PROBES),
        AlertStore::open(Some(&path)).unwrap(),
        t(40),
    );
    assert!(run(&mut e, 40, 60).is_empty());
}

#[test]
fn acme_and_notifier_incidents_wait_until_tried_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.db");
    let alerting = BASE.replace(
        "    - { name: down, probe: \"*\", failure_threshold: 2, success_threshold: 1, severity: critical }",
        "    - { name: acme, certificate: \"*\", acme_failures: 2 }\n    - { name: hooks, gatehouse: notifier_failing }",
    );
    let cert = |failures: u32, tried: bool| crate::facts::CertFact {
        name: "example.com".into(),
        not_after: t(90 * 86400),
        acme_failures: failures,
        acme_error: (failures > 0).then(|| "the CA is down".to_string()),
        acme_tried: tried,
    };
    let eval =
        |e: &mut Engine, certs: &[crate::facts::CertFact], hook: (Option<String>, bool), at| {
            e.evaluate(&crate::evaluate::Inputs {
                now: at,
                signals: None,
                certificates: certs,
                facts: &crate::facts::NoFacts,
                notifiers: &[("hook".to_string(), hook.0, hook.1)],
            });
        };
    {
        let mut e = engine(
            config(&alerting, PROBES),
            AlertStore::open(Some(&path)).unwrap(),
            t(0),
        );
        eval(
            &mut e,
            &[cert(3, true)],
            (Some("HTTP 500".into()), true),
            t(0),
        );
        assert_eq!(e.open(t(0)).0.len(), 2);
    }
    let mut e = engine(
        config(&alerting, PROBES),
        AlertStore::open(Some(&path)).unwrap(),
        t(100),
    );
    for s in 100..110 {
        eval(&mut e, &[cert(0, false)], (None, false), t(s));
    }
    assert_eq!(
        e.open(t(110)).0.len(),
        2,
        "nothing tried since the restart: both stay open"
    );
    eval(&mut e, &[cert(0, true)], (None, true), t(111));
    assert!(e.open(t(111)).0.is_empty(), "tried and fine: both resolve");
}

mod clock;
mod suppression;
