//! What can go wrong when roots are loaded or a request is sent.

use std::path::PathBuf;
use std::time::Duration;

/// A CA file that cannot be trusted as given.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file cannot be read.
    #[error("cannot read the CA file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not PEM.
    #[error("the CA file {path} is not PEM: {source}")]
    NotPem {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The file holds no `CERTIFICATE` block.
    #[error("the CA file {path} has no certificates")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A certificate of the file cannot be a trust anchor.
    #[error("the CA file {path}: {source}")]
    Rejected {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
}

/// An outbound request that failed, or a client that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An extra root cannot be trusted.
    #[error(transparent)]
    CaFile(#[from] CaFileError),
    /// An extra root given as DER cannot be a trust anchor.
    #[error("an extra root certificate is rejected: {0}")]
    Root(#[source] rustls::Error),
    /// The TLS or HTTP client could not be set up.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    /// The exchange (connecting, sending, reading the whole response) took too long.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The request did not get a (complete) response: connection refused, TLS, DNS, a
    /// malformed request... The URL is never part of the message: webhook URLs are
    /// credentials.
    #[error("request failed: {message}")]
    Request {
        /// The error and its causes.
        message: String,
        /// Whether another attempt may succeed.
        retryable: bool,
    },
}

impl Error {
    /// A reqwest error as text, without its URL, with its causes.
    pub(crate) fn request(e: reqwest::Error) -> Error {
        let retryable = !e.is_builder() && !e.is_redirect();
        let e = e.without_url();
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let text = s.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = s.source();
        }
        Error::Request { message, retryable }
    }

    /// Whether another attempt may succeed: timeouts and failed connections may pass; a
    /// request that cannot be built or a client that cannot be set up fail the same way
    /// every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            Error::Request { retryable, .. } => *retryable,
            Error::CaFile(_) | Error::Root(_) | Error::Build(_) => false,
        }
    }
}
