//! The client: reqwest over the shared rustls config, with the policies of the crate docs.

use crate::{roots, Error};
use bytes::Bytes;
use reqwest::{IntoUrl, Method, RequestBuilder};
use rustls::pki_types::CertificateDer;
use std::time::Duration;

/// How a [`Client`] is set up; [`Client::builder`] has the defaults.
#[derive(Debug, Clone)]
pub struct Builder {
    timeout: Duration,
    max_response: usize,
    extra_roots: Vec<CertificateDer<'static>>,
}

impl Builder {
    /// The deadline of one whole exchange unless [`Client::send_within`] says otherwise
    /// (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Builder {
        self.timeout = timeout;
        self
    }

    /// The largest response body read, in bytes (default 1 MiB).
    pub fn max_response(mut self, bytes: usize) -> Builder {
        self.max_response = bytes;
        self
    }

    /// Roots trusted besides the system's, for this client only (a private ACME CA). A
    /// setting trusting more roots everywhere would be given to every builder here.
    pub fn extra_roots(mut self, certs: Vec<CertificateDer<'static>>) -> Builder {
        self.extra_roots = certs;
        self
    }

    /// The client. Needs no Tokio runtime; requests must be sent from one.
    pub fn build(self) -> Result<Client, Error> {
        let roots = roots::roots_with(&self.extra_roots).map_err(Error::Root)?;
        let tls = roots::client_config(roots)?;
        let inner = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Build(Error::request(e).to_string()))?;
        Ok(Client {
            inner,
            timeout: self.timeout,
            max_response: self.max_response,
        })
    }
}

/// The outbound HTTP(S) client; cheap to clone (the connection pool is shared). Keep one per
/// Tokio runtime that sends with it: pooled connections live on the runtime that opened them.
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::Client,
    timeout: Duration,
    max_response: usize,
}

impl Client {
    /// The defaults: 30 s per exchange, 1 MiB per response, the system's roots.
    pub fn builder() -> Builder {
        Builder {
            timeout: Duration::from_secs(30),
            max_response: 1024 * 1024,
            extra_roots: Vec::new(),
        }
    }

    /// A request to build and then pass to [`Client::send`].
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        self.inner.request(method, url)
    }

    /// A POST to build and then pass to [`Client::send`].
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.inner.post(url)
    }

    /// Send `request` and read the whole response within the client's deadline.
    pub async fn send(&self, request: RequestBuilder) -> Result<http::Response<Bytes>, Error> {
        self.send_within(request, self.timeout).await
    }

    /// Send a request built with the `http` crate's types (OTLP, ACME, Sentry).
    pub async fn execute(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, Error> {
        let request = reqwest::Request::try_from(request).map_err(Error::request)?;
        self.send(RequestBuilder::from_parts(self.inner.clone(), request))
            .await
    }

    /// Send `request` and read the whole response within `timeout`. Any status is a
    /// response; the caller decides what a 4xx or 5xx means.
    pub async fn send_within(
        &self,
        request: RequestBuilder,
        timeout: Duration,
    ) -> Result<http::Response<Bytes>, Error> {
        let exchange = async {
            let mut response = request.send().await.map_err(Error::request)?;
            let mut out = http::Response::new(Bytes::new());
            *out.status_mut() = response.status();
            *out.version_mut() = response.version();
            *out.headers_mut() = std::mem::take(response.headers_mut());
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(Error::request)? {
                if body.len() + chunk.len() > self.max_response {
                    return Err(Error::TooLarge(self.max_response));
                }
                body.extend_from_slice(&chunk);
            }
            *out.body_mut() = Bytes::from(body);
            Ok(out)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(Error::Timeout(timeout)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that answers every connection with `answer` once the request head is read.
    async fn server(answer: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut head = Vec::new();
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = s.write_all(answer).await;
                    // Hold the connection open: a slow peer, unless the answer is complete.
                    tokio::time::sleep(Duration::from_secs(5)).await;
                });
            }
        });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn a_response_is_read_whole_and_no_redirect_is_followed() {
        let url = server(
            b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/\r\ncontent-length: 2\r\n\r\nhi",
        )
        .await;
        let client = Client::builder().build().unwrap();
        let rsp = client.send(client.post(&url).body("x")).await.unwrap();
        assert_eq!(rsp.status(), 302);
        assert_eq!(rsp.body().as_ref(), b"hi");
    }

    #[tokio::test]
    async fn a_large_body_and_a_slow_peer_are_errors() {
        let url = server(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123456789").await;
        let client = Client::builder().max_response(4).build().unwrap();
        let err = client.send(client.post(&url)).await.unwrap_err();
        assert!(matches!(err, Error::TooLarge(4)), "{err}");

        let url = server(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01").await;
        let client = Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let err = client.send(client.post(&url)).await.unwrap_err();
        assert!(
            matches!(err, Error::Timeout(_)) && err.is_retryable(),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_retryable_and_names_no_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/secret-token", listener.local_addr().unwrap());
        drop(listener);
        let client = Client::builder().build().unwrap();
        let request = http::Request::post(&url).body(Bytes::new()).unwrap();
        let err = client.execute(request).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(!err.to_string().contains("secret-token"), "{err}");
    }
}
