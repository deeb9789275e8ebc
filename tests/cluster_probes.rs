//! Cluster mode, probes: several gatehouse processes share one private PostgreSQL cluster.
//! A heartbeat that reaches one instance keeps the monitor up on the other; PostgreSQL
//! stopped and started again during probing crashes nothing, leaves proxying alone, and
//! the results taken meanwhile are written once it is back.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::alerts::{with_route, DEADLINE};
use common::cluster::{count, probe, store};
use common::{wait_for, Gatehouse, Upstream};
use gatehouse_testkit::postgres::PgCluster;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_heartbeat_sent_to_b_keeps_the_monitor_up_as_seen_from_a() {
    let pg = PgCluster::new();
    let token = "backup-token-0123456789";
    let app = Upstream::start("app").await;
    let body = |name: &str| {
        with_route(
            &app,
            &format!(
                "{}probes:\n  - name: backup\n    heartbeat: {{ token: \"{token}\", period: 1s, grace: 500ms }}\n    interval: 100ms\n",
                store(&pg, name, "")
            ),
        )
    };
    let a = Gatehouse::start(&body("gw-a")).await;
    let b = Gatehouse::start(&body("gw-b")).await;
    let c = reqwest::Client::new();
    let beat = || async {
        let r = c
            .post(b.admin("/api/v1/heartbeat/backup"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    beat().await;
    wait_for("a's first check of the monitor", DEADLINE, || async {
        !probe(&a, "backup").await["up"].is_null()
    })
    .await;
    // Beats go only to b, for three times period + grace: a never sees the monitor down.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        beat().await;
        let p = probe(&a, "backup").await;
        assert_eq!(p["up"], true, "a lost b's heartbeats: {p}\n{}", a.log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // And the check can fail: without beats, a sees it down.
    wait_for("the monitor down on a without beats", DEADLINE, || async {
        probe(&a, "backup").await["up"] == false
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_during_probing_loses_nothing_and_stops_no_request() {
    let pg = PgCluster::new();
    let app = Upstream::start("app").await;
    let body = with_route(
        &app,
        &format!(
            "{}probes:\n  - {{ name: web, interval: 100ms, http: {{ url: \"http://{}/health\" }} }}\n",
            store(&pg, "gw-a", ""),
            app.addr
        ),
    );
    let g = Gatehouse::start(&body).await;
    let stored = "SELECT COUNT(*) FROM probe_results WHERE instance = 'gw-a'";
    wait_for("results in PostgreSQL", DEADLINE, || async {
        count(&pg, stored) > 0
    })
    .await;

    pg.stop();
    let down_from = unix_ms();
    let c = reqwest::Client::new();
    // Proxying goes on, and results pile up in memory (counted).
    wait_for(
        "results buffered while the store is away",
        DEADLINE,
        || async {
            g.metric("gatehouse_probe_store_buffered")
                .await
                .unwrap_or(0.0)
                >= 25.0
        },
    )
    .await;
    for _ in 0..20 {
        let r = c.get(g.url("/")).send().await.unwrap();
        assert_eq!(r.status(), 200, "proxying must not depend on PostgreSQL");
    }
    let down_to = unix_ms();
    pg.start();
    // Flushed once it is back: results measured during the outage are in the table.
    let during = format!(
        "SELECT COUNT(*) FROM probe_results WHERE instance = 'gw-a' AND at BETWEEN {down_from} AND {down_to}"
    );
    // A check every 100 ms: all of the outage's checks must come (70 % leaves room for
    // scheduling), not just those taken since the last failed write.
    let expected = (down_to - down_from) / 100 * 7 / 10;
    assert!(
        expected >= 15,
        "the outage was too short to tell: {expected}"
    );
    let since = Instant::now();
    while count(&pg, &during) < expected {
        assert!(
            since.elapsed() < DEADLINE,
            "the buffer was not written after the restart: {} rows of the outage (want {expected}), {} in all\n{}",
            count(&pg, &during),
            count(&pg, stored),
            g.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for("the buffer empty", DEADLINE, || async {
        g.metric("gatehouse_probe_store_buffered").await == Some(0.0)
    })
    .await;
    // Nothing was written twice: one row per check time.
    let dupes = count(
        &pg,
        "SELECT COUNT(*) FROM (SELECT at FROM probe_results GROUP BY at HAVING COUNT(*) > 1) d",
    );
    assert_eq!(dupes, 0);
    assert!(
        g.metric_with("gatehouse_probe_store_errors_total", &[("op", "write")])
            .await
            .unwrap_or(0.0)
            >= 1.0
    );
    let mut child = g;
    assert!(
        child.child.try_wait().unwrap().is_none(),
        "gatehouse exited:\n{}",
        child.log()
    );
    child.kill();
}

/// `gatehouse check FILE`: (exit code, stdout + stderr).
fn check(yaml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gatehouse.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "--config"])
        .arg(&file)
        .env("PG_PASSWORD", "s3cret")
        .env("GATEHOUSE_INSTANCE", "gw-a")
        .env("BACKUP_TOKEN", "backup-token-0123456789")
        .env("HOOK_URL", "https://hooks.example.com/gatehouse")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_explains_a_cluster_config_s_mistakes() {
    let base = "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]\nupstreams:\n  app: { backends: [{ address: \"127.0.0.1:3000\" }] }\nroutes:\n  - { name: app, upstream: app }\n";
    // Mistakes, each with its line.
    let (code, text) = check(&format!(
        "{base}store:\n  postgres: \"postgres://gh:${{PG_PASSWORD}}@db.internal/x?sslmode=bogus\"\n  memory: true\n  ca_file: /nonexistent/ca.pem\n"
    ));
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(":8:") && text.contains("store.memory"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "the password was shown: {text}");
    // A valid config, but plain text to another host and certificates not shared: warned.
    let (code, text) = check(&format!(
        "{base}store: {{ postgres: \"postgres://gh:${{PG_PASSWORD}}@db.internal/gatehouse\", instance: gw-a }}\n"
    ));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("store.postgres") && text.contains("sslmode=require"),
        "{text}"
    );
    let (code, text) = check(&format!(
        "{base}store: {{ postgres: \"postgres://gh:${{PG_PASSWORD}}@db.internal/gatehouse?sslmode=require\", ca_file: /nonexistent/ca.pem }}\n"
    ));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("store.ca_file"), "{text}");
    assert!(!text.contains("sslmode=require`"), "{text}");
    // The shipped cluster example passes.
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/examples/cluster.yaml"
    ))
    .unwrap();
    let (code, text) = check(&example);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("warning"), "{text}");
}
