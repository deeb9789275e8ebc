//! Connection caps on the proxy's listeners: at most `max_connections` open on a listener and
//! `max_connections_per_ip` from one client address (an IPv6 client by its /64), checked when
//! a connection arrives, before any HTTP is read. A connection over a cap is closed at once and
//! counted in `gatehouse_connections_refused_total{listener,reason}` (`cap`, `per_ip_cap`).
//! Peers in `trusted_proxies` (a load balancer carries many clients) have no per-IP cap.
//!
//! The cap wraps Pingora's HTTP application ([`Capped`]), so it sees each connection's start
//! and end. Pingora's listener only accepts: each admitted connection is served in a task of
//! its own, which runs the TLS handshake after the caps and under its own deadline (see
//! `handshake`), then gives every HTTP/1 request head `server.header_timeout` (see
//! `head_deadline`) and runs the keep-alive loop (see `keepalive`), or watches an HTTP/2
//! connection for its preface and for reset floods (see `h2guard`).

use crate::h2guard::{H2Guard, Watch};
use crate::handshake::TlsGate;
use crate::head_deadline::HeadDeadline;
use crate::state::SharedState;
use async_trait::async_trait;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;
use prometheus::{IntCounter, IntGauge};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SHARDS: usize = 16;

/// The caps of one listener and its counts.
pub struct ConnectionCaps {
    max: usize,
    per_ip: usize,
    open: AtomicUsize,
    by_ip: Vec<Mutex<HashMap<u128, usize>>>,
    gauge: IntGauge,
    refused_cap: IntCounter,
    refused_per_ip: IntCounter,
    header_timeouts: IntCounter,
    h2: Arc<Watch>,
}

/// The metric handles of one listener.
pub struct CapMetrics {
    /// `gatehouse_downstream_connections{listener}`.
    pub open: IntGauge,
    /// `gatehouse_connections_refused_total{listener,reason="cap"}`.
    pub refused_cap: IntCounter,
    /// `gatehouse_connections_refused_total{listener,reason="per_ip_cap"}`.
    pub refused_per_ip: IntCounter,
    /// `gatehouse_listener_timeouts_total{listener,reason="header_timeout"}`.
    pub header_timeouts: IntCounter,
    /// `gatehouse_listener_timeouts_total{listener,reason="h2_preface_timeout"}`.
    pub h2_preface_timeouts: IntCounter,
    /// `gatehouse_requests_rejected_total{reason="h2_reset_flood"}`.
    pub h2_reset_floods: IntCounter,
}

/// A client address as the per-IP cap counts it: IPv4 (also when mapped into IPv6) by itself,
/// IPv6 by its /64.
fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)),
            None => (u128::from(v6) >> 64) << 64 | 1 << 32,
        },
    }
}

/// One admitted connection; its place is given back when it ends.
pub struct Admitted {
    caps: Arc<ConnectionCaps>,
    key: Option<u128>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.caps.open.fetch_sub(1, Ordering::Relaxed);
        self.caps.gauge.dec();
        if let Some(k) = self.key {
            if let Ok(mut map) = self.caps.shard(k).lock() {
                if let Some(n) = map.get_mut(&k) {
                    *n -= 1;
                    if *n == 0 {
                        map.remove(&k);
                    }
                }
            }
        }
    }
}

impl ConnectionCaps {
    /// Caps of `max` connections on the listener and `per_ip` from one client.
    pub fn new(max: usize, per_ip: usize, metrics: CapMetrics) -> Arc<ConnectionCaps> {
        Arc::new(ConnectionCaps {
            max,
            per_ip,
            open: AtomicUsize::new(0),
            by_ip: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            gauge: metrics.open,
            refused_cap: metrics.refused_cap,
            refused_per_ip: metrics.refused_per_ip,
            header_timeouts: metrics.header_timeouts,
            h2: Arc::new(Watch {
                on_preface_timeout: metrics.h2_preface_timeouts,
                on_reset_flood: metrics.h2_reset_floods,
            }),
        })
    }

    fn shard(&self, key: u128) -> &Mutex<HashMap<u128, usize>> {
        let h = (key >> 64) as u64 ^ key as u64;
        &self.by_ip[(h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize % SHARDS]
    }

    /// Admit a connection from `ip` (`None`: unknown; `trusted`: no per-IP cap), or refuse it.
    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>, trusted: bool) -> Option<Admitted> {
        if self.open.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.open.fetch_sub(1, Ordering::Relaxed);
            self.refused_cap.inc();
            return None;
        }
        let key = ip.filter(|_| !trusted).map(key);
        if let Some(k) = key {
            let admitted = self.shard(k).lock().is_ok_and(|mut map| {
                let n = map.entry(k).or_insert(0);
                if *n >= self.per_ip {
                    return false;
                }
                *n += 1;
                true
            });
            if !admitted {
                self.open.fetch_sub(1, Ordering::Relaxed);
                self.refused_per_ip.inc();
                return None;
            }
        }
        self.gauge.inc();
        Some(Admitted {
            caps: self.clone(),
            key,
        })
    }
}

/// Pingora's application for one listener, with its connection caps.
pub struct Capped<A> {
    inner: Arc<A>,
    caps: Arc<ConnectionCaps>,
    state: SharedState,
    tls: Option<TlsGate>,
}

impl<A> Capped<A> {
    /// `inner` behind `caps`, with TLS when `tls` is set; `state` gives the trusted proxies
    /// and the deadlines.
    pub fn new(
        inner: Arc<A>,
        caps: Arc<ConnectionCaps>,
        state: SharedState,
        tls: Option<TlsGate>,
    ) -> Capped<A> {
        Capped {
            inner,
            caps,
            state,
            tls,
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Capped<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let ip = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let trusted = ip.is_some_and(|ip| {
            self.state
                .load()
                .config
                .trusted_proxies
                .iter()
                .any(|n| n.contains(&ip))
        });
        // Dropping the stream closes the connection.
        let admitted = self.caps.admit(ip, trusted)?;
        // The connection goes on in a task of its own, as small as its idle state: Pingora's
        // accept task, whose future is sized for its own TLS handshake (~9 KB), ends here.
        let this = self.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            this.serve(stream, &shutdown).await;
            drop(admitted);
        });
        None
    }

    async fn cleanup(&self) {
        self.inner.http_cleanup().await;
    }
}

impl<A: HttpServerApp + Send + Sync + 'static> Capped<A> {
    /// Serve one admitted connection until it closes: TLS, then HTTP/2 through Pingora's
    /// connection loop, or HTTP/1 through gatehouse's (see `keepalive`).
    async fn serve(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) {
        let stream = match &self.tls {
            // Boxed: the handshake's future is large, and would otherwise stay part of this
            // task's size for the connection's life, TLS or not.
            Some(tls) => match Box::pin(tls.accept(stream, &self.state)).await {
                Some(s) => s,
                None => return,
            },
            None => stream,
        };
        let (limit, max_resets, max_streams) = {
            let s = self.state.load();
            let server = &s.config.server;
            (
                server.header_timeout,
                server.http2_max_resets,
                server.keepalive_requests,
            )
        };
        if stream.selected_alpn_proto() == Some(ALPN::H2) {
            // An HTTP/2 connection's preface is timed and its resets counted.
            let stream = Box::new(H2Guard::new(
                stream,
                limit,
                max_resets,
                max_streams,
                self.caps.h2.clone(),
            ));
            ServerApp::process_new(&self.inner, stream, shutdown).await;
            return;
        }
        // HTTP/1 heads are timed as a whole.
        let counter = self.caps.header_timeouts.clone();
        let stream = Box::new(HeadDeadline::new(
            stream,
            limit,
            Box::new(move || counter.inc()),
        ));
        crate::keepalive::serve_http1(&self.inner, stream, shutdown, &self.state).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(max: usize, per_ip: usize) -> Arc<ConnectionCaps> {
        ConnectionCaps::new(
            max,
            per_ip,
            CapMetrics {
                open: IntGauge::new("o", "o").expect("gauge"),
                refused_cap: IntCounter::new("c", "c").expect("counter"),
                refused_per_ip: IntCounter::new("p", "p").expect("counter"),
                header_timeouts: IntCounter::new("h", "h").expect("counter"),
                h2_preface_timeouts: IntCounter::new("p2", "p2").expect("counter"),
                h2_reset_floods: IntCounter::new("r2", "r2").expect("counter"),
            },
        )
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn per_ip_and_listener_caps() {
        let c = caps(5, 2);
        let a1 = c.admit(ip("10.0.0.1"), false);
        let a2 = c.admit(ip("10.0.0.1"), false);
        assert!(a1.is_some() && a2.is_some());
        assert!(c.admit(ip("10.0.0.1"), false).is_none());
        assert!(c.admit(ip("::ffff:10.0.0.1"), false).is_none(), "mapped v4");
        // A trusted proxy carries many clients.
        let t = c.admit(ip("10.0.0.1"), true);
        assert!(t.is_some());
        // One /64 is one client.
        let b1 = c.admit(ip("2001:db8::1"), false);
        let _b2 = c.admit(ip("2001:db8::2"), false);
        assert!(b1.is_some());
        assert_eq!(c.open.load(Ordering::Relaxed), 5);
        assert!(c.admit(ip("2001:db9::1"), false).is_none(), "listener cap");
        assert_eq!(c.refused_cap.get(), 1);
        assert_eq!(c.refused_per_ip.get(), 2);
        drop(a1);
        assert!(c.admit(ip("10.0.0.1"), false).is_some());
        drop((a2, t, b1));
        assert_eq!(c.gauge.get(), 1, "the guards give their places back");
    }
}
