//! The `probes`, `probing` and `store` sections: active checks of services, how they are
//! scheduled, and where their results are kept.

pub(crate) mod compile;
pub mod condition;
pub(crate) mod raw;
mod store;
#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod tests;

use crate::secret::Secret;
use condition::Condition;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything about active probes.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbesConfig {
    /// Checks running at once, across all probes.
    pub concurrency: usize,
    /// The probes, in file order.
    pub probes: Vec<Probe>,
    /// Where results are kept.
    pub store: StoreConfig,
    /// `probing.public_heartbeat_path`: heartbeat pushes are also answered on the proxy
    /// listeners under this path (`POST {path}/{probe}`); `None` (the default): admin only.
    pub public_heartbeat_path: Option<String>,
}

/// One probe: what it checks, how often, and when it counts as up.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Unique name (metric label, API path).
    pub name: String,
    /// Group for dashboards and alert grouping (`default` when not given).
    pub group: String,
    /// What a check does.
    pub kind: ProbeKind,
    /// Time between checks (for heartbeats: how often the deadline is evaluated).
    pub interval: Duration,
    /// Deadline of one attempt.
    pub timeout: Duration,
    /// Extra attempts within one check before it counts as failed.
    pub retries: u32,
    /// Wait between attempts.
    pub retry_delay: Duration,
    /// All must hold for the probe to be up. Never empty: each kind has defaults.
    pub conditions: Vec<Condition>,
    /// Free-form labels (for alert routing).
    pub labels: BTreeMap<String, String>,
    /// Probes this one depends on: while one of them is down, this probe's alerts are
    /// suppressed.
    pub depends_on: Vec<String>,
    /// How long this probe's alerts stay held after a parent recovers, for this probe to
    /// recover in turn (`None`: twice what its rules' success threshold takes at its
    /// interval).
    pub depends_on_settle: Option<Duration>,
    /// In a cluster: how many of the instances that reported it recently must see it down
    /// for it to count as down.
    pub quorum: Quorum,
}

/// `probes[].quorum`: how many of the `n` instances that reported a probe recently must see
/// it down (with one instance every choice is that instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quorum {
    /// One is enough.
    Any,
    /// More than half (the default).
    #[default]
    Majority,
    /// Every one.
    All,
    /// At least this many (all of them when fewer report).
    AtLeast(u32),
}

impl Quorum {
    /// How many of `n` reporting instances must see it down (at least 1).
    pub fn needed(self, n: usize) -> usize {
        let n = n.max(1);
        match self {
            Quorum::Any => 1,
            Quorum::Majority => n / 2 + 1,
            Quorum::All => n,
            Quorum::AtLeast(k) => usize::try_from(k).unwrap_or(usize::MAX).clamp(1, n),
        }
    }
}

impl Probe {
    /// The labels its alerts carry before a rule adds its own: the probe's `labels`, `group`,
    /// `kind: probe` and `subject: <name>`. Maintenance windows match on these.
    pub fn alert_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.insert("group".into(), self.group.clone());
        labels.insert("kind".into(), "probe".into());
        labels.insert("subject".into(), self.name.clone());
        labels
    }
}

/// The kind of a probe, with its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeKind {
    /// An HTTP(S) request.
    Http(HttpProbe),
    /// A TCP connect, optionally sending and expecting bytes.
    Tcp(TcpProbe),
    /// A TLS handshake: certificate expiry and chain validity.
    Tls(TlsProbe),
    /// A DNS lookup.
    Dns(DnsProbe),
    /// Redis `PING` and `INFO stats`.
    Redis(RedisProbe),
    /// A push monitor: a job calls `POST /api/v1/heartbeat/{name}`.
    Heartbeat(HeartbeatProbe),
}

impl ProbeKind {
    /// The kind's tag, as written in the config.
    pub fn tag(&self) -> KindTag {
        match self {
            ProbeKind::Http(_) => KindTag::Http,
            ProbeKind::Tcp(_) => KindTag::Tcp,
            ProbeKind::Tls(_) => KindTag::Tls,
            ProbeKind::Dns(_) => KindTag::Dns,
            ProbeKind::Redis(_) => KindTag::Redis,
            ProbeKind::Heartbeat(_) => KindTag::Heartbeat,
        }
    }
}

/// The probe kinds, without settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KindTag {
    /// `http`
    Http,
    /// `tcp`
    Tcp,
    /// `tls`
    Tls,
    /// `dns`
    Dns,
    /// `redis`
    Redis,
    /// `heartbeat`
    Heartbeat,
}

impl KindTag {
    /// As written in the config and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            KindTag::Http => "http",
            KindTag::Tcp => "tcp",
            KindTag::Tls => "tls",
            KindTag::Dns => "dns",
            KindTag::Redis => "redis",
            KindTag::Heartbeat => "heartbeat",
        }
    }
}

/// An HTTP(S) probe.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpProbe {
    /// The URL, `http://` or `https://`.
    pub url: String,
    /// `https`
    pub tls: bool,
    /// Host (name or IP literal, without brackets).
    pub host: String,
    /// Port (default of the scheme when not in the URL).
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
    /// Request method, upper case.
    pub method: String,
    /// Extra request headers.
    pub headers: Vec<(String, Secret)>,
    /// Request body.
    pub body: Option<String>,
    /// Follow 3xx responses with a `Location` (at most 10 hops).
    pub follow_redirects: bool,
    /// Verify the server's certificate (on by default).
    pub verify_tls: bool,
    /// Extra trusted CA certificates (PEM file), besides the system's.
    pub ca: Option<PathBuf>,
}

/// A TCP probe.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpProbe {
    /// `HOST:PORT`.
    pub address: String,
    /// Bytes sent after connecting.
    pub send: Option<String>,
    /// Read until this substring arrives (or the timeout).
    pub expect: Option<String>,
}

/// A TLS certificate probe.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsProbe {
    /// `HOST:PORT`.
    pub address: String,
    /// Name the chain must be valid for (default: the host of `address`).
    pub server_name: String,
    /// Extra trusted CA certificates (PEM file), besides the system's.
    pub ca: Option<PathBuf>,
}

/// A DNS probe.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsProbe {
    /// The name looked up.
    pub name: String,
    /// The record type asked for.
    pub record_type: DnsRecordType,
    /// Ask this server (UDP, then TCP on truncation); `None`: the system's resolvers.
    pub server: Option<SocketAddr>,
}

/// DNS record types a probe can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsRecordType {
    /// IPv4 address
    A,
    /// IPv6 address
    Aaaa,
    /// Canonical name
    Cname,
    /// Mail exchanger
    Mx,
    /// Text
    Txt,
    /// Name server
    Ns,
}

/// A Redis probe.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisProbe {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: Secret,
}

/// A heartbeat (push) monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatProbe {
    /// The job sends this as `Authorization: Bearer TOKEN` or `?token=TOKEN`.
    pub token: Secret,
    /// A beat is expected at least this often.
    pub period: Duration,
    /// Extra time allowed after the period before the monitor fails.
    pub grace: Duration,
}

/// Where probe results go.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// The SQLite file; `None` keeps results in memory only (lost on restart).
    pub path: Option<PathBuf>,
    /// How long each raw result is kept.
    pub raw_retention: Duration,
    /// How long hourly rollups are kept.
    pub hourly_retention: Duration,
    /// How long daily rollups are kept.
    pub daily_retention: Duration,
    /// Results kept in memory while the store fails (oldest dropped first, counted).
    pub buffer: usize,
    /// Cluster mode: the shared PostgreSQL store (`path` then holds only what is not shared yet).
    pub postgres: Option<PostgresStore>,
}

/// `store.postgres` and its companions: several instances share their state.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresStore {
    /// The connection URL, `${ENV}` expanded.
    pub url: crate::secret::Secret,
    /// This instance's name (tags its probe results; unique in the cluster).
    pub instance: String,
    /// An extra root CA for the server's certificate (besides the system roots).
    pub ca_file: Option<PathBuf>,
    /// The leader lease's time to live.
    pub lease_ttl: Duration,
}
