//! HTTP(S) probes: one fresh connection per hop, each phase timed (DNS, connect, TLS, first
//! byte), the body read up to a limit, redirects followed when asked.

use super::tls_client::{Tls, Verify};
use super::{connect, Attempt};
use bytes::{Bytes, BytesMut};
use gatehouse_config::probes::HttpProbe;
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};

/// Bodies are read up to this many bytes; conditions see the first part of larger ones.
pub(crate) const MAX_BODY: usize = 1024 * 1024;
const MAX_REDIRECTS: usize = 10;

/// What an HTTP probe prepares once: its TLS config.
#[derive(Debug)]
pub(crate) struct Prepared {
    tls: Tls,
    method: Method,
}

pub(crate) fn prepare(p: &HttpProbe) -> Result<Prepared, String> {
    let verify = if p.verify_tls {
        Verify::Enforce
    } else {
        Verify::Off
    };
    // Redirects may lead from http to https, so a TLS config always exists.
    let tls = Tls::new(verify, p.ca.as_deref(), true)?;
    let method = Method::from_bytes(p.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", p.method))?;
    Ok(Prepared { tls, method })
}

/// Where one hop goes.
struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

/// One attempt, within `timeout`.
pub(crate) async fn check(p: &HttpProbe, prep: &Prepared, timeout: Duration) -> Attempt {
    let mut attempt = Attempt::default();
    let mut stage: &'static str = "dns";
    let start = Instant::now();
    let result = tokio::time::timeout(timeout, run(p, prep, &mut attempt, &mut stage)).await;
    super::finish(&mut attempt, result, start, timeout, stage);
    attempt
}

async fn run(
    p: &HttpProbe,
    prep: &Prepared,
    attempt: &mut Attempt,
    stage: &mut &'static str,
) -> Result<(), String> {
    let mut target = Target {
        tls: p.tls,
        host: p.host.clone(),
        port: p.port,
        path: p.path.clone(),
    };
    let mut method = prep.method.clone();
    let mut body = p.body.clone();
    for hop in 0..=MAX_REDIRECTS {
        attempt.obs.phases = Default::default();
        let tcp = connect(&target.host, target.port, &mut attempt.obs, stage).await?;
        let (status, headers, resp_body) = if target.tls {
            *stage = "tls";
            let t = Instant::now();
            let (stream, expiry, _) = prep.tls.handshake(tcp, &target.host).await?;
            attempt.obs.phases.tls = Some(t.elapsed());
            if let Some(e) = expiry {
                attempt.cert_expiry = Some(e);
                attempt.obs.cert_expiry_secs = Some(seconds_until(e));
            }
            exchange(
                TokioIo::new(stream),
                p,
                &target,
                &method,
                body.clone(),
                attempt,
                stage,
            )
            .await?
        } else {
            exchange(
                TokioIo::new(tcp),
                p,
                &target,
                &method,
                body.clone(),
                attempt,
                stage,
            )
            .await?
        };
        attempt.obs.status = Some(status.as_u16());
        let location = headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        attempt.obs.headers = Some(headers);
        attempt.obs.body = Some(resp_body);
        match location {
            Some(loc) if p.follow_redirects && status.is_redirection() => {
                if hop == MAX_REDIRECTS {
                    return Err(format!("more than {MAX_REDIRECTS} redirects"));
                }
                target = follow(&target, &loc)?;
                // 303, and 301/302 after a POST, turn into GET without a body (as browsers do).
                if status == http::StatusCode::SEE_OTHER
                    || (method == Method::POST && status.as_u16() <= 302)
                {
                    method = Method::GET;
                    body = None;
                }
            }
            _ => return Ok(()),
        }
    }
    Ok(())
}

async fn exchange<IO>(
    io: IO,
    p: &HttpProbe,
    target: &Target,
    method: &Method,
    body: Option<String>,
    attempt: &mut Attempt,
    stage: &mut &'static str,
) -> Result<(http::StatusCode, http::HeaderMap, Bytes), String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    *stage = "first_byte";
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let default_port = if target.tls { 443 } else { 80 };
    let host_header = match (target.port == default_port, target.host.contains(':')) {
        (true, false) => target.host.clone(),
        (true, true) => format!("[{}]", target.host),
        (false, false) => format!("{}:{}", target.host, target.port),
        (false, true) => format!("[{}]:{}", target.host, target.port),
    };
    let mut req = Request::builder()
        .method(method.clone())
        .uri(target.path.as_str())
        .header(http::header::HOST, host_header)
        .header(
            http::header::USER_AGENT,
            concat!("gatehouse-probe/", env!("CARGO_PKG_VERSION")),
        )
        .header(http::header::CONNECTION, "close")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    for (name, value) in &p.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a header name"))?;
        let value = HeaderValue::from_str(&value.0)
            .map_err(|_| format!("the value of header `{name}` is not valid"))?;
        req.headers_mut().insert(name, value);
    }
    let t = Instant::now();
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("the request failed: {e}"))?;
    attempt.obs.phases.first_byte = Some(t.elapsed());
    *stage = "body";
    let (parts, mut incoming) = resp.into_parts();
    let mut buf = BytesMut::new();
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| format!("reading the body failed: {e}"))?;
        if let Ok(data) = frame.into_data() {
            let room = MAX_BODY - buf.len();
            buf.extend_from_slice(&data[..data.len().min(room)]);
            if buf.len() >= MAX_BODY {
                break;
            }
        }
    }
    conn.abort();
    Ok((parts.status, parts.headers, buf.freeze()))
}

/// The next hop of a redirect to `location`.
fn follow(from: &Target, location: &str) -> Result<Target, String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        let uri: http::Uri = location
            .parse()
            .map_err(|_| format!("the redirect to `{location}` is not a URL"))?;
        let tls = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .ok_or_else(|| format!("the redirect to `{location}` has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        return Ok(Target {
            tls,
            host,
            port,
            path,
        });
    }
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let base = from.path.split('?').next().unwrap_or("/");
        let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{location}")
    };
    Ok(Target {
        tls: from.tls,
        host: from.host.clone(),
        port: from.port,
        path,
    })
}

/// Seconds from now until `t` (negative when `t` has passed).
pub(crate) fn seconds_until(t: std::time::SystemTime) -> f64 {
    match t.duration_since(std::time::SystemTime::now()) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(path: &str) -> Target {
        Target {
            tls: false,
            host: "a.test".into(),
            port: 8080,
            path: path.into(),
        }
    }

    #[test]
    fn redirects_resolve() {
        let n = follow(&t("/x/y?q=1"), "z").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (n.host.as_str(), n.port, n.path.as_str()),
            ("a.test", 8080, "/x/z")
        );
        let n = follow(&t("/x"), "/login").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.path, "/login");
        let n = follow(&t("/"), "https://b.test/p?q").unwrap_or_else(|e| panic!("{e}"));
        assert!(n.tls);
        assert_eq!(
            (n.host.as_str(), n.port, n.path.as_str()),
            ("b.test", 443, "/p?q")
        );
        let n = follow(&t("/"), "http://[::1]:81").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((n.host.as_str(), n.port, n.path.as_str()), ("::1", 81, "/"));
    }
}
