//! Attempts: one with the notifier's timeout, timed ([`once`], what the outbox makes), or
//! several with exponential backoff and jitter while the error is one that may pass
//! (`gatehouse notify-test`); counted and logged.

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

/// One attempt, within the notifier's timeout, timed.
pub(super) async fn once(
    inner: &Inner,
    entry: &Entry,
    n: &Notification,
) -> Result<(), NotifyError> {
    let sender = match &entry.sender {
        Ok(s) => s,
        Err(e) => {
            return Err(NotifyError::Setup {
                name: entry.config.name.clone(),
                message: e.clone(),
            })
        }
    };
    let ctx = Ctx {
        client: &inner.client,
        timeout: entry.config.timeout,
    };
    let start = Instant::now();
    let result = tokio::time::timeout(ctx.timeout, sender.deliver(&ctx, n))
        .await
        .unwrap_or(Err(NotifyError::Timeout(ctx.timeout)));
    inner.metrics.attempt(&entry.config.name, start.elapsed());
    result
}

/// Attempts with backoff until one succeeds, the error cannot pass, or `retries` are spent
/// (`gatehouse notify-test` and [`super::Notifiers::spawn_send`]; alert deliveries retry
/// through the outbox instead).
async fn attempts(inner: &Inner, entry: &Entry, n: &Notification) -> Result<(), NotifyError> {
    let name = entry.config.name.as_str();
    let mut attempt = 0;
    loop {
        match once(inner, entry, n).await {
            Err(e) if attempt < entry.config.retries && e.is_retryable() => {
                let base = Duration::from_nanos(inner.backoff_nanos.load(Ordering::Relaxed));
                let wait =
                    delay(base, attempt).max(e.retry_after().unwrap_or_default().min(BACKOFF_CAP));
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
