//! Gates: client-address allow/deny lists, API keys (compared in constant time, never logged)
//! and HTTP basic authentication against bcrypt or argon2 hashes.

use base64::Engine;
use gatehouse_config::{ApiKeyGate, BasicAuth, IpGate};
use pingora::http::RequestHeader;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Whether `ip` passes the allow/deny lists. Unknown clients (no socket address) do not.
pub(crate) fn ip_allowed(gate: &IpGate, ip: Option<IpAddr>) -> bool {
    let Some(ip) = ip.map(|ip| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }) else {
        return false;
    };
    if gate.deny.iter().any(|n| n.contains(&ip)) {
        return false;
    }
    gate.allow.is_empty() || gate.allow.iter().any(|n| n.contains(&ip))
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
    out
}

/// An API-key gate with the keys kept as digests: comparing fixed-size digests in constant
/// time reveals neither the keys nor their lengths.
pub(crate) struct ApiKeys {
    header: String,
    bearer: bool,
    digests: Vec<[u8; 32]>,
}

impl ApiKeys {
    pub(crate) fn new(gate: &ApiKeyGate) -> ApiKeys {
        ApiKeys {
            header: gate.header.clone(),
            bearer: gate.bearer,
            digests: gate.keys.iter().map(|k| sha256(k.0.as_bytes())).collect(),
        }
    }

    pub(crate) fn admits(&self, req: &RequestHeader) -> bool {
        let Some(value) = req.headers.get(self.header.as_str()) else {
            return false;
        };
        let mut presented = value.as_bytes();
        if self.bearer {
            match presented.get(..7) {
                Some(p) if p.eq_ignore_ascii_case(b"bearer ") => presented = &presented[7..],
                _ => return false,
            }
        }
        let d = sha256(presented);
        let mut ok = subtle::Choice::from(0);
        for k in &self.digests {
            ok |= k.ct_eq(&d);
        }
        ok.into()
    }
}

/// Successful logins are remembered briefly so that every request of a browser session does
/// not pay for a bcrypt/argon2 verification.
const CACHE_FOR: Duration = Duration::from_secs(300);
const CACHE_MAX: usize = 1024;
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
    verified: Mutex<HashMap<[u8; 32], Instant>>,
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
    pub(crate) fn new(b: &BasicAuth) -> Arc<Basic> {
        Basic::with_slot_wait(b, SLOT_WAIT)
    }

    pub(crate) fn with_slot_wait(b: &BasicAuth, slot_wait: Duration) -> Arc<Basic> {
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
            verified: Mutex::new(HashMap::new()),
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
        let id = sha256(&id);
        let now = Instant::now();
        if let Ok(cache) = self.verified.lock() {
            if cache
                .get(&id)
                .is_some_and(|t| now.duration_since(*t) < CACHE_FOR)
            {
                return if hash.is_some() {
                    Check::Admit
                } else {
                    Check::Refuse
                };
            }
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
            if let Ok(mut cache) = self.verified.lock() {
                if cache.len() >= CACHE_MAX {
                    cache.retain(|_, t| now.duration_since(*t) < CACHE_FOR);
                    if cache.len() >= CACHE_MAX {
                        cache.clear();
                    }
                }
                cache.insert(id, now);
            }
        }
        if ok {
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

/// An argon2id hash (PHC string) of `password` for `basic_auth.users`.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use ring::rand::SecureRandom;
    let mut salt = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "the system random source failed".to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::Secret;

    fn req(header: &str, value: &str) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).expect("req");
        r.insert_header(header.to_string(), value).expect("hdr");
        r
    }

    #[test]
    fn ip_lists() {
        let gate = IpGate {
            allow: vec!["10.0.0.0/8".parse().expect("net")],
            deny: vec!["10.6.0.0/16".parse().expect("net")],
        };
        assert!(ip_allowed(&gate, "10.1.2.3".parse().ok()));
        assert!(ip_allowed(&gate, "::ffff:10.1.2.3".parse().ok()));
        assert!(!ip_allowed(&gate, "10.6.2.3".parse().ok()));
        assert!(!ip_allowed(&gate, "192.0.2.1".parse().ok()));
        assert!(!ip_allowed(&gate, None));
    }

    #[test]
    fn api_keys_and_bearer() {
        let keys = ApiKeys::new(&ApiKeyGate {
            header: "x-api-key".into(),
            bearer: false,
            keys: vec![Secret("k1".into()), Secret("k2".into())],
            forward_credentials: false,
        });
        assert!(keys.admits(&req("x-api-key", "k2")));
        assert!(!keys.admits(&req("x-api-key", "k3")));
        assert!(!keys.admits(&req("x-other", "k1")));
        let bearer = ApiKeys::new(&ApiKeyGate {
            header: "authorization".into(),
            bearer: true,
            keys: vec![Secret("k1".into())],
            forward_credentials: false,
        });
        assert!(bearer.admits(&req("authorization", "Bearer k1")));
        assert!(!bearer.admits(&req("authorization", "k1")));
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
