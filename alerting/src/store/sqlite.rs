//! Incidents and silences in SQLite: the same file as the probe results (own tables, own
//! connection), or an in-memory database when the store is not a file. Open incidents are
//! read back at start-up, so a restart neither forgets nor re-notifies them.

use super::{ms, severity, ts, HISTORY};
use crate::incident::Incident;
use crate::silence::Silence;
use jiff::Timestamp;
use rusqlite::{params, Connection, Row};
use std::path::Path;
use std::time::Duration;

/// The SQLite alert store (the embedded default).
pub(crate) struct SqliteAlerts {
    pub(crate) db: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    severity TEXT NOT NULL,
    labels TEXT NOT NULL,
    summary TEXT NOT NULL,
    value TEXT NOT NULL,
    cause TEXT NOT NULL,
    runbook TEXT,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    flapping INTEGER NOT NULL DEFAULT 0,
    notified INTEGER NOT NULL DEFAULT 0,
    last_notified INTEGER,
    resolve_sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (ended_at);
CREATE INDEX IF NOT EXISTS incidents_subject ON incidents (subject, started_at);
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    comment TEXT NOT NULL,
    created_by TEXT NOT NULL
);
";

impl SqliteAlerts {
    /// Open the file at `path` (`None`: in memory).
    pub(crate) fn open(path: Option<&Path>) -> rusqlite::Result<SqliteAlerts> {
        let db = match path {
            Some(p) => {
                if let Some(dir) = p.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let db = Connection::open(p)?;
                db.busy_timeout(Duration::from_secs(5))?;
                db.pragma_update(None, "journal_mode", "WAL")?;
                db.pragma_update(None, "synchronous", "NORMAL")?;
                db
            }
            None => Connection::open_in_memory()?,
        };
        db.execute_batch(SCHEMA)?;
        db.execute_batch(crate::status_posts::SCHEMA)?;
        db.execute_batch(crate::outbox::SCHEMA)?;
        // Files from before `resolve_sent`: their resolved incidents count as sent.
        let has: i64 = db.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('incidents') WHERE name = 'resolve_sent'",
            [],
            |r| r.get(0),
        )?;
        if has == 0 {
            db.execute_batch(
                "ALTER TABLE incidents ADD COLUMN resolve_sent INTEGER NOT NULL DEFAULT 1",
            )?;
        }
        Ok(SqliteAlerts { db })
    }

    /// Insert a new incident; returns its id.
    pub(crate) fn insert(&self, i: &Incident) -> rusqlite::Result<i64> {
        self.db.execute(
            "INSERT INTO incidents (rule, kind, subject, severity, labels, summary, value, cause,
                runbook, started_at, ended_at, flapping, notified, last_notified, resolve_sent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 0)",
            params![
                i.rule,
                i.kind,
                i.subject,
                i.severity.as_str(),
                serde_json::to_string(&i.labels).unwrap_or_else(|_| "{}".into()),
                i.summary,
                i.value,
                i.cause,
                i.runbook,
                ms(i.started_at),
                i.ended_at.map(ms),
                i.flapping,
                i.queued,
                i.last_notified.map(ms),
            ],
        )?;
        Ok(self.db.last_insert_rowid())
    }

    /// Save the changing fields of an incident.
    pub(crate) fn update(&self, i: &Incident) -> rusqlite::Result<()> {
        self.db.execute(
            "UPDATE incidents SET summary = ?2, value = ?3, ended_at = ?4, flapping = ?5,
                notified = ?6, last_notified = ?7 WHERE id = ?1",
            params![
                i.id,
                i.summary,
                i.value,
                i.ended_at.map(ms),
                i.flapping,
                i.queued,
                i.last_notified.map(ms),
            ],
        )?;
        Ok(())
    }

    /// Save several incidents in one transaction.
    pub(crate) fn update_all(&self, incidents: &[Incident]) -> rusqlite::Result<()> {
        self.db.execute_batch("BEGIN IMMEDIATE")?;
        for i in incidents {
            if let Err(e) = self.update(i) {
                let _ = self.db.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        self.db.execute_batch("COMMIT")
    }

    /// Note that these incidents' resolves went out.
    pub(crate) fn resolve_sent(&self, ids: &[i64]) -> rusqlite::Result<()> {
        self.db.execute_batch("BEGIN IMMEDIATE")?;
        for id in ids {
            if let Err(e) = self
                .db
                .execute("UPDATE incidents SET resolve_sent = 1 WHERE id = ?1", [id])
            {
                let _ = self.db.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        self.db.execute_batch("COMMIT")
    }

    /// Resolved incidents whose firing was queued but whose resolve was not queued (the
    /// process stopped first), resolved since `since`.
    pub(crate) fn unsent_resolves(&self, since: Timestamp) -> rusqlite::Result<Vec<Incident>> {
        self.query(
            "WHERE ended_at IS NOT NULL AND ended_at >= ?1 AND notified = 1 AND resolve_sent = 0 ORDER BY id",
            [ms(since)],
        )
    }

    /// Incidents not resolved yet.
    pub(crate) fn open_incidents(&self) -> rusqlite::Result<Vec<Incident>> {
        self.query("WHERE ended_at IS NULL ORDER BY id", [])
    }

    /// The newest resolved incidents, at most `limit`.
    pub(crate) fn recent(&self, limit: usize) -> rusqlite::Result<Vec<Incident>> {
        self.query(
            "WHERE ended_at IS NOT NULL ORDER BY ended_at DESC, id DESC LIMIT ?1",
            [i64::try_from(limit).unwrap_or(i64::MAX)],
        )
    }

    /// Incidents that overlap `[from, to)`, newest first.
    pub(crate) fn between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> rusqlite::Result<Vec<Incident>> {
        self.query(
            "WHERE started_at < ?2 AND (ended_at IS NULL OR ended_at >= ?1) ORDER BY started_at DESC",
            [ms(from), ms(to)],
        )
    }

    fn query<P: rusqlite::Params>(&self, tail: &str, p: P) -> rusqlite::Result<Vec<Incident>> {
        // `notified` is the column's old name for queued; whether the firing reached a
        // notifier is in the outbox's `alert_reach`.
        let sql = format!(
            "SELECT id, rule, kind, subject, severity, labels, summary, value, cause, runbook,
                started_at, ended_at, flapping, notified, last_notified,
                EXISTS (SELECT 1 FROM alert_reach r WHERE r.incident_id = incidents.id AND r.reached = 1)
             FROM incidents {tail}"
        );
        let mut stmt = self.db.prepare_cached(&sql)?;
        let rows = stmt.query_map(p, row_incident)?;
        rows.collect()
    }

    /// Drop resolved incidents older than the history kept.
    pub(crate) fn prune(&self, now: Timestamp) -> rusqlite::Result<usize> {
        let cutoff = ms(now) - i64::try_from(HISTORY.as_millis()).unwrap_or(i64::MAX);
        let n = self.db.execute(
            "DELETE FROM incidents WHERE ended_at IS NOT NULL AND ended_at < ?1",
            [cutoff],
        )?;
        self.db
            .execute("DELETE FROM silences WHERE ends_at < ?1", [cutoff])?;
        crate::outbox::prune(&self.db, now)?;
        Ok(n)
    }

    pub(crate) fn put_silence(&self, s: &Silence) -> rusqlite::Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO silences (id, matchers, starts_at, ends_at, comment, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                s.id,
                serde_json::to_string(&s.matchers).unwrap_or_else(|_| "{}".into()),
                ms(s.starts_at),
                ms(s.ends_at),
                s.comment,
                s.created_by,
            ],
        )?;
        Ok(())
    }

    pub(crate) fn silences(&self) -> rusqlite::Result<Vec<Silence>> {
        let mut stmt = self.db.prepare_cached(
            "SELECT id, matchers, starts_at, ends_at, comment, created_by FROM silences ORDER BY starts_at",
        )?;
        let rows = stmt.query_map([], |r| {
            let matchers: String = r.get(1)?;
            Ok(Silence {
                id: r.get(0)?,
                matchers: serde_json::from_str(&matchers).unwrap_or_default(),
                starts_at: ts(r.get(2)?),
                ends_at: ts(r.get(3)?),
                comment: r.get(4)?,
                created_by: r.get(5)?,
            })
        })?;
        rows.collect()
    }
}

fn row_incident(r: &Row<'_>) -> rusqlite::Result<Incident> {
    let labels: String = r.get(5)?;
    let sev: String = r.get(4)?;
    Ok(Incident {
        id: r.get(0)?,
        rule: r.get(1)?,
        kind: r.get(2)?,
        subject: r.get(3)?,
        severity: severity(&sev),
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        summary: r.get(6)?,
        value: r.get(7)?,
        cause: r.get(8)?,
        runbook: r.get(9)?,
        started_at: ts(r.get(10)?),
        ended_at: r.get::<_, Option<i64>>(11)?.map(ts),
        flapping: r.get(12)?,
        queued: r.get(13)?,
        notified: r.get(15)?,
        last_notified: r.get::<_, Option<i64>>(14)?.map(ts),
    })
}
