//! Delivery: retries with backoff, per-attempt timeouts that never hold up another notifier,
//! failing notifiers, reloads, metrics, and errors that never show a webhook's URL.
#![allow(clippy::unwrap_used)]

mod support;

use gatehouse_alerting::notify::NotifyError;
use gatehouse_config::alerting::notifiers::{NotifierKind, NtfyNotifier, SlackNotifier};
use gatehouse_config::secret::Secret;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::receiver::{Receiver, Reply};
use support::*;

#[tokio::test]
async fn server_errors_are_retried_until_delivered() {
    let rx = Receiver::start().await;
    rx.script([Reply::Status(500, "busy"), Reply::Status(503, "busy")]);
    let (notifiers, registry) = start(&[hook(&rx.url, 3)]);
    notifiers.send("hook", &firing()).await.unwrap();
    assert_eq!(rx.seen().len(), 3);
    let ok = [("notifier", "hook"), ("result", "ok")];
    assert_eq!(metric(&registry, "gatehouse_notifications_total", &ok), 1.0);
    let err = [("notifier", "hook"), ("result", "error")];
    assert_eq!(
        metric(&registry, "gatehouse_notifications_total", &err),
        0.0
    );
    let retries = [("notifier", "hook")];
    assert_eq!(
        metric(&registry, "gatehouse_notification_retries_total", &retries),
        2.0
    );
    assert_eq!(
        metric(
            &registry,
            "gatehouse_notification_duration_seconds_count",
            &retries
        ),
        3.0
    );
    assert!(notifiers.failing().is_empty());
}

#[tokio::test]
async fn a_notifier_failing_after_its_retries_is_listed_until_it_succeeds() {
    let rx = Receiver::start().await;
    rx.script([
        Reply::Status(500, "boom"),
        Reply::Status(500, "boom"),
        Reply::Status(502, "bad gateway"),
    ]);
    let (notifiers, registry) = start(&[hook(&rx.url, 2)]);
    let err = notifiers.send("hook", &firing()).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::Status { status: 502, .. }),
        "{err}"
    );
    assert_eq!(rx.seen().len(), 3);
    assert_eq!(
        notifiers.failing(),
        [("hook".to_string(), "HTTP 502: bad gateway".to_string())]
    );
    let labels = [("notifier", "hook"), ("result", "error")];
    assert_eq!(
        metric(&registry, "gatehouse_notifications_total", &labels),
        1.0
    );
    notifiers.send("hook", &resolved()).await.unwrap();
    assert!(notifiers.failing().is_empty());
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let rx = Receiver::start().await;
    rx.script([Reply::Status(400, "invalid routing key")]);
    let (notifiers, _) = start(&[hook(&rx.url, 3)]);
    let err = notifiers
        .send("hook", &firing())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, "HTTP 400: invalid routing key");
    assert_eq!(rx.seen().len(), 1);
}

#[tokio::test]
async fn a_notifier_that_never_answers_does_not_hold_up_another() {
    let slow_rx = Receiver::start().await;
    let fast_rx = Receiver::start().await;
    slow_rx.script([Reply::Hang]);
    let mut slow = hook(&slow_rx.url, 0);
    slow.name = "slow".into();
    slow.timeout = Duration::from_millis(300);
    let fast = hook(&fast_rx.url, 0);
    let (notifiers, registry) = start(&[slow, fast]);
    let n = Arc::new(firing());
    let sent = Instant::now();
    notifiers.spawn_send("slow", n.clone());
    notifiers.spawn_send("hook", n);
    let fast_arrived = fast_rx.wait_for(1).await[0].at;
    // The slow attempt started after `sent`, so its timeout cannot have fired before
    // `sent + 300ms`: the fast one arrived while the slow one was still waiting.
    assert!(
        fast_arrived < sent + Duration::from_millis(300),
        "the fast notifier waited for the slow one: {:?}",
        fast_arrived - sent
    );
    assert_eq!(slow_rx.wait_for(1).await.len(), 1);
    // Wait until the slow one has given up.
    let deadline = Instant::now() + Duration::from_secs(10);
    let failing = loop {
        let f = notifiers.failing();
        if !f.is_empty() {
            break f;
        }
        assert!(
            Instant::now() < deadline,
            "the slow notifier never timed out"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let gave_up = Instant::now();
    assert!(gave_up - sent >= Duration::from_millis(300));
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].0, "slow");
    assert!(
        failing[0].1.contains("no answer within 300ms"),
        "{failing:?}"
    );
    let ok = [("notifier", "hook"), ("result", "ok")];
    assert_eq!(metric(&registry, "gatehouse_notifications_total", &ok), 1.0);
    let err = [("notifier", "slow"), ("result", "error")];
    assert_eq!(
        metric(&registry, "gatehouse_notifications_total", &err),
        1.0
    );
}

#[tokio::test]
async fn errors_never_show_the_webhook_url() {
    // A port nobody listens on: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kind = NotifierKind::Slack(SlackNotifier {
        webhook_url: Secret(format!(
            "http://127.0.0.1:{port}/services/T0/B0/SECRETTOKEN"
        )),
    });
    let (notifiers, _) = start(&[notifier("s", kind)]);
    let err = notifiers.send("s", &firing()).await.unwrap_err();
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(text.starts_with("request failed"), "{text}");
    assert!(!text.contains("SECRETTOKEN"), "{text}");
    assert!(!notifiers.failing()[0].1.contains("SECRETTOKEN"));
}

#[tokio::test]
async fn unknown_names_and_reloads() {
    let rx = Receiver::start().await;
    rx.script([Reply::Status(500, "down")]);
    let (notifiers, _) = start(&[hook(&rx.url, 0)]);
    let err = notifiers.send("nope", &firing()).await.unwrap_err();
    assert!(matches!(err, NotifyError::UnknownNotifier(_)), "{err}");
    notifiers.spawn_send("nope", Arc::new(firing())); // logged, not a panic
    assert!(notifiers.send("hook", &firing()).await.is_err());
    assert_eq!(notifiers.failing().len(), 1);

    // Unchanged: its state stays. New: added.
    let other = NotifierKind::Ntfy(NtfyNotifier {
        url: rx.url.clone(),
        topic: "t".into(),
        token: None,
    });
    notifiers.update(&[hook(&rx.url, 0), notifier("phone", other.clone())]);
    assert_eq!(notifiers.names(), ["hook", "phone"]);
    assert_eq!(notifiers.failing().len(), 1);
    // Changed: set up afresh. Removed: gone.
    let mut changed = hook(&rx.url, 0);
    changed.timeout = Duration::from_secs(7);
    notifiers.update(&[changed]);
    assert_eq!(notifiers.names(), ["hook"]);
    assert!(notifiers.failing().is_empty());
    notifiers.send("hook", &firing()).await.unwrap();
}
