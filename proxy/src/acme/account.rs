//! The ACME account (loaded from the store, or created once and stored) and the CA's renewal
//! information (ARI) for a served certificate.

use super::order::{self, OrderError};
use super::schedule::Window;
use super::{humanize, AcmeManager};
use crate::tls::LoadedCert;
use instant_acme::{
    Account, AccountCredentials, CertificateIdentifier, ExternalAccountKey, NewAccount,
};

impl AcmeManager {
    /// The account: loaded from the store, or created once and stored.
    pub(super) async fn account(&self) -> Result<Account, OrderError> {
        let mut slot = self.account.lock().await;
        if let Some(a) = slot.as_ref() {
            return Ok(a.clone());
        }
        let builder = || Account::builder_with_http(Box::new(self.http.clone()));
        let stored = if self
            .forget_account
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            None
        } else {
            self.stored_account().await.map_err(OrderError::Other)?
        };
        if let Some(bytes) = stored {
            match serde_json::from_slice::<AccountCredentials>(&bytes) {
                Ok(creds) => {
                    let account = builder()
                        .from_credentials(creds)
                        .await
                        .map_err(order::acme("loading the ACME account"))?;
                    *slot = Some(account.clone());
                    return Ok(account);
                }
                Err(e) => tracing::error!(
                    file = %self.store.account_path().display(), error = %e,
                    shared = self.shared.is_some(),
                    "the stored ACME account is damaged; creating a new account"
                ),
            }
        }
        let contact: Vec<String> = self
            .config
            .email
            .iter()
            .map(|e| format!("mailto:{e}"))
            .collect();
        let contact_refs: Vec<&str> = contact.iter().map(String::as_str).collect();
        let eab = self
            .config
            .external_account
            .as_ref()
            .map(|e| ExternalAccountKey::new(e.key_id.clone(), &e.hmac_key));
        let new_account = NewAccount {
            contact: &contact_refs,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let mut attempts = 0;
        let (account, creds) = loop {
            let created = builder()
                .create(&new_account, self.config.directory.clone(), eab.as_ref())
                .await;
            match created {
                Err(e) if order::is_bad_nonce(&e) && attempts < 8 => attempts += 1,
                other => break other.map_err(order::acme("creating the ACME account"))?,
            }
        };
        let json = serde_json::to_vec_pretty(&creds)
            .map_err(|e| OrderError::Other(format!("cannot serialize the account: {e}")))?;
        let replace = self
            .forget_account
            .load(std::sync::atomic::Ordering::Relaxed);
        let kept = self
            .save_account(json.clone(), replace)
            .await
            .map_err(OrderError::Other)?;
        self.forget_account
            .store(false, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(account = account.id(), directory = %self.config.directory, "ACME account created");
        if kept != json {
            // Another instance of the cluster stored its account first: use that one.
            let creds = serde_json::from_slice::<AccountCredentials>(&kept).map_err(|e| {
                OrderError::Other(format!("the shared ACME account is damaged: {e}"))
            })?;
            let shared = builder()
                .from_credentials(creds)
                .await
                .map_err(order::acme("loading the ACME account"))?;
            tracing::info!(
                account = shared.id(),
                "using the account another instance created"
            );
            *slot = Some(shared.clone());
            return Ok(shared);
        }
        *slot = Some(account.clone());
        Ok(account)
    }

    pub(super) fn supports_ari(&self) -> bool {
        self.ari.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The CA's suggested renewal window for `cert`, when the CA offers ARI. Only an account
    /// already loaded is asked: ARI refines the schedule, it is no reason to contact the CA
    /// when nothing else needs it.
    pub(super) async fn renewal_window(&self, cert: &LoadedCert) -> Option<Window> {
        let loaded = self.account.lock().await.clone();
        let account = match loaded {
            Some(a) => a,
            // After a restart: load the stored account (this only reads the CA's directory).
            None if self.stored_account().await.ok().flatten().is_some() => {
                self.account().await.ok()?
            }
            None => return None,
        };
        let leaf = cert.leaf()?;
        let id = CertificateIdentifier::try_from(leaf).ok()?;
        match account.renewal_info(&id).await {
            Ok((info, _retry_after)) => {
                self.ari.store(true, std::sync::atomic::Ordering::Relaxed);
                let w = Window::from_info(&info);
                if let (Some(w), Some(url)) = (&w, &info.explanation_url) {
                    tracing::debug!(window_start = %humanize(w.start), explanation = %url, "the CA suggests a renewal window");
                }
                w
            }
            Err(instant_acme::Error::Unsupported(_)) => {
                self.ari.store(false, std::sync::atomic::Ordering::Relaxed);
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "renewal information (ARI) not available");
                None
            }
        }
    }
}
