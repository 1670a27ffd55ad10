//! A webhook receiver that accepts the connection and never answers.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::common::{Serve, skill_dir};
use crate::net::{call, call_with};

#[test]
fn a_hanging_webhook_receiver_delays_only_its_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The first connection is read and then held open without an answer; the others are
    // answered, and what they carried is sent on.
    let (delivered, deliveries) = mpsc::channel::<serde_json::Value>();
    let (hung, first) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            if n == 0 {
                held.push(conn);
                let _ = hung.send(());
                continue;
            }
            use std::io::Write as _;
            let mut conn = conn;
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = delivered.send(serde_json::from_slice(&body).unwrap_or_default());
        }
    });

    let serve = Serve::start(dir.path(), &["--allow-webhook", "127.0.0.1:*", "--webhook-retry-delay", "1"]);
    let admin = serve.admin_token();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    let hook = json!({"webhook_url": format!("http://127.0.0.1:{port}/hook"), "webhook_secret": "s3cret"});
    let tenant = [("X-Skill-Pool-Tenant", "acme")];
    let a = call_with(serve.addr, "PUT", "/v1/tenant/notifications", Some(&admin), &tenant, Some(&hook));
    assert_eq!(a.status, 200, "{}", a.text());

    // The publish is acknowledged at once; its event's first delivery hangs.
    let v1 = skill_dir(dir.path(), "demo", "1.0.0", &[]);
    serve.ok(Some(&admin), &["publish", v1.to_str().unwrap(), "-n", "acme"]);
    first.recv_timeout(Duration::from_secs(30)).expect("the first delivery reached the receiver");
    // While it hangs, the server goes on: another publish, reads, health, all before the hung
    // attempt has even timed out.
    let v2 = skill_dir(dir.path(), "demo", "1.1.0", &[]);
    serve.ok(Some(&admin), &["publish", v2.to_str().unwrap(), "-n", "acme"]);
    assert_eq!(call(serve.addr, "GET", "/api/v1/resolve/acme/demo", Some(&admin), None).json()["version"], "1.1.0");
    assert_eq!(call(serve.addr, "GET", "/healthz", None, None).status, 200);
    assert!(!timed_out(&serve, &admin), "nothing waited for the hung receiver");

    // The hung attempt ends at its timeout and is retried: both events arrive, and the
    // timeout is on record.
    let mut published = Vec::new();
    while published.len() < 2 {
        let event = deliveries.recv_timeout(Duration::from_secs(60)).expect("the events are delivered after the hang");
        if event["event"] == "version.published" {
            published.push(event["version"].as_str().unwrap_or_default().to_owned());
        }
    }
    published.sort();
    assert_eq!(published, ["1.0.0", "1.1.0"]);
    assert!(timed_out(&serve, &admin), "the hung attempt is on record");
    serve.stop();
}

/// Whether the audit log has an attempt that ended at the receiver's silence.
fn timed_out(serve: &Serve, admin: &str) -> bool {
    let audit = call(serve.addr, "GET", "/api/v1/audit?limit=100", Some(admin), None).json();
    audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "webhook.deliver" && e["detail"]["error"] == "the receiver did not answer in time")
}
