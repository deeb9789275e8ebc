//! Notifier configuration: one variant per kind of notifier. Every endpoint can be
//! overridden (a proxy, a self-hosted server, a test receiver on loopback).

pub(crate) mod compile;
pub(crate) mod raw;
#[cfg(test)]
mod tests;

use crate::secret::Secret;
use std::time::Duration;

/// One configured notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Notifier {
    /// Unique name, used by routes and `gatehouse notify-test --notifier NAME`.
    pub name: String,
    /// Longest wait for one attempt.
    pub timeout: Duration,
    /// Attempts after the first one fails.
    pub retries: u32,
    /// Where and how to send.
    pub kind: NotifierKind,
}

/// The kinds of notifier (`type:` in the file).
#[derive(Debug, Clone, PartialEq)]
pub enum NotifierKind {
    /// A JSON POST (the `Notification` schema, or a template) to any URL, optionally signed.
    Webhook(WebhookNotifier),
    /// A Slack incoming webhook.
    Slack(SlackNotifier),
    /// A Discord channel webhook.
    Discord(DiscordNotifier),
    /// A Microsoft Teams (Power Automate workflow) webhook.
    Teams(TeamsNotifier),
    /// PagerDuty Events API v2.
    PagerDuty(PagerDutyNotifier),
    /// Opsgenie Alert API.
    Opsgenie(OpsgenieNotifier),
    /// Email over SMTP.
    Email(EmailNotifier),
    /// An ntfy topic.
    Ntfy(NtfyNotifier),
    /// A Telegram chat, through a bot.
    Telegram(TelegramNotifier),
}

/// Every `type:` value, in the order the docs list them.
pub const NOTIFIER_TYPES: &[&str] = &[
    "webhook",
    "slack",
    "discord",
    "teams",
    "pagerduty",
    "opsgenie",
    "email",
    "ntfy",
    "telegram",
];

impl NotifierKind {
    /// The `type:` value, e.g. `pagerduty`.
    pub fn type_name(&self) -> &'static str {
        match self {
            NotifierKind::Webhook(_) => "webhook",
            NotifierKind::Slack(_) => "slack",
            NotifierKind::Discord(_) => "discord",
            NotifierKind::Teams(_) => "teams",
            NotifierKind::PagerDuty(_) => "pagerduty",
            NotifierKind::Opsgenie(_) => "opsgenie",
            NotifierKind::Email(_) => "email",
            NotifierKind::Ntfy(_) => "ntfy",
            NotifierKind::Telegram(_) => "telegram",
        }
    }
}

/// The placeholders a webhook `template` may use, each written `{{name}}`.
pub const TEMPLATE_FIELDS: &[&str] = &[
    "title",
    "status",
    "text",
    "severity",
    "group_key",
    "dedup_key",
    "json",
];

/// `type: webhook`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookNotifier {
    /// Where the body is POSTed (a secret: such URLs often carry a token).
    pub url: Secret,
    /// Extra request headers (lower-case names; values may be credentials).
    pub headers: Vec<(String, Secret)>,
    /// Signs the body: `X-Gatehouse-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    pub secret: Option<Secret>,
    /// A body template; without one the body is the `Notification` JSON.
    pub template: Option<String>,
    /// The body's content type (`application/json` unless set with a template).
    pub content_type: String,
}

/// `type: slack`.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackNotifier {
    /// The incoming webhook URL.
    pub webhook_url: Secret,
}

/// `type: discord`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscordNotifier {
    /// The channel webhook URL.
    pub webhook_url: Secret,
}

/// `type: teams`.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamsNotifier {
    /// The workflow's webhook URL.
    pub webhook_url: Secret,
}

/// Default PagerDuty Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Default Opsgenie API base.
pub const OPSGENIE_URL: &str = "https://api.opsgenie.com";
/// Default ntfy server.
pub const NTFY_URL: &str = "https://ntfy.sh";
/// Default Telegram Bot API base.
pub const TELEGRAM_URL: &str = "https://api.telegram.org";

/// `type: pagerduty`.
#[derive(Debug, Clone, PartialEq)]
pub struct PagerDutyNotifier {
    /// The integration's routing key.
    pub routing_key: Secret,
    /// The enqueue endpoint.
    pub url: String,
}

/// `type: opsgenie`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpsgenieNotifier {
    /// The API integration key (`Authorization: GenieKey <key>`).
    pub api_key: Secret,
    /// The API base (`https://api.eu.opsgenie.com` for the EU instance), no trailing slash.
    pub url: String,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required); port 587 by default.
    StartTls,
    /// TLS from the first byte (SMTPS); port 465 by default.
    Tls,
    /// No encryption (loopback relays and tests only); port 25 by default.
    None,
}

impl SmtpTls {
    /// The port used when none is given.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

/// `type: email`.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailNotifier {
    /// SMTP server host.
    pub host: String,
    /// SMTP server port.
    pub port: u16,
    /// Connection security.
    pub tls: SmtpTls,
    /// Login (with `password`).
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// Sender, `alerts@example.com` or `Gatehouse <alerts@example.com>`.
    pub from: String,
    /// Recipients, same forms.
    pub to: Vec<String>,
}

/// `type: ntfy`.
#[derive(Debug, Clone, PartialEq)]
pub struct NtfyNotifier {
    /// The server, no trailing slash.
    pub url: String,
    /// The topic.
    pub topic: String,
    /// Access token (`Authorization: Bearer`).
    pub token: Option<Secret>,
}

/// `type: telegram`.
#[derive(Debug, Clone, PartialEq)]
pub struct TelegramNotifier {
    /// The bot's token.
    pub bot_token: Secret,
    /// The chat: a numeric id (`-1001234567890`) or `@channelname`.
    pub chat_id: String,
    /// The Bot API base, no trailing slash.
    pub api_url: String,
}
