#![allow(clippy::unwrap_used)] // test helpers panic on purpose

//! Local stand-ins for the services gatehouse sends telemetry to: an HTTP receiver that
//! records every request (an OTLP/HTTP collector, a Sentry DSN host, a webhook), and a
//! "black hole" that accepts connections and never answers.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One request as the receiver got it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// The status it was answered with.
    pub answered: StatusCode,
    pub at: std::time::Instant,
}

/// How a receiver answers: a status and extra headers (e.g. `Retry-After`).
pub type Answer = (StatusCode, Vec<(&'static str, String)>);

/// Records every request and answers `status` (see [`Receiver::answer`]) with an empty body.
pub struct Receiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(status: StatusCode) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Mutex<Answer>> = Arc::new(Mutex::new((status, Vec::new())));
        let rec = received.clone();
        let ans = answer.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let rec = rec.clone();
                let ans = ans.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let rec = rec.clone();
                        let (status, extra) = ans.lock().unwrap().clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            rec.lock().unwrap().push(Received {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_string(),
                                headers: parts.headers,
                                body,
                                answered: status,
                                at: std::time::Instant::now(),
                            });
                            let mut r = Response::new(Full::new(Bytes::new()));
                            *r.status_mut() = status;
                            for (name, value) in extra {
                                r.headers_mut().insert(name, value.parse().unwrap());
                            }
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            received,
            answer,
            task,
        }
    }

    /// Answer `status` with `headers` from now on.
    pub fn answer(&self, status: StatusCode, headers: Vec<(&'static str, String)>) {
        *self.answer.lock().unwrap() = (status, headers);
    }

    /// The requests answered with a 2xx: what was delivered.
    pub fn accepted(&self) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| r.answered.is_success())
            .collect()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

/// Accepts connections and holds them open without reading or answering.
pub struct BlackHole {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BlackHole {
    pub async fn start() -> BlackHole {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
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

/// The spans of OTLP/HTTP protobuf export requests.
pub fn otlp_spans(requests: &[Received]) -> Vec<OtlpSpan> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    let mut out = Vec::new();
    for r in requests {
        let req = ExportTraceServiceRequest::decode(r.body.as_ref()).expect("OTLP protobuf");
        for rs in req.resource_spans {
            let resource = rs
                .resource
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    out.push(OtlpSpan {
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent_span_id: hex(&s.parent_span_id),
                        name: s.name.clone(),
                        kind: s.kind,
                        status_code: s.status.as_ref().map_or(0, |st| st.code),
                        attributes: attributes(&s.attributes),
                        resource: resource.clone(),
                    });
                }
            }
        }
    }
    out
}

/// A decoded span, attributes as strings.
#[derive(Clone, Debug)]
pub struct OtlpSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    /// 2 is SERVER.
    pub kind: i32,
    /// 2 is ERROR.
    pub status_code: i32,
    pub attributes: Vec<(String, String)>,
    pub resource: Vec<(String, String)>,
}

impl OtlpSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn attributes(kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Vec<(String, String)> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The event payloads (JSON) of Sentry envelopes: each envelope is a header line, then per
/// item a header line and a payload line.
pub fn sentry_events(requests: &[Received]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for r in requests {
        let text = String::from_utf8_lossy(&r.body);
        let mut lines = text.lines().skip(1);
        while let Some(item_header) = lines.next() {
            let Some(payload) = lines.next() else { break };
            let h: serde_json::Value = serde_json::from_str(item_header).unwrap_or_default();
            if h["type"] == "event" {
                out.push(serde_json::from_str(payload).expect("event JSON"));
            }
        }
    }
    out
}
