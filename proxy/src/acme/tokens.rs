//! HTTP-01 answers: the proxy serves `/.well-known/acme-challenge/<token>` from this map while
//! an order is being validated. Only requests for that path prefix ever look here. In a
//! cluster the answers are also published to the shared store, and a token this process does
//! not know is looked up there: the CA may reach any instance.

use super::shared::{plausible_token, SharedTokens};
use gatehouse_cluster::PgError;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The path prefix of HTTP-01 challenge requests.
pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Pending HTTP-01 key authorizations, by token.
#[derive(Default, Clone)]
pub struct Http01Tokens {
    inner: Arc<RwLock<HashMap<String, String>>>,
    shared: Option<SharedTokens>,
}

impl std::fmt::Debug for Http01Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http01Tokens")
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

impl Http01Tokens {
    /// Answers shared with the other instances through the cluster's store.
    pub fn shared(pg: gatehouse_cluster::Pg) -> Http01Tokens {
        Http01Tokens {
            inner: Arc::default(),
            shared: Some(SharedTokens::new(pg)),
        }
    }

    /// Start answering `token` with `key_authorization` (in a cluster: on every instance,
    /// once the store has it; an error means the other instances cannot answer).
    pub async fn insert(&self, token: &str, key_authorization: &str) -> Result<(), PgError> {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_string(), key_authorization.to_string());
        match &self.shared {
            Some(s) => s.insert(token, key_authorization).await,
            None => Ok(()),
        }
    }

    /// Stop answering `token`.
    pub async fn remove(&self, token: &str) {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
        if let Some(s) = &self.shared {
            if let Err(e) = s.remove(token).await {
                tracing::debug!(error = %e, "cannot withdraw an HTTP-01 answer; it expires by itself");
            }
        }
    }

    /// The answer for a request path, when it is a challenge this process (or, in a cluster,
    /// another instance) is waiting on.
    pub async fn answer(&self, path: &str) -> Option<String> {
        let token = path.strip_prefix(CHALLENGE_PREFIX)?;
        let local = self
            .inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned();
        match (local, &self.shared) {
            (Some(a), _) => Some(a),
            (None, Some(s)) if plausible_token(token) => s.answer(token).await,
            (None, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_only_known_tokens_under_the_prefix() {
        let t = Http01Tokens::default();
        t.insert("abc", "abc.thumb").await.unwrap();
        assert_eq!(
            t.answer("/.well-known/acme-challenge/abc").await.as_deref(),
            Some("abc.thumb")
        );
        assert_eq!(t.answer("/.well-known/acme-challenge/other").await, None);
        assert_eq!(t.answer("/abc").await, None);
        t.remove("abc").await;
        assert_eq!(t.answer("/.well-known/acme-challenge/abc").await, None);
    }
}
