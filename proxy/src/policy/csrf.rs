//! CSRF origin check: an unsafe request (anything but GET, HEAD, OPTIONS and TRACE: POST, PUT,
//! PATCH, DELETE, WebDAV methods, `patch` in lower case) must come from the route's
//! own origin, a trusted origin, an origin the route's CORS policy allows, or say
//! `Sec-Fetch-Site: same-origin`. This is the check browsers make possible without tokens
//! (as in Go's `http.CrossOriginProtection` and the OWASP "verify origin" guidance).

use super::cors::CorsRuntime;
use super::origin::OriginMatch;
use gatehouse_config::policy::origin::Origin;
use gatehouse_config::policy::Csrf;
use pingora::http::RequestHeader;

fn unsafe_method(m: &http::Method) -> bool {
    !matches!(
        *m,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::TRACE
    )
}

/// Whether the request may pass. `own` is the origin the request was addressed to.
pub(crate) fn admits(
    csrf: &Csrf,
    cors: Option<&CorsRuntime>,
    req: &RequestHeader,
    own: Option<&Origin>,
) -> bool {
    if !unsafe_method(&req.method) {
        return true;
    }
    let header = |name: http::HeaderName| req.headers.get(name).and_then(|v| v.to_str().ok());
    let fetch_site = header(http::HeaderName::from_static("sec-fetch-site"));
    if fetch_site == Some("same-origin") {
        return true;
    }
    let origin = match (header(http::header::ORIGIN), header(http::header::REFERER)) {
        (Some(o), _) => Some(Origin::parse(o)),
        (None, Some(r)) => Some(Origin::of_url(r)),
        (None, None) => None,
    };
    match origin {
        // `Origin: null` or garbage: a sandboxed or privacy-stripped cross-site context.
        Some(None) => false,
        Some(Some(o)) => {
            own.is_some_and(|own| *own == o)
                || csrf.trusted_origins.iter().any(|p| p.matches(&o))
                || cors.is_some_and(|c| c.origin_allowed(&o))
        }
        // Sec-Fetch-Site without an origin: `none` is a user-initiated navigation.
        None => match fetch_site {
            Some(s) => s == "none",
            None => csrf.allow_without_origin,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build(method, b"/", None).expect("req");
        for (k, v) in headers {
            r.insert_header(k.to_string(), *v).expect("hdr");
        }
        r
    }

    #[test]
    fn origin_rules() {
        let csrf = Csrf {
            trusted_origins: vec![gatehouse_config::policy::origin::OriginPattern::parse(
                "https://admin.example.com",
            )
            .expect("pattern")],
            allow_without_origin: false,
        };
        let own = Origin::parse("https://app.example.com");
        let own = own.as_ref();
        let check = |m: &str, h: &[(&str, &str)]| admits(&csrf, None, &req(m, h), own);
        assert!(check("GET", &[("origin", "https://evil.example")]));
        assert!(!check("POST", &[("origin", "https://evil.example")]));
        assert!(!check("DELETE", &[("origin", "null")]));
        assert!(check("POST", &[("origin", "https://app.example.com")]));
        assert!(check("POST", &[("origin", "https://admin.example.com")]));
        assert!(!check("POST", &[("origin", "http://app.example.com")]));
        assert!(check(
            "POST",
            &[("referer", "https://app.example.com/form")]
        ));
        assert!(!check("POST", &[("referer", "https://evil.example/form")]));
        assert!(check("PUT", &[("sec-fetch-site", "same-origin")]));
        assert!(!check("PUT", &[("sec-fetch-site", "cross-site")]));
        assert!(!check("PATCH", &[]));
        assert!(!check("patch", &[("origin", "https://evil.example")]));
        assert!(!check("PROPFIND", &[("origin", "https://evil.example")]));
        let lenient = Csrf {
            allow_without_origin: true,
            ..csrf.clone()
        };
        assert!(admits(&lenient, None, &req("POST", &[]), own));
    }
}
