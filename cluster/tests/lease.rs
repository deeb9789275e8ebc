//! The leader lease and the migrations against a real PostgreSQL (a private cluster).
#![allow(clippy::unwrap_used)]

use gatehouse_cluster::{ClusterMetrics, Lease, Pg, PgOptions};
use gatehouse_testkit::postgres::PgCluster;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn pg(cluster: &PgCluster) -> Pg {
    Pg::new(&PgOptions {
        url: cluster.url(),
        ca_file: None,
        max_connections: 4,
    })
    .unwrap()
}

async fn scalar(pg: &Pg, sql: &'static str) -> i64 {
    let pg2 = pg.clone();
    pg.run(async move {
        let c = pg2.client().await?;
        let row = c
            .query_one(sql, &[])
            .await
            .map_err(|e| gatehouse_cluster::PgError::db("test", &e))?;
        Ok(row.get::<_, i64>(0))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn migrations_apply_once_even_when_instances_start_together() {
    let cluster = PgCluster::new();
    let (a, b) = (pg(&cluster), pg(&cluster));
    let (a2, b2) = (a.clone(), b.clone());
    let (ra, rb) = tokio::join!(
        a.run(async move { a2.client().await.map(drop) }),
        b.run(async move { b2.client().await.map(drop) })
    );
    ra.unwrap();
    rb.unwrap();
    let last = gatehouse_cluster::migrate::MIGRATIONS
        .last()
        .unwrap()
        .version;
    assert_eq!(
        scalar(&a, "SELECT MAX(version) FROM schema_migrations").await,
        last
    );
    assert_eq!(
        scalar(&a, "SELECT COUNT(*) FROM schema_migrations").await,
        gatehouse_cluster::migrate::MIGRATIONS.len() as i64
    );
}

#[tokio::test]
async fn one_leader_at_a_time_and_a_takeover_bumps_the_epoch() {
    let cluster = PgCluster::new();
    let ttl = Duration::from_millis(1500);
    let metrics = ClusterMetrics::unregistered().unwrap();
    let a = Lease::new(pg(&cluster), "a", ttl, metrics.clone());
    let b = Lease::new(pg(&cluster), "b", ttl, metrics);
    let first = a.renew().await.unwrap().expect("a takes the free lease");
    assert_eq!(
        b.renew().await.unwrap(),
        None,
        "b must not lead while a holds it"
    );
    assert_eq!(
        a.renew().await.unwrap(),
        Some(first),
        "a renewal keeps the epoch"
    );
    assert_eq!(a.epoch(), Some(first));

    // a stops renewing (paused, partitioned): b takes over once the TTL has run out, with a
    // new epoch, and no sooner.
    let since = Instant::now();
    let second = loop {
        if let Some(e) = b.renew().await.unwrap() {
            break e;
        }
        assert!(since.elapsed() < ttl * 3, "b never took the lease over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        since.elapsed() >= ttl / 2,
        "b took the lease while a's was still valid"
    );
    assert!(second > first, "a takeover must bump the epoch");
    // a's own view lapsed before the server let b in.
    assert_eq!(a.epoch(), None);
    // The fence: only the current epoch passes.
    let fence = |e: i64| {
        format!(
            "SELECT CASE WHEN {} THEN 1::int8 ELSE 0::int8 END",
            gatehouse_cluster::FENCE.replace("$E", &e.to_string())
        )
    };
    let p = pg(&cluster);
    for (epoch, want) in [(first, 0), (second, 1)] {
        let sql = fence(epoch);
        let p2 = p.clone();
        let got = p
            .run(async move {
                let c = p2.client().await?;
                let r = c
                    .query_one(sql.as_str(), &[])
                    .await
                    .map_err(|e| gatehouse_cluster::PgError::db("test", &e))?;
                Ok(r.get::<_, i64>(0))
            })
            .await
            .unwrap();
        assert_eq!(got, want, "fence of epoch {epoch}");
    }
    // The deposed leader cannot take it back while b renews.
    assert_eq!(a.renew().await.unwrap(), None);
    // A release hands it over at once.
    b.release().await.unwrap();
    let third = a
        .renew()
        .await
        .unwrap()
        .expect("a takes the released lease");
    assert!(third > second);
}

#[tokio::test]
async fn a_store_that_is_away_is_an_error_not_a_hang_and_the_pool_recovers() {
    let cluster = PgCluster::new();
    let metrics = ClusterMetrics::unregistered().unwrap();
    let ttl = Duration::from_secs(3);
    let lease = Arc::new(Lease::new(pg(&cluster), "a", ttl, metrics.clone()));
    assert!(lease.renew().await.unwrap().is_some());
    let renewed = Instant::now();
    assert_eq!(metrics.leader.get(), 1);
    cluster.stop();
    let t = Instant::now();
    assert!(lease.renew().await.is_err());
    assert!(
        t.elapsed() < Duration::from_secs(12),
        "took {:?}",
        t.elapsed()
    );
    // A leader that cannot renew stops leading before its lease runs out on the server.
    while lease.epoch().is_some() {
        assert!(renewed.elapsed() < ttl, "still leading after the TTL");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(lease.renew().await.is_err());
    assert_eq!(metrics.leader.get(), 0);
    assert!(metrics.renewals.with_label_values(&["error"]).get() >= 2);
    cluster.start();
    let since = Instant::now();
    loop {
        if let Ok(Some(_)) = lease.renew().await {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "the pool never reconnected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_processes_with_one_instance_name_are_told() {
    let cluster = PgCluster::new();
    let ttl = Duration::from_secs(3);
    let lease = |name: &str| {
        Lease::new(
            pg(&cluster),
            name,
            ttl,
            ClusterMetrics::unregistered().unwrap(),
        )
    };
    let (a, b, c) = (lease("gw-a"), lease("gw-b"), lease("gw-a"));
    for l in [&a, &b] {
        l.renew().await.unwrap();
    }
    a.renew().await.unwrap();
    assert!(!a.name_conflict() && !b.name_conflict());
    c.renew().await.unwrap();
    a.renew().await.unwrap();
    b.renew().await.unwrap();
    assert!(
        c.name_conflict() && a.name_conflict(),
        "two processes named gw-a"
    );
    assert!(!b.name_conflict());
}
