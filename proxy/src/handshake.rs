//! TLS on the proxy's listeners, run by gatehouse rather than by Pingora's listener, so that
//! the connection caps come before any TLS work and a handshake has a deadline of our
//! choosing: `server.tls_handshake_timeout` from accept (Pingora waits 60 s), and at most
//! `server.max_tls_handshakes` under way at once per listener (a connection beyond that is
//! closed before any TLS: HAProxy's `maxsslconn`).
//!
//! A handshake that fails or times out closes the connection quietly (counted, logged at
//! debug): on the internet, most failed handshakes are scanners, and one log line each would
//! let them write the log.

use crate::conn_io::Plain;
use crate::state::SharedState;
use pingora::listeners::tls::Acceptor;
use pingora::protocols::Stream;
use prometheus::IntCounter;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The metric handles of one listener's TLS.
pub struct HandshakeMetrics {
    /// `gatehouse_connections_refused_total{listener,reason="handshake_cap"}`.
    pub refused: IntCounter,
    /// `gatehouse_listener_timeouts_total{listener,reason="tls_handshake_timeout"}`.
    pub timeouts: IntCounter,
    /// `gatehouse_tls_handshakes_total{result="failed"}`.
    pub failed: IntCounter,
}

/// TLS for one listener.
pub struct TlsGate {
    acceptor: Acceptor,
    in_progress: AtomicUsize,
    metrics: HandshakeMetrics,
}

/// A handshake's place among those under way.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TlsGate {
    /// TLS with `acceptor` (certificates, ALPN, handshake callbacks).
    pub fn new(acceptor: Acceptor, metrics: HandshakeMetrics) -> TlsGate {
        TlsGate {
            acceptor,
            in_progress: AtomicUsize::new(0),
            metrics,
        }
    }

    /// Run the server side of a TLS handshake on `stream` within the configured deadline;
    /// `None` when it is refused, fails or times out (the connection is then closed).
    pub async fn accept(&self, stream: Stream, state: &SharedState) -> Option<Stream> {
        let (limit, max) = {
            let s = state.load();
            (
                s.config.server.tls_handshake_timeout,
                s.config.server.max_tls_handshakes,
            )
        };
        let deadline = tokio::time::Instant::now() + limit;
        // A connection that has sent nothing is not a handshake yet: the slot is taken when
        // its first bytes (the ClientHello's) are there, so silent connections cannot fill the
        // slots and lock real clients out. They wait under the same deadline.
        let mut stream = stream;
        let mut first = [0u8; 1];
        match tokio::time::timeout_at(deadline, stream.try_peek(&mut first)).await {
            Err(_) => return self.timed_out(limit),
            Ok(Err(_)) => {
                // Closed before a ClientHello (a port scan, a health check of TCP only).
                self.metrics.failed.inc();
                return None;
            }
            Ok(Ok(_)) => {}
        }
        if self.in_progress.fetch_add(1, Ordering::Relaxed) >= max {
            self.in_progress.fetch_sub(1, Ordering::Relaxed);
            self.metrics.refused.inc();
            return None;
        }
        let _slot = Slot(&self.in_progress);
        let handshake = self.acceptor.tls_handshake(Plain(stream));
        match tokio::time::timeout_at(deadline, handshake).await {
            Ok(Ok(tls)) => Some(Box::new(tls)),
            Ok(Err(e)) => {
                self.metrics.failed.inc();
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => self.timed_out(limit),
        }
    }

    fn timed_out(&self, limit: std::time::Duration) -> Option<Stream> {
        self.metrics.timeouts.inc();
        tracing::debug!(limit = ?limit, "TLS handshake not finished in time");
        None
    }
}
