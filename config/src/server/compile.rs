//! `server`, `log`, `listeners` and `connections`: raw -> model, every problem with its path.

use super::raw::*;
use super::*;
use crate::compiler::{Compiler, NamedList};
use crate::defaults;
use serde_yaml::Value;
use std::collections::HashSet;
use std::time::Duration;

impl Compiler {
    pub(crate) fn server(&mut self, raw: RawServer) -> ServerConfig {
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
        let upstream_keepalive_pool = self.at_least_one(
            raw.upstream_keepalive_pool,
            "server.upstream_keepalive_pool",
            defaults::UPSTREAM_KEEPALIVE_POOL,
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
            upstream_keepalive_pool,
        }
    }

    pub(crate) fn request_limits(&mut self, raw: RawRequestLimits) -> RequestLimits {
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

    pub(crate) fn log(&mut self, raw: RawLog) -> LogConfig {
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

    pub(crate) fn listeners(&mut self, value: Option<Value>) -> Vec<Listener> {
        let items = self.list(value, "listeners");
        if items.is_empty() && !self.errors.iter().any(|e| e.path.starts_with("listeners")) {
            self.err("listeners", "at least one listener is needed, e.g. `- { name: http, address: \"0.0.0.0:8080\" }`");
        }
        let mut names = NamedList::new("listeners", "listener name");
        let mut addrs = HashSet::new();
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let Some((path, raw)) = names.item::<RawListener>(self, i, item) else {
                continue;
            };
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

    /// `{section}.connections`, with `defaults` for what is not written.
    pub(crate) fn connection_limits(
        &mut self,
        value: Option<Value>,
        section: &str,
        defaults: ConnectionLimits,
    ) -> ConnectionLimits {
        let path = format!("{section}.connections");
        let Some(raw) = value.and_then(|v| self.section::<RawConnectionLimits>(v, &path)) else {
            return defaults;
        };
        let timeout = |c: &mut Compiler, value: Option<&str>, key: &str, default| {
            let at = format!("{path}.{key}");
            let d = c.duration(value, at.clone(), default);
            if d < Duration::from_millis(100) {
                c.err(at, "must be at least 100ms");
                return default;
            }
            d
        };
        let header_timeout = timeout(
            self,
            raw.header_timeout.as_deref(),
            "header_timeout",
            defaults.header_timeout,
        );
        let idle_timeout = timeout(
            self,
            raw.idle_timeout.as_deref(),
            "idle_timeout",
            defaults.idle_timeout,
        );
        let max = match raw.max {
            Some(0) => {
                self.err(format!("{path}.max"), "must be at least 1");
                defaults.max
            }
            Some(n) => n,
            None => defaults.max,
        };
        ConnectionLimits {
            header_timeout,
            idle_timeout,
            max,
        }
    }
}
