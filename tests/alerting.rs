//! Alerting end to end with the real binary: probes against real local targets, notifications
//! delivered to a local webhook receiver, the incident lifecycle (threshold, reminder,
//! resolve), grouping, dependencies and maintenance, a restart while firing, and an
//! error-ratio rule fed by real 5xx traffic through the proxy.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::alerts::*;
use common::receiver::Receiver;
use common::{free_port, wait_for, Gatehouse, Upstream};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn down_after_threshold_one_notification_a_reminder_and_one_resolve() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(200).await;
    let body = with_route(
        &app,
        &format!(
            "probes:
  - {{ name: web, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{}/health\" }} }}
{}",
            app.addr,
            alerting(&hook, "  rules:\n    - { name: down, probe: web, failure_threshold: 3, success_threshold: 2, severity: critical, runbook: \"https://runbooks.example/web\" }")
                .replace("repeat_interval: 1h", "repeat_interval: 3s")
        ),
    );
    let g = Gatehouse::start(&body).await;
    checks_pass(&g, "web", 2).await;
    app.healthy
        .store(false, std::sync::atomic::Ordering::SeqCst);
    wait_for("the firing notification", DEADLINE, || async {
        hook.count() >= 1
    })
    .await;
    let first = &notifications(&hook)[0];
    assert_eq!(first["status"], "firing");
    assert_eq!(first["reminder"], false);
    assert_eq!(first["alerts"].as_array().unwrap().len(), 1);
    let alert = &first["alerts"][0];
    assert_eq!(alert["rule"], "down");
    assert_eq!(alert["subject"], "web");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["runbook"], "https://runbooks.example/web");
    assert!(
        alert["summary"]
            .as_str()
            .unwrap()
            .contains("status was 503"),
        "{alert}"
    );
    // The probe had failed three times in a row when the incident opened.
    let inc = incidents(&g).await;
    assert_eq!(inc["open"].as_array().unwrap().len(), 1, "{inc}");
    // `notified` once the webhook's answer is back (a moment after it got the request).
    wait_for("the incident marked notified", DEADLINE, || async {
        incidents(&g).await["open"][0]["notified"] == true
    })
    .await;
    assert_eq!(
        hook.count(),
        1,
        "exactly one notification before the reminder"
    );

    wait_for("the reminder", DEADLINE, || async { hook.count() >= 2 }).await;
    let all = notifications(&hook);
    assert_eq!(all[1]["reminder"], true, "{}", all[1]);
    let gap = all[1]["sent_at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .duration_since(
            all[0]["sent_at"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap(),
        );
    assert!(
        gap.as_secs_f64() >= 2.9,
        "a reminder after repeat_interval (3s), not {gap:?}"
    );

    app.healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    wait_for("the resolve notification", DEADLINE, || async {
        notifications(&hook)
            .iter()
            .any(|n| n["status"] == "resolved")
    })
    .await;
    checks_pass(&g, "web", 5).await;
    let all = notifications(&hook);
    let resolved: Vec<&Value> = all.iter().filter(|n| n["status"] == "resolved").collect();
    assert_eq!(resolved.len(), 1, "{all:?}");
    assert_eq!(resolved[0]["alerts"][0]["status"], "resolved");
    assert_eq!(resolved[0]["dedup_key"], all[0]["dedup_key"]);
    assert_eq!(all.len(), 3, "firing, reminder, resolved: {all:?}");
    let inc = incidents(&g).await;
    assert!(inc["open"].as_array().unwrap().is_empty());
    assert_eq!(inc["recent"][0]["subject"], "web");
    assert!(inc["recent"][0]["ended_at"].is_string());
    assert!(
        inc["recent"][0]["duration_seconds"].as_u64().unwrap() >= 3,
        "it lasted past the reminder"
    );
    assert!(inc["recent"][0]["cause"]
        .as_str()
        .unwrap()
        .contains("status was 503"));
    assert_eq!(
        g.metric_with("gatehouse_incidents_total", &[("rule", "down")])
            .await,
        Some(1.0)
    );
    assert_eq!(
        g.metric_with("gatehouse_alerts_firing", &[("rule", "down")])
            .await,
        Some(0.0)
    );
    assert_eq!(
        g.metric_with(
            "gatehouse_notifications_total",
            &[("notifier", "hook"), ("result", "ok")]
        )
        .await,
        Some(3.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_probes_failing_together_make_one_notification() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(200).await;
    let closed = free_port();
    let probes: String = (0..20)
        .map(|i| {
            format!("  - {{ name: node{i}, group: rack-a, interval: 300ms, timeout: 300ms, tcp: {{ address: \"127.0.0.1:{closed}\" }} }}\n")
        })
        .collect();
    let body = with_route(
        &app,
        &format!(
            "probes:\n{probes}{}",
            alerting(
                &hook,
                "  rules:\n    - { name: node-down, group: rack-a, failure_threshold: 2 }"
            )
            .replace("group_wait: 300ms", "group_wait: 2s")
            .replace("group_interval: 500ms", "group_interval: 1m")
        ),
    );
    let g = Gatehouse::start(&body).await;
    wait_for("20 open incidents", DEADLINE, || async {
        incidents(&g).await["open"].as_array().map(Vec::len) == Some(20)
    })
    .await;
    wait_for("the grouped notification", DEADLINE, || async {
        hook.count() >= 1
    })
    .await;
    checks_pass(&g, "node0", 3).await;
    let all = notifications(&hook);
    assert_eq!(all.len(), 1, "one notification for the group: {all:?}");
    assert_eq!(all[0]["alerts"].as_array().unwrap().len(), 20);
    assert_eq!(all[0]["group_key"], "rule=node-down,group=rack-a");
    assert!(all[0]["title"].as_str().unwrap().starts_with("[FIRING:20]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_is_suppressed_while_its_parent_is_down_and_a_maintenance_window_only_records() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(200).await;
    let closed = free_port();
    let now = jiff::Timestamp::now();
    let body = with_route(
        &app,
        &format!(
            "probes:
  - {{ name: db, interval: 200ms, timeout: 200ms, tcp: {{ address: \"127.0.0.1:{closed}\" }} }}
  - {{ name: api, interval: 200ms, timeout: 200ms, depends_on: [db], http: {{ url: \"http://127.0.0.1:{closed}/\" }} }}
  - {{ name: batch, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{}/status/500\" }} }}
{}",
            app.addr,
            alerting(
                &hook,
                &format!(
                    "  rules:\n    - {{ name: down, probe: \"*\", failure_threshold: 2 }}
  maintenance:
    - {{ name: batch-upgrade, subjects: [batch], start: \"{}\", end: \"{}\" }}",
                    now - jiff::SignedDuration::from_hours(1),
                    now + jiff::SignedDuration::from_hours(1)
                )
            )
        ),
    );
    let g = Gatehouse::start(&body).await;
    wait_for("three open incidents", DEADLINE, || async {
        incidents(&g).await["open"].as_array().map(Vec::len) == Some(3)
    })
    .await;
    wait_for("the db notification", DEADLINE, || async {
        hook.count() >= 1
    })
    .await;
    checks_pass(&g, "api", 5).await;
    let all = notifications(&hook);
    let subjects: Vec<&str> = all
        .iter()
        .flat_map(|n| n["alerts"].as_array().unwrap().iter())
        .map(|a| a["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["db"],
        "api depends on db; batch is in maintenance: {all:?}"
    );
    let inc = incidents(&g).await;
    let open = inc["open"].as_array().unwrap();
    let find = |s: &str| open.iter().find(|i| i["subject"] == s).unwrap().clone();
    assert_eq!(find("api")["suppressed"], "depends on `db`, which is down");
    assert_eq!(
        find("batch")["suppressed"],
        "in maintenance window `batch-upgrade`"
    );
    assert!(find("db")["suppressed"].is_null());
    // The status is still recorded: the probe's history has the failures, marked as taken
    // during maintenance and so left out of its uptime.
    let h: Value = reqwest::get(g.admin("/api/v1/probes/batch/history?range=24h"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(h["maintenance"].as_u64().unwrap() >= 2, "{h}");
    assert_eq!(h["checks"], 0, "{h}");
    assert_eq!(h["uptime"], Value::Null, "{h}");
    assert!(h["recent_failures"].as_array().unwrap().len() >= 2, "{h}");
    assert_eq!(
        g.metric_with(
            "gatehouse_alerts_suppressed",
            &[("rule", "down"), ("reason", "maintenance")]
        )
        .await,
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_while_firing_sends_no_duplicate() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(200).await;
    let body = with_route(
        &app,
        &format!(
            "probes:
  - {{ name: web, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{}/health\" }} }}
{}",
            app.addr,
            alerting(&hook, "  rules:\n    - { name: down, probe: web, failure_threshold: 2, success_threshold: 1 }")
        ),
    );
    let mut g = Gatehouse::start(&body).await;
    app.healthy
        .store(false, std::sync::atomic::Ordering::SeqCst);
    wait_for("the firing notification", DEADLINE, || async {
        hook.count() >= 1
    })
    .await;
    // Delivered and recorded (until then a restart would send it again: at least once).
    wait_for("the incident marked notified", DEADLINE, || async {
        incidents(&g).await["open"][0]["notified"] == true
    })
    .await;
    let before = incidents(&g).await["open"][0].clone();
    g.restart().await;
    let after = incidents(&g).await;
    assert_eq!(
        after["open"][0]["id"], before["id"],
        "the incident survives: {after}"
    );
    assert_eq!(after["open"][0]["started_at"], before["started_at"]);
    checks_pass(&g, "web", 6).await;
    assert_eq!(hook.count(), 1, "no second notification after the restart");
    app.healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    wait_for("the resolve notification", DEADLINE, || async {
        hook.count() >= 2
    })
    .await;
    checks_pass(&g, "web", 3).await;
    let all = notifications(&hook);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1]["status"], "resolved");
}

#[tokio::test(flavor = "multi_thread")]
async fn error_ratio_rule_fires_from_real_5xx_traffic() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(200).await;
    let body = with_route(
        &app,
        &alerting(
            &hook,
            "  rules:\n    - { name: errors, route: \"*\", when: \"error_ratio > 5%\", window: 1m, min_requests: 10, severity: critical, summary: \"{subject} fails: {value}\" }",
        ),
    );
    let g = Gatehouse::start(&body).await;
    let client = reqwest::Client::new();
    for i in 0..20 {
        let path = if i % 2 == 0 { "/status/502" } else { "/ok" };
        let r = client.get(g.url(path)).send().await.unwrap();
        assert!(r.status().as_u16() == 502 || r.status() == 200);
    }
    wait_for("the error-ratio notification", DEADLINE, || async {
        hook.count() >= 1
    })
    .await;
    let n = &notifications(&hook)[0];
    let a = &n["alerts"][0];
    assert_eq!(a["rule"], "errors");
    assert_eq!(a["subject"], "app");
    assert_eq!(a["kind"], "route");
    assert!(
        a["summary"]
            .as_str()
            .unwrap()
            .starts_with("app fails: error_ratio is 50% over 1m"),
        "{a}"
    );
    assert_eq!(
        g.metric_with(
            "gatehouse_alerts_firing",
            &[("rule", "errors"), ("severity", "critical")]
        )
        .await,
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_recovering_seconds_after_its_database_never_pages() {
    let db = Upstream::start("db").await;
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(200).await;
    let body = with_route(
        &app,
        &format!(
            "probes:
  - {{ name: db, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{}/health\" }} }}
  - {{ name: api, interval: 200ms, timeout: 200ms, depends_on: [db], depends_on_settle: 5s, http: {{ url: \"http://{}/health\" }} }}
{}",
            db.addr,
            app.addr,
            alerting(&hook, "  rules:\n    - { name: down, probe: \"*\", failure_threshold: 2, success_threshold: 1 }")
        ),
    );
    let g = Gatehouse::start(&body).await;
    checks_pass(&g, "api", 2).await;
    db.healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    app.healthy
        .store(false, std::sync::atomic::Ordering::SeqCst);
    wait_for("db's page", DEADLINE, || async {
        notifications(&hook)
            .iter()
            .any(|n| n["alerts"][0]["subject"] == "db")
    })
    .await;
    db.healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    // The app comes back 2 s after its database (10 checks; its rule would have paged).
    checks_pass(&g, "db", 10).await;
    let held = incidents(&g).await;
    let api = held["open"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["subject"] == "api")
        .cloned()
        .unwrap_or_default();
    assert!(
        api["suppressed"]
            .as_str()
            .unwrap_or("")
            .contains("settling until"),
        "api is held while it settles: {held}"
    );
    app.healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    checks_pass(&g, "api", 10).await;
    let all = notifications(&hook);
    assert!(
        all.iter().all(|n| n["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["subject"] != "api")),
        "no page for api: {all:?}"
    );
    assert!(
        all.iter().any(|n| n["status"] == "resolved"),
        "db's resolve went out: {all:?}"
    );
}
