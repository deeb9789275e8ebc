//! The built-in demo backend (`demo.listen` in the config): a tiny HTTP app so that the
//! quickstart shows the proxy working with nothing else installed.
//!
//! - `GET /` and any other path: JSON echo of the request as the backend saw it
//! - `GET /status/{code}`: answers with that status
//! - `GET /slow?ms=N`: answers after N milliseconds (at most 60 s)
//! - `GET /healthz`: `ok`

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::Router;
use gatehouse_config::server::ConnectionLimits;
use gatehouse_web::listener::ListenerMetrics;
use http::StatusCode;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serve the demo app on `listener` until the runtime ends, on the control plane's one
/// hardened listener (head deadline, idle timeout, connection cap and accept backoff:
/// `gatehouse_web::listener`).
pub(crate) async fn serve(
    listener: TcpListener,
    limits: ConnectionLimits,
    metrics: ListenerMetrics,
) {
    let app = Router::new().fallback(handle);
    gatehouse_web::listener::serve("demo", listener, limits, &metrics, app).await
}

async fn handle(ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return respond(StatusCode::OK, "ok\n".into(), "text/plain");
    }
    if let Some(code) = path.strip_prefix("/status/") {
        let status = code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
        return respond(
            status,
            format!("{{\"status\":{}}}\n", status.as_u16()),
            "application/json",
        );
    }
    if path == "/slow" {
        let ms = req
            .uri()
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("ms=")))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1000)
            .min(60_000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned().into(),
            )
        })
        .collect();
    let body = serde_json::json!({
        "message": "Hello from the gatehouse demo backend. This response came through the proxy.",
        "method": req.method().as_str(),
        "path": path,
        "query": req.uri().query(),
        "peer": peer.to_string(),
        "headers": headers,
    });
    respond(StatusCode::OK, format!("{body:#}\n"), "application/json")
}

fn respond(status: StatusCode, body: String, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}
