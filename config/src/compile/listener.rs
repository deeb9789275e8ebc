//! `connections` of the control-plane listeners (`admin`, `status_page`, `demo`): how long a
//! client may take to send a whole request head, how long an idle keep-alive connection stays
//! open, and how many connections may be open at once.
//!
//! ```yaml
//! admin:
//!   connections: { header_timeout: 30s, idle_timeout: 60s, max: 128 }
//! ```

use super::Compiler;
use serde::Deserialize;
use serde_yaml::Value;
use std::time::Duration;

/// Limits of one control-plane listener's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Deadline for a whole request head: from accept for the first request, from its first
    /// byte for later ones on a keep-alive connection (not per read).
    pub header_timeout: Duration,
    /// An idle keep-alive connection (no request in progress, no byte of the next one) is
    /// closed after this.
    pub idle_timeout: Duration,
    /// Open connections at most; the next one is closed at once and counted.
    pub max: usize,
}

/// Default deadline for a whole request head (nginx `client_header_timeout`: 60 s).
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Default idle keep-alive time (nginx `keepalive_timeout`: 75 s).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl ConnectionLimits {
    /// The defaults with `max` open connections.
    pub const fn with_max(max: usize) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: HEADER_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max,
        }
    }

    /// Admin listener: Prometheus, probes of the operator's tooling and a few humans.
    pub const ADMIN: ConnectionLimits = ConnectionLimits::with_max(128);
    /// The public status page.
    pub const STATUS_PAGE: ConnectionLimits = ConnectionLimits::with_max(512);
    /// The demo backend.
    pub const DEMO: ConnectionLimits = ConnectionLimits::with_max(128);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnectionLimits {
    header_timeout: Option<String>,
    idle_timeout: Option<String>,
    max: Option<usize>,
}

impl Compiler {
    /// `{section}.connections`, with `defaults` for what is not written.
    pub(super) fn connection_limits(
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

#[cfg(test)]
mod tests {
    use crate::{Config, ConnectionLimits};
    use std::time::Duration;

    const BASE: &str = "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]\nupstreams:\n  app: { backends: [{ address: \"127.0.0.1:3000\" }] }\nroutes: [{ name: app, upstream: app }]\n";

    fn errors(yaml: &str) -> String {
        match Config::from_yaml(&format!("{BASE}{yaml}")) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_when_not_written() {
        let c = Config::from_yaml(&format!("{BASE}demo: {{ listen: \"127.0.0.1:8081\" }}\n"))
            .expect("valid");
        assert_eq!(c.admin.connections, ConnectionLimits::ADMIN);
        assert_eq!(c.demo.expect("demo").connections, ConnectionLimits::DEMO);
        assert_eq!(c.admin.connections.header_timeout, Duration::from_secs(30));
        assert_eq!(c.admin.connections.idle_timeout, Duration::from_secs(60));
    }

    #[test]
    fn written_values_and_partial_blocks() {
        let c = Config::from_yaml(&format!(
            "{BASE}admin:\n  connections: {{ header_timeout: 2s, idle_timeout: 1500ms, max: 3 }}\ndemo: {{ listen: \"127.0.0.1:8081\", connections: {{ max: 7 }} }}\n"
        ))
        .expect("valid");
        assert_eq!(
            c.admin.connections,
            ConnectionLimits {
                header_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_millis(1500),
                max: 3
            }
        );
        let demo = c.demo.expect("demo").connections;
        assert_eq!(demo.max, 7);
        assert_eq!(demo.idle_timeout, ConnectionLimits::DEMO.idle_timeout);
    }

    #[test]
    fn bad_values_name_their_path() {
        let e = errors("admin:\n  connections: { header_timeout: 0s, idle_timeout: soon, max: 0, per_ip: 2 }\n");
        assert!(e.contains("admin.connections"), "{e}");
        let e =
            errors("admin:\n  connections: { header_timeout: 0s, idle_timeout: soon, max: 0 }\n");
        assert!(e.contains("admin.connections.header_timeout"), "{e}");
        assert!(e.contains("at least 100ms"), "{e}");
        assert!(e.contains("admin.connections.idle_timeout"), "{e}");
        assert!(e.contains("admin.connections.max"), "{e}");
        let e = errors("demo: { listen: \"127.0.0.1:8081\", connections: { max: 0 } }\n");
        assert!(e.contains("demo.connections.max"), "{e}");
    }
}
