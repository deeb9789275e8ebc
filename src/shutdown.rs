//! SIGTERM and SIGINT: stop being ready, let in-flight requests finish (bounded by
//! `server.grace_period`), then let Pingora stop its services and exit 0.

use async_trait::async_trait;
use gatehouse_proxy::{ProxyMetrics, SharedState};
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};

pub(crate) struct DrainOnSignal {
    pub draining: Arc<AtomicBool>,
    pub metrics: ProxyMetrics,
    pub state: SharedState,
}

#[async_trait]
impl ShutdownSignalWatch for DrainOnSignal {
    async fn recv(&self) -> ShutdownSignal {
        let (mut term, mut int) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(t), Ok(i)) => (t, i),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM/SIGINT; stop gatehouse with SIGKILL");
                return std::future::pending().await;
            }
        };
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        let grace = self.state.load().config().server.grace_period;
        self.draining.store(true, Ordering::SeqCst);
        let in_flight = self.metrics.in_flight();
        tracing::info!(signal = name, in_flight, grace_period = ?grace, "shutting down: draining in-flight requests");
        let deadline = Instant::now() + grace;
        loop {
            let n = self.metrics.in_flight();
            if n <= 0 {
                tracing::info!("all requests finished; stopping");
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    in_flight = n,
                    "grace period over; stopping with requests still in flight"
                );
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = term.recv() => {}
                _ = int.recv() => {
                    tracing::warn!("second SIGINT: stopping now");
                    return ShutdownSignal::FastShutdown;
                }
            }
        }
        ShutdownSignal::GracefulTerminate
    }
}
