//! The bucket key of a rate limit or lockout: the configured parts of the request, hashed
//! (SHA-256, first 16 bytes) so that keys are small and fixed-size, the same in every
//! instance (Redis), and never hold a raw API key. An IPv6 client is keyed by its /64: one
//! subscriber usually holds a whole /64 and could otherwise take a fresh bucket per address.
//! A key of the client address alone (the default) is the address itself, tagged, without
//! hashing: it holds no secret, and a SHA-256 per request cost 3,500 instructions (measured).
//! It cannot meet a hashed key: that would take a SHA-256 output with 14 chosen bytes.

use gatehouse_config::policy::KeyPart;
use pingora::http::RequestHeader;
use std::net::IpAddr;

/// A hashed bucket key.
pub(crate) type Key = u128;

/// The key of `[client_ip]`: `ip` tag, a family byte and the IPv4 address or IPv6 /64.
fn address_key(client: Option<IpAddr>) -> Key {
    let mut k = [0u8; 16];
    k[..3].copy_from_slice(b"ip\0");
    let v4 = |k: &mut [u8; 16], a: std::net::Ipv4Addr| {
        k[3] = 4;
        k[12..].copy_from_slice(&a.octets());
    };
    match client {
        Some(IpAddr::V4(a)) => v4(&mut k, a),
        Some(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(a) => v4(&mut k, a),
            None => {
                k[3] = 6;
                k[8..].copy_from_slice(&a.octets()[..8]);
            }
        },
        None => {}
    }
    u128::from_be_bytes(k)
}

pub(crate) fn key_of(
    parts: &[KeyPart],
    route: &str,
    client: Option<IpAddr>,
    req: &RequestHeader,
) -> Key {
    if let [KeyPart::ClientIp] = parts {
        return address_key(client);
    }
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        match part {
            KeyPart::ClientIp => {
                ctx.update(b"ip\0");
                match client {
                    Some(IpAddr::V4(v4)) => ctx.update(&v4.octets()),
                    Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                        Some(v4) => ctx.update(&v4.octets()),
                        None => ctx.update(&v6.octets()[..8]),
                    },
                    None => {}
                }
            }
            KeyPart::Route => {
                ctx.update(b"route\0");
                ctx.update(route.as_bytes());
            }
            KeyPart::Header(name) => {
                ctx.update(b"header\0");
                ctx.update(name.as_bytes());
                ctx.update(b"\0");
                if let Some(v) = req.headers.get(name.as_str()) {
                    ctx.update(v.as_bytes());
                }
            }
        }
        ctx.update(b"\x1f");
    }
    let digest = ctx.finish();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest.as_ref()[..16]);
    u128::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: Option<&str>) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).expect("req");
        if let Some(k) = key {
            r.insert_header("x-api-key", k).expect("hdr");
        }
        r
    }

    #[test]
    fn keys_follow_their_parts() {
        let ip: Option<IpAddr> = "192.0.2.1".parse().ok();
        let other: Option<IpAddr> = "192.0.2.2".parse().ok();
        let by_ip = [KeyPart::ClientIp];
        assert_eq!(
            key_of(&by_ip, "a", ip, &req(None)),
            key_of(&by_ip, "b", ip, &req(Some("x")))
        );
        assert_ne!(
            key_of(&by_ip, "a", ip, &req(None)),
            key_of(&by_ip, "a", other, &req(None))
        );
        let (a, b): (Option<IpAddr>, Option<IpAddr>) = (
            "2001:db8:1:2::1".parse().ok(),
            "2001:db8:1:2:ffff::9".parse().ok(),
        );
        assert_eq!(
            key_of(&by_ip, "a", a, &req(None)),
            key_of(&by_ip, "a", b, &req(None))
        );
        let c: Option<IpAddr> = "2001:db8:1:3::1".parse().ok();
        assert_ne!(
            key_of(&by_ip, "a", a, &req(None)),
            key_of(&by_ip, "a", c, &req(None))
        );
        // An IPv4-mapped IPv6 address is its IPv4 client; families and "no address" differ.
        let mapped: Option<IpAddr> = "::ffff:192.0.2.1".parse().ok();
        assert_eq!(
            key_of(&by_ip, "a", ip, &req(None)),
            key_of(&by_ip, "a", mapped, &req(None))
        );
        let v6_alike: Option<IpAddr> = "c000:201::".parse().ok();
        let zero: Option<IpAddr> = "0.0.0.0".parse().ok();
        let keys = [ip, v6_alike, zero, None].map(|c| key_of(&by_ip, "a", c, &req(None)));
        for (i, k) in keys.iter().enumerate() {
            assert!(keys[i + 1..].iter().all(|o| o != k), "{keys:x?}");
        }
        // Other key shapes are hashed: never the raw address.
        let ip_and_route = [KeyPart::ClientIp, KeyPart::Route];
        assert_ne!(
            key_of(&ip_and_route, "a", ip, &req(None)),
            key_of(&by_ip, "a", ip, &req(None))
        );
        let by_key = [KeyPart::Header("x-api-key".into())];
        assert_ne!(
            key_of(&by_key, "a", ip, &req(Some("k1"))),
            key_of(&by_key, "a", ip, &req(Some("k2")))
        );
        let by_route = [KeyPart::Route];
        assert_ne!(
            key_of(&by_route, "a", ip, &req(None)),
            key_of(&by_route, "b", ip, &req(None))
        );
    }
}
