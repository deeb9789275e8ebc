//! The Pingora `ProxyHttp` implementation: the request path of DESIGN.md, phase by phase.
//! Per-request state is in `ctx.rs`, the edge policies' part of `request_filter` in `edge.rs`.

mod ctx;
mod edge;
mod forwarding;
mod observe;
mod streams;

use ctx::is_tls;
pub use ctx::RequestCtx;

use crate::acme::{Http01Tokens, CHALLENGE_PREFIX};
use crate::canonical;
use crate::metrics::ProxyMetrics;
use crate::request_id;
use crate::respond::{self, respond, Refusal};
use crate::state::SharedState;
use crate::telemetry::Telemetry;
use crate::tls::CertResolver;
use async_trait::async_trait;
use bytes::Bytes;
use gatehouse_config::upstreams::UpstreamProtocol;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::Peer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The proxy. Cheap to share; all live settings come from the [`SharedState`].
pub struct Gateway {
    state: SharedState,
    metrics: ProxyMetrics,
    draining: Arc<AtomicBool>,
    certs: Option<Arc<CertResolver>>,
    acme_tokens: Http01Tokens,
    /// The port of the TLS listener bound at start, if any.
    tls_port: Option<u16>,
    telemetry: Arc<Telemetry>,
    /// Where heartbeat pushes on the public listeners go (`probing.public_heartbeat_path`).
    heartbeats: Option<Arc<dyn crate::heartbeat::HeartbeatSink>>,
}

impl Gateway {
    /// A gateway reading its routes from `state`. While `draining` is set, responses close
    /// their connection so that clients move elsewhere.
    pub fn new(state: SharedState, metrics: ProxyMetrics, draining: Arc<AtomicBool>) -> Self {
        Gateway {
            state,
            metrics,
            draining,
            certs: None,
            acme_tokens: Http01Tokens::default(),
            tls_port: None,
            telemetry: Arc::new(Telemetry::disabled()),
            heartbeats: None,
        }
    }

    /// Answer heartbeat pushes under `probing.public_heartbeat_path` with `sink`.
    pub fn with_heartbeats(mut self, sink: Arc<dyn crate::heartbeat::HeartbeatSink>) -> Self {
        self.heartbeats = Some(sink);
        self
    }

    /// Trace requests and report their errors through `telemetry`.
    pub fn with_telemetry(mut self, telemetry: Arc<Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Answer ACME HTTP-01 challenges from `tokens`, and redirect plain-HTTP requests for
    /// the hosts `certs` has a certificate for to HTTPS on `tls_port` (the TLS listener's
    /// port; `tls.https_port` overrides it in the Location).
    pub fn with_tls(
        mut self,
        certs: Arc<CertResolver>,
        tokens: Http01Tokens,
        tls_port: Option<u16>,
    ) -> Self {
        self.certs = Some(certs);
        self.acme_tokens = tokens;
        self.tls_port = tls_port;
        self
    }

    /// The HTTPS URL for a plain-HTTP request, when it must be redirected there.
    fn https_redirect(&self, session: &Session, ctx: &RequestCtx, host: &str) -> Option<String> {
        let tls = &ctx.state.config.tls;
        if !tls.redirect_http {
            return None;
        }
        let port = tls.https_port.or(self.tls_port)?;
        if self.tls_port.is_none()
            || is_tls(session)
            || ctx.route().is_some_and(|r| !r.config.redirect_https)
        {
            return None;
        }
        let req = session.req_header();
        if req.uri.path().starts_with(CHALLENGE_PREFIX) {
            return None;
        }
        if !self.certs.as_ref()?.has_certificate_for(host) {
            return None;
        }
        let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
        Some(if port == 443 {
            format!("https://{host}{path}")
        } else {
            format!("https://{host}:{port}{path}")
        })
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.state.load_full(), &self.metrics.in_flight)
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.request_id = request_id::from_client(
            session
                .req_header()
                .headers
                .get(request_id::HEADER)
                .map(|v| v.as_bytes()),
        );
        observe::start_trace(&self.telemetry, session, ctx);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        edge::identify_client(session, ctx);
        if streams::refused(session, ctx) {
            return Ok(true);
        }
        // Step 0: one canonical request for routing, every policy and the upstream.
        let encoded_slash = match canonical::canonicalize(session, &ctx.state.config.server) {
            Ok(c) => {
                ctx.host = c.host;
                c.encoded_slash
            }
            Err(r) => {
                ctx.status = Some(r.refusal.status);
                respond(session, r.refusal, &r.message, ctx, true, &[]).await?;
                return Ok(true);
            }
        };
        // Waits between reads of the body and between writes of the response (Pingora reads
        // a body 60 s at a time and waits for a client that stops reading for ever).
        let server = &ctx.state.config.server;
        session.set_read_timeout(Some(server.client_body_timeout));
        session.set_write_timeout(Some(server.send_timeout));
        let path = session.req_header().uri.path();
        let challenge = if path.starts_with(CHALLENGE_PREFIX) {
            self.acme_tokens.answer(path).await
        } else {
            None
        };
        if let Some(answer) = challenge {
            ctx.status = Some(200);
            let headers = [
                ("content-type", "text/plain"),
                ("cache-control", "no-store"),
            ];
            respond::send(session, 200, &headers, Bytes::from(answer), ctx).await?;
            return Ok(true);
        }
        let beat_path = ctx.state.config.probes.public_heartbeat_path.as_deref();
        let sink = self.heartbeats.as_deref();
        if let Some(s) = crate::heartbeat::answer(sink, beat_path, session, ctx).await? {
            ctx.status = Some(s);
            return Ok(true);
        }
        let req = session.req_header();
        ctx.route = ctx.state.router.find(ctx.host_name(), req.uri.path());
        if let Some(location) = self.https_redirect(session, ctx, ctx.host_name()) {
            ctx.status = Some(308);
            let headers = [
                ("location", location.as_str()),
                ("cache-control", "no-store"),
            ];
            respond::send(session, 308, &headers, Bytes::new(), ctx).await?;
            return Ok(true);
        }
        let state = ctx.state.clone();
        let route = ctx.route.and_then(|i| state.routes.get(i));
        let path = session.req_header().uri.path();
        if let Some(msg) =
            edge::path_refusal(&state, ctx.host_name(), ctx.route, path, encoded_slash)
        {
            ctx.status = Some(400);
            respond(session, Refusal::BAD_PATH, msg, ctx, true, &[]).await?;
            return Ok(true);
        }
        let Some(route) = route else {
            ctx.status = Some(404);
            respond(
                session,
                Refusal::NO_ROUTE,
                "no route matches this host and path",
                ctx,
                false,
                &[],
            )
            .await?;
            return Ok(true);
        };
        if edge::enforce(session, ctx, route).await? {
            return Ok(true);
        }
        // The route's total covers the body too: no single wait for it may outlast what is
        // left (a trickle is stopped in request_body_filter).
        if let Some(total) = route
            .config
            .timeouts
            .total
            .filter(|_| !session.is_upgrade_req())
        {
            let left = total.saturating_sub(ctx.start.elapsed());
            let wait = ctx
                .state
                .config
                .server
                .client_body_timeout
                .min(left.max(Duration::from_millis(1)));
            session.set_read_timeout(Some(wait));
        }
        let req = session.req_header();
        let limit = route.config.max_body_size;
        let declared = req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            ctx.status = Some(413);
            let msg = format!("the request body is larger than this route accepts ({limit} bytes)");
            respond(session, Refusal::TOO_LARGE, &msg, ctx, true, &[]).await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if ctx.total_deadline_passed() {
            return Error::e_explain(
                respond::BODY_TOTAL_TIMEOUT,
                "the request body was still arriving at the route's total timeout",
            );
        }
        // The next wait for the body may not outlast what is left of the total either.
        let total = ctx.route().and_then(|r| r.config.timeouts.total);
        if let Some(total) = total.filter(|_| !ctx.upgraded && !session.is_upgrade_req()) {
            let left = total.saturating_sub(ctx.start.elapsed());
            let wait = ctx.state.config.server.client_body_timeout;
            session.set_read_timeout(Some(wait.min(left.max(Duration::from_millis(1)))));
        }
        if let Some(b) = body {
            ctx.body_bytes += b.len() as u64;
            let limit = ctx.route().map_or(u64::MAX, |r| r.config.max_body_size);
            if ctx.body_bytes > limit {
                return Error::e_explain(
                    ErrorType::HTTPStatus(413),
                    format!("request body exceeded {limit} bytes"),
                );
            }
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        // After a stale pooled connection, the same backend may be asked again (a single-
        // backend pool has no other).
        let retry_same = std::mem::take(&mut ctx.retry_same);
        let Some(route) = ctx.route() else {
            return Error::e_explain(ErrorType::InternalError, "upstream_peer without a route");
        };
        let backend = route
            .pool
            .select(&ctx.tried)
            .or_else(|| retry_same.then(|| route.pool.select(&[]))?);
        let Some(backend) = backend else {
            return Error::e_explain(
                respond::NO_HEALTHY_BACKEND,
                format!("upstream `{}` has no backend in service", route.pool.name()),
            );
        };
        let Some(addr) = backend.addr.as_inet().copied() else {
            return Error::e_explain(ErrorType::InternalError, "backend is not an inet address");
        };
        let t = route.config.timeouts;
        let mut read = t.read;
        // A WebSocket outlives the total deadline once upgraded; its reads wait `read` only.
        if let Some(total) = t.total.filter(|_| !session.is_upgrade_req()) {
            let left = total.saturating_sub(ctx.start.elapsed());
            if left.is_zero() {
                return Error::e_explain(
                    respond::TOTAL_TIMEOUT,
                    "total timeout passed before connecting",
                );
            }
            read = read.min(left);
        }
        let protocol = route.pool.definition.protocol;
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(t.connect);
        peer.options.total_connection_timeout = Some(t.connect);
        peer.options.read_timeout = Some(read);
        peer.options.write_timeout = Some(t.read);
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        if protocol == UpstreamProtocol::H2c && !session.is_upgrade_req() {
            peer.options.set_http_version(2, 2);
        }
        ctx.tried.push(addr);
        Ok(Box::new(peer))
    }

    /// A failure after the connection to the backend was made. Pingora's own rule stays
    /// (idempotent requests whose body can be replayed are retried when the connection was a
    /// reused one, i.e. the backend closed it while it sat in the pool); such a retry may go to
    /// the same backend, twice at most, instead of failing a single-backend pool with 502.
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        if !session.req_header().method.is_idempotent() || session.as_ref().retry_buffer_truncated()
        {
            e.set_retry(false);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        let stale = e.retry() && client_reused;
        if !stale && e.esource() == &ErrorSource::Upstream {
            // The backend failed this request (a reset, a timeout, a bad answer): passive
            // health counts it. A pooled connection it had closed is not its failure.
            if let (Some(route), Some(addr)) = (ctx.route(), ctx.tried.last()) {
                route.pool.report(*addr, false);
            }
        }
        if e.retry() {
            if ctx.stale_retries >= 2 {
                e.set_retry(false);
            } else {
                ctx.stale_retries += 1;
                ctx.retry_same = true;
                tracing::debug!(request_id = %ctx.request_id, backend = %peer.address(), error = %e, "a pooled connection was closed by the backend; retrying");
            }
        }
        e
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some(route) = ctx.route() {
            route.pool.connect_errors.inc();
            if let Some(addr) = ctx.tried.last() {
                route.pool.report(*addr, false);
            }
            let retries_used = ctx.tried.len().saturating_sub(1);
            let can_retry = retries_used < route.config.retries as usize
                && route.pool.select(&ctx.tried).is_some();
            tracing::warn!(
                request_id = %ctx.request_id, upstream = route.pool.name(), backend = %peer.address(),
                error = %e, retry = can_retry, "connecting to a backend failed"
            );
            e.set_retry(can_retry);
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        forwarding::set_headers(session, upstream, ctx)?;
        upstream.insert_header(crate::wire_names::X_REQUEST_ID, ctx.request_id.as_str())?;
        if let Some(route) = ctx.route() {
            route.policy.scrub_upstream(upstream);
        }
        observe::inject(&self.telemetry, upstream, ctx)
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if upstream.status == http::StatusCode::SWITCHING_PROTOCOLS {
            ctx.upgraded = true;
        }
        ctx.upstream_status = Some(upstream.status.as_u16());
        if let (Some(route), Some(addr)) = (ctx.route(), ctx.tried.last()) {
            let failed =
                upstream.status.is_server_error() && route.pool.definition.passive_health.on_5xx;
            route.pool.report(*addr, !failed);
        }
        ctx.cache = crate::traffic::classify(&upstream.headers);
        if ctx.total_deadline_passed() {
            return Error::e_explain(
                respond::TOTAL_TIMEOUT,
                "response headers arrived after the total timeout",
            );
        }
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        if end_of_stream {
            ctx.release_stream_slot();
        }
        if ctx.total_deadline_passed() {
            return Error::e_explain(
                respond::TOTAL_TIMEOUT,
                "response body still streaming at the total timeout",
            );
        }
        Ok(None)
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if response.status.is_informational()
            && response.status != http::StatusCode::SWITCHING_PROTOCOLS
        {
            // An interim answer (100 Continue): the final one carries the headers.
            return Ok(());
        }
        // Room for ours: the request id, the security headers, CORS and RateLimit.
        response.reserve(12);
        if let Some(id) = request_id::response_value(&ctx.request_id) {
            response.insert_header(crate::wire_names::X_REQUEST_ID, id)?;
        }
        ctx.decorate(response);
        let bodiless = session.req_header().method == http::Method::HEAD
            || matches!(response.status.as_u16(), 204 | 304)
            || response
                .headers
                .get(http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() == b"0");
        if bodiless {
            ctx.release_stream_slot();
        }
        if self.draining.load(Ordering::Relaxed) {
            session.set_keepalive(None);
        } else if session.get_keepalive().is_some() {
            // Pingora keeps an idle HTTP/1.1 connection forever; close it after the idle
            // timeout instead (nginx: 75 s).
            let idle = ctx.state.config.server.keepalive_timeout.as_secs().max(1);
            session.set_keepalive(Some(idle));
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        if end_of_stream {
            ctx.release_stream_slot();
        }
        Ok(None)
    }

    async fn response_trailer_filter(
        &self,
        _session: &mut Session,
        _trailers: &mut http::HeaderMap,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Bytes>> {
        ctx.release_stream_slot();
        Ok(None)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let Some((refusal, message)) = respond::classify(e) else {
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        };
        let mut code = refusal.status;
        if session.response_written().is_none() {
            if let Err(write_err) = respond(session, refusal, message, ctx, true, &[]).await {
                tracing::debug!(request_id = %ctx.request_id, error = %write_err, "could not send the error response");
                code = 0;
            }
        } else {
            code = session
                .response_written()
                .map_or(code, |r| r.status.as_u16());
        }
        ctx.status = Some(code);
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// A client that went away or reset its stream is its own doing, and a flood of them
    /// would be a flood of log lines: counted in the request metrics, logged at debug.
    fn suppress_error_log(&self, _session: &Session, ctx: &RequestCtx, e: &Error) -> bool {
        let downstream = e.esource() == &ErrorSource::Downstream;
        if downstream {
            tracing::debug!(request_id = %ctx.request_id, error = %e, "the client went away");
        }
        downstream
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        ctx.release_stream_slot();
        // A client too slow to take its response, closed at the deadline (one too slow to
        // send its body was answered 408 `body_timeout`, and counted then).
        if e.is_some_and(|e| {
            e.etype() == &ErrorType::WriteTimedout && e.esource() == &ErrorSource::Downstream
        }) {
            ctx.count_rejection("send_timeout");
        }
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .or(ctx.status)
            .unwrap_or(0);
        let req = session.req_header();
        let metrics = ctx.route().map_or(&ctx.state.unmatched, |r| &r.metrics);
        metrics.observe(&req.method, status, ctx.start.elapsed().as_secs_f64());
        observe::finished(&self.telemetry, session, e, ctx, status);
    }
}
