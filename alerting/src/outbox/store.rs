//! The outbox's tables in the alert store: `deliveries` (one row per notification and
//! notifier until it is delivered; failed and expired ones are kept a week for the API) and
//! `alert_reach` (whether an incident's firing was queued for, and reached, a notifier).

use super::{Delivery, DeliveryState};
use crate::store::{ms, ts};
use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, Row};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notifier TEXT NOT NULL,
    group_key TEXT NOT NULL,
    reminder INTEGER NOT NULL,
    alerts TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state, id);
CREATE TABLE IF NOT EXISTS alert_reach (
    incident_id INTEGER NOT NULL,
    notifier TEXT NOT NULL,
    reached INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (incident_id, notifier)
);
";

/// How long failed and expired deliveries are listed.
const KEPT_MS: i64 = 7 * 86_400_000;

const COLUMNS: &str = "id, notifier, group_key, reminder, alerts, created_at, expires_at, next_at,
    attempts, last_error, state, ended_at";

fn row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    let alerts: String = r.get(4)?;
    let state: String = r.get(10)?;
    Ok(Delivery {
        id: r.get(0)?,
        notifier: r.get(1)?,
        group_key: r.get(2)?,
        reminder: r.get(3)?,
        alerts: serde_json::from_str(&alerts).unwrap_or_default(),
        created_at: ts(r.get(5)?),
        expires_at: ts(r.get(6)?),
        next_at: ts(r.get(7)?),
        attempts: r.get(8)?,
        last_error: r.get(9)?,
        state: DeliveryState::parse(&state),
        ended_at: r.get::<_, Option<i64>>(11)?.map(ts),
    })
}

/// The pending deliveries, oldest first.
pub(crate) fn pending(db: &Connection) -> rusqlite::Result<Vec<Delivery>> {
    let sql = format!("SELECT {COLUMNS} FROM deliveries WHERE state = 'pending' ORDER BY id");
    let mut stmt = db.prepare_cached(&sql)?;
    let rows = stmt.query_map([], row)?;
    rows.collect()
}

/// Failed and expired deliveries of the last week, newest first, at most `limit`.
pub(crate) fn given_up(db: &Connection, limit: usize) -> rusqlite::Result<Vec<Delivery>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM deliveries WHERE state != 'pending' ORDER BY id DESC LIMIT ?1"
    );
    let mut stmt = db.prepare_cached(&sql)?;
    let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], row)?;
    rows.collect()
}

fn transaction<T>(
    db: &Connection,
    body: impl FnOnce() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    db.execute_batch("BEGIN IMMEDIATE")?;
    match body() {
        Ok(v) => {
            db.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = db.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Write new rows (negative ids; their store ids are returned as `(old, new)`) and changed
/// ones, and note that the `firing` (incident, notifier) pairs were queued; one transaction.
pub(crate) fn save(
    db: &Connection,
    rows: &[Delivery],
    firing: &[(i64, &str)],
) -> rusqlite::Result<Vec<(i64, i64)>> {
    transaction(db, || {
        let mut ids = Vec::new();
        for d in rows {
            if d.id < 0 {
                db.execute(
                    "INSERT INTO deliveries (notifier, group_key, reminder, alerts, created_at,
                        expires_at, next_at, attempts, last_error, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending')",
                    params![
                        d.notifier,
                        d.group_key,
                        d.reminder,
                        serde_json::to_string(&d.alerts).unwrap_or_else(|_| "[]".into()),
                        ms(d.created_at),
                        ms(d.expires_at),
                        ms(d.next_at),
                        d.attempts,
                        d.last_error,
                    ],
                )?;
                ids.push((d.id, db.last_insert_rowid()));
            } else {
                update(db, d)?;
            }
        }
        for (incident, notifier) in firing {
            db.execute(
                "INSERT OR IGNORE INTO alert_reach (incident_id, notifier, reached) VALUES (?1, ?2, 0)",
                params![incident, notifier],
            )?;
        }
        Ok(ids)
    })
}

/// Save a row's changing fields.
pub(crate) fn update(db: &Connection, d: &Delivery) -> rusqlite::Result<()> {
    db.execute(
        "UPDATE deliveries SET reminder = ?2, alerts = ?3, expires_at = ?4, next_at = ?5,
            attempts = ?6, last_error = ?7, state = ?8, ended_at = ?9 WHERE id = ?1",
        params![
            d.id,
            d.reminder,
            serde_json::to_string(&d.alerts).unwrap_or_else(|_| "[]".into()),
            ms(d.expires_at),
            ms(d.next_at),
            d.attempts,
            d.last_error,
            d.state.as_str(),
            d.ended_at.map(ms),
        ],
    )?;
    Ok(())
}

pub(crate) fn remove(db: &Connection, id: i64) -> rusqlite::Result<()> {
    db.execute("DELETE FROM deliveries WHERE id = ?1", [id])?;
    Ok(())
}

/// A delivery went through: its row goes, and the firing it carried reached the notifier.
pub(crate) fn delivered(
    db: &Connection,
    id: i64,
    notifier: &str,
    reached: &[i64],
) -> rusqlite::Result<()> {
    transaction(db, || {
        remove(db, id)?;
        for incident in reached {
            db.execute(
                "INSERT INTO alert_reach (incident_id, notifier, reached) VALUES (?1, ?2, 1)
                 ON CONFLICT (incident_id, notifier) DO UPDATE SET reached = 1",
                params![incident, notifier],
            )?;
        }
        Ok(())
    })
}

/// Whether `incident`'s firing reached `notifier` (`None`: it was never queued for it).
pub(crate) fn reached(
    db: &Connection,
    incident: i64,
    notifier: &str,
) -> rusqlite::Result<Option<bool>> {
    db.prepare_cached("SELECT reached FROM alert_reach WHERE incident_id = ?1 AND notifier = ?2")?
        .query_row(params![incident, notifier], |r| r.get(0))
        .optional()
}

/// The notifiers `incident`'s firing reached.
pub(crate) fn reached_by(db: &Connection, incident: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = db.prepare_cached(
        "SELECT notifier FROM alert_reach WHERE incident_id = ?1 AND reached = 1 ORDER BY notifier",
    )?;
    let rows = stmt.query_map([incident], |r| r.get(0))?;
    rows.collect()
}

/// Forget given-up deliveries older than a week, and the reach of incidents that are gone.
pub(crate) fn prune(db: &Connection, now: Timestamp) -> rusqlite::Result<()> {
    db.execute(
        "DELETE FROM deliveries WHERE state != 'pending' AND ended_at < ?1",
        [ms(now) - KEPT_MS],
    )?;
    db.execute(
        "DELETE FROM alert_reach WHERE incident_id NOT IN (SELECT id FROM incidents)",
        [],
    )?;
    Ok(())
}
