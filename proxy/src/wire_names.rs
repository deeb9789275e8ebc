//! Header names the request path adds to every request or response, parsed once, each with
//! the spelling it has on the wire. Pingora's `insert_header` given a plain name parses it
//! again and copies its spelling on every call; given one of these (through the vendored
//! pingora-http's `into_names`), it does neither.

use http::HeaderName;
use pingora::http::{CaseHeaderName, IntoCaseHeaderName};

/// A header name and its wire spelling.
pub(crate) type Name = (HeaderName, CaseHeaderName);

/// `lower` (a valid lower-case name, checked at compile time) spelled as it is.
const fn name(lower: &'static str) -> Name {
    (
        HeaderName::from_static(lower),
        CaseHeaderName::from_static(lower),
    )
}

/// The pair for a name known only at run time (from the config), spelled as Pingora would.
pub(crate) fn pair(name: &HeaderName) -> Name {
    (name.clone(), name.into_case_header_name())
}

pub(crate) const X_FORWARDED_FOR: Name = name("x-forwarded-for");
pub(crate) const X_REAL_IP: Name = name("x-real-ip");
pub(crate) const X_FORWARDED_PROTO: Name = name("x-forwarded-proto");
pub(crate) const X_FORWARDED_HOST: Name = name("x-forwarded-host");
pub(crate) const X_FORWARDED_PORT: Name = name("x-forwarded-port");
pub(crate) const X_REQUEST_ID: Name = name(crate::request_id::HEADER);
pub(crate) const RATELIMIT_POLICY: Name = name("ratelimit-policy");
pub(crate) const RATELIMIT: Name = name("ratelimit");
pub(crate) const ACCESS_CONTROL_ALLOW_ORIGIN: Name = name("access-control-allow-origin");
pub(crate) const ACCESS_CONTROL_ALLOW_CREDENTIALS: Name = name("access-control-allow-credentials");
pub(crate) const ACCESS_CONTROL_EXPOSE_HEADERS: Name = name("access-control-expose-headers");
pub(crate) const VARY: Name = name("vary");
pub(crate) const STRICT_TRANSPORT_SECURITY: Name = name("strict-transport-security");

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::http::ResponseHeader;

    #[test]
    fn a_prepared_name_is_written_like_a_plain_one() {
        let mut a = ResponseHeader::build(200, Some(1)).expect("resp");
        let mut b = ResponseHeader::build(200, Some(1)).expect("resp");
        a.reserve(4);
        a.insert_header(X_FORWARDED_FOR, "1").expect("insert");
        a.insert_header(pair(&http::header::SERVER), "s")
            .expect("insert");
        a.insert_header(X_FORWARDED_FOR, "2").expect("insert");
        b.insert_header("x-forwarded-for", "1").expect("insert");
        b.insert_header(http::header::SERVER, "s").expect("insert");
        b.insert_header("x-forwarded-for", "2").expect("insert");
        let (mut wa, mut wb) = (Vec::new(), Vec::new());
        a.header_to_h1_wire(&mut wa);
        b.header_to_h1_wire(&mut wb);
        assert_eq!(String::from_utf8_lossy(&wa), String::from_utf8_lossy(&wb));
        assert_eq!(wa, b"x-forwarded-for: 2\r\nServer: s\r\n");
    }
}
