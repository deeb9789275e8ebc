//! `type: discord`: a channel webhook; `content` is the title, one embed coloured by status
//! and severity lists the alerts. Mentions are disabled (an alert text never pings anyone).

use super::http::{self, Ctx};
use super::text::{colour, escape_markdown, fit, since, truncate, upper};
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

fn payload(n: &Notification) -> Value {
    let lines: Vec<String> = n
        .alerts
        .iter()
        .map(|a| {
            let mut line = format!(
                "**[{}] {}** — {}\n{}",
                upper(a.status),
                escape_markdown(&a.subject),
                escape_markdown(&a.summary),
                since(a)
            );
            if let Some(r) = &a.runbook {
                line.push_str(&format!(" · [runbook](<{r}>)"));
            }
            line
        })
        .collect();
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
