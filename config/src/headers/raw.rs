//! `headers` as written. Settings that may be `false` stay YAML values; the compile step
//! reads them with precise errors.

use serde::Deserialize;
use serde_yaml::Value;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeaders {
    pub hsts: Option<Value>,
    pub content_security_policy: Option<Value>,
    pub content_type_options: Option<bool>,
    pub frame_options: Option<Value>,
    pub referrer_policy: Option<Value>,
    pub permissions_policy: Option<Value>,
    pub cross_origin_opener_policy: Option<Value>,
    pub cross_origin_resource_policy: Option<Value>,
    pub remove: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHsts {
    pub max_age: Option<String>,
    pub include_subdomains: Option<bool>,
    pub preload: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCsp {
    pub directives: serde_yaml::Mapping,
    pub report_only: Option<bool>,
    pub report_uri: Option<String>,
}
