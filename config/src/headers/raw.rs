//! `headers` as written. Settings that may be `false` stay YAML values; the compile step
//! reads them with precise errors.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_yaml::Value;

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeaders {
    #[schemars(with = "Option<crate::schema::BoolOr<RawHsts>>")]
    pub hsts: Option<Value>,
    #[schemars(with = "Option<crate::schema::BoolOr<RawCsp>>")]
    pub content_security_policy: Option<Value>,
    pub content_type_options: Option<bool>,
    #[schemars(with = "Option<crate::schema::BoolOr<String>>")]
    pub frame_options: Option<Value>,
    #[schemars(with = "Option<crate::schema::BoolOr<String>>")]
    pub referrer_policy: Option<Value>,
    #[schemars(with = "Option<crate::schema::BoolOr<crate::schema::Allowlists>>")]
    pub permissions_policy: Option<Value>,
    #[schemars(with = "Option<crate::schema::BoolOr<String>>")]
    pub cross_origin_opener_policy: Option<Value>,
    #[schemars(with = "Option<crate::schema::BoolOr<String>>")]
    pub cross_origin_resource_policy: Option<Value>,
    pub remove: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHsts {
    pub max_age: Option<String>,
    pub include_subdomains: Option<bool>,
    pub preload: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCsp {
    #[schemars(with = "crate::schema::Allowlists")]
    pub directives: serde_yaml::Mapping,
    pub report_only: Option<bool>,
    pub report_uri: Option<String>,
}
