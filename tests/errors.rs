//! Sentry: upstream 5xx and proxy-side failures arrive at a local DSN host as envelopes with
//! the route, request id and trace id and without the client's credentials; a burst of errors
//! costs at most `max_events` events.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::policy::{http, upstreams};
use common::receiver::{sentry_events, Receiver};
use common::{wait_for, Gatehouse, Upstream};
use std::time::Duration;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn sentry(dsn_host: &Receiver, extra: &str) -> String {
    format!(
        "telemetry:\n  instance: edge-1\n  sentry: {{ dsn: \"http://publickey@{}/42\", environment: staging, release: shop@1.2.3{extra} }}\n",
        dsn_host.addr
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_5xx_and_connect_failures_become_events_without_credentials() {
    let app = Upstream::start("app").await;
    let dsn_host = Receiver::answering(200).await;
    let body = upstreams(&app)
        + &sentry(&dsn_host, ", sensitive_query_params: [order_secret]")
        + "routes:\n  - { name: shop, upstream: app }\n  - { name: gone, upstream: dead, path_prefix: /gone }\n";
    let g = Gatehouse::start(&body).await;
    let c = http();

    let r = c
        .get(g.url("/status/502?page=1&token=tok-123&order_secret=os-456"))
        .header("authorization", "Bearer very-secret-bearer")
        .header("cookie", "session=cookie-789")
        .header("x-api-key", "key-abc")
        .header("user-agent", "shop-client/2")
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let upstream_rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let r = c.get(g.url("/gone/x")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let connect_rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    // A 4xx is the client's business, not an error to report.
    assert_eq!(
        c.get(g.url("/status/404")).send().await.unwrap().status(),
        404
    );

    wait_for(
        "two events at the DSN host",
        Duration::from_secs(10),
        || async { sentry_events(&dsn_host.seen()).len() >= 2 },
    )
    .await;
    let all = dsn_host.seen();
    for r in &all {
        assert_eq!(r.path, "/api/42/envelope/");
        let auth = r.headers["x-sentry-auth"].to_str().unwrap();
        assert!(auth.contains("sentry_key=publickey"), "{auth}");
        let text = String::from_utf8_lossy(&r.body);
        for secret in [
            "very-secret-bearer",
            "cookie-789",
            "key-abc",
            "tok-123",
            "os-456",
        ] {
            assert!(!text.contains(secret), "`{secret}` leaked into {text}");
        }
        assert!(
            !text.to_ascii_lowercase().contains("authorization"),
            "{text}"
        );
    }
    let events = sentry_events(&all);
    assert_eq!(events.len(), 2, "{events:?}");
    let up = events
        .iter()
        .find(|e| e["tags"]["request_id"] == upstream_rid.as_str())
        .expect("the upstream 502's event");
    assert_eq!(up["tags"]["route"], "shop");
    assert_eq!(up["tags"]["upstream"], "app");
    assert_eq!(up["tags"]["status"], "502");
    assert_eq!(up["tags"]["error_kind"], "upstream_5xx");
    assert_eq!(up["tags"]["trace_id"], TRACE);
    assert_eq!(up["environment"], "staging");
    assert_eq!(up["release"], "shop@1.2.3");
    assert_eq!(up["server_name"], "edge-1");
    assert_eq!(up["contexts"]["trace"]["trace_id"], TRACE);
    assert_eq!(
        up["request"]["query_string"],
        "page=1&token=[Filtered]&order_secret=[Filtered]"
    );
    // Only the User-Agent of the client's headers is sent.
    assert_eq!(
        up["request"]["headers"],
        serde_json::json!({ "User-Agent": "shop-client/2" }),
        "{up}"
    );

    let conn = events
        .iter()
        .find(|e| e["tags"]["request_id"] == connect_rid.as_str())
        .expect("the connect failure's event");
    assert_eq!(conn["tags"]["route"], "gone");
    assert_eq!(conn["tags"]["upstream"], "dead");
    assert_eq!(conn["tags"]["status"], "502");
    assert_eq!(conn["tags"]["error_kind"], "ConnectRefused");
    assert!(conn["message"]
        .as_str()
        .unwrap()
        .contains("proxying to upstream `dead` failed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_errors_sends_at_most_max_events() {
    let app = Upstream::start("app").await;
    let dsn_host = Receiver::answering(200).await;
    let body = upstreams(&app)
        + &sentry(&dsn_host, ", max_events: 5/1h")
        + "routes:\n  - { name: shop, upstream: app }\n";
    let g = Gatehouse::start(&body).await;
    let c = http();
    // 1000 failing requests, 25 at a time.
    for chunk in 0..40 {
        let batch = (0..25).map(|i| {
            let (c, url) = (c.clone(), g.url(&format!("/status/500?n={chunk}-{i}")));
            async move { c.get(url).send().await.unwrap().status().as_u16() }
        });
        let statuses = futures_util::future::join_all(batch).await;
        assert!(statuses.iter().all(|s| *s == 500));
    }
    wait_for("995 events held back", Duration::from_secs(10), || async {
        g.metric_with(
            "gatehouse_telemetry_dropped_total",
            &[("signal", "errors"), ("reason", "rate_limited")],
        )
        .await
            == Some(995.0)
    })
    .await;
    wait_for("5 events delivered", Duration::from_secs(10), || async {
        g.metric_with(
            "gatehouse_telemetry_exported_total",
            &[("signal", "errors")],
        )
        .await
            == Some(5.0)
    })
    .await;
    assert_eq!(sentry_events(&dsn_host.seen()).len(), 5);
}
