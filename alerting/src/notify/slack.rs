//! `type: slack`: an incoming webhook. `text` is the fallback shown in notifications; one
//! attachment coloured by status and severity holds the blocks (title, one line per alert,
//! context), like Alertmanager's Slack messages.

use super::http::{self, Ctx};
use super::text::{colour_hex, escape_html, fit, since, truncate, upper};
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

fn payload(n: &Notification) -> Value {
    // Slack's mrkdwn only needs &, < and > escaped.
    let esc = |s: &str| escape_html(s).replace("&quot;", "\"");
    let lines: Vec<String> = n
        .alerts
        .iter()
        .map(|a| {
            let mut line = format!(
                "*[{}]* *{}* — {}\n_{}_",
                upper(a.status),
                esc(&a.subject),
                esc(&a.summary),
                since(a)
            );
            if let Some(r) = &a.runbook {
                line.push_str(&format!(" · <{}|runbook>", esc(r)));
            }
            line
        })
        .collect();
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
