//! The credential headers a route's gates read (the API-key header; basic auth's
//! `Authorization`): a request carrying one of them more than once is ambiguous — a gate and
//! the upstream could each take a different line — and is refused before any check. The
//! credentials the edge consumed are removed before the request is forwarded, unless the gate
//! says `forward_credentials: true`.

use gatehouse_config::policy::EdgePolicy;
use http::HeaderName;
use pingora::http::RequestHeader;

/// The credential headers of a route, worked out once per config.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    /// Headers a gate reads (each at most once in a request).
    read: Vec<HeaderName>,
    /// Headers removed before forwarding.
    scrub: Vec<HeaderName>,
}

impl Credentials {
    pub(crate) fn new(p: &EdgePolicy) -> Credentials {
        let mut c = Credentials::default();
        if let Some(a) = &p.api_key {
            if let Ok(name) = HeaderName::from_bytes(a.header.as_bytes()) {
                c.add(name, a.forward_credentials);
            }
        }
        if let Some(b) = &p.basic_auth {
            c.add(http::header::AUTHORIZATION, b.forward_credentials);
        }
        c
    }

    fn add(&mut self, name: HeaderName, forward: bool) {
        if !self.read.contains(&name) {
            self.read.push(name.clone());
        }
        // Two gates reading one header (an API key in `Authorization: Bearer` and basic auth):
        // it is removed unless both pass it on.
        if !forward && !self.scrub.contains(&name) {
            self.scrub.push(name);
        }
    }

    /// Whether `req` carries a credential header more than once.
    pub(crate) fn ambiguous(&self, req: &RequestHeader) -> bool {
        self.read
            .iter()
            .any(|name| req.headers.get_all(name).iter().nth(1).is_some())
    }

    /// Remove the consumed credentials from the request to the upstream.
    pub(crate) fn scrub(&self, upstream: &mut RequestHeader) {
        for name in &self.scrub {
            upstream.remove_header(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::policy::{ApiKeyGate, BasicAuth};
    use gatehouse_config::secret::Secret;

    fn policy(api_forward: Option<(&str, bool)>, basic_forward: Option<bool>) -> EdgePolicy {
        EdgePolicy {
            api_key: api_forward.map(|(header, forward_credentials)| ApiKeyGate {
                header: header.into(),
                bearer: header == "authorization",
                keys: vec![Secret("k".into())],
                forward_credentials,
            }),
            basic_auth: basic_forward.map(|forward_credentials| BasicAuth {
                realm: "r".into(),
                users: Vec::new(),
                forward_credentials,
            }),
            ..EdgePolicy::default()
        }
    }

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).expect("req");
        for (n, v) in headers {
            r.append_header(n.to_string(), *v).expect("hdr");
        }
        r
    }

    #[test]
    fn consumed_credentials_are_removed_unless_forwarded() {
        let c = Credentials::new(&policy(Some(("x-api-key", false)), Some(false)));
        let mut r = req(&[
            ("x-api-key", "k"),
            ("authorization", "Basic eA=="),
            ("x-other", "1"),
        ]);
        assert!(!c.ambiguous(&r));
        c.scrub(&mut r);
        assert!(r.headers.get("x-api-key").is_none());
        assert!(r.headers.get("authorization").is_none());
        assert!(r.headers.get("x-other").is_some());

        let c = Credentials::new(&policy(Some(("x-api-key", true)), Some(false)));
        let mut r = req(&[("x-api-key", "k"), ("authorization", "Basic eA==")]);
        c.scrub(&mut r);
        assert!(r.headers.get("x-api-key").is_some());
        assert!(r.headers.get("authorization").is_none());

        // One header, two gates: kept only when both forward it.
        let c = Credentials::new(&policy(Some(("authorization", true)), Some(false)));
        let mut r = req(&[("authorization", "Bearer k")]);
        c.scrub(&mut r);
        assert!(r.headers.get("authorization").is_none());

        // No gate, nothing removed.
        let c = Credentials::new(&EdgePolicy::default());
        let mut r = req(&[("authorization", "Basic eA==")]);
        c.scrub(&mut r);
        assert!(r.headers.get("authorization").is_some());
    }

    #[test]
    fn a_credential_header_twice_is_ambiguous() {
        let c = Credentials::new(&policy(Some(("x-api-key", false)), Some(true)));
        assert!(c.ambiguous(&req(&[("x-api-key", "a"), ("X-Api-Key", "b")])));
        assert!(c.ambiguous(&req(&[
            ("authorization", "Basic eA=="),
            ("authorization", "Basic eQ==")
        ])));
        assert!(!c.ambiguous(&req(&[("x-api-key", "a"), ("authorization", "Basic eA==")])));
        // Headers no gate reads may repeat.
        assert!(!c.ambiguous(&req(&[("x-other", "a"), ("x-other", "b")])));
    }
}
