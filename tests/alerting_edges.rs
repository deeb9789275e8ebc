//! Alerting's edges end to end: a dead notifier beside a live one (and the alert about it),
//! a failed reload alerted, `gatehouse notify-test`, and silences through the admin API.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::alerts::*;
use common::receiver::{BlackHole, Receiver};
use common::{free_port, wait_for, Gatehouse, Upstream};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_notifier_does_not_hold_up_others_and_is_itself_alerted_like_a_failed_reload() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(200).await;
    let hole = BlackHole::start().await;
    let closed = free_port();
    let body = with_route(
        &app,
        &format!(
            "probes:
  - {{ name: web, interval: 200ms, timeout: 200ms, tcp: {{ address: \"127.0.0.1:{closed}\" }} }}
alerting:
  default_rules: false
  evaluation_interval: 200ms
  group_wait: 300ms
  group_interval: 500ms
  notifiers:
    - {{ name: hole, type: webhook, url: \"http://{}/\", timeout: 2s, retries: 0 }}
    - {{ name: hook, type: webhook, url: \"{}/hook\" }}
  rules:
    - {{ name: down, probe: web, failure_threshold: 1, severity: critical }}
    - {{ name: notifier-failing, gatehouse: notifier_failing }}
    - {{ name: reload-failed, gatehouse: reload_failed }}
  routes:
    - {{ notifiers: [hole, hook], severity: critical }}
    - {{ notifiers: [hook] }}
",
            hole.addr, hook.url
        ),
    );
    let g = Gatehouse::start(&body).await;
    wait_for(
        "the probe notification at the live receiver",
        DEADLINE,
        || async {
            notifications(&hook)
                .iter()
                .any(|n| n["alerts"][0]["rule"] == "down")
        },
    )
    .await;
    // Sent at the same moment as the one stuck in the black hole, it did not wait for it.
    assert_eq!(
        g.metric_with(
            "gatehouse_notifications_total",
            &[("notifier", "hole"), ("result", "error")]
        )
        .await
        .unwrap_or(0.0),
        0.0,
        "the live receiver got its copy while the other was still waiting"
    );
    wait_for("the notifier-failing alert", DEADLINE, || async {
        notifications(&hook).iter().any(|n| {
            n["alerts"][0]["rule"] == "notifier-failing" && n["alerts"][0]["subject"] == "hole"
        })
    })
    .await;
    // Its notification waits in the outbox, retried, not given up.
    assert!(
        g.metric_with(
            "gatehouse_notification_retries_total",
            &[("notifier", "hole")]
        )
        .await
        .unwrap_or(0.0)
            >= 1.0
    );
    assert!(
        g.metric_with("gatehouse_notifications_pending", &[("notifier", "hole")])
            .await
            .unwrap_or(0.0)
            >= 1.0
    );
    // A broken config file: the old config keeps serving and the failure is alerted.
    let broken = std::fs::read_to_string(&g.config_path).unwrap() + "\nnot_a_section: 1\n";
    std::fs::write(&g.config_path, broken).unwrap();
    wait_for("the reload-failed alert", DEADLINE, || async {
        notifications(&hook).iter().any(|n| {
            n["alerts"][0]["rule"] == "reload-failed"
                && n["alerts"][0]["summary"]
                    .as_str()
                    .unwrap_or("")
                    .contains("not_a_section")
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_test_sends_through_the_named_notifier() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(200).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.yaml");
    let body = Gatehouse::yaml(
        free_port(),
        free_port(),
        &dir.path().join("state"),
        &with_route(&app, &alerting(&hook, "")),
    );
    std::fs::write(&path, body).unwrap();
    let run = |name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["notify-test", "--config"])
            .arg(&path)
            .args(["--notifier", name])
            .output()
            .unwrap()
    };
    let ok = run("hook");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let all = notifications(&hook);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["test"], true);
    assert_eq!(hook.seen()[0].path, "/hook");
    let unknown = run("nope");
    assert_eq!(unknown.status.code(), Some(2));
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        err.contains("no notifier `nope`") && err.contains("configured: hook"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn silences_are_created_listed_and_expired_through_the_admin_api() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(200).await;
    let closed = free_port();
    let body = with_route(
        &app,
        &format!(
            "probes:
  - {{ name: web, interval: 200ms, timeout: 200ms, tcp: {{ address: \"127.0.0.1:{closed}\" }} }}
{}",
            alerting(
                &hook,
                "  rules:\n    - { name: down, probe: web, failure_threshold: 2 }"
            )
            .replace("group_wait: 300ms", "group_wait: 1s")
        ),
    );
    let g = Gatehouse::start(&body).await;
    let client = reqwest::Client::new();
    let created = client
        .post(g.admin("/api/v1/silences"))
        .json(&serde_json::json!({
            "matchers": { "rule": "down", "subject": "w*" },
            "duration": "1h",
            "comment": "planned work",
            "created_by": "ops"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let silence: Value = created.json().await.unwrap();
    let id = silence["id"].as_str().unwrap().to_string();
    let listed: Value = client
        .get(g.admin("/api/v1/silences"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["silences"][0]["id"], id.as_str());
    wait_for("the silenced incident", DEADLINE, || async {
        incidents(&g).await["open"][0]["suppressed"]
            .as_str()
            .is_some_and(|s| s.starts_with(&format!("silenced by {id}")))
    })
    .await;
    checks_pass(&g, "web", 8).await;
    assert_eq!(hook.count(), 0, "silenced");

    // Bad requests say what is wrong; unknown ids are 404.
    let bad = client
        .post(g.admin("/api/v1/silences"))
        .json(&serde_json::json!({ "matchers": {}, "duration": "1h" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("matchers"));
    let bad = client
        .post(g.admin("/api/v1/silences"))
        .header("content-type", "application/json")
        .body("{\"matchers\": {\"rule\": \"down\"}, \"duration\": \"soon\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    // What a web page could send without a preflight is refused.
    let cross_site = client
        .post(g.admin("/api/v1/silences"))
        .header("content-type", "text/plain")
        .body("{\"matchers\": {\"rule\": \"*\"}, \"duration\": \"1000d\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 415);
    let missing = client
        .delete(g.admin("/api/v1/silences/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Expired: the alert goes out.
    let expired = client
        .delete(g.admin(&format!("/api/v1/silences/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 200);
    wait_for(
        "the notification after the silence ended",
        DEADLINE,
        || async { hook.count() >= 1 },
    )
    .await;
    assert_eq!(notifications(&hook)[0]["alerts"][0]["subject"], "web");
}
