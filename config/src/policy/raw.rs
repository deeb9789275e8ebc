//! `policies`, `trusted_proxies` and `redis` as written.

use crate::headers::raw::RawHeaders;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub headers: Option<RawHeaders>,
    pub cors: Option<RawCors>,
    pub csrf: Option<RawCsrf>,
    pub rate_limits: Option<Vec<RawRateLimit>>,
    pub lockouts: Option<Vec<RawLockout>>,
    pub ip: Option<RawIpGate>,
    pub api_key: Option<RawApiKey>,
    pub basic_auth: Option<RawBasicAuth>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_headers: Option<Vec<String>>,
    pub expose_headers: Option<Vec<String>>,
    pub allow_credentials: Option<bool>,
    pub max_age: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCsrf {
    #[serde(default)]
    pub trusted_origins: Vec<String>,
    pub allow_without_origin: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "RateLimitStore")]
pub(crate) enum RawStore {
    Local,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawFailMode {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub name: String,
    pub rate: String,
    pub burst: Option<u32>,
    pub key: Option<Vec<String>>,
    pub store: Option<RawStore>,
    pub on_store_error: Option<RawFailMode>,
    pub max_keys: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLockout {
    pub name: String,
    pub statuses: Vec<u16>,
    pub max_failures: u32,
    pub window: String,
    pub block_for: String,
    pub key: Option<Vec<String>>,
    pub max_keys: Option<u64>,
    pub store: Option<RawStore>,
    pub on_store_error: Option<RawFailMode>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIpGate {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApiKey {
    pub header: Option<String>,
    #[serde(default)]
    pub keys: Vec<String>,
    pub keys_file: Option<String>,
    pub forward_credentials: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasicAuth {
    pub realm: Option<String>,
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    pub users_file: Option<String>,
    pub forward_credentials: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRedis {
    pub url: String,
    pub timeout: Option<String>,
    pub key_prefix: Option<String>,
}
