//! Who may see internals (metrics, readiness details, the simulator's control routes): a
//! caller presenting the configured bearer token, or a loopback caller. "Loopback" is judged on
//! the client address after trusted proxies (`http::client_ip`), so a proxy in front does not
//! turn every visitor into a local one.

use std::net::SocketAddr;

use axum::http::{HeaderMap, header};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

/// Whether the `Authorization: Bearer …` header carries `token` (compared in constant time).
pub fn bearer_matches(headers: &HeaderMap, token: Option<&SecretString>) -> bool {
    let Some(token) = token else { return false };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(presented) => super::webhooks::constant_time_eq(presented.as_bytes(), token.expose_secret().as_bytes()),
        None => false,
    }
}

/// Whether the client (after trusted proxies) is this machine.
pub fn caller_is_loopback(headers: &HeaderMap, peer: Option<SocketAddr>, trusted: &[IpNet]) -> bool {
    super::client_ip(headers, peer, trusted).is_some_and(|ip| ip.is_loopback())
}

/// The rule in one place: the token always opens; loopback opens when `allow_loopback`.
pub fn internal_caller(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &[IpNet],
    token: Option<&SecretString>,
    allow_loopback: bool,
) -> bool {
    bearer_matches(headers, token) || (allow_loopback && caller_is_loopback(headers, peer, trusted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_and_loopback_counts_only_after_trusted_proxies() {
        let token = SecretString::from("s3cret-token".to_string());
        let mut headers = HeaderMap::new();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "203.0.113.7:5000".parse().unwrap();
        assert!(internal_caller(&headers, Some(local), &[], Some(&token), true));
        assert!(!internal_caller(&headers, Some(local), &[], Some(&token), false));
        assert!(!internal_caller(&headers, Some(remote), &[], Some(&token), true));
        headers.insert(header::AUTHORIZATION, "Bearer s3cret-token".parse().unwrap());
        assert!(internal_caller(&headers, Some(remote), &[], Some(&token), false));
        headers.insert(header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(!internal_caller(&headers, Some(remote), &[], Some(&token), false));
        assert!(!bearer_matches(&headers, None));
        // A visitor behind a trusted local proxy is not local.
        let trusted = vec!["127.0.0.1/32".parse().unwrap()];
        let mut via_proxy = HeaderMap::new();
        via_proxy.insert("x-forwarded-for", "198.51.100.9".parse().unwrap());
        assert!(!caller_is_loopback(&via_proxy, Some(local), &trusted));
        assert!(caller_is_loopback(&HeaderMap::new(), Some(local), &trusted));
    }
}
