//! Request integrity (issue 16), the head: a valid Host always, and framing refused rather than
//! repaired (limits: `request_integrity_limits.rs`). The
//! same raw bytes go to gatehouse and to Debian's nginx (see `request_integrity.rs`); where the
//! spec leaves a case open (`Want::Either`), gatehouse must still refuse what nginx refuses.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::compare::*;
use std::net::SocketAddr;

fn routes(backend: SocketAddr, hash: &str) -> String {
    admin_and_site(backend, hash, "", "")
}

/// `line`, then `headers` (each line with its CRLF), then `Connection: close`.
fn request(line: &str, headers: &str) -> Vec<u8> {
    format!("{line}\r\n{headers}Connection: close\r\n\r\n").into_bytes()
}

/// `GET / HTTP/1.1`, then `headers`, then `Connection: close`.
fn with(headers: &str) -> Vec<u8> {
    request("GET / HTTP/1.1", headers)
}

/// An absolute-form `GET target` with `Host: host`.
fn absolute(target: &str, host: &str, want: Want) -> Case {
    let bytes = request(
        &format!("GET {target} HTTP/1.1"),
        &format!("Host: {host}\r\n"),
    );
    Case::new(format!("{target}, Host: {host}"), bytes, want)
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
/// Refused with 400, any code (obs-fold: gatehouse's or Pingora's own 400).
const BAD_REQUEST: Want = Want::Refused(&[(400, "")]);

fn host_cases() -> Vec<Case> {
    let c = Case::new;
    let ok = || forward("/");
    vec![
        c("1.1, no Host", with(""), BAD_HOST),
        c(
            "1.1 absolute-form, no Host",
            request("GET http://a.test/x HTTP/1.1", ""),
            BAD_HOST,
        ),
        c("1.0, no Host", raw(b"GET / HTTP/1.0\r\n\r\n"), ok()),
        c(
            "1.0, no Host, client's X-Forwarded-Host/-Port",
            request(
                "GET / HTTP/1.0",
                "X-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 4444\r\n",
            ),
            ok(),
        )
        .check(Check::Lacks("evil.example"))
        .check(Check::Lacks("4444")),
        c(
            "two Host headers",
            with("Host: a.test\r\nHost: b.test\r\n"),
            BAD_HOST,
        ),
        c(
            "two equal Host headers",
            with("Host: a.test\r\nHost: a.test\r\n"),
            BAD_HOST,
        ),
        c("Host: a.test, b.test", host("a.test, b.test"), BAD_HOST),
        c("Host: a.test:1:1", host("a.test:1:1"), BAD_HOST),
        c("Host: a.test:0", host("a.test:0"), BAD_HOST),
        c("Host: a.test:65536", host("a.test:65536"), BAD_HOST),
        c(
            "Host: a.test:99999999999",
            host("a.test:99999999999"),
            BAD_HOST,
        ),
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
        c(
            "Host: caf\\xc3\\xa9.test (UTF-8)",
            host("café.test"),
            BAD_HOST,
        ),
        c("Host: a\\x01.test", host("a\x01.test"), BAD_HOST),
        c("Host: a\\x00.test", host("a\0.test"), BAD_HOST),
        // The spec leaves these open; nginx decides whether gatehouse must refuse.
        c("Host: a..test", host("a..test"), Want::Either),
        c(
            "Host:\\ta.test (tab as OWS)",
            with("Host:\ta.test\r\n"),
            Want::Either,
        ),
        c(
            "Host: a.test\\t (trailing tab)",
            with("Host: a.test\t\r\n"),
            Want::Either,
        ),
        c("Host: .a.test", host(".a.test"), Want::Either),
        c("Host: a_b.test", host("a_b.test"), Want::Either),
        c("Host: a%2e.test", host("a%2e.test"), Want::Either),
        c("Host: a.test:", host("a.test:"), Want::Either),
        // Valid: normalized for X-Forwarded-Host.
        c("Host: A.Test.", host("A.Test."), ok()).check(Check::ForwardedHost("a.test")),
        c("Host: a.test:8080", host("a.test:8080"), ok()).check(Check::ForwardedHost("a.test")),
        c("Host: [::1]:8080", host("[::1]:8080"), ok()).check(Check::ForwardedHost("[::1]")),
        c("Host: 127.0.0.1:80", host("127.0.0.1:80"), ok())
            .check(Check::ForwardedHost("127.0.0.1")),
        c(
            "Host + client's X-Forwarded-Host",
            with("Host: a.test\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 4444\r\n"),
            ok(),
        )
        .check(Check::ForwardedHost("a.test"))
        .check(Check::Lacks("evil.example"))
        .check(Check::Lacks("4444")),
        // Absolute form: the authority must agree with Host.
        absolute("http://a.test/x", "a.test", forward("/x")).check(Check::ForwardedHost("a.test")),
        // Equal once normalized; refusing it (Pingora compares the raw strings) harms no one.
        absolute("http://A.TEST/x", "a.test", Want::Either),
        absolute("http://a.test", "a.test", forward("/")),
        absolute("http://a.test/x", "b.test", BAD_HOST),
        absolute("http://a.test:8080/x", "a.test", BAD_HOST),
        absolute("http://u@a.test/x", "a.test", REFUSED),
        absolute("http://a.test:0/x", "a.test:0", BAD_HOST),
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
        // Last: the backend may get this head just after gatehouse has answered.
        c(
            "chunked, bad chunk size",
            post("Transfer-Encoding: chunked\r\n", "zz\r\na\r\n0\r\n\r\n"),
            Want::BodyRefused,
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
