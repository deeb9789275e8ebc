//! One check of one probe: attempts (with retries) turned into a [`CheckResult`].

use crate::condition;
use crate::heartbeat::Heartbeats;
use crate::kinds::{self, Attempt};
use crate::result::CheckResult;
use gatehouse_config::probes::{Probe, ProbeKind};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// What a probe prepares once per (re)configuration: TLS configs, resolvers, clients.
pub(crate) enum Prepared {
    Http(kinds::http::Prepared),
    Tls(kinds::tls_client::Tls),
    Dns(Box<hickory_resolver::TokioResolver>),
    Redis(kinds::redis::Prepared),
    Plain,
    /// Preparing failed (e.g. an unreadable CA file): every check fails with this.
    Broken(String),
}

impl Prepared {
    pub(crate) fn new(probe: &Probe) -> Prepared {
        let r = match &probe.kind {
            ProbeKind::Http(p) => kinds::http::prepare(p).map(Prepared::Http),
            ProbeKind::Tls(p) => kinds::tls::prepare(p).map(Prepared::Tls),
            ProbeKind::Dns(p) => {
                kinds::dns::prepare(p, probe.timeout).map(|r| Prepared::Dns(Box::new(r)))
            }
            ProbeKind::Redis(p) => Ok(Prepared::Redis(kinds::redis::prepare(p))),
            ProbeKind::Tcp(_) | ProbeKind::Heartbeat(_) => Ok(Prepared::Plain),
        };
        r.unwrap_or_else(Prepared::Broken)
    }
}

/// A probe with what it prepared, shared by its task.
pub(crate) struct Armed {
    pub probe: Probe,
    pub name: Arc<str>,
    pub group: Arc<str>,
    pub prepared: Prepared,
}

async fn attempt(armed: &Armed, heartbeats: &Heartbeats) -> Attempt {
    let timeout = armed.probe.timeout;
    match (&armed.probe.kind, &armed.prepared) {
        (_, Prepared::Broken(e)) => Attempt {
            error: Some(e.clone()),
            ..Attempt::default()
        },
        (ProbeKind::Http(p), Prepared::Http(prep)) => kinds::http::check(p, prep, timeout).await,
        (ProbeKind::Tcp(p), _) => kinds::tcp::check(p, timeout).await,
        (ProbeKind::Tls(p), Prepared::Tls(tls)) => kinds::tls::check(p, tls, timeout).await,
        (ProbeKind::Dns(p), Prepared::Dns(r)) => kinds::dns::check(p, r, timeout).await,
        (ProbeKind::Redis(_), Prepared::Redis(prep)) => kinds::redis::check(prep, timeout).await,
        (ProbeKind::Heartbeat(h), _) => {
            heartbeats.refresh(&armed.name).await;
            heartbeats.attempt(&armed.name, h)
        }
        _ => Attempt {
            error: Some("the probe's preparation does not match its kind".into()),
            ..Attempt::default()
        },
    }
}

/// Why an attempt counts as down; empty when up.
fn verdict(armed: &Armed, a: &Attempt) -> Vec<String> {
    if let Some(e) = &a.error {
        return vec![e.clone()];
    }
    let mut failures = condition::evaluate(&armed.probe.conditions, &a.obs);
    if let (false, Some(why)) = (failures.is_empty(), &a.cert_error) {
        failures.push(format!("the certificate does not verify: {why}"));
    }
    failures
}

/// Run one check: up to `1 + retries` attempts, `retry_delay` apart, stopping at the first
/// that is up. Each attempt holds one of the global `slots`; the sleep between attempts
/// does not, so a target that keeps failing slowly does not starve the other probes.
/// `None` when the slots are closed (shutting down).
pub(crate) async fn run(
    armed: &Armed,
    heartbeats: &Heartbeats,
    slots: &Semaphore,
    scheduled: Instant,
) -> Option<CheckResult> {
    let mut attempts = 0;
    let mut start = None;
    loop {
        attempts += 1;
        let permit = slots.acquire().await.ok()?;
        // The check starts (and its lag ends) when its first attempt gets a slot.
        let (at, lag) = *start.get_or_insert_with(|| {
            (
                SystemTime::now(),
                Instant::now().saturating_duration_since(scheduled),
            )
        });
        let a = attempt(armed, heartbeats).await;
        drop(permit);
        let failures = verdict(armed, &a);
        let last = attempts > armed.probe.retries;
        if failures.is_empty() || last {
            return Some(CheckResult {
                probe: armed.name.clone(),
                group: armed.group.clone(),
                kind: armed.probe.kind.tag().as_str(),
                at,
                duration: a.obs.latency.unwrap_or_default(),
                up: failures.is_empty(),
                attempts,
                phases: a.obs.phases,
                status_code: a.obs.status,
                cert_expiry: a.cert_expiry,
                hit_ratio: a.obs.hit_ratio,
                failures,
                lag,
                maintenance: false,
            });
        }
        tokio::time::sleep(armed.probe.retry_delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::probes::HeartbeatProbe;
    use gatehouse_config::secret::Secret;
    use std::time::Duration;

    #[tokio::test]
    async fn a_retry_sleeps_without_holding_a_slot() {
        let probe = Probe {
            name: "broken".into(),
            group: "default".into(),
            kind: ProbeKind::Heartbeat(HeartbeatProbe {
                token: Secret("t".into()),
                period: Duration::from_secs(60),
                grace: Duration::ZERO,
            }),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            retries: 2,
            retry_delay: Duration::from_millis(300),
            conditions: Vec::new(),
            labels: Default::default(),
            depends_on: Vec::new(),
            depends_on_settle: None,
            quorum: Default::default(),
        };
        let armed = Arc::new(Armed {
            probe,
            name: "broken".into(),
            group: "default".into(),
            prepared: Prepared::Broken("fails at once".into()),
        });
        let slots = Arc::new(Semaphore::new(1));
        let heartbeats = Arc::new(Heartbeats::default());
        let scheduled = Instant::now();
        let task = {
            let (armed, slots, heartbeats) = (armed.clone(), slots.clone(), heartbeats.clone());
            tokio::spawn(async move { run(&armed, &heartbeats, &slots, scheduled).await })
        };
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            slots.available_permits(),
            1,
            "the only slot is free while it waits to retry"
        );
        let other = tokio::time::timeout(Duration::from_millis(50), slots.acquire()).await;
        assert!(other.is_ok(), "another probe gets the slot meanwhile");
        drop(other);
        let result = task.await.ok().flatten();
        let result = result.as_ref().map(|r| (r.up, r.attempts));
        assert_eq!(result, Some((false, 3)));
        slots.close();
        assert!(
            run(&armed, &heartbeats, &slots, scheduled).await.is_none(),
            "closed: no check"
        );
    }
}
