//! Route matching: host (exact, then the most specific `*.` wildcard, then routes for any host),
//! then the longest path prefix on a segment boundary. Built once per config. Paths arrive
//! canonical (see `crate::canonical`); matching ignores each segment's `;parameters`, as
//! Tomcat and Spring do, so `/admin;x/y` is judged as `/admin/y`.

use gatehouse_config::routes::{HostPattern, Route};
use std::collections::HashMap;

/// Routes indexed for matching. Values are indexes into the config's route list.
#[derive(Debug, Default)]
pub(crate) struct Router {
    exact: HashMap<String, Vec<usize>>,
    /// (suffix such as `.example.com`, routes), longest suffix first.
    wildcard: Vec<(String, Vec<usize>)>,
    any_host: Vec<usize>,
    /// Each route's prefix and whether it matches ASCII-case-insensitively.
    prefixes: Vec<(String, bool)>,
}

impl Router {
    pub(crate) fn new(routes: &[Route]) -> Self {
        let mut r = Router {
            prefixes: routes
                .iter()
                .map(|x| (x.path_prefix.clone(), x.case_insensitive))
                .collect(),
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
            |v: &mut Vec<usize>| v.sort_by_key(|i| std::cmp::Reverse(prefixes[*i].0.len()));
        r.exact.values_mut().for_each(by_prefix_len);
        r.wildcard.iter_mut().for_each(|(_, v)| by_prefix_len(v));
        by_prefix_len(&mut r.any_host);
        r
    }

    /// The route for `host` (lower-case, no port) and `path` (canonical, without query).
    pub(crate) fn find(&self, host: &str, path: &str) -> Option<usize> {
        let path = route_path(path);
        let path = path.as_ref();
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
        candidates.iter().copied().find(|i| {
            let (prefix, ci) = &self.prefixes[*i];
            prefix_matches(prefix, path, *ci)
        })
    }
}

/// The path as routing sees it: each segment without its `;parameters` (also when the `;` is
/// encoded), and segments left
/// empty by that dropped (`/;/admin` is `/admin` to Tomcat, which merges the slashes it
/// leaves); borrowed when there are none.
pub(crate) fn route_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains(';') && !path.contains("%3B") {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut segs = path.strip_prefix('/').unwrap_or(path).split('/').peekable();
    while let Some(seg) = segs.next() {
        // `%3B` too: a backend that decodes before it strips parameters sees a `;` there.
        let end = [seg.find(';'), seg.find("%3B")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(seg.len());
        let seg = &seg[..end];
        if seg.is_empty() && segs.peek().is_some() {
            continue;
        }
        out.push('/');
        out.push_str(seg);
    }
    std::borrow::Cow::Owned(out)
}

/// `/api` matches `/api` and `/api/x` but not `/apix`; `/api/` matches what starts with it.
/// With `case_insensitive`, ASCII letters of the prefix match either case.
pub(crate) fn prefix_matches(prefix: &str, path: &str, case_insensitive: bool) -> bool {
    let Some(head) = path.get(..prefix.len()) else {
        return false;
    };
    let same = if case_insensitive {
        head.eq_ignore_ascii_case(prefix)
    } else {
        head == prefix
    };
    if !same {
        return false;
    }
    let rest = &path[prefix.len()..];
    prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/')
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
        assert_eq!(find("other.org", "/api;v=1/x"), Some("any-api"));
        assert_eq!(find("other.org", "/API"), Some("any-root"));
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
    fn case_insensitive_prefixes_and_matrix_parameters() {
        let c = Config::from_yaml_with_env(
            "listeners: [{ name: h, address: \"127.0.0.1:1\" }]\nupstreams: { u: { backends: [{ address: \"127.0.0.1:2\" }] } }\nroutes: [{ name: site, upstream: u }, { name: admin, upstream: u, path_prefix: /admin, case_insensitive: true }, { name: api, upstream: u, path_prefix: /api/ }]\n",
            &|_| None,
        )
        .expect("valid");
        let r = Router::new(&c.routes);
        for p in ["/admin", "/ADMIN/x", "/Admin;a=b/x", "/admin;x"] {
            assert_eq!(r.find("h", p), Some(1), "{p}");
        }
        assert_eq!(r.find("h", "/adminx"), Some(0));
        assert_eq!(r.find("h", "/api;v=1/x"), Some(2));
        assert_eq!(r.find("h", "/;/admin/x"), Some(1));
        assert_eq!(route_path("/a;x/;/b;y/"), "/a/b/");
        assert_eq!(route_path("/;"), "/");
        assert_eq!(r.find("h", "/admin%3Bx/y"), Some(1));
        assert_eq!(r.find("h", "/API/x"), Some(0));
        assert!(prefix_matches("/a", "/a", false) && !prefix_matches("/ab", "/a", true));
    }
}
