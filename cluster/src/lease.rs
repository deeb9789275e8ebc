//! The leader lease: one row of `cluster_lease` with its holder, a fencing epoch and an
//! expiry computed by the server's clock (`now() + ttl`), so the instances' clocks never
//! matter. The holder renews it every `ttl / 3`; another instance takes it only once it has
//! expired, and taking it bumps the epoch. Whatever the leader writes for sending carries
//! its epoch, and [`FENCE`] lets a statement check that the epoch is still the current one,
//! so a deposed leader (paused, partitioned) cannot send.

use crate::{ClusterMetrics, Pg, PgError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A SQL condition true while epoch `$E` (a parameter placeholder the caller substitutes) is
/// the current, unexpired lease: `format!("{}", FENCE.replace("$E", "$3"))`.
pub const FENCE: &str =
    "EXISTS (SELECT 1 FROM cluster_lease WHERE name = 'leader' AND epoch = $E AND expires_at > now())";

/// Take the lease, or renew it when this holder has it; `None` when another holds it.
const ACQUIRE: &str = "
INSERT INTO cluster_lease (name, holder, epoch, expires_at)
VALUES ('leader', $1, 1, now() + $2::float8 * interval '1 millisecond')
ON CONFLICT (name) DO UPDATE SET
    holder = excluded.holder,
    epoch = CASE WHEN cluster_lease.holder = excluded.holder AND cluster_lease.expires_at > now()
                 THEN cluster_lease.epoch ELSE cluster_lease.epoch + 1 END,
    expires_at = excluded.expires_at
WHERE cluster_lease.holder = excluded.holder OR cluster_lease.expires_at <= now()
RETURNING epoch";

/// Note this process as alive under its instance name; count the other live processes that
/// use the same name (their results and verdicts would be taken for this instance's).
const SEEN: &str = "
INSERT INTO cluster_instances (holder, name, seen_at) VALUES ($1, $2, now())
ON CONFLICT (holder) DO UPDATE SET seen_at = now()";
const SAME_NAME: &str = "
SELECT COUNT(*) FROM cluster_instances
WHERE name = $2 AND holder <> $1 AND seen_at > now() - $3::float8 * interval '1 millisecond'";
const FORGET: &str = "DELETE FROM cluster_instances WHERE seen_at < now() - interval '1 day'";

/// What this instance knows of the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseState {
    /// The epoch it holds, while it holds it.
    pub epoch: Option<i64>,
}

struct Held {
    epoch: i64,
    /// Until when it may act as leader without another renewal (a margin before the
    /// server-side expiry, measured from before the renewal was sent).
    until: Instant,
}

/// The leader lease of one instance.
pub struct Lease {
    pg: Pg,
    name: String,
    holder: String,
    /// Another live process uses this instance name (seen at the last renewal).
    conflict: AtomicBool,
    ttl: Duration,
    held: Mutex<Option<Held>>,
    metrics: ClusterMetrics,
    stopped: AtomicBool,
}

impl Lease {
    /// The lease of `instance` (one holder per process: the name plus the pid and start time,
    /// so two processes given the same name still never share it).
    pub fn new(pg: Pg, instance: &str, ttl: Duration, metrics: ClusterMetrics) -> Lease {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        Lease {
            pg,
            name: instance.to_owned(),
            holder: format!("{instance}/{}-{nanos:08x}", std::process::id()),
            conflict: AtomicBool::new(false),
            ttl,
            held: Mutex::new(None),
            metrics,
            stopped: AtomicBool::new(false),
        }
    }

    /// The holder name written to the lease row.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The epoch this instance leads with, if it leads now.
    pub fn epoch(&self) -> Option<i64> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref()
            .filter(|h| Instant::now() < h.until)
            .map(|h| h.epoch)
    }

    /// Take or renew the lease once; returns the epoch when this instance leads.
    pub async fn renew(&self) -> Result<Option<i64>, PgError> {
        if self.stopped.load(Ordering::Acquire) {
            return Ok(None);
        }
        let sent = Instant::now();
        let pg = self.pg.clone();
        let holder = self.holder.clone();
        let name = self.name.clone();
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX) as f64;
        let result = self
            .pg
            .run(async move {
                let client = pg.client().await?;
                let failed =
                    |e: tokio_postgres::Error| PgError::db("renewing the leader lease", &e);
                let row = client
                    .query_opt(ACQUIRE, &[&holder, &ttl_ms])
                    .await
                    .map_err(failed)?;
                client
                    .execute(SEEN, &[&holder, &name])
                    .await
                    .map_err(failed)?;
                let same: i64 = client
                    .query_one(SAME_NAME, &[&holder, &name, &ttl_ms])
                    .await
                    .map_err(failed)?
                    .get(0);
                client.execute(FORGET, &[]).await.map_err(failed)?;
                Ok((row.map(|r| r.get::<_, i64>(0)), same > 0))
            })
            .await;
        let result = result.map(|(epoch, conflict)| {
            let was = self.conflict.swap(conflict, Ordering::AcqRel);
            self.metrics.name_conflict.set(i64::from(conflict));
            if conflict && !was {
                tracing::error!(instance = %self.name, "another running gatehouse uses this store.instance name: their probe results are taken for one instance's (and the quorum counts them once); give every instance its own name");
            }
            epoch
        });
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(Some(epoch)) => {
                let was = held.as_ref().map(|h| h.epoch);
                if was != Some(*epoch) {
                    tracing::info!(epoch, holder = %self.holder, "this instance is the leader now: it evaluates alert rules and sends notifications");
                }
                *held = Some(Held {
                    epoch: *epoch,
                    until: sent + self.ttl.mul_f64(0.9),
                });
                self.metrics.renewals.with_label_values(&["held"]).inc();
            }
            Ok(None) => {
                if held.take().is_some() {
                    tracing::warn!(holder = %self.holder, "another instance holds the leader lease; this one stopped sending");
                }
                self.metrics.renewals.with_label_values(&["follower"]).inc();
            }
            Err(e) => {
                self.metrics.renewals.with_label_values(&["error"]).inc();
                self.metrics
                    .store_errors
                    .with_label_values(&["lease"])
                    .inc();
                if held.as_ref().is_some_and(|h| Instant::now() >= h.until) {
                    held.take();
                    tracing::error!(error = %e, "the leader lease could not be renewed before it ran out: this instance stopped sending; another takes over when the store answers it");
                }
            }
        }
        let leading = held.as_ref().is_some_and(|h| Instant::now() < h.until);
        self.metrics.leader.set(i64::from(leading));
        result
    }

    /// Renew every `ttl / 3` until [`Lease::release`] (spawned on `rt`).
    pub fn spawn(self: &Arc<Self>, rt: &tokio::runtime::Handle) {
        let lease = self.clone();
        rt.spawn(async move {
            let every = lease.ttl / 3;
            loop {
                if lease.stopped.load(Ordering::Acquire) {
                    return;
                }
                if let Err(e) = lease.renew().await {
                    tracing::debug!(error = %e, "leader lease renewal failed");
                }
                // Wake when the lease would lapse too, so `gatehouse_cluster_leader` drops.
                tokio::time::sleep(every).await;
            }
        });
    }

    /// Give the lease up (at shutdown), so another instance takes over at once.
    pub async fn release(&self) -> Result<(), PgError> {
        let fut = self.releasing();
        self.pg.run(fut).await
    }

    /// [`Lease::release`] from a thread that may block.
    pub fn release_blocking(&self) -> Result<(), PgError> {
        let fut = self.releasing();
        self.pg.block_on(fut)
    }

    fn releasing(&self) -> impl std::future::Future<Output = Result<(), PgError>> + Send + 'static {
        self.stopped.store(true, Ordering::Release);
        self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.metrics.leader.set(0);
        let pg = self.pg.clone();
        let holder = self.holder.clone();
        async move {
            let client = pg.client().await?;
            client
                .execute(
                    "UPDATE cluster_lease SET expires_at = now() WHERE name = 'leader' AND holder = $1",
                    &[&holder],
                )
                .await
                .map_err(|e| PgError::db("releasing the leader lease", &e))?;
            Ok(())
        }
    }

    /// Whether another live process used this instance name at the last renewal.
    pub fn name_conflict(&self) -> bool {
        self.conflict.load(Ordering::Acquire)
    }

    /// The lease's TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// The state of this instance's lease, for the admin API and tests.
impl From<&Lease> for LeaseState {
    fn from(l: &Lease) -> LeaseState {
        LeaseState { epoch: l.epoch() }
    }
}
