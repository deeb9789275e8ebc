//! The compile step: raw sections -> validated [`Config`], collecting every problem.
//! One file per section: `upstreams.rs`, `routes.rs`, `tls.rs`.

mod admin;
mod alerting;
mod headers;
pub(crate) mod listener;
mod policy;
mod probes;
mod routes;
mod status;
mod telemetry;
mod tls;
mod upstreams;

pub(crate) use headers::default_security_headers;

use crate::error::ConfigError;
use crate::model::*;
use crate::raw::*;
use crate::units::parse_duration;
use serde::de::DeserializeOwned;
use serde_yaml::Value;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Collects problems while the sections are compiled.
pub(crate) struct Compiler {
    pub errors: Vec<ConfigError>,
    /// Every upstream name in the file, including those that failed to compile (a route
    /// pointing at one of those is not also reported as pointing at an unknown upstream).
    pub defined_upstreams: HashSet<String>,
    /// Allowed but probably unintended.
    pub warnings: Vec<ConfigError>,
}

impl Compiler {
    pub(super) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(ConfigError::new(path, message));
    }

    pub(super) fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    /// Deserialize `value` (found at `path`) into `T`, recording a path-precise error on failure.
    pub(super) fn section<T: DeserializeOwned>(&mut self, value: Value, path: &str) -> Option<T> {
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

    pub(super) fn duration(
        &mut self,
        value: Option<&str>,
        path: String,
        default: Duration,
    ) -> Duration {
        match value {
            None => default,
            Some(v) => parse_duration(v).unwrap_or_else(|e| {
                self.err(path, e);
                default
            }),
        }
    }

    pub(super) fn socket_addr(&mut self, value: &str, path: String) -> Option<SocketAddr> {
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
        let state_dir: Option<String> =
            take("state_dir").and_then(|v| self.section(v, "state_dir"));
        let tls: RawTls = take("tls")
            .and_then(|v| self.section(v, "tls"))
            .unwrap_or_default();
        let trusted_proxies = take("trusted_proxies");
        let redis = take("redis");
        let policies = take("policies");
        let telemetry = take("telemetry");
        let probing = take("probing");
        let probes = take("probes");
        let store = take("store");
        let alerting = take("alerting");
        let status_page = take("status_page");
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
        let telemetry = self.telemetry(telemetry);
        let demo = demo.and_then(|d| {
            let connections = self.connection_limits(d.connections, "demo", ConnectionLimits::DEMO);
            self.socket_addr(&d.listen, "demo.listen".into())
                .map(|listen| DemoConfig {
                    listen,
                    connections,
                })
        });
        let listeners = self.listeners(listeners);
        let upstreams = self.upstreams(upstreams);
        let trusted_proxies = self.trusted_proxies(trusted_proxies);
        let redis = self.redis(redis);
        let policies = self.policies(policies, redis.is_some());
        let routes = self.routes(routes, &upstreams, &policies, redis.is_some());
        let tls = self.tls(tls, &listeners);
        let state_dir = match state_dir {
            Some(d) if d.trim().is_empty() => {
                self.err("state_dir", "must not be empty");
                PathBuf::new()
            }
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(defaults::STATE_DIR),
        };

        let probes = self.probes(probing, probes, store, &state_dir);
        let alerting = self.alerting(alerting, &probes, &routes);
        let status_page = self.status_page(status_page, &probes, &routes);
        if let (Some(s), Some(admin)) = (&status_page, &admin) {
            if s.listen == admin.listen {
                self.err("status_page.listen", "is also the admin listener's address; the status page is public, the admin API private");
            }
        }
        if let Some(s) = &status_page {
            if let Some(i) = listeners.iter().position(|l| l.address == s.listen) {
                self.err(
                    "status_page.listen",
                    format!("is also the address of listeners[{i}]"),
                );
            }
        }

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
            telemetry,
            demo,
            state_dir,
            listeners,
            tls,
            trusted_proxies,
            redis,
            upstreams,
            routes,
            probes,
            alerting,
            status_page,
            warnings: std::mem::take(&mut self.warnings),
        })
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
        let limits = self.request_limits(raw.limits.unwrap_or_default());
        let keepalive_timeout = self.duration(
            raw.keepalive_timeout.as_deref(),
            "server.keepalive_timeout".into(),
            defaults::KEEPALIVE_TIMEOUT,
        );
        if keepalive_timeout < Duration::from_secs(1) {
            self.err("server.keepalive_timeout", "must be at least 1s");
        }
        let header_timeout = self.duration(
            raw.header_timeout.as_deref(),
            "server.header_timeout".into(),
            defaults::HEADER_TIMEOUT,
        );
        if header_timeout < Duration::from_millis(100) {
            self.err("server.header_timeout", "must be at least 100ms");
        }
        let client_body_timeout = self.duration(
            raw.client_body_timeout.as_deref(),
            "server.client_body_timeout".into(),
            defaults::BODY_AND_SEND_TIMEOUT,
        );
        let send_timeout = self.duration(
            raw.send_timeout.as_deref(),
            "server.send_timeout".into(),
            defaults::BODY_AND_SEND_TIMEOUT,
        );
        for (key, d) in [
            ("server.client_body_timeout", client_body_timeout),
            ("server.send_timeout", send_timeout),
        ] {
            if d < Duration::from_millis(100) {
                self.err(key, "must be at least 100ms");
            }
        }
        let keepalive_requests = self.at_least_one(
            raw.keepalive_requests,
            "server.keepalive_requests",
            defaults::KEEPALIVE_REQUESTS,
        );
        let http2_max_concurrent_streams = self.at_least_one(
            raw.http2_max_concurrent_streams,
            "server.http2_max_concurrent_streams",
            defaults::HTTP2_MAX_CONCURRENT_STREAMS,
        );
        let http2_max_resets = self.at_least_one(
            raw.http2_max_resets,
            "server.http2_max_resets",
            defaults::HTTP2_MAX_RESETS,
        );
        let tls_handshake_timeout = self.duration(
            raw.tls_handshake_timeout.as_deref(),
            "server.tls_handshake_timeout".into(),
            defaults::TLS_HANDSHAKE_TIMEOUT,
        );
        if tls_handshake_timeout < Duration::from_millis(100) {
            self.err("server.tls_handshake_timeout", "must be at least 100ms");
        }
        let max_tls_handshakes = self.at_least_one(
            raw.max_tls_handshakes,
            "server.max_tls_handshakes",
            defaults::MAX_TLS_HANDSHAKES,
        );
        ServerConfig {
            threads,
            grace_period,
            limits,
            underscores_in_headers: raw.underscores_in_headers.unwrap_or(false),
            keepalive_timeout,
            header_timeout,
            client_body_timeout,
            send_timeout,
            keepalive_requests,
            http2_max_concurrent_streams,
            http2_max_resets,
            tls_handshake_timeout,
            max_tls_handshakes,
        }
    }

    /// A count that must be at least 1 (`default` when absent, or after the error for 0).
    fn at_least_one<T: Copy + PartialEq + From<u8>>(
        &mut self,
        value: Option<T>,
        path: &str,
        default: T,
    ) -> T {
        match value {
            Some(n) if n == T::from(0) => {
                self.err(path, "must be at least 1");
                default
            }
            Some(n) => n,
            None => default,
        }
    }

    fn request_limits(&mut self, raw: RawRequestLimits) -> RequestLimits {
        let d = RequestLimits::default();
        let mut size = |v: Option<String>, key: &str, default: usize, min: usize| match v {
            None => default,
            Some(v) => match crate::units::parse_size(&v) {
                Ok(n) if (min as u64..=(1 << 20)).contains(&n) => n as usize,
                Ok(_) => {
                    self.err(
                        format!("server.limits.{key}"),
                        format!("`{v}` must be between {min} bytes and 1MiB"),
                    );
                    default
                }
                Err(e) => {
                    self.err(format!("server.limits.{key}"), e);
                    default
                }
            },
        };
        let request_line = size(raw.request_line, "request_line", d.request_line, 256);
        let header_line = size(raw.header_line, "header_line", d.header_line, 256);
        let head = size(raw.head, "head", d.head, 1024);
        let headers = match raw.headers {
            None => d.headers,
            Some(n) if (1..=256).contains(&n) => n,
            Some(n) => {
                self.err(
                    "server.limits.headers",
                    format!("{n} must be between 1 and 256 (Pingora reads at most 256 headers)"),
                );
                d.headers
            }
        };
        if head < header_line.max(request_line) {
            self.err(
                "server.limits.head",
                "must be at least as large as request_line and header_line",
            );
        }
        RequestLimits {
            request_line,
            header_line,
            head,
            headers,
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
            let tls = raw.tls.unwrap_or(false);
            if raw.http2.is_some() && !tls {
                self.err(
                    format!("{path}.http2"),
                    "only applies to TLS listeners (`tls: true`); plain listeners speak HTTP/1.1",
                );
            }
            let max_connections = self.at_least_one(
                raw.max_connections,
                &format!("{path}.max_connections"),
                defaults::max_connections(),
            );
            let max_connections_per_ip = self.at_least_one(
                raw.max_connections_per_ip,
                &format!("{path}.max_connections_per_ip"),
                defaults::MAX_CONNECTIONS_PER_IP,
            );
            out.push(Listener {
                name: raw.name,
                address,
                tls,
                http2: raw.http2.unwrap_or(true),
                max_connections,
                max_connections_per_ip,
            });
        }
        out
    }

    pub(super) fn list(&mut self, value: Option<Value>, path: &str) -> Vec<Value> {
        match value {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => items,
            Some(_) => {
                self.err(path, "must be a list (`- ...` items)");
                Vec::new()
            }
        }
    }
}

pub(super) fn check_name(c: &mut Compiler, name: &str, path: &str) {
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
