//! Raw HTTP/1 on both sides of the proxy: a client that sends exactly the bytes it is given
//! (no normalization, no header fixing) and reads one answer with a deadline, and a recording
//! backend that keeps every request head it receives, byte for byte, so that a test can say
//! what reached the upstream (the real proof that a request was refused: nothing did).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout_at, Instant};

/// How long [`send`] waits for a complete answer.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// After a complete answer, how long [`send`] waits to see whether the server closes.
const LINGER: Duration = Duration::from_millis(300);

/// One answer as the client saw it.
#[derive(Debug, Clone, Default)]
pub struct RawResponse {
    /// The final status (1xx answers are skipped); `None` when no status line arrived.
    pub status: Option<u16>,
    /// Status line and headers of the final answer, lossily decoded.
    pub head: String,
    pub body: Vec<u8>,
    /// The server closed the connection (EOF or reset) by the end of the exchange.
    pub closed: bool,
    /// No complete answer within [`DEADLINE`] and no close either.
    pub timed_out: bool,
}

impl RawResponse {
    /// Refused as the tests count it: any status outside 2xx, or no answer at all (a close).
    pub fn refused(&self) -> bool {
        !self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// `error` of a gatehouse JSON refusal body, if the body is one.
    pub fn error_code(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("error")?.as_str().map(str::to_string)
    }

    /// The values of a response header (case-insensitive name).
    pub fn header(&self, name: &str) -> Vec<String> {
        header_values(&self.head, name)
    }

    /// `401`, `400 bad_path`, `closed`, `timeout`: short, for tables.
    pub fn summary(&self) -> String {
        match self.status {
            Some(s) => match self.error_code() {
                Some(code) => format!("{s} {code}"),
                None => s.to_string(),
            },
            None if self.timed_out => "timeout".into(),
            None => "closed".into(),
        }
    }
}

/// Connect to `addr`, write `bytes` as they are and read one answer (the final one after any
/// 1xx) until it is complete by its framing, the server closes, or [`DEADLINE`] passes.
/// Write errors are ignored: a server may answer and close before reading everything.
pub async fn send(addr: SocketAddr, bytes: &[u8]) -> RawResponse {
    let deadline = Instant::now() + DEADLINE;
    let mut out = RawResponse::default();
    let Ok(Ok(mut stream)) = timeout_at(deadline, TcpStream::connect(addr)).await else {
        out.closed = true;
        return out;
    };
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.split();
    let write = async {
        // Bounded too: a server that neither reads nor closes must not hang the test.
        let _ = timeout_at(deadline, wr.write_all(bytes)).await;
    };
    let mut buf = Vec::new();
    let read = read_answer(&mut rd, &mut buf, deadline, &mut out);
    // Write and read at once: a server may answer before it has read a large request.
    let ((), ()) = tokio::join!(write, read);
    out
}

async fn read_answer<R: AsyncReadExt + Unpin>(
    rd: &mut R,
    buf: &mut Vec<u8>,
    deadline: Instant,
    out: &mut RawResponse,
) {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some(done) = parse_answer(buf, out) {
            if done {
                break;
            }
        }
        match timeout_at(deadline, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                out.closed = true;
                // Whatever arrived before the close is the answer (a body read to EOF).
                parse_answer(buf, out);
                if out.status.is_some() && out.body.is_empty() {
                    out.body = body_after_head(buf);
                }
                return;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {
                out.timed_out = out.status.is_none();
                return;
            }
        }
    }
    // Complete: does the server close the connection now?
    let linger = Instant::now() + LINGER;
    if let Ok(Ok(0) | Err(_)) = timeout_at(linger.min(deadline), rd.read(&mut chunk)).await {
        out.closed = true;
    }
}

/// Parse the final answer in `buf` into `out`. `Some(true)` when it is complete by its framing,
/// `Some(false)` when its head is there but not all of its body, `None` without a full head.
fn parse_answer(buf: &mut Vec<u8>, out: &mut RawResponse) -> Option<bool> {
    loop {
        let end = find(buf, b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok());
        if status.is_some_and(|s| (100..200).contains(&s) && s != 101) {
            buf.drain(..end); // an interim answer: the final one follows
            continue;
        }
        out.status = status;
        out.head = head.trim_end().to_string();
        let rest = &buf[end..];
        let no_body = status.is_some_and(|s| s == 204 || s == 304);
        let te = header_values(&out.head, "transfer-encoding").join(",");
        if no_body {
            out.body.clear();
            return Some(true);
        }
        if te.to_ascii_lowercase().contains("chunked") {
            return match dechunk(rest) {
                Some((body, _)) => {
                    out.body = body;
                    Some(true)
                }
                None => Some(false),
            };
        }
        if let Some(len) = header_values(&out.head, "content-length")
            .first()
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            if rest.len() >= len {
                out.body = rest[..len].to_vec();
                return Some(true);
            }
            return Some(false);
        }
        return Some(false); // read to EOF
    }
}

fn body_after_head(buf: &[u8]) -> Vec<u8> {
    find(buf, b"\r\n\r\n").map_or_else(Vec::new, |i| buf[i + 4..].to_vec())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Values of header `name` in a head (request or response; the first line is skipped).
pub fn header_values(head: &str, name: &str) -> Vec<String> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

/// A chunked body from the start of `data`: (body, bytes used) once the last chunk and the
/// trailer section are complete; `None` while incomplete or malformed.
fn dechunk(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + find(&data[at..], b"\r\n")?;
        let line = std::str::from_utf8(&data[at..line_end]).ok()?;
        let size_text = line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let end = at + find(&data[at..], b"\r\n")?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some((body, at));
                }
            }
        }
        if data.len() < at + size + 2 {
            return None;
        }
        body.extend_from_slice(&data[at..at + size]);
        at += size + 2;
    }
}

/// One request as the backend received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Request line and headers, exactly as received (without the empty line).
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    /// The body was complete by its framing (false when the peer gave up in the middle).
    pub body_complete: bool,
}

impl Recorded {
    pub fn head_text(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }

    pub fn request_line(&self) -> String {
        self.head_text()
            .split("\r\n")
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// The request target of the request line (`/admin/x?y`).
    pub fn target(&self) -> String {
        let line = self.request_line();
        let mut parts = line.split(' ');
        parts.nth(1).unwrap_or_default().to_string()
    }

    /// The values of header `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Vec<String> {
        header_values(&self.head_text(), name)
    }

    /// Header names as received, in order.
    pub fn header_names(&self) -> Vec<String> {
        self.head_text()
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            .collect()
    }
}

/// A backend on 127.0.0.1:0 that records each request head (and body) it receives and answers
/// `200` with a small body and Content-Length; keep-alive aware, reads request bodies by
/// Content-Length or chunked framing. Ended on drop.
pub struct Recorder {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The body of the recorder's answers.
pub const BACKEND_BODY: &str = "recorded";

impl Recorder {
    pub async fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(stream, s.clone()));
            }
        });
        Recorder { addr, seen, task }
    }

    /// Everything received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().expect("lock").clone()
    }

    /// Everything received so far, forgetting it.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }

    pub fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }
}

const MAX_HEAD: usize = 1024 * 1024;

async fn serve(mut stream: TcpStream, seen: Arc<Mutex<Vec<Recorded>>>) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // The head.
        let end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            if buf.len() > MAX_HEAD {
                return;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = buf[..end].to_vec();
        buf.drain(..end + 4);
        let text = String::from_utf8_lossy(&head).into_owned();
        let index = {
            let mut s = seen.lock().expect("lock");
            s.push(Recorded {
                head: head.clone(),
                body: Vec::new(),
                body_complete: false,
            });
            s.len() - 1
        };
        // The body, by its framing (chunked wins over Content-Length, as RFC 9112 says).
        let chunked = header_values(&text, "transfer-encoding")
            .iter()
            .any(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = header_values(&text, "content-length")
            .first()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let body = loop {
            if chunked {
                if let Some((body, used)) = dechunk(&buf) {
                    buf.drain(..used);
                    break body;
                }
            } else if buf.len() >= length {
                break buf.drain(..length).collect::<Vec<u8>>();
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return, // recorded with body_complete: false
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        if let Some(r) = seen.lock().expect("lock").get_mut(index) {
            r.body = body;
            r.body_complete = true;
        }
        let http10 = text
            .split("\r\n")
            .next()
            .is_some_and(|l| l.ends_with("HTTP/1.0"));
        let conn = header_values(&text, "connection")
            .join(",")
            .to_ascii_lowercase();
        let close = conn.contains("close") || (http10 && !conn.contains("keep-alive"));
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{BACKEND_BODY}",
            BACKEND_BODY.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if stream.write_all(answer.as_bytes()).await.is_err() || close {
            return;
        }
    }
}
