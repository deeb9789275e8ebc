//! Property tests of the canonicalizer: idempotent, free of the spellings it removes, and
//! routed the same before and after the normalization a backend may still do.

use super::path::canonical_path;
use crate::router::{prefix_matches, route_path};
use proptest::prelude::*;

/// Pieces that attackers combine into path spellings.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "/", "//", ".", "..", "%2e", "%2E", "%2e%2e", "%61", "%41", "admin", "Admin", "a", "x",
        ";", ";x=1", "%3B", "%3b", "%2f", "%2F", "%5c", "\\", "%25", "%2525", "%20", "~", "%7e",
        "%7E", "?", "%3F", "é", "%00", "%", "%g1", "-", "_", "api", "v1", "/..", "/..%3B", "/..;",
        "/.%3b", "/admin", "/x", "/%61dmin", "%C0%AE", "/%2e%2e",
    ])
}

fn spelling() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..12).prop_map(|v| format!("/{}", v.concat()))
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..40).prop_map(|mut v| {
        v.insert(0, b'/');
        v
    })
}

/// What a normalizing backend does once more: decode every percent-encoding but `%2F` (and
/// `%3B` unless `decode_semicolons`: Tomcat strips parameters before decoding, others may
/// not), merge slashes, remove dot segments, and — like Tomcat and Spring — drop each
/// segment's `;parameters` when `strip_params`. Written independently of the code under test.
fn backend_normalize(path: &str, strip_params: bool, decode_semicolons: bool) -> String {
    let b = path.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
            match u8::from_str_radix(hex, 16) {
                Ok(0x2f) | Err(_) => decoded.push(b[i]),
                Ok(0x3b) if !decode_semicolons => decoded.push(b[i]),
                Ok(d) => {
                    decoded.push(d);
                    i += 3;
                    continue;
                }
            }
        } else {
            decoded.push(b[i]);
        }
        i += 1;
    }
    let s = String::from_utf8_lossy(&decoded).into_owned();
    let mut out: Vec<&str> = Vec::new();
    let mut trailing = false;
    for seg in s.split('/').skip(1) {
        let seg = if strip_params {
            seg.split(';').next().unwrap_or(seg)
        } else {
            seg
        };
        trailing = matches!(seg, "" | "." | "..");
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut path = format!("/{}", out.join("/"));
    if trailing && !out.is_empty() {
        path.push('/');
    }
    path
}

const PREFIXES: &[&str] = &["/admin", "/admin/", "/api/v1", "/x"];

fn routes_to(path: &str) -> Vec<bool> {
    let path = route_path(path);
    PREFIXES
        .iter()
        .map(|p| prefix_matches(p, &path, false))
        .collect()
}

fn check(input: &[u8]) -> Result<(), TestCaseError> {
    let Ok(c) = canonical_path(input, false) else {
        return Ok(());
    };
    let c = c.into_owned();
    let again = canonical_path(c.as_bytes(), false);
    prop_assert_eq!(again.as_deref(), Ok(c.as_str()), "not idempotent");
    prop_assert!(c.starts_with('/'));
    for bad in ["//", "/./", "/../"] {
        prop_assert!(!c.contains(bad), "{c} contains {bad}");
    }
    prop_assert!(!c.ends_with("/.") && !c.ends_with("/.."), "{}", c);
    let bytes = c.as_bytes();
    for (i, _) in c.match_indices('%') {
        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
        prop_assert_eq!(hex.to_ascii_uppercase(), hex, "lower-case hex in {}", c);
        let d = u8::from_str_radix(hex, 16).unwrap_or(0);
        prop_assert!(
            !(d.is_ascii_alphanumeric() || b"-._~".contains(&d)),
            "encoded unreserved in {}",
            c
        );
    }
    prop_assert!(c.is_ascii());
    // Whatever a backend still does to the path, it stays on the route it was judged for.
    let before_routes = routes_to(&c);
    for (strip_params, decode_semicolons) in [(false, false), (true, false), (true, true)] {
        let after = backend_normalize(&c, strip_params, decode_semicolons);
        prop_assert_eq!(
            &before_routes,
            &routes_to(&after),
            "{} routes differently once the backend sees {}",
            c,
            after
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn canonical_spellings(p in spelling()) {
        check(p.as_bytes())?;
    }

    #[test]
    fn canonical_bytes(p in any_bytes()) {
        check(&p)?;
    }
}
