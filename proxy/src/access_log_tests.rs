//! The access line written directly is the logger's line, byte for byte (apart from the
//! timestamp, which is only checked for its form and closeness).
#![allow(clippy::unwrap_used)]

use super::*;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// The line as the binary's logger writes it, for `format`.
fn through_the_logger(format: Format, line: &Line<'_>) -> String {
    use tracing_subscriber::layer::SubscriberExt;
    let out = Captured::default();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(out.clone())
        .with_ansi(false);
    let subscriber: Box<dyn tracing::Subscriber + Send + Sync> = match format {
        Format::Text => Box::new(tracing_subscriber::registry().with(layer)),
        Format::Json => Box::new(
            tracing_subscriber::registry()
                .with(layer.json().flatten_event(true).with_current_span(false)),
        ),
    };
    // FORMAT is never installed in unit tests: `log` goes through tracing.
    tracing::subscriber::with_default(subscriber, || log(line));
    let bytes = out.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

fn direct(format: Format, line: &Line<'_>) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let mut prefix = String::new();
    civil(&mut prefix, now.as_secs());
    let mut buf = Vec::new();
    match format {
        Format::Text => text(&mut buf, &prefix, now.subsec_micros(), line),
        Format::Json => json(&mut buf, &prefix, now.subsec_micros(), line),
    }
    String::from_utf8(buf).unwrap()
}

/// The line with its timestamp cut out; the timestamp as Unix seconds.
fn split_time(format: Format, s: &str) -> (String, i64) {
    let (start, len) = match format {
        Format::Text => (0, 27),
        Format::Json => (14, 27),
    };
    let ts = &s[start..start + len];
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{ts:?} in {s:?}: {e}"));
    (
        format!("{}{}", &s[..start], &s[start + len..]),
        t.unix_timestamp(),
    )
}

fn lines() -> Vec<Line<'static>> {
    let base = Line {
        request_id: "6b4e556138a34c58ba8efb6173e2d9c7",
        trace_id: "",
        client: "127.0.0.1",
        method: "GET",
        host: "app.test",
        path: "/hello",
        status: 200,
        bytes: 343,
        duration_ms: 2.504305,
        upstream: "127.0.0.1:34867",
        route: "app",
        cache: "",
        error: "",
    };
    vec![
        base,
        Line {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            client: "2001:db8::1",
            method: "PURGE",
            host: "ex\"ample.com:8443",
            path: "/a%20b/\u{e9}t\u{e9}",
            status: 502,
            bytes: 0,
            duration_ms: 1.2480609999999999,
            upstream: "",
            route: "",
            cache: "miss",
            error: "ConnectRefused",
            ..base
        },
        Line {
            host: "tab\there\\back",
            route: "quote\"d",
            duration_ms: 1.0,
            ..base
        },
        Line {
            duration_ms: 0.1 + 0.2,
            status: 101,
            bytes: usize::MAX,
            ..base
        },
    ]
}

#[test]
fn the_direct_line_is_the_loggers_line() {
    for format in [Format::Text, Format::Json] {
        for line in lines() {
            let (want, t_want) = split_time(format, &through_the_logger(format, &line));
            let (got, t_got) = split_time(format, &direct(format, &line));
            assert_eq!(got, want, "{format:?}");
            assert!((t_got - t_want).abs() <= 1, "{t_got} vs {t_want}");
        }
    }
}

#[test]
fn civil_time_across_leap_years_and_centuries() {
    for secs in [
        0u64,
        951_782_400,   // 2000-02-29
        4_107_542_399, // 2100-02-28T23:59:59
        1_798_761_599, // 2026-12-31T23:59:59
        1_709_251_200, // 2024-03-01
    ] {
        let mut got = String::new();
        civil(&mut got, secs);
        let want = time::OffsetDateTime::from_unix_timestamp(secs as i64).unwrap();
        let want = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            want.year(),
            u8::from(want.month()),
            want.day(),
            want.hour(),
            want.minute(),
            want.second()
        );
        assert_eq!(got, want, "{secs}");
    }
}
