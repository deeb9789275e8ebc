//! The proxy core, end to end: the real binary, real upstream servers, real clients.

mod common;

use common::{get_json, wait_for, Gatehouse, Upstream};
use std::time::Duration;

fn pool(name: &str, backends: &[&Upstream]) -> String {
    let mut s = format!("  {name}:\n    backends:\n");
    for b in backends {
        s += &format!("      - {{ address: \"{}\" }}\n", b.addr);
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_by_host_and_longest_prefix() {
    let (a, b, c) = (
        Upstream::start("a").await,
        Upstream::start("b").await,
        Upstream::start("c").await,
    );
    let g = Gatehouse::start(&format!(
        "upstreams:\n{}{}{}routes:\n  - {{ name: root, upstream: a }}\n  - {{ name: api, upstream: b, path_prefix: /api }}\n  - {{ name: wild, upstream: c, hosts: [\"*.example.com\"] }}\n",
        pool("a", &[&a]), pool("b", &[&b]), pool("c", &[&c])
    ))
    .await;
    let client = reqwest::Client::new();
    let backend_for = |host: &'static str, path: &'static str| {
        let client = client.clone();
        let url = g.url(path);
        async move {
            let r = client
                .get(url)
                .header("host", host)
                .send()
                .await
                .expect("request");
            let v: serde_json::Value = r.json().await.expect("json");
            v["backend"].as_str().unwrap_or_default().to_string()
        }
    };
    assert_eq!(backend_for("localhost", "/").await, "a");
    assert_eq!(backend_for("localhost", "/api/users").await, "b");
    assert_eq!(backend_for("localhost", "/apix").await, "a");
    assert_eq!(backend_for("shop.example.com", "/api").await, "c");
    assert_eq!(backend_for("Shop.Example.com:80", "/").await, "c");
}

#[tokio::test(flavor = "multi_thread")]
async fn weighted_round_robin_across_two_backends() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let g = Gatehouse::start(&format!(
        "upstreams:\n  app:\n    backends:\n      - {{ address: \"{}\", weight: 3 }}\n      - {{ address: \"{}\", weight: 1 }}\nroutes:\n  - {{ name: app, upstream: app }}\n",
        a.addr, b.addr
    ))
    .await;
    let client = reqwest::Client::new();
    let (mut na, mut nb) = (0, 0);
    for _ in 0..40 {
        let (_, v) = get_json(&client, &g.url("/")).await;
        match v["backend"].as_str() {
            Some("a") => na += 1,
            Some("b") => nb += 1,
            other => panic!("unexpected backend {other:?}"),
        }
    }
    assert_eq!((na, nb), (30, 10), "weights 3:1 over 40 requests");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_checks_take_a_backend_out_and_put_it_back() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let g = Gatehouse::start(&format!(
        "upstreams:\n  app:\n    backends:\n      - {{ address: \"{}\" }}\n      - {{ address: \"{}\" }}\n    health_check: {{ type: http, path: /health, interval: 100ms, timeout: 500ms, unhealthy_threshold: 2, healthy_threshold: 2 }}\nroutes:\n  - {{ name: app, upstream: app }}\n",
        a.addr, b.addr
    ))
    .await;
    let b_up = format!(
        "gatehouse_upstream_backend_up{{backend=\"{}\",upstream=\"app\"}}",
        b.addr
    );
    assert_eq!(g.metric(&b_up).await, Some(1.0));
    b.healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    wait_for("b to be taken out", Duration::from_secs(10), || async {
        g.metric(&b_up).await == Some(0.0)
    })
    .await;
    let client = reqwest::Client::new();
    let before = b.hits.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..10 {
        let (status, v) = get_json(&client, &g.url("/")).await;
        assert_eq!((status, v["backend"].as_str()), (200, Some("a")));
    }
    assert_eq!(
        b.hits.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "no traffic to an ejected backend"
    );
    b.healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    wait_for("b to come back", Duration::from_secs(10), || async {
        g.metric(&b_up).await == Some(1.0)
    })
    .await;
    let mut seen_b = false;
    for _ in 0..4 {
        let (_, v) = get_json(&client, &g.url("/")).await;
        seen_b |= v["backend"] == "b";
    }
    assert!(seen_b, "b serves again after passing its checks");
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_made_errors_have_consistent_bodies() {
    let a = Upstream::start("a").await;
    let dead = common::free_port();
    let g = Gatehouse::start(&format!(
        "upstreams:\n{}  dead:\n    backends: [{{ address: \"127.0.0.1:{dead}\" }}]\nroutes:\n  - {{ name: app, upstream: a, hosts: [app.test], max_body_size: 1KiB, timeouts: {{ read: 300ms }} }}\n  - {{ name: dead, upstream: dead, hosts: [dead.test] }}\n",
        pool("a", &[&a])
    ))
    .await;
    let client = reqwest::Client::new();
    let check = |r: reqwest::Response, status: u16, code: &'static str| async move {
        assert_eq!(r.status().as_u16(), status);
        let rid = r
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let v: serde_json::Value = r.json().await.expect("json body");
        assert_eq!(v["status"], status, "{v}");
        assert_eq!(v["error"], code, "{v}");
        assert!(
            v["request_id"].as_str().is_some_and(|s| !s.is_empty()),
            "{v}"
        );
        assert_eq!(rid.as_deref(), v["request_id"].as_str());
    };
    // no route
    check(
        client
            .get(g.url("/"))
            .header("host", "nowhere.test")
            .send()
            .await
            .expect("req"),
        404,
        "no_route",
    )
    .await;
    // declared body too large
    let big = vec![b'x'; 4096];
    check(
        client
            .post(g.url("/"))
            .header("host", "app.test")
            .body(big.clone())
            .send()
            .await
            .expect("req"),
        413,
        "payload_too_large",
    )
    .await;
    // chunked body too large (no content-length)
    let r = post_chunked(&client, &g.url("/"), 8, 512).await;
    check(r, 413, "payload_too_large").await;
    // a small chunked body passes
    let r = post_chunked(&client, &g.url("/"), 2, 100).await;
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["body_len"], 200);
    // dead upstream
    check(
        client
            .get(g.url("/"))
            .header("host", "dead.test")
            .send()
            .await
            .expect("req"),
        502,
        "bad_gateway",
    )
    .await;
    // slow upstream
    check(
        client
            .get(g.url("/slow?ms=2000"))
            .header("host", "app.test")
            .send()
            .await
            .expect("req"),
        504,
        "gateway_timeout",
    )
    .await;
    let m = g.metrics().await;
    assert!(
        m.contains("gatehouse_upstream_connect_errors_total{upstream=\"dead\"} 1"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_connect_failures_on_another_backend() {
    let a = Upstream::start("a").await;
    let dead = common::free_port();
    let g = Gatehouse::start(&format!(
        "upstreams:\n  app:\n    backends:\n      - {{ address: \"127.0.0.1:{dead}\" }}\n      - {{ address: \"{}\" }}\nroutes:\n  - {{ name: app, upstream: app, retries: 1 }}\n",
        a.addr
    ))
    .await;
    let client = reqwest::Client::new();
    for _ in 0..6 {
        let (status, v) = get_json(&client, &g.url("/")).await;
        assert_eq!((status, v["backend"].as_str()), (200, Some("a")));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_headers_and_request_id() {
    let a = Upstream::start("a").await;
    let g = Gatehouse::start(&format!(
        "upstreams:\n{}routes:\n  - {{ name: app, upstream: a }}\n",
        pool("a", &[&a])
    ))
    .await;
    let client = reqwest::Client::new();
    let r = client
        .get(g.url("/x?y=1"))
        .header("host", "site.test")
        .header("x-request-id", "client-id-123")
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("request");
    assert_eq!(r.headers()["x-request-id"], "client-id-123");
    let v: serde_json::Value = r.json().await.expect("json");
    let h = &v["headers"];
    // The peer is not a trusted proxy, so the X-Forwarded-For it sent is replaced, not extended.
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "site.test");
    assert_eq!(h["x-request-id"], "client-id-123");
    assert_eq!(v["uri"], "/x?y=1");
    // an unusable id is replaced
    let r = client
        .get(g.url("/"))
        .header("x-request-id", "no spaces allowed")
        .send()
        .await
        .expect("request");
    let rid = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(rid.len(), 32);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["headers"]["x-request-id"], rid.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_through_the_proxy() {
    use futures_util::{SinkExt, StreamExt};
    let a = Upstream::start("a").await;
    let g = Gatehouse::start(&format!(
        "upstreams:\n{}routes:\n  - {{ name: app, upstream: a, timeouts: {{ total: 1s }} }}\n",
        pool("a", &[&a])
    ))
    .await;
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws", g.port))
        .await
        .expect("ws connect");
    assert_eq!(resp.status(), 101);
    for i in 0..3 {
        ws.send(tokio_tungstenite::tungstenite::Message::text(format!(
            "hi {i}"
        )))
        .await
        .expect("send");
        let msg = ws.next().await.expect("message").expect("ok");
        assert_eq!(msg.to_text().expect("text"), format!("echo: hi {i}"));
    }
    // an upgraded connection outlives the route's total timeout
    tokio::time::sleep(Duration::from_millis(1200)).await;
    ws.send(tokio_tungstenite::tungstenite::Message::text("late"))
        .await
        .expect("send");
    let msg = ws.next().await.expect("message").expect("ok");
    assert_eq!(msg.to_text().expect("text"), "echo: late");
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_to_the_upstream() {
    let a = Upstream::start("a").await;
    let g = Gatehouse::start(&format!(
        "upstreams:\n  a:\n    protocol: h2c\n    backends: [{{ address: \"{}\" }}]\nroutes:\n  - {{ name: app, upstream: a }}\n",
        a.addr
    ))
    .await;
    let (status, v) = get_json(&reqwest::Client::new(), &g.url("/h2")).await;
    assert_eq!(status, 200);
    assert_eq!(v["version"], "HTTP/2.0", "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_after_traffic() {
    let a = Upstream::start("a").await;
    let g = Gatehouse::start(&format!(
        "upstreams:\n{}routes:\n  - {{ name: web, upstream: a, path_prefix: /web }}\n",
        pool("a", &[&a])
    ))
    .await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        client.get(g.url("/web/page")).send().await.expect("req");
    }
    client.get(g.url("/nothing")).send().await.expect("req");
    // A request is counted in the logging phase, just after its response has left: wait
    // for the last one rather than race it.
    wait_for("the 404 to be counted", Duration::from_secs(10), || async {
        g.metrics().await.contains(
            "gatehouse_http_requests_total{method=\"GET\",route=\"none\",status=\"404\"} 1",
        )
    })
    .await;
    let m = g.metrics().await;
    for needle in [
        "gatehouse_http_requests_total{method=\"GET\",route=\"web\",status=\"200\"} 3",
        "gatehouse_http_requests_total{method=\"GET\",route=\"none\",status=\"404\"} 1",
        "gatehouse_http_request_duration_seconds_count{route=\"web\"} 3",
        "gatehouse_http_requests_in_flight 0",
        &format!(
            "gatehouse_upstream_backend_up{{backend=\"{}\",upstream=\"a\"}} 1",
            a.addr
        ),
        "gatehouse_config_reloads_total{result=\"success\"} 0",
        "gatehouse_config_last_reload_success_timestamp_seconds ",
        "gatehouse_build_info{version=\"",
    ] {
        assert!(m.contains(needle), "missing `{needle}` in:\n{m}");
    }
    assert!(!m.contains("/web/page"), "raw paths never become labels");
    // one access-log line per request, with the route name (written in the same phase)
    let access_lines = || {
        g.log()
            .lines()
            .filter(|l| l.contains("gatehouse::access"))
            .count()
    };
    wait_for("four access-log lines", Duration::from_secs(10), || async {
        access_lines() >= 4
    })
    .await;
    assert_eq!(access_lines(), 4, "{}", g.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn json_access_log_has_one_line_per_request() {
    let a = Upstream::start("a").await;
    let g = Gatehouse::start(&format!(
        "log: {{ format: json }}\nupstreams:\n{}routes:\n  - {{ name: web, upstream: a }}\n",
        pool("a", &[&a])
    ))
    .await;
    let client = reqwest::Client::new();
    client
        .get(g.url("/page?q=1"))
        .header("host", "site.test")
        .header("x-request-id", "rid-json-1")
        .send()
        .await
        .expect("req");
    let lines = wait_for_log_lines(&g, "rid-json-1").await;
    assert_eq!(lines.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).expect("a JSON line");
    for (k, want) in [
        ("method", "GET"),
        ("host", "site.test"),
        ("path", "/page"),
        ("route", "web"),
        ("client", "127.0.0.1"),
    ] {
        assert_eq!(v[k], want, "{k} in {v}");
    }
    assert_eq!(v["status"], 200);
    assert_eq!(v["upstream"], a.addr.to_string());
    assert!(v["bytes"].as_u64().is_some_and(|b| b > 0), "{v}");
    assert!(v["duration_ms"].as_f64().is_some(), "{v}");
    assert!(v["timestamp"].as_str().is_some(), "{v}");
}

async fn wait_for_log_lines(g: &Gatehouse, needle: &str) -> Vec<String> {
    let mut lines = Vec::new();
    wait_for("the access-log line", Duration::from_secs(5), || {
        lines = g
            .log()
            .lines()
            .filter(|l| l.contains(needle) && l.contains("gatehouse::access"))
            .map(str::to_string)
            .collect();
        let found = !lines.is_empty();
        async move { found }
    })
    .await;
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_health_check_ejects_a_closed_backend() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let b_addr = b.addr;
    let g = Gatehouse::start(&format!(
        "upstreams:\n  app:\n    backends:\n      - {{ address: \"{}\" }}\n      - {{ address: \"{}\" }}\n    health_check: {{ type: tcp, interval: 100ms, timeout: 300ms, unhealthy_threshold: 1 }}\nroutes:\n  - {{ name: app, upstream: app }}\n",
        a.addr, b_addr
    ))
    .await;
    drop(b); // the port closes
    let b_up = format!("gatehouse_upstream_backend_up{{backend=\"{b_addr}\",upstream=\"app\"}}");
    wait_for("b to be taken out", Duration::from_secs(10), || async {
        g.metric(&b_up).await == Some(0.0)
    })
    .await;
    let client = reqwest::Client::new();
    for _ in 0..6 {
        let (status, v) = get_json(&client, &g.url("/")).await;
        assert_eq!((status, v["backend"].as_str()), (200, Some("a")));
    }
}

/// POST `chunks` pieces of `size` bytes as a chunked body (no Content-Length) to host app.test.
async fn post_chunked(
    client: &reqwest::Client,
    url: &str,
    chunks: usize,
    size: usize,
) -> reqwest::Response {
    let stream = futures_util::stream::iter(
        (0..chunks).map(move |_| Ok::<_, std::io::Error>(vec![b'y'; size])),
    );
    client
        .post(url)
        .header("host", "app.test")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("req")
}

/// `server.upstream_keepalive_pool` bounds the idle upstream connections kept for reuse, per
/// proxy worker thread (the tests run two). Eight requests at once need eight upstream
/// connections. With the default pool (128) all eight stay open and the next eight requests
/// reuse them; with a pool of 2 (4 for two threads) the other four are closed once released
/// (the pool closes what it evicts a moment later) and four are new.
#[tokio::test(flavor = "multi_thread")]
async fn the_upstream_keepalive_pool_bounds_the_idle_connections_kept() {
    use std::sync::atomic::Ordering::SeqCst;
    for (setting, kept) in [("", 8), ("  upstream_keepalive_pool: 2\n", 4)] {
        let app = Upstream::start("app").await;
        let body = format!(
            "{setting}upstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes:\n  - {{ name: app, upstream: app }}\n",
            app.addr
        );
        let g = Gatehouse::start(&body).await;
        let url = g.url("/held?delay_ms=300");
        let burst = || async {
            let clients: Vec<_> = (0..8).map(|_| reqwest::Client::new()).collect();
            let answers =
                futures_util::future::join_all(clients.iter().map(|c| c.get(&url).send()));
            for r in answers.await {
                assert_eq!(r.expect("answer").status(), 200);
            }
        };
        burst().await;
        assert!(app.accepted.load(SeqCst) >= 8, "eight requests at once");
        wait_for(
            "the pool to keep its size",
            Duration::from_secs(10),
            || async { app.open.load(SeqCst) == kept },
        )
        .await;
        let before = app.accepted.load(SeqCst);
        burst().await;
        let new = app.accepted.load(SeqCst) - before;
        assert_eq!(
            new,
            8 - kept,
            "{setting:?}: new upstream connections for the second burst"
        );
    }
}
