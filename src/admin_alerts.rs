//! The alerting endpoints of the admin listener: `GET /api/v1/incidents` (open, pending and
//! recent incidents), `GET /api/v1/silences`, `POST /api/v1/silences` (create; JSON body) and
//! `DELETE /api/v1/silences/{id}` (expire now).

use crate::admin::{text, PLAIN};
use bytes::Bytes;
use gatehouse_alerting::{Alerting, SilenceRequest};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;

const JSON: &str = "application/json";
/// Largest silence request body.
const MAX_BODY: usize = 64 * 1024;

fn json_error(status: StatusCode, message: impl std::fmt::Display) -> Response<Full<Bytes>> {
    text(
        status,
        json!({ "error": message.to_string() }).to_string(),
        JSON,
    )
}

/// `GET /api/v1/incidents`.
pub(crate) async fn incidents(alerting: &Alerting) -> Response<Full<Bytes>> {
    match alerting.incidents().await {
        Ok(view) => text(
            StatusCode::OK,
            serde_json::to_string(&view).unwrap_or_default(),
            JSON,
        ),
        Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

/// `/api/v1/silences` and `/api/v1/silences/{id}`.
pub(crate) async fn silences(
    alerting: &Alerting,
    req: Request<Incoming>,
    id: Option<&str>,
) -> Response<Full<Bytes>> {
    match (req.method().clone(), id) {
        (Method::GET | Method::HEAD, None) => match alerting.silences().await {
            Ok(list) => text(
                StatusCode::OK,
                json!({ "silences": list }).to_string(),
                JSON,
            ),
            Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, e),
        },
        (Method::POST, None) => {
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return json_error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("cannot read the body: {e}"),
                    )
                }
            };
            let request: SilenceRequest = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => {
                    return json_error(
                        StatusCode::BAD_REQUEST,
                        format!("the body is not a silence: {e}; send {{\"matchers\": {{\"subject\": \"api\"}}, \"duration\": \"2h\", \"comment\": \"...\", \"created_by\": \"...\"}}"),
                    )
                }
            };
            match alerting.add_silence(request).await {
                Ok(s) => text(
                    StatusCode::CREATED,
                    serde_json::to_string(&s).unwrap_or_default(),
                    JSON,
                ),
                Err(e) => json_error(StatusCode::BAD_REQUEST, e),
            }
        }
        (Method::DELETE, Some(id)) => match alerting.expire_silence(id).await {
            Ok(Some(s)) => text(
                StatusCode::OK,
                serde_json::to_string(&s).unwrap_or_default(),
                JSON,
            ),
            Ok(None) => json_error(StatusCode::NOT_FOUND, format!("no silence `{id}`")),
            Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, e),
        },
        _ => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET or POST /api/v1/silences, DELETE /api/v1/silences/{id}\n",
            PLAIN,
        ),
    }
}
