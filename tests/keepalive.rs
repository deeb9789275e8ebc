//! Keep-alive limits on the proxy listeners: an idle HTTP/1.1 connection is closed after
//! `server.keepalive_timeout`, and a connection that has served `server.keepalive_requests`
//! requests is closed gracefully (`Connection: close` on the last answer).
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::{Gatehouse, Upstream};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Read one response (head and Content-Length body); the head, lower-cased.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                return head;
            }
        }
        let mut chunk = [0u8; 4096];
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, s.read(&mut chunk))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "closed before a whole response");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Wait until the server closes `s`; how long that took.
async fn closed_after(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut chunk = [0u8; 64];
    match tokio::time::timeout(limit, s.read(&mut chunk)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Some(start.elapsed()),
        Ok(Ok(n)) => panic!("unexpected {n} bytes"),
        Err(_) => None,
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn idle_keepalive_connections_are_closed() {
    let app = Upstream::start("app").await;
    let body = format!(
        "  keepalive_timeout: 1s\nupstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes:\n  - {{ name: app, upstream: app }}\n",
        app.addr
    );
    let g = Gatehouse::start(&body).await;
    let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    let mut buf = Vec::new();
    s.write_all(GET).await.unwrap();
    let head = read_response(&mut s, &mut buf).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    // A connection in use stays open: a second request within the timeout is served.
    s.write_all(GET).await.unwrap();
    assert!(read_response(&mut s, &mut buf)
        .await
        .starts_with("http/1.1 200"));
    let idle = closed_after(&mut s, Duration::from_secs(10))
        .await
        .expect("the idle connection was not closed within 10 s");
    assert!(
        idle >= Duration::from_millis(800),
        "closed after {idle:?}, before the idle timeout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_serves_at_most_keepalive_requests() {
    let app = Upstream::start("app").await;
    let body = format!(
        "  keepalive_requests: 3\nupstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes:\n  - {{ name: app, upstream: app }}\n",
        app.addr
    );
    let g = Gatehouse::start(&body).await;
    let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    let mut buf = Vec::new();
    for i in 1..=3 {
        s.write_all(GET).await.unwrap();
        let head = read_response(&mut s, &mut buf).await;
        assert!(head.starts_with("http/1.1 200"), "{i}: {head}");
        assert_eq!(head.contains("connection: close"), i == 3, "{i}: {head}");
    }
    assert!(
        closed_after(&mut s, Duration::from_secs(5)).await.is_some(),
        "still open after the last allowed request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trickled_head_is_closed_at_the_head_deadline() {
    let app = Upstream::start("app").await;
    let body = format!(
        "  header_timeout: 1s\n  keepalive_timeout: 30s\nupstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes:\n  - {{ name: app, upstream: app }}\n",
        app.addr
    );
    let g = Gatehouse::start(&body).await;
    // The first head, one byte every 200 ms: closed at the deadline, not per read.
    let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    let start = Instant::now();
    let mut closed = false;
    for b in b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(200), s.read(&mut [0u8; 64])).await
        {
            closed = true;
            break;
        }
    }
    let took = start.elapsed();
    assert!(closed, "a trickled head was still open after {took:?}");
    assert!(took < Duration::from_secs(5), "closed only after {took:?}");
    assert!(
        took >= Duration::from_millis(800),
        "closed after {took:?}, before the deadline"
    );
    // A later head on a kept-alive connection is timed from its first byte.
    let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    let mut buf = Vec::new();
    s.write_all(GET).await.unwrap();
    assert!(read_response(&mut s, &mut buf)
        .await
        .starts_with("http/1.1 200"));
    // Idle for longer than the head deadline: the keep-alive timeout governs that wait.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.write_all(b"GET / HT").await.unwrap();
    let idle = closed_after(&mut s, Duration::from_secs(5))
        .await
        .expect("the second trickled head was not closed");
    assert!(idle >= Duration::from_millis(800), "closed after {idle:?}");
    let timeouts = g
        .metric_with(
            "gatehouse_listener_timeouts_total",
            &[("listener", "http"), ("reason", "header_timeout")],
        )
        .await;
    assert_eq!(timeouts, Some(2.0));
}
