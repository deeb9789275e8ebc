//! Who may use the admin API: bearer tokens with read and write scopes (from the environment
//! and from a file), the open paths, `metrics_open`, the DNS-rebinding guard, `gatehouse check`
//! refusing an open admin listener without a token, and heartbeat pushes on the public proxy
//! listener that never reach an upstream. Real binary, real sockets.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::admin::{yaml, AdminGatehouse as Admin, READ, TOKENS, WRITE};
use common::{wait_for, Upstream};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BEAT: &str = "backup-beat-token-0123456789";

fn silence() -> Value {
    json!({ "matchers": { "rule": "down" }, "duration": "1h", "comment": "t", "created_by": "t" })
}

async fn status(rb: reqwest::RequestBuilder) -> u16 {
    rb.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_and_scopes() {
    let app = Upstream::start("app").await;
    let body = format!(
        "upstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes: [{{ name: app, upstream: app }}]\n",
        app.addr
    );
    let g = Admin::start(TOKENS, &body).await;
    let c = reqwest::Client::new();

    // No token, a wrong one, another scheme: 401 with a Bearer challenge.
    let r = c.get(g.admin("/api/v1/probes")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let wrong = format!("{READ}x");
    for auth in [
        format!("Bearer {wrong}"),
        format!("Basic {READ}"),
        "Bearer".into(),
    ] {
        let r = c
            .get(g.admin("/api/v1/probes"))
            .header("authorization", &auth);
        assert_eq!(status(r).await, 401, "{auth}");
    }
    let r = c.get(g.admin("/metrics"));
    assert_eq!(status(r).await, 401, "metrics are closed by default");

    // The read token (from a file) reads, the write token (from the environment) writes.
    for path in [
        "/api/v1/probes",
        "/api/v1/routes",
        "/api/v1/silences",
        "/metrics",
    ] {
        assert_eq!(
            status(c.get(g.admin(path)).bearer_auth(READ)).await,
            200,
            "{path}"
        );
    }
    let post = || c.post(g.admin("/api/v1/silences")).json(&silence());
    let r = post().bearer_auth(READ).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("scope `write`"));
    let r = c.delete(g.admin("/api/v1/silences/x")).bearer_auth(READ);
    assert_eq!(status(r).await, 403);
    assert_eq!(status(post().bearer_auth(WRITE)).await, 201);
    let listed: Value = c
        .get(g.admin("/api/v1/silences"))
        .bearer_auth(WRITE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["silences"].as_array().unwrap().len(), 1);
    assert_eq!(status(post()).await, 401, "no token, no silence");

    // Health and readiness stay open for orchestrators.
    for path in ["/healthz", "/readyz"] {
        assert_eq!(status(c.get(g.admin(path))).await, 200, "{path}");
    }
    let metrics = c
        .get(g.admin("/metrics"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = "gatehouse_admin_requests_rejected_total{reason=\"unauthorized\"}";
    let n: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(n >= 5.0, "{metrics}");
    let log = g.log();
    for secret in [WRITE, READ, wrong.as_str()] {
        assert!(!log.contains(secret), "a token in the log:\n{log}");
    }
}

/// Every admin route and method by who asks: no token is 401, a read token may read but gets
/// 403 on every change, a write token passes the guard (whatever its handler answers next).
#[tokio::test(flavor = "multi_thread")]
async fn every_route_by_method_and_scope() {
    let app = Upstream::start("app").await;
    let body = format!(
        "upstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes: [{{ name: app, upstream: app }}]\n",
        app.addr
    );
    let g = Admin::start(TOKENS, &body).await;
    let c = reqwest::Client::new();
    // (method, path, a change)
    let table = [
        ("GET", "/metrics", false),
        ("GET", "/api/v1/routes", false),
        ("GET", "/api/v1/probes", false),
        ("GET", "/api/v1/probes/p/history", false),
        ("GET", "/api/v1/incidents", false),
        ("GET", "/api/v1/announcements", false),
        ("GET", "/api/v1/silences", false),
        ("HEAD", "/api/v1/incidents", false),
        ("POST", "/api/v1/incidents/1/updates", true),
        ("POST", "/api/v1/announcements", true),
        ("DELETE", "/api/v1/announcements/1", true),
        ("POST", "/api/v1/silences", true),
        ("DELETE", "/api/v1/silences/x", true),
        ("PUT", "/api/v1/silences", true),
        ("PATCH", "/api/v1/routes", true),
    ];
    for (method, path, change) in table {
        let req = |token: Option<&str>| {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let rb = c.request(m, g.admin(path)).json(&json!({}));
            match token {
                Some(t) => rb.bearer_auth(t),
                None => rb,
            }
        };
        assert_eq!(
            status(req(None)).await,
            401,
            "{method} {path} without a token"
        );
        let read = status(req(Some(READ))).await;
        if change {
            assert_eq!(read, 403, "{method} {path} with a read token");
        } else {
            assert!(
                ![401, 403].contains(&read),
                "{method} {path} with a read token: {read}"
            );
        }
        let write = status(req(Some(WRITE))).await;
        assert!(
            ![401, 403].contains(&write),
            "{method} {path} with a write token: {write}"
        );
    }
    // An empty incident id is no incident.
    let r = c
        .post(g.admin("/api/v1/incidents//updates"))
        .bearer_auth(WRITE)
        .json(&json!({ "message": "x" }));
    assert_eq!(status(r).await, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_change_on_reload() {
    let body = "upstreams:\n  app: { backends: [{ address: \"127.0.0.1:9\" }] }\nroutes: [{ name: app, upstream: app }]\n";
    let g = Admin::start(TOKENS, body).await;
    let c = reqwest::Client::new();
    let probes = |token: &'static str| c.get(g.admin("/api/v1/probes")).bearer_auth(token);
    assert_eq!(status(probes(READ)).await, 200);
    // A new read token in its file, and the config saved: the file is read again.
    let rotated = "rotated-read-token-0123456789";
    std::fs::write(g.dir.path().join("read.token"), rotated).unwrap();
    g.rewrite(TOKENS, body);
    wait_for("the rotated token", Duration::from_secs(10), || async {
        status(probes(rotated)).await == 200
    })
    .await;
    assert_eq!(status(probes(READ)).await, 401);
    // Without any token again (loopback): open.
    g.rewrite("", body);
    wait_for("the tokens removed", Duration::from_secs(10), || async {
        status(c.get(g.admin("/api/v1/probes"))).await == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_open_leaves_only_metrics_open() {
    let body = "upstreams:\n  app: { backends: [{ address: \"127.0.0.1:9\" }] }\nroutes: [{ name: app, upstream: app }]\n";
    let g = Admin::start(&format!("{TOKENS}  metrics_open: true\n"), body).await;
    let c = reqwest::Client::new();
    let r = c.get(g.admin("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("gatehouse_build_info"));
    assert_eq!(status(c.get(g.admin("/api/v1/probes"))).await, 401);
    assert_eq!(status(c.get(g.admin("/api/v1/incidents"))).await, 401);
}

/// One request written by hand; the status code of the answer.
async fn raw_status(port: u16, request: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_rebinding_guard() {
    let body = "upstreams:\n  app: { backends: [{ address: \"127.0.0.1:9\" }] }\nroutes: [{ name: app, upstream: app }]\n";
    // No tokens on loopback: the API is open as before, but only under its own names.
    let g = Admin::start("  hosts: [Admin.Internal]\n", body).await;
    let c = reqwest::Client::new();
    let p = g.admin_port;
    for host in [
        "evil.example",
        "evil.example:80",
        "localhost.evil.example",
        "10.1.2.3",
    ] {
        for path in ["/healthz", "/api/v1/probes"] {
            let r = c.get(g.admin(path)).header("host", host);
            assert_eq!(status(r).await, 421, "{host}{path}");
        }
        let r = c.post(g.admin("/api/v1/silences")).header("host", host);
        assert_eq!(status(r.json(&silence())).await, 421, "{host}");
    }
    let ok = [
        format!("127.0.0.1:{p}"),
        "127.0.0.1".into(),
        format!("localhost:{p}"),
        format!("[::1]:{p}"),
        "admin.internal".into(),
        format!("ADMIN.internal.:{p}"),
    ];
    for host in &ok {
        let r = c.get(g.admin("/api/v1/probes")).header("host", host);
        assert_eq!(status(r).await, 200, "{host}");
    }
    // Missing or ambiguous Host on HTTP/1.1: 400. HTTP/1.0 needs none.
    let get = "GET /healthz HTTP/1.1\r\nconnection: close\r\n";
    assert_eq!(raw_status(p, &format!("{get}\r\n")).await, 400);
    let two = format!("{get}host: 127.0.0.1\r\nhost: evil.example\r\n\r\n");
    assert_eq!(raw_status(p, &two).await, 400);
    let bad = format!("{get}host: 127.0.0.1:99999\r\n\r\n");
    assert_eq!(raw_status(p, &bad).await, 400);
    let absolute =
        "GET http://evil.example/healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";
    assert_eq!(raw_status(p, absolute).await, 421);
    assert_eq!(raw_status(p, "GET /healthz HTTP/1.0\r\n\r\n").await, 200);
}

#[test]
fn check_refuses_an_open_admin_listener_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let body = "upstreams:\n  app: { backends: [{ address: \"127.0.0.1:9\" }] }\nroutes: [{ name: app, upstream: app }]\n";
    let config = dir.path().join("gatehouse.yaml");
    let text = yaml(8080, 9901, dir.path(), "", body).replace("127.0.0.1:9901", "0.0.0.0:9901");
    std::fs::write(&config, &text).unwrap();
    let check = |env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(["check", "--config"]).arg(&config);
        if let Some(v) = env {
            cmd.env("GATEHOUSE_TEST_ADMIN_TOKEN", v);
        }
        cmd.output().unwrap()
    };
    let out = check(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("gatehouse.yaml:4:3: admin.listen: ") && stderr.contains("admin.tokens"),
        "{stderr}"
    );
    // With a token it is valid; a missing variable is an error naming it, never a fallback.
    let with_token = text.replace(
        "state_dir",
        "  tokens: [{ name: ops, token: \"${GATEHOUSE_TEST_ADMIN_TOKEN}\", scope: write }]\nstate_dir",
    );
    std::fs::write(&config, &with_token).unwrap();
    let out = check(Some(WRITE));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = check(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("gatehouse.yaml:5:") && stderr.contains(": admin.tokens[0].token: "),
        "{stderr}"
    );
    assert!(stderr.contains("GATEHOUSE_TEST_ADMIN_TOKEN"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeats_on_the_public_listener() {
    let app = Upstream::start("app").await;
    let body = |path: &str| {
        format!(
            "probing: {{ public_heartbeat_path: {path} }}\nstore: {{ memory: true }}\nprobes:\n  - name: backup\n    heartbeat: {{ token: \"{BEAT}\", period: 1s, grace: 300ms }}\n    interval: 100ms\nupstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes: [{{ name: app, upstream: app }}]\n",
            app.addr
        )
    };
    // The admin API is locked; the public heartbeat needs only the monitor's token.
    let g = Admin::start(TOKENS, &body("/.well-known/gatehouse/heartbeat")).await;
    let c = reqwest::Client::new();
    let up = || async {
        let v: Value = c
            .get(g.admin("/api/v1/probes"))
            .bearer_auth(READ)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["probes"][0]["up"].clone()
    };
    let beat = |path: &str| c.post(g.url(&format!("/.well-known/gatehouse/heartbeat{path}")));
    wait_for(
        "the monitor down without beats",
        Duration::from_secs(20),
        || async { up().await == false },
    )
    .await;
    let r = beat("/backup").bearer_auth(BEAT).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    assert!(r.headers().contains_key("x-content-type-options"));
    wait_for(
        "the beat seen by the monitor",
        Duration::from_secs(5),
        || async { up().await == true },
    )
    .await;
    let r = beat("/backup").bearer_auth("wrong-beat-token-0123456789");
    assert_eq!(status(r).await, 401);
    assert_eq!(status(beat("/backup")).await, 401);
    assert_eq!(
        status(beat("/backup").bearer_auth(WRITE)).await,
        401,
        "admin tokens are not beat tokens"
    );
    // Unknown names are answered as wrong tokens are: names cannot be listed by trying.
    assert_eq!(status(beat("/nope").bearer_auth(BEAT)).await, 401);
    assert_eq!(status(beat("/").bearer_auth(BEAT)).await, 401);
    let r = c
        .get(g.url("/.well-known/gatehouse/heartbeat/backup"))
        .bearer_auth(BEAT);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    assert_eq!(status(beat(&format!("/backup?token={BEAT}"))).await, 200);
    assert_eq!(
        app.hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the upstream got a heartbeat"
    );
    // Next to the prefix is not under it: that goes to the route.
    let r = c.post(g.url("/.well-known/gatehouse/heartbeatx/backup"));
    assert_eq!(status(r).await, 200);
    assert_eq!(app.hits.load(std::sync::atomic::Ordering::SeqCst), 1);

    // The path is read from the live config: a reload moves it.
    g.rewrite(TOKENS, &body("/hb"));
    wait_for(
        "the reloaded heartbeat path",
        Duration::from_secs(10),
        // The upstream answers anything with 200; gatehouse refuses a beat without a token.
        || async { status(c.post(g.url("/hb/backup"))).await == 401 },
    )
    .await;
    let hits = app.hits.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        status(c.post(g.url("/hb/backup")).bearer_auth(BEAT)).await,
        200
    );
    assert_eq!(app.hits.load(std::sync::atomic::Ordering::SeqCst), hits);
    assert_eq!(
        status(beat("/backup").bearer_auth(BEAT)).await,
        200,
        "now proxied"
    );
    assert_eq!(app.hits.load(std::sync::atomic::Ordering::SeqCst), hits + 1);
    let log = g.log();
    assert!(!log.contains(BEAT), "the beat token in the log:\n{log}");
}
