//! The watchtower's part of the request path: the server span (started first thing, passed
//! on to the upstream, ended in `logging`), the live signals, Sentry events and the access
//! log line, all fed from what the request turned out to be.

use super::ctx::{raw_host, RequestCtx};
use crate::telemetry::{self, Failure, Telemetry};
use opentelemetry::KeyValue;
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

/// Start the request's server span (when tracing is on) and learn its trace id.
pub(super) fn start_trace(telemetry: &Telemetry, session: &Session, ctx: &mut RequestCtx) {
    let req = session.req_header();
    match &telemetry.tracing {
        Some(t) => {
            let mut attrs = Vec::with_capacity(8);
            attrs.push(KeyValue::new(
                "http.request.method",
                semconv_method(&req.method),
            ));
            attrs.push(KeyValue::new("url.path", req.uri.path().to_string()));
            let host = raw_host(req);
            let (name, port) = split_host_port(host);
            attrs.push(KeyValue::new("server.address", name.to_string()));
            if let Some(port) = port {
                attrs.push(KeyValue::new("server.port", i64::from(port)));
            }
            if let Some(ua) = req.headers.get(http::header::USER_AGENT) {
                attrs.push(KeyValue::new(
                    "user_agent.original",
                    String::from_utf8_lossy(ua.as_bytes()).into_owned(),
                ));
            }
            if let Some(peer) = session.client_addr().and_then(|a| a.as_inet()) {
                attrs.push(KeyValue::new("network.peer.address", peer.ip().to_string()));
            }
            attrs.push(KeyValue::new(
                "network.protocol.version",
                protocol_version(req.version),
            ));
            let cx = t.start_span(&req.headers, attrs);
            ctx.trace_id = telemetry::trace_id(&cx);
            ctx.span_id = telemetry::span_id(&cx);
            ctx.trace = Some(cx);
        }
        None => ctx.trace_id = telemetry::trace_id_of_header(&req.headers),
    }
}

/// Give the upstream a `traceparent` (and `tracestate`) continuing the request's span.
pub(super) fn inject(
    telemetry: &Telemetry,
    upstream: &mut RequestHeader,
    ctx: &RequestCtx,
) -> Result<()> {
    if let (Some(t), Some(cx)) = (&telemetry.tracing, &ctx.trace) {
        upstream.remove_header("tracestate");
        for (name, value) in t.inject(cx) {
            upstream.insert_header(name, value)?;
        }
    }
    Ok(())
}

/// Everything recorded about a finished request.
pub(super) fn finished(
    telemetry: &Telemetry,
    session: &Session,
    e: Option<&Error>,
    ctx: &mut RequestCtx,
    status: u16,
) {
    let elapsed = ctx.start.elapsed();
    let req = session.req_header();
    let span = ctx.trace.take();
    let route = ctx.route();
    if let Some(r) = route.filter(|_| ctx.state.config.telemetry.signals) {
        r.traffic.record(status, elapsed.as_secs_f64(), ctx.cache);
    }
    let route_name = route.map_or("", |r| r.config.name.as_str());
    let upstream = route.map_or("", |r| r.config.upstream.as_str());
    if let Some(cx) = span {
        let mut attrs = vec![
            KeyValue::new("url.scheme", if ctx.https { "https" } else { "http" }),
            KeyValue::new("gatehouse.request_id", ctx.request_id.clone()),
        ];
        if let Some(ip) = ctx.client_ip {
            attrs.push(KeyValue::new("client.address", ip.to_string()));
        }
        let name = match route {
            Some(r) => {
                attrs.push(KeyValue::new("http.route", r.config.path_prefix.clone()));
                attrs.push(KeyValue::new("gatehouse.route", route_name.to_string()));
                attrs.push(KeyValue::new("gatehouse.upstream", upstream.to_string()));
                format!("{} {}", semconv_method(&req.method), r.config.path_prefix)
            }
            None => semconv_method(&req.method).to_string(),
        };
        if let Some(addr) = ctx.tried.last() {
            attrs.push(KeyValue::new("gatehouse.backend", addr.to_string()));
        }
        if let Some(e) = e {
            attrs.push(KeyValue::new("error.type", e.etype().as_str()));
        } else if status >= 500 {
            attrs.push(KeyValue::new("error.type", status.to_string()));
        }
        telemetry::finish(&cx, name, status, attrs);
    }
    if let Some(reporter) = &telemetry.errors {
        let proxy_error =
            e.filter(|e| (status >= 500 || status == 0) && *e.esource() != ErrorSource::Downstream);
        let kind = match proxy_error {
            Some(e) => Some(e.etype().as_str()),
            None => ctx
                .upstream_status
                .filter(|s| *s >= 500 && reporter.upstream_5xx)
                .map(|_| "upstream_5xx"),
        };
        if let Some(kind) = kind {
            let message = match proxy_error {
                Some(e) => format!("proxying to upstream `{upstream}` failed: {e}"),
                None => format!("upstream `{upstream}` answered {status}"),
            };
            reporter.report(&Failure {
                kind,
                message,
                status,
                route: route_name,
                upstream,
                backend: ctx.tried.last().map(|a| a.to_string()),
                request_id: &ctx.request_id,
                trace_id: ctx.trace_id.clone(),
                span_id: ctx.span_id.clone(),
                method: req.method.as_str(),
                scheme: if ctx.https { "https" } else { "http" },
                host: raw_host(req),
                path: req.uri.path(),
                query: req.uri.query(),
                user_agent: req
                    .headers
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()),
            });
        }
    }
    if ctx.state.config.log.access_log {
        let client = ctx.client_ip.map(|a| a.to_string()).unwrap_or_default();
        let upstream = ctx.tried.last().map(|a| a.to_string()).unwrap_or_default();
        crate::access_log::log(&crate::access_log::Line {
            request_id: &ctx.request_id,
            trace_id: ctx.trace_id.as_deref().unwrap_or(""),
            client: &client,
            method: req.method.as_str(),
            host: raw_host(req),
            path: req.uri.path(),
            status,
            bytes: session.body_bytes_sent(),
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            upstream: &upstream,
            route: route_name,
            cache: ctx.cache.map_or("", |c| c.as_str()),
            error: e.map(|e| e.etype().as_str()).unwrap_or(""),
        });
    }
}

/// HTTP semantic conventions: known methods as they are, anything else `_OTHER`.
fn semconv_method(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

fn protocol_version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// `example.com:8443` → (`example.com`, 8443); `[::1]:80` → (`[::1]`, 80).
fn split_host_port(host: &str) -> (&str, Option<u16>) {
    match host.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => {
            match p.parse() {
                Ok(port) => (h, Some(port)),
                Err(_) => (host, None),
            }
        }
        _ => (host, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_are_split() {
        assert_eq!(split_host_port("a.test:8443"), ("a.test", Some(8443)));
        assert_eq!(split_host_port("a.test"), ("a.test", None));
        assert_eq!(split_host_port("[::1]:80"), ("[::1]", Some(80)));
        assert_eq!(split_host_port("::1"), ("::1", None));
    }
}
