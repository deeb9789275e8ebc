//! What the HTTP notifiers share: the client and how an answer becomes a result.

use super::NotifyError;
use reqwest::{Client, RequestBuilder};

/// What a notifier is given besides the notification.
pub(super) struct Ctx<'a> {
    /// The one HTTP client of every notifier.
    pub(super) client: &'a Client,
}

/// The longest part of an error response kept in the error.
const BODY_KEPT: usize = 300;

/// The shared client: rustls (ring) with the webpki roots, no redirects (a POST that is
/// redirected is an error to fix in the config, not something to follow silently).
pub(super) fn client() -> Result<Client, NotifyError> {
    Client::builder()
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| NotifyError::Client(e.to_string()))
}

/// Send `request`; a 2xx answer is success, anything else an error with the status and the
/// start of the body.
pub(super) async fn send(request: RequestBuilder) -> Result<(), NotifyError> {
    let mut response = request.send().await.map_err(NotifyError::request)?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let mut body = Vec::new();
    while body.len() < BODY_KEPT * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&body);
    Err(NotifyError::Status {
        status: status.as_u16(),
        body: super::text::truncate(text.trim(), BODY_KEPT),
    })
}
