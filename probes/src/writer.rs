//! The store writer: a thread of its own that takes results from a bounded queue and writes
//! them in batches (one transaction per batch), prunes old rows every hour, and keeps going
//! when the store fails (logged at most once a minute, counted).

use crate::metrics::ProbeMetrics;
use crate::result::CheckResult;
use crate::store::Store;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const QUEUE: usize = 65_536;
const BATCH: usize = 2_000;
const BATCH_DELAY: Duration = Duration::from_millis(500);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

enum Msg {
    Result(Arc<CheckResult>),
    State(String, String),
    Flush(SyncSender<()>),
}

/// The sending side.
pub(crate) struct Writer {
    tx: SyncSender<Msg>,
    metrics: ProbeMetrics,
    last_error: LastError,
}

/// The latest store failure and when it happened.
pub(crate) type LastError = Arc<std::sync::Mutex<Option<(SystemTime, String)>>>;

impl Writer {
    pub(crate) fn start(store: Arc<dyn Store>, metrics: ProbeMetrics) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(QUEUE);
        let m = metrics.clone();
        let last_error = LastError::default();
        let last = last_error.clone();
        std::thread::Builder::new()
            .name("gatehouse-probe-store".into())
            .spawn(move || run(store, rx, m, last))?;
        Ok(Writer {
            tx,
            metrics,
            last_error,
        })
    }

    /// The latest store failure within `recent`, as text.
    pub(crate) fn last_error(&self, recent: Duration) -> Option<String> {
        let guard = self.last_error.lock().ok()?;
        let (at, e) = guard.as_ref()?;
        (at.elapsed().unwrap_or_default() < recent).then(|| e.clone())
    }

    pub(crate) fn send(&self, result: Arc<CheckResult>) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Msg::Result(result)) {
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some((SystemTime::now(), "the write queue is full".into()));
            }
            self.metrics
                .store_errors
                .with_label_values(&["queue_full"])
                .inc();
        }
    }

    pub(crate) fn put_state(&self, key: String, value: String) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Msg::State(key, value)) {
            self.metrics
                .store_errors
                .with_label_values(&["queue_full"])
                .inc();
        }
    }

    /// Wait until everything queued so far is written (or `timeout`).
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = sync_channel(1);
        if self.tx.send(Msg::Flush(done)).is_err() {
            return false;
        }
        wait.recv_timeout(timeout).is_ok()
    }
}

struct Failures {
    metrics: ProbeMetrics,
    last_log: Option<Instant>,
    last_error: LastError,
}

impl Failures {
    fn failed(&mut self, op: &str, error: &dyn std::fmt::Display) {
        self.metrics.store_errors.with_label_values(&[op]).inc();
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some((SystemTime::now(), format!("{op}: {error}")));
        }
        if self
            .last_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.last_log = Some(Instant::now());
            tracing::error!(op, %error, "the probe store failed; probing goes on, results of this batch are lost (logged at most once a minute, counted in gatehouse_probe_store_errors_total)");
        }
    }
}

fn run(store: Arc<dyn Store>, rx: Receiver<Msg>, metrics: ProbeMetrics, last_error: LastError) {
    let mut failures = Failures {
        metrics,
        last_log: None,
        last_error,
    };
    let mut batch: Vec<Arc<CheckResult>> = Vec::with_capacity(BATCH);
    let mut last_prune = Instant::now();
    if let Err(e) = store.prune(SystemTime::now()) {
        failures.failed("prune", &e);
    }
    loop {
        let deadline = Instant::now() + BATCH_DELAY;
        let mut flush: Option<SyncSender<()>> = None;
        let mut closed = false;
        while batch.len() < BATCH {
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Msg::Result(r)) => batch.push(r),
                Ok(Msg::State(k, v)) => {
                    if let Err(e) = store.put_state(&k, &v) {
                        failures.failed("write", &e);
                    }
                }
                Ok(Msg::Flush(done)) => {
                    flush = Some(done);
                    break;
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.write(&batch) {
                failures.failed("write", &e);
            }
            batch.clear();
        }
        if let Some(done) = flush {
            let _ = done.send(());
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            if let Err(e) = store.prune(SystemTime::now()) {
                failures.failed("prune", &e);
            }
        }
        if closed {
            return;
        }
    }
}
