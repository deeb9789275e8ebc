#![allow(clippy::unwrap_used)] // test helpers panic on purpose

//! Cluster test support: the `store` section of an instance of a private PostgreSQL cluster,
//! and the probes API of an instance.

use super::Gatehouse;
use gatehouse_testkit::postgres::PgCluster;
use serde_json::Value;

/// `store:` for instance `name` on `pg`, with `extra` fields (`lease_ttl: 3s`).
pub fn store(pg: &PgCluster, name: &str, extra: &str) -> String {
    format!(
        "store: {{ postgres: \"{}\", instance: {name}{}{extra} }}\n",
        pg.url(),
        if extra.is_empty() { "" } else { ", " }
    )
}

/// The probe `name` as `/api/v1/probes` shows it (`Null` when absent).
pub async fn probe(g: &Gatehouse, name: &str) -> Value {
    let v: Value = reqwest::get(g.admin("/api/v1/probes"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["probes"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
        .unwrap_or(Value::Null)
}

/// A number `psql` printed.
pub fn count(pg: &PgCluster, sql: &str) -> i64 {
    pg.psql(sql).parse().unwrap_or(0)
}

/// Wait until exactly one of `instances` reports `gatehouse_cluster_leader 1`; its index.
pub async fn leader(instances: &[&Gatehouse]) -> usize {
    let deadline = std::time::Instant::now() + super::alerts::DEADLINE;
    loop {
        let mut leading = Vec::new();
        for (i, g) in instances.iter().enumerate() {
            if g.metric("gatehouse_cluster_leader").await == Some(1.0) {
                leading.push(i);
            }
        }
        if leading.len() == 1 {
            return leading[0];
        }
        assert!(leading.len() < 2, "two leaders at once: {leading:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "no leader after {:?}",
            super::alerts::DEADLINE
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
