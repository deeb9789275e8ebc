//! The HTTPS client that talks to the CA: system roots plus an optional extra CA (pebble,
//! private CAs), a deadline on every request, and the CA's last `Retry-After` remembered so
//! that a rate-limited order waits as long as the CA asks.

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, Error as AcmeError, HttpClient};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

type Inner = Client<hyper_rustls::HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>;

/// Deadline of one request to the CA.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP(S) client for the CA and for DNS hooks.
#[derive(Clone)]
pub struct AcmeHttp {
    inner: Inner,
    retry_after: Arc<Mutex<Option<SystemTime>>>,
}

impl AcmeHttp {
    /// A client trusting the system roots and, when given, the CA certificates in `extra_ca`.
    pub fn new(extra_ca: Option<&Path>) -> Result<Self, String> {
        let mut roots = crate::telemetry::system_roots();
        if let Some(path) = extra_ca {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("{}: no PEM certificate in it", path.display()));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        if roots.is_empty() {
            tracing::warn!("no trusted root certificates found on this system (install ca-certificates); the ACME directory's HTTPS cannot be verified");
        }
        let connector = crate::telemetry::https_connector(roots);
        Ok(AcmeHttp {
            inner: Client::builder(TokioExecutor::new()).build(connector),
            retry_after: Arc::new(Mutex::new(None)),
        })
    }

    /// The `Retry-After` of the CA's last error response, if it gave one; cleared on read.
    pub fn take_retry_after(&self) -> Option<SystemTime> {
        self.retry_after
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// POST a JSON body (DNS hooks). Returns the status.
    pub async fn post_json(&self, url: &str, body: Vec<u8>) -> Result<StatusCode, String> {
        let req = Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(BodyWrapper::from(body))
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(REQUEST_TIMEOUT, self.inner.request(req)).await {
            Ok(Ok(rsp)) => Ok(rsp.status()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
        }
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, AcmeError>> + Send>> {
        let fut = self.inner.request(req);
        let slot = self.retry_after.clone();
        Box::pin(async move {
            let rsp = match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
                Ok(Ok(rsp)) => rsp,
                Ok(Err(e)) => return Err(AcmeError::Other(Box::new(e))),
                Err(_) => {
                    return Err(AcmeError::Other(
                        format!("the CA did not answer within {REQUEST_TIMEOUT:?}").into(),
                    ))
                }
            };
            let status = rsp.status();
            if status.is_client_error() || status.is_server_error() {
                if let Some(at) = rsp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after)
                {
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
                }
            }
            Ok(BytesResponse::from(rsp))
        })
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<SystemTime> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(SystemTime::now() + Duration::from_secs(secs));
    }
    httpdate_parse(v)
}

fn httpdate_parse(v: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let dt = time::PrimitiveDateTime::parse(v, &format).ok()?;
    let secs = dt.assume_utc().unix_timestamp();
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let t = parse_retry_after("120").unwrap();
        let d = t.duration_since(SystemTime::now()).unwrap();
        assert!(d > Duration::from_secs(110) && d <= Duration::from_secs(120));
        let t = parse_retry_after("Wed, 21 Oct 2037 07:28:00 GMT").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            2139722880
        );
        assert!(parse_retry_after("soon").is_none());
    }
}
