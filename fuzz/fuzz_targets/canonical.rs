//! Any bytes as a request path and as a Host value: never a panic, and what comes out holds
//! the canonical form's promises (idempotent, no dot or empty segments, no encoded unreserved
//! characters; a parsed Host parses again to itself).
#![no_main]

use gatehouse_proxy::canonical::{canonical_path, parse_host};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for keep in [false, true] {
        if let Ok(c) = canonical_path(data, keep) {
            let again = canonical_path(c.as_bytes(), keep).expect("canonical input is refused");
            assert_eq!(again, c, "not idempotent");
            assert!(c.starts_with('/') && c.is_ascii());
            for bad in ["//", "/./", "/../"] {
                assert!(!c.contains(bad), "{c:?} contains {bad}");
            }
            assert!(!c.ends_with("/.") && !c.ends_with("/.."));
            let b = c.as_bytes();
            for (i, _) in c.match_indices('%') {
                let d =
                    u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).expect("ascii"), 16)
                        .expect("hex");
                assert!(
                    !(d.is_ascii_alphanumeric() || b"-._~".contains(&d)),
                    "{c:?}"
                );
            }
        }
    }
    if let Ok(h) = parse_host(data) {
        let again = parse_host(h.with_port().as_bytes()).expect("a parsed host is refused");
        assert_eq!(again, h);
        assert!(!h.name.bytes().any(|b| b.is_ascii_uppercase()));
    }
});
