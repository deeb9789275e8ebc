//! gatehouse's control-plane web apps, beside the proxy: the admin API (`admin*`: one route
//! table, the Host guard and tokens as a middleware) and the public status page (`status`,
//! HTML from compile-time templates), both axum routers served by one hardened HTTP/1
//! listener (`listener`: head deadline, idle timeout, connection cap, accept back-off) that
//! the binary's demo backend uses too. The binary hands in what the apps read
//! ([`admin::AdminState`], [`status::StatusPage`]); nothing here reaches into it.

pub mod admin;
mod admin_alerts;
pub mod admin_auth;
mod admin_probes;
pub mod listener;
pub mod status;

/// What can go wrong setting the web apps up.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The system's random source failed.
    #[error("cannot draw a random key for the admin tokens")]
    RandomKey,
    /// A metric could not be registered (a name registered twice).
    #[error("cannot register the admin metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}
