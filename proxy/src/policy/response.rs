//! Headers a route's policy adds to responses: CORS and RateLimit, and an allowed preflight's.

use super::{headers, Notes, RoutePolicy};
use crate::wire_names as names;
use http::HeaderValue;

impl RoutePolicy {
    /// Headers that depend on the request: CORS and RateLimit.
    pub(crate) fn decorate(&self, notes: &Notes, resp: &mut pingora::http::ResponseHeader) {
        if let Some((cors, _)) = &self.cors {
            headers::remove_present(
                resp,
                &[
                    http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
                ],
            );
            if let Some(origin) = &notes.cors_origin {
                let _ = resp.insert_header(names::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                if cors.credentials() {
                    let _ = resp.insert_header(
                        names::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                        HeaderValue::from_static("true"),
                    );
                }
                if let Some(expose) = &cors.expose {
                    let _ = resp.insert_header(names::ACCESS_CONTROL_EXPOSE_HEADERS, expose);
                }
            }
            if cors.varies() {
                headers::add_vary(resp, "Origin");
            }
        }
        if let Some(p) = &self.ratelimit_policy {
            let _ = resp.insert_header(names::RATELIMIT_POLICY, p);
            if let Some(state) = &notes.ratelimit {
                let _ = resp.insert_header(names::RATELIMIT, state);
            }
        }
    }

    /// The extra headers of an allowed preflight's 204.
    pub(crate) fn preflight_headers(&self) -> Vec<(&'static str, HeaderValue)> {
        let Some((cors, _)) = &self.cors else {
            return Vec::new();
        };
        let mut out = vec![
            ("access-control-allow-methods", cors.methods.clone()),
            ("access-control-max-age", cors.max_age.clone()),
        ];
        if let Some(h) = &cors.headers {
            out.push(("access-control-allow-headers", h.clone()));
        }
        out
    }
}
