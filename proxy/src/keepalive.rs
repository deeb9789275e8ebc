//! The HTTP/1 keep-alive loop of a proxy connection. Pingora's own loop keeps its whole
//! request machinery alive between two requests: the request future (~14 KB), the connection
//! future (~4 KB), the session and a 4 KB head buffer, allocated before the next request's
//! first byte. Here, between two requests only the stream is held: the next session is made
//! when the next request's first byte has arrived, and that byte is handed to it. An idle
//! connection is closed after `server.keepalive_timeout`, and at once when the server shuts
//! down (in-flight requests were drained before that signal).
//!
//! gatehouse never enables HTTP/1 pipelining, so Pingora hands back no pipelined bytes of its
//! own that the handed-over byte would replace.

use crate::state::SharedState;
use bytes::{BufMut, BytesMut};
use pingora::apps::{HttpPersistentSettings, HttpServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// The capacity Pingora gives a request head buffer (`INIT_HEADER_BUF_SIZE`).
const HEAD_BUF: usize = 4096;

/// Serve HTTP/1 requests on `stream` until the connection ends.
pub(crate) async fn serve_http1<A: HttpServerApp + Send + Sync + 'static>(
    app: &Arc<A>,
    mut stream: Stream,
    shutdown: &ShutdownWatch,
    state: &SharedState,
) {
    let mut first: Option<u8> = None;
    let mut settings: Option<HttpPersistentSettings> = None;
    loop {
        let mut session = ServerSession::new_http1(stream);
        match settings.take() {
            Some(s) => s.apply_to_session(&mut session),
            None => {
                // Pingora's defaults for a connection's first request; the gateway sets the
                // idle timeout on each response.
                session.set_keepalive(if *shutdown.borrow() { None } else { Some(60) });
                session.set_keepalive_reuses_remaining(
                    app.server_options().and_then(|o| o.keepalive_request_limit),
                );
            }
        }
        if let Some(b) = first.take() {
            let mut prefix = BytesMut::with_capacity(HEAD_BUF);
            prefix.put_u8(b);
            session.set_pipelined_prefix(prefix);
        }
        let Some(reused) = app.process_new_http(session, shutdown).await else {
            return;
        };
        let (s, p) = reused.consume();
        stream = s;
        settings = p;
        // Idle: wait for the next request's first byte, at most the keep-alive timeout.
        let idle = state.load().config.server.keepalive_timeout;
        let mut byte = [0u8; 1];
        let mut watch = shutdown.clone();
        let n = tokio::select! {
            biased;
            r = tokio::time::timeout(idle, stream.read(&mut byte)) => match r {
                Ok(Ok(n)) => n,
                _ => return,
            },
            _ = watch.wait_for(|down| *down) => return,
        };
        if n == 0 {
            return;
        }
        first = Some(byte[0]);
    }
}
