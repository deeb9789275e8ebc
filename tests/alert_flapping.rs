//! Flap control end to end with the real binary: a target switched down and up in a steady
//! rhythm, a recording webhook, and the notifications counted.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::alerts::*;
use common::receiver::Receiver;
use common::{wait_for, Gatehouse, Upstream};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Issue 19's scenario — probes every 1 s, thresholds 3/2, down 5 s / up 3 s for 60 s, group
/// wait 2 s, settle 5 s — scaled down five times to keep the test short with the same shape:
/// probes every 200 ms, down 1 s / up 600 ms for 12 s, group wait 400 ms, settle 1 s. The
/// group interval is the harness's 500 ms, so grouping hides nothing: every change could
/// go out. At most two notifications while it flaps, the first being the page; then, once
/// stable, exactly one resolve.
#[tokio::test(flavor = "multi_thread")]
async fn down_5s_up_3s_for_a_minute_sends_at_most_two_notifications() {
    let app = Upstream::start("app").await;
    let hook = Receiver::answering(200).await;
    let body = with_route(
        &app,
        &format!(
            "probes:
  - {{ name: web, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{}/health\" }} }}
{}",
            app.addr,
            alerting(
                &hook,
                "  flapping: { settle: 1s }
  rules:
    - { name: down, probe: web, failure_threshold: 3, success_threshold: 2, severity: critical }"
            )
            .replace("group_wait: 300ms", "group_wait: 400ms")
        ),
    );
    let g = Gatehouse::start(&body).await;
    checks_pass(&g, "web", 2).await;

    let start = tokio::time::Instant::now();
    let mut first_at = None;
    while start.elapsed() < Duration::from_secs(12) {
        app.healthy.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        if first_at.is_none() && hook.count() >= 1 {
            first_at = Some(start.elapsed());
        }
        app.healthy.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    // Still inside the last cycle's rhythm: let anything due go out before counting.
    app.healthy.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let during = notifications(&hook);
    eprintln!(
        "while flapping: {} notification(s): {:?}",
        during.len(),
        during
            .iter()
            .map(|n| (n["status"].clone(), n["alerts"][0]["flapping"].clone()))
            .collect::<Vec<_>>()
    );
    assert!(!during.is_empty(), "the page is not swallowed");
    assert!(
        first_at.is_some_and(|t| t < Duration::from_secs(3)),
        "the page arrives within the first cycles, not after the flap: {first_at:?}"
    );
    assert_eq!(during[0]["status"], "firing", "{during:?}");
    assert_eq!(during[0]["alerts"][0]["flapping"], false);
    assert!(
        during.len() <= 2,
        "{} notifications: {during:?}",
        during.len()
    );
    if let Some(second) = during.get(1) {
        assert_eq!(second["status"], "firing", "{second}");
        assert_eq!(
            second["alerts"][0]["flapping"], true,
            "it says it flaps: {second}"
        );
        assert_eq!(
            second["alerts"][0]["id"], during[0]["alerts"][0]["id"],
            "one incident"
        );
    }
    let inc = incidents(&g).await;
    assert_eq!(inc["open"].as_array().unwrap().len(), 1, "{inc}");
    assert_eq!(inc["open"][0]["flapping"], true, "{inc}");

    // Stable again: one resolve, once the rate has fallen below `low` and it settled.
    app.healthy.store(true, Ordering::SeqCst);
    wait_for("the resolve", DEADLINE, || async {
        notifications(&hook)
            .iter()
            .any(|n| n["status"] == "resolved")
    })
    .await;
    checks_pass(&g, "web", 5).await;
    let all = notifications(&hook);
    eprintln!("in all: {} notification(s)", all.len());
    let resolves = all.iter().filter(|n| n["status"] == "resolved").count();
    assert_eq!(resolves, 1, "{all:?}");
    assert_eq!(all.len(), during.len() + 1, "{all:?}");
}
