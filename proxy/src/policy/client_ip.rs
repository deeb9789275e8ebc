//! Who the client is: the socket peer, or — when the peer is a trusted proxy — the right-most
//! X-Forwarded-For address that is not itself a trusted proxy. A client that is not a trusted
//! proxy cannot change its address by sending the header.

use ipnet::IpNet;
use std::net::IpAddr;

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    proxies.iter().any(|n| n.contains(&ip))
}

/// The client address, and whether the peer was a trusted proxy (so that its forwarding
/// headers may be extended rather than replaced). When the trusted part of the chain holds an
/// entry that is not an address, the client is unknown (`None`): IP gates refuse it.
pub(crate) fn resolve(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    proxies: &[IpNet],
) -> (Option<IpAddr>, bool) {
    let Some(peer) = peer else {
        return (None, false);
    };
    if !trusted(peer, proxies) {
        return (Some(peer), false);
    }
    let mut client = peer;
    if let Some(xff) = forwarded_for {
        for hop in xff.rsplit(',') {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !trusted(ip, proxies) {
                        break;
                    }
                }
                // Garbage where a trusted hop should have written an address.
                None => return (None, true),
            }
        }
    }
    (Some(client), true)
}

/// One X-Forwarded-For entry: an address, possibly `[v6]` or with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let h = hop.trim();
    if let Ok(ip) = h.parse() {
        return Some(ip);
    }
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    h.rsplit_once(':').and_then(|(a, _)| a.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("net")).collect()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn untrusted_peer_is_the_client() {
        let p = nets(&["10.0.0.0/8"]);
        assert_eq!(
            resolve(ip("192.0.2.7"), Some("1.2.3.4"), &p),
            (ip("192.0.2.7"), false)
        );
        assert_eq!(
            resolve(ip("192.0.2.7"), None, &[]),
            (ip("192.0.2.7"), false)
        );
    }

    #[test]
    fn trusted_chain_is_walked_right_to_left() {
        let p = nets(&["10.0.0.0/8"]);
        // The client may prepend anything; only the part appended by trusted hops counts.
        assert_eq!(
            resolve(ip("10.0.0.1"), Some("6.6.6.6, 198.51.100.9, 10.0.0.2"), &p),
            (ip("198.51.100.9"), true)
        );
        assert_eq!(
            resolve(ip("10.0.0.1"), Some("10.0.0.3, 10.0.0.2"), &p),
            (ip("10.0.0.3"), true)
        );
        assert_eq!(resolve(ip("10.0.0.1"), None, &p), (ip("10.0.0.1"), true));
        assert_eq!(
            resolve(ip("10.0.0.1"), Some("junk, 198.51.100.9"), &p),
            (ip("198.51.100.9"), true)
        );
        assert_eq!(
            resolve(ip("10.0.0.1"), Some("\u{fffd}, 10.0.0.2"), &p),
            (None, true)
        );
        assert_eq!(
            resolve(ip("10.0.0.1"), Some("[2001:db8::1]:443"), &p),
            (ip("2001:db8::1"), true)
        );
        assert_eq!(
            resolve(ip("::ffff:10.0.0.1"), Some("203.0.113.5"), &p),
            (ip("203.0.113.5"), true)
        );
    }
}
