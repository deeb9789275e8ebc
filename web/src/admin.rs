//! The admin listener: `/healthz` (the process is alive), `/readyz` (the proxy accepts traffic
//! and is not draining), `/metrics` (Prometheus text format), `/api/v1/routes` (the live
//! per-route signals as JSON), `/api/v1/probes` and `/api/v1/probes/{name}/history` (probe
//! state and uptime history), `POST /api/v1/heartbeat/{name}` (push monitors),
//! `/api/v1/incidents`, `/api/v1/silences` and `/api/v1/deliveries` (alerting). Loopback by default; who may use
//! it (Host guard, bearer tokens and scopes) is decided in `admin_auth.rs`, a middleware
//! around every route (and the fallback) before any handler.

use crate::admin_auth::AdminGuard;
use crate::listener::ListenerMetrics;
use crate::{admin_alerts, admin_probes};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use bytes::Bytes;
use gatehouse_config::server::ConnectionLimits;
use gatehouse_probes::Probes;
use gatehouse_traffic::TrafficSignals;
use http::{Method, StatusCode};
use prometheus::{Encoder, Registry, TextEncoder};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// What the admin endpoints read, handed in by the binary.
pub struct AdminState {
    pub registry: Registry,
    pub ready: Arc<AtomicBool>,
    pub draining: Arc<AtomicBool>,
    pub signals: Arc<dyn TrafficSignals>,
    pub probes: Arc<Probes>,
    pub alerting: Arc<gatehouse_alerting::Alerting>,
    /// The live config (`admin` is read per request, so token changes apply on reload).
    pub shared: gatehouse_proxy::SharedState,
    pub guard: Arc<AdminGuard>,
}

pub(crate) type Admin = State<Arc<AdminState>>;

/// Serve the admin endpoints on `listener` until the runtime ends (head deadline, idle
/// timeout, connection cap and accept backoff: `listener`).
pub async fn serve(
    listener: TcpListener,
    limits: ConnectionLimits,
    metrics: ListenerMetrics,
    state: AdminState,
) {
    crate::listener::serve("admin", listener, limits, &metrics, router(state)).await
}

/// Every admin route: method and path to handler. A method a path does not take is answered
/// 405 with the methods it takes; any other path 404 (405 "use GET" for other methods, as
/// the API always answered).
pub fn router(state: AdminState) -> Router {
    let state = Arc::new(state);
    let history = get(admin_probes::history).fallback(use_get);
    // Push monitors may GET or POST (cron one-liners); HEAD is not a beat.
    let heartbeat = post(admin_probes::heartbeat)
        .get(admin_probes::heartbeat)
        .head(use_post)
        .fallback(use_post);
    let withdraw = delete(admin_alerts::withdraw).fallback(admin_alerts::announcements_usage);
    let expire = delete(admin_alerts::expire).fallback(admin_alerts::silences_usage);
    let table = Router::new()
        .route("/healthz", get(healthz).fallback(use_get))
        .route("/readyz", get(readyz).fallback(use_get))
        .route("/metrics", get(metrics).fallback(use_get))
        .route("/api/v1/routes", get(routes).fallback(use_get))
        .route("/api/v1/probes", get(admin_probes::list).fallback(use_get))
        .route("/api/v1/probes/{*rest}", history.clone())
        .route("/api/v1/heartbeat/{*name}", heartbeat.clone())
        .route(
            "/api/v1/deliveries",
            get(admin_alerts::deliveries).fallback(use_get),
        )
        .route(
            "/api/v1/incidents",
            get(admin_alerts::incidents).fallback(use_get),
        )
        .route(
            "/api/v1/incidents/{id}/updates",
            post(admin_alerts::incident_update).fallback(use_post),
        )
        .route(
            "/api/v1/announcements",
            get(admin_alerts::announcements)
                .post(admin_alerts::announce)
                .fallback(admin_alerts::announcements_usage),
        )
        .route("/api/v1/announcements/{*id}", withdraw.clone())
        .route(
            "/api/v1/silences",
            get(admin_alerts::silences)
                .post(admin_alerts::silence)
                .fallback(admin_alerts::silences_usage),
        )
        .route("/api/v1/silences/{*id}", expire.clone())
        // A wildcard never matches an empty tail; these answered for an empty name before.
        .route("/api/v1/probes/", history)
        .route("/api/v1/heartbeat/", heartbeat)
        .route("/api/v1/announcements/", withdraw)
        .route("/api/v1/silences/", expire)
        .fallback(not_found)
        .with_state(state.clone());
    // The guard wraps the whole table from outside, so it also sees (and strips) the `Allow`
    // header axum's method routers add to their 405s.
    Router::new()
        .fallback_service(table)
        .layer(middleware::from_fn_with_state(state, guard))
}

/// The Host guard and the tokens (`admin_auth.rs`), before any route. The `Allow` header
/// axum adds to its 405s is taken off: the API's answers stay as they were (a refactor).
async fn guard(State(state): Admin, req: Request, next: Next) -> Response {
    if let Some(refused) = state
        .guard
        .refusal(&state.shared.load().config().admin, &req)
    {
        return refused;
    }
    let mut resp = next.run(req).await;
    resp.headers_mut().remove(http::header::ALLOW);
    resp
}

pub(crate) fn text(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response {
    let mut resp = Response::new(Body::from(body.into()));
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

async fn use_get() -> Response {
    text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n", PLAIN)
}

pub(crate) async fn use_post() -> Response {
    text(StatusCode::METHOD_NOT_ALLOWED, "use POST\n", PLAIN)
}

async fn not_found(method: Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return use_get().await;
    }
    text(
        StatusCode::NOT_FOUND,
        "not found; try /healthz, /readyz, /metrics, /api/v1/routes, /api/v1/probes, /api/v1/incidents, /api/v1/silences or /api/v1/deliveries\n",
        PLAIN,
    )
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok\n", PLAIN)
}

async fn readyz(State(state): Admin) -> Response {
    if state.draining.load(Ordering::Relaxed) {
        text(StatusCode::SERVICE_UNAVAILABLE, "draining\n", PLAIN)
    } else if state.ready.load(Ordering::Relaxed) {
        text(StatusCode::OK, "ready\n", PLAIN)
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "starting\n", PLAIN)
    }
}

async fn metrics(State(state): Admin) -> Response {
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

/// `{"routes": [{"route": NAME, "windows": {"1m": {...}, "5m": {...}, "1h": {...}}}]}`.
async fn routes(State(state): Admin) -> Response {
    let routes: Vec<serde_json::Value> = state
        .signals
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

/// The path after `prefix` as sent (not percent-decoded, as names were always matched);
/// the route table has already chosen the handler.
pub(crate) fn tail<'a>(uri: &'a http::Uri, prefix: &str) -> &'a str {
    uri.path().strip_prefix(prefix).unwrap_or_default()
}
