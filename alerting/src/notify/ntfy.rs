//! `type: ntfy`: a JSON publish to the server root (`{"topic","title","message","priority",
//! "tags"}`), priority by severity (critical 5, warning 4, info 3; resolved 3).

use super::http::{self, Ctx};
use super::text::truncate;
use super::{Deliver, NotifyError};
use crate::{Notification, Status};
use async_trait::async_trait;
use gatehouse_config::alerting::notifiers::NtfyNotifier;
use gatehouse_config::alerting::Severity;
use gatehouse_outbound::header::AUTHORIZATION;
use serde_json::{json, Value};

pub(super) struct Ntfy {
    url: String,
    topic: String,
    auth: Option<String>,
}

impl Ntfy {
    pub(super) fn new(c: &NtfyNotifier) -> Ntfy {
        Ntfy {
            // Publishing as JSON goes to the root: `POST https://ntfy.sh/`.
            url: format!("{}/", c.url),
            topic: c.topic.clone(),
            auth: c.token.as_ref().map(|t| format!("Bearer {}", t.0)),
        }
    }
}

fn payload(topic: &str, n: &Notification) -> Value {
    let (priority, tags) = match (n.status, n.severity) {
        (Status::Resolved, _) => (3, vec!["white_check_mark", "resolved"]),
        (Status::Firing, Severity::Critical) => (5, vec!["rotating_light", "critical"]),
        (Status::Firing, Severity::Warning) => (4, vec!["warning", "warning"]),
        (Status::Firing, Severity::Info) => (3, vec!["information_source", "info"]),
    };
    let mut body = json!({
        "topic": topic,
        "title": truncate(&n.title, 250),
        // ntfy turns longer messages into attachments.
        "message": truncate(&n.text(), 4000),
        "priority": priority,
        "tags": tags,
    });
    if let Some(runbook) = n.alerts.iter().find_map(|a| a.runbook.as_ref()) {
        body["click"] = json!(runbook);
    }
    body
}

#[async_trait]
impl Deliver for Ntfy {
    async fn deliver(&self, ctx: &Ctx<'_>, n: &Notification) -> Result<(), NotifyError> {
        let mut request = ctx.client.post(&self.url).json(&payload(&self.topic, n));
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth);
        }
        http::send(ctx, request).await
    }
}
