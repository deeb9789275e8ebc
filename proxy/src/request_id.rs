//! X-Request-Id: kept when the client sent a sane one, generated otherwise.

/// Header name.
pub(crate) const HEADER: &str = "x-request-id";

/// The client's id if it is 1..=128 visible characters from a safe set, else a new UUID.
pub(crate) fn from_client(value: Option<&[u8]>) -> String {
    match value {
        Some(v) if is_valid(v) => String::from_utf8_lossy(v).into_owned(),
        _ => uuid::Uuid::new_v4().simple().to_string(),
    }
}

/// The id as a response header value, marked for HTTP/2 as a literal never indexed
/// (RFC 7541 section 7.1.3): a value unique to one response would otherwise be inserted into
/// the connection's HPACK table, evicting the entries the next responses reuse (the security
/// headers). HTTP/1 ignores the mark.
pub(crate) fn response_value(id: &str) -> Option<http::HeaderValue> {
    let mut v = http::HeaderValue::from_str(id).ok()?;
    v.set_sensitive(true);
    Some(v)
}

fn is_valid(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_valid_and_replaces_invalid() {
        assert_eq!(from_client(Some(b"abc-123")), "abc-123");
        let generated = from_client(Some(b"bad id\n"));
        assert_eq!(generated.len(), 32);
        assert_ne!(from_client(None), from_client(None));
        assert_eq!(from_client(Some(&[b'a'; 129])).len(), 32);
    }

    #[test]
    fn the_response_value_stays_out_of_the_hpack_table() {
        let v = response_value("abc-123").expect("valid");
        assert_eq!(v, "abc-123");
        assert!(v.is_sensitive());
        assert!(response_value("bad\nid").is_none());
    }
}
