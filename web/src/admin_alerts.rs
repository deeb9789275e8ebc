//! The alerting endpoints of the admin listener: `GET /api/v1/incidents` (open, pending and
//! recent incidents), `GET /api/v1/silences`, `POST /api/v1/silences` (create; JSON body) and
//! `DELETE /api/v1/silences/{id}` (expire now), `POST /api/v1/incidents/{id}/updates` and
//! `GET|POST /api/v1/announcements`, `DELETE /api/v1/announcements/{id}` (what the status
//! page shows visitors).

use crate::admin::{tail, text, Admin, PLAIN};
use axum::extract::{Request, State};
use axum::response::Response;
use gatehouse_alerting::{Refusal, SilenceRequest};
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use serde_json::json;

const JSON: &str = "application/json";
/// Largest silence request body.
const MAX_BODY: usize = 64 * 1024;

/// 400 for a wrong request, 503 when alerting could not do it now.
fn refused(r: Refusal) -> Response {
    match r {
        Refusal::Invalid(m) => json_error(StatusCode::BAD_REQUEST, m),
        Refusal::Unavailable(m) => json_error(StatusCode::SERVICE_UNAVAILABLE, m),
    }
}

fn json_error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    text(
        status,
        json!({ "error": message.to_string() }).to_string(),
        JSON,
    )
}

/// `GET /api/v1/incidents`.
pub(crate) async fn incidents(State(state): Admin) -> Response {
    match state.alerting.incidents().await {
        Ok(view) => text(
            StatusCode::OK,
            serde_json::to_string(&view).unwrap_or_default(),
            JSON,
        ),
        Err(e) => refused(e),
    }
}

/// `GET /api/v1/deliveries`: notifications not delivered yet, and those given up.
pub(crate) async fn deliveries(State(state): Admin) -> Response {
    match state.alerting.deliveries().await {
        Ok(list) => {
            let pending = list
                .iter()
                .filter(|d| d.state == gatehouse_alerting::DeliveryState::Pending)
                .count();
            let (pending, given_up) = list.split_at(pending);
            let view = serde_json::json!({ "pending": pending, "given_up": given_up });
            text(StatusCode::OK, view.to_string(), JSON)
        }
        Err(e) => refused(e),
    }
}

/// The JSON body of `req`, or the response saying why it is not one.
async fn body<T: serde::de::DeserializeOwned>(req: Request, example: &str) -> Result<T, Response> {
    // JSON only: a browser cannot send `application/json` across origins without a CORS
    // preflight, which this listener never grants, so a web page cannot post here.
    let json_body = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json_body {
        return Err(json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with `Content-Type: application/json`",
        ));
    }
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read the body: {e}"),
            )
        })?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| {
        json_error(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid: {e}; send e.g. {example}"),
        )
    })
}

fn created<T: serde::Serialize>(v: &T) -> Response {
    text(
        StatusCode::CREATED,
        serde_json::to_string(v).unwrap_or_default(),
        JSON,
    )
}

/// `POST /api/v1/incidents/{id}/updates`.
pub(crate) async fn incident_update(State(state): Admin, req: Request) -> Response {
    let uri = req.uri().clone();
    let id = tail(&uri, "/api/v1/incidents/").trim_end_matches("/updates");
    let Ok(id) = id.parse::<i64>() else {
        return json_error(StatusCode::NOT_FOUND, format!("no incident `{id}`"));
    };
    let request = match body(req, r#"{"status": "identified", "message": "..."}"#).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match state.alerting.add_update(id, request).await {
        Ok(Some(u)) => created(&u),
        Ok(None) => json_error(StatusCode::NOT_FOUND, format!("no incident {id}")),
        Err(e) => refused(e),
    }
}

/// `GET /api/v1/announcements`.
pub(crate) async fn announcements(State(state): Admin) -> Response {
    match state.alerting.announcements().await {
        Ok(list) => text(
            StatusCode::OK,
            json!({ "announcements": list }).to_string(),
            JSON,
        ),
        Err(e) => refused(e),
    }
}

/// `POST /api/v1/announcements`.
pub(crate) async fn announce(State(state): Admin, req: Request) -> Response {
    let request = match body(
        req,
        r#"{"title": "...", "body": "...", "level": "info|warning|maintenance", "ends_at": "2026-12-01T00:00:00Z"}"#,
    )
    .await
    {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match state.alerting.add_announcement(request).await {
        Ok(a) => created(&a),
        Err(e) => refused(e),
    }
}

/// `DELETE /api/v1/announcements/{id}`.
pub(crate) async fn withdraw(State(state): Admin, uri: http::Uri) -> Response {
    let id = tail(&uri, "/api/v1/announcements/");
    let removed = match id.parse::<i64>() {
        Ok(n) => state.alerting.remove_announcement(n).await,
        Err(_) => Ok(false),
    };
    match removed {
        Ok(true) => text(StatusCode::NO_CONTENT, "", JSON),
        Ok(false) => json_error(StatusCode::NOT_FOUND, format!("no announcement `{id}`")),
        Err(e) => refused(e),
    }
}

/// Any other method on the announcements.
pub(crate) async fn announcements_usage() -> Response {
    text(
        StatusCode::METHOD_NOT_ALLOWED,
        "use GET or POST /api/v1/announcements, DELETE /api/v1/announcements/{id}\n",
        PLAIN,
    )
}

/// `GET /api/v1/silences`.
pub(crate) async fn silences(State(state): Admin) -> Response {
    match state.alerting.silences().await {
        Ok(list) => text(
            StatusCode::OK,
            json!({ "silences": list }).to_string(),
            JSON,
        ),
        Err(e) => refused(e),
    }
}

/// `POST /api/v1/silences`.
pub(crate) async fn silence(State(state): Admin, req: Request) -> Response {
    let request: SilenceRequest = match body(
        req,
        r#"{"matchers": {"subject": "api"}, "duration": "2h", "comment": "...", "created_by": "..."}"#,
    )
    .await
    {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match state.alerting.add_silence(request).await {
        Ok(s) => created(&s),
        Err(e) => refused(e),
    }
}

/// `DELETE /api/v1/silences/{id}` (expire now).
pub(crate) async fn expire(State(state): Admin, uri: http::Uri) -> Response {
    let id = tail(&uri, "/api/v1/silences/");
    match state.alerting.expire_silence(id).await {
        Ok(Some(s)) => text(
            StatusCode::OK,
            serde_json::to_string(&s).unwrap_or_default(),
            JSON,
        ),
        Ok(None) => json_error(StatusCode::NOT_FOUND, format!("no silence `{id}`")),
        Err(e) => refused(e),
    }
}

/// Any other method on the silences.
pub(crate) async fn silences_usage() -> Response {
    text(
        StatusCode::METHOD_NOT_ALLOWED,
        "use GET or POST /api/v1/silences, DELETE /api/v1/silences/{id}\n",
        PLAIN,
    )
}
