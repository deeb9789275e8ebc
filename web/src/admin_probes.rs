//! The probe endpoints of the admin listener: `GET /api/v1/probes`,
//! `GET /api/v1/probes/{name}/history?range=24h|7d|30d|90d` and
//! `POST /api/v1/heartbeat/{name}` (token as `Authorization: Bearer TOKEN` or `?token=TOKEN`).

use crate::admin::{tail, text, Admin, PLAIN};
use axum::response::Response;
use gatehouse_config::probes::{Probe, ProbeKind};
use gatehouse_probes::{BeatError, Range};
use http::{HeaderMap, StatusCode, Uri};
use serde_json::{json, Value};
use std::time::SystemTime;

const JSON: &str = "application/json";

/// What a probe checks, without secrets (Redis URLs and heartbeat tokens are not shown).
fn target(p: &Probe) -> Value {
    match &p.kind {
        ProbeKind::Http(h) => json!(h.url),
        ProbeKind::Tcp(t) => json!(t.address),
        ProbeKind::Tls(t) => json!(t.address),
        ProbeKind::Dns(d) => json!(d.name),
        ProbeKind::Redis(_) | ProbeKind::Heartbeat(_) => Value::Null,
    }
}

/// `{"probes": [{name, group, kind, target, interval_seconds, up, since, streak, last}]}`;
/// `up` is null until the first check.
pub(crate) async fn list(axum::extract::State(state): Admin) -> Response {
    let items: Vec<Value> = state
        .probes
        .states()
        .into_iter()
        .map(|(p, state)| {
            let mut v = json!({
                "name": p.name,
                "group": p.group,
                "kind": p.kind.tag().as_str(),
                "target": target(&p),
                "interval_seconds": p.interval.as_secs_f64(),
                "conditions": p.conditions.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
                "labels": p.labels,
                "up": Value::Null,
            });
            if let Some(s) = state {
                v["up"] = json!(s.last.up);
                v["since"] = json!(gatehouse_probes::result::unix_millis(s.since));
                v["streak"] = json!(s.streak);
                v["last"] = serde_json::to_value(&*s.last).unwrap_or(Value::Null);
            }
            v
        })
        .collect();
    text(StatusCode::OK, json!({ "probes": items }).to_string(), JSON)
}

/// `/api/v1/probes/{name}/history?range=...` (any other path under `/api/v1/probes/` is a
/// 404 that says so; a name is everything before `/history`).
pub(crate) async fn history(axum::extract::State(state): Admin, uri: Uri) -> Response {
    let probes = &state.probes;
    let rest = tail(&uri, "/api/v1/probes/");
    let Some(name) = rest.strip_suffix("/history") else {
        return text(
            StatusCode::NOT_FOUND,
            "not found; try /api/v1/probes/{name}/history?range=24h\n",
            PLAIN,
        );
    };
    if probes.probe(name).is_none() {
        return text(
            StatusCode::NOT_FOUND,
            format!("no probe named `{name}`\n"),
            PLAIN,
        );
    }
    let range_text = query_param(&uri, "range").unwrap_or_else(|| "24h".into());
    let Some(range) = Range::parse(&range_text) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("range `{range_text}` is not one of 24h, 7d, 30d, 90d\n"),
            PLAIN,
        );
    };
    let store = probes.store();
    let name = name.to_string();
    let result =
        tokio::task::spawn_blocking(move || store.history(&name, range, SystemTime::now())).await;
    match result {
        Ok(Ok(h)) => text(
            StatusCode::OK,
            serde_json::to_string(&h).unwrap_or_default(),
            JSON,
        ),
        Ok(Err(e)) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n"), PLAIN),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the history query failed: {e}\n"),
            PLAIN,
        ),
    }
}

/// `POST /api/v1/heartbeat/{name}` (or GET).
pub(crate) async fn heartbeat(
    axum::extract::State(state): Admin,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let name = tail(&uri, "/api/v1/heartbeat/");
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let token = bearer
        .or_else(|| query_param(&uri, "token"))
        .unwrap_or_default();
    match state.probes.beat(name, &token) {
        Ok(()) => text(StatusCode::OK, "ok\n", PLAIN),
        Err(BeatError::NotFound) => text(
            StatusCode::NOT_FOUND,
            format!("no heartbeat monitor named `{name}`\n"),
            PLAIN,
        ),
        Err(BeatError::Unauthorized) => text(
            StatusCode::UNAUTHORIZED,
            "the token is missing or wrong; send `Authorization: Bearer TOKEN`\n",
            PLAIN,
        ),
    }
}

fn query_param(uri: &Uri, key: &str) -> Option<String> {
    gatehouse_proxy::heartbeat::query_value(uri.query()?, key)
}
