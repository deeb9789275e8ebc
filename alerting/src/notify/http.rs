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

/// Send `request`; a 2xx answer is success, anything else an error with the status and the
/// start of the body.
pub(super) async fn send(ctx: &Ctx<'_>, request: RequestBuilder) -> Result<(), NotifyError> {
    let (status, body) = ctx
        .client
        .send_for_status(request, ctx.timeout, BODY_KEPT * 4)
        .await
        .map_err(NotifyError::request)?;
    if status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body);
    Err(NotifyError::Status {
        status: status.as_u16(),
        body: super::text::truncate(text.trim(), BODY_KEPT),
    })
}
