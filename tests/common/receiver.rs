#![allow(clippy::unwrap_used)] // test helpers panic on purpose

//! What the telemetry tests read from the recording receiver (`gatehouse_testkit::receiver`,
//! re-exported here): the spans of OTLP/HTTP exports and the events of Sentry envelopes.

// Not every test binary uses every peer.
#[allow(unused_imports)]
pub use gatehouse_testkit::receiver::{BlackHole, Receiver, Seen};

/// The spans of OTLP/HTTP protobuf export requests.
pub fn otlp_spans(requests: &[Seen]) -> Vec<OtlpSpan> {
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
pub fn sentry_events(requests: &[Seen]) -> Vec<serde_json::Value> {
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
