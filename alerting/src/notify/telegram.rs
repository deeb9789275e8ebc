//! `type: telegram`: `POST {api_url}/bot{token}/sendMessage` with the chat id and an HTML
//! message (every value escaped; Telegram rejects unknown tags).

use super::http::{self, Ctx};
use super::text::{escape_html, fit, since, upper};
use super::{Deliver, NotifyError};
use crate::Notification;
use async_trait::async_trait;
use gatehouse_config::alerting::notifiers::TelegramNotifier;
use serde_json::{json, Value};

pub(super) struct Telegram {
    url: String,
    chat_id: String,
}

impl Telegram {
    pub(super) fn new(c: &TelegramNotifier) -> Telegram {
        Telegram {
            url: format!("{}/bot{}/sendMessage", c.api_url, c.bot_token.0),
            chat_id: c.chat_id.clone(),
        }
    }
}

/// Telegram's limit for a message, in characters (bytes are a safe bound).
const MESSAGE_MAX: usize = 4096;

fn payload(chat_id: &str, n: &Notification) -> Value {
    let head = format!("<b>{}</b>", escape_html(&n.title));
    let lines: Vec<String> = n
        .alerts
        .iter()
        .map(|a| {
            let mut line = format!(
                "<b>[{}] {}</b> — {}\n<i>{}</i>",
                upper(a.status),
                escape_html(&a.subject),
                escape_html(&a.summary),
                since(a)
            );
            if let Some(r) = &a.runbook {
                line.push_str(&format!(" · <a href=\"{}\">runbook</a>", escape_html(r)));
            }
            line
        })
        .collect();
    let text = format!(
        "{head}\n\n{}",
        fit(&lines, "\n\n", MESSAGE_MAX.saturating_sub(head.len() + 2))
    );
    json!({
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        "disable_web_page_preview": true,
    })
}

#[async_trait]
impl Deliver for Telegram {
    async fn deliver(&self, ctx: &Ctx<'_>, n: &Notification) -> Result<(), NotifyError> {
        http::send(
            ctx,
            ctx.client.post(&self.url).json(&payload(&self.chat_id, n)),
        )
        .await
    }
}
