//! The PostgreSQL store as a cluster uses it: two instances on one server see each other's
//! results, rollups and state; every result is tagged with the instance that measured it.
#![allow(clippy::unwrap_used)]

use super::{PostgresStore, Range, Retention, Store};
use crate::result::{from_unix_millis, CheckResult, Phases};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const HOUR: i64 = 3_600;

fn result(probe: &str, at_ms: i64, up: bool, ms: u64) -> Arc<CheckResult> {
    Arc::new(CheckResult {
        probe: probe.into(),
        group: "default".into(),
        kind: "http",
        at: from_unix_millis(at_ms),
        duration: Duration::from_millis(ms),
        up,
        attempts: 1,
        phases: Phases::default(),
        status_code: Some(if up { 200 } else { 503 }),
        cert_expiry: None,
        hit_ratio: None,
        failures: if up {
            vec![]
        } else {
            vec!["status is 503".into()]
        },
        lag: Duration::ZERO,
        maintenance: false,
    })
}

#[test]
fn two_instances_share_results_rollups_and_state() {
    let retention = Retention {
        raw: Duration::from_secs(7 * 86400),
        hourly: Duration::from_secs(90 * 86400),
        daily: Duration::from_secs(400 * 86400),
    };
    let (cluster, a) = super::tests::postgres(retention, "gw-a");
    let b = PostgresStore::new(
        gatehouse_cluster::Pg::new(&gatehouse_cluster::PgOptions {
            url: cluster.url(),
            ca_file: None,
            max_connections: 2,
        })
        .unwrap(),
        "gw-b",
        retention,
    );
    let now = SystemTime::now();
    let base = crate::result::unix_millis(now) - HOUR * 1000;
    a.write(&[
        result("api", base, true, 10),
        result("api", base + 1000, true, 30),
    ])
    .unwrap();
    b.write(&[result("api", base + 500, false, 50)]).unwrap();

    // Either instance reads the cluster's history: 3 checks, 1 failure.
    for store in [&a, &b] {
        let h = store.history("api", Range::Day, now).unwrap();
        assert_eq!((h.checks, h.failures), (3, 1), "{h:?}");
        assert_eq!(h.series.iter().map(|s| s.max_ms).fold(0.0, f64::max), 50.0);
        assert_eq!(h.recent_failures.len(), 1);
        let latest = store.latest().unwrap();
        assert_eq!(latest.len(), 1);
        assert!(latest[0].up, "the newest result is a's second one");
    }
    // Each result and rollup row carries the instance that measured it.
    let pg = a.pg.clone();
    let tags = a
        .pg
        .block_on(async move {
            let c = pg.client().await?;
            let rows = c
                .query(
                    "SELECT instance, COUNT(*)::int8 FROM probe_results GROUP BY instance ORDER BY instance",
                    &[],
                )
                .await
                .map_err(|e| gatehouse_cluster::PgError::failed("test", e))?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                .collect::<Vec<_>>())
        })
        .unwrap();
    assert_eq!(tags, vec![("gw-a".to_string(), 2), ("gw-b".to_string(), 1)]);

    // A heartbeat stored by b is read by a.
    b.put_state("heartbeat:cron", "1234").unwrap();
    assert_eq!(
        a.get_state("heartbeat:cron").unwrap().as_deref(),
        Some("1234")
    );
    assert!(a.shared());
}

#[test]
fn a_store_that_is_away_fails_fast_and_works_again_when_it_is_back() {
    let retention = Retention {
        raw: Duration::from_secs(86400),
        hourly: Duration::from_secs(86400),
        daily: Duration::from_secs(86400),
    };
    let (cluster, a) = super::tests::postgres(retention, "gw-a");
    let t = crate::result::unix_millis(SystemTime::now());
    a.write(&[result("api", t, true, 1)]).unwrap();
    cluster.stop();
    let started = std::time::Instant::now();
    let err = a.write(&[result("api", t + 1, true, 1)]).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("postgres"), "{err}");
    cluster.start();
    let since = std::time::Instant::now();
    while a.write(&[result("api", t + 2, true, 1)]).is_err() {
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "never reconnected"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let h = a.history("api", Range::Day, SystemTime::now()).unwrap();
    assert_eq!(h.checks, 2);
}

#[test]
fn the_quorum_reads_each_other_instances_newest_result_from_one_refreshed_copy() {
    let retention = Retention {
        raw: Duration::from_secs(7 * 86400),
        hourly: Duration::from_secs(90 * 86400),
        daily: Duration::from_secs(400 * 86400),
    };
    let (cluster, a) = super::tests::postgres(retention, "gw-a");
    let pool = |n| {
        gatehouse_cluster::Pg::new(&gatehouse_cluster::PgOptions {
            url: cluster.url(),
            ca_file: None,
            max_connections: n,
        })
        .unwrap()
    };
    let b = PostgresStore::new(pool(2), "gw-b", retention);
    let c = PostgresStore::new(pool(2), "gw-c", retention);
    let t = crate::result::unix_millis(SystemTime::now()) - 60_000;
    // b: two results for `api` in one batch (the newest counts) and one for `db`.
    b.write(&[
        result("api", t, true, 10),
        result("api", t + 2000, false, 10),
        result("db", t, true, 10),
    ])
    .unwrap();
    // A late batch with an older result does not replace the newer one.
    b.write(&[result("api", t + 1000, true, 10)]).unwrap();
    c.write(&[result("api", t + 1500, true, 10)]).unwrap();
    a.write(&[result("api", t + 1500, true, 10)]).unwrap();

    let read_at = std::time::Instant::now();
    let mut seen = a.others_verdicts("api", from_unix_millis(t)).unwrap();
    seen.sort();
    assert_eq!(
        seen,
        vec![("gw-b".to_string(), false), ("gw-c".to_string(), true)],
        "each other instance's newest result, never a's own"
    );
    assert_eq!(
        a.others_verdicts("api", from_unix_millis(t + 1800))
            .unwrap(),
        vec![("gw-b".to_string(), false)],
        "results older than the window do not count"
    );
    assert_eq!(
        a.others_verdicts("db", from_unix_millis(t)).unwrap(),
        vec![("gw-b".to_string(), true)]
    );
    // Within a second the copy is not read again; after it, a new result is seen.
    c.write(&[result("api", t + 3000, false, 10)]).unwrap();
    let within = a
        .others_verdicts("api", from_unix_millis(t + 1800))
        .unwrap();
    if read_at.elapsed() < super::postgres_latest::REFRESH {
        assert_eq!(within.len(), 1, "the copy read a moment ago: {within:?}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut after = a
            .others_verdicts("api", from_unix_millis(t + 1800))
            .unwrap();
        after.sort();
        if after == vec![("gw-b".to_string(), false), ("gw-c".to_string(), false)] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not refreshed: {after:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
