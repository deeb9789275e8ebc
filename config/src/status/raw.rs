//! `status_page` as written.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_yaml::Value;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStatusPage {
    pub listen: String,
    pub host: Option<String>,
    pub path: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub show_errors: bool,
    #[serde(default)]
    pub components: Vec<RawComponent>,
    #[schemars(with = "Option<crate::server::raw::RawConnectionLimits>")]
    pub connections: Option<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawComponent {
    pub name: String,
    pub slug: Option<String>,
    pub group: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub probes: Vec<String>,
    #[serde(default)]
    pub routes: Vec<String>,
}
