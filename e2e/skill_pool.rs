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

/// curl without following redirects: the status, the redirect target and the body's bytes.
fn fetch(headers: &[String], url: &str) -> (u16, String, Vec<u8>) {
    let body = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", body.path().to_str().unwrap(), "-w", "%{http_code} %{redirect_url}"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (status, location) = text.split_once(' ').unwrap();
    (status.parse().unwrap(), location.to_owned(), std::fs::read(body.path()).unwrap())
}

#[test]
fn bundles_in_a_backing_registry_redirect_to_a_short_lived_link() {
    use crate::registry::{Auth, DistRegistry, peers_available};
    if !peers_available() {
        return;
    }
    let reg = DistRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &["--storage-registry", &format!("{}/store", reg.host)]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    let skill = skill_dir(dir.path(), "demo", "1.0.0", &[("notes.md", "n\n")]);
    serve.ok(Some(&admin), &["publish", skill.to_str().unwrap(), "-n", "acme"]);
    let auth = vec!["X-Skill-Pool-Tenant: acme".to_owned(), format!("Authorization: Bearer {admin}")];
    let bundle = format!("{}/v1/skills/demo/bundle.tar.gz", serve.url());

    // The archive lives in the registry: a 307 to a link on this server, good without a token.
    let (status, location, _) = fetch(&auth, &bundle);
    assert_eq!(status, 307);
    assert!(location.starts_with(&format!("{}/v1/bundles/", serve.url())), "{location}");
    let (status, _, linked) = fetch(&[], &location);
    assert_eq!(status, 200);
    // `bytes=true` streams the same archive from here; both are the version's archive.
    let (status, _, streamed) = fetch(&auth, &format!("{bundle}?bytes=true"));
    assert_eq!(status, 200);
    assert_eq!(linked, streamed);
    let files = skilldex::bundle::Bundle::from_archive(&linked, None, &Default::default()).unwrap();
    assert_eq!(files.name(), "demo");
    // Without a token there is no link.
    let (status, location, _) = fetch(&["X-Skill-Pool-Tenant: acme".to_owned()], &bundle);
    assert_eq!((status, location.as_str()), (401, ""));
    // Both paths count a download.
    assert_eq!(serve.json(Some(&admin), &["skill", "show", "acme/demo"])["downloads"], 2);
}

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
