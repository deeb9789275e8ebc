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
}
