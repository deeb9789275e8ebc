//! The JSON Schema of the config file (`gatehouse schema`), generated from the raw serde types
//! the file is read into, so the schema cannot name a key the parser does not know.
//!
//! The compile step reads some values as YAML first and deserializes them later (a section's
//! items one by one, settings that may be `false`, the notifier kinds); their raw types are
//! named here with `#[schemars(with = ...)]` on the field, and the types below describe the
//! shapes that only the compile step spells out. The schema checks structure (keys, types,
//! required fields); values (durations, addresses, conditions) are checked by
//! `gatehouse check`. It follows draft 7, the draft editors' YAML plugins read best.

use crate::admin::raw::RawAdmin;
use crate::alerting::notifiers::raw::{
    RawChat, RawEmail, RawNtfy, RawOpsgenie, RawPagerDuty, RawTelegram, RawWebhook,
};
use crate::alerting::raw::{RawAlerting, RawThreshold};
use crate::policy::raw::{RawPolicy, RawRedis};
use crate::probes::raw::{RawProbe, RawProbing, RawStore};
use crate::routes::raw::RawRoute;
use crate::server::raw::{RawDemo, RawListener, RawLog, RawServer};
use crate::status::raw::RawStatusPage;
use crate::telemetry::raw::RawTelemetry;
use crate::tls::raw::RawTls;
use crate::upstreams::raw::RawUpstream;
use schemars::JsonSchema;
use std::collections::BTreeMap;

/// The whole file: its top-level sections (the same list the compile step reads).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "gatehouse configuration",
    description = "gatehouse's YAML configuration file. Every setting with its default: config/examples/reference.yaml."
)]
#[allow(dead_code)]
pub(crate) struct Document {
    /// The private admin listener: /healthz, /readyz, /metrics and the /api/v1 admin API.
    admin: Option<RawAdmin>,
    /// Process settings (restart).
    server: Option<RawServer>,
    /// Logging.
    log: Option<RawLog>,
    /// Traces (OTLP) and error events (Sentry).
    telemetry: Option<RawTelemetry>,
    /// Defaults of every probe, and their concurrency.
    probing: Option<RawProbing>,
    /// Active probes (uptime checks).
    probes: Option<Vec<RawProbe>>,
    /// Where probe results and incidents are kept.
    store: Option<RawStore>,
    /// Alert rules, incident handling and notifiers.
    alerting: Option<RawAlerting>,
    /// The public status page.
    status_page: Option<RawStatusPage>,
    /// A built-in demo backend for trying gatehouse out.
    demo: Option<RawDemo>,
    /// Where state that outlives the process is kept (ACME, probe and incident history).
    /// Default: `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`), else `gatehouse-data`
    /// in the working directory.
    state_dir: Option<String>,
    /// Where the proxy accepts traffic.
    listeners: Option<Vec<RawListener>>,
    /// Certificates for the TLS listeners: files and ACME.
    tls: Option<RawTls>,
    /// Peers (IP or CIDR) whose X-Forwarded-For names the client.
    trusted_proxies: Option<Vec<String>>,
    /// Redis, for rate limits and lockouts shared by several instances.
    redis: Option<RawRedis>,
    /// Named edge policies that routes attach.
    policies: Option<BTreeMap<String, RawPolicy>>,
    /// Named pools of backends.
    upstreams: Option<BTreeMap<String, RawUpstream>>,
    /// Routes by host and path prefix, in file order.
    routes: Option<Vec<RawRoute>>,
}

/// `false` (or `true` where the setting has a default to turn on), or the setting itself.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum BoolOr<T> {
    Bool(bool),
    Value(T),
}

/// Names mapped to lists of strings: CSP directives to sources, Permissions-Policy features
/// to allowlists (`[]` or nothing for nobody).
pub(crate) type Allowlists = BTreeMap<String, Option<Vec<String>>>;

/// Checks in a row (`3`), or some of the last checks (`{ count: 3, of: 5 }`).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum Threshold {
    InARow(u32),
    Of(RawThreshold),
}

/// A notifier: the fields every kind has, then its kind's own (`type` says which). Written out
/// by hand: the raw notifier reads its kind's fields through `#[serde(flatten)]` into a YAML
/// mapping, and each kind must be one closed object (`type` and the common fields included)
/// for unknown keys to be refused.
pub(crate) struct Notifier;

impl JsonSchema for Notifier {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Notifier".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let kinds = [
            ("webhook", RawWebhook::json_schema(generator)),
            ("slack", RawChat::json_schema(generator)),
            ("discord", RawChat::json_schema(generator)),
            ("teams", RawChat::json_schema(generator)),
            ("pagerduty", RawPagerDuty::json_schema(generator)),
            ("opsgenie", RawOpsgenie::json_schema(generator)),
            ("email", RawEmail::json_schema(generator)),
            ("ntfy", RawNtfy::json_schema(generator)),
            ("telegram", RawTelegram::json_schema(generator)),
        ];
        let retries = generator.subschema_for::<Option<u32>>();
        let variants: Vec<serde_json::Value> = kinds
            .into_iter()
            .map(|(kind, schema)| {
                let mut schema = schema.to_value();
                if let Some(props) = schema["properties"].as_object_mut() {
                    props.insert(
                        "type".into(),
                        serde_json::json!({ "type": "string", "const": kind }),
                    );
                    props.insert(
                        "name".into(),
                        serde_json::json!({ "type": "string", "description": "Named by `alerting.routes[].notifiers` and `gatehouse notify-test --notifier`." }),
                    );
                    props.insert(
                        "timeout".into(),
                        serde_json::json!({ "type": ["string", "null"], "description": "Per attempt, e.g. `10s`." }),
                    );
                    props.insert("retries".into(), retries.clone().to_value());
                }
                if let Some(required) = schema["required"].as_array_mut() {
                    required.extend(["type".into(), "name".into()]);
                } else {
                    schema["required"] = serde_json::json!(["type", "name"]);
                }
                schema["title"] = kind.into();
                schema
            })
            .collect();
        schemars::json_schema!({
            "description": "A notifier: `name`, `type` and the fields of that type.",
            "oneOf": variants,
        })
    }
}

/// The JSON Schema of the config file.
pub fn json() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Document>();
    schema.to_value()
}

/// [`json`], pretty-printed.
pub fn json_pretty() -> String {
    serde_json::to_string_pretty(&json()).unwrap_or_default()
}

/// The top-level keys the schema knows, to hold it to the compile step's list.
#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_has_the_sections_the_compile_step_reads() {
        let schema = super::json();
        let mut keys: Vec<&str> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        let mut sections = crate::document::SECTIONS.to_vec();
        keys.sort_unstable();
        sections.sort_unstable();
        assert_eq!(keys, sections);
        assert_eq!(schema["additionalProperties"], false);
    }
}
