//! Whether a request's `Origin` is one a CORS or CSRF rule allows. Matching is on parsed parts,
//! never on string prefixes or suffixes, so `https://evil-example.com`,
//! `https://example.com.evil.com` and `http://app.example.com` do not pass for
//! `https://*.example.com` or `https://app.example.com`. The patterns are parsed and checked by
//! the config (`gatehouse_config::policy::origin`).

use gatehouse_config::policy::origin::{Origin, OriginPattern};

/// The request-time side of an [`OriginPattern`].
pub(crate) trait OriginMatch {
    /// Whether `origin` is allowed by this pattern.
    fn matches(&self, origin: &Origin) -> bool;
}

impl OriginMatch for OriginPattern {
    /// Whether `origin` is allowed by this pattern.
    fn matches(&self, origin: &Origin) -> bool {
        match self {
            OriginPattern::Any => true,
            OriginPattern::Exact(o) => o == origin,
            OriginPattern::Subdomains {
                scheme,
                suffix,
                port,
            } => {
                *scheme == origin.scheme
                    && *port == origin.port
                    && origin.host.len() > suffix.len()
                    && origin.host.ends_with(suffix.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn allowed(patterns: &[&str], origin: &str) -> bool {
        let ps: Vec<OriginPattern> = patterns
            .iter()
            .map(|p| OriginPattern::parse(p).expect("pattern"))
            .collect();
        Origin::parse(origin).is_some_and(|o| ps.iter().any(|p| p.matches(&o)))
    }

    #[test]
    fn look_alikes_are_refused() {
        let ps = ["https://app.example.com", "https://*.example.com"];
        for ok in [
            "https://app.example.com",
            "https://a.example.com",
            "https://a.b.example.com",
            "https://app.example.com:443",
            "HTTPS://App.Example.com",
        ] {
            assert!(allowed(&ps, ok), "{ok} should be allowed");
        }
        for bad in [
            "null",
            "https://evil-example.com",
            "https://example.com.evil.com",
            "http://app.example.com",
            "https://app.example.com.evil.com",
            "https://example.com",
            "https://app.example.com:8443",
            "https://xexample.com",
            "https://.example.com",
            "https://app.example.com/",
            "https://user@app.example.com",
            "",
        ] {
            assert!(!allowed(&ps, bad), "{bad} should be refused");
        }
    }

    proptest! {
        // Whatever is put around the allowed site, only a true subdomain with the same scheme
        // and port passes.
        #[test]
        fn subdomain_pattern_admits_only_subdomains(
            label in "[a-z0-9-]{1,12}",
            prefix in "[a-z0-9.-]{0,12}",
            suffix in "[a-z0-9.-]{0,12}",
            scheme in prop::sample::select(vec!["http", "https"]),
            port in prop::option::of(1u16..),
        ) {
            let p = OriginPattern::parse("https://*.example.com").expect("pattern");
            let host = format!("{prefix}{label}.example.com{suffix}");
            let text = match port {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            };
            if let Some(o) = Origin::parse(&text) {
                let expected = o.scheme == "https"
                    && o.port == 443
                    && o.host.ends_with(".example.com")
                    && o.host.len() > ".example.com".len();
                prop_assert_eq!(p.matches(&o), expected, "{}", text);
            }
        }

        // An exact pattern admits exactly the origin it names (modulo case and default port).
        #[test]
        fn exact_pattern_admits_only_itself(host in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}", other in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}") {
            let p = OriginPattern::parse(&format!("https://{host}")).expect("pattern");
            let o = Origin::parse(&format!("https://{other}")).expect("origin");
            prop_assert_eq!(p.matches(&o), host == other);
        }
    }
}
