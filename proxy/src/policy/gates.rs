//! Gates: client-address allow/deny lists and API keys (compared in constant time, never
//! logged). HTTP basic authentication is in `basic.rs`.

use gatehouse_config::policy::{ApiKeyGate, IpGate};
use pingora::http::RequestHeader;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// Whether `ip` passes the allow/deny lists. Unknown clients (no socket address) do not.
pub(crate) fn ip_allowed(gate: &IpGate, ip: Option<IpAddr>) -> bool {
    let Some(ip) = ip.map(|ip| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }) else {
        return false;
    };
    if gate.deny.iter().any(|n| n.contains(&ip)) {
        return false;
    }
    gate.allow.is_empty() || gate.allow.iter().any(|n| n.contains(&ip))
}

pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
    out
}

/// An API-key gate with the keys kept as digests: comparing fixed-size digests in constant
/// time reveals neither the keys nor their lengths.
pub(crate) struct ApiKeys {
    header: String,
    bearer: bool,
    digests: Vec<[u8; 32]>,
}

impl ApiKeys {
    pub(crate) fn new(gate: &ApiKeyGate) -> ApiKeys {
        ApiKeys {
            header: gate.header.clone(),
            bearer: gate.bearer,
            digests: gate.keys.iter().map(|k| sha256(k.0.as_bytes())).collect(),
        }
    }

    pub(crate) fn admits(&self, req: &RequestHeader) -> bool {
        let Some(value) = req.headers.get(self.header.as_str()) else {
            return false;
        };
        let mut presented = value.as_bytes();
        if self.bearer {
            match presented.get(..7) {
                Some(p) if p.eq_ignore_ascii_case(b"bearer ") => presented = &presented[7..],
                _ => return false,
            }
        }
        let d = sha256(presented);
        let mut ok = subtle::Choice::from(0);
        for k in &self.digests {
            ok |= k.ct_eq(&d);
        }
        ok.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::secret::Secret;

    fn req(header: &str, value: &str) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).expect("req");
        r.insert_header(header.to_string(), value).expect("hdr");
        r
    }

    #[test]
    fn ip_lists() {
        let gate = IpGate {
            allow: vec!["10.0.0.0/8".parse().expect("net")],
            deny: vec!["10.6.0.0/16".parse().expect("net")],
        };
        assert!(ip_allowed(&gate, "10.1.2.3".parse().ok()));
        assert!(ip_allowed(&gate, "::ffff:10.1.2.3".parse().ok()));
        assert!(!ip_allowed(&gate, "10.6.2.3".parse().ok()));
        assert!(!ip_allowed(&gate, "192.0.2.1".parse().ok()));
        assert!(!ip_allowed(&gate, None));
    }

    #[test]
    fn api_keys_and_bearer() {
        let keys = ApiKeys::new(&ApiKeyGate {
            header: "x-api-key".into(),
            bearer: false,
            keys: vec![Secret("k1".into()), Secret("k2".into())],
            forward_credentials: false,
        });
        assert!(keys.admits(&req("x-api-key", "k2")));
        assert!(!keys.admits(&req("x-api-key", "k3")));
        assert!(!keys.admits(&req("x-other", "k1")));
        let bearer = ApiKeys::new(&ApiKeyGate {
            header: "authorization".into(),
            bearer: true,
            keys: vec![Secret("k1".into())],
            forward_credentials: false,
        });
        assert!(bearer.admits(&req("authorization", "Bearer k1")));
        assert!(!bearer.admits(&req("authorization", "k1")));
    }
}
