//! `alerting.notifiers`: each item's `type` picks the kind; the kind's own fields are parsed
//! strictly (an unknown field is named with its path) and checked: URLs, addresses, tokens.

use super::raw::*;
use super::*;
use crate::compiler::{Compiler, NamedList};
use crate::secret::Secret;
use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};
use std::time::Duration;

impl Compiler {
    /// Compile `alerting.notifiers`; `timeout` and `retries` are the section-wide defaults.
    pub(crate) fn notifiers(
        &mut self,
        value: Option<Value>,
        timeout: Duration,
        retries: u32,
    ) -> Vec<Notifier> {
        let mut names = NamedList::new("alerting.notifiers", "notifier name");
        let mut out = Vec::new();
        for (i, item) in self
            .list(value, "alerting.notifiers")
            .into_iter()
            .enumerate()
        {
            let Some((path, raw)) = names.item::<RawNotifier>(self, i, item) else {
                continue;
            };
            let timeout = self.duration(raw.timeout.as_deref(), format!("{path}.timeout"), timeout);
            if timeout.is_zero() {
                self.err(format!("{path}.timeout"), "must be longer than zero");
            }
            let Some(kind) = self.notifier_kind(&raw.kind, raw.rest, &path) else {
                continue;
            };
            out.push(Notifier {
                name: raw.name,
                timeout,
                retries: raw.retries.unwrap_or(retries),
                kind,
            });
        }
        out
    }

    fn notifier_kind(&mut self, kind: &str, rest: Mapping, path: &str) -> Option<NotifierKind> {
        let rest = Value::Mapping(rest);
        match kind {
            "webhook" => self.kind(rest, path, |c, raw| {
                NotifierKind::Webhook(c.webhook(raw, path))
            }),
            "slack" => self.kind(rest, path, |c, raw| {
                NotifierKind::Slack(SlackNotifier {
                    webhook_url: c.chat(raw, path),
                })
            }),
            "discord" => self.kind(rest, path, |c, raw| {
                NotifierKind::Discord(DiscordNotifier {
                    webhook_url: c.chat(raw, path),
                })
            }),
            "teams" => self.kind(rest, path, |c, raw| {
                NotifierKind::Teams(TeamsNotifier {
                    webhook_url: c.chat(raw, path),
                })
            }),
            "pagerduty" => self.kind(rest, path, |c, raw: RawPagerDuty| {
                NotifierKind::PagerDuty(PagerDutyNotifier {
                    routing_key: c.secret(raw.routing_key, &format!("{path}.routing_key")),
                    url: c.base_url(raw.url, PAGERDUTY_URL, &format!("{path}.url")),
                })
            }),
            "opsgenie" => self.kind(rest, path, |c, raw: RawOpsgenie| {
                NotifierKind::Opsgenie(OpsgenieNotifier {
                    api_key: c.secret(raw.api_key, &format!("{path}.api_key")),
                    url: c.base_url(raw.url, OPSGENIE_URL, &format!("{path}.url")),
                })
            }),
            "email" => self.kind(rest, path, |c, raw| NotifierKind::Email(c.email(raw, path))),
            "ntfy" => self.kind(rest, path, |c, raw| NotifierKind::Ntfy(c.ntfy(raw, path))),
            "telegram" => self.kind(rest, path, |c, raw| {
                NotifierKind::Telegram(c.telegram(raw, path))
            }),
            other => {
                self.err(
                    format!("{path}.type"),
                    format!(
                        "unknown notifier type `{other}`; expected one of: {}",
                        NOTIFIER_TYPES.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// The kind's own fields, parsed strictly, then checked by `check`.
    fn kind<T: DeserializeOwned>(
        &mut self,
        rest: Value,
        path: &str,
        check: impl FnOnce(&mut Self, T) -> NotifierKind,
    ) -> Option<NotifierKind> {
        let raw = self.section::<T>(rest, path)?;
        Some(check(self, raw))
    }

    fn webhook(&mut self, raw: RawWebhook, path: &str) -> WebhookNotifier {
        let url = raw.url.trim().to_string();
        self.http_url(&url, &format!("{path}.url"));
        let mut headers = Vec::new();
        for (name, value) in raw.headers {
            let lower = name.to_ascii_lowercase();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                self.err(
                    format!("{path}.headers"),
                    format!("`{name}` is not a header name"),
                );
            } else if lower == "content-type" {
                self.err(
                    format!("{path}.headers.{name}"),
                    "set the content type with `content_type` (it applies with a `template`)",
                );
            }
            if value.bytes().any(|b| b < 0x20 && b != b'\t') {
                self.err(
                    format!("{path}.headers.{name}"),
                    "the value contains a control character",
                );
            }
            headers.push((lower, Secret(value)));
        }
        let secret = raw
            .secret
            .map(|s| self.secret(s, &format!("{path}.secret")));
        if let Some(t) = &raw.template {
            if let Err(e) = check_template(t) {
                self.err(format!("{path}.template"), e);
            }
        }
        let content_type = match raw.content_type {
            Some(ct) => {
                if raw.template.is_none() {
                    self.warn(
                        format!("{path}.content_type"),
                        "has no effect without a `template` (the JSON body is application/json)",
                    );
                }
                if ct.trim().is_empty() || ct.bytes().any(|b| b < 0x20 || b == 0x7f) {
                    self.err(
                        format!("{path}.content_type"),
                        format!("`{ct}` is not a content type, e.g. `text/plain`"),
                    );
                }
                ct.trim().to_string()
            }
            None => "application/json".to_string(),
        };
        WebhookNotifier {
            url: Secret(url),
            headers,
            secret,
            template: raw.template,
            content_type,
        }
    }

    fn chat(&mut self, raw: RawChat, path: &str) -> Secret {
        let url = raw.webhook_url.trim().to_string();
        self.http_url(&url, &format!("{path}.webhook_url"));
        Secret(url)
    }

    fn email(&mut self, raw: RawEmail, path: &str) -> EmailNotifier {
        let host = raw.host.trim().to_string();
        if host.is_empty() || host.contains(['/', ' ', ':']) && !host.starts_with('[') {
            self.err(
                format!("{path}.host"),
                format!("`{host}` is not a host name or IP address, e.g. `smtp.example.com`"),
            );
        }
        let tls = match raw.tls.unwrap_or(RawSmtpTls::Starttls) {
            RawSmtpTls::Starttls => SmtpTls::StartTls,
            RawSmtpTls::Tls => SmtpTls::Tls,
            RawSmtpTls::None => SmtpTls::None,
        };
        let port = raw.port.unwrap_or(tls.default_port());
        if port == 0 {
            self.err(format!("{path}.port"), "must be a port number (1-65535)");
        }
        match (&raw.username, &raw.password) {
            (Some(_), None) => self.err(format!("{path}.password"), "is needed with `username`"),
            (None, Some(_)) => self.err(format!("{path}.username"), "is needed with `password`"),
            _ => {}
        }
        if let Some(u) = &raw.username {
            if u.trim().is_empty() {
                self.err(format!("{path}.username"), "must not be empty");
            }
        }
        let password = raw
            .password
            .map(|p| self.secret(p, &format!("{path}.password")));
        let from = raw.from.trim().to_string();
        if let Err(e) = check_mailbox(&from) {
            self.err(format!("{path}.from"), e);
        }
        if raw.to.is_empty() {
            self.err(format!("{path}.to"), "at least one recipient is needed");
        }
        let mut to = Vec::new();
        for (j, addr) in raw.to.into_iter().enumerate() {
            let addr = addr.trim().to_string();
            if let Err(e) = check_mailbox(&addr) {
                self.err(format!("{path}.to[{j}]"), e);
            }
            to.push(addr);
        }
        EmailNotifier {
            host,
            port,
            tls,
            username: raw.username,
            password,
            from,
            to,
        }
    }

    fn ntfy(&mut self, raw: RawNtfy, path: &str) -> NtfyNotifier {
        let topic = raw.topic.trim().to_string();
        if topic.is_empty()
            || topic.len() > 64
            || !topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            self.err(
                format!("{path}.topic"),
                format!("`{topic}` is not a topic; use 1 to 64 letters, digits, `-` and `_`"),
            );
        }
        NtfyNotifier {
            url: self.base_url(raw.url, NTFY_URL, &format!("{path}.url")),
            topic,
            token: raw.token.map(|t| self.secret(t, &format!("{path}.token"))),
        }
    }

    fn telegram(&mut self, raw: RawTelegram, path: &str) -> TelegramNotifier {
        let token = raw.bot_token.trim().to_string();
        let valid = token.split_once(':').is_some_and(|(id, key)| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        });
        if !valid {
            self.err(
                format!("{path}.bot_token"),
                "is not a bot token; BotFather gives one like `123456789:AAE...`",
            );
        }
        let chat_id = match raw.chat_id {
            RawChatId::Number(n) => n.to_string(),
            RawChatId::Text(t) => t.trim().to_string(),
        };
        if chat_id.is_empty() || chat_id.contains(char::is_whitespace) {
            self.err(
                format!("{path}.chat_id"),
                "must be a chat id (`-1001234567890`) or `@channelname`",
            );
        }
        TelegramNotifier {
            bot_token: Secret(token),
            chat_id,
            api_url: self.base_url(raw.api_url, TELEGRAM_URL, &format!("{path}.api_url")),
        }
    }

    /// A required secret string: not empty.
    fn secret(&mut self, value: String, path: &str) -> Secret {
        let value = value.trim().to_string();
        if value.is_empty() {
            self.err(path, "must not be empty");
        }
        Secret(value)
    }

    /// An optional API base URL: checked, trailing `/` removed, `default` when absent.
    fn base_url(&mut self, value: Option<String>, default: &str, path: &str) -> String {
        match value {
            None => default.to_string(),
            Some(v) => {
                let v = v.trim().trim_end_matches('/').to_string();
                self.http_url(&v, path);
                v
            }
        }
    }

    fn http_url(&mut self, url: &str, path: &str) {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let problem = match rest {
            _ if url.is_empty() => {
                self.err(path, "must not be empty; write an http:// or https:// URL");
                return;
            }
            None => "must start with http:// or https://",
            Some(r) if r.is_empty() || r.starts_with(['/', '?', '#', ':']) => "has no host",
            Some(_) if url.contains(char::is_whitespace) => "must not contain spaces",
            Some(_) => return,
        };
        // Such URLs are often credentials: show the scheme and host, never the path.
        let (scheme, after) = url.split_once("://").map_or(("", url), |(s, a)| (s, a));
        let host = after.split(['/', '?', '#']).next().unwrap_or_default();
        let shown = if scheme.is_empty() {
            host.to_string()
        } else {
            format!("{scheme}://{host}")
        };
        self.err(path, format!("`{shown}...` {problem}"));
    }
}

/// Every `{{name}}` in `template` is a known field and every `{{` is closed.
fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("a `{{` is not closed by `}}`".into());
        };
        let name = after[..end].trim();
        if !TEMPLATE_FIELDS.contains(&name) {
            return Err(format!(
                "unknown placeholder `{{{{{name}}}}}`; expected one of: {}",
                TEMPLATE_FIELDS
                    .iter()
                    .map(|f| format!("{{{{{f}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

/// `user@example.com` or `Name <user@example.com>`.
fn check_mailbox(value: &str) -> Result<(), String> {
    let addr = match (value.find('<'), value.strip_suffix('>')) {
        (Some(i), Some(inner)) => &inner[i + 1..],
        (None, None) => value,
        _ => return Err(format!("`{value}` is not an email address; write `user@example.com` or `Name <user@example.com>`")),
    };
    let plausible = addr.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !local.contains(|c: char| c.is_whitespace() || "<>@,;".contains(c))
            && !domain.is_empty()
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c))
    });
    if plausible {
        Ok(())
    } else {
        Err(format!("`{value}` is not an email address; write `user@example.com` or `Name <user@example.com>`"))
    }
}
