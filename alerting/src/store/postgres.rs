//! The alert state in PostgreSQL (cluster mode): the same operations as the SQLite store on
//! the shared tables (`alert_incidents`, `alert_silences`, `status_*`; the outbox's in
//! `postgres_outbox.rs`). The leader's store carries its lease epoch: every write that only
//! the leader makes runs in a transaction that first takes the lease row `FOR SHARE` with
//! that epoch unexpired, so a deposed leader writes nothing and a takeover waits for the
//! write in progress. Calls block (the engine runs on a thread of its own).

use super::{ms, severity, ts, HISTORY};
use crate::incident::Incident;
use crate::silence::Silence;
use crate::status_posts::{Announcement, AnnouncementRequest, IncidentUpdate};
use gatehouse_cluster::{Pg, PgError};
use jiff::Timestamp;
use std::future::Future;
use tokio_postgres::Row;

/// The PostgreSQL alert store of one instance.
#[derive(Clone)]
pub(crate) struct PgAlerts {
    pub(super) pg: Pg,
    /// The lease epoch this instance leads with (`None`: a follower, which makes only the
    /// writes any instance may make: silences, status posts).
    pub(super) epoch: Option<i64>,
}

/// The driver's error while `doing`.
pub(super) fn db(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> PgError {
    move |e| PgError::db(doing, &e)
}

/// Take the lease row `FOR SHARE` in `tx` if `epoch` is still the current, unexpired one.
pub(super) async fn fence(
    tx: &deadpool_postgres::Transaction<'_>,
    epoch: Option<i64>,
) -> Result<(), PgError> {
    let Some(epoch) = epoch else {
        return Err(PgError::failed(
            "fencing",
            "only the leader writes alert state, and this instance is not it",
        ));
    };
    let held = tx
        .query_opt(
            "SELECT 1 FROM cluster_lease WHERE name = 'leader' AND epoch = $1 AND expires_at > now() FOR SHARE",
            &[&epoch],
        )
        .await
        .map_err(db("checking the leader lease"))?;
    match held {
        Some(_) => Ok(()),
        None => Err(PgError::failed(
            "fencing",
            format_args!("the leader lease of epoch {epoch} is gone; this instance was deposed and writes nothing"),
        )),
    }
}

const INCIDENT_COLUMNS: &str = "id, rule, kind, subject, severity, labels, summary, value, cause,
    runbook, started_at, ended_at, flapping, queued, last_notified,
    EXISTS (SELECT 1 FROM alert_reach r WHERE r.incident_id = alert_incidents.id AND r.reached)";

fn incident(r: &Row) -> Incident {
    let labels: String = r.get(5);
    let sev: String = r.get(4);
    Incident {
        id: r.get(0),
        rule: r.get(1),
        kind: r.get(2),
        subject: r.get(3),
        severity: severity(&sev),
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        summary: r.get(6),
        value: r.get(7),
        cause: r.get(8),
        runbook: r.get(9),
        started_at: ts(r.get(10)),
        ended_at: r.get::<_, Option<i64>>(11).map(ts),
        flapping: r.get(12),
        queued: r.get(13),
        notified: r.get(15),
        last_notified: r.get::<_, Option<i64>>(14).map(ts),
    }
}

impl PgAlerts {
    /// The store of a leader with `epoch`, or of a follower (`None`).
    pub(crate) fn new(pg: Pg, epoch: Option<i64>) -> PgAlerts {
        PgAlerts { pg, epoch }
    }

    /// Run `f` on the store's runtime and wait for it.
    pub(super) fn call<T, F>(&self, f: impl FnOnce(Pg, Option<i64>) -> F) -> Result<T, PgError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, PgError>> + Send + 'static,
    {
        let r = self.pg.block_on(f(self.pg.clone(), self.epoch));
        if r.is_err() {
            self.pg.count_error("alerting");
        }
        r
    }

    fn incidents(&self, tail: &'static str, p: Vec<i64>) -> Result<Vec<Incident>, PgError> {
        self.call(|pg, _| async move {
            let c = pg.client().await?;
            let sql = format!("SELECT {INCIDENT_COLUMNS} FROM alert_incidents {tail}");
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = p
                .iter()
                .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            let rows = c
                .query(sql.as_str(), &params)
                .await
                .map_err(db("reading incidents"))?;
            Ok(rows.iter().map(incident).collect())
        })
    }

    pub(crate) fn insert(&self, i: &Incident) -> Result<i64, PgError> {
        let i = i.clone();
        self.call(|pg, epoch| async move {
            let mut c = pg.client().await?;
            let tx = c.transaction().await.map_err(db("opening an incident"))?;
            fence(&tx, epoch).await?;
            let labels = serde_json::to_string(&i.labels).unwrap_or_else(|_| "{}".into());
            let row = tx
                .query_one(
                    "INSERT INTO alert_incidents (rule, kind, subject, severity, labels, summary,
                        value, cause, runbook, started_at, ended_at, flapping, queued,
                        last_notified, resolve_sent)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, false)
                     RETURNING id",
                    &[
                        &i.rule,
                        &i.kind,
                        &i.subject,
                        &i.severity.as_str(),
                        &labels,
                        &i.summary,
                        &i.value,
                        &i.cause,
                        &i.runbook,
                        &ms(i.started_at),
                        &i.ended_at.map(ms),
                        &i.flapping,
                        &i.queued,
                        &i.last_notified.map(ms),
                    ],
                )
                .await
                .map_err(db("opening an incident"))?;
            tx.commit().await.map_err(db("opening an incident"))?;
            Ok(row.get(0))
        })
    }

    pub(crate) fn update_all(&self, incidents: &[Incident]) -> Result<(), PgError> {
        let incidents = incidents.to_vec();
        self.call(|pg, epoch| async move {
            let mut c = pg.client().await?;
            let tx = c.transaction().await.map_err(db("saving incidents"))?;
            fence(&tx, epoch).await?;
            for i in &incidents {
                tx.execute(
                    "UPDATE alert_incidents SET summary = $2, value = $3, ended_at = $4,
                        flapping = $5, queued = $6, last_notified = $7 WHERE id = $1",
                    &[
                        &i.id,
                        &i.summary,
                        &i.value,
                        &i.ended_at.map(ms),
                        &i.flapping,
                        &i.queued,
                        &i.last_notified.map(ms),
                    ],
                )
                .await
                .map_err(db("saving incidents"))?;
            }
            tx.commit().await.map_err(db("saving incidents"))
        })
    }

    pub(crate) fn resolve_sent(&self, ids: &[i64]) -> Result<(), PgError> {
        let ids = ids.to_vec();
        self.call(|pg, epoch| async move {
            let mut c = pg.client().await?;
            let tx = c.transaction().await.map_err(db("noting resolves"))?;
            fence(&tx, epoch).await?;
            tx.execute(
                "UPDATE alert_incidents SET resolve_sent = true WHERE id = ANY($1)",
                &[&ids],
            )
            .await
            .map_err(db("noting resolves"))?;
            tx.commit().await.map_err(db("noting resolves"))
        })
    }

    pub(crate) fn unsent_resolves(&self, since: Timestamp) -> Result<Vec<Incident>, PgError> {
        self.incidents(
            "WHERE ended_at IS NOT NULL AND ended_at >= $1 AND queued AND NOT resolve_sent ORDER BY id",
            vec![ms(since)],
        )
    }

    pub(crate) fn open_incidents(&self) -> Result<Vec<Incident>, PgError> {
        self.incidents("WHERE ended_at IS NULL ORDER BY id", vec![])
    }

    pub(crate) fn recent(&self, limit: usize) -> Result<Vec<Incident>, PgError> {
        self.incidents(
            "WHERE ended_at IS NOT NULL ORDER BY ended_at DESC, id DESC LIMIT $1",
            vec![i64::try_from(limit).unwrap_or(i64::MAX)],
        )
    }

    pub(crate) fn between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Incident>, PgError> {
        self.incidents(
            "WHERE started_at < $2 AND (ended_at IS NULL OR ended_at >= $1) ORDER BY started_at DESC",
            vec![ms(from), ms(to)],
        )
    }

    /// Pruning is the leader's (one instance does it); a follower's call does nothing.
    pub(crate) fn prune(&self, now: Timestamp) -> Result<usize, PgError> {
        if self.epoch.is_none() {
            return Ok(0);
        }
        let cutoff = ms(now) - i64::try_from(HISTORY.as_millis()).unwrap_or(i64::MAX);
        let kept = ms(now) - super::postgres_outbox::KEPT_MS;
        self.call(move |pg, _| async move {
            let c = pg.client().await?;
            let n = c
                .execute(
                    "DELETE FROM alert_incidents WHERE ended_at IS NOT NULL AND ended_at < $1",
                    &[&cutoff],
                )
                .await
                .map_err(db("pruning incidents"))?;
            c.execute("DELETE FROM alert_silences WHERE ends_at < $1", &[&cutoff])
                .await
                .map_err(db("pruning silences"))?;
            c.execute(
                "DELETE FROM alert_deliveries WHERE state != 'pending' AND ended_at < $1",
                &[&kept],
            )
            .await
            .map_err(db("pruning deliveries"))?;
            c.execute(
                "DELETE FROM alert_reach WHERE incident_id NOT IN (SELECT id FROM alert_incidents)",
                &[],
            )
            .await
            .map_err(db("pruning deliveries"))?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    pub(crate) fn put_silence(&self, s: &Silence) -> Result<(), PgError> {
        let s = s.clone();
        self.call(|pg, _| async move {
            let c = pg.client().await?;
            let matchers = serde_json::to_string(&s.matchers).unwrap_or_else(|_| "{}".into());
            c.execute(
                "INSERT INTO alert_silences (id, matchers, starts_at, ends_at, comment, created_by)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers,
                    starts_at = excluded.starts_at, ends_at = excluded.ends_at,
                    comment = excluded.comment, created_by = excluded.created_by",
                &[
                    &s.id,
                    &matchers,
                    &ms(s.starts_at),
                    &ms(s.ends_at),
                    &s.comment,
                    &s.created_by,
                ],
            )
            .await
            .map_err(db("saving a silence"))?;
            Ok(())
        })
    }

    pub(crate) fn silences(&self) -> Result<Vec<Silence>, PgError> {
        self.call(|pg, _| async move {
            let c = pg.client().await?;
            let rows = c
                .query(
                    "SELECT id, matchers, starts_at, ends_at, comment, created_by
                     FROM alert_silences ORDER BY starts_at",
                    &[],
                )
                .await
                .map_err(db("reading silences"))?;
            Ok(rows
                .iter()
                .map(|r| Silence {
                    id: r.get(0),
                    matchers: serde_json::from_str(r.get::<_, &str>(1)).unwrap_or_default(),
                    starts_at: ts(r.get(2)),
                    ends_at: ts(r.get(3)),
                    comment: r.get(4),
                    created_by: r.get(5),
                })
                .collect())
        })
    }

    pub(crate) fn incident_exists(&self, id: i64) -> Result<bool, PgError> {
        self.call(move |pg, _| async move {
            let c = pg.client().await?;
            let row = c
                .query_opt("SELECT 1 FROM alert_incidents WHERE id = $1", &[&id])
                .await
                .map_err(db("reading incidents"))?;
            Ok(row.is_some())
        })
    }

    pub(crate) fn add_update(
        &self,
        incident_id: i64,
        status: &str,
        message: &str,
        now: Timestamp,
    ) -> Result<IncidentUpdate, PgError> {
        let (status, message) = (status.to_owned(), message.to_owned());
        self.call(move |pg, _| async move {
            let c = pg.client().await?;
            let row = c
                .query_one(
                    "INSERT INTO status_incident_updates (incident_id, status, message, created_at)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                    &[&incident_id, &status, &message, &ms(now)],
                )
                .await
                .map_err(db("posting an incident update"))?;
            Ok(IncidentUpdate {
                id: row.get(0),
                incident_id,
                status,
                message,
                created_at: ts(ms(now)),
            })
        })
    }

    pub(crate) fn updates_since(&self, from: Timestamp) -> Result<Vec<IncidentUpdate>, PgError> {
        self.call(move |pg, _| async move {
            let c = pg.client().await?;
            let rows = c
                .query(
                    "SELECT id, incident_id, status, message, created_at FROM status_incident_updates
                     WHERE created_at >= $1 ORDER BY created_at, id",
                    &[&ms(from)],
                )
                .await
                .map_err(db("reading incident updates"))?;
            Ok(rows
                .iter()
                .map(|r| IncidentUpdate {
                    id: r.get(0),
                    incident_id: r.get(1),
                    status: r.get(2),
                    message: r.get(3),
                    created_at: ts(r.get(4)),
                })
                .collect())
        })
    }

    pub(crate) fn add_announcement(
        &self,
        a: &AnnouncementRequest,
        level: &str,
        now: Timestamp,
    ) -> Result<Announcement, PgError> {
        let (title, body, level, ends_at) =
            (a.title.clone(), a.body.clone(), level.to_owned(), a.ends_at);
        self.call(move |pg, _| async move {
            let c = pg.client().await?;
            let row = c
                .query_one(
                    "INSERT INTO status_announcements (title, body, level, created_at, ends_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    &[&title, &body, &level, &ms(now), &ends_at.map(ms)],
                )
                .await
                .map_err(db("posting an announcement"))?;
            Ok(Announcement {
                id: row.get(0),
                title,
                body,
                level,
                created_at: ts(ms(now)),
                ends_at,
            })
        })
    }

    pub(crate) fn announcements(&self, now: Timestamp) -> Result<Vec<Announcement>, PgError> {
        self.call(move |pg, _| async move {
            let c = pg.client().await?;
            let rows = c
                .query(
                    "SELECT id, title, body, level, created_at, ends_at FROM status_announcements
                     WHERE ends_at IS NULL OR ends_at > $1 ORDER BY created_at DESC, id DESC",
                    &[&ms(now)],
                )
                .await
                .map_err(db("reading announcements"))?;
            Ok(rows
                .iter()
                .map(|r| Announcement {
                    id: r.get(0),
                    title: r.get(1),
                    body: r.get(2),
                    level: r.get(3),
                    created_at: ts(r.get(4)),
                    ends_at: r.get::<_, Option<i64>>(5).map(ts),
                })
                .collect())
        })
    }

    pub(crate) fn remove_announcement(&self, id: i64) -> Result<bool, PgError> {
        self.call(move |pg, _| async move {
            let c = pg.client().await?;
            let n = c
                .execute("DELETE FROM status_announcements WHERE id = $1", &[&id])
                .await
                .map_err(db("removing an announcement"))?;
            Ok(n > 0)
        })
    }
}
