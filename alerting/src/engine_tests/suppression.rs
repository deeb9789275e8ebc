//! Holding alerts with a test clock: inhibit rules, and a route as a probe's parent.

use super::*;

#[test]
fn a_firing_source_inhibits_its_targets_with_equal_labels_and_never_itself() {
    let probes = "  - { name: db, group: core, tcp: { address: \"127.0.0.1:9\" } }
  - { name: api, group: core, http: { url: \"http://127.0.0.1:9/\" } }
  - { name: web, group: edge, http: { url: \"http://127.0.0.1:9/\" } }";
    let alerting = format!(
        "{}\n    - {{ name: slow, probe: \"*\", failure_threshold: 2, severity: warning }}
  inhibit:
    - {{ source: {{ severity: critical }}, target: {{ severity: warning }}, equal: [group] }}",
        BASE.replace("group_by: [rule, group]", "")
    );
    let mut e = engine(
        config(&alerting, probes),
        AlertStore::open(None).unwrap(),
        t(0),
    );
    for s in 0..2 {
        e.on_probe(&ev("api", false, t(s)));
        e.on_probe(&ev("web", false, t(s)));
    }
    let sent = run(&mut e, 1, 20);
    let alerts: Vec<(String, String)> = sent
        .iter()
        .flat_map(|(_, o)| {
            o.notification
                .alerts
                .iter()
                .map(|a| (a.rule.clone(), a.subject.clone()))
        })
        .collect();
    // Critical `down` fires for api and web; warning `slow` of api and web is inhibited by
    // the critical one of the same group.
    assert!(
        alerts.contains(&("down".into(), "api".into())),
        "{alerts:?}"
    );
    assert!(
        alerts.contains(&("down".into(), "web".into())),
        "{alerts:?}"
    );
    assert!(
        !alerts.iter().any(|(r, _)| r == "slow"),
        "warnings inhibited: {alerts:?}"
    );
    let (open, _) = e.open(t(20));
    let slow_api = open
        .iter()
        .find(|(i, _)| i.rule == "slow" && i.subject == "api")
        .unwrap();
    assert_eq!(
        slow_api.1.as_deref(),
        Some("inhibited by `down` firing for `api`")
    );
    // With `equal: [subject]` each warning is inhibited only by the critical alert of its
    // own subject, and a critical alert (matching no target) always goes out.
    let alerting_other = alerting.replace("equal: [group]", "equal: [subject]");
    let mut e = engine(
        config(&alerting_other, probes),
        AlertStore::open(None).unwrap(),
        t(0),
    );
    for s in 0..2 {
        e.on_probe(&ev("api", false, t(s)));
    }
    e.on_probe(&ev("db", false, t(0)));
    e.on_probe(&ev("db", false, t(1)));
    let subjects: Vec<(String, String)> = run(&mut e, 1, 20)
        .iter()
        .flat_map(|(_, o)| {
            o.notification
                .alerts
                .iter()
                .map(|a| (a.rule.clone(), a.subject.clone()))
        })
        .collect();
    assert!(
        !subjects.contains(&("slow".into(), "api".into())),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&("down".into(), "db".into())),
        "a critical alert is not its own target: {subjects:?}"
    );
}

#[test]
fn a_route_can_be_a_parent() {
    let alerting = format!(
        "{}\n    - {{ name: errors, route: app, when: \"error_ratio > 5%\", window: 1m, min_requests: 10 }}",
        BASE
    );
    let probes = PROBES.replace(
        "depends_on: [db]",
        "depends_on: [app], depends_on_settle: 10s",
    );
    let mut e = engine(
        config(&alerting, &probes),
        AlertStore::open(None).unwrap(),
        t(0),
    );
    let signals = Signals(std::sync::Mutex::new(stats(20, 10)));
    evaluate(&mut e, &signals, t(0));
    for s in 0..2 {
        e.on_probe(&ev("api", false, t(s)));
    }
    let sent = run(&mut e, 1, 20);
    assert!(
        sent.iter()
            .all(|(_, o)| o.notification.alerts.iter().all(|a| a.subject != "api")),
        "api is held while its route fails: {sent:?}"
    );
    let (open, _) = e.open(t(20));
    let api = open.iter().find(|(i, _)| i.subject == "api").unwrap();
    assert_eq!(api.1.as_deref(), Some("depends on `app`, which is down"));
    // The route recovers: api settles 10 s, then pages (still down).
    *signals.0.lock().unwrap() = stats(20, 0);
    evaluate(&mut e, &signals, t(21));
    let held = run(&mut e, 21, 30);
    assert!(
        held.iter()
            .all(|(_, o)| o.notification.alerts.iter().all(|a| a.subject != "api")),
        "{held:?}"
    );
    let later = run(&mut e, 31, 50);
    assert!(
        later
            .iter()
            .any(|(_, o)| o.notification.alerts.iter().any(|a| a.subject == "api")),
        "{later:?}"
    );
}
