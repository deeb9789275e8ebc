//! What the operator wrote: serde types that mirror the YAML, strict about unknown keys.
//! Durations, sizes and addresses stay strings here so that the compile step can report every
//! bad value at once, with its path.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub listen: Option<String>,
    #[serde(default)]
    pub tokens: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub hosts: Vec<String>,
    pub metrics_open: Option<bool>,
    pub connections: Option<serde_yaml::Value>,
}

/// One admin API token: the value inline (usually `${ENV}`) or in a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdminToken {
    pub name: String,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub scope: Option<crate::model::AdminScope>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub threads: Option<usize>,
    pub grace_period: Option<String>,
    pub limits: Option<RawRequestLimits>,
    pub underscores_in_headers: Option<bool>,
    pub keepalive_timeout: Option<String>,
    pub header_timeout: Option<String>,
    pub client_body_timeout: Option<String>,
    pub send_timeout: Option<String>,
    pub keepalive_requests: Option<u32>,
    pub http2_max_concurrent_streams: Option<u32>,
    pub http2_max_resets: Option<u32>,
    pub tls_handshake_timeout: Option<String>,
    pub max_tls_handshakes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequestLimits {
    pub request_line: Option<String>,
    pub header_line: Option<String>,
    pub head: Option<String>,
    pub headers: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub format: Option<LogFormat>,
    pub level: Option<String>,
    pub access_log: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDemo {
    pub listen: String,
    pub connections: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawListener {
    pub name: String,
    pub address: String,
    pub tls: Option<bool>,
    pub http2: Option<bool>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (WebSocket upgrades pass through).
    #[default]
    Http1,
    /// HTTP/2 over cleartext with prior knowledge.
    H2c,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub backends: Vec<RawBackend>,
    pub protocol: Option<UpstreamProtocol>,
    pub health_check: Option<RawHealthCheck>,
    pub passive_health: Option<RawPassiveHealth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPassiveHealth {
    pub failures: Option<u32>,
    pub cool_off: Option<String>,
    pub max_cool_off: Option<String>,
    pub on_5xx: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackend {
    pub address: String,
    pub weight: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawHealthKind {
    Http,
    Tcp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealthCheck {
    #[serde(rename = "type")]
    pub kind: RawHealthKind,
    pub path: Option<String>,
    pub host: Option<String>,
    pub expect_status: Option<u16>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub healthy_threshold: Option<usize>,
    pub unhealthy_threshold: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub name: String,
    #[serde(default)]
    pub hosts: Vec<String>,
    pub path_prefix: Option<String>,
    pub upstream: String,
    pub timeouts: Option<RawTimeouts>,
    pub retries: Option<u32>,
    pub max_body_size: Option<String>,
    pub redirect_https: Option<bool>,
    pub allow_encoded_slashes: Option<bool>,
    pub refuse_matrix_params: Option<bool>,
    pub case_insensitive: Option<bool>,
    #[serde(default)]
    pub policies: Vec<String>,
    pub policy: Option<serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimeouts {
    pub connect: Option<String>,
    pub read: Option<String>,
    pub total: Option<String>,
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

/// `upstreams` as written: each pool is deserialized on its own, by name.
pub(crate) type RawUpstreams = BTreeMap<String, serde_yaml::Value>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    #[serde(default)]
    pub certificates: Vec<RawCertificateFiles>,
    pub default_certificate: Option<String>,
    pub redirect_http: Option<bool>,
    pub https_port: Option<u16>,
    pub acme: Option<RawAcme>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCertificateFiles {
    pub cert_file: String,
    pub key_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAcme {
    pub email: Option<String>,
    pub directory: Option<String>,
    pub directory_ca_file: Option<String>,
    pub external_account: Option<RawExternalAccount>,
    pub check_interval: Option<String>,
    pub retry_min: Option<String>,
    pub retry_max: Option<String>,
    pub certificates: Vec<RawAcmeCertificate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExternalAccount {
    pub key_id: String,
    pub hmac_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum RawChallenge {
    #[serde(rename = "http-01")]
    Http01,
    #[serde(rename = "dns-01")]
    Dns01,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAcmeCertificate {
    pub names: Vec<String>,
    pub challenge: Option<RawChallenge>,
    pub dns_hook: Option<RawDnsHook>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDnsHook {
    pub command: Option<Vec<String>>,
    pub url: Option<String>,
    pub propagation_delay: Option<String>,
    pub timeout: Option<String>,
}
