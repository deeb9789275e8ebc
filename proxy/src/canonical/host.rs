//! The request's host: parsed, not guessed. `reg-name`, IPv4 or `[IPv6]`, with an optional
//! port 1–65535; lower-cased, one trailing dot removed. Everything else is refused, so that
//! routing, the redirect's Location, the CORS/CSRF own origin and `X-Forwarded-Host` are
//! all built from the same validated value.

use std::net::Ipv6Addr;

/// A validated host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Lower-case, without port or trailing dot; an IPv6 literal keeps its brackets.
    pub name: String,
    /// The port, when one was given.
    pub port: Option<u16>,
}

impl Host {
    /// `name` or `name:port`, as the upstream's `X-Forwarded-Host`.
    pub fn with_port(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.name),
            None => self.name.clone(),
        }
    }
}

impl Host {
    /// Whether `raw` (the Host header it was parsed from) already spells it canonically, so
    /// that it need not be rewritten: lower-case, no trailing dot, no leading zeros in the port.
    pub fn spelled_as(&self, raw: &[u8]) -> bool {
        let Some(rest) = raw.strip_prefix(self.name.as_bytes()) else {
            return false;
        };
        match (rest, self.port) {
            ([], None) => true,
            ([b':', digits @ ..], Some(_)) => digits.first().is_some_and(|&d| d != b'0'),
            _ => false,
        }
    }
}

/// Longest host name accepted (DNS allows 253 characters; a little room for a trailing dot).
const MAX_NAME: usize = 255;

/// Parse a `Host` header value or an absolute-form authority (without userinfo).
pub fn parse_host(raw: &[u8]) -> Result<Host, &'static str> {
    if raw.is_empty() {
        return Err("the Host header is empty");
    }
    let (name, port) = if raw[0] == b'[' {
        let end = raw
            .iter()
            .position(|&b| b == b']')
            .ok_or("an IPv6 host is missing its `]`")?;
        let inner = std::str::from_utf8(&raw[1..end]).map_err(|_| "the host is not ASCII")?;
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| "the host is not a valid IPv6 address")?;
        let port = match &raw[end + 1..] {
            [] => None,
            [b':', digits @ ..] => Some(port(digits)?),
            _ => return Err("unexpected characters after the IPv6 host"),
        };
        (format!("[{ip}]"), port)
    } else {
        let (name, port) = match raw.iter().position(|&b| b == b':') {
            Some(i) => (&raw[..i], Some(port(&raw[i + 1..])?)),
            None => (raw, None),
        };
        let name = name.strip_suffix(b".").unwrap_or(name);
        if name.is_empty() || name.len() > MAX_NAME {
            return Err("the host name is empty or too long");
        }
        if !name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err("the host has characters a host name cannot have");
        }
        if name.starts_with(b".") || name.ends_with(b".") || name.windows(2).any(|w| w == b"..") {
            return Err("the host has an empty label");
        }
        // Only ASCII was let through above.
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        (name, port)
    };
    Ok(Host { name, port })
}

fn port(digits: &[u8]) -> Result<u16, &'static str> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return Err("the host's port is not a number from 1 to 65535");
    }
    let n = digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err("the host's port is not a number from 1 to 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> (String, Option<u16>) {
        let h = parse_host(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw}: {e}"));
        (h.name, h.port)
    }

    #[test]
    fn valid_hosts() {
        assert_eq!(ok("Example.COM"), ("example.com".into(), None));
        assert_eq!(ok("example.com.:8443"), ("example.com".into(), Some(8443)));
        assert_eq!(ok("127.0.0.1:80"), ("127.0.0.1".into(), Some(80)));
        assert_eq!(ok("[::1]:9"), ("[::1]".into(), Some(9)));
        assert_eq!(ok("[2001:DB8::1]"), ("[2001:db8::1]".into(), None));
        assert_eq!(ok("my_host.internal"), ("my_host.internal".into(), None));
        assert_eq!(ok("a:65535").1, Some(65535));
    }

    #[test]
    fn canonical_spellings() {
        for (raw, same) in [
            ("a.test", true),
            ("a.test:80", true),
            ("A.test", false),
            ("a.test.", false),
            ("a.test:080", false),
            ("[::1]:8", true),
            ("[0::1]", false),
        ] {
            let h = parse_host(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(h.spelled_as(raw.as_bytes()), same, "{raw}");
        }
    }

    #[test]
    fn invalid_hosts() {
        for raw in [
            "",
            "a, b",
            "a b",
            "a.test:1:1",
            "a.test:",
            "a.test:0",
            "a.test:65536",
            "a.test:123456",
            "a.test:8o",
            "a/b",
            "a\\b",
            "a@b",
            "..",
            "a..b",
            "a..",
            "sJ..:80",
            ".a",
            "[::1",
            "[::1]x",
            "[::1]:",
            "[zz]",
            "a\0b",
            "exa%6dple.com",
            "é.com",
            ".",
        ] {
            assert!(parse_host(raw.as_bytes()).is_err(), "{raw:?} accepted");
        }
        assert!(parse_host(&[b'a'; 300]).is_err());
    }
}
