//! `upstreams`: named pools of backends, the protocol spoken to them, and their active and
//! passive health checks.

pub(crate) mod compile;
pub(crate) mod raw;

use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

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
    /// Backends taken out after failing real requests.
    pub passive_health: PassiveHealth,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (WebSocket upgrades pass through).
    #[default]
    Http1,
    /// HTTP/2 over cleartext with prior knowledge.
    H2c,
}

/// Passive health: a backend that fails `failures` requests in a row (connect errors,
/// timeouts, resets, and 5xx answers with `on_5xx`) is out of service for `cool_off`, doubled
/// at each ejection in a row up to `max_cool_off`. `failures: 0` turns it off; a pool of one
/// backend never ejects it (there is nothing to fail over to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveHealth {
    /// Failures in a row that eject a backend; 0: off.
    pub failures: u32,
    /// The first ejection's length.
    pub cool_off: Duration,
    /// The longest ejection.
    pub max_cool_off: Duration,
    /// Count 5xx answers as failures.
    pub on_5xx: bool,
}

impl Default for PassiveHealth {
    fn default() -> Self {
        PassiveHealth {
            failures: 5,
            cool_off: Duration::from_secs(10),
            max_cool_off: Duration::from_secs(300),
            on_5xx: false,
        }
    }
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
