//! What can go wrong when a notification is sent.

use std::time::Duration;

/// A notification that could not be delivered, or a notifier that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// No notifier has that name.
    #[error("no notifier is named `{0}`")]
    UnknownNotifier(String),
    /// The notifier's settings cannot be used (e.g. an address the mailer rejects).
    #[error("notifier `{name}` cannot be set up: {message}")]
    Setup {
        /// The notifier.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(gatehouse_outbound::Error),
    /// One attempt took longer than the notifier's `timeout`.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The request did not get a response (connection refused, TLS, DNS...). The URL is never
    /// part of the message: webhook URLs are credentials.
    #[error("request failed: {message}")]
    Request {
        /// The error and its causes.
        message: String,
        /// Whether another attempt may succeed.
        retryable: bool,
    },
    /// The service answered with a status other than 2xx.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
        /// How long the service asked to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The mail server refused or the SMTP session failed.
    #[error("email: {message}")]
    Email {
        /// The error.
        message: String,
        /// Whether another attempt may succeed (not after a permanent 5xx reply).
        retryable: bool,
    },
}

impl NotifyError {
    /// Whether another attempt may succeed: timeouts, connection failures, 5xx, 408 and 429.
    /// A 4xx (a wrong key, a malformed payload) fails the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Timeout(_) => true,
            NotifyError::Request { retryable, .. } | NotifyError::Email { retryable, .. } => {
                *retryable
            }
            NotifyError::Status { status, .. } => *status >= 500 || matches!(status, 408 | 429),
            NotifyError::UnknownNotifier(_)
            | NotifyError::Setup { .. }
            | NotifyError::Client(_) => false,
        }
    }

    /// How long the service asked to wait before the next attempt (`Retry-After` of a 429 or
    /// 503 answer).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NotifyError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// An outbound request that failed; its text never holds the URL.
    pub(super) fn request(e: gatehouse_outbound::Error) -> NotifyError {
        match e {
            gatehouse_outbound::Error::Timeout(d) => NotifyError::Timeout(d),
            gatehouse_outbound::Error::Request { message, retryable } => {
                NotifyError::Request { message, retryable }
            }
            other => NotifyError::Request {
                retryable: other.is_retryable(),
                message: other.to_string(),
            },
        }
    }
}
