//! The wiring of alerting: the facts it reads (certificates from the resolver and the ACME
//! manager, the last reload error, the probe store's health), and the bridge that feeds it
//! every probe result.

use gatehouse_alerting::{Alerting, CertFact, Facts, ProbeEvent};
use gatehouse_probes::Probes;
use gatehouse_proxy::acme::AcmeManager;
use gatehouse_proxy::tls::CertResolver;
use jiff::Timestamp;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast::error::RecvError;

/// The last config reload's error, cleared by the next good reload.
pub(crate) type ReloadError = Arc<Mutex<Option<String>>>;

pub(crate) struct GatehouseFacts {
    pub certs: Arc<CertResolver>,
    pub acme: Option<Arc<AcmeManager>>,
    pub reload_error: ReloadError,
    pub probes: Arc<Probes>,
}

impl Facts for GatehouseFacts {
    fn certificates(&self) -> Vec<CertFact> {
        let status = self.acme.as_ref().map(|a| a.status()).unwrap_or_default();
        self.certs
            .certificates()
            .into_iter()
            .map(|(name, not_after)| {
                let (failures, error, tried) = status
                    .iter()
                    .find(|(n, _, _)| n == &name)
                    .map(|(_, f, e)| (*f, e.clone(), true))
                    .unwrap_or((0, None, false));
                CertFact {
                    not_after: Timestamp::try_from(not_after).unwrap_or(Timestamp::UNIX_EPOCH),
                    name,
                    acme_failures: failures,
                    acme_error: error,
                    acme_tried: tried,
                }
            })
            // An ACME certificate that was never obtained still has a failure count.
            .chain(
                status
                    .iter()
                    .filter(|(n, f, _)| {
                        *f > 0 && !self.certs.certificates().iter().any(|(c, _)| c == n)
                    })
                    .map(|(n, f, e)| CertFact {
                        name: n.clone(),
                        not_after: Timestamp::MAX,
                        acme_failures: *f,
                        acme_error: e.clone(),
                        acme_tried: true,
                    }),
            )
            .collect()
    }

    fn reload_error(&self) -> Option<String> {
        self.reload_error.lock().ok().and_then(|e| e.clone())
    }

    fn store_error(&self) -> Option<String> {
        self.probes.store_error()
    }
}

/// Feed every probe result to alerting until the probes stop.
pub(crate) async fn bridge(probes: Arc<Probes>, alerting: Arc<Alerting>) {
    let mut rx = probes.subscribe();
    loop {
        match rx.recv().await {
            Ok(r) => {
                let verdict = probes.judge(&r).await;
                alerting.observe(ProbeEvent {
                    probe: r.probe.to_string(),
                    up: verdict.up,
                    reason: verdict.reason,
                    at: Timestamp::try_from(r.at).unwrap_or_else(|_| Timestamp::now()),
                })
            }
            Err(RecvError::Lagged(n)) => {
                probes.missed("alerting", n);
                tracing::warn!(missed = n, "alerting fell behind the probe results");
            }
            Err(RecvError::Closed) => return,
        }
    }
}
