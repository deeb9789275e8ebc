//! The canonical form of a request path, computed once before routing so that routing, every
//! policy and the upstream see the same path (what the proxy judged is what the backend gets).
//!
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded (`%61` → `a`,
//!   `%2e` → `.`); every other percent-encoding is kept, with upper-case hex digits;
//! - raw characters that may not appear in a path (`"`, `<`, `>`, `^`, `` ` ``, `{`, `|`, `}`
//!   and non-ASCII bytes) are percent-encoded;
//! - dot segments are removed (RFC 3986 §5.2.4; `..` above the root stays at the root);
//! - repeated slashes are collapsed (`//a///b` → `/a/b`); a trailing slash is kept.
//!
//! Refused: an encoded `/` (`%2F`, unless the caller keeps it — it then stays encoded, for
//! routing and forwarding alike), an encoded or raw `\`, an encoded or raw NUL or other
//! control character, a raw space or `#`, a malformed percent-encoding, and a dot segment
//! carrying matrix parameters (`..;x`, which Tomcat and Spring treat as `..`).

use std::borrow::Cow;

/// Why a path has no canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// `%` not followed by two hex digits.
    BadPercent,
    /// An encoded `/` (`%2F`).
    EncodedSlash,
    /// A raw or encoded `\`.
    Backslash,
    /// A raw or encoded NUL or other control character, or a raw space.
    Control,
    /// A raw `#` (a fragment is never part of a request target).
    Fragment,
    /// `.;x` or `..;x` (also `..%3B`): a dot segment with matrix parameters.
    DotSegmentParams,
    /// Percent-encoded or raw bytes that are not UTF-8 (overlong forms such as `%C0%AE`).
    NotUtf8,
}

impl PathError {
    /// What is wrong, for the refusal's message.
    pub fn message(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the request path must start with `/`",
            PathError::BadPercent => "the request path has a malformed percent-encoding",
            PathError::EncodedSlash => "the request path has an encoded `/` (%2F)",
            PathError::Backslash => "the request path has a `\\`",
            PathError::Control => "the request path has a control character or a space",
            PathError::Fragment => "the request target has a `#` fragment",
            PathError::DotSegmentParams => {
                "the request path has a dot segment with parameters (`..;`)"
            }
            PathError::NotUtf8 => "the request path has bytes that are not UTF-8",
        }
    }
}

/// The canonical form of `raw` (a path without its query; any bytes). Borrowed when `raw` is already
/// canonical, which is the common case. With `keep_encoded_slashes`, `%2F` stays in its
/// segment (encoded) instead of being refused.
pub fn canonical_path(raw: &[u8], keep_encoded_slashes: bool) -> Result<Cow<'_, str>, PathError> {
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if is_canonical(raw) {
        // Only ASCII passes `is_canonical`.
        if let Ok(s) = std::str::from_utf8(raw) {
            return Ok(Cow::Borrowed(s));
        }
    }
    let decoded = decode(raw, keep_encoded_slashes)?;
    Ok(Cow::Owned(remove_dot_segments(&decoded)?))
}

/// Whether `path` needs no work: only plain path characters, no `%`, no empty or dot segments.
fn is_canonical(path: &[u8]) -> bool {
    let mut prev_slash = false;
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        match b {
            b'/' => {
                if prev_slash {
                    return false;
                }
                prev_slash = true;
            }
            b'.' if prev_slash => {
                // `/.` or `/..` followed by `/`, `;` or the end is a dot segment.
                let rest = &path[i..];
                let dots = if rest.starts_with(b"..") { 2 } else { 1 };
                match rest.get(dots) {
                    None | Some(b'/') | Some(b';') => return false,
                    _ => {}
                }
                prev_slash = false;
            }
            _ if plain(b) => prev_slash = false,
            _ => return false,
        }
        i += 1;
    }
    true
}

/// Characters that stand for themselves in a canonical path: unreserved, sub-delims, `:`, `@`.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_encoded(out: &mut String, b: u8) {
    out.push('%');
    out.push(HEX[(b >> 4) as usize] as char);
    out.push(HEX[(b & 15) as usize] as char);
}

/// Decode unreserved characters, normalize the other encodings, encode what may not stand
/// raw, and refuse what no backend should have to guess about. `/` stays the only separator.
fn decode(raw: &[u8], keep_encoded_slashes: bool) -> Result<String, PathError> {
    let mut out = String::with_capacity(raw.len());
    // The bytes above 0x7F of the current run, raw or encoded: they must be UTF-8, or a backend
    // with a lenient decoder may read an overlong `%C0%AE` as `.`.
    let mut run: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        let high = if b == b'%' {
            raw.get(i + 1)
                .copied()
                .and_then(hex)
                .zip(raw.get(i + 2).copied().and_then(hex))
                .map(|(h, l)| (h << 4) | l)
                .filter(|d| *d >= 0x80)
        } else {
            Some(b).filter(|b| *b >= 0x80)
        };
        match high {
            Some(d) => run.push(d),
            None if !run.is_empty() => {
                std::str::from_utf8(&run).map_err(|_| PathError::NotUtf8)?;
                run.clear();
            }
            None => {}
        }
        if b == b'%' {
            let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::BadPercent);
            };
            let d = (h << 4) | l;
            match d {
                _ if unreserved(d) => out.push(d as char),
                b'/' if keep_encoded_slashes => push_encoded(&mut out, d),
                b'/' => return Err(PathError::EncodedSlash),
                b'\\' => return Err(PathError::Backslash),
                0..=0x1f | 0x7f => return Err(PathError::Control),
                _ => push_encoded(&mut out, d),
            }
            i += 3;
            continue;
        }
        match b {
            b'/' => out.push('/'),
            b'\\' => return Err(PathError::Backslash),
            0..=0x20 | 0x7f => return Err(PathError::Control),
            b'#' => return Err(PathError::Fragment),
            _ if plain(b) => out.push(b as char),
            _ => push_encoded(&mut out, b),
        }
        i += 1;
    }
    if !run.is_empty() {
        std::str::from_utf8(&run).map_err(|_| PathError::NotUtf8)?;
    }
    Ok(out)
}

/// Remove dot segments and empty segments from a decoded path that starts with `/`.
fn remove_dot_segments(path: &str) -> Result<String, PathError> {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    let mut parts = path[1..].split('/').peekable();
    while let Some(seg) = parts.next() {
        let last = parts.peek().is_none();
        // Parameters begin at `;` or at an encoded one, which a backend that decodes before it
        // strips parameters sees as `;` (`..%3B` is `..` to it).
        let cut = [seg.find(';'), seg.find("%3B")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(seg.len());
        let name = &seg[..cut];
        if (name == "." || name == "..") && cut != seg.len() {
            return Err(PathError::DotSegmentParams);
        }
        match seg {
            "" | "." => trailing_slash = last,
            ".." => {
                segments.pop();
                trailing_slash = last;
            }
            _ => {
                segments.push(seg);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if segments.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(p: &str) -> Result<String, PathError> {
        canonical_path(p.as_bytes(), false).map(Cow::into_owned)
    }

    #[test]
    fn spellings_of_one_path_become_that_path() {
        for p in [
            "/admin/x",
            "/%61dmin/x",
            "//admin/x",
            "/./admin/x",
            "/x/../admin/x",
            "/%2e%2e/admin/x",
            "/%2E%2e/%61dmin/x",
            "/admin/./x",
            "/x/%2e%2e/admin/x",
            "/.%2e/admin/x",
            "/x/y/../../admin/x",
            "/../../admin/x",
            "///admin//x",
            "/admin/x/.",
        ] {
            let want = if p.ends_with("/.") {
                "/admin/x/"
            } else {
                "/admin/x"
            };
            assert_eq!(canon(p).as_deref(), Ok(want), "{p}");
        }
    }

    #[test]
    fn canonical_paths_are_borrowed() {
        for p in [
            "/",
            "/a",
            "/a/b/",
            "/a;b=c/d",
            "/x.y/..z/.w",
            "/~u/@:!$&'()*+,=",
        ] {
            assert!(
                matches!(canonical_path(p.as_bytes(), false), Ok(Cow::Borrowed(_))),
                "{p}"
            );
        }
    }

    #[test]
    fn trailing_slashes_and_root() {
        assert_eq!(canon("/").as_deref(), Ok("/"));
        assert_eq!(canon("//").as_deref(), Ok("/"));
        assert_eq!(canon("/..").as_deref(), Ok("/"));
        assert_eq!(canon("/a/..").as_deref(), Ok("/"));
        assert_eq!(canon("/a/b/..").as_deref(), Ok("/a/"));
        assert_eq!(canon("/a/").as_deref(), Ok("/a/"));
        assert_eq!(canon("/a//").as_deref(), Ok("/a/"));
    }

    #[test]
    fn encodings_are_normalized() {
        assert_eq!(canon("/a%2fb"), Err(PathError::EncodedSlash));
        assert_eq!(
            canonical_path(b"/a%2fb/%2F", true).as_deref(),
            Ok("/a%2Fb/%2F")
        );
        assert_eq!(canon("/a%20b%c3%a9").as_deref(), Ok("/a%20b%C3%A9"));
        assert_eq!(canon("/a%7e%41").as_deref(), Ok("/a~A"));
        assert_eq!(
            canon("/q\"<>{}|^`").as_deref(),
            Ok("/q%22%3C%3E%7B%7D%7C%5E%60")
        );
        assert_eq!(canon("/é").as_deref(), Ok("/%C3%A9"));
        assert_eq!(canon("/%25%32%65").as_deref(), Ok("/%252e"));
    }

    #[test]
    fn refusals() {
        for (p, e) in [
            ("admin", PathError::NotAbsolute),
            ("/a%zz", PathError::BadPercent),
            ("/a%4", PathError::BadPercent),
            ("/a%", PathError::BadPercent),
            ("/a%5cb", PathError::Backslash),
            ("/a\\..\\admin", PathError::Backslash),
            ("/a%00", PathError::Control),
            ("/a%09", PathError::Control),
            ("/a%7F", PathError::Control),
            ("/a b", PathError::Control),
            ("/a\tb", PathError::Control),
            ("/a#b", PathError::Fragment),
            ("/x/..;/admin", PathError::DotSegmentParams),
            ("/x/.;a=b/admin", PathError::DotSegmentParams),
            ("/x/%2e%2e;/admin", PathError::DotSegmentParams),
            ("/site/..%3B/admin", PathError::DotSegmentParams),
            ("/site/..%3b/admin", PathError::DotSegmentParams),
            ("/site/.%3Bx/admin", PathError::DotSegmentParams),
            ("/x/%C0%AE%C0%AE/admin", PathError::NotUtf8),
            ("/x/%C3", PathError::NotUtf8),
            ("/x/%E2%9C/a", PathError::NotUtf8),
        ] {
            assert_eq!(canon(p), Err(e), "{p}");
        }
    }

    #[test]
    fn raw_bytes_must_be_utf8() {
        assert_eq!(canonical_path(b"/x/\xff", false), Err(PathError::NotUtf8));
        assert_eq!(
            canonical_path("/x/é".as_bytes(), false).as_deref(),
            Ok("/x/%C3%A9")
        );
    }

    #[test]
    fn matrix_parameters_stay() {
        assert_eq!(
            canon("/admin;jsessionid=1/x").as_deref(),
            Ok("/admin;jsessionid=1/x")
        );
        assert_eq!(canon("/a;b/../c").as_deref(), Ok("/c"));
        assert_eq!(canon("/..x/.y").as_deref(), Ok("/..x/.y"));
    }
}
