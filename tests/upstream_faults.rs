//! Upstream faults with a scripted backend: a pooled connection the backend has closed is not
//! a 502 for a single-backend pool; the request goes again on a new connection.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::Gatehouse;
use gatehouse_testkit::canned::{self, After};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A backend that answers the first request of each connection (keep-alive) and closes the
/// connection, without an answer, when a second request arrives on it: what a backend whose
/// keep-alive timeout just expired does to a proxy reusing the connection.
struct OneShotBackend {
    addr: std::net::SocketAddr,
    connections: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OneShotBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OneShotBackend {
    async fn start() -> OneShotBackend {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        let (c, a) = (connections.clone(), answered.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let a = a.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut served = 0;
                    let mut chunk = [0u8; 4096];
                    while let Ok(n) = s.read(&mut chunk).await {
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            if served == 1 {
                                return; // closed, no answer
                            }
                            served += 1;
                            a.fetch_add(1, Ordering::SeqCst);
                            let _ = s
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                .await;
                        }
                    }
                });
            }
        });
        OneShotBackend {
            addr,
            connections,
            answered,
            task,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_pooled_connection_is_retried_on_the_only_backend() {
    let backend = OneShotBackend::start().await;
    let body = format!(
        "upstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes:\n  - {{ name: app, upstream: app }}\n",
        backend.addr
    );
    let g = Gatehouse::start(&body).await;
    let c = reqwest::Client::new();
    for i in 0..4 {
        let r = c.get(g.url("/")).send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(r.text().await.unwrap(), "ok");
    }
    // Every request after the first found the pooled connection closed and went again on a
    // new one.
    assert_eq!(backend.answered.load(Ordering::SeqCst), 4);
    assert!(backend.connections.load(Ordering::SeqCst) >= 4);
    // A POST is not replayed: its body may have been consumed.
    let r = c.post(g.url("/")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 502);
}

#[tokio::test(flavor = "multi_thread")]
async fn passive_health_ejects_a_failing_backend_for_a_while() {
    let app = common::Upstream::start("app").await;
    // A port nobody listens on: every connect is refused.
    let dead = format!("127.0.0.1:{}", common::free_port());
    let body = format!(
        "upstreams:\n  app:\n    backends: [{{ address: \"{}\" }}, {{ address: \"{dead}\" }}]\n    passive_health: {{ failures: 2, cool_off: 1s, max_cool_off: 4s }}\nroutes:\n  - {{ name: app, upstream: app, retries: 1 }}\n",
        app.addr
    );
    let g = Gatehouse::start(&body).await;
    let c = reqwest::Client::new();
    // Every request is answered (a refused connect goes on to the live backend) until the
    // dead one has failed twice and is taken out.
    for _ in 0..6 {
        assert_eq!(c.get(g.url("/")).send().await.unwrap().status(), 200);
    }
    assert_eq!(backend_up(&g, &dead).await, Some(0.0));
    assert_eq!(ejections(&g, &dead).await, Some(1.0));
    // While it is out, it is not tried: no more connect errors.
    let errors = g
        .metric_with(
            "gatehouse_upstream_connect_errors_total",
            &[("upstream", "app")],
        )
        .await;
    for _ in 0..6 {
        assert_eq!(c.get(g.url("/")).send().await.unwrap().status(), 200);
    }
    assert_eq!(
        g.metric_with(
            "gatehouse_upstream_connect_errors_total",
            &[("upstream", "app")]
        )
        .await,
        errors
    );
    // After the cool-off it is back in the gauge and in rotation; failing again takes it
    // out again.
    common::wait_for("the cool-off to end", Duration::from_secs(5), || async {
        backend_up(&g, &dead).await == Some(1.0)
    })
    .await;
    for _ in 0..6 {
        assert_eq!(c.get(g.url("/")).send().await.unwrap().status(), 200);
    }
    assert_eq!(ejections(&g, &dead).await, Some(2.0));
}

async fn backend_up(g: &Gatehouse, backend: &str) -> Option<f64> {
    g.metric_with(
        "gatehouse_upstream_backend_up",
        &[("upstream", "app"), ("backend", backend)],
    )
    .await
}

async fn ejections(g: &Gatehouse, backend: &str) -> Option<f64> {
    g.metric_with(
        "gatehouse_upstream_ejections_total",
        &[("upstream", "app"), ("backend", backend)],
    )
    .await
}

/// A backend that answers every request with `answer` and then closes (with a reset when
/// `reset`).
async fn scripted(answer: &'static [u8], reset: bool) -> std::net::SocketAddr {
    let after = if reset { After::Reset } else { After::Close };
    canned::serve(answer, after).await
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_upstream_answers_are_never_passed_on_as_complete() {
    let garbage = scripted(b"HTTX/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false).await;
    let short = scripted(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        false,
    )
    .await;
    let reset = scripted(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        true,
    )
    .await;
    let body = format!(
        "upstreams:\n  garbage: {{ backends: [{{ address: \"{garbage}\" }}] }}\n  short: {{ backends: [{{ address: \"{short}\" }}] }}\n  reset: {{ backends: [{{ address: \"{reset}\" }}] }}\nroutes:\n  - {{ name: garbage, upstream: garbage, path_prefix: /garbage }}\n  - {{ name: short, upstream: short, path_prefix: /short }}\n  - {{ name: reset, upstream: reset, path_prefix: /reset }}\n"
    );
    let g = Gatehouse::start(&body).await;
    let c = reqwest::Client::new();
    // A status line that is not HTTP: 502, nothing of it passed on.
    let r = c.get(g.url("/garbage")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"], "bad_gateway");
    // A body shorter than its Content-Length, ended by a close or a reset: the head was sent,
    // so the client's connection is closed and it sees an incomplete body, never a whole one.
    for path in ["/short", "/reset"] {
        let r = c.get(g.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.content_length(), Some(100), "{path}");
        assert!(
            r.bytes().await.is_err(),
            "{path}: an incomplete body read as complete"
        );
    }
}
