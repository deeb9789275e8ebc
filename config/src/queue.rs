//! A bounded queue between threads whose memory follows what it holds.
//!
//! `std::sync::mpsc::sync_channel(n)` allocates and touches all `n` slots at creation: the
//! alerting and probe-store queues (65,536 commands each) were 14 MB of RSS at rest, a third
//! of the process. This one is std's unbounded channel (blocks of 31 slots, allocated as
//! items arrive and freed as they are taken) with a count that refuses `try_send` at the
//! bound. It lives here because every crate that needs it depends on this one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SendError, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// A queue holding at most `capacity` items offered with [`Sender::try_send`].
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    let len = Arc::new(AtomicUsize::new(0));
    (
        Sender {
            tx,
            len: len.clone(),
            capacity,
        },
        Receiver { rx, len },
    )
}

/// The sending side; clones share the bound.
#[derive(Debug)]
pub struct Sender<T> {
    tx: mpsc::Sender<T>,
    len: Arc<AtomicUsize>,
    capacity: usize,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            len: self.len.clone(),
            capacity: self.capacity,
        }
    }
}

impl<T> Sender<T> {
    /// Queue `item` unless the queue holds `capacity` items already; never blocks.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        if self.len.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.len.fetch_sub(1, Ordering::AcqRel);
            return Err(TrySendError::Full(item));
        }
        self.tx.send(item).map_err(|SendError(item)| {
            self.len.fetch_sub(1, Ordering::AcqRel);
            TrySendError::Disconnected(item)
        })
    }

    /// Queue `item` past the bound: for rare control messages (a new config, a flush) that
    /// must not be lost or wait behind a full queue.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        self.len.fetch_add(1, Ordering::AcqRel);
        self.tx.send(item).inspect_err(|_| {
            self.len.fetch_sub(1, Ordering::AcqRel);
        })
    }
}

/// The receiving side.
#[derive(Debug)]
pub struct Receiver<T> {
    rx: mpsc::Receiver<T>,
    len: Arc<AtomicUsize>,
}

impl<T> Receiver<T> {
    /// The next item, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).inspect(|_| self.taken())
    }

    /// The next item if one is queued.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv().inspect(|_| self.taken())
    }

    fn taken(&self) {
        self.len.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_send_refuses_at_the_bound_and_takes_again_after_a_receive() {
        let (tx, rx) = bounded(2);
        let other = tx.clone();
        assert!(tx.try_send(1).is_ok());
        assert!(other.try_send(2).is_ok());
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        // A control message goes past the bound.
        assert!(tx.send(4).is_ok());
        assert_eq!(rx.try_recv(), Ok(1));
        // 2 and 4 are queued: still full.
        assert!(matches!(tx.try_send(5), Err(TrySendError::Full(5))));
        assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Ok(2));
        assert!(tx.try_send(6).is_ok());
        assert_eq!(rx.try_recv(), Ok(4));
        assert_eq!(rx.try_recv(), Ok(6));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn a_gone_receiver_is_disconnected_and_does_not_count() {
        let (tx, rx) = bounded(1);
        drop(rx);
        assert!(matches!(tx.try_send(1), Err(TrySendError::Disconnected(1))));
        assert!(tx.send(2).is_err());
        assert_eq!(tx.len.load(Ordering::Acquire), 0);
    }
}
