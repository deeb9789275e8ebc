//! The outbox's rows in PostgreSQL (`alert_deliveries`, `alert_reach`). Every row carries
//! the epoch of the leader that wrote or last claimed it; writes are fenced like the
//! incidents' (see `postgres.rs`), and [`PgAlerts::claim`] checks the epoch in the very
//! statement that marks the row for an attempt.

use super::postgres::{db, fence, PgAlerts};
use super::{ms, ts};
use crate::outbox::{Delivery, DeliveryState};
use gatehouse_cluster::PgError;
use tokio_postgres::Row;

/// How long failed and expired deliveries are listed.
pub(super) const KEPT_MS: i64 = 7 * 86_400_000;

const COLUMNS: &str = "id, notifier, group_key, reminder, alerts, created_at, expires_at,
    next_at, attempts, last_error, state, ended_at";

fn delivery(r: &Row) -> Delivery {
    let alerts: String = r.get(4);
    let state: String = r.get(10);
    Delivery {
        id: r.get(0),
        notifier: r.get(1),
        group_key: r.get(2),
        reminder: r.get(3),
        alerts: serde_json::from_str(&alerts).unwrap_or_default(),
        created_at: ts(r.get(5)),
        expires_at: ts(r.get(6)),
        next_at: ts(r.get(7)),
        attempts: u32::try_from(r.get::<_, i64>(8)).unwrap_or(u32::MAX),
        last_error: r.get(9),
        state: DeliveryState::parse(&state),
        ended_at: r.get::<_, Option<i64>>(11).map(ts),
    }
}

const UPDATE: &str = "UPDATE alert_deliveries SET reminder = $2, alerts = $3, expires_at = $4,
    next_at = $5, attempts = $6, last_error = $7, state = $8, ended_at = $9 WHERE id = $1";

async fn update(tx: &deadpool_postgres::Transaction<'_>, d: &Delivery) -> Result<(), PgError> {
    let alerts = serde_json::to_string(&d.alerts).unwrap_or_else(|_| "[]".into());
    tx.execute(
        UPDATE,
        &[
            &d.id,
            &d.reminder,
            &alerts,
            &ms(d.expires_at),
            &ms(d.next_at),
            &i64::from(d.attempts),
            &d.last_error,
            &d.state.as_str(),
            &d.ended_at.map(ms),
        ],
    )
    .await
    .map_err(db("saving a delivery"))?;
    Ok(())
}

impl PgAlerts {
    pub(crate) fn pending(&self) -> Result<Vec<Delivery>, PgError> {
        self.call(|pg, _| async move {
            let c = pg.client().await?;
            let sql = format!(
                "SELECT {COLUMNS} FROM alert_deliveries WHERE state = 'pending' ORDER BY id"
            );
            let rows = c
                .query(sql.as_str(), &[])
                .await
                .map_err(db("reading the outbox"))?;
            Ok(rows.iter().map(delivery).collect())
        })
    }

    pub(crate) fn given_up(&self, limit: usize) -> Result<Vec<Delivery>, PgError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |pg, _| async move {
            let c = pg.client().await?;
            let sql = format!(
                "SELECT {COLUMNS} FROM alert_deliveries WHERE state != 'pending' ORDER BY id DESC LIMIT $1"
            );
            let rows = c
                .query(sql.as_str(), &[&limit])
                .await
                .map_err(db("reading the outbox"))?;
            Ok(rows.iter().map(delivery).collect())
        })
    }

    pub(crate) fn save(
        &self,
        rows: &[Delivery],
        firing: &[(i64, &str)],
    ) -> Result<Vec<(i64, i64)>, PgError> {
        let rows = rows.to_vec();
        let firing: Vec<(i64, String)> =
            firing.iter().map(|(i, n)| (*i, (*n).to_owned())).collect();
        self.call(|pg, epoch| async move {
            let mut c = pg.client().await?;
            let tx = c.transaction().await.map_err(db("writing the outbox"))?;
            fence(&tx, epoch).await?;
            let mut ids = Vec::new();
            for d in &rows {
                if d.id < 0 {
                    let alerts = serde_json::to_string(&d.alerts).unwrap_or_else(|_| "[]".into());
                    let row = tx
                        .query_one(
                            "INSERT INTO alert_deliveries (epoch, notifier, group_key, reminder,
                                alerts, created_at, expires_at, next_at, attempts, last_error,
                                state)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')
                             RETURNING id",
                            &[
                                &epoch,
                                &d.notifier,
                                &d.group_key,
                                &d.reminder,
                                &alerts,
                                &ms(d.created_at),
                                &ms(d.expires_at),
                                &ms(d.next_at),
                                &i64::from(d.attempts),
                                &d.last_error,
                            ],
                        )
                        .await
                        .map_err(db("writing the outbox"))?;
                    ids.push((d.id, row.get(0)));
                } else {
                    update(&tx, d).await?;
                }
            }
            for (incident, notifier) in &firing {
                tx.execute(
                    "INSERT INTO alert_reach (incident_id, notifier, reached) VALUES ($1, $2, false)
                     ON CONFLICT DO NOTHING",
                    &[incident, notifier],
                )
                .await
                .map_err(db("writing the outbox"))?;
            }
            tx.commit().await.map_err(db("writing the outbox"))?;
            Ok(ids)
        })
    }

    pub(crate) fn update(&self, d: &Delivery) -> Result<(), PgError> {
        let d = d.clone();
        self.call(|pg, epoch| async move {
            let mut c = pg.client().await?;
            let tx = c.transaction().await.map_err(db("saving a delivery"))?;
            fence(&tx, epoch).await?;
            update(&tx, &d).await?;
            tx.commit().await.map_err(db("saving a delivery"))
        })
    }

    pub(crate) fn remove(&self, id: i64) -> Result<(), PgError> {
        self.call(move |pg, epoch| async move {
            let mut c = pg.client().await?;
            let tx = c.transaction().await.map_err(db("removing a delivery"))?;
            fence(&tx, epoch).await?;
            tx.execute("DELETE FROM alert_deliveries WHERE id = $1", &[&id])
                .await
                .map_err(db("removing a delivery"))?;
            tx.commit().await.map_err(db("removing a delivery"))
        })
    }

    /// Not fenced: the notifier took it, whoever leads now must know (or it would go again).
    pub(crate) fn delivered(
        &self,
        id: i64,
        notifier: &str,
        reached: &[i64],
    ) -> Result<(), PgError> {
        let (notifier, reached) = (notifier.to_owned(), reached.to_vec());
        self.call(move |pg, _| async move {
            let mut c = pg.client().await?;
            let tx = c.transaction().await.map_err(db("noting a delivery"))?;
            tx.execute("DELETE FROM alert_deliveries WHERE id = $1", &[&id])
                .await
                .map_err(db("noting a delivery"))?;
            for incident in &reached {
                tx.execute(
                    "INSERT INTO alert_reach (incident_id, notifier, reached) VALUES ($1, $2, true)
                     ON CONFLICT (incident_id, notifier) DO UPDATE SET reached = true",
                    &[incident, &notifier],
                )
                .await
                .map_err(db("noting a delivery"))?;
            }
            tx.commit().await.map_err(db("noting a delivery"))
        })
    }

    pub(crate) fn reached(&self, incident: i64, notifier: &str) -> Result<Option<bool>, PgError> {
        let notifier = notifier.to_owned();
        self.call(move |pg, _| async move {
            let c = pg.client().await?;
            let row = c
                .query_opt(
                    "SELECT reached FROM alert_reach WHERE incident_id = $1 AND notifier = $2",
                    &[&incident, &notifier],
                )
                .await
                .map_err(db("reading the outbox"))?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    pub(crate) fn reached_by(&self, incident: i64) -> Result<Vec<String>, PgError> {
        self.call(move |pg, _| async move {
            let c = pg.client().await?;
            let rows = c
                .query(
                    "SELECT notifier FROM alert_reach WHERE incident_id = $1 AND reached ORDER BY notifier",
                    &[&incident],
                )
                .await
                .map_err(db("reading the outbox"))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    /// Mark delivery `id` as claimed by this leader's epoch, in one statement that holds only
    /// while that epoch is the current, unexpired lease and the row is still pending.
    pub(crate) fn claim(&self, id: i64) -> Result<bool, PgError> {
        let Some(epoch) = self.epoch else {
            return Ok(false);
        };
        self.call(move |pg, _| async move {
            let c = pg.client().await?;
            let n = c
                .execute(
                    "UPDATE alert_deliveries SET epoch = $2
                     WHERE id = $1 AND state = 'pending' AND EXISTS (
                        SELECT 1 FROM cluster_lease
                        WHERE name = 'leader' AND epoch = $2 AND expires_at > now())",
                    &[&id, &epoch],
                )
                .await
                .map_err(db("claiming a delivery"))?;
            Ok(n == 1)
        })
    }
}
