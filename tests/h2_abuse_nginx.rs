//! HTTP/2 abuse sent to gatehouse and to Debian's nginx side by side, each in front of its
//! own recording backend, with the same limits (header deadline 1 s, 20 streams): gatehouse
//! must be at least as strict. nginx 1.22's answer to the paced rapid reset is its total
//! stream cap (keepalive_requests, 1000): a flood below it reaches the backend in full.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::h2::{rapid_reset, tls, Holding};
use common::nginx::Nginx;
use common::tls::TestCa;
use common::Gatehouse;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

struct Pair {
    ca: TestCa,
    g: Gatehouse,
    g_backend: Holding,
    nginx: Nginx,
    n_backend: Holding,
    _dir: tempfile::TempDir,
}

async fn pair() -> Pair {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], dir.path(), "a");
    let (g_backend, n_backend) = (Holding::start().await, Holding::start().await);
    let body = format!(
        r#"  header_timeout: 1s
  http2_max_concurrent_streams: 20
  http2_max_resets: 30
tls:
  certificates:
    - {{ cert_file: "{}", key_file: "{}" }}
upstreams:
  app: {{ backends: [{{ address: "{}" }}] }}
routes:
  - {{ name: app, upstream: app }}
"#,
        cert.display(),
        key.display(),
        g_backend.addr
    );
    let g = Gatehouse::start_tls(&body).await;
    let backend = n_backend.addr;
    let nginx = Nginx::start_with(|d, port| {
        let d = d.display();
        format!(
            r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_header_timeout 1s;
    http2_max_concurrent_streams 20;
    upstream app {{ server {backend}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port} ssl http2;
        server_name a.test;
        ssl_certificate {};
        ssl_certificate_key {};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"#,
            cert.display(),
            key.display()
        )
    })
    .await;
    Pair {
        ca,
        g,
        g_backend,
        nginx,
        n_backend,
        _dir: dir,
    }
}

/// How long after its TLS handshake a connection that sends no preface stays open (`None`:
/// still open after 10 s).
async fn no_preface(root_pem: &str, port: u16) -> Option<Duration> {
    let mut c = tls(root_pem, port).await;
    let t0 = Instant::now();
    let mut b = [0u8; 256];
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match c.read(&mut b).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| t0.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn gatehouse_is_at_least_as_strict_as_nginx_with_http2_abuse() {
    let p = pair().await;
    let (g_port, n_port) = (p.g.tls_port, p.nginx.addr.port());

    // No preface: both close at the header deadline (gatehouse no later than nginx).
    let n_took = no_preface(&p.ca.cert_pem, n_port).await;
    let g_took = no_preface(&p.ca.cert_pem, g_port).await;
    let n_took = n_took.expect("nginx kept a connection without preface open");
    let g_took = g_took.expect("gatehouse kept a connection without preface open");
    assert!(
        g_took <= n_took + Duration::from_millis(500),
        "gatehouse closed after {g_took:?}, nginx after {n_took:?}"
    );

    // The paced rapid reset: 600 streams, 10 at a time, each reset once its request is at
    // the backend.
    let mut reached = Vec::new();
    for (port, backend) in [(n_port, &p.n_backend), (g_port, &p.g_backend)] {
        let e = rapid_reset(&p.ca.cert_pem, port, backend, 60, 10, true).await;
        reached.push((backend.received.load(Ordering::SeqCst), e));
    }
    let (n_reached, n_end) = &reached[0];
    let (g_reached, g_end) = &reached[1];
    assert!(
        g_reached <= n_reached,
        "gatehouse let {g_reached} requests through, nginx {n_reached} ({n_end:?})"
    );
    let g_end = g_end
        .as_ref()
        .expect("gatehouse kept the flooding connection");
    assert_eq!(g_end.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM));
    assert!(*g_reached <= 60, "gatehouse let {g_reached} through");
    let g_max = p.g_backend.max_in_flight.load(Ordering::SeqCst);
    assert!(
        g_max <= 20,
        "gatehouse had {g_max} requests at the backend at once"
    );
    eprintln!(
        "paced rapid reset, 600 streams: nginx let {n_reached} through (ended: {n_end:?}), \
         gatehouse {g_reached} (GOAWAY {:?})",
        g_end.reason()
    );
}
