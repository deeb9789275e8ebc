//! `type: telegram`: `POST {api_url}/bot{token}/sendMessage` with the chat id and an HTML
//! message (every value escaped; Telegram rejects unknown tags).

use super::http::{self, Ctx};
use super::text::{alert_lines, escape_html, fit, LineMarkup};
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

const LINE: LineMarkup = LineMarkup {
    escape: escape_html,
    head: |status, subject| format!("<b>[{status}] {subject}</b>"),
    since: |since| format!("<i>{since}</i>"),
    runbook: |url| format!("<a href=\"{}\">runbook</a>", escape_html(url)),
};

fn payload(chat_id: &str, n: &Notification) -> Value {
    let head = format!("<b>{}</b>", escape_html(&n.title));
    let lines = alert_lines(&n.alerts, &LINE);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_lines_escape_for_html() {
        let p = payload("1", &super::super::text::sample());
        assert_eq!(
            p["text"],
            concat!(
                "<b>[FIRING:1] r</b>\n\n",
                r#"<b>[FIRING] api&lt;1&gt;&amp;&quot;x&quot;*_</b> — down: a*b_c &amp; &lt;d&gt;"#,
                "\n",
                r#"<i>since 2025-05-01 10:00:00 UTC</i> · <a href="https://r.test/a?b=1&amp;c=&quot;2&quot;">runbook</a>"#,
                "\n\n",
                "<b>[RESOLVED] db</b> — ok again\n",
                "<i>since 2025-05-01 10:00:00 UTC, resolved 2025-05-01 10:05:00 UTC (flapping)</i>",
            )
        );
    }
}
