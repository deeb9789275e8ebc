//! HTTP-01 answers: the proxy serves `/.well-known/acme-challenge/<token>` from this map while
//! an order is being validated. Only requests for that path prefix ever look here.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The path prefix of HTTP-01 challenge requests.
pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Pending HTTP-01 key authorizations, by token.
#[derive(Debug, Default, Clone)]
pub struct Http01Tokens {
    inner: Arc<RwLock<HashMap<String, String>>>,
}

impl Http01Tokens {
    /// Start answering `token` with `key_authorization`.
    pub fn insert(&self, token: &str, key_authorization: &str) {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_string(), key_authorization.to_string());
    }

    /// Stop answering `token`.
    pub fn remove(&self, token: &str) {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    /// The answer for a request path, when it is a challenge this process is waiting on.
    pub fn answer(&self, path: &str) -> Option<String> {
        let token = path.strip_prefix(CHALLENGE_PREFIX)?;
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_known_tokens_under_the_prefix() {
        let t = Http01Tokens::default();
        t.insert("abc", "abc.thumb");
        assert_eq!(
            t.answer("/.well-known/acme-challenge/abc").as_deref(),
            Some("abc.thumb")
        );
        assert_eq!(t.answer("/.well-known/acme-challenge/other"), None);
        assert_eq!(t.answer("/abc"), None);
        t.remove("abc");
        assert_eq!(t.answer("/.well-known/acme-challenge/abc"), None);
    }
}
