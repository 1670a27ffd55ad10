//! Which registries the server may contact on a caller's behalf. A caller names a reference
//! and the server connects to its host: without a policy, a publisher could make the server
//! probe its own loopback ports or the private network behind it. By default hosts that
//! resolve to loopback, link-local, private or otherwise internal addresses are refused;
//! `serve --allow-registry PATTERN` lets chosen hosts through (the storage registry always is).
//! A refused host answers exactly like a reference that does not exist.

use std::net::{IpAddr, SocketAddr};

/// `host[:port]` patterns with `*` wildcards, e.g. `127.0.0.1:5000`, `*.corp.example`,
/// `10.0.0.*:*`; a pattern without a port matches the host on any port. A `*` stands for part
/// of one name label or port, never a `.` or `:`, and a pattern of an address matches only
/// that address, never a DNS name that starts the same way.
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
        let (host, port) = split_host_port(&registry);
        let (want_host, want_port) = split_host_port(&self.0);
        let address_pattern = want_host.bytes().all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'*'))
            && want_host.bytes().any(|b| b.is_ascii_digit());
        if address_pattern && host.parse::<IpAddr>().is_err() {
            return false;
        }
        glob(want_host, host) && want_port.is_none_or(|p| port.is_some_and(|q| glob(p, q)))
    }
}

/// `*` matches a run of characters within one label or port: never `.` or `:`.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(text) = text.strip_prefix(head) else { return false };
            let run = text.find(['.', ':']).unwrap_or(text.len());
            (0..=run).any(|i| glob(rest, &text[i..]))
        }
    }
}

/// `host[:port]` apart, brackets taken off IPv6 literals (`[::1]:5000` → `::1`, `5000`).
pub fn split_host_port(registry: &str) -> (&str, Option<&str>) {
    if let Some(rest) = registry.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':'));
    }
    match registry.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, Some(port)),
        _ => (registry, None),
    }
}

/// Whether `ip` is one of this machine's own addresses (the server and whatever listens
/// beside it): only a local address can be bound.
fn is_own_address(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Addresses a caller must not steer the server to.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 192 && b == 0 && c == 2) // documentation
                || (a == 198 && b == 51 && c == 100) // documentation
                || (a == 203 && b == 0 && c == 113) // documentation
                || a == 0
                || a >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // Addresses that carry an IPv4 address: mapped, compatible, NAT64, 6to4.
            let carried = match s {
                [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some((hi, lo)),
                [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some((hi, lo)),
                [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some((hi, lo)),
                [0x2002, hi, lo, ..] => Some((hi, lo)),
                _ => None,
            };
            if let Some((hi, lo)) = carried {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                return is_internal(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64, local-use included
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
                || (s[0..4] == [0, 0, 0, 0] && s[4] == 0xffff) // IPv4-translated
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

    /// Whether the server may connect to `registry` (`host[:port]`).
    pub async fn permits(&self, registry: &str) -> bool {
        self.resolve(registry, 443).await.is_some()
    }

    /// The address to connect to for `authority` (`host[:port]`, `default_port` when it has
    /// none), when the policy allows it: a pattern allows it, or every address the name
    /// resolves to is public. A name that does not resolve is refused too.
    pub async fn resolve(&self, authority: &str, default_port: u16) -> Option<SocketAddr> {
        let (host, port) = split_host_port(authority);
        let port: u16 = match port {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        let shown = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let allowed = self.allowed.iter().any(|p| p.matches(&shown));
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) if !allowed && (host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost")) => {
                return None;
            }
            Err(_) => tokio::net::lookup_host((host, port)).await.ok()?.collect(),
        };
        let outside = |a: &SocketAddr| !is_internal(a.ip()) && !is_own_address(a.ip());
        if allowed || addrs.iter().all(outside) { addrs.into_iter().next() } else { None }
    }

    /// Whether a `--allow-registry` pattern (or the storage registry) names `authority`
    /// itself: plain HTTP goes only there, never to a host merely found public.
    pub fn names(&self, authority: &str, default_port: u16) -> bool {
        let (host, port) = split_host_port(authority);
        let port = port.unwrap_or(&default_port.to_string()).to_owned();
        let shown = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        self.allowed.iter().any(|p| p.matches(&shown))
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
        assert!(pattern("[::1]").matches("[::1]:5000"), "brackets on both sides");
        assert!(pattern("10.0.0.*").matches("10.0.0.7:5000"));
        assert!(!pattern("10.0.0.*").matches("10.0.0.1.attacker.example"), "a star stays within its label");
        assert!(
            !pattern("10.0.0.1").matches("10.0.0.1.attacker.example:443"),
            "an address pattern matches addresses only"
        );
        assert!(!pattern("*.corp.example").matches("evil.example:443"));
        assert!("bad pattern!".parse::<RegistryPattern>().is_err());
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
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
        for ip in ["192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::1"] {
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
