//! `routes` as written.

use crate::compiler::Named;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
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
    #[schemars(with = "Option<crate::policy::raw::RawPolicy>")]
    pub policy: Option<serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimeouts {
    pub connect: Option<String>,
    pub read: Option<String>,
    pub total: Option<String>,
}

impl Named for RawRoute {
    fn name(&self) -> &str {
        &self.name
    }
}
