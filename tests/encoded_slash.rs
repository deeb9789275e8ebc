//! A route that allows encoded slashes keeps them encoded, and never becomes a way around
//! another route: a path whose `%2F`, once decoded by a backend, would belong to another route
//! is refused.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::{Gatehouse, Upstream};

#[tokio::test(flavor = "multi_thread")]
async fn encoded_slashes_stay_on_their_route() {
    let app = Upstream::start("app").await;
    let body = format!(
        r#"upstreams:
  app: {{ backends: [{{ address: "{}" }}] }}
routes:
  - {{ name: admin, upstream: app, path_prefix: /admin, policy: {{ ip: {{ deny: ["127.0.0.0/8"] }} }} }}
  - {{ name: site, upstream: app, allow_encoded_slashes: true }}
"#,
        app.addr
    );
    let g = Gatehouse::start(&body).await;
    let c = reqwest::Client::new();
    let r = c.get(g.url("/files/a%2fb")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["uri"], "/files/a%2Fb", "{v}");
    for p in [
        "/admin%2Fsecret",
        "/x/..%2Fadmin/secret",
        "/admin%2f..%2fadmin/secret",
        "/admin/x%2Fy",
    ] {
        let r = c.get(g.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{p}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "bad_path", "{p}");
    }
}
