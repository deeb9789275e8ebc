//! The `alerting` section as written.

use crate::compiler::Named;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlerting {
    pub default_rules: Option<bool>,
    pub evaluation_interval: Option<String>,
    pub group_wait: Option<String>,
    pub group_interval: Option<String>,
    pub repeat_interval: Option<String>,
    pub group_by: Option<Vec<String>>,
    pub send_resolved: Option<bool>,
    pub flapping: Option<RawFlapping>,
    pub delivery: Option<RawDelivery>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    #[schemars(with = "Option<Vec<RawRule>>")]
    pub rules: Option<Value>,
    #[schemars(with = "Option<Vec<RawMaintenance>>")]
    pub maintenance: Option<Value>,
    #[schemars(with = "Option<Vec<crate::schema::Notifier>>")]
    pub notifiers: Option<Value>,
    #[schemars(with = "Option<Vec<RawNotifyRoute>>")]
    pub routes: Option<Value>,
    #[schemars(with = "Option<Vec<RawInhibit>>")]
    pub inhibit: Option<Value>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFlapping {
    pub threshold: Option<u32>,
    pub period: Option<String>,
    pub window: Option<u32>,
    pub high: Option<u32>,
    pub low: Option<u32>,
    pub settle: Option<String>,
}

/// `{ count: 3, of: 5 }`: 3 of the last 5 checks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThreshold {
    pub count: u32,
    pub of: u32,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDelivery {
    pub backoff: Option<String>,
    pub max_backoff: Option<String>,
    pub expiry: Option<String>,
}

/// One name or a list of names.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub name: String,
    pub probe: Option<OneOrMany>,
    pub group: Option<OneOrMany>,
    /// A number (in a row) or a [`RawThreshold`] mapping.
    #[schemars(with = "Option<crate::schema::Threshold>")]
    pub failure_threshold: Option<Value>,
    #[schemars(with = "Option<crate::schema::Threshold>")]
    pub success_threshold: Option<Value>,
    pub route: Option<OneOrMany>,
    pub when: Option<String>,
    pub window: Option<String>,
    #[serde(rename = "for")]
    pub hold: Option<String>,
    pub min_requests: Option<u64>,
    pub certificate: Option<OneOrMany>,
    pub expires_within: Option<String>,
    pub acme_failures: Option<u32>,
    pub gatehouse: Option<String>,
    pub severity: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub summary: Option<String>,
    pub runbook: Option<String>,
    pub impact: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMaintenance {
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub duration: Option<String>,
    pub every: Option<OneOrMany>,
    pub at: Option<String>,
    pub timezone: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotifyRoute {
    #[serde(default)]
    pub severity: Option<OneOrMany>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub notifiers: OneOrMany,
    #[serde(rename = "continue", default)]
    pub continue_matching: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInhibit {
    pub source: BTreeMap<String, String>,
    pub target: BTreeMap<String, String>,
    #[serde(default)]
    pub equal: Vec<String>,
}

impl Named for RawRule {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for RawMaintenance {
    fn name(&self) -> &str {
        &self.name
    }
}
