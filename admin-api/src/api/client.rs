//! Who is on the other end of the connection: the [`ClientInfo`] extractor.
//!
//! The client address is the TCP peer. `X-Forwarded-For` is read only when the peer is one of
//! `[api] trusted_proxies`: then the address is the right-most entry not itself a trusted
//! proxy (entries to its left were written by the client and prove nothing). Without trusted
//! proxies the header is ignored, because any client can write it.

use super::{ApiError, ApiState};
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use ipnet::IpNet;
use std::{
    future::{Ready, ready},
    net::{IpAddr, SocketAddr},
};

/// Stored User-Agents are cut to this many characters.
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// The client's address and User-Agent, for rate limits, sessions and the activity log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client address; `None` when the connection has none (a unix socket, a test).
    pub ip: Option<IpAddr>,
    /// The User-Agent, cut to [`MAX_USER_AGENT_CHARS`].
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The client of `req`, believing `X-Forwarded-For` from `trusted_proxies` only.
    pub fn of(req: &HttpRequest, trusted_proxies: &[IpNet]) -> Self {
        let forwarded_for = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let ip = req.peer_addr().map(|peer| client_ip(peer.ip(), &forwarded_for, trusted_proxies));
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
        Self { ip, user_agent }
    }

    /// The address as stored in sessions and activity logs.
    pub fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_canonical().to_string())
    }
}

/// Walks `X-Forwarded-For` from the right while the hop that wrote the entry is trusted.
fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted_proxies: &[IpNet]) -> IpAddr {
    let trusted = |ip: IpAddr| trusted_proxies.iter().any(|net| net.contains(&ip.to_canonical()));
    let mut client = peer;
    for entry in forwarded_for.iter().rev() {
        if !trusted(client) {
            break;
        }
        // Some proxies append the port; anything unparsable ends the chain at the last good hop.
        let Some(ip) = entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip())) else {
            break;
        };
        client = ip;
    }
    client
}

impl FromRequest for ClientInfo {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let proxies = req.app_data::<web::Data<ApiState>>().map(|s| s.trusted_proxies.as_slice()).unwrap_or_default();
        ready(Ok(Self::of(req, proxies)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| smtpy_shared::config::parse_network(s).unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        assert_eq!(client_ip(ip("203.0.113.9"), &["198.51.100.1"], &[]), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("203.0.113.9"), &["198.51.100.1"], &nets(&["10.0.0.0/8"])), ip("203.0.113.9"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies = nets(&["10.0.0.0/8", "127.0.0.1"]);
        // The client forged the first entry; the proxy at 10.0.0.2 appended what it saw.
        let chain = ["1.2.3.4", "198.51.100.7", "10.0.0.2"];
        assert_eq!(client_ip(ip("127.0.0.1"), &chain, &proxies), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("10.0.0.5"), &["198.51.100.7:4711"], &proxies), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("10.0.0.5"), &["garbage", "10.0.0.3"], &proxies), ip("10.0.0.3"));
        // Only proxies all the way: the left-most one is as close to the client as we know.
        assert_eq!(client_ip(ip("10.0.0.5"), &["10.0.0.1"], &proxies), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("::ffff:10.0.0.5"), &["198.51.100.7"], &proxies), ip("198.51.100.7"));
    }
}
