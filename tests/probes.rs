//! Probes against real local targets: HTTP servers answering 200, 500, slowly and with JSON,
//! HTTPS with a self-signed and a near-expiry certificate, a closed port, a DNS server, a real
//! redis-server with a known hit/miss count, and heartbeats received and missed. State is read
//! from the admin API and /metrics; history survives a restart; a reload adds and removes
//! probes while the others keep their schedule.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::redis::RedisServer;
use common::targets::{expiring_in, redis_commands, self_signed, DnsServer, TlsServer};
use common::tls::TestCa;
use common::{free_port, wait_for, Gatehouse, Upstream};
use serde_json::Value;
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

async fn probes(g: &Gatehouse) -> Vec<Value> {
    let v: Value = reqwest::get(g.admin("/api/v1/probes"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["probes"].as_array().cloned().unwrap_or_default()
}

async fn probe(g: &Gatehouse, name: &str) -> Value {
    probes(g)
        .await
        .into_iter()
        .find(|p| p["name"] == name)
        .unwrap_or(Value::Null)
}

/// Wait until every named probe has a result.
async fn wait_checked(g: &Gatehouse, names: &[&str]) {
    wait_for("every probe's first result", MINUTE, || async {
        let all = probes(g).await;
        names
            .iter()
            .all(|n| all.iter().any(|p| p["name"] == *n && !p["up"].is_null()))
    })
    .await;
}

/// A route to `app` (a config needs one) and `body`.
fn with_route(app: &Upstream, body: &str) -> String {
    format!(
        "upstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes:\n  - {{ name: app, upstream: app }}\n{body}",
        app.addr
    )
}

fn failures(p: &Value) -> String {
    p["last"]["failures"].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn http_tcp_tls_dns_and_redis_probes_report_what_they_saw() {
    let app = Upstream::start("app").await;
    let a = app.addr;
    let ca = TestCa::new();
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_file = ca_dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.cert_pem).unwrap();
    let self_signed = TlsServer::start(&self_signed("localhost")).await;
    let expiring = TlsServer::start(&expiring_in(&ca, "localhost", 3)).await;
    let dns = DnsServer::start("app.gatehouse.test", [10, 1, 2, 3]).await;
    let redis = RedisServer::start().await;
    // 7 hits and 3 misses: a keyspace hit ratio of 0.7.
    let mut cmds = vec!["SET k v"];
    cmds.extend(["GET k"; 7]);
    cmds.extend(["GET missing"; 3]);
    redis_commands(redis.port, &cmds).await;
    let closed = free_port();
    let (ss, ex, ca_path) = (
        self_signed.addr.port(),
        expiring.addr.port(),
        ca_file.display(),
    );
    let body = format!(
        r#"store: {{ memory: true }}
probing: {{ interval: 1s, timeout: 1s }}
probes:
  - name: ok
    group: web
    http: {{ url: "http://{a}/status/200" }}
    conditions: ["status == 200", "latency < 5s", "latency.connect < 1s"]
  - name: error
    group: web
    http: {{ url: "http://{a}/status/500" }}
  - name: slow
    http: {{ url: "http://{a}/slow?ms=1500" }}
    timeout: 300ms
  - name: json
    http: {{ url: "http://{a}/echo", method: POST, body: "ping", headers: {{ x-probe: yes }} }}
    conditions: ['body.$.backend == "app"', 'body.$.method == "POST"', 'body.$.headers.x-probe == "yes"', 'body contains "backend"']
  - name: json-down
    http: {{ url: "http://{a}/echo" }}
    conditions: ['body.$.backend == "db"']
  - name: redirect
    http: {{ url: "http://{a}/status/302?h.location=/echo" }}
    conditions: ["status == 200", 'body.$.path == "/echo"']
  - name: redirect-kept
    http: {{ url: "http://{a}/status/302?h.location=/echo", follow_redirects: false }}
    conditions: ["status == 302", 'header.location == "/echo"']
  - name: refused
    http: {{ url: "http://127.0.0.1:{closed}/" }}
  - name: tcp-up
    tcp: {{ address: "{a}" }}
  - name: tcp-closed
    tcp: {{ address: "127.0.0.1:{closed}" }}
  - name: self-signed
    http: {{ url: "https://localhost:{ss}/" }}
  - name: self-signed-unverified
    http: {{ url: "https://localhost:{ss}/", verify_tls: false }}
    conditions: ["status == 200", "cert_expiry > 14d"]
  - name: cert-self-signed
    tls: {{ address: "127.0.0.1:{ss}", server_name: localhost }}
  - name: cert-expiring
    tls: {{ address: "127.0.0.1:{ex}", server_name: localhost, ca: "{ca_path}" }}
    conditions: ["cert_valid == true", "cert_expiry > 14d"]
  - name: cert-expiring-ok
    tls: {{ address: "127.0.0.1:{ex}", server_name: localhost, ca: "{ca_path}" }}
    conditions: ["cert_valid == true", "cert_expiry > 2d"]
  - name: dns
    dns: {{ name: app.gatehouse.test, type: A, server: "{dns}" }}
    conditions: ['records contains "10.1.2.3"', "record_count == 1"]
  - name: dns-missing
    dns: {{ name: nothing.gatehouse.test, server: "{dns}" }}
  - name: cache
    redis: {{ url: "{redis}" }}
    conditions: ["hit_ratio >= 0.7", "keyspace_hits == 7"]
  - name: cache-strict
    redis: {{ url: "{redis}" }}
    conditions: ["hit_ratio >= 80%"]
"#,
        dns = dns.addr,
        redis = redis.url(),
    );
    let upstream = format!(
        "upstreams:\n  app: {{ backends: [{{ address: \"{a}\" }}] }}\nroutes:\n  - {{ name: app, upstream: app }}\n"
    );
    let g = Gatehouse::start(&(upstream + &body)).await;
    let names = [
        "ok",
        "error",
        "slow",
        "json",
        "json-down",
        "refused",
        "tcp-up",
        "tcp-closed",
        "self-signed",
        "self-signed-unverified",
        "cert-self-signed",
        "cert-expiring",
        "cert-expiring-ok",
        "dns",
        "dns-missing",
        "cache",
        "cache-strict",
    ];
    wait_checked(&g, &names).await;
    let up = |p: &Value| p["up"].as_bool().unwrap();

    let ok = probe(&g, "ok").await;
    assert!(up(&ok), "{ok}");
    assert_eq!(ok["group"], "web");
    assert_eq!(ok["last"]["status_code"], 200);
    assert!(
        ok["last"]["phases"]["connect"].as_f64().unwrap() >= 0.0,
        "{ok}"
    );
    assert!(
        ok["last"]["phases"]["first_byte"].as_f64().unwrap() > 0.0,
        "{ok}"
    );

    let error = probe(&g, "error").await;
    assert!(!up(&error));
    assert_eq!(error["last"]["status_code"], 500);
    assert!(failures(&error).contains("status was 500"), "{error}");

    let slow = probe(&g, "slow").await;
    assert!(!up(&slow));
    assert!(failures(&slow).contains("timed out after 300ms"), "{slow}");

    let json = probe(&g, "json").await;
    assert!(up(&json), "{json}");
    let down = probe(&g, "json-down").await;
    assert!(!up(&down));
    assert!(
        failures(&down).contains("\\\"app\\\""),
        "the measured value is named: {down}"
    );

    let redirect = probe(&g, "redirect").await;
    assert!(up(&redirect), "{redirect}");
    assert!(up(&probe(&g, "redirect-kept").await));

    let refused = probe(&g, "refused").await;
    assert!(!up(&refused));
    assert!(failures(&refused).contains("cannot connect"), "{refused}");
    assert!(up(&probe(&g, "tcp-up").await));
    assert!(!up(&probe(&g, "tcp-closed").await));

    // HTTPS: verification on by default; off, the certificate's expiry is still read.
    let ss = probe(&g, "self-signed").await;
    assert!(!up(&ss));
    assert!(failures(&ss).to_lowercase().contains("certificate"), "{ss}");
    let ssu = probe(&g, "self-signed-unverified").await;
    assert!(up(&ssu), "{ssu}");
    assert!(ssu["last"]["cert_expiry"].as_i64().is_some());

    let cert = probe(&g, "cert-self-signed").await;
    assert!(!up(&cert));
    assert!(failures(&cert).contains("cert_valid"), "{cert}");
    let exp = probe(&g, "cert-expiring").await;
    assert!(!up(&exp));
    let f = failures(&exp);
    assert!(
        f.contains("cert_expiry > 14d") && f.contains("expires in 2d"),
        "{exp}"
    );
    assert!(up(&probe(&g, "cert-expiring-ok").await));

    let dns_up = probe(&g, "dns").await;
    assert!(up(&dns_up), "{dns_up}");
    let missing = probe(&g, "dns-missing").await;
    assert!(!up(&missing));
    assert!(failures(&missing).contains("record_count"), "{missing}");

    let cache = probe(&g, "cache").await;
    assert!(up(&cache), "{cache}");
    assert_eq!(cache["last"]["hit_ratio"], 0.7);
    assert!(!up(&probe(&g, "cache-strict").await));

    // The same facts as metrics.
    let m = g.metrics().await;
    assert_eq!(
        g.metric_with("gatehouse_probe_up", &[("probe", "ok"), ("group", "web")])
            .await,
        Some(1.0)
    );
    assert_eq!(
        g.metric_with("gatehouse_probe_up", &[("probe", "error")])
            .await,
        Some(0.0)
    );
    assert_eq!(
        g.metric_with("gatehouse_probe_http_status_code", &[("probe", "error")])
            .await,
        Some(500.0)
    );
    assert_eq!(
        g.metric_with("gatehouse_probe_http_status_code", &[("probe", "refused")])
            .await,
        Some(0.0),
        "no response reads 0"
    );
    assert_eq!(
        g.metric_with("gatehouse_probe_cache_hit_ratio", &[("probe", "cache")])
            .await,
        Some(0.7)
    );
    let expiry = g
        .metric_with(
            "gatehouse_probe_tls_cert_expiry_timestamp_seconds",
            &[("probe", "cert-expiring")],
        )
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let days = (expiry - now) / 86400.0;
    assert!((2.9..3.01).contains(&days), "expires in {days} days");
    assert!(
        m.contains("gatehouse_probe_phase_duration_seconds{phase=\"connect\",probe=\"ok\"}"),
        "{m}"
    );
    // The end-to-end duration is a family of its own, not a phase beside the others.
    assert!(
        m.contains("gatehouse_probe_duration_seconds{probe=\"ok\"}"),
        "{m}"
    );
    assert!(!m.contains("phase=\"total\""), "{m}");
    assert!(
        g.metric_with(
            "gatehouse_probe_checks_total",
            &[("probe", "ok"), ("result", "up")]
        )
        .await
        .unwrap()
            >= 1.0
    );
    assert!(
        g.metric_with(
            "gatehouse_probe_checks_total",
            &[("probe", "error"), ("result", "down")]
        )
        .await
        .unwrap()
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_are_told_apart_from_failures() {
    // A backend that fails every other request: with one retry each check passes, and the
    // checks are counted as up_after_retry or up, never down.
    let flaky = Upstream::start("flaky").await;
    let a = flaky.addr;
    let body = format!(
        "store: {{ memory: true }}\nprobes:\n  - name: flaky\n    http: {{ url: \"http://{a}/flaky\" }}\n    interval: 200ms\n    retries: 1\n    retry_delay: 10ms\n"
    );
    let g = Gatehouse::start(&with_route(&flaky, &body)).await;
    let counted = |result: &'static str| {
        let g = &g;
        async move {
            g.metric_with(
                "gatehouse_probe_checks_total",
                &[("probe", "flaky"), ("result", result)],
            )
            .await
            .unwrap_or(0.0)
        }
    };
    wait_for("checks passing after a retry", MINUTE, || async {
        counted("up_after_retry").await >= 2.0
    })
    .await;
    assert_eq!(counted("down").await, 0.0);
    let p = probe(&g, "flaky").await;
    assert!(p["up"].as_bool().unwrap(), "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeats_received_and_missed() {
    let token = "backup-token-0123456789";
    let body = format!(
        "store: {{ memory: true }}\nprobes:\n  - name: backup\n    heartbeat: {{ token: \"{token}\", period: 1s, grace: 500ms }}\n    interval: 100ms\n"
    );
    let app = Upstream::start("app").await;
    let g = Gatehouse::start(&with_route(&app, &body)).await;
    let c = reqwest::Client::new();
    let beat = |auth: Option<&str>| {
        let mut req = c.post(g.admin("/api/v1/heartbeat/backup"));
        if let Some(a) = auth {
            req = req.bearer_auth(a);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(beat(Some(token)).await, 200);
    assert_eq!(beat(Some("wrong-token-0123456789")).await, 401);
    assert_eq!(beat(None).await, 401);
    let unknown = c
        .post(g.admin("/api/v1/heartbeat/nope"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    wait_checked(&g, &["backup"]).await;
    assert!(probe(&g, "backup").await["up"].as_bool().unwrap());
    // No beat for longer than period + grace: down, saying for how long.
    wait_for("the missed heartbeat", MINUTE, || async {
        probe(&g, "backup").await["up"] == false
    })
    .await;
    let p = probe(&g, "backup").await;
    assert!(failures(&p).contains("no beat for"), "{p}");
    // A beat (token in the query this time) brings it back at once, not at the next check.
    let r = c
        .post(g.admin(&format!("/api/v1/heartbeat/backup?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_for("the monitor back up", Duration::from_secs(5), || async {
        probe(&g, "backup").await["up"] == true
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn history_survives_a_restart() {
    let app = Upstream::start("app").await;
    let a = app.addr;
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("probes.db");
    let body = format!(
        "store: {{ path: \"{}\" }}\nprobes:\n  - name: api\n    http: {{ url: \"http://{a}/status/200\" }}\n    interval: 100ms\n  - name: broken\n    http: {{ url: \"http://{a}/status/503\" }}\n    interval: 100ms\n",
        db.display()
    );
    let mut g = Gatehouse::start(&with_route(&app, &body)).await;
    let admin = g.admin("");
    let history = |name: &'static str| {
        let url = format!("{admin}/api/v1/probes/{name}/history?range=24h");
        async move {
            let v: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            v
        }
    };
    wait_for("results in the store", MINUTE, || async {
        history("api").await["checks"].as_u64().unwrap_or(0) >= 5
            && history("broken").await["checks"].as_u64().unwrap_or(0) >= 5
    })
    .await;
    let before = history("broken").await;
    assert_eq!(before["uptime"], 0.0, "{before}");
    assert!(history("api").await["uptime"] == 1.0);
    let reasons = before["recent_failures"][0]["reasons"].to_string();
    assert!(reasons.contains("status was 503"), "{before}");
    assert_eq!(
        before["series"][0]["failures"],
        before["series"][0]["checks"]
    );
    g.restart().await;
    let after = history("broken").await;
    assert!(
        after["checks"].as_u64().unwrap() >= before["checks"].as_u64().unwrap(),
        "before {before}\nafter {after}"
    );
    assert!(!after["recent_failures"].as_array().unwrap().is_empty());
    for range in ["7d", "30d", "90d"] {
        let r = reqwest::get(g.admin(&format!("/api/v1/probes/api/history?range={range}")))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{range}");
    }
    let bad = reqwest::get(g.admin("/api/v1/probes/api/history?range=1y"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = reqwest::get(g.admin("/api/v1/probes/nope/history"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(std::fs::metadata(&db).is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_adds_and_removes_probes_and_the_others_keep_their_schedule() {
    let app = Upstream::start("app").await;
    let a = app.addr;
    let probe_yaml = |name: &str| {
        format!(
            "  - name: {name}\n    http: {{ url: \"http://{a}/status/200\" }}\n    interval: 1s\n"
        )
    };
    let g = Gatehouse::start(&with_route(
        &app,
        &format!(
            "store: {{ memory: true }}\nprobes:\n{}{}",
            probe_yaml("stays"),
            probe_yaml("goes")
        ),
    ))
    .await;
    wait_checked(&g, &["stays", "goes"]).await;
    // Two results of `stays` a few intervals apart mark its phase.
    let at = |p: Value| p["last"]["at"].as_i64().unwrap();
    let first = at(probe(&g, "stays").await);
    g.rewrite(&with_route(
        &app,
        &format!(
            "store: {{ memory: true }}\nprobes:\n{}{}",
            probe_yaml("stays"),
            probe_yaml("comes")
        ),
    ));
    wait_checked(&g, &["comes"]).await;
    let names: Vec<String> = probes(&g)
        .await
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["stays", "comes"]);
    assert!(g
        .metric_with("gatehouse_probe_up", &[("probe", "goes")])
        .await
        .is_none());
    assert!(
        g.log().contains("started=1 restarted=0 stopped=1"),
        "{}",
        g.log()
    );
    wait_for("a later check of `stays`", MINUTE, || async {
        at(probe(&g, "stays").await) >= first + 2000
    })
    .await;
    // Its checks still start on the same slot of its 1 s interval.
    let later = at(probe(&g, "stays").await);
    let drift = (later - first).rem_euclid(1000);
    let drift = drift.min(1000 - drift);
    assert!(
        drift < 150,
        "the schedule moved by {drift} ms ({first} → {later})"
    );
}
