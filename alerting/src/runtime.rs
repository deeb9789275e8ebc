//! [`Alerting`]: the engine on a thread of its own, fed through one bounded queue (probe
//! results, config swaps, admin requests), evaluating the periodic rules every
//! `evaluation_interval` and flushing groups every 100 ms. Notifications are handed to the
//! notifiers, which send on the tokio runtime: a slow endpoint never holds up evaluation.

use crate::cluster::{lead_or_follow, ClusterLink, Follower, Role};
use crate::engine::Engine;
use crate::evaluate::Inputs;
use crate::facts::{CertFact, Facts, ProbeEvent};
use crate::incident::Incident;
use crate::metrics::AlertMetrics;
use crate::notify::Notifiers;
use crate::outbox::{Delivery, Outcome, Settled};
use crate::silence::{silence_of, Silence};
use crate::store::AlertStore;
use gatehouse_config::queue::{self, Receiver, Sender};
use gatehouse_config::Config;
use gatehouse_traffic::TrafficSignals;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::mpsc::{RecvTimeoutError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const TICK: Duration = Duration::from_millis(100);
const QUEUE: usize = 65_536;
/// How many recent resolved incidents the API lists.
pub(crate) const RECENT: usize = 50;

/// An incident as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    /// The incident.
    #[serde(flatten)]
    pub incident: Incident,
    /// Seconds from start to end (or to now, while open).
    pub duration_seconds: u64,
    /// Why it is not notified now (dependency, maintenance window, silence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<String>,
    /// The notifiers its firing reached (`notified` is whether there is one).
    pub notified_to: Vec<String>,
}

/// A rule that sees a problem but has not reached its threshold or hold time yet.
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    /// The rule.
    pub rule: String,
    /// The subject.
    pub subject: String,
}

/// `GET /api/v1/incidents`.
#[derive(Debug, Clone, Serialize)]
pub struct Incidents {
    /// Firing now, newest first.
    pub open: Vec<IncidentView>,
    /// Pending.
    pub pending: Vec<Pending>,
    /// The newest resolved ones.
    pub recent: Vec<IncidentView>,
}

/// `POST /api/v1/silences`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// Label matchers (`rule`, `subject`, `severity`, `group`, ... ); a value ending in `*`
    /// matches by prefix.
    pub matchers: BTreeMap<String, String>,
    /// How long, e.g. `2h` (or give `ends_at`).
    #[serde(default)]
    pub duration: Option<String>,
    /// Until when (RFC 3339).
    #[serde(default)]
    pub ends_at: Option<Timestamp>,
    /// From when (RFC 3339; default now).
    #[serde(default)]
    pub starts_at: Option<Timestamp>,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// Who.
    #[serde(default)]
    pub created_by: String,
}

/// Why alerting did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request is wrong (the text says how): a client error.
    #[error("{0}")]
    Invalid(String),
    /// Alerting is busy, stopped, or its store failed: try again.
    #[error("{0}")]
    Unavailable(String),
}

impl Refusal {
    pub(crate) fn store(e: crate::store::StoreError) -> Refusal {
        Refusal::Unavailable(format!("the alert store failed: {e}"))
    }
}

pub(crate) enum Command {
    Probe(ProbeEvent),
    Apply(Arc<Config>),
    Incidents(oneshot::Sender<Result<Incidents, Refusal>>),
    Between(
        Timestamp,
        Timestamp,
        oneshot::Sender<Result<Vec<Incident>, Refusal>>,
    ),
    Silences(oneshot::Sender<Vec<Silence>>),
    AddSilence(SilenceRequest, oneshot::Sender<Result<Silence, Refusal>>),
    Expire(String, oneshot::Sender<Option<Result<Silence, Refusal>>>),
    Posts(crate::status_posts::Command),
    Deliveries(oneshot::Sender<Result<Vec<Delivery>, Refusal>>),
    Stop(Duration),
}

/// What the engine reads besides probe results.
pub struct Sources {
    /// Live route signals (`None` without a proxy).
    pub signals: Option<Arc<dyn TrafficSignals>>,
    /// Certificates and gatehouse's health.
    pub facts: Arc<dyn Facts>,
}

/// The running alerting engine. Cheap to share behind an `Arc`.
pub struct Alerting {
    tx: Sender<Command>,
    notifiers: Notifiers,
    metrics: AlertMetrics,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The store could not even be opened in memory.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the alert store: {0}")]
pub struct StartError(String);

impl Alerting {
    /// Open the alert state (the probe store's SQLite file, or memory), restore open
    /// incidents and start the engine thread. Notifications are sent on `rt`.
    pub fn start(
        config: Arc<Config>,
        sources: Sources,
        notifiers: Notifiers,
        metrics: AlertMetrics,
        rt: tokio::runtime::Handle,
    ) -> Result<Alerting, StartError> {
        let path = config.probes.store.path.clone();
        let store = match AlertStore::open(path.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, path = ?path, "cannot open the alert store; alert state is kept in memory and lost on restart");
                AlertStore::open(None).map_err(|e| StartError(e.to_string()))?
            }
        };
        let engine = Engine::new(config, store, metrics.clone(), Timestamp::now());
        Self::spawn(
            Role::Leader(Box::new(engine), None),
            None,
            sources,
            notifiers,
            metrics,
            rt,
        )
    }

    /// Start in cluster mode: the alert state is in the shared store, and this instance runs
    /// the engine only while it holds the leader lease (it starts as a follower).
    pub fn start_clustered(
        config: Arc<Config>,
        link: ClusterLink,
        sources: Sources,
        notifiers: Notifiers,
        metrics: AlertMetrics,
        rt: tokio::runtime::Handle,
    ) -> Result<Alerting, StartError> {
        let role = Role::Follower(Follower::new(link.pg.clone(), config));
        Self::spawn(role, Some(link), sources, notifiers, metrics, rt)
    }

    fn spawn(
        role: Role,
        link: Option<ClusterLink>,
        sources: Sources,
        notifiers: Notifiers,
        metrics: AlertMetrics,
        rt: tokio::runtime::Handle,
    ) -> Result<Alerting, StartError> {
        let (tx, rx) = queue::bounded(QUEUE);
        let sending = notifiers.clone();
        let m = metrics.clone();
        let thread = std::thread::Builder::new()
            .name("gatehouse-alerting".into())
            .spawn(move || {
                let _guard = rt.enter();
                run(role, link, rx, sources, notifiers, m);
            })
            .map_err(|e| StartError(e.to_string()))?;
        Ok(Alerting {
            tx,
            notifiers: sending,
            metrics,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// A probe result; dropped (and counted) when the queue is full, never blocking.
    pub fn observe(&self, ev: ProbeEvent) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Command::Probe(ev)) {
            self.metrics.dropped.inc();
        }
    }

    /// A new config (after a successful reload).
    pub fn apply(&self, config: Arc<Config>) {
        let _ = self.tx.send(Command::Apply(config));
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Refusal> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .try_send(make(tx))
            .map_err(|_| Refusal::Unavailable("alerting is busy or stopped".into()))?;
        rx.await
            .map_err(|_| Refusal::Unavailable("alerting stopped".into()))
    }

    /// Open, pending and recent incidents.
    pub async fn incidents(&self) -> Result<Incidents, Refusal> {
        self.ask(Command::Incidents).await?
    }

    /// Incidents overlapping `[from, to)` (for the status page).
    pub async fn incidents_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Incident>, Refusal> {
        self.ask(|tx| Command::Between(from, to, tx)).await?
    }

    /// Every silence, expired ones included.
    pub async fn silences(&self) -> Result<Vec<Silence>, Refusal> {
        self.ask(Command::Silences).await
    }

    /// Create a silence; the error says what is wrong with the request.
    pub async fn add_silence(&self, req: SilenceRequest) -> Result<Silence, Refusal> {
        self.ask(|tx| Command::AddSilence(req, tx)).await?
    }

    /// Expire a silence now; `Ok(None)` when there is none with that id.
    pub async fn expire_silence(&self, id: &str) -> Result<Option<Silence>, Refusal> {
        match self.ask(|tx| Command::Expire(id.to_string(), tx)).await? {
            None => Ok(None),
            Some(r) => r.map(Some),
        }
    }

    /// Post an update on incident `id`; `Ok(None)` when there is no such incident.
    pub async fn add_update(
        &self,
        id: i64,
        req: crate::status_posts::IncidentUpdateRequest,
    ) -> Result<Option<crate::status_posts::IncidentUpdate>, Refusal> {
        self.ask(|tx| Command::Posts(crate::status_posts::Command::AddUpdate(id, req, tx)))
            .await?
    }

    /// Incident updates posted since `from`, oldest first.
    pub async fn updates_since(
        &self,
        from: Timestamp,
    ) -> Result<Vec<crate::status_posts::IncidentUpdate>, Refusal> {
        self.ask(|tx| Command::Posts(crate::status_posts::Command::Updates(from, tx)))
            .await?
    }

    /// Post an announcement.
    pub async fn add_announcement(
        &self,
        req: crate::status_posts::AnnouncementRequest,
    ) -> Result<crate::status_posts::Announcement, Refusal> {
        self.ask(|tx| Command::Posts(crate::status_posts::Command::AddAnnouncement(req, tx)))
            .await?
    }

    /// Announcements still shown.
    pub async fn announcements(&self) -> Result<Vec<crate::status_posts::Announcement>, Refusal> {
        self.ask(|tx| Command::Posts(crate::status_posts::Command::Announcements(tx)))
            .await?
    }

    /// Delete an announcement; `Ok(false)` when there is none with that id.
    pub async fn remove_announcement(&self, id: i64) -> Result<bool, Refusal> {
        self.ask(|tx| Command::Posts(crate::status_posts::Command::RemoveAnnouncement(id, tx)))
            .await?
    }

    /// Notifications not delivered yet (pending, oldest first), then those given up
    /// (failed or expired, newest first).
    pub async fn deliveries(&self) -> Result<Vec<Delivery>, Refusal> {
        self.ask(Command::Deliveries).await?
    }

    /// Stop the thread: resolves still waiting for their group interval are queued, and what
    /// is due is attempted within `grace`; what is not delivered by then stays in the outbox
    /// (in the store file) and goes out after the next start.
    pub fn stop(&self, grace: Duration) {
        let _ = self.tx.send(Command::Stop(grace));
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
        // Attempts whose outcome came too late are cut off here; they stay pending.
        let _ = self.notifiers.wait_idle(Duration::from_millis(100));
    }
}

struct Merged<'a> {
    facts: &'a dyn Facts,
    own: Option<String>,
}

impl Facts for Merged<'_> {
    fn certificates(&self) -> Vec<CertFact> {
        self.facts.certificates()
    }
    fn reload_error(&self) -> Option<String> {
        self.facts.reload_error()
    }
    fn store_error(&self) -> Option<String> {
        self.own.clone().or_else(|| self.facts.store_error())
    }
}

fn run(
    mut role: Role,
    link: Option<ClusterLink>,
    rx: Receiver<Command>,
    sources: Sources,
    notifiers: Notifiers,
    metrics: AlertMetrics,
) {
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(i64, Outcome)>();
    let mut next_eval = Instant::now();
    let mut next_flush = Instant::now();
    let mut steps = crate::clock::StepWatch::new(Timestamp::now(), Instant::now());
    loop {
        let wait = next_flush
            .min(next_eval)
            .saturating_duration_since(Instant::now());
        let first = match rx.recv_timeout(wait) {
            Ok(c) => Some(c),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if let Some(link) = &link {
            role = lead_or_follow(role, link, &metrics);
        }
        let step = steps.step(Timestamp::now(), Instant::now());
        let mut stop = None;
        let engine = match &mut role {
            Role::Leader(engine, _) => engine,
            Role::Follower(follower) => {
                for cmd in first
                    .into_iter()
                    .chain(std::iter::from_fn(|| rx.try_recv().ok()).take(QUEUE))
                {
                    stop = stop.or(follower.handle(&notifiers, cmd));
                }
                // Outcomes of attempts a deposed engine started: the new leader has the rows.
                done_rx.try_iter().for_each(drop);
                next_flush = Instant::now() + TICK;
                next_eval = next_flush;
                if stop.is_some() {
                    return;
                }
                continue;
            }
        };
        if let Some(step) = step {
            tracing::warn!(step = %step, "the wall clock stepped; running alert timers keep their real length");
            engine.clock_stepped(step);
        }
        for cmd in first
            .into_iter()
            .chain(std::iter::from_fn(|| rx.try_recv().ok()).take(QUEUE))
        {
            if let Some(grace) = handle(engine, &notifiers, cmd) {
                stop = Some(grace);
            }
        }
        settle(engine, &notifiers, done_rx.try_iter());
        let now = Timestamp::now();
        if Instant::now() >= next_eval {
            if link.is_some() {
                // Silences made through other instances.
                engine.reload_silences(now);
            }
            evaluate(engine, &sources, &notifiers, now);
            next_eval = Instant::now() + engine.config().alerting.evaluation_interval;
        }
        if Instant::now() >= next_flush || stop.is_some() {
            next_flush = Instant::now() + TICK;
            let flushed = engine.flush(now);
            if stop.is_some() {
                engine.flush_resolves(now);
            }
            for out in &flushed.outgoing {
                tracing::info!(notifier = %out.notifier, title = %out.notification.title, alerts = out.notification.alerts.len(), "notification queued");
            }
            attempt_due(engine, &notifiers, &done_tx, now);
        }
        if let Some(grace) = stop {
            // What is on its way gets `grace` to finish; its outcome is recorded.
            let deadline = Instant::now() + grace;
            while engine.delivering() {
                let left = deadline.saturating_duration_since(Instant::now());
                match done_rx.recv_timeout(left) {
                    Ok(first) => settle(engine, &notifiers, std::iter::once(first)),
                    Err(_) => {
                        tracing::warn!("notifications still being sent at shutdown were cut off; they stay in the outbox and go out after the next start");
                        break;
                    }
                }
            }
            return;
        }
    }
}

/// Start the attempts that are due; count the deliveries that expired waiting.
fn attempt_due(
    engine: &mut Engine,
    notifiers: &Notifiers,
    done: &std::sync::mpsc::Sender<(i64, Outcome)>,
    now: Timestamp,
) {
    let (attempts, expired) = engine.due(now);
    for (d, settled) in expired {
        notifiers.count(&d.notifier, &settled);
        tracing::error!(notifier = %d.notifier, group = %d.group_key, attempts = d.attempts, error = d.last_error.as_deref().unwrap_or(""), "notification expired undelivered");
    }
    for a in attempts {
        notifiers.spawn_attempt(a.id, &a.notifier, a.notification, a.previous, done.clone());
    }
    for (notifier, n) in engine.pending_by_notifier() {
        engine
            .metrics()
            .pending
            .with_label_values(&[notifier.as_str()])
            .set(n);
    }
}

/// Record the outcomes of attempts.
fn settle(
    engine: &mut Engine,
    notifiers: &Notifiers,
    outcomes: impl Iterator<Item = (i64, Outcome)>,
) {
    let now = Timestamp::now();
    for (id, outcome) in outcomes {
        let (delivery, settled) = engine.settle(id, outcome, now);
        let Some(d) = delivery else {
            continue;
        };
        notifiers.count(&d.notifier, &settled);
        match &settled {
            Settled::Delivered { .. } => {
                tracing::info!(notifier = %d.notifier, group = %d.group_key, attempts = d.attempts, "notification delivered");
            }
            Settled::Retrying { next_at } => {
                tracing::debug!(notifier = %d.notifier, group = %d.group_key, attempts = d.attempts, next = %next_at, "notification will be tried again");
            }
            Settled::Failed | Settled::Expired => {
                tracing::error!(notifier = %d.notifier, group = %d.group_key, attempts = d.attempts, state = d.state.as_str(), error = d.last_error.as_deref().unwrap_or(""), "notification given up");
            }
            Settled::Unknown => {}
        }
    }
}

fn evaluate(engine: &mut Engine, sources: &Sources, notifiers: &Notifiers, now: Timestamp) {
    let certificates = sources.facts.certificates();
    let own = engine
        .store_error
        .as_ref()
        .filter(|(t, _)| now.duration_since(*t).unsigned_abs() < Duration::from_secs(120))
        .map(|(_, e)| e.clone());
    let facts = Merged {
        facts: sources.facts.as_ref(),
        own,
    };
    let failing = notifiers.failing();
    let untried = notifiers.untried();
    let health: Vec<(String, Option<String>, bool)> = notifiers
        .names()
        .into_iter()
        .map(|n| {
            let e = failing
                .iter()
                .find(|(f, _)| f == &n)
                .map(|(_, e)| e.clone());
            let tried = !untried.contains(&n);
            (n, e, tried)
        })
        .collect();
    engine.evaluate(&Inputs {
        now,
        signals: sources.signals.as_deref(),
        certificates: &certificates,
        facts: &facts,
        notifiers: &health,
    });
}

/// Handle one command; `Some(grace)` to stop.
fn handle(engine: &mut Engine, notifiers: &Notifiers, cmd: Command) -> Option<Duration> {
    let now = Timestamp::now();
    match cmd {
        Command::Probe(ev) => engine.on_probe(&ev),
        Command::Apply(config) => {
            notifiers.update(&config.alerting.notifiers);
            engine.apply(config, now);
        }
        Command::Incidents(tx) => {
            let (open, pending) = engine.open(now);
            let recent = engine.store().recent(RECENT).map_err(Refusal::store);
            let _ = tx.send(recent.map(|recent| {
                Incidents {
                    open: open
                        .into_iter()
                        .map(|(incident, suppressed)| IncidentView {
                            duration_seconds: incident.duration(now).as_secs(),
                            notified_to: engine.reached_by(incident.id),
                            incident,
                            suppressed,
                        })
                        .collect(),
                    pending: pending
                        .into_iter()
                        .map(|(rule, subject)| Pending { rule, subject })
                        .collect(),
                    recent: recent
                        .into_iter()
                        .map(|incident| IncidentView {
                            duration_seconds: incident.duration(now).as_secs(),
                            notified_to: engine.reached_by(incident.id),
                            incident,
                            suppressed: None,
                        })
                        .collect(),
                }
            }));
        }
        Command::Between(from, to, tx) => {
            let _ = tx.send(engine.store().between(from, to).map_err(Refusal::store));
        }
        Command::Silences(tx) => {
            let _ = tx.send(engine.silences().to_vec());
        }
        Command::AddSilence(req, tx) => {
            let _ = tx.send(silence_of(req, now).map_err(Refusal::Invalid).and_then(|s| {
                engine
                    .add_silence(s.clone(), now)
                    .map_err(Refusal::Unavailable)?;
                tracing::info!(id = %s.id, matchers = ?s.matchers, until = %s.ends_at, by = %s.created_by, "silence created");
                Ok(s)
            }));
        }
        Command::Expire(id, tx) => {
            let r = engine
                .expire_silence(&id, now)
                .map(|r| r.map_err(Refusal::Unavailable));
            if let Some(Ok(s)) = &r {
                tracing::info!(id = %s.id, "silence expired");
            }
            let _ = tx.send(r);
        }
        Command::Posts(c) => c.run(engine.store(), now),
        Command::Deliveries(tx) => {
            let _ = tx.send(engine.deliveries().map_err(Refusal::store));
        }
        Command::Stop(grace) => return Some(grace),
    }
    None
}
