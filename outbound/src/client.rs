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
    proxy_from_env: bool,
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

    /// Send through the proxy the environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
    /// with `NO_PROXY` exceptions, as curl does). Off by default: only the notifiers, which
    /// always did, turn it on; ACME, OTLP and Sentry connect directly, as they always have
    /// (a collector on `localhost` must not be sent to a proxy that `NO_PROXY` forgot).
    pub fn proxy_from_env(mut self, on: bool) -> Builder {
        self.proxy_from_env = on;
        self
    }

    /// The client. Needs no Tokio runtime; requests must be sent from one.
    pub fn build(self) -> Result<Client, Error> {
        let roots = roots::roots_with(&self.extra_roots).map_err(Error::Root)?;
        let tls = roots::client_config(roots)?;
        let mut inner = reqwest::Client::builder();
        if !self.proxy_from_env {
            inner = inner.no_proxy();
        }
        let inner = inner
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
            proxy_from_env: false,
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

    /// Send `request` and read the response within `timeout`: its body up to the client's
    /// `max_response`, the rest is left unread (cut, not an error: the status was answered).
    /// Any status is a response; the caller decides what a 4xx or 5xx means.
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
            *out.body_mut() = read_capped(&mut response, self.max_response).await?;
            Ok(out)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(Error::Timeout(timeout)))
    }
}

/// What [`Client::send_for_status`] keeps of an answer.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: http::StatusCode,
    /// The headers (e.g. `Retry-After` of a 429 or 503).
    pub headers: http::HeaderMap,
    /// The start of the body of an answer other than 2xx; empty for a 2xx.
    pub body: Bytes,
}

impl Client {
    /// Send `request` within `timeout` and return its status without waiting for the body
    /// of a 2xx answer (a receiver that accepted must not be retried because its body is
    /// slow); of any other answer the first `keep` bytes of the body are read too.
    pub async fn send_for_status(
        &self,
        request: RequestBuilder,
        timeout: Duration,
        keep: usize,
    ) -> Result<Answer, Error> {
        let exchange = async {
            let mut response = request.send().await.map_err(Error::request)?;
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            let body = if status.is_success() {
                Bytes::new()
            } else {
                read_capped(&mut response, keep).await?
            };
            Ok(Answer {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(Error::Timeout(timeout)))
    }
}

/// At most `cap` bytes of the body; what follows is not read.
async fn read_capped(response: &mut reqwest::Response, cap: usize) -> Result<Bytes, Error> {
    let mut body = Vec::new();
    while body.len() < cap {
        let Some(chunk) = response.chunk().await.map_err(Error::request)? else {
            break;
        };
        let room = cap - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_testkit::canned::{self, After};

    /// A server that answers every connection with `answer` once the request head is read,
    /// then holds it open: a slow peer, unless the answer is complete.
    async fn server(answer: &'static [u8]) -> String {
        let addr = canned::serve(answer, After::Hold(Duration::from_secs(5))).await;
        format!("http://{addr}/")
    }

    /// Only a client built with `proxy_from_env` goes through the environment's proxy (the
    /// notifiers); ACME, OTLP and Sentry connect directly even to a `localhost` collector.
    /// nextest runs each test in a process of its own, so the variable reaches no other test.
    #[tokio::test]
    async fn only_a_client_that_asks_uses_the_environment_proxy() {
        let proxy = server(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nproxy").await;
        let target = server(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\ndirect").await;
        for name in [
            "NO_PROXY",
            "no_proxy",
            "ALL_PROXY",
            "all_proxy",
            "http_proxy",
        ] {
            std::env::remove_var(name);
        }
        std::env::set_var("HTTP_PROXY", proxy.trim_end_matches('/'));
        let direct = Client::builder().build().unwrap();
        let rsp = direct.send(direct.post(&target)).await.unwrap();
        assert_eq!(rsp.body().as_ref(), b"direct");
        let proxied = Client::builder().proxy_from_env(true).build().unwrap();
        let rsp = proxied.send(proxied.post(&target)).await.unwrap();
        assert_eq!(rsp.body().as_ref(), b"proxy");
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
    async fn a_large_body_is_cut_and_a_slow_peer_is_an_error() {
        let url = server(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123456789").await;
        let client = Client::builder().max_response(4).build().unwrap();
        let rsp = client.send(client.post(&url)).await.unwrap();
        assert_eq!(rsp.body().as_ref(), b"0123");

        // A 2xx is an answer without its body; of another status the body is kept, cut.
        let slow_ok = server(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01").await;
        let answer = client
            .send_for_status(client.post(&slow_ok), Duration::from_secs(5), 3)
            .await
            .unwrap();
        assert_eq!((answer.status.as_u16(), answer.body.len()), (200, 0));
        let failed = server(b"HTTP/1.1 503 Busy\r\ncontent-length: 6\r\n\r\nbusy!!").await;
        let answer = client
            .send_for_status(client.post(&failed), Duration::from_secs(5), 3)
            .await
            .unwrap();
        assert_eq!(
            (answer.status.as_u16(), answer.body.as_ref()),
            (503, &b"bus"[..])
        );

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
