//! The test upstream: a real HTTP server on 127.0.0.1:0 (HTTP/1.1, h2c, WebSocket) that
//! answers with what it received.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A real HTTP upstream on 127.0.0.1:0 that answers with its name and what it received.
///
/// Paths: `/slow?ms=N` waits; `/health` answers 200 or 503 per `healthy`; `/status/N`;
/// `.../powered` answers with `Server`, `X-Powered-By` and `X-Frame-Options: ALLOWALL`;
/// `.../cors-upstream` with `Access-Control-Allow-Origin: *`; anything else echoes. On any
/// path, `?delay_ms=N` waits before answering and `?h.NAME=VALUE` adds a response header.
/// Speaks HTTP/1.1 and HTTP/2 (h2c prior knowledge); WebSocket on `/ws`.
pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
    pub healthy: Arc<AtomicBool>,
    pub hits: Arc<AtomicUsize>,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    /// Connections open now.
    pub open: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub async fn start(name: &str) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let healthy = Arc::new(AtomicBool::new(true));
        let hits = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (n, h, c) = (name.to_string(), healthy.clone(), hits.clone());
        let (a, o) = (accepted.clone(), open.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                a.fetch_add(1, Ordering::SeqCst);
                o.fetch_add(1, Ordering::SeqCst);
                let (n, h, c, o) = (n.clone(), h.clone(), c.clone(), o.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let (n, h, c) = (n.clone(), h.clone(), c.clone());
                        async move { Ok::<_, std::convert::Infallible>(handle(req, &n, &h, &c).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await;
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Upstream {
            name: name.to_string(),
            addr,
            healthy,
            hits,
            accepted,
            open,
            task,
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    name: &str,
    healthy: &AtomicBool,
    hits: &AtomicUsize,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    if path == "/health" {
        let ok = healthy.load(Ordering::SeqCst);
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return reply(status, "health".into());
    }
    let hit = hits.fetch_add(1, Ordering::SeqCst);
    if path == "/flaky" {
        // Every other request fails.
        let status = if hit % 2 == 0 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        return reply(status, "flaky".into());
    }
    let (delay, set_headers) = response_options(req.uri().query());
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut r = route_request(req, &path, name).await;
    for (k, v) in set_headers {
        r.headers_mut().append(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            v.parse().expect("header value"),
        );
    }
    r
}

/// `delay_ms=N` and `h.NAME=VALUE` (a response header; `+` stands for a space) from a query.
fn response_options(query: Option<&str>) -> (Option<u64>, Vec<(String, String)>) {
    let mut delay = None;
    let mut headers = Vec::new();
    for pair in query.unwrap_or("").split('&') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        if k == "delay_ms" {
            delay = v.parse().ok();
        } else if let Some(name) = k.strip_prefix("h.") {
            headers.push((name.to_string(), v.replace('+', " ")));
        }
    }
    (delay, headers)
}

async fn route_request(
    mut req: Request<Incoming>,
    path: &str,
    name: &str,
) -> Response<Full<Bytes>> {
    if path == "/ws" {
        return websocket(&mut req);
    }
    if path.ends_with("/powered") {
        // Headers a proxy should not pass on (or should replace).
        let mut r = reply(StatusCode::OK, "powered".into());
        let h = r.headers_mut();
        h.insert("server", "test-upstream/1.0".parse().expect("hv"));
        h.insert("x-powered-by", "Express".parse().expect("hv"));
        h.insert("x-frame-options", "ALLOWALL".parse().expect("hv"));
        return r;
    }
    if path.ends_with("/cors-upstream") {
        // An upstream with its own, too permissive CORS answer.
        let mut r = reply(StatusCode::OK, "cors".into());
        r.headers_mut()
            .insert("access-control-allow-origin", "*".parse().expect("hv"));
        return r;
    }
    if let Some(code) = path.strip_prefix("/status/") {
        let s = code
            .parse()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::OK);
        return reply(s, String::new());
    }
    if path.starts_with("/slow") {
        let ms: u64 = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("ms="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
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
    let version = format!("{:?}", req.version());
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
    let v = serde_json::json!({
        "backend": name, "path": path, "uri": uri, "method": method,
        "version": version, "headers": headers, "body_len": body,
    });
    reply(StatusCode::OK, v.to_string())
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}

fn websocket(req: &mut Request<Incoming>) -> Response<Full<Bytes>> {
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    use tokio_tungstenite::tungstenite::protocol::Role;
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return reply(StatusCode::BAD_REQUEST, "not a websocket request".into());
    };
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        use futures_util::{SinkExt, StreamExt};
        let Ok(upgraded) = upgrade.await else { return };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            None,
        )
        .await;
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_text() {
                let text = format!("echo: {}", msg.to_text().unwrap_or(""));
                if ws
                    .send(tokio_tungstenite::tungstenite::Message::text(text))
                    .await
                    .is_err()
                {
                    break;
                }
            } else if msg.is_close() {
                break;
            }
        }
    });
    let mut r = reply(StatusCode::SWITCHING_PROTOCOLS, String::new());
    let h = r.headers_mut();
    h.insert("connection", "upgrade".parse().expect("hv"));
    h.insert("upgrade", "websocket".parse().expect("hv"));
    h.insert(
        "sec-websocket-accept",
        derive_accept_key(key.as_bytes()).parse().expect("hv"),
    );
    r
}
