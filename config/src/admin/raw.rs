//! `admin` as written.

use crate::compiler::Named;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub listen: Option<String>,
    #[serde(default)]
    #[schemars(with = "Vec<RawAdminToken>")]
    pub tokens: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub hosts: Vec<String>,
    pub metrics_open: Option<bool>,
    #[schemars(with = "Option<crate::server::raw::RawConnectionLimits>")]
    pub connections: Option<serde_yaml::Value>,
}

/// One admin API token: the value inline (usually `${ENV}`) or in a file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdminToken {
    pub name: String,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub scope: Option<super::AdminScope>,
}

impl Named for RawAdminToken {
    fn name(&self) -> &str {
        &self.name
    }
}
