//! Web origins (`scheme://host[:port]`) and the patterns CORS and CSRF rules allow, parsed once
//! here (the proxy parses a request's `Origin` with the same parser, so both agree); the
//! request-time matching is the proxy's (`proxy/src/policy/origin.rs`).
//!
//! Matching is on parsed parts, never on string prefixes or suffixes, so `https://evil-example.com`,
//! `https://example.com.evil.com` and `http://app.example.com` do not pass for
//! `https://*.example.com` or `https://app.example.com`.

use std::fmt;

/// A parsed origin as browsers send it in `Origin`: lower-case scheme and host, explicit port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-case host name or IP literal (IPv6 with brackets).
    pub host: String,
    /// The port, with the scheme's default filled in.
    pub port: u16,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl Origin {
    /// Parse `scheme://host[:port]`. Anything with a path, user info, query, an unknown scheme
    /// or an invalid host (including the literal `null`) is `None`.
    pub fn parse(text: &str) -> Option<Origin> {
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default = default_port(&scheme)?;
        if rest.contains(['/', '?', '#', '@', ' ']) || rest.is_empty() {
            return None;
        }
        let (host, port) = split_port(rest)?;
        let host = host.to_ascii_lowercase();
        if !valid_host(&host) {
            return None;
        }
        Some(Origin {
            scheme,
            host,
            port: port.unwrap_or(default),
        })
    }

    /// The origin of a URL such as a `Referer` (`scheme://host[:port]/...`).
    pub fn of_url(url: &str) -> Option<Origin> {
        let (scheme, rest) = url.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        Origin::parse(&format!("{scheme}://{}", &rest[..end]))
    }
}

/// `host[:port]` → host and the port when one is written.
fn split_port(s: &str) -> Option<(&str, Option<u16>)> {
    if s.starts_with('[') {
        let end = s.find(']')?;
        let (host, rest) = s.split_at(end + 1);
        return match rest.strip_prefix(':') {
            Some(p) => Some((host, Some(p.parse().ok()?))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((s, None)),
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if default_port(&self.scheme) == Some(self.port) {
            write!(f, "{}://{}", self.scheme, self.host)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// How to write an origin pattern, for the errors below.
const HINT: &str = "write `https://app.example.com`, `https://*.example.com` or `*` (scheme and host, optional port, no path)";

/// An origin pattern that could not be read, with what was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// `scheme://*.` followed by something that is not a host.
    #[error("`{0}` is not an origin pattern; {HINT}")]
    NotPattern(String),
    /// `https://*.com` would admit every site under a top-level domain.
    #[error("`{0}` covers a whole top-level domain; name the site, e.g. `https://*.example.com`")]
    WholeTopLevelDomain(String),
    /// Not `*`, an origin or a subdomain pattern.
    #[error("`{0}` is not an origin; {HINT}")]
    NotOrigin(String),
}

/// An allowed origin in a CORS or CSRF rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// `*`: any origin (CORS without credentials only).
    Any,
    /// One origin.
    Exact(Origin),
    /// `https://*.example.com`: one or more labels before `.example.com`, same scheme and port.
    Subdomains {
        /// Scheme.
        scheme: String,
        /// `.example.com`, lower-case with the leading dot.
        suffix: String,
        /// Port (the scheme's default unless written).
        port: u16,
    },
}

impl OriginPattern {
    /// Parse `*`, `https://app.example.com[:port]` or `https://*.example.com[:port]`.
    pub fn parse(text: &str) -> Result<OriginPattern, OriginError> {
        let t = text.trim();
        if t == "*" {
            return Ok(OriginPattern::Any);
        }
        if let Some((scheme, rest)) = t.split_once("://*.") {
            let o = Origin::parse(&format!("{scheme}://{rest}"))
                .ok_or_else(|| OriginError::NotPattern(t.to_string()))?;
            if !o.host.contains('.') && !o.host.starts_with('[') {
                // `https://*.com` would admit every .com site.
                return Err(OriginError::WholeTopLevelDomain(t.to_string()));
            }
            return Ok(OriginPattern::Subdomains {
                scheme: o.scheme,
                suffix: format!(".{}", o.host),
                port: o.port,
            });
        }
        Origin::parse(t)
            .map(OriginPattern::Exact)
            .ok_or_else(|| OriginError::NotOrigin(t.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_reject_nonsense() {
        assert!(OriginPattern::parse("example.com").is_err());
        assert!(OriginPattern::parse("https://example.com/path").is_err());
        assert!(OriginPattern::parse("https://*.com").is_err());
        assert!(OriginPattern::parse("ftp://example.com").is_err());
        assert_eq!(
            OriginPattern::parse("http://localhost:3000"),
            Ok(OriginPattern::Exact(Origin {
                scheme: "http".into(),
                host: "localhost".into(),
                port: 3000
            }))
        );
        assert_eq!(
            Origin::of_url("https://a.example.com:8443/login?x=1").map(|o| o.to_string()),
            Some("https://a.example.com:8443".into())
        );
        assert!(Origin::parse("http://[::1]:8080").is_some());
    }
}
