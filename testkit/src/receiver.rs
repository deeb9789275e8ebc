//! Local stand-ins for the HTTP services gatehouse sends to (a webhook, an OTLP/HTTP
//! collector, a Sentry DSN host, a notifier's API): a receiver that records every request
//! (method, path with query, headers, body, arrival instant) and answers from a script (a
//! status, or never), and a "black hole" that accepts connections and never answers.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderMap;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it was answered with (0 when it was never answered).
    pub answered: u16,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How to answer the next request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16, &'static str),
    /// A status with headers (e.g. `Retry-After`) and an empty body.
    With(u16, Vec<(&'static str, String)>),
    /// Read the request, then never answer.
    Hang,
}

struct State {
    seen: Mutex<Vec<Seen>>,
    script: Mutex<VecDeque<Reply>>,
    /// The answer when the script is empty.
    default: Mutex<Reply>,
}

/// Records every request (HTTP/1.1, or HTTP/2 with prior knowledge).
pub struct Receiver {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Start on a free loopback port; every request gets 200 `ok` unless scripted.
    pub async fn start() -> Receiver {
        Receiver::with_default(Reply::Status(200, "ok")).await
    }

    /// Start on a free loopback port; every request gets `status` with an empty body unless
    /// scripted.
    pub async fn answering(status: u16) -> Receiver {
        Receiver::with_default(Reply::Status(status, "")).await
    }

    async fn with_default(default: Reply) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            seen: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(default),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            url: format!("http://{addr}"),
            addr,
            state,
            task,
        }
    }

    /// Answer the next requests with these replies, in order; then the default again.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Answer `status` with `headers` from now on (when the script is empty).
    pub fn answer(&self, status: u16, headers: Vec<(&'static str, String)>) {
        *self.state.default.lock().unwrap() = Reply::With(status, headers);
    }

    /// The requests answered with a 2xx: what was delivered.
    pub fn accepted(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| (200..300).contains(&s.answered))
            .collect()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// How many requests have arrived.
    pub fn count(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    /// Wait (up to 10 s) until `count` requests have arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.seen();
            if seen.len() >= count {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} requests at {}, got {}: {seen:?}",
                self.url,
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let reply = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| state.default.lock().unwrap().clone());
    let answered = match &reply {
        Reply::Status(code, _) | Reply::With(code, _) => *code,
        Reply::Hang => 0,
    };
    state.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
        at: Instant::now(),
        answered,
    });
    let (code, body, headers) = match reply {
        Reply::Status(code, body) => (code, body, Vec::new()),
        Reply::With(code, headers) => (code, "", headers),
        Reply::Hang => return std::future::pending().await,
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = StatusCode::from_u16(code).unwrap();
    for (name, value) in headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    Ok(response)
}

/// Accepts connections and holds them open without reading or answering.
pub struct BlackHole {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BlackHole {
    pub async fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        BlackHole { addr, task }
    }
}
