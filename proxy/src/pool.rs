//! Upstream pools: weighted round robin over backends, with optional active health checks that
//! take a failing backend out and put it back. A pool whose definition did not change is kept
//! across reloads, so its health state and rotation carry over.

use crate::metrics::ProxyMetrics;
use crate::passive::Passive;
use gatehouse_config::upstreams::{HealthCheckKind, Upstream};
use pingora::http::RequestHeader;
use pingora::lb::discovery::Static;
use pingora::lb::health_check::{HealthCheck, HttpHealthCheck, TcpHealthCheck};
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, Backends, LoadBalancer};
use pingora::prelude::*;
use prometheus::IntGauge;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Instant;

/// Why a pool could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// A value pingora refused (should not happen for a validated config).
    #[error("upstream `{upstream}`: {message}")]
    Invalid {
        /// The pool.
        upstream: String,
        /// What was refused.
        message: String,
    },
    /// An edge policy could not be set up (e.g. an unusable Redis URL).
    #[error("{0}")]
    Policy(String),
}

/// One upstream pool.
pub struct Pool {
    pub(crate) definition: Upstream,
    pub(crate) lb: LoadBalancer<RoundRobin>,
    /// Per backend: its address and its `gatehouse_upstream_backend_up` gauge.
    gauges: Vec<(Backend, IntGauge)>,
    /// Per backend (same order): passive health.
    passive: Vec<Passive>,
    epoch: Instant,
    pub(crate) connect_errors: prometheus::IntCounter,
}

impl Pool {
    /// Build a pool. Health checks do not start until [`Pool::spawn_health_checks`].
    pub(crate) fn new(definition: &Upstream, metrics: &ProxyMetrics) -> Result<Pool, PoolError> {
        let invalid = |message: String| PoolError::Invalid {
            upstream: definition.name.clone(),
            message,
        };
        let mut set = BTreeSet::new();
        let mut gauges = Vec::new();
        let mut passive = Vec::new();
        for b in &definition.backends {
            let backend = Backend::new_with_weight(&b.address.to_string(), b.weight)
                .map_err(|e| invalid(format!("backend {}: {e}", b.address_text)))?;
            let gauge = metrics
                .backend_up
                .with_label_values(&[definition.name.as_str(), b.address_text.as_str()]);
            gauge.set(1);
            gauges.push((backend.clone(), gauge));
            passive.push(Passive::new(metrics.ejections.with_label_values(&[
                definition.name.as_str(),
                b.address_text.as_str(),
            ])));
            set.insert(backend);
        }
        let mut backends = Backends::new(Static::new(set));
        if let Some(hc) = &definition.health_check {
            backends.set_health_check(health_check(&definition.name, hc).map_err(invalid)?);
        }
        let lb = LoadBalancer::<RoundRobin>::from_backends(backends);
        // Static discovery resolves immediately; this fills the selector.
        match poll_once(lb.update()) {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(invalid(format!("cannot load backends: {e}"))),
            None => return Err(invalid("static backend discovery did not complete".into())),
        }
        Ok(Pool {
            connect_errors: metrics
                .connect_errors
                .with_label_values(&[definition.name.as_str()]),
            definition: definition.clone(),
            lb,
            gauges,
            passive,
            epoch: Instant::now(),
        })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.definition.name
    }

    /// Pick a healthy backend not yet tried for this request, passing over backends that
    /// passive health took out — unless every other one is out too (better a backend that
    /// failed than none).
    pub(crate) fn select(&self, tried: &[SocketAddr]) -> Option<Backend> {
        let max = self.gauges.len() * 4 + 8;
        let now = Instant::now();
        let untried = |b: &Backend| b.addr.as_inet().is_none_or(|a| !tried.contains(a));
        self.lb
            .select_with(b"", max, |b, healthy| {
                healthy && untried(b) && !self.ejected(b, now)
            })
            .or_else(|| {
                self.lb
                    .select_with(b"", max, |b, healthy| healthy && untried(b))
            })
    }

    fn index(&self, addr: SocketAddr) -> Option<usize> {
        self.gauges
            .iter()
            .position(|(b, _)| b.addr.as_inet() == Some(&addr))
    }

    fn ejected(&self, b: &Backend, now: Instant) -> bool {
        b.addr
            .as_inet()
            .and_then(|a| self.index(*a))
            .is_some_and(|i| self.passive[i].ejected(self.epoch, now))
    }

    /// The outcome of a request to `addr`: a failure may take it out of service (passive
    /// health); a pool of one backend never ejects it.
    pub(crate) fn report(self: &Arc<Self>, addr: SocketAddr, ok: bool) {
        let Some(i) = self.index(addr) else { return };
        let now = Instant::now();
        let p = &self.passive[i];
        if ok {
            p.success(self.epoch, now);
            return;
        }
        let cfg = &self.definition.passive_health;
        if self.gauges.len() < 2 {
            return;
        }
        let Some(cool) = p.failure(
            cfg.failures,
            cfg.cool_off,
            cfg.max_cool_off,
            self.epoch,
            now,
        ) else {
            return;
        };
        self.gauges[i].1.set(0);
        tracing::warn!(
            upstream = self.name(), backend = %addr, failures = cfg.failures, cool_off = ?cool,
            "backend failed requests in a row and is out of service for a while"
        );
        // Back in the gauge once the cool-off is over (the next failure may eject it again).
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(cool).await;
            if let Some(pool) = weak.upgrade() {
                pool.publish_health();
            }
        });
    }

    /// Whether a backend is in service now.
    pub fn backend_ready(&self, addr: SocketAddr) -> Option<bool> {
        self.gauges
            .iter()
            .find(|(b, _)| b.addr.as_inet() == Some(&addr))
            .map(|(b, _)| self.lb.backends().ready(b))
    }

    fn publish_health(&self) {
        let now = Instant::now();
        for (b, gauge) in &self.gauges {
            gauge.set(i64::from(
                self.lb.backends().ready(b) && !self.ejected(b, now),
            ));
        }
    }

    /// Start the health-check loop on `rt`. It stops by itself when the pool is dropped (after
    /// a reload that removed or changed it).
    pub(crate) fn spawn_health_checks(self: &Arc<Self>, rt: &tokio::runtime::Handle) {
        let Some(hc) = &self.definition.health_check else {
            return;
        };
        let interval = hc.interval;
        let weak: Weak<Pool> = Arc::downgrade(self);
        rt.spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(pool) = weak.upgrade() else { break };
                let before: Vec<bool> = pool.gauges.iter().map(|(b, _)| pool.lb.backends().ready(b)).collect();
                pool.lb.backends().run_health_check(true).await;
                pool.publish_health();
                for ((b, _), was) in pool.gauges.iter().zip(before) {
                    let now = pool.lb.backends().ready(b);
                    if now != was {
                        if now {
                            tracing::info!(upstream = pool.name(), backend = %b.addr, "backend passed its health check and is back in service");
                        } else {
                            tracing::warn!(upstream = pool.name(), backend = %b.addr, "backend failed its health check and is out of service until it passes again");
                        }
                    }
                }
            }
        });
    }
}

fn health_check(
    upstream: &str,
    hc: &gatehouse_config::upstreams::HealthCheck,
) -> Result<Box<dyn HealthCheck + Send + Sync + 'static>, String> {
    match &hc.kind {
        HealthCheckKind::Tcp => {
            let mut check = TcpHealthCheck::new();
            check.consecutive_success = hc.healthy_threshold;
            check.consecutive_failure = hc.unhealthy_threshold;
            check.peer_template.options.connection_timeout = Some(hc.timeout);
            check.peer_template.options.total_connection_timeout = Some(hc.timeout);
            Ok(check)
        }
        HealthCheckKind::Http {
            path,
            host,
            expect_status,
        } => {
            let mut check = HttpHealthCheck::new(host, false);
            let mut req = RequestHeader::build("GET", path.as_bytes(), None)
                .map_err(|e| format!("health_check.path `{path}`: {e}"))?;
            req.insert_header("Host", host.as_str())
                .map_err(|e| format!("health_check.host `{host}`: {e}"))?;
            req.insert_header(
                "User-Agent",
                concat!("gatehouse-health/", env!("CARGO_PKG_VERSION")),
            )
            .map_err(|e| e.to_string())?;
            check.req = req;
            check.consecutive_success = hc.healthy_threshold;
            check.consecutive_failure = hc.unhealthy_threshold;
            check.peer_template.options.connection_timeout = Some(hc.timeout);
            check.peer_template.options.read_timeout = Some(hc.timeout);
            check.peer_template.options.write_timeout = Some(hc.timeout);
            let expect = *expect_status;
            let upstream = upstream.to_string();
            check.validator = Some(Box::new(move |resp| {
                if resp.status.as_u16() == expect {
                    Ok(())
                } else {
                    Error::e_explain(
                        ErrorType::Custom("unexpected health-check status"),
                        format!(
                            "upstream {upstream}: got {}, expected {expect}",
                            resp.status.as_u16()
                        ),
                    )
                }
            }));
            Ok(Box::new(check))
        }
    }
}

/// Poll a future once; static discovery completes without waiting.
fn poll_once<F: std::future::Future>(f: F) -> Option<F::Output> {
    use std::task::{Context, Poll, Waker};
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}
