//! CORS: preflights answered at the edge; allowed origins echoed with `Vary: Origin`; anything
//! else gets no Access-Control-Allow-Origin (and the upstream's own CORS headers are dropped,
//! so that the route's policy is the only one in force).

use super::origin::OriginMatch;
use gatehouse_config::policy::origin::{Origin, OriginPattern};
use gatehouse_config::policy::Cors;
use http::HeaderValue;
use pingora::http::RequestHeader;

/// A route's CORS settings with the header values built once.
pub(crate) struct CorsRuntime {
    config: Cors,
    any: bool,
    pub(crate) methods: HeaderValue,
    pub(crate) headers: Option<HeaderValue>,
    pub(crate) expose: Option<HeaderValue>,
    pub(crate) max_age: HeaderValue,
}

fn joined(list: &[String]) -> Option<HeaderValue> {
    (!list.is_empty())
        .then(|| HeaderValue::from_str(&list.join(", ")).ok())
        .flatten()
}

/// Outcome of looking at a request's `Origin`.
pub(crate) enum Preflight {
    /// Not a preflight.
    No,
    /// A preflight to answer 204 with this Access-Control-Allow-Origin value.
    Allowed,
    /// A preflight to refuse.
    Refused,
}

impl CorsRuntime {
    pub(crate) fn new(config: &Cors) -> CorsRuntime {
        CorsRuntime {
            any: config.allow_origins.contains(&OriginPattern::Any),
            methods: joined(&config.allow_methods).unwrap_or(HeaderValue::from_static("GET")),
            headers: joined(&config.allow_headers),
            expose: joined(&config.expose_headers),
            max_age: HeaderValue::from(config.max_age.as_secs()),
            config: config.clone(),
        }
    }

    pub(crate) fn credentials(&self) -> bool {
        self.config.allow_credentials
    }

    /// Whether `origin` may be answered as a CORS origin; used by CSRF too.
    pub(crate) fn origin_allowed(&self, origin: &Origin) -> bool {
        self.config
            .allow_origins
            .iter()
            .any(|p| *p != OriginPattern::Any && p.matches(origin))
    }

    /// The Access-Control-Allow-Origin value for a request's `Origin`, if it is allowed.
    pub(crate) fn allow_origin(&self, req: &RequestHeader) -> Option<HeaderValue> {
        let value = req.headers.get(http::header::ORIGIN)?;
        if self.any && !self.config.allow_credentials {
            return Some(HeaderValue::from_static("*"));
        }
        let origin = Origin::parse(value.to_str().ok()?)?;
        self.origin_allowed(&origin).then(|| value.clone())
    }

    pub(crate) fn preflight(&self, req: &RequestHeader) -> Preflight {
        if req.method != http::Method::OPTIONS || !req.headers.contains_key(http::header::ORIGIN) {
            return Preflight::No;
        }
        let Some(method) = req.headers.get(http::header::ACCESS_CONTROL_REQUEST_METHOD) else {
            return Preflight::No;
        };
        if self.allow_origin(req).is_none() {
            return Preflight::Refused;
        }
        let method_ok = method.to_str().is_ok_and(|m| {
            self.config
                .allow_methods
                .iter()
                .any(|a| a.eq_ignore_ascii_case(m.trim()))
        });
        let headers_ok = req
            .headers
            .get_all(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .all(|h| {
                self.config
                    .allow_headers
                    .iter()
                    .any(|a| a == "*" || a.eq_ignore_ascii_case(h))
            });
        if method_ok && headers_ok {
            Preflight::Allowed
        } else {
            Preflight::Refused
        }
    }

    /// Whether responses vary by the request's Origin (everything but a credential-less `*`).
    pub(crate) fn varies(&self) -> bool {
        !self.any || self.config.allow_credentials
    }
}
