//! Store tests: each behaviour runs against both stores through the `Store` trait, with an
//! injected clock (results carry explicit times; `prune` and `history` take `now`).
#![allow(clippy::unwrap_used)]

use super::{Bucket, History, MemoryStore, PostgresStore, Range, Retention, SqliteStore, Store};
use crate::result::{from_unix_millis, CheckResult, Phases};
use gatehouse_testkit::postgres::PgCluster;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tempfile::TempDir;

/// 2024-01-01T00:00:00Z, Unix seconds.
const BASE: i64 = 1_704_067_200;
const MIN: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

fn at(secs: i64) -> SystemTime {
    from_unix_millis(secs * 1000)
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * DAY as u64)
}

fn retention(raw: u64, hourly: u64, daily: u64) -> Retention {
    Retention {
        raw: days(raw),
        hourly: days(hourly),
        daily: days(daily),
    }
}

fn up(probe: &str, secs: i64, ms: u64) -> Arc<CheckResult> {
    Arc::new(CheckResult {
        probe: probe.into(),
        group: "default".into(),
        kind: "http",
        at: at(secs),
        duration: Duration::from_millis(ms),
        up: true,
        attempts: 1,
        phases: Phases::default(),
        status_code: Some(200),
        cert_expiry: None,
        hit_ratio: None,
        failures: Vec::new(),
        lag: Duration::ZERO,
        maintenance: false,
    })
}

fn down(
    probe: &str,
    secs: i64,
    ms: u64,
    status: Option<u16>,
    reasons: &[&str],
) -> Arc<CheckResult> {
    let mut r = (*up(probe, secs, ms)).clone();
    r.up = false;
    r.attempts = 3;
    r.status_code = status;
    r.failures = reasons.iter().map(|s| s.to_string()).collect();
    Arc::new(r)
}

/// A store under test; keeps the temporary directory of a SQLite store, or the private
/// PostgreSQL cluster, alive.
struct Subject {
    name: &'static str,
    store: Box<dyn Store>,
    _dir: Option<TempDir>,
    _pg: Option<PgCluster>,
}

/// A PostgreSQL store on a private cluster of its own.
pub(super) fn postgres(retention: Retention, instance: &str) -> (PgCluster, PostgresStore) {
    let cluster = PgCluster::new();
    let pg = gatehouse_cluster::Pg::new(&gatehouse_cluster::PgOptions {
        url: cluster.url(),
        ca_file: None,
        max_connections: 2,
    })
    .unwrap();
    (cluster, PostgresStore::new(pg, instance, retention))
}

fn subjects(retention: Retention) -> Vec<Subject> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("state/probes.db"), retention).unwrap();
    vec![
        Subject {
            name: "memory",
            store: Box::new(MemoryStore::new(retention)),
            _dir: None,
            _pg: None,
        },
        Subject {
            name: "sqlite",
            store: Box::new(sqlite),
            _dir: Some(dir),
            _pg: None,
        },
        {
            let (cluster, store) = postgres(retention, "test");
            Subject {
                name: "postgres",
                store: Box::new(store),
                _dir: None,
                _pg: Some(cluster),
            }
        },
    ]
}

/// Runs `check` against every store.
fn both(retention: Retention, check: impl Fn(&dyn Store)) {
    for s in subjects(retention) {
        eprintln!("store: {}", s.name);
        check(s.store.as_ref());
    }
}

fn bucket(start: i64, checks: u64, failures: u64, avg_ms: f64, max_ms: f64) -> Bucket {
    Bucket {
        start,
        checks,
        failures,
        avg_ms,
        max_ms,
        maintenance: 0,
    }
}

fn failure_times(h: &History) -> Vec<i64> {
    h.recent_failures.iter().map(|f| f.at / 1000).collect()
}

#[test]
fn range_names_round_trip() {
    for r in Range::ALL {
        assert_eq!(Range::parse(r.as_str()), Some(r));
        assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
    }
    assert_eq!(Range::parse("1y"), None);
    assert_eq!(Range::Week.duration(), days(7));
    assert!(Range::Week.hourly() && !Range::Month.hourly());
}

fn write_rollup_fixture(store: &dyn Store) {
    // Two batches, so that rollups also add up across writes.
    store
        .write(&[
            up("api", BASE, 10),
            up("api", BASE + 10 * MIN, 20),
            up("api", BASE + 20 * MIN, 30),
            up("api", BASE + HOUR + 5 * MIN, 40),
            down(
                "api",
                BASE + HOUR + 30 * MIN,
                100,
                Some(500),
                &["status is 500, want 200"],
            ),
        ])
        .unwrap();
    store
        .write(&[
            down(
                "api",
                BASE + DAY + 5 * HOUR,
                5,
                None,
                &["connect: refused", "no body"],
            ),
            up("db", BASE + DAY + 5 * HOUR + MIN, 7),
            up("api", BASE + DAY + 5 * HOUR + 30 * MIN, 15),
        ])
        .unwrap();
}

#[test]
fn store_rolls_up_per_hour_and_day() {
    both(retention(7, 7, 90), |store| {
        write_rollup_fixture(store);
        let now = at(BASE + DAY + 6 * HOUR);

        // 24h: from BASE + 6h, so only the hour at day 1, 05:00.
        let h = store.history("api", Range::Day, now).unwrap();
        assert_eq!((h.checks, h.failures, h.uptime), (2, 1, Some(0.5)));
        assert_eq!(
            h.series,
            vec![bucket(BASE + DAY + 5 * HOUR, 2, 1, 10.0, 15.0)]
        );
        assert_eq!(failure_times(&h), vec![BASE + DAY + 5 * HOUR]);
        assert_eq!(h.recent_failures[0].status_code, None);
        assert_eq!(
            h.recent_failures[0].reasons,
            vec!["connect: refused", "no body"]
        );

        // 7d: every hour with checks, oldest first.
        let h = store.history("api", Range::Week, now).unwrap();
        assert_eq!((h.checks, h.failures), (7, 2));
        assert_eq!(h.uptime, Some(5.0 / 7.0));
        assert_eq!(
            h.series,
            vec![
                bucket(BASE, 3, 0, 20.0, 30.0),
                bucket(BASE + HOUR, 2, 1, 70.0, 100.0),
                bucket(BASE + DAY + 5 * HOUR, 2, 1, 10.0, 15.0),
            ]
        );
        // Newest first, with the reasons.
        assert_eq!(
            failure_times(&h),
            vec![BASE + DAY + 5 * HOUR, BASE + HOUR + 30 * MIN]
        );
        assert_eq!(h.recent_failures[1].status_code, Some(500));
        assert_eq!(
            h.recent_failures[1].reasons,
            vec!["status is 500, want 200"]
        );

        // 30d and 90d: daily points.
        for range in [Range::Month, Range::Quarter] {
            let h = store.history("api", range, now).unwrap();
            assert_eq!(h.range, range);
            assert_eq!((h.checks, h.failures), (7, 2));
            assert_eq!(
                h.series,
                vec![
                    bucket(BASE, 5, 1, 40.0, 100.0),
                    bucket(BASE + DAY, 2, 1, 10.0, 15.0),
                ]
            );
            assert_eq!(h.recent_failures.len(), 2);
        }

        // Probes do not mix; an unknown probe has no uptime.
        let h = store.history("db", Range::Day, now).unwrap();
        assert_eq!((h.checks, h.failures, h.uptime), (1, 0, Some(1.0)));
        assert!(h.recent_failures.is_empty());
        let h = store.history("nope", Range::Quarter, now).unwrap();
        assert_eq!((h.checks, h.uptime), (0, None));
        assert!(h.series.is_empty());
    });
}

#[test]
fn store_history_takes_whole_buckets_that_start_in_the_range() {
    both(retention(7, 7, 90), |store| {
        // now - 24h = BASE + 6h20m: the hour from 6:00 began before it and is left out,
        // with its failure; the hour from 7:00 and the hour holding `now` are in.
        let now = at(BASE + DAY + 6 * HOUR + 20 * MIN);
        store
            .write(&[
                down("edge", BASE + 6 * HOUR + 40 * MIN, 1, None, &["left out"]),
                down("edge", BASE + 7 * HOUR + 10 * MIN, 1, None, &["in"]),
                up("edge", BASE + DAY + 6 * HOUR + 10 * MIN, 1),
            ])
            .unwrap();
        let h = store.history("edge", Range::Day, now).unwrap();
        let starts: Vec<i64> = h.series.iter().map(|b| b.start).collect();
        assert_eq!(starts, vec![BASE + 7 * HOUR, BASE + DAY + 6 * HOUR]);
        assert_eq!((h.checks, h.failures), (2, 1));
        assert_eq!(failure_times(&h), vec![BASE + 7 * HOUR + 10 * MIN]);
    });
}

#[test]
fn store_recent_failures_are_capped_at_fifty() {
    both(retention(7, 7, 90), |store| {
        let batch: Vec<_> = (0..60)
            .map(|i| down("flaky", BASE + i * MIN, 1, Some(503), &["503"]))
            .collect();
        store.write(&batch).unwrap();
        let h = store
            .history("flaky", Range::Day, at(BASE + 2 * HOUR))
            .unwrap();
        assert_eq!(h.failures, 60);
        assert_eq!(h.recent_failures.len(), 50);
        assert_eq!(h.recent_failures[0].at / 1000, BASE + 59 * MIN);
        assert_eq!(h.recent_failures[49].at / 1000, BASE + 10 * MIN);
    });
}

#[test]
fn store_prunes_by_retention() {
    // Raw 7 days, hourly 3 days, daily 90 days.
    both(retention(7, 3, 90), |store| {
        // One check an hour for 10 days; it fails at noon each day.
        let batch: Vec<_> = (0..240)
            .map(|i| {
                let t = BASE + i * HOUR;
                if i % 24 == 12 {
                    down("api", t, 50, Some(500), &["500"])
                } else {
                    up("api", t, 10)
                }
            })
            .collect();
        for day in batch.chunks(24) {
            store.write(day).unwrap();
        }
        let now = at(BASE + 10 * DAY);
        // Raw before day 3 (72 rows) and hourly rollups before day 7 (168 buckets).
        assert_eq!(store.prune(now).unwrap(), 72 + 168);
        assert_eq!(store.prune(now).unwrap(), 0, "pruning again finds nothing");

        // Failures older than the raw retention are gone from the list ...
        let h = store.history("api", Range::Month, now).unwrap();
        let noons: Vec<i64> = (3..10).rev().map(|d| BASE + d * DAY + 12 * HOUR).collect();
        assert_eq!(failure_times(&h), noons);
        // ... while the daily rollups still give the uptime of all 10 days.
        assert_eq!((h.checks, h.failures), (240, 10));
        assert_eq!(h.series.len(), 10);
        assert_eq!(h.uptime, Some(230.0 / 240.0));
        // Hourly points only for the last 3 days.
        let h = store.history("api", Range::Week, now).unwrap();
        assert_eq!((h.checks, h.failures, h.series.len()), (72, 3, 72));
        assert_eq!(h.series[0].start, BASE + 7 * DAY);

        // 95 days on: all raw rows and hourly buckets, and the days before day 5, go.
        let later = at(BASE + 95 * DAY);
        assert_eq!(store.prune(later).unwrap(), 168 + 72 + 5);
        let h = store.history("api", Range::Quarter, later).unwrap();
        assert_eq!((h.checks, h.failures), (120, 5));
        assert!(h.recent_failures.is_empty());
        assert!(store.latest().unwrap().is_empty());
    });
}

#[test]
fn store_latest_is_the_newest_result_of_each_probe() {
    both(retention(7, 7, 90), |store| {
        assert!(store.latest().unwrap().is_empty());
        let mut rich = (*down("cache", BASE + 2 * MIN, 3, None, &["hit ratio 0.4 < 0.9"])).clone();
        rich.kind = "redis";
        rich.group = "data".into();
        rich.hit_ratio = Some(0.4);
        rich.cert_expiry = Some(at(BASE + 30 * DAY));
        rich.duration = Duration::from_micros(2_500);
        rich.lag = Duration::from_millis(7);
        rich.phases.connect = Some(Duration::from_millis(1));
        let mut odd = (*up("mail", BASE, 1)).clone();
        odd.kind = "smtp";
        store
            .write(&[
                up("web", BASE + 5 * MIN, 10),
                up("cache", BASE + MIN, 1),
                Arc::new(rich.clone()),
                Arc::new(odd),
            ])
            .unwrap();
        // Written later but older: not the newest.
        store
            .write(&[
                up("web", BASE + 3 * MIN, 99),
                down("web", BASE + 6 * MIN, 20, Some(502), &["502"]),
            ])
            .unwrap();

        let latest = store.latest().unwrap();
        let names: Vec<&str> = latest.iter().map(|r| &*r.probe).collect();
        assert_eq!(names, vec!["cache", "mail", "web"]);
        let expected = CheckResult {
            phases: Phases::default(),
            lag: Duration::ZERO,
            ..rich
        };
        assert_eq!(latest[0], expected);
        assert_eq!(latest[1].kind, "unknown");
        assert_eq!(latest[2].at, at(BASE + 6 * MIN));
        assert_eq!(latest[2].failures, vec!["502"]);
        assert_eq!(latest[2].status_code, Some(502));
    });
}

#[test]
fn store_keeps_state() {
    both(retention(7, 7, 90), |store| {
        assert_eq!(store.get_state("heartbeat:backup").unwrap(), None);
        store.put_state("heartbeat:backup", "1").unwrap();
        store.put_state("heartbeat:backup", "2").unwrap();
        assert_eq!(
            store.get_state("heartbeat:backup").unwrap().as_deref(),
            Some("2")
        );
        // An empty batch is fine.
        store.write(&[]).unwrap();
    });
}

#[test]
fn sqlite_store_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probes.db");
    let now = at(BASE + DAY + 6 * HOUR);
    let (history, latest) = {
        let store = SqliteStore::open(&path, retention(7, 7, 90)).unwrap();
        write_rollup_fixture(&store);
        store
            .put_state("heartbeat:backup", "1704067200000")
            .unwrap();
        (
            store.history("api", Range::Week, now).unwrap(),
            store.latest().unwrap(),
        )
    };
    let store = SqliteStore::open(&path, retention(7, 7, 90)).unwrap();
    assert_eq!(store.history("api", Range::Week, now).unwrap(), history);
    assert_eq!(history.checks, 7);
    assert_eq!(store.latest().unwrap(), latest);
    assert_eq!(latest.len(), 2);
    assert_eq!(
        store.get_state("heartbeat:backup").unwrap().as_deref(),
        Some("1704067200000")
    );
}

/// Checks taken during maintenance are kept and listed, but counted apart: not in the checks,
/// failures or latencies that uptime is made of.
#[test]
fn checks_during_maintenance_are_counted_apart() {
    both(retention(7, 7, 90), |store| {
        let in_maintenance = |r: Arc<CheckResult>| {
            let mut r = (*r).clone();
            r.maintenance = true;
            Arc::new(r)
        };
        store
            .write(&[
                up("api", BASE, 10),
                down("api", BASE + MIN, 10, None, &["refused"]),
                in_maintenance(down("api", BASE + 2 * MIN, 900, None, &["refused"])),
                in_maintenance(down("api", BASE + 3 * MIN, 900, None, &["refused"])),
                in_maintenance(up("api", BASE + 2 * HOUR, 900)),
            ])
            .unwrap();
        let now = at(BASE + 3 * HOUR);
        let h = store.history("api", Range::Day, now).unwrap();
        assert_eq!(
            (h.checks, h.failures, h.maintenance, h.uptime),
            (2, 1, 3, Some(0.5))
        );
        let mut only_maintenance = bucket(BASE + 2 * HOUR, 0, 0, 0.0, 0.0);
        only_maintenance.maintenance = 1;
        let mut first = bucket(BASE, 2, 1, 10.0, 10.0);
        first.maintenance = 2;
        assert_eq!(h.series, vec![first, only_maintenance]);
        assert_eq!(h.recent_failures.len(), 3, "still listed");
        let latest = store.latest().unwrap();
        assert!(latest[0].maintenance, "kept with its mark");
    });
}

/// A file written by the first schema (no maintenance columns) is upgraded in place.
#[test]
fn sqlite_store_upgrades_a_version_1_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probes.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE results (probe TEXT NOT NULL, grp TEXT NOT NULL, kind TEXT NOT NULL,
                at INTEGER NOT NULL, duration_ms REAL NOT NULL, up INTEGER NOT NULL,
                attempts INTEGER NOT NULL, status INTEGER, cert_expiry INTEGER, hit_ratio REAL,
                failures TEXT);
             CREATE INDEX results_probe_at ON results (probe, at);
             CREATE TABLE rollups (probe TEXT NOT NULL, period TEXT NOT NULL,
                start INTEGER NOT NULL, checks INTEGER NOT NULL, failures INTEGER NOT NULL,
                latency_sum_ms REAL NOT NULL, latency_max_ms REAL NOT NULL,
                PRIMARY KEY (probe, period, start)) WITHOUT ROWID;
             CREATE TABLE state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
             INSERT INTO results VALUES ('api', 'default', 'http', 1704067200000, 5.0, 1, 1,
                200, NULL, NULL, NULL);
             INSERT INTO rollups VALUES ('api', 'h', 1704067200, 1, 0, 5.0, 5.0);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, retention(7, 7, 90)).unwrap();
    let now = at(BASE + HOUR);
    store.write(&[up("api", BASE + MIN, 7)]).unwrap();
    let h = store.history("api", Range::Day, now).unwrap();
    assert_eq!((h.checks, h.maintenance), (2, 0));
    assert!(!store.latest().unwrap()[0].maintenance);
}

#[test]
fn sqlite_store_open_error_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let path = file.join("probes.db");
    let e = SqliteStore::open(&path, retention(7, 7, 90))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("writable"), "{e}");

    // A file that is not a database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let e = SqliteStore::open(&junk, retention(7, 7, 90))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&junk.display().to_string()), "{e}");
}

fn file_size(db: &Path) -> u64 {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    [db.to_path_buf(), wal]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn sqlite_store_file_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probes.db");
    // Raw results for a day, hourly rollups for 2 days: after day 3 only the daily rollups
    // (20 rows a day) still grow.
    let store = SqliteStore::open(&path, retention(1, 2, 90)).unwrap();
    const PROBES: i64 = 20;
    const EVERY: i64 = 10 * MIN; // 144 checks a day per probe: 2,880 rows a day
    let names: Vec<String> = (0..PROBES).map(|p| format!("service-{p:02}")).collect();
    let mut sizes = Vec::new();
    for day in 0..30 {
        for tick in 0..DAY / EVERY {
            let t = BASE + day * DAY + tick * EVERY;
            let batch: Vec<_> = names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    if (tick + i as i64) % 7 == 0 {
                        down(
                            name,
                            t,
                            30,
                            Some(503),
                            &["status is 503, want 200", "body does not match"],
                        )
                    } else {
                        up(name, t, 12)
                    }
                })
                .collect();
            store.write(&batch).unwrap();
        }
        store.prune(at(BASE + (day + 1) * DAY)).unwrap();
        sizes.push(file_size(&path));
    }
    let (day3, day30) = (sizes[2], sizes[29]);
    eprintln!("file size after day 3: {day3} bytes, after day 30: {day30} bytes; {sizes:?}");
    assert!(
        day30 < day3 * 3 / 2,
        "day 3: {day3} bytes, day 30: {day30} bytes"
    );
    // What is left is still right: the last day's raw rows and 30 daily points.
    let h = store
        .history("service-00", Range::Month, at(BASE + 30 * DAY))
        .unwrap();
    assert_eq!(h.series.len(), 30);
    assert_eq!(h.checks, 30 * 144);
    assert_eq!(store.latest().unwrap().len(), PROBES as usize);
}
