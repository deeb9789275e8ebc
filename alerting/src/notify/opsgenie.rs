//! `type: opsgenie`: the Alert API. Firing creates (or, for the same alias, de-duplicates) an
//! alert with `alias` = the notification's `dedup_key`; resolved closes it by alias.

use super::http::{self, Ctx};
use super::text::truncate;
use super::{Deliver, NotifyError};
use crate::{Notification, Status};
use async_trait::async_trait;
use gatehouse_config::alerting::notifiers::OpsgenieNotifier;
use gatehouse_config::alerting::Severity;
use gatehouse_outbound::header::AUTHORIZATION;
use serde_json::{json, Value};
use std::collections::BTreeSet;

pub(super) struct Opsgenie {
    url: String,
    auth: String,
}

impl Opsgenie {
    pub(super) fn new(c: &OpsgenieNotifier) -> Opsgenie {
        Opsgenie {
            url: c.url.clone(),
            auth: format!("GenieKey {}", c.api_key.0),
        }
    }
}

fn create(n: &Notification) -> Value {
    let priority = match n.severity {
        Severity::Critical => "P1",
        Severity::Warning => "P3",
        Severity::Info => "P5",
    };
    let mut tags: BTreeSet<String> = BTreeSet::from(["gatehouse".to_string()]);
    tags.insert(n.severity.as_str().to_string());
    tags.extend(n.alerts.iter().map(|a| a.rule.clone()));
    json!({
        "message": truncate(&n.title, 130),
        "alias": n.dedup_key,
        "description": truncate(&n.text(), 15000),
        "priority": priority,
        "source": n.instance,
        "entity": truncate(&n.group_key, 512),
        "tags": tags.into_iter().take(20).collect::<Vec<_>>(),
        "details": {
            "group_key": n.group_key,
            "instance": n.instance,
            "alerts": n.alerts.len().to_string(),
            "runbooks": n.alerts.iter().filter_map(|a| a.runbook.clone()).collect::<Vec<_>>().join(" "),
        },
    })
}

#[async_trait]
impl Deliver for Opsgenie {
    async fn deliver(&self, ctx: &Ctx<'_>, n: &Notification) -> Result<(), NotifyError> {
        let request = match n.status {
            Status::Firing => ctx
                .client
                .post(format!("{}/v2/alerts", self.url))
                .json(&create(n)),
            // The alias is hex (see `dedup_key`): nothing to escape in the path.
            Status::Resolved => ctx
                .client
                .post(format!("{}/v2/alerts/{}/close", self.url, n.dedup_key))
                .query(&[("identifierType", "alias")])
                .json(&json!({ "source": n.instance, "note": "Resolved (gatehouse)" })),
        };
        http::send(ctx, request.header(AUTHORIZATION, &self.auth)).await
    }
}
