//! Sentry's transport: envelopes go through a bounded [`Outbox`] and are POSTed to the DSN's
//! envelope endpoint by the outbox's thread. While Sentry answers 429, nothing is sent until
//! its `Retry-After` has passed (the events are dropped and counted, as Sentry asks).

use super::client::ExportClient;
use super::outbox::{Batching, Outbox, Sink};
use bytes::Bytes;
use prometheus::IntCounter;
use sentry::types::Dsn;
use sentry::{Envelope, Transport};
use std::time::{Duration, Instant};

/// Envelopes waiting to be sent.
const QUEUE: usize = 100;

pub(super) struct HttpTransport(Outbox<Bytes>);

/// Why the transport cannot start.
#[derive(Debug, thiserror::Error)]
pub(super) enum StartError {
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Client(#[from] gatehouse_outbound::Error),
    /// The sending thread cannot be started.
    #[error("cannot start the sending thread: {0}")]
    Thread(#[from] std::io::Error),
}

pub(super) struct Counters {
    pub queue_full: IntCounter,
    pub sent: IntCounter,
    pub failed: IntCounter,
}

impl HttpTransport {
    pub(super) fn start(dsn: &Dsn, counters: Counters) -> Result<HttpTransport, StartError> {
        let sink = EnvelopeSink {
            client: ExportClient::new(Duration::from_secs(10))?,
            url: dsn.envelope_api_url().to_string(),
            auth: dsn
                .to_auth(Some(concat!("gatehouse/", env!("CARGO_PKG_VERSION"))))
                .to_string(),
            paused_until: None,
            sent: counters.sent,
            failed: counters.failed,
            last_warning: None,
        };
        let outbox = Outbox::start(
            "gatehouse-sentry",
            Batching {
                capacity: QUEUE,
                max_batch: 1,
                max_delay: Duration::from_secs(1),
            },
            counters.queue_full,
            sink,
        )?;
        Ok(HttpTransport(outbox))
    }
}

impl Transport for HttpTransport {
    fn send_envelope(&self, envelope: Envelope) {
        let mut body = Vec::new();
        if envelope.to_writer(&mut body).is_ok() {
            self.0.push(Bytes::from(body));
        }
    }

    fn flush(&self, timeout: Duration) -> bool {
        self.0.flush(timeout)
    }
}

struct EnvelopeSink {
    client: ExportClient,
    url: String,
    auth: String,
    paused_until: Option<Instant>,
    sent: IntCounter,
    failed: IntCounter,
    last_warning: Option<Instant>,
}

impl EnvelopeSink {
    fn warn(&mut self, message: &str) {
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|t| now.duration_since(t) > Duration::from_secs(60))
        {
            self.last_warning = Some(now);
            tracing::warn!(url = %self.url, problem = message, "cannot send error events to Sentry; they are dropped (gatehouse_telemetry_dropped_total counts them)");
        }
    }
}

impl Sink<Bytes> for EnvelopeSink {
    fn send(&mut self, rt: &tokio::runtime::Runtime, batch: Vec<Bytes>) {
        for body in batch {
            if self.paused_until.is_some_and(|t| Instant::now() < t) {
                self.failed.inc();
                continue;
            }
            let request = http::Request::post(&self.url)
                .header("content-type", "application/x-sentry-envelope")
                .header("x-sentry-auth", &self.auth)
                .body(body);
            let Ok(request) = request else {
                self.failed.inc();
                continue;
            };
            match rt.block_on(self.client.send(request)) {
                Ok(resp) if resp.status().is_success() => self.sent.inc(),
                Ok(resp) => {
                    self.failed.inc();
                    if resp.status() == http::StatusCode::TOO_MANY_REQUESTS {
                        let secs = resp
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .unwrap_or(60);
                        self.paused_until = Some(Instant::now() + Duration::from_secs(secs));
                    }
                    self.warn(&format!("Sentry answered {}", resp.status()));
                }
                Err(e) => {
                    self.failed.inc();
                    self.warn(&e.to_string());
                }
            }
        }
    }
}
