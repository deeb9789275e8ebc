//! State that outlives one config generation.

use super::{LocalBuckets, Lockout, PolicyMetrics, RedisStore};
use gatehouse_config::policy::RedisConfig;
use std::collections::HashMap;
use std::sync::Arc;

/// State that outlives one config generation: local buckets, lockout counters and the Redis
/// client, reused by the next generation when their definition is unchanged.
#[derive(Default)]
pub(crate) struct PolicyStores {
    pub(super) local: HashMap<(String, String), Arc<LocalBuckets>>,
    pub(super) lockouts: HashMap<(String, String), Arc<Lockout>>,
    pub(super) redis: Option<(RedisConfig, Arc<RedisStore>)>,
}

impl PolicyStores {
    /// The Redis store for `config`, reusing the previous generation's client when unchanged.
    pub(crate) fn with_redis(
        config: Option<&RedisConfig>,
        previous: Option<&PolicyStores>,
        metrics: &PolicyMetrics,
    ) -> Result<PolicyStores, String> {
        let mut stores = PolicyStores::default();
        if let Some(cfg) = config {
            let reused = previous
                .and_then(|p| p.redis.as_ref())
                .filter(|(c, _)| c == cfg)
                .map(|(_, s)| s.clone());
            let store = match reused {
                Some(s) => s,
                None => Arc::new(
                    RedisStore::new(
                        &cfg.url.0,
                        cfg.timeout,
                        &cfg.key_prefix,
                        metrics.redis_errors.clone(),
                    )
                    .map_err(|e| format!("redis.url: {e}"))?,
                ),
            };
            stores.redis = Some((cfg.clone(), store));
        }
        Ok(stores)
    }
}
