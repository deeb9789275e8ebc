//! The compile step: raw sections -> validated [`Config`], collecting every problem.

use crate::error::ConfigError;
use crate::model::*;
use crate::raw::*;
use crate::units::{parse_duration, parse_size};
use serde::de::DeserializeOwned;
use serde_yaml::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Collects problems while the sections are compiled.
pub(crate) struct Compiler {
    pub errors: Vec<ConfigError>,
    /// Every upstream name in the file, including those that failed to compile (a route
    /// pointing at one of those is not also reported as pointing at an unknown upstream).
    pub defined_upstreams: HashSet<String>,
}

impl Compiler {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    /// Deserialize `value` (found at `path`) into `T`, recording a path-precise error on failure.
    fn section<T: DeserializeOwned>(&mut self, value: Value, path: &str) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner = e.path().to_string();
                let full = match (path.is_empty(), inner.as_str()) {
                    (_, ".") => path.to_string(),
                    (true, _) => inner,
                    (false, i) if i.starts_with('[') => format!("{path}{i}"),
                    (false, i) => format!("{path}.{i}"),
                };
                self.err(full, e.into_inner().to_string());
                None
            }
        }
    }

    fn duration(&mut self, value: Option<&str>, path: String, default: Duration) -> Duration {
        match value {
            None => default,
            Some(v) => parse_duration(v).unwrap_or_else(|e| {
                self.err(path, e);
                default
            }),
        }
    }

    fn socket_addr(&mut self, value: &str, path: String) -> Option<SocketAddr> {
        match value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    path,
                    format!("`{value}` is not an address; write IP:PORT, e.g. `127.0.0.1:8080` or `[::]:8080`"),
                );
                None
            }
        }
    }

    /// Compile a whole document (already env-substituted).
    pub(crate) fn compile(&mut self, doc: Value) -> Option<Config> {
        let mut map = match doc {
            Value::Mapping(m) => m,
            Value::Null => {
                self.err("", "the configuration is empty; at least `listeners`, `upstreams` and `routes` are needed");
                return None;
            }
            _ => {
                self.err("", "the configuration must be a mapping of sections (listeners, upstreams, routes, ...)");
                return None;
            }
        };
        let mut take = |name: &str| map.remove(name);
        let admin: RawAdmin = take("admin")
            .and_then(|v| self.section(v, "admin"))
            .unwrap_or_default();
        let server: RawServer = take("server")
            .and_then(|v| self.section(v, "server"))
            .unwrap_or_default();
        let log: RawLog = take("log")
            .and_then(|v| self.section(v, "log"))
            .unwrap_or_default();
        let demo: Option<RawDemo> = take("demo").and_then(|v| self.section(v, "demo"));
        let listeners = take("listeners");
        let upstreams = take("upstreams");
        let routes = take("routes");
        for (key, _) in map {
            let key = key
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{key:?}"));
            self.err(
                key.clone(),
                format!(
                    "unknown section `{key}`; expected one of: {}",
                    SECTIONS.join(", ")
                ),
            );
        }

        let admin = self.admin(admin);
        let server = self.server(server);
        let log = self.log(log);
        let demo = demo.and_then(|d| {
            self.socket_addr(&d.listen, "demo.listen".into())
                .map(|listen| DemoConfig { listen })
        });
        let listeners = self.listeners(listeners);
        let upstreams = self.upstreams(upstreams);
        let routes = self.routes(routes, &upstreams);

        if let Some(admin) = &admin {
            for (i, l) in listeners.iter().enumerate() {
                if l.address == admin.listen {
                    self.err(
                        format!("listeners[{i}].address"),
                        format!("{} is also the admin listener's address", l.address),
                    );
                }
            }
        }
        if !self.errors.is_empty() {
            return None;
        }
        Some(Config {
            source: None,
            admin: admin?,
            server,
            log,
            demo,
            listeners,
            upstreams,
            routes,
        })
    }

    fn admin(&mut self, raw: RawAdmin) -> Option<AdminConfig> {
        let listen = raw.listen.as_deref().unwrap_or(defaults::ADMIN_LISTEN);
        self.socket_addr(listen, "admin.listen".into())
            .map(|listen| AdminConfig { listen })
    }

    fn server(&mut self, raw: RawServer) -> ServerConfig {
        let threads = match raw.threads {
            Some(0) => {
                self.err("server.threads", "must be at least 1");
                1
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let grace_period = self.duration(
            raw.grace_period.as_deref(),
            "server.grace_period".into(),
            defaults::GRACE_PERIOD,
        );
        ServerConfig {
            threads,
            grace_period,
        }
    }

    fn log(&mut self, raw: RawLog) -> LogConfig {
        let level = raw.level.unwrap_or_else(|| "info".into());
        if level.trim().is_empty() {
            self.err(
                "log.level",
                "must not be empty; e.g. `info` or `gatehouse=debug,info`",
            );
        }
        LogConfig {
            format: raw.format.unwrap_or_default(),
            level,
            access_log: raw.access_log.unwrap_or(true),
        }
    }

    fn listeners(&mut self, value: Option<Value>) -> Vec<Listener> {
        let items = self.list(value, "listeners");
        if items.is_empty() && !self.errors.iter().any(|e| e.path.starts_with("listeners")) {
            self.err("listeners", "at least one listener is needed, e.g. `- { name: http, address: \"0.0.0.0:8080\" }`");
        }
        let mut names = HashSet::new();
        let mut addrs = HashSet::new();
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("listeners[{i}]");
            let Some(raw) = self.section::<RawListener>(item, &path) else {
                continue;
            };
            if !names.insert(raw.name.clone()) {
                self.err(
                    format!("{path}.name"),
                    format!("duplicate listener name `{}`", raw.name),
                );
            }
            let Some(address) = self.socket_addr(&raw.address, format!("{path}.address")) else {
                continue;
            };
            if !addrs.insert(address) {
                self.err(
                    format!("{path}.address"),
                    format!("{address} is used by another listener"),
                );
            }
            out.push(Listener {
                name: raw.name,
                address,
            });
        }
        out
    }

    fn list(&mut self, value: Option<Value>, path: &str) -> Vec<Value> {
        match value {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => items,
            Some(_) => {
                self.err(path, "must be a list (`- ...` items)");
                Vec::new()
            }
        }
    }

    fn upstreams(&mut self, value: Option<Value>) -> BTreeMap<String, Upstream> {
        let map: RawUpstreams = match value {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(v) => self.section(v, "upstreams").unwrap_or_default(),
        };
        let mut out = BTreeMap::new();
        self.defined_upstreams = map.keys().cloned().collect();
        for (name, value) in map {
            let path = format!("upstreams.{name}");
            check_name(self, &name, &path);
            let Some(raw) = self.section::<RawUpstream>(value, &path) else {
                continue;
            };
            if let Some(up) = self.upstream(name.clone(), raw, &path) {
                out.insert(name, up);
            }
        }
        out
    }

    fn upstream(&mut self, name: String, raw: RawUpstream, path: &str) -> Option<Upstream> {
        if raw.backends.is_empty() {
            self.err(
                format!("{path}.backends"),
                "an upstream needs at least one backend",
            );
        }
        let mut backends = Vec::new();
        let mut seen = HashSet::new();
        for (i, b) in raw.backends.into_iter().enumerate() {
            let bpath = format!("{path}.backends[{i}]");
            let weight = b.weight.unwrap_or(1);
            if weight == 0 {
                self.err(
                    format!("{bpath}.weight"),
                    "must be at least 1 (remove the backend to take it out)",
                );
            }
            let address = match resolve(&b.address) {
                Ok(a) => a,
                Err(e) => {
                    self.err(format!("{bpath}.address"), e);
                    continue;
                }
            };
            if !seen.insert(address) {
                self.err(
                    format!("{bpath}.address"),
                    format!("{} is listed twice in this upstream", b.address),
                );
            }
            backends.push(Backend {
                address_text: b.address,
                address,
                weight: weight.max(1),
            });
        }
        let health_check = raw
            .health_check
            .map(|h| self.health_check(h, &format!("{path}.health_check")));
        Some(Upstream {
            name,
            backends,
            protocol: raw.protocol.unwrap_or_default(),
            health_check,
        })
    }

    fn health_check(&mut self, raw: RawHealthCheck, path: &str) -> HealthCheck {
        let kind = match raw.kind {
            RawHealthKind::Http => {
                let p = raw.path.unwrap_or_else(|| "/".into());
                if !p.starts_with('/') {
                    self.err(format!("{path}.path"), format!("`{p}` must start with `/`"));
                }
                let status = raw.expect_status.unwrap_or(200);
                if !(100..=599).contains(&status) {
                    self.err(
                        format!("{path}.expect_status"),
                        format!("{status} is not an HTTP status"),
                    );
                }
                HealthCheckKind::Http {
                    path: p,
                    host: raw.host.unwrap_or_else(|| "localhost".into()),
                    expect_status: status,
                }
            }
            RawHealthKind::Tcp => {
                for (key, set) in [
                    ("path", raw.path.is_some()),
                    ("host", raw.host.is_some()),
                    ("expect_status", raw.expect_status.is_some()),
                ] {
                    if set {
                        self.err(
                            format!("{path}.{key}"),
                            "only applies to `type: http` checks",
                        );
                    }
                }
                HealthCheckKind::Tcp
            }
        };
        let interval = self.duration(
            raw.interval.as_deref(),
            format!("{path}.interval"),
            defaults::HEALTH_INTERVAL,
        );
        let timeout = self.duration(
            raw.timeout.as_deref(),
            format!("{path}.timeout"),
            defaults::HEALTH_TIMEOUT,
        );
        if interval.is_zero() {
            self.err(format!("{path}.interval"), "must be longer than zero");
        }
        let mut threshold = |v: Option<usize>, key: &str| match v {
            Some(0) => {
                self.err(format!("{path}.{key}"), "must be at least 1");
                1
            }
            Some(n) => n,
            None => {
                if key == "healthy_threshold" {
                    1
                } else {
                    2
                }
            }
        };
        let healthy_threshold = threshold(raw.healthy_threshold, "healthy_threshold");
        let unhealthy_threshold = threshold(raw.unhealthy_threshold, "unhealthy_threshold");
        HealthCheck {
            kind,
            interval,
            timeout,
            healthy_threshold,
            unhealthy_threshold,
        }
    }

    fn routes(
        &mut self,
        value: Option<Value>,
        upstreams: &BTreeMap<String, Upstream>,
    ) -> Vec<Route> {
        let items = self.list(value, "routes");
        if items.is_empty() && !self.errors.iter().any(|e| e.path.starts_with("routes")) {
            self.err("routes", "at least one route is needed");
        }
        let mut names = HashSet::new();
        let mut seen: HashMap<(Vec<HostPattern>, String), String> = HashMap::new();
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("routes[{i}]");
            let Some(raw) = self.section::<RawRoute>(item, &path) else {
                continue;
            };
            check_name(self, &raw.name, &format!("{path}.name"));
            if !names.insert(raw.name.clone()) {
                self.err(
                    format!("{path}.name"),
                    format!("duplicate route name `{}`", raw.name),
                );
            }
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
            if !prefix.starts_with('/') {
                self.err(
                    format!("{path}.path_prefix"),
                    format!("`{prefix}` must start with `/`"),
                );
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
            out.push(Route {
                name: raw.name,
                hosts,
                path_prefix: prefix,
                upstream: raw.upstream,
                timeouts,
                retries: raw.retries.unwrap_or(defaults::RETRIES),
                max_body_size,
            });
        }
        out
    }
}

fn check_name(c: &mut Compiler, name: &str, path: &str) {
    if name.is_empty()
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        c.err(
            path,
            format!("`{name}` is not a valid name; use letters, digits, `-`, `_` and `.`"),
        );
    }
}

fn resolve(address: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = address.parse::<SocketAddr>() {
        return Ok(a);
    }
    if !address.contains(':') {
        return Err(format!(
            "`{address}` has no port; write HOST:PORT, e.g. `127.0.0.1:3000`"
        ));
    }
    match address.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("`{address}` resolves to no address")),
        Err(e) => Err(format!("`{address}` cannot be resolved: {e}")),
    }
}

/// Parse a route host: `example.com` or `*.example.com`, case-insensitive, no port.
fn parse_host(host: &str) -> Result<HostPattern, String> {
    let h = host.trim().to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
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
