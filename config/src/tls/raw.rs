//! `tls` as written.

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    #[serde(default)]
    pub certificates: Vec<RawCertificateFiles>,
    pub default_certificate: Option<String>,
    pub redirect_http: Option<bool>,
    pub https_port: Option<u16>,
    pub acme: Option<RawAcme>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCertificateFiles {
    pub cert_file: String,
    pub key_file: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAcme {
    pub email: Option<String>,
    pub directory: Option<String>,
    pub directory_ca_file: Option<String>,
    pub external_account: Option<RawExternalAccount>,
    pub check_interval: Option<String>,
    pub retry_min: Option<String>,
    pub retry_max: Option<String>,
    pub certificates: Vec<RawAcmeCertificate>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExternalAccount {
    pub key_id: String,
    pub hmac_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub(crate) enum RawChallenge {
    #[serde(rename = "http-01")]
    Http01,
    #[serde(rename = "dns-01")]
    Dns01,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAcmeCertificate {
    pub names: Vec<String>,
    pub challenge: Option<RawChallenge>,
    pub dns_hook: Option<RawDnsHook>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDnsHook {
    pub command: Option<Vec<String>>,
    pub url: Option<String>,
    pub propagation_delay: Option<String>,
    pub timeout: Option<String>,
}
