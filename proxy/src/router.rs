//! Route matching: host (exact, then the most specific `*.` wildcard, then routes for any host),
//! then the longest path prefix on a segment boundary. Built once per config.

use gatehouse_config::{HostPattern, Route};
use std::collections::HashMap;

/// Routes indexed for matching. Values are indexes into the config's route list.
#[derive(Debug, Default)]
pub(crate) struct Router {
    exact: HashMap<String, Vec<usize>>,
    /// (suffix such as `.example.com`, routes), longest suffix first.
    wildcard: Vec<(String, Vec<usize>)>,
    any_host: Vec<usize>,
    prefixes: Vec<String>,
}

impl Router {
    pub(crate) fn new(routes: &[Route]) -> Self {
        let mut r = Router {
            prefixes: routes.iter().map(|x| x.path_prefix.clone()).collect(),
            ..Router::default()
        };
        let mut wildcard: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, route) in routes.iter().enumerate() {
            if route.hosts.is_empty() {
                r.any_host.push(i);
            }
            for h in &route.hosts {
                match h {
                    HostPattern::Exact(h) => r.exact.entry(h.clone()).or_default().push(i),
                    HostPattern::Wildcard(s) => wildcard.entry(s.clone()).or_default().push(i),
                }
            }
        }
        r.wildcard = wildcard.into_iter().collect();
        r.wildcard
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        let prefixes = r.prefixes.clone();
        let by_prefix_len =
            |v: &mut Vec<usize>| v.sort_by_key(|i| std::cmp::Reverse(prefixes[*i].len()));
        r.exact.values_mut().for_each(by_prefix_len);
        r.wildcard.iter_mut().for_each(|(_, v)| by_prefix_len(v));
        by_prefix_len(&mut r.any_host);
        r
    }

    /// The route for `host` (lower-case, no port) and `path`.
    pub(crate) fn find(&self, host: &str, path: &str) -> Option<usize> {
        if let Some(found) = self
            .exact
            .get(host)
            .and_then(|c| self.first_prefix(c, path))
        {
            return Some(found);
        }
        for (suffix, candidates) in &self.wildcard {
            if host.len() > suffix.len() && host.ends_with(suffix.as_str()) {
                if let Some(found) = self.first_prefix(candidates, path) {
                    return Some(found);
                }
            }
        }
        self.first_prefix(&self.any_host, path)
    }

    fn first_prefix(&self, candidates: &[usize], path: &str) -> Option<usize> {
        candidates
            .iter()
            .copied()
            .find(|i| prefix_matches(&self.prefixes[*i], path))
    }
}

/// `/api` matches `/api`, `/api/x` and `/api?q` but not `/apix`; `/api/` matches what starts
/// with it.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with(['/', '?']),
    }
}

/// The request's host, lower-cased, without port. Borrowed when already lower-case.
pub(crate) fn normalize_host(raw: &str) -> std::borrow::Cow<'_, str> {
    let host = if raw.starts_with('[') {
        // IPv6 literal: keep the brackets, drop the port.
        raw.find(']').map_or(raw, |end| &raw[..=end])
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                raw
            }
        })
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(host.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::Config;

    fn router() -> (Router, Vec<String>) {
        let c = Config::from_yaml_with_env(
            r#"
listeners: [{ name: http, address: "127.0.0.1:1" }]
upstreams: { u: { backends: [{ address: "127.0.0.1:2" }] } }
routes:
  - { name: any-root, upstream: u }
  - { name: any-api, upstream: u, path_prefix: /api }
  - { name: exact, upstream: u, hosts: [app.example.com] }
  - { name: exact-admin, upstream: u, hosts: [app.example.com], path_prefix: /admin/ }
  - { name: wild, upstream: u, hosts: ["*.example.com"] }
  - { name: wild-deep, upstream: u, hosts: ["*.eu.example.com"], path_prefix: /v2 }
"#,
            &|_| None,
        )
        .expect("valid");
        (
            Router::new(&c.routes),
            c.routes.iter().map(|r| r.name.clone()).collect(),
        )
    }

    #[test]
    fn host_then_longest_prefix() {
        let (r, names) = router();
        let find = |h: &str, p: &str| r.find(h, p).map(|i| names[i].as_str());
        assert_eq!(find("app.example.com", "/"), Some("exact"));
        assert_eq!(find("app.example.com", "/admin/users"), Some("exact-admin"));
        assert_eq!(find("app.example.com", "/admin"), Some("exact"));
        assert_eq!(find("x.example.com", "/api"), Some("wild"));
        assert_eq!(find("a.b.example.com", "/"), Some("wild"));
        assert_eq!(find("x.eu.example.com", "/v2/x"), Some("wild-deep"));
        // the deeper wildcard has no match for this path: falls to the wider one
        assert_eq!(find("x.eu.example.com", "/v3"), Some("wild"));
        assert_eq!(find("example.com", "/api/x"), Some("any-api"));
        assert_eq!(find("other.org", "/apix"), Some("any-root"));
        assert_eq!(find("other.org", "/api?q=1"), Some("any-api"));
    }

    #[test]
    fn no_catch_all_means_no_route() {
        let c = Config::from_yaml_with_env(
            "listeners: [{ name: h, address: \"127.0.0.1:1\" }]\nupstreams: { u: { backends: [{ address: \"127.0.0.1:2\" }] } }\nroutes: [{ name: a, upstream: u, hosts: [a.com], path_prefix: /x }]\n",
            &|_| None,
        )
        .expect("valid");
        let r = Router::new(&c.routes);
        assert_eq!(r.find("a.com", "/x/1"), Some(0));
        assert_eq!(r.find("a.com", "/y"), None);
        assert_eq!(r.find("b.com", "/x"), None);
    }

    #[test]
    fn hosts_are_normalized() {
        assert_eq!(normalize_host("App.Example.COM:8080"), "app.example.com");
        assert_eq!(normalize_host("example.com."), "example.com");
        assert_eq!(normalize_host("[::1]:80"), "[::1]");
        assert!(matches!(
            normalize_host("a.com"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
