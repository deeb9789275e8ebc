//! One delivery: attempts with the notifier's timeout, retried with exponential backoff and
//! jitter while the error is one that may pass; counted, timed and logged.

use super::{Ctx, Entry, Inner, NotifyError};
use crate::Notification;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The longest wait between two attempts.
const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// The wait before retry number `attempt` (0-based): `base × 2^attempt`, capped, of which a
/// random half is taken off so that notifiers failing together do not retry together.
pub(super) fn delay(base: Duration, attempt: u32) -> Duration {
    let full = base
        .saturating_mul(1u32 << attempt.min(20))
        .min(BACKOFF_CAP);
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

pub(super) async fn deliver(
    inner: &Inner,
    entry: &Entry,
    n: &Notification,
) -> Result<(), NotifyError> {
    let name = entry.config.name.as_str();
    let result = attempts(inner, entry, n).await;
    inner.metrics.done(name, result.is_ok());
    match &result {
        Ok(()) => entry.set_last_error(None),
        Err(e) => {
            tracing::warn!(
                notifier = name,
                kind = entry.config.kind.type_name(),
                title = %n.title,
                error = %e,
                "notification not delivered; check the notifier's settings and the service it sends to"
            );
            entry.set_last_error(Some(e.to_string()));
        }
    }
    result
}

async fn attempts(inner: &Inner, entry: &Entry, n: &Notification) -> Result<(), NotifyError> {
    let sender = match &entry.sender {
        Ok(s) => s,
        Err(e) => {
            return Err(NotifyError::Setup {
                name: entry.config.name.clone(),
                message: e.clone(),
            })
        }
    };
    let name = entry.config.name.as_str();
    let timeout = entry.config.timeout;
    let ctx = Ctx {
        client: &inner.client,
        timeout,
    };
    let mut attempt = 0;
    loop {
        let start = Instant::now();
        let result = tokio::time::timeout(timeout, sender.deliver(&ctx, n))
            .await
            .unwrap_or(Err(NotifyError::Timeout(timeout)));
        inner.metrics.attempt(name, start.elapsed());
        match result {
            Err(e) if attempt < entry.config.retries && e.is_retryable() => {
                let base = Duration::from_nanos(inner.backoff_nanos.load(Ordering::Relaxed));
                let wait = delay(base, attempt);
                tracing::debug!(notifier = name, error = %e, attempt = attempt + 1, ?wait, "notification attempt failed; retrying");
                inner.metrics.retry(name);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(1);
        for attempt in 0..4 {
            let full = Duration::from_secs(1 << attempt);
            for _ in 0..50 {
                let d = delay(base, attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        assert!(delay(base, 30) <= BACKOFF_CAP);
        assert!(delay(base, 30) >= BACKOFF_CAP / 2);
    }
}
