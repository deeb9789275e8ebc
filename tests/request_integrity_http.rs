//! Request integrity (issue 16), the head: a valid Host always, framing refused rather than
//! repaired, and limits on the request line, header lines, the head and the header count. The
//! same raw bytes go to gatehouse and to Debian's nginx (see `request_integrity.rs`); where the
//! spec leaves a case open (`Want::Either`), gatehouse must still refuse what nginx refuses.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::nginx::*;
use std::net::SocketAddr;

fn routes(backend: SocketAddr, hash: &str) -> String {
    format!(
        r#"upstreams:
  app: {{ backends: [{{ address: "{backend}" }}] }}
routes:
  - {{ name: admin, upstream: app, path_prefix: /admin, policy: {{ basic_auth: {{ realm: admin, users: {{ alice: "{hash}" }} }} }} }}
  - {{ name: site, upstream: app }}
"#
    )
}

/// `GET / HTTP/1.1`, then `headers` (each line with its CRLF), then `Connection: close`.
fn with(headers: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\n{headers}Connection: close\r\n\r\n").into_bytes()
}

fn host(value: &str) -> Vec<u8> {
    with(&format!("Host: {value}\r\n"))
}

fn raw(bytes: &[u8]) -> Vec<u8> {
    bytes.to_vec()
}

const TE_REFUSED: Want =
    Want::Refused(&[(400, "bad_framing"), (501, "unsupported_transfer_coding")]);
const TE_UNKNOWN: Want = Want::Refused(&[(501, "unsupported_transfer_coding")]);
const TOO_LARGE: Want = Want::Refused(&[(431, "header_too_large")]);
const URI_TOO_LONG: Want = Want::Refused(&[(414, "uri_too_long")]);
/// Refused with 400, any code (obs-fold: gatehouse's or Pingora's own 400).
const BAD_REQUEST: Want = Want::Refused(&[(400, "")]);

fn host_cases() -> Vec<Case> {
    let c = Case::new;
    let ok = || forward("/");
    vec![
        c("1.1, no Host", with(""), BAD_HOST),
        c("1.1 absolute-form, no Host", raw(b"GET http://a.test/x HTTP/1.1\r\nConnection: close\r\n\r\n"), BAD_HOST),
        c("1.0, no Host", raw(b"GET / HTTP/1.0\r\n\r\n"), ok()),
        c(
            "1.0, no Host, client's X-Forwarded-Host/-Port",
            raw(b"GET / HTTP/1.0\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 4444\r\n\r\n"),
            ok(),
        )
        .check(Check::Lacks("evil.example"))
        .check(Check::Lacks("4444")),
        c("two Host headers", with("Host: a.test\r\nHost: b.test\r\n"), BAD_HOST),
        c("two equal Host headers", with("Host: a.test\r\nHost: a.test\r\n"), BAD_HOST),
        c("Host: a.test, b.test", host("a.test, b.test"), BAD_HOST),
        c("Host: a.test:1:1", host("a.test:1:1"), BAD_HOST),
        c("Host: a.test:0", host("a.test:0"), BAD_HOST),
        c("Host: a.test:65536", host("a.test:65536"), BAD_HOST),
        c("Host: a.test:99999999999", host("a.test:99999999999"), BAD_HOST),
        c("Host: a.test:8o", host("a.test:8o"), BAD_HOST),
        c("Host: a.test:-1", host("a.test:-1"), BAD_HOST),
        c("Host: (empty)", host(""), BAD_HOST),
        c("Host: a.test/x", host("a.test/x"), BAD_HOST),
        c("Host: a.test\\x", host("a.test\\x"), BAD_HOST),
        c("Host: user@a.test", host("user@a.test"), BAD_HOST),
        c("Host: a .test", host("a .test"), BAD_HOST),
        c("Host: a.test?x", host("a.test?x"), BAD_HOST),
        c("Host: a.test#x", host("a.test#x"), BAD_HOST),
        c("Host: [::1", host("[::1"), BAD_HOST),
        c("Host: [zz]", host("[zz]"), BAD_HOST),
        c("Host: [::1]x", host("[::1]x"), BAD_HOST),
        c("Host: ::1", host("::1"), BAD_HOST),
        c("Host: caf\\xc3\\xa9.test (UTF-8)", host("café.test"), BAD_HOST),
        c("Host: a\\x01.test", host("a\x01.test"), BAD_HOST),
        c("Host: a\\x00.test", host("a\0.test"), BAD_HOST),
        // The spec leaves these open; nginx decides whether gatehouse must refuse.
        c("Host: a..test", host("a..test"), Want::Either),
        c("Host:\\ta.test (tab as OWS)", with("Host:\ta.test\r\n"), Want::Either),
        c("Host: a.test\\t (trailing tab)", with("Host: a.test\t\r\n"), Want::Either),
        c("Host: .a.test", host(".a.test"), Want::Either),
        c("Host: a_b.test", host("a_b.test"), Want::Either),
        c("Host: a%2e.test", host("a%2e.test"), Want::Either),
        c("Host: a.test:", host("a.test:"), Want::Either),
        // Valid: normalized for X-Forwarded-Host.
        c("Host: A.Test.", host("A.Test."), ok()).check(Check::ForwardedHost("a.test")),
        c("Host: a.test:8080", host("a.test:8080"), ok()).check(Check::ForwardedHost("a.test")),
        c("Host: [::1]:8080", host("[::1]:8080"), ok()).check(Check::ForwardedHost("[::1]")),
        c("Host: 127.0.0.1:80", host("127.0.0.1:80"), ok()).check(Check::ForwardedHost("127.0.0.1")),
        c(
            "Host + client's X-Forwarded-Host",
            with("Host: a.test\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 4444\r\n"),
            ok(),
        )
        .check(Check::ForwardedHost("a.test"))
        .check(Check::Lacks("evil.example"))
        .check(Check::Lacks("4444")),
        // Absolute form: the authority must agree with Host.
        c("http://a.test/x, Host: a.test", raw(b"GET http://a.test/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"), forward("/x"))
            .check(Check::ForwardedHost("a.test")),
        // Equal once normalized; refusing it (Pingora compares the raw strings) harms no one.
        c("http://A.TEST/x, Host: a.test", raw(b"GET http://A.TEST/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"), Want::Either),
        c("http://a.test, Host: a.test", raw(b"GET http://a.test HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"), forward("/")),
        c("http://a.test/x, Host: b.test", raw(b"GET http://a.test/x HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n"), BAD_HOST),
        c("http://a.test:8080/x, Host: a.test", raw(b"GET http://a.test:8080/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"), BAD_HOST),
        c("http://u@a.test/x, Host: a.test", raw(b"GET http://u@a.test/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"), REFUSED),
        c("http://a.test:0/x, Host: a.test:0", raw(b"GET http://a.test:0/x HTTP/1.1\r\nHost: a.test:0\r\nConnection: close\r\n\r\n"), BAD_HOST),
    ]
}

/// CL + TE with a smuggled request after the chunked body's end.
/// `CL` in `first`/`second` stands for a Content-Length covering the whole tail.
fn smuggle(first: &str, second: &str) -> Vec<u8> {
    let tail = "0\r\n\r\nGET /admin/smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n";
    let cl = format!("Content-Length: {}", tail.len());
    let (first, second) = (first.replace("CL", &cl), second.replace("CL", &cl));
    format!("POST / HTTP/1.1\r\nHost: a.test\r\n{first}\r\n{second}\r\n\r\n{tail}").into_bytes()
}

/// A POST with one `Transfer-Encoding` header value and an empty chunked body; keep-alive.
fn te(value: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: {value}\r\n\r\n0\r\n\r\n")
        .into_bytes()
}

fn post(headers: &str, body: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: a.test\r\n{headers}Connection: close\r\n\r\n{body}")
        .into_bytes()
}

fn framing_cases() -> Vec<Case> {
    let c = Case::new;
    let cl = "CL";
    let te_chunked = "Transfer-Encoding: chunked";
    vec![
        c(
            "CL then TE (smuggled GET after)",
            smuggle(cl, te_chunked),
            BAD_FRAMING,
        )
        .must_close(),
        c(
            "TE then CL (smuggled GET after)",
            smuggle(te_chunked, cl),
            BAD_FRAMING,
        )
        .must_close(),
        c(
            "CL: 0 and TE",
            smuggle("Content-Length: 0", te_chunked),
            BAD_FRAMING,
        )
        .must_close(),
        c("TE: ,chunked", te(",chunked"), TE_REFUSED).must_close(),
        c("TE: chunked, chunked", te("chunked, chunked"), TE_REFUSED).must_close(),
        c("TE: gzip, chunked", te("gzip, chunked"), TE_UNKNOWN).must_close(),
        c("TE: identity", te("identity"), TE_REFUSED).must_close(),
        c("TE: xchunked", te("xchunked"), TE_REFUSED).must_close(),
        c("TE: chunked;x=1", te("chunked;x=1"), TE_REFUSED).must_close(),
        c("TE: \\x0bchunked", te("\x0bchunked"), TE_REFUSED),
        c(
            "TE twice (chunked / chunked)",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            TE_REFUSED,
        ),
        c("TE: Chunked (case)", te("Chunked"), Want::Either),
        c(
            "TE on HTTP/1.0",
            raw(b"POST / HTTP/1.0\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            Want::Either,
        ),
        c(
            "`Transfer-Encoding : chunked` (space before colon)",
            post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"),
            Want::Either,
        ),
        c(
            "two different Content-Length",
            post("Content-Length: 1\r\nContent-Length: 2\r\n", "ab"),
            REFUSED,
        ),
        c(
            "two equal Content-Length",
            post("Content-Length: 2\r\nContent-Length: 2\r\n", "ab"),
            Want::Either,
        ),
        c(
            "Content-Length: 2, 2",
            post("Content-Length: 2, 2\r\n", "ab"),
            Want::Either,
        ),
        c(
            "Content-Length: +2",
            post("Content-Length: +2\r\n", "ab"),
            REFUSED,
        ),
        c(
            "Content-Length: -1",
            post("Content-Length: -1\r\n", "ab"),
            REFUSED,
        ),
        c(
            "Content-Length: 0x2",
            post("Content-Length: 0x2\r\n", "ab"),
            REFUSED,
        ),
        c(
            "obs-fold (space)",
            with("Host: a.test\r\nX-A: 1\r\n  folded\r\n"),
            BAD_REQUEST,
        ),
        c(
            "obs-fold (tab)",
            with("Host: a.test\r\nX-A: 1\r\n\tfolded\r\n"),
            BAD_REQUEST,
        ),
        c(
            "whitespace before the first header",
            with(" Host: a.test\r\n"),
            BAD_REQUEST,
        ),
        c(
            "bare LF line ends",
            raw(b"GET / HTTP/1.1\nHost: a.test\nConnection: close\n\n"),
            Want::Either,
        ),
        c(
            "bare CR in the head",
            raw(b"GET / HTTP/1.1\rHost: a.test\r\nConnection: close\r\n\r\n"),
            Want::Either,
        ),
        c(
            "space in a header name",
            with("Host: a.test\r\nX A: 1\r\n"),
            Want::Either,
        ),
        c(
            "header line without a colon",
            with("Host: a.test\r\nXA\r\n"),
            Want::Either,
        ),
        c(
            "empty header name",
            with("Host: a.test\r\n: x\r\n"),
            Want::Either,
        ),
        c(
            "NUL in a header value",
            with("Host: a.test\r\nX-A: a\0b\r\n"),
            Want::Either,
        ),
        c(
            "control byte in a header value",
            with("Host: a.test\r\nX-A: a\x01b\r\n"),
            Want::Either,
        ),
        c(
            "raw UTF-8 in the target",
            raw("GET /café HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n".as_bytes()),
            Want::Either,
        ),
        c(
            "HTTP/1.2",
            raw(b"GET / HTTP/1.2\r\nHost: a.test\r\nConnection: close\r\n\r\n"),
            Want::Either,
        ),
        c(
            "HTTP/2.0 as text",
            raw(b"GET / HTTP/2.0\r\nHost: a.test\r\nConnection: close\r\n\r\n"),
            Want::Either,
        ),
        c(
            "lower-case http/1.1",
            raw(b"GET / http/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"),
            Want::Either,
        ),
        // The target is ` /` (a raw space; not origin-form): Pingora forwards it as `%20/`.
        c(
            "two spaces after the method",
            raw(b"GET  / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"),
            REFUSED,
        ),
        c("HTTP/0.9", raw(b"GET /\r\n\r\n"), Want::Either),
        c(
            "method G@T",
            raw(b"G@T / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"),
            Want::Either,
        ),
        c(
            "chunked with an extension",
            post("Transfer-Encoding: chunked\r\n", "1;x=y\r\na\r\n0\r\n\r\n"),
            forward("/"),
        ),
        c(
            "chunked, bad chunk size",
            post("Transfer-Encoding: chunked\r\n", "zz\r\na\r\n0\r\n\r\n"),
            Want::BodyRefused,
        ),
        c(
            "chunked with bare LF",
            post("Transfer-Encoding: chunked\r\n", "1\na\n0\n\n"),
            Want::Either,
        ),
        c(
            "chunked",
            post("Transfer-Encoding: chunked\r\n", "1\r\na\r\n0\r\n\r\n"),
            forward("/"),
        ),
        c(
            "Content-Length",
            post("Content-Length: 2\r\n", "ab"),
            forward("/"),
        ),
    ]
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
async fn host_is_valid_always() {
    let pair = Pair::start(routes, false).await;
    let rows = pair.run(&Guard::ADMIN, &host_cases()).await;
    assert_rows("Host", &rows);
}

#[tokio::test(flavor = "multi_thread")]
async fn ambiguous_framing_is_refused_not_repaired() {
    let pair = Pair::start(routes, false).await;
    let rows = pair.run(&Guard::ADMIN, &framing_cases()).await;
    // Nothing after a refused head reaches the backend either (the smuggled GET).
    let smuggled: Vec<_> = rows
        .iter()
        .flat_map(|r| &r.backend)
        .filter(|r| r.target().contains("smuggled"))
        .map(|r| r.request_line())
        .collect();
    assert_rows("framing", &rows);
    assert!(
        smuggled.is_empty(),
        "smuggled requests reached the backend: {smuggled:?}"
    );
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
