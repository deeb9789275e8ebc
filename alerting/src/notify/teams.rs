//! `type: teams`: a Power Automate workflow webhook ("Post to a channel when a webhook request
//! is received"), given a message with one Adaptive Card 1.4.

use super::http::{self, Ctx};
use super::text::{since, truncate, upper};
use super::{Deliver, NotifyError};
use crate::{Notification, Status};
use async_trait::async_trait;
use gatehouse_config::alerting::notifiers::TeamsNotifier;
use gatehouse_config::alerting::Severity;
use serde_json::{json, Value};

pub(super) struct Teams {
    url: String,
}

impl Teams {
    pub(super) fn new(c: &TeamsNotifier) -> Teams {
        Teams {
            url: c.webhook_url.0.clone(),
        }
    }
}

/// Alerts shown on one card; the rest are counted.
const SHOWN: usize = 20;

fn payload(n: &Notification) -> Value {
    let colour = match (n.status, n.severity) {
        (Status::Resolved, _) => "Good",
        (Status::Firing, Severity::Critical) => "Attention",
        (Status::Firing, Severity::Warning) => "Warning",
        (Status::Firing, Severity::Info) => "Accent",
    };
    let mut body = vec![
        json!({ "type": "TextBlock", "text": truncate(&n.title, 500), "weight": "Bolder",
                "size": "Medium", "color": colour, "wrap": true }),
        json!({ "type": "FactSet", "facts": [
            { "title": "Status", "value": n.status.as_str() },
            { "title": "Severity", "value": n.severity.as_str() },
            { "title": "Group", "value": n.group_key },
            { "title": "Instance", "value": n.instance },
        ]}),
    ];
    for a in n.alerts.iter().take(SHOWN) {
        body.push(json!({
            "type": "TextBlock", "wrap": true, "separator": true,
            "text": truncate(&format!("**[{}] {}**: {}", upper(a.status), a.subject, a.summary), 2000),
        }));
        body.push(json!({ "type": "TextBlock", "wrap": true, "isSubtle": true,
                          "spacing": "None", "text": since(a) }));
    }
    if n.alerts.len() > SHOWN {
        body.push(json!({ "type": "TextBlock", "wrap": true,
                          "text": format!("… and {} more", n.alerts.len() - SHOWN) }));
    }
    let actions: Vec<Value> = n
        .alerts
        .iter()
        .filter_map(|a| a.runbook.as_ref().map(|r| (a, r)))
        .take(5)
        .map(|(a, r)| json!({ "type": "Action.OpenUrl", "title": format!("Runbook: {}", a.rule), "url": r }))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": { "width": "Full" },
                "body": body,
                "actions": actions,
            }
        }]
    })
}

#[async_trait]
impl Deliver for Teams {
    async fn deliver(&self, ctx: &Ctx<'_>, n: &Notification) -> Result<(), NotifyError> {
        http::send(ctx, ctx.client.post(&self.url).json(&payload(n))).await
    }
}
