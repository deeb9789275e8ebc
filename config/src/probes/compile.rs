//! `probes`, `probing` and `store`: each probe's kind and target checked, its conditions
//! compiled (errors point into the expression), defaults filled in.

use super::condition::parse_condition;
use super::raw::*;
use super::*;
use crate::compiler::{Compiler, NamedList};
use crate::secret::Secret;
use serde_yaml::Value;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Defaults of `probing`.
pub(crate) mod defaults {
    use std::time::Duration;
    pub(crate) const CONCURRENCY: usize = 1024;
    pub(crate) const INTERVAL: Duration = Duration::from_secs(60);
    pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
    pub(crate) const RETRY_DELAY: Duration = Duration::from_secs(1);
    pub(crate) const RAW_RETENTION: Duration = Duration::from_secs(7 * 86400);
    pub(crate) const HOURLY_RETENTION: Duration = Duration::from_secs(90 * 86400);
    pub(crate) const DAILY_RETENTION: Duration = Duration::from_secs(400 * 86400);
    pub(crate) const HEARTBEAT_GRACE: Duration = Duration::from_secs(60);
}

/// The conditions a probe has when it names none.
fn default_conditions(kind: KindTag) -> &'static [&'static str] {
    match kind {
        KindTag::Http => &["status < 400"],
        KindTag::Tcp => &["connected == true"],
        KindTag::Tls => &["cert_valid == true", "cert_expiry > 0s"],
        KindTag::Dns => &["record_count > 0"],
        KindTag::Redis => &["connected == true"],
        KindTag::Heartbeat => &[],
    }
}

impl Compiler {
    pub(crate) fn probes(
        &mut self,
        probing: Option<Value>,
        probes: Option<Value>,
        store: Option<Value>,
        state_dir: &Path,
        routes: &[crate::routes::Route],
    ) -> ProbesConfig {
        let settings: RawProbing = probing
            .and_then(|v| self.section(v, "probing"))
            .unwrap_or_default();
        let concurrency = settings.concurrency.unwrap_or(defaults::CONCURRENCY);
        if concurrency == 0 {
            self.err("probing.concurrency", "must be at least 1");
        }
        let interval = self.duration(
            settings.interval.as_deref(),
            "probing.interval".into(),
            defaults::INTERVAL,
        );
        let timeout = settings
            .timeout
            .as_deref()
            .map(|v| self.duration(Some(v), "probing.timeout".into(), defaults::TIMEOUT));
        let retry_delay = self.duration(
            settings.retry_delay.as_deref(),
            "probing.retry_delay".into(),
            defaults::RETRY_DELAY,
        );
        let base = Defaults {
            interval,
            timeout,
            retries: settings.retries.unwrap_or(0),
            retry_delay,
        };
        let mut names = NamedList::new("probes", "probe name");
        let mut out = Vec::new();
        for (i, item) in self.list(probes, "probes").into_iter().enumerate() {
            let Some((path, raw)) = names.item::<RawProbe>(self, i, item) else {
                continue;
            };
            if let Some(p) = self.probe(raw, &path, &base) {
                out.push(p);
            }
        }
        self.dependencies(&out, routes);
        let store = self.store(store, state_dir);
        let public_heartbeat_path = settings
            .public_heartbeat_path
            .and_then(|p| self.public_heartbeat_path(p));
        ProbesConfig {
            concurrency: concurrency.max(1),
            probes: out,
            store,
            public_heartbeat_path,
        }
    }

    /// `probing.public_heartbeat_path`: an absolute path without a trailing `/`, query or
    /// dot segments, below which `/{probe}` is appended.
    fn public_heartbeat_path(&mut self, path: String) -> Option<String> {
        let p = path.trim().trim_end_matches('/');
        let clean = p.starts_with('/')
            && p.len() > 1
            && p.split('/').skip(1).all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
            });
        if !clean {
            self.err(
                "probing.public_heartbeat_path",
                format!("`{path}` must be a path starting with `/` made of letters, digits, `-`, `.`, `_` and `~` segments, e.g. `/.well-known/gatehouse/heartbeat`"),
            );
            return None;
        }
        Some(p.to_string())
    }

    /// `depends_on` names existing probes (not the probe itself) or routes, and has no cycle.
    fn dependencies(&mut self, probes: &[Probe], routes: &[crate::routes::Route]) {
        let index: std::collections::HashMap<&str, usize> = probes
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_str(), i))
            .collect();
        for (i, p) in probes.iter().enumerate() {
            for (j, parent) in p.depends_on.iter().enumerate() {
                let path = format!("probes[{i}].depends_on[{j}]");
                if parent == &p.name {
                    self.err(path, "a probe cannot depend on itself");
                } else if !index.contains_key(parent.as_str())
                    && !routes.iter().any(|r| &r.name == parent)
                {
                    self.err(path, format!("unknown probe or route `{parent}`"));
                }
            }
        }
        // A cycle: walking up from a probe comes back to it.
        for (i, p) in probes.iter().enumerate() {
            let mut seen = HashSet::new();
            let mut stack: Vec<&str> = p.depends_on.iter().map(String::as_str).collect();
            while let Some(n) = stack.pop() {
                if n == p.name {
                    self.err(
                        format!("probes[{i}].depends_on"),
                        format!("`{}` depends on itself through its parents", p.name),
                    );
                    break;
                }
                if seen.insert(n) {
                    if let Some(&k) = index.get(n) {
                        stack.extend(probes[k].depends_on.iter().map(String::as_str));
                    }
                }
            }
        }
    }

    fn probe(&mut self, raw: RawProbe, path: &str, base: &Defaults) -> Option<Probe> {
        let kinds = [
            raw.http.is_some(),
            raw.tcp.is_some(),
            raw.tls.is_some(),
            raw.dns.is_some(),
            raw.redis.is_some(),
            raw.heartbeat.is_some(),
        ];
        let count = kinds.iter().filter(|k| **k).count();
        if count != 1 {
            self.err(
                path,
                format!(
                    "a probe has exactly one kind: `http`, `tcp`, `tls`, `dns`, `redis` or `heartbeat` ({} given)",
                    count
                ),
            );
            return None;
        }
        let kind = if let Some(h) = raw.http {
            ProbeKind::Http(self.http_probe(h, &format!("{path}.http"))?)
        } else if let Some(t) = raw.tcp {
            ProbeKind::Tcp(self.tcp_probe(t, &format!("{path}.tcp")))
        } else if let Some(t) = raw.tls {
            ProbeKind::Tls(self.tls_probe(t, &format!("{path}.tls")))
        } else if let Some(d) = raw.dns {
            ProbeKind::Dns(self.dns_probe(d, &format!("{path}.dns")))
        } else if let Some(r) = raw.redis {
            let url = r.url.trim().to_string();
            if !url.starts_with("redis://") {
                self.err(
                    format!("{path}.redis.url"),
                    "must start with redis://, e.g. `redis://127.0.0.1:6379`",
                );
            }
            ProbeKind::Redis(RedisProbe { url: Secret(url) })
        } else {
            let h = raw.heartbeat?;
            ProbeKind::Heartbeat(self.heartbeat_probe(h, &format!("{path}.heartbeat")))
        };
        let tag = kind.tag();
        let interval = match (&kind, raw.interval.as_deref()) {
            (ProbeKind::Heartbeat(h), None) => {
                (h.period / 4).clamp(Duration::from_secs(1), Duration::from_secs(30))
            }
            (_, v) => self.duration(v, format!("{path}.interval"), base.interval),
        };
        let retry_delay = self.duration(
            raw.retry_delay.as_deref(),
            format!("{path}.retry_delay"),
            base.retry_delay,
        );
        let retries = raw.retries.unwrap_or(base.retries);
        let explicit = raw
            .timeout
            .as_deref()
            .map(|v| self.duration(Some(v), format!("{path}.timeout"), defaults::TIMEOUT))
            .or(base.timeout);
        // Unset, the timeout is 10 s or what fits: like Uptime Kuma (80 % of the interval), the
        // attempts and the delays between them take at most 80 % of the interval.
        let timeout = explicit.unwrap_or_else(|| {
            let room = (interval.mul_f64(0.8)).saturating_sub(retry_delay.saturating_mul(retries));
            (room / retries.saturating_add(1)).clamp(Duration::from_millis(1), defaults::TIMEOUT)
        });
        for (d, name) in [(interval, "interval"), (timeout, "timeout")] {
            if d.is_zero() {
                self.err(format!("{path}.{name}"), "must be longer than zero");
            }
        }
        if !matches!(kind, ProbeKind::Heartbeat(_)) && !interval.is_zero() {
            self.check_budget(path, interval, timeout, retries, retry_delay);
        }
        let mut conditions = Vec::new();
        if raw.conditions.is_empty() {
            for text in default_conditions(tag) {
                if let Ok(c) = parse_condition(text, tag) {
                    conditions.push(c);
                }
            }
        }
        for (j, text) in raw.conditions.iter().enumerate() {
            match parse_condition(text, tag) {
                Ok(c) => conditions.push(c),
                Err(e) => self.err(format!("{path}.conditions[{j}]"), e.render(text)),
            }
        }
        let depends_on_settle = raw
            .depends_on_settle
            .as_deref()
            .map(|v| self.duration(Some(v), format!("{path}.depends_on_settle"), Duration::ZERO));
        let quorum = match raw.quorum {
            None => Quorum::Majority,
            Some(RawQuorum::Count(k)) if k > 0 => Quorum::AtLeast(k),
            Some(RawQuorum::Name(n)) if n == "any" => Quorum::Any,
            Some(RawQuorum::Name(n)) if n == "majority" => Quorum::Majority,
            Some(RawQuorum::Name(n)) if n == "all" => Quorum::All,
            Some(_) => {
                self.err(
                    format!("{path}.quorum"),
                    "must be `any`, `majority` (the default), `all` or a number of instances (1 or more)",
                );
                Quorum::Majority
            }
        };
        let group = raw.group.unwrap_or_else(|| "default".into());
        if group.trim().is_empty() {
            self.err(format!("{path}.group"), "must not be empty");
        }
        Some(Probe {
            name: raw.name,
            group,
            kind,
            interval,
            timeout,
            retries,
            retry_delay,
            conditions,
            labels: raw.labels,
            depends_on: raw.depends_on,
            depends_on_settle,
            quorum,
        })
    }

    /// A check (every attempt at its timeout, the delays between them) must fit in its interval,
    /// or the next check is due before this one can end: results pile up behind each other and
    /// the schedule drifts. gatus and Uptime Kuma leave this to the operator; we refuse it.
    fn check_budget(
        &mut self,
        path: &str,
        interval: Duration,
        timeout: Duration,
        retries: u32,
        retry_delay: Duration,
    ) {
        let worst =
            timeout.saturating_mul(retries.saturating_add(1)) + retry_delay.saturating_mul(retries);
        if worst > interval {
            let fmt = |d: Duration| humantime::format_duration(d).to_string();
            self.err(
                format!("{path}.interval"),
                format!(
                    "{} is shorter than a failing check can take: (1 + retries {retries}) × \
                     timeout {} + {retries} × retry_delay {} = {}; lengthen the interval or \
                     lower timeout, retries or retry_delay",
                    fmt(interval),
                    fmt(timeout),
                    fmt(retry_delay),
                    fmt(worst)
                ),
            );
        }
    }

    fn http_probe(&mut self, raw: RawHttpProbe, path: &str) -> Option<HttpProbe> {
        let url = raw.url.trim().to_string();
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            self.err(
                format!("{path}.url"),
                format!("`{url}` must start with http:// or https://"),
            );
            return None;
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else {
            target.to_string()
        };
        let Some((host, port)) = split_host_port(authority, if tls { 443 } else { 80 }) else {
            self.err(
                format!("{path}.url"),
                format!("`{url}`: `{authority}` is not HOST or HOST:PORT"),
            );
            return None;
        };
        if target.contains(char::is_whitespace) || authority.contains('@') {
            self.err(
                format!("{path}.url"),
                format!("`{url}` has spaces or credentials; put credentials in `headers`"),
            );
        }
        let method = raw
            .method
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            self.err(
                format!("{path}.method"),
                format!("`{method}` is not an HTTP method"),
            );
        }
        let mut headers = Vec::new();
        for (name, value) in raw.headers {
            if http_name_invalid(&name) {
                self.err(
                    format!("{path}.headers"),
                    format!("`{name}` is not a header name"),
                );
            }
            if value.bytes().any(|b| b < 0x20 && b != b'\t') {
                self.err(
                    format!("{path}.headers.{name}"),
                    "the value contains a control character",
                );
            }
            headers.push((name.to_ascii_lowercase(), Secret(value)));
        }
        let verify_tls = raw.verify_tls.unwrap_or(true);
        if !tls && raw.verify_tls.is_some() {
            self.warn(
                format!("{path}.verify_tls"),
                "has no effect on an http:// URL",
            );
        }
        let ca = raw.ca.map(|c| self.ca_file(&c, &format!("{path}.ca")));
        Some(HttpProbe {
            url,
            tls,
            host,
            port,
            path: target,
            method,
            headers,
            body: raw.body,
            follow_redirects: raw.follow_redirects.unwrap_or(true),
            verify_tls,
            ca,
        })
    }

    fn tcp_probe(&mut self, raw: RawTcpProbe, path: &str) -> TcpProbe {
        self.host_port(&raw.address, &format!("{path}.address"));
        if raw.expect.as_deref() == Some("") {
            self.err(format!("{path}.expect"), "must not be empty");
        }
        TcpProbe {
            address: raw.address.trim().to_string(),
            send: raw.send,
            expect: raw.expect,
        }
    }

    fn tls_probe(&mut self, raw: RawTlsProbe, path: &str) -> TlsProbe {
        let host = self
            .host_port(&raw.address, &format!("{path}.address"))
            .map(|(h, _)| h)
            .unwrap_or_default();
        let server_name = raw.server_name.unwrap_or(host);
        if server_name.trim().is_empty() {
            self.err(format!("{path}.server_name"), "must not be empty");
        }
        TlsProbe {
            address: raw.address.trim().to_string(),
            server_name,
            ca: raw.ca.map(|c| self.ca_file(&c, &format!("{path}.ca"))),
        }
    }

    fn dns_probe(&mut self, raw: RawDnsProbe, path: &str) -> DnsProbe {
        let name = raw.name.trim().to_string();
        if name.is_empty() || name.contains(char::is_whitespace) {
            self.err(
                format!("{path}.name"),
                format!("`{name}` is not a DNS name"),
            );
        }
        let record_type = match raw
            .record_type
            .as_deref()
            .unwrap_or("A")
            .to_ascii_uppercase()
            .as_str()
        {
            "A" => DnsRecordType::A,
            "AAAA" => DnsRecordType::Aaaa,
            "CNAME" => DnsRecordType::Cname,
            "MX" => DnsRecordType::Mx,
            "TXT" => DnsRecordType::Txt,
            "NS" => DnsRecordType::Ns,
            other => {
                self.err(
                    format!("{path}.type"),
                    format!("`{other}` is not a supported record type; use A, AAAA, CNAME, MX, TXT or NS"),
                );
                DnsRecordType::A
            }
        };
        let server = raw.server.and_then(|s| {
            let s = s.trim();
            let with_port = if s.parse::<std::net::IpAddr>().is_ok() {
                format!("{s}:53")
            } else {
                s.to_string()
            };
            self.socket_addr(&with_port, format!("{path}.server"))
        });
        DnsProbe {
            name,
            record_type,
            server,
        }
    }

    fn heartbeat_probe(&mut self, raw: RawHeartbeatProbe, path: &str) -> HeartbeatProbe {
        if raw.token.len() < 16 {
            self.err(
                format!("{path}.token"),
                "must be at least 16 characters; take it from the environment, e.g. `token: ${BACKUP_HEARTBEAT_TOKEN}`",
            );
        }
        let period = self.duration(
            Some(&raw.period),
            format!("{path}.period"),
            Duration::from_secs(3600),
        );
        if period.is_zero() {
            self.err(format!("{path}.period"), "must be longer than zero");
        }
        let grace = self.duration(
            raw.grace.as_deref(),
            format!("{path}.grace"),
            defaults::HEARTBEAT_GRACE,
        );
        HeartbeatProbe {
            token: Secret(raw.token),
            period,
            grace,
        }
    }

    fn ca_file(&mut self, value: &str, path: &str) -> PathBuf {
        if value.trim().is_empty() {
            self.err(path, "must name a PEM file of CA certificates");
        }
        PathBuf::from(value.trim())
    }

    fn host_port(&mut self, value: &str, path: &str) -> Option<(String, u16)> {
        let v = value.trim();
        match v.rsplit_once(':') {
            Some((_, p)) if p.parse::<u16>().is_ok() => split_host_port(v, 0),
            _ => {
                self.err(
                    path,
                    format!("`{v}` is not HOST:PORT, e.g. `db.internal:5432` or `127.0.0.1:6379`"),
                );
                None
            }
        }
    }
}

struct Defaults {
    interval: Duration,
    /// `probing.timeout`, when set; otherwise each probe's default fits its interval.
    timeout: Option<Duration>,
    retries: u32,
    retry_delay: Duration,
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` → (host without brackets, port).
fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty() {
        return None;
    }
    if let Ok(sa) = authority.parse::<SocketAddr>() {
        return Some((sa.ip().to_string(), sa.port()));
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        ip.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((ip.to_string(), port));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, default_port),
    };
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    ok.then(|| (host.to_ascii_lowercase(), port))
}

fn http_name_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}
