//! One hardened HTTP/1 listener for the control plane: the admin API, the public status page
//! and the demo backend. Each of them gets the same protections as the proxy:
//!
//! - a deadline for the whole request head, an idle keep-alive timeout and a stalled request
//!   body closed after the idle timeout without a byte (see `conn.rs`);
//! - a cap on open connections: beyond `connections.max` a new connection is closed at once
//!   and counted in `gatehouse_connections_refused_total{listener,reason="cap"}`;
//! - accept errors (`Too many open files` above all) pause the accept loop, 10 ms doubling to
//!   1 s, instead of spinning on the 2-thread control runtime; they are counted in
//!   `gatehouse_listener_accept_errors_total{listener}` and logged at most once a second.
//!
//! Open connections are in `gatehouse_downstream_connections{listener}` and closes at a
//! deadline in `gatehouse_listener_timeouts_total{listener,reason}`. The names of the first
//! two are those the proxy's listeners use too (issue 17), with `admin`, `status` and `demo`
//! as the `listener` label.
//!
//! The apps are axum `Router`s served through this module's own hyper connection code, not
//! `axum::serve`, which has none of these deadlines or caps.

mod backoff;
mod conn;
#[cfg(test)]
mod tests;

pub use backoff::{AcceptBackoff, LogGate};

use axum::Router;
use gatehouse_config::server::ConnectionLimits;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The listener metrics, registered once and shared by every control-plane listener.
#[derive(Clone)]
pub struct ListenerMetrics {
    accept_errors: IntCounterVec,
    refused: IntCounterVec,
    open: IntGaugeVec,
    timeouts: IntCounterVec,
}

impl ListenerMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<ListenerMetrics> {
        let accept_errors = IntCounterVec::new(
            Opts::new(
                "gatehouse_listener_accept_errors_total",
                "Failed accepts (e.g. too many open files); the accept loop pauses after each.",
            ),
            &["listener"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "gatehouse_connections_refused_total",
                "Connections closed at once, before any reading, by reason (cap: the listener's connection limit).",
            ),
            &["listener", "reason"],
        )?;
        let open = IntGaugeVec::new(
            Opts::new(
                "gatehouse_downstream_connections",
                "Client connections open now.",
            ),
            &["listener"],
        )?;
        let timeouts = IntCounterVec::new(
            Opts::new(
                "gatehouse_listener_timeouts_total",
                "Connections closed at a deadline, by reason (header_timeout, idle_timeout, body_timeout).",
            ),
            &["listener", "reason"],
        )?;
        registry.register(Box::new(accept_errors.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(open.clone()))?;
        registry.register(Box::new(timeouts.clone()))?;
        Ok(ListenerMetrics {
            accept_errors,
            refused,
            open,
            timeouts,
        })
    }

    /// The handles of a proxy listener's connection caps (`gatehouse_proxy::caps`).
    pub fn proxy_caps(
        &self,
        listener: &str,
        proxy: &gatehouse_proxy::ProxyMetrics,
    ) -> gatehouse_proxy::caps::CapMetrics {
        gatehouse_proxy::caps::CapMetrics {
            open: self.open.with_label_values(&[listener]),
            refused_cap: self.refused.with_label_values(&[listener, "cap"]),
            refused_per_ip: self.refused.with_label_values(&[listener, "per_ip_cap"]),
            header_timeouts: self
                .timeouts
                .with_label_values(&[listener, "header_timeout"]),
            h2_preface_timeouts: self
                .timeouts
                .with_label_values(&[listener, "h2_preface_timeout"]),
            h2_reset_floods: proxy.rejected("h2_reset_flood"),
        }
    }

    /// The handles of a proxy listener's TLS handshakes (`gatehouse_proxy::handshake`).
    pub fn handshakes(
        &self,
        listener: &str,
        tls: &gatehouse_proxy::tls::TlsMetrics,
    ) -> gatehouse_proxy::handshake::HandshakeMetrics {
        gatehouse_proxy::handshake::HandshakeMetrics {
            refused: self.refused.with_label_values(&[listener, "handshake_cap"]),
            timeouts: self
                .timeouts
                .with_label_values(&[listener, "tls_handshake_timeout"]),
            failed: tls.handshakes.with_label_values(&["failed"]),
        }
    }

    /// The handles of one listener, label values resolved once.
    fn handles(&self, listener: &str) -> Handles {
        Handles {
            accept_errors: self.accept_errors.with_label_values(&[listener]),
            refused_cap: self.refused.with_label_values(&[listener, "cap"]),
            open: self.open.with_label_values(&[listener]),
            header_timeouts: self
                .timeouts
                .with_label_values(&[listener, "header_timeout"]),
            idle_timeouts: self.timeouts.with_label_values(&[listener, "idle_timeout"]),
            body_timeouts: self.timeouts.with_label_values(&[listener, "body_timeout"]),
        }
    }
}

struct Handles {
    accept_errors: IntCounter,
    refused_cap: IntCounter,
    open: IntGauge,
    header_timeouts: IntCounter,
    idle_timeouts: IntCounter,
    body_timeouts: IntCounter,
}

/// Where connections come from: a [`TcpListener`], or a scripted source in tests.
pub trait Accept: Send {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, SocketAddr)>> + Send;
}

impl Accept for TcpListener {
    type Io = TcpStream;
    fn accept(&mut self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        TcpListener::accept(self)
    }
}

/// How often a refusal over the cap is logged at most (each one is counted).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// Accept connections from `listener` forever and answer each request with the router `app`
/// (the peer's address is in the request's `ConnectInfo<SocketAddr>` extension). `name` is
/// the `listener` label and names the listener in logs.
pub async fn serve<A: Accept>(
    name: &'static str,
    mut listener: A,
    limits: ConnectionLimits,
    metrics: &ListenerMetrics,
    app: Router,
) {
    let m = Arc::new(metrics.handles(name));
    let slots = Arc::new(Semaphore::new(limits.max));
    let mut backoff = AcceptBackoff::default();
    let mut refusals = LogGate::new(REFUSAL_LOG_EVERY);
    loop {
        let (io, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff.on_success();
                accepted
            }
            Err(e) => {
                m.accept_errors.inc();
                let (pause, log) = backoff.on_error(Instant::now());
                if let Some(suppressed) = log {
                    tracing::warn!(
                        listener = name,
                        error = %e,
                        pause_ms = pause.as_millis() as u64,
                        more_since_last_line = suppressed,
                        "cannot accept connections; pausing the accept loop before trying again. With `Too many open files`, raise the open-file limit (ulimit -n, systemd LimitNOFILE) or lower this listener's `connections.max`"
                    );
                }
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            m.refused_cap.inc();
            if let Some(suppressed) = refusals.ready(Instant::now()) {
                tracing::warn!(
                    listener = name,
                    %peer,
                    max = limits.max,
                    more_since_last_line = suppressed,
                    "connection refused: the listener has `connections.max` connections open; raise it if these clients are legitimate"
                );
            }
            drop(io);
            continue;
        };
        let m = m.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _open = OpenGuard::new(&m.open);
            conn::serve_connection(io, peer, limits, app, &m).await;
            drop(slot);
        });
    }
}

/// `gatehouse_downstream_connections` up while it lives.
struct OpenGuard<'a>(&'a IntGauge);

impl<'a> OpenGuard<'a> {
    fn new(gauge: &'a IntGauge) -> Self {
        gauge.inc();
        OpenGuard(gauge)
    }
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
