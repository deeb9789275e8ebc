//! gatehouse probes: active checks of the services behind the proxy (HTTP, TCP, TLS, DNS,
//! Redis) and push monitors (heartbeats), run on a jittered, drift-free schedule with a
//! global concurrency bound, with results published to subscribers, exported as metrics and
//! kept in a store with hourly and daily rollups.
//!
//! The root package starts [`Probes`] with the config, hands it each reloaded config, and
//! gives its [`Probes::subscribe`] stream to alerting and its state and store to the admin API.

mod check;
pub mod condition;
pub mod format;
mod heartbeat;
mod hub;
mod kinds;
mod metrics;
pub mod observation;
mod quorum;
pub mod result;
mod scheduler;
pub mod store;
mod writer;

pub use heartbeat::BeatError;
pub use hub::ProbeState;
pub use metrics::ProbeMetrics;
pub use observation::Observation;
pub use quorum::Verdict;
pub use result::{CheckResult, Phases};
pub use store::{
    History, MemoryStore, PostgresStore, Range, Retention, SqliteStore, Store, StoreError,
};

use gatehouse_config::alerting::maintenance::Maintenance;
use gatehouse_config::probes::{Probe, ProbesConfig, StoreConfig};
use hub::Hub;
use scheduler::Scheduler;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;

/// The running probes.
pub struct Probes {
    hub: Arc<Hub>,
    scheduler: Scheduler,
    store: Arc<dyn Store>,
    probes: arc_swap::ArcSwap<Vec<Probe>>,
}

/// The store named by the config; when it cannot be opened, an in-memory store (logged and
/// counted: probing must not stop because the disk is full or read-only).
///
/// In cluster mode (`store.postgres`), `pg` is the shared pool: results go to PostgreSQL.
pub fn open_store(
    config: &StoreConfig,
    metrics: &ProbeMetrics,
    pg: Option<&gatehouse_cluster::Pg>,
) -> Arc<dyn Store> {
    let retention = Retention {
        raw: config.raw_retention,
        hourly: config.hourly_retention,
        daily: config.daily_retention,
    };
    if let (Some(pg), Some(cluster)) = (pg, &config.postgres) {
        return Arc::new(PostgresStore::new(pg.clone(), &cluster.instance, retention));
    }
    match &config.path {
        None => Arc::new(MemoryStore::new(retention)),
        Some(path) => match SqliteStore::open(path, retention) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                metrics.store_errors.with_label_values(&["open"]).inc();
                tracing::error!(error = %e, "probe results are kept in memory only until the store can be opened (restart after fixing it)");
                Arc::new(MemoryStore::new(retention))
            }
        },
    }
}

impl Probes {
    /// Start the configured probes on `rt`, with results written to `store`.
    pub fn start(
        config: &ProbesConfig,
        store: Arc<dyn Store>,
        metrics: ProbeMetrics,
        rt: tokio::runtime::Handle,
    ) -> std::io::Result<Probes> {
        let writer = writer::Writer::start(store.clone(), metrics.clone(), config.store.buffer)?;
        let hub = Arc::new(Hub::new(metrics, writer));
        if store.shared() {
            hub.heartbeats.share(store.clone());
        }
        match store.latest() {
            Ok(latest) => {
                for r in latest {
                    if config.probes.iter().any(|p| *p.name == *r.probe) {
                        hub.restore(r);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the last probe results"),
        }
        let probes = Probes {
            scheduler: Scheduler::new(rt, hub.clone(), config.concurrency),
            hub,
            store,
            probes: arc_swap::ArcSwap::from_pointee(Vec::new()),
        };
        probes.apply(config);
        Ok(probes)
    }

    /// Take a reloaded config: new probes start, changed ones restart, removed ones stop,
    /// the others keep their schedule.
    pub fn apply(&self, config: &ProbesConfig) {
        let store = self.store.clone();
        self.hub.heartbeats.configure(&config.probes, &|name| {
            store
                .get_state(&heartbeat_key(name))
                .ok()
                .flatten()
                .and_then(|v| v.parse().ok())
        });
        let windows = self.hub.marks.load().windows.clone();
        self.mark(&config.probes, windows);
        let (started, restarted, stopped) =
            self.scheduler.apply(&config.probes, config.concurrency);
        self.probes.store(Arc::new(config.probes.clone()));
        if started + restarted + stopped > 0 {
            tracing::info!(
                probes = config.probes.len(),
                started,
                restarted,
                stopped,
                "probes configured"
            );
        }
    }

    /// The maintenance windows (from `alerting.maintenance`): a check taken while one covers
    /// its probe is marked, stored, and left out of uptime.
    pub fn set_maintenance(&self, windows: &[Maintenance]) {
        self.mark(&self.probes.load(), windows.to_vec());
    }

    fn mark(&self, probes: &[Probe], windows: Vec<Maintenance>) {
        let labels = probes
            .iter()
            .map(|p| (p.name.clone(), p.alert_labels()))
            .collect();
        self.hub
            .marks
            .store(Arc::new(hub::Marks { windows, labels }));
    }

    /// Every completed check, as it completes. A slow subscriber that falls more than 4096
    /// results behind gets `Lagged` and skips ahead.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CheckResult>> {
        self.hub.subscribe()
    }

    /// Count `n` results a subscriber missed (it got `Lagged(n)`), in
    /// `gatehouse_probe_results_missed_total{subscriber}`.
    pub fn missed(&self, subscriber: &str, n: u64) {
        self.hub.metrics.missed(subscriber, n);
    }

    /// The configured probes with their current state (`None` before the first check).
    pub fn states(&self) -> Vec<(Probe, Option<ProbeState>)> {
        self.probes
            .load()
            .iter()
            .map(|p| (p.clone(), self.hub.state(&p.name)))
            .collect()
    }

    /// The configured probe named `name`.
    pub fn probe(&self, name: &str) -> Option<Probe> {
        self.probes.load().iter().find(|p| p.name == name).cloned()
    }

    /// How `r` counts for alerting: in a cluster, by the probe's quorum over every instance
    /// that checked it recently; otherwise as it is.
    pub async fn judge(&self, r: &CheckResult) -> Verdict {
        let (interval, quorum) = self
            .probe(&r.probe)
            .map(|p| (p.interval, p.quorum))
            .unwrap_or((Duration::from_secs(60), Default::default()));
        // A store that failed moments ago is not asked for every result (each would wait for
        // its timeout): the instance's own view counts until a write succeeds again.
        if self
            .hub
            .writer
            .last_error(Duration::from_secs(10))
            .is_some()
        {
            return Verdict {
                up: r.up,
                reason: r.failures.join("; "),
            };
        }
        quorum::judge(&self.store, r, interval, quorum).await
    }

    /// The result store.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// A heartbeat from a job.
    pub fn beat(&self, name: &str, token: &str) -> Result<(), BeatError> {
        let at = self.hub.heartbeats.beat(name, token, SystemTime::now())?;
        self.hub
            .writer
            .put_state(heartbeat_key(name), at.to_string());
        Ok(())
    }

    /// The store's latest failure within the last two minutes (for the `store_failing`
    /// alert rule).
    pub fn store_error(&self) -> Option<String> {
        self.hub.writer.last_error(Duration::from_secs(120))
    }

    /// Stop every probe and write what is queued (waiting at most `timeout`).
    pub fn stop(&self, timeout: Duration) {
        self.scheduler.stop();
        self.hub.writer.flush(timeout);
    }

    /// Wait until the results so far are in the store (tests, shutdown).
    pub fn flush(&self, timeout: Duration) -> bool {
        self.hub.writer.flush(timeout)
    }
}

use heartbeat::key as heartbeat_key;
