//! A skill-pool-style session against the real binary, with curl as the client: publish with
//! multipart, capture a draft, publish it, read the usage; and a webhook receiver on a real
//! socket that verifies the signature and still gets its delivery when the server restarts
//! in between.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use hmac::Mac;
use serde_json::{Value, json};

use crate::common::{Backend, Serve, TestDb, on_both_backends, skill_dir};

on_both_backends!(a_skill_pool_session_runs_and_webhooks_survive_a_restart);

/// curl as skill-pool's CLI and portal scripts use the API: tenant header, bearer token.
fn curl(token: &str, args: &[&str]) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-H", "X-Skill-Pool-Tenant: acme", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A JSON request with curl.
fn send(serve: &Serve, token: &str, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let url = format!("{}{path}", serve.url());
    curl(token, &["-X", method, "-H", "Content-Type: application/json", "-d", &body.to_string(), &url])
}

/// A webhook receiver on a real socket: each request's signature header and body, sent on.
fn receiver(listener: TcpListener) -> mpsc::Receiver<(String, Vec<u8>)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let (mut length, mut signature) = (0, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("x-skill-pool-signature:") {
                    signature = line.split_once(':').unwrap().1.trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if tx.send((signature, body)).is_err() {
                return;
            }
        }
    });
    rx
}

fn a_skill_pool_session_runs_and_webhooks_survive_a_restart(backend: Backend) {
    let Some(db) = TestDb::new(backend) else { return };
    let dir = tempfile::tempdir().unwrap();
    // The receiver's port is taken now and served only later: the first deliveries fail.
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut flags = db.args();
    flags.extend(["--allow-webhook", "127.0.0.1:*", "--webhook-retry-delay", "1"]);
    let serve = Serve::start(dir.path(), &flags);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    let hook = json!({"webhook_url": format!("http://127.0.0.1:{port}/hook"), "webhook_secret": "s3cret"});
    let (status, body) = send(&serve, &admin, "PUT", "/v1/tenant/notifications", &hook);
    assert_eq!((status, body["signing_enabled"].clone()), (200, json!(true)), "{body}");

    // Publish with multipart, as skill-pool's CLI does.
    let src = skill_dir(dir.path(), "linter", "1.0.0", &[]);
    let archive = dir.path().join("linter.tar.gz");
    serve.ok(Some(&admin), &["pack", src.to_str().unwrap(), "-o", archive.to_str().unwrap()]);
    let metadata = r#"metadata={"slug":"linter","version":"1.0.0","tags":["lint"]};type=application/json"#;
    let bundle = format!("bundle=@{};type=application/gzip", archive.display());
    let url = format!("{}/v1/skills", serve.url());
    let (status, row) = curl(&admin, &["-F", metadata, "-F", &bundle, &url]);
    assert_eq!((status, row["slug"].clone(), row["version"].clone()), (201, json!("linter"), json!("1.0.0")), "{row}");

    // Capture a draft and publish it.
    let draft_src = skill_dir(dir.path(), "helper", "0.1.0", &[]);
    let draft_archive = dir.path().join("helper.tar.gz");
    serve.ok(Some(&admin), &["pack", draft_src.to_str().unwrap(), "-o", draft_archive.to_str().unwrap()]);
    let metadata = r#"metadata={"slug":"helper","origin":"claude-hook"};type=application/json"#;
    let bundle = format!("bundle=@{};type=application/gzip", draft_archive.display());
    let (status, draft) = curl(&admin, &["-F", metadata, "-F", &bundle, &format!("{}/v1/drafts", serve.url())]);
    assert_eq!(status, 201, "{draft}");
    let id = draft["id"].as_str().unwrap();
    let (status, published) =
        send(&serve, &admin, "POST", &format!("/v1/drafts/{id}/publish"), &json!({"version": "0.1.0"}));
    assert_eq!((status, published["version"].clone()), (200, json!("0.1.0")), "{published}");

    // Use it: download a bundle, read SKILL.md; the top list shows it.
    let out = dir.path().join("got.tar.gz");
    let bundle_url = format!("{}/v1/skills/helper/bundle.tar.gz", serve.url());
    let (status, _) = curl(&admin, &["-o", out.to_str().unwrap(), &bundle_url]);
    assert_eq!(status, 200);
    let (status, _) = curl(&admin, &[&format!("{}/v1/skills/helper/skill-md", serve.url())]);
    assert_eq!(status, 200);
    let (_, top) = curl(&admin, &[&format!("{}/v1/tenant/usage/top", serve.url())]);
    assert_eq!(top, json!([{"slug": "helper", "downloads": 1, "views": 1, "total": 2}]));

    // The receiver was not listening: the deliveries wait in the queue across a restart.
    std::thread::sleep(Duration::from_millis(1500));
    serve.stop();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let deliveries = receiver(listener);
    let serve = Serve::start(dir.path(), &flags);
    let mut events = Vec::new();
    while events.len() < 3 {
        let (signature, body) = deliveries.recv_timeout(Duration::from_secs(60)).expect("a delivery after the restart");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(&body);
        assert_eq!(signature, format!("sha256={}", hex::encode(mac.finalize().into_bytes())), "signed");
        let event: Value = serde_json::from_slice(&body).unwrap();
        events.push(event["event"].as_str().unwrap().to_owned());
    }
    events.sort();
    assert_eq!(events, ["draft.created", "version.published", "version.published"]);
    serve.stop();
}
