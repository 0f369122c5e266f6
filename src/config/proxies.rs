//! `TRUSTED_PROXIES`: the proxies (NGINX in front of several nodes) whose
//! `X-Forwarded-For` is believed. A request from any other peer is taken to
//! come from that peer, whatever its headers say, so that a client cannot
//! pick the address its rate limits are counted against.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

/// Addresses and networks (`127.0.0.1`, `10.0.0.0/8`, `::1`) of trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// A comma-separated list; empty trusts nobody.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for item in list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let network = match item.parse::<IpNet>() {
                Ok(network) => network,
                Err(_) => item.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    format!("{item:?} is neither an IP address nor a network like 10.0.0.0/8")
                })?,
            };
            networks.push(network);
        }
        Ok(Self(Arc::new(networks)))
    }

    /// (An IPv4 peer of a dual-stack socket, `::ffff:127.0.0.1`, is
    /// compared as the IPv4 address it is.)
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client behind `peer`: `peer` itself unless it is trusted; else,
    /// reading `X-Forwarded-For` from the right (each proxy appends the
    /// address it saw), the first address that is not a trusted proxy. An
    /// entry that is not an address ends the walk at the last good one.
    /// The headers are read as bytes: a client's own entry that is not
    /// text (NGINX appends to whatever the client sent, in one header)
    /// spoils only itself, not the addresses the proxies appended.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[impl AsRef<[u8]>]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = forwarded_for
            .iter()
            .flat_map(|header| header.as_ref().split(|byte| *byte == b','))
            .map(<[u8]>::trim_ascii)
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            match std::str::from_utf8(hop)
                .ok()
                .and_then(|hop| hop.parse::<IpAddr>().ok())
            {
                Some(address) => {
                    client = address.to_canonical();
                    if !self.trusts(address) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peer_may_name_the_client() {
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        // An untrusted peer is the client, whatever it forwards.
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &["1.2.3.4"]),
            ip("203.0.113.9")
        );
        // A trusted proxy: the rightmost address that is not a proxy.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["6.6.6.6, 198.51.100.7, 10.1.2.3"]),
            ip("198.51.100.7"),
            "a spoofed left-hand entry is not believed"
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["6.6.6.6", "198.51.100.7"]),
            ip("198.51.100.7")
        );
        // No header, or garbage: the last address believed.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &[] as &[&str]),
            ip("127.0.0.1")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["nonsense"]),
            ip("127.0.0.1")
        );
        // A client's own entry that is not text spoils only itself: the
        // addresses the proxies appended after it still read.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &[b"\xff\xfe, 198.51.100.7".as_slice()]),
            ip("198.51.100.7")
        );
        // A dual-stack socket's IPv4 peer is that IPv4 address.
        assert_eq!(
            proxies.client(ip("::ffff:127.0.0.1"), &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.example").is_err());
    }
}
