//! Cluster mode, quorum: a probe counts as down when a majority (by default) of the
//! instances that checked it recently see it down. Two instances probe the same probe name,
//! each its own target: the leader sees it down, the other up → no page; both see it down →
//! one page.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::alerts::{alerting, checks_pass, with_route, DEADLINE};
use common::cluster::{count, leader, store};
use common::receiver::Receiver;
use common::{wait_for, Gatehouse, Upstream};
use gatehouse_testkit::postgres::PgCluster;
use serde_json::Value;
use std::sync::atomic::Ordering;

fn config(pg: &PgCluster, name: &str, target: &Upstream, hook: &Receiver) -> String {
    with_route(
        target,
        &format!(
            "{}probes:
  - {{ name: web, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{}/health\" }} }}
{}",
            store(pg, name, "lease_ttl: 3s"),
            target.addr,
            alerting(
                hook,
                "  rules:\n    - { name: down, probe: web, failure_threshold: 2, success_threshold: 1 }\n"
            )
        ),
    )
}

async fn open_incidents(g: &Gatehouse) -> usize {
    let v: Value = reqwest::get(g.admin("/api/v1/incidents"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["open"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_instance_seeing_a_target_down_does_not_page_a_majority_does() {
    let pg = PgCluster::new();
    let (target_a, target_b) = (Upstream::start("a").await, Upstream::start("b").await);
    let hook = Receiver::start().await;
    let a = Gatehouse::start(&config(&pg, "gw-a", &target_a, &hook)).await;
    assert_eq!(leader(&[&a]).await, 0);
    let b = Gatehouse::start(&config(&pg, "gw-b", &target_b, &hook)).await;
    assert_eq!(leader(&[&a, &b]).await, 0, "a started first and leads");
    wait_for("b's results in the store", DEADLINE, || async {
        count(
            &pg,
            "SELECT COUNT(*) FROM probe_results WHERE instance = 'gw-b'",
        ) > 3
    })
    .await;

    // Only the leader's view of the target fails: 1 of 2 is no majority.
    target_a.healthy.store(false, Ordering::SeqCst);
    checks_pass(&a, "web", 15).await;
    assert_eq!(open_incidents(&a).await, 0);
    assert!(hook.seen().is_empty(), "one instance's view paged");

    // Both see it down: paged once, saying how many saw it.
    target_b.healthy.store(false, Ordering::SeqCst);
    wait_for("the page", DEADLINE, || async {
        !hook.accepted().is_empty()
    })
    .await;
    let page: Value = serde_json::from_slice(&hook.accepted()[0].body).unwrap();
    assert_eq!(page["status"], "firing", "{page}");
    assert!(page.to_string().contains("2 of 2 instances"), "{page}");
}
