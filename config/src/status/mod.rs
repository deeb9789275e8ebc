//! `status_page`: the public status page, its listener and the components it shows.

pub(crate) mod compile;
pub(crate) mod raw;

use std::net::SocketAddr;

/// The `status_page` section, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPageConfig {
    /// Its own (public) listener.
    pub listen: SocketAddr,
    /// Only requests for this host are answered (any host when `None`).
    pub host: Option<String>,
    /// Path prefix, `/` or `/status` (no trailing slash except for `/`).
    pub path: String,
    /// Page title.
    pub title: String,
    /// A line under the title.
    pub description: Option<String>,
    /// Show probes' failure reasons and alert summaries to visitors.
    pub show_errors: bool,
    /// What the page shows, in order.
    pub components: Vec<Component>,
    /// Head deadline, idle timeout and connection cap of its listener.
    pub connections: crate::server::ConnectionLimits,
}

/// One thing visitors see, backed by probes and routes.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Public name.
    pub name: String,
    /// URL-safe id for badges (`/badge/{slug}/status.svg`).
    pub slug: String,
    /// Display group.
    pub group: String,
    /// A line of explanation.
    pub description: Option<String>,
    /// Probes whose state decides the component's.
    pub probes: Vec<String>,
    /// Routes whose live errors and latency decide it too.
    pub routes: Vec<String>,
}
