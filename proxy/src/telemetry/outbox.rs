//! A bounded queue in front of a slow sender (an OTLP collector, Sentry), drained by one
//! thread of its own. Pushing never blocks: when the queue is full the item is dropped and
//! counted, so an exporter that is down or slow cannot slow the request path.

use gatehouse_config::queue::{self, Receiver, Sender};
use prometheus::IntCounter;
use std::sync::mpsc::{self, RecvTimeoutError, TrySendError};
use std::time::{Duration, Instant};

/// Where the items go. Runs on the outbox's thread, inside its single-threaded runtime.
pub(crate) trait Sink<T>: Send + 'static {
    /// Send one batch; the sink counts what it could not deliver.
    fn send(&mut self, rt: &tokio::runtime::Runtime, batch: Vec<T>);
}

enum Msg<T> {
    Item(T),
    Flush(mpsc::Sender<()>),
}

/// The sending side, cheap to share.
pub(crate) struct Outbox<T> {
    tx: Sender<Msg<T>>,
    queue_full: IntCounter,
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        Outbox {
            tx: self.tx.clone(),
            queue_full: self.queue_full.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Outbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}

/// How an outbox batches.
#[derive(Clone, Copy)]
pub(crate) struct Batching {
    /// Items the queue holds.
    pub capacity: usize,
    /// Items per batch.
    pub max_batch: usize,
    /// Longest wait before a partial batch is sent.
    pub max_delay: Duration,
}

impl<T: Send + 'static> Outbox<T> {
    /// Start the thread `name`. `queue_full` counts the items dropped because the queue was full.
    pub(crate) fn start(
        name: &str,
        batching: Batching,
        queue_full: IntCounter,
        sink: impl Sink<T>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = queue::bounded(batching.capacity.max(1));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || drain(rx, rt, batching, sink))?;
        Ok(Outbox { tx, queue_full })
    }

    /// Queue `item`; `false` (and counted) when the queue is full or the thread is gone.
    pub(crate) fn push(&self, item: T) -> bool {
        match self.tx.try_send(Msg::Item(item)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queue_full.inc();
                false
            }
        }
    }

    /// Wait until everything queued so far was handed to the sink, at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = mpsc::channel();
        let deadline = Instant::now() + timeout;
        // The flush request goes past the bound: it must get into a full queue.
        if self.tx.send(Msg::Flush(done)).is_err() {
            return false;
        }
        wait.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

fn drain<T>(
    rx: Receiver<Msg<T>>,
    rt: tokio::runtime::Runtime,
    b: Batching,
    mut sink: impl Sink<T>,
) {
    let mut batch = Vec::with_capacity(b.max_batch);
    let mut deadline = Instant::now() + b.max_delay;
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Msg::Item(item)) => {
                batch.push(item);
                if batch.len() >= b.max_batch {
                    sink.send(&rt, std::mem::take(&mut batch));
                    deadline = Instant::now() + b.max_delay;
                }
            }
            Ok(Msg::Flush(done)) => {
                if !batch.is_empty() {
                    sink.send(&rt, std::mem::take(&mut batch));
                }
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) => {
                if !batch.is_empty() {
                    sink.send(&rt, std::mem::take(&mut batch));
                }
                deadline = Instant::now() + b.max_delay;
            }
            Err(RecvTimeoutError::Disconnected) => {
                if !batch.is_empty() {
                    sink.send(&rt, batch);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Slow(Arc<Mutex<Vec<usize>>>, Duration);

    impl Sink<u32> for Slow {
        fn send(&mut self, _rt: &tokio::runtime::Runtime, batch: Vec<u32>) {
            std::thread::sleep(self.1);
            self.0.lock().expect("lock").push(batch.len());
        }
    }

    #[test]
    fn batches_up_to_the_limit_and_flushes_the_rest() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let dropped = IntCounter::new("d", "d").expect("counter");
        let b = Batching {
            capacity: 100,
            max_batch: 4,
            max_delay: Duration::from_secs(60),
        };
        let out = Outbox::start(
            "test-outbox",
            b,
            dropped.clone(),
            Slow(sent.clone(), Duration::ZERO),
        )
        .expect("start");
        for i in 0..10 {
            assert!(out.push(i));
        }
        assert!(out.flush(Duration::from_secs(5)));
        assert_eq!(*sent.lock().expect("lock"), vec![4, 4, 2]);
        assert_eq!(dropped.get(), 0);
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let dropped = IntCounter::new("d", "d").expect("counter");
        let b = Batching {
            capacity: 2,
            max_batch: 1,
            max_delay: Duration::from_secs(60),
        };
        // The sink takes 200 ms per item, so 50 pushes in a row overflow the queue of 2.
        let out = Outbox::start(
            "test-outbox",
            b,
            dropped.clone(),
            Slow(sent, Duration::from_millis(200)),
        )
        .expect("start");
        let accepted = (0..50).filter(|i| out.push(*i)).count();
        assert!(accepted <= 4, "accepted {accepted}");
        assert_eq!(dropped.get() as usize, 50 - accepted);
    }
}
