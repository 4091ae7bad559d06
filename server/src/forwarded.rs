//! Whose request it is behind a load balancer (`STREAMHUB_TRUSTED_PROXIES`): a connection from a
//! trusted proxy speaks for the client named in its `X-Forwarded-For`, so that per-address caps,
//! rate limits and audit addresses are the client's, not the proxy's. From anyone else the header
//! is ignored: a client cannot name itself someone else.

use http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The proxies whose `X-Forwarded-For` is believed (none by default).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Proxies at these addresses or networks.
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    /// Whether `ip` is one of them.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether any proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client a connection from `peer` speaks for: `peer` itself, unless it is a trusted
    /// proxy with an `X-Forwarded-For`; then the nearest address in it that is not a trusted
    /// proxy (read from the right: entries to the left of it were written by the client and
    /// prove nothing). Port 0 when the address comes from the header.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.contains(peer.ip()) {
            return peer;
        }
        // Read as bytes, lines last to first and entries right to left: a line is not dropped
        // whole for a non-ASCII byte the client put at its start (proxies append to the
        // client's own line). At most `MAX_HOPS` entries are read, however long the header.
        let lines: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let hops = lines
            .iter()
            .rev()
            .flat_map(|line| line.rsplit(|b| *b == b','))
            .take(MAX_HOPS);
        for hop in hops {
            // A hop that is not an address (`unknown`, garbage): nothing further left is
            // believed either.
            let Some(ip) = std::str::from_utf8(hop).ok().and_then(parse_hop) else {
                return peer;
            };
            if !self.contains(ip) {
                return SocketAddr::new(canonical(ip), 0);
            }
        }
        peer
    }
}

/// Entries of `X-Forwarded-For` read at most: a chain of proxies is a few long.
const MAX_HOPS: usize = 32;

/// One `X-Forwarded-For` entry: an address, possibly with a port or in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let bare = hop
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(hop);
    bare.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// IPv4 addresses written as IPv6 (`::ffff:10.0.0.1`, as dual-stack sockets report them) as
/// IPv4, so that a list of IPv4 networks matches them.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A trusted proxy as configured: an address (`10.0.0.5`) or a network (`10.0.0.0/8`).
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an address nor a network (10.0.0.0/8)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| parse_net(n).unwrap()).collect())
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40_000)
    }

    #[test]
    fn a_trusted_proxy_speaks_for_the_nearest_untrusted_address() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        let client = |from: &str, header: &[&str]| trusted.client(peer(from), &forwarded(header));
        assert_eq!(
            client("10.1.2.3", &["203.0.113.7"]).to_string(),
            "203.0.113.7:0"
        );
        // What the client wrote itself (left of the proxies' entries) is not believed.
        assert_eq!(
            client("10.1.2.3", &["1.1.1.1, 203.0.113.7, 10.9.9.9"]).to_string(),
            "203.0.113.7:0"
        );
        assert_eq!(
            client("192.0.2.1", &["1.1.1.1", "198.51.100.4"]).to_string(),
            "198.51.100.4:0"
        );
        // IPv6 clients, and a proxy reported as an IPv4-mapped IPv6 address.
        assert_eq!(
            client("::ffff:10.0.0.9", &["2001:db8::7"]).to_string(),
            "[2001:db8::7]:0"
        );
        // A proxy appends to the client's own line, whatever bytes the client put there.
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes("\u{e9}t\u{e9}, 203.0.113.7".as_bytes()).unwrap(),
        );
        assert_eq!(
            trusted.client(peer("10.1.2.3"), &headers).to_string(),
            "203.0.113.7:0"
        );
        assert_eq!(
            client("10.1.2.3", &["[2001:db8::9]"]).to_string(),
            "[2001:db8::9]:0"
        );
        assert_eq!(
            client("10.1.2.3", &["[2001:db8::9]:443"]).to_string(),
            "[2001:db8::9]:0"
        );
        // However long the header, a few entries are read: past them, the proxy itself.
        let chain = vec!["10.0.0.1"; 100].join(", ");
        assert_eq!(
            client("10.1.2.3", &[&format!("203.0.113.7, {chain}")]),
            peer("10.1.2.3")
        );
        // No header, only proxies in it, or garbage: the proxy itself.
        assert_eq!(client("10.1.2.3", &[]), peer("10.1.2.3"));
        assert_eq!(client("10.1.2.3", &["10.0.0.1"]), peer("10.1.2.3"));
        assert_eq!(client("10.1.2.3", &["1.1.1.1, unknown"]), peer("10.1.2.3"));
    }

    #[test]
    fn anyone_else_cannot_name_itself_someone_else() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let from = peer("203.0.113.7");
        assert_eq!(trusted.client(from, &forwarded(&["10.0.0.1"])), from);
        assert_eq!(
            TrustedProxies::default().client(peer("10.0.0.1"), &forwarded(&["1.2.3.4"])),
            peer("10.0.0.1")
        );
    }

    #[test]
    fn proxies_are_addresses_or_networks() {
        assert!(parse_net("10.0.0.0/8").is_ok());
        assert!(parse_net(" 127.0.0.1 ").is_ok());
        assert!(parse_net("::1").is_ok());
        assert!(parse_net("proxy.local")
            .unwrap_err()
            .contains("proxy.local"));
    }
}
