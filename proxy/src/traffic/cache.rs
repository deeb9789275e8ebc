//! What an upstream's cache says about a response, from the standard headers: `Cache-Status`
//! (RFC 9211), `CF-Cache-Status`, `X-Cache` (Varnish, Fastly, Squid, CloudFront) and, failing
//! those, `Age`.

use http::HeaderMap;

/// The verdict for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheResult {
    /// A cache served it.
    Hit,
    /// A cache looked and had to ask the origin.
    Miss,
    /// A cache let it through without looking (not cacheable).
    Bypass,
}

impl CacheResult {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::Miss => "miss",
            CacheResult::Bypass => "bypass",
        }
    }
}

/// The cache verdict of a response, or `None` when no header says anything.
pub(crate) fn classify(headers: &HeaderMap) -> Option<CacheResult> {
    // Most responses carry none of these: one pass over the names says so, where each lookup
    // below parses and hashes its name (~1,300 instructions for the four).
    let any = headers.keys().any(|k| {
        k == http::header::AGE
            || matches!(k.as_str(), "cache-status" | "cf-cache-status" | "x-cache")
    });
    if !any {
        return None;
    }
    let all = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
    };
    let status = all("cache-status");
    if !status.is_empty() {
        return cache_status(&status);
    }
    if let Some(v) = headers.get("cf-cache-status").and_then(|v| v.to_str().ok()) {
        return match v.trim().to_ascii_uppercase().as_str() {
            "HIT" | "STALE" | "UPDATING" | "REVALIDATED" => Some(CacheResult::Hit),
            "MISS" | "EXPIRED" => Some(CacheResult::Miss),
            "BYPASS" | "DYNAMIC" => Some(CacheResult::Bypass),
            _ => None,
        };
    }
    let x_cache = all("x-cache");
    if !x_cache.is_empty() {
        // A chain (`MISS, HIT`) was served by a cache if any of them hit.
        let joined = x_cache.join(",").to_ascii_uppercase();
        return if joined.contains("HIT") {
            Some(CacheResult::Hit)
        } else if joined.contains("MISS") {
            Some(CacheResult::Miss)
        } else {
            None
        };
    }
    let age = headers.get(http::header::AGE)?.to_str().ok()?;
    (age.trim().parse::<u64>().ok()? > 0).then_some(CacheResult::Hit)
}

/// RFC 9211: a list of caches, each `name; hit` or `name; fwd=REASON`, the origin's side
/// first. A hit anywhere means a cache served the response; otherwise a `fwd` other than
/// `bypass` is a miss.
fn cache_status(lines: &[&str]) -> Option<CacheResult> {
    let mut verdict = None;
    for member in lines.iter().flat_map(|l| l.split(',')) {
        for param in member.split(';').skip(1) {
            let (key, value) = match param.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim().trim_matches('"')),
                None => (param.trim(), ""),
            };
            match key.to_ascii_lowercase().as_str() {
                "hit" if value.is_empty() || value == "?1" => return Some(CacheResult::Hit),
                "fwd" if value.eq_ignore_ascii_case("bypass") => {
                    verdict.get_or_insert(CacheResult::Bypass);
                }
                "fwd" => verdict = Some(CacheResult::Miss),
                _ => {}
            }
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(pairs: &[(&'static str, &'static str)]) -> Option<CacheResult> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        classify(&h)
    }

    #[test]
    fn rfc_9211_cache_status() {
        use CacheResult::*;
        assert_eq!(of(&[("cache-status", "ExampleCache; hit")]), Some(Hit));
        assert_eq!(
            of(&[("cache-status", "ExampleCache; hit; ttl=30")]),
            Some(Hit)
        );
        assert_eq!(
            of(&[("cache-status", "Origin; fwd=uri-miss, CDN; hit")]),
            Some(Hit)
        );
        assert_eq!(
            of(&[("cache-status", "ExampleCache; fwd=uri-miss; stored")]),
            Some(Miss)
        );
        assert_eq!(
            of(&[("cache-status", "ExampleCache; fwd=stale")]),
            Some(Miss)
        );
        assert_eq!(
            of(&[("cache-status", "ExampleCache; fwd=bypass")]),
            Some(Bypass)
        );
        assert_eq!(
            of(&[
                ("cache-status", "A; fwd=bypass"),
                ("cache-status", "B; fwd=miss")
            ]),
            Some(Miss)
        );
        assert_eq!(of(&[("cache-status", "ExampleCache; detail=x")]), None);
        // Cache-Status wins over the others.
        assert_eq!(
            of(&[("cache-status", "C; fwd=miss"), ("x-cache", "HIT")]),
            Some(Miss)
        );
    }

    #[test]
    fn vendor_headers_and_age() {
        use CacheResult::*;
        assert_eq!(of(&[("x-cache", "HIT")]), Some(Hit));
        assert_eq!(of(&[("x-cache", "Hit from cloudfront")]), Some(Hit));
        assert_eq!(of(&[("x-cache", "MISS, HIT")]), Some(Hit));
        assert_eq!(of(&[("x-cache", "MISS from squid")]), Some(Miss));
        assert_eq!(of(&[("x-cache", "whatever")]), None);
        assert_eq!(of(&[("cf-cache-status", "HIT")]), Some(Hit));
        assert_eq!(of(&[("cf-cache-status", "expired")]), Some(Miss));
        assert_eq!(of(&[("cf-cache-status", "DYNAMIC")]), Some(Bypass));
        assert_eq!(of(&[("age", "120")]), Some(Hit));
        assert_eq!(of(&[("age", "0")]), None);
        assert_eq!(of(&[("age", "soon")]), None);
        assert_eq!(of(&[]), None);
    }
}
