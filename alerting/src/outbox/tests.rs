//! The outbox's state machine with a test clock and a real (in-memory) SQLite store.

use super::*;
use crate::dispatch::Outgoing;
use crate::notification::{Alert, Status};
use gatehouse_config::alerting::Severity;
use std::collections::BTreeMap;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap_or(Timestamp::UNIX_EPOCH)
}

const POLICY: DeliveryPolicy = DeliveryPolicy {
    backoff: Duration::from_secs(2),
    max_backoff: Duration::from_secs(60),
    expiry: Duration::from_secs(3600),
};

fn alert(id: i64, status: Status) -> Alert {
    Alert {
        id,
        rule: "down".into(),
        kind: "probe".into(),
        subject: format!("s{id}"),
        severity: Severity::Critical,
        status,
        summary: format!("s{id} is down"),
        value: "status was 503".into(),
        runbook: None,
        labels: BTreeMap::new(),
        started_at: t(0),
        ended_at: (status == Status::Resolved).then(|| t(50)),
        flapping: false,
        unreached: false,
    }
}

fn out(notifier: &str, alerts: Vec<Alert>, reminder: bool, now: Timestamp) -> Outgoing {
    Outgoing {
        notifier: notifier.into(),
        notification: build("rule=down", alerts, reminder, now),
    }
}

fn store() -> AlertStore {
    AlertStore::open(None).unwrap_or_else(|e| panic!("in-memory store: {e}"))
}

fn retry() -> Outcome {
    Outcome::Retry {
        error: "HTTP 500".into(),
        retry_after: None,
    }
}

#[test]
fn a_failed_attempt_waits_its_backoff_and_is_tried_until_delivered() {
    let s = store();
    let mut o = Outbox::default();
    o.enqueue(
        &[out("hook", vec![alert(1, Status::Firing)], false, t(0))],
        &POLICY,
        &s,
        t(0),
    );
    let (a, _) = o.due(&s, t(0));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].notification.status, Status::Firing);
    // Nothing more while it is on its way.
    assert!(o.due(&s, t(0)).0.is_empty());
    let (_, settled) = o.settle(&s, a[0].id, retry(), &POLICY, t(1));
    let Settled::Retrying { next_at } = settled else {
        panic!("{settled:?}")
    };
    // The first backoff is 2 s less up to half of it as jitter.
    assert!(next_at >= t(2) && next_at <= t(3), "{next_at}");
    assert!(o.due(&s, t(1)).0.is_empty(), "not before its backoff");
    let (a, _) = o.due(&s, t(3));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].previous, 1);
    // The second backoff doubles.
    let (_, settled) = o.settle(&s, a[0].id, retry(), &POLICY, t(3));
    let Settled::Retrying { next_at } = settled else {
        panic!("{settled:?}")
    };
    assert!(next_at >= t(5) && next_at <= t(7), "{next_at}");
    let (a, _) = o.due(&s, t(7));
    let (_, settled) = o.settle(&s, a[0].id, Outcome::Delivered, &POLICY, t(7));
    assert_eq!(settled, Settled::Delivered { reached: vec![1] });
    assert_eq!(o.pending().count(), 0);
    assert_eq!(
        store::reached(s.sqlite_db(), 1, "hook").ok().flatten(),
        Some(true)
    );
}

#[test]
fn retry_after_is_honoured_and_capped() {
    const POLICY: DeliveryPolicy = DeliveryPolicy {
        expiry: Duration::from_secs(86_400),
        ..super::tests::POLICY
    };
    let s = store();
    let mut o = Outbox::default();
    o.enqueue(
        &[out("hook", vec![alert(1, Status::Firing)], false, t(0))],
        &POLICY,
        &s,
        t(0),
    );
    let (a, _) = o.due(&s, t(0));
    let asked = Outcome::Retry {
        error: "HTTP 429".into(),
        retry_after: Some(Duration::from_secs(30)),
    };
    let (_, settled) = o.settle(&s, a[0].id, asked, &POLICY, t(0));
    assert_eq!(settled, Settled::Retrying { next_at: t(30) });
    assert!(o.due(&s, t(29)).0.is_empty());
    let (a, _) = o.due(&s, t(30));
    let greedy = Outcome::Retry {
        error: "HTTP 503".into(),
        retry_after: Some(Duration::from_secs(86_400)),
    };
    let (_, settled) = o.settle(&s, a[0].id, greedy, &POLICY, t(30));
    assert_eq!(
        settled,
        Settled::Retrying {
            next_at: t(30 + 3600)
        },
        "capped at an hour"
    );
}

#[test]
fn what_comes_while_one_waits_is_merged_not_queued_behind() {
    let s = store();
    let mut o = Outbox::default();
    o.enqueue(
        &[out("hook", vec![alert(1, Status::Firing)], false, t(0))],
        &POLICY,
        &s,
        t(0),
    );
    let (a, _) = o.due(&s, t(0));
    o.settle(&s, a[0].id, retry(), &POLICY, t(0));
    // While it waits: a second alert of the group fires, then reminders come.
    o.enqueue(
        &[out(
            "hook",
            vec![alert(1, Status::Firing), alert(2, Status::Firing)],
            false,
            t(1),
        )],
        &POLICY,
        &s,
        t(1),
    );
    for i in 2..10 {
        o.enqueue(
            &[out(
                "hook",
                vec![alert(1, Status::Firing), alert(2, Status::Firing)],
                true,
                t(i),
            )],
            &POLICY,
            &s,
            t(i),
        );
    }
    assert_eq!(o.pending().count(), 1, "one row per notifier and group");
    let (a, _) = o.due(&s, t(100));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].notification.alerts.len(), 2);
    assert!(
        !a[0].notification.reminder,
        "a new alert in it: not a reminder"
    );
    // Another notifier has its own row.
    o.enqueue(
        &[out("mail", vec![alert(1, Status::Firing)], false, t(100))],
        &POLICY,
        &s,
        t(100),
    );
    assert_eq!(o.pending().count(), 2);
}

#[test]
fn a_resolve_never_overtakes_its_firing() {
    let s = store();
    let mut o = Outbox::default();
    o.enqueue(
        &[out("hook", vec![alert(1, Status::Firing)], false, t(0))],
        &POLICY,
        &s,
        t(0),
    );
    let (a, _) = o.due(&s, t(0));
    // The resolve comes while the firing is on its way: it waits behind it.
    o.enqueue(
        &[out("hook", vec![alert(1, Status::Resolved)], false, t(1))],
        &POLICY,
        &s,
        t(1),
    );
    assert!(o.due(&s, t(1)).0.is_empty(), "the group has one on its way");
    o.settle(&s, a[0].id, Outcome::Delivered, &POLICY, t(1));
    let (b, _) = o.due(&s, t(1));
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].notification.status, Status::Resolved);
    assert!(
        !b[0].notification.alerts[0].unreached,
        "the firing reached it"
    );
}

#[test]
fn a_resolve_of_a_firing_that_never_arrived_says_so_in_one_message() {
    let s = store();
    let mut o = Outbox::default();
    o.enqueue(
        &[out("hook", vec![alert(1, Status::Firing)], false, t(0))],
        &POLICY,
        &s,
        t(0),
    );
    let (a, _) = o.due(&s, t(0));
    o.settle(&s, a[0].id, retry(), &POLICY, t(0));
    o.enqueue(
        &[out("hook", vec![alert(1, Status::Resolved)], false, t(1))],
        &POLICY,
        &s,
        t(1),
    );
    assert_eq!(o.pending().count(), 1, "merged into the waiting firing");
    let (b, _) = o.due(&s, t(100));
    assert_eq!(b.len(), 1);
    let n = &b[0].notification;
    assert_eq!(n.status, Status::Resolved);
    assert_eq!(n.alerts.len(), 1);
    assert!(n.alerts[0].unreached);
    assert_eq!(n.alerts[0].started_at, t(0));
    assert_eq!(n.alerts[0].ended_at, Some(t(50)));
    assert!(n.text().contains("could not be reached"), "{}", n.text());
}

#[test]
fn a_resolve_goes_only_where_the_firing_was_queued() {
    let s = store();
    let mut o = Outbox::default();
    // The firing went to `hook` only; a reload routed the resolve to `mail` too.
    o.enqueue(
        &[out("hook", vec![alert(1, Status::Firing)], false, t(0))],
        &POLICY,
        &s,
        t(0),
    );
    let (a, _) = o.due(&s, t(0));
    o.settle(&s, a[0].id, Outcome::Delivered, &POLICY, t(0));
    o.enqueue(
        &[
            out("hook", vec![alert(1, Status::Resolved)], false, t(5)),
            out("mail", vec![alert(1, Status::Resolved)], false, t(5)),
        ],
        &POLICY,
        &s,
        t(5),
    );
    let (b, _) = o.due(&s, t(5));
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0].notifier, "hook");
    assert_eq!(o.pending().count(), 1, "mail's empty row is dropped");
}

#[test]
fn a_refusal_fails_for_good_and_a_long_outage_expires() {
    let s = store();
    let mut o = Outbox::default();
    o.enqueue(
        &[out("hook", vec![alert(1, Status::Firing)], false, t(0))],
        &POLICY,
        &s,
        t(0),
    );
    let (a, _) = o.due(&s, t(0));
    let (d, settled) = o.settle(
        &s,
        a[0].id,
        Outcome::Failed {
            error: "HTTP 404".into(),
        },
        &POLICY,
        t(0),
    );
    assert_eq!(settled, Settled::Failed);
    assert_eq!(d.map(|d| d.state), Some(DeliveryState::Failed));
    assert_eq!(o.pending().count(), 0);

    o.enqueue(
        &[out("mail", vec![alert(2, Status::Firing)], false, t(10))],
        &POLICY,
        &s,
        t(10),
    );
    let mut now = 10;
    let mut settled = Settled::Unknown;
    while now < 10 + 4000 {
        let (a, ended) = o.due(&s, t(now));
        if let Some((_, e)) = ended.into_iter().next() {
            settled = e;
            break;
        }
        for x in a {
            settled = o.settle(&s, x.id, retry(), &POLICY, t(now)).1;
            if settled == Settled::Expired {
                break;
            }
        }
        if settled == Settled::Expired {
            break;
        }
        now += 1;
    }
    assert_eq!(
        settled,
        Settled::Expired,
        "given up within the hour of expiry"
    );
    assert!(now <= 10 + 3600, "not later than its expiry: {now}");
    let given = store::given_up(s.sqlite_db(), 10).unwrap_or_default();
    assert_eq!(given.len(), 2);
    assert_eq!(given[0].state, DeliveryState::Expired);
    assert_eq!(given[1].state, DeliveryState::Failed);
    assert_eq!(given[1].last_error.as_deref(), Some("HTTP 404"));
}

#[test]
fn pending_rows_survive_a_restart_and_delivery_frees_the_notifiers_other_rows() {
    let dir = std::env::temp_dir().join(format!("gatehouse-outbox-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("alerts.db");
    let _ = std::fs::remove_file(&path);
    {
        let s = AlertStore::open(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        let mut o = Outbox::default();
        o.enqueue(
            &[out("hook", vec![alert(1, Status::Firing)], false, t(0))],
            &POLICY,
            &s,
            t(0),
        );
        let mut other = out("hook", vec![alert(2, Status::Firing)], false, t(0));
        other.notification.group_key = "rule=other".into();
        o.enqueue(&[other], &POLICY, &s, t(0));
        let (a, _) = o.due(&s, t(0));
        assert_eq!(a.len(), 2);
        for x in a {
            o.settle(&s, x.id, retry(), &POLICY, t(0));
        }
        // The process dies with both waiting.
    }
    let s = AlertStore::open(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
    let mut o = Outbox::load(&s).unwrap_or_default();
    assert_eq!(o.pending().count(), 2);
    assert!(o.pending().all(|d| d.attempts == 1));
    assert!(o.due(&s, t(0)).0.is_empty(), "their backoff is kept");
    // One gets through at its time: the other need not wait out its own backoff.
    let first = o.pending().map(|d| (d.next_at, d.id)).min();
    let Some((at, _)) = first else {
        panic!("two rows")
    };
    let (a, _) = o.due(&s, at);
    assert!(!a.is_empty());
    let id = a[0].id;
    o.settle(&s, id, Outcome::Delivered, &POLICY, at);
    let (b, _) = o.due(&s, at);
    assert_eq!(b.len(), 2 - a.len());
    let _ = std::fs::remove_dir_all(&dir);
}
