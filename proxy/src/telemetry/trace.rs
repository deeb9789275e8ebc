//! Server spans for requests: the client's W3C `traceparent`/`tracestate` is continued (or a
//! trace started), the span carries the HTTP semantic-convention attributes, the upstream gets
//! a `traceparent` of the same trace, and finished spans leave through a bounded [`Outbox`]
//! to an OTLP/HTTP (protobuf) collector in batches.

use super::client::ExportClient;
use super::outbox::{Batching, Outbox, Sink};
use super::{TelemetryError, TelemetryMetrics};
use gatehouse_config::telemetry::{TelemetryConfig, TracingConfig};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    Sampler, SdkTracer, SdkTracerProvider, Span, SpanData, SpanExporter as _, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use prometheus::IntCounter;
use std::collections::HashMap;
use std::time::Duration;

/// The tracer of the proxy.
pub(crate) struct Tracing {
    tracer: SdkTracer,
    /// Kept so that the SDK's state lives as long as the tracer.
    _provider: SdkTracerProvider,
    outbox: Outbox<SpanData>,
    propagator: TraceContextPropagator,
}

impl Tracing {
    pub(crate) fn start(
        telemetry: &TelemetryConfig,
        config: &TracingConfig,
        metrics: &TelemetryMetrics,
    ) -> Result<Tracing, TelemetryError> {
        let headers: HashMap<String, String> = config
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(
                ExportClient::new(config.export_timeout).map_err(TelemetryError::TracingClient)?,
            )
            .with_endpoint(config.endpoint.clone())
            .with_timeout(config.export_timeout)
            .with_headers(headers)
            .build()
            .map_err(TelemetryError::TracingExporter)?;
        let resource = Resource::builder()
            .with_service_name(telemetry.service_name.clone())
            .with_attribute(KeyValue::new(
                "service.instance.id",
                telemetry.instance.clone(),
            ))
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .with_attributes(
                telemetry
                    .resource
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();
        exporter.set_resource(&resource);
        let sink = SpanSink {
            exporter,
            exported: metrics.exported.with_label_values(&["traces"]),
            failed: metrics
                .dropped
                .with_label_values(&["traces", "export_failed"]),
            endpoint: config.endpoint.clone(),
            last_warning: None,
        };
        let outbox = Outbox::start(
            "gatehouse-otlp",
            Batching {
                capacity: config.queue_size,
                max_batch: config.batch_size,
                max_delay: config.batch_delay,
            },
            metrics.dropped.with_label_values(&["traces", "queue_full"]),
            sink,
        )
        .map_err(TelemetryError::TracingThread)?;
        let ratio = if config.sample_ratio >= 1.0 {
            Sampler::AlwaysOn
        } else {
            Sampler::TraceIdRatioBased(config.sample_ratio)
        };
        let sampler = if config.parent_based {
            Sampler::ParentBased(Box::new(ratio))
        } else {
            ratio
        };
        let provider = SdkTracerProvider::builder()
            .with_span_processor(Processor(outbox.clone()))
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("gatehouse-proxy");
        Ok(Tracing {
            tracer,
            _provider: provider,
            outbox,
            propagator: TraceContextPropagator::new(),
        })
    }

    /// Start the server span of a request, continuing the trace its headers name.
    pub(crate) fn start_span(
        &self,
        headers: &http::HeaderMap,
        attributes: Vec<KeyValue>,
    ) -> Context {
        use opentelemetry::propagation::TextMapPropagator;
        let parent = self
            .propagator
            .extract(&opentelemetry_http::HeaderExtractor(headers));
        let span = self
            .tracer
            .span_builder("HTTP")
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        parent.with_span(span)
    }

    /// The `traceparent` (and `tracestate`) that continue `cx` at the upstream.
    pub(crate) fn inject(&self, cx: &Context) -> Vec<(String, String)> {
        use opentelemetry::propagation::TextMapPropagator;
        let mut out = HashMap::new();
        self.propagator.inject_context(cx, &mut out);
        out.into_iter().collect()
    }

    /// Send what is queued, waiting at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.outbox.flush(timeout)
    }
}

/// End the span in `cx` with the response's facts.
pub(crate) fn finish(cx: &Context, name: String, status: u16, attributes: Vec<KeyValue>) {
    let span = cx.span();
    if !span.is_recording() {
        return;
    }
    span.update_name(name);
    span.set_attributes(attributes);
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    if status >= 500 || status == 0 {
        span.set_status(Status::error(if status == 0 {
            "no response".to_string()
        } else {
            status.to_string()
        }));
    }
    span.end();
}

/// The trace id of `cx` as 32 hex digits, when valid.
pub(crate) fn trace_id(cx: &Context) -> Option<String> {
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// The span id of `cx` as 16 hex digits, when valid.
pub(crate) fn span_id(cx: &Context) -> Option<String> {
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.span_id().to_string())
}

/// The trace id of a `traceparent` header (`00-TRACEID-SPANID-FLAGS`), without starting a
/// span: the access log names the caller's trace even when tracing is off.
pub(crate) fn trace_id_of_header(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get("traceparent")?.to_str().ok()?;
    let mut parts = v.trim().split('-');
    let (_version, id) = (parts.next()?, parts.next()?);
    let ok = id.len() == 32
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && id.bytes().any(|b| b != b'0');
    ok.then(|| id.to_ascii_lowercase())
}

/// Hands finished spans to the outbox (the SDK calls it on the request's thread).
#[derive(Debug)]
struct Processor(Outbox<SpanData>);

impl SpanProcessor for Processor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.0.push(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.flush(Duration::from_secs(5));
        Ok(())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.flush(timeout);
        Ok(())
    }
}

struct SpanSink {
    exporter: opentelemetry_otlp::SpanExporter,
    exported: IntCounter,
    failed: IntCounter,
    endpoint: String,
    last_warning: Option<std::time::Instant>,
}

impl Sink<SpanData> for SpanSink {
    fn send(&mut self, rt: &tokio::runtime::Runtime, batch: Vec<SpanData>) {
        let n = batch.len() as u64;
        match rt.block_on(self.exporter.export(batch)) {
            Ok(()) => self.exported.inc_by(n),
            Err(e) => {
                self.failed.inc_by(n);
                // One warning a minute is enough to tell the operator; the counter has the rest.
                let now = std::time::Instant::now();
                if self
                    .last_warning
                    .is_none_or(|t| now.duration_since(t) > Duration::from_secs(60))
                {
                    self.last_warning = Some(now);
                    tracing::warn!(endpoint = %self.endpoint, error = %e, spans = n, "cannot export spans to the OTLP collector; they are dropped (gatehouse_telemetry_dropped_total counts them)");
                }
            }
        }
    }
}
