//! The accept loop's pause after an error, and a gate that lets a log line through at most
//! once per period (counting what it held back).

use std::time::Duration;
use tokio::time::Instant;

/// First pause after an accept error.
pub(crate) const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// Longest pause between accept attempts while they keep failing.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(1);
/// Accept errors are logged at most this often.
pub(crate) const ERROR_LOG_EVERY: Duration = Duration::from_secs(1);

/// Pauses of 10 ms doubling to 1 s while accepts fail; back to 10 ms after a success.
#[derive(Debug)]
pub struct AcceptBackoff {
    next: Duration,
    log: LogGate,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff {
            next: FIRST_PAUSE,
            log: LogGate::new(ERROR_LOG_EVERY),
        }
    }
}

impl AcceptBackoff {
    /// After a failed accept at `now`: how long to pause, and `Some(n)` when a line should be
    /// logged (`n` errors were not logged since the last line).
    pub fn on_error(&mut self, now: Instant) -> (Duration, Option<u64>) {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_PAUSE);
        (pause, self.log.ready(now))
    }

    /// After a successful accept (the log gate keeps its period: errors that alternate with
    /// successes are still logged at most once a second).
    pub fn on_success(&mut self) {
        self.next = FIRST_PAUSE;
    }
}

/// Lets one event through per `every`; counts the others.
#[derive(Debug)]
pub struct LogGate {
    every: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl LogGate {
    pub fn new(every: Duration) -> Self {
        LogGate {
            every,
            last: None,
            held_back: 0,
        }
    }

    /// `Some(events held back since the last one let through)` when this one may be logged.
    pub fn ready(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.every => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }
}
