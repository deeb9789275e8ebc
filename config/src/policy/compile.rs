//! `policies`, `trusted_proxies`, `redis`, and how a route's policy is put together from the
//! named policies it attaches and its own `policy:` block.

use super::origin::OriginPattern;
use super::raw::*;
use super::*;
use crate::compiler::{check_name, Compiler};
use crate::headers::compile::{over, valid_token, HeaderParts};
use crate::units::parse_rate;
use ipnet::IpNet;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Longest period a rate limit or lockout may span.
const LONGEST: Duration = Duration::from_secs(366 * 24 * 3600);

/// One policy as compiled from its own block; merged into routes later.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyParts {
    headers: HeaderParts,
    cors: Option<Cors>,
    csrf: Option<Csrf>,
    rate_limits: Vec<RateLimitRule>,
    lockouts: Vec<LockoutRule>,
    /// Field by field, so that a route adding a `deny` keeps an inherited `allow`.
    ip_allow: Option<Vec<IpNet>>,
    ip_deny: Option<Vec<IpNet>>,
    api_key: Option<ApiKeyGate>,
    basic_auth: Option<BasicAuth>,
}

/// Named policies: the compiled ones, and every name written (so that a route attaching a
/// policy that failed to compile is not also told the name is unknown).
#[derive(Debug, Default)]
pub(crate) struct NamedPolicies {
    pub compiled: BTreeMap<String, PolicyParts>,
    pub defined: Vec<String>,
}

fn merge_by_name<T: Clone>(into: &mut Vec<T>, top: &[T], name: fn(&T) -> &str) {
    for rule in top {
        match into.iter_mut().find(|r| name(r) == name(rule)) {
            Some(slot) => *slot = rule.clone(),
            None => into.push(rule.clone()),
        }
    }
}

impl PolicyParts {
    fn overlay(&mut self, top: &PolicyParts) {
        self.headers.overlay(&top.headers);
        over(&mut self.cors, &top.cors);
        over(&mut self.csrf, &top.csrf);
        over(&mut self.ip_allow, &top.ip_allow);
        over(&mut self.ip_deny, &top.ip_deny);
        over(&mut self.api_key, &top.api_key);
        over(&mut self.basic_auth, &top.basic_auth);
        merge_by_name(&mut self.rate_limits, &top.rate_limits, |r| &r.name);
        merge_by_name(&mut self.lockouts, &top.lockouts, |r| &r.name);
    }

    fn finish(self, names: Vec<String>) -> EdgePolicy {
        EdgePolicy {
            names,
            headers: self.headers.finish(),
            cors: self.cors,
            csrf: self.csrf,
            rate_limits: self.rate_limits,
            lockouts: self.lockouts,
            ip: (self.ip_allow.is_some() || self.ip_deny.is_some()).then(|| IpGate {
                allow: self.ip_allow.unwrap_or_default(),
                deny: self.ip_deny.unwrap_or_default(),
            }),
            api_key: self.api_key,
            basic_auth: self.basic_auth,
        }
    }
}

impl Compiler {
    pub(crate) fn trusted_proxies(&mut self, value: Option<Value>) -> Vec<IpNet> {
        let items = self.list(value, "trusted_proxies");
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("trusted_proxies[{i}]");
            if let Some(s) = self.section::<String>(item, &path) {
                if let Some(net) = self.cidr(&s, &path) {
                    out.push(net);
                }
            }
        }
        out
    }

    pub(crate) fn cidr(&mut self, s: &str, path: &str) -> Option<IpNet> {
        let t = s.trim();
        let parsed = t
            .parse::<IpNet>()
            .ok()
            .or_else(|| t.parse::<std::net::IpAddr>().ok().map(IpNet::from));
        if parsed.is_none() {
            self.err(
                path,
                format!("`{t}` is not an IP network; write e.g. `10.0.0.0/8`, `2001:db8::/32` or one address"),
            );
        }
        parsed.map(|n| n.trunc())
    }

    pub(crate) fn redis(&mut self, value: Option<Value>) -> Option<RedisConfig> {
        let raw: RawRedis = self.section(value?, "redis")?;
        let url = raw.url.trim().to_string();
        if url.starts_with("rediss://") {
            self.err(
                "redis.url",
                "TLS to Redis (rediss://) is not supported yet; reach Redis over a private network or a local TLS tunnel (stunnel, spiped) with redis://",
            );
        } else if !url.starts_with("redis://") {
            self.err(
                "redis.url",
                "must start with redis://, e.g. `redis://127.0.0.1:6379/0`",
            );
        }
        let timeout = self.duration(
            raw.timeout.as_deref(),
            "redis.timeout".into(),
            Duration::from_millis(250),
        );
        if timeout.is_zero() {
            self.err("redis.timeout", "must be longer than zero");
        }
        Some(RedisConfig {
            url: Secret(url),
            timeout,
            key_prefix: raw.key_prefix.unwrap_or_else(|| "gatehouse:".into()),
        })
    }

    pub(crate) fn policies(&mut self, value: Option<Value>, redis: bool) -> NamedPolicies {
        let mut out = NamedPolicies::default();
        let map = match value {
            None | Some(Value::Null) => return out,
            Some(Value::Mapping(m)) => m,
            Some(_) => {
                self.err("policies", "must map policy names to policies");
                return out;
            }
        };
        for (k, v) in map {
            let name = k.as_str().unwrap_or_default().to_string();
            let path = format!("policies.{name}");
            check_name(self, &name, &path);
            out.defined.push(name.clone());
            if let Some(parts) = self.policy_block(v, &path, redis) {
                out.compiled.insert(name, parts);
            }
        }
        out
    }

    /// A route's effective policy: the named ones in order, then its own block.
    pub(crate) fn route_policy(
        &mut self,
        names: &[String],
        own: Option<Value>,
        path: &str,
        named: &NamedPolicies,
        redis: bool,
    ) -> EdgePolicy {
        let mut parts = PolicyParts::default();
        for (i, name) in names.iter().enumerate() {
            match named.compiled.get(name) {
                Some(p) => parts.overlay(p),
                None if named.defined.contains(name) => {}
                None => {
                    let known = if named.defined.is_empty() {
                        "(none)".to_string()
                    } else {
                        named.defined.join(", ")
                    };
                    self.err(
                        format!("{path}.policies[{i}]"),
                        format!("unknown policy `{name}`; defined policies: {known}"),
                    );
                }
            }
        }
        if let Some(v) = own {
            if let Some(p) = self.policy_block(v, &format!("{path}.policy"), redis) {
                parts.overlay(&p);
            }
        }
        parts.finish(names.to_vec())
    }

    fn policy_block(&mut self, v: Value, path: &str, redis: bool) -> Option<PolicyParts> {
        let raw: RawPolicy = self.section(v, path)?;
        let mut out = PolicyParts::default();
        if let Some(h) = raw.headers {
            out.headers = self.headers(h, &format!("{path}.headers"));
        }
        out.cors = raw.cors.and_then(|c| self.cors(c, &format!("{path}.cors")));
        out.csrf = raw.csrf.map(|c| self.csrf(c, &format!("{path}.csrf")));
        for (i, r) in raw.rate_limits.unwrap_or_default().into_iter().enumerate() {
            let p = format!("{path}.rate_limits[{i}]");
            if out.rate_limits.iter().any(|x| x.name == r.name) {
                self.err(
                    format!("{p}.name"),
                    format!("duplicate rule name `{}`", r.name),
                );
            }
            if let Some(rule) = self.rate_limit(r, &p, redis) {
                out.rate_limits.push(rule);
            }
        }
        for (i, r) in raw.lockouts.unwrap_or_default().into_iter().enumerate() {
            let p = format!("{path}.lockouts[{i}]");
            if out.lockouts.iter().any(|x| x.name == r.name) {
                self.err(
                    format!("{p}.name"),
                    format!("duplicate rule name `{}`", r.name),
                );
            }
            if let Some(rule) = self.lockout(r, &p, redis) {
                out.lockouts.push(rule);
            }
        }
        if let Some(g) = raw.ip {
            out.ip_allow = g.allow.map(|l| self.cidrs(&l, &format!("{path}.ip.allow")));
            out.ip_deny = g.deny.map(|l| self.cidrs(&l, &format!("{path}.ip.deny")));
        }
        out.api_key = raw
            .api_key
            .and_then(|a| self.api_key(a, &format!("{path}.api_key")));
        out.basic_auth = raw
            .basic_auth
            .and_then(|b| self.basic_auth(b, &format!("{path}.basic_auth")));
        Some(out)
    }

    fn cidrs(&mut self, list: &[String], path: &str) -> Vec<IpNet> {
        list.iter()
            .enumerate()
            .filter_map(|(i, s)| self.cidr(s, &format!("{path}[{i}]")))
            .collect()
    }

    fn origins(&mut self, list: &[String], path: &str) -> Vec<OriginPattern> {
        let mut out = Vec::new();
        for (i, o) in list.iter().enumerate() {
            match OriginPattern::parse(o) {
                Ok(p) => out.push(p),
                Err(e) => self.err(format!("{path}[{i}]"), e),
            }
        }
        out
    }

    fn tokens(&mut self, list: &[String], path: &str, upper: bool) -> Vec<String> {
        let mut out = Vec::new();
        for (i, t) in list.iter().enumerate() {
            let t = t.trim();
            if valid_token(t) {
                out.push(if upper {
                    t.to_ascii_uppercase()
                } else {
                    t.to_ascii_lowercase()
                });
            } else {
                self.err(format!("{path}[{i}]"), format!("`{t}` is not a valid name"));
            }
        }
        out
    }

    fn cors(&mut self, c: RawCors, path: &str) -> Option<Cors> {
        if c.allow_origins.is_empty() {
            self.err(format!("{path}.allow_origins"), "needs at least one origin");
        }
        let allow_origins = self.origins(&c.allow_origins, &format!("{path}.allow_origins"));
        let allow_credentials = c.allow_credentials.unwrap_or(false);
        let any = allow_origins.contains(&OriginPattern::Any);
        if any && allow_credentials {
            self.err(
                format!("{path}.allow_credentials"),
                "`*` in allow_origins cannot be combined with credentials; list the origins instead",
            );
        }
        let methods = c
            .allow_methods
            .unwrap_or_else(|| vec!["GET".into(), "HEAD".into(), "POST".into()]);
        let allow_methods = self.tokens(&methods, &format!("{path}.allow_methods"), true);
        let allow_headers = self.tokens(
            &c.allow_headers.unwrap_or_default(),
            &format!("{path}.allow_headers"),
            false,
        );
        let expose_headers = self.tokens(
            &c.expose_headers.unwrap_or_default(),
            &format!("{path}.expose_headers"),
            false,
        );
        if allow_credentials
            && (allow_headers.iter().any(|h| h == "*") || expose_headers.iter().any(|h| h == "*"))
        {
            self.err(
                path,
                "`*` header lists are not honoured by browsers with credentials; list the headers",
            );
        }
        let max_age = self.duration(
            c.max_age.as_deref(),
            format!("{path}.max_age"),
            Duration::from_secs(300),
        );
        Some(Cors {
            allow_origins,
            allow_methods,
            allow_headers,
            expose_headers,
            allow_credentials,
            max_age,
        })
    }

    fn csrf(&mut self, c: RawCsrf, path: &str) -> Csrf {
        let trusted_origins = self.origins(&c.trusted_origins, &format!("{path}.trusted_origins"));
        if trusted_origins.contains(&OriginPattern::Any) {
            self.err(
                format!("{path}.trusted_origins"),
                "`*` would trust every site; remove the csrf block instead",
            );
        }
        Csrf {
            trusted_origins,
            allow_without_origin: c.allow_without_origin.unwrap_or(false),
        }
    }

    fn key(&mut self, key: Option<Vec<String>>, path: &str) -> Vec<KeyPart> {
        let parts = key.unwrap_or_else(|| vec!["client_ip".into()]);
        if parts.is_empty() {
            self.err(
                path,
                "needs at least one of client_ip, route, header:<name>",
            );
        }
        let mut out = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let t = p.trim();
            match t {
                "client_ip" => out.push(KeyPart::ClientIp),
                "route" => out.push(KeyPart::Route),
                _ => match t.strip_prefix("header:").map(str::trim) {
                    Some(h) if valid_token(h) => out.push(KeyPart::Header(h.to_ascii_lowercase())),
                    _ => self.err(
                        format!("{path}[{i}]"),
                        format!("`{t}` is not a key; use client_ip, route or header:<name>"),
                    ),
                },
            }
        }
        out
    }

    fn rate_limit(&mut self, r: RawRateLimit, path: &str, redis: bool) -> Option<RateLimitRule> {
        check_name(self, &r.name, &format!("{path}.name"));
        let rate = match parse_rate(&r.rate) {
            Ok(rate) => Some(rate),
            Err(e) => {
                self.err(format!("{path}.rate"), e);
                None
            }
        };
        let key = self.key(r.key, &format!("{path}.key"));
        let store = self.limit_store(r.store, r.on_store_error, path, redis);
        if r.max_keys.is_some() && store != LimitStore::Local {
            self.err(
                format!("{path}.max_keys"),
                "applies to `store: local` only (Redis expires idle keys itself)",
            );
        }
        let max_keys = self.max_keys(r.max_keys, &format!("{path}.max_keys"));
        let rate = rate?;
        let burst = r.burst.unwrap_or(rate.count);
        if burst == 0 {
            self.err(format!("{path}.burst"), "must be at least 1");
        }
        if (rate.per / rate.count).is_zero() {
            self.err(
                format!("{path}.rate"),
                "is faster than one request per nanosecond",
            );
        }
        if rate.per > LONGEST || (rate.per / rate.count).saturating_mul(burst) > LONGEST {
            self.err(
                format!("{path}.rate"),
                "refilling the burst would take more than a year; use a shorter period",
            );
        }
        Some(RateLimitRule {
            name: r.name,
            rate,
            burst,
            key,
            store,
            max_keys,
        })
    }

    /// `store` and `on_store_error` of a rate limit or a lockout.
    fn limit_store(
        &mut self,
        store: Option<RawStore>,
        on_store_error: Option<RawFailMode>,
        path: &str,
        redis: bool,
    ) -> LimitStore {
        match store.unwrap_or(RawStore::Local) {
            RawStore::Local => {
                if on_store_error.is_some() {
                    self.err(
                        format!("{path}.on_store_error"),
                        "applies to `store: redis` only",
                    );
                }
                LimitStore::Local
            }
            RawStore::Redis => {
                if !redis {
                    self.err(
                        format!("{path}.store"),
                        "`store: redis` needs a top-level `redis` section with the server's url",
                    );
                }
                LimitStore::Redis {
                    on_error: match on_store_error.unwrap_or(RawFailMode::Allow) {
                        RawFailMode::Allow => FailMode::Allow,
                        RawFailMode::Deny => FailMode::Deny,
                    },
                }
            }
        }
    }

    fn lockout(&mut self, r: RawLockout, path: &str, redis: bool) -> Option<LockoutRule> {
        check_name(self, &r.name, &format!("{path}.name"));
        if r.statuses.is_empty() {
            self.err(
                format!("{path}.statuses"),
                "needs at least one status, e.g. [401]",
            );
        }
        for (i, s) in r.statuses.iter().enumerate() {
            if !(100..=599).contains(s) {
                self.err(
                    format!("{path}.statuses[{i}]"),
                    format!("{s} is not an HTTP status"),
                );
            } else if *s < 200 {
                self.err(
                    format!("{path}.statuses[{i}]"),
                    format!("{s} is an interim (1xx) response; only final responses are counted, e.g. 401 or 403"),
                );
            }
        }
        if r.max_failures == 0 {
            self.err(format!("{path}.max_failures"), "must be at least 1");
        }
        let window = self.duration(Some(&r.window), format!("{path}.window"), Duration::ZERO);
        let block_for = self.duration(
            Some(&r.block_for),
            format!("{path}.block_for"),
            Duration::ZERO,
        );
        for (d, field) in [(window, "window"), (block_for, "block_for")] {
            if d.is_zero()
                && !self
                    .errors
                    .iter()
                    .any(|e| e.path == format!("{path}.{field}"))
            {
                self.err(format!("{path}.{field}"), "must be longer than zero");
            } else if d > LONGEST {
                self.err(format!("{path}.{field}"), "must be at most a year");
            }
        }
        let key = self.key(r.key, &format!("{path}.key"));
        let max_keys = self.max_keys(r.max_keys, &format!("{path}.max_keys"));
        let store = self.limit_store(r.store, r.on_store_error, path, redis);
        Some(LockoutRule {
            name: r.name,
            statuses: r.statuses,
            max_failures: r.max_failures,
            window,
            block_for,
            key,
            max_keys,
            store,
        })
    }

    /// `max_keys` of a local rate limit or a lockout: 1 to [`MAX_MAX_KEYS`].
    fn max_keys(&mut self, n: Option<u64>, path: &str) -> usize {
        let Some(n) = n else {
            return DEFAULT_MAX_KEYS;
        };
        match usize::try_from(n) {
            Ok(n) if (1..=MAX_MAX_KEYS).contains(&n) => n,
            _ => {
                self.err(
                    path,
                    format!(
                        "{n} is out of range; use 1 to {MAX_MAX_KEYS} (default {DEFAULT_MAX_KEYS})"
                    ),
                );
                DEFAULT_MAX_KEYS
            }
        }
    }
}
