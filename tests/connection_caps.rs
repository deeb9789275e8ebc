//! Connection caps on a proxy listener: per client address and per listener, refused at once
//! (before any HTTP is read) and counted; a closed connection gives its place back.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::{wait_for, Gatehouse, Upstream};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Whether the server closed `s` at once (EOF or reset before any byte).
async fn closed_at_once(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 16];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), s.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

async fn get_ok(s: &mut TcpStream) -> bool {
    if s.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut b = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await,
        Ok(Ok(n)) if n > 12 && b.starts_with(b"HTTP/1.1 200")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn per_ip_and_listener_caps_refuse_the_next_connection() {
    let app = Upstream::start("app").await;
    let upstream = app.addr;
    let g = Gatehouse::start_custom(|port, admin, state| {
        format!(
            r#"listeners:
  - {{ name: capped, address: "127.0.0.1:{port}", max_connections: 5, max_connections_per_ip: 3 }}
admin: {{ listen: "127.0.0.1:{admin}" }}
state_dir: "{}"
upstreams: {{ app: {{ backends: [{{ address: "{upstream}" }}] }} }}
routes: [{{ name: app, upstream: app }}]
"#,
            state.display()
        )
    })
    .await;
    // Three from 127.0.0.1 are served (held open, idle)...
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
        assert!(get_ok(&mut s).await);
        held.push(s);
    }
    // ...the fourth from the same address is closed at once.
    let mut fourth = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    assert!(closed_at_once(&mut fourth).await, "per-IP cap not applied");
    // Other loopback addresses are other clients, up to the listener's cap of five.
    let mut other = Vec::new();
    for a in ["127.0.0.2", "127.0.0.3"] {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{a}:0").parse().unwrap()).unwrap();
        let mut s = sock
            .connect(format!("127.0.0.1:{}", g.port).parse().unwrap())
            .await
            .unwrap();
        assert!(get_ok(&mut s).await, "{a}");
        other.push(s);
    }
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.4:0".parse().unwrap()).unwrap();
    let mut sixth = sock
        .connect(format!("127.0.0.1:{}", g.port).parse().unwrap())
        .await
        .unwrap();
    assert!(closed_at_once(&mut sixth).await, "listener cap not applied");
    assert_eq!(
        g.metric_with(
            "gatehouse_connections_refused_total",
            &[("listener", "capped"), ("reason", "per_ip_cap")]
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        g.metric_with(
            "gatehouse_connections_refused_total",
            &[("listener", "capped"), ("reason", "cap")]
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        g.metric_with(
            "gatehouse_downstream_connections",
            &[("listener", "capped")]
        )
        .await,
        Some(5.0)
    );
    // A closed connection gives its place back.
    drop(held.pop());
    wait_for("the place given back", Duration::from_secs(5), || async {
        let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
        get_ok(&mut s).await
    })
    .await;
}
