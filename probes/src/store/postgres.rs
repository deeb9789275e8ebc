//! The PostgreSQL store (cluster mode): every instance writes its results, tagged with its
//! name, into the shared tables (`probe_results`, `probe_rollups` with one row per probe,
//! period, bucket and instance, `probe_state`), and reads the cluster's whole history.
//! The schema is the cluster crate's migrations. Calls block the calling thread (the store
//! runs the query on its own runtime), as the [`Store`] trait says.

use super::postgres_latest::{self as latest, Latest, UPSERT_LATEST};
use super::{
    duration_from_ms, history, kind_from_str, Bucket, Cutoffs, Failure, History, Period, Range,
    Retention, Store, StoreError, Window, RECENT_FAILURES,
};
use crate::result::{from_unix_millis, unix_millis, CheckResult, Phases};
use gatehouse_cluster::{Pg, PgError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_postgres::Row;

const INSERT_RESULTS: &str = "INSERT INTO probe_results
    (instance, probe, grp, kind, at, duration_ms, up, attempts, status, cert_expiry, hit_ratio,
     failures, maintenance)
    SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::int8[], $6::float8[],
        $7::bool[], $8::int4[], $9::int4[], $10::int8[], $11::float8[], $12::text[], $13::bool[])";

const UPSERT_ROLLUPS: &str = "INSERT INTO probe_rollups
    (instance, probe, period, start, checks, failures, latency_sum_ms, latency_max_ms, maintenance)
    SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[],
        $7::float8[], $8::float8[], $9::int8[])
    ON CONFLICT (probe, period, start, instance) DO UPDATE SET
        checks = probe_rollups.checks + excluded.checks,
        failures = probe_rollups.failures + excluded.failures,
        latency_sum_ms = probe_rollups.latency_sum_ms + excluded.latency_sum_ms,
        latency_max_ms = GREATEST(probe_rollups.latency_max_ms, excluded.latency_max_ms),
        maintenance = probe_rollups.maintenance + excluded.maintenance";

const COLUMNS: &str = "probe, grp, kind, at, duration_ms, up, attempts, status, cert_expiry, \
     hit_ratio, failures, maintenance";

/// The PostgreSQL store of one instance.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(super) pg: Pg,
    instance: Arc<str>,
    retention: Retention,
    /// The other instances' newest results, for the quorum.
    latest: Arc<std::sync::Mutex<Latest>>,
}

impl PostgresStore {
    /// The store of `instance` on `pg` (no connection is made until the first call).
    pub fn new(pg: Pg, instance: &str, retention: Retention) -> PostgresStore {
        PostgresStore {
            pg,
            instance: Arc::from(instance),
            retention,
            latest: Arc::default(),
        }
    }

    /// Run `f` on the store's runtime and wait for it.
    fn call<T, F>(&self, f: impl FnOnce(Pg, Arc<str>) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, PgError>> + Send + 'static,
    {
        self.pg
            .block_on(f(self.pg.clone(), self.instance.clone()))
            .map_err(|e| {
                self.pg.count_error("probes");
                StoreError(e.to_string())
            })
    }
}

/// The driver's error while `doing`.
fn db(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> PgError {
    move |e| PgError::db(doing, &e)
}

/// One rollup row's sums.
#[derive(Default)]
struct Sums {
    checks: i64,
    failures: i64,
    sum_ms: f64,
    max_ms: f64,
    maintenance: i64,
}

async fn write(pg: Pg, instance: Arc<str>, results: Vec<Arc<CheckResult>>) -> Result<(), PgError> {
    let mut client = pg.client().await?;
    let n = results.len();
    let mut probe = Vec::with_capacity(n);
    let mut grp = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut at = Vec::with_capacity(n);
    let mut ms = Vec::with_capacity(n);
    let mut up = Vec::with_capacity(n);
    let mut attempts = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut expiry = Vec::with_capacity(n);
    let mut ratio = Vec::with_capacity(n);
    let mut failures = Vec::with_capacity(n);
    let mut maintenance = Vec::with_capacity(n);
    let mut rollups: HashMap<(Arc<str>, Period, i64), Sums> = HashMap::new();
    for r in &results {
        let t = r.at_unix_ms();
        let d = r.duration.as_secs_f64() * 1000.0;
        probe.push(r.probe.to_string());
        grp.push(r.group.to_string());
        kind.push(r.kind.to_owned());
        at.push(t);
        ms.push(d);
        up.push(r.up);
        attempts.push(i32::try_from(r.attempts).unwrap_or(i32::MAX));
        status.push(r.status_code.map(i32::from));
        expiry.push(r.cert_expiry.map(unix_millis));
        ratio.push(r.hit_ratio);
        failures.push(if r.up {
            None
        } else {
            serde_json::to_string(&r.failures).ok()
        });
        maintenance.push(r.maintenance);
        for period in Period::BOTH {
            let s = rollups
                .entry((r.probe.clone(), period, period.bucket(t)))
                .or_default();
            if r.maintenance {
                s.maintenance += 1;
            } else {
                s.checks += 1;
                s.failures += i64::from(!r.up);
                s.sum_ms += d;
                s.max_ms = s.max_ms.max(d);
            }
        }
    }
    let mut r_probe = Vec::with_capacity(rollups.len());
    let mut r_period = Vec::with_capacity(rollups.len());
    let mut r_start = Vec::with_capacity(rollups.len());
    let mut r_checks = Vec::with_capacity(rollups.len());
    let mut r_failures = Vec::with_capacity(rollups.len());
    let mut r_sum = Vec::with_capacity(rollups.len());
    let mut r_max = Vec::with_capacity(rollups.len());
    let mut r_maint = Vec::with_capacity(rollups.len());
    // A fixed order, so two writers of the same instance name never deadlock.
    let mut rows: Vec<_> = rollups.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    for ((p, period, start), s) in rows {
        r_probe.push(p.to_string());
        r_period.push(period.as_str());
        r_start.push(start);
        r_checks.push(s.checks);
        r_failures.push(s.failures);
        r_sum.push(s.sum_ms);
        r_max.push(s.max_ms);
        r_maint.push(s.maintenance);
    }
    let tx = client.transaction().await.map_err(db("writing results"))?;
    let instance: &str = &instance;
    tx.execute(
        INSERT_RESULTS,
        &[
            &instance,
            &probe,
            &grp,
            &kind,
            &at,
            &ms,
            &up,
            &attempts,
            &status,
            &expiry,
            &ratio,
            &failures,
            &maintenance,
        ],
    )
    .await
    .map_err(db("writing results"))?;
    tx.execute(
        UPSERT_ROLLUPS,
        &[
            &instance,
            &r_probe,
            &r_period,
            &r_start,
            &r_checks,
            &r_failures,
            &r_sum,
            &r_max,
            &r_maint,
        ],
    )
    .await
    .map_err(db("writing rollups"))?;
    let (l_probe, l_up, l_at) = latest::newest(&results);
    tx.execute(UPSERT_LATEST, &[&instance, &l_probe, &l_up, &l_at])
        .await
        .map_err(db("writing the newest results"))?;
    tx.commit().await.map_err(db("writing results"))
}

async fn prune(pg: Pg, cut: Cutoffs) -> Result<u64, PgError> {
    let client = pg.client().await?;
    let mut deleted = client
        .execute("DELETE FROM probe_results WHERE at < $1", &[&cut.raw_ms])
        .await
        .map_err(db("pruning"))?;
    // Probes removed from the config (or instances gone) long ago.
    client
        .execute("DELETE FROM probe_latest WHERE at < $1", &[&cut.raw_ms])
        .await
        .map_err(db("pruning"))?;
    for period in Period::BOTH {
        deleted += client
            .execute(
                "DELETE FROM probe_rollups WHERE period = $1 AND start < $2",
                &[&period.as_str(), &cut.rollup(period)],
            )
            .await
            .map_err(db("pruning"))?;
    }
    Ok(deleted)
}

async fn read_history(pg: Pg, probe: String, range: Range, w: Window) -> Result<History, PgError> {
    let client = pg.client().await?;
    let rows = client
        .query(
            "SELECT start, SUM(checks)::int8, SUM(failures)::int8, SUM(latency_sum_ms),
                    MAX(latency_max_ms), SUM(maintenance)::int8
             FROM probe_rollups
             WHERE probe = $1 AND period = $2 AND start BETWEEN $3 AND $4
             GROUP BY start ORDER BY start",
            &[&probe, &w.period.as_str(), &w.first_bucket, &w.last_bucket],
        )
        .await
        .map_err(db("reading the history"))?;
    let series = rows
        .iter()
        .map(|r| {
            let checks = u64::try_from(r.get::<_, i64>(1)).unwrap_or(0);
            let sum: f64 = r.get(3);
            Bucket {
                start: r.get(0),
                checks,
                failures: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                avg_ms: if checks == 0 {
                    0.0
                } else {
                    sum / checks as f64
                },
                max_ms: r.get(4),
                maintenance: u64::try_from(r.get::<_, i64>(5)).unwrap_or(0),
            }
        })
        .collect();
    let limit = RECENT_FAILURES as i64;
    let rows = client
        .query(
            "SELECT at, status, failures FROM probe_results
             WHERE probe = $1 AND at BETWEEN $2 AND $3 AND NOT up
             ORDER BY at DESC, id DESC LIMIT $4",
            &[&probe, &w.from_ms, &w.to_ms, &limit],
        )
        .await
        .map_err(db("reading the history"))?;
    let failures = rows
        .iter()
        .map(|r| Failure {
            at: r.get(0),
            status_code: r
                .get::<_, Option<i32>>(1)
                .and_then(|s| u16::try_from(s).ok()),
            reasons: reasons(r.get(2)),
        })
        .collect();
    Ok(history(&probe, range, series, failures))
}

fn result_from_row(row: &Row) -> CheckResult {
    let probe: String = row.get(0);
    let group: String = row.get(1);
    let kind: String = row.get(2);
    CheckResult {
        probe: Arc::from(probe),
        group: Arc::from(group),
        kind: kind_from_str(&kind),
        at: from_unix_millis(row.get(3)),
        duration: duration_from_ms(row.get(4)),
        up: row.get(5),
        attempts: u32::try_from(row.get::<_, i32>(6)).unwrap_or(0),
        phases: Phases::default(),
        status_code: row
            .get::<_, Option<i32>>(7)
            .and_then(|s| u16::try_from(s).ok()),
        cert_expiry: row.get::<_, Option<i64>>(8).map(from_unix_millis),
        hit_ratio: row.get(9),
        failures: reasons(row.get(10)),
        lag: Duration::ZERO,
        maintenance: row.get(11),
    }
}

/// The `failures` column back to a list (a value that is not a JSON list becomes one reason).
fn reasons(json: Option<String>) -> Vec<String> {
    match json {
        None => Vec::new(),
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|_| vec![text]),
    }
}

impl Store for PostgresStore {
    fn shared(&self) -> bool {
        true
    }

    fn others_verdicts(
        &self,
        probe: &str,
        since: SystemTime,
    ) -> Result<Vec<(String, bool)>, StoreError> {
        // One query for every probe at most once a second, not one per result.
        let mut copy = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if copy.stale() {
            *copy = self.call(move |pg, instance| async move {
                let client = pg.client().await?;
                latest::read(&client, &instance).await
            })?;
        }
        Ok(copy.others(probe, unix_millis(since)))
    }

    fn write(&self, results: &[Arc<CheckResult>]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let results = results.to_vec();
        self.call(move |pg, instance| write(pg, instance, results))
    }

    fn prune(&self, now: SystemTime) -> Result<u64, StoreError> {
        let cut = Cutoffs::new(self.retention, now);
        self.call(move |pg, _| prune(pg, cut))
    }

    fn history(&self, probe: &str, range: Range, now: SystemTime) -> Result<History, StoreError> {
        let w = Window::new(range, now);
        let probe = probe.to_owned();
        self.call(move |pg, _| read_history(pg, probe, range, w))
    }

    fn latest(&self) -> Result<Vec<CheckResult>, StoreError> {
        self.call(|pg, _| async move {
            let client = pg.client().await?;
            let sql = format!(
                "SELECT DISTINCT ON (probe) {COLUMNS} FROM probe_results
                 ORDER BY probe, at DESC, id DESC"
            );
            let rows = client
                .query(sql.as_str(), &[])
                .await
                .map_err(db("reading the latest results"))?;
            Ok(rows.iter().map(result_from_row).collect())
        })
    }

    fn get_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.call(|pg, _| async move {
            let client = pg.client().await?;
            let row = client
                .query_opt("SELECT value FROM probe_state WHERE key = $1", &[&key])
                .await
                .map_err(db("reading state"))?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn put_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.call(|pg, _| async move {
            let client = pg.client().await?;
            client
                .execute(
                    "INSERT INTO probe_state (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&key, &value],
                )
                .await
                .map_err(db("writing state"))?;
            Ok(())
        })
    }
}
