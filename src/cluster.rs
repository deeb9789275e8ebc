//! Cluster mode wiring: the shared PostgreSQL pool and the cluster metrics, when the config
//! has `store.postgres`.

use gatehouse_cluster::{ClusterMetrics, Pg, PgOptions};
use gatehouse_config::probes::{PostgresStore, StoreConfig};
use prometheus::Registry;

/// The shared store of a cluster.
pub(crate) struct Cluster {
    pub(crate) pg: Pg,
    #[allow(dead_code)] // the leader lease takes them
    pub(crate) instance: String,
    #[allow(dead_code)]
    pub(crate) metrics: ClusterMetrics,
}

/// The pool to the configured server; `None` without `store.postgres`. No connection is made
/// here: the server may be away at start, and proxying never waits for it.
pub(crate) fn start(store: &StoreConfig, registry: &Registry) -> anyhow::Result<Option<Cluster>> {
    let Some(cfg) = &store.postgres else {
        return Ok(None);
    };
    let pg = Pg::new(&options(cfg)).map_err(|e| anyhow::anyhow!("store.postgres: {e}"))?;
    let metrics = ClusterMetrics::register(registry)?;
    tracing::info!(instance = %cfg.instance, "cluster mode: state is shared through PostgreSQL");
    Ok(Some(Cluster {
        pg,
        instance: cfg.instance.clone(),
        metrics,
    }))
}

/// The pool options of `store.postgres`.
pub(crate) fn options(cfg: &PostgresStore) -> PgOptions {
    PgOptions {
        url: cfg.url.0.clone(),
        ca_file: cfg.ca_file.clone(),
        max_connections: 8,
    }
}
