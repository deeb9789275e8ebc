//! k-of-n thresholds end to end with the real binary: two targets that each fail every other
//! check (the upstream's `/flaky`), one watched by a "3 of the last 5" rule, the other by
//! plain "3 in a row"; only the first fires.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::alerts::*;
use common::receiver::Receiver;
use common::{wait_for, Gatehouse, Upstream};

#[tokio::test(flavor = "multi_thread")]
async fn three_of_five_fires_on_a_target_failing_every_other_check_and_three_in_a_row_does_not() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let hook = Receiver::answering(200).await;
    let body = with_route(
        &a,
        &format!(
            "probes:
  - {{ name: sometimes, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{}/flaky\" }} }}
  - {{ name: also-sometimes, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{}/flaky\" }} }}
{}",
            a.addr,
            b.addr,
            alerting(
                &hook,
                "  rules:
    - { name: intermittent, probe: sometimes, failure_threshold: { count: 3, of: 5 } }
    - { name: consecutive, probe: also-sometimes, failure_threshold: 3 }"
            )
        ),
    );
    let g = Gatehouse::start(&body).await;
    wait_for("the 3-of-5 rule to fire", DEADLINE, || async {
        hook.count() >= 1
    })
    .await;
    // Twenty more results of the other probe: ten failures, never two in a row.
    wait_for("20 checks of also-sometimes", DEADLINE, || async {
        b.hits.load(std::sync::atomic::Ordering::SeqCst) >= 25
    })
    .await;
    let all = notifications(&hook);
    let rules: Vec<&str> = all
        .iter()
        .flat_map(|n| n["alerts"].as_array().unwrap())
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"intermittent"), "{all:?}");
    assert!(!rules.contains(&"consecutive"), "{all:?}");
    let inc = incidents(&g).await;
    let open = inc["open"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{inc}");
    assert_eq!(open[0]["rule"], "intermittent");
    assert_eq!(open[0]["subject"], "sometimes");
}
