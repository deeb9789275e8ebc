//! HTTP/2 requests under way per connection (see `crate::h2guard`).

use super::ctx::RequestCtx;
use crate::h2guard::{start_request, NotTaken};
use crate::respond::Refusal;
use pingora::proxy::Session;

/// Take the request's place among its HTTP/2 connection's requests under way; `true` when it
/// was refused instead (the stream is reset).
pub(super) fn refused(session: &mut Session, ctx: &mut RequestCtx) -> bool {
    // A stream its client reset still counts until its request ends: one connection never
    // has more requests under way than its stream limit. Past it, and after a graceful
    // GOAWAY, the stream is refused (REFUSED_STREAM: not processed, safe to retry).
    if session.as_ref().is_http2() {
        let limit = ctx.state.config.server.http2_max_concurrent_streams as usize;
        let digest = session.digest().and_then(|d| d.socket_digest.as_ref());
        match digest.map(|d| start_request(d, limit)) {
            Some(Err(why)) => {
                if why == NotTaken::Busy {
                    ctx.count_rejection(Refusal::H2_STREAMS.code);
                }
                session
                    .as_mut()
                    .shutdown_with_reason(h2::Reason::REFUSED_STREAM);
                return true;
            }
            Some(Ok(slot)) => ctx.h2_slot = slot,
            None => {}
        }
    }
    false
}
