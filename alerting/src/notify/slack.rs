//! `type: slack`: an incoming webhook. `text` is the fallback shown in notifications; one
//! attachment coloured by status and severity holds the blocks (title, one line per alert,
//! context), like Alertmanager's Slack messages.

use super::http::{self, Ctx};
use super::text::{alert_lines, colour_hex, escape_html, fit, truncate, LineMarkup};
use super::{Deliver, NotifyError};
use crate::Notification;
use async_trait::async_trait;
use gatehouse_config::alerting::notifiers::SlackNotifier;
use serde_json::{json, Value};

pub(super) struct Slack {
    url: String,
}

impl Slack {
    pub(super) fn new(c: &SlackNotifier) -> Slack {
        Slack {
            url: c.webhook_url.0.clone(),
        }
    }
}

/// Slack's limit for a section's text.
const SECTION_MAX: usize = 3000;

/// Slack's mrkdwn only needs &, < and > escaped.
fn esc(s: &str) -> String {
    escape_html(s).replace("&quot;", "\"")
}

const LINE: LineMarkup = LineMarkup {
    escape: esc,
    head: |status, subject| format!("*[{status}]* *{subject}*"),
    since: |since| format!("_{since}_"),
    runbook: |url| format!("<{}|runbook>", esc(url)),
};

fn payload(n: &Notification) -> Value {
    let lines = alert_lines(&n.alerts, &LINE);
    json!({
        "text": n.title,
        "attachments": [{
            "color": colour_hex(n),
            "fallback": n.title,
            "blocks": [
                {
                    "type": "section",
                    "text": { "type": "mrkdwn", "text": truncate(&format!("*{}*", esc(&n.title)), SECTION_MAX) }
                },
                {
                    "type": "section",
                    "text": { "type": "mrkdwn", "text": fit(&lines, "\n\n", SECTION_MAX) }
                },
                {
                    "type": "context",
                    "elements": [{
                        "type": "mrkdwn",
                        "text": truncate(&format!("{} · group `{}` · gatehouse on {}", n.severity, esc(&n.group_key), esc(&n.instance)), SECTION_MAX)
                    }]
                }
            ]
        }]
    })
}

#[async_trait]
impl Deliver for Slack {
    async fn deliver(&self, ctx: &Ctx<'_>, n: &Notification) -> Result<(), NotifyError> {
        http::send(ctx, ctx.client.post(&self.url).json(&payload(n))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_lines_escape_for_mrkdwn() {
        let p = payload(&super::super::text::sample());
        assert_eq!(
            p["attachments"][0]["blocks"][1]["text"]["text"],
            concat!(
                r#"*[FIRING]* *api&lt;1&gt;&amp;"x"*_* — down: a*b_c &amp; &lt;d&gt;"#,
                "\n",
                r#"_since 2025-05-01 10:00:00 UTC_ · <https://r.test/a?b=1&amp;c="2"|runbook>"#,
                "\n\n",
                "*[RESOLVED]* *db* — ok again\n",
                "_since 2025-05-01 10:00:00 UTC, resolved 2025-05-01 10:05:00 UTC (flapping)_",
            )
        );
    }
}
