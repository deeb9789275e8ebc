//! What the HTTP notifiers share: the outbound client and how an answer becomes a result.

use super::NotifyError;
use gatehouse_outbound::{Client, RequestBuilder};
use std::time::Duration;

/// What a notifier is given besides the notification.
pub(super) struct Ctx<'a> {
    /// The one HTTP client of every notifier.
    pub(super) client: &'a Client,
    /// The notifier's `timeout`: the deadline of one attempt.
    pub(super) timeout: Duration,
}

/// The longest part of an error response kept in the error.
const BODY_KEPT: usize = 300;

/// The shared client (see `gatehouse_outbound` for its TLS, redirect and proxy policies).
pub(super) fn client() -> Result<Client, NotifyError> {
    Client::builder()
        .proxy_from_env(true)
        .build()
        .map_err(NotifyError::Client)
}

/// Send `request`; a 2xx answer is success, anything else an error with the status, the
/// start of the body and the `Retry-After` the service asked for.
pub(super) async fn send(ctx: &Ctx<'_>, request: RequestBuilder) -> Result<(), NotifyError> {
    let answer = ctx
        .client
        .send_for_status(request, ctx.timeout, BODY_KEPT * 4)
        .await
        .map_err(NotifyError::request)?;
    if answer.status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&answer.body);
    Err(NotifyError::Status {
        status: answer.status.as_u16(),
        body: super::text::truncate(text.trim(), BODY_KEPT),
        retry_after: answer
            .headers
            .get(gatehouse_outbound::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, jiff::Timestamp::now())),
    })
}

/// A `Retry-After` value: seconds, or an HTTP date (RFC 9110 §10.2.3); a date in the past is
/// no wait.
pub(super) fn retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Some(at.duration_since(now).try_into().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now: jiff::Timestamp = "2026-12-03T18:00:00Z".parse().unwrap_or_default();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Thu, 03 Dec 2026 18:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Thu, 03 Dec 2026 17:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
}
