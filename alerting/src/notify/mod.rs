//! Notifiers: one module per kind behind the [`Deliver`] trait, and [`Notifiers`], the front
//! the engine and `gatehouse notify-test` use. Sending never blocks the caller
//! ([`Notifiers::spawn_send`]); each attempt has the notifier's timeout, failed attempts are
//! retried with exponential backoff and jitter, and a notifier whose last delivery failed is
//! listed by [`Notifiers::failing`] until its next success.

mod discord;
mod email;
mod error;
mod http;
mod metrics;
mod ntfy;
mod opsgenie;
mod pagerduty;
mod retry;
mod slack;
mod teams;
mod telegram;
mod text;
mod webhook;

pub use error::NotifyError;
pub use metrics::NotifyMetrics;

use crate::Notification;
use async_trait::async_trait;
use gatehouse_config::alerting::notifiers::{Notifier, NotifierKind};
use http::Ctx;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// One kind of notifier: sends one notification, once (retries are the caller's).
#[async_trait]
trait Deliver: Send + Sync {
    /// Deliver `n`; `Ok` once the service accepted it.
    async fn deliver(&self, ctx: &Ctx<'_>, n: &Notification) -> Result<(), NotifyError>;
}

/// The configured notifiers, cheap to clone (an `Arc` inside). One HTTP client serves them
/// all; it survives config reloads.
#[derive(Clone)]
pub struct Notifiers {
    inner: Arc<Inner>,
}

struct Inner {
    client: gatehouse_outbound::Client,
    metrics: NotifyMetrics,
    /// The first retry's delay, in nanoseconds; each next one doubles.
    backoff_nanos: AtomicU64,
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    /// Sends spawned and not finished.
    in_flight: std::sync::atomic::AtomicUsize,
}

/// One notifier: its config, its sender and the outcome of its last delivery.
struct Entry {
    config: Notifier,
    /// The sender, or why it could not be set up.
    sender: Result<Box<dyn Deliver>, String>,
    /// The error of the last delivery, when it failed after every retry.
    last_error: Mutex<Option<String>>,
    /// A delivery was tried (or setting up failed) since start: its health is known.
    tried: std::sync::atomic::AtomicBool,
}

/// The delay before the first retry unless [`Notifiers::with_backoff`] says otherwise.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);

impl Notifiers {
    /// Set up every notifier of `config`. Fails when one cannot be set up (the config check
    /// should have caught it) or the HTTP client cannot be built.
    pub fn new(config: &[Notifier], metrics: NotifyMetrics) -> Result<Notifiers, NotifyError> {
        let mut entries = HashMap::new();
        for c in config {
            let sender = build(c)?;
            metrics.init(&c.name);
            entries.insert(c.name.clone(), Arc::new(Entry::new(c, Ok(sender))));
        }
        Ok(Notifiers {
            inner: Arc::new(Inner {
                client: http::client()?,
                metrics,
                backoff_nanos: AtomicU64::new(nanos(DEFAULT_BACKOFF)),
                entries: RwLock::new(entries),
                in_flight: std::sync::atomic::AtomicUsize::new(0),
            }),
        })
    }

    /// The delay before the first retry (then 2×, 4×, ... up to a minute, with jitter).
    pub fn with_backoff(self, base: Duration) -> Notifiers {
        self.inner
            .backoff_nanos
            .store(nanos(base), Ordering::Relaxed);
        self
    }

    /// Take a reloaded config: unchanged notifiers keep their state (the last error), changed
    /// and new ones are set up afresh, removed ones go. A notifier that cannot be set up is
    /// logged and listed by [`Notifiers::failing`]; sending to it fails.
    pub fn update(&self, config: &[Notifier]) {
        let old = self.entries();
        let mut entries = HashMap::new();
        for c in config {
            let entry = match old.get(&c.name) {
                Some(e) if e.config == *c => e.clone(),
                _ => {
                    let sender = build(c).map_err(|e| {
                        tracing::error!(notifier = %c.name, error = %e, "notifier cannot be set up; fix its settings");
                        e.to_string()
                    });
                    self.inner.metrics.init(&c.name);
                    Arc::new(Entry::new(c, sender))
                }
            };
            entries.insert(c.name.clone(), entry);
        }
        *self
            .inner
            .entries
            .write()
            .unwrap_or_else(PoisonError::into_inner) = entries;
    }

    /// The notifiers' names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.entries().into_keys().collect();
        names.sort();
        names
    }

    /// Send `n` to `name` in the background: the caller never waits. The outcome is logged
    /// and counted; see [`Notifiers::failing`].
    pub fn spawn_send(&self, name: &str, n: Arc<Notification>) {
        let Some(entry) = self.entry(name) else {
            tracing::warn!(notifier = name, title = %n.title, "no notifier has this name; the notification is dropped");
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                notifier = name,
                "cannot send a notification outside the tokio runtime"
            );
            return;
        };
        let inner = self.inner.clone();
        inner.in_flight.fetch_add(1, Ordering::SeqCst);
        runtime.spawn(async move {
            let _ = retry::deliver(&inner, &entry, &n).await;
            inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// One attempt of an outbox delivery, in the background: its outcome goes to `done` with
    /// `id`. `previous` failed attempts came before it; once `1 + retries` have failed in a
    /// row, the notifier is listed by [`Notifiers::failing`] (the `notifier-failing` rule)
    /// until one succeeds.
    pub(crate) fn spawn_attempt(
        &self,
        id: i64,
        name: &str,
        n: Notification,
        previous: u32,
        done: std::sync::mpsc::Sender<(i64, crate::outbox::Outcome)>,
    ) {
        use crate::outbox::Outcome;
        let Some(entry) = self.entry(name) else {
            let error = NotifyError::UnknownNotifier(name.to_string()).to_string();
            let _ = done.send((id, Outcome::Failed { error }));
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            let error = "cannot send outside the tokio runtime".to_string();
            let _ = done.send((
                id,
                Outcome::Retry {
                    error,
                    retry_after: None,
                },
            ));
            return;
        };
        let inner = self.inner.clone();
        inner.in_flight.fetch_add(1, Ordering::SeqCst);
        runtime.spawn(async move {
            let result = retry::once(&inner, &entry, &n).await;
            let outcome = match result {
                Ok(()) => {
                    entry.set_last_error(None);
                    Outcome::Delivered
                }
                Err(e) => {
                    let failing = !e.is_retryable() || previous >= entry.config.retries;
                    tracing::warn!(
                        notifier = %entry.config.name,
                        kind = entry.config.kind.type_name(),
                        title = %n.title,
                        error = %e,
                        attempt = previous + 1,
                        "notification attempt failed; it stays in the outbox"
                    );
                    if failing {
                        entry.set_last_error(Some(e.to_string()));
                    }
                    if e.is_retryable() {
                        Outcome::Retry {
                            retry_after: e.retry_after(),
                            error: e.to_string(),
                        }
                    } else {
                        Outcome::Failed {
                            error: e.to_string(),
                        }
                    }
                }
            };
            let _ = done.send((id, outcome));
            inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Count how an outbox delivery settled.
    pub(crate) fn count(&self, name: &str, settled: &crate::outbox::Settled) {
        use crate::outbox::Settled;
        let m = &self.inner.metrics;
        match settled {
            Settled::Delivered { .. } => m.done(name, true),
            Settled::Retrying { .. } => m.retry(name),
            Settled::Failed => m.done(name, false),
            Settled::Expired => m.expired(name),
            Settled::Unknown => {}
        }
    }

    /// Wait (blocking this thread) until every spawned send has finished, at most `timeout`;
    /// whether they all did. For shutdown, so that a resolve is not cut off mid-retry.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.inner.in_flight.load(Ordering::SeqCst) > 0 {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Send `n` to `name` and wait for the outcome, retries included (`gatehouse
    /// notify-test`).
    pub async fn send(&self, name: &str, n: &Notification) -> Result<(), NotifyError> {
        let entry = self
            .entry(name)
            .ok_or_else(|| NotifyError::UnknownNotifier(name.to_string()))?;
        retry::deliver(&self.inner, &entry, n).await
    }

    /// The notifiers whose last delivery failed after every retry (or that cannot be set
    /// up), with the error, sorted by name.
    pub fn failing(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .entries()
            .into_iter()
            .filter_map(|(name, e)| e.last_error().map(|err| (name, err)))
            .collect();
        out.sort();
        out
    }

    /// The notifiers that have not tried a delivery since start: whether they work is not
    /// known yet (a `notifier-failing` incident restored after a restart stays open until
    /// they try).
    pub fn untried(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries()
            .into_iter()
            .filter(|(_, e)| !e.tried.load(Ordering::SeqCst))
            .map(|(name, _)| name)
            .collect();
        out.sort();
        out
    }

    fn entries(&self) -> HashMap<String, Arc<Entry>> {
        self.inner
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn entry(&self, name: &str) -> Option<Arc<Entry>> {
        self.inner
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }
}

impl Entry {
    fn new(config: &Notifier, sender: Result<Box<dyn Deliver>, String>) -> Entry {
        let last_error = sender.as_ref().err().cloned();
        Entry {
            config: config.clone(),
            tried: std::sync::atomic::AtomicBool::new(last_error.is_some()),
            sender,
            last_error: Mutex::new(last_error),
        }
    }

    fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_last_error(&self, error: Option<String>) {
        self.tried.store(true, Ordering::SeqCst);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }
}

/// The sender of one configured notifier.
fn build(c: &Notifier) -> Result<Box<dyn Deliver>, NotifyError> {
    Ok(match &c.kind {
        NotifierKind::Webhook(w) => Box::new(webhook::Webhook::new(&c.name, w)?),
        NotifierKind::Slack(s) => Box::new(slack::Slack::new(s)),
        NotifierKind::Discord(d) => Box::new(discord::Discord::new(d)),
        NotifierKind::Teams(t) => Box::new(teams::Teams::new(t)),
        NotifierKind::PagerDuty(p) => Box::new(pagerduty::PagerDuty::new(p)),
        NotifierKind::Opsgenie(o) => Box::new(opsgenie::Opsgenie::new(o)),
        NotifierKind::Email(e) => Box::new(email::Email::new(&c.name, e, c.timeout)?),
        NotifierKind::Ntfy(n) => Box::new(ntfy::Ntfy::new(n)),
        NotifierKind::Telegram(t) => Box::new(telegram::Telegram::new(t)),
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
