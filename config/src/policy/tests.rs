//! Edge policies in the config: how named policies and a route's own block combine, and the
//! errors operators see, with their paths.

use super::*;
use crate::routes::Route;
use crate::{Config, ConfigErrors};
use std::time::Duration;

const BASE: &str = r#"
listeners: [{ name: http, address: "127.0.0.1:8080" }]
upstreams:
  app: { backends: [{ address: "127.0.0.1:3000" }] }
"#;

fn config(rest: &str) -> Result<Config, ConfigErrors> {
    Config::from_yaml_with_env(&format!("{BASE}{rest}"), &|_| None)
}

fn header<'a>(r: &'a Route, name: &str) -> Option<&'a str> {
    r.policy
        .headers
        .always
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn routes_without_policies_get_the_secure_defaults() {
    let c = config("routes: [{ name: app, upstream: app }]").expect("valid");
    let r = &c.routes[0];
    assert_eq!(header(r, "x-frame-options"), Some("SAMEORIGIN"));
    assert_eq!(header(r, "x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.policy.headers.hsts.as_deref(),
        Some("max-age=31536000; includeSubDomains")
    );
    assert_eq!(r.policy.headers.remove, ["server", "x-powered-by"]);
    assert!(r.policy.cors.is_none() && r.policy.rate_limits.is_empty());
}

#[test]
fn later_policies_and_the_route_block_override_field_by_field() {
    let c = config(
        r#"
policies:
  a:
    headers: { frame_options: deny, referrer_policy: same-origin }
    rate_limits: [{ name: r1, rate: 10/s }, { name: r2, rate: 1/m }]
    csrf: {}
  b:
    headers: { referrer_policy: no-referrer, hsts: { max_age: 730d, preload: true } }
    rate_limits: [{ name: r1, rate: 5/s, burst: 1 }]
routes:
  - name: app
    upstream: app
    policies: [a, b]
    policy: { headers: { frame_options: false }, csrf: { allow_without_origin: true } }
"#,
    )
    .expect("valid");
    let r = &c.routes[0];
    assert_eq!(r.policy.names, ["a", "b"]);
    assert_eq!(header(r, "x-frame-options"), None);
    assert_eq!(header(r, "referrer-policy"), Some("no-referrer"));
    assert_eq!(
        r.policy.headers.hsts.as_deref(),
        Some("max-age=63072000; includeSubDomains; preload")
    );
    let limits: Vec<(&str, u32, u32)> = r
        .policy
        .rate_limits
        .iter()
        .map(|l| (l.name.as_str(), l.rate.count, l.burst))
        .collect();
    assert_eq!(limits, [("r1", 5, 1), ("r2", 1, 1)]);
    assert_eq!(
        r.policy.rate_limits[0].emission_interval(),
        Duration::from_millis(200)
    );
    assert!(r
        .policy
        .csrf
        .as_ref()
        .is_some_and(|c| c.allow_without_origin));
}

#[test]
fn csp_is_built_from_structured_directives() {
    let c = config(
        r#"
policies:
  web:
    headers:
      content_security_policy:
        directives: { default-src: ["'self'"], img-src: ["'self'", "data:"], upgrade-insecure-requests: [] }
        report_only: true
        report_uri: gatehouse
routes: [{ name: app, upstream: app, policies: [web] }]
"#,
    )
    .expect("valid");
    let r = &c.routes[0];
    assert_eq!(
        header(r, "content-security-policy-report-only"),
        Some("default-src 'self'; img-src 'self' data:; upgrade-insecure-requests; report-uri /.well-known/gatehouse/csp-report; report-to csp")
    );
    assert!(r.policy.headers.csp_collector);
}

#[test]
fn mistakes_are_reported_with_their_paths() {
    let e = config(
        r#"
policies:
  bad:
    headers:
      frame_options: allowall
      content_security_policy: { directives: { script-src: [self], img_src: ["'self'"] } }
      hsts: { max_age: 1d, preload: true }
    cors: { allow_origins: ["*"], allow_credentials: true }
    csrf: { trusted_origins: ["https://ok.example.com/path"] }
    rate_limits: [{ name: r, rate: 10/x }, { name: s, rate: 1/s, store: redis }]
    lockouts: [{ name: l, statuses: [99], max_failures: 0, window: 1m, block_for: 0s }]
    ip: { allow: ["10.0.0.0/33"] }
    api_key: { header: "x api key", keys: [""] }
    basic_auth: { users: { alice: plaintext } }
routes:
  - { name: app, upstream: app, policies: [bad, nope] }
"#,
    )
    .unwrap_err();
    let text = e.to_string();
    for (path, words) in [
        ("policies.bad.headers.frame_options", "not one of"),
        (
            "policies.bad.headers.content_security_policy.directives.script-src[0]",
            "'self'",
        ),
        (
            "policies.bad.headers.content_security_policy.directives.img_src",
            "not a CSP directive",
        ),
        ("policies.bad.headers.hsts.preload", "365d"),
        ("policies.bad.cors.allow_credentials", "`*`"),
        ("policies.bad.csrf.trusted_origins[0]", "not an origin"),
        ("policies.bad.rate_limits[0].rate", "10/x"),
        ("policies.bad.rate_limits[1].store", "redis"),
        ("policies.bad.lockouts[0].statuses[0]", "not an HTTP status"),
        ("policies.bad.lockouts[0].max_failures", "at least 1"),
        ("policies.bad.lockouts[0].block_for", "longer than zero"),
        ("policies.bad.ip.allow[0]", "not an IP network"),
        ("policies.bad.api_key.header", "not a header name"),
        ("policies.bad.api_key.keys[0]", "empty"),
        ("policies.bad.basic_auth.users.alice", "hash-password"),
        ("routes[0].policies[1]", "unknown policy `nope`"),
    ] {
        let found = e
            .errors
            .iter()
            .any(|err| err.path == path && err.message.contains(words));
        assert!(found, "no error at {path} mentioning {words:?} in:\n{text}");
        assert!(
            e.errors
                .iter()
                .any(|err| err.path == path && err.line.is_some()),
            "{path} has no line"
        );
    }
    // The key never echoes back secrets it rejected.
    assert!(!text.contains("plaintext"), "{text}");
}

#[test]
fn trusted_proxies_and_redis() {
    let c = config(
        r#"
trusted_proxies: ["10.0.0.0/8", "192.0.2.1"]
redis: { url: "redis://127.0.0.1:6379/0" }
policies:
  p: { rate_limits: [{ name: s, rate: 100/m, key: [client_ip, "header:X-Api-Key", route], store: redis, on_store_error: deny }] }
routes: [{ name: app, upstream: app, policies: [p] }]
"#,
    )
    .expect("valid");
    assert_eq!(c.trusted_proxies.len(), 2);
    assert_eq!(c.trusted_proxies[1].to_string(), "192.0.2.1/32");
    let redis = c.redis.as_ref().expect("redis");
    assert_eq!(redis.timeout, Duration::from_millis(250));
    assert!(
        !format!("{redis:?}").contains("6379"),
        "the URL may hold a password"
    );
    let rule = &c.routes[0].policy.rate_limits[0];
    assert_eq!(
        rule.key,
        [
            KeyPart::ClientIp,
            KeyPart::Header("x-api-key".into()),
            KeyPart::Route
        ]
    );
    assert_eq!(
        rule.store,
        LimitStore::Redis {
            on_error: FailMode::Deny
        }
    );
    let shared = config(
        r#"
redis: { url: "redis://127.0.0.1:6379/0" }
routes: [{ name: app, upstream: app, policy: { lockouts: [{ name: l, statuses: [401], max_failures: 3, window: 1m, block_for: 1m, store: redis, on_store_error: deny }] } }]
"#,
    )
    .expect("valid");
    assert_eq!(
        shared.routes[0].policy.lockouts[0].store,
        LimitStore::Redis {
            on_error: FailMode::Deny
        }
    );
    let e = config(
        "routes: [{ name: app, upstream: app, policy: { lockouts: [{ name: l, statuses: [401], max_failures: 3, window: 1m, block_for: 1m, store: redis }] } }]",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("needs a top-level `redis` section"),
        "{e}"
    );
    let e =
        config("redis: { url: \"http://x\" }\nroutes: [{ name: app, upstream: app }]").unwrap_err();
    assert!(e.to_string().contains("redis.url"), "{e}");
}

#[test]
fn a_route_adding_a_deny_keeps_the_inherited_allow() {
    let c = config(
        r#"
policies:
  office: { ip: { allow: ["10.0.0.0/8"] } }
routes: [{ name: app, upstream: app, policies: [office], policy: { ip: { deny: ["10.6.0.0/16"] } } }]
"#,
    )
    .expect("valid");
    let ip = c.routes[0].policy.ip.as_ref().expect("ip gate");
    assert_eq!(ip.allow.len(), 1);
    assert_eq!(ip.deny.len(), 1);
}

#[test]
fn key_bounds_and_forwarded_credentials() {
    let c = config(
        r#"
policies:
  p:
    rate_limits: [{ name: r, rate: 10/s, max_keys: 500 }, { name: d, rate: 1/s }]
    lockouts: [{ name: l, statuses: [401], max_failures: 5, window: 1m, block_for: 1m, max_keys: 64 }]
    api_key: { keys: [k1], forward_credentials: true }
    basic_auth: { users: { alice: "$2b$04$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234" } }
routes: [{ name: app, upstream: app, policies: [p] }]
"#,
    )
    .expect("valid");
    let p = &c.routes[0].policy;
    assert_eq!(p.rate_limits[0].max_keys, 500);
    assert_eq!(p.rate_limits[1].max_keys, DEFAULT_MAX_KEYS);
    assert_eq!(p.lockouts[0].max_keys, 64);
    assert!(p.api_key.as_ref().is_some_and(|a| a.forward_credentials));
    assert!(p
        .basic_auth
        .as_ref()
        .is_some_and(|b| !b.forward_credentials));
}

#[test]
fn bad_key_bounds_and_interim_statuses_are_errors_with_paths_and_lines() {
    let e = config(
        r#"
redis: { url: "redis://127.0.0.1:6379/0" }
policies:
  bad:
    rate_limits:
      - { name: r, rate: 10/s, max_keys: 0 }
      - { name: s, rate: 10/s, store: redis, max_keys: 10 }
    lockouts:
      - { name: l, statuses: [401, 100], max_failures: 5, window: 1m, block_for: 1m, max_keys: 99999999999 }
  typo:
    api_key: { keys: [k1], forward_credentials: maybe }
routes: [{ name: app, upstream: app, policies: [bad, typo] }]
"#,
    )
    .unwrap_err();
    let text = e.to_string();
    for (path, words) in [
        ("policies.bad.rate_limits[0].max_keys", "1 to"),
        ("policies.bad.rate_limits[1].max_keys", "store: local"),
        ("policies.bad.lockouts[0].statuses[1]", "interim"),
        ("policies.bad.lockouts[0].max_keys", "out of range"),
        ("policies.typo.api_key.forward_credentials", "bool"),
    ] {
        assert!(
            e.errors
                .iter()
                .any(|err| err.path == path && err.message.contains(words) && err.line.is_some()),
            "no error with a line at {path} mentioning {words:?} in:\n{text}"
        );
    }
}
