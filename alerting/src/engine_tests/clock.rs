//! Wall-clock steps: the engine's timers keep their real length when the runtime tells it the
//! clock stepped (see `crate::clock`).

use super::*;
use jiff::SignedDuration;

#[test]
fn a_clock_step_neither_fires_a_for_early_nor_delays_it() {
    let alerting = BASE.replace(
        "    - { name: down, probe: \"*\", failure_threshold: 2, success_threshold: 1, severity: critical }",
        "    - { name: errors, route: app, when: \"error_ratio > 5%\", window: 1m, min_requests: 10, for: 5m }",
    );
    for step in [3_600, -3_600] {
        let mut e = engine(
            config(&alerting, PROBES),
            AlertStore::open(None).unwrap(),
            t(0),
        );
        let signals = Signals(std::sync::Mutex::new(stats(20, 10)));
        evaluate(&mut e, &signals, t(0));
        let (open, pending) = e.open(t(0));
        assert_eq!((open.len(), pending.len()), (0, 1));
        // 10 s into the `for: 5m`, the wall clock steps by an hour.
        e.clock_stepped(SignedDuration::from_secs(step));
        evaluate(&mut e, &signals, t(10 + step));
        assert!(
            e.open(t(10 + step)).0.is_empty(),
            "a step of {step} s does not end the 5 minutes"
        );
        evaluate(&mut e, &signals, t(299 + step));
        assert!(e.open(t(299 + step)).0.is_empty());
        evaluate(&mut e, &signals, t(300 + step));
        assert_eq!(
            e.open(t(300 + step)).0.len(),
            1,
            "fires 5 real minutes after it began (step {step} s)"
        );
    }
}

#[test]
fn a_step_back_does_not_hold_a_group_for_an_hour() {
    let mut e = engine(config(BASE, PROBES), AlertStore::open(None).unwrap(), t(0));
    e.on_probe(&ev("web", false, t(0)));
    e.on_probe(&ev("web", false, t(1)));
    // group_wait is 2 s; the clock steps back an hour before it is over.
    e.clock_stepped(SignedDuration::from_secs(-3_600));
    let sent = run(&mut e, 1 - 3_600, 10 - 3_600);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, 3 - 3_600, "2 real seconds after it fired");
    // The incident's times stay on the wall clock.
    let (open, _) = e.open(t(10 - 3_600));
    assert_eq!(open[0].0.started_at, t(1));
}
