//! Which registries the server may contact on a caller's behalf. A caller names a reference
//! and the server connects to its host: without a policy, a publisher could make the server
//! probe its own loopback ports or the private network behind it. By default hosts that
//! resolve to loopback, link-local, private or otherwise internal addresses are refused;
//! `serve --allow-registry PATTERN` lets chosen hosts through (the storage registry always is).
//! A refused host answers exactly like a reference that does not exist.

use std::net::IpAddr;

/// `host[:port]` patterns with `*` wildcards, e.g. `127.0.0.1:5000`, `*.corp.example`,
/// `10.0.0.7:*`; a pattern without a port matches the host on any port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryPattern(String);

impl std::str::FromStr for RegistryPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let ok = !s.is_empty()
            && s.len() <= 255
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'*' | b'[' | b']'));
        if ok {
            Ok(Self(s))
        } else {
            Err(format!("`{s}` is not a registry pattern such as `registry.local:5000` or `*.corp.example`"))
        }
    }
}

impl RegistryPattern {
    fn matches(&self, registry: &str) -> bool {
        let registry = registry.to_ascii_lowercase();
        if glob(&self.0, &registry) {
            return true;
        }
        // A pattern without a port covers every port of its host.
        let has_port = self.0.rsplit_once(':').is_some_and(|(_, p)| p == "*" || p.bytes().all(|b| b.is_ascii_digit()))
            && !self.0.ends_with(']');
        !has_port && glob(&self.0, host_of(&registry))
    }
}

/// `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(text) = text.strip_prefix(head) else { return false };
            (0..=text.len()).filter(|&i| text.is_char_boundary(i)).any(|i| glob(rest, &text[i..]))
        }
    }
}

/// The host part of `host[:port]` (brackets kept off IPv6 literals).
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    registry.rsplit_once(':').map_or(registry, |(h, _)| h)
}

/// Addresses a caller must not steer the server to.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || a == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// The policy the server's registry client applies before every connection.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Vec<RegistryPattern>,
}

impl OutboundPolicy {
    pub fn new(allowed: Vec<RegistryPattern>) -> Self {
        Self { allowed }
    }

    /// Also allow this exact registry (the storage registry).
    pub fn allow(mut self, registry: &str) -> Self {
        if let Ok(p) = registry.parse() {
            self.allowed.push(p);
        }
        self
    }

    /// Whether the server may connect to `registry` (`host[:port]`): allowed by a pattern, or
    /// every address it resolves to is public. A name that does not resolve is refused too.
    pub async fn permits(&self, registry: &str) -> bool {
        if self.allowed.iter().any(|p| p.matches(registry)) {
            return true;
        }
        let host = host_of(registry);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return !is_internal(ip);
        }
        if host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") {
            return false;
        }
        match tokio::net::lookup_host((host, 443)).await {
            Ok(addrs) => {
                let addrs: Vec<_> = addrs.collect();
                !addrs.is_empty() && addrs.iter().all(|a| !is_internal(a.ip()))
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> RegistryPattern {
        s.parse().unwrap()
    }

    #[test]
    fn patterns_match_hosts_and_ports() {
        assert!(pattern("127.0.0.1:*").matches("127.0.0.1:5000"));
        assert!(pattern("127.0.0.1").matches("127.0.0.1:5000"), "no port: any port");
        assert!(!pattern("127.0.0.1:5000").matches("127.0.0.1:5001"));
        assert!(pattern("*.corp.example").matches("registry.corp.example:443"));
        assert!(!pattern("*.corp.example").matches("corp.example.evil.io"));
        assert!(pattern("[::1]:*").matches("[::1]:5000"));
        assert!("bad pattern!".parse::<RegistryPattern>().is_err());
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["140.82.112.33", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn the_default_policy_refuses_internal_hosts() {
        let policy = OutboundPolicy::default();
        for host in ["127.0.0.1:5000", "localhost:5000", "[::1]:80", "10.0.0.8", "169.254.169.254", "api.localhost"] {
            assert!(!policy.permits(host).await, "{host}");
        }
        let opted_in = OutboundPolicy::new(vec![pattern("127.0.0.1:*")]).allow("localhost:7000");
        assert!(opted_in.permits("127.0.0.1:5000").await);
        assert!(opted_in.permits("localhost:7000").await);
        assert!(!opted_in.permits("localhost:7001").await);
    }
}
