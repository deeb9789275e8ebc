//! Error events to Sentry: upstream 5xx responses and proxy-side failures (connect errors,
//! timeouts, TLS failures toward upstreams), and panics through Sentry's panic hook. Events
//! carry the route, upstream, request id, trace id and status, never the client's
//! credentials: no headers but `User-Agent`, and sensitive query values filtered. They are
//! sampled and rate-limited before they are built, so an outage costs a few events, not one
//! per failed request.

use super::sentry_transport::{Counters, HttpTransport, StartError};
use super::{TelemetryError, TelemetryMetrics};
use gatehouse_config::telemetry::{SentryConfig, TelemetryConfig};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prometheus::IntCounter;
use sentry::protocol::{Context as SentryContext, Event, Level, Request, TraceContext};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// What is known about a failed request.
pub(crate) struct Failure<'a> {
    /// `upstream_5xx`, or the proxy error's kind (`ConnectRefused`, `ReadTimedout`, ...).
    pub kind: &'a str,
    pub message: String,
    pub status: u16,
    pub route: &'a str,
    pub upstream: &'a str,
    pub backend: Option<String>,
    pub request_id: &'a str,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub method: &'a str,
    pub scheme: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Sends sampled, rate-limited events.
pub(crate) struct ErrorReporter {
    hub: Arc<sentry::Hub>,
    sample_rate: f64,
    limiter: DefaultDirectRateLimiter,
    pub(crate) upstream_5xx: bool,
    sensitive: Vec<String>,
    rate_limited: IntCounter,
    sampled_out: IntCounter,
    _guard: sentry::ClientInitGuard,
}

impl ErrorReporter {
    pub(crate) fn start(
        telemetry: &TelemetryConfig,
        config: &SentryConfig,
        metrics: &TelemetryMetrics,
    ) -> Result<ErrorReporter, TelemetryError> {
        let dsn: sentry::types::Dsn = config.dsn.0.parse().map_err(TelemetryError::SentryDsn)?;
        let transport = HttpTransport::start(
            &dsn,
            Counters {
                queue_full: metrics.dropped.with_label_values(&["errors", "queue_full"]),
                sent: metrics.exported.with_label_values(&["errors"]),
                failed: metrics
                    .dropped
                    .with_label_values(&["errors", "export_failed"]),
            },
        )
        .map_err(|e| match e {
            StartError::Client(e) => TelemetryError::SentryClient(e),
            StartError::Thread(e) => TelemetryError::SentryThread(e),
        })?;
        let release = config
            .release
            .clone()
            .unwrap_or_else(|| concat!("gatehouse@", env!("CARGO_PKG_VERSION")).to_string());
        let mut options = sentry::ClientOptions::new();
        options.dsn = Some(dsn);
        options.environment = Some(config.environment.clone().into());
        options.release = Some(release.into());
        options.server_name = Some(telemetry.instance.clone().into());
        // Sampling and rate limiting happen before an event is built (see `report`); the
        // SDK's default event sampling keeps every event it is given.
        options.send_default_pii = false;
        options.max_breadcrumbs = 0;
        options.attach_stacktrace = false;
        options.shutdown_timeout = Duration::from_secs(2);
        options.transport = Some(Arc::new(Arc::new(transport)));
        // Binds the client to the main hub and installs the panic hook (default integrations).
        let guard = sentry::init(options);
        let per = config.max_events.per / config.max_events.count.max(1);
        let burst = NonZeroU32::new(config.max_events.count).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(per.max(Duration::from_nanos(1)))
            .ok_or(TelemetryError::ZeroPeriod)?
            .allow_burst(burst);
        Ok(ErrorReporter {
            hub: sentry::Hub::main(),
            sample_rate: config.sample_rate,
            limiter: RateLimiter::direct(quota),
            upstream_5xx: config.upstream_5xx,
            sensitive: config.sensitive_query_params.clone(),
            rate_limited: metrics
                .dropped
                .with_label_values(&["errors", "rate_limited"]),
            sampled_out: metrics.sampled_out.clone(),
            _guard: guard,
        })
    }

    /// Report `f`, unless sampling or the rate limit say no.
    pub(crate) fn report(&self, f: &Failure<'_>) {
        if self.sample_rate < 1.0 && fastrand::f64() >= self.sample_rate {
            self.sampled_out.inc();
            return;
        }
        if self.limiter.check().is_err() {
            self.rate_limited.inc();
            return;
        }
        self.hub.capture_event(event(f, &self.sensitive));
    }

    /// Send what is queued, waiting at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.hub.client().is_none_or(|c| c.flush(Some(timeout)))
    }
}

fn event(f: &Failure<'_>, sensitive: &[String]) -> Event<'static> {
    let query = f.query.map(|q| filter_query(q, sensitive));
    let mut url = format!("{}://{}{}", f.scheme, f.host, f.path);
    if let Some(q) = &query {
        url.push('?');
        url.push_str(q);
    }
    let mut headers = sentry::protocol::Map::new();
    if let Some(ua) = f.user_agent {
        headers.insert("User-Agent".to_string(), ua.to_string());
    }
    let mut tags = sentry::protocol::Map::new();
    tags.insert("route".to_string(), f.route.to_string());
    tags.insert("upstream".to_string(), f.upstream.to_string());
    tags.insert("status".to_string(), f.status.to_string());
    tags.insert("error_kind".to_string(), f.kind.to_string());
    tags.insert("request_id".to_string(), f.request_id.to_string());
    if let Some(t) = &f.trace_id {
        tags.insert("trace_id".to_string(), t.clone());
    }
    let mut extra = sentry::protocol::Map::new();
    if let Some(b) = &f.backend {
        extra.insert("backend".to_string(), b.clone().into());
    }
    let mut contexts = sentry::protocol::Map::new();
    if let Some(Ok(trace_id)) = f.trace_id.as_deref().map(str::parse) {
        // Without a span of ours (tracing off), the event gets a span id of its own in the
        // caller's trace.
        let span_id = f
            .span_id
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        {
            contexts.insert(
                "trace".to_string(),
                SentryContext::Trace(Box::new(TraceContext {
                    trace_id,
                    span_id,
                    op: Some("http.server".into()),
                    ..Default::default()
                })),
            );
        }
    }
    Event {
        level: Level::Error,
        logger: Some("gatehouse.proxy".into()),
        message: Some(f.message.clone()),
        // One Sentry issue per route and kind of failure, however many requests failed.
        fingerprint: vec![
            "gatehouse".into(),
            f.route.to_string().into(),
            f.kind.to_string().into(),
            f.status.to_string().into(),
        ]
        .into(),
        transaction: Some(format!("{} {}", f.method, f.route)),
        request: Some(Request {
            url: url.parse().ok(),
            method: Some(f.method.to_string()),
            query_string: query,
            headers,
            ..Default::default()
        }),
        tags,
        extra,
        contexts,
        ..Default::default()
    }
}

/// `a=1&token=x` → `a=1&token=[Filtered]` for every parameter named in `sensitive`.
pub(crate) fn filter_query(query: &str, sensitive: &[String]) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, _) = pair.split_once('=').unwrap_or((pair, ""));
            let lower = name.to_ascii_lowercase();
            if sensitive.contains(&lower) {
                format!("{name}=[Filtered]")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_query_values_are_filtered() {
        let s = vec!["token".to_string(), "api_key".to_string()];
        assert_eq!(
            filter_query("a=1&Token=abc&api_key=k&b", &s),
            "a=1&Token=[Filtered]&api_key=[Filtered]&b"
        );
        assert_eq!(filter_query("plain", &s), "plain");
    }

    #[test]
    fn events_carry_the_facts_and_no_credentials() {
        let f = Failure {
            kind: "upstream_5xx",
            message: "upstream `app` answered 502".into(),
            status: 502,
            route: "api",
            upstream: "app",
            backend: Some("127.0.0.1:9".into()),
            request_id: "req-1",
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            span_id: Some("00f067aa0ba902b7".into()),
            method: "GET",
            scheme: "https",
            host: "app.test",
            path: "/orders",
            query: Some("page=2&token=secret"),
            user_agent: Some("curl/8"),
        };
        let e = event(&f, &["token".to_string()]);
        assert_eq!(e.tags.get("route").map(String::as_str), Some("api"));
        assert_eq!(e.tags.get("request_id").map(String::as_str), Some("req-1"));
        let req = e.request.expect("request");
        assert_eq!(req.query_string.as_deref(), Some("page=2&token=[Filtered]"));
        assert_eq!(
            req.url.map(|u| u.to_string()).as_deref(),
            Some("https://app.test/orders?page=2&token=[Filtered]")
        );
        assert_eq!(req.headers.keys().collect::<Vec<_>>(), vec!["User-Agent"]);
        assert!(matches!(
            e.contexts.get("trace"),
            Some(SentryContext::Trace(_))
        ));
    }

    /// A panic on any thread reaches the DSN host (a real socket) as an event.
    #[test]
    fn panics_are_reported() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let host = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains("boom-in-a-test") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            String::from_utf8_lossy(&got).into_owned()
        });
        let sentry = SentryConfig {
            dsn: gatehouse_config::secret::Secret(format!("http://key@{addr}/3")),
            environment: "test".into(),
            release: None,
            sample_rate: 1.0,
            max_events: gatehouse_config::units::Rate {
                count: 10,
                per: Duration::from_secs(60),
            },
            upstream_5xx: true,
            sensitive_query_params: Vec::new(),
        };
        let telemetry = TelemetryConfig {
            service_name: "gatehouse".into(),
            instance: "unit".into(),
            resource: Default::default(),
            signals: true,
            tracing: None,
            sentry: Some(sentry.clone()),
        };
        let registry = prometheus::Registry::new();
        let metrics = TelemetryMetrics::register(&registry).expect("metrics");
        let reporter = ErrorReporter::start(&telemetry, &sentry, &metrics).expect("start");
        let _ = std::thread::spawn(|| panic!("boom-in-a-test")).join();
        assert!(reporter.flush(Duration::from_secs(10)));
        let request = host.join().expect("host");
        assert!(request.starts_with("POST /api/3/envelope/"), "{request}");
        assert!(request.contains("boom-in-a-test"), "{request}");
    }
}
