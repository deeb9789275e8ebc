//! Lockouts and auth under pressure (issue 16, points 4 and 5), against the real binary: a
//! backend that answers `100 Continue` before its 401 cannot walk around a lockout; the
//! credentials the edge consumed never reach the upstream unless a gate forwards them, and a
//! credential header sent twice is refused; a flood of distinct keys cannot grow a lockout's
//! or a rate limit's state past its `max_keys`, and a recently active key stays limited.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::policy::*;
use common::{Gatehouse, Upstream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend on a raw socket that answers every request with `100 Continue`, reads the body,
/// then answers `401 Unauthorized`; it counts the requests it saw.
struct ContinueThen401 {
    addr: std::net::SocketAddr,
    seen: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ContinueThen401 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ContinueThen401 {
    async fn start() -> ContinueThen401 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve_continue_then_401(stream, counter.clone()));
            }
        });
        ContinueThen401 { addr, seen, task }
    }
}

/// Requests of one connection (keep-alive) until the peer closes it.
async fn serve_continue_then_401(mut stream: TcpStream, seen: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        seen.fetch_add(1, Ordering::SeqCst);
        if stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        let answer = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nWWW-Authenticate: Basic realm=\"app\"\r\n\r\n";
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Send `request` on a new connection and read until the server closes it; the status of
/// every response head in order (interim ones included) and the whole text.
async fn exchange(port: u16, request: &str) -> (Vec<u16>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let statuses = text
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("HTTP/1.1 "))
        .filter_map(|l| l.get(..3)?.parse().ok())
        .collect();
    (statuses, text)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backend_answering_100_continue_then_401_is_still_locked_out() {
    let backend = ContinueThen401::start().await;
    let body = format!(
        "upstreams:\n  login: {{ backends: [{{ address: \"{}\" }}] }}\n",
        backend.addr
    ) + r#"routes:
  - name: login
    upstream: login
    policy: { lockouts: [{ name: guesses, statuses: [401], max_failures: 5, window: 1m, block_for: 1m }] }
"#;
    let g = Gatehouse::start(&body).await;
    let guess = |n: usize| {
        let password = format!("guess-{n}");
        format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nExpect: 100-continue\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{password}",
            g.port,
            password.len()
        )
    };
    for n in 0..5 {
        let (statuses, text) = exchange(g.port, &guess(n)).await;
        assert_eq!(statuses, [100, 401], "guess {n}:\n{text}");
    }
    let (statuses, text) = exchange(g.port, &guess(5)).await;
    assert_eq!(statuses, [429], "the sixth guess:\n{text}");
    assert!(text.contains("\"locked_out\""), "{text}");
    assert!(text.to_ascii_lowercase().contains("retry-after:"), "{text}");
    assert_eq!(
        backend.seen.load(Ordering::SeqCst),
        5,
        "the backend saw only the five counted guesses"
    );
    wait_rule_decision(&g, "login", "lockout", "guesses", "locked").await;
}

/// The JSON echo of the test upstream for `GET path` with `headers`.
async fn echo(g: &Gatehouse, path: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut rb = http().get(g.url(path));
    for (n, v) in headers {
        rb = rb.header(*n, *v);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}")
}

#[tokio::test(flavor = "multi_thread")]
async fn consumed_credentials_are_not_forwarded_and_duplicates_are_refused() {
    let app = Upstream::start("app").await;
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let body = upstreams(&app)
        + &r#"routes:
  - { name: key, upstream: app, path_prefix: /key, policy: { api_key: { keys: [k1] } } }
  - { name: keyfwd, upstream: app, path_prefix: /fwdkey, policy: { api_key: { header: x-token, keys: [k1], forward_credentials: true } } }
  - { name: bearer, upstream: app, path_prefix: /bearer, policy: { api_key: { header: authorization, keys: [k1] } } }
  - { name: basic, upstream: app, path_prefix: /basic, policy: { basic_auth: { users: { alice: "@HASH@" } } } }
  - { name: basicfwd, upstream: app, path_prefix: /fwdbasic, policy: { basic_auth: { users: { alice: "@HASH@" }, forward_credentials: true } } }
  - { name: open, upstream: app, path_prefix: /open }
"#
        .replace("@HASH@", &hash);
    let g = Gatehouse::start(&body).await;
    let alice = basic("alice", "s3cret");
    let upstream_has = |v: &serde_json::Value, name: &str| v["headers"].get(name).is_some();

    // Removed by default...
    let (s, v) = echo(&g, "/key", &[("x-api-key", "k1"), ("x-other", "1")]).await;
    assert_eq!(s, 200);
    assert!(!upstream_has(&v, "x-api-key"), "{v}");
    assert!(upstream_has(&v, "x-other"), "{v}");
    let (s, v) = echo(&g, "/bearer", &[("authorization", "Bearer k1")]).await;
    assert_eq!(s, 200);
    assert!(!upstream_has(&v, "authorization"), "{v}");
    let (s, v) = echo(&g, "/basic", &[("authorization", &alice)]).await;
    assert_eq!(s, 200);
    assert!(!upstream_has(&v, "authorization"), "{v}");
    // ...passed on when the gate says so...
    let (s, v) = echo(&g, "/fwdkey", &[("x-token", "k1")]).await;
    assert_eq!(s, 200);
    assert_eq!(v["headers"]["x-token"], "k1", "{v}");
    let (s, v) = echo(&g, "/fwdbasic", &[("authorization", &alice)]).await;
    assert_eq!(s, 200);
    assert_eq!(v["headers"]["authorization"], alice.as_str(), "{v}");
    // ...and left alone where no gate reads them.
    let (s, v) = echo(
        &g,
        "/open",
        &[("authorization", &alice), ("x-api-key", "k1")],
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        upstream_has(&v, "authorization") && upstream_has(&v, "x-api-key"),
        "{v}"
    );

    // A credential header twice: 400 before any check, nothing forwarded, even when one of
    // the lines is right.
    let before = hits(&app);
    let c = http();
    for (path, name, a, b) in [
        ("/key", "x-api-key", "k1", "k2"),
        ("/key", "x-api-key", "k1", "k1"),
        ("/fwdkey", "x-token", "nope", "k1"),
        ("/bearer", "authorization", "Bearer k1", "Bearer k1"),
        ("/basic", "authorization", alice.as_str(), "Basic eDp5"),
        ("/fwdbasic", "authorization", "Basic eDp5", alice.as_str()),
    ] {
        let r = c
            .get(g.url(path))
            .header(name, a)
            .header(name, b)
            .send()
            .await
            .unwrap();
        let h = refusal(r, 400, "ambiguous_credentials").await;
        assert_default_headers(&h, false);
        absent(&h, "www-authenticate");
    }
    assert_eq!(hits(&app), before, "nothing reached the upstream");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_distinct_keys_stays_within_max_keys() {
    let app = Upstream::start("app").await;
    let body = upstreams(&app)
        + r#"routes:
  - { name: rl, upstream: app, path_prefix: /rl, policy: { rate_limits: [{ name: per-key, rate: 1/m, burst: 1, key: ["header:x-k"], max_keys: 100 }] } }
  - { name: lo, upstream: app, path_prefix: /status, policy: { lockouts: [{ name: per-user, statuses: [401], max_failures: 3, window: 10m, block_for: 10m, key: ["header:x-user"], max_keys: 100 }] } }
"#;
    let g = Gatehouse::start(&body).await;
    let c = http();
    let get = |path: &'static str, name: &'static str, value: String| {
        let rb = c.get(g.url(path)).header(name, value);
        async move { rb.send().await.unwrap().status().as_u16() }
    };
    // The victims: a rate-limited key that used its burst, a user that is locked out.
    assert_eq!(get("/rl", "x-k", "victim".into()).await, 200);
    assert_eq!(get("/rl", "x-k", "victim".into()).await, 429);
    for _ in 0..3 {
        assert_eq!(get("/status/401", "x-user", "victim".into()).await, 401);
    }
    assert_eq!(get("/status/401", "x-user", "victim".into()).await, 429);

    let gauge = |name: &'static str, rule: &'static str, route: &'static str| {
        let g = &g;
        async move {
            g.metric_with(name, &[("route", route), ("rule", rule)])
                .await
                .unwrap_or(0.0)
        }
    };
    let (mut most_rl, mut most_lo) = (0.0f64, 0.0f64);
    // 5,200 distinct keys for each store, 20 at a time, each batch followed by one request
    // of each victim, which must still be refused.
    for batch in 0..260usize {
        let flood = (0..20).map(|i| {
            let n = batch * 20 + i;
            async move {
                let rl = get("/rl", "x-k", format!("flood-{n}")).await;
                let lo = get("/status/401", "x-user", format!("flood-{n}")).await;
                (rl, lo)
            }
        });
        for (rl, lo) in futures_util::future::join_all(flood).await {
            assert_eq!((rl, lo), (200, 401), "a new key starts with a full budget");
        }
        assert_eq!(
            get("/rl", "x-k", "victim".into()).await,
            429,
            "the active rate-limited key lost its bucket at batch {batch}"
        );
        assert_eq!(
            get("/status/401", "x-user", "victim".into()).await,
            429,
            "the locked-out user was let go at batch {batch}"
        );
        if batch % 20 == 0 {
            most_rl = most_rl.max(gauge("gatehouse_rate_limit_keys", "per-key", "rl").await);
            most_lo = most_lo.max(gauge("gatehouse_lockout_keys", "per-user", "lo").await);
        }
    }
    let evicted = |route: &'static str, policy: &'static str, rule: &'static str| {
        let g = &g;
        async move {
            g.metric_with(
                "gatehouse_policy_keys_evicted_total",
                &[("route", route), ("policy", policy), ("rule", rule)],
            )
            .await
            .unwrap_or(0.0)
        }
    };
    // 5,201 keys were seen by each store; at most 100 are held, the rest were evicted.
    assert!(evicted("rl", "rate_limit", "per-key").await >= 5_101.0);
    assert!(evicted("lo", "lockout", "per-user").await >= 5_101.0);
    // Gauges refresh every second (rate limit) and every 5 s (lockout): wait for a sample of
    // each taken after the flood.
    common::wait_for("both key gauges", Duration::from_secs(15), || async {
        gauge("gatehouse_rate_limit_keys", "per-key", "rl").await > 0.0
            && gauge("gatehouse_lockout_keys", "per-user", "lo").await > 0.0
    })
    .await;
    most_rl = most_rl.max(gauge("gatehouse_rate_limit_keys", "per-key", "rl").await);
    most_lo = most_lo.max(gauge("gatehouse_lockout_keys", "per-user", "lo").await);
    assert!(
        most_rl > 0.0 && most_rl <= 100.0,
        "rate limit keys {most_rl}"
    );
    assert!(most_lo > 0.0 && most_lo <= 100.0, "lockout keys {most_lo}");
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_password_checks_are_503_and_not_failed_logins() {
    let app = Upstream::start("app").await;
    let hash = bcrypt::hash("s3cret", 10).unwrap();
    // A lockout that would count 503s: 100 failures (or requests in flight) of the route lock
    // everyone out.
    let body = upstreams(&app)
        + &r#"routes:
  - name: admin
    upstream: app
    policy:
      basic_auth: { users: { alice: "@HASH@" } }
      lockouts: [{ name: busy, statuses: [503], max_failures: 100, window: 10m, block_for: 10m, key: [route] }]
"#
        .replace("@HASH@", &hash);
    let g = Gatehouse::start(&body).await;
    let c = http();
    let wrong = basic("alice", "guess");
    // Two floods of 100 wrong passwords at once: two checks run, 64 wait, the rest are busy
    // at once. Were the busy answers counted, the second flood would find the lockout's
    // budget spent and get 429s.
    let mut busy = 0;
    for flood in 0..2 {
        let requests = (0..100).map(|_| {
            c.get(g.url("/"))
                .header("authorization", wrong.as_str())
                .send()
        });
        for r in futures_util::future::join_all(requests).await {
            let r = r.unwrap();
            match r.status().as_u16() {
                401 => {}
                503 => {
                    let h = refusal(r, 503, "auth_busy").await;
                    retry_after(&h);
                    busy += 1;
                }
                other => panic!(
                    "flood {flood}: unexpected {other}: {}",
                    r.text().await.unwrap()
                ),
            }
        }
    }
    assert!(busy >= 2 * 30, "only {busy} busy answers");
    // The right password still gets through once the crowd is gone.
    let ok = c
        .get(g.url("/"))
        .header("authorization", basic("alice", "s3cret"))
        .send();
    assert_eq!(ok.await.unwrap().status(), 200);
    assert_eq!(
        rule_decisions(&g, "admin", "lockout", "busy", "locked").await,
        0.0
    );
}
