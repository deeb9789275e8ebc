//! The control-plane listeners (admin API, status page, demo backend) hold against slow and
//! greedy clients: a trickled request head is closed at the head deadline (a whole-head
//! deadline, not per read), an idle keep-alive connection at the idle timeout, a connection
//! over the cap at once (counted), and accept errors from an exhausted open-file limit pause
//! the accept loop instead of spinning (counted, logged at a bounded rate). Real binary, raw
//! sockets, short configured limits.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::{free_port, wait_for};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Head deadline of the listeners under test.
const HEAD: Duration = Duration::from_secs(2);
/// Idle timeout: longer than the head deadline, so that closing at it proves the two differ.
const IDLE: Duration = Duration::from_secs(4);
const CAP: usize = 4;

/// gatehouse with an admin listener, a status page and a demo backend, each limited by
/// `connections`; started through `bash -c 'ulimit -n N; exec gatehouse ...'` when `nofile`.
struct Control {
    child: Child,
    admin: SocketAddr,
    status: SocketAddr,
    demo: SocketAddr,
    _dir: tempfile::TempDir,
    log_path: PathBuf,
}

impl Drop for Control {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn limits(cap: usize) -> String {
    format!(
        "{{ header_timeout: {}ms, idle_timeout: {}ms, max: {cap} }}",
        HEAD.as_millis(),
        IDLE.as_millis()
    )
}

impl Control {
    async fn start(nofile: Option<u32>, demo_limits: &str) -> Control {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let [port, admin, status, demo]: [u16; 4] = std::array::from_fn(|_| free_port());
            let yaml = format!(
                "listeners: [{{ name: http, address: \"127.0.0.1:{port}\" }}]
admin:
  listen: \"127.0.0.1:{admin}\"
  connections: {lim}
state_dir: \"{state}\"
server: {{ threads: 1, grace_period: 1s }}
demo: {{ listen: \"127.0.0.1:{demo}\", connections: {demo_limits} }}
upstreams:
  app: {{ backends: [{{ address: \"127.0.0.1:{demo}\" }}] }}
routes: [{{ name: app, upstream: app }}]
status_page:
  listen: \"127.0.0.1:{status}\"
  connections: {lim}
",
                lim = limits(CAP),
                state = dir.path().join("state").display(),
            );
            let config = dir.path().join("gatehouse.yaml");
            std::fs::write(&config, yaml).unwrap();
            let log_path = dir.path().join("gatehouse.log");
            let log = std::fs::File::create(&log_path).unwrap();
            let bin = env!("CARGO_BIN_EXE_gatehouse");
            let mut cmd = match nofile {
                // `exec`: the child's pid is gatehouse's, so Drop ends gatehouse itself.
                Some(n) => {
                    let mut c = Command::new("bash");
                    c.arg("-c")
                        .arg(format!("ulimit -n {n} && exec \"$0\" run --config \"$1\""))
                        .arg(bin)
                        .arg(&config);
                    c
                }
                None => {
                    let mut c = Command::new(bin);
                    c.args(["run", "--config"]).arg(&config);
                    c
                }
            };
            let child = cmd
                .env("RUST_LOG", "info")
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap();
            let ip = [127, 0, 0, 1];
            let mut c = Control {
                child,
                admin: SocketAddr::from((ip, admin)),
                status: SocketAddr::from((ip, status)),
                demo: SocketAddr::from((ip, demo)),
                _dir: dir,
                log_path,
            };
            match c.ready().await {
                Ok(()) => return c,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("gatehouse did not start:\n{log}"),
            }
        }
        panic!("no free ports after 5 attempts");
    }

    async fn ready(&mut self) -> Result<(), String> {
        let url = format!("http://{}/readyz", self.admin);
        common::until_ready(&mut self.child, &url, &self.log_path).await
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// One sample of `/metrics`, e.g. `gatehouse_listener_accept_errors_total{listener="demo"}`.
    async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("http://{}/metrics", self.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

/// Send `GET path` on `s` and read the whole answer (by its Content-Length); its status.
async fn get(s: &mut TcpStream, addr: SocketAddr, path: &str) -> u16 {
    try_get(s, addr, path)
        .await
        .expect("an answer before the server closes")
}

/// [`get`], or `None` when the server closes first.
async fn try_get(s: &mut TcpStream, addr: SocketAddr, path: &str) -> Option<u16> {
    let req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return None;
    }
    let mut buf = Vec::new();
    let read = async {
        loop {
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            let Some(end) = text.find("\r\n\r\n") else {
                continue;
            };
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap();
            if buf.len() >= end + 4 + len {
                return text[9..12].parse().ok();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer or a close within 10 s")
}

/// A connection to `addr` that has been served once (again and again while the server is
/// still at its cap with connections the test no longer holds).
async fn served(addr: SocketAddr, path: &str) -> TcpStream {
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        if try_get(&mut s, addr, path).await == Some(200) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} never served a connection");
}

/// Wait (at most `limit`) until the server closes `s`; how long that took from `since`, and
/// how many bytes came before the close.
async fn closed_after(s: &mut TcpStream, since: Instant, limit: Duration) -> (Duration, usize) {
    let mut got = 0;
    let mut buf = [0u8; 1024];
    let wait = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
        }
    };
    tokio::time::timeout(limit, wait)
        .await
        .expect("the server closes the connection");
    (since.elapsed(), got)
}

/// A request head sent one byte every 200 ms (the whole head would take about a minute):
/// when the server closes, measured from connect.
async fn trickle(addr: SocketAddr) -> (Duration, usize) {
    let start = Instant::now();
    let s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let (mut rd, mut wr) = s.into_split();
    let head = format!(
        "GET /healthz HTTP/1.1\r\nhost: {addr}\r\nx-pad: {}\r\n\r\n",
        "a".repeat(256)
    );
    let writer = tokio::spawn(async move {
        for b in head.bytes() {
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut got = 0;
    let mut buf = [0u8; 1024];
    let wait = async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("the trickled head is closed");
    writer.abort();
    (start.elapsed(), got)
}

fn near_deadline(took: Duration, deadline: Duration) -> bool {
    took >= deadline - Duration::from_millis(200) && took < deadline + Duration::from_millis(1500)
}

#[tokio::test(flavor = "multi_thread")]
async fn trickled_heads_are_closed_at_the_head_deadline() {
    let g = Control::start(None, &limits(CAP)).await;
    let (admin, status) = tokio::join!(trickle(g.admin), trickle(g.status));
    for (name, (took, got)) in [("admin", admin), ("status", status)] {
        assert!(near_deadline(took, HEAD), "{name}: closed after {took:?}");
        assert_eq!(got, 0, "{name}: no answer to an incomplete head");
    }
    for l in ["admin", "status"] {
        let series = format!(
            "gatehouse_listener_timeouts_total{{listener=\"{l}\",reason=\"header_timeout\"}}"
        );
        assert_eq!(g.metric(&series).await, 1.0, "{series}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_keep_alive_connections_are_closed_at_the_idle_timeout() {
    let g = Control::start(None, &limits(CAP)).await;
    let check = |addr: SocketAddr, path: &'static str| async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(get(&mut s, addr, path).await, 200);
        // Idle for longer than the head deadline: still open, and the next request is served.
        tokio::time::sleep(HEAD + Duration::from_millis(500)).await;
        assert_eq!(get(&mut s, addr, path).await, 200);
        let done = Instant::now();
        closed_after(&mut s, done, IDLE * 3).await
    };
    let (admin, status) = tokio::join!(check(g.admin, "/healthz"), check(g.status, "/"));
    for (name, (took, got)) in [("admin", admin), ("status", status)] {
        assert!(
            near_deadline(took, IDLE),
            "{name}: closed {took:?} after the answer"
        );
        assert_eq!(got, 0, "{name}");
    }
    for l in ["admin", "status"] {
        let series = format!(
            "gatehouse_listener_timeouts_total{{listener=\"{l}\",reason=\"idle_timeout\"}}"
        );
        assert_eq!(g.metric(&series).await, 1.0, "{series}");
    }
}

/// A body announced and not sent: closed `idle_timeout` after its last byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_request_body_is_closed_at_the_idle_timeout() {
    let g = Control::start(None, &limits(CAP)).await;
    let mut s = TcpStream::connect(g.admin).await.unwrap();
    let head = format!(
        "POST /api/v1/silences HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"matchers\"",
        g.admin
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (took, got) = closed_after(&mut s, Instant::now(), IDLE * 3).await;
    assert!(
        near_deadline(took, IDLE),
        "closed {took:?} after the last byte"
    );
    assert_eq!(got, 0);
    let series = "gatehouse_listener_timeouts_total{listener=\"admin\",reason=\"body_timeout\"}";
    assert_eq!(g.metric(series).await, 1.0, "{series}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_connection_over_the_cap_is_closed_at_once_and_counted() {
    let g = Control::start(None, &limits(CAP)).await;
    for (name, addr, path) in [("status", g.status, "/"), ("admin", g.admin, "/healthz")] {
        let mut held = Vec::new();
        for _ in 0..CAP {
            held.push(served(addr, path).await);
        }
        let mut over = TcpStream::connect(addr).await.unwrap();
        let t = Instant::now();
        let (took, got) = closed_after(&mut over, t, Duration::from_secs(5)).await;
        // At once: well before the head deadline would close it.
        assert!(took < HEAD / 2, "{name}: closed after {took:?}");
        assert_eq!(got, 0, "{name}");
        // The ones within the cap are still served.
        assert_eq!(get(&mut held[0], addr, path).await, 200, "{name}");
        drop(held);
        // Served again once the held ones are gone.
        drop(served(addr, path).await);
        let series =
            format!("gatehouse_connections_refused_total{{listener=\"{name}\",reason=\"cap\"}}");
        wait_for(&series, Duration::from_secs(10), || async {
            g.metric(&series).await >= 1.0
        })
        .await;
    }
}

/// With an exhausted open-file limit, accept fails with EMFILE: the loop pauses (10 ms doubling
/// to 1 s), counts every error and logs at most one line a second.
#[tokio::test(flavor = "multi_thread")]
async fn accept_errors_back_off_and_are_counted() {
    let demo_limits = "{ header_timeout: 60s, idle_timeout: 60s, max: 5000 }";
    let g = Control::start(Some(128), demo_limits).await;
    // Hold more connections than the limit has room for: the kernel completes them (the
    // backlog), gatehouse cannot accept them all.
    let mut held = Vec::new();
    for _ in 0..200 {
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(g.demo)).await {
            Ok(Ok(s)) => held.push(s),
            _ => break,
        }
    }
    const LINE: &str = "cannot accept connections";
    wait_for(
        "an accept error in the log",
        Duration::from_secs(10),
        || async { g.log().contains(LINE) },
    )
    .await;
    let before = g.log().matches(LINE).count();
    let window = Instant::now();
    // Condition-free on purpose: the test measures how many lines a period of errors makes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lines = g.log().matches(LINE).count() - before;
    let secs = window.elapsed().as_secs_f64();
    assert!(
        lines as f64 <= secs + 1.0,
        "{lines} accept-error lines in {secs:.1} s; at most one a second:\n{}",
        g.log()
    );
    assert!(g.log().contains("Too many open files"), "{}", g.log());
    drop(held);
    let series = "gatehouse_listener_accept_errors_total{listener=\"demo\"}";
    wait_for(series, Duration::from_secs(20), || async {
        g.metric(series).await > 0.0
    })
    .await;
    let errors = g.metric(series).await;
    // The pauses bound the attempts: about 7 in the first 1.3 s, then one a second.
    assert!(
        errors < 100.0,
        "{errors} accept errors: the loop did not pause"
    );
    eprintln!("{errors} accept errors counted, {lines} lines in {secs:.1} s");
}
