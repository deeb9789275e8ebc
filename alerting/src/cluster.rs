//! Cluster mode: only the instance holding the leader lease runs the engine (evaluates
//! rules, writes incidents, sends notifications). It builds its engine from the shared store
//! when it takes the lease, with its epoch (every write it makes is fenced by it), and drops
//! it when it loses the lease. The other instances are followers: they answer the API from
//! the shared store and make the writes any instance may make there (silences, status
//! posts), which the leader picks up.

use crate::engine::Engine;
use crate::metrics::AlertMetrics;
use crate::notify::Notifiers;
use crate::runtime::{Command, IncidentView, Incidents, Refusal, RECENT};
use crate::silence::silence_of;
use crate::store::{AlertStore, PgAlerts, StoreResult};
use gatehouse_cluster::{Lease, Pg};
use gatehouse_config::Config;
use jiff::Timestamp;
use std::sync::Arc;
use std::time::Duration;

/// Given-up deliveries the API lists (as the engine does).
const GIVEN_UP: usize = 100;

/// What alerting needs of the cluster.
#[derive(Clone)]
pub struct ClusterLink {
    /// The shared store.
    pub pg: Pg,
    /// This instance's leader lease (renewed elsewhere).
    pub lease: Arc<Lease>,
}

/// The engine thread's part: leading with an engine, or following.
pub(crate) enum Role {
    /// Runs the engine; `epoch` is the lease it leads with (`None`: a single instance).
    Leader(Box<Engine>, Option<i64>),
    /// Answers from the shared store.
    Follower(Follower),
}

pub(crate) struct Follower {
    store: AlertStore,
    config: Arc<Config>,
}

impl Follower {
    pub(crate) fn new(pg: Pg, config: Arc<Config>) -> Follower {
        Follower {
            store: AlertStore::Postgres(PgAlerts::new(pg, None)),
            config,
        }
    }

    /// Handle one command; `Some(grace)` to stop.
    pub(crate) fn handle(&mut self, notifiers: &Notifiers, cmd: Command) -> Option<Duration> {
        let now = Timestamp::now();
        let store = &self.store;
        match cmd {
            // The leader judges probe results (its own probes measure the same targets).
            Command::Probe(_) => {}
            Command::Apply(config) => {
                notifiers.update(&config.alerting.notifiers);
                self.config = config;
            }
            Command::Incidents(tx) => {
                let _ = tx.send(incidents(store, now).map_err(Refusal::store));
            }
            Command::Between(from, to, tx) => {
                let _ = tx.send(store.between(from, to).map_err(Refusal::store));
            }
            Command::Silences(tx) => {
                let _ = tx.send(store.silences().unwrap_or_default());
            }
            Command::AddSilence(req, tx) => {
                let r = silence_of(req, now).map_err(Refusal::Invalid).and_then(|s| {
                    store.put_silence(&s).map_err(Refusal::store)?;
                    tracing::info!(id = %s.id, matchers = ?s.matchers, until = %s.ends_at, by = %s.created_by, "silence created (the leader applies it)");
                    Ok(s)
                });
                let _ = tx.send(r);
            }
            Command::Expire(id, tx) => {
                let r = match store.silences() {
                    Err(e) => Some(Err(Refusal::store(e))),
                    Ok(all) => all.into_iter().find(|s| s.id == id).map(|mut s| {
                        if s.ends_at > now {
                            s.ends_at = now;
                        }
                        store.put_silence(&s).map_err(Refusal::store).map(|_| s)
                    }),
                };
                let _ = tx.send(r);
            }
            Command::Posts(c) => c.run(store, now),
            Command::Deliveries(tx) => {
                let r = store.pending_deliveries().and_then(|mut p| {
                    p.extend(store.given_up(GIVEN_UP)?);
                    Ok(p)
                });
                let _ = tx.send(r.map_err(Refusal::store));
            }
            Command::Stop(grace) => return Some(grace),
        }
        None
    }
}

fn incidents(store: &AlertStore, now: Timestamp) -> StoreResult<Incidents> {
    let view = |incident: crate::incident::Incident| IncidentView {
        duration_seconds: incident.duration(now).as_secs(),
        notified_to: store.reached_by(incident.id).unwrap_or_default(),
        incident,
        suppressed: None,
    };
    let mut open: Vec<IncidentView> = store.open_incidents()?.into_iter().map(view).collect();
    open.reverse();
    Ok(Incidents {
        open,
        pending: Vec::new(),
        recent: store.recent(RECENT)?.into_iter().map(view).collect(),
    })
}

/// Take the role the lease gives now: build the engine from the shared store on taking the
/// lease (or a new epoch of it), drop it on losing it.
pub(crate) fn lead_or_follow(role: Role, link: &ClusterLink, metrics: &AlertMetrics) -> Role {
    let epoch = link.lease.epoch();
    match (role, epoch) {
        (Role::Leader(engine, led), Some(e)) if led == Some(e) => Role::Leader(engine, led),
        (Role::Leader(engine, _), _) => {
            tracing::warn!("this instance no longer leads: it stopped evaluating alert rules and sending notifications");
            let config = engine.config().clone();
            drop(engine);
            lead_or_follow(
                Role::Follower(Follower::new(link.pg.clone(), config)),
                link,
                metrics,
            )
        }
        (Role::Follower(f), Some(e)) => {
            let now = Timestamp::now();
            let store = AlertStore::Postgres(PgAlerts::new(link.pg.clone(), Some(e)));
            let engine = Engine::new(f.config.clone(), store, metrics.clone(), now);
            if let Some((_, error)) = &engine.store_error {
                // A leader that could not read the state would page again for what is
                // already open: it waits until the store answers.
                tracing::error!(%error, "took the leader lease but cannot read the alert state; not leading until the store answers");
                return Role::Follower(f);
            }
            tracing::info!(
                epoch = e,
                "leading: alert rules are evaluated and notifications sent here"
            );
            Role::Leader(Box::new(engine), Some(e))
        }
        (Role::Follower(f), None) => Role::Follower(f),
    }
}
