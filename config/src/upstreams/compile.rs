//! `upstreams`: pools of backends with their health checks.

use super::raw::*;
use super::*;
use crate::compiler::{check_name, Compiler};
use crate::defaults;
use serde_yaml::Value;
use std::collections::{BTreeMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};

impl Compiler {
    pub(crate) fn upstreams(&mut self, value: Option<Value>) -> BTreeMap<String, Upstream> {
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
        let passive_health = self.passive_health(
            raw.passive_health.unwrap_or_default(),
            &format!("{path}.passive_health"),
        );
        Some(Upstream {
            name,
            backends,
            protocol: raw.protocol.unwrap_or_default(),
            health_check,
            passive_health,
        })
    }

    fn passive_health(&mut self, raw: RawPassiveHealth, path: &str) -> PassiveHealth {
        let d = PassiveHealth::default();
        let cool_off = self.duration(
            raw.cool_off.as_deref(),
            format!("{path}.cool_off"),
            d.cool_off,
        );
        let max_cool_off = self.duration(
            raw.max_cool_off.as_deref(),
            format!("{path}.max_cool_off"),
            d.max_cool_off,
        );
        if cool_off.is_zero() || max_cool_off < cool_off {
            self.err(
                format!("{path}.max_cool_off"),
                "cool_off must be above zero and max_cool_off at least cool_off",
            );
        }
        PassiveHealth {
            failures: raw.failures.unwrap_or(d.failures),
            cool_off,
            max_cool_off,
            on_5xx: raw.on_5xx.unwrap_or(d.on_5xx),
        }
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
