//! `alerting.notifiers` as written: the fields every notifier has, and each kind's own.

use crate::compiler::Named;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_yaml::Mapping;
use std::collections::BTreeMap;

/// The fields every notifier has; the rest belong to its kind.
#[derive(Deserialize)]
pub(crate) struct RawNotifier {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    #[serde(flatten)]
    pub rest: Mapping,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub secret: Option<String>,
    pub template: Option<String>,
    pub content_type: Option<String>,
}

/// Slack, Discord and Teams: one webhook URL.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChat {
    pub webhook_url: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPagerDuty {
    pub routing_key: String,
    pub url: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOpsgenie {
    pub api_key: String,
    pub url: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmail {
    pub host: String,
    pub port: Option<u16>,
    pub tls: Option<RawSmtpTls>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Deserialize, Clone, Copy, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawSmtpTls {
    Starttls,
    Tls,
    None,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNtfy {
    pub url: Option<String>,
    pub topic: String,
    pub token: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelegram {
    pub bot_token: String,
    pub chat_id: RawChatId,
    pub api_url: Option<String>,
}

/// A numeric chat id may be written without quotes.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawChatId {
    Number(i64),
    Text(String),
}

impl Named for RawNotifier {
    fn name(&self) -> &str {
        &self.name
    }
}
