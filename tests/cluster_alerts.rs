//! Cluster mode, alerting: two or three gatehouse processes share one private PostgreSQL
//! cluster and one recording webhook. An outage is paged once and resolved once however
//! many instances probe it; the leader killed mid-incident is replaced within the lease's
//! TTL with nothing sent twice and the resolve not lost; a silence made through a follower
//! keeps the leader quiet; an announcement posted on one instance shows on the other's
//! status page.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::alerts::{alerting, checks_pass, with_route, DEADLINE};
use common::cluster::{leader, store};
use common::receiver::Receiver;
use common::{free_port, wait_for, Gatehouse, Upstream};
use gatehouse_testkit::postgres::PgCluster;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(3);

/// Instance `name` of the cluster on `pg`: a probe of `app` every 200 ms, a rule at 2
/// failures / 1 success, a webhook, and a status page on `status_port`.
fn config(pg: &PgCluster, name: &str, app: &Upstream, hook: &Receiver, status_port: u16) -> String {
    with_route(
        app,
        &format!(
            "{}probes:
  - {{ name: web, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{}/health\" }} }}
{}status_page:
  listen: \"127.0.0.1:{status_port}\"
  title: \"Acme status\"
  components:
    - {{ name: Website, probes: [web] }}
",
            store(pg, name, "lease_ttl: 3s"),
            app.addr,
            alerting(
                hook,
                "  delivery: { backoff: 200ms, max_backoff: 1s }
  rules:\n    - { name: down, probe: web, failure_threshold: 2, success_threshold: 1 }\n"
            )
        ),
    )
}

/// The statuses of the notifications the webhook accepted, in order.
fn statuses(hook: &Receiver) -> Vec<String> {
    hook.accepted()
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            v["status"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

async fn start(pg: &PgCluster, name: &str, app: &Upstream, hook: &Receiver) -> Gatehouse {
    Gatehouse::start(&config(pg, name, app, hook, free_port())).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_is_paged_once_and_resolved_once_by_three_instances() {
    let pg = PgCluster::new();
    let app = Upstream::start("app").await;
    let hook = Receiver::start().await;
    let a = start(&pg, "gw-a", &app, &hook).await;
    let b = start(&pg, "gw-b", &app, &hook).await;
    let c = start(&pg, "gw-c", &app, &hook).await;
    leader(&[&a, &b, &c]).await;
    app.healthy.store(false, Ordering::SeqCst);
    wait_for("the page", DEADLINE, || async {
        !hook.accepted().is_empty()
    })
    .await;
    // Every instance sees the outage for a while longer: still one page.
    checks_pass(&a, "web", 10).await;
    app.healthy.store(true, Ordering::SeqCst);
    wait_for("the resolve", DEADLINE, || async {
        statuses(&hook).iter().any(|s| s == "resolved")
    })
    .await;
    checks_pass(&b, "web", 10).await;
    assert_eq!(
        statuses(&hook),
        ["firing", "resolved"],
        "{:?}",
        hook.accepted().len()
    );
    // Every instance shows the same incident, resolved.
    for g in [&a, &b, &c] {
        let v: Value = reqwest::get(g.admin("/api/v1/incidents"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["open"].as_array().unwrap().len(), 0, "{v}");
        assert_eq!(v["recent"].as_array().unwrap().len(), 1, "{v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_leader_killed_mid_incident_is_replaced_within_the_ttl_without_a_second_page() {
    let pg = PgCluster::new();
    let app = Upstream::start("app").await;
    let hook = Receiver::start().await;
    let mut a = start(&pg, "gw-a", &app, &hook).await;
    let mut b = start(&pg, "gw-b", &app, &hook).await;
    app.healthy.store(false, Ordering::SeqCst);
    wait_for("the page", DEADLINE, || async {
        !hook.accepted().is_empty()
    })
    .await;
    let first = leader(&[&a, &b]).await;
    let (dead, survivor) = if first == 0 {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    // Mid-incident: the page went out and is recorded as delivered (a kill between the
    // webhook's answer and that record is the outbox's at-least-once window, as for one
    // instance that crashes there).
    wait_for("the page recorded as delivered", DEADLINE, || async {
        let v: Value = reqwest::get(dead.admin("/api/v1/deliveries"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["pending"].as_array().is_some_and(|p| p.is_empty())
    })
    .await;
    dead.kill();
    let killed = Instant::now();
    // The survivor leads within the TTL (plus one renewal period and scheduling).
    wait_for("the survivor leading", DEADLINE, || async {
        survivor.metric("gatehouse_cluster_leader").await == Some(1.0)
    })
    .await;
    let took = killed.elapsed();
    assert!(
        took <= TTL + TTL / 3 + Duration::from_millis(1500),
        "takeover took {took:?}"
    );
    // Still down under the new leader: no second page.
    checks_pass(survivor, "web", 10).await;
    assert_eq!(statuses(&hook), ["firing"]);
    app.healthy.store(true, Ordering::SeqCst);
    wait_for("the resolve from the new leader", DEADLINE, || async {
        statuses(&hook).iter().any(|s| s == "resolved")
    })
    .await;
    checks_pass(survivor, "web", 10).await;
    assert_eq!(statuses(&hook), ["firing", "resolved"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silence_made_through_a_follower_keeps_the_leader_quiet() {
    let pg = PgCluster::new();
    let app = Upstream::start("app").await;
    let hook = Receiver::start().await;
    let b = start(&pg, "gw-b", &app, &hook).await;
    assert_eq!(leader(&[&b]).await, 0);
    let a = start(&pg, "gw-a", &app, &hook).await;
    assert_eq!(leader(&[&a, &b]).await, 1, "b started first and leads");
    let r = reqwest::Client::new()
        .post(a.admin("/api/v1/silences"))
        .json(&json!({ "matchers": { "rule": "down" }, "duration": "1h", "comment": "work", "created_by": "ops" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Both list it.
    for g in [&a, &b] {
        wait_for("the silence listed", DEADLINE, || async {
            let v: Value = reqwest::get(g.admin("/api/v1/silences"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["silences"].as_array().is_some_and(|s| s.len() == 1)
        })
        .await;
    }
    app.healthy.store(false, Ordering::SeqCst);
    // The leader opens the incident, silenced, and pages nobody.
    wait_for("the silenced incident on b", DEADLINE, || async {
        let v: Value = reqwest::get(b.admin("/api/v1/incidents"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["open"][0]["suppressed"]
            .as_str()
            .is_some_and(|s| s.contains("silence"))
    })
    .await;
    checks_pass(&b, "web", 10).await;
    assert!(hook.seen().is_empty(), "a silenced incident was paged");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_announcement_posted_on_a_shows_on_the_status_page_of_b() {
    let pg = PgCluster::new();
    let app = Upstream::start("app").await;
    let hook = Receiver::start().await;
    let a = start(&pg, "gw-a", &app, &hook).await;
    let b_status = free_port();
    let b = Gatehouse::start(&config(&pg, "gw-b", &app, &hook, b_status)).await;
    leader(&[&a, &b]).await;
    let r = reqwest::Client::new()
        .post(a.admin("/api/v1/announcements"))
        .json(&json!({ "title": "Planned upgrade", "body": "Sunday 02:00 UTC.", "level": "maintenance" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    wait_for("the announcement on b's status page", DEADLINE, || async {
        let v: Value = reqwest::get(format!("http://127.0.0.1:{b_status}/status.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.to_string().contains("Planned upgrade")
    })
    .await;
    drop(b);
}
