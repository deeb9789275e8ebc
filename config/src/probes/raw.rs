//! `probing`, `probes` and `store` as written.

use crate::compiler::Named;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProbing {
    pub concurrency: Option<usize>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub retry_delay: Option<String>,
    pub public_heartbeat_path: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub path: Option<String>,
    pub memory: Option<bool>,
    pub raw_retention: Option<String>,
    pub hourly_retention: Option<String>,
    pub daily_retention: Option<String>,
    /// Cluster mode: a `postgres://` or `postgresql://` URL (`${ENV}` for the password).
    pub postgres: Option<String>,
    /// This instance's name in the cluster (default: the hostname).
    pub instance: Option<String>,
    /// An extra root CA (PEM) for the PostgreSQL server's certificate.
    pub ca_file: Option<String>,
    /// The leader lease's time to live (default `15s`).
    pub lease_ttl: Option<String>,
    /// Results kept in memory while the store fails, written when it is back (default 10000).
    pub buffer: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProbe {
    pub name: String,
    pub group: Option<String>,
    pub http: Option<RawHttpProbe>,
    pub tcp: Option<RawTcpProbe>,
    pub tls: Option<RawTlsProbe>,
    pub dns: Option<RawDnsProbe>,
    pub redis: Option<RawRedisProbe>,
    pub heartbeat: Option<RawHeartbeatProbe>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub retry_delay: Option<String>,
    #[serde(default)]
    pub conditions: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    pub depends_on_settle: Option<String>,
    /// Cluster mode: how many of the instances that reported recently must see it down.
    pub quorum: Option<RawQuorum>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttpProbe {
    pub url: String,
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    pub follow_redirects: Option<bool>,
    pub verify_tls: Option<bool>,
    pub ca: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTcpProbe {
    pub address: String,
    pub send: Option<String>,
    pub expect: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTlsProbe {
    pub address: String,
    pub server_name: Option<String>,
    pub ca: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDnsProbe {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: Option<String>,
    pub server: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRedisProbe {
    pub url: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeartbeatProbe {
    pub token: String,
    pub period: String,
    pub grace: Option<String>,
}

impl Named for RawProbe {
    fn name(&self) -> &str {
        &self.name
    }
}

/// `quorum`: `any`, `majority`, `all` or a number of instances.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawQuorum {
    Count(u32),
    Name(String),
}
