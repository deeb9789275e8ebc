//! One incident per rule and subject, and the state machine that opens and closes it:
//! ok → pending → firing → resolved, with thresholds, a hold time and the flapping guard.

use gatehouse_config::alerting::{Flapping, Severity};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// An incident: opened when a rule starts firing for a subject, closed when it resolves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// Stable id (the store's row id).
    pub id: i64,
    /// The rule.
    pub rule: String,
    /// `probe`, `route`, `certificate` or `gatehouse`.
    pub kind: String,
    /// What it is about.
    pub subject: String,
    /// Severity.
    pub severity: Severity,
    /// Every label.
    pub labels: BTreeMap<String, String>,
    /// The summary, rendered with the latest value.
    pub summary: String,
    /// The latest measured value.
    pub value: String,
    /// The value when it opened: why it started.
    pub cause: String,
    /// Runbook link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// When it started firing.
    pub started_at: Timestamp,
    /// When it resolved.
    pub ended_at: Option<Timestamp>,
    /// Held open by the flapping guard.
    pub flapping: bool,
    /// A firing notification for it reached at least one notifier.
    pub notified: bool,
    /// A firing notification for it was handed to the outbox (delivered or still tried).
    #[serde(skip)]
    pub queued: bool,
    /// The last notification (firing or reminder) queued with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_notified: Option<Timestamp>,
}

impl Incident {
    /// How long it lasted (so far).
    pub fn duration(&self, now: Timestamp) -> Duration {
        let end = self.ended_at.unwrap_or(now);
        end.duration_since(self.started_at).unsigned_abs()
    }
}

/// When a tracker fires and resolves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Policy {
    /// Bad observations in a row before firing.
    pub fire_count: u32,
    /// How long it must have been bad before firing.
    pub hold: Duration,
    /// Good observations in a row before resolving.
    pub resolve_count: u32,
}

/// What an observation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Nothing changed.
    None,
    /// Bad, but not for long enough yet.
    Pending,
    /// Starts firing: open an incident.
    Fire,
    /// Still firing (the value may have changed).
    Firing,
    /// Resolves: close the incident.
    Resolve,
    /// Good again, but held open by the flapping guard.
    HeldFlapping,
}

/// The state of one rule for one subject.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tracker {
    bad_streak: u32,
    good_streak: u32,
    bad_since: Option<Timestamp>,
    good_since: Option<Timestamp>,
    /// Whether an incident is open.
    pub firing: bool,
    /// Held open as flapping.
    pub flapping: bool,
    /// When recent incidents opened (within the flapping period).
    opens: VecDeque<Timestamp>,
}

impl Tracker {
    /// A tracker for an incident that is open (after a restart).
    pub(crate) fn open(flapping: bool, policy: Policy, since: Timestamp) -> Tracker {
        Tracker {
            firing: true,
            flapping,
            bad_streak: policy.fire_count,
            bad_since: Some(since),
            opens: VecDeque::from([since]),
            ..Tracker::default()
        }
    }

    /// Bad and not firing yet.
    pub(crate) fn pending(&self) -> bool {
        !self.firing && self.bad_streak > 0
    }

    /// Healthy, not firing, and no opening within `period`: nothing worth keeping.
    pub(crate) fn idle(&self, now: Timestamp, period: Duration) -> bool {
        !self.firing
            && self.bad_streak == 0
            && self
                .opens
                .back()
                .is_none_or(|t| now.duration_since(*t).unsigned_abs() > period)
    }

    /// Feed one observation.
    pub(crate) fn observe(
        &mut self,
        bad: bool,
        now: Timestamp,
        policy: Policy,
        flapping: Flapping,
    ) -> Transition {
        if bad {
            self.good_streak = 0;
            self.good_since = None;
            self.bad_streak = self.bad_streak.saturating_add(1);
            let since = *self.bad_since.get_or_insert(now);
            if self.firing {
                return Transition::Firing;
            }
            let held = now.duration_since(since).unsigned_abs() >= policy.hold;
            if self.bad_streak >= policy.fire_count && held {
                self.firing = true;
                self.note_open(now, flapping);
                Transition::Fire
            } else {
                Transition::Pending
            }
        } else {
            self.bad_streak = 0;
            self.bad_since = None;
            self.good_streak = self.good_streak.saturating_add(1);
            let good_since = *self.good_since.get_or_insert(now);
            if !self.firing {
                return Transition::None;
            }
            if self.good_streak < policy.resolve_count {
                return Transition::Firing;
            }
            if self.flapping && now.duration_since(good_since).unsigned_abs() < flapping.period {
                return Transition::HeldFlapping;
            }
            self.firing = false;
            self.flapping = false;
            Transition::Resolve
        }
    }

    /// Count an opening; too many within the period mark the tracker flapping.
    fn note_open(&mut self, now: Timestamp, flapping: Flapping) {
        let period = SignedDuration::try_from(flapping.period).unwrap_or(SignedDuration::MAX);
        while let Some(first) = self.opens.front() {
            if now.duration_since(*first) > period {
                self.opens.pop_front();
            } else {
                break;
            }
        }
        self.opens.push_back(now);
        if flapping.threshold > 0 && self.opens.len() >= flapping.threshold as usize {
            self.flapping = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    const NO_FLAP: Flapping = Flapping {
        threshold: 0,
        period: Duration::from_secs(60),
    };

    #[test]
    fn thresholds_fire_and_resolve() {
        let p = Policy {
            fire_count: 3,
            hold: Duration::ZERO,
            resolve_count: 2,
        };
        let mut t = Tracker::default();
        assert_eq!(t.observe(true, at(0), p, NO_FLAP), Transition::Pending);
        assert_eq!(t.observe(false, at(1), p, NO_FLAP), Transition::None);
        assert_eq!(t.observe(true, at(2), p, NO_FLAP), Transition::Pending);
        assert_eq!(t.observe(true, at(3), p, NO_FLAP), Transition::Pending);
        assert_eq!(t.observe(true, at(4), p, NO_FLAP), Transition::Fire);
        assert_eq!(t.observe(true, at(5), p, NO_FLAP), Transition::Firing);
        assert_eq!(t.observe(false, at(6), p, NO_FLAP), Transition::Firing);
        assert_eq!(t.observe(true, at(7), p, NO_FLAP), Transition::Firing);
        assert_eq!(t.observe(false, at(8), p, NO_FLAP), Transition::Firing);
        assert_eq!(t.observe(false, at(9), p, NO_FLAP), Transition::Resolve);
        assert!(!t.firing);
    }

    #[test]
    fn hold_time_must_pass() {
        let p = Policy {
            fire_count: 1,
            hold: Duration::from_secs(60),
            resolve_count: 1,
        };
        let mut t = Tracker::default();
        assert_eq!(t.observe(true, at(0), p, NO_FLAP), Transition::Pending);
        assert_eq!(t.observe(true, at(30), p, NO_FLAP), Transition::Pending);
        assert_eq!(t.observe(true, at(60), p, NO_FLAP), Transition::Fire);
        assert_eq!(t.observe(false, at(75), p, NO_FLAP), Transition::Resolve);
        // A new bad spell starts the hold again.
        assert_eq!(t.observe(true, at(80), p, NO_FLAP), Transition::Pending);
    }

    #[test]
    fn flapping_holds_the_incident_open() {
        let p = Policy {
            fire_count: 1,
            hold: Duration::ZERO,
            resolve_count: 1,
        };
        let flap = Flapping {
            threshold: 3,
            period: Duration::from_secs(100),
        };
        let mut t = Tracker::default();
        for i in 0..2 {
            assert_eq!(t.observe(true, at(i * 10), p, flap), Transition::Fire);
            assert_eq!(
                t.observe(false, at(i * 10 + 5), p, flap),
                Transition::Resolve
            );
        }
        assert_eq!(t.observe(true, at(20), p, flap), Transition::Fire);
        assert!(t.flapping, "third opening within 100 s");
        assert_eq!(t.observe(false, at(25), p, flap), Transition::HeldFlapping);
        assert_eq!(t.observe(true, at(30), p, flap), Transition::Firing);
        assert_eq!(t.observe(false, at(35), p, flap), Transition::HeldFlapping);
        assert_eq!(t.observe(false, at(134), p, flap), Transition::HeldFlapping);
        assert_eq!(t.observe(false, at(135), p, flap), Transition::Resolve);
        assert!(!t.flapping);
    }
}
