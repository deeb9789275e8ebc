//! The alert state: incidents, silences, the notification outbox and status-page posts.
//! SQLite is the embedded default ([`SqliteAlerts`]); in cluster mode the state lives in
//! PostgreSQL ([`PgAlerts`]), shared by every instance. [`AlertStore`] is the one interface
//! the engine and the API use; each call goes to whichever backs it.

mod postgres;
mod postgres_outbox;
mod sqlite;

pub(crate) use postgres::PgAlerts;
pub(crate) use sqlite::SqliteAlerts;

use crate::incident::Incident;
use crate::outbox::Delivery;
use crate::silence::Silence;
use crate::status_posts::{Announcement, AnnouncementRequest, IncidentUpdate};
use gatehouse_config::alerting::Severity;
use jiff::Timestamp;
use std::path::Path;
use std::time::Duration;

/// How long resolved incidents are kept.
const HISTORY: Duration = Duration::from_secs(400 * 86400);

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(crate) fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn severity(s: &str) -> Severity {
    match s {
        "critical" => Severity::Critical,
        "info" => Severity::Info,
        _ => Severity::Warning,
    }
}

/// A failure of the alert store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The SQLite file.
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The shared PostgreSQL store.
    #[error("{0}")]
    Postgres(#[from] gatehouse_cluster::PgError),
}

pub(crate) type StoreResult<T> = Result<T, StoreError>;

/// The alert store of this process.
pub(crate) enum AlertStore {
    /// The embedded default.
    Sqlite(SqliteAlerts),
    /// Cluster mode.
    Postgres(PgAlerts),
}

/// Call `$method` on whichever store backs `$self`.
macro_rules! each {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            AlertStore::Sqlite(s) => s.$method($($arg),*).map_err(StoreError::from),
            AlertStore::Postgres(p) => p.$method($($arg),*).map_err(StoreError::from),
        }
    };
}

impl AlertStore {
    /// Open the SQLite file at `path` (`None`: in memory).
    pub(crate) fn open(path: Option<&Path>) -> rusqlite::Result<AlertStore> {
        SqliteAlerts::open(path).map(AlertStore::Sqlite)
    }

    /// The SQLite connection (tests of the SQLite store).
    #[cfg(test)]
    pub(crate) fn sqlite_db(&self) -> &rusqlite::Connection {
        match self {
            AlertStore::Sqlite(s) => &s.db,
            AlertStore::Postgres(_) => panic!("not a SQLite store"),
        }
    }

    /// Insert a new incident; returns its id.
    pub(crate) fn insert(&self, i: &Incident) -> StoreResult<i64> {
        each!(self.insert(i))
    }

    /// Save several incidents in one transaction.
    pub(crate) fn update_all(&self, incidents: &[Incident]) -> StoreResult<()> {
        each!(self.update_all(incidents))
    }

    /// Note that these incidents' resolves went out.
    pub(crate) fn resolve_sent(&self, ids: &[i64]) -> StoreResult<()> {
        each!(self.resolve_sent(ids))
    }

    /// Resolved incidents whose firing was queued but whose resolve was not.
    pub(crate) fn unsent_resolves(&self, since: Timestamp) -> StoreResult<Vec<Incident>> {
        each!(self.unsent_resolves(since))
    }

    /// Incidents not resolved yet.
    pub(crate) fn open_incidents(&self) -> StoreResult<Vec<Incident>> {
        each!(self.open_incidents())
    }

    /// The newest resolved incidents, at most `limit`.
    pub(crate) fn recent(&self, limit: usize) -> StoreResult<Vec<Incident>> {
        each!(self.recent(limit))
    }

    /// Incidents that overlap `[from, to)`, newest first.
    pub(crate) fn between(&self, from: Timestamp, to: Timestamp) -> StoreResult<Vec<Incident>> {
        each!(self.between(from, to))
    }

    /// Drop resolved incidents, old silences and given-up deliveries past their keeping.
    pub(crate) fn prune(&self, now: Timestamp) -> StoreResult<usize> {
        each!(self.prune(now))
    }

    pub(crate) fn put_silence(&self, s: &Silence) -> StoreResult<()> {
        each!(self.put_silence(s))
    }

    pub(crate) fn silences(&self) -> StoreResult<Vec<Silence>> {
        each!(self.silences())
    }

    pub(crate) fn incident_exists(&self, id: i64) -> StoreResult<bool> {
        each!(self.incident_exists(id))
    }

    pub(crate) fn add_update(
        &self,
        incident_id: i64,
        status: &str,
        message: &str,
        now: Timestamp,
    ) -> StoreResult<IncidentUpdate> {
        each!(self.add_update(incident_id, status, message, now))
    }

    pub(crate) fn updates_since(&self, from: Timestamp) -> StoreResult<Vec<IncidentUpdate>> {
        each!(self.updates_since(from))
    }

    pub(crate) fn add_announcement(
        &self,
        a: &AnnouncementRequest,
        level: &str,
        now: Timestamp,
    ) -> StoreResult<Announcement> {
        each!(self.add_announcement(a, level, now))
    }

    pub(crate) fn announcements(&self, now: Timestamp) -> StoreResult<Vec<Announcement>> {
        each!(self.announcements(now))
    }

    pub(crate) fn remove_announcement(&self, id: i64) -> StoreResult<bool> {
        each!(self.remove_announcement(id))
    }

    // The outbox's rows (see `crate::outbox`).

    /// The pending deliveries, oldest first.
    pub(crate) fn pending_deliveries(&self) -> StoreResult<Vec<Delivery>> {
        match self {
            AlertStore::Sqlite(s) => Ok(crate::outbox::store::pending(&s.db)?),
            AlertStore::Postgres(p) => Ok(p.pending()?),
        }
    }

    /// Failed and expired deliveries of the last week, newest first.
    pub(crate) fn given_up(&self, limit: usize) -> StoreResult<Vec<Delivery>> {
        match self {
            AlertStore::Sqlite(s) => Ok(crate::outbox::store::given_up(&s.db, limit)?),
            AlertStore::Postgres(p) => Ok(p.given_up(limit)?),
        }
    }

    /// Write new rows (negative ids; their ids are returned as `(old, new)`) and changed
    /// ones, and note the `firing` (incident, notifier) pairs as queued; one transaction.
    /// In a cluster, new rows carry the leader's epoch and nothing is written once it is
    /// not the current one.
    pub(crate) fn save_deliveries(
        &self,
        rows: &[Delivery],
        firing: &[(i64, &str)],
    ) -> StoreResult<Vec<(i64, i64)>> {
        match self {
            AlertStore::Sqlite(s) => Ok(crate::outbox::store::save(&s.db, rows, firing)?),
            AlertStore::Postgres(p) => Ok(p.save(rows, firing)?),
        }
    }

    /// Save a row's changing fields.
    pub(crate) fn update_delivery(&self, d: &Delivery) -> StoreResult<()> {
        match self {
            AlertStore::Sqlite(s) => Ok(crate::outbox::store::update(&s.db, d)?),
            AlertStore::Postgres(p) => Ok(p.update(d)?),
        }
    }

    pub(crate) fn remove_delivery(&self, id: i64) -> StoreResult<()> {
        match self {
            AlertStore::Sqlite(s) => Ok(crate::outbox::store::remove(&s.db, id)?),
            AlertStore::Postgres(p) => Ok(p.remove(id)?),
        }
    }

    /// A delivery went through: its row goes, and the firing it carried reached the notifier.
    pub(crate) fn delivered(&self, id: i64, notifier: &str, reached: &[i64]) -> StoreResult<()> {
        match self {
            AlertStore::Sqlite(s) => Ok(crate::outbox::store::delivered(
                &s.db, id, notifier, reached,
            )?),
            AlertStore::Postgres(p) => Ok(p.delivered(id, notifier, reached)?),
        }
    }

    /// Whether `incident`'s firing reached `notifier` (`None`: never queued for it).
    pub(crate) fn reached(&self, incident: i64, notifier: &str) -> StoreResult<Option<bool>> {
        match self {
            AlertStore::Sqlite(s) => Ok(crate::outbox::store::reached(&s.db, incident, notifier)?),
            AlertStore::Postgres(p) => Ok(p.reached(incident, notifier)?),
        }
    }

    /// The notifiers `incident`'s firing reached.
    pub(crate) fn reached_by(&self, incident: i64) -> StoreResult<Vec<String>> {
        match self {
            AlertStore::Sqlite(s) => Ok(crate::outbox::store::reached_by(&s.db, incident)?),
            AlertStore::Postgres(p) => Ok(p.reached_by(incident)?),
        }
    }

    /// Claim delivery `id` for an attempt now. Always granted by SQLite (one process); in a
    /// cluster only while this instance's lease epoch is the current one, checked in the
    /// same statement that marks the row: a deposed leader cannot send.
    pub(crate) fn claim(&self, id: i64) -> StoreResult<bool> {
        match self {
            AlertStore::Sqlite(_) => Ok(true),
            AlertStore::Postgres(p) => Ok(p.claim(id)?),
        }
    }
}
