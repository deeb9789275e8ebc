//! Slow clients on the proxy listeners: a request body that stops arriving is closed after
//! `server.client_body_timeout` and its upstream request aborted; a client that stops reading
//! its response is closed after `server.send_timeout`, and so is the upstream exchange.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::{wait_for, Gatehouse};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend that reads a request head, then either waits for the rest of the body (and
/// notes when gatehouse closes the connection) or sends a response of `body_len` bytes (and
/// notes when it can no longer write).
async fn backend(body_len: usize) -> (std::net::SocketAddr, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let gone = Arc::new(AtomicBool::new(false));
    let g = gone.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let g = g.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return g.store(true, Ordering::SeqCst),
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if body_len == 0 {
                    // Wait for a body that never completes: only the close ends this.
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return g.store(true, Ordering::SeqCst),
                            Ok(_) => {}
                        }
                    }
                }
                let h = format!("HTTP/1.1 200 OK\r\nContent-Length: {body_len}\r\n\r\n");
                if s.write_all(h.as_bytes()).await.is_err() {
                    return g.store(true, Ordering::SeqCst);
                }
                let chunk = vec![b'x'; 65536];
                let mut sent = 0;
                while sent < body_len {
                    if s.write_all(&chunk).await.is_err() {
                        return g.store(true, Ordering::SeqCst);
                    }
                    sent += chunk.len();
                }
            });
        }
    });
    (addr, gone)
}

fn config(upstream: std::net::SocketAddr) -> String {
    format!(
        "  client_body_timeout: 1s\n  send_timeout: 1s\nupstreams:\n  app: {{ backends: [{{ address: \"{upstream}\" }}] }}\nroutes:\n  - {{ name: app, upstream: app, timeouts: {{ read: 30s }} }}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_body_is_closed_and_its_upstream_request_aborted() {
    let (addr, gone) = backend(0).await;
    let g = Gatehouse::start(&config(addr)).await;
    let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let start = Instant::now();
    let mut b = [0u8; 1024];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => continue, // an error answer may come first
            Err(_) => break false,
        }
    };
    let took = start.elapsed();
    assert!(closed, "a stalled body was still open after {took:?}");
    assert!(took >= Duration::from_millis(800), "closed after {took:?}");
    wait_for(
        "the upstream request aborted",
        Duration::from_secs(5),
        || async { gone.load(Ordering::SeqCst) },
    )
    .await;
    let counted = g
        .metric_with(
            "gatehouse_requests_rejected_total",
            &[("reason", "body_timeout")],
        )
        .await;
    assert_eq!(counted, Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_closed_at_the_send_timeout() {
    // More than every socket buffer between the backend and the client holds.
    let (addr, gone) = backend(256 << 20).await;
    let g = Gatehouse::start(&config(addr)).await;
    let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .await
        .unwrap();
    // Never read: gatehouse's writes stall, it gives up after the send timeout and ends the
    // upstream exchange, which the backend sees as a failed write.
    wait_for(
        "the exchange ended at the send timeout",
        Duration::from_secs(20),
        || async { gone.load(Ordering::SeqCst) },
    )
    .await;
    wait_for(
        "the send timeout counted",
        Duration::from_secs(5),
        || async {
            g.metric_with(
                "gatehouse_requests_rejected_total",
                &[("reason", "send_timeout")],
            )
            .await
                == Some(1.0)
        },
    )
    .await;
    drop(s);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trickled_body_is_stopped_at_the_route_total() {
    // One byte every 200 ms never trips the 1 s wait between reads; the route's total (2 s)
    // covers the body too.
    let (addr, gone) = backend(0).await;
    let body = config(addr).replace("timeouts: { read: 30s }", "timeouts: { total: 2s }");
    let g = Gatehouse::start(&body).await;
    let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let mut answer = Vec::new();
    let mut b = [0u8; 1024];
    while start.elapsed() < Duration::from_secs(8) {
        if s.write_all(b"x").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&b[..n]),
            Err(_) => {}
        }
    }
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "still open after {took:?}");
    assert!(
        took >= Duration::from_millis(1800),
        "stopped after {took:?}"
    );
    let answer = String::from_utf8_lossy(&answer);
    // The last wait for the body is cut to what is left of the total, so the answer is
    // either one (the total passed between two bytes, or during the wait for one).
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("request_timeout") || answer.contains("body_timeout"),
        "{answer}"
    );
    wait_for(
        "the upstream request aborted",
        Duration::from_secs(5),
        || async { gone.load(Ordering::SeqCst) },
    )
    .await;
}
