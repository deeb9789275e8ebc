//! gatehouse's proxy: the Pingora request path, routing, upstream pools with health checks,
//! and the metrics of the traffic that passes through.

mod gateway;
mod metrics;
mod pool;
mod request_id;
mod respond;
mod router;
mod state;

pub use gateway::{Gateway, RequestCtx};
pub use metrics::ProxyMetrics;
pub use pool::{Pool, PoolError};
pub use state::{ProxyState, SharedState};
