#![allow(clippy::unwrap_used)] // test helpers panic on purpose

//! Helpers of the edge-policy tests: the default headers, refusals, RateLimit headers and
//! policy-decision metrics as a user would check them.

use super::{wait_for, Gatehouse, Upstream};
use reqwest::header::HeaderMap;
use reqwest::{Client, Response};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The security headers every response carries by default, HTTP or HTTPS.
pub const DEFAULT_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// The default `Strict-Transport-Security` (HTTPS responses only).
pub const DEFAULT_HSTS: &str = "max-age=31536000; includeSubDomains";

pub const CSP_REPORT_PATH: &str = "/.well-known/gatehouse/csp-report";

/// `upstreams:` with `app` (the test upstream) and `dead` (a port nobody listens on).
pub fn upstreams(app: &Upstream) -> String {
    format!(
        "upstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\n  dead: {{ backends: [{{ address: \"127.0.0.1:{}\" }}] }}\n",
        app.addr,
        super::free_port()
    )
}

/// A client with a deadline per request that follows no redirects.
pub fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn hits(u: &Upstream) -> usize {
    u.hits.load(Ordering::SeqCst)
}

/// The one value of `name` (asserting that it appears exactly once).
pub fn once(h: &HeaderMap, name: &str) -> String {
    let all: Vec<_> = h.get_all(name).iter().collect();
    assert_eq!(all.len(), 1, "`{name}` should appear exactly once in {h:?}");
    all[0].to_str().unwrap().to_string()
}

pub fn absent(h: &HeaderMap, name: &str) {
    assert!(h.get(name).is_none(), "`{name}` should be absent in {h:?}");
}

/// The default security headers, each exactly once; HSTS on HTTPS responses only.
pub fn assert_default_headers(h: &HeaderMap, https: bool) {
    for (name, want) in DEFAULT_HEADERS {
        assert_eq!(once(h, name), want, "{name} in {h:?}");
    }
    if https {
        assert_eq!(once(h, "strict-transport-security"), DEFAULT_HSTS);
    } else {
        absent(h, "strict-transport-security");
    }
}

/// Whether `Vary` (all its values) names `Origin`.
pub fn varies_on_origin(h: &HeaderMap) -> bool {
    h.get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"))
}

/// A proxy-made refusal: `status`, and the JSON body `{status, error: code, message,
/// request_id}`. Returns its headers.
pub async fn refusal(r: Response, status: u16, code: &str) -> HeaderMap {
    let (got, h) = (r.status().as_u16(), r.headers().clone());
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: not JSON: {text}"));
    assert_eq!(v["status"], status, "{v}");
    assert_eq!(v["error"], code, "{v}");
    assert!(v["message"].is_string(), "{v}");
    assert!(
        v["request_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    h
}

/// `Retry-After` as whole seconds, at least 1.
pub fn retry_after(h: &HeaderMap) -> u64 {
    let v = once(h, "retry-after");
    let n: u64 = v
        .parse()
        .unwrap_or_else(|_| panic!("retry-after `{v}` is not a number of seconds"));
    assert!(n >= 1, "retry-after {n}");
    n
}

/// `RateLimit: "<rule>";r=<remaining>;t=<seconds>` as (remaining, seconds).
pub fn ratelimit(h: &HeaderMap, rule: &str) -> (u64, u64) {
    let v = once(h, "ratelimit");
    let rest = v
        .strip_prefix(&format!("\"{rule}\";r="))
        .unwrap_or_else(|| panic!("ratelimit `{v}`"));
    let (r, t) = rest
        .split_once(";t=")
        .unwrap_or_else(|| panic!("ratelimit `{v}`"));
    (
        r.parse().unwrap_or_else(|_| panic!("ratelimit `{v}`")),
        t.parse().unwrap_or_else(|_| panic!("ratelimit `{v}`")),
    )
}

/// Decisions of a policy without rules (cors, csrf, ip, api_key, basic_auth: `rule=""`).
pub async fn decisions(g: &Gatehouse, route: &str, policy: &str, decision: &str) -> f64 {
    rule_decisions(g, route, policy, "", decision).await
}

/// Decisions of one rule of a rate limit or lockout (`policy="rate_limit", rule="burst"`).
pub async fn rule_decisions(
    g: &Gatehouse,
    route: &str,
    policy: &str,
    rule: &str,
    decision: &str,
) -> f64 {
    g.metric_with(
        "gatehouse_policy_decisions_total",
        &[
            ("route", route),
            ("policy", policy),
            ("rule", rule),
            ("decision", decision),
        ],
    )
    .await
    .unwrap_or(0.0)
}

/// Wait until `gatehouse_policy_decisions_total{route,policy,decision}` is above zero (metrics
/// are recorded when a request ends, which may be just after the client has its answer).
pub async fn wait_decision(g: &Gatehouse, route: &str, policy: &str, decision: &str) {
    wait_rule_decision(g, route, policy, "", decision).await;
}

/// [`wait_decision`] for one rule of a rate limit or lockout.
pub async fn wait_rule_decision(
    g: &Gatehouse,
    route: &str,
    policy: &str,
    rule: &str,
    decision: &str,
) {
    let what =
        format!("decisions{{route={route},policy={policy},rule={rule},decision={decision}}} > 0");
    wait_for(&what, Duration::from_secs(5), || async {
        rule_decisions(g, route, policy, rule, decision).await > 0.0
    })
    .await;
}

/// Wait until the access log holds at least `n` lines (so that what it will say about the
/// requests so far has been written).
pub async fn wait_access_lines(g: &Gatehouse, n: usize) {
    wait_for("the access-log lines", Duration::from_secs(5), || {
        let count = g
            .log()
            .lines()
            .filter(|l| l.contains("gatehouse::access"))
            .count();
        async move { count >= n }
    })
    .await;
}
