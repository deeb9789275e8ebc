//! Security response headers, converted to header values once per config generation and
//! written on every response of the route (upstream's and the proxy's own), replacing any
//! the upstream sent so that each is present exactly once.

use crate::wire_names::{self, Name};
use gatehouse_config::headers::SecurityHeaders;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;

/// A route's security headers, ready to write.
pub(crate) struct Headers {
    hsts: Option<HeaderValue>,
    always: Vec<(Name, HeaderValue)>,
    remove: Vec<HeaderName>,
    /// `remove` and Strict-Transport-Security: when HSTS is not written.
    remove_without_hsts: Vec<HeaderName>,
    /// The built-in CSP report collector answers on this route.
    pub(crate) csp_collector: bool,
}

impl Headers {
    pub(crate) fn new(h: &SecurityHeaders) -> Headers {
        // Values were validated when the config was compiled; a value that still does not
        // convert is left out rather than failing the route.
        let pair = |n: &str, v: &str| {
            Some((
                wire_names::pair(&HeaderName::from_bytes(n.as_bytes()).ok()?),
                HeaderValue::from_str(v).ok()?,
            ))
        };
        let remove: Vec<HeaderName> = h
            .remove
            .iter()
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .collect();
        let mut remove_without_hsts = remove.clone();
        remove_without_hsts.push(http::header::STRICT_TRANSPORT_SECURITY);
        Headers {
            hsts: h
                .hsts
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok()),
            always: h.always.iter().filter_map(|(n, v)| pair(n, v)).collect(),
            remove,
            remove_without_hsts,
            csp_collector: h.csp_collector,
        }
    }

    /// Write the headers on `resp`; HSTS only when the client connected over HTTPS.
    pub(crate) fn apply(&self, resp: &mut ResponseHeader, https: bool) {
        let hsts = self.hsts.as_ref().filter(|_| https);
        // An upstream's HSTS over plain HTTP is ignored by browsers and only confuses.
        let remove = match hsts {
            Some(_) => &self.remove,
            None => &self.remove_without_hsts,
        };
        remove_present(resp, remove);
        for (name, value) in &self.always {
            let _ = resp.insert_header(name.clone(), value.clone());
        }
        if let Some(hsts) = hsts {
            let _ = resp.insert_header(wire_names::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
}

/// Remove the headers named in `names` from `resp`. A response carries a handful of headers
/// and these are rarely among them: comparing with its names finds the ones to remove, where a
/// removal by name is a hash lookup in each header map (~180 instructions) even for a name
/// that is not there.
pub(crate) fn remove_present(resp: &mut ResponseHeader, names: &[HeaderName]) {
    for name in names {
        if resp.headers.keys().any(|k| k == name) {
            resp.remove_header(name);
        }
    }
}

/// Add `token` to the response's Vary unless it is there already (or Vary is `*`).
pub(crate) fn add_vary(resp: &mut ResponseHeader, token: &'static str) {
    if !resp.headers.keys().any(|k| k == http::header::VARY) {
        // The usual case: no Vary yet (found without a hash lookup; a static value, no copy).
        let _ = resp.insert_header(wire_names::VARY, HeaderValue::from_static(token));
        return;
    }
    let value = {
        let mut current = resp
            .headers
            .get_all(http::header::VARY)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .peekable();
        if current.peek().is_none() {
            // Vary lines with no token.
            Ok(HeaderValue::from_static(token))
        } else {
            let mut all: Vec<&str> = Vec::new();
            for t in current {
                if t == "*" || t.eq_ignore_ascii_case(token) {
                    return;
                }
                all.push(t);
            }
            all.push(token);
            HeaderValue::from_str(&all.join(", "))
        }
    };
    if let Ok(v) = value {
        let _ = resp.insert_header(wire_names::VARY, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_upstream_values_and_sends_hsts_on_https_only() {
        let h = Headers::new(&SecurityHeaders::default());
        let mut r = ResponseHeader::build(200, None).expect("resp");
        r.append_header("x-frame-options", "ALLOWALL").expect("h");
        r.append_header("server", "nginx").expect("h");
        r.append_header("strict-transport-security", "max-age=1")
            .expect("h");
        h.apply(&mut r, false);
        assert_eq!(r.headers.get_all("x-frame-options").iter().count(), 1);
        assert_eq!(r.headers["x-frame-options"], "SAMEORIGIN");
        assert!(r.headers.get("server").is_none());
        assert!(r.headers.get("strict-transport-security").is_none());
        h.apply(&mut r, true);
        assert_eq!(
            r.headers["strict-transport-security"],
            "max-age=31536000; includeSubDomains"
        );
    }

    #[test]
    fn vary_is_merged() {
        let mut r = ResponseHeader::build(200, None).expect("resp");
        r.append_header("vary", "Accept-Encoding").expect("h");
        add_vary(&mut r, "Origin");
        add_vary(&mut r, "origin");
        assert_eq!(r.headers["vary"], "Accept-Encoding, Origin");
        let mut r = ResponseHeader::build(200, None).expect("resp");
        add_vary(&mut r, "Origin");
        add_vary(&mut r, "Origin");
        assert_eq!(r.headers.get_all("vary").iter().count(), 1);
        assert_eq!(r.headers["vary"], "Origin");
        let mut r = ResponseHeader::build(200, None).expect("resp");
        r.append_header("vary", "*").expect("h");
        add_vary(&mut r, "Origin");
        assert_eq!(r.headers["vary"], "*");
    }
}
