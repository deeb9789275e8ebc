//! gatehouse cluster mode: several instances share their state in PostgreSQL.
//!
//! [`Pg`] is the connection pool to the server (TLS with the outbound root policy and ring),
//! with a runtime of its own so that the stores' blocking interfaces can call it from any
//! thread; [`migrate`] brings the schema to the version this code knows, under an advisory
//! lock; [`Lease`] is the leader lease with its fencing epoch.

mod lease;
mod metrics;
pub mod migrate;
mod pool;

pub use lease::{Lease, LeaseState, FENCE};
pub use metrics::ClusterMetrics;
pub use pool::{inspect, Finding, Pg, PgError, PgOptions};
