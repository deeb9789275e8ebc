//! The outbox: every notification for every notifier is a row in the alert store before it
//! is sent, and stays there until the notifier accepted it (2xx, SMTP 250). A failed attempt
//! is tried again after an exponential backoff with jitter (or the notifier's `Retry-After`)
//! until the row expires. Delivery is at least once: a crash between an attempt and its
//! outcome sends it again after the restart.
//!
//! Per notifier and group at most one notification is on its way and at most one waits
//! behind it; what the dispatcher adds for a group while one waits is merged into it (newer
//! alert states replace older ones). So a notifier that was down for an hour gets the
//! group's state once, not one message per flush or retry, and an incident's firing always
//! goes before its resolve. A resolve goes to a notifier only when the firing reached it;
//! when the firing never did (it was still waiting, or expired), the resolve says so
//! ([`Alert::unreached`]) and carries both times.
//!
//! The state machine is synchronous and takes `now` from its caller (the engine's thread),
//! so tests drive it with their own clock; [`crate::runtime`] makes the attempts.

pub(crate) mod store;
#[cfg(test)]
mod tests;

pub(crate) use store::{prune, SCHEMA};

use crate::dispatch::{build, Outgoing};
use crate::notification::{Alert, Notification, Status};
use crate::store::{AlertStore, StoreError, StoreResult};
use gatehouse_config::alerting::DeliveryPolicy;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// The longest `Retry-After` honoured: a service asking for more is tried again after this.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt (or being attempted).
    Pending,
    /// The notifier refused it for good (a 4xx other than 408 and 429, or it is gone).
    Failed,
    /// Not accepted before `alerting.delivery.expiry`.
    Expired,
}

impl DeliveryState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Failed => "failed",
            DeliveryState::Expired => "expired",
        }
    }

    pub(crate) fn parse(s: &str) -> DeliveryState {
        match s {
            "failed" => DeliveryState::Failed,
            "expired" => DeliveryState::Expired,
            _ => DeliveryState::Pending,
        }
    }
}

/// One notification for one notifier that has not been delivered: `GET /api/v1/deliveries`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// Its id in the alert store (negative when the store could not take it).
    pub id: i64,
    /// The notifier.
    pub notifier: String,
    /// The group it is about.
    pub group_key: String,
    /// A reminder only.
    pub reminder: bool,
    /// The alerts, as they will be sent.
    pub alerts: Vec<Alert>,
    /// When it was first made.
    pub created_at: Timestamp,
    /// When it gives up.
    pub expires_at: Timestamp,
    /// The next attempt (pending ones).
    pub next_at: Timestamp,
    /// Attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Pending, failed or expired.
    pub state: DeliveryState,
    /// When it failed or expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
}

/// One attempt to make now.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub id: i64,
    pub notifier: String,
    pub notification: Notification,
    /// Attempts before this one.
    pub previous: u32,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// The notifier accepted it.
    Delivered,
    /// It failed and another attempt may succeed; `retry_after` is the notifier's ask.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// It failed for good.
    Failed { error: String },
}

/// What an outcome did, for metrics and logs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Settled {
    /// Delivered; these incidents' firing reached the notifier.
    Delivered { reached: Vec<i64> },
    /// Another attempt at this time.
    Retrying { next_at: Timestamp },
    /// Given up.
    Failed,
    /// Given up: expired.
    Expired,
    /// Unknown id (already settled).
    Unknown,
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Pending deliveries by id.
    rows: BTreeMap<i64, Delivery>,
    /// Ids being attempted, with the alerts the attempt carries (id, status).
    in_flight: HashMap<i64, Vec<(i64, Status)>>,
    /// Ids for rows the store could not take.
    unstored: i64,
    /// The last error of the store, for the engine to report.
    pub(crate) store_error: Option<String>,
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// The wait before attempt `attempts + 1`: `backoff × 2^(attempts-1)`, capped, of which a
/// random half is taken off so that notifiers failing together do not retry together.
pub(crate) fn backoff(policy: &DeliveryPolicy, attempts: u32) -> Duration {
    let full = policy
        .backoff
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
        .min(policy.max_backoff);
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

impl Outbox {
    /// The pending deliveries of the store (after a restart: they resume).
    pub(crate) fn load(store: &AlertStore) -> StoreResult<Outbox> {
        let rows = store.pending_deliveries()?;
        Ok(Outbox {
            rows: rows.into_iter().map(|d| (d.id, d)).collect(),
            in_flight: HashMap::new(),
            unstored: 0,
            store_error: None,
        })
    }

    /// Pending deliveries, oldest first.
    pub(crate) fn pending(&self) -> impl Iterator<Item = &Delivery> {
        self.rows.values()
    }

    /// Pending deliveries per notifier (every configured notifier, zero included).
    pub(crate) fn pending_by_notifier<'a>(
        &self,
        notifiers: impl Iterator<Item = &'a str>,
    ) -> BTreeMap<String, i64> {
        let mut out: BTreeMap<String, i64> = notifiers.map(|n| (n.to_string(), 0)).collect();
        for d in self.rows.values() {
            *out.entry(d.notifier.clone()).or_default() += 1;
        }
        out
    }

    /// Take what the dispatcher flushed: each (notifier, notification) becomes a row, or is
    /// merged into the row of its notifier and group that is still waiting.
    pub(crate) fn enqueue(
        &mut self,
        outgoing: &[Outgoing],
        policy: &DeliveryPolicy,
        store: &AlertStore,
        now: Timestamp,
    ) {
        if outgoing.is_empty() {
            return;
        }
        let mut changed = Vec::new();
        for out in outgoing {
            let n = &out.notification;
            let waiting = self.rows.values_mut().find(|d| {
                d.notifier == out.notifier
                    && d.group_key == n.group_key
                    && !self.in_flight.contains_key(&d.id)
            });
            match waiting {
                Some(d) => {
                    for a in &n.alerts {
                        match d.alerts.iter_mut().find(|x| x.id == a.id) {
                            Some(x) => *x = a.clone(),
                            None => d.alerts.push(a.clone()),
                        }
                    }
                    d.reminder &= n.reminder;
                    d.expires_at = after(now, policy.expiry);
                    changed.push(d.id);
                }
                None => {
                    self.unstored -= 1;
                    let d = Delivery {
                        id: self.unstored,
                        notifier: out.notifier.clone(),
                        group_key: n.group_key.clone(),
                        reminder: n.reminder,
                        alerts: n.alerts.clone(),
                        created_at: now,
                        expires_at: after(now, policy.expiry),
                        next_at: now,
                        attempts: 0,
                        last_error: None,
                        state: DeliveryState::Pending,
                        ended_at: None,
                    };
                    self.rows.insert(d.id, d.clone());
                    changed.push(d.id);
                }
            }
        }
        let firing: Vec<(i64, &str)> = outgoing
            .iter()
            .flat_map(|o| {
                o.notification
                    .with_status(Status::Firing)
                    .map(move |a| (a.id, o.notifier.as_str()))
            })
            .collect();
        let rows: Vec<Delivery> = changed
            .iter()
            .filter_map(|id| self.rows.get(id).cloned())
            .collect();
        // Rows the store took get its ids (a failed write leaves them negative, in memory:
        // still sent, but lost on restart; the store-failing rule tells).
        match store.save_deliveries(&rows, &firing) {
            Ok(ids) => {
                for (old, new) in ids {
                    if let Some(mut d) = self.rows.remove(&old) {
                        d.id = new;
                        self.rows.insert(new, d);
                    }
                }
            }
            Err(e) => self.failed_store(e),
        }
    }

    /// The attempts to make now: each waiting row whose time has come and whose notifier and
    /// group has nothing on its way. Rows past their expiry are given up instead, returned
    /// second.
    pub(crate) fn due(
        &mut self,
        store: &AlertStore,
        now: Timestamp,
    ) -> (Vec<Attempt>, Vec<(Delivery, Settled)>) {
        let mut ended = Vec::new();
        let busy: HashSet<(String, String)> = self
            .in_flight
            .keys()
            .filter_map(|id| self.rows.get(id))
            .map(|d| (d.notifier.clone(), d.group_key.clone()))
            .collect();
        let mut attempts = Vec::new();
        let ids: Vec<i64> = self
            .rows
            .values()
            .filter(|d| !self.in_flight.contains_key(&d.id) && d.next_at <= now)
            .filter(|d| !busy.contains(&(d.notifier.clone(), d.group_key.clone())))
            .map(|d| d.id)
            .collect();
        for id in ids {
            let Some(d) = self.rows.get(&id).cloned() else {
                continue;
            };
            if now >= d.expires_at {
                if let (Some(d), settled) = self.end(store, id, DeliveryState::Expired, None, now) {
                    ended.push((d, settled));
                }
                continue;
            }
            let mut alerts = Vec::with_capacity(d.alerts.len());
            for mut a in d.alerts {
                if a.status == Status::Resolved {
                    match store.reached(a.id, &d.notifier) {
                        Ok(Some(true)) => {}
                        // Queued firing that never arrived: say it fired and resolved.
                        Ok(Some(false)) => a.unreached = true,
                        // Its firing never went to this notifier: nothing to resolve.
                        Ok(None) => continue,
                        // The store cannot say: a plain resolve is the safe guess.
                        Err(e) => self.failed_store(e),
                    }
                }
                alerts.push(a);
            }
            if alerts.is_empty() {
                let r = store.remove_delivery(id);
                self.note(r);
                self.rows.remove(&id);
                continue;
            }
            // In a cluster: sent only while this leader's epoch is current (a deposed
            // leader's claim fails, and the row waits for the new leader).
            match store.claim(id) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    self.failed_store(e);
                    continue;
                }
            }
            alerts.sort_by_key(|a| (a.status != Status::Firing, a.id));
            let carried = alerts.iter().map(|a| (a.id, a.status)).collect();
            let notification = build(&d.group_key, alerts, d.reminder, now);
            attempts.push(Attempt {
                id,
                notifier: d.notifier,
                notification,
                previous: d.attempts,
            });
            self.in_flight.insert(id, carried);
        }
        (attempts, ended)
    }

    /// Record how an attempt ended.
    pub(crate) fn settle(
        &mut self,
        store: &AlertStore,
        id: i64,
        outcome: Outcome,
        policy: &DeliveryPolicy,
        now: Timestamp,
    ) -> (Option<Delivery>, Settled) {
        let carried = self.in_flight.remove(&id).unwrap_or_default();
        let Some(d) = self.rows.get_mut(&id) else {
            return (None, Settled::Unknown);
        };
        d.attempts = d.attempts.saturating_add(1);
        match outcome {
            Outcome::Delivered => {
                let d = self.rows.remove(&id);
                let reached: Vec<i64> = carried
                    .iter()
                    .filter(|(_, s)| *s == Status::Firing)
                    .map(|(a, _)| *a)
                    .collect();
                let notifier = d.as_ref().map(|d| d.notifier.clone()).unwrap_or_default();
                let r = store.delivered(id, &notifier, &reached);
                self.note(r);
                // It answers again: what else waits for it need not wait out its backoff.
                for other in self.rows.values_mut().filter(|o| o.notifier == notifier) {
                    other.next_at = other.next_at.min(now);
                }
                (d, Settled::Delivered { reached })
            }
            Outcome::Retry { error, retry_after } => {
                d.last_error = Some(error);
                let wait = backoff(policy, d.attempts)
                    .max(retry_after.unwrap_or_default().min(RETRY_AFTER_CAP));
                let next_at = after(now, wait);
                if next_at >= d.expires_at {
                    let error = d.last_error.clone();
                    let ended = self.end(store, id, DeliveryState::Expired, error, now);
                    return ended;
                }
                d.next_at = next_at;
                let d = d.clone();
                let r = store.update_delivery(&d);
                self.note(r);
                (Some(d), Settled::Retrying { next_at })
            }
            Outcome::Failed { error } => {
                self.end(store, id, DeliveryState::Failed, Some(error), now)
            }
        }
    }

    /// Give a row up: stored as failed or expired, out of the pending ones.
    fn end(
        &mut self,
        store: &AlertStore,
        id: i64,
        state: DeliveryState,
        error: Option<String>,
        now: Timestamp,
    ) -> (Option<Delivery>, Settled) {
        self.in_flight.remove(&id);
        let Some(mut d) = self.rows.remove(&id) else {
            return (None, Settled::Unknown);
        };
        d.state = state;
        d.ended_at = Some(now);
        if error.is_some() {
            d.last_error = error;
        }
        let r = store.update_delivery(&d);
        self.note(r);
        let settled = match state {
            DeliveryState::Expired => Settled::Expired,
            _ => Settled::Failed,
        };
        (Some(d), settled)
    }

    fn note(&mut self, r: StoreResult<()>) {
        if let Err(e) = r {
            self.failed_store(e);
        }
    }

    fn failed_store(&mut self, e: StoreError) {
        self.store_error = Some(e.to_string());
    }

    /// Whether an attempt is on its way.
    pub(crate) fn busy(&self) -> bool {
        !self.in_flight.is_empty()
    }
}
