//! HTTP/2 connections under watch. The `h2` crate and Pingora bound a connection's open
//! streams and its unpaced rapid reset, but not a client that opens streams, lets them be
//! accepted and then resets them, 20 at a time (the paced rapid reset): each reset frees a
//! stream slot at once while its request still runs upstream. This wrapper of the connection's
//! stream reads the client's frame headers as they pass (it never changes a byte) and:
//!
//! - closes a connection whose client preface and first SETTINGS have not arrived within
//!   `server.header_timeout` (counted as `h2_preface_timeout`);
//! - spends one token of a per-connection bucket on each RST_STREAM from the client
//!   (`server.http2_max_resets` tokens, refilled over a minute); when the bucket is empty it
//!   writes GOAWAY with ENHANCE_YOUR_CALM between two of the server's frames and ends the
//!   connection (counted in `gatehouse_requests_rejected_total{reason="h2_reset_flood"}`),
//!   which cancels every request of the connection still under way upstream;
//! - after `server.keepalive_requests` requests, sends a graceful GOAWAY (NO_ERROR, naming
//!   the last stream read by then) between two of the server's frames, as nginx does; the
//!   requests of later streams are refused with REFUSED_STREAM (not processed: a client
//!   retries them on a new connection);
//! - registers the connection so that the gateway can count its requests under way
//!   ([`start_request`]): a reset stream counts until its request has ended, so a connection
//!   never has more requests in progress than `server.http2_max_concurrent_streams`.

use crate::h2frames::{
    goaway, Frames, ENHANCE_YOUR_CALM, HEADERS, NO_ERROR, PREFACE_LEN, RST_STREAM, SETTINGS,
};
use pingora::protocols::Stream;
use prometheus::IntCounter;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

const SHARDS: usize = 16;

/// What one HTTP/2 connection shares with its requests.
#[derive(Debug)]
pub(crate) struct H2Conn {
    in_flight: AtomicUsize,
    /// Requests taken so far, and how many the connection serves.
    taken: AtomicU32,
    max_requests: u32,
    /// The last request was taken: a graceful GOAWAY is due, new requests are refused.
    closing: AtomicBool,
}

/// Why a request of an HTTP/2 connection is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotTaken {
    /// Its connection has its stream limit of requests under way.
    Busy,
    /// Its connection was told GOAWAY after its request cap.
    Closing,
}

type Registry = [Mutex<HashMap<usize, Weak<H2Conn>>>; SHARDS];

/// Open HTTP/2 connections by the address of their socket digest, which Pingora shares
/// between the connection and every request on it.
static CONNECTIONS: LazyLock<Registry> =
    LazyLock::new(|| std::array::from_fn(|_| Mutex::new(HashMap::new())));

fn shard(key: usize) -> &'static Mutex<HashMap<usize, Weak<H2Conn>>> {
    &CONNECTIONS[(key >> 4) % SHARDS]
}

/// A request counted as under way on its connection until released or dropped.
#[derive(Debug)]
pub(crate) struct RequestSlot(Arc<H2Conn>, AtomicBool);

impl RequestSlot {
    /// Give the place back (once): the request's exchange is over, before the client sees
    /// the end of its stream and may open the next one.
    pub(crate) fn release(&self) {
        if !self.1.swap(true, Ordering::Relaxed) {
            self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for RequestSlot {
    fn drop(&mut self) {
        self.release();
    }
}

/// Count a request of the HTTP/2 connection whose socket digest is `digest` as under way:
/// `Ok(None)` when the connection is not watched.
pub(crate) fn start_request(
    digest: &Arc<pingora::protocols::SocketDigest>,
    limit: usize,
) -> Result<Option<RequestSlot>, NotTaken> {
    let key = Arc::as_ptr(digest) as usize;
    let conn = shard(key)
        .lock()
        .ok()
        .and_then(|m| m.get(&key).and_then(Weak::upgrade));
    let Some(conn) = conn else {
        return Ok(None);
    };
    if conn.closing.load(Ordering::Relaxed) {
        return Err(NotTaken::Closing);
    }
    if conn.in_flight.fetch_add(1, Ordering::Relaxed) >= limit {
        conn.in_flight.fetch_sub(1, Ordering::Relaxed);
        return Err(NotTaken::Busy);
    }
    if conn.taken.fetch_add(1, Ordering::Relaxed) + 1 >= conn.max_requests {
        // Every request taken came on a stream read before the GOAWAY is written, so the last
        // stream it names covers them; streams read meanwhile are refused, which is safe.
        conn.closing.store(true, Ordering::Relaxed);
    }
    Ok(Some(RequestSlot(conn, AtomicBool::new(false))))
}

/// The counters of the watch, one set per listener.
pub(crate) struct Watch {
    pub(crate) on_preface_timeout: IntCounter,
    pub(crate) on_reset_flood: IntCounter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Calm {
    /// Nothing to say.
    No,
    /// GOAWAY is due; this many of its bytes are written.
    Due(usize),
    /// GOAWAY and FIN are out: the client's bytes are read and dropped, so that closing does
    /// not reset the connection before the client has read the GOAWAY (nginx:
    /// lingering_close); the server's are dropped too. Ends at the client's FIN or [`LINGER`].
    Lingering,
    /// The connection is over.
    Closed,
}

/// How long a connection told GOAWAY ENHANCE_YOUR_CALM lingers.
const LINGER: Duration = Duration::from_secs(1);

/// An HTTP/2 connection's stream under watch.
pub(crate) struct H2Guard {
    inner: Stream,
    /// Shared with the registry (weakly) and the requests.
    conn: Arc<H2Conn>,
    key: Option<usize>,
    preface_left: usize,
    /// Runs until the client's preface and first SETTINGS have arrived; later, the linger's.
    deadline: Option<Pin<Box<Sleep>>>,
    read: Frames,
    written: Frames,
    last_stream: u32,
    max_resets: u32,
    tokens: f64,
    refilled: Instant,
    calm: Calm,
    /// The graceful GOAWAY once due, and how many of its bytes are written.
    graceful: Option<([u8; 17], usize)>,
    /// Our FIN is out (lingering).
    fin_sent: bool,
    watch: Arc<Watch>,
}

impl std::fmt::Debug for H2Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Guard")
            .field("inner", &self.inner)
            .field("calm", &self.calm)
            .finish()
    }
}

impl Drop for H2Guard {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            if let Ok(mut m) = shard(key).lock() {
                m.remove(&key);
            }
        }
    }
}

impl H2Guard {
    /// Watch `inner`: its preface within `preface_timeout`, at most `max_resets` client
    /// resets a minute, a graceful GOAWAY after `max_requests` requests.
    pub(crate) fn new(
        inner: Stream,
        preface_timeout: Duration,
        max_resets: u32,
        max_requests: u32,
        watch: Arc<Watch>,
    ) -> H2Guard {
        let conn = Arc::new(H2Conn {
            in_flight: AtomicUsize::new(0),
            taken: AtomicU32::new(0),
            max_requests,
            closing: AtomicBool::new(false),
        });
        let key = inner.get_socket_digest().map(|d| Arc::as_ptr(&d) as usize);
        if let Some(key) = key {
            if let Ok(mut m) = shard(key).lock() {
                m.insert(key, Arc::downgrade(&conn));
            }
        }
        H2Guard {
            inner,
            conn,
            key,
            preface_left: PREFACE_LEN,
            deadline: Some(Box::pin(tokio::time::sleep(preface_timeout))),
            read: Frames::default(),
            written: Frames::default(),
            last_stream: 0,
            max_resets,
            tokens: f64::from(max_resets),
            refilled: Instant::now(),
            calm: Calm::No,
            graceful: None,
            fin_sent: false,
            watch,
        }
    }

    /// Follow bytes the client sent.
    fn saw(&mut self, mut bytes: &[u8]) {
        if self.preface_left > 0 {
            let n = self.preface_left.min(bytes.len());
            self.preface_left -= n;
            bytes = &bytes[n..];
        }
        let mut settings = false;
        let mut resets = 0u32;
        let mut last = self.last_stream;
        self.read.follow(bytes, |h| {
            let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
            match h[3] {
                SETTINGS => settings = true,
                HEADERS => last = last.max(stream),
                RST_STREAM => resets += 1,
                _ => {}
            }
        });
        self.last_stream = last;
        if settings {
            self.deadline = None;
        }
        if resets > 0 && self.calm == Calm::No {
            let max = f64::from(self.max_resets);
            let now = Instant::now();
            let refill = now.duration_since(self.refilled).as_secs_f64() * max / 60.0;
            self.refilled = now;
            self.tokens = (self.tokens + refill).min(max) - f64::from(resets);
            if self.tokens < 0.0 {
                self.calm = Calm::Due(0);
                // The GOAWAY must be out within the linger too (a client that does not read).
                self.deadline = Some(Box::pin(tokio::time::sleep(LINGER)));
                self.watch.on_reset_flood.inc();
                tracing::debug!(
                    last_stream = self.last_stream,
                    "HTTP/2 client reset too many streams; GOAWAY ENHANCE_YOUR_CALM"
                );
            }
        }
    }

    /// Write the graceful GOAWAY when due and the server is between two frames: `Pending`
    /// only while it is partly written.
    fn poll_graceful(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.graceful.is_none() && self.conn.closing.load(Ordering::Relaxed) {
            self.graceful = Some((goaway(self.last_stream, NO_ERROR), 0));
        }
        while let Some((frame, done)) = self.graceful.as_mut() {
            if *done == frame.len() || (*done == 0 && !self.written.at_boundary()) {
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &frame[*done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Whether the linger's deadline has passed (registering for it when not).
    fn linger_over(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline
            .as_mut()
            .is_none_or(|t| t.as_mut().poll(cx).is_ready())
    }

    /// Write what is left of a due GOAWAY, then linger; `Ready` once the connection is over.
    fn poll_calm(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match self.calm {
                Calm::No | Calm::Closed => return Poll::Ready(()),
                Calm::Due(_)
                    if !self.written.at_boundary()
                        || self.graceful.is_some_and(|(f, d)| d > 0 && d < f.len()) =>
                {
                    // The server is inside a frame it could not finish writing (the client
                    // is not reading): no room for a GOAWAY, just close.
                    self.calm = Calm::Closed;
                }
                Calm::Due(done) => {
                    // A GOAWAY may not name a later stream than one sent before.
                    let last = match self.graceful {
                        Some((f, d)) if d > 0 => self
                            .last_stream
                            .min(u32::from_be_bytes([f[9], f[10], f[11], f[12]])),
                        _ => self.last_stream,
                    };
                    let frame = goaway(last, ENHANCE_YOUR_CALM);
                    let inner = Pin::new(&mut self.inner);
                    let step = if done < frame.len() {
                        match inner.poll_write(cx, &frame[done..]) {
                            Poll::Ready(Ok(n)) if n > 0 => Poll::Ready(Calm::Due(done + n)),
                            Poll::Ready(_) => Poll::Ready(Calm::Closed),
                            Poll::Pending => Poll::Pending,
                        }
                    } else {
                        match inner.poll_flush(cx) {
                            Poll::Pending => Poll::Pending,
                            Poll::Ready(Ok(())) => {
                                self.deadline = Some(Box::pin(tokio::time::sleep(LINGER)));
                                Poll::Ready(Calm::Lingering)
                            }
                            Poll::Ready(Err(_)) => Poll::Ready(Calm::Closed),
                        }
                    };
                    self.calm = match step {
                        Poll::Ready(next) => next,
                        // The client takes nothing: give up the GOAWAY at the linger's end.
                        Poll::Pending if self.linger_over(cx) => Calm::Closed,
                        Poll::Pending => return Poll::Pending,
                    };
                }
                Calm::Lingering => {
                    // Our FIN first, once (its errors change nothing: the connection is ending).
                    if !self.fin_sent {
                        self.fin_sent = Pin::new(&mut self.inner).poll_shutdown(cx).is_ready();
                    }
                    let mut scratch = [0u8; 4096];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                            // A client that keeps sending is not waited for past the linger.
                            if self.linger_over(cx) {
                                self.calm = Calm::Closed;
                            }
                        }
                        Poll::Ready(_) => self.calm = Calm::Closed,
                        Poll::Pending => {
                            if !self.linger_over(cx) {
                                return Poll::Pending;
                            }
                            self.calm = Calm::Closed;
                        }
                    }
                }
            }
        }
    }
}

impl AsyncRead for H2Guard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.calm != Calm::No {
            // The end of the stream, once the GOAWAY is out and the client has had it.
            return this.poll_calm(cx).map(|()| Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.saw(&buf.filled()[before..]);
                // A due graceful GOAWAY goes out now if the server is between frames (it may
                // have nothing to write for a while); its errors show on the next write.
                let due = match this.graceful {
                    Some((f, d)) => d < f.len(),
                    None => this.conn.closing.load(Ordering::Relaxed),
                };
                if due && this.poll_graceful(cx).is_ready() {
                    let _ = Pin::new(&mut this.inner).poll_flush(cx);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if let Some(sleep) = this.deadline.as_mut() {
                    if sleep.as_mut().poll(cx).is_ready() {
                        this.deadline = None;
                        this.watch.on_preface_timeout.inc();
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no HTTP/2 preface and SETTINGS before the header timeout",
                        )));
                    }
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl AsyncWrite for H2Guard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(done) = this.after_goaway(cx) {
            return done.map(|()| Ok(buf.len()));
        }
        match this.poll_graceful(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            this.written.follow(&buf[..n], |_| {});
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(done) = this.after_goaway(cx) {
            return done.map(|()| Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        match this.poll_graceful(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            let mut left = n;
            for b in bufs {
                let take = left.min(b.len());
                this.written.follow(&b[..take], |_| {});
                left -= take;
                if left == 0 {
                    break;
                }
            }
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.calm != Calm::No {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl H2Guard {
    /// Once GOAWAY is due, the server's own frames are dropped (the connection is ending; a
    /// write error would close it at once, before the client has read the GOAWAY). `Some`
    /// when the write is to be dropped, after the GOAWAY is out.
    fn after_goaway(&mut self, cx: &mut Context<'_>) -> Option<Poll<()>> {
        match self.calm {
            Calm::No => None,
            Calm::Due(_) => Some(self.poll_calm_write(cx)),
            Calm::Lingering | Calm::Closed => Some(Poll::Ready(())),
        }
    }

    /// Drive a due GOAWAY out from the write side (lingering is the read side's).
    fn poll_calm_write(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.poll_calm(cx) {
            Poll::Pending if matches!(self.calm, Calm::Due(_)) => Poll::Pending,
            _ => Poll::Ready(()),
        }
    }
}

crate::conn_io::forward_io!(H2Guard, inner);
