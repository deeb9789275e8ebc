//! Certificates that obtain and renew themselves (ACME, RFC 8555, with instant-acme).
//!
//! One task per configured certificate: serve what is stored, order when nothing usable is
//! stored, renew when a third of the lifetime is left (or earlier when the CA's renewal
//! information says so), and after a failure wait with a growing backoff while the current
//! certificate keeps serving. A new certificate is written to disk atomically, then handed to
//! the [`CertResolver`], which serves it to the next handshake.
//!
//! In a cluster (`store.postgres`) the account, the certificates and the HTTP-01 answers are
//! shared: one instance orders under a lock, every instance serves what is stored within
//! [`cluster::SYNC_INTERVAL`], and any instance answers the CA's validation. The state
//! directory keeps a local copy, served at start before the store is reached.

mod account;
mod cluster;
mod dns_hook;
mod http;
mod order;
pub mod schedule;
mod shared;
mod store;
mod tokens;

pub use http::{parse_retry_after, AcmeHttp, AcmeHttpError};
pub use order::OrderError;
pub use store::{directory_key, write_atomic, AcmeStore, Stored};
pub use tokens::{Http01Tokens, CHALLENGE_PREFIX};

use crate::tls::{load_pem, CertResolver, LoadedCert};
use cluster::{Locked, SYNC_INTERVAL};
use gatehouse_config::tls::{AcmeCertificate, AcmeConfig};
use instant_acme::{Account, CertificateIdentifier};
use prometheus::{Gauge, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use schedule::{backoff, renewal_time, Window};
use shared::SharedAcme;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// ACME metrics.
#[derive(Clone)]
pub struct AcmeMetrics {
    orders: IntCounterVec,
    last_success: Gauge,
    failures: IntGaugeVec,
    next_attempt: GaugeVec,
}

impl AcmeMetrics {
    /// Register on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let orders = IntCounterVec::new(
            Opts::new(
                "gatehouse_acme_orders_total",
                "ACME orders, by result (success or error).",
            ),
            &["result"],
        )?;
        let last_success = Gauge::new(
            "gatehouse_acme_last_renewal_success_timestamp_seconds",
            "Unix time of the last certificate obtained over ACME (0: none yet in this process).",
        )?;
        let failures = IntGaugeVec::new(
            Opts::new(
                "gatehouse_acme_consecutive_failures",
                "Failed ACME orders in a row, per certificate (by its first name); 0 after a success.",
            ),
            &["name"],
        )?;
        let next_attempt = GaugeVec::new(
            Opts::new(
                "gatehouse_acme_next_attempt_timestamp_seconds",
                "Unix time of the next ACME order attempt after a failure, per certificate.",
            ),
            &["name"],
        )?;
        registry.register(Box::new(orders.clone()))?;
        registry.register(Box::new(last_success.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(next_attempt.clone()))?;
        for r in ["success", "error"] {
            orders.with_label_values(&[r]);
        }
        Ok(AcmeMetrics {
            orders,
            last_success,
            failures,
            next_attempt,
        })
    }
}

/// Obtains and renews the `tls.acme` certificates.
pub struct AcmeManager {
    config: AcmeConfig,
    store: AcmeStore,
    http: AcmeHttp,
    resolver: Arc<CertResolver>,
    tokens: Http01Tokens,
    metrics: AcmeMetrics,
    account: tokio::sync::Mutex<Option<Account>>,
    /// Whether the CA answered a renewalInfo request (ARI) in this process.
    ari: std::sync::atomic::AtomicBool,
    /// The stored account is unknown to the CA: create a new one instead of loading it.
    forget_account: std::sync::atomic::AtomicBool,
    /// Per certificate: consecutive failed orders and the last error.
    status: std::sync::Mutex<std::collections::BTreeMap<String, (u32, Option<String>)>>,
    /// The cluster's shared store, in cluster mode.
    shared: Option<SharedAcme>,
}

/// Why the ACME manager cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AcmeStartError {
    /// The state directory is not writable.
    #[error("state_dir: cannot write {}: {source}", path.display())]
    StateDir {
        /// The ACME store's directory under `state_dir`.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The client for the ACME directory cannot be built (`directory_ca_file`).
    #[error(transparent)]
    Http(#[from] AcmeHttpError),
}

impl AcmeManager {
    /// A manager for `config`, keeping its state under `state_dir` and, in a cluster, in the
    /// shared store `cluster` (the pool and this instance's name).
    pub fn new(
        config: &AcmeConfig,
        state_dir: &Path,
        resolver: Arc<CertResolver>,
        tokens: Http01Tokens,
        metrics: AcmeMetrics,
        cluster: Option<(gatehouse_cluster::Pg, &str)>,
    ) -> Result<Arc<Self>, AcmeStartError> {
        let store = AcmeStore::new(state_dir, &config.directory);
        store.prepare().map_err(|source| AcmeStartError::StateDir {
            path: store.root().to_path_buf(),
            source,
        })?;
        Ok(Arc::new(AcmeManager {
            http: AcmeHttp::new(config.directory_ca_file.as_deref())?,
            store,
            config: config.clone(),
            resolver,
            tokens,
            metrics,
            account: tokio::sync::Mutex::new(None),
            ari: std::sync::atomic::AtomicBool::new(false),
            forget_account: std::sync::atomic::AtomicBool::new(false),
            status: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            shared: cluster.map(|(pg, instance)| {
                SharedAcme::new(
                    pg,
                    directory_key(&config.directory),
                    format!("{instance}/{}", std::process::id()),
                )
            }),
        }))
    }

    /// Per certificate (by first name): consecutive failed orders and the last error, for
    /// alert rules.
    pub fn status(&self) -> Vec<(String, u32, Option<String>)> {
        self.status
            .lock()
            .map(|s| {
                s.iter()
                    .map(|(k, (n, e))| (k.clone(), *n, e.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn set_status(&self, name: &str, failures: u32, error: Option<String>) {
        if let Ok(mut s) = self.status.lock() {
            s.insert(name.to_string(), (failures, error));
        }
    }

    /// Serve the stored certificates that are still usable, at once (before the listeners
    /// open), and start one maintenance task per certificate on `rt`. No order is placed
    /// before `listening` is set: the CA may validate HTTP-01 the moment it is told to.
    pub fn start(self: &Arc<Self>, rt: &tokio::runtime::Handle, listening: Arc<AtomicBool>) {
        for (i, cert) in self.config.certificates.iter().enumerate() {
            let (stored, due_now) = match self.load_stored(cert) {
                Some(c) => {
                    let incomplete = cert.names.iter().any(|n| !c.names.contains(n));
                    (Some(c), incomplete)
                }
                None => (None, true),
            };
            if let Some(c) = &stored {
                self.resolver.set_acme(first_name(cert), c.clone());
            }
            rt.spawn(self.clone().maintain(i, stored, due_now, listening.clone()));
        }
    }

    fn load_stored(&self, cert: &AcmeCertificate) -> Option<LoadedCert> {
        let name = first_name(cert);
        match self.store.read_certificate(name) {
            Stored::Missing if self.shared.is_some() => {
                tracing::info!(
                    certificate = name,
                    "no local copy of the certificate; taking it from the cluster's store, or ordering one"
                );
                None
            }
            Stored::Missing => {
                tracing::info!(certificate = name, "no stored certificate; ordering one");
                None
            }
            Stored::Damaged(e @ crate::tls::CertError::Read { .. }) => {
                tracing::error!(
                    certificate = name,
                    error = %e,
                    "cannot read the stored certificate (check the state_dir's permissions); ordering a new one"
                );
                None
            }
            Stored::Damaged(e) => {
                tracing::error!(
                    certificate = name,
                    file = %self.store.certificate_path(name).display(),
                    error = %e,
                    "the stored certificate is damaged and will not be served; ordering a new one"
                );
                None
            }
            Stored::Found(c) => {
                let missing: Vec<&String> =
                    cert.names.iter().filter(|n| !c.names.contains(n)).collect();
                if !c.valid_at(SystemTime::now()) {
                    tracing::warn!(
                        certificate = name,
                        "the stored certificate has expired; ordering a new one"
                    );
                    None
                } else if !missing.is_empty() {
                    tracing::info!(
                        certificate = name,
                        ?missing,
                        "the stored certificate lacks names now configured; it keeps serving the names it has while a new one is ordered"
                    );
                    Some(c)
                } else {
                    tracing::info!(certificate = name, serial = %c.serial, expires = %humanize(c.not_after), "serving the stored certificate");
                    Some(c)
                }
            }
        }
    }

    async fn maintain(
        self: Arc<Self>,
        index: usize,
        mut current: Option<LoadedCert>,
        mut due_now: bool,
        listening: Arc<AtomicBool>,
    ) {
        let Some(cert) = self.config.certificates.get(index) else {
            return;
        };
        let name = first_name(cert).to_string();
        let failures_gauge = self.metrics.failures.with_label_values(&[name.as_str()]);
        let mut failures: u32 = 0;
        let mut store_failures: u32 = 0;
        let mut waiting_logged = false;
        let mut store_down = false;
        // The CA's renewal window for the serial served, asked again after check_interval.
        let mut window_of: Option<(String, Option<Window>, std::time::Instant)> = None;
        let mut pick = fastrand::f64();
        while !listening.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        loop {
            let synced = self.sync(cert, &mut current).await;
            match &synced {
                Ok(true) => {
                    due_now = current
                        .as_ref()
                        .is_some_and(|c| cert.names.iter().any(|n| !c.names.contains(n)));
                    pick = fastrand::f64();
                }
                Ok(false) => {}
                Err(e) => {
                    self.count_store_error();
                    if !store_down {
                        tracing::warn!(certificate = %name, error = %e, "cannot reach the cluster's store for certificates; the current one keeps serving");
                    }
                }
            }
            if store_down && synced.is_ok() {
                tracing::info!(certificate = %name, "the cluster's store answers again");
            }
            store_down = synced.is_err();
            let now = SystemTime::now();
            if let Some(c) = current.as_ref().filter(|_| !due_now) {
                let window = match &window_of {
                    Some((serial, w, at))
                        if *serial == c.serial && at.elapsed() < self.config.check_interval =>
                    {
                        *w
                    }
                    _ => {
                        let w = self.renewal_window(c).await;
                        window_of = Some((c.serial.clone(), w, std::time::Instant::now()));
                        w
                    }
                };
                let due = renewal_time(c.not_before, c.not_after, window, pick);
                if now < due {
                    let mut wait = due
                        .duration_since(now)
                        .unwrap_or_default()
                        .min(self.config.check_interval);
                    if self.shared.is_some() {
                        wait = wait.min(SYNC_INTERVAL);
                    }
                    tracing::debug!(certificate = %name, renew_at = %humanize(due), "certificate is current");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                tracing::info!(certificate = %name, serial = %c.serial, expires = %humanize(c.not_after), "renewing the certificate");
            }
            let lock = match self.lock_order(cert).await {
                Ok(Locked::Busy(holder)) => {
                    if !waiting_logged {
                        tracing::info!(certificate = %name, holder = holder.as_deref().unwrap_or("?"), "another instance is ordering this certificate (or waiting to retry a failed order); waiting for it");
                        waiting_logged = true;
                    }
                    tokio::time::sleep(SYNC_INTERVAL).await;
                    continue;
                }
                Ok(lock) => lock,
                Err(e) => {
                    store_failures += 1;
                    self.count_store_error();
                    let wait = backoff(store_failures, SYNC_INTERVAL, self.config.retry_max, None);
                    tracing::error!(certificate = %name, error = %e, "cannot take the cluster's order lock, so no order is placed until the store is back; retrying in {}", humantime_short(wait));
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            store_failures = 0;
            waiting_logged = false;
            let held = match lock {
                Locked::Held(lock) => {
                    // Another instance may have stored a certificate since the last look.
                    let fresh = matches!(self.sync(cert, &mut current).await, Ok(true));
                    let missing = current
                        .as_ref()
                        .is_none_or(|c| cert.names.iter().any(|n| !c.names.contains(n)));
                    if fresh && !missing {
                        due_now = false;
                        pick = fastrand::f64();
                        lock.release().await;
                        continue;
                    }
                    Some(lock)
                }
                Locked::Alone | Locked::Busy(_) => None,
            };
            let replaces = match &current {
                Some(c) if self.supports_ari() => c
                    .leaf()
                    .and_then(|leaf| CertificateIdentifier::try_from(leaf).ok())
                    .map(CertificateIdentifier::into_owned),
                _ => None,
            };
            let result = self.order(cert, replaces).await;
            let mut held = held;
            if let Ok(c) = &result {
                if let Some(lock) = held.take() {
                    // Stored before the lock is given up, so an instance waiting finds it.
                    self.share(cert, c).await;
                    lock.release().await;
                }
            }
            match result {
                Ok(c) => {
                    due_now = false;
                    failures = 0;
                    failures_gauge.set(0);
                    self.set_status(&name, 0, None);
                    self.metrics.orders.with_label_values(&["success"]).inc();
                    self.metrics
                        .last_success
                        .set(crate::tls::certs::unix_seconds(SystemTime::now()));
                    let _ = self
                        .metrics
                        .next_attempt
                        .remove_label_values(&[name.as_str()]);
                    tracing::info!(certificate = %name, serial = %c.serial, expires = %humanize(c.not_after), "certificate obtained and now served");
                    self.resolver.set_acme(&name, c.clone());
                    current = Some(c);
                    pick = fastrand::f64();
                    // Never a tight loop, even if the CA issues certificates that are due at once.
                    tokio::time::sleep(self.config.retry_min).await;
                }
                Err(e) => {
                    if e.account_unknown() {
                        tracing::warn!(directory = %self.config.directory, "the CA does not know the stored ACME account; creating a new one");
                        *self.account.lock().await = None;
                        self.forget_account
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    failures += 1;
                    failures_gauge.set(i64::from(failures));
                    self.set_status(&name, failures, Some(e.to_string()));
                    self.metrics.orders.with_label_values(&["error"]).inc();
                    let retry_after = e
                        .is_rate_limited()
                        .then(|| self.http.take_retry_after())
                        .flatten()
                        .and_then(|t| t.duration_since(SystemTime::now()).ok());
                    let wait = backoff(
                        failures,
                        self.config.retry_min,
                        self.config.retry_max,
                        retry_after,
                    );
                    if let Some(lock) = held.take() {
                        // The whole cluster waits out the backoff, not only this instance:
                        // the CA limits failed validations per account and name.
                        lock.hold_for(wait).await;
                    }
                    let next = SystemTime::now() + wait;
                    self.metrics
                        .next_attempt
                        .with_label_values(&[name.as_str()])
                        .set(crate::tls::certs::unix_seconds(next));
                    let serving = match &current {
                        Some(c) if c.valid_at(SystemTime::now()) => format!(
                            "the current certificate keeps serving until it expires at {}",
                            humanize(c.not_after)
                        ),
                        Some(c) => format!(
                            "the current certificate expired at {} and clients refuse it",
                            humanize(c.not_after)
                        ),
                        None => "no certificate is served for these names yet".to_string(),
                    };
                    tracing::error!(
                        certificate = %name, failures, retry_in_seconds = wait.as_secs_f64(), error = %e,
                        "could not obtain a certificate; {serving}; retrying in {}",
                        humantime_short(wait)
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One order, stored and checked before it is returned.
    async fn order(
        &self,
        cert: &AcmeCertificate,
        replaces: Option<CertificateIdentifier<'static>>,
    ) -> Result<LoadedCert, OrderError> {
        let account = self.account().await?;
        let issued = order::run(&account, cert, &self.tokens, &self.http, replaces).await?;
        let loaded =
            load_pem(issued.chain_pem.as_bytes(), issued.key_pem.as_bytes()).map_err(|e| {
                OrderError::Other(format!(
                    "the CA sent a certificate gatehouse cannot serve: {e}"
                ))
            })?;
        if let Some(n) = cert.names.iter().find(|n| !loaded.names.contains(n)) {
            return Err(OrderError::Other(format!(
                "the issued certificate does not cover {n}"
            )));
        }
        let path = self
            .store
            .write_certificate(first_name(cert), &issued.chain_pem, &issued.key_pem)
            .map_err(|e| {
                OrderError::Other(format!(
                    "cannot save the certificate under {}: {e}",
                    self.store.root().display()
                ))
            })?;
        tracing::debug!(file = %path.display(), "certificate saved");
        Ok(loaded)
    }

    fn count_store_error(&self) {
        if let Some(s) = &self.shared {
            s.count_error();
        }
    }
}

fn first_name(cert: &AcmeCertificate) -> &str {
    cert.names.first().map_or("", String::as_str)
}

/// RFC 3339 UTC time for logs.
fn humanize(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs}"))
}

fn humantime_short(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}
