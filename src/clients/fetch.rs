//! Downloads of provider-chosen URLs (kie.ai's results): HTTPS only, to public addresses
//! only, through at most three redirects that obey the same rule. A result URL, a redirect or a
//! DNS answer pointing at loopback, a private network, link-local (cloud metadata) or similar is
//! refused; loopback (plain HTTP included) is allowed only with `SIMULATOR=1`, where the
//! simulator serves results from this very process.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is an ordinary public address (not loopback, private, link-local, CGNAT,
/// multicast, documentation, unspecified, or an IPv6 form of one of those).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

fn allowed_ip(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public(ip) || (allow_loopback && ip.is_loopback())
}

/// The rule for one URL (the first, and each redirect): `https` to a host that is not a
/// non-public address literal; `http` only to loopback with `allow_loopback`.
pub fn check_url(url: &Url, allow_loopback: bool) -> Result<(), String> {
    let host = url.host_str().ok_or("the URL has no host")?;
    let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
    let loopback_name = host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost");
    let is_loopback = loopback_name || literal.is_some_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && is_loopback => {}
        other => return Err(format!("{other}:// is not allowed (HTTPS only)")),
    }
    if loopback_name && !allow_loopback {
        return Err(format!("{host} is not a public address"));
    }
    if let Some(ip) = literal
        && !allowed_ip(ip, allow_loopback)
    {
        return Err(format!("{ip} is not a public address"));
    }
    Ok(())
}

/// Resolves names and keeps only addresses the rule allows (a public name that resolves to
/// 127.0.0.1 or 169.254.169.254 gets nowhere).
struct PublicResolver {
    allow_loopback: bool,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.into_iter().filter(|a| allowed_ip(a.ip(), allow_loopback)).collect();
            if kept.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// A client for such downloads.
pub fn download_client(
    user_agent: &str,
    connect: Duration,
    timeout: Duration,
    allow_loopback: bool,
) -> reqwest::Client {
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 3 {
            return attempt.error("too many redirects");
        }
        match check_url(attempt.url(), allow_loopback) {
            Ok(()) => attempt.follow(),
            Err(reason) => attempt.error(format!("redirect refused: {reason}")),
        }
    });
    super::client_builder(user_agent, connect, timeout)
        .redirect(policy)
        .dns_resolver(Arc::new(PublicResolver { allow_loopback }))
        .build()
        .expect("a reqwest client with static settings builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_unless_loopback_is_allowed() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(check_url(&url("https://tempfile.aiquickdraw.com/r/1.png"), false).is_ok());
        assert!(check_url(&url("http://tempfile.aiquickdraw.com/r/1.png"), false).is_err());
        assert!(check_url(&url("https://127.0.0.1/x.png"), false).is_err());
        assert!(check_url(&url("https://localhost/x.png"), false).is_err());
        assert!(check_url(&url("https://10.0.0.5/x.png"), false).is_err());
        assert!(check_url(&url("https://169.254.169.254/latest/meta-data"), false).is_err());
        assert!(check_url(&url("https://[::1]/x.png"), false).is_err());
        assert!(check_url(&url("https://[::ffff:192.168.0.1]/x.png"), false).is_err());
        assert!(check_url(&url("https://[fd00::1]/x.png"), false).is_err());
        assert!(check_url(&url("file:///etc/passwd"), true).is_err());
        // The simulator (SIMULATOR=1) serves results over plain HTTP on loopback.
        assert!(check_url(&url("http://127.0.0.1:8080/sim/kie/files/1.png"), true).is_ok());
        assert!(check_url(&url("http://10.0.0.5/x.png"), true).is_err());
        assert!(check_url(&url("https://192.168.1.1/x.png"), true).is_err());
    }

    #[test]
    fn public_addresses_are_told_apart() {
        for ip in ["8.8.8.8", "185.71.76.1", "2a02:5180::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn redirects_to_loopback_are_refused_without_the_simulator() {
        use wiremock::matchers::path;
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(path("/result.png"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(b"png".to_vec()))
            .mount(&server)
            .await;
        Mock::given(path("/hop"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", "http://10.0.0.7/secret"))
            .mount(&server)
            .await;
        Mock::given(path("/local"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", format!("{}/result.png", server.uri())))
            .mount(&server)
            .await;
        let simulated = download_client("t", Duration::from_secs(2), Duration::from_secs(5), true);
        // With the simulator, loopback works, a redirect to a private network does not.
        let ok = simulated.get(format!("{}/local", server.uri())).send().await.unwrap();
        assert_eq!(ok.bytes().await.unwrap().as_ref(), b"png");
        let err = simulated.get(format!("{}/hop", server.uri())).send().await.unwrap_err();
        assert!(err.is_redirect(), "{err}");
        // Without it, a name resolving to loopback gets nowhere.
        let real = download_client("t", Duration::from_secs(2), Duration::from_secs(5), false);
        let port = server.address().port();
        let err = real.get(format!("http://localhost:{port}/result.png")).send().await.unwrap_err();
        assert!(!err.is_status(), "{err}");
    }
}
