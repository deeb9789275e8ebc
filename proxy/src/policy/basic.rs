//! HTTP basic authentication against bcrypt or argon2 hashes: a bounded number of
//! verifications at once (a check that cannot get a slot is answered busy, not refused), and
//! a small cache of verified logins so that every request of a browser session does not pay
//! for a hash.

use super::bounded::{Bounded, Held};
use super::gates::sha256;
use base64::Engine;
use gatehouse_config::policy::BasicAuth;
use pingora::http::RequestHeader;
use prometheus::IntCounter;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Successful logins are remembered briefly so that every request of a browser session does
/// not pay for a bcrypt/argon2 verification.
const CACHE_FOR: Duration = Duration::from_secs(300);
const CACHE_MAX: usize = 1024;

/// When a login was verified.
struct Verified(Instant);

impl Held for Verified {}
/// Verifications running at once (hashing is deliberately slow).
const SLOTS: usize = 2;
/// Longest wait for a verification slot; past it the check is answered busy (503).
const SLOT_WAIT: Duration = Duration::from_secs(2);
/// Checks waiting for a slot at most; past it a check is answered busy at once.
const MAX_WAITING: usize = 64;

/// What a basic-auth check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    Admit,
    Refuse,
    /// No verification slot was free in time: nothing was checked (not a failed login).
    Busy,
}

/// One check waiting for a slot, counted while it waits (however the wait ends).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Basic authentication with a small cache of verified credentials.
pub(crate) struct Basic {
    pub(crate) challenge: String,
    users: HashMap<String, String>,
    /// Verified for unknown users (then refused), so that they take as long as known ones and
    /// response times do not tell which user names exist.
    decoy: String,
    /// Keyed by a digest of user, password and hash; sharded, least recently used evicted.
    verified: Bounded<Verified>,
    /// Verifications running at once; the rest wait. A slot is held by the verification
    /// itself, so a client that goes away mid-check does not free it early.
    slots: Arc<tokio::sync::Semaphore>,
    waiting: AtomicUsize,
    slot_wait: Duration,
    /// When a busy answer was last logged (seconds since `created`), so that a crowd is
    /// logged once a minute, not once a request.
    busy_logged: AtomicU64,
    created: Instant,
}

impl Basic {
    /// The gate of `b`; logins evicted from the full cache are counted in `evicted`.
    pub(crate) fn new(b: &BasicAuth, evicted: IntCounter) -> Arc<Basic> {
        Basic::with_slot_wait(b, SLOT_WAIT, evicted)
    }

    pub(crate) fn with_slot_wait(
        b: &BasicAuth,
        slot_wait: Duration,
        evicted: IntCounter,
    ) -> Arc<Basic> {
        Arc::new(Basic {
            challenge: format!("Basic realm=\"{}\", charset=\"UTF-8\"", b.realm),
            users: b
                .users
                .iter()
                .map(|(u, h)| (u.clone(), h.0.clone()))
                .collect(),
            decoy: b
                .users
                .first()
                .map(|(_, h)| h.0.clone())
                .unwrap_or_default(),
            verified: Bounded::new(CACHE_MAX, evicted),
            slots: Arc::new(tokio::sync::Semaphore::new(SLOTS)),
            waiting: AtomicUsize::new(0),
            slot_wait,
            busy_logged: AtomicU64::new(u64::MAX),
            created: Instant::now(),
        })
    }

    /// Take every verification slot (tests of a busy gate).
    #[cfg(test)]
    pub(crate) fn hold_slots(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_many_owned(SLOTS as u32).ok()
    }

    pub(crate) async fn check(self: &Arc<Self>, req: &RequestHeader) -> Check {
        let Some((user, password)) = credentials(req) else {
            return Check::Refuse;
        };
        let hash = self.users.get(&user).cloned();
        let mut id = Vec::with_capacity(user.len() + password.len() + 70);
        id.extend_from_slice(user.as_bytes());
        id.push(0);
        id.extend_from_slice(password.as_bytes());
        id.push(0);
        id.extend_from_slice(hash.as_deref().unwrap_or("").as_bytes());
        let digest = sha256(&id);
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        let id = u128::from_be_bytes(first);
        let now = Instant::now();
        let cached = self.verified.update(id, |t| {
            let fresh = now.duration_since(t.0) < CACHE_FOR;
            (fresh, fresh)
        });
        if cached == Some(true) {
            return if hash.is_some() {
                Check::Admit
            } else {
                Check::Refuse
            };
        }
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => Ok(slot),
            Err(_) => {
                let crowded = self.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING;
                let _waiting = Waiting(&self.waiting);
                if crowded {
                    Err(())
                } else {
                    let wait = self.slots.clone().acquire_owned();
                    match tokio::time::timeout(self.slot_wait, wait).await {
                        Ok(Ok(slot)) => Ok(slot),
                        _ => Err(()),
                    }
                }
            }
        };
        let Ok(slot) = slot else {
            self.log_busy();
            return Check::Busy;
        };
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.clone());
        let ok = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            verify(&password, &hash)
        })
        .await
        .unwrap_or(false)
            && known;
        if ok {
            self.verified.with(id, || Verified(now), |t| t.0 = now);
            Check::Admit
        } else {
            Check::Refuse
        }
    }
}

impl Basic {
    fn log_busy(&self) {
        let now = self.created.elapsed().as_secs();
        let last = self.busy_logged.load(Ordering::Relaxed);
        let due = last == u64::MAX || now >= last + 60;
        if due
            && self
                .busy_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                "basic auth: more password checks at once than verification slots; answering 503 auth_busy (not counted as failed logins) — a password-guessing crowd? add a rate limit before basic_auth"
            );
        }
    }
}

/// `Authorization: Basic base64(user:password)`.
fn credentials(req: &RequestHeader) -> Option<(String, String)> {
    let v = req
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Check `password` against a bcrypt or argon2 hash.
pub(crate) fn verify(password: &str, hash: &str) -> bool {
    if hash.starts_with("$argon2") {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        return PasswordHash::new(hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
    }
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// Why `gatehouse hash-password` cannot hash a password.
#[derive(Debug, thiserror::Error)]
pub enum HashPasswordError {
    /// No salt: the system random source failed.
    #[error("the system random source failed")]
    Random,
    /// argon2 refused the salt or the password.
    #[error("{0}")]
    Argon2(argon2::password_hash::Error),
}

/// An argon2id hash (PHC string) of `password` for `basic_auth.users`.
pub fn hash_password(password: &str) -> Result<String, HashPasswordError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use ring::rand::SecureRandom;
    let mut salt = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| HashPasswordError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(HashPasswordError::Argon2)?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashPasswordError::Argon2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::secret::Secret;
    use prometheus::IntCounter;

    fn req(header: &str, value: &str) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).expect("req");
        r.insert_header(header.to_string(), value).expect("hdr");
        r
    }

    #[test]
    fn hashes_verify() {
        let h = hash_password("pw").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("pw", &h));
        assert!(!verify("px", &h));
        let b = bcrypt::hash("pw", 4).expect("bcrypt");
        assert!(verify("pw", &b));
        assert!(!verify("px", &b));
        assert!(!verify("pw", "not a hash"));
    }

    #[tokio::test]
    async fn a_client_gone_mid_check_keeps_its_slot_until_the_hash_is_done() {
        let b = Basic::with_slot_wait(
            &BasicAuth {
                realm: "r".into(),
                users: vec![(
                    "alice".into(),
                    Secret(bcrypt::hash("pw", 10).expect("bcrypt")),
                )],
                forward_credentials: false,
            },
            Duration::from_millis(20),
            IntCounter::new("evicted", "evicted").expect("counter"),
        );
        let wrong = base64::engine::general_purpose::STANDARD.encode("alice:guess");
        let r = req("authorization", &format!("Basic {wrong}"));
        // Two checks start hashing and their clients go away at once.
        for _ in 0..SLOTS {
            let gone = tokio::time::timeout(Duration::from_millis(1), b.check(&r)).await;
            assert!(gone.is_err(), "the check should still be hashing");
        }
        // Their verifications still hold both slots.
        assert_eq!(b.check(&r).await, Check::Busy);
    }
}
