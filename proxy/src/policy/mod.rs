//! Edge policies on the request path: security headers, CORS, CSRF, rate limits, lockouts and
//! gates, compiled per route from the config (`gatehouse_config::policy::EdgePolicy`).
//!
//! Order on a request (see [`RoutePolicy::check`]): ambiguous credentials → ip → CORS
//! preflight → lockout → rate limits → api_key / basic_auth → CSRF. CORS preflights come
//! before the auth gates because browsers send them without credentials; rate limits come
//! before basic auth so that password guessing is throttled before any hash is computed.
//! Lockouts count final responses only (1xx never; 101 is a success), and a basic-auth check
//! that found no free verification slot (503) is not a failed login.

mod basic;
mod bounded;
mod client_ip;
mod cors;
mod credentials;
pub(crate) mod csp_report;
mod csrf;
mod gates;
mod headers;
mod key;
mod lockout;
mod metrics;
mod origin;
mod rate_limit;
mod redis_store;
mod response;
mod stores;

pub use basic::{hash_password, HashPasswordError};
pub(crate) use client_ip::resolve as client_ip;
pub(crate) use headers::Headers;
use metrics::Decisions;
pub(crate) use metrics::PolicyMetrics;
pub(crate) use redis_store::RedisStore;
pub(crate) use stores::PolicyStores;

use crate::respond::Refusal;
use cors::{CorsRuntime, Preflight};
use credentials::Credentials;
use gatehouse_config::policy::origin::Origin;
use gatehouse_config::policy::{Csrf, FailMode, IpGate, LimitStore};
use gatehouse_config::routes::Route;
use http::HeaderValue;
use key::key_of;
use lockout::{Attempt, Lockout};
use pingora::http::RequestHeader;
use prometheus::IntCounter;
use rate_limit::{Limit, LocalBuckets, Verdict};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct LockoutRun {
    counters: Arc<Lockout>,
    /// With `store: redis`: the server, and the rule's key prefix there.
    shared: Option<(Arc<RedisStore>, String)>,
    locked: IntCounter,
    error_allowed: IntCounter,
    error_denied: IntCounter,
}

/// A route's policy, ready for the request path.
pub(crate) struct RoutePolicy {
    route: String,
    pub(crate) headers: Headers,
    cors: Option<(CorsRuntime, Decisions)>,
    csrf: Option<(Csrf, Decisions)>,
    limits: Vec<Limit>,
    ratelimit_policy: Option<HeaderValue>,
    lockouts: Vec<LockoutRun>,
    ip: Option<(IpGate, Decisions)>,
    api_keys: Option<(gates::ApiKeys, Decisions)>,
    basic: Option<(Arc<basic::Basic>, Decisions)>,
    credentials: Credentials,
    pub(crate) csp_reports: IntCounter,
}

/// What the request path learned about a request that later phases need.
#[derive(Default)]
pub(crate) struct Notes {
    /// Access-Control-Allow-Origin to send, when the request's origin is allowed.
    pub(crate) cors_origin: Option<HeaderValue>,
    /// The `RateLimit` header value.
    pub(crate) ratelimit: Option<HeaderValue>,
    /// The request's place in the route's lockouts, to count its response.
    attempts: Vec<Attempt>,
}

/// What the policy decided.
pub(crate) enum Answer {
    /// Go on to the upstream.
    Pass,
    /// Answer an allowed CORS preflight (204).
    Preflight,
    /// Refuse, with extra headers (Retry-After, WWW-Authenticate).
    Refuse {
        refusal: Refusal,
        message: &'static str,
        headers: Vec<(&'static str, String)>,
    },
}

fn refuse(refusal: Refusal, message: &'static str) -> Answer {
    Answer::Refuse {
        refusal,
        message,
        headers: Vec::new(),
    }
}

fn retry_after(d: Duration) -> String {
    (d.as_secs_f64().ceil() as u64).max(1).to_string()
}

impl RoutePolicy {
    /// Compile `route`'s policy. Local buckets and lockout counters are taken from `previous`
    /// when their rule is unchanged, so a reload does not hand everyone a fresh quota.
    pub(crate) fn build(
        route: &Route,
        previous: Option<&PolicyStores>,
        stores: &mut PolicyStores,
        metrics: &PolicyMetrics,
        rt: &tokio::runtime::Handle,
    ) -> RoutePolicy {
        let p = &route.policy;
        let name = route.name.as_str();
        let redis = stores.redis.as_ref().map(|(_, s)| s.clone());
        let mut limits = Vec::new();
        for rule in &p.rate_limits {
            let id = (route.name.clone(), rule.name.clone());
            let local = if rule.store == LimitStore::Local {
                let reused = previous
                    .and_then(|s| s.local.get(&id))
                    .filter(|b| b.rule == *rule)
                    .cloned();
                let buckets = reused.or_else(|| {
                    let evicted = metrics.keys_evicted(name, "rate_limit", &rule.name);
                    let b = LocalBuckets::new(rule, evicted)?;
                    b.spawn_sweeper(rt, metrics.rate_limit_keys(name, &rule.name));
                    Some(b)
                });
                if let Some(b) = &buckets {
                    stores.local.insert(id, b.clone());
                }
                buckets
            } else {
                None
            };
            limits.push(Limit::new(rule, name, local, redis.clone(), metrics));
        }
        let ratelimit_policy = (!limits.is_empty())
            .then(|| {
                let items: Vec<String> = limits.iter().map(Limit::policy_item).collect();
                HeaderValue::from_str(&items.join(", ")).ok()
            })
            .flatten();
        let mut lockouts = Vec::new();
        for rule in &p.lockouts {
            let id = (route.name.clone(), rule.name.clone());
            let counters = previous
                .and_then(|s| s.lockouts.get(&id))
                .filter(|l| l.rule == *rule)
                .cloned()
                .unwrap_or_else(|| {
                    let evicted = metrics.keys_evicted(name, "lockout", &rule.name);
                    let l = Lockout::new(rule, evicted);
                    l.spawn_sweeper(rt, metrics.lockout_keys(name, &rule.name));
                    l
                });
            stores.lockouts.insert(id, counters.clone());
            let shared = match rule.store {
                LimitStore::Redis { .. } => redis
                    .clone()
                    .map(|r| (r, format!("lo:{name}:{}:", rule.name))),
                LimitStore::Local => None,
            };
            let c = |d: &str| metrics.decision(name, "lockout", &rule.name, d);
            lockouts.push(LockoutRun {
                counters,
                shared,
                locked: c("locked"),
                error_allowed: c("store_error_allowed"),
                error_denied: c("store_error_denied"),
            });
        }
        RoutePolicy {
            route: route.name.clone(),
            headers: Headers::new(&p.headers),
            cors: p
                .cors
                .as_ref()
                .map(|c| (CorsRuntime::new(c), Decisions::new(metrics, name, "cors"))),
            csrf: p
                .csrf
                .as_ref()
                .map(|c| (c.clone(), Decisions::new(metrics, name, "csrf"))),
            limits,
            ratelimit_policy,
            lockouts,
            ip: p
                .ip
                .as_ref()
                .map(|g| (g.clone(), Decisions::new(metrics, name, "ip"))),
            api_keys: p.api_key.as_ref().map(|g| {
                (
                    gates::ApiKeys::new(g),
                    Decisions::new(metrics, name, "api_key"),
                )
            }),
            basic: p.basic_auth.as_ref().map(|b| {
                (
                    basic::Basic::new(b, metrics.keys_evicted(name, "basic_auth", "")),
                    Decisions::new(metrics, name, "basic_auth"),
                )
            }),
            credentials: Credentials::new(p),
            csp_reports: metrics.csp_reports(name),
        }
    }

    /// Whether [`RoutePolicy::check`] needs the origin the request was addressed to.
    pub(crate) fn needs_own_origin(&self) -> bool {
        self.csrf.is_some()
    }

    /// Run the route's checks in order. `own` is the origin the request was addressed to.
    pub(crate) async fn check(
        &self,
        req: &RequestHeader,
        client: Option<IpAddr>,
        own: Option<&Origin>,
        notes: &mut Notes,
    ) -> Answer {
        if self.credentials.ambiguous(req) {
            return refuse(
                Refusal::AMBIGUOUS_CREDENTIALS,
                "the request carries a credential header more than once",
            );
        }
        if let Some(refused) = self.ip_gate(client) {
            return refused;
        }
        if let Some((cors, d)) = &self.cors {
            notes.cors_origin = cors.allow_origin(req);
            match cors.preflight(req) {
                Preflight::Allowed => {
                    d.count(true);
                    return Answer::Preflight;
                }
                Preflight::Refused => {
                    d.count(false);
                    notes.cors_origin = None;
                    return refuse(
                        Refusal::CORS_REFUSED,
                        "this origin, method or header is not allowed by the route's CORS policy",
                    );
                }
                Preflight::No => {
                    if req.headers.contains_key(http::header::ORIGIN) {
                        d.count(notes.cors_origin.is_some());
                    }
                }
            }
        }
        if let Some(refused) = self.lockouts(req, client, notes).await {
            return refused;
        }
        if let Some(refused) = self.rate_limits(req, client, notes).await {
            return refused;
        }
        if let Some((keys, d)) = &self.api_keys {
            if !d.count(keys.admits(req)) {
                return refuse(Refusal::UNAUTHORIZED, "a valid API key is required");
            }
        }
        if let Some((basic, d)) = &self.basic {
            match basic.check(req).await {
                basic::Check::Admit => {
                    d.count(true);
                }
                basic::Check::Refuse => {
                    d.count(false);
                    return Answer::Refuse {
                        refusal: Refusal::UNAUTHORIZED,
                        message: "a valid user name and password are required",
                        headers: vec![("www-authenticate", basic.challenge.clone())],
                    };
                }
                basic::Check::Busy => {
                    // Nothing was checked: the lockouts' slots go back uncounted.
                    notes.attempts.clear();
                    return Answer::Refuse {
                        refusal: Refusal::AUTH_BUSY,
                        message: "too many password checks at once; retry shortly",
                        headers: vec![("retry-after", "1".into())],
                    };
                }
            }
        }
        if let Some((csrf, d)) = &self.csrf {
            let cors = self.cors.as_ref().map(|c| &c.0);
            if !d.count(csrf::admits(csrf, cors, req, own)) {
                return refuse(
                    Refusal::CSRF_REJECTED,
                    "cross-site request refused: the Origin is not this site or a trusted one",
                );
            }
        }
        Answer::Pass
    }

    /// The checks for a browser's CSP report: the IP gate, lockouts and rate limits. Browsers
    /// send reports without credentials or a reliable Origin, so the other gates do not apply.
    pub(crate) async fn check_report(
        &self,
        req: &RequestHeader,
        client: Option<IpAddr>,
        notes: &mut Notes,
    ) -> Answer {
        if let Some(refused) = self.ip_gate(client) {
            return refused;
        }
        if let Some(refused) = self.lockouts(req, client, notes).await {
            return refused;
        }
        self.rate_limits(req, client, notes)
            .await
            .unwrap_or(Answer::Pass)
    }

    fn ip_gate(&self, client: Option<IpAddr>) -> Option<Answer> {
        let (gate, d) = self.ip.as_ref()?;
        (!d.count(gates::ip_allowed(gate, client)))
            .then(|| refuse(Refusal::FORBIDDEN, "your address may not use this route"))
    }

    async fn lockouts(
        &self,
        req: &RequestHeader,
        client: Option<IpAddr>,
        notes: &mut Notes,
    ) -> Option<Answer> {
        let locked = |l: &LockoutRun, left: Duration| {
            l.locked.inc();
            Some(Answer::Refuse {
                refusal: Refusal::LOCKED_OUT,
                message: "too many failed attempts; try again later",
                headers: vec![("retry-after", retry_after(left))],
            })
        };
        let now = Instant::now();
        for l in &self.lockouts {
            let key = key_of(&l.counters.rule.key, &self.route, client, req);
            if let Err(left) = l.counters.begin(key, now) {
                return locked(l, left);
            }
            // Dropped on a refusal below, which gives the local slot back uncounted.
            let attempt = Attempt::new(l.counters.clone(), key, l.shared.clone());
            if let Some((redis, prefix)) = &l.shared {
                match redis.lockout_state(&format!("{prefix}{key:032x}")).await {
                    Ok((Some(left), _)) => return locked(l, left),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(rule = %l.counters.rule.name, error = %e, "shared lockout not checked");
                        if let LimitStore::Redis {
                            on_error: FailMode::Deny,
                        } = l.counters.rule.store
                        {
                            l.error_denied.inc();
                            return Some(Answer::Refuse {
                                refusal: Refusal::LOCKOUT_UNAVAILABLE,
                                message: "the lockout store is unavailable; retry shortly",
                                headers: vec![("retry-after", "1".into())],
                            });
                        }
                        l.error_allowed.inc();
                    }
                }
            }
            notes.attempts.push(attempt);
        }
        None
    }

    async fn rate_limits(
        &self,
        req: &RequestHeader,
        client: Option<IpAddr>,
        notes: &mut Notes,
    ) -> Option<Answer> {
        let mut tightest: Option<(&Limit, rate_limit::Outcome)> = None;
        for limit in &self.limits {
            let key = key_of(&limit.rule.key, &self.route, client, req);
            match limit.check(key).await {
                Verdict::Admit(o) => {
                    if tightest.is_none_or(|(_, t)| o.remaining < t.remaining) {
                        tightest = Some((limit, o));
                    }
                }
                Verdict::Limit(o) => {
                    notes.ratelimit = limit.state_value(&o);
                    return Some(Answer::Refuse {
                        refusal: Refusal::RATE_LIMITED,
                        message:
                            "too many requests; slow down and retry after the time in Retry-After",
                        headers: vec![("retry-after", retry_after(o.retry_after))],
                    });
                }
                Verdict::StoreErrorRefuse => {
                    return Some(Answer::Refuse {
                        refusal: Refusal::LIMIT_UNAVAILABLE,
                        message: "the rate-limit store is unavailable; retry shortly",
                        headers: vec![("retry-after", "1".into())],
                    });
                }
                Verdict::StoreErrorAdmit => {}
            }
        }
        notes.ratelimit = tightest.and_then(|(l, o)| l.state_value(&o));
        None
    }

    /// Remove the credentials the route's gates consumed from the request to the upstream
    /// (unless a gate forwards them).
    pub(crate) fn scrub_upstream(&self, upstream: &mut RequestHeader) {
        self.credentials.scrub(upstream);
    }

    /// Count a response toward the route's lockouts: the final one (an interim 1xx response
    /// is passed over, except 101 Switching Protocols).
    pub(crate) fn record_response(&self, notes: &Notes, status: u16) {
        for a in &notes.attempts {
            if a.finish(Some(status)) {
                tracing::warn!(
                    route = %self.route, rule = %a.lockout.rule.name,
                    block_for = ?a.lockout.rule.block_for,
                    "a client reached the lockout limit and is blocked"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
