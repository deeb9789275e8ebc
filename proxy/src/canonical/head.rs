//! Limits and framing of a request head, read from the bytes the client sent (HTTP/1) or from
//! the decoded header list (HTTP/2): what nginx refuses with 400, 414, 431 and 501, refused
//! here before anything is routed or forwarded.

use super::Rejection;
use crate::respond::Refusal;
use gatehouse_config::server::RequestLimits;

/// What the raw head says about the body's framing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framing {
    pub content_length: bool,
    pub transfer_encoding: bool,
}

/// Check an HTTP/1 head as received (request line, header lines, blank line): line and size
/// limits, header count, obs-fold, and which framing headers it carried (Pingora drops
/// `Content-Length` when `Transfer-Encoding` is present, so only the raw bytes tell).
pub(crate) fn check_raw_head(raw: &[u8], limits: &RequestLimits) -> Result<Framing, Rejection> {
    if raw.len() > limits.head {
        return Err(too_large(format!(
            "the request head is larger than {} bytes",
            limits.head
        )));
    }
    let mut framing = Framing::default();
    let mut lines = raw.split(|&b| b == b'\n');
    let request_line = lines.next().unwrap_or_default();
    if trim_cr(request_line).len() > limits.request_line {
        return Err(Rejection::new(
            Refusal::URI_TOO_LONG,
            format!(
                "the request line is longer than {} bytes",
                limits.request_line
            ),
        ));
    }
    let mut count = 0usize;
    for line in lines {
        let line = trim_cr(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(Rejection::new(
                Refusal::BAD_FRAMING,
                "a header line is folded onto the next (obs-fold)",
            ));
        }
        count += 1;
        if count > limits.headers {
            return Err(too_large(format!(
                "the request has more than {} headers",
                limits.headers
            )));
        }
        if line.len() > limits.header_line {
            return Err(too_large(format!(
                "a header line is longer than {} bytes",
                limits.header_line
            )));
        }
        let mut parts = line.splitn(2, |&b| b == b':');
        let name = parts.next().unwrap_or_default();
        let value = parts.next().unwrap_or_default();
        if name.eq_ignore_ascii_case(b"content-length") {
            // One Content-Length with one value: repeated or listed lengths are refused as
            // nginx refuses them, even when they agree.
            if framing.content_length || value.contains(&b',') {
                return Err(Rejection::new(
                    Refusal::BAD_FRAMING,
                    "the request has more than one Content-Length",
                ));
            }
            framing.content_length = true;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            framing.transfer_encoding = true;
        } else if name.eq_ignore_ascii_case(b"host") && value.contains(&b'\t') {
            return Err(Rejection::new(
                Refusal::BAD_HOST,
                "the Host header has a tab in it",
            ));
        }
    }
    Ok(framing)
}

/// Check a decoded header list (HTTP/2) against the same count and size limits.
pub(crate) fn check_header_map(
    headers: &http::HeaderMap,
    limits: &RequestLimits,
) -> Result<(), Rejection> {
    if headers.len() > limits.headers {
        return Err(too_large(format!(
            "the request has more than {} headers",
            limits.headers
        )));
    }
    let mut total = 0usize;
    for (name, value) in headers {
        let line = name.as_str().len() + 2 + value.len();
        if line > limits.header_line {
            return Err(too_large(format!(
                "a header is longer than {} bytes",
                limits.header_line
            )));
        }
        total += line + 2;
    }
    if total > limits.head {
        return Err(too_large(format!(
            "the request headers are larger than {} bytes",
            limits.head
        )));
    }
    Ok(())
}

fn too_large(message: String) -> Rejection {
    Rejection::new(Refusal::HEADER_TOO_LARGE, message)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `Transfer-Encoding` (all its lines): exactly `chunked` passes; a well-formed list of other
/// codings is 501 (nginx does the same); anything malformed or `chunked` twice is 400.
pub(crate) fn check_transfer_encoding<'a>(
    values: impl Iterator<Item = &'a [u8]>,
) -> Result<(), Rejection> {
    let mut codings = 0usize;
    let mut chunked = 0usize;
    for value in values {
        for item in value.split(|&b| b == b',') {
            let item = trim_ows(item);
            let coding = item.split(|&b| b == b';').next().unwrap_or_default();
            let coding = trim_ows(coding);
            if coding.is_empty() || !coding.iter().all(|&b| tchar(b)) {
                return Err(Rejection::new(
                    Refusal::BAD_FRAMING,
                    "the Transfer-Encoding header is malformed",
                ));
            }
            codings += 1;
            if coding.eq_ignore_ascii_case(b"chunked") {
                chunked += 1;
            }
        }
    }
    match (codings, chunked) {
        (1, 1) => Ok(()),
        (_, c) if c > 1 => Err(Rejection::new(
            Refusal::BAD_FRAMING,
            "the Transfer-Encoding header names chunked more than once",
        )),
        _ => Err(Rejection::new(
            Refusal::UNSUPPORTED_CODING,
            "only `Transfer-Encoding: chunked` is supported",
        )),
    }
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A token character (RFC 9110 §5.6.2).
pub(crate) fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RequestLimits {
        RequestLimits {
            request_line: 32,
            header_line: 24,
            head: 256,
            headers: 3,
        }
    }

    fn code(r: Result<Framing, Rejection>) -> Option<&'static str> {
        r.err().map(|e| e.refusal.code)
    }

    #[test]
    fn limits_and_folds() {
        let l = limits();
        let ok = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(
            check_raw_head(ok, &l).ok(),
            Some(Framing {
                content_length: true,
                transfer_encoding: false
            })
        );
        let long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(40));
        assert_eq!(
            code(check_raw_head(long_line.as_bytes(), &l)),
            Some("uri_too_long")
        );
        let long_header = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(30));
        assert_eq!(
            code(check_raw_head(long_header.as_bytes(), &l)),
            Some("header_too_large")
        );
        let many = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        assert_eq!(code(check_raw_head(many, &l)), Some("header_too_large"));
        let two_lengths =
            b"POST / HTTP/1.1\r\nB: 1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n";
        assert_eq!(code(check_raw_head(two_lengths, &l)), Some("bad_framing"));
        let listed = b"POST / HTTP/1.1\r\nContent-Length: 2,2\r\n\r\n";
        assert_eq!(code(check_raw_head(listed, &l)), Some("bad_framing"));
        let tab = b"GET / HTTP/1.1\r\nHost:\ta.test\r\n\r\n";
        assert_eq!(code(check_raw_head(tab, &l)), Some("bad_host"));
        let fold = b"GET / HTTP/1.1\r\nA: 1\r\n 2\r\n\r\n";
        assert_eq!(code(check_raw_head(fold, &l)), Some("bad_framing"));
        let big = format!("GET / HTTP/1.1\r\n{}\r\n", "A: 1\r\n".repeat(60));
        assert_eq!(
            code(check_raw_head(big.as_bytes(), &l)),
            Some("header_too_large")
        );
        let both = b"GET / HTTP/1.1\nTransfer-Encoding: chunked\ncontent-length: 1\n\n";
        let wide = RequestLimits {
            header_line: 64,
            ..limits()
        };
        assert_eq!(
            check_raw_head(both, &wide).ok(),
            Some(Framing {
                content_length: true,
                transfer_encoding: true
            })
        );
    }

    #[test]
    fn transfer_codings() {
        let te = |v: &[&str]| {
            check_transfer_encoding(v.iter().map(|s| s.as_bytes()))
                .err()
                .map(|e| e.refusal.code)
        };
        assert_eq!(te(&["chunked"]), None);
        assert_eq!(te(&["Chunked"]), None);
        assert_eq!(te(&[",chunked"]), Some("bad_framing"));
        assert_eq!(te(&["chunked,"]), Some("bad_framing"));
        assert_eq!(te(&["chunked, chunked"]), Some("bad_framing"));
        assert_eq!(te(&["chunked", "chunked"]), Some("bad_framing"));
        assert_eq!(te(&["\"chunked\""]), Some("bad_framing"));
        assert_eq!(te(&[""]), Some("bad_framing"));
        assert_eq!(te(&["gzip, chunked"]), Some("unsupported_transfer_coding"));
        assert_eq!(te(&["identity"]), Some("unsupported_transfer_coding"));
        assert_eq!(te(&["xchunked"]), Some("unsupported_transfer_coding"));
    }
}
