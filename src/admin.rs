//! The admin listener: `/healthz` (the process is alive), `/readyz` (the proxy accepts traffic
//! and is not draining), `/metrics` (Prometheus text format), `/api/v1/routes` (the live
//! per-route signals as JSON), `/api/v1/probes` and `/api/v1/probes/{name}/history` (probe
//! state and uptime history), `POST /api/v1/heartbeat/{name}` (push monitors),
//! `/api/v1/incidents` and `/api/v1/silences` (alerting). Loopback by default; who may use
//! it (Host guard, bearer tokens and scopes) is decided in `admin_auth.rs` before any handler.

use crate::listener::ListenerMetrics;
use bytes::Bytes;
use gatehouse_config::ConnectionLimits;
use gatehouse_probes::Probes;
use gatehouse_signals::TrafficSignals;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use prometheus::{Encoder, Registry, TextEncoder};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// What the admin endpoints read.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub registry: Registry,
    pub ready: Arc<AtomicBool>,
    pub draining: Arc<AtomicBool>,
    pub signals: Arc<dyn TrafficSignals>,
    pub probes: Arc<Probes>,
    pub alerting: Arc<gatehouse_alerting::Alerting>,
    /// The live config (`admin` is read per request, so token changes apply on reload).
    pub shared: gatehouse_proxy::SharedState,
    pub guard: Arc<crate::admin_auth::AdminGuard>,
}

/// Serve the admin endpoints on `listener` until the runtime ends (head deadline, idle
/// timeout, connection cap and accept backoff: `src/listener/`).
pub(crate) async fn serve(
    listener: TcpListener,
    limits: ConnectionLimits,
    metrics: ListenerMetrics,
    state: AdminState,
) {
    crate::listener::serve("admin", listener, limits, &metrics, move |req, _peer| {
        let state = state.clone();
        async move { handle(&state, req).await }
    })
    .await
}

pub(crate) fn text(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    resp
}

pub(crate) const PLAIN: &str = "text/plain; charset=utf-8";

async fn handle(state: &AdminState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if let Some(refused) = state
        .guard
        .refusal(&state.shared.load().config().admin, &req)
    {
        return refused;
    }
    let path = req.uri().path().to_string();
    if let Some(name) = path.strip_prefix("/api/v1/heartbeat/") {
        return crate::admin_probes::heartbeat(&state.probes, &req, name);
    }
    if let Some(id) = path
        .strip_prefix("/api/v1/incidents/")
        .and_then(|r| r.strip_suffix("/updates"))
    {
        return crate::admin_alerts::incident_update(&state.alerting, req, id).await;
    }
    if path == "/api/v1/announcements" {
        return crate::admin_alerts::announcements(&state.alerting, req, None).await;
    }
    if let Some(id) = path.strip_prefix("/api/v1/announcements/") {
        return crate::admin_alerts::announcements(&state.alerting, req, Some(id)).await;
    }
    if path == "/api/v1/silences" {
        return crate::admin_alerts::silences(&state.alerting, req, None).await;
    }
    if let Some(id) = path.strip_prefix("/api/v1/silences/") {
        return crate::admin_alerts::silences(&state.alerting, req, Some(id)).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n", PLAIN);
    }
    if let Some(rest) = path.strip_prefix("/api/v1/probes/") {
        return crate::admin_probes::history(&state.probes, &req, rest).await;
    }
    match path.as_str() {
        "/healthz" => text(StatusCode::OK, "ok\n", PLAIN),
        "/readyz" => {
            if state.draining.load(Ordering::Relaxed) {
                text(StatusCode::SERVICE_UNAVAILABLE, "draining\n", PLAIN)
            } else if state.ready.load(Ordering::Relaxed) {
                text(StatusCode::OK, "ready\n", PLAIN)
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "starting\n", PLAIN)
            }
        }
        "/metrics" => {
            let encoder = TextEncoder::new();
            let mut buf = Vec::new();
            match encoder.encode(&state.registry.gather(), &mut buf) {
                Ok(()) => text(
                    StatusCode::OK,
                    buf,
                    "text/plain; version=0.0.4; charset=utf-8",
                ),
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot encode metrics: {e}\n"),
                    PLAIN,
                ),
            }
        }
        "/api/v1/routes" => routes_json(state.signals.as_ref()),
        "/api/v1/probes" => crate::admin_probes::list(&state.probes),
        "/api/v1/incidents" => crate::admin_alerts::incidents(&state.alerting).await,
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /healthz, /readyz, /metrics, /api/v1/routes, /api/v1/probes, /api/v1/incidents or /api/v1/silences\n",
            PLAIN,
        ),
    }
}

/// `{"routes": [{"route": NAME, "windows": {"1m": {...}, "5m": {...}, "1h": {...}}}]}`.
fn routes_json(signals: &dyn TrafficSignals) -> Response<Full<Bytes>> {
    let routes: Vec<serde_json::Value> = signals
        .snapshot()
        .into_iter()
        .map(|snap| {
            let windows: serde_json::Map<String, serde_json::Value> = snap
                .windows
                .iter()
                .map(|(w, stats)| {
                    let v = serde_json::to_value(stats).unwrap_or(serde_json::Value::Null);
                    (w.as_str().to_string(), v)
                })
                .collect();
            serde_json::json!({ "route": snap.route, "windows": windows })
        })
        .collect();
    let body = serde_json::json!({ "routes": routes }).to_string();
    text(StatusCode::OK, body, "application/json")
}
