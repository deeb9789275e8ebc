//! HTTP/2 abuse with a real client (the `h2` crate over TLS) against a recording backend that
//! holds each request and notices when the proxy gives it up: a connection without preface is
//! closed at the header deadline, a client reset cancels its upstream request at once, the
//! paced and the burst rapid reset end in GOAWAY ENHANCE_YOUR_CALM after the reset budget,
//! and no connection ever has more requests at the backend than its stream limit.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::h2::{get, h2_client, rapid_reset, tls, Holding};
use common::tls::TestCa;
use common::{wait_for, Gatehouse};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

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
        conns.push(tls(&s.ca.cert_pem, s.g.tls_port).await);
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
    let (send, conn) = h2_client(&s.ca.cert_pem, s.g.tls_port).await;
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
    let (mut send, conn) = h2_client(&s.ca.cert_pem, s.g.tls_port).await;
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

#[tokio::test(flavor = "multi_thread")]
async fn paced_and_burst_rapid_reset_end_in_goaway_within_the_budget() {
    let s = setup("  http2_max_concurrent_streams: 20\n  http2_max_resets: 30\n").await;
    for paced in [true, false] {
        let before = s.backend.received.load(Ordering::SeqCst);
        let e = rapid_reset(&s.ca.cert_pem, s.g.tls_port, &s.backend, 60, 10, paced)
            .await
            .expect("the connection is still open after the flood");
        if paced {
            assert!(e.is_go_away(), "{e:?}");
            assert_eq!(e.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM));
        } else {
            // Unpaced, the h2 library's own limit on streams reset before they were accepted
            // (20) may end the connection first; it sends the same GOAWAY but does not linger,
            // so the client may see its writes fail instead.
            assert!(
                e.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM) || e.is_io(),
                "{e:?}"
            );
        }
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
        if paced {
            let floods =
                s.g.metric_with(
                    "gatehouse_requests_rejected_total",
                    &[("reason", "h2_reset_flood")],
                )
                .await;
            assert_eq!(floods, Some(1.0));
        }
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
    let (send, _conn) = h2_client(&s.ca.cert_pem, s.g.tls_port).await;
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
    let (send, _conn) = h2_client(&ca.cert_pem, g.tls_port).await;
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
