//! Wall-clock steps. The engine keeps wall time (incidents, silences and maintenance windows
//! are about the calendar), but its timers (`for:`, success holds, grouping, settle) must
//! measure real elapsed time: when NTP or an operator steps the clock, a `for: 5m` must not
//! fire at once (a step forward) or wait an hour longer (a step back). The runtime watches the
//! wall clock against the monotonic one and, on a step, moves the engine's timers with it
//! ([`crate::engine::Engine::clock_stepped`]).

use jiff::{SignedDuration, Timestamp};
use std::time::Instant;

/// Larger gaps between the two clocks are steps; NTP's slewing (at most 500 ppm) never gets
/// near this between two looks 100 ms apart.
const STEP: SignedDuration = SignedDuration::from_secs(1);

/// Watches the wall clock's progress against the monotonic clock's.
pub(crate) struct StepWatch {
    wall: Timestamp,
    mono: Instant,
}

impl StepWatch {
    pub(crate) fn new(wall: Timestamp, mono: Instant) -> StepWatch {
        StepWatch { wall, mono }
    }

    /// How far the wall clock stepped since the last look (positive: forward), when by more
    /// than a second.
    pub(crate) fn step(&mut self, wall: Timestamp, mono: Instant) -> Option<SignedDuration> {
        let walked = wall.duration_since(self.wall);
        let elapsed = SignedDuration::try_from(mono.saturating_duration_since(self.mono))
            .unwrap_or(SignedDuration::MAX);
        self.wall = wall;
        self.mono = mono;
        let step = walked.saturating_sub(elapsed);
        (step.abs() > STEP).then_some(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn steps_forward_and_back_are_told_and_ordinary_progress_is_not() {
        let t0: Timestamp = "2026-12-03T12:00:00Z".parse().unwrap_or_default();
        let m0 = Instant::now();
        let mut w = StepWatch::new(t0, m0);
        let at = |secs: i64, mono_ms: u64| {
            (
                t0 + SignedDuration::from_secs(secs),
                m0 + Duration::from_millis(mono_ms),
            )
        };
        // 10 s on both clocks (with 300 ms of disagreement): no step.
        let (t, m) = at(10, 10_300);
        assert_eq!(w.step(t, m), None);
        // The wall clock jumps an hour ahead while 100 ms pass.
        let (t, m) = at(3_610, 10_400);
        assert_eq!(
            w.step(t, m),
            Some(SignedDuration::from_secs(3_600) - SignedDuration::from_millis(100))
        );
        // And back by two hours.
        let (t, m) = at(-3_590, 10_500);
        assert_eq!(
            w.step(t, m),
            Some(SignedDuration::from_secs(-7_200) - SignedDuration::from_millis(100))
        );
        let (t, m) = at(-3_589, 11_500);
        assert_eq!(w.step(t, m), None);
    }
}
