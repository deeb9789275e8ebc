//! gatehouse's proxy: the Pingora request path, routing, upstream pools with health checks,
//! TLS termination with certificates from files and ACME, and the metrics of the traffic that
//! passes through.

pub mod access_log;
pub mod acme;
pub mod canonical;
pub mod caps;
mod conn_io;
mod gateway;
mod h2frames;
mod h2guard;
pub mod handshake;
mod head_deadline;
pub mod heartbeat;
mod keepalive;
mod metrics;
mod passive;
mod policy;
mod pool;
mod request_id;
mod respond;
mod router;
mod state;
mod telemetry;
pub mod tls;
mod traffic;
mod wire_names;

pub use gateway::{Gateway, RequestCtx};
pub use heartbeat::{BeatRefusal, HeartbeatSink};
pub use metrics::ProxyMetrics;
pub use policy::{hash_password, HashPasswordError};
pub use pool::{Pool, PoolError};
pub use state::{ProxyState, SharedState};
pub use telemetry::{Telemetry, TelemetryError};
pub use traffic::TrafficWindows;
