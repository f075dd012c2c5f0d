//! Proxy header hygiene: the client address behind trusted proxies, hop-by-hop headers
//! (RFC 9110 §7.6.1), and the `X-Forwarded-*` / `Forwarded` (RFC 7239) headers sent upstream.

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST};
use ipnet::IpNet;

/// True if `peer` is one of the configured trusted proxies.
pub fn is_trusted(peer: IpAddr, trusted: &[IpNet]) -> bool {
    let peer = canonical(peer);
    trusted.iter().any(|n| n.contains(&peer))
}

/// IPv4-mapped IPv6 addresses as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The client address: the peer itself, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries a client
/// wrote further left are never believed). Unparsable entries stop the walk at the last good one.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for e in entries.iter().rev() {
        let Some(ip) = parse_forwarded_ip(e) else {
            break;
        };
        client = canonical(ip);
        if !is_trusted(client, trusted) {
            break;
        }
    }
    client
}

fn parse_forwarded_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    // "[2001:db8::1]:443" or "192.0.2.1:443"
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    s.rsplit_once(':')?.0.parse().ok()
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Removes hop-by-hop headers, including those named in `Connection`. `Upgrade` goes too
/// (tollgate does not proxy protocol upgrades yet).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in listed {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
    headers.remove("upgrade");
}

/// Sets the forwarding headers for the origin. From an untrusted peer, any client-sent
/// `X-Forwarded-*`, `Forwarded` and `X-Real-IP` are dropped first; from a trusted proxy, its
/// `X-Forwarded-For` chain is kept and the peer appended.
pub fn set_forwarding(headers: &mut HeaderMap, peer: IpAddr, client: IpAddr, trusted_peer: bool) {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let proto = if trusted_peer {
        headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .filter(|p| *p == "http" || *p == "https")
            .unwrap_or("http")
            .to_string()
    } else {
        "http".to_string()
    };
    let chain = if trusted_peer {
        let prior: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        let mut c = prior.join(", ");
        if !c.is_empty() {
            c.push_str(", ");
        }
        c.push_str(&canonical(peer).to_string());
        c
    } else {
        canonical(peer).to_string()
    };
    for n in [
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
        "x-real-ip",
    ] {
        headers.remove(n);
    }
    if let Ok(v) = HeaderValue::from_str(&chain) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(if proto == "https" { "https" } else { "http" }),
    );
    if let Some(h) = &host {
        if let Ok(v) = HeaderValue::from_str(h) {
            headers.insert("x-forwarded-host", v);
        }
    }
    let for_ = match client {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("\"[{a}]\""),
    };
    let mut fwd = format!("for={for_};proto={proto}");
    if let Some(h) = host.filter(|h| {
        h.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b';' && b != b',')
    }) {
        fwd.push_str(";host=");
        fwd.push_str(&h);
    }
    if let Ok(v) = HeaderValue::from_str(&fwd) {
        headers.insert("forwarded", v);
    }
    if let Ok(v) = HeaderValue::from_str(&client.to_string()) {
        headers.insert("x-real-ip", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn client_sent_forwarded_for_is_ignored_from_untrusted_peers() {
        let hdrs = h(&[("x-forwarded-for", "66.249.66.1")]);
        let peer: IpAddr = "203.0.113.5".parse().unwrap();
        assert_eq!(client_addr(peer, &hdrs, &nets(&["127.0.0.1/32"])), peer);
    }

    #[test]
    fn trusted_proxy_chain_gives_the_rightmost_untrusted_address() {
        let hdrs = h(&[("x-forwarded-for", "66.249.66.1, 198.51.100.7, 10.0.0.2")]);
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let t = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        assert_eq!(
            client_addr(peer, &hdrs, &t),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn mapped_ipv6_peers_are_ipv4() {
        let peer: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let hdrs = h(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(
            client_addr(peer, &hdrs, &nets(&["127.0.0.1/32"])),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn hop_by_hop_headers_and_connection_listed_ones_go() {
        let mut m = h(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut m);
        let names: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept"]);
    }

    #[test]
    fn forwarding_headers_are_replaced_for_untrusted_peers() {
        let mut m = h(&[
            ("host", "example.org"),
            ("x-forwarded-for", "1.2.3.4"),
            ("forwarded", "for=1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let peer: IpAddr = "203.0.113.5".parse().unwrap();
        set_forwarding(&mut m, peer, peer, false);
        assert_eq!(m["x-forwarded-for"], "203.0.113.5");
        assert_eq!(m["x-forwarded-proto"], "http");
        assert_eq!(m["x-forwarded-host"], "example.org");
        assert_eq!(
            m["forwarded"],
            "for=203.0.113.5;proto=http;host=example.org"
        );
        assert_eq!(m["x-real-ip"], "203.0.113.5");
    }

    #[test]
    fn trusted_chains_are_extended_and_ipv6_quoted() {
        let mut m = h(&[
            ("host", "example.org"),
            ("x-forwarded-for", "2001:db8::7"),
            ("x-forwarded-proto", "https"),
        ]);
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        set_forwarding(&mut m, peer, "2001:db8::7".parse().unwrap(), true);
        assert_eq!(m["x-forwarded-for"], "2001:db8::7, 127.0.0.1");
        assert_eq!(m["x-forwarded-proto"], "https");
        assert_eq!(
            m["forwarded"],
            "for=\"[2001:db8::7]\";proto=https;host=example.org"
        );
    }
}
