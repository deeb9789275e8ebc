//! Every outbound HTTP request of gatehouse (notifiers, the ACME CA, the OTLP collector,
//! Sentry, and later JWKS fetches) goes through the [`Client`] of this crate, so that how
//! gatehouse talks to the outside is decided once:
//!
//! - **TLS**: rustls with ring (the workspace's one crypto provider), trusting the system's
//!   roots ([`system_roots`], loaded once per process) plus the extra roots a caller is given
//!   ([`Builder::extra_roots`]; e.g. `tls.acme.directory_ca_file`). The probes keep their own
//!   phase-timing client but take their roots and provider from here too.
//! - **Deadlines**: every exchange (connect, request, the whole response body) has one
//!   ([`Builder::timeout`], [`Client::send_within`]).
//! - **Response size**: bodies are read up to a cap ([`Builder::max_response`]) and the rest is
//!   left unread, so a misbehaving peer cannot make gatehouse buffer without end; a sender
//!   that needs only the status does not wait for a 2xx body ([`Client::send_for_status`]).
//! - **Redirects are never followed**: a POST to a webhook or a collector that redirects is a
//!   config to fix, not something to follow silently (and instant-acme follows the CA's links
//!   itself).
//! - **Proxies**: connections are direct unless a client is built with
//!   [`Builder::proxy_from_env`], which honours `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` (HTTP
//!   proxies) and `NO_PROXY` as curl does. The notifiers turn it on (they always honoured the
//!   environment); ACME, OTLP and Sentry connect directly, as they always did.
//! - **HTTP/1.1** only: every peer speaks it, and one connection per request in flight is
//!   plenty for the volumes here.

mod client;
mod error;
mod roots;

pub use client::{Answer, Builder, Client};
pub use error::{CaFileError, Error};
pub use roots::{
    client_config, provider, read_ca_file, roots_with, roots_with_ca_file, system_roots,
};

/// The request types of the client crate, for callers that build requests.
pub use reqwest::{header, Method, RequestBuilder};
