//! CORS (preflights, look-alike origins, upstream CORS headers replaced) and the CSRF origin
//! check, end to end with the real binary.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::policy::*;
use common::{Gatehouse, Upstream};
use reqwest::{Client, Method};

// ---------------------------------------------------------------------------------------------
// CORS and CSRF

const CORS_POLICY: &str = r#"policies:
  spa:
    cors:
      allow_origins: ["https://app.example.com", "https://*.example.com"]
      allow_methods: [GET, POST]
      allow_headers: [content-type, authorization]
      expose_headers: [x-request-id]
      allow_credentials: true
      max_age: 10m
"#;

fn preflight(c: &Client, url: String, origin: &str) -> reqwest::RequestBuilder {
    c.request(Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_preflights_and_actual_requests_echo_only_allowed_origins() {
    let app = Upstream::start("app").await;
    let body = upstreams(&app)
        + CORS_POLICY
        + r#"routes:
  - { name: app, upstream: app, policies: [spa] }
  - { name: limited, upstream: app, path_prefix: /limited, policies: [spa], policy: { rate_limits: [{ name: one, rate: 1/m, burst: 1 }] } }
"#;
    let g = Gatehouse::start(&body).await;
    let c = http();

    // Allowed preflights are answered by gatehouse.
    let before = hits(&app);
    for origin in [
        "https://app.example.com",
        "https://a.example.com",
        "https://a.b.example.com",
    ] {
        let r = preflight(&c, g.url("/api/things"), origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{origin}");
        let h = r.headers();
        assert_eq!(once(h, "access-control-allow-origin"), origin);
        assert!(varies_on_origin(h), "{h:?}");
        assert_eq!(once(h, "access-control-allow-methods"), "GET, POST");
        assert_eq!(
            once(h, "access-control-allow-headers"),
            "content-type, authorization"
        );
        assert_eq!(once(h, "access-control-max-age"), "600");
        assert_eq!(once(h, "access-control-allow-credentials"), "true");
        assert_default_headers(h, false);
    }
    assert_eq!(hits(&app), before, "preflights must not reach the upstream");

    // Look-alikes are refused.
    for origin in [
        "null",
        "https://evil-example.com",
        "https://example.com.evil.com",
        "http://app.example.com",
        "https://app.example.com.evil.com",
        "https://example.com",
        "https://app.example.com:8443",
        "https://xexample.com",
    ] {
        let r = preflight(&c, g.url("/api/things"), origin)
            .send()
            .await
            .unwrap();
        let h = refusal(r, 403, "cors_refused").await;
        absent(&h, "access-control-allow-origin");
    }
    assert_eq!(
        hits(&app),
        before,
        "refused preflights must not reach the upstream"
    );
    wait_decision(&g, "app", "cors", "blocked").await;

    // Actual requests from an allowed origin.
    let allowed = "https://app.example.com";
    for path in ["/", "/cors-upstream"] {
        let r = c
            .get(g.url(path))
            .header("origin", allowed)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert_eq!(once(h, "access-control-allow-origin"), allowed, "{path}");
        assert!(varies_on_origin(h), "{path}: {h:?}");
        assert_eq!(once(h, "access-control-allow-credentials"), "true");
        assert_eq!(once(h, "access-control-expose-headers"), "x-request-id");
    }
    // ... and from refused ones: the upstream answers, without any CORS grant (its own `*`
    // stripped too).
    for origin in ["https://evil-example.com", "null"] {
        for path in ["/", "/cors-upstream"] {
            let r = c
                .get(g.url(path))
                .header("origin", origin)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{origin} {path}");
            absent(r.headers(), "access-control-allow-origin");
        }
    }
    // Without an Origin the upstream's `*` is not passed on either.
    let r = c.get(g.url("/cors-upstream")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    absent(r.headers(), "access-control-allow-origin");

    // A proxy-made 429 still lets an allowed page read the answer.
    let r = c
        .get(g.url("/limited"))
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(g.url("/limited"))
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(once(r.headers(), "access-control-allow-origin"), allowed);
    refusal(r, 429, "rate_limited").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn csrf_rejects_cross_site_unsafe_requests() {
    let app = Upstream::start("app").await;
    let body = upstreams(&app)
        + r#"routes:
  - { name: app, upstream: app, policy: { csrf: { trusted_origins: ["https://admin.example.com"], allow_without_origin: false } } }
  - { name: lenient, upstream: app, path_prefix: /lenient, policy: { csrf: { allow_without_origin: true } } }
"#;
    let g = Gatehouse::start(&body).await;
    let c = http();
    let own = format!("http://127.0.0.1:{}", g.port);
    let evil = "https://evil.example";
    let post = |path: &str, headers: &[(&str, &str)]| {
        let mut rb = c.post(g.url(path)).body("a=1");
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send()
    };

    let before = hits(&app);
    refusal(
        post("/form", &[("origin", evil)]).await.unwrap(),
        403,
        "csrf_rejected",
    )
    .await;
    assert_eq!(
        hits(&app),
        before,
        "a rejected request must not reach the upstream"
    );
    refusal(
        post(
            "/form",
            &[("origin", evil), ("sec-fetch-site", "cross-site")],
        )
        .await
        .unwrap(),
        403,
        "csrf_rejected",
    )
    .await;
    refusal(post("/form", &[]).await.unwrap(), 403, "csrf_rejected").await;
    refusal(
        post("/form", &[("referer", "https://evil.example/page")])
            .await
            .unwrap(),
        403,
        "csrf_rejected",
    )
    .await;
    let r = c
        .delete(g.url("/form"))
        .header("origin", evil)
        .send()
        .await
        .unwrap();
    refusal(r, 403, "csrf_rejected").await;

    let own_page = format!("{own}/page");
    for (name, value) in [
        ("origin", own.as_str()),
        ("sec-fetch-site", "same-origin"),
        ("referer", own_page.as_str()),
        ("origin", "https://admin.example.com"),
    ] {
        let r = post("/form", &[(name, value)]).await.unwrap();
        assert_eq!(r.status(), 200, "{name}: {value}");
    }

    // Safe methods are never checked.
    for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
        let r = c
            .request(method.clone(), g.url("/form"))
            .header("origin", evil)
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method}");
    }

    // `allow_without_origin` lets requests with no origin information through, not evil ones.
    assert_eq!(post("/lenient", &[]).await.unwrap().status(), 200);
    refusal(
        post("/lenient", &[("origin", evil)]).await.unwrap(),
        403,
        "csrf_rejected",
    )
    .await;

    wait_decision(&g, "app", "csrf", "blocked").await;
    wait_decision(&g, "app", "csrf", "allowed").await;
}
