//! `routes`: host and path matching, timeouts and limits per route.

use super::raw::*;
use super::*;
use crate::compiler::{Compiler, NamedList};
use crate::defaults;
use crate::units::parse_size;
use crate::upstreams::Upstream;
use serde_yaml::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

impl Compiler {
    pub(crate) fn routes(
        &mut self,
        value: Option<Value>,
        upstreams: &BTreeMap<String, Upstream>,
        policies: &crate::policy::compile::NamedPolicies,
        redis: bool,
    ) -> Vec<Route> {
        let items = self.list(value, "routes");
        if items.is_empty() && !self.errors.iter().any(|e| e.path.starts_with("routes")) {
            self.err("routes", "at least one route is needed");
        }
        let mut names = NamedList::new("routes", "route name");
        let mut seen: HashMap<(Vec<HostPattern>, String), String> = HashMap::new();
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let Some((path, raw)) = names.item::<RawRoute>(self, i, item) else {
                continue;
            };
            if !upstreams.contains_key(&raw.upstream)
                && !self.defined_upstreams.contains(&raw.upstream)
            {
                let known: Vec<&str> = upstreams.keys().map(String::as_str).collect();
                self.err(
                    format!("{path}.upstream"),
                    format!(
                        "unknown upstream `{}`; defined upstreams: {}",
                        raw.upstream,
                        if known.is_empty() {
                            "(none)".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
            let mut hosts = Vec::new();
            for (h, host) in raw.hosts.iter().enumerate() {
                match parse_host(host) {
                    Ok(p) => hosts.push(p),
                    Err(e) => self.err(format!("{path}.hosts[{h}]"), e),
                }
            }
            hosts.sort();
            hosts.dedup();
            let prefix = raw.path_prefix.unwrap_or_else(|| "/".into());
            if let Err(e) = check_prefix(&prefix) {
                self.err(format!("{path}.path_prefix"), e);
            }
            if let Some(other) = seen.insert((hosts.clone(), prefix.clone()), raw.name.clone()) {
                self.err(path.clone(), format!("route `{}` matches the same hosts and path_prefix `{prefix}` as route `{other}`", raw.name));
            }
            let t = raw.timeouts.unwrap_or_default();
            let timeouts = Timeouts {
                connect: self.duration(
                    t.connect.as_deref(),
                    format!("{path}.timeouts.connect"),
                    defaults::CONNECT_TIMEOUT,
                ),
                read: self.duration(
                    t.read.as_deref(),
                    format!("{path}.timeouts.read"),
                    defaults::READ_TIMEOUT,
                ),
                total: t.total.as_deref().map(|v| {
                    self.duration(Some(v), format!("{path}.timeouts.total"), Duration::ZERO)
                }),
            };
            let max_body_size = match raw.max_body_size.as_deref() {
                None => defaults::MAX_BODY_SIZE,
                Some(v) => parse_size(v).unwrap_or_else(|e| {
                    self.err(format!("{path}.max_body_size"), e);
                    0
                }),
            };
            let policy = self.route_policy(&raw.policies, raw.policy, &path, policies, redis);
            out.push(Route {
                name: raw.name,
                hosts,
                path_prefix: prefix,
                upstream: raw.upstream,
                timeouts,
                retries: raw.retries.unwrap_or(defaults::RETRIES),
                max_body_size,
                redirect_https: raw.redirect_https.unwrap_or(true),
                allow_encoded_slashes: raw.allow_encoded_slashes.unwrap_or(false),
                refuse_matrix_params: raw.refuse_matrix_params.unwrap_or(false),
                case_insensitive: raw.case_insensitive.unwrap_or(false),
                policy,
            });
        }
        out
    }
}

/// A path prefix is matched against canonical paths, so it must be canonical itself: starting
/// with `/`, without empty or dot segments, `;`, `?`, `#`, `\`, spaces or control characters;
/// an encoded `/` (`%2F`, upper-case) is the only percent-encoding it may hold.
fn check_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') {
        return Err(format!("`{prefix}` must start with `/`"));
    }
    let body = prefix[1..].strip_suffix('/').unwrap_or(&prefix[1..]);
    if !body.is_empty()
        && body
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!(
            "`{prefix}` has an empty, `.` or `..` segment; write the path as clients reach it after normalization"
        ));
    }
    if let Some(c) = prefix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~!$&'()*+,=:@/%".contains(*c)))
    {
        return Err(format!(
            "`{prefix}` contains `{}`, which a path prefix cannot hold",
            c.escape_default()
        ));
    }
    let rest = prefix.replace("%2F", "");
    if rest.contains('%') {
        return Err(format!(
            "`{prefix}` has a percent-encoding; write the characters themselves (only an encoded slash, `%2F`, stays encoded)"
        ));
    }
    Ok(())
}

/// Parse a route host: `example.com` or `*.example.com`, case-insensitive, no port.
pub(crate) fn parse_host(host: &str) -> Result<HostPattern, String> {
    let h = host.trim().to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if let Some(rest) = h.strip_prefix("*.") {
        if rest.split('.').all(valid_label) {
            return Ok(HostPattern::Wildcard(format!(".{rest}")));
        }
    } else if h.split('.').all(valid_label) {
        return Ok(HostPattern::Exact(h));
    }
    Err(format!(
        "`{host}` is not a host name; write `example.com` or `*.example.com` (no scheme, port or path)"
    ))
}
