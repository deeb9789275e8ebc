//! Who may use the admin listener. Every request first passes the DNS-rebinding guard: its
//! `Host` must be the listen address, a loopback name or a name in `admin.hosts` (421
//! otherwise; 400 when HTTP/1.1 comes without one). Then, when `admin.tokens` is not empty,
//! everything but `/healthz`, `/readyz`, the heartbeat pushes (they carry their probe's own
//! token) and, with `metrics_open`, `/metrics` needs `Authorization: Bearer TOKEN` (401), and
//! a read token may only GET (403). Tokens are compared in constant time and never logged.

use crate::admin::{text, PLAIN};
use crate::WebError;
use axum::response::Response;
use gatehouse_config::admin::{AdminConfig, AdminScope};
use http::{HeaderValue, Method, Request, StatusCode, Version};
use prometheus::{IntCounterVec, Opts, Registry};
use ring::hmac;
use std::net::IpAddr;

/// The admin listener's gate: a per-process key for comparing tokens and the refusal counter.
pub struct AdminGuard {
    /// Tokens are compared as HMACs under this random key: in constant time, whatever their
    /// lengths.
    key: hmac::Key,
    rejected: IntCounterVec,
}

/// The realm in `WWW-Authenticate`.
const REALM: &str = "Bearer realm=\"gatehouse-admin\"";

impl AdminGuard {
    pub fn new(registry: &Registry) -> Result<AdminGuard, WebError> {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| WebError::RandomKey)?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "gatehouse_admin_requests_rejected_total",
                "Admin API requests refused, by reason (misdirected, bad_host, unauthorized, forbidden).",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(rejected.clone()))?;
        for reason in ["misdirected", "bad_host", "unauthorized", "forbidden"] {
            rejected.with_label_values(&[reason]);
        }
        Ok(AdminGuard { key, rejected })
    }

    /// `None` when `req` may go on to its handler; otherwise the answer to send.
    pub(crate) fn refusal<B>(&self, admin: &AdminConfig, req: &Request<B>) -> Option<Response> {
        if let Some(refused) = self.host(admin, req) {
            return Some(refused);
        }
        let path = req.uri().path();
        let open = matches!(path, "/healthz" | "/readyz")
            || (path == "/metrics" && admin.metrics_open)
            || path.starts_with("/api/v1/heartbeat/");
        if open || admin.tokens.is_empty() {
            return None;
        }
        let Some(presented) = bearer(req) else {
            return Some(self.unauthorized(REALM, "send `Authorization: Bearer TOKEN`\n"));
        };
        let tag = hmac::sign(&self.key, presented.as_bytes());
        // Every token is compared, so the time taken does not tell which one is close.
        let mut matched = None;
        for t in &admin.tokens {
            if hmac::verify(&self.key, t.token.0.as_bytes(), tag.as_ref()).is_ok() {
                matched = Some(t);
            }
        }
        let Some(token) = matched else {
            return Some(self.unauthorized(
                "Bearer realm=\"gatehouse-admin\", error=\"invalid_token\"",
                "the token is not one of admin.tokens\n",
            ));
        };
        let reads = matches!(*req.method(), Method::GET | Method::HEAD);
        if token.scope == AdminScope::Read && !reads {
            self.rejected.with_label_values(&["forbidden"]).inc();
            tracing::info!(token = %token.name, method = %req.method(), path, "admin API: a read token tried to change something");
            let mut resp = text(
                StatusCode::FORBIDDEN,
                "this token has scope `read`; changes need a token with scope `write`\n",
                PLAIN,
            );
            resp.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"gatehouse-admin\", error=\"insufficient_scope\"",
                ),
            );
            return Some(resp);
        }
        None
    }

    fn unauthorized(&self, challenge: &'static str, message: &'static str) -> Response {
        self.rejected.with_label_values(&["unauthorized"]).inc();
        let mut resp = text(StatusCode::UNAUTHORIZED, message, PLAIN);
        resp.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        resp
    }

    /// The DNS-rebinding guard.
    fn host<B>(&self, admin: &AdminConfig, req: &Request<B>) -> Option<Response> {
        let mut values = req.headers().get_all(http::header::HOST).iter();
        let header = values.next();
        if values.next().is_some() {
            return Some(self.bad_host("send exactly one Host header\n"));
        }
        let mut names = Vec::with_capacity(2);
        match header.map(|h| h.to_str()) {
            Some(Ok(h)) => names.push(h),
            Some(Err(_)) => return Some(self.bad_host("the Host header is not valid\n")),
            None if req.version() == Version::HTTP_11 => {
                return Some(self.bad_host("HTTP/1.1 needs a Host header\n"))
            }
            None => {}
        }
        let authority = req.uri().authority().map(|a| a.as_str());
        names.extend(authority);
        for name in names {
            match host_of(name) {
                None => return Some(self.bad_host("the Host header is not valid\n")),
                Some(host) if !allowed(admin, &host) => {
                    self.rejected.with_label_values(&["misdirected"]).inc();
                    tracing::debug!(host = %host, "admin API: refused a request for another host (DNS-rebinding guard)");
                    return Some(text(
                        StatusCode::MISDIRECTED_REQUEST,
                        "this is the gatehouse admin API; the Host must be its address, localhost or a name in admin.hosts\n",
                        PLAIN,
                    ));
                }
                Some(_) => {}
            }
        }
        None
    }

    fn bad_host(&self, message: &'static str) -> Response {
        self.rejected.with_label_values(&["bad_host"]).inc();
        text(StatusCode::BAD_REQUEST, message, PLAIN)
    }
}

/// The token of `Authorization: Bearer TOKEN` (scheme case-insensitive); `None` when absent,
/// another scheme, or more than one Authorization header.
fn bearer<B>(req: &Request<B>) -> Option<&str> {
    let mut values = req.headers().get_all(http::header::AUTHORIZATION).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The host of a `Host` value (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`), lower
/// case, without a trailing dot, IPv6 in brackets in its canonical spelling; `None` when it is
/// malformed.
fn host_of(value: &str) -> Option<String> {
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: std::net::Ipv6Addr = ip.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{ip}]"), port)
    } else {
        let (h, p) = match value.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (value, None),
        };
        (h.trim_end_matches('.').to_ascii_lowercase(), p)
    };
    if let Some(p) = port {
        if !p.bytes().all(|b| b.is_ascii_digit()) || !matches!(p.parse::<u16>(), Ok(1..)) {
            return None;
        }
    }
    let name_ok = host.starts_with('[')
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    name_ok.then_some(host)
}

/// Loopback names, the listen address, and `admin.hosts`. When the listener is bound to every
/// address (`0.0.0.0`, `[::]`), any IP literal is accepted too (health checks of orchestrators
/// send the pod's IP); a DNS-rebinding attack needs a name, never a literal.
fn allowed(admin: &AdminConfig, host: &str) -> bool {
    if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
        return true;
    }
    let listen = admin.listen.ip();
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let listen_matches = match (literal, listen.is_unspecified()) {
        (Some(_), true) => true,
        (Some(ip), false) => ip == listen,
        (None, _) => false,
    };
    listen_matches || admin.hosts.iter().any(|h| h == host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::admin::AdminToken;
    use gatehouse_config::secret::Secret;

    fn admin(listen: &str, tokens: &[(&str, AdminScope)]) -> AdminConfig {
        AdminConfig {
            listen: listen.parse().unwrap(),
            tokens: tokens
                .iter()
                .enumerate()
                .map(|(i, (t, scope))| AdminToken {
                    name: format!("t{i}"),
                    token: Secret(t.to_string()),
                    scope: *scope,
                })
                .collect(),
            hosts: vec!["admin.internal".into()],
            metrics_open: false,
            connections: gatehouse_config::server::ConnectionLimits::ADMIN,
        }
    }

    fn req(method: &str, path: &str, host: Option<&str>, auth: Option<&str>) -> Request<()> {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(h) = host {
            b = b.header("host", h);
        }
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).unwrap()
    }

    fn status(g: &AdminGuard, a: &AdminConfig, r: &Request<()>) -> u16 {
        g.refusal(a, r).map_or(200, |resp| resp.status().as_u16())
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("Example.COM."), Some("example.com".into()));
        assert_eq!(host_of("127.0.0.1:9901"), Some("127.0.0.1".into()));
        assert_eq!(host_of("[0:0::1]:80"), Some("[::1]".into()));
        for bad in [
            "a:b", "a:0", "a:70000", "[::1", "[zz]", "a b", "", "a:1:1", "[::1]x",
        ] {
            assert_eq!(host_of(bad), None, "{bad}");
        }
        let a = admin("10.0.0.5:9901", &[]);
        for ok in [
            "localhost",
            "127.0.0.1",
            "[::1]",
            "10.0.0.5",
            "admin.internal",
        ] {
            assert!(allowed(&a, ok), "{ok}");
        }
        for no in ["evil.example", "10.0.0.6", "localhost.evil.example"] {
            assert!(!allowed(&a, no), "{no}");
        }
        assert!(allowed(&admin("0.0.0.0:9901", &[]), "192.168.1.9"));
        assert!(!allowed(&admin("0.0.0.0:9901", &[]), "evil.example"));
    }

    #[test]
    fn guard_order_and_scopes() {
        let g = AdminGuard::new(&Registry::new()).unwrap();
        let (w, r) = ("write-token-0123456789", "read-token-0123456789");
        let a = admin(
            "127.0.0.1:9901",
            &[(w, AdminScope::Write), (r, AdminScope::Read)],
        );
        let h = Some("127.0.0.1:9901");
        let bw = format!("Bearer {w}");
        let br = format!("bearer {r}");
        assert_eq!(status(&g, &a, &req("GET", "/api/v1/probes", h, None)), 401);
        let wrong = Some("Bearer read-token-012345678");
        assert_eq!(status(&g, &a, &req("GET", "/api/v1/probes", h, wrong)), 401);
        assert_eq!(
            status(&g, &a, &req("GET", "/api/v1/probes", h, Some(&br))),
            200
        );
        assert_eq!(
            status(&g, &a, &req("POST", "/api/v1/silences", h, Some(&br))),
            403
        );
        assert_eq!(
            status(&g, &a, &req("POST", "/api/v1/silences", h, Some(&bw))),
            200
        );
        assert_eq!(status(&g, &a, &req("GET", "/healthz", h, None)), 200);
        assert_eq!(status(&g, &a, &req("GET", "/metrics", h, None)), 401);
        assert_eq!(
            status(&g, &a, &req("POST", "/api/v1/heartbeat/x", h, None)),
            200
        );
        // The Host guard comes first, also for open paths and good tokens.
        let evil = Some("evil.example");
        assert_eq!(status(&g, &a, &req("GET", "/healthz", evil, None)), 421);
        assert_eq!(
            status(&g, &a, &req("GET", "/api/v1/probes", evil, Some(&bw))),
            421
        );
        assert_eq!(status(&g, &a, &req("GET", "/healthz", None, None)), 400);
        let mut two = req("GET", "/healthz", h, None);
        two.headers_mut()
            .append("host", HeaderValue::from_static("localhost"));
        assert_eq!(status(&g, &a, &two), 400);
        let abs = req("GET", "http://evil.example/healthz", h, None);
        assert_eq!(status(&g, &a, &abs), 421);
        let mut old = req("GET", "/healthz", None, None);
        *old.version_mut() = Version::HTTP_10;
        assert_eq!(status(&g, &a, &old), 200);
        // Without tokens (loopback), only the Host guard applies.
        let open = admin("127.0.0.1:9901", &[]);
        assert_eq!(
            status(&g, &open, &req("POST", "/api/v1/silences", h, None)),
            200
        );
    }
}
