//! The store writer: a thread of its own that takes results from a bounded queue and writes
//! them in batches (one transaction per batch), prunes old rows every hour, and keeps going
//! when the store fails (logged at most once a minute, counted). Results the store refused
//! stay in a bounded buffer (the oldest dropped first, counted) and are written when it
//! answers again.

use crate::metrics::ProbeMetrics;
use crate::result::CheckResult;
use crate::store::Store;
use gatehouse_config::queue::{self, Receiver, Sender};
use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const QUEUE: usize = 65_536;
const BATCH: usize = 2_000;
const BATCH_DELAY: Duration = Duration::from_millis(500);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The longest wait between two attempts to write the buffer to a failing store.
const RETRY_MAX: Duration = Duration::from_secs(5);

enum Msg {
    Result(Arc<CheckResult>),
    State(String, String),
    Flush(SyncSender<()>),
}

/// The sending side.
pub(crate) struct Writer {
    tx: Sender<Msg>,
    metrics: ProbeMetrics,
    last_error: LastError,
}

/// The latest store failure and when it happened.
pub(crate) type LastError = Arc<std::sync::Mutex<Option<(SystemTime, String)>>>;

impl Writer {
    /// Start the writer thread; `buffer` results at most are kept while the store fails.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        metrics: ProbeMetrics,
        buffer: usize,
    ) -> std::io::Result<Self> {
        let (tx, rx) = queue::bounded(QUEUE);
        let m = metrics.clone();
        let last_error = LastError::default();
        let last = last_error.clone();
        std::thread::Builder::new()
            .name("gatehouse-probe-store".into())
            .spawn(move || run(store, rx, m, last, buffer))?;
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
            tracing::error!(op, %error, "the probe store failed; probing goes on, results are kept in memory (up to store.buffer) and written when it answers again (logged at most once a minute, counted in gatehouse_probe_store_errors_total)");
        }
    }
}

/// Results the store has not taken yet, oldest first, at most `cap`.
struct Backlog {
    results: VecDeque<Arc<CheckResult>>,
    cap: usize,
    /// When to try the store again after a failure, and the wait after that.
    retry: Option<(Instant, Duration)>,
}

impl Backlog {
    fn push(&mut self, r: Arc<CheckResult>, metrics: &ProbeMetrics) {
        if self.results.len() >= self.cap {
            self.results.pop_front();
            metrics
                .store_errors
                .with_label_values(&["buffer_full"])
                .inc();
        }
        if self.cap > 0 {
            self.results.push_back(r);
        } else {
            metrics
                .store_errors
                .with_label_values(&["buffer_full"])
                .inc();
        }
    }

    fn due(&self) -> bool {
        self.retry.is_none_or(|(at, _)| Instant::now() >= at)
    }

    /// Write what is kept (in batches); on failure keep it and wait longer next time.
    fn write(&mut self, store: &dyn Store, failures: &mut Failures, force: bool) {
        while !self.results.is_empty() && (force || self.due()) {
            let n = self.results.len().min(BATCH);
            let batch: Vec<_> = self.results.iter().take(n).cloned().collect();
            match store.write(&batch) {
                Ok(()) => {
                    self.results.drain(..n);
                    if self.retry.take().is_some() {
                        tracing::info!(
                            left = self.results.len(),
                            "the probe store answers again; buffered results are being written"
                        );
                    }
                }
                Err(e) => {
                    failures.failed("write", &e);
                    let wait = self
                        .retry
                        .map_or(Duration::from_millis(500), |(_, w)| (w * 2).min(RETRY_MAX));
                    self.retry = Some((Instant::now() + wait, wait));
                    break;
                }
            }
        }
        failures
            .metrics
            .buffered
            .set(i64::try_from(self.results.len()).unwrap_or(i64::MAX));
    }
}

fn run(
    store: Arc<dyn Store>,
    rx: Receiver<Msg>,
    metrics: ProbeMetrics,
    last_error: LastError,
    buffer: usize,
) {
    let mut failures = Failures {
        metrics: metrics.clone(),
        last_log: None,
        last_error,
    };
    let mut backlog = Backlog {
        results: VecDeque::new(),
        cap: buffer,
        retry: None,
    };
    let mut last_prune = Instant::now();
    if let Err(e) = store.prune(SystemTime::now()) {
        failures.failed("prune", &e);
    }
    loop {
        let deadline = Instant::now() + BATCH_DELAY;
        let mut flush: Option<SyncSender<()>> = None;
        let mut closed = false;
        let mut received = 0;
        while received < BATCH {
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Msg::Result(r)) => {
                    received += 1;
                    backlog.push(r, &metrics);
                }
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
        // A flush (shutdown, tests) tries at once; otherwise a failing store is retried
        // with a growing wait.
        backlog.write(&*store, &mut failures, flush.is_some() || closed);
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
