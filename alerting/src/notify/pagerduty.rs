//! `type: pagerduty`: Events API v2. A firing notification triggers, a resolved one resolves;
//! both carry the notification's `dedup_key`, so PagerDuty keeps one incident per group.

use super::http::{self, Ctx};
use super::text::truncate;
use super::{Deliver, NotifyError};
use crate::{Notification, Status};
use async_trait::async_trait;
use gatehouse_config::alerting::notifiers::PagerDutyNotifier;
use gatehouse_config::alerting::Severity;
use serde_json::{json, Value};

pub(super) struct PagerDuty {
    url: String,
    routing_key: String,
}

impl PagerDuty {
    pub(super) fn new(c: &PagerDutyNotifier) -> PagerDuty {
        PagerDuty {
            url: c.url.clone(),
            routing_key: c.routing_key.0.clone(),
        }
    }
}

fn payload(routing_key: &str, n: &Notification) -> Value {
    if n.status == Status::Resolved {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": n.dedup_key,
        });
    }
    let severity = match n.severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    let mut firing = n.with_status(Status::Firing);
    let summary = match (firing.next(), firing.next()) {
        (Some(a), None) => format!("{}: {}", n.title, a.summary),
        _ => n.title.clone(),
    };
    let first_rule = n
        .alerts
        .first()
        .map(|a| a.rule.as_str())
        .unwrap_or_default();
    let links: Vec<Value> = n
        .alerts
        .iter()
        .filter_map(|a| {
            a.runbook
                .as_ref()
                .map(|r| json!({ "href": r, "text": format!("Runbook: {}", a.rule) }))
        })
        .collect();
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": n.dedup_key,
        "client": "gatehouse",
        "payload": {
            "summary": truncate(&summary, 1024),
            "source": n.instance,
            "severity": severity,
            "timestamp": n.sent_at.to_string(),
            "group": n.group_key,
            "class": first_rule,
            "custom_details": {
                "group_key": n.group_key,
                "reminder": n.reminder,
                "test": n.test,
                "alerts": n.alerts,
            },
        },
        "links": links,
    })
}

#[async_trait]
impl Deliver for PagerDuty {
    async fn deliver(&self, ctx: &Ctx<'_>, n: &Notification) -> Result<(), NotifyError> {
        let body = payload(&self.routing_key, n);
        http::send(ctx, ctx.client.post(&self.url).json(&body)).await
    }
}
