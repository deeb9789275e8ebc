//! Alert delivery end to end with the real binary: a webhook that fails for longer than
//! every quick retry still gets the page once it recovers, then the resolve; a notifier down
//! for a whole incident gets one message with both times; `Retry-After` of a 429 is
//! honoured; a pending delivery survives a crash and goes out once after the restart.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::alerts::*;
use common::receiver::Receiver;
use common::{wait_for, Gatehouse, Upstream};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A probe every 200 ms, a rule at 2 failures / 1 success, and fast delivery retries.
fn config(app: &Upstream, hook: &Receiver) -> String {
    with_route(
        app,
        &format!(
            "probes:
  - {{ name: web, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{}/health\" }} }}
{}",
            app.addr,
            alerting(
                hook,
                "  delivery: { backoff: 200ms, max_backoff: 1s }
  rules:\n    - { name: down, probe: web, failure_threshold: 2, success_threshold: 1 }"
            )
        ),
    )
}

fn accepted(hook: &Receiver) -> Vec<Value> {
    hook.accepted()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

async fn deliveries(g: &Gatehouse) -> Value {
    reqwest::get(g.admin("/api/v1/deliveries"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_survives_a_notifier_down_longer_than_every_quick_retry() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(500).await;
    let g = Gatehouse::start(&config(&app, &hook)).await;
    app.healthy.store(false, Ordering::SeqCst);
    // The old notifier gave up after 4 attempts in about 5 s: fail for longer than that.
    wait_for("six failed attempts", DEADLINE, || async {
        hook.count() >= 6
    })
    .await;
    let first = hook.seen()[0].at;
    wait_for("6 s of failures", DEADLINE, || async {
        first.elapsed() >= Duration::from_secs(6)
    })
    .await;
    let inc = incidents(&g).await;
    assert_eq!(
        inc["open"][0]["notified"], false,
        "nothing reached anyone: {inc}"
    );
    let d = deliveries(&g).await;
    let pending = d["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "one row however many attempts: {d}");
    assert_eq!(pending[0]["notifier"], "hook");
    assert!(pending[0]["attempts"].as_u64().unwrap() >= 6, "{d}");
    assert!(
        pending[0]["last_error"].as_str().unwrap().contains("500"),
        "{d}"
    );
    assert_eq!(
        g.metric_with("gatehouse_notifications_pending", &[("notifier", "hook")])
            .await,
        Some(1.0)
    );
    assert!(
        g.metric_with(
            "gatehouse_notification_retries_total",
            &[("notifier", "hook")]
        )
        .await
        .unwrap()
            >= 5.0
    );

    hook.answer(200, Vec::new());
    wait_for("the firing, delivered", DEADLINE, || async {
        !hook.accepted().is_empty()
    })
    .await;
    wait_for("the incident marked notified", DEADLINE, || async {
        incidents(&g).await["open"][0]["notified"] == true
    })
    .await;
    assert_eq!(incidents(&g).await["open"][0]["notified_to"][0], "hook");
    app.healthy.store(true, Ordering::SeqCst);
    wait_for("the resolve", DEADLINE, || async {
        accepted(&hook).iter().any(|n| n["status"] == "resolved")
    })
    .await;
    checks_pass(&g, "web", 5).await;
    let got = accepted(&hook);
    assert_eq!(got.len(), 2, "the firing once, then the resolve: {got:?}");
    assert_eq!(got[0]["status"], "firing");
    assert_eq!(got[1]["status"], "resolved");
    assert!(
        got[1]["alerts"][0].get("unreached").is_none(),
        "the firing had reached it: {}",
        got[1]
    );
    assert!(deliveries(&g).await["pending"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        g.metric_with(
            "gatehouse_notifications_total",
            &[("notifier", "hook"), ("result", "ok")]
        )
        .await,
        Some(2.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notifier_down_for_the_whole_incident_gets_one_message_with_both_times() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(502).await;
    let g = Gatehouse::start(&config(&app, &hook)).await;
    app.healthy.store(false, Ordering::SeqCst);
    wait_for("a failed attempt", DEADLINE, || async { hook.count() >= 2 }).await;
    app.healthy.store(true, Ordering::SeqCst);
    wait_for("the incident resolved", DEADLINE, || async {
        incidents(&g).await["recent"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    })
    .await;
    // The resolve joined the waiting firing: still one row.
    wait_for(
        "one pending row with the resolve in it",
        DEADLINE,
        || async {
            let d = deliveries(&g).await;
            let p = d["pending"].as_array().unwrap().clone();
            p.len() == 1 && p[0]["alerts"][0]["status"] == "resolved"
        },
    )
    .await;
    hook.answer(200, Vec::new());
    wait_for("the one message", DEADLINE, || async {
        !hook.accepted().is_empty()
    })
    .await;
    checks_pass(&g, "web", 5).await;
    let got = accepted(&hook);
    assert_eq!(
        got.len(),
        1,
        "one message, not a firing then a resolve: {got:?}"
    );
    let n = &got[0];
    assert_eq!(n["status"], "resolved");
    assert_eq!(n["alerts"][0]["unreached"], true, "{n}");
    assert!(n["alerts"][0]["started_at"].is_string());
    assert!(n["alerts"][0]["ended_at"].is_string());
    let recent = &incidents(&g).await["recent"][0];
    assert_eq!(
        recent["notified"], false,
        "its firing never reached anyone: {recent}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_of_a_429_is_honoured() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(429).await;
    hook.answer(429, vec![("retry-after", "3".to_string())]);
    let g = Gatehouse::start(&config(&app, &hook)).await;
    app.healthy.store(false, Ordering::SeqCst);
    wait_for("the first attempt", DEADLINE, || async {
        hook.count() >= 1
    })
    .await;
    hook.answer(200, Vec::new());
    wait_for("the delivery", DEADLINE, || async {
        !hook.accepted().is_empty()
    })
    .await;
    let all = hook.seen();
    // Without Retry-After the second attempt comes after 100-200 ms (backoff 200ms).
    let gap = all[1].at.duration_since(all[0].at);
    assert!(
        gap >= Duration::from_millis(2900),
        "the notifier asked for 3 s and got {gap:?}"
    );
    assert_eq!(all.len(), 2, "{} requests", all.len());
    drop(g);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_delivery_survives_a_crash_and_goes_out_once_after_the_restart() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(503).await;
    let mut g = Gatehouse::start(&config(&app, &hook)).await;
    app.healthy.store(false, Ordering::SeqCst);
    wait_for("failed attempts", DEADLINE, || async { hook.count() >= 2 }).await;
    // Killed (SIGKILL) while the page waits in the outbox; the notifier recovers meanwhile.
    g.kill();
    hook.answer(200, Vec::new());
    let restarted = std::time::Instant::now();
    g.respawn().await;
    wait_for("the firing after the restart", DEADLINE, || async {
        !hook.accepted().is_empty()
    })
    .await;
    checks_pass(&g, "web", 10).await;
    let got = accepted(&hook);
    assert_eq!(got.len(), 1, "delivered once: {got:?}");
    assert!(
        hook.accepted()[0].at > restarted,
        "by the restarted process"
    );
    assert_eq!(got[0]["status"], "firing");
    assert_eq!(got[0]["alerts"][0]["subject"], "web");
    assert!(deliveries(&g).await["pending"]
        .as_array()
        .unwrap()
        .is_empty());
}
