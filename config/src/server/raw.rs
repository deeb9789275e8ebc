//! `server`, `log`, `demo`, `listeners` and `connections` as written.

use super::LogFormat;
use crate::compiler::Named;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, JsonSchema)]
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
    pub upstream_keepalive_pool: Option<usize>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequestLimits {
    pub request_line: Option<String>,
    pub header_line: Option<String>,
    pub head: Option<String>,
    pub headers: Option<usize>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub format: Option<LogFormat>,
    pub level: Option<String>,
    pub access_log: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDemo {
    pub listen: String,
    #[schemars(with = "Option<RawConnectionLimits>")]
    pub connections: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawListener {
    pub name: String,
    pub address: String,
    pub tls: Option<bool>,
    pub http2: Option<bool>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConnectionLimits {
    pub header_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub max: Option<usize>,
}

impl Named for RawListener {
    const CHECKED: bool = false;
    fn name(&self) -> &str {
        &self.name
    }
}
