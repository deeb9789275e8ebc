//! The HTTPS client that talks to the CA and to DNS hooks: the workspace's outbound client
//! trusting, besides the system roots, the CA file of `tls.acme.directory_ca_file` (pebble,
//! private CAs); a deadline on every request, and the CA's last `Retry-After` remembered so
//! that a rate-limited order waits as long as the CA asks.

use bytes::Bytes;
use gatehouse_outbound::{CaFileError, Client};
use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use instant_acme::{BodyWrapper, BytesResponse, Error as AcmeError, HttpClient};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Deadline of one request to the CA.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the ACME client cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum AcmeHttpError {
    /// `tls.acme.directory_ca_file` cannot be trusted.
    #[error(transparent)]
    CaFile(#[from] CaFileError),
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Client(#[from] gatehouse_outbound::Error),
}

/// An HTTP(S) client for the CA and for DNS hooks.
#[derive(Clone)]
pub struct AcmeHttp {
    inner: Client,
    retry_after: Arc<Mutex<Option<SystemTime>>>,
}

impl AcmeHttp {
    /// A client trusting the system roots and, when given, the CA certificates in `extra_ca`.
    pub fn new(extra_ca: Option<&Path>) -> Result<Self, AcmeHttpError> {
        let extra = match extra_ca {
            Some(path) => gatehouse_outbound::read_ca_file(path)?,
            None => Vec::new(),
        };
        let inner = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .extra_roots(extra)
            .build()?;
        Ok(AcmeHttp {
            inner,
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
    pub async fn post_json(
        &self,
        url: &str,
        body: Vec<u8>,
    ) -> Result<StatusCode, gatehouse_outbound::Error> {
        let request = self
            .inner
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
        let answer = self.inner.send_for_status(request, REQUEST_TIMEOUT, 0);
        Ok(answer.await?.status)
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, AcmeError>> + Send>> {
        let client = self.inner.clone();
        let slot = self.retry_after.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            // Infallible: the body is one `Bytes`.
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let rsp = client
                .execute(Request::from_parts(parts, body))
                .await
                .map_err(|e| match e {
                    gatehouse_outbound::Error::Timeout(t) => {
                        AcmeError::Other(format!("the CA did not answer within {t:?}").into())
                    }
                    e => AcmeError::Other(Box::new(e)),
                })?;
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
            let (parts, body) = rsp.into_parts();
            let body = BodyWrapper::from(Vec::from(body));
            Ok(BytesResponse::from(Response::from_parts(parts, body)))
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
