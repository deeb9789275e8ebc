//! The HTTP/1 keep-alive loop of a proxy connection. Pingora's own loop keeps its whole
//! request machinery alive between two requests: the request future (~14 KB), the connection
//! future (~4 KB), the session and a 4 KB head buffer, allocated before the next request's
//! first byte. Here, between two requests only the stream is held: the next session is made
//! when the next request's first bytes have arrived, and they are handed to it. They are read
//! into a buffer on the stack of the poll that finds them, so an idle connection holds none,
//! and a request costs one read (not a one-byte read and then the rest). An idle
//! connection is closed after `server.keepalive_timeout`, and at once when the server shuts
//! down (in-flight requests were drained before that signal).
//!
//! gatehouse never enables HTTP/1 pipelining, so Pingora hands back no pipelined bytes of its
//! own that the handed-over bytes would replace. The first read takes at most what Pingora's
//! own first read of a head would (`HEAD_BUF`).

use crate::state::SharedState;
use bytes::BytesMut;
use pingora::apps::{HttpPersistentSettings, HttpServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use tokio::io::{AsyncRead, ReadBuf};

/// The capacity Pingora gives a request head buffer (`INIT_HEADER_BUF_SIZE`).
const HEAD_BUF: usize = 4096;

/// Serve HTTP/1 requests on `stream` until the connection ends.
pub(crate) async fn serve_http1<A: HttpServerApp + Send + Sync + 'static>(
    app: &Arc<A>,
    mut stream: Stream,
    shutdown: &ShutdownWatch,
    state: &SharedState,
) {
    let mut first: Option<BytesMut> = None;
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
        if let Some(prefix) = first.take() {
            session.set_pipelined_prefix(prefix);
        }
        let Some(reused) = app.process_new_http(session, shutdown).await else {
            return;
        };
        let (s, p) = reused.consume();
        stream = s;
        settings = p;
        // Idle: wait for the next request's first bytes, at most the keep-alive timeout.
        let idle = state.load().config.server.keepalive_timeout;
        let mut watch = shutdown.clone();
        let read = tokio::select! {
            biased;
            r = tokio::time::timeout(idle, next_bytes(&mut stream)) => match r {
                Ok(Ok(read)) => read,
                _ => return,
            },
            _ = watch.wait_for(|down| *down) => return,
        };
        if read.is_empty() {
            return;
        }
        first = Some(read);
    }
}

/// The bytes the next read of `stream` gives (empty at its end), read into a stack buffer
/// that exists only while a poll runs, then copied into a head buffer of Pingora's size.
async fn next_bytes(stream: &mut Stream) -> std::io::Result<BytesMut> {
    poll_fn(|cx| {
        let mut space = [MaybeUninit::<u8>::uninit(); HEAD_BUF];
        let mut buf = ReadBuf::uninit(&mut space);
        match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => {
                let mut head = BytesMut::with_capacity(HEAD_BUF);
                head.extend_from_slice(buf.filled());
                Poll::Ready(Ok(head))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
