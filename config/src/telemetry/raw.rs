//! `telemetry` as written.

use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelemetry {
    pub service_name: Option<String>,
    pub instance: Option<String>,
    #[serde(default)]
    pub resource: BTreeMap<String, String>,
    pub signals: Option<bool>,
    pub tracing: Option<RawTracing>,
    pub sentry: Option<RawSentry>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTracing {
    pub endpoint: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub sample_ratio: Option<f64>,
    pub parent_based: Option<bool>,
    pub queue_size: Option<usize>,
    pub batch_size: Option<usize>,
    pub batch_delay: Option<String>,
    pub export_timeout: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSentry {
    pub dsn: String,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub sample_rate: Option<f64>,
    pub max_events: Option<String>,
    pub upstream_5xx: Option<bool>,
    #[serde(default)]
    pub sensitive_query_params: Vec<String>,
}
