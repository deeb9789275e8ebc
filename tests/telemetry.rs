//! Traces to a real OTLP/HTTP receiver (decoded protobuf), the upstream's `traceparent`, the
//! sampler, and what a collector that is down or dead costs: dropped spans, not latency.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::policy::{http, upstreams};
use common::receiver::{otlp_spans, BlackHole, Receiver};
use common::{free_port, wait_for, Gatehouse, Upstream};
use std::time::{Duration, Instant};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn telemetry(endpoint: &str, extra: &str) -> String {
    format!(
        "telemetry:\n  service_name: edge-test\n  instance: test-1\n  resource: {{ deployment.environment: ci }}\n  tracing: {{ endpoint: \"{endpoint}\", batch_delay: 50ms{extra} }}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn server_spans_continue_the_callers_trace_and_reach_the_collector() {
    let app = Upstream::start("app").await;
    let collector = Receiver::answering(200).await;
    let body = upstreams(&app)
        + &telemetry(&collector.url, "")
        + "routes:\n  - { name: api, upstream: app, path_prefix: /api }\n";
    let g = Gatehouse::start(&body).await;
    let c = http();

    // A caller with a sampled trace: the span continues it, the upstream continues ours.
    let r = c
        .get(g.url("/api/orders?page=2"))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .header("tracestate", "vendor=abc")
        .header("user-agent", "telemetry-test/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let echo: serde_json::Value = r.json().await.unwrap();
    let upstream_tp = echo["headers"]["traceparent"].as_str().unwrap().to_string();
    let parts: Vec<&str> = upstream_tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{upstream_tp}");
    assert_eq!(parts[1], TRACE, "the upstream continues the caller's trace");
    assert_ne!(
        parts[2], PARENT,
        "the upstream's parent is gatehouse's span"
    );
    assert_eq!(parts[3], "01");
    assert_eq!(echo["headers"]["tracestate"], "vendor=abc");

    // A caller without a trace: a new one starts, and the upstream is told.
    let r = c.get(g.url("/api/new")).send().await.unwrap();
    let echo: serde_json::Value = r.json().await.unwrap();
    let fresh = echo["headers"]["traceparent"].as_str().unwrap().to_string();
    let fresh_trace = fresh.split('-').nth(1).unwrap().to_string();
    assert_ne!(fresh_trace, TRACE);

    wait_for(
        "both spans at the collector",
        Duration::from_secs(10),
        || async { otlp_spans(&collector.seen()).len() >= 2 },
    )
    .await;
    let reqs = collector.seen();
    assert!(reqs
        .iter()
        .all(|r| r.path == "/v1/traces" && r.method == "POST"));
    assert_eq!(
        reqs[0].headers["content-type"], "application/x-protobuf",
        "OTLP/HTTP protobuf"
    );
    let spans = otlp_spans(&reqs);
    let s = spans
        .iter()
        .find(|s| s.trace_id == TRACE)
        .expect("the continued trace");
    assert_eq!(s.parent_span_id, PARENT);
    assert_eq!(
        s.span_id, parts[2],
        "the upstream's traceparent names this span"
    );
    assert_eq!(s.kind, 2, "a SERVER span");
    assert_eq!(s.name, "GET /api");
    for (k, v) in [
        ("http.request.method", "GET"),
        ("http.response.status_code", "200"),
        ("http.route", "/api"),
        ("gatehouse.route", "api"),
        ("gatehouse.upstream", "app"),
        ("url.path", "/api/orders"),
        ("url.scheme", "http"),
        ("server.address", "127.0.0.1"),
        ("client.address", "127.0.0.1"),
        ("user_agent.original", "telemetry-test/1.0"),
        ("gatehouse.request_id", request_id.as_str()),
    ] {
        assert_eq!(s.attr(k), Some(v), "attribute {k} of {s:?}");
    }
    let res = |k: &str| {
        s.resource
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(res("service.name").as_deref(), Some("edge-test"));
    assert_eq!(res("service.instance.id").as_deref(), Some("test-1"));
    assert_eq!(res("deployment.environment").as_deref(), Some("ci"));
    let root = spans
        .iter()
        .find(|s| s.trace_id == fresh_trace)
        .expect("the new trace");
    assert_eq!(
        root.parent_span_id, "",
        "a new trace starts with a root span"
    );

    // The access log names the trace.
    wait_for(
        "the access line with the trace id",
        Duration::from_secs(5),
        || async {
            g.log()
                .lines()
                .any(|l| l.contains(TRACE) && l.contains(&request_id))
        },
    )
    .await;
    // The collector can hold the spans a moment before the exporter has
    // counted its answer, so wait for the counter rather than read it once.
    wait_for(
        "two exported spans counted",
        Duration::from_secs(5),
        || async {
            g.metric_with(
                "gatehouse_telemetry_exported_total",
                &[("signal", "traces")],
            )
            .await
            .unwrap_or(0.0)
                >= 2.0
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sampler_follows_the_parent_and_the_ratio() {
    let app = Upstream::start("app").await;
    let collector = Receiver::answering(200).await;
    let body = upstreams(&app)
        + &telemetry(&collector.url, ", sample_ratio: 0.0")
        + "routes:\n  - { name: api, upstream: app }\n";
    let g = Gatehouse::start(&body).await;
    let c = http();
    let not_sampled = "11111111111111111111111111111111";
    // No parent, ratio 0: not recorded, but the upstream still gets the trace (unsampled).
    let r = c.get(g.url("/none")).send().await.unwrap();
    let echo: serde_json::Value = r.json().await.unwrap();
    let tp = echo["headers"]["traceparent"].as_str().unwrap().to_string();
    assert!(tp.ends_with("-00"), "{tp}");
    // A parent that says "not sampled": not recorded, the decision passed on.
    let r = c
        .get(g.url("/unsampled"))
        .header("traceparent", format!("00-{not_sampled}-{PARENT}-00"))
        .send()
        .await
        .unwrap();
    let echo: serde_json::Value = r.json().await.unwrap();
    assert!(echo["headers"]["traceparent"]
        .as_str()
        .unwrap()
        .starts_with(&format!("00-{not_sampled}-")));
    // A parent that says "sampled": recorded, whatever the ratio.
    c.get(g.url("/sampled"))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    wait_for("the sampled span", Duration::from_secs(10), || async {
        otlp_spans(&collector.seen())
            .iter()
            .any(|s| s.trace_id == TRACE)
    })
    .await;
    // Spans leave in order, so the unsampled ones would have arrived by now.
    let spans = otlp_spans(&collector.seen());
    assert_eq!(spans.len(), 1, "{spans:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_collector_costs_dropped_spans_not_latency() {
    let app = Upstream::start("app").await;
    // Accepts the connection and never answers: every export waits for its 30 s deadline.
    let hole = BlackHole::start().await;
    let body = upstreams(&app)
        + &telemetry(
            &format!("http://{}", hole.addr),
            ", queue_size: 8, batch_size: 4, export_timeout: 30s",
        )
        + "routes:\n  - { name: api, upstream: app }\n";
    let g = Gatehouse::start(&body).await;
    let c = http();
    let mut slowest = Duration::ZERO;
    for i in 0..200 {
        let start = Instant::now();
        let r = c.get(g.url(&format!("/r{i}"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        slowest = slowest.max(start.elapsed());
    }
    // Not a benchmark: if a request waited for the exporter it would take the 30 s export
    // deadline, so anything far below that shows the request path does not wait.
    assert!(
        slowest < Duration::from_secs(5),
        "slowest request {slowest:?}"
    );
    // At most one batch in the exporter's hands and a full queue are kept. The last span is
    // recorded just after its response leaves, so wait for it to be counted.
    wait_for(
        "the dropped spans counted",
        Duration::from_secs(10),
        || async {
            let dropped = g
                .metric_with(
                    "gatehouse_telemetry_dropped_total",
                    &[("signal", "traces"), ("reason", "queue_full")],
                )
                .await
                .unwrap_or(0.0);
            dropped >= (200 - 4 - 8) as f64
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_that_is_down_is_counted_as_failed_exports() {
    let app = Upstream::start("app").await;
    let body = upstreams(&app)
        + &telemetry(&format!("http://127.0.0.1:{}", free_port()), "")
        + "routes:\n  - { name: api, upstream: app }\n";
    let g = Gatehouse::start(&body).await;
    let c = http();
    for _ in 0..5 {
        assert_eq!(c.get(g.url("/")).send().await.unwrap().status(), 200);
    }
    wait_for(
        "failed exports counted",
        Duration::from_secs(10),
        || async {
            g.metric_with(
                "gatehouse_telemetry_dropped_total",
                &[("signal", "traces"), ("reason", "export_failed")],
            )
            .await
            .unwrap_or(0.0)
                >= 5.0
        },
    )
    .await;
    wait_for("one warning in the log", Duration::from_secs(5), || async {
        g.log()
            .contains("cannot export spans to the OTLP collector")
    })
    .await;
}
