//! One canonical request, made before anything else looks at it: a valid Host, a path with
//! dot segments resolved, unreserved characters decoded and repeated slashes collapsed, and
//! ambiguous framing refused. Routing, every policy and the upstream then read the same
//! request, so what the proxy judged is exactly what the backend gets.

mod head;
mod host;
mod path;

pub use host::{parse_host, Host};
pub use path::{canonical_path, PathError};

use crate::respond::Refusal;
use gatehouse_config::server::ServerConfig;
use http::header::{HOST, TRANSFER_ENCODING};
use http::{HeaderName, HeaderValue, Uri, Version};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::borrow::Cow;

/// A request refused before routing.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub refusal: Refusal,
    pub message: Cow<'static, str>,
}

impl Rejection {
    pub(crate) fn new(refusal: Refusal, message: impl Into<Cow<'static, str>>) -> Rejection {
        Rejection {
            refusal,
            message: message.into(),
        }
    }
}

/// What canonicalization learned, for routing and forwarding.
#[derive(Debug, Default)]
pub(crate) struct Canonical {
    /// The validated host; `None` only for HTTP/1.0 requests that named none.
    pub host: Option<Host>,
    /// The path keeps an encoded `/` (`%2F`); only routes that allow it may take it.
    pub encoded_slash: bool,
}

/// Make the session's request canonical in place, or say why it cannot be.
pub(crate) fn canonicalize(
    session: &mut Session,
    server: &ServerConfig,
) -> Result<Canonical, Rejection> {
    if let Some(h1) = session.as_http1() {
        let framing = head::check_raw_head(&h1.get_headers_raw_bytes(), &server.limits)?;
        if framing.content_length && framing.transfer_encoding {
            return Err(Rejection::new(
                Refusal::BAD_FRAMING,
                "the request has both Content-Length and Transfer-Encoding",
            ));
        }
    } else {
        head::check_header_map(&session.req_header().headers, &server.limits)?;
    }
    let req = session.req_header();
    if req.headers.contains_key(TRANSFER_ENCODING) {
        head::check_transfer_encoding(
            req.headers
                .get_all(TRANSFER_ENCODING)
                .iter()
                .map(HeaderValue::as_bytes),
        )?;
    }
    let target = Target::of(req)?;
    let host = request_host(req, target.authority.as_ref())?;
    let canonical = canonical_path(target.path, true)
        .map_err(|e| Rejection::new(Refusal::BAD_PATH, e.message()))?;
    if let Some(q) = target.query {
        if q.iter().any(|&b| b <= b' ' || b == 0x7f || b == b'#') {
            return Err(Rejection::new(
                Refusal::BAD_PATH,
                "the query has a control character, a space or a `#`",
            ));
        }
    }
    let encoded_slash = canonical.contains("%2F");
    // HTTP/2's `:authority` goes to an h2 upstream as it is: in its validated spelling too.
    let authority = req
        .uri
        .authority()
        .zip(host.as_ref())
        .filter(|(a, h)| !h.spelled_as(a.as_str().as_bytes()))
        .map(|(_, h)| h.with_port());
    let rewrite = target.absolute_form || matches!(canonical, Cow::Owned(_)) || authority.is_some();
    let new_uri = if rewrite {
        Some(rebuilt_uri(req, &canonical, target.query, authority)?)
    } else {
        None
    };
    let set_host = host
        .as_ref()
        .filter(|h| {
            req.headers
                .get(HOST)
                .is_none_or(|v| !h.spelled_as(v.as_bytes()))
        })
        .map(Host::with_port);
    let drop_names = if server.underscores_in_headers {
        Vec::new()
    } else {
        underscore_names(req)
    };
    let req = session.req_header_mut();
    if let Some(uri) = new_uri {
        req.set_uri(uri);
    }
    if let Some(h) = set_host {
        // The one Host the request had, in its canonical spelling (or the absolute-form
        // authority's, when an HTTP/1.0 request had no Host).
        let _ = req.insert_header(HOST, h);
    }
    for name in drop_names {
        req.remove_header(&name);
    }
    Ok(Canonical {
        host,
        encoded_slash,
    })
}

/// The request target's parts.
struct Target<'a> {
    path: &'a [u8],
    query: Option<&'a [u8]>,
    /// The authority of an absolute-form target (HTTP/1) or `:authority` (HTTP/2).
    authority: Option<Host>,
    absolute_form: bool,
}

impl<'a> Target<'a> {
    fn of(req: &'a RequestHeader) -> Result<Target<'a>, Rejection> {
        let raw = req.raw_path();
        let bad = |m: &'static str| Rejection::new(Refusal::BAD_PATH, m);
        let (authority, rest, absolute_form) = if raw.first() == Some(&b'/') {
            let authority = match req.uri.authority() {
                Some(a) => Some(
                    parse_host(a.as_str().as_bytes())
                        .map_err(|m| Rejection::new(Refusal::BAD_HOST, m))?,
                ),
                None => None,
            };
            (authority, raw, false)
        } else {
            let Some(i) = raw.windows(3).position(|w| w == b"://") else {
                return Err(bad(
                    "the request target is neither a path nor an absolute URL",
                ));
            };
            let scheme = &raw[..i];
            if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
                return Err(bad("the request target's scheme is not http or https"));
            }
            let after = &raw[i + 3..];
            let end = after
                .iter()
                .position(|&b| b == b'/' || b == b'?' || b == b'#')
                .unwrap_or(after.len());
            let authority = &after[..end];
            if authority.contains(&b'@') {
                return Err(Rejection::new(
                    Refusal::BAD_HOST,
                    "the request target carries user information",
                ));
            }
            let host = parse_host(authority).map_err(|m| Rejection::new(Refusal::BAD_HOST, m))?;
            (Some(host), &after[end..], true)
        };
        let (path, query) = match rest.iter().position(|&b| b == b'?') {
            Some(q) => (&rest[..q], Some(&rest[q + 1..])),
            None => (rest, None),
        };
        let path: &[u8] = if path.is_empty() { b"/" } else { path };
        Ok(Target {
            path,
            query,
            authority,
            absolute_form,
        })
    }
}

/// The request's one host: the Host header, the target's authority, or both when they agree.
fn request_host(req: &RequestHeader, authority: Option<&Host>) -> Result<Option<Host>, Rejection> {
    let bad = |m: &'static str| Rejection::new(Refusal::BAD_HOST, m);
    let mut values = req.headers.get_all(HOST).iter();
    let header = match (values.next(), values.next()) {
        (Some(_), Some(_)) => return Err(bad("the request has more than one Host header")),
        (Some(v), None) => Some(parse_host(v.as_bytes()).map_err(bad)?),
        (None, _) => None,
    };
    match (header, authority) {
        (Some(h), Some(a)) => {
            if h.name != a.name || h.port != a.port {
                return Err(bad("the Host header disagrees with the request target"));
            }
            Ok(Some(h))
        }
        (Some(h), None) => Ok(Some(h)),
        // HTTP/1.1 needs Host even with an absolute-form target (RFC 9112 §3.2); HTTP/2 names
        // its host in `:authority`, HTTP/1.0 may name none.
        (None, Some(_)) if req.version == Version::HTTP_11 => {
            Err(bad("an HTTP/1.1 request must have a Host header"))
        }
        (None, Some(a)) => Ok(Some(a.clone())),
        (None, None) if req.version == Version::HTTP_11 => {
            Err(bad("an HTTP/1.1 request must have a Host header"))
        }
        (None, None) => Ok(None),
    }
}

/// The URI to forward: origin-form with the canonical path (HTTP/2 keeps its scheme and
/// authority — `authority` when it must be respelled — which Pingora turns into the
/// upstream's pseudo-headers).
fn rebuilt_uri(
    req: &RequestHeader,
    path: &str,
    query: Option<&[u8]>,
    authority: Option<String>,
) -> Result<Uri, Rejection> {
    let mut pq = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
    pq.push_str(path);
    if let Some(q) = query {
        pq.push('?');
        pq.push_str(&String::from_utf8_lossy(q));
    }
    let mut parts = http::uri::Parts::default();
    if req.version == Version::HTTP_2 {
        parts.scheme = req.uri.scheme().cloned();
        parts.authority = match authority {
            Some(a) => Some(a.parse().map_err(|_| {
                Rejection::new(Refusal::BAD_HOST, "the request's authority is not valid")
            })?),
            None => req.uri.authority().cloned(),
        };
    }
    parts.path_and_query = Some(
        pq.parse()
            .map_err(|_| Rejection::new(Refusal::BAD_PATH, "the request target is not valid"))?,
    );
    Uri::from_parts(parts)
        .map_err(|_| Rejection::new(Refusal::BAD_PATH, "the request target is not valid"))
}

/// Header names with `_`, which nginx ignores by default: `X_Forwarded_For` must not reach a
/// backend (CGI-style frameworks read it as `X-Forwarded-For`).
fn underscore_names(req: &RequestHeader) -> Vec<HeaderName> {
    if !req.headers.keys().any(|k| k.as_str().contains('_')) {
        return Vec::new();
    }
    req.headers
        .keys()
        .filter(|k| k.as_str().contains('_'))
        .cloned()
        .collect()
}

/// Remove the forwarding headers of [`UNTRUSTED_FORWARDING`], and — when header names with `_`
/// are let through at all — their underscore spellings (`X_Forwarded_For`), which CGI-style
/// frameworks read as the same header.
pub(crate) fn remove_forwarding(req: &mut RequestHeader, underscores_kept: bool) {
    // One pass over the headers the request has (a handful), not one removal per listed name
    // (each a name parse and two hash lookups: 16,000 instructions a request, measured).
    let mut found: Vec<HeaderName> = Vec::new();
    for name in req.headers.keys() {
        if is_untrusted_forwarding(name.as_str(), underscores_kept) {
            found.push(name.clone());
        }
    }
    for name in found {
        req.remove_header(&name);
    }
}

/// Whether `name` (lower case, as `HeaderName` keeps it) is one of [`UNTRUSTED_FORWARDING`],
/// or its `_` spelling when such names are let through.
fn is_untrusted_forwarding(name: &str, underscores_kept: bool) -> bool {
    let underscored = underscores_kept && name.contains('_');
    UNTRUSTED_FORWARDING.iter().any(|listed| {
        listed.len() == name.len()
            && if underscored {
                listed
                    .bytes()
                    .zip(name.bytes())
                    .all(|(l, n)| l == n || (l == b'-' && n == b'_'))
            } else {
                *listed == name
            }
    })
}

/// Forwarding headers a client outside `trusted_proxies` may not set: upstreams and their
/// frameworks read them as facts about the connection (Rack: `X-Forwarded-Ssl: on` is HTTPS;
/// Symfony honours `X-Original-URL`). The proxy sets its own X-Forwarded-For/-Proto/-Host/
/// -Port and X-Real-IP after removing these.
const UNTRUSTED_FORWARDING: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-proto",
    "x-forwarded-prefix",
    "x-forwarded-ssl",
    "x-forwarded-scheme",
    "x-forwarded-server",
    "x-forwarded-uri",
    "x-forwarded-path",
    "x-original-url",
    "x-original-uri",
    "x-original-host",
    "x-rewrite-url",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-cluster-client-ip",
    "x-url-scheme",
    "front-end-https",
    "x-forwarded-protocol",
    "x-forwarded-by",
    "x-original-forwarded-for",
    "x-host",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-envoy-external-address",
    "x-proxyuser-ip",
    "x-arr-ssl",
];

#[cfg(test)]
mod props;

#[cfg(test)]
mod forwarding_tests {
    use super::*;

    fn request(names: &[&str]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        for n in names {
            req.append_header(n.to_string(), "1").expect("header");
        }
        req.append_header("accept", "*/*").expect("header");
        req
    }

    fn left(req: &RequestHeader) -> Vec<String> {
        let mut v: Vec<String> = req.headers.keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn every_listed_header_is_removed_in_any_case_and_others_stay() {
        let upper: Vec<String> = UNTRUSTED_FORWARDING
            .iter()
            .map(|n| n.to_ascii_uppercase())
            .collect();
        let mut names: Vec<&str> = upper.iter().map(String::as_str).collect();
        names.push("x-forwarded-for-not");
        names.push("forwarded-x");
        let mut req = request(&names);
        req.append_header("X-Forwarded-For", "2").expect("header");
        remove_forwarding(&mut req, false);
        assert_eq!(left(&req), ["accept", "forwarded-x", "x-forwarded-for-not"]);
    }

    #[test]
    fn underscore_spellings_are_removed_only_when_such_names_are_kept() {
        let names = [
            "X_Forwarded_For",
            "x_real-ip",
            "x_custom_thing",
            "X_Forwarded",
        ];
        let mut req = request(&names);
        remove_forwarding(&mut req, true);
        assert_eq!(left(&req), ["accept", "x_custom_thing", "x_forwarded"]);
        // Not kept: the canonical step drops `_` names earlier; here they are left alone.
        let mut req = request(&names);
        remove_forwarding(&mut req, false);
        assert_eq!(left(&req).len(), 5);
    }
}
