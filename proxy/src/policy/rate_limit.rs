//! Rate limits: GCRA buckets per key, in this process or shared through Redis.
//!
//! Local buckets are our own GCRA (a theoretical arrival time per key, in a [`Bounded`] store)
//! rather than governor's keyed limiter: governor's keyed state grows with every key ever seen
//! until a sweep, with no bound and no way to evict the least recently used key, so a flood of
//! distinct keys could grow memory without limit. Here a rule holds at most `max_keys` buckets;
//! buckets that are back to full are also evicted every second, so memory follows the number
//! of recently active keys.

use super::bounded::{Bounded, Held};
use super::key::Key;
pub(crate) use super::redis_store::Outcome;
use super::redis_store::RedisStore;
use super::PolicyMetrics;
use bytes::BytesMut;
use gatehouse_config::policy::{FailMode, LimitStore, RateLimitRule};
use http::HeaderValue;
use prometheus::{IntCounter, IntGauge};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How often idle local buckets are evicted.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A bucket: its theoretical arrival time, in nanoseconds since the buckets' epoch. A bucket
/// whose time has passed is full, the same as no bucket.
struct Tat(u64);

impl Held for Tat {}

/// The buckets of one local rule; kept across reloads while the rule is unchanged.
pub(crate) struct LocalBuckets {
    pub(crate) rule: RateLimitRule,
    /// Nanoseconds between two admitted requests at the sustained rate.
    emission: u64,
    /// How far ahead of now a bucket's time may run: emission × burst.
    tolerance: u64,
    epoch: Instant,
    buckets: Bounded<Tat>,
}

impl LocalBuckets {
    /// The buckets of `rule`; keys evicted to stay within `max_keys` are counted in `evicted`.
    pub(crate) fn new(rule: &RateLimitRule, evicted: IntCounter) -> Option<Arc<LocalBuckets>> {
        let emission = u64::try_from(rule.emission_interval().as_nanos()).ok()?;
        if emission == 0 || rule.burst == 0 {
            return None;
        }
        Some(Arc::new(LocalBuckets {
            rule: rule.clone(),
            emission,
            tolerance: emission.checked_mul(u64::from(rule.burst))?,
            epoch: Instant::now(),
            buckets: Bounded::new(rule.max_keys, evicted),
        }))
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn take(&self, key: Key) -> Outcome {
        self.take_at(key, self.now())
    }

    fn take_at(&self, key: Key, now: u64) -> Outcome {
        let (t, tolerance) = (self.emission, self.tolerance);
        self.buckets.with(
            key,
            || Tat(0),
            |tat| {
                let base = tat.0.max(now);
                let ahead = (base - now).saturating_add(t);
                if ahead <= tolerance {
                    tat.0 = now.saturating_add(ahead);
                    Outcome {
                        admitted: true,
                        remaining: u32::try_from((tolerance - ahead) / t).unwrap_or(u32::MAX),
                        reset: Duration::from_nanos(ahead),
                        retry_after: Duration::ZERO,
                    }
                } else {
                    Outcome {
                        admitted: false,
                        remaining: 0,
                        reset: Duration::from_nanos(base - now),
                        retry_after: Duration::from_nanos(ahead - tolerance),
                    }
                }
            },
        )
    }

    /// Evict full buckets every second and publish how many are held, until the buckets are
    /// dropped (the rule was removed or changed by a reload).
    pub(crate) fn spawn_sweeper(self: &Arc<Self>, rt: &tokio::runtime::Handle, held: IntGauge) {
        let weak: Weak<LocalBuckets> = Arc::downgrade(self);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                let Some(b) = weak.upgrade() else { break };
                let now = b.now();
                held.set(b.buckets.retain(|tat| tat.0 > now) as i64);
            }
        });
    }
}

/// What a rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Admit(Outcome),
    Limit(Outcome),
    /// Redis could not be asked and the rule admits then.
    StoreErrorAdmit,
    /// Redis could not be asked and the rule refuses then.
    StoreErrorRefuse,
}

/// A rule as a route runs it.
pub(crate) struct Limit {
    pub(crate) rule: RateLimitRule,
    local: Option<Arc<LocalBuckets>>,
    redis: Option<Arc<RedisStore>>,
    /// Redis key of the rule's buckets (without the hashed key).
    redis_name: String,
    allowed: IntCounter,
    limited: IntCounter,
    error_allowed: IntCounter,
    error_denied: IntCounter,
}

impl Limit {
    pub(crate) fn new(
        rule: &RateLimitRule,
        route: &str,
        local: Option<Arc<LocalBuckets>>,
        redis: Option<Arc<RedisStore>>,
        metrics: &PolicyMetrics,
    ) -> Limit {
        let c = |d: &str| metrics.decision(route, "rate_limit", &rule.name, d);
        Limit {
            rule: rule.clone(),
            local,
            redis,
            redis_name: format!("rl:{route}:{}:", rule.name),
            allowed: c("allowed"),
            limited: c("limited"),
            error_allowed: c("store_error_allowed"),
            error_denied: c("store_error_denied"),
        }
    }

    pub(crate) async fn check(&self, key: Key) -> Verdict {
        let outcome = match (&self.rule.store, &self.local, &self.redis) {
            (LimitStore::Local, Some(local), _) => Ok(local.take(key)),
            (LimitStore::Redis { .. }, _, Some(redis)) => {
                let name = format!("{}{key:032x}", self.redis_name);
                redis
                    .take(&name, self.rule.emission_interval(), self.rule.burst)
                    .await
                    .map_err(|e| tracing::debug!(rule = %self.rule.name, error = %e, "shared rate limit not checked"))
            }
            _ => Err(()),
        };
        match outcome {
            Ok(o) if o.admitted => {
                self.allowed.inc();
                Verdict::Admit(o)
            }
            Ok(o) => {
                self.limited.inc();
                Verdict::Limit(o)
            }
            Err(()) => match self.rule.store {
                LimitStore::Redis {
                    on_error: FailMode::Deny,
                } => {
                    self.error_denied.inc();
                    Verdict::StoreErrorRefuse
                }
                _ => {
                    self.error_allowed.inc();
                    Verdict::StoreErrorAdmit
                }
            },
        }
    }

    /// `"name";q=N;w=SECONDS` for RateLimit-Policy.
    pub(crate) fn policy_item(&self) -> String {
        let w = self.rule.rate.per.as_secs_f64().ceil().max(1.0) as u64;
        format!("\"{}\";q={};w={w}", self.rule.name, self.rule.rate.count)
    }

    /// `"name";r=REMAINING;t=SECONDS` for RateLimit (on every response of the route: written
    /// without the formatting machinery, which cost ~1,500 instructions a request).
    pub(crate) fn state_value(&self, o: &Outcome) -> Option<HeaderValue> {
        state_value(&self.rule.name, o)
    }
}

fn state_value(name: &str, o: &Outcome) -> Option<HeaderValue> {
    let t = if o.admitted { o.reset } else { o.retry_after };
    let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
    let mut v = BytesMut::with_capacity(name.len() + 32);
    v.extend_from_slice(b"\"");
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(b"\";r=");
    push_decimal(&mut v, u64::from(o.remaining));
    v.extend_from_slice(b";t=");
    push_decimal(&mut v, secs);
    let mut v = HeaderValue::from_maybe_shared(v.freeze()).ok()?;
    // Changes from one response to the next: not for the HPACK table (see
    // `request_id::response_value`).
    v.set_sensitive(true);
    Some(v)
}

/// `n` in decimal digits.
fn push_decimal(out: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::policy::KeyPart;
    use gatehouse_config::units::Rate;
    use proptest::prelude::*;

    fn rule(count: u32, per: Duration, burst: u32) -> RateLimitRule {
        RateLimitRule {
            name: "r".into(),
            rate: Rate { count, per },
            burst,
            key: vec![KeyPart::ClientIp],
            store: LimitStore::Local,
            max_keys: 1000,
        }
    }

    fn buckets(rule: &RateLimitRule) -> Arc<LocalBuckets> {
        let evicted = IntCounter::new("evicted", "evicted").expect("counter");
        LocalBuckets::new(rule, evicted).expect("quota")
    }

    #[test]
    fn burst_then_refuse_with_retry_after() {
        let b = buckets(&rule(10, Duration::from_secs(1), 3));
        let first = b.take(1);
        assert!(first.admitted);
        assert_eq!(first.remaining, 2);
        assert!(b.take(1).admitted);
        assert!(b.take(1).admitted);
        let refused = b.take(1);
        assert!(!refused.admitted);
        assert!(refused.retry_after > Duration::ZERO);
        assert!(refused.retry_after <= Duration::from_millis(100));
        // Another key has its own bucket.
        assert!(b.take(2).admitted);
    }

    proptest! {
        #[test]
        fn the_ratelimit_value_is_the_formatted_one(
            remaining in any::<u32>(),
            nanos in prop_oneof![Just(0u64), 0u64..5_000_000_000, any::<u64>()],
            admitted in any::<bool>(),
        ) {
            let t = Duration::from_nanos(nanos);
            let o = Outcome { admitted, remaining, reset: t, retry_after: t };
            let want = format!("\"per-client\";r={remaining};t={}", t.as_secs_f64().ceil() as u64);
            let got = state_value("per-client", &o).expect("value");
            prop_assert_eq!(got.to_str().expect("ascii"), want);
            // Kept out of HTTP/2's HPACK table.
            prop_assert!(got.is_sensitive());
        }

        // GCRA bound: however requests arrive in an instant, at most `burst` are admitted.
        #[test]
        fn never_more_than_burst_at_once(burst in 1u32..50, count in 1u32..100, n in 1usize..200) {
            let b = buckets(&rule(count, Duration::from_secs(3600), burst));
            let admitted = (0..n).filter(|_| b.take_at(7, 1_000).admitted).count();
            prop_assert_eq!(admitted, n.min(burst as usize));
        }
    }

    #[test]
    fn the_sustained_rate_refills_one_request_at_a_time() {
        // 10/s, burst 2: emission 100 ms.
        let b = buckets(&rule(10, Duration::from_secs(1), 2));
        let ms = 1_000_000u64;
        assert!(b.take_at(1, 0).admitted);
        let second = b.take_at(1, 0);
        assert!(second.admitted);
        assert_eq!(second.remaining, 0);
        assert_eq!(second.reset, Duration::from_millis(200));
        let refused = b.take_at(1, 30 * ms);
        assert!(!refused.admitted);
        assert_eq!(refused.retry_after, Duration::from_millis(70));
        assert_eq!(refused.reset, Duration::from_millis(170));
        assert!(b.take_at(1, 100 * ms).admitted);
        assert!(!b.take_at(1, 150 * ms).admitted);
        // Idle for long: a full burst again.
        let later = b.take_at(1, 10_000 * ms);
        assert!(later.admitted);
        assert_eq!(later.remaining, 1);
    }

    #[test]
    fn a_flood_of_keys_keeps_an_active_limited_key_limited() {
        let evicted = IntCounter::new("evicted", "evicted").expect("counter");
        let mut r = rule(1, Duration::from_secs(60), 1);
        r.max_keys = 100;
        let b = LocalBuckets::new(&r, evicted.clone()).expect("quota");
        assert!(b.take_at(0, 0).admitted);
        for key in 1..5_000u128 {
            assert!(b.take_at(key, 0).admitted, "a new key has a full bucket");
            if key % 10 == 0 {
                assert!(!b.take_at(0, 0).admitted, "key 0 lost its bucket at {key}");
            }
        }
        assert!(b.buckets.len() <= 100);
        assert!(evicted.get() >= 4_900, "{}", evicted.get());
    }
}
