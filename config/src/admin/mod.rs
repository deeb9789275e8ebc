//! `admin`: the private admin listener (health, readiness, metrics, the admin API), its
//! bearer tokens and the host names it answers for.

pub(crate) mod compile;
pub(crate) mod raw;

use crate::secret::Secret;
use crate::server::ConnectionLimits;
use std::net::SocketAddr;

/// The admin listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Address to bind; loopback by default.
    pub listen: SocketAddr,
    /// Bearer tokens; when any is set, every endpoint but `/healthz`, `/readyz`, the
    /// heartbeat pushes (and `/metrics` with `metrics_open`) needs one.
    pub tokens: Vec<AdminToken>,
    /// Lower-case names accepted in `Host` besides the listen address, `localhost`,
    /// `127.0.0.1` and `[::1]` (the DNS-rebinding guard).
    pub hosts: Vec<String>,
    /// `/metrics` needs no token.
    pub metrics_open: bool,
    /// Head deadline, idle timeout and connection cap of the listener.
    pub connections: ConnectionLimits,
}

/// An admin API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// Names the token in logs (the value never is).
    pub name: String,
    /// The value the client sends as `Authorization: Bearer VALUE`.
    pub token: Secret,
    /// What the token may do.
    pub scope: AdminScope,
}

/// What an admin token may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AdminScope {
    /// GET and HEAD only.
    #[default]
    Read,
    /// Everything, including posting announcements and creating silences.
    Write,
}
