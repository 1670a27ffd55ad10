//! The gate: every read and write of skill content obeys one set of access and lifecycle
//! rules, whichever path reaches it. One test per class of attack that broke earlier builds,
//! tried as an outsider, a reader, a publisher of another team and an anonymous client; each
//! asserts the refusal *and* that nothing changed. On SQLite and PostgreSQL where the index
//! decides.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use crate::registry::{peers_available, sha256, skopeo};

/// A running server with the admin, a team `acme`, and the people the attacks need.
struct Site {
    serve: Serve,
    admin: String,
    dir: tempfile::TempDir,
    _db: TestDb,
}

impl Site {
    fn start(backend: Backend, extra: &[&str]) -> Option<Site> {
        let db = TestDb::new(backend)?;
        let dir = tempfile::tempdir().unwrap();
        let mut args = db.args();
        args.extend_from_slice(extra);
        let serve = Serve::start(dir.path(), &args);
        let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
        serve.ok(Some(&admin), &["team", "create", "acme"]);
        Some(Site { serve, admin, dir, _db: db })
    }

    /// A new user with a token of `scope`, with `role` in `team` when given.
    fn user(&self, name: &str, membership: Option<(&str, &str)>, scope: &str) -> String {
        let admin = Some(self.admin.as_str());
        self.serve.ok(admin, &["user", "create", name, "--email", &format!("{name}@example.com")]);
        if let Some((team, role)) = membership {
            self.serve.ok(admin, &["team", "set-member", team, name, "--role", role]);
        }
        let created = self.serve.json(admin, &["token", "create", "--user", name, "--name", "t", "--scope", scope]);
        created["token"].as_str().unwrap().to_owned()
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        http_json(self.serve.addr, method, path, token, body.as_ref())
    }

    /// Packs `files` (SKILL.md added) as version `version` of `skill` and publishes it by
    /// upload with `status`; the finalize answer.
    fn upload(&self, token: &str, skill: &str, version: &str, files: &[(&str, &str)], status: &str) -> (u16, Value) {
        let prepared = self.prepare(token, skill, version, files);
        let (s, body) = prepared.0;
        if s != 201 {
            return (s, body);
        }
        let (s, body) = self.put_archive(token, &body, &prepared.1);
        if s != 200 {
            return (s, body);
        }
        self.finalize(token, skill, version, Some(status), None)
    }

    /// Prepares an upload: the answer, and the archive to PUT.
    fn prepare(&self, token: &str, skill: &str, version: &str, files: &[(&str, &str)]) -> ((u16, Value), Vec<u8>) {
        let name = skill.split('/').nth(1).unwrap();
        let src = skill_dir(&self.dir.path().join(format!("src-{}", rand_suffix())), name, version, files);
        let archive = self.dir.path().join(format!("{}.tar.gz", rand_suffix()));
        self.serve.ok(None, &["pack", src.to_str().unwrap(), "-o", archive.to_str().unwrap()]);
        let bytes = std::fs::read(&archive).unwrap();
        let sha = sha256(&bytes).trim_start_matches("sha256:").to_owned();
        let body = json!({"version": version, "archiveSha256": sha, "archiveSize": bytes.len()});
        (self.call("POST", &format!("/api/v1/skills/{skill}/versions"), Some(token), Some(body)), bytes)
    }

    fn put_archive(&self, token: &str, prepared: &Value, archive: &[u8]) -> (u16, Value) {
        let url = prepared["uploadUrl"].as_str().unwrap();
        let path = &url[url.find("/api/").unwrap()..];
        http_raw(self.serve.addr, "PUT", path, Some(token), "application/gzip", archive)
    }

    fn finalize(
        &self,
        token: &str,
        skill: &str,
        version: &str,
        status: Option<&str>,
        id: Option<&str>,
    ) -> (u16, Value) {
        let mut body = json!({});
        if let Some(s) = status {
            body["status"] = s.into();
        }
        if let Some(id) = id {
            body["versionId"] = id.into();
        }
        self.call("POST", &format!("/api/v1/skills/{skill}/versions/{version}/finalize"), Some(token), Some(body))
    }

    fn audit(&self) -> Vec<Value> {
        let (s, body) = self.call("GET", "/api/v1/audit?limit=100", Some(&self.admin), None);
        assert_eq!(s, 200, "{body}");
        body["data"].as_array().unwrap().clone()
    }

    fn v2(&self, method: &str, path: &str, token: Option<&str>, accept: &str, body: &[u8]) -> (u16, Vec<u8>, String) {
        v2_request(self.serve.addr, method, path, token, accept, body)
    }

    /// Alice (publisher in acme) uploads the private `acme/secret` 1.0.0; Bob, a site admin
    /// in no team, owns the namespace `beta`. Returns their tokens and the published version.
    fn private_release(&self) -> (String, String, Value) {
        let alice = self.user("alice", Some(("acme", "publisher")), "write");
        let bob = self.user("bob", None, "admin");
        self.serve.ok(Some(&bob), &["team", "create", "beta"]);
        self.serve.ok(Some(&alice), &["skill", "create", "acme/secret", "--private"]);
        let (s, published) = self.upload(&alice, "acme/secret", "1.0.0", &[], "published");
        assert_eq!(s, 200, "{published}");
        (alice, bob, published)
    }
}

/// One `/v2/` request: the status, the body and the raw head.
fn v2_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<u8>, String) {
    let accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";
    let headers = [("Accept", accept), ("Content-Type", content_type)];
    let (status, head, body) = http_exchange(addr, &format!("{method} {path}"), token, &headers, body);
    (status, body, head)
}

/// The status of an anonymous GET, whatever the body.
fn status_of(addr: std::net::SocketAddr, path: &str) -> u16 {
    v2_request(addr, "GET", path, None, "", b"").0
}

fn code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    v["errors"][0]["code"].as_str().unwrap_or("").to_owned()
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

fn actions(audit: &[Value]) -> Vec<String> {
    audit.iter().map(|e| format!("{} {}", e["action"].as_str().unwrap(), e["target"].as_str().unwrap())).collect()
}

on_both_backends!(
    reading_by_reference_needs_the_callers_pull_rights,
    recorded_versions_cannot_change_through_v2,
    drafts_stay_hidden_on_v2,
    finalize_publishes_only_the_callers_upload,
);

/// Class 1: registering (REST or ToolHive) a reference into this server's own store reads it
/// with the caller's rights. Another team's private skill is exactly as missing as a
/// repository that does not exist, and nothing is created.
fn reading_by_reference_needs_the_callers_pull_rights(backend: Backend) {
    let Some(site) = Site::start(backend, &[]) else { return };
    let alice = site.user("alice", Some(("acme", "publisher")), "write");
    let bob = site.user("bob", None, "admin");
    site.serve.ok(Some(&bob), &["team", "create", "beta"]);
    site.serve.ok(Some(&alice), &["skill", "create", "acme/secret", "--private", "--description", "private"]);
    let (s, published) = site.upload(&alice, "acme/secret", "1.0.0", &[("notes.md", "secret plans\n")], "published");
    assert_eq!(s, 200, "{published}");
    let secret = published["reference"].as_str().unwrap().to_owned();
    let digest = published["digest"].as_str().unwrap().to_owned();
    let host = site.serve.addr.to_string();
    assert_eq!(secret, format!("{host}/acme/secret@{digest}"));

    site.serve.ok(Some(&bob), &["skill", "create", "--public", "beta/secret"]);
    let missing = format!("{host}/acme/nothing@{digest}");
    let register = |reference: &str| {
        let body = json!({"version": "1.0.0", "reference": reference});
        site.call("POST", "/api/v1/skills/beta/secret/versions", Some(&bob), Some(body))
    };
    let (s1, stolen) = register(&secret);
    let (s2, absent) = register(&missing);
    assert_eq!(s1, 422, "{stolen}");
    assert_eq!(s1, s2, "a readable-to-others repository and a missing one answer alike");
    let scrub = |v: &Value, r: &str| v["detail"].as_str().unwrap().replace(r, "REF");
    assert_eq!(scrub(&stolen, &secret), scrub(&absent, &missing), "same words");
    for tagged in [
        format!("{host}/acme/secret:1.0.0"),
        format!("{host}/acme/secret:latest"),
        format!("127.0.0.1:{}/acme/secret@{digest}", site.serve.addr.port()),
    ] {
        let (s, body) = register(&tagged);
        assert_eq!(s, 422, "{tagged}: {body}");
    }
    // ToolHive's publish call reaches the same gate, and creates no skill on the way.
    let entry = json!({"claims": {}, "skill": {"namespace": "beta", "name": "secret2", "version": "1.0.0",
        "packages": [{"registryType": "oci", "identifier": secret}]}});
    let (s, body) = site.call("POST", "/v1/entries", Some(&bob), Some(entry));
    assert_eq!(s, 422, "{body}");
    assert_eq!(site.call("GET", "/api/v1/skills/beta/secret2", Some(&bob), None).0, 404);

    // Nothing changed: beta has no version, and no publish was recorded in beta.
    let (_, versions) = site.call("GET", "/api/v1/skills/beta/secret/versions", Some(&bob), None);
    assert_eq!(versions["data"], json!([]));
    assert!(!actions(&site.audit()).iter().any(|a| a.starts_with("version.publish beta/")));

    // Alice, who may read acme's repository, may register the same reference elsewhere.
    site.serve.ok(Some(&site.admin), &["team", "create", "gamma"]);
    site.serve.ok(Some(&site.admin), &["team", "set-member", "gamma", "alice", "--role", "publisher"]);
    site.serve.ok(Some(&alice), &["skill", "create", "gamma/secret", "--private"]);
    let body = json!({"version": "1.0.0", "reference": secret});
    let (s, mirrored) = site.call("POST", "/api/v1/skills/gamma/secret/versions", Some(&alice), Some(body));
    assert_eq!((s, mirrored["digest"].as_str()), (201, Some(digest.as_str())), "{mirrored}");
    site.serve.stop();
}

/// Class 2 and channels as tags: nobody — not even a site administrator — deletes,
/// re-points or overwrites what a recorded version references through `/v2/`; channels are
/// read-only tags that follow the index; a deleted skill's repository takes no pushes.
fn recorded_versions_cannot_change_through_v2(backend: Backend) {
    if !peers_available() {
        return;
    }
    let Some(site) = Site::start(backend, &[]) else { return };
    let admin = site.admin.clone();
    let t = Some(admin.as_str());
    site.serve.ok(t, &["skill", "create", "--public", "acme/demo"]);
    let (s, v) = site.upload(&admin, "acme/demo", "1.0.0", &[("notes.md", "n\n")], "published");
    assert_eq!(s, 200, "{v}");
    let digest = v["digest"].as_str().unwrap().to_owned();
    let (s, index, _) = site.v2("GET", "/v2/acme/demo/manifests/1.0.0", t, "", b"");
    assert_eq!(s, 200);
    assert_eq!(sha256(&index), digest);
    let child = json_of(&index)["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let (_, child_bytes, _) = site.v2("GET", &format!("/v2/acme/demo/manifests/{child}"), t, "", b"");
    let mut other = json_of(&child_bytes);
    other["annotations"] = json!({"org.opencontainers.image.title": "not the published one"});
    let other = serde_json::to_vec(&other).unwrap();
    let manifest_type = "application/vnd.oci.image.manifest.v1+json";

    let attempts: Vec<(&str, String, &[u8], &str)> = vec![
        ("DELETE", format!("/v2/acme/demo/manifests/{digest}"), b"", ""),
        ("DELETE", format!("/v2/acme/demo/manifests/{child}"), b"", ""),
        ("DELETE", "/v2/acme/demo/manifests/1.0.0".into(), b"", ""),
        ("PUT", "/v2/acme/demo/manifests/1.0.0".into(), &other, manifest_type),
        ("PUT", "/v2/acme/demo/manifests/latest".into(), &other, manifest_type),
        ("DELETE", "/v2/acme/demo/manifests/latest".into(), b"", ""),
    ];
    for (method, path, body, ct) in &attempts {
        let (s, b, _) = site.v2(method, path, t, ct, body);
        assert_eq!((s, code(&b)), (403, "DENIED".to_owned()), "{method} {path}: {}", String::from_utf8_lossy(&b));
    }
    let layer = json_of(&child_bytes)["layers"][0]["digest"].as_str().unwrap().to_owned();
    let (s, b, _) = site.v2("DELETE", &format!("/v2/acme/demo/blobs/{layer}"), t, "", b"");
    assert_eq!((s, code(&b)), (405, "UNSUPPORTED".to_owned()));

    // Nothing changed: the registry, resolve and install all still give the recorded bytes.
    let repo = format!("{}/acme/demo", site.serve.addr);
    for tag in ["1.0.0", "latest"] {
        let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{repo}:{tag}")]);
        assert!(raw.status.success(), "{tag}: {}", String::from_utf8_lossy(&raw.stderr));
        assert_eq!(sha256(&raw.stdout), digest, "{tag}");
    }
    assert_eq!(site.serve.json(None, &["resolve", "acme/demo@1.0.0"])["digest"], digest);
    let dest = site.dir.path().join("skills");
    let lock = site.dir.path().join("skilldex.lock");
    let (dest, lock) = (dest.to_str().unwrap(), lock.to_str().unwrap());
    site.serve.ok(None, &["install", "acme/demo@1.0.0", "--dest", dest, "--lock-file", lock]);
    site.serve.ok(None, &["install", "--locked", "--lock-file", lock]);
    assert_eq!(std::fs::read_to_string(site.dir.path().join("skills/demo/notes.md")).unwrap(), "n\n");
    assert!(!actions(&site.audit()).iter().any(|a| a.starts_with("registry.manifest.delete")));

    // A channel is a tag that follows the index.
    let (s, body) = site.call("PUT", "/api/v1/skills/acme/demo/channels/stable", t, Some(json!({"version": "1.0.0"})));
    assert_eq!(s, 200, "{body}");
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{repo}:stable")]);
    assert_eq!(sha256(&raw.stdout), digest);
    let (_, tags, _) = site.v2("GET", "/v2/acme/demo/tags/list", None, "", b"");
    assert_eq!(json_of(&tags)["tags"], json!(["1.0.0", "latest", "stable"]));

    // What no version references may change, and the change is audited.
    let (s, b, _) = site.v2("PUT", "/v2/acme/demo/manifests/scratch", t, manifest_type, &other);
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
    let (s, _, _) = site.v2("DELETE", "/v2/acme/demo/manifests/scratch", t, "", b"");
    assert_eq!(s, 202);
    assert!(actions(&site.audit()).contains(&"registry.manifest.delete acme/demo".to_owned()));

    // A deleted skill's repository takes no pushes.
    let (s, _) = site.call("DELETE", "/api/v1/skills/acme/demo", t, None);
    assert_eq!(s, 204);
    let (s, b, _) = site.v2("POST", "/v2/acme/demo/blobs/uploads/", t, "", b"");
    assert_eq!((s, code(&b)), (403, "DENIED".to_owned()));
    site.serve.stop();
}

/// Class 3: content only a draft references is readable only by those who may see drafts.
fn drafts_stay_hidden_on_v2(backend: Backend) {
    let Some(site) = Site::start(backend, &[]) else { return };
    let admin = site.admin.clone();
    let reader = site.user("rita", Some(("acme", "reader")), "read");
    let outsider = site.user("eve", None, "admin");
    site.serve.ok(Some(&admin), &["skill", "create", "--public", "acme/demo"]);
    assert_eq!(site.upload(&admin, "acme/demo", "1.0.0", &[], "published").0, 200);
    let (s, draft) = site.upload(&admin, "acme/demo", "2.0.0", &[("plan.md", "unreleased\n")], "draft");
    assert_eq!(s, 200, "{draft}");
    let draft_digest = draft["digest"].as_str().unwrap().to_owned();
    let (_, index, _) = site.v2("GET", &format!("/v2/acme/demo/manifests/{draft_digest}"), Some(&reader), "", b"");
    let child = json_of(&index)["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let (_, child_bytes, _) = site.v2("GET", &format!("/v2/acme/demo/manifests/{child}"), Some(&reader), "", b"");
    let layer = json_of(&child_bytes)["layers"][0]["digest"].as_str().unwrap().to_owned();
    // A signature of the draft, under cosign's tag: it names the draft, so it is the draft's.
    let mut signature = json_of(&child_bytes);
    signature["annotations"] = json!({"dev.cosignproject.cosign/signature": "c2ln"});
    let signature = serde_json::to_vec(&signature).unwrap();
    let sig_tag = format!("sha256-{}.sig", draft_digest.trim_start_matches("sha256:"));
    let manifest_type = "application/vnd.oci.image.manifest.v1+json";
    let pushed = site.v2("PUT", &format!("/v2/acme/demo/manifests/{sig_tag}"), Some(&admin), manifest_type, &signature);
    assert_eq!(pushed.0, 201, "{}", String::from_utf8_lossy(&pushed.1));

    for who in [None, Some(outsider.as_str())] {
        let (_, tags, _) = site.v2("GET", "/v2/acme/demo/tags/list", who, "", b"");
        assert_eq!(json_of(&tags)["tags"], json!(["1.0.0", "latest"]), "{who:?}");
        for path in [
            "/v2/acme/demo/manifests/2.0.0".to_owned(),
            format!("/v2/acme/demo/manifests/{draft_digest}"),
            format!("/v2/acme/demo/manifests/{child}"),
            format!("/v2/acme/demo/manifests/{sig_tag}"),
        ] {
            let (s, b, _) = site.v2("GET", &path, who, "", b"");
            assert_eq!((s, code(&b)), (404, "MANIFEST_UNKNOWN".to_owned()), "{who:?} {path}");
        }
        let (s, b, _) = site.v2("GET", &format!("/v2/acme/demo/blobs/{layer}"), who, "", b"");
        assert_eq!((s, code(&b)), (404, "BLOB_UNKNOWN".to_owned()));
    }
    // Members see it, as they see drafts everywhere else.
    let (_, tags, _) = site.v2("GET", "/v2/acme/demo/tags/list", Some(&reader), "", b"");
    assert_eq!(json_of(&tags)["tags"], json!(["1.0.0", "2.0.0", "latest", sig_tag]));
    assert_eq!(site.v2("GET", &format!("/v2/acme/demo/blobs/{layer}"), Some(&reader), "", b"").0, 200);
    site.serve.stop();
}

/// Class 6: finalize publishes the upload its caller prepared, never another member's; of
/// concurrent publishes of one version exactly one wins and every other gets 409.
fn finalize_publishes_only_the_callers_upload(backend: Backend) {
    let Some(site) = Site::start(backend, &[]) else { return };
    let alice = site.user("alice", Some(("acme", "publisher")), "write");
    let bob = site.user("bob", Some(("acme", "publisher")), "write");
    site.serve.ok(Some(&alice), &["skill", "create", "--public", "acme/demo"]);
    let ((s, alices), _) = site.prepare(&alice, "acme/demo", "1.0.0", &[("by.md", "alice\n")]);
    assert_eq!(s, 201);
    let ((s, bobs), bob_archive) = site.prepare(&bob, "acme/demo", "1.0.0", &[("by.md", "bob\n")]);
    assert_eq!(s, 201);
    // A body longer than what was prepared is refused before it is read.
    let mut longer = bob_archive.clone();
    longer.extend_from_slice(&[0u8; 4096]);
    assert_eq!(site.put_archive(&bob, &bobs, &longer).0, 413);
    assert_eq!(site.put_archive(&bob, &bobs, &bob_archive).0, 200);

    // Alice's own upload has no archive yet; Bob's is not hers to publish.
    let (s, body) = site.finalize(&alice, "acme/demo", "1.0.0", None, None);
    assert_eq!(s, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("not been uploaded"), "{body}");
    let (s, _) = site.finalize(&alice, "acme/demo", "1.0.0", None, bobs["versionId"].as_str());
    assert_eq!(s, 404);
    assert_eq!(site.call("GET", "/api/v1/skills/acme/demo/versions", Some(&alice), None).1["data"], json!([]));

    let (s, body) = site.finalize(&bob, "acme/demo", "1.0.0", None, bobs["versionId"].as_str());
    assert_eq!(s, 200, "{body}");
    let publish = site.audit().into_iter().find(|e| e["action"] == "version.publish").unwrap();
    assert_eq!(publish["actor"], "bob", "credited to the member whose upload it was");
    let (s, archive) = {
        let mut conn = TcpStream::connect(site.serve.addr).unwrap();
        write!(
            conn,
            "GET /api/v1/skills/acme/demo/versions/1.0.0/archive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let resp = read_all(&mut conn);
        (String::from_utf8_lossy(&resp[9..12]).parse::<u16>().unwrap(), resp)
    };
    assert_eq!(s, 200);
    let split = archive.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let bundle = skilldex::bundle::Bundle::from_archive(&archive[split + 4..], None, &Default::default()).unwrap();
    assert_eq!(bundle.files.iter().find(|f| f.path == "by.md").unwrap().data, b"bob\n");
    let _ = alices;

    // Six concurrent publishes of 2.0.0, each preparing, uploading and finalizing its own.
    let outcomes: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (site, token) = (&site, if i % 2 == 0 { &alice } else { &bob });
                scope.spawn(move || {
                    let ((s, prepared), archive) =
                        site.prepare(token, "acme/demo", "2.0.0", &[("n.md", &i.to_string())]);
                    if s != 201 {
                        return s;
                    }
                    let (s, _) = site.put_archive(token, &prepared, &archive);
                    if s != 200 {
                        return s;
                    }
                    site.finalize(token, "acme/demo", "2.0.0", None, prepared["versionId"].as_str()).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|s| **s == 200).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|s| *s == 200 || *s == 409), "losers get 409: {outcomes:?}");
    site.serve.stop();
}

/// Class 4: a body is read only after its sender was authenticated and authorized. An
/// anonymous 60 MB body is answered while most of it is still unsent.
#[test]
fn large_bodies_are_refused_before_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    serve.ok(Some(&admin), &["skill", "create", "--public", "acme/demo"]);
    serve.ok(Some(&admin), &["user", "create", "rita", "--email", "r@example.com"]);
    serve.ok(Some(&admin), &["team", "set-member", "acme", "rita", "--role", "reader"]);
    let reader =
        serve.json(Some(&admin), &["token", "create", "--user", "rita", "--name", "t", "--scope", "write"])["token"]
            .as_str()
            .unwrap()
            .to_owned();
    let digest = format!("sha256:{}", "0".repeat(64));
    let cases = [
        ("PUT", "/@acme%2fdemo".to_owned(), None, 401),
        ("PUT", "/@acme%2fdemo".to_owned(), Some(reader.as_str()), 403),
        ("PUT", "/@acme%2fdemo/-rev/1".to_owned(), None, 401),
        ("POST", format!("/v2/acme/demo/blobs/uploads/?digest={digest}"), None, 401),
        ("POST", format!("/v2/acme/demo/blobs/uploads/?digest={digest}"), Some(reader.as_str()), 403),
        ("PUT", format!("/api/v1/uploads/{}", "0".repeat(36)), None, 401),
    ];
    let declared = 60 * 1024 * 1024;
    for (method, path, token, status) in cases {
        let mut s = TcpStream::connect(serve.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n").unwrap();
        // Little enough to sit in socket buffers: the server never has to read it.
        let _ = s.write_all(&vec![b'x'; 64 * 1024]);
        // Most of the body is never sent: the answer must come anyway.
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        let got: u16 = String::from_utf8_lossy(&head[9..12]).parse().unwrap();
        assert_eq!(got, status, "{method} {path} as {token:?}");
    }
    // Nothing was stored, and the server is fine.
    assert_eq!(http_get(serve.addr, "/healthz").0, 200);
    let (s, _) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None);
    assert_eq!(s, 200);
    let blobs = std::fs::read_dir(dir.path().join("skilldex-data/oci/blobs/sha256")).unwrap().count();
    assert_eq!(blobs, 0, "no blob written");
    serve.stop();
}

/// Class 5: a silent or slow socket is closed after the header timeout, an idle keep-alive
/// connection too, and SIGTERM exits within the grace period even with a request stuck.
#[test]
fn silent_sockets_are_closed_and_shutdown_has_a_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &["--header-timeout", "1", "--shutdown-grace", "2"]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    let closed_within = |mut s: TcpStream| {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let start = Instant::now();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        (start.elapsed(), rest)
    };
    // Nothing sent at all.
    let (waited, _) = closed_within(TcpStream::connect(serve.addr).unwrap());
    assert!(waited < Duration::from_secs(8), "a silent socket is closed: {waited:?}");
    // Half a request head.
    let mut s = TcpStream::connect(serve.addr).unwrap();
    write!(s, "GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    let (waited, _) = closed_within(s);
    assert!(waited < Duration::from_secs(8), "a slow head is cut off: {waited:?}");
    // An idle keep-alive connection after one answer.
    let mut s = TcpStream::connect(serve.addr).unwrap();
    write!(s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (waited, answer) = closed_within(s);
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(waited < Duration::from_secs(8), "an idle keep-alive connection is closed: {waited:?}");
    // An anonymous JSON body that stops halfway is given up, not waited for.
    let mut s = TcpStream::connect(serve.addr).unwrap();
    write!(
        s,
        "POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n{{"
    )
    .unwrap();
    let (waited, answer) = closed_within(s);
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 4"), "{}", String::from_utf8_lossy(&answer));
    assert!(waited < Duration::from_secs(8), "a stalled body frees its connection: {waited:?}");

    // A request whose body never finishes does not hold the process past the grace period.
    let mut stuck = TcpStream::connect(serve.addr).unwrap();
    write!(stuck, "POST /api/v1/teams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"slug\"").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    terminate(&serve.child);
    let start = Instant::now();
    let mut serve = serve;
    let status = wait_with_timeout(&mut serve.child, Duration::from_secs(12));
    assert!(status.success(), "{status}");
    assert!(start.elapsed() < Duration::from_secs(10), "exited within the grace period: {:?}", start.elapsed());
    drop(stuck);
}

/// Class 7: URLs handed out never come from the request's Host header.
#[test]
fn urls_never_come_from_the_host_header() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let skill = skill_dir(dir.path(), "demo", "1.0.0", &[]);
    serve.ok(Some(&admin), &["publish", "--public", skill.to_str().unwrap(), "-n", "acme"]);
    let base = serve.url();
    let forged = |method: &str, path: &str, body: &str| {
        let mut s = TcpStream::connect(serve.addr).unwrap();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        let resp = String::from_utf8_lossy(&read_all(&mut s)).into_owned();
        assert!(!resp.contains("evil.example"), "{path}: {resp}");
        resp
    };
    assert!(
        forged("GET", "/api/v1/skills/acme/demo/download", "").contains(&format!("{base}/api/v1/skills/acme/demo/"))
    );
    let prepared = forged(
        "POST",
        "/api/v1/skills/acme/demo/versions",
        r#"{"version":"2.0.0","archiveSha256":"0000000000000000000000000000000000000000000000000000000000000000","archiveSize":10}"#,
    );
    assert!(prepared.contains(&format!("{base}/api/v1/uploads/")), "{prepared}");
    assert!(forged("GET", "/@acme%2fdemo", "").contains(&format!("{base}/@acme/demo/-/demo-1.0.0.tgz")));
    assert!(forged("GET", "/api/v1/resolve/acme/demo", "").contains(&format!("{}/acme/demo@sha256:", serve.addr)));
    serve.stop();
}

/// Class 8: the server contacts internal addresses only where the operator allowed them, and
/// "refused", "nothing listens there" and "not there" read alike.
#[test]
fn callers_cannot_steer_the_server_to_internal_hosts() {
    if !peers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_exactly(dir.path(), &[], &[]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    serve.ok(Some(&admin), &["skill", "create", "--public", "acme/demo"]);
    // A real registry on loopback holding a real skill artifact.
    let dist = crate::registry::DistRegistry::start(crate::registry::Auth::None);
    let skill = skill_dir(dir.path(), "demo", "1.0.0", &[]);
    let there = format!("{}/skills/demo", dist.host);
    let out = serve.cli(
        None,
        &["pack", skill.to_str().unwrap(), "--oci-layout", dir.path().join("layout").to_str().unwrap(), "-n", "acme"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let copy = skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:1.0.0", dir.path().join("layout").display()),
        &format!("docker://{there}:1.0.0"),
    ]);
    assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let references = [
        format!("{there}:1.0.0"),              // a registry that has it
        format!("{closed}/skills/demo:1.0.0"), // nothing listens
        format!("{}/skills/demo:1.0.0", dist.host.replace("127.0.0.1", "localhost")), // another spelling
        "169.254.169.254/latest/meta-data:1.0.0".to_owned(), // cloud metadata
    ];
    let asked_before = dist.log().len();
    let mut answers = Vec::new();
    for reference in &references {
        let (s, body) = register(&serve, &admin, "acme/demo", "1.0.0", reference);
        answers.push((s, body["detail"].as_str().unwrap_or("").replace(reference.as_str(), "REF")));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "all alike: {answers:#?}");
    assert_eq!(answers[0].0, 422);
    assert!(!dist.log()[asked_before..].contains("/v2/skills/demo"), "the registry was never asked");
    serve.stop();

    // Opted in, the same registry works, and a tag it lacks reads like a refused host.
    let serve = Serve::start_exactly(dir.path(), &["--allow-registry", &dist.host], &[]);
    let missing = format!("{there}:9.9.9");
    let (s, body) = register(&serve, &admin, "acme/demo", "1.0.0", &missing);
    assert_eq!((s, body["detail"].as_str().unwrap_or("").replace(&missing, "REF")), answers[0]);
    let (s, body) = register(&serve, &admin, "acme/demo", "1.0.0", format!("{there}:1.0.0"));
    assert_eq!(s, 201, "{body}");
    serve.stop();
}

/// Class 9: references into the embedded store survive a restart on another port.
#[test]
fn data_survives_a_restart_on_another_port() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let skill = skill_dir(dir.path(), "demo", "1.0.0", &[("notes.md", "n\n")]);
    let published = serve.json(Some(&admin), &["publish", "--public", skill.to_str().unwrap(), "-n", "acme"]);
    let digest = published["digest"].as_str().unwrap().to_owned();
    let first = serve.addr;
    serve.stop();

    // Holding the first port makes sure the server comes back on another.
    let _held = std::net::TcpListener::bind(first);
    let serve = Serve::start(dir.path(), &[]);
    assert_ne!(serve.addr, first);
    let resolved = serve.json(None, &["resolve", "acme/demo@1.0.0"]);
    assert_eq!(resolved["reference"], format!("{}/acme/demo@{digest}", serve.addr), "rendered with the new address");
    let dest = dir.path().join("skills");
    let lock = dir.path().join("skilldex.lock");
    serve.ok(None, &["install", "acme/demo", "--dest", dest.to_str().unwrap(), "--lock-file", lock.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dest.join("demo/notes.md")).unwrap(), "n\n");
    assert_eq!(status_of(serve.addr, "/api/v1/skills/acme/demo/versions/1.0.0/archive"), 200);
    let (s, packument) = http_json(serve.addr, "GET", "/@acme%2fdemo", None, None);
    assert_eq!(s, 200);
    let (_, listed) = http_json(serve.addr, "GET", "/registry/default/v0.1/x/dev.toolhive/skills", None, None);
    let identifier = listed["skills"][0]["packages"][0]["identifier"].as_str().unwrap();
    assert_eq!(identifier, format!("{}/acme/demo@{digest}", serve.addr), "ToolHive's list too");
    let tarball = packument["versions"]["1.0.0"]["dist"]["tarball"].as_str().unwrap();
    assert!(tarball.starts_with(&serve.url()), "{tarball}");
    assert_eq!(status_of(serve.addr, &tarball[serve.url().len()..]), 200);
    serve.stop();
}

/// Class 10: the edges every surface shares answer 400 in their own shape.
#[test]
fn ambiguous_requests_get_a_clear_400() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let twice = |path: &str| {
        let mut s = TcpStream::connect(serve.addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nAuthorization: Bearer sdx_other\r\nConnection: close\r\n\r\n").unwrap();
        let resp = String::from_utf8_lossy(&read_all(&mut s)).into_owned();
        let body: Value = serde_json::from_str(resp.split_once("\r\n\r\n").unwrap().1).unwrap_or(Value::Null);
        (resp[9..12].parse::<u16>().unwrap(), body)
    };
    let (s, body) = twice("/api/v1/me");
    assert_eq!((s, body["type"].as_str()), (400, Some("https://skilldex.dev/errors/validation-error")), "{body}");
    let (s, body) = twice("/v2/");
    assert_eq!(s, 400, "{body}");
    assert!(body["errors"][0]["code"].is_string(), "{body}");
    let (s, body) = twice("/-/whoami");
    assert_eq!(s, 400);
    assert!(body["error"].is_string(), "{body}");
    let (s, body) = twice("/registry/default/v0.1/x/dev.toolhive/skills");
    assert_eq!(s, 400);
    assert!(body["error"].is_string(), "{body}");
    let mut conn = TcpStream::connect(serve.addr).unwrap();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    write!(conn, "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nAuthorization: Bearer x\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ping}", ping.len()).unwrap();
    let resp = String::from_utf8_lossy(&read_all(&mut conn)).into_owned();
    assert!(resp.starts_with("HTTP/1.1 400"), "MCP too: {resp}");
    assert!(resp.contains("\"jsonrpc\""), "{resp}");

    let (s, body) = http_json(serve.addr, "GET", "/api/v1/audit?cursor=garbage", Some(&admin), None);
    assert_eq!(s, 400, "{body}");
    let (s, b, _) = v2_request(serve.addr, "GET", "/v2/acme/demo/tags/list?n=-1", Some(&admin), "", b"");
    assert_eq!((s, code(&b)), (400, "PAGINATION_NUMBER_INVALID".to_owned()));
    serve.stop();
}

/// The storage registry given as a bare host (no path) is gated too.
#[test]
fn a_bare_host_storage_registry_is_behind_the_gate() {
    if !peers_available() {
        return;
    }
    let reg = crate::registry::DistRegistry::start(crate::registry::Auth::None);
    let Some(site) = Site::start(Backend::Sqlite, &["--storage-registry", &reg.host]) else { return };
    let (_, bob, _) = site.private_release();
    site.serve.ok(Some(&bob), &["skill", "create", "--public", "beta/secret"]);
    let body = json!({"version": "1.0.0", "reference": format!("{}/acme/secret:1.0.0", reg.host)});
    let (s, body) = site.call("POST", "/api/v1/skills/beta/secret/versions", Some(&bob), Some(body));
    assert_eq!(s, 422, "{body}");
    assert_eq!(site.call("GET", "/api/v1/skills/beta/secret/versions", Some(&bob), None).1["data"], json!([]));
    site.serve.stop();
}

/// Class 1 again, with uploads stored in a registry of the server's own: its repositories
/// are read with the server's credentials, so only what the caller may pull is read.
#[test]
fn the_storage_registry_is_behind_the_gate_too() {
    if !peers_available() {
        return;
    }
    let reg = crate::registry::DistRegistry::start(crate::registry::Auth::None);
    let storage = format!("{}/store", reg.host);
    let Some(site) = Site::start(Backend::Sqlite, &["--storage-registry", &storage]) else { return };
    let (alice, bob, published) = site.private_release();
    let secret = published["reference"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(&format!("{storage}/acme/secret@")), "{secret}");
    let missing = secret.replace("/acme/secret@", "/acme/nothing@");

    site.serve.ok(Some(&bob), &["skill", "create", "--public", "beta/secret"]);
    // Other spellings of the storage registry's host are the storage registry too.
    let port = reg.host.rsplit_once(':').unwrap().1.to_owned();
    for spelling in [format!("127.0.0.1:0{port}"), format!("localhost:{port}")] {
        let aliased = secret.replace(&reg.host, &spelling);
        let body = json!({"version": "1.0.0", "reference": aliased});
        let (s, body) = site.call("POST", "/api/v1/skills/beta/secret/versions", Some(&bob), Some(body));
        assert_eq!(s, 422, "{spelling}: {body}");
    }
    let register = |token: &str, skill: &str, reference: &str| {
        let body = json!({"version": "1.0.0", "reference": reference});
        site.call("POST", &format!("/api/v1/skills/{skill}/versions"), Some(token), Some(body))
    };
    let (s1, stolen) = register(&bob, "beta/secret", &secret);
    let (s2, absent) = register(&bob, "beta/secret", &missing);
    assert_eq!((s1, s2), (422, 422), "{stolen} {absent}");
    let scrub = |v: &Value, r: &str| v["detail"].as_str().unwrap().replace(r, "REF");
    assert_eq!(scrub(&stolen, &secret), scrub(&absent, &missing));
    assert_eq!(site.call("GET", "/api/v1/skills/beta/secret/versions", Some(&bob), None).1["data"], json!([]));

    site.serve.ok(Some(&site.admin), &["team", "create", "gamma"]);
    site.serve.ok(Some(&site.admin), &["team", "set-member", "gamma", "alice", "--role", "publisher"]);
    site.serve.ok(Some(&alice), &["skill", "create", "gamma/secret", "--private"]);
    let (s, body) = register(&alice, "gamma/secret", &secret);
    assert_eq!(s, 201, "a member of acme may: {body}");

    // A public skill's draft in the storage registry is as hidden as on every other surface.
    site.serve.ok(Some(&alice), &["skill", "create", "--public", "acme/open"]);
    assert_eq!(site.upload(&alice, "acme/open", "1.0.0", &[], "published").0, 200);
    let (s, draft) = site.upload(&alice, "acme/open", "2.0.0", &[("plan.md", "unreleased\n")], "draft");
    assert_eq!(s, 200, "{draft}");
    site.serve.ok(Some(&bob), &["skill", "create", "--public", "beta/open"]);
    let by_tag = format!("{storage}/acme/open:2.0.0");
    let by_digest = draft["reference"].as_str().unwrap().to_owned();
    for reference in [&by_tag, &by_digest] {
        let body = json!({"version": "2.0.0", "reference": reference});
        let (s, body) = site.call("POST", "/api/v1/skills/beta/open/versions", Some(&bob), Some(body));
        assert_eq!(s, 422, "{reference}: {body}");
    }
    let body = json!({"version": "1.0.0", "reference": format!("{storage}/acme/open:1.0.0")});
    let (s, body) = site.call("POST", "/api/v1/skills/beta/open/versions", Some(&bob), Some(body));
    assert_eq!(s, 201, "the released version is public: {body}");
    site.serve.stop();
}

/// A tiny HTTP peer on loopback, in Python: `mode` `redirect` answers every registry request
/// with a redirect (or a token realm) to `target`; `log` answers 200 and logs each request.
struct Peer {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    log: std::path::PathBuf,
}

impl Peer {
    fn start(dir: &std::path::Path, mode: &str, target: &str) -> Peer {
        let log = dir.join(format!("peer-{}.log", rand_suffix()));
        let script = r#"
import http.server, sys
mode, target, log = sys.argv[1], sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        open(log, "a").write(self.command + " " + self.path + " auth=" + str(self.headers.get("Authorization")) + "\n")
        if mode == "challenge":
            # Asks for a token from itself, to see whose credentials arrive.
            realm = "http://127.0.0.1:%d/token" % self.server.server_address[1]
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="%s",service="x"' % realm)
            self.send_header("Content-Length", "0"); self.end_headers(); return
        if mode == "log":
            self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers(); return
        if mode == "huge":
            # No digest header, then a manifest far over any sane size, sent without a length.
            self.send_response(200); self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.end_headers()
            if self.command == "GET" and self.path != "/v2/":
                try:
                    for _ in range(64):
                        self.wfile.write(b" " * (1 << 20))
                except Exception:
                    pass
            return
        if self.path == "/v2/" and target.startswith("realm:"):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="%s",service="x",scope="repository:x/y:pull"' % target[6:])
            self.send_header("Content-Length", "0"); self.end_headers(); return
        if self.path == "/v2/":
            self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(302); self.send_header("Location", target); self.send_header("Content-Length", "0"); self.end_headers()
    do_GET = do_HEAD = answer
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
        let mut child = std::process::Command::new("python3")
            .args(["-c", script, mode, target, log.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let addr = format!("127.0.0.1:{}", line.trim()).parse().unwrap();
        Peer { child, addr, log }
    }

    fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Class 8, every hop: an allowed registry cannot hand the server on to an internal address
/// by a redirect or a token realm; the internal service never hears from the server.
#[test]
fn redirects_and_token_realms_cannot_reach_internal_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let victim = Peer::start(dir.path(), "log", "");
    let secret = format!("http://{}/admin/secret", victim.addr);
    let redirector = Peer::start(dir.path(), "redirect", &secret);
    let realm = Peer::start(dir.path(), "redirect", &format!("realm:{secret}"));
    let allow = |p: &Peer| p.addr.to_string();
    let serve = Serve::start_exactly(
        dir.path(),
        &["--allow-registry", &allow(&redirector), "--allow-registry", &allow(&realm)],
        &[],
    );
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    serve.ok(Some(&admin), &["skill", "create", "--public", "acme/demo"]);
    for peer in [&redirector, &realm] {
        let (s, body) = register(&serve, &admin, "acme/demo", "1.0.0", format!("{}/x/y:1.0.0", peer.addr));
        assert!(s >= 400, "{body}");
        assert!(!peer.requests().is_empty(), "the allowed registry was asked");
    }
    let creds = json!({"version": "1.0.0", "reference": format!("{}/x/y:1.0.0", realm.addr),
        "registryCredentials": {"username": "u", "password": "p"}});
    let (s, _) = http_json(serve.addr, "POST", "/api/v1/skills/acme/demo/versions", Some(&admin), Some(&creds));
    assert!(s >= 400);
    assert_eq!(victim.requests(), "", "the internal service was never contacted");
    serve.stop();
}

/// A registry's credentials go to that registry (and its realm) only: when its `/v2/`
/// redirects elsewhere, the other host's challenge gets nothing (ContainerDrip).
#[test]
fn credentials_never_follow_a_redirect_to_another_host() {
    let dir = tempfile::tempdir().unwrap();
    let evil = Peer::start(dir.path(), "challenge", "");
    let registry = Peer::start(dir.path(), "redirect", &format!("http://{}/v2/", evil.addr));
    let allow = [evil.addr.to_string(), registry.addr.to_string()];
    let serve = Serve::start_exactly(dir.path(), &["--allow-registry", &allow[0], "--allow-registry", &allow[1]], &[]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    serve.ok(Some(&admin), &["skill", "create", "--public", "acme/demo"]);
    let body = json!({"version": "1.0.0", "reference": format!("{}/x/y:1.0.0", registry.addr),
        "registryCredentials": {"username": "me", "password": "for-the-registry-only"}});
    let (s, _) = http_json(serve.addr, "POST", "/api/v1/skills/acme/demo/versions", Some(&admin), Some(&body));
    assert!(s >= 400);
    assert!(!evil.requests().is_empty(), "the redirect was followed");
    assert!(evil.requests().lines().all(|l| l.ends_with("auth=None")), "{}", evil.requests());
    serve.stop();
}

/// Class 4 on the way in: a registry that answers with an endless manifest (and no digest
/// header) gets a clear error, and the server does not read more than a manifest may be.
#[test]
fn a_registry_cannot_make_the_server_buffer_a_huge_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let huge = Peer::start(dir.path(), "huge", "");
    let serve = Serve::start_exactly(dir.path(), &["--allow-registry", &huge.addr.to_string()], &[]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    serve.ok(Some(&admin), &["skill", "create", "--public", "acme/demo"]);
    let peak_kib = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", serve.child.id())).unwrap();
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap()
    };
    let before = peak_kib();
    let (s, body) = register(&serve, &admin, "acme/demo", "1.0.0", format!("{}/x/y:1.0.0", huge.addr));
    assert_eq!(s, 413, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("more than 4194304 bytes"), "{body}");
    // Buffering the answer takes at least its 64 MiB. The first fetch also starts the egress
    // proxy and the registry client, which under the whole suite's load has peaked 32.2 MiB
    // higher, so the bar sits between the two.
    let grew = peak_kib().saturating_sub(before);
    assert!(grew < 48 * 1024, "the 64 MiB answer was not buffered: the peak grew by {grew} KiB");
    serve.stop();
}

/// Class 5, crowding: one client holding its share of connections does not lock out others.
#[test]
fn one_client_cannot_take_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &["--max-connections-per-client", "3", "--header-timeout", "30"]);
    let held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(serve.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    // A fourth connection from the same address is closed at once…
    let mut fourth = TcpStream::connect(serve.addr).unwrap();
    fourth.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(fourth, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let answer = read_all(&mut fourth);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    // …while another client is served as usual.
    let probe = format!(
        "import socket; s=socket.socket(); s.bind(('127.0.0.2',0)); s.connect(('127.0.0.1',{})); \
         s.sendall(b'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'); print(s.recv(12).decode())",
        serve.addr.port()
    );
    let out = std::process::Command::new("python3").args(["-c", &probe]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "HTTP/1.1 200", "{}", String::from_utf8_lossy(&out.stderr));
    drop(held);
    serve.stop();
}
