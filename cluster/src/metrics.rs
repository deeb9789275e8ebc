//! The cluster's metrics: leadership, lease renewals, failures of the shared store.

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

/// Registered once, shared by the lease and the stores.
#[derive(Clone)]
pub struct ClusterMetrics {
    /// `gatehouse_cluster_leader`: 1 while this instance holds the leader lease.
    pub leader: IntGauge,
    /// `gatehouse_cluster_lease_renewals_total{result}`.
    pub renewals: IntCounterVec,
    /// `gatehouse_store_errors_total{store}`.
    pub store_errors: IntCounterVec,
    /// `gatehouse_cluster_instance_name_conflict`: 1 while another live process uses this
    /// instance's name.
    pub name_conflict: IntGauge,
}

impl ClusterMetrics {
    /// Register on `registry`.
    pub fn register(registry: &Registry) -> Result<ClusterMetrics, prometheus::Error> {
        let m = ClusterMetrics::unregistered()?;
        registry.register(Box::new(m.leader.clone()))?;
        registry.register(Box::new(m.renewals.clone()))?;
        registry.register(Box::new(m.store_errors.clone()))?;
        registry.register(Box::new(m.name_conflict.clone()))?;
        Ok(m)
    }

    /// The metrics without a registry (tests).
    pub fn unregistered() -> Result<ClusterMetrics, prometheus::Error> {
        Ok(ClusterMetrics {
            leader: IntGauge::new(
                "gatehouse_cluster_leader",
                "1 while this instance holds the leader lease (it alone evaluates alert rules and sends notifications), else 0.",
            )?,
            renewals: IntCounterVec::new(
                Opts::new(
                    "gatehouse_cluster_lease_renewals_total",
                    "Attempts to take or renew the leader lease by result: held (this instance leads), follower (another holds it), error (the store failed).",
                ),
                &["result"],
            )?,
            store_errors: IntCounterVec::new(
                Opts::new(
                    "gatehouse_store_errors_total",
                    "Failed operations on the shared PostgreSQL store by part: probes (results, state, verdicts), alerting (incidents, outbox, silences, posts; a deposed leader's fenced writes included), lease.",
                ),
                &["store"],
            )?,
            name_conflict: IntGauge::new(
                "gatehouse_cluster_instance_name_conflict",
                "1 while another running gatehouse uses this instance's store.instance name (give each its own), else 0.",
            )?,
        })
    }
}
