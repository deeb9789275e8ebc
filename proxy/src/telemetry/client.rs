//! The HTTP(S) client the exporters send with: hyper over rustls (ring) with the system's
//! roots, one per exporter thread. Implements OpenTelemetry's `HttpClient` so that the OTLP
//! exporter uses it instead of pulling in a second HTTP stack.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::HttpError;
use std::time::Duration;

/// Responses of collectors and Sentry are small; anything larger is cut off.
const MAX_RESPONSE: usize = 64 * 1024;

/// The trusted roots of this system (`ca-certificates`).
pub(crate) fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    roots
}

/// HTTP/1.1 over plain TCP or rustls (ring), trusting `roots`.
pub(crate) fn https_connector(
    roots: rustls::RootCertStore,
) -> hyper_rustls::HttpsConnector<HttpConnector> {
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build()
}

/// An HTTP(S) client with a deadline per request.
#[derive(Debug, Clone)]
pub(crate) struct ExportClient {
    inner: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl ExportClient {
    pub(crate) fn new(timeout: Duration) -> Self {
        let connector = https_connector(system_roots());
        ExportClient {
            inner: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
            timeout,
        }
    }

    /// Send `req` and read the response, all within the deadline.
    pub(crate) async fn send(&self, req: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = req.into_parts();
        let req = Request::from_parts(parts, Full::new(body));
        let exchange = async {
            let resp = self.inner.request(req).await?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| format!("reading the response: {e}"))?
                .to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!("no response within {:?}", self.timeout).into()),
        }
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.send(request).await
    }
}
