//! Responses the proxy makes itself (404, 413, 429, 502, 504, ...): one small JSON shape, the
//! request id, `Cache-Control: no-store`, and the route's security, CORS and RateLimit headers,
//! so that every response of a route carries them.

use crate::gateway::RequestCtx;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

/// What went wrong, as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    /// Stable machine-readable code, e.g. `no_route`.
    pub code: &'static str,
}

impl Refusal {
    pub(crate) const NO_ROUTE: Refusal = Refusal {
        status: 404,
        code: "no_route",
    };
    pub(crate) const TOO_LARGE: Refusal = Refusal {
        status: 413,
        code: "payload_too_large",
    };
    pub(crate) const BAD_GATEWAY: Refusal = Refusal {
        status: 502,
        code: "bad_gateway",
    };
    pub(crate) const GATEWAY_TIMEOUT: Refusal = Refusal {
        status: 504,
        code: "gateway_timeout",
    };
    pub(crate) const BAD_REQUEST: Refusal = Refusal {
        status: 400,
        code: "bad_request",
    };
    pub(crate) const INTERNAL: Refusal = Refusal {
        status: 500,
        code: "internal_error",
    };
    pub(crate) const METHOD_NOT_ALLOWED: Refusal = Refusal {
        status: 405,
        code: "method_not_allowed",
    };
    pub(crate) const FORBIDDEN: Refusal = Refusal {
        status: 403,
        code: "forbidden",
    };
    pub(crate) const UNAUTHORIZED: Refusal = Refusal {
        status: 401,
        code: "unauthorized",
    };
    pub(crate) const CSRF_REJECTED: Refusal = Refusal {
        status: 403,
        code: "csrf_rejected",
    };
    pub(crate) const CORS_REFUSED: Refusal = Refusal {
        status: 403,
        code: "cors_refused",
    };
    pub(crate) const RATE_LIMITED: Refusal = Refusal {
        status: 429,
        code: "rate_limited",
    };
    pub(crate) const LOCKED_OUT: Refusal = Refusal {
        status: 429,
        code: "locked_out",
    };
    pub(crate) const LIMIT_UNAVAILABLE: Refusal = Refusal {
        status: 503,
        code: "rate_limit_unavailable",
    };
    pub(crate) const LOCKOUT_UNAVAILABLE: Refusal = Refusal {
        status: 503,
        code: "lockout_unavailable",
    };
    pub(crate) const BAD_PATH: Refusal = Refusal {
        status: 400,
        code: "bad_path",
    };
    pub(crate) const BAD_HOST: Refusal = Refusal {
        status: 400,
        code: "bad_host",
    };
    pub(crate) const BAD_FRAMING: Refusal = Refusal {
        status: 400,
        code: "bad_framing",
    };
    pub(crate) const UNSUPPORTED_CODING: Refusal = Refusal {
        status: 501,
        code: "unsupported_transfer_coding",
    };
    pub(crate) const URI_TOO_LONG: Refusal = Refusal {
        status: 414,
        code: "uri_too_long",
    };
    pub(crate) const HEADER_TOO_LARGE: Refusal = Refusal {
        status: 431,
        code: "header_too_large",
    };
    pub(crate) const AMBIGUOUS_CREDENTIALS: Refusal = Refusal {
        status: 400,
        code: "ambiguous_credentials",
    };
    pub(crate) const BODY_TIMEOUT: Refusal = Refusal {
        status: 408,
        code: "body_timeout",
    };
    pub(crate) const REQUEST_TIMEOUT: Refusal = Refusal {
        status: 408,
        code: "request_timeout",
    };
    pub(crate) const H2_STREAMS: Refusal = Refusal {
        status: 503,
        code: "h2_streams",
    };
    pub(crate) const AUTH_BUSY: Refusal = Refusal {
        status: 503,
        code: "auth_busy",
    };

    /// Whether this answer refuses the client's request (as opposed to reporting an upstream
    /// or internal failure): counted in `gatehouse_requests_rejected_total{reason}`.
    pub(crate) fn is_rejection(self) -> bool {
        (400..500).contains(&self.status)
            || matches!(
                self.code,
                "unsupported_transfer_coding"
                    | "rate_limit_unavailable"
                    | "lockout_unavailable"
                    | "h2_streams"
            )
            || self.code.ends_with("_busy")
    }
}

/// The body of a proxy-made response.
pub(crate) fn body(refusal: Refusal, message: &str, request_id: &str) -> Bytes {
    let v = serde_json::json!({
        "status": refusal.status,
        "error": refusal.code,
        "message": message,
        "request_id": request_id,
    });
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Write a complete proxy-made response. With `close`, the connection ends after it and the
/// client is told so (`Connection: close`), so that it does not reuse a connection being torn
/// down (after a failed exchange, or with an unread oversized body).
pub(crate) async fn respond(
    session: &mut Session,
    refusal: Refusal,
    message: &str,
    ctx: &RequestCtx,
    close: bool,
    extra: &[(&'static str, &str)],
) -> Result<()> {
    if refusal.is_rejection() {
        ctx.count_rejection(refusal.code);
    }
    let body = body(refusal, message, ctx.request_id());
    let mut headers = vec![
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
    ];
    headers.extend_from_slice(extra);
    if close {
        headers.push(("connection", "close"));
        session.set_keepalive(None);
    }
    send(session, refusal.status, &headers, body, ctx).await
}

/// Write a complete proxy-made response other than an error: a redirect, an ACME answer, a
/// CORS preflight.
pub(crate) async fn send(
    session: &mut Session,
    status: u16,
    headers: &[(&'static str, &str)],
    body: Bytes,
    ctx: &RequestCtx,
) -> Result<()> {
    ctx.release_stream_slot();
    let mut header = ResponseHeader::build(status, Some(headers.len() + 12))?;
    for (name, value) in headers {
        header.insert_header(*name, *value)?;
    }
    header.insert_header("content-length", body.len().to_string())?;
    header.insert_header(crate::request_id::HEADER, ctx.request_id())?;
    ctx.decorate(&mut header);
    let head_only = session.req_header().method == http::Method::HEAD || body.is_empty();
    session
        .write_response_header(Box::new(header), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// Name for the error a total-deadline expiry raises.
pub(crate) const TOTAL_TIMEOUT: ErrorType = ErrorType::Custom("route total timeout exceeded");
/// Name for the error raised when a request body is still arriving at the route's total
/// timeout.
pub(crate) const BODY_TOTAL_TIMEOUT: ErrorType =
    ErrorType::Custom("request body still arriving at the route total timeout");
/// Name for the error raised when a pool has no backend in service.
pub(crate) const NO_HEALTHY_BACKEND: ErrorType = ErrorType::Custom("no healthy backend");

/// Map a proxy error to what the client gets; `None` when the client is gone.
pub(crate) fn classify(e: &Error) -> Option<(Refusal, &'static str)> {
    use ErrorType::*;
    let etype = e.etype();
    if *etype == TOTAL_TIMEOUT {
        return Some((
            Refusal::GATEWAY_TIMEOUT,
            "the upstream did not answer within the route's total timeout",
        ));
    }
    if *etype == BODY_TOTAL_TIMEOUT {
        return Some((
            Refusal::REQUEST_TIMEOUT,
            "the request body did not arrive within the route's total timeout",
        ));
    }
    if *etype == NO_HEALTHY_BACKEND {
        return Some((
            Refusal::BAD_GATEWAY,
            "no backend of the upstream is in service",
        ));
    }
    match (etype, e.esource()) {
        (HTTPStatus(413), _) => Some((
            Refusal::TOO_LARGE,
            "the request body is larger than this route accepts",
        )),
        (HTTPStatus(code), _) => Some((
            Refusal {
                status: *code,
                code: if *code >= 500 {
                    "upstream_error"
                } else {
                    "bad_request"
                },
            },
            "the request could not be proxied",
        )),
        (ConnectTimedout, _) => Some((
            Refusal::GATEWAY_TIMEOUT,
            "connecting to the upstream timed out",
        )),
        (ReadTimedout | WriteTimedout, ErrorSource::Upstream) => Some((
            Refusal::GATEWAY_TIMEOUT,
            "the upstream did not answer in time",
        )),
        (_, ErrorSource::Upstream) => Some((
            Refusal::BAD_GATEWAY,
            "the upstream could not be reached or failed",
        )),
        // A body that stopped arriving: answered 408, as nginx does (the client may still
        // read); the connection is closed after it.
        (ReadTimedout, ErrorSource::Downstream) => Some((
            Refusal::BODY_TIMEOUT,
            "the request body stopped arriving (client_body_timeout)",
        )),
        (ReadError | WriteError | ConnectionClosed | WriteTimedout, ErrorSource::Downstream) => {
            None
        }
        (_, ErrorSource::Downstream) => {
            Some((Refusal::BAD_REQUEST, "the request could not be read"))
        }
        (_, ErrorSource::Internal | ErrorSource::Unset) => {
            Some((Refusal::INTERNAL, "internal error"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_small_json_with_request_id() {
        let b = body(Refusal::NO_ROUTE, "no route", "abc");
        let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
        assert_eq!(v["status"], 404);
        assert_eq!(v["error"], "no_route");
        assert_eq!(v["request_id"], "abc");
    }

    #[test]
    fn classifies_errors() {
        let e = Error::new_up(ErrorType::ConnectRefused);
        assert_eq!(classify(&e).map(|c| c.0.status), Some(502));
        let e = Error::new_up(ErrorType::ReadTimedout);
        assert_eq!(classify(&e).map(|c| c.0.status), Some(504));
        let e = Error::new(ErrorType::ConnectTimedout);
        assert_eq!(classify(&e).map(|c| c.0.status), Some(504));
        let e = Error::new_down(ErrorType::ReadError);
        assert_eq!(classify(&e), None);
        assert_eq!(
            classify(&Error::new(ErrorType::HTTPStatus(413))).map(|c| c.0.status),
            Some(413)
        );
        assert_eq!(
            classify(&Error::new(TOTAL_TIMEOUT)).map(|c| c.0.status),
            Some(504)
        );
    }
}
