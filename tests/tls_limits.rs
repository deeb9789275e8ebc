//! TLS on a proxy listener under pressure: the connection caps act before any TLS (a client
//! over its cap gets no ServerHello), a handshake that does not finish is closed at
//! `server.tls_handshake_timeout`, and at most `server.max_tls_handshakes` run at once.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::tls::{client, TestCa};
use common::{wait_for, Gatehouse, Upstream};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Start with a TLS listener for `a.test` and `server` lines of the caller's.
async fn start(server: &str, listener_extra: &str) -> (Gatehouse, TestCa, Upstream) {
    let ca = TestCa::new();
    let app = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], dir.path(), "a");
    let upstream = app.addr;
    let server = server.to_owned();
    let extra = listener_extra.to_owned();
    let g = Gatehouse::start_custom(move |port, admin, state| {
        format!(
            r#"listeners:
  - {{ name: https, address: "127.0.0.1:{port}", tls: true{extra} }}
admin: {{ listen: "127.0.0.1:{admin}" }}
state_dir: "{}"
server:
{server}
tls:
  certificates:
    - {{ cert_file: "{}", key_file: "{}" }}
upstreams: {{ app: {{ backends: [{{ address: "{upstream}" }}] }} }}
routes: [{{ name: app, upstream: app }}]
"#,
            state.display(),
            cert.display(),
            key.display(),
        )
    })
    .await;
    drop(dir);
    (g, ca, app)
}

/// Read until the server closes `s` or `within` passes: the time it took, `None` if still
/// open. Bytes the server sent are returned too.
async fn closed_within(s: &mut TcpStream, within: Duration) -> (Option<Duration>, Vec<u8>) {
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let left = within.saturating_sub(t0.elapsed());
        match tokio::time::timeout(left, s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (Some(t0.elapsed()), got),
            Ok(Ok(n)) => got.extend_from_slice(&b[..n]),
            Err(_) => return (None, got),
        }
    }
}

/// A TLS 1.2/1.3 ClientHello's first bytes: a handshake record announcing more to come.
const PARTIAL_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03];

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_handshake_is_closed_at_the_deadline_and_counted() {
    let (g, ca, _app) = start("  tls_handshake_timeout: 1s\n", "").await;
    let mut silent = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    let mut partial = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    partial.write_all(PARTIAL_HELLO).await.unwrap();
    let t0 = Instant::now();
    for (what, s) in [("silent", &mut silent), ("partial hello", &mut partial)] {
        let (closed, _) = closed_within(s, Duration::from_secs(8)).await;
        assert!(closed.is_some(), "{what}: still open after 8 s");
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(700),
            "{what}: closed early ({took:?})"
        );
    }
    let timeouts = g
        .metric_with(
            "gatehouse_listener_timeouts_total",
            &[("listener", "https"), ("reason", "tls_handshake_timeout")],
        )
        .await;
    assert_eq!(timeouts, Some(2.0));
    // A real client still gets through, and no handshake failure was logged as an error.
    let c = client(&ca.cert_pem, &["a.test"], g.port);
    let r = c
        .get(format!("https://a.test:{}/", g.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!g.log().contains("ERROR"), "{}", g.log());
}

/// A TCP connection to the listener from the loopback address `from`.
async fn connect_from(from: &str, port: u16) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
    sock.connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn handshakes_under_way_are_capped_and_caps_come_before_tls() {
    let (g, ca, _app) = start(
        "  tls_handshake_timeout: 3s\n  max_tls_handshakes: 2\n",
        ", max_connections_per_ip: 1",
    )
    .await;
    let open = || async {
        g.metric_with("gatehouse_downstream_connections", &[("listener", "https")])
            .await
    };
    // Two handshakes under way (a partial ClientHello each, from two clients) fill the
    // handshake slots; a third client's connection is closed before any TLS byte.
    let mut stalled = Vec::new();
    for from in ["127.0.0.2", "127.0.0.3"] {
        let mut s = connect_from(from, g.port).await;
        s.write_all(PARTIAL_HELLO).await.unwrap();
        stalled.push(s);
    }
    wait_for(
        "two handshakes under way",
        Duration::from_secs(5),
        || async { open().await == Some(2.0) },
    )
    .await;
    let mut third = connect_from("127.0.0.4", g.port).await;
    let _ = third.write_all(PARTIAL_HELLO).await;
    let (closed, bytes) = closed_within(&mut third, Duration::from_secs(2)).await;
    assert!(closed.is_some(), "a third handshake was let in");
    assert!(bytes.is_empty(), "no TLS bytes for a refused connection");
    assert_eq!(
        g.metric_with(
            "gatehouse_connections_refused_total",
            &[("listener", "https"), ("reason", "handshake_cap")],
        )
        .await,
        Some(1.0)
    );
    wait_for(
        "stalled handshakes closed",
        Duration::from_secs(10),
        || async { open().await == Some(0.0) },
    )
    .await;
    // The per-IP cap (1) is checked before TLS: while one plain TCP connection from
    // 127.0.0.1 is open, a second gets no ServerHello.
    let held = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    wait_for("one connection", Duration::from_secs(5), || async {
        open().await == Some(1.0)
    })
    .await;
    let c = client(&ca.cert_pem, &["a.test"], g.port);
    let url = format!("https://a.test:{}/", g.port);
    let refused = c.get(&url).send().await;
    assert!(refused.is_err(), "over the per-IP cap: {refused:?}");
    assert_eq!(
        g.metric_with(
            "gatehouse_connections_refused_total",
            &[("listener", "https"), ("reason", "per_ip_cap")],
        )
        .await,
        Some(1.0)
    );
    drop(held);
    wait_for(
        "the held connection closed",
        Duration::from_secs(5),
        || async { open().await == Some(0.0) },
    )
    .await;
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_connections_take_no_handshake_slot() {
    let (g, ca, _app) = start("  tls_handshake_timeout: 5s\n  max_tls_handshakes: 2\n", "").await;
    // Connections that send nothing are not handshakes yet: they cannot lock clients out.
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(TcpStream::connect(("127.0.0.1", g.port)).await.unwrap());
    }
    wait_for("five connections", Duration::from_secs(5), || async {
        g.metric_with("gatehouse_downstream_connections", &[("listener", "https")])
            .await
            == Some(5.0)
    })
    .await;
    let c = client(&ca.cert_pem, &["a.test"], g.port);
    let r = c
        .get(format!("https://a.test:{}/", g.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refused = g
        .metric_with(
            "gatehouse_connections_refused_total",
            &[("listener", "https"), ("reason", "handshake_cap")],
        )
        .await;
    assert!(refused.is_none_or(|n| n == 0.0), "{refused:?}");
}
