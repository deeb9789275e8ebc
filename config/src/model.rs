//! The validated configuration: every value parsed, every reference checked.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::raw::{LogFormat, UpstreamProtocol};

/// A complete, valid gatehouse configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was read from, if any.
    pub source: Option<PathBuf>,
    /// The private admin listener (health, readiness, metrics).
    pub admin: AdminConfig,
    /// Process-level settings.
    pub server: ServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// The built-in demo backend, when enabled.
    pub demo: Option<DemoConfig>,
    /// Where the proxy accepts traffic.
    pub listeners: Vec<Listener>,
    /// Named pools of backends, by name.
    pub upstreams: BTreeMap<String, Upstream>,
    /// Routes, in file order.
    pub routes: Vec<Route>,
}

/// The admin listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Address to bind; loopback by default.
    pub listen: SocketAddr,
}

/// Process-level settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Worker threads for the proxy.
    pub threads: usize,
    /// How long SIGTERM/SIGINT waits for in-flight requests before exiting.
    pub grace_period: Duration,
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

/// The built-in demo backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Address the demo backend binds.
    pub listen: SocketAddr,
}

/// A plain-HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Name used in logs.
    pub name: String,
    /// Address to bind.
    pub address: SocketAddr,
}

/// A pool of backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The pool's name (its key in `upstreams`).
    pub name: String,
    /// Backends with their weights.
    pub backends: Vec<Backend>,
    /// Protocol spoken to the backends.
    pub protocol: UpstreamProtocol,
    /// Active health checking, when configured.
    pub health_check: Option<HealthCheck>,
}

/// One backend of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// As written in the file (used in metric labels).
    pub address_text: String,
    /// Resolved socket address.
    pub address: SocketAddr,
    /// Relative share of requests (round robin, weighted).
    pub weight: usize,
}

/// Active health checking of a pool's backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// What a check does.
    pub kind: HealthCheckKind,
    /// Time between checks.
    pub interval: Duration,
    /// Connect and read timeout of one check.
    pub timeout: Duration,
    /// Consecutive successes that bring a backend back.
    pub healthy_threshold: usize,
    /// Consecutive failures that take a backend out.
    pub unhealthy_threshold: usize,
}

/// The kind of health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheckKind {
    /// `GET path` with the given Host header, expecting `expect_status`.
    Http {
        /// Request path.
        path: String,
        /// Host header.
        host: String,
        /// Status that counts as healthy.
        expect_status: u16,
    },
    /// A TCP connect.
    Tcp,
}

/// A route: which requests go to which upstream, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Unique name, used in metrics and logs.
    pub name: String,
    /// Hosts matched; empty means any host.
    pub hosts: Vec<HostPattern>,
    /// Path prefix, matched on segment boundaries.
    pub path_prefix: String,
    /// The upstream pool's name.
    pub upstream: String,
    /// Timeouts toward the upstream.
    pub timeouts: Timeouts,
    /// How many other backends to try when connecting fails.
    pub retries: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_size: u64,
}

/// A host the route answers for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostPattern {
    /// An exact, lower-case host name.
    Exact(String),
    /// `*.example.com`: stored as the suffix `.example.com`; matches one or more labels.
    Wildcard(String),
}

/// Upstream timeouts of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect timeout.
    pub connect: Duration,
    /// Longest wait for any read from the upstream.
    pub read: Duration,
    /// Deadline for the whole exchange, from the request's arrival; `None` for no deadline.
    /// WebSocket connections are exempt once upgraded.
    pub total: Option<Duration>,
}

/// Defaults applied where the file is silent.
pub mod defaults {
    use std::time::Duration;
    /// Admin listener address.
    pub const ADMIN_LISTEN: &str = "127.0.0.1:9901";
    /// Drain bound on shutdown.
    pub const GRACE_PERIOD: Duration = Duration::from_secs(10);
    /// Connect timeout.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Read timeout.
    pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
    /// Largest request body.
    pub const MAX_BODY_SIZE: u64 = 10 << 20;
    /// Retries on connect failure.
    pub const RETRIES: u32 = 1;
    /// Health-check interval.
    pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
    /// Health-check timeout.
    pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
}
