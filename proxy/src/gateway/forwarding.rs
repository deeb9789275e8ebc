//! The forwarding headers an upstream gets: only a trusted proxy's X-Forwarded-For is kept
//! (and extended); from anyone else, every header that states facts about the connection is
//! removed before ours are set, so that upstreams cannot be fooled about who the client is or
//! how it came.

use super::ctx::{header_list, RequestCtx};
use crate::canonical;
use crate::wire_names as names;
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

/// Set X-Forwarded-For/-Proto/-Host/-Port and X-Real-IP on the upstream request.
pub(super) fn set_headers(
    session: &Session,
    upstream: &mut RequestHeader,
    ctx: &RequestCtx,
) -> Result<()> {
    // Room for the headers added here and after (request id, trace context): the clone
    // Pingora made of the client's header has none, and each map would regrow on the way.
    upstream.reserve(8);
    let prev = if ctx.trusted_peer {
        header_list(upstream, "x-forwarded-for")
    } else {
        None
    };
    if !ctx.trusted_peer {
        canonical::remove_forwarding(upstream, ctx.state.config.server.underscores_in_headers);
    }
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip());
    // The address is formatted once when the client is the socket peer (the usual case).
    let peer_text = peer.map(|ip| ip.to_string());
    let real_ip = match ctx.client_ip {
        Some(ip) if Some(ip) == peer => peer_text.clone(),
        Some(ip) => Some(ip.to_string()),
        None => None,
    };
    if let Some(ip) = peer_text {
        let xff = match prev {
            Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
            _ => ip,
        };
        upstream.insert_header(names::X_FORWARDED_FOR, xff)?;
    }
    match real_ip {
        Some(ip) => upstream.insert_header(names::X_REAL_IP, ip)?,
        None => {
            upstream.remove_header("x-real-ip");
        }
    }
    let proto = if ctx.https { "https" } else { "http" };
    upstream.insert_header(names::X_FORWARDED_PROTO, proto)?;
    match &ctx.host {
        Some(host) => {
            upstream.insert_header(names::X_FORWARDED_HOST, host.with_port())?;
            let port = host.port.unwrap_or(if ctx.https { 443 } else { 80 });
            upstream.insert_header(names::X_FORWARDED_PORT, port.to_string())?;
        }
        None => {
            upstream.remove_header("x-forwarded-host");
            upstream.remove_header("x-forwarded-port");
        }
    }
    Ok(())
}
