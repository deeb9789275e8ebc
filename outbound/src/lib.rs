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
//! - **Response size**: bodies are read up to a cap ([`Builder::max_response`]); a larger one
//!   is an error, so a misbehaving peer cannot make gatehouse buffer without end.
//! - **Redirects are never followed**: a POST to a webhook or a collector that redirects is a
//!   config to fix, not something to follow silently (and instant-acme follows the CA's links
//!   itself).
//! - **Proxies from the environment are honoured**, as curl and Caddy do: `HTTPS_PROXY`,
//!   `HTTP_PROXY`, `ALL_PROXY` (and lower-case) with `NO_PROXY` exceptions. A host that may
//!   only reach the Internet through an egress proxy needs that for ACME and notifiers alike.
//! - **HTTP/1.1** only: every peer speaks it, and one connection per request in flight is
//!   plenty for the volumes here.

mod client;
mod error;
mod roots;

pub use client::{Builder, Client};
pub use error::{CaFileError, Error};
pub use roots::{
    client_config, provider, read_ca_file, roots_with, roots_with_ca_file, system_roots,
};

/// The request types of the client crate, for callers that build requests.
pub use reqwest::{header, Method, RequestBuilder};
