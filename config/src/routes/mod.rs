//! `routes`: which requests go to which upstream (hosts, path prefix), with their timeouts,
//! body limit, path rules and the edge policy they enforce (`policies`, `policy`).

pub(crate) mod compile;
pub(crate) mod raw;

use std::time::Duration;

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
    /// On a plain listener, redirect requests for TLS-served hosts to HTTPS.
    pub redirect_https: bool,
    /// Accept an encoded `/` (`%2F`) in the path; it stays encoded for routing and
    /// forwarding. Refused with 400 otherwise.
    pub allow_encoded_slashes: bool,
    /// Refuse any `;` (matrix parameters) in the path, for backends that strip them.
    pub refuse_matrix_params: bool,
    /// Match `path_prefix` ASCII-case-insensitively, for case-insensitive backends.
    pub case_insensitive: bool,
    /// Security headers, CORS, CSRF, rate limits, lockouts and gates.
    pub policy: crate::policy::EdgePolicy,
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

#[cfg(test)]
mod tests;
