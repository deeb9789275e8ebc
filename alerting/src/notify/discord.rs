//! `type: discord`: a channel webhook; `content` is the title, one embed coloured by status
//! and severity lists the alerts. Mentions are disabled (an alert text never pings anyone).

use super::http::{self, Ctx};
use super::text::{alert_lines, colour, escape_markdown, fit, truncate, LineMarkup};
use super::{Deliver, NotifyError};
use crate::Notification;
use async_trait::async_trait;
use gatehouse_config::alerting::notifiers::DiscordNotifier;
use serde_json::{json, Value};

pub(super) struct Discord {
    url: String,
}

impl Discord {
    pub(super) fn new(c: &DiscordNotifier) -> Discord {
        Discord {
            url: c.webhook_url.0.clone(),
        }
    }
}

/// The runbook URL goes in `<...>` unescaped: Markdown takes it verbatim there.
const LINE: LineMarkup = LineMarkup {
    escape: escape_markdown,
    head: |status, subject| format!("**[{status}] {subject}**"),
    since: |since| since.to_string(),
    runbook: |url| format!("[runbook](<{url}>)"),
};

fn payload(n: &Notification) -> Value {
    let lines = alert_lines(&n.alerts, &LINE);
    json!({
        "username": "gatehouse",
        "content": truncate(&n.title, 2000),
        "allowed_mentions": { "parse": [] },
        "embeds": [{
            "title": truncate(&n.title, 256),
            "description": fit(&lines, "\n\n", 4096),
            "color": colour(n),
            "fields": [
                { "name": "Severity", "value": n.severity.as_str(), "inline": true },
                { "name": "Group", "value": truncate(&n.group_key, 1024), "inline": true },
            ],
            "footer": { "text": truncate(&format!("gatehouse on {}", n.instance), 2048) },
            "timestamp": n.sent_at.to_string(),
        }]
    })
}

#[async_trait]
impl Deliver for Discord {
    async fn deliver(&self, ctx: &Ctx<'_>, n: &Notification) -> Result<(), NotifyError> {
        http::send(ctx, ctx.client.post(&self.url).json(&payload(n))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_lines_escape_for_markdown() {
        let p = payload(&super::super::text::sample());
        assert_eq!(
            p["embeds"][0]["description"],
            concat!(
                r#"**[FIRING] api<1\>&"x"\*\_** — down: a\*b\_c & <d\>"#,
                "\n",
                r#"since 2025-05-01 10:00:00 UTC · [runbook](<https://r.test/a?b=1&c="2">)"#,
                "\n\n",
                "**[RESOLVED] db** — ok again\n",
                "since 2025-05-01 10:00:00 UTC, resolved 2025-05-01 10:05:00 UTC (flapping)",
            )
        );
    }
}
