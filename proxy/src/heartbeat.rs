//! Heartbeat pushes on the public proxy listeners: with `probing.public_heartbeat_path` set,
//! `POST {path}/{probe}` with the probe's own token (`Authorization: Bearer TOKEN` or
//! `?token=TOKEN`) is answered by gatehouse itself and never forwarded, so that a cron job
//! on another host needs neither the admin API nor a route. The proxy does not know the
//! probes: the root package hands it a [`HeartbeatSink`].

use crate::gateway::RequestCtx;
use crate::respond::{self, respond, Refusal};
use bytes::Bytes;
use pingora::prelude::*;
use pingora::proxy::Session;

/// Why a beat was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeatRefusal {
    /// No heartbeat monitor has this name.
    UnknownMonitor,
    /// The token is missing or wrong.
    WrongToken,
}

/// Where beats go (the probes, in the running binary).
pub trait HeartbeatSink: Send + Sync {
    /// Record a beat of monitor `name` if `token` is its token (compared in constant time).
    fn beat(&self, name: &str, token: &str) -> Result<(), BeatRefusal>;
}

/// Answer the request when it is a heartbeat push under `prefix` (the live config's
/// `probing.public_heartbeat_path`); `Some(status)` when answered, `None` when it is not one
/// (it goes on to routing).
pub(crate) async fn answer(
    sink: Option<&dyn HeartbeatSink>,
    prefix: Option<&str>,
    session: &mut Session,
    ctx: &RequestCtx,
) -> Result<Option<u16>> {
    let (Some(sink), Some(prefix)) = (sink, prefix) else {
        return Ok(None);
    };
    let req = session.req_header();
    let Some(name) = monitor_name(req.uri.path(), prefix) else {
        return Ok(None);
    };
    if req.method != http::Method::POST {
        let allow = [("allow", "POST")];
        let msg = "heartbeats are sent with POST";
        respond(
            session,
            Refusal::METHOD_NOT_ALLOWED,
            msg,
            ctx,
            false,
            &allow,
        )
        .await?;
        return Ok(Some(405));
    }
    let token = bearer(req)
        .map(str::to_string)
        .or_else(|| req.uri.query().and_then(query_token))
        .unwrap_or_default();
    match sink.beat(name, &token) {
        Ok(()) => {
            let headers = [
                ("content-type", "text/plain; charset=utf-8"),
                ("cache-control", "no-store"),
            ];
            respond::send(session, 200, &headers, Bytes::from_static(b"ok\n"), ctx).await?;
            Ok(Some(200))
        }
        // On a public listener an unknown name is answered as a wrong token is, so that the
        // monitors' names cannot be listed by trying them.
        Err(BeatRefusal::UnknownMonitor | BeatRefusal::WrongToken) => {
            let msg = "the token is missing or wrong; send `Authorization: Bearer TOKEN`";
            let challenge = [("www-authenticate", "Bearer realm=\"gatehouse-heartbeat\"")];
            respond(session, Refusal::UNAUTHORIZED, msg, ctx, false, &challenge).await?;
            Ok(Some(401))
        }
    }
}

/// `{prefix}/{name}` → `name`; `None` for paths outside the prefix (on a segment boundary).
/// `{prefix}` and `{prefix}/` give an empty name (answered 401, as an unknown name), as does a
/// deeper path.
fn monitor_name<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        return Some("");
    }
    let name = rest.strip_prefix('/')?;
    Some(if name.contains('/') { "" } else { name })
}

fn bearer(req: &pingora::http::RequestHeader) -> Option<&str> {
    let value = req
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `token=...` of a query string, percent-decoded.
fn query_token(query: &str) -> Option<String> {
    query_value(query, "token")
}

/// The value of `key` in a query string, percent-decoded (`+` is a space); `key` alone has
/// the empty value. Shared with the admin API's query parameters.
pub fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_under_the_prefix_only() {
        let p = "/.well-known/gatehouse/heartbeat";
        assert_eq!(monitor_name(&format!("{p}/backup"), p), Some("backup"));
        assert_eq!(monitor_name(p, p), Some(""));
        assert_eq!(monitor_name(&format!("{p}/"), p), Some(""));
        assert_eq!(monitor_name(&format!("{p}/a/b"), p), Some(""));
        assert_eq!(monitor_name(&format!("{p}x/backup"), p), None);
        assert_eq!(monitor_name("/other", p), None);
    }

    #[test]
    fn query_tokens_are_decoded() {
        assert_eq!(query_token("a=1&token=x%2By+z"), Some("x+y z".into()));
        assert_eq!(query_token("tokenx=1"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
