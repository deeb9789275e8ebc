//! The `probes`, `probing` and `store` sections: defaults, every kind, and mistakes reported
//! with their path, line and, for conditions, the column in the expression.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::{Config, ConfigErrors};
use std::time::Duration;

const BASE: &str = "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]\nupstreams:\n  app: { backends: [{ address: \"127.0.0.1:3000\" }] }\nroutes:\n  - { name: app, upstream: app }\n";

fn parse(extra: &str) -> Result<Config, ConfigErrors> {
    let env = |name: &str| (name == "HB_TOKEN").then(|| "0123456789abcdef0123".to_string());
    Config::from_yaml_with_env(&format!("{BASE}{extra}"), &env)
}

fn problems(extra: &str) -> Vec<(String, Option<usize>, String)> {
    parse(extra)
        .unwrap_err()
        .errors
        .into_iter()
        .map(|e| (e.path, e.line, e.message))
        .collect()
}

#[test]
fn defaults_without_probes() {
    let c = parse("").unwrap();
    assert!(c.probes.probes.is_empty());
    assert_eq!(c.probes.concurrency, 1024);
    let s = &c.probes.store;
    assert_eq!(
        s.path.as_deref(),
        Some(std::path::Path::new("gatehouse-data/gatehouse.db"))
    );
    assert_eq!(s.raw_retention, Duration::from_secs(7 * 86400));
    assert_eq!(s.hourly_retention, Duration::from_secs(90 * 86400));
}

#[test]
fn every_kind_with_defaults_and_overrides() {
    let c = parse(
        r#"state_dir: /var/lib/gh
probing: { interval: 30s, timeout: 5s, retries: 1, concurrency: 64 }
probes:
  - name: web
    group: public
    http: { url: "https://Example.com:8443/health?full=1", method: post, headers: { X-Key: abc }, follow_redirects: false, ca: /etc/ca.pem }
    interval: 20s
    retries: 2
    labels: { team: web }
  - name: db
    tcp: { address: "db.internal:5432" }
  - name: cert
    tls: { address: "example.com:443" }
  - name: dns
    dns: { name: example.com, type: aaaa, server: "127.0.0.1" }
  - name: cache
    redis: { url: "redis://127.0.0.1:6379" }
    conditions: ["hit_ratio >= 0.7"]
  - name: backup
    heartbeat: { token: "${HB_TOKEN}", period: 1d }
"#,
    )
    .unwrap();
    let p = &c.probes;
    assert_eq!(p.concurrency, 64);
    assert_eq!(
        p.store.path.as_deref(),
        Some(std::path::Path::new("/var/lib/gh/gatehouse.db"))
    );
    let web = &p.probes[0];
    assert_eq!(
        (web.group.as_str(), web.interval, web.timeout, web.retries),
        ("public", Duration::from_secs(20), Duration::from_secs(5), 2)
    );
    let ProbeKind::Http(h) = &web.kind else {
        panic!("http")
    };
    assert!(h.tls && !h.follow_redirects && h.verify_tls);
    assert_eq!(
        (h.host.as_str(), h.port, h.path.as_str(), h.method.as_str()),
        ("example.com", 8443, "/health?full=1", "POST")
    );
    assert_eq!(h.headers[0].0, "x-key");
    assert_eq!(
        web.conditions[0].text, "status < 400",
        "the default condition"
    );
    assert_eq!(web.labels["team"], "web");
    let db = &p.probes[1];
    assert_eq!(
        (db.group.as_str(), db.interval, db.retries),
        ("default", Duration::from_secs(30), 1)
    );
    assert_eq!(db.conditions[0].text, "connected == true");
    let ProbeKind::Tls(t) = &p.probes[2].kind else {
        panic!("tls")
    };
    assert_eq!(t.server_name, "example.com");
    assert_eq!(p.probes[2].conditions.len(), 2);
    let ProbeKind::Dns(d) = &p.probes[3].kind else {
        panic!("dns")
    };
    assert_eq!(
        (d.record_type, d.server.map(|s| s.port())),
        (DnsRecordType::Aaaa, Some(53))
    );
    assert_eq!(
        p.probes[4].conditions.len(),
        1,
        "given conditions replace the defaults"
    );
    let hb = &p.probes[5];
    let ProbeKind::Heartbeat(h) = &hb.kind else {
        panic!("heartbeat")
    };
    assert_eq!(
        (h.token.0.as_str(), h.period, h.grace),
        (
            "0123456789abcdef0123",
            Duration::from_secs(86400),
            Duration::from_secs(60)
        )
    );
    assert_eq!(
        hb.interval,
        Duration::from_secs(30),
        "a heartbeat's deadline is checked often"
    );
    assert!(hb.conditions.is_empty());
}

#[test]
fn a_bad_condition_points_into_the_expression() {
    let errs = problems("probes:\n  - name: api\n    http: { url: \"http://127.0.0.1:3000/\" }\n    conditions:\n      - status == 200\n      - latency < 30x\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let (path, line, message) = &errs[0];
    assert_eq!(path, "probes[0].conditions[1]");
    assert_eq!(*line, Some(11));
    assert!(
        message.contains("`latency < 30x`") && message.contains("column 11"),
        "{message}"
    );
}

#[test]
fn a_condition_on_what_the_kind_does_not_measure() {
    let errs = problems("probes:\n  - name: db\n    tcp: { address: \"127.0.0.1:5432\" }\n    conditions: [\"status == 200\"]\n");
    assert_eq!(errs[0].0, "probes[0].conditions[0]");
    assert!(
        errs[0].2.contains("connected"),
        "lists what tcp allows: {}",
        errs[0].2
    );
}

#[test]
fn mistakes_are_named_with_their_path() {
    let errs = problems(
        r#"probing: { concurrency: 0 }
store: { raw_retention: 10m, memory: true, path: /x.db }
probes:
  - name: two-kinds
    http: { url: "http://a/" }
    tcp: { address: "a:1" }
  - name: nokind
  - name: "bad name!"
    http: { url: "ftp://a/" }
  - name: dup
    tcp: { address: "nohost" }
  - name: dup
    dns: { name: example.com, type: SRV, server: "not-an-ip" }
  - name: hb
    heartbeat: { token: short, period: 0s }
  - name: r
    redis: { url: "http://127.0.0.1:6379" }
    timeout: 0s
  - name: t
    http: { url: "http://127.0.0.1/" }
    extra: 1
"#,
    );
    let has = |path: &str, needle: &str| {
        assert!(
            errs.iter().any(|(p, _, m)| p == path && m.contains(needle)),
            "no `{needle}` at {path}: {errs:#?}"
        );
    };
    has("probing.concurrency", "at least 1");
    has("store.memory", "exclude");
    has("store.raw_retention", "at least 1h");
    has("probes[0]", "exactly one kind");
    has("probes[1]", "exactly one kind");
    has("probes[2].name", "not a valid name");
    has("probes[2].http.url", "http:// or https://");
    has("probes[3].tcp.address", "HOST:PORT");
    has("probes[4].name", "duplicate probe name");
    has("probes[4].dns.type", "SRV");
    has("probes[4].dns.server", "not an address");
    has("probes[5].heartbeat.token", "16 characters");
    has("probes[5].heartbeat.period", "longer than zero");
    has("probes[6].redis.url", "redis://");
    has("probes[6].timeout", "longer than zero");
    has("probes[7].extra", "unknown field");
    assert!(errs.iter().all(|(_, line, _)| line.is_some()), "{errs:#?}");
}

#[test]
fn a_check_that_cannot_fit_in_its_interval_is_refused() {
    let errs = problems(
        r#"probing: { retry_delay: 1s }
probes:
  - name: too-slow
    interval: 10s
    timeout: 5s
    retries: 2
    tcp: { address: "127.0.0.1:1" }
  - name: fits
    interval: 17s
    timeout: 5s
    retries: 2
    tcp: { address: "127.0.0.1:1" }
  - name: hb
    heartbeat: { token: 0123456789abcdef, period: 1m }
    interval: 1s
"#,
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let (path, line, msg) = &errs[0];
    assert_eq!(path, "probes[0].interval");
    assert_eq!(*line, Some(9));
    assert!(
        msg.contains("(1 + retries 2) × timeout 5s + 2 × retry_delay 1s = 17s"),
        "{msg}"
    );
}

#[test]
fn an_unset_timeout_fits_the_interval() {
    let c = parse(
        r#"probes:
  - { name: slow, interval: 5m, tcp: { address: "127.0.0.1:1" } }
  - { name: fast, interval: 1s, tcp: { address: "127.0.0.1:1" } }
  - { name: retrying, interval: 2s, retries: 1, retry_delay: 200ms, tcp: { address: "127.0.0.1:1" } }
"#,
    )
    .unwrap();
    let t: Vec<_> = c.probes.probes.iter().map(|p| p.timeout).collect();
    assert_eq!(
        t,
        [
            Duration::from_secs(10),
            Duration::from_millis(800),
            Duration::from_millis(700)
        ]
    );
}
