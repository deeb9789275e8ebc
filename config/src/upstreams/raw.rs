//! `upstreams` as written.

use super::UpstreamProtocol;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub backends: Vec<RawBackend>,
    pub protocol: Option<UpstreamProtocol>,
    pub health_check: Option<RawHealthCheck>,
    pub passive_health: Option<RawPassiveHealth>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPassiveHealth {
    pub failures: Option<u32>,
    pub cool_off: Option<String>,
    pub max_cool_off: Option<String>,
    pub on_5xx: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackend {
    pub address: String,
    pub weight: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawHealthKind {
    Http,
    Tcp,
}

#[derive(Debug, Deserialize, JsonSchema)]
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

/// `upstreams` as written: each pool is deserialized on its own, by name.
pub(crate) type RawUpstreams = BTreeMap<String, serde_yaml::Value>;
