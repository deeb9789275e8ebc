//! Request integrity (issue 16), the limits: request line (414), one header line, the whole
//! head and the header count (431), with the defaults (compared with Debian's nginx, see
//! `request_integrity.rs`) and with `server.limits` set smaller.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::compare::*;
use std::net::SocketAddr;

const TOO_LARGE: Want = Want::Refused(&[(431, "header_too_large")]);
const URI_TOO_LONG: Want = Want::Refused(&[(414, "uri_too_long")]);

fn routes(backend: SocketAddr, hash: &str) -> String {
    admin_and_site(backend, hash, "", "")
}

/// `GET / HTTP/1.1`, then `headers`, then `Connection: close`.
fn with(headers: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\n{headers}Connection: close\r\n\r\n").into_bytes()
}

/// `n` headers `X-H<i>: <value>` after Host.
fn headers(n: usize, value: &str) -> Vec<u8> {
    let lines: String = (0..n).map(|i| format!("X-H{i}: {value}\r\n")).collect();
    with(&format!("Host: a.test\r\n{lines}"))
}

fn long_target(path_len: usize) -> String {
    format!("/{}", "a".repeat(path_len - 1))
}

fn limit_cases() -> Vec<Case> {
    let c = Case::new;
    let target_8000 = long_target(7_980);
    let line = |t: &str| {
        format!("GET {t} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n").into_bytes()
    };
    vec![
        c(
            "one 70,000-byte header line",
            headers(1, &"a".repeat(70_000)),
            TOO_LARGE,
        ),
        c(
            "one 17,000-byte header line",
            headers(1, &"a".repeat(17_000)),
            TOO_LARGE,
        ),
        c(
            "one 15,000-byte header line",
            headers(1, &"a".repeat(15_000)),
            forward("/"),
        ),
        c(
            "101 headers (103 with Host, Connection)",
            headers(101, "v"),
            TOO_LARGE,
        ),
        c(
            "100 headers with Host, Connection",
            headers(98, "v"),
            forward("/"),
        ),
        c("1,000 headers", headers(1_000, "v"), TOO_LARGE),
        c(
            "5 x 15,000 bytes: a 75 KB head",
            headers(5, &"a".repeat(15_000)),
            TOO_LARGE,
        ),
        c(
            "3 x 15,000 bytes: a 45 KB head",
            headers(3, &"a".repeat(15_000)),
            forward("/"),
        ),
        c(
            "9 KiB request line (path)",
            line(&long_target(9 * 1024)),
            URI_TOO_LONG,
        ),
        c(
            "9 KiB request line (query)",
            line(&format!("/?{}", "a".repeat(9 * 1024))),
            URI_TOO_LONG,
        ),
        c(
            "17,000-byte request line",
            line(&long_target(17_000)),
            URI_TOO_LONG,
        ),
        c(
            "8,000-byte request line",
            line(&target_8000),
            forward(&target_8000),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn default_limits_on_lines_head_and_header_count() {
    let pair = Pair::start(routes, false).await;
    let rows = pair.run(&Guard::ADMIN, &limit_cases()).await;
    assert_rows(
        "limits (defaults: line 8 KiB, header line 16 KiB, head 64 KiB, 100 headers)",
        &rows,
    );
}

/// `server.limits` set smaller than the defaults (no nginx equivalent: its request-line and
/// header-line limits are one buffer size).
#[tokio::test(flavor = "multi_thread")]
async fn configured_limits() {
    let backend = common::raw::Recorder::start().await;
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    // Continues gatehouse's `server:` section (the lines Gatehouse::start writes end with it).
    let yaml = format!(
        "  limits: {{ request_line: 1KiB, header_line: 2KiB, head: 4KiB, headers: 10 }}\n{}",
        routes(backend.addr, &hash)
    );
    let g = common::Gatehouse::start(&yaml).await;
    let c = Case::new;
    let line = |t: &str| {
        format!("GET {t} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n").into_bytes()
    };
    let target_900 = long_target(900);
    let cases = vec![
        c(
            "1,500-byte request line",
            line(&long_target(1_500)),
            URI_TOO_LONG,
        ),
        c(
            "~920-byte request line",
            line(&target_900),
            forward(&target_900),
        ),
        c(
            "one 3,000-byte header line",
            headers(1, &"a".repeat(3_000)),
            TOO_LARGE,
        ),
        c(
            "one 1,500-byte header line",
            headers(1, &"a".repeat(1_500)),
            forward("/"),
        ),
        c("11 headers", headers(9, "v"), TOO_LARGE),
        c("10 headers", headers(8, "v"), forward("/")),
        c(
            "3 x 1,500 bytes: a 4.5 KB head",
            headers(3, &"a".repeat(1_500)),
            TOO_LARGE,
        ),
        c(
            "2 x 1,500 bytes: a 3 KB head",
            headers(2, &"a".repeat(1_500)),
            forward("/"),
        ),
    ];
    let addr = SocketAddr::from(([127, 0, 0, 1], g.port));
    let rows = run_alone(addr, &backend, &Guard::ADMIN, &cases).await;
    assert_rows(
        "configured limits (line 1 KiB, header line 2 KiB, head 4 KiB, 10 headers)",
        &rows,
    );
}
