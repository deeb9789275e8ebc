//! Rate limits: GCRA buckets per key, in this process (governor) or shared through Redis.
//! Local buckets that are back to full are evicted every second, so memory follows the number
//! of recently active keys, not every key ever seen.

use super::key::Key;
pub(crate) use super::redis_store::Outcome;
use super::redis_store::RedisStore;
use super::PolicyMetrics;
use gatehouse_config::{FailMode, LimitStore, RateLimitRule};
use governor::clock::{Clock, QuantaClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use prometheus::{IntCounter, IntGauge};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

type Governor = RateLimiter<Key, DashMapStateStore<Key>, QuantaClock, StateInformationMiddleware>;

/// How often idle local buckets are evicted.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The buckets of one local rule; kept across reloads while the rule is unchanged.
pub(crate) struct LocalBuckets {
    pub(crate) rule: RateLimitRule,
    governor: Governor,
}

impl LocalBuckets {
    pub(crate) fn new(rule: &RateLimitRule) -> Option<Arc<LocalBuckets>> {
        let quota =
            Quota::with_period(rule.emission_interval())?.allow_burst(NonZeroU32::new(rule.burst)?);
        Some(Arc::new(LocalBuckets {
            rule: rule.clone(),
            governor: RateLimiter::dashmap_with_clock(quota, QuantaClock::default())
                .with_middleware::<StateInformationMiddleware>(),
        }))
    }

    fn take(&self, key: Key) -> Outcome {
        let emission = self.rule.emission_interval();
        match self.governor.check_key(&key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Outcome {
                    admitted: true,
                    remaining,
                    reset: emission * (self.rule.burst - remaining),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.governor.clock().now());
                Outcome {
                    admitted: false,
                    remaining: 0,
                    reset: wait + emission * self.rule.burst.saturating_sub(1),
                    retry_after: wait,
                }
            }
        }
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
                b.governor.retain_recent();
                b.governor.shrink_to_fit();
                held.set(b.governor.len() as i64);
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
        let policy = format!("rate_limit:{}", rule.name);
        let c = |d: &str| metrics.decision(route, &policy, d);
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

    /// `"name";r=REMAINING;t=SECONDS` for RateLimit.
    pub(crate) fn state_item(&self, o: &Outcome) -> String {
        let t = if o.admitted { o.reset } else { o.retry_after };
        format!(
            "\"{}\";r={};t={}",
            self.rule.name,
            o.remaining,
            t.as_secs_f64().ceil() as u64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::units::Rate;
    use gatehouse_config::KeyPart;
    use proptest::prelude::*;

    fn rule(count: u32, per: Duration, burst: u32) -> RateLimitRule {
        RateLimitRule {
            name: "r".into(),
            rate: Rate { count, per },
            burst,
            key: vec![KeyPart::ClientIp],
            store: LimitStore::Local,
        }
    }

    #[test]
    fn burst_then_refuse_with_retry_after() {
        let b = LocalBuckets::new(&rule(10, Duration::from_secs(1), 3)).expect("quota");
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
        // GCRA bound: however requests arrive in an instant, at most `burst` are admitted.
        #[test]
        fn never_more_than_burst_at_once(burst in 1u32..50, count in 1u32..100, n in 1usize..200) {
            let b = LocalBuckets::new(&rule(count, Duration::from_secs(3600), burst)).expect("quota");
            let admitted = (0..n).filter(|_| b.take(7).admitted).count();
            prop_assert_eq!(admitted, n.min(burst as usize));
        }
    }
}
