#![allow(clippy::unwrap_used)] // test helpers panic on purpose

//! Alerting test support: a config tail with a webhook notifier, the notifications a
//! receiver got, the incidents API, and waiting a number of probe checks.

use super::receiver::Receiver;
use super::{wait_for, Gatehouse, Upstream};
use serde_json::Value;
use std::time::Duration;

pub const DEADLINE: Duration = Duration::from_secs(30);

/// A route to `app` (a config needs one) and `body`.
pub fn with_route(app: &Upstream, body: &str) -> String {
    format!(
        "upstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes:\n  - {{ name: app, upstream: app }}\n{body}",
        app.addr
    )
}

/// The notifications a receiver got, parsed.
pub fn notifications(r: &Receiver) -> Vec<Value> {
    r.seen()
        .iter()
        .map(|x| serde_json::from_slice(&x.body).unwrap())
        .collect()
}

pub async fn incidents(g: &Gatehouse) -> Value {
    reqwest::get(g.admin("/api/v1/incidents"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn probe_streak(g: &Gatehouse, name: &str) -> u64 {
    let v: Value = reqwest::get(g.admin("/api/v1/probes"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["probes"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .and_then(|p| p["streak"].as_u64())
        .unwrap_or(0)
}

/// Wait for `n` more checks of `probe` in its current state (the way to let time pass
/// measured in the engine's own events).
pub async fn checks_pass(g: &Gatehouse, probe: &str, n: u64) {
    let start = probe_streak(g, probe).await;
    wait_for(&format!("{n} more checks of {probe}"), DEADLINE, || async {
        probe_streak(g, probe).await >= start + n
    })
    .await;
}

pub fn alerting(hook: &Receiver, extra: &str) -> String {
    format!(
        "alerting:
  default_rules: false
  evaluation_interval: 200ms
  group_wait: 300ms
  group_interval: 500ms
  repeat_interval: 1h
  notifiers:
    - {{ name: hook, type: webhook, url: \"{}/hook\" }}
{extra}",
        hook.url
    )
}
