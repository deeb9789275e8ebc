//! The canonical request over HTTP/2 (TLS, ALPN h2): the same path spellings reach the same
//! route as over HTTP/1, the upstream gets the canonical path, and the forwarded host and port
//! are the validated `:authority`.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::tls::{client, TestCa};
use common::{Gatehouse, Upstream};

#[tokio::test(flavor = "multi_thread")]
async fn h2_paths_are_canonical_before_routing_and_forwarding() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], dir.path(), "a");
    let app = Upstream::start("app").await;
    let body = format!(
        r#"tls:
  certificates:
    - {{ cert_file: "{}", key_file: "{}" }}
upstreams:
  app: {{ backends: [{{ address: "{}" }}] }}
routes:
  - {{ name: admin, upstream: app, path_prefix: /admin, policy: {{ ip: {{ deny: ["127.0.0.0/8"] }} }} }}
  - {{ name: site, upstream: app }}
"#,
        cert.display(),
        key.display(),
        app.addr
    );
    let g = Gatehouse::start_tls(&body).await;
    let c = client(&ca.cert_pem, &["a.test"], g.tls_port);
    let url = |p: &str| format!("https://a.test:{}{p}", g.tls_port);

    // Spellings the client library leaves alone (it resolves `.` and `..` itself).
    for p in [
        "/admin/x",
        "/%61dmin/x",
        "//admin/x",
        "/adm%69n/x",
        "/admin;v=1/x",
    ] {
        let r = c.get(url(p)).send().await.unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 403, "{p} must reach the admin route");
    }
    let before = app.hits.load(std::sync::atomic::Ordering::SeqCst);
    let r = c.get(url("/admin%2fx")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"], "bad_path");
    assert_eq!(app.hits.load(std::sync::atomic::Ordering::SeqCst), before);

    let r = c
        .get(url("/%61pp//x/%7euser?q=%2e"))
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-port", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["uri"], "/app/x/~user?q=%2e", "{v}");
    let port = g.tls_port.to_string();
    assert_eq!(v["headers"]["x-forwarded-host"], format!("a.test:{port}"));
    assert_eq!(v["headers"]["x-forwarded-port"], port.as_str());
    assert_eq!(v["headers"]["x-forwarded-proto"], "https");
    assert_eq!(
        g.metric_with(
            "gatehouse_requests_rejected_total",
            &[("reason", "bad_path")]
        )
        .await,
        Some(1.0)
    );
}
