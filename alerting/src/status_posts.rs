//! Status-page posts: what operators write for visitors, updates on an incident ("we found
//! the cause...") and announcements (planned work, notices). Kept in the alert store beside
//! the incidents.

use crate::runtime::Refusal;
use crate::store::{ms, ts, AlertStore, SqliteAlerts};
use jiff::Timestamp;
use rusqlite::params;
use serde::{Deserialize, Serialize};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS incident_updates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_updates_incident ON incident_updates (incident_id);
CREATE TABLE IF NOT EXISTS announcements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    level TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    ends_at INTEGER
);
";

/// An operator's update on an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentUpdate {
    /// Id.
    pub id: i64,
    /// The incident.
    pub incident_id: i64,
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    pub status: String,
    /// The text visitors read.
    pub message: String,
    /// When it was posted.
    pub created_at: Timestamp,
}

/// `POST /api/v1/incidents/{id}/updates`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentUpdateRequest {
    /// `investigating` (default), `identified`, `monitoring` or `resolved`.
    #[serde(default)]
    pub status: Option<String>,
    /// The text.
    pub message: String,
}

/// A notice shown on the status page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Announcement {
    /// Id.
    pub id: i64,
    /// Headline.
    pub title: String,
    /// Text.
    pub body: String,
    /// `info`, `warning` or `maintenance`.
    pub level: String,
    /// When it was posted.
    pub created_at: Timestamp,
    /// When it stops being shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<Timestamp>,
}

/// `POST /api/v1/announcements`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnouncementRequest {
    /// Headline.
    pub title: String,
    /// Text.
    #[serde(default)]
    pub body: String,
    /// `info` (default), `warning` or `maintenance`.
    #[serde(default)]
    pub level: Option<String>,
    /// Until when (RFC 3339); shown until deleted without it.
    #[serde(default)]
    pub ends_at: Option<Timestamp>,
}

pub(crate) const UPDATE_STATUSES: [&str; 4] =
    ["investigating", "identified", "monitoring", "resolved"];
pub(crate) const LEVELS: [&str; 3] = ["info", "warning", "maintenance"];

impl SqliteAlerts {
    pub(crate) fn incident_exists(&self, id: i64) -> rusqlite::Result<bool> {
        let n: i64 =
            self.db
                .query_row("SELECT COUNT(*) FROM incidents WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
        Ok(n > 0)
    }

    pub(crate) fn add_update(
        &self,
        incident_id: i64,
        status: &str,
        message: &str,
        now: Timestamp,
    ) -> rusqlite::Result<IncidentUpdate> {
        self.db.execute(
            "INSERT INTO incident_updates (incident_id, status, message, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![incident_id, status, message, ms(now)],
        )?;
        Ok(IncidentUpdate {
            id: self.db.last_insert_rowid(),
            incident_id,
            status: status.into(),
            message: message.into(),
            created_at: ts(ms(now)),
        })
    }

    /// Updates posted since `from`, oldest first.
    pub(crate) fn updates_since(&self, from: Timestamp) -> rusqlite::Result<Vec<IncidentUpdate>> {
        let mut stmt = self.db.prepare_cached(
            "SELECT id, incident_id, status, message, created_at FROM incident_updates
             WHERE created_at >= ?1 ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([ms(from)], |r| {
            Ok(IncidentUpdate {
                id: r.get(0)?,
                incident_id: r.get(1)?,
                status: r.get(2)?,
                message: r.get(3)?,
                created_at: ts(r.get(4)?),
            })
        })?;
        rows.collect()
    }

    pub(crate) fn add_announcement(
        &self,
        a: &AnnouncementRequest,
        level: &str,
        now: Timestamp,
    ) -> rusqlite::Result<Announcement> {
        self.db.execute(
            "INSERT INTO announcements (title, body, level, created_at, ends_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![a.title, a.body, level, ms(now), a.ends_at.map(ms)],
        )?;
        Ok(Announcement {
            id: self.db.last_insert_rowid(),
            title: a.title.clone(),
            body: a.body.clone(),
            level: level.into(),
            created_at: ts(ms(now)),
            ends_at: a.ends_at,
        })
    }

    /// Announcements not yet over at `now`, newest first.
    pub(crate) fn announcements(&self, now: Timestamp) -> rusqlite::Result<Vec<Announcement>> {
        let mut stmt = self.db.prepare_cached(
            "SELECT id, title, body, level, created_at, ends_at FROM announcements
             WHERE ends_at IS NULL OR ends_at > ?1 ORDER BY created_at DESC, id DESC",
        )?;
        let rows = stmt.query_map([ms(now)], |r| {
            Ok(Announcement {
                id: r.get(0)?,
                title: r.get(1)?,
                body: r.get(2)?,
                level: r.get(3)?,
                created_at: ts(r.get(4)?),
                ends_at: r.get::<_, Option<i64>>(5)?.map(ts),
            })
        })?;
        rows.collect()
    }

    /// Delete an announcement; whether it existed.
    pub(crate) fn remove_announcement(&self, id: i64) -> rusqlite::Result<bool> {
        Ok(self
            .db
            .execute("DELETE FROM announcements WHERE id = ?1", [id])?
            > 0)
    }
}

type Reply<T> = tokio::sync::oneshot::Sender<Result<T, Refusal>>;

/// The engine thread's part of the status-post API.
pub(crate) enum Command {
    AddUpdate(i64, IncidentUpdateRequest, Reply<Option<IncidentUpdate>>),
    Updates(Timestamp, Reply<Vec<IncidentUpdate>>),
    AddAnnouncement(AnnouncementRequest, Reply<Announcement>),
    Announcements(Reply<Vec<Announcement>>),
    RemoveAnnouncement(i64, Reply<bool>),
}

impl Command {
    pub(crate) fn run(self, store: &AlertStore, now: Timestamp) {
        let e = Refusal::store;
        match self {
            Command::AddUpdate(id, req, tx) => {
                let status = req.status.as_deref().unwrap_or("investigating");
                let r = if !UPDATE_STATUSES.contains(&status) {
                    Err(Refusal::Invalid(format!(
                        "`status` must be one of {}",
                        UPDATE_STATUSES.join(", ")
                    )))
                } else if req.message.trim().is_empty() {
                    Err(Refusal::Invalid("`message` must not be empty".into()))
                } else {
                    match store.incident_exists(id).map_err(e) {
                        Ok(true) => store
                            .add_update(id, status, req.message.trim(), now)
                            .map(Some)
                            .map_err(e),
                        Ok(false) => Ok(None),
                        Err(err) => Err(err),
                    }
                };
                let _ = tx.send(r);
            }
            Command::Updates(from, tx) => {
                let _ = tx.send(store.updates_since(from).map_err(e));
            }
            Command::AddAnnouncement(req, tx) => {
                let level = req.level.clone().unwrap_or_else(|| "info".into());
                let r = if !LEVELS.contains(&level.as_str()) {
                    Err(Refusal::Invalid(format!(
                        "`level` must be one of {}",
                        LEVELS.join(", ")
                    )))
                } else if req.title.trim().is_empty() {
                    Err(Refusal::Invalid("`title` must not be empty".into()))
                } else if req.ends_at.is_some_and(|t| t <= now) {
                    Err(Refusal::Invalid("`ends_at` is in the past".into()))
                } else {
                    store.add_announcement(&req, &level, now).map_err(e)
                };
                let _ = tx.send(r);
            }
            Command::Announcements(tx) => {
                let _ = tx.send(store.announcements(now).map_err(e));
            }
            Command::RemoveAnnouncement(id, tx) => {
                let _ = tx.send(store.remove_announcement(id).map_err(e));
            }
        }
    }
}
