//! The access log line, written straight to stdout in the byte-for-byte form the logger
//! (tracing-subscriber's `fmt` layer, text or JSON) gives it, without going through the
//! logger: its field visitors, dynamic dispatch and timestamp formatting cost about 27,000
//! instructions a request, a seventh of the whole request path. The logger's filter still
//! decides whether the line is written (`log.level`, `RUST_LOG`).
//!
//! Until [`install`] is called (or when stdout is a terminal, where the logger adds colours)
//! the line goes through `tracing` as any other event.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The form of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `2026-01-02T03:04:05.678901Z  INFO gatehouse::access: request key=value ...`
    Text,
    /// One JSON object, fields flattened.
    Json,
}

static FORMAT: OnceLock<Format> = OnceLock::new();

/// Write access lines directly, in `format` (the logger's, which must be installed with
/// the same form and no colours).
pub fn install(format: Format) {
    let _ = FORMAT.set(format);
}

/// One request's line.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// The trace id, or empty.
    pub trace_id: &'a str,
    /// The client address (already formatted), or empty.
    pub client: &'a str,
    /// The method.
    pub method: &'a str,
    /// The Host as the client sent it.
    pub host: &'a str,
    /// The path.
    pub path: &'a str,
    /// The status sent.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: usize,
    /// Milliseconds from the first byte to the last.
    pub duration_ms: f64,
    /// The last backend tried (already formatted), or empty.
    pub upstream: &'a str,
    /// The route, or empty.
    pub route: &'a str,
    /// The cache status, or empty.
    pub cache: &'a str,
    /// The Pingora error type, or empty.
    pub error: &'a str,
}

/// Log `line` (when the logger's filter lets `gatehouse::access` at INFO through).
pub fn log(line: &Line<'_>) {
    if !tracing::enabled!(target: "gatehouse::access", tracing::Level::INFO) {
        return;
    }
    match FORMAT.get() {
        Some(format) => write_line(*format, line),
        None => tracing::info!(
            target: "gatehouse::access",
            request_id = %line.request_id,
            trace_id = line.trace_id,
            client = %line.client,
            method = %line.method,
            host = %line.host,
            path = %line.path,
            status = line.status,
            bytes = line.bytes,
            duration_ms = line.duration_ms,
            upstream = line.upstream,
            route = line.route,
            cache = line.cache,
            error = line.error,
            "request"
        ),
    }
}

thread_local! {
    /// The line being built, and the formatted second of the last timestamp.
    static BUF: RefCell<(Vec<u8>, u64, String)> = RefCell::new((Vec::with_capacity(512), u64::MAX, String::new()));
}

fn write_line(format: Format, line: &Line<'_>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    BUF.with(|b| {
        let Ok(mut b) = b.try_borrow_mut() else {
            return;
        };
        let (buf, second, prefix) = &mut *b;
        if *second != now.as_secs() {
            *second = now.as_secs();
            prefix.clear();
            civil(prefix, now.as_secs());
        }
        buf.clear();
        match format {
            Format::Text => text(buf, prefix, now.subsec_micros(), line),
            Format::Json => json(buf, prefix, now.subsec_micros(), line),
        }
        // One write of the whole line (stdout is line-buffered; a failed write is dropped,
        // as the logger drops it).
        let _ = std::io::stdout().lock().write_all(buf);
    });
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix second (UTC).
pub(crate) fn civil(out: &mut String, secs: u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    );
}

/// As tracing-subscriber's text format: `%` fields as they are, strings in Rust's quoting.
/// Pieces are appended rather than formatted (`core::fmt` with thirteen arguments cost more
/// than the rest of the line).
pub(crate) fn text(buf: &mut Vec<u8>, prefix: &str, micros: u32, l: &Line<'_>) {
    let _ = write!(
        buf,
        "{prefix}.{micros:06}Z  INFO gatehouse::access: request"
    );
    buf.extend_from_slice(b" request_id=");
    buf.extend_from_slice(l.request_id.as_bytes());
    buf.extend_from_slice(b" trace_id=");
    quoted(buf, l.trace_id);
    for (key, value) in [
        (&b" client="[..], l.client),
        (b" method=", l.method),
        (b" host=", l.host),
        (b" path=", l.path),
    ] {
        buf.extend_from_slice(key);
        buf.extend_from_slice(value.as_bytes());
    }
    let _ = write!(
        buf,
        " status={} bytes={} duration_ms={:?}",
        l.status, l.bytes, l.duration_ms
    );
    for (key, value) in [
        (&b" upstream="[..], l.upstream),
        (b" route=", l.route),
        (b" cache=", l.cache),
        (b" error=", l.error),
    ] {
        buf.extend_from_slice(key);
        quoted(buf, value);
    }
    buf.push(b'\n');
}

/// `s` as Rust's `{:?}` quotes it; printable ASCII without quotes or backslashes (nearly
/// every value) is copied as it is.
fn quoted(buf: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        let _ = write!(buf, "{s:?}");
    }
}

/// As tracing-subscriber's JSON format with flattened fields: strings escaped by serde_json.
pub(crate) fn json(buf: &mut Vec<u8>, prefix: &str, micros: u32, l: &Line<'_>) {
    let _ = write!(
        buf,
        "{{\"timestamp\":\"{prefix}.{micros:06}Z\",\"level\":\"INFO\",\"message\":\"request\""
    );
    for (key, value) in [
        ("request_id", l.request_id),
        ("trace_id", l.trace_id),
        ("client", l.client),
        ("method", l.method),
        ("host", l.host),
        ("path", l.path),
    ] {
        field(buf, key, value);
    }
    let _ = write!(
        buf,
        ",\"status\":{},\"bytes\":{},\"duration_ms\":",
        l.status, l.bytes
    );
    // serde_json's float form (shortest round trip; not finite: null), as the logger's.
    let _ = serde_json::to_writer(&mut *buf, &l.duration_ms);
    for (key, value) in [
        ("upstream", l.upstream),
        ("route", l.route),
        ("cache", l.cache),
        ("error", l.error),
    ] {
        field(buf, key, value);
    }
    buf.extend_from_slice(b",\"target\":\"gatehouse::access\"}\n");
}

fn field(buf: &mut Vec<u8>, key: &str, value: &str) {
    let _ = write!(buf, ",\"{key}\":");
    // Escaped as serde_json escapes (the logger's JSON writer); a &str cannot fail.
    let _ = serde_json::to_writer(&mut *buf, value);
}

#[cfg(test)]
#[path = "access_log_tests.rs"]
mod tests;
