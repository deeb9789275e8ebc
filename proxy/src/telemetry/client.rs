//! The exporters' HTTP client: the workspace's outbound client, one per exporter thread (its
//! pooled connections live on that thread's runtime), with a deadline per export and small
//! responses (collectors and Sentry answer a few bytes). Implements OpenTelemetry's
//! `HttpClient` so that the OTLP exporter uses it instead of pulling in a second HTTP stack.

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry_http::HttpError;
use std::time::Duration;

/// Responses of collectors and Sentry are small; anything larger is an error.
const MAX_RESPONSE: usize = 64 * 1024;

/// An HTTP(S) client with a deadline per request.
#[derive(Debug, Clone)]
pub(crate) struct ExportClient(gatehouse_outbound::Client);

impl ExportClient {
    pub(crate) fn new(timeout: Duration) -> Result<Self, gatehouse_outbound::Error> {
        gatehouse_outbound::Client::builder()
            .timeout(timeout)
            .max_response(MAX_RESPONSE)
            .build()
            .map(ExportClient)
    }

    /// Send `req` and read the response, all within the deadline.
    pub(crate) async fn send(
        &self,
        req: Request<Bytes>,
    ) -> Result<Response<Bytes>, gatehouse_outbound::Error> {
        self.0.execute(req).await
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        Ok(self.send(request).await?)
    }
}
