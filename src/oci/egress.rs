//! The one way out for registry traffic the server makes on a caller's behalf: an in-process
//! forward proxy that applies the outbound policy to every connection, not only to the host a
//! caller named. Redirects, token realms and later requests all pass through it, and it
//! connects to the very address it checked, so a DNS answer that changes between the check
//! and the connection (rebinding) gains nothing.
//!
//! It speaks just enough HTTP/1.1 proxying for the registry clients: `CONNECT host:port` for
//! HTTPS, and absolute-form requests (`GET http://host:port/path`) for plain-HTTP registries
//! the policy allows. It listens on loopback only and is used by this process alone.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::outbound::OutboundPolicy;

/// The largest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;
/// How long a client has to send its request head, and a connection to be made.
const HEAD_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a tunnel may carry nothing either way before it is closed.
const IDLE: Duration = Duration::from_secs(90);

/// A running egress proxy.
#[derive(Debug, Clone)]
///
/// It listens on loopback without credentials (an HTTP client drops proxy credentials on
/// redirects to other hosts): it only ever narrows what a connection may reach, so a local
/// process gains nothing through it that it could not reach directly.
pub struct Egress {
    addr: SocketAddr,
}

impl Egress {
    /// Starts the proxy on a loopback port; it runs as long as the runtime does.
    pub fn start(policy: OutboundPolicy) -> std::io::Result<Egress> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = TcpListener::from_std(std_listener)?;
        tokio::spawn(async move {
            loop {
                let client = match listener.accept().await {
                    Ok((client, _)) => client,
                    Err(e) => {
                        // Out of file descriptors, say: wait rather than spin.
                        tracing::warn!(error = %e, "egress proxy could not accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let policy = policy.clone();
                tokio::spawn(async move {
                    if let Err(e) = proxy(client, &policy).await {
                        tracing::debug!(error = %e, "egress connection ended");
                    }
                });
            }
        });
        Ok(Egress { addr })
    }

    /// The proxy URL registry clients are configured with.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Copies both ways until either side closes or nothing moves for `IDLE`. With
/// `answer_head`, the upstream's answer head is first gathered there and passed on with
/// `Connection: close`.
async fn pump(client: TcpStream, upstream: TcpStream, mut answer_head: Option<Vec<u8>>) -> std::io::Result<()> {
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let stalled = |_| std::io::Error::other("stalled");
    loop {
        tokio::select! {
            n = cr.read(&mut up) => {
                let n = n?;
                if n == 0 { return Ok(()) }
                tokio::time::timeout(IDLE, uw.write_all(&up[..n])).await.map_err(stalled)??;
            }
            n = ur.read(&mut down) => {
                let n = n?;
                if n == 0 { return Ok(()) }
                let out = match answer_head.as_mut() {
                    None => down[..n].to_vec(),
                    Some(gathered) => {
                        gathered.extend_from_slice(&down[..n]);
                        let Some(end) = gathered.windows(4).position(|w| w == b"\r\n\r\n") else {
                            if gathered.len() > MAX_HEAD {
                                return Err(std::io::Error::other("answer head too large"));
                            }
                            continue;
                        };
                        let mut out = closing(&gathered[..end]);
                        out.extend_from_slice(&gathered[end + 4..]);
                        answer_head = None;
                        out
                    }
                };
                tokio::time::timeout(IDLE, cw.write_all(&out)).await.map_err(stalled)??;
            }
            () = tokio::time::sleep(IDLE) => return Ok(()),
        }
    }
}

/// An answer head (without its blank line) with `Connection: close` in place of any
/// connection headers, blank line included.
fn closing(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if !matches!(name.as_str(), "connection" | "keep-alive" | "proxy-connection") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

/// The request head: everything up to and including the blank line, and what came after it.
async fn read_head(client: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too large"));
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the request head ended"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The header the proxy's own refusals carry, so a client can tell them from a registry's
/// answers: `refused` (the policy) or `unreachable`.
pub const EGRESS_HEADER: &str = "x-skilldex-egress";

/// Why no connection was made.
enum Refusal {
    /// The policy does not allow the target: 403, whatever listens there.
    Policy,
    /// Allowed, but it could not be reached: 502.
    Unreachable,
}

async fn refuse(client: &mut TcpStream, target: &str, why: Refusal) -> std::io::Result<()> {
    let answer: &[u8] = match why {
        Refusal::Policy => {
            tracing::info!(target, "egress proxy refused a connection");
            b"HTTP/1.1 403 Forbidden\r\nX-Skilldex-Egress: refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        }
        Refusal::Unreachable => {
            b"HTTP/1.1 502 Bad Gateway\r\nX-Skilldex-Egress: unreachable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        }
    };
    client.write_all(answer).await
}

async fn proxy(mut client: TcpStream, policy: &OutboundPolicy) -> std::io::Result<()> {
    let (head, rest) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client))
        .await
        .map_err(|_| std::io::Error::other("request head timed out"))??;
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, target, version) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method.eq_ignore_ascii_case("CONNECT") {
        let upstream = match connect(policy, target, 443).await {
            Ok(u) => u,
            Err(why) => return refuse(&mut client, target, why).await,
        };
        client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await?;
        let mut upstream = upstream;
        upstream.write_all(&rest).await?;
        return pump(client, upstream, None).await;
    }
    // Absolute form: http://host[:port]/path — plain HTTP only; HTTPS always tunnels.
    let Some(after_scheme) = target.strip_prefix("http://") else {
        return refuse(&mut client, target, Refusal::Policy).await;
    };
    let (authority, path) = match after_scheme.find('/') {
        Some(i) => (&after_scheme[..i], &after_scheme[i..]),
        None => (after_scheme, "/"),
    };
    // Plain HTTP only to registries the operator named; everything else speaks HTTPS.
    if !policy.names(authority, 80) {
        return refuse(&mut client, authority, Refusal::Policy).await;
    }
    let mut upstream = match connect(policy, authority, 80).await {
        Ok(u) => u,
        Err(why) => return refuse(&mut client, authority, why).await,
    };
    // One request per connection, so a pooled client connection never carries a second
    // request to another host through this tunnel.
    let mut out = format!("{method} {path} {version}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if !matches!(name.as_str(), "connection" | "proxy-connection" | "proxy-authorization" | "keep-alive") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    upstream.write_all(out.as_bytes()).await?;
    upstream.write_all(&rest).await?;
    // The client is told too (`Connection: close` in the answer), so it never sends a second
    // request, to whatever host, down a connection that was checked for this one.
    pump(client, upstream, Some(Vec::new())).await
}

/// A connection to `authority` (`host[:port]`), if the policy allows it, made to the address
/// the policy checked.
async fn connect(policy: &OutboundPolicy, authority: &str, default_port: u16) -> Result<TcpStream, Refusal> {
    let address = policy.resolve(authority, default_port).await.ok_or(Refusal::Policy)?;
    match tokio::time::timeout(HEAD_TIMEOUT, TcpStream::connect(address)).await {
        Ok(Ok(stream)) => Ok(stream),
        _ => Err(Refusal::Unreachable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_passed_on_as_closing() {
        let out = closing(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5");
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
    }
}
