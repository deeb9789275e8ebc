//! One ACME order from start to certificate: authorizations, challenges (HTTP-01 answered by
//! the proxy, DNS-01 through the operator's hook), finalization, download. Every failure
//! comes back as an [`OrderError`] that says what was tried and what to fix.

use super::dns_hook::{self, Action};
use super::http::AcmeHttp;
use super::tokens::Http01Tokens;
use gatehouse_config::tls::{AcmeCertificate, Challenge};
use instant_acme::{
    Account, AuthorizationStatus, CertificateIdentifier, ChallengeType, Error as AcmeError,
    Identifier, NewOrder, Order, OrderStatus, RetryPolicy,
};
use std::time::Duration;

/// Why an order failed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The CA (or the way to it) failed; `hint` says what the operator can check.
    #[error("{step}: {source}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    Acme {
        /// What was being done.
        step: &'static str,
        /// The error.
        source: AcmeError,
        /// What to check.
        hint: Option<&'static str>,
    },
    /// The CA could not validate a name.
    #[error("the CA could not validate {name} over {challenge}: {detail} ({hint})")]
    Validation {
        /// The name.
        name: String,
        /// http-01 or dns-01.
        challenge: &'static str,
        /// The CA's words.
        detail: String,
        /// What to check.
        hint: &'static str,
    },
    /// The operator's DNS hook failed.
    #[error("dns_hook for {name}: {detail}")]
    DnsHook {
        /// The record name.
        name: String,
        /// What went wrong.
        detail: String,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl OrderError {
    /// Whether the CA no longer knows our account (e.g. a test or private CA was reset).
    pub fn account_unknown(&self) -> bool {
        matches!(self, OrderError::Acme { source: AcmeError::Api(p), .. }
            if p.r#type.as_deref() == Some("urn:ietf:params:acme:error:accountDoesNotExist"))
    }

    /// Whether the CA said we are rate limited.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, OrderError::Acme { source: AcmeError::Api(p), .. }
            if p.r#type.as_deref() == Some("urn:ietf:params:acme:error:rateLimited"))
    }
}

/// An instant-acme error at `step`, with a hint of what the operator can check.
pub(super) fn acme(step: &'static str) -> impl FnOnce(AcmeError) -> OrderError {
    move |source| {
        let hint = match &source {
            AcmeError::Api(p) => match p.r#type.as_deref().unwrap_or("") {
                "urn:ietf:params:acme:error:rateLimited" => {
                    Some("rate limited by the CA; gatehouse waits as long as the CA's Retry-After asks")
                }
                "urn:ietf:params:acme:error:rejectedIdentifier" => {
                    Some("the CA will not issue for this name")
                }
                "urn:ietf:params:acme:error:externalAccountRequired" => {
                    Some("this CA needs tls.acme.external_account")
                }
                _ => None,
            },
            AcmeError::Other(_) | AcmeError::Timeout(_) => Some(
                "is the directory URL right and reachable from here? For a private CA set tls.acme.directory_ca_file",
            ),
            _ => None,
        };
        OrderError::Acme { step, source, hint }
    }
}

/// Run a protocol step, again when the CA rejects our nonce (it may do so at any time;
/// instant-acme retries three times, a busy CA can reject more).
macro_rules! nonce_retry {
    ($step:expr) => {{
        let mut attempts = 0;
        loop {
            match $step {
                Err(e) if is_bad_nonce(&e) && attempts < 8 => {
                    attempts += 1;
                }
                other => break other,
            }
        }
    }};
}

/// What an order produced.
pub(super) struct Issued {
    /// The chain, PEM.
    pub(super) chain_pem: String,
    /// The private key, PEM.
    pub(super) key_pem: String,
}

/// Cleans up challenge answers however the order ends.
struct Cleanup<'a> {
    tokens: &'a Http01Tokens,
    http_tokens: Vec<String>,
    dns_records: Vec<(String, String)>,
}

/// Run one order for `cert`. `replaces` names the certificate being renewed (ARI).
pub(super) async fn run(
    account: &Account,
    cert: &AcmeCertificate,
    tokens: &Http01Tokens,
    http: &AcmeHttp,
    replaces: Option<CertificateIdentifier<'static>>,
) -> Result<Issued, OrderError> {
    let identifiers: Vec<Identifier> = cert
        .names
        .iter()
        .map(|n| Identifier::Dns(n.clone()))
        .collect();
    let create = |replaces: Option<CertificateIdentifier<'static>>| {
        let mut new = NewOrder::new(&identifiers);
        if let Some(r) = replaces {
            new = new.replaces(r);
        }
        new
    };
    let mut order = match nonce_retry!(account.new_order(&create(replaces.clone())).await) {
        Ok(o) => o,
        // The CA may refuse the ARI `replaces` field (e.g. already replaced): order plainly.
        Err(e) if replaces.is_some() => {
            tracing::debug!(error = %e, "order with `replaces` refused; ordering without it");
            nonce_retry!(account.new_order(&create(None)).await)
                .map_err(acme("creating the order"))?
        }
        Err(e) => return Err(acme("creating the order")(e)),
    };

    let mut cleanup = Cleanup {
        tokens,
        http_tokens: Vec::new(),
        dns_records: Vec::new(),
    };
    let result = authorize_and_finalize(&mut order, cert, http, &mut cleanup).await;
    for t in &cleanup.http_tokens {
        cleanup.tokens.remove(t).await;
    }
    if let Challenge::Dns01(hook) = &cert.challenge {
        for (name, value) in &cleanup.dns_records {
            if let Err(e) = dns_hook::call(hook, http, Action::Clear, name, value).await {
                tracing::warn!(record = %name, error = %e, "dns_hook could not clear the challenge record; remove it by hand");
            }
        }
    }
    result
}

async fn authorize_and_finalize(
    order: &mut Order,
    cert: &AcmeCertificate,
    http: &AcmeHttp,
    cleanup: &mut Cleanup<'_>,
) -> Result<Issued, OrderError> {
    let (kind, kind_name) = match &cert.challenge {
        Challenge::Http01 => (ChallengeType::Http01, "http-01"),
        Challenge::Dns01(_) => (ChallengeType::Dns01, "dns-01"),
    };
    fetch_authorizations(order).await?;
    // Publish every answer first, then tell the CA; the CA may check at once.
    let mut ready = Vec::new();
    {
        let mut authzs = order.authorizations();
        while let Some(authz) = authzs.next().await {
            let mut authz = authz.map_err(acme("fetching authorizations"))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(OrderError::Other(format!(
                        "authorization for {} is {other:?}",
                        authz.identifier()
                    )))
                }
            }
            let name = authz.identifier().to_string();
            let challenge = authz.challenge(kind.clone()).ok_or_else(|| {
                OrderError::Other(format!("the CA offers no {kind_name} challenge for {name}"))
            })?;
            let key_auth = challenge.key_authorization();
            match &cert.challenge {
                Challenge::Http01 => {
                    // Withdrawn afterwards even if publishing fails half-way.
                    cleanup.http_tokens.push(challenge.token.clone());
                    cleanup
                        .tokens
                        .insert(&challenge.token, key_auth.as_str())
                        .await
                        .map_err(|e| {
                            OrderError::Other(format!(
                                "cannot publish the HTTP-01 answer for {name} to the other \
                                 instances: {e}"
                            ))
                        })?;
                }
                Challenge::Dns01(hook) => {
                    let record = dns_hook::record_name(&name);
                    let value = key_auth.dns_value();
                    // Cleared afterwards even if `set` fails half-way (clearing is harmless).
                    cleanup.dns_records.push((record.clone(), value.clone()));
                    dns_hook::call(hook, http, Action::Set, &record, &value)
                        .await
                        .map_err(|detail| OrderError::DnsHook {
                            name: record.clone(),
                            detail,
                        })?;
                }
            }
            ready.push(challenge.url.clone());
        }
    }
    if let Challenge::Dns01(hook) = &cert.challenge {
        if !hook.propagation_delay.is_zero() && !ready.is_empty() {
            tokio::time::sleep(hook.propagation_delay).await;
        }
    }
    {
        let mut authzs = order.authorizations();
        while let Some(authz) = authzs.next().await {
            let mut authz = authz.map_err(acme("fetching authorizations"))?;
            if authz.status != AuthorizationStatus::Pending {
                continue;
            }
            let Some(mut challenge) = authz.challenge(kind.clone()) else {
                continue;
            };
            nonce_retry!(challenge.set_ready().await)
                .map_err(acme("telling the CA the challenge is ready"))?;
        }
    }
    let poll = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .backoff(1.5)
        .timeout(Duration::from_secs(120));
    let status = match nonce_retry!(order.poll_ready(&poll).await) {
        Ok(s) => s,
        // An invalid order carries the CA's problem; anything else is an error of its own.
        Err(AcmeError::Api(_)) if order.state().status == OrderStatus::Invalid => {
            OrderStatus::Invalid
        }
        Err(e) => return Err(acme("waiting for validation")(e)),
    };
    if status == OrderStatus::Invalid {
        return Err(explain_invalid(order, kind, kind_name).await);
    }
    let key_pem = nonce_retry!(order.finalize().await).map_err(acme("finalizing the order"))?;
    let chain_pem = nonce_retry!(order.poll_certificate(&poll).await)
        .map_err(acme("downloading the certificate"))?;
    Ok(Issued { chain_pem, key_pem })
}

/// Whether the CA rejected a request's nonce (the request can be sent again).
pub(super) fn is_bad_nonce(e: &AcmeError) -> bool {
    matches!(e, AcmeError::Api(p) if p.r#type.as_deref() == Some("urn:ietf:params:acme:error:badNonce"))
}

/// Fetch every authorization of the order, again for those the CA answered with a bad nonce
/// (a fetched one is kept, so a later pass only asks for the missing ones).
async fn fetch_authorizations(order: &mut Order) -> Result<(), OrderError> {
    let mut passes = 0;
    loop {
        let mut missing = false;
        let mut authzs = order.authorizations();
        while let Some(authz) = authzs.next().await {
            match authz {
                Ok(_) => {}
                Err(e) if is_bad_nonce(&e) && passes < 8 => missing = true,
                Err(e) => return Err(acme("fetching authorizations")(e)),
            }
        }
        if !missing {
            return Ok(());
        }
        passes += 1;
    }
}

/// Find the CA's words on the first failed challenge, and say what usually causes them.
async fn explain_invalid(
    order: &mut Order,
    kind: ChallengeType,
    kind_name: &'static str,
) -> OrderError {
    let mut authzs = order.authorizations();
    while let Some(Ok(mut authz)) = authzs.next().await {
        let _ = authz.refresh().await;
        let name = authz.identifier().to_string();
        if let Some(ch) = authz.challenge(kind.clone()) {
            if let Some(p) = &ch.error {
                let detail = p.detail.clone().unwrap_or_else(|| p.to_string());
                let hint = match p.r#type.as_deref().unwrap_or("") {
                    "urn:ietf:params:acme:error:dns" => {
                        "does DNS for this name resolve? It must point at this gatehouse"
                    }
                    "urn:ietf:params:acme:error:connection" => {
                        "port 80 must be reachable from the internet and reach a plain listener of this gatehouse"
                    }
                    "urn:ietf:params:acme:error:unauthorized" if kind_name == "dns-01" => {
                        "the TXT record was not visible to the CA; check the dns_hook and raise propagation_delay"
                    }
                    "urn:ietf:params:acme:error:unauthorized" => {
                        "the CA reached a server that did not give the expected answer; does DNS point at this gatehouse?"
                    }
                    _ => "see the CA's message",
                };
                return OrderError::Validation {
                    name,
                    challenge: kind_name,
                    detail,
                    hint,
                };
            }
        }
    }
    OrderError::Other(format!(
        "the order became invalid ({kind_name}) without a reason from the CA"
    ))
}
