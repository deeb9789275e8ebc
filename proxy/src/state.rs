//! The proxy's compiled state for one config generation: router, route settings with their
//! metric handles, and upstream pools. Swapped atomically on reload; a request keeps the
//! generation it started with.

use crate::metrics::{ProxyMetrics, RouteMetrics};
use crate::policy::{Headers, PolicyStores, RoutePolicy};
use crate::pool::{Pool, PoolError};
use crate::router::Router;
use arc_swap::ArcSwap;
use gatehouse_config::routes::Route;
use gatehouse_config::Config;
use std::collections::HashMap;
use std::sync::Arc;

/// A route with everything the request path needs, resolved at compile time.
pub(crate) struct CompiledRoute {
    pub(crate) config: Route,
    pub(crate) pool: Arc<Pool>,
    pub(crate) metrics: RouteMetrics,
    pub(crate) policy: RoutePolicy,
    pub(crate) traffic: crate::traffic::RouteTraffic,
}

/// Everything the request path reads, for one config generation.
pub struct ProxyState {
    pub(crate) config: Arc<Config>,
    pub(crate) router: Router,
    pub(crate) routes: Vec<CompiledRoute>,
    pub(crate) pools: HashMap<String, Arc<Pool>>,
    /// Metrics of requests that matched no route.
    pub(crate) unmatched: RouteMetrics,
    /// Security headers of responses to requests that match no route.
    pub(crate) default_headers: Headers,
    /// Rate-limit buckets, lockout counters and the Redis client, handed to the next generation.
    stores: PolicyStores,
    /// `gatehouse_requests_rejected_total`, by reason.
    pub(crate) rejected: prometheus::IntCounterVec,
}

/// The live state, shared by the proxy and the control plane.
pub type SharedState = Arc<ArcSwap<ProxyState>>;

impl ProxyState {
    /// Compile `config`. Pools whose definition is unchanged from `previous` are reused (keeping
    /// their health state); new pools get health-check loops spawned on `rt`.
    pub fn build(
        config: Arc<Config>,
        previous: Option<&ProxyState>,
        metrics: &ProxyMetrics,
        rt: &tokio::runtime::Handle,
    ) -> Result<ProxyState, PoolError> {
        let mut pools = HashMap::new();
        for (name, up) in &config.upstreams {
            let reused = previous
                .and_then(|p| p.pools.get(name))
                .filter(|p| p.definition == *up)
                .cloned();
            let pool = match reused {
                Some(p) => p,
                None => {
                    let p = Arc::new(Pool::new(up, metrics)?);
                    p.spawn_health_checks(rt);
                    p
                }
            };
            pools.insert(name.clone(), pool);
        }
        let mut stores = PolicyStores::with_redis(
            config.redis.as_ref(),
            previous.map(|p| &p.stores),
            &metrics.policy,
        )
        .map_err(PoolError::Policy)?;
        let mut routes = Vec::with_capacity(config.routes.len());
        for route in &config.routes {
            let pool = pools
                .get(&route.upstream)
                .cloned()
                .ok_or_else(|| PoolError::Invalid {
                    upstream: route.upstream.clone(),
                    message: format!(
                        "route `{}` points at an upstream that does not exist",
                        route.name
                    ),
                })?;
            let policy = RoutePolicy::build(
                route,
                previous.map(|p| &p.stores),
                &mut stores,
                &metrics.policy,
                rt,
            );
            routes.push(CompiledRoute {
                config: route.clone(),
                pool,
                metrics: RouteMetrics::new(metrics, &route.name),
                policy,
                traffic: metrics.traffic.route(&route.name),
            });
        }
        let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
        metrics.traffic.retain(&names);
        // Gauges of backends that are gone would otherwise report their last value forever.
        if let Some(prev) = previous {
            for (name, pool) in &prev.pools {
                let kept = pools.get(name).is_some_and(|p| Arc::ptr_eq(p, pool));
                if !kept {
                    for b in &pool.definition.backends {
                        let still = config.upstreams.get(name).is_some_and(|u| {
                            u.backends
                                .iter()
                                .any(|nb| nb.address_text == b.address_text)
                        });
                        if !still {
                            let _ = metrics
                                .backend_up
                                .remove_label_values(&[name.as_str(), b.address_text.as_str()]);
                        }
                    }
                }
            }
        }
        Ok(ProxyState {
            router: Router::new(&config.routes),
            routes,
            pools,
            unmatched: RouteMetrics::new(metrics, "none"),
            default_headers: Headers::new(&Default::default()),
            stores,
            rejected: metrics.rejected.clone(),
            config,
        })
    }

    /// The config this state was compiled from.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// A pool by name.
    pub fn pool(&self, name: &str) -> Option<&Arc<Pool>> {
        self.pools.get(name)
    }
}
