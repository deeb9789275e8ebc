//! HTTP/2 abuse with a real client (the `h2` crate over TLS) against a recording backend that
//! holds each request and notices when the proxy gives it up: a connection without preface is
//! closed at the header deadline, a client reset cancels its upstream request at once, the
//! paced and the burst rapid reset end in GOAWAY ENHANCE_YOUR_CALM after the reset budget,
//! and no connection ever has more requests at the backend than its stream limit.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use bytes::Bytes;
use common::tls::TestCa;
use common::{wait_for, Gatehouse};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend that answers `GET /hold/<ms>` after that many milliseconds, unless the
/// connection is closed first, and counts what it receives and holds.
struct Holding {
    addr: std::net::SocketAddr,
    received: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl Holding {
    async fn start() -> Holding {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let h = Holding {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        };
        let (received, in_flight, max) = (
            h.received.clone(),
            h.in_flight.clone(),
            h.max_in_flight.clone(),
        );
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let (received, in_flight, max) = (received.clone(), in_flight.clone(), max.clone());
                tokio::spawn(serve(s, received, in_flight, max));
            }
        });
        h
    }
}

async fn serve(
    mut s: TcpStream,
    received: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
) {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match s.read(&mut b).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&b[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        buf.drain(..head_end);
        let ms: u64 = head
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.strip_prefix("/hold/"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        received.fetch_add(1, Ordering::SeqCst);
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(now, Ordering::SeqCst);
        let answered = tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
            _ = s.read(&mut b) => false, // the proxy closed (or sent more): given up
        };
        in_flight.fetch_sub(1, Ordering::SeqCst);
        if !answered {
            return;
        }
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        if s.write_all(ok).await.is_err() {
            return;
        }
    }
}

struct Setup {
    g: Gatehouse,
    ca: TestCa,
    backend: Holding,
}

async fn setup(server: &str) -> Setup {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], dir.path(), "a");
    let backend = Holding::start().await;
    let body = format!(
        r#"{server}tls:
  certificates:
    - {{ cert_file: "{}", key_file: "{}" }}
upstreams:
  app: {{ backends: [{{ address: "{}" }}] }}
routes:
  - {{ name: app, upstream: app }}
"#,
        cert.display(),
        key.display(),
        backend.addr
    );
    let g = Gatehouse::start_tls(&body).await;
    drop(dir);
    Setup { g, ca, backend }
}

/// TLS to the listener with ALPN h2 only.
async fn tls(ca: &TestCa, port: u16) -> tokio_rustls::client::TlsStream<TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca.cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("a.test").unwrap();
    let s = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    s
}

type Conn = tokio::task::JoinHandle<Result<(), h2::Error>>;

async fn h2_client(ca: &TestCa, port: u16) -> (h2::client::SendRequest<Bytes>, Conn) {
    let (send, conn) = h2::client::handshake(tls(ca, port).await).await.unwrap();
    (send, tokio::spawn(conn))
}

fn get(port: u16, path: &str) -> http::Request<()> {
    http::Request::get(format!("https://a.test:{port}{path}"))
        .body(())
        .unwrap()
}

async fn until(what: &str, within: Duration, cond: impl Fn() -> bool) {
    wait_for(what, within, || {
        let ok = cond();
        async move { ok }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_without_preface_is_closed_at_the_header_deadline() {
    let s = setup("  header_timeout: 1s\n").await;
    let mut conns = Vec::new();
    for _ in 0..15 {
        conns.push(tls(&s.ca, s.g.tls_port).await);
    }
    let t0 = Instant::now();
    for c in &mut conns {
        let mut b = [0u8; 256];
        // The server's SETTINGS may come first; then the close.
        let closed = tokio::time::timeout(Duration::from_secs(8), async {
            loop {
                match c.read(&mut b).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "still open 8 s after the handshake");
    }
    assert!(t0.elapsed() >= Duration::from_millis(700), "closed early");
    let timeouts =
        s.g.metric_with(
            "gatehouse_listener_timeouts_total",
            &[("listener", "https"), ("reason", "h2_preface_timeout")],
        )
        .await;
    assert_eq!(timeouts, Some(15.0));
    // Pingora logs each failed HTTP/2 handshake; at most ten alike are written per 10 s.
    let lines = s.g.log().matches("H2 handshake error").count();
    assert!(lines <= 10, "{lines} handshake error lines");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_stream_cancels_its_upstream_request_at_once() {
    let s = setup("").await;
    let (send, conn) = h2_client(&s.ca, s.g.tls_port).await;
    let mut send = send.ready().await.unwrap();
    let (_rsp, mut stream) = send
        .send_request(get(s.g.tls_port, "/hold/30000"), true)
        .unwrap();
    let b = &s.backend;
    until("the request at the backend", Duration::from_secs(5), || {
        b.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;
    stream.send_reset(h2::Reason::CANCEL);
    until(
        "the upstream request given up",
        Duration::from_secs(3),
        || b.in_flight.load(Ordering::SeqCst) == 0,
    )
    .await;
    // The connection itself goes on.
    let mut send = send.ready().await.unwrap();
    let (rsp, _) = send
        .send_request(get(s.g.tls_port, "/hold/0"), true)
        .unwrap();
    assert_eq!(rsp.await.unwrap().status(), 200);
    assert!(!conn.is_finished());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_serves_keepalive_requests_streams_then_goaway() {
    let s = setup("  keepalive_requests: 5\n").await;
    let (mut send, conn) = h2_client(&s.ca, s.g.tls_port).await;
    for i in 0..5 {
        send = send.ready().await.unwrap();
        let (rsp, _) = send
            .send_request(get(s.g.tls_port, "/hold/0"), true)
            .unwrap();
        assert_eq!(rsp.await.unwrap().status(), 200, "request {i}");
    }
    // The fifth stream brought a graceful GOAWAY: no sixth request is served here.
    let sixth = async {
        let mut send = send.ready().await?;
        let (rsp, _) = send.send_request(get(s.g.tls_port, "/hold/0"), true)?;
        rsp.await
    };
    let e = tokio::time::timeout(Duration::from_secs(5), sixth)
        .await
        .expect("the sixth request hangs")
        .expect_err("a sixth request was served");
    assert!(
        e.is_go_away() || e.reason() == Some(h2::Reason::REFUSED_STREAM),
        "{e:?}"
    );
    assert_eq!(s.backend.received.load(Ordering::SeqCst), 5);
    // A graceful close, not an error.
    let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
    if let Ok(Ok(Err(e))) = ended {
        assert_eq!(e.reason(), Some(h2::Reason::NO_ERROR), "{e:?}");
    }
}

/// Open `per_batch` streams, wait (when `paced`) until the backend holds them, reset them;
/// `batches` times or until the connection fails. The error that ended it, if any.
async fn rapid_reset(s: &Setup, batches: usize, per_batch: usize, paced: bool) -> h2::Error {
    let (mut send, conn) = h2_client(&s.ca, s.g.tls_port).await;
    let port = s.g.tls_port;
    let b = &s.backend;
    'flood: for _ in 0..batches {
        let before = b.received.load(Ordering::SeqCst);
        let mut streams = Vec::new();
        for _ in 0..per_batch {
            send = match send.ready().await {
                Ok(send) => send,
                Err(_) => break 'flood,
            };
            match send.send_request(get(port, "/hold/30000"), true) {
                Ok((_, stream)) => streams.push(stream),
                Err(_) => break 'flood,
            }
        }
        if paced {
            let want = before + streams.len();
            let t0 = Instant::now();
            while b.received.load(Ordering::SeqCst) < want
                && t0.elapsed() < Duration::from_secs(2)
                && !conn.is_finished()
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        for mut stream in streams {
            stream.send_reset(h2::Reason::CANCEL);
        }
    }
    let ended = tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("the connection is still open after the flood")
        .unwrap();
    ended.expect_err("the connection ended without an error")
}

#[tokio::test(flavor = "multi_thread")]
async fn paced_and_burst_rapid_reset_end_in_goaway_within_the_budget() {
    let s = setup("  http2_max_concurrent_streams: 20\n  http2_max_resets: 30\n").await;
    for (paced, round) in [(true, 1.0), (false, 2.0)] {
        let before = s.backend.received.load(Ordering::SeqCst);
        let e = rapid_reset(&s, 60, 10, paced).await;
        assert!(e.is_go_away(), "paced={paced}: {e:?}");
        assert_eq!(
            e.reason(),
            Some(h2::Reason::ENHANCE_YOUR_CALM),
            "paced={paced}"
        );
        // 600 streams were tried; the budget (30) and the stream limit (20) bound what
        // reached the backend, plus a batch under way when the budget ran out.
        let reached = s.backend.received.load(Ordering::SeqCst) - before;
        assert!(
            reached <= 60,
            "paced={paced}: {reached} requests reached the backend"
        );
        if paced {
            assert!(
                reached >= 30,
                "the paced flood did reach the backend ({reached})"
            );
        }
        // Every request of the closed connection is given up at the backend at once.
        let b = &s.backend;
        until("the backend let go", Duration::from_secs(3), || {
            b.in_flight.load(Ordering::SeqCst) == 0
        })
        .await;
        let floods =
            s.g.metric_with(
                "gatehouse_requests_rejected_total",
                &[("reason", "h2_reset_flood")],
            )
            .await;
        assert_eq!(floods, Some(round), "paced={paced}");
    }
    // Never more held at the backend at once than one connection's stream limit.
    let max = s.backend.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 20, "{max} requests in flight at once");
    let lines = s.g.log().matches("ERROR").count();
    assert!(lines <= 10, "{lines} error lines:\n{}", s.g.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_holds_at_most_its_stream_limit_at_the_backend() {
    let s = setup("  http2_max_concurrent_streams: 5\n").await;
    let (send, _conn) = h2_client(&s.ca, s.g.tls_port).await;
    // One request first: the client then knows the server's SETTINGS (before them, streams
    // beyond the limit would be refused, as the protocol says).
    let mut first = send.clone().ready().await.unwrap();
    let (rsp, _) = first
        .send_request(get(s.g.tls_port, "/hold/0"), true)
        .unwrap();
    assert_eq!(rsp.await.unwrap().status(), 200);
    let mut waiting = Vec::new();
    for _ in 0..12 {
        let mut send = send.clone().ready().await.unwrap();
        let (rsp, _) = send
            .send_request(get(s.g.tls_port, "/hold/300"), true)
            .unwrap();
        waiting.push(tokio::spawn(rsp));
    }
    for w in waiting {
        assert_eq!(w.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(s.backend.received.load(Ordering::SeqCst), 13);
    let max = s.backend.max_in_flight.load(Ordering::SeqCst);
    assert!((1..=5).contains(&max), "{max} in flight at once");
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_streams_count_until_their_requests_end() {
    // A backend whose accept queue is full: connecting to it hangs until the connect timeout,
    // a phase in which the proxy does not watch the client.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = sock.listen(1).unwrap();
    let addr = full.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], dir.path(), "a");
    let body = format!(
        r#"  http2_max_concurrent_streams: 4
tls:
  certificates:
    - {{ cert_file: "{}", key_file: "{}" }}
upstreams:
  stuck: {{ backends: [{{ address: "{addr}" }}] }}
routes:
  - {{ name: stuck, upstream: stuck, timeouts: {{ connect: 4s }} }}
"#,
        cert.display(),
        key.display(),
    );
    let g = Gatehouse::start_tls(&body).await;
    let (send, _conn) = h2_client(&ca, g.tls_port).await;
    let port = g.tls_port;
    // Four requests, connecting; their client resets them at once.
    let mut first = Vec::new();
    for _ in 0..4 {
        let mut send = send.clone().ready().await.unwrap();
        first.push(send.send_request(get(port, "/"), true).unwrap().1);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for mut s in first {
        s.send_reset(h2::Reason::CANCEL);
    }
    // Their streams are closed, their requests are not: the next ones are refused at once,
    // as not processed (the client may retry them).
    let t0 = Instant::now();
    for _ in 0..4 {
        let mut send = send.clone().ready().await.unwrap();
        let (rsp, _) = send.send_request(get(port, "/"), true).unwrap();
        let e = rsp.await.unwrap_err();
        assert_eq!(e.reason(), Some(h2::Reason::REFUSED_STREAM), "{e:?}");
    }
    assert!(t0.elapsed() < Duration::from_secs(3), "not refused at once");
    let refused = g
        .metric_with(
            "gatehouse_requests_rejected_total",
            &[("reason", "h2_streams")],
        )
        .await;
    assert_eq!(refused, Some(4.0));
    drop((fillers, full));
}
