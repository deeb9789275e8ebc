//! `type: webhook`: a POST of the `Notification` JSON (or of a template), optionally signed
//! with `X-Gatehouse-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`.

use super::http::{self, Ctx};
use super::{Deliver, NotifyError};
use crate::Notification;
use async_trait::async_trait;
use gatehouse_config::alerting::notifiers::WebhookNotifier;
use gatehouse_outbound::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use ring::hmac;

/// The signature header.
pub(super) const SIGNATURE_HEADER: &str = "x-gatehouse-signature";

pub(super) struct Webhook {
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    key: Option<hmac::Key>,
    template: Option<Template>,
    content_type: HeaderValue,
}

impl Webhook {
    pub(super) fn new(name: &str, c: &WebhookNotifier) -> Result<Webhook, NotifyError> {
        let setup = |message: String| NotifyError::Setup {
            name: name.to_string(),
            message,
        };
        let mut headers = Vec::new();
        for (k, v) in &c.headers {
            let key = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| setup(format!("`{k}` is not a header name")))?;
            let mut value = HeaderValue::from_str(&v.0)
                .map_err(|_| setup(format!("the value of header `{k}` is not valid")))?;
            value.set_sensitive(true);
            headers.push((key, value));
        }
        let content_type = HeaderValue::from_str(&c.content_type)
            .map_err(|_| setup(format!("`{}` is not a content type", c.content_type)))?;
        let json = c.content_type.contains("json");
        Ok(Webhook {
            url: c.url.0.clone(),
            headers,
            key: c
                .secret
                .as_ref()
                .map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.0.as_bytes())),
            template: c.template.as_deref().map(|t| Template::parse(t, json)),
            content_type,
        })
    }

    /// The exact bytes sent.
    fn body(&self, n: &Notification) -> Result<Vec<u8>, NotifyError> {
        match &self.template {
            Some(t) => Ok(t.render(n).into_bytes()),
            None => serde_json::to_vec(n).map_err(|e| NotifyError::Request {
                message: format!("cannot encode the notification: {e}"),
                retryable: false,
            }),
        }
    }
}

#[async_trait]
impl Deliver for Webhook {
    async fn deliver(&self, ctx: &Ctx<'_>, n: &Notification) -> Result<(), NotifyError> {
        let body = self.body(n)?;
        let mut request = ctx
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, self.content_type.clone());
        for (k, v) in &self.headers {
            request = request.header(k.clone(), v.clone());
        }
        if let Some(key) = &self.key {
            let tag = hmac::sign(key, &body);
            request = request.header(SIGNATURE_HEADER, format!("sha256={}", hex(tag.as_ref())));
        }
        http::send(ctx, request.body(body)).await
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A body template: text with `{{field}}` placeholders (checked by the config).
struct Template {
    parts: Vec<Part>,
    /// Strings are JSON-escaped (without quotes) when the content type is JSON.
    json: bool,
}

enum Part {
    Text(String),
    Field(String),
}

impl Template {
    fn parse(template: &str, json: bool) -> Template {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                break;
            };
            parts.push(Part::Text(rest[..start].to_string()));
            parts.push(Part::Field(after[..end].trim().to_string()));
            rest = &after[end + 2..];
        }
        parts.push(Part::Text(rest.to_string()));
        Template { parts, json }
    }

    fn render(&self, n: &Notification) -> String {
        let mut out = String::new();
        for part in &self.parts {
            let value = match part {
                Part::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Part::Field(f) => match f.as_str() {
                    "json" => {
                        out.push_str(&serde_json::to_string(n).unwrap_or_default());
                        continue;
                    }
                    "title" => n.title.clone(),
                    "status" => n.status.as_str().to_string(),
                    "text" => n.text(),
                    "severity" => n.severity.as_str().to_string(),
                    "group_key" => n.group_key.clone(),
                    "dedup_key" => n.dedup_key.clone(),
                    _ => String::new(),
                },
            };
            if self.json {
                let quoted = serde_json::Value::String(value).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            } else {
                out.push_str(&value);
            }
        }
        out
    }
}
