//! The embedded OCI store at `/v2/`, driven by real clients: skopeo (inspect, list-tags,
//! copy to and from a CNCF distribution registry with digests unchanged), skilldex's own
//! client, and raw HTTP for the spec's error codes.

use serde_json::json;

use crate::common::*;
use crate::registry::{Auth, DistRegistry, peers_available, sha256, skopeo};

fn v2(serve: &Serve, method: &str, path: &str, token: Option<&str>, ct: &str, body: &[u8]) -> (u16, serde_json::Value) {
    http_raw(serve.addr, method, path, token, ct, body)
}

#[test]
fn skopeo_and_skilldex_use_the_embedded_store_like_any_registry() {
    if !peers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let host = serve.addr.to_string();
    let repo = format!("{host}/acme/demo");
    let skill = skill_dir(dir.path(), "demo", "1.0.0", &[("notes.md", "n\n")]);
    let published = serve.json(
        Some(&admin),
        &[
            "publish",
            "--public",
            skill.to_str().unwrap(),
            "--to",
            &repo,
            "-n",
            "acme",
            "--registry-username",
            "admin",
            "--registry-password",
            &admin,
        ],
    );
    let digest = published["digest"].as_str().unwrap().to_owned();

    // Anonymous pulls of a public skill's repository.
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{repo}:1.0.0")]);
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    assert_eq!(sha256(&raw.stdout), digest);
    let tags = skopeo(&["list-tags", "--tls-verify=false", &format!("docker://{repo}")]);
    let tags: serde_json::Value = serde_json::from_slice(&tags.stdout).unwrap();
    assert_eq!(tags["Tags"], json!(["1.0.0", "latest"]), "channels are tags too");

    // Out to a distribution registry and back, digests unchanged.
    let dist = DistRegistry::start(Auth::None);
    let there = format!("{}/mirror/demo:1.0.0", dist.host);
    let out = skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{repo}:1.0.0"),
        &format!("docker://{there}"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let back = skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("admin:{admin}"),
        &format!("docker://{there}"),
        &format!("docker://{repo}:round-trip"),
    ]);
    assert!(back.status.success(), "{}", String::from_utf8_lossy(&back.stderr));
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{repo}:round-trip")]);
    assert_eq!(sha256(&raw.stdout), digest, "digest unchanged after the round trip");

    // The data dir is a standard OCI image layout that skopeo opens directly. Its listing
    // follows pushes in the background, within moments.
    let layout = dir.path().join("skilldex-data/oci");
    let read_layout = || skopeo(&["inspect", "--raw", &format!("oci:{}:acme/demo:1.0.0", layout.display())]);
    let mut from_layout = read_layout();
    for _ in 0..50 {
        if from_layout.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        from_layout = read_layout();
    }
    assert!(from_layout.status.success(), "{}", String::from_utf8_lossy(&from_layout.stderr));
    assert_eq!(sha256(&from_layout.stdout), digest);

    // Install pulls from it exactly as from any registry.
    let dest = dir.path().join("skills");
    let lock = dir.path().join("skilldex.lock");
    serve.ok(None, &["install", "acme/demo", "--dest", dest.to_str().unwrap(), "--lock-file", lock.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dest.join("demo/notes.md")).unwrap(), "n\n");

    // Private skills' repositories need a token that can read the namespace.
    let (s, _) = http_json(
        serve.addr,
        "PATCH",
        "/api/v1/skills/acme/demo",
        Some(&admin),
        Some(&json!({"visibility": "private"})),
    );
    assert_eq!(s, 200);
    let denied = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{repo}:1.0.0")]);
    assert!(!denied.status.success());
    let allowed = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &format!("admin:{admin}"),
        &format!("docker://{repo}:1.0.0"),
    ]);
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
    serve.ok(Some(&admin), &["user", "create", "eve", "--email", "eve@example.com"]);
    let eve =
        serve.json(Some(&admin), &["token", "create", "--user", "eve", "--name", "t", "--scope", "admin"])["token"]
            .as_str()
            .unwrap()
            .to_owned();
    let (s, body) = v2(&serve, "GET", "/v2/acme/demo/manifests/1.0.0", Some(&eve), "", b"");
    assert_eq!((s, body["errors"][0]["code"].as_str()), (404, Some("NAME_UNKNOWN")), "outsiders cannot tell it exists");
    let (s, body) = v2(&serve, "POST", "/v2/acme/demo/blobs/uploads/", Some(&eve), "", b"");
    assert_eq!((s, body["errors"][0]["code"].as_str()), (403, Some("DENIED")));
    let (s, _) = v2(&serve, "POST", "/v2/acme/demo/blobs/uploads/", None, "", b"");
    assert_eq!(s, 401);
    serve.stop();
}

#[test]
fn referrers_and_hostile_input_follow_the_spec() {
    if !peers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let t = Some(admin.as_str());
    let empty = b"{}";
    let layer = b"layer bytes";
    let (ed, ld) = (sha256(empty), sha256(layer));

    // Monolithic, chunked and mounted uploads.
    let (s, _) =
        v2(&serve, "POST", &format!("/v2/acme/demo/blobs/uploads/?digest={ed}"), t, "application/octet-stream", empty);
    assert_eq!(s, 201);
    let (s, _) = http_json(serve.addr, "POST", "/v2/acme/demo/blobs/uploads/", t, None);
    assert_eq!(s, 202);
    let id = start_upload(&serve, t);
    let (s, _) =
        v2(&serve, "PATCH", &format!("/v2/acme/demo/blobs/uploads/{id}"), t, "application/octet-stream", &layer[..5]);
    assert_eq!(s, 202);
    let (s, b) =
        v2(&serve, "PATCH", &format!("/v2/acme/demo/blobs/uploads/{id}"), t, "application/octet-stream", &layer[5..]);
    assert_eq!(s, 202, "{b}");
    let (s, _) =
        v2(&serve, "PUT", &format!("/v2/acme/demo/blobs/uploads/{id}?digest={ld}"), t, "application/octet-stream", b"");
    assert_eq!(s, 201);
    let (s, _) = v2(&serve, "POST", &format!("/v2/acme/other/blobs/uploads/?mount={ld}&from=acme/demo"), t, "", b"");
    assert_eq!(s, 201, "cross-repository mount");
    let (s, _) = v2(&serve, "HEAD", &format!("/v2/acme/other/blobs/{ld}"), t, "", b"");
    assert_eq!(s, 200);

    // Ranges.
    let mut conn = std::net::TcpStream::connect(serve.addr).unwrap();
    use std::io::{Read as _, Write as _};
    write!(conn, "GET /v2/acme/demo/blobs/{ld} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nRange: bytes=6-10\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 206"), "{resp}");
    assert!(resp.ends_with("bytes"), "{resp}");
    let mut conn = std::net::TcpStream::connect(serve.addr).unwrap();
    write!(conn, "GET /v2/acme/demo/blobs/{ld} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nRange: bytes=50-60\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 416"), "{resp}");

    // A manifest, then an artifact whose subject it is.
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.thing",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": ed, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": layer.len()}]})
    .to_string();
    let md = sha256(manifest.as_bytes());
    let (s, _) = v2(
        &serve,
        "PUT",
        "/v2/acme/demo/manifests/v1",
        t,
        "application/vnd.oci.image.manifest.v1+json",
        manifest.as_bytes(),
    );
    assert_eq!(s, 201);
    let sig = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": ed, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": layer.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len()}})
    .to_string();
    let mut conn = std::net::TcpStream::connect(serve.addr).unwrap();
    write!(conn, "PUT /v2/acme/demo/manifests/{} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{sig}", sha256(sig.as_bytes()), sig.len()).unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201") && resp.to_lowercase().contains(&format!("oci-subject: {md}")), "{resp}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use skilldex::oci::{CredentialSource, Credentials, Registries, parse_reference};
        let mut creds = CredentialSource::default();
        creds
            .per_host
            .insert(serve.addr.to_string(), Credentials::Basic { username: "admin".into(), password: admin.clone() });
        let registries = Registries::new(creds);
        let subject = parse_reference(&format!("{}/acme/demo@{md}", serve.addr)).unwrap();
        let all = registries.referrers(&subject, None).await.unwrap();
        assert_eq!(all.len(), 1, "found through the native referrers API");
        assert_eq!(all[0].artifact_type.as_deref(), Some("application/vnd.dev.sigstore.bundle.v0.3+json"));
        assert_eq!(
            registries.referrers(&subject, Some("application/vnd.dev.sigstore.bundle.v0.3+json")).await.unwrap().len(),
            1
        );
        assert!(registries.referrers(&subject, Some("application/vnd.other")).await.unwrap().is_empty());
    });

    // Hostile input: each gets the spec's code, and nothing is stored.
    let too_big = vec![b' '; 5 * 1024 * 1024];
    // (method, path, body, content type, status, error code)
    type Case<'a> = (&'a str, String, &'a [u8], &'a str, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("PUT", "/v2/acme/demo/manifests/bad".into(), b"{not json", "application/vnd.oci.image.manifest.v1+json", 400, "MANIFEST_INVALID"),
        ("PUT", "/v2/acme/demo/manifests/big".into(), &too_big, "application/vnd.oci.image.manifest.v1+json", 413, "SIZE_INVALID"),
        ("PUT", format!("/v2/acme/demo/manifests/{}", sha256(b"other")), manifest.as_bytes(), "application/vnd.oci.image.manifest.v1+json", 400, "DIGEST_INVALID"),
        ("PUT", "/v2/acme/demo/manifests/orphan".into(),
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":3},"layers":[]}"#,
            "application/vnd.oci.image.manifest.v1+json", 400, "MANIFEST_BLOB_UNKNOWN"),
        ("POST", format!("/v2/acme/demo/blobs/uploads/?digest={}", sha256(b"claimed")), b"actual", "application/octet-stream", 400, "DIGEST_INVALID"),
        ("POST", "/v2/acme/demo/blobs/uploads/?digest=md5:abc".into(), b"x", "application/octet-stream", 405, "UNSUPPORTED"),
        ("GET", "/v2/acme/../etc/manifests/latest".into(), b"", "", 400, "NAME_INVALID"),
        ("GET", "/v2/ACME/demo/manifests/latest".into(), b"", "", 400, "NAME_INVALID"),
        ("GET", "/v2/acme/demo/manifests/nope".into(), b"", "", 404, "MANIFEST_UNKNOWN"),
        ("GET", format!("/v2/acme/demo/blobs/{}", sha256(b"never")), b"", "", 404, "BLOB_UNKNOWN"),
        ("GET", "/v2/acme/demo/blobs/sha256:xyz".into(), b"", "", 400, "DIGEST_INVALID"),
        ("PATCH", "/v2/acme/demo/blobs/uploads/00000000-0000-0000-0000-000000000000".into(), b"x", "application/octet-stream", 404, "BLOB_UPLOAD_UNKNOWN"),
        ("PUT", "/v2/acme/demo/blobs/uploads/../../../etc".into(), b"x", "application/octet-stream", 404, "NAME_UNKNOWN"),
    ];
    for (method, path, body, ct, status, code) in &cases {
        let (s, b) = v2(&serve, method, path, t, ct, body);
        assert_eq!((s, b["errors"][0]["code"].as_str().unwrap_or("")), (*status, *code), "{method} {path}: {b}");
    }
    // A truncated chunked upload never becomes a blob.
    let id = start_upload(&serve, t);
    v2(&serve, "PATCH", &format!("/v2/acme/demo/blobs/uploads/{id}"), t, "application/octet-stream", b"half");
    let (s, b) = v2(
        &serve,
        "PUT",
        &format!("/v2/acme/demo/blobs/uploads/{id}?digest={}", sha256(b"half and whole")),
        t,
        "application/octet-stream",
        b"",
    );
    assert_eq!((s, b["errors"][0]["code"].as_str()), (400, Some("DIGEST_INVALID")));
    let (s, _) = v2(&serve, "HEAD", &format!("/v2/acme/demo/blobs/{}", sha256(b"half")), t, "", b"");
    assert_eq!(s, 404);
    let (_, tags) = http_json(serve.addr, "GET", "/v2/acme/demo/tags/list", t, None);
    assert_eq!(tags["tags"], json!(["v1"]), "only the good manifest was tagged");
    let (s, page) = http_json(serve.addr, "GET", "/v2/acme/demo/tags/list?n=1", t, None);
    assert_eq!((s, page["tags"].clone()), (200, json!(["v1"])));
    serve.stop();
}

fn start_upload(serve: &Serve, token: Option<&str>) -> String {
    start_upload_in(serve, token, "acme/demo")
}

/// One writer: a unique blob (chunked upload), a config, then a manifest tagged `t<i>`.
/// Returns the manifest digest when the server acknowledged the manifest.
fn write_one(addr: std::net::SocketAddr, token: &str, i: usize) -> Option<(String, String)> {
    use std::io::{Read as _, Write as _};
    let req = |method: &str, path: &str, ct: &str, body: &[u8]| -> Option<(u16, String)> {
        let mut c = std::net::TcpStream::connect(addr).ok()?;
        c.set_read_timeout(Some(std::time::Duration::from_secs(20))).ok()?;
        write!(c, "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).ok()?;
        c.write_all(body).ok()?;
        let mut resp = String::new();
        c.read_to_string(&mut resp).ok()?;
        Some((resp.get(9..12)?.parse().ok()?, resp))
    };
    let layer: Vec<u8> = (0..256 * 1024).map(|j| ((i * 31 + j) % 251) as u8).collect();
    let ld = sha256(&layer);
    let (s, resp) = req("POST", "/v2/acme/crash/blobs/uploads/", "application/octet-stream", b"")?;
    if s != 202 {
        return None;
    }
    let location =
        resp.lines().find(|l| l.to_lowercase().starts_with("location:"))?.split_once(':')?.1.trim().to_owned();
    for chunk in layer.chunks(64 * 1024) {
        if req("PATCH", &location, "application/octet-stream", chunk)?.0 != 202 {
            return None;
        }
    }
    if req("PUT", &format!("{location}?digest={ld}"), "application/octet-stream", b"")?.0 != 201 {
        return None;
    }
    let config = format!("{{\"n\":{i}}}");
    let cd = sha256(config.as_bytes());
    if req(
        "POST",
        &format!("/v2/acme/crash/blobs/uploads/?digest={cd}"),
        "application/octet-stream",
        config.as_bytes(),
    )?
    .0 != 201
    {
        return None;
    }
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": layer.len()}]})
    .to_string();
    let (s, _) = req(
        "PUT",
        &format!("/v2/acme/crash/manifests/t{i}"),
        "application/vnd.oci.image.manifest.v1+json",
        manifest.as_bytes(),
    )?;
    (s == 201).then(|| (format!("t{i}"), sha256(manifest.as_bytes())))
}

#[test]
fn kill_9_during_200_uploads_loses_nothing_acknowledged() {
    if !peers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut serve, admin) = serve_with_team(dir.path());
    let addr = serve.addr;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(201));
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..200)
        .map(|i| {
            let (barrier, admin, acked) = (barrier.clone(), admin.clone(), acked.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let done = write_one(addr, &admin, i);
                if done.is_some() {
                    acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                done
            })
        })
        .collect();
    barrier.wait();
    // Kill once a few manifests are acknowledged, while the rest are still in flight.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    serve.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    serve.child.wait().unwrap();
    let acknowledged: Vec<(String, String)> = workers.into_iter().filter_map(|w| w.join().unwrap()).collect();
    eprintln!("{} of 200 manifests were acknowledged before the kill", acknowledged.len());
    assert!(
        !acknowledged.is_empty() && acknowledged.len() < 200,
        "the kill landed mid-way (otherwise this test proves nothing): {}",
        acknowledged.len()
    );

    let serve = Serve::start(dir.path(), &[]);
    for (tag, digest) in &acknowledged {
        let (s, m) = http_raw(serve.addr, "GET", &format!("/v2/acme/crash/manifests/{tag}"), Some(&admin), "", b"");
        assert_eq!(s, 200, "{tag} was acknowledged, so it must be pullable");
        let layer = m["layers"][0]["digest"].as_str().unwrap();
        let mut conn = std::net::TcpStream::connect(serve.addr).unwrap();
        use std::io::{Read as _, Write as _};
        write!(conn, "GET /v2/acme/crash/blobs/{layer} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        conn.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(sha256(&raw[split..]), layer, "{tag}: the layer verifies");
        let (_, manifest_digest) = (tag, digest);
        let body = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            &format!("admin:{admin}"),
            &format!("docker://{}/acme/crash:{tag}", serve.addr),
        ]);
        assert_eq!(&sha256(&body.stdout), manifest_digest, "{tag}: the manifest verifies");
    }
    // No blob is visible under a name its content does not hash to.
    for entry in std::fs::read_dir(dir.path().join("skilldex-data/oci/blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = format!("sha256:{}", entry.file_name().to_string_lossy());
        assert_eq!(sha256(&std::fs::read(entry.path()).unwrap()), name, "no partial blob");
    }
    // The layout still opens in skopeo, straight from disk.
    if let Some((tag, digest)) = acknowledged.first() {
        let layout = dir.path().join("skilldex-data/oci");
        let out = skopeo(&["inspect", "--raw", &format!("oci:{}:acme/crash:{tag}", layout.display())]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(&sha256(&out.stdout), digest);
    }
    serve.stop();
}

#[test]
fn oras_py_pulls_and_pushes_referrers_to_the_embedded_store() {
    if !peers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let skill = skill_dir(dir.path(), "demo", "1.0.0", &[]);
    let published = serve.json(Some(&admin), &["publish", "--public", skill.to_str().unwrap(), "-n", "acme"]);
    let digest = published["digest"].as_str().unwrap().to_owned();
    let resolved = serve.json(None, &["resolve", "acme/demo"]);
    let size = resolved["size"].as_i64().unwrap().to_string();

    let (_, index) = http_raw(serve.addr, "GET", "/v2/acme/demo/manifests/1.0.0", None, "", b"");
    let platform = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let work = dir.path().join("oras");
    std::fs::create_dir_all(&work).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/peers/oras_subject.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args([
            &serve.addr.to_string(),
            "admin",
            &admin,
            "acme/demo",
            &digest,
            &size,
            work.to_str().unwrap(),
            &platform,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("pulled skill.tar.gz"), "oras-py pulled the layer under its title: {stdout}");
    let note = stdout.lines().last().unwrap().trim().to_owned();

    let path = format!("/v2/acme/demo/referrers/{digest}");
    let (s, all) = http_raw(serve.addr, "GET", &path, None, "", b"");
    assert_eq!(s, 200);
    assert_eq!(all["manifests"][0]["digest"], note);
    let (_, filtered) = http_raw(
        serve.addr,
        "GET",
        &format!("{path}?artifactType=application%2Fvnd.example.review.config.v1%2Bjson"),
        None,
        "",
        b"",
    );
    assert_eq!(filtered["manifests"].as_array().unwrap().len(), 1, "{filtered}");
    let (_, none) = http_raw(serve.addr, "GET", &format!("{path}?artifactType=application%2Fvnd.other"), None, "", b"");
    assert_eq!(none["manifests"], json!([]));
    serve.stop();
}

#[test]
fn concurrent_uploads_of_one_blob_all_succeed_and_agree() {
    if !peers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let blob: Vec<u8> = (0..512 * 1024).map(|i| (i % 253) as u8).collect();
    let digest = sha256(&blob);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..24)
            .map(|i| {
                let (serve, admin, blob, digest) = (&serve, &admin, &blob, &digest);
                s.spawn(move || {
                    if i % 2 == 0 {
                        // Monolithic.
                        let path = format!("/v2/acme/same/blobs/uploads/?digest={digest}");
                        http_raw(serve.addr, "POST", &path, Some(admin), "application/octet-stream", blob).0
                    } else {
                        // Chunked, through a session of its own.
                        let id = start_upload_in(serve, Some(admin), "acme/same");
                        let at = format!("/v2/acme/same/blobs/uploads/{id}");
                        http_raw(serve.addr, "PATCH", &at, Some(admin), "application/octet-stream", &blob[..1000]);
                        let rest = format!("{at}?digest={digest}");
                        http_raw(serve.addr, "PUT", &rest, Some(admin), "application/octet-stream", &blob[1000..]).0
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let stored =
        std::fs::read(dir.path().join("skilldex-data/oci/blobs/sha256").join(digest.trim_start_matches("sha256:")))
            .unwrap();
    assert_eq!(stored, blob);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("skilldex-data/oci/uploads")).unwrap().collect();
    assert!(leftovers.is_empty(), "finished uploads leave nothing behind");
    serve.stop();
}

fn start_upload_in(serve: &Serve, token: Option<&str>, repo: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut conn = std::net::TcpStream::connect(serve.addr).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        conn,
        "POST /v2/{repo}/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    let location = resp.lines().find(|l| l.to_lowercase().starts_with("location:")).expect("Location header");
    location.rsplit('/').next().unwrap().trim().to_owned()
}
