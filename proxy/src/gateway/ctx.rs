//! Per-request state carried between the phases, and the facts about a request that several
//! phases read (its host, whether it came over TLS, list headers).

use crate::policy::Notes;
use crate::state::{CompiledRoute, ProxyState};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use prometheus::IntGauge;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// Decrements the in-flight gauge when the request ends, however it ends.
pub(super) struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Per-request state carried between phases.
pub struct RequestCtx {
    pub(super) state: Arc<ProxyState>,
    pub(super) start: Instant,
    pub(super) request_id: String,
    pub(super) route: Option<usize>,
    pub(super) tried: Vec<SocketAddr>,
    /// Retries on the backend just tried, after a pooled connection turned out closed.
    pub(super) stale_retries: u8,
    /// The next `upstream_peer` may pick a backend already tried (a stale pooled connection).
    pub(super) retry_same: bool,
    pub(super) body_bytes: u64,
    /// Status of a response the proxy made itself.
    pub(super) status: Option<u16>,
    pub(super) upgraded: bool,
    /// The client's address (trusted-proxies aware).
    pub(super) client_ip: Option<IpAddr>,
    /// The socket peer is a trusted proxy: its forwarding headers are extended, not replaced.
    pub(super) trusted_peer: bool,
    /// The client reached us over HTTPS (directly, or through a trusted proxy that says so).
    pub(super) https: bool,
    pub(super) notes: Notes,
    /// The server span, while the request is under way (tracing on).
    pub(super) trace: Option<opentelemetry::Context>,
    /// The trace the request belongs to: our span's, or the caller's `traceparent`'s.
    pub(super) trace_id: Option<String>,
    pub(super) span_id: Option<String>,
    /// The status the upstream answered with (as opposed to one the proxy made).
    pub(super) upstream_status: Option<u16>,
    /// What the upstream's cache headers said.
    pub(super) cache: Option<crate::traffic::CacheResult>,
    /// The validated host (see `crate::canonical`); `None` before canonicalization and for
    /// HTTP/1.0 requests that name none.
    pub(super) host: Option<crate::canonical::Host>,
    pub(super) _in_flight: InFlight,
    /// This request's place among its HTTP/2 connection's requests under way.
    pub(super) h2_slot: Option<crate::h2guard::RequestSlot>,
}

impl RequestCtx {
    pub(super) fn new(state: Arc<ProxyState>, in_flight: &IntGauge) -> RequestCtx {
        in_flight.inc();
        RequestCtx {
            state,
            start: Instant::now(),
            request_id: String::new(),
            route: None,
            tried: Vec::new(),
            stale_retries: 0,
            retry_same: false,
            body_bytes: 0,
            status: None,
            upgraded: false,
            client_ip: None,
            trusted_peer: false,
            https: false,
            notes: Notes::default(),
            trace: None,
            trace_id: None,
            span_id: None,
            upstream_status: None,
            cache: None,
            host: None,
            _in_flight: InFlight(in_flight.clone()),
            h2_slot: None,
        }
    }

    pub(super) fn route(&self) -> Option<&CompiledRoute> {
        self.route.and_then(|i| self.state.routes.get(i))
    }

    pub(crate) fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The request's exchange is over (a complete answer is about to go out): on HTTP/2 its
    /// place among the connection's requests under way is given back now, before the client
    /// sees the end of the stream and may open the next one.
    pub(crate) fn release_stream_slot(&self) {
        if let Some(slot) = &self.h2_slot {
            slot.release();
        }
    }

    /// Count a refusal in `gatehouse_requests_rejected_total{reason}`.
    pub(crate) fn count_rejection(&self, reason: &str) {
        self.state.rejected.with_label_values(&[reason]).inc();
    }

    /// The validated host name (lower-case, no port), or "" when the request named none.
    pub(super) fn host_name(&self) -> &str {
        self.host.as_ref().map_or("", |h| h.name.as_str())
    }

    /// Add the route's security headers (the defaults when no route matched), and its CORS
    /// and RateLimit headers, to a response; count its status toward the route's lockouts.
    /// Called once per response, before its header is sent, so that a client's next request
    /// already sees the lockout its last response caused.
    pub(crate) fn decorate(&self, resp: &mut ResponseHeader) {
        match self.route() {
            Some(r) => {
                r.policy.headers.apply(resp, self.https);
                r.policy.decorate(&self.notes, resp);
                r.policy.record_response(&self.notes, resp.status.as_u16());
            }
            None => self.state.default_headers.apply(resp, self.https),
        }
    }

    pub(super) fn total_deadline_passed(&self) -> bool {
        !self.upgraded
            && self
                .route()
                .and_then(|r| r.config.timeouts.total)
                .is_some_and(|t| self.start.elapsed() > t)
    }
}

pub(super) fn is_tls(session: &Session) -> bool {
    session.digest().is_some_and(|d| d.ssl_digest.is_some())
}

/// Every line of a list header joined with `, ` (a proxy may add its own line rather than
/// extend the client's); bytes that are not UTF-8 become U+FFFD, so they cannot hide an entry.
pub(super) fn header_list(req: &RequestHeader, name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for v in req.headers.get_all(name) {
        let v = String::from_utf8_lossy(v.as_bytes());
        match &mut out {
            Some(o) => {
                o.push_str(", ");
                o.push_str(&v);
            }
            None => out = Some(v.into_owned()),
        }
    }
    out
}

/// The Host as the client wrote it, for traces and logs only: anything that decides uses the
/// validated `RequestCtx::host`.
pub(super) fn raw_host(req: &RequestHeader) -> &str {
    req.uri
        .host()
        .or_else(|| {
            req.headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or("")
}
