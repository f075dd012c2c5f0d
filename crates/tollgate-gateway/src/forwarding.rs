//! Proxy header hygiene: the client address behind trusted proxies, hop-by-hop headers
//! (RFC 9110 §7.6.1), and the `X-Forwarded-*` / `Forwarded` (RFC 7239) headers sent upstream.

use std::net::IpAddr;

use bytes::BytesMut;

use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, FORWARDED, HOST, PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
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
    // Right to left: the last line first, each line's entries from its end.
    let entries = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .rev()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.rsplit(','))
        .map(str::trim);
    for e in entries {
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

/// An IP address as text (`192.0.2.7`, `2001:db8::7`), formatted once on the stack: the
/// gateway writes the client address into up to four headers and the decision line per request,
/// and `Display` for `Ipv4Addr` costs about 1 000 instructions each time. IPv4 is written
/// directly; IPv6 through `Display` (RFC 5952 form).
#[derive(Clone, Copy)]
pub struct IpText {
    buf: [u8; 46],
    len: u8,
}

impl IpText {
    /// `ip` as text.
    pub fn new(ip: IpAddr) -> IpText {
        let mut t = IpText {
            buf: [0; 46],
            len: 0,
        };
        match ip {
            IpAddr::V4(a) => {
                let mut n = 0;
                for (i, o) in a.octets().into_iter().enumerate() {
                    if i > 0 {
                        t.buf[n] = b'.';
                        n += 1;
                    }
                    if o >= 100 {
                        t.buf[n] = b'0' + o / 100;
                        n += 1;
                    }
                    if o >= 10 {
                        t.buf[n] = b'0' + o / 10 % 10;
                        n += 1;
                    }
                    t.buf[n] = b'0' + o % 10;
                    n += 1;
                }
                t.len = n as u8;
            }
            IpAddr::V6(a) => {
                let mut w = std::io::Cursor::new(&mut t.buf[..]);
                // 45 bytes hold the longest IPv6 text form.
                let _ = std::io::Write::write_fmt(&mut w, format_args!("{a}"));
                t.len = w.position() as u8;
            }
        }
        t
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, '.', ':' and hex letters were written.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Display for IpText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Hop-by-hop headers (RFC 9110 §7.6.1), plus `Keep-Alive`, `Proxy-Connection` and `Upgrade`;
/// `Connection` first.
static HOP_BY_HOP: [&HeaderName; 9] = [
    &CONNECTION,
    &KEEP_ALIVE,
    &PROXY_CONNECTION,
    &PROXY_AUTHENTICATE,
    &PROXY_AUTHORIZATION,
    &TE,
    &TRAILER,
    &TRANSFER_ENCODING,
    &UPGRADE,
];

/// The index in [`HOP_BY_HOP`] of `name` (lower case, as header names are): compared as text,
/// which is cheaper than `HeaderName` equality between a standard and a custom name.
fn hop_by_hop_index(name: &str) -> Option<usize> {
    HOP_BY_HOP.iter().position(|h| h.as_str() == name)
}

/// Removes hop-by-hop headers, including those named in `Connection`. `Upgrade` goes too
/// (tollgate does not proxy protocol upgrades yet).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Which of them are present (most messages carry only `Connection`, if any): each removal
    // hashes its name, so only those present are removed.
    let mut present = 0u16;
    for k in headers.keys() {
        if let Some(i) = hop_by_hop_index(k.as_str()) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    // Bit 0 is `Connection`: the names it lists go too. Hop-by-hop names it lists (usually
    // `keep-alive`) are removed below if present, so only other names become header names.
    if present & 1 != 0 {
        let listed: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            // `Host` is end-to-end whatever a client lists (without it the origin would not know
            // the site, nor the forwarding headers the client's host).
            .filter(|n| {
                !n.is_empty()
                    && !n.eq_ignore_ascii_case("host")
                    && !HOP_BY_HOP
                        .iter()
                        .any(|h| h.as_str().eq_ignore_ascii_case(n))
            })
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .collect();
        for n in listed {
            headers.remove(n);
        }
    }
    for (i, n) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(*n);
        }
    }
}

/// Sets the forwarding headers for the origin. From an untrusted peer, any client-sent
/// `X-Forwarded-*`, `Forwarded` and `X-Real-IP` are dropped first; from a trusted proxy, its
/// `X-Forwarded-For` chain is kept and the peer appended.
pub fn set_forwarding(headers: &mut HeaderMap, peer: IpAddr, client: IpAddr, trusted_peer: bool) {
    // A Host that is not visible ASCII is not repeated in X-Forwarded-Host or Forwarded.
    let host = headers.get(HOST).filter(|h| h.to_str().is_ok()).cloned();
    let proto = if trusted_peer
        && headers
            .get(&X_FORWARDED_PROTO)
            .is_some_and(|p| p.as_bytes() == b"https")
    {
        "https"
    } else {
        "http"
    };
    // X-Forwarded-For, Forwarded and X-Real-IP are written into one buffer and share it (one
    // allocation per request, not one per header).
    let mut buf = BytesMut::with_capacity(128);
    if trusted_peer {
        for (i, prior) in headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .enumerate()
        {
            if i > 0 {
                buf.extend_from_slice(b", ");
            }
            buf.extend_from_slice(prior.as_bytes());
        }
        if !buf.is_empty() {
            buf.extend_from_slice(b", ");
        }
    }
    buf.extend_from_slice(IpText::new(canonical(peer)).as_str().as_bytes());
    let chain_end = buf.len();
    let client_text = IpText::new(client);
    if client.is_ipv4() {
        buf.extend_from_slice(b"for=");
        buf.extend_from_slice(client_text.as_str().as_bytes());
    } else {
        buf.extend_from_slice(b"for=\"[");
        buf.extend_from_slice(client_text.as_str().as_bytes());
        buf.extend_from_slice(b"]\"");
    }
    buf.extend_from_slice(b";proto=");
    buf.extend_from_slice(proto.as_bytes());
    // RFC 7239 §4: a value is a token or a quoted-string. A host with a port, an IPv6 literal or
    // `;`/`,` is quoted; one that cannot be quoted as it is (`"`, `\`) is left out.
    if let Some(h) = host.as_ref().map(HeaderValue::as_bytes).filter(|h| {
        h.iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    }) {
        let token = h
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        buf.extend_from_slice(if token { b";host=" } else { b";host=\"" });
        buf.extend_from_slice(h);
        if !token {
            buf.extend_from_slice(b"\"");
        }
    }
    let forwarded_end = buf.len();
    buf.extend_from_slice(client_text.as_str().as_bytes());
    let buf = buf.freeze();
    let value = |r: std::ops::Range<usize>| HeaderValue::from_maybe_shared(buf.slice(r)).ok();
    // `insert` replaces every value the client sent; a header not inserted is removed.
    set_or_remove(headers, &X_FORWARDED_FOR, value(0..chain_end));
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    set_or_remove(headers, &X_FORWARDED_HOST, host);
    set_or_remove(headers, &FORWARDED, value(chain_end..forwarded_end));
    set_or_remove(headers, &X_REAL_IP, value(forwarded_end..buf.len()));
}

/// `name: value` replacing any value sent before, or no `name` at all.
fn set_or_remove(headers: &mut HeaderMap, name: &HeaderName, value: Option<HeaderValue>) {
    match value {
        Some(v) => {
            headers.insert(name.clone(), v);
        }
        None => {
            headers.remove(name);
        }
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
    fn connection_listed_names_go_whatever_their_case_and_unlisted_ones_stay() {
        let mut m = h(&[
            ("connection", "Close, X-Trace ,TE,,"),
            ("x-trace", "1"),
            ("x-kept", "2"),
        ]);
        strip_hop_by_hop(&mut m);
        let names: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept"]);
        // Listing a hop-by-hop name that is absent removes nothing else.
        let mut m = h(&[("connection", "Keep-Alive"), ("accept", "*/*")]);
        strip_hop_by_hop(&mut m);
        let names: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept"]);
    }

    #[test]
    fn forwarded_host_is_a_token_or_a_quoted_string_per_rfc_7239() {
        let peer: IpAddr = "203.0.113.5".parse().unwrap();
        for (host, want) in [
            ("example.org", "for=203.0.113.5;proto=http;host=example.org"),
            (
                "127.0.0.1:8080",
                "for=203.0.113.5;proto=http;host=\"127.0.0.1:8080\"",
            ),
            (
                "[2001:db8::1]:443",
                "for=203.0.113.5;proto=http;host=\"[2001:db8::1]:443\"",
            ),
            (
                "user@a.example",
                "for=203.0.113.5;proto=http;host=\"user@a.example\"",
            ),
            // Cannot be quoted as it is: left out (X-Forwarded-Host still carries it).
            ("a\"b", "for=203.0.113.5;proto=http"),
            ("a\\b", "for=203.0.113.5;proto=http"),
        ] {
            let mut m = h(&[("host", host)]);
            set_forwarding(&mut m, peer, peer, false);
            assert_eq!(m["forwarded"], want, "{host}");
        }
    }

    #[test]
    fn a_connection_header_listing_host_does_not_remove_it() {
        let mut m = h(&[
            ("host", "victim.example"),
            ("connection", "close, Host, x-drop"),
            ("x-drop", "1"),
        ]);
        strip_hop_by_hop(&mut m);
        let names: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["host"]);
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

    #[test]
    fn ip_text_matches_display_for_every_shape() {
        for ip in [
            "0.0.0.0",
            "9.10.99.100",
            "255.255.255.255",
            "203.0.113.5",
            "::",
            "::1",
            "2001:db8::7",
            "::ffff:192.0.2.1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::1:2:3:4",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::new(ip).as_str(), ip.to_string());
            assert_eq!(IpText::new(ip).to_string(), ip.to_string());
        }
        for o in 0..=255u8 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::new(o, 0, o, 1));
            assert_eq!(IpText::new(ip).as_str(), ip.to_string());
        }
    }

    #[test]
    fn trusted_chain_joins_every_prior_line_and_only_https_is_believed() {
        let mut m = h(&[
            ("host", "a.example;evil=1"),
            ("x-forwarded-for", "198.51.100.1, 10.0.0.9"),
            ("x-forwarded-for", "10.0.0.8"),
            ("x-forwarded-proto", "gopher"),
            ("x-real-ip", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6"),
        ]);
        let peer: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        set_forwarding(&mut m, peer, "198.51.100.1".parse().unwrap(), true);
        assert_eq!(
            m["x-forwarded-for"],
            "198.51.100.1, 10.0.0.9, 10.0.0.8, 127.0.0.1"
        );
        assert_eq!(m.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(m["x-forwarded-proto"], "http");
        // Kept as sent in X-Forwarded-Host; quoted in Forwarded, where a bare `;` would add a pair.
        assert_eq!(m["x-forwarded-host"], "a.example;evil=1");
        assert_eq!(
            m["forwarded"],
            "for=198.51.100.1;proto=http;host=\"a.example;evil=1\""
        );
        assert_eq!(m["x-real-ip"], "198.51.100.1");
        assert_eq!(m.get_all("forwarded").iter().count(), 1);
    }

    #[test]
    fn without_a_host_a_client_sent_forwarded_host_is_dropped() {
        let mut m = h(&[
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
        ]);
        let peer: IpAddr = "203.0.113.5".parse().unwrap();
        set_forwarding(&mut m, peer, peer, false);
        assert_eq!(m.get("x-forwarded-host"), None);
        assert_eq!(m["x-forwarded-proto"], "http");
        assert_eq!(m["forwarded"], "for=203.0.113.5;proto=http");
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn an_empty_forwarded_for_from_a_trusted_proxy_adds_no_empty_entry() {
        let mut m = h(&[("x-forwarded-for", "")]);
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        set_forwarding(&mut m, peer, peer, true);
        assert_eq!(m["x-forwarded-for"], "127.0.0.1");
        let mut m = h(&[("x-forwarded-for", ""), ("x-forwarded-for", "198.51.100.1")]);
        set_forwarding(&mut m, peer, "198.51.100.1".parse().unwrap(), true);
        assert_eq!(m["x-forwarded-for"], ", 198.51.100.1, 127.0.0.1");
    }

    #[test]
    fn the_client_is_read_right_to_left_across_several_forwarded_for_lines() {
        let t = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let hdrs = h(&[
            ("x-forwarded-for", "66.249.66.1, 10.0.0.3"),
            ("x-forwarded-for", "198.51.100.7 , 10.0.0.2"),
        ]);
        assert_eq!(
            client_addr(peer, &hdrs, &t),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // An unparsable entry stops the walk at the last good (trusted) one.
        let hdrs = h(&[
            ("x-forwarded-for", "66.249.66.1"),
            ("x-forwarded-for", "garbage, 10.0.0.2"),
        ]);
        assert_eq!(
            client_addr(peer, &hdrs, &t),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn hop_by_hop_removal_without_connection_header_keeps_end_to_end_headers() {
        let mut m = h(&[
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("accept", "*/*"),
            ("cookie", "a=1"),
        ]);
        strip_hop_by_hop(&mut m);
        let names: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept", "cookie"]);
    }
}
