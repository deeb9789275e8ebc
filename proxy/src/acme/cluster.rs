//! The manager's side of cluster mode: keeping the served certificate in step with the shared
//! store, and the order lock held (and renewed) while this instance orders.

use super::shared::{SharedAcme, SharedCert, LOCK_TTL};
use super::{first_name, humanize, AcmeManager};
use crate::tls::{load_pem, LoadedCert};
use gatehouse_cluster::PgError;
use gatehouse_config::tls::AcmeCertificate;
use std::time::{Duration, SystemTime};

/// How often an instance looks for a certificate another instance stored (and how long it
/// waits before looking again while another instance holds the order lock).
pub(super) const SYNC_INTERVAL: Duration = Duration::from_secs(2);

/// The order lock of one certificate, renewed in the background until released.
pub(super) struct OrderLock {
    shared: SharedAcme,
    name: String,
    keepalive: tokio::task::JoinHandle<()>,
}

impl OrderLock {
    /// Keep the lock for `wait` after a failed order, without renewing it: the other
    /// instances do not order until it lapses (this one takes it again when it retries).
    pub(super) async fn hold_for(self, wait: Duration) {
        self.keepalive.abort();
        if let Err(e) = self.shared.hold(&self.name, wait).await {
            self.shared.count_error();
            tracing::warn!(certificate = %self.name, error = %e, "cannot keep the ACME order lock through the backoff");
        }
    }

    /// Give the lock up (the next due instance may order).
    pub(super) async fn release(self) {
        self.keepalive.abort();
        if let Err(e) = self.shared.unlock(&self.name).await {
            self.shared.count_error();
            tracing::warn!(certificate = %self.name, error = %e, "cannot release the ACME order lock; it lapses by itself");
        }
    }
}

/// What taking the lock came to.
pub(super) enum Locked {
    /// Not in a cluster: order alone.
    Alone,
    /// This instance holds the lock.
    Held(OrderLock),
    /// Another instance holds it.
    Busy(Option<String>),
}

impl AcmeManager {
    /// Take the order lock of `cert` in a cluster.
    pub(super) async fn lock_order(&self, cert: &AcmeCertificate) -> Result<Locked, PgError> {
        let Some(shared) = &self.shared else {
            return Ok(Locked::Alone);
        };
        let name = first_name(cert).to_owned();
        if !shared.lock(&name).await? {
            let holder = shared.lock_holder(&name).await.unwrap_or(None);
            return Ok(Locked::Busy(holder));
        }
        let (s, n) = (shared.clone(), name.clone());
        let keepalive = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LOCK_TTL / 3).await;
                match s.lock(&n).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(certificate = %n, "the ACME order lock lapsed and another instance took it");
                        return;
                    }
                    Err(e) => {
                        s.count_error();
                        tracing::warn!(certificate = %n, error = %e, "cannot renew the ACME order lock");
                    }
                }
            }
        });
        Ok(Locked::Held(OrderLock {
            shared: shared.clone(),
            name,
            keepalive,
        }))
    }

    /// In a cluster: serve the stored certificate when it lasts longer than `current` (another
    /// instance ordered or renewed it), and store `current` when the store's is older or
    /// missing (this instance's save failed earlier). Whether `current` was replaced.
    pub(super) async fn sync(
        &self,
        cert: &AcmeCertificate,
        current: &mut Option<LoadedCert>,
    ) -> Result<bool, PgError> {
        let Some(shared) = &self.shared else {
            return Ok(false);
        };
        let name = first_name(cert);
        let serial = shared.serial(name).await?;
        if serial.is_some() && serial.as_deref() == current.as_ref().map(|c| c.serial.as_str()) {
            return Ok(false);
        }
        let stored = match serial {
            Some(_) => shared.certificate(name).await?,
            None => None,
        };
        let now = SystemTime::now();
        let loaded = stored.as_ref().and_then(|s| {
            match load_pem(s.bundle.as_bytes(), s.bundle.as_bytes()) {
                Ok(c) if c.valid_at(now) => Some(c),
                Ok(_) => None,
                Err(e) => {
                    tracing::error!(certificate = name, error = %e, "the certificate in the shared store is damaged and will not be served");
                    None
                }
            }
        });
        match (loaded, stored, current.as_ref()) {
            (Some(c), Some(s), cur) if cur.is_none_or(|cur| c.not_after > cur.not_after) => {
                tracing::info!(certificate = name, serial = %c.serial, expires = %humanize(c.not_after), "serving the certificate another instance obtained");
                if let Err(e) = self.store.write_bundle(name, &s.bundle) {
                    tracing::warn!(certificate = name, error = %e, "cannot keep a local copy of the shared certificate");
                }
                self.resolver.set_acme(name, c.clone());
                *current = Some(c);
                Ok(true)
            }
            (_, _, Some(cur)) if cur.valid_at(now) => {
                let bundle = match self.store.read_bundle(name) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(certificate = name, error = %e, "cannot read the local certificate to share it");
                        return Ok(false);
                    }
                };
                let not_after = unix(cur.not_after);
                let shared_cert = SharedCert {
                    serial: cur.serial.clone(),
                    bundle,
                };
                if shared
                    .save_certificate(name, shared_cert, not_after)
                    .await?
                {
                    tracing::info!(certificate = name, serial = %cur.serial, "certificate stored for the other instances");
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Store a certificate this instance just obtained for the other instances (a failure is
    /// logged; the next [`AcmeManager::sync`] stores it).
    pub(super) async fn share(&self, cert: &AcmeCertificate, loaded: &LoadedCert) {
        let Some(shared) = &self.shared else {
            return;
        };
        let name = first_name(cert);
        let bundle = match self.store.read_bundle(name) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(certificate = name, error = %e, "cannot read the local certificate to share it");
                return;
            }
        };
        let c = SharedCert {
            serial: loaded.serial.clone(),
            bundle,
        };
        if let Err(e) = shared
            .save_certificate(name, c, unix(loaded.not_after))
            .await
        {
            shared.count_error();
            tracing::error!(certificate = name, error = %e, "cannot store the new certificate for the other instances; trying again shortly");
        }
    }

    /// The stored account, from the shared store in a cluster, else from the state
    /// directory.
    pub(super) async fn stored_account(&self) -> Result<Option<Vec<u8>>, String> {
        match &self.shared {
            Some(s) => s
                .account()
                .await
                .map(|a| a.map(String::into_bytes))
                .map_err(|e| e.to_string()),
            None => self
                .store
                .read_account()
                .map_err(|e| format!("cannot read {}: {e}", self.store.account_path().display())),
        }
    }

    /// Save a new account. In a cluster an account another instance stored first wins
    /// (unless `replace`: the CA forgot the stored one); returns the credentials to use.
    pub(super) async fn save_account(
        &self,
        json: Vec<u8>,
        replace: bool,
    ) -> Result<Vec<u8>, String> {
        match &self.shared {
            Some(s) => {
                let text = String::from_utf8(json).map_err(|e| e.to_string())?;
                s.save_account(text, replace)
                    .await
                    .map(String::into_bytes)
                    .map_err(|e| e.to_string())
            }
            None => {
                self.store.write_account(&json).map_err(|e| {
                    format!("cannot save {}: {e}", self.store.account_path().display())
                })?;
                Ok(json)
            }
        }
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
