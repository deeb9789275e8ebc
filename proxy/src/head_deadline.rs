//! A deadline for the whole request head on HTTP/1 connections (nginx: `client_header_timeout`).
//! Pingora times each read of a head on its own, so a client sending one byte every few
//! seconds holds a connection for ever; this wrapper of the connection's stream closes it when
//! a head is not complete `limit` after it began: after the connection opened for the first
//! request, after its first byte for the next ones on a keep-alive connection (the wait before
//! that byte is the keep-alive idle timeout's).
//!
//! The wrapper follows the bytes, not the parser: a head ends at the first blank line read
//! (`\r\n\r\n` or `\n\n`); the request is then under way (its body is not timed here) until a
//! final response is written (an interim `1xx`, and with it a WebSocket's `101`, does not end
//! it); the next bytes read begin the next head. When a response is written before the
//! request body was read, Pingora reads the rest of the body (by its length) before the next
//! head; the wrapper times those bytes as a head, so that drain is bounded by the same
//! deadline (and counted as `header_timeout` when it outlasts it).

use pingora::protocols::Stream;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a head; `timed`: its deadline runs.
    Head { timed: bool },
    /// The head was read; the request is being answered.
    Request,
    /// A final response was written; the next byte read begins a head.
    Answered,
}

/// A connection's stream with a deadline on each request head.
pub(crate) struct HeadDeadline {
    inner: Stream,
    limit: Duration,
    state: State,
    sleep: Pin<Box<Sleep>>,
    /// The last bytes of the head so far, to find a blank line split across reads.
    tail: [u8; 3],
    on_timeout: Option<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for HeadDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadDeadline")
            .field("inner", &self.inner)
            .field("state", &self.state)
            .finish()
    }
}

impl HeadDeadline {
    /// Wrap a new connection's stream: its first head must be complete within `limit` from
    /// now. `on_timeout` is called once when a connection is closed at the deadline.
    pub(crate) fn new(
        inner: Stream,
        limit: Duration,
        on_timeout: Box<dyn Fn() + Send + Sync>,
    ) -> HeadDeadline {
        HeadDeadline {
            inner,
            limit,
            state: State::Head { timed: true },
            sleep: Box::pin(tokio::time::sleep(limit)),
            tail: [0; 3],
            on_timeout: Some(on_timeout),
        }
    }

    fn timed_out(&mut self) -> io::Error {
        if let Some(f) = self.on_timeout.take() {
            f();
        }
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the request head was not complete in time",
        )
    }
}

/// Follow the bytes just read of a head (`tail`: the last bytes before them); true when they
/// complete it with a blank line.
fn blank_line(tail: &mut [u8; 3], bytes: &[u8]) -> bool {
    let ends =
        |w: &[u8]| w.windows(4).any(|x| x == b"\r\n\r\n") || w.windows(2).any(|x| x == b"\n\n");
    let k = bytes.len().min(3);
    let mut edge = [0u8; 6];
    edge[..3].copy_from_slice(tail);
    edge[3..3 + k].copy_from_slice(&bytes[..k]);
    let found = ends(&edge[..3 + k]) || ends(bytes);
    // The last three bytes of the tail followed by these.
    let n = bytes.len();
    if n >= 3 {
        tail.copy_from_slice(&bytes[n - 3..]);
    } else {
        tail.rotate_left(n);
        tail[3 - n..].copy_from_slice(bytes);
    }
    found
}

impl AsyncRead for HeadDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if new.is_empty() {
                    return Poll::Ready(Ok(()));
                }

                if this.state == State::Answered {
                    this.state = State::Head { timed: true };
                    this.tail = [0; 3];
                    let at = Instant::now() + this.limit;
                    this.sleep.as_mut().reset(at);
                }
                if let State::Head { timed } = this.state {
                    if blank_line(&mut this.tail, new) {
                        this.state = State::Request;
                    } else if timed && this.sleep.is_elapsed() {
                        return Poll::Ready(Err(this.timed_out()));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if this.state == (State::Head { timed: true })
                    && this.sleep.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(this.timed_out()));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

/// Whether `buf` begins an interim (`1xx`) response.
fn interim(buf: &[u8]) -> bool {
    buf.len() > 9 && buf.starts_with(b"HTTP/1.") && buf[9] == b'1'
}

impl AsyncWrite for HeadDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.state == State::Request && !interim(buf) {
            this.state = State::Answered;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.state == State::Request && !bufs.first().is_some_and(|b| interim(b)) {
            this.state = State::Answered;
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

crate::conn_io::forward_io!(HeadDeadline, inner);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_split_across_reads() {
        let d = |parts: &[&[u8]]| {
            let mut tail = [0u8; 3];
            parts
                .iter()
                .map(|p| blank_line(&mut tail, p))
                .collect::<Vec<_>>()
        };
        assert_eq!(d(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]), [true]);
        assert_eq!(
            d(&[b"GET / HTTP/1.1\r\nHost: a\r", b"\n", b"\r", b"\n"]),
            [false, false, false, true]
        );
        assert_eq!(d(&[b"GET / HTTP/1.1\nHost: a\n", b"\n"]), [false, true]);
        assert_eq!(
            d(&[b"G", b"E", b"T", b"\r\n"]),
            [false, false, false, false]
        );
        let long = [b"X".repeat(200), b"\r\n\r\n".to_vec()].concat();
        assert_eq!(d(&[&long]), [true]);
        assert!(interim(b"HTTP/1.1 100 Continue\r\n\r\n"));
        assert!(interim(b"HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(!interim(b"HTTP/1.1 200 OK\r\n"));
    }
}
