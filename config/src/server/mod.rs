//! `server`, `log`, `listeners` and the `connections` of the control-plane listeners (`admin`,
//! `status_page`, `demo`): process-level settings and where traffic is accepted.
//!
//! `raw.rs` is the YAML as written, `compile.rs` checks it into the types below.

pub(crate) mod compile;
pub(crate) mod raw;
#[cfg(test)]
mod tests;

use crate::defaults;
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

/// Process-level settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Worker threads for the proxy.
    pub threads: usize,
    /// How long SIGTERM/SIGINT waits for in-flight requests before exiting.
    pub grace_period: Duration,
    /// Size limits of a request head.
    pub limits: RequestLimits,
    /// Keep header names containing `_` (dropped by default, as nginx does).
    pub underscores_in_headers: bool,
    /// How long an idle keep-alive connection (HTTP/1.1) or HTTP/2 connection stays open.
    pub keepalive_timeout: Duration,
    /// How long a whole HTTP/1 request head may take to arrive (nginx: client_header_timeout).
    pub header_timeout: Duration,
    /// Longest wait between two reads of an HTTP/1 request body (nginx: client_body_timeout).
    pub client_body_timeout: Duration,
    /// Longest wait for a client to take the next part of a response (nginx: send_timeout).
    pub send_timeout: Duration,
    /// Requests served on one keep-alive connection before it is closed gracefully.
    pub keepalive_requests: u32,
    /// Streams one HTTP/2 connection may have open at once; also the most requests of one
    /// connection in progress at once (a stream the client reset counts until its request ends).
    pub http2_max_concurrent_streams: u32,
    /// Streams one HTTP/2 connection's client may reset per minute (a bucket of this size,
    /// refilled over a minute); one more and the connection gets GOAWAY ENHANCE_YOUR_CALM.
    pub http2_max_resets: u32,
    /// How long a TLS handshake may take, from the connection's accept (nginx 1.25:
    /// ssl_handshake_timeout).
    pub tls_handshake_timeout: Duration,
    /// TLS handshakes in progress at once on one listener; a connection arriving when this
    /// many are under way is closed at once (HAProxy: maxsslconn).
    pub max_tls_handshakes: usize,
    /// Idle keep-alive connections to upstreams kept for reuse, over all upstreams, per proxy
    /// worker thread (nginx: `keepalive` of an upstream block, per worker). A connection
    /// released when the pool is full is closed; a request beyond that many at once opens one.
    pub upstream_keepalive_pool: usize,
}

/// Size limits of a request head (nginx: `large_client_header_buffers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest request line, in bytes (414 beyond).
    pub request_line: usize,
    /// Longest header line (`name: value`), in bytes (431 beyond).
    pub header_line: usize,
    /// Largest request head, request line and headers together, in bytes (431 beyond).
    pub head: usize,
    /// Most header lines (431 beyond).
    pub headers: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            request_line: defaults::REQUEST_LINE,
            header_line: defaults::HEADER_LINE,
            head: defaults::HEAD_SIZE,
            headers: defaults::HEADERS,
        }
    }
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Text or JSON lines.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `gatehouse=debug,info`.
    pub level: String,
    /// Whether one access-log line is written per request.
    pub access_log: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The built-in demo backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Address the demo backend binds.
    pub listen: SocketAddr,
    /// Head deadline, idle timeout and connection cap of the listener.
    pub connections: ConnectionLimits,
}

/// A listener: plain HTTP, or HTTPS when `tls` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Name used in logs.
    pub name: String,
    /// Address to bind.
    pub address: SocketAddr,
    /// Terminate TLS here (certificates from `tls`).
    pub tls: bool,
    /// Offer HTTP/2 by ALPN (TLS listeners only; HTTP/1.1 is always offered).
    pub http2: bool,
    /// Most connections open at once on this listener.
    pub max_connections: usize,
    /// Most connections open at once from one client address (IPv6: one /64); peers in
    /// `trusted_proxies` have no such cap.
    pub max_connections_per_ip: usize,
}

/// Limits of one control-plane listener's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Deadline for a whole request head: from accept for the first request, from its first
    /// byte for later ones on a keep-alive connection (not per read).
    pub header_timeout: Duration,
    /// An idle keep-alive connection (no request in progress, no byte of the next one) is
    /// closed after this.
    pub idle_timeout: Duration,
    /// Open connections at most; the next one is closed at once and counted.
    pub max: usize,
}

/// Default deadline for a whole request head (nginx `client_header_timeout`: 60 s).
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Default idle keep-alive time (nginx `keepalive_timeout`: 75 s).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl ConnectionLimits {
    /// The defaults with `max` open connections.
    pub const fn with_max(max: usize) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: HEADER_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max,
        }
    }

    /// Admin listener: Prometheus, probes of the operator's tooling and a few humans.
    pub const ADMIN: ConnectionLimits = ConnectionLimits::with_max(128);
    /// The public status page.
    pub const STATUS_PAGE: ConnectionLimits = ConnectionLimits::with_max(512);
    /// The demo backend.
    pub const DEMO: ConnectionLimits = ConnectionLimits::with_max(128);
}
