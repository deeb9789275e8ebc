//! The SQLite store: one file under the state directory (bundled SQLite, nothing to install).
//!
//! Schema (version 2, in `PRAGMA user_version`; version 1 files are upgraded in place):
//! - `results`: one row per check, kept for `Retention::raw`, indexed on `(probe, at)`;
//! - `rollups`: per probe, per UTC hour (`period = 'h'`) and day (`'d'`): checks, failures,
//!   latency sum and max, and apart from them the checks taken during maintenance; kept for
//!   `Retention::hourly` and `Retention::daily`;
//! - `state`: small key/value pairs (a heartbeat's last beat, ...).
//!
//! The file stays bounded: pruning deletes old rows, then `incremental_vacuum` hands the freed
//! pages back to the file system (`auto_vacuum = INCREMENTAL` is set when the file is created)
//! and a `TRUNCATE` checkpoint empties the write-ahead log.

use super::{
    duration_from_ms, history, kind_from_str, Bucket, Cutoffs, Failure, History, Period, Range,
    Retention, Store, StoreError, Window, RECENT_FAILURES,
};
use crate::result::{from_unix_millis, unix_millis, CheckResult, Phases};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

/// The schema this code reads and writes. A migration bumps it and upgrades older files.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS results (
    probe       TEXT NOT NULL,
    grp         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          INTEGER NOT NULL,   -- start of the check, Unix ms
    duration_ms REAL NOT NULL,
    up          INTEGER NOT NULL,
    attempts    INTEGER NOT NULL,
    status      INTEGER,
    cert_expiry INTEGER,            -- Unix ms
    hit_ratio   REAL,
    failures    TEXT,               -- JSON array of strings; NULL when up
    maintenance INTEGER NOT NULL DEFAULT 0  -- taken during a maintenance window
);
CREATE INDEX IF NOT EXISTS results_probe_at ON results (probe, at);
CREATE TABLE IF NOT EXISTS rollups (
    probe          TEXT NOT NULL,
    period         TEXT NOT NULL,   -- 'h' or 'd'
    start          INTEGER NOT NULL, -- UTC hour or day, Unix seconds
    checks         INTEGER NOT NULL,
    failures       INTEGER NOT NULL,
    latency_sum_ms REAL NOT NULL,
    latency_max_ms REAL NOT NULL,
    maintenance    INTEGER NOT NULL DEFAULT 0, -- checks during maintenance (not in `checks`)
    PRIMARY KEY (probe, period, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
";

const INSERT_RESULT: &str = "INSERT INTO results
    (probe, grp, kind, at, duration_ms, up, attempts, status, cert_expiry, hit_ratio, failures,
     maintenance)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// A check counts in `checks`, `failures` and latency, or (taken during maintenance) only in
/// `maintenance`.
const UPSERT_ROLLUP: &str = "INSERT INTO rollups
    (probe, period, start, checks, failures, latency_sum_ms, latency_max_ms, maintenance)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)
    ON CONFLICT (probe, period, start) DO UPDATE SET
        checks = checks + excluded.checks,
        failures = failures + excluded.failures,
        latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms,
        latency_max_ms = MAX(latency_max_ms, excluded.latency_max_ms),
        maintenance = maintenance + excluded.maintenance";

/// Version 1 → 2: checks taken during maintenance are marked and counted apart.
const MIGRATE_2: &str = "
ALTER TABLE results ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
";

/// The distinct probes of `results`, one index seek each (a loose index scan) rather than a
/// walk over every row.
const PROBES: &str = "WITH RECURSIVE probes (name) AS (
        SELECT MIN(probe) FROM results
        UNION ALL
        SELECT (SELECT MIN(probe) FROM results WHERE probe > name) FROM probes
        WHERE name IS NOT NULL
    )";

const COLUMNS: &str = "probe, grp, kind, at, duration_ms, up, attempts, status, cert_expiry, \
     hit_ratio, failures, maintenance";

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    retention: Retention,
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the store at `path`.
    pub fn open(path: &Path, retention: Retention) -> Result<SqliteStore, StoreError> {
        let cannot = |what: &dyn Display| {
            StoreError(format!(
                "cannot open {}: {what}; check that the state directory is writable",
                path.display()
            ))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                cannot(&format_args!(
                    "cannot create the directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let mut conn = Connection::open(path).map_err(|e| cannot(&e))?;
        let version = init(&mut conn).map_err(|e| cannot(&e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError(format!(
                "{} has schema version {version}, but this gatehouse knows only up to \
                 {SCHEMA_VERSION}; run a newer gatehouse or move the file away",
                path.display()
            )));
        }
        tracing::debug!(path = %path.display(), "probe store opened");
        Ok(SqliteStore {
            path: path.to_owned(),
            retention,
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no transaction open (it rolls back on drop),
        // so the connection is still good.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failed(&self, doing: &str, e: rusqlite::Error) -> StoreError {
        StoreError(format!("{} ({doing}): {e}", self.path.display()))
    }
}

/// Sets the connection up and creates the schema in a new file; returns the schema version
/// the file had (a newer one is left alone for the caller to refuse).
fn init(conn: &mut Connection) -> rusqlite::Result<i64> {
    conn.busy_timeout(Duration::from_secs(5))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Ok(version);
    }
    if version == 0 {
        // Only takes effect before the first table exists, hence first.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    if version == 0 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
    } else if version < 2 {
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATE_2)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
    }
    Ok(version)
}

fn write(conn: &mut Connection, results: &[Arc<CheckResult>]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(INSERT_RESULT)?;
        let mut rollup = tx.prepare_cached(UPSERT_ROLLUP)?;
        for r in results {
            let at = r.at_unix_ms();
            let ms = r.duration.as_secs_f64() * 1000.0;
            let failures = if r.up {
                None
            } else {
                let json = serde_json::to_string(&r.failures)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                Some(json)
            };
            insert.execute(params![
                &*r.probe,
                &*r.group,
                r.kind,
                at,
                ms,
                r.up,
                r.attempts,
                r.status_code,
                r.cert_expiry.map(unix_millis),
                r.hit_ratio,
                failures,
                r.maintenance,
            ])?;
            let (counted, failed, ms) = if r.maintenance {
                (0, 0, 0.0)
            } else {
                (1, i64::from(!r.up), ms)
            };
            for period in Period::BOTH {
                rollup.execute(params![
                    &*r.probe,
                    period.as_str(),
                    period.bucket(at),
                    counted,
                    failed,
                    ms,
                    1 - counted
                ])?;
            }
        }
    }
    tx.commit()
}

fn prune(conn: &mut Connection, cut: Cutoffs) -> rusqlite::Result<u64> {
    let tx = conn.transaction()?;
    let mut deleted = 0;
    {
        // `probe IN (...)` lets the (probe, at) index find the old rows of each probe.
        let raw = format!("{PROBES} DELETE FROM results WHERE probe IN probes AND at < ?1");
        deleted += tx.prepare_cached(&raw)?.execute([cut.raw_ms])?;
        let mut rollups =
            tx.prepare_cached("DELETE FROM rollups WHERE period = ?1 AND start < ?2")?;
        for period in Period::BOTH {
            deleted += rollups.execute(params![period.as_str(), cut.rollup(period)])?;
        }
    }
    tx.commit()?;
    Ok(deleted as u64)
}

/// Returns free pages to the file system and empties the write-ahead log.
fn shrink(conn: &Connection) -> rusqlite::Result<()> {
    // `incremental_vacuum` frees one page per step (it yields a row each): step to the end.
    let mut vacuum = conn.prepare_cached("PRAGMA incremental_vacuum")?;
    let mut rows = vacuum.query([])?;
    while rows.next()?.is_some() {}
    drop(rows);
    let (busy, log, done): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if busy != 0 {
        tracing::debug!(log, done, "probe store checkpoint could not finish (busy)");
    }
    Ok(())
}

fn series(conn: &Connection, probe: &str, w: Window) -> rusqlite::Result<Vec<Bucket>> {
    let mut stmt = conn.prepare_cached(
        "SELECT start, checks, failures, latency_sum_ms, latency_max_ms, maintenance FROM rollups
         WHERE probe = ?1 AND period = ?2 AND start BETWEEN ?3 AND ?4 ORDER BY start",
    )?;
    let rows = stmt.query_map(
        params![probe, w.period.as_str(), w.first_bucket, w.last_bucket],
        |row| {
            let checks: u64 = row.get(1)?;
            let sum: f64 = row.get(3)?;
            Ok(Bucket {
                start: row.get(0)?,
                checks,
                failures: row.get(2)?,
                avg_ms: if checks == 0 {
                    0.0
                } else {
                    sum / checks as f64
                },
                max_ms: row.get(4)?,
                maintenance: row.get(5)?,
            })
        },
    )?;
    rows.collect()
}

fn recent_failures(conn: &Connection, probe: &str, w: Window) -> rusqlite::Result<Vec<Failure>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, status, failures FROM results
         WHERE probe = ?1 AND at BETWEEN ?2 AND ?3 AND up = 0
         ORDER BY at DESC, rowid DESC LIMIT ?4",
    )?;
    let limit = RECENT_FAILURES as i64;
    let rows = stmt.query_map(params![probe, w.from_ms, w.to_ms, limit], |row| {
        Ok(Failure {
            at: row.get(0)?,
            status_code: row.get(1)?,
            reasons: reasons(row.get(2)?),
        })
    })?;
    rows.collect()
}

fn latest(conn: &Connection) -> rusqlite::Result<Vec<CheckResult>> {
    // Per probe, the index gives its newest row directly.
    let sql = format!(
        "{PROBES} SELECT {COLUMNS} FROM probes JOIN results ON results.rowid = (
             SELECT rowid FROM results WHERE probe = probes.name ORDER BY at DESC, rowid DESC LIMIT 1
         ) ORDER BY probe"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], result_from_row)?;
    rows.collect()
}

fn result_from_row(row: &Row<'_>) -> rusqlite::Result<CheckResult> {
    let probe: String = row.get(0)?;
    let group: String = row.get(1)?;
    let kind: String = row.get(2)?;
    Ok(CheckResult {
        probe: Arc::from(probe),
        group: Arc::from(group),
        kind: kind_from_str(&kind),
        at: from_unix_millis(row.get(3)?),
        duration: duration_from_ms(row.get(4)?),
        up: row.get(5)?,
        attempts: row.get(6)?,
        phases: Phases::default(),
        status_code: row.get(7)?,
        cert_expiry: row.get::<_, Option<i64>>(8)?.map(from_unix_millis),
        hit_ratio: row.get(9)?,
        failures: reasons(row.get(10)?),
        lag: Duration::ZERO,
        maintenance: row.get(11)?,
    })
}

/// The `failures` column back to a list (a value that is not a JSON list becomes one reason).
fn reasons(json: Option<String>) -> Vec<String> {
    match json {
        None => Vec::new(),
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|_| vec![text]),
    }
}

impl Store for SqliteStore {
    fn write(&self, results: &[Arc<CheckResult>]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        write(&mut self.lock(), results).map_err(|e| self.failed("writing results", e))
    }

    fn prune(&self, now: SystemTime) -> Result<u64, StoreError> {
        let mut conn = self.lock();
        let deleted = prune(&mut conn, Cutoffs::new(self.retention, now))
            .map_err(|e| self.failed("pruning", e))?;
        shrink(&conn).map_err(|e| self.failed("reclaiming free space", e))?;
        Ok(deleted)
    }

    fn history(&self, probe: &str, range: Range, now: SystemTime) -> Result<History, StoreError> {
        let w = Window::new(range, now);
        let conn = self.lock();
        let read = || {
            Ok::<_, rusqlite::Error>((series(&conn, probe, w)?, recent_failures(&conn, probe, w)?))
        };
        let (series, failures) = read().map_err(|e| self.failed("reading the history", e))?;
        Ok(history(probe, range, series, failures))
    }

    fn latest(&self) -> Result<Vec<CheckResult>, StoreError> {
        latest(&self.lock()).map_err(|e| self.failed("reading the latest results", e))
    }

    fn get_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = self.lock();
        let get = || {
            conn.prepare_cached("SELECT value FROM state WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()
        };
        get().map_err(|e| self.failed("reading state", e))
    }

    fn put_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let conn = self.lock();
        let put = || {
            conn.prepare_cached(
                "INSERT INTO state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute([key, value])
        };
        put().map(drop).map_err(|e| self.failed("writing state", e))
    }
}
