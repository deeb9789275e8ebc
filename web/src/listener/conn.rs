//! One connection of a control-plane listener: hyper's HTTP/1 server under a watchdog that
//! enforces the head deadline, the idle keep-alive timeout and a bound on stalled bodies.
//!
//! Why a watchdog and not hyper's own `header_read_timeout`: hyper (1.x) starts that timer
//! whenever it waits for a head, including while a keep-alive connection is idle after a
//! response, so it would close idle connections at the head deadline and an idle timeout
//! longer than it could never apply (hyper has no idle timeout of its own for HTTP/1 server
//! connections). So hyper gets its timer (`TokioTimer`) but no head timeout, and the
//! connection's [`Activity`] decides, as nginx does with `client_header_timeout` and
//! `keepalive_timeout`:
//!
//! - no request in progress and a head started (from accept for the first request, from the
//!   first byte read after the previous response for later ones): closed `header_timeout`
//!   after that start, however the bytes trickle in (a whole-head deadline, not per read);
//! - no request in progress and no byte of a next one: closed `idle_timeout` after the
//!   previous response;
//! - while a request with a body is being handled: closed when no byte has arrived for
//!   `idle_timeout` (a client that stops sending the body it announced; between reads, like
//!   nginx's `client_body_timeout`). Without this, stalled bodies would fill the connection cap
//!   for good. It also bounds a handler that computes for longer than `idle_timeout` after
//!   reading its body, which the control-plane endpoints never need;
//! - while a request without a body is being handled (from its complete head until the
//!   handler has its response) no deadline applies.
//!
//! Closing is dropping hyper's connection future, which closes the socket; at that moment no
//! request is in progress (but one whose body stalled), so nothing is cut short. The watchdog sleeps until the current
//! deadline and is woken (a `Notify`) when the state changes, so it costs one timer and no
//! polling.

use super::Handles;
use axum::extract::ConnectInfo;
use axum::Router;
use gatehouse_config::server::ConnectionLimits;
use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::ServiceExt as _;

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Deadline {
    Head,
    Idle,
    Body,
}

#[derive(Debug)]
struct State {
    /// Requests whose handler has not returned yet.
    busy: usize,
    /// When the connection last became idle (accept, or the previous response).
    idle_since: Instant,
    /// When the head being read started (accept for the first; its first byte after that).
    head_since: Option<Instant>,
    /// The request being handled has a body.
    body: bool,
    /// When bytes last arrived (or the request started).
    last_read: Instant,
}

/// What the watchdog needs to know about a connection.
#[derive(Debug)]
pub(super) struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

impl Activity {
    pub(super) fn new(now: Instant) -> Self {
        Activity {
            state: Mutex::new(State {
                busy: 0,
                idle_since: now,
                head_since: Some(now),
                body: false,
                last_read: now,
            }),
            changed: Notify::new(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut s)
    }

    /// Bytes arrived at `now`.
    pub(super) fn on_read(&self, now: Instant) {
        let started = self.with(|s| {
            s.last_read = now;
            let start = s.busy == 0 && s.head_since.is_none();
            if start {
                s.head_since = Some(now);
            }
            start
        });
        if started {
            self.changed.notify_one();
        }
    }

    /// A complete head was handed to the handler at `now`; `body`: a request body follows.
    pub(super) fn request_started(&self, now: Instant, body: bool) {
        self.with(|s| {
            s.busy += 1;
            s.head_since = None;
            s.body = body;
            s.last_read = now;
        });
        self.changed.notify_one();
    }

    /// The handler returned its response at `now`.
    pub(super) fn request_finished(&self, now: Instant) {
        self.with(|s| {
            s.busy = s.busy.saturating_sub(1);
            if s.busy == 0 {
                s.idle_since = now;
                s.head_since = None;
                s.body = false;
            }
        });
        self.changed.notify_one();
    }

    /// When the connection must be closed if nothing changes, and why.
    pub(super) fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, Deadline)> {
        self.with(|s| match (s.busy, s.head_since) {
            (0, Some(start)) => Some((start + limits.header_timeout, Deadline::Head)),
            (0, None) => Some((s.idle_since + limits.idle_timeout, Deadline::Idle)),
            _ if s.body => Some((s.last_read + limits.idle_timeout, Deadline::Body)),
            _ => None,
        })
    }
}

/// Marks a request in progress while it lives (also when the handler is dropped).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.request_finished(Instant::now());
    }
}

/// The connection's socket, reporting reads to its [`Activity`].
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read(Instant::now());
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serve one connection until the client closes it, an error ends it, or a deadline passes.
pub(super) async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    limits: ConnectionLimits,
    app: Router,
    m: &Handles,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new(Instant::now()));
    let svc = {
        let activity = activity.clone();
        service_fn(move |mut req: Request<Incoming>| {
            let body = !hyper::body::Body::is_end_stream(req.body());
            activity.request_started(Instant::now(), body);
            let busy = Busy(activity.clone());
            req.extensions_mut().insert(ConnectInfo(peer));
            // A router is always ready; `oneshot` polls it anyway, as a tower service expects.
            let answer = app.clone().oneshot(req.map(axum::body::Body::new));
            async move {
                let resp = answer.await;
                drop(busy);
                resp
            }
        })
    };
    let io = TokioIo::new(Tracked {
        inner: io,
        activity: activity.clone(),
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // The head deadline is the watchdog's (see the module docs).
        .header_read_timeout(None)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    loop {
        let next = activity.deadline(&limits);
        let at_deadline = async {
            match next {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut conn => return,
            _ = activity.changed.notified() => {}
            _ = at_deadline => {
                // Recheck: the state may have changed as the timer fired.
                if let Some((at, why)) = activity.deadline(&limits) {
                    if at <= Instant::now() {
                        let counter = match why {
                            Deadline::Head => &m.header_timeouts,
                            Deadline::Idle => &m.idle_timeouts,
                            Deadline::Body => &m.body_timeouts,
                        };
                        counter.inc();
                        tracing::debug!(%peer, reason = ?why, "connection closed at its deadline");
                        return;
                    }
                }
            }
        }
    }
}
