//! One incident per rule and subject, and the state machine that opens and closes it:
//! ok → pending → firing → resolved, with thresholds, a hold time, a settle time and flap
//! control (a percent state change over a window of checks, and the older openings guard).

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
    /// Bad observations before firing: in a row, or of the last `fire_of`.
    pub fire_count: u32,
    /// See `fire_count`.
    pub fire_of: Option<u32>,
    /// How long it must have been bad before firing.
    pub hold: Duration,
    /// Good observations before resolving: in a row, or of the last `resolve_of`.
    pub resolve_count: u32,
    /// See `resolve_count`.
    pub resolve_of: Option<u32>,
}

/// Whether `count` observations like the newest one (bad or good) are in a row (`streak`
/// long), or among the last `of` of `history`.
fn met(history: u128, count: u32, of: Option<u32>, streak: u32, bad: bool) -> bool {
    match of {
        None => streak >= count,
        Some(of) => {
            let of = of.min(127);
            let bads = (history & ((1u128 << of) - 1)).count_ones();
            let like = if bad { bads } else { of - bads };
            like >= count
        }
    }
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
    /// Flapping by the state-change rate; cleared when the rate falls below `low`.
    rate_flapping: bool,
    /// Flapping by the openings guard; cleared when healthy for its period.
    count_flapping: bool,
    /// When recent incidents opened (within the flapping period).
    opens: VecDeque<Timestamp>,
    /// The latest observations, newest in bit 0, 1 for bad; before the first, good (a
    /// tracker is made at its subject's first bad observation). 128 bits hold the longest
    /// window plus the state before it.
    history: u128,
}

/// `t` moved by `d` (unchanged at the ends of time).
pub(crate) fn shifted(t: Timestamp, d: jiff::SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(t)
}

impl Tracker {
    /// The wall clock stepped by `d`: move the instants this tracker measures from, so that a
    /// `for:` or a success hold keeps its real length.
    pub(crate) fn shift(&mut self, d: jiff::SignedDuration) {
        for t in [&mut self.bad_since, &mut self.good_since]
            .into_iter()
            .flatten()
        {
            *t = shifted(*t, d);
        }
        for t in &mut self.opens {
            *t = shifted(*t, d);
        }
    }
}

/// Nagios' percent state change over the last `window` transitions of `history`: each change
/// weighs from 1.25 (newest) down to 0.75 (oldest), so a subject that flapped a while ago
/// and has been steady since reads lower than one flapping now.
pub(crate) fn percent_change(history: u128, window: u32) -> f64 {
    if window < 2 {
        return 0.0;
    }
    let span = f64::from(window - 1);
    let changes = history ^ (history >> 1);
    let sum: f64 = (0..window.min(127))
        .filter(|i| (changes >> i) & 1 == 1)
        .map(|i| 1.25 - 0.5 * f64::from(i) / span)
        .sum();
    sum * 100.0 / f64::from(window)
}

impl Tracker {
    /// A tracker for an incident that is open (after a restart): bad all along, and still
    /// flapping (as the openings guard, held until calm for its period) when it was.
    pub(crate) fn open(flapping: bool, policy: Policy, since: Timestamp) -> Tracker {
        Tracker {
            firing: true,
            count_flapping: flapping,
            bad_streak: policy.fire_count,
            bad_since: Some(since),
            opens: VecDeque::from([since]),
            history: u128::MAX,
            ..Tracker::default()
        }
    }

    /// Held open (or about to open) as flapping, by either guard.
    pub(crate) fn flapping(&self) -> bool {
        self.rate_flapping || self.count_flapping
    }

    /// Bad and not firing yet.
    pub(crate) fn pending(&self) -> bool {
        !self.firing && self.bad_streak > 0
    }

    /// Healthy, not firing, not flapping, no bad check within the flapping window and no
    /// opening within its period: nothing worth keeping.
    pub(crate) fn idle(&self, now: Timestamp, flapping: Flapping) -> bool {
        let bits = (flapping.window + 1).min(127);
        !self.firing
            && self.bad_streak == 0
            && !self.flapping()
            && self.history & ((1u128 << bits) - 1) == 0
            && self
                .opens
                .back()
                .is_none_or(|t| now.duration_since(*t).unsigned_abs() > flapping.period)
    }

    /// Feed one observation.
    pub(crate) fn observe(
        &mut self,
        bad: bool,
        now: Timestamp,
        policy: Policy,
        flapping: Flapping,
    ) -> Transition {
        self.history = (self.history << 1) | u128::from(bad);
        if flapping.window >= 2 {
            let rate = percent_change(self.history, flapping.window);
            if self.rate_flapping {
                self.rate_flapping = rate >= f64::from(flapping.low);
            } else {
                self.rate_flapping = rate >= f64::from(flapping.high);
            }
        } else {
            self.rate_flapping = false;
        }
        if bad {
            self.good_streak = 0;
            self.good_since = None;
            self.bad_streak = self.bad_streak.saturating_add(1);
            let since = *self.bad_since.get_or_insert(now);
            if self.firing {
                return Transition::Firing;
            }
            let held = now.duration_since(since).unsigned_abs() >= policy.hold;
            let enough = met(
                self.history,
                policy.fire_count,
                policy.fire_of,
                self.bad_streak,
                true,
            );
            if enough && held {
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
            let enough = met(
                self.history,
                policy.resolve_count,
                policy.resolve_of,
                self.good_streak,
                false,
            );
            if !enough {
                return Transition::Firing;
            }
            let good_for = now.duration_since(good_since).unsigned_abs();
            if self.rate_flapping || (self.count_flapping && good_for < flapping.period) {
                return Transition::HeldFlapping;
            }
            if good_for < flapping.settle {
                return Transition::Firing;
            }
            self.firing = false;
            self.count_flapping = false;
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
            self.count_flapping = true;
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
        window: 0,
        high: 20,
        low: 5,
        settle: Duration::ZERO,
    };

    #[test]
    fn thresholds_fire_and_resolve() {
        let p = Policy {
            fire_count: 3,
            hold: Duration::ZERO,
            resolve_count: 2,
            fire_of: None,
            resolve_of: None,
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
            fire_of: None,
            resolve_of: None,
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
            fire_of: None,
            resolve_of: None,
        };
        let flap = Flapping {
            threshold: 3,
            period: Duration::from_secs(100),
            ..NO_FLAP
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
        assert!(t.flapping(), "third opening within 100 s");
        assert_eq!(t.observe(false, at(25), p, flap), Transition::HeldFlapping);
        assert_eq!(t.observe(true, at(30), p, flap), Transition::Firing);
        assert_eq!(t.observe(false, at(35), p, flap), Transition::HeldFlapping);
        assert_eq!(t.observe(false, at(134), p, flap), Transition::HeldFlapping);
        assert_eq!(t.observe(false, at(135), p, flap), Transition::Resolve);
        assert!(!t.flapping());
    }

    /// The scenario: probes every second, thresholds 3/2, down 5 s / up 3 s.
    fn flap(t: &mut Tracker, p: Policy, f: Flapping, from: i64, to: i64) -> Vec<(i64, Transition)> {
        (from..to)
            .map(|s| (s, t.observe(s.rem_euclid(8) < 5, at(s), p, f)))
            .filter(|(_, x)| {
                !matches!(
                    x,
                    Transition::None | Transition::Pending | Transition::Firing
                )
            })
            .collect()
    }

    const P32: Policy = Policy {
        fire_count: 3,
        hold: Duration::ZERO,
        resolve_count: 2,
        fire_of: None,
        resolve_of: None,
    };

    const RATE: Flapping = Flapping {
        threshold: 0,
        period: Duration::from_secs(60),
        window: 20,
        high: 20,
        low: 5,
        settle: Duration::from_secs(4),
    };

    #[test]
    fn percent_change_weighs_recent_changes_more() {
        assert_eq!(percent_change(0, 20), 0.0);
        assert_eq!(percent_change(u128::MAX, 20), 0.0);
        // One change, newest: weight 1.25 of 20 transitions.
        assert!((percent_change(0b1, 20) - 6.25).abs() < 1e-9);
        // Bad for the last 20 checks: the change 19 transitions back weighs 0.75.
        assert!((percent_change((1 << 20) - 1, 20) - 3.75).abs() < 1e-9);
        // Beyond the window it no longer counts.
        assert_eq!(percent_change((1 << 25) - 1, 20), 0.0);
        // Alternating every check: every transition changes, 100 %.
        assert!((percent_change(0x5555_5555_5555, 20) - 100.0).abs() < 1e-9);
        assert_eq!(percent_change(0b1, 0), 0.0);
    }

    #[test]
    fn a_single_outage_is_not_flapping() {
        let mut t = Tracker::default();
        for s in 0..5 {
            t.observe(true, at(s), P32, RATE);
        }
        assert!(t.firing && !t.flapping());
        assert_eq!(t.observe(false, at(5), P32, RATE), Transition::Firing);
        assert_eq!(t.observe(false, at(6), P32, RATE), Transition::Firing);
        assert!(!t.flapping(), "two changes stay under 20 %");
        // Settled after 4 s of good checks, not at the second good one.
        assert_eq!(t.observe(false, at(8), P32, RATE), Transition::Firing);
        assert_eq!(t.observe(false, at(9), P32, RATE), Transition::Resolve);
    }

    #[test]
    fn down_5s_up_3s_holds_from_the_second_cycle() {
        let mut t = Tracker::default();
        let seen = flap(&mut t, P32, RATE, 0, 60);
        // One opening, and no resolve for the whole minute: held by the settle time in the
        // first cycle, as flapping from the second one.
        assert_eq!(seen[0], (2, Transition::Fire), "{seen:?}");
        assert!(
            seen[1..]
                .iter()
                .all(|(s, x)| *x == Transition::HeldFlapping && *s > 13),
            "{seen:?}"
        );
        // Flapping from the second cycle's recovery (four changes: 21.6 %).
        let mut t = Tracker::default();
        flap(&mut t, P32, RATE, 0, 13);
        assert!(!t.flapping(), "three changes: 17.3 %");
        flap(&mut t, P32, RATE, 13, 14);
        assert!(t.flapping(), "the second cycle's recovery marks it");
        let mut t = Tracker::default();
        flap(&mut t, P32, RATE, 0, 60);
        assert!(t.flapping() && t.firing);
        // Stable again: good from 60 on. The rate falls below 5 % once the last change is
        // about half a window back; only then (and after the settle time) it resolves.
        let mut resolved = None;
        for s in 61..120 {
            match t.observe(false, at(s), P32, RATE) {
                Transition::Firing => assert_eq!(s, 61, "below the success threshold"),
                Transition::HeldFlapping => assert!(t.flapping()),
                Transition::Resolve => {
                    resolved = Some(s);
                    break;
                }
                other => panic!("{other:?} at {s}"),
            }
        }
        let resolved = resolved.unwrap_or(0);
        assert!((70..90).contains(&resolved), "resolved at {resolved}");
        assert!(!t.flapping());
    }

    #[test]
    fn flapping_that_settles_bad_stays_firing_and_unflagged() {
        let mut t = Tracker::default();
        flap(&mut t, P32, RATE, 0, 60);
        assert!(t.flapping());
        let mut cleared = None;
        for s in 60..120 {
            assert_eq!(t.observe(true, at(s), P32, RATE), Transition::Firing);
            if !t.flapping() {
                cleared = Some(s);
                break;
            }
        }
        assert!(cleared.is_some(), "stable bad ends flapping");
        assert!(t.firing);
    }

    #[test]
    fn without_settle_the_first_cycle_resolves_and_the_rate_still_marks_it() {
        let no_settle = Flapping {
            settle: Duration::ZERO,
            ..RATE
        };
        let mut t = Tracker::default();
        let seen = flap(&mut t, P32, no_settle, 0, 60);
        assert_eq!(
            &seen[..3],
            [
                (2, Transition::Fire),
                (6, Transition::Resolve),
                (10, Transition::Fire)
            ],
            "{seen:?}"
        );
        // From the second recovery on it is held: no more openings in the minute.
        assert!(
            seen[3..]
                .iter()
                .all(|(_, x)| *x == Transition::HeldFlapping),
            "{seen:?}"
        );
    }

    const THREE_OF_FIVE: Policy = Policy {
        fire_count: 3,
        fire_of: Some(5),
        hold: Duration::ZERO,
        resolve_count: 2,
        resolve_of: None,
    };

    #[test]
    fn three_of_five_fires_on_a_target_failing_every_other_check() {
        let mut t = Tracker::default();
        let seen: Vec<Transition> = (0..5)
            .map(|s| t.observe(s % 2 == 0, at(s), THREE_OF_FIVE, NO_FLAP))
            .collect();
        use Transition::*;
        assert_eq!(seen, [Pending, None, Pending, None, Fire]);
        // Consecutive 3 never fires on the same pattern.
        let mut t = Tracker::default();
        assert!((0..50).all(|s| t.observe(s % 2 == 0, at(s), P32, NO_FLAP) != Fire));
        // Two bad in the last five is not enough, however long it goes on.
        let mut t = Tracker::default();
        assert!((0..50).all(|s| t.observe(s % 3 == 0, at(s), THREE_OF_FIVE, NO_FLAP) != Fire));
    }

    #[test]
    fn k_of_n_resolves_with_good_checks_of_the_last_n() {
        let p = Policy {
            resolve_count: 3,
            resolve_of: Some(4),
            ..THREE_OF_FIVE
        };
        let mut t = Tracker::default();
        for s in 0..3 {
            t.observe(true, at(s), p, NO_FLAP);
        }
        assert!(t.firing);
        assert_eq!(t.observe(false, at(3), p, NO_FLAP), Transition::Firing);
        assert_eq!(t.observe(false, at(4), p, NO_FLAP), Transition::Firing);
        assert_eq!(t.observe(true, at(5), p, NO_FLAP), Transition::Firing);
        // good, good, bad, good: three of the last four.
        assert_eq!(t.observe(false, at(6), p, NO_FLAP), Transition::Resolve);
        // After a restart the history counts as bad: three good checks make three of four.
        let mut t = Tracker::open(false, p, at(10));
        assert_eq!(t.observe(false, at(11), p, NO_FLAP), Transition::Firing);
        assert_eq!(t.observe(false, at(12), p, NO_FLAP), Transition::Firing);
        assert_eq!(t.observe(false, at(13), p, NO_FLAP), Transition::Resolve);
    }
}
