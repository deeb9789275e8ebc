//! The whole file: the sections there are, the order they compile in (a section that names
//! things of another compiles after it), and the checks across sections (one address used by
//! two listeners).

use crate::admin::raw::RawAdmin;
use crate::admin::AdminConfig;
use crate::alerting::AlertingConfig;
use crate::compiler::Compiler;
use crate::defaults;
use crate::error::ConfigError;
use crate::policy::RedisConfig;
use crate::probes::ProbesConfig;
use crate::routes::Route;
use crate::server::raw::{RawDemo, RawLog, RawServer};
use crate::server::*;
use crate::server::{ConnectionLimits, DemoConfig};
use crate::status::StatusPageConfig;
use crate::telemetry::TelemetryConfig;
use crate::tls::raw::RawTls;
use crate::tls::TlsConfig;
use crate::upstreams::Upstream;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A complete, valid gatehouse configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was read from, if any.
    pub source: Option<PathBuf>,
    /// The private admin listener (health, readiness, metrics).
    pub admin: AdminConfig,
    /// Process-level settings.
    pub server: ServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// Traces (OTLP) and error events (Sentry).
    pub telemetry: TelemetryConfig,
    /// The built-in demo backend, when enabled.
    pub demo: Option<DemoConfig>,
    /// Directory for state that outlives the process (ACME account and certificates).
    pub state_dir: PathBuf,
    /// Where the proxy accepts traffic.
    pub listeners: Vec<Listener>,
    /// Certificates for the TLS listeners, from files and from ACME.
    pub tls: TlsConfig,
    /// Peers whose X-Forwarded-For names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Redis for shared rate limits.
    pub redis: Option<RedisConfig>,
    /// Named pools of backends, by name.
    pub upstreams: BTreeMap<String, Upstream>,
    /// Routes, in file order.
    pub routes: Vec<Route>,
    /// Active probes, their scheduling and their result store.
    pub probes: ProbesConfig,
    /// Alert rules, incident handling and notifiers.
    pub alerting: AlertingConfig,
    /// The public status page, when configured.
    pub status_page: Option<StatusPageConfig>,
    /// Things that are allowed but probably not what the operator meant.
    pub warnings: Vec<ConfigError>,
}

/// The top-level sections, each deserialized on its own so that a problem in one does not
/// hide the problems in the others.
pub(crate) const SECTIONS: &[&str] = &[
    "admin",
    "server",
    "log",
    "telemetry",
    "probing",
    "probes",
    "store",
    "alerting",
    "status_page",
    "demo",
    "state_dir",
    "listeners",
    "tls",
    "trusted_proxies",
    "redis",
    "policies",
    "upstreams",
    "routes",
];

impl Compiler {
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
            None => defaults::state_dir(self.state_directory.as_deref()),
        };

        let probes = self.probes(probing, probes, store, &state_dir, &routes);
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
}
