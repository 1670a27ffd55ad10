//! Requests that never wait forever, and a TCP proxy that can cut a dependency off.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One answer: the status (0 when the connection failed), the head and the body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// A JSON request over a fresh connection, given a minute to answer.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> Answer {
    call_with(addr, method, path, token, &[], body)
}

/// The same with extra headers.
pub fn call_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> Answer {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return Answer { status: 0, head: String::new(), body: Vec::new() };
    };
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    if s.write_all(head.as_bytes()).is_err() {
        return Answer { status: 0, head: String::new(), body: Vec::new() };
    }
    let resp = crate::common::read_all(&mut s);
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(resp.len());
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Answer { status, head, body: resp.get(split + 4..).unwrap_or_default().to_vec() }
}

/// A team `acme` with `demo` 1.0.0 published on `serve`; its archive as the server serves it.
pub fn publish_demo(serve: &crate::common::Serve, admin: &str) -> Answer {
    serve.ok(Some(admin), &["team", "create", "acme"]);
    let v1 = crate::common::skill_dir(&serve.dir, "demo", "1.0.0", &[]);
    serve.ok(Some(admin), &["publish", "--public", v1.to_str().unwrap(), "-n", "acme"]);
    let original = call(serve.addr, "GET", DEMO_ARCHIVE, Some(admin), None);
    assert_eq!(original.status, 200);
    original
}

/// Where `publish_demo`'s archive is read.
pub const DEMO_ARCHIVE: &str = "/api/v1/skills/acme/demo/versions/1.0.0/archive";

/// A TCP proxy in front of a dependency. Armed with a needle, it cuts the first client
/// connection whose request carries it (before passing that request on), tells the test,
/// and from then on refuses every connection until it is healed.
pub struct Proxy {
    pub addr: SocketAddr,
    needle: Arc<Mutex<Option<Vec<u8>>>>,
    down: Arc<AtomicBool>,
    tripped: mpsc::Receiver<()>,
}

impl Proxy {
    pub fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let needle: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let down = Arc::new(AtomicBool::new(false));
        let (tx, tripped) = mpsc::channel();
        let (n, d) = (needle.clone(), down.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if d.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let (n, d, tx) = (n.clone(), d.clone(), tx.clone());
                let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(read) = c_read.read(&mut buf) {
                        if read == 0 || d.load(Ordering::SeqCst) {
                            break;
                        }
                        let hit = n
                            .lock()
                            .unwrap()
                            .as_ref()
                            .is_some_and(|needle| buf[..read].windows(needle.len()).any(|w| w == needle));
                        if hit {
                            d.store(true, Ordering::SeqCst);
                            n.lock().unwrap().take();
                            let _ = tx.send(());
                            break;
                        }
                        if s_write.write_all(&buf[..read]).is_err() {
                            break;
                        }
                    }
                    let _ = c_read.shutdown(std::net::Shutdown::Both);
                    let _ = s_write.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Proxy { addr, needle, down, tripped }
    }

    /// Cuts the dependency off at the first request that carries `needle`.
    pub fn arm(&self, needle: &str) {
        *self.needle.lock().unwrap() = Some(needle.as_bytes().to_vec());
    }

    /// Waits until the armed cut happened.
    pub fn wait_tripped(&self) {
        self.tripped.recv_timeout(Duration::from_secs(60)).expect("the armed request came");
    }

    /// Lets connections through again.
    pub fn heal(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}
