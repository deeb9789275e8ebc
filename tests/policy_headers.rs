//! Security headers on every response (including the proxy's own), CSP with reports, HSTS on
//! HTTPS only, and per-policy and per-route header overrides, end to end with the real binary.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::policy::*;
use common::tls::{client, client_with, TestCa};
use common::{wait_for, Gatehouse, Upstream};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn default_security_headers_on_every_response_including_the_proxys_own() {
    let app = Upstream::start("app").await;
    let body = upstreams(&app)
        + r#"routes:
  - { name: plain, upstream: app, path_prefix: /plain }
  - { name: dead, upstream: dead, path_prefix: /dead }
  - { name: denied, upstream: app, path_prefix: /denied, policy: { ip: { deny: ["127.0.0.0/8"] } } }
  - { name: keyed, upstream: app, path_prefix: /keyed, policy: { api_key: { header: x-api-key, keys: ["k-headers"] } } }
  - { name: limited, upstream: app, path_prefix: /limited, policy: { rate_limits: [{ name: one, rate: 1/m, burst: 1 }] } }
"#;
    let g = Gatehouse::start(&body).await;
    let c = http();

    // A route without any policy, answered by the upstream.
    let r = c.get(g.url("/plain/page")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_default_headers(r.headers(), false);

    // The upstream's own Server / X-Powered-By go, its X-Frame-Options is replaced.
    let r = c.get(g.url("/plain/powered")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_default_headers(r.headers(), false);
    absent(r.headers(), "x-powered-by");
    assert!(
        r.headers()
            .get_all("server")
            .iter()
            .all(|v| *v != "test-upstream/1.0"),
        "{:?}",
        r.headers()
    );

    // Responses the proxy makes itself carry them too.
    let h = refusal(
        c.get(g.url("/nowhere")).send().await.unwrap(),
        404,
        "no_route",
    )
    .await;
    assert_default_headers(&h, false);
    let h = refusal(
        c.get(g.url("/dead")).send().await.unwrap(),
        502,
        "bad_gateway",
    )
    .await;
    assert_default_headers(&h, false);
    let h = refusal(
        c.get(g.url("/denied")).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_default_headers(&h, false);
    let h = refusal(
        c.get(g.url("/keyed")).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    assert_default_headers(&h, false);
    let r = c.get(g.url("/limited")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_default_headers(r.headers(), false);
    let h = refusal(
        c.get(g.url("/limited")).send().await.unwrap(),
        429,
        "rate_limited",
    )
    .await;
    assert_default_headers(&h, false);
    retry_after(&h);
}

#[tokio::test(flavor = "multi_thread")]
async fn csp_reports_and_header_overrides_per_policy_and_route() {
    let app = Upstream::start("app").await;
    let body = upstreams(&app)
        + r#"policies:
  web:
    headers:
      content_security_policy:
        directives:
          default-src: ["'self'"]
          img-src: ["'self'", "data:"]
        report_only: false
        report_uri: gatehouse
      frame_options: deny
      permissions_policy: { camera: [], geolocation: [self] }
      cross_origin_resource_policy: same-site
  a:
    headers: { referrer_policy: same-origin }
  b:
    headers: { referrer_policy: no-referrer }
routes:
  - { name: app, upstream: app, policies: [web] }
  - { name: override, upstream: app, path_prefix: /override, policies: [web], policy: { headers: { frame_options: sameorigin } } }
  - { name: ab, upstream: app, path_prefix: /ab, policies: [a, b] }
  - { name: ro, upstream: app, path_prefix: /ro, policy: { headers: { content_security_policy: { directives: { default-src: ["'self'"] }, report_only: true } } } }
  - { name: noframe, upstream: app, path_prefix: /noframe, policy: { headers: { frame_options: false, referrer_policy: false, cross_origin_opener_policy: false } } }
"#;
    let g = Gatehouse::start(&body).await;
    let c = http();
    let csp = "default-src 'self'; img-src 'self' data:; report-uri /.well-known/gatehouse/csp-report; report-to csp";

    let r = c.get(g.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(once(h, "content-security-policy"), csp);
    absent(h, "content-security-policy-report-only");
    assert_eq!(
        once(h, "reporting-endpoints"),
        "csp=\"/.well-known/gatehouse/csp-report\""
    );
    assert_eq!(once(h, "x-frame-options"), "DENY");
    assert_eq!(
        once(h, "permissions-policy"),
        "camera=(), geolocation=(self)"
    );
    assert_eq!(once(h, "cross-origin-resource-policy"), "same-site");
    assert_eq!(once(h, "x-content-type-options"), "nosniff");
    assert_eq!(
        once(h, "referrer-policy"),
        "strict-origin-when-cross-origin"
    );
    assert_eq!(once(h, "cross-origin-opener-policy"), "same-origin");
    absent(h, "strict-transport-security");

    // The upstream's ALLOWALL is replaced by the policy's DENY, once.
    let r = c.get(g.url("/powered")).send().await.unwrap();
    assert_eq!(once(r.headers(), "x-frame-options"), "DENY");
    absent(r.headers(), "x-powered-by");

    // The route's own block overrides one field; the rest of `web` still applies.
    let r = c.get(g.url("/override")).send().await.unwrap();
    assert_eq!(once(r.headers(), "x-frame-options"), "SAMEORIGIN");
    assert_eq!(once(r.headers(), "content-security-policy"), csp);

    // Later named policies override earlier ones.
    let r = c.get(g.url("/ab")).send().await.unwrap();
    assert_eq!(once(r.headers(), "referrer-policy"), "no-referrer");

    // Report-only CSP uses the other header name.
    let r = c.get(g.url("/ro")).send().await.unwrap();
    assert_eq!(
        once(r.headers(), "content-security-policy-report-only"),
        "default-src 'self'"
    );
    absent(r.headers(), "content-security-policy");
    absent(r.headers(), "reporting-endpoints");

    // `false` leaves a header out.
    let r = c.get(g.url("/noframe")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    absent(r.headers(), "x-frame-options");
    absent(r.headers(), "referrer-policy");
    absent(r.headers(), "cross-origin-opener-policy");
    assert_eq!(once(r.headers(), "x-content-type-options"), "nosniff");

    // A CSP report is taken by gatehouse and counted; the upstream never sees it.
    let before = hits(&app);
    let report = r#"{"csp-report":{"document-uri":"http://x/","violated-directive":"img-src","blocked-uri":"http://evil/"}}"#;
    let r = c
        .post(g.url(CSP_REPORT_PATH))
        .header("content-type", "application/csp-report")
        .body(report)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(hits(&app), before, "the report must not reach the upstream");
    wait_for("the CSP report count", Duration::from_secs(5), || async {
        g.metric_with("gatehouse_csp_reports_total", &[("route", "app")])
            .await
            == Some(1.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hsts_only_on_https_responses() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["localhost"], dir.path(), "localhost");
    let app = Upstream::start("app").await;
    let body = format!(
        "tls:\n  certificates:\n    - {{ cert_file: \"{}\", key_file: \"{}\" }}\n{}",
        cert.display(),
        key.display(),
        upstreams(&app)
    ) + r#"routes:
  - { name: app, upstream: app, hosts: [localhost] }
  - { name: preload, upstream: app, hosts: [localhost], path_prefix: /preload, policy: { headers: { hsts: { max_age: 730d, include_subdomains: true, preload: true } } } }
  - { name: nohsts, upstream: app, hosts: [localhost], path_prefix: /nohsts, policy: { headers: { hsts: false } } }
"#;
    let g = Gatehouse::start_tls(&body).await;
    let https = client(&ca.cert_pem, &["localhost"], g.tls_port);
    let url = |path: &str| format!("https://localhost:{}{path}", g.tls_port);

    let r = https.get(url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_default_headers(r.headers(), true);
    let r = https.get(url("/powered")).send().await.unwrap();
    assert_default_headers(r.headers(), true);
    let r = https.get(url("/preload")).send().await.unwrap();
    assert_eq!(
        once(r.headers(), "strict-transport-security"),
        "max-age=63072000; includeSubDomains; preload"
    );
    let r = https.get(url("/nohsts")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    absent(r.headers(), "strict-transport-security");

    // A proxy-made 404 over HTTPS has it too (HTTP/1.1, to send a Host of our choosing).
    let h1 = client_with(&ca.cert_pem, &["localhost"], g.tls_port, &[b"http/1.1"]);
    let r = h1
        .get(url("/"))
        .header("host", "nowhere.test")
        .send()
        .await
        .unwrap();
    let h = refusal(r, 404, "no_route").await;
    assert_default_headers(&h, true);

    // Never over plain HTTP: neither on a redirect or answer, nor on a 404.
    let c = http();
    let r = c
        .get(g.url("/"))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    absent(r.headers(), "strict-transport-security");
    assert_eq!(once(r.headers(), "x-content-type-options"), "nosniff");
    let r = c
        .get(g.url("/"))
        .header("host", "nowhere.test")
        .send()
        .await
        .unwrap();
    let h = refusal(r, 404, "no_route").await;
    assert_default_headers(&h, false);
}
