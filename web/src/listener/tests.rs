use super::conn::{Activity, Deadline};
use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(10),
        max: 2,
    }
}

#[test]
fn backoff_doubles_from_10ms_to_1s_and_restarts_after_a_success() {
    let mut b = AcceptBackoff::default();
    let now = Instant::now();
    let pauses: Vec<u64> = (0..9)
        .map(|_| b.on_error(now).0.as_millis() as u64)
        .collect();
    assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    b.on_success();
    assert_eq!(b.on_error(now).0, Duration::from_millis(10));
}

#[test]
fn accept_errors_are_logged_at_most_once_a_second_with_the_count_held_back() {
    let mut b = AcceptBackoff::default();
    let t0 = Instant::now();
    assert_eq!(b.on_error(t0).1, Some(0));
    for ms in [10, 500, 999] {
        assert_eq!(b.on_error(t0 + Duration::from_millis(ms)).1, None);
    }
    b.on_success();
    assert_eq!(b.on_error(t0 + Duration::from_millis(999)).1, None);
    assert_eq!(b.on_error(t0 + Duration::from_millis(1000)).1, Some(4));
}

#[test]
fn head_deadline_runs_from_accept_then_idle_then_from_the_first_byte() {
    let l = limits();
    let t0 = Instant::now();
    let a = Activity::new(t0);
    assert_eq!(
        a.deadline(&l),
        Some((t0 + l.header_timeout, Deadline::Head))
    );
    // More bytes of the same head do not move the deadline (not per read).
    a.on_read(t0 + Duration::from_secs(2));
    assert_eq!(
        a.deadline(&l),
        Some((t0 + l.header_timeout, Deadline::Head))
    );
    a.request_started(t0 + Duration::from_secs(2), false);
    assert_eq!(a.deadline(&l), None, "no deadline while the handler runs");
    a.on_read(t0 + Duration::from_secs(3)); // pipelined bytes
    assert_eq!(a.deadline(&l), None);
    let t1 = t0 + Duration::from_secs(4);
    a.request_finished(t1);
    assert_eq!(a.deadline(&l), Some((t1 + l.idle_timeout, Deadline::Idle)));
    let t2 = t1 + Duration::from_secs(5);
    a.on_read(t2);
    assert_eq!(
        a.deadline(&l),
        Some((t2 + l.header_timeout, Deadline::Head))
    );
}

#[test]
fn a_stalled_body_is_closed_an_idle_timeout_after_its_last_byte() {
    let l = limits();
    let t0 = Instant::now();
    let a = Activity::new(t0);
    let t1 = t0 + Duration::from_secs(1);
    a.request_started(t1, true);
    assert_eq!(a.deadline(&l), Some((t1 + l.idle_timeout, Deadline::Body)));
    let t2 = t1 + Duration::from_secs(7);
    a.on_read(t2);
    assert_eq!(a.deadline(&l), Some((t2 + l.idle_timeout, Deadline::Body)));
    let t3 = t2 + Duration::from_secs(1);
    a.request_finished(t3);
    assert_eq!(a.deadline(&l), Some((t3 + l.idle_timeout, Deadline::Idle)));
}

/// Accepts fail (as with EMFILE) for the first `fail` calls, then never return.
struct Failing {
    calls: Arc<AtomicUsize>,
    fail: usize,
}

impl Accept for Failing {
    type Io = tokio::io::DuplexStream;
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, SocketAddr)>> + Send {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let fail = self.fail;
        async move {
            if n >= fail {
                std::future::pending::<()>().await;
            }
            tokio::task::yield_now().await;
            Err(io::Error::from_raw_os_error(24)) // EMFILE
        }
    }
}

#[tokio::test(start_paused = true)]
async fn failing_accepts_pause_instead_of_spinning_and_are_counted() {
    let registry = Registry::new();
    let metrics = ListenerMetrics::register(&registry).expect("register");
    let calls = Arc::new(AtomicUsize::new(0));
    let source = Failing {
        calls: calls.clone(),
        fail: 10_000,
    };
    let m = metrics.clone();
    let task =
        tokio::spawn(async move { serve("test", source, limits(), &m, Router::new()).await });
    // 5 s of (paused, auto-advancing) time: 10+20+...+640 ms, then 1 s pauses.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let n = calls.load(Ordering::SeqCst);
    assert!((9..=13).contains(&n), "{n} accept attempts in 5 s");
    let errors = metrics.accept_errors.with_label_values(&["test"]).get();
    assert!(
        errors as usize + 1 >= n && errors > 0,
        "{errors} counted, {n} attempts"
    );
    task.abort();
}

/// A source that hands out in-memory connections.
struct Pipes(tokio::sync::mpsc::Receiver<tokio::io::DuplexStream>);

impl Accept for Pipes {
    type Io = tokio::io::DuplexStream;
    async fn accept(&mut self) -> io::Result<(Self::Io, SocketAddr)> {
        match self.0.recv().await {
            Some(io) => Ok((io, SocketAddr::from(([127, 0, 0, 1], 1)))),
            None => std::future::pending().await,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn connections_over_the_cap_are_closed_at_once_and_counted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let registry = Registry::new();
    let metrics = ListenerMetrics::register(&registry).expect("register");
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let m = metrics.clone();
    let task = tokio::spawn(async move {
        serve(
            "test",
            Pipes(rx),
            limits(),
            &m,
            Router::new().fallback(|| async { "ok" }),
        )
        .await
    });
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (client, server) = tokio::io::duplex(4096);
        tx.send(server).await.expect("send");
        clients.push(client);
    }
    let mut third = clients.pop().expect("third");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf))
        .await
        .expect("closed at once");
    assert_eq!(n.expect("eof"), 0);
    assert_eq!(metrics.refused.with_label_values(&["test", "cap"]).get(), 1);
    assert_eq!(metrics.open.with_label_values(&["test"]).get(), 2);
    // The two within the cap are served.
    let first = &mut clients[0];
    first
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let n = first.read(&mut [0u8; 256]).await.expect("read");
    assert!(n > 0);
    task.abort();
}
