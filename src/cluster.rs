//! Cluster mode wiring: the shared PostgreSQL pool and the cluster metrics, when the config
//! has `store.postgres`.

use gatehouse_alerting::ClusterLink;
use gatehouse_cluster::{ClusterMetrics, Lease, Pg, PgOptions};
use gatehouse_config::probes::{PostgresStore, StoreConfig};
use prometheus::Registry;
use std::sync::Arc;
use std::time::Duration;

/// The shared store of a cluster.
pub(crate) struct Cluster {
    pub(crate) pg: Pg,
    pub(crate) instance: String,
    ttl: Duration,
    metrics: ClusterMetrics,
    lease: Option<Arc<Lease>>,
}

impl Cluster {
    /// Start competing for the leader lease (renewed on `rt` every third of its TTL); the
    /// link alerting runs on.
    pub(crate) fn lead(&mut self, rt: &tokio::runtime::Handle) -> ClusterLink {
        let lease = Arc::new(Lease::new(
            self.pg.clone(),
            &self.instance,
            self.ttl,
            self.metrics.clone(),
        ));
        lease.spawn(rt);
        self.lease = Some(lease.clone());
        ClusterLink {
            pg: self.pg.clone(),
            lease,
        }
    }

    /// Give the lease up at shutdown, so another instance leads at once.
    pub(crate) fn release(&self) {
        if let Some(lease) = &self.lease {
            match lease.release_blocking() {
                Ok(()) => tracing::info!("leader lease released"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot release the leader lease; another instance takes over when it expires")
                }
            }
        }
    }
}

/// The pool to the configured server; `None` without `store.postgres`. No connection is made
/// here: the server may be away at start, and proxying never waits for it.
pub(crate) fn start(store: &StoreConfig, registry: &Registry) -> anyhow::Result<Option<Cluster>> {
    let Some(cfg) = &store.postgres else {
        return Ok(None);
    };
    let mut pg = Pg::new(&options(cfg)).map_err(|e| anyhow::anyhow!("store.postgres: {e}"))?;
    let metrics = ClusterMetrics::register(registry)?;
    pg.count_errors_in(metrics.store_errors.clone());
    for store in ["probes", "alerting", "lease", "acme"] {
        metrics.store_errors.with_label_values(&[store]);
    }
    tracing::info!(instance = %cfg.instance, "cluster mode: state is shared through PostgreSQL");
    Ok(Some(Cluster {
        pg,
        instance: cfg.instance.clone(),
        ttl: cfg.lease_ttl,
        metrics,
        lease: None,
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

/// `gatehouse check`'s look at a cluster config: the URL and CA file as the driver takes
/// them, and what would not be shared between instances. Returns (errors, warnings).
pub(crate) fn check(
    config: &gatehouse_config::Config,
) -> (
    Vec<gatehouse_config::ConfigError>,
    Vec<gatehouse_config::ConfigError>,
) {
    use gatehouse_config::ConfigError;
    let Some(cfg) = &config.probes.store.postgres else {
        return (Vec::new(), Vec::new());
    };
    let (errors, warnings) = gatehouse_cluster::inspect(&options(cfg));
    let to_error = |f: gatehouse_cluster::Finding| ConfigError::new(f.path, f.message);
    let mut errors: Vec<ConfigError> = errors.into_iter().map(to_error).collect();
    let mut warnings: Vec<ConfigError> = warnings.into_iter().map(to_error).collect();
    config.locate(&mut errors);
    config.locate(&mut warnings);
    (errors, warnings)
}
