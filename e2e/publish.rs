//! Skills as OCI artifacts in a real registry (CNCF distribution): publish, register,
//! resolve, interop with skopeo, foreign layouts, hostile bundles, registry outages.

use serde_json::json;

use crate::common::*;
use crate::registry::{Auth, DistRegistry, peers_available, sha256, skopeo, write_layout};

#[test]
fn publish_resolve_and_read_back_with_skopeo() {
    if !peers_available() {
        return;
    }
    let reg = DistRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    publish_resolve_suite(&serve, &admin, dir.path(), &format!("{}/skills/acme/demo", reg.host), &[]);
    serve.stop();
}

/// The same suite against skilldex's own embedded store: it behaves as any registry.
#[test]
fn publish_resolve_and_read_back_from_the_embedded_store() {
    if !peers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let creds = ["--registry-username".to_owned(), "admin".to_owned(), "--registry-password".to_owned(), admin.clone()];
    publish_resolve_suite(&serve, &admin, dir.path(), &format!("{}/acme/demo", serve.addr), &creds);

    // Without --to, uploads land in the embedded store too, and private skills stay
    // installable for members because the server reads its own store directly.
    let (s, _) = http_json(
        serve.addr,
        "POST",
        "/api/v1/skills",
        Some(&admin),
        Some(&json!({"scope": "acme", "slug": "secret", "visibility": "private"})),
    );
    assert_eq!(s, 201);
    let secret = skill_dir(dir.path(), "secret", "1.0.0", &[]);
    let published = serve.json(Some(&admin), &["publish", "--public", secret.to_str().unwrap(), "-n", "acme"]);
    let reference = published["reference"].as_str().unwrap();
    assert!(reference.starts_with(&format!("{}/acme/secret@sha256:", serve.addr)), "{reference}");
    let anonymous = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{reference}")]);
    assert!(!anonymous.status.success(), "private repositories refuse anonymous pulls");
    serve.stop();
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn publish_resolve_suite(serve: &Serve, admin: &str, dir: &std::path::Path, repo: &str, push_creds: &[String]) {
    let admin = admin.to_owned();
    let v1 = skill_dir(dir, "demo", "1.0.0", &[("examples/basic.md", "Use it like this.\n")]);
    let publish = |path: &std::path::Path| {
        let mut args = vec![
            "publish".to_owned(),
            "--public".to_owned(),
            path.to_str().unwrap().to_owned(),
            "--to".into(),
            repo.to_owned(),
            "-n".into(),
            "acme".into(),
        ];
        args.extend_from_slice(push_creds);
        args
    };
    let args = publish(&v1);
    let published = serve.json(Some(&admin), &refs(&args));
    let digest = published["digest"].as_str().unwrap().to_owned();
    assert_eq!(published["status"], "published");
    assert_eq!(published["fileCount"], 2);
    assert_eq!(published["reference"], format!("{repo}@{digest}"));

    // skopeo reads exactly the bytes skilldex pushed.
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{repo}:1.0.0")]);
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    assert_eq!(sha256(&raw.stdout), digest, "byte-identical manifest");
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(index["artifactType"], "dev.toolhive.skills.v1");
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    let platform_manifest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();

    // …and copies it to an OCI layout, keeping the platform manifest's digest.
    let layout = dir.join("copied");
    let copy = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--preserve-digests",
        &format!("docker://{repo}@{platform_manifest}"),
        &format!("oci:{}:demo", layout.display()),
    ]);
    assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    let copied: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(copied["manifests"][0]["digest"], platform_manifest);

    // Resolve: exact, range, channel, latest.
    let resolved = serve.json(None, &["resolve", "acme/demo@^1"]);
    assert_eq!(resolved["digest"], digest);
    assert_eq!(resolved["reference"], format!("{repo}@{digest}"));
    assert_eq!(resolved["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(resolved["size"], raw.stdout.len());
    assert_eq!(resolved["layout"], "toolhive");
    assert_eq!(resolved["yanked"], false);

    // Publishing the same version again is refused: versions are immutable.
    let again = serve.cli(Some(&admin), &refs(&args));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("409"), "{}", String::from_utf8_lossy(&again.stderr));

    let v11 = skill_dir(dir, "demo", "1.1.0", &[]);
    let second = serve.json(Some(&admin), &refs(&publish(&v11)));
    assert_eq!(serve.json(None, &["resolve", "acme/demo"])["version"], "1.1.0");
    assert_eq!(serve.json(None, &["resolve", "acme/demo@~1.0"])["version"], "1.0.0");
    assert_eq!(serve.json(None, &["resolve", "acme/demo@1.0.0"])["digest"], digest);
    let detail = serve.json(None, &["skill", "show", "acme/demo"]);
    assert_eq!(detail["latestVersion"], "1.1.0");
    assert!(detail["readme"].as_str().unwrap().contains("Version 1.1.0."), "README follows latest");

    // Yanked: ranges skip it, an exact pin still resolves, flagged.
    let (s, _) = http_json(serve.addr, "PUT", "/api/v1/skills/acme/demo/versions/1.1.0/yank", Some(&admin), None);
    assert_eq!(s, 200);
    assert_eq!(serve.json(None, &["resolve", "acme/demo@^1"])["version"], "1.0.0");
    let pinned = serve.json(None, &["resolve", "acme/demo@1.1.0"]);
    assert_eq!((pinned["yanked"].clone(), pinned["digest"].clone()), (json!(true), second["digest"].clone()));
    let (s, body) = http_json(serve.addr, "GET", "/api/v1/resolve/acme/demo?version=%5E2", None, None);
    assert_eq!((s, body["type"].as_str().unwrap().ends_with("not-found")), (404, true));

    // Packing is reproducible: the same directory gives the same bytes.
    let out1 = dir.join("a.tar.gz");
    let out2 = dir.join("b.tar.gz");
    serve.ok(None, &["pack", v1.to_str().unwrap(), "-o", out1.to_str().unwrap()]);
    serve.ok(None, &["pack", v1.to_str().unwrap(), "-o", out2.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out1).unwrap(), std::fs::read(&out2).unwrap());

    // Install and reinstall exactly what the lock pins.
    let dest = dir.join("project/.claude/skills");
    let lock = dir.join("project/skilldex.lock");
    let (d, l) = (dest.to_str().unwrap(), lock.to_str().unwrap());
    serve.ok(None, &["install", "acme/demo@~1.0", "--dest", d, "--lock-file", l]);
    assert_eq!(std::fs::read(dest.join("demo/SKILL.md")).unwrap(), std::fs::read(v1.join("SKILL.md")).unwrap());
    std::fs::remove_dir_all(dest.join("demo")).unwrap();
    serve.ok(None, &["install", "--locked", "--lock-file", l]);
    assert!(dest.join("demo/examples/basic.md").exists());
}

#[test]
fn artifacts_from_other_tools_register_in_every_readable_layout() {
    if !peers_available() {
        return;
    }
    let reg = DistRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let skill_md = b"---\nname: foreign\ndescription: Built elsewhere\n---\n# Foreign\n";

    // agentskills layout: files under `<name>/`, its own media types, no artifactType.
    let agentskills_layer = skilldex::bundle::testing::gz(&[
        skilldex::bundle::testing::entry(b"foreign/", b'5', b"", b""),
        skilldex::bundle::testing::entry(b"foreign/SKILL.md", b'0', skill_md, b""),
    ]);
    let config = br#"{"name":"foreign"}"#.to_vec();
    let agentskills = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.agentskills.skill.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.agentskills.skill.content.v1.tar+gzip",
                    "digest": sha256(&agentskills_layer), "size": agentskills_layer.len()}]
    });
    // A plain artifact: empty config, some artifactType, one tar+gzip layer.
    let plain_layer =
        skilldex::bundle::testing::gz(&[skilldex::bundle::testing::entry(b"SKILL.md", b'0', skill_md, b"")]);
    let empty = b"{}".to_vec();
    let plain = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.skill",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(&empty), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256(&plain_layer), "size": plain_layer.len()}]
    });

    for (i, (layout_name, manifest, blobs)) in [
        ("agentskills", agentskills, vec![config.clone(), agentskills_layer]),
        ("tar+gzip", plain, vec![empty.clone(), plain_layer]),
    ]
    .into_iter()
    .enumerate()
    {
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let layout = dir.path().join(format!("layout-{i}"));
        let blob_refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
        let digest = write_layout(&layout, "v1", &bytes, &blob_refs);
        let repo = format!("{}/elsewhere/foreign-{i}", reg.host);
        let copy = skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--preserve-digests",
            &format!("oci:{}:v1", layout.display()),
            &format!("docker://{repo}:v1"),
        ]);
        assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));

        let version = format!("1.{i}.0");
        if i == 0 {
            let (s, _) = http_json(
                serve.addr,
                "POST",
                "/api/v1/skills",
                Some(&admin),
                Some(&json!({"scope": "acme", "slug": "foreign"})),
            );
            assert_eq!(s, 201);
        }
        // Registered by tag: the tag is resolved to a digest once, here.
        let (s, v) = register(&serve, &admin, "acme/foreign", &version, format!("{repo}:v1"));
        assert_eq!(s, 201, "{layout_name}: {v}");
        assert_eq!(v["digest"], digest, "{layout_name}");
        assert_eq!(v["reference"], format!("{repo}@{digest}"));
        let resolved = serve.json(None, &["resolve", &format!("acme/foreign@{version}")]);
        assert_eq!(resolved["layout"], layout_name);
        let dest = dir.path().join(format!("installed-{i}"));
        let lock = dir.path().join(format!("lock-{i}"));
        let spec = format!("acme/foreign@{version}");
        serve.ok(None, &["install", &spec, "--dest", dest.to_str().unwrap(), "--lock-file", lock.to_str().unwrap()]);
        assert_eq!(std::fs::read(dest.join("foreign/SKILL.md")).unwrap(), skill_md, "{layout_name} installs");
    }
    serve.stop();
}

/// Changes a blob inside the registry's own storage, as a compromised or broken registry
/// would serve it: the last byte flipped, or (for JSON that must stay parseable) one
/// string replaced by another of the same length.
fn tamper(registry_root: &std::path::Path, digest: &str, replace: Option<(&str, &str)>) {
    let hex = digest.trim_start_matches("sha256:");
    let path = registry_root.join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]));
    let mut data = std::fs::read(&path).unwrap();
    match replace {
        Some((from, to)) => {
            let text = String::from_utf8(data).unwrap();
            assert!(text.contains(from));
            data = text.replacen(from, to, 1).into_bytes();
        }
        None => {
            let last = data.len() - 1;
            data[last] ^= 0xff;
        }
    }
    std::fs::write(&path, data).unwrap();
}

#[test]
fn content_the_registry_alters_is_caught_by_its_digest() {
    if !peers_available() {
        return;
    }
    let reg = DistRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let repo = format!("{}/skills/acme/demo", reg.host);
    let v1 = skill_dir(dir.path(), "demo", "1.0.0", &[]);
    let out = dir.path().join("layout");
    serve.ok(
        None,
        &[
            "pack",
            v1.to_str().unwrap(),
            "-o",
            dir.path().join("x.tgz").to_str().unwrap(),
            "--oci-layout",
            out.to_str().unwrap(),
            "-n",
            "acme",
        ],
    );
    let copy = skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--preserve-digests",
        &format!("oci:{}:1.0.0", out.display()),
        &format!("docker://{repo}:1.0.0"),
    ]);
    assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{repo}:1.0.0")]);
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let manifest = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{repo}@{manifest_digest}")]);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.stdout).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();

    tamper(&reg.root(), &layer, None);
    let (s, body) = register(&serve, &admin, "acme/demo", "1.0.0", format!("{repo}:1.0.0"));
    // demo does not exist yet: create it, then try again.
    assert_eq!(s, 404, "{body}");
    http_json(serve.addr, "POST", "/api/v1/skills", Some(&admin), Some(&json!({"scope": "acme", "slug": "demo"})));
    let (s, body) = register(&serve, &admin, "acme/demo", "1.0.0", format!("{repo}:1.0.0"));
    assert_eq!(s, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("digest mismatch"), "{body}");

    tamper(&reg.root(), &layer, None);
    tamper(&reg.root(), &manifest_digest, Some(("The demo skill", "The evil skill")));
    let (s, body) = register(&serve, &admin, "acme/demo", "1.0.0", format!("{repo}:1.0.0"));
    assert_eq!(s, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("digest mismatch"), "{body}");
    let (_, versions) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None);
    assert_eq!(versions["data"], json!([]), "nothing stored");
    serve.stop();
}

#[test]
fn hostile_bundles_wrong_digests_and_outages_store_nothing() {
    if !peers_available() {
        return;
    }
    let mut reg = DistRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let (s, _) =
        http_json(serve.addr, "POST", "/api/v1/skills", Some(&admin), Some(&json!({"scope": "acme", "slug": "demo"})));
    assert_eq!(s, 201);
    let corpus = skilldex::bundle::testing::hostile_corpus();
    let empty = b"{}".to_vec();
    for (i, (what, layer, want)) in corpus.iter().enumerate() {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.example.skill",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(&empty), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(layer), "size": layer.len()}]
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let layout = dir.path().join(format!("hostile-{i}"));
        write_layout(&layout, "v1", &bytes, &[&empty, layer]);
        let repo = format!("{}/hostile/h{i}", reg.host);
        let copy = skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--preserve-digests",
            &format!("oci:{}:v1", layout.display()),
            &format!("docker://{repo}:v1"),
        ]);
        assert!(copy.status.success(), "{what}: {}", String::from_utf8_lossy(&copy.stderr));
        let (s, body) = register(&serve, &admin, "acme/demo", "1.0.0", format!("{repo}:v1"));
        assert_eq!(s, *want, "{what}: {body}");
        assert_eq!(body["status"], *want, "{what}: problem+json");
        assert!(!body["detail"].as_str().unwrap_or("").is_empty(), "{what}");
    }

    // A reference whose digest the registry does not have, or that does not match.
    let zero = format!("{}/hostile/h0@sha256:{}", reg.host, "0".repeat(64));
    let (s, body) = register(&serve, &admin, "acme/demo", "1.0.0", zero);
    assert_eq!(s, 422, "{body}");

    // A registry that goes away mid-publish: a clear 502, no version.
    let good = skill_dir(dir.path(), "demo", "2.0.0", &[]);
    let repo = format!("{}/skills/acme/demo", reg.host);
    let published =
        serve.json(Some(&admin), &["publish", "--public", good.to_str().unwrap(), "--to", &repo, "-n", "acme"]);
    let pinned = published["reference"].as_str().unwrap().to_owned();
    reg.stop();
    let (s, body) = register(&serve, &admin, "acme/demo", "2.0.1", pinned);
    assert_eq!((s, body["type"].as_str().unwrap_or("")), (502, "https://skilldex.dev/errors/registry-error"), "{body}");

    // Nothing but 2.0.0 was stored by any of it.
    let (_, versions) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None);
    let listed: Vec<&str> =
        versions["data"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(listed, ["2.0.0"]);
    serve.stop();
}

#[test]
fn authenticated_registries_use_flags_and_the_docker_config() {
    if !peers_available() {
        return;
    }
    let reg = DistRegistry::start(Auth::Htpasswd { user: "pusher", password: "s3cret-pw" });
    let dir = tempfile::tempdir().unwrap();
    // The server reads registry credentials from its Docker config, as `docker login` writes it.
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "pusher:s3cret-pw");
    std::fs::write(docker.join("config.json"), json!({"auths": {(reg.host.clone()): {"auth": auth}}}).to_string())
        .unwrap();
    let serve = Serve::start_with_env(dir.path(), &[], &[("DOCKER_CONFIG", docker.to_str().unwrap())]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    let repo = format!("{}/skills/acme/private-demo", reg.host);
    let skill = skill_dir(dir.path(), "private-demo", "1.0.0", &[]);
    let path = skill.to_str().unwrap();

    let publish_as = |password: &str| {
        let args = [
            "publish",
            "--public",
            path,
            "--to",
            &repo,
            "-n",
            "acme",
            "--registry-username",
            "pusher",
            "--registry-password",
            password,
            "--json",
        ];
        serve.cli(Some(&admin), &args)
    };
    let denied = publish_as("wrong");
    assert!(!denied.status.success());
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(err.contains("refused access"), "{err}");
    assert!(!err.contains("wrong"), "the password is never echoed: {err}");

    let ok = publish_as("s3cret-pw");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let ok: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(ok["status"], "published", "the server pulled with the credentials the CLI pushed with");
    assert_eq!(serve.json(None, &["resolve", "acme/private-demo"])["digest"], ok["digest"]);
    // Serving the recorded version reads it with the server's own (Docker config) credentials.
    let (s, _) = http_raw(serve.addr, "GET", "/api/v1/skills/acme/private-demo/versions/1.0.0/archive", None, "", b"");
    assert_eq!(s, 200);

    // Registering on someone's behalf never lends them the server's credentials…
    serve.ok(Some(&admin), &["team", "create", "other"]);
    serve.ok(Some(&admin), &["skill", "create", "--public", "other/private-demo"]);
    let pinned = format!("{repo}@{}", ok["digest"].as_str().unwrap());
    let (s, body) = register(&serve, &admin, "other/private-demo", "1.0.0", &pinned);
    assert_eq!(s, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("refused access"), "{body}");
    // …the caller's own work, and are not kept.
    let with = json!({"version": "1.0.0", "reference": pinned,
        "registryCredentials": {"username": "pusher", "password": "s3cret-pw"}});
    let (s, body) =
        http_json(serve.addr, "POST", "/api/v1/skills/other/private-demo/versions", Some(&admin), Some(&with));
    assert_eq!(s, 201, "{body}");
    assert!(!body.to_string().contains("s3cret-pw"));

    // Installing sends registry credentials only to the host they were given for, never to
    // whatever registry the server's answer names.
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let install = |extra: &[&str]| {
        let mut args = vec!["install", "acme/private-demo", "--registry-username", "pusher", "--registry-password"];
        args.extend(["s3cret-pw"].iter().chain(extra));
        serve.command(None, &args).current_dir(&project).env("HOME", dir.path()).output().unwrap()
    };
    let refused = install(&[]);
    assert_eq!(refused.status.code(), Some(4), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(!project.join(".claude").exists());
    let ok = install(&["--registry-host", &reg.host]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(project.join(".claude/skills/private-demo/SKILL.md").exists());
    serve.stop();
}

#[test]
fn install_lock_diff_download_and_fork() {
    if !peers_available() {
        return;
    }
    let reg = DistRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    serve.ok(Some(&admin), &["team", "create", "other"]);
    let repo = format!("{}/skills/acme/demo", reg.host);
    let v1 = skill_dir(dir.path(), "demo", "1.0.0", &[("examples/basic.md", "one\ntwo\n")]);
    let v2 = skill_dir(dir.path(), "demo", "1.1.0", &[("scripts/run.sh", "#!/bin/sh\necho hi\n")]);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(v2.join("scripts/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let d1 =
        serve.json(Some(&admin), &["publish", "--public", v1.to_str().unwrap(), "--to", &repo, "-n", "acme"])["digest"]
            .clone();
    let d2 =
        serve.json(Some(&admin), &["publish", "--public", v2.to_str().unwrap(), "--to", &repo, "-n", "acme"])["digest"]
            .clone();

    // Install the newest 1.x, pinned in the lock file.
    let dest = dir.path().join("project/.claude/skills");
    let lock = dir.path().join("project/skilldex.lock");
    let (dest_s, lock_s) = (dest.to_str().unwrap(), lock.to_str().unwrap());
    serve.ok(None, &["install", "acme/demo@^1", "--dest", dest_s, "--lock-file", lock_s]);
    let installed = dest.join("demo");
    assert_eq!(std::fs::read(installed.join("SKILL.md")).unwrap(), std::fs::read(v2.join("SKILL.md")).unwrap());
    assert_eq!(std::fs::metadata(installed.join("scripts/run.sh")).unwrap().permissions().mode() & 0o777, 0o755);
    assert!(!installed.join("examples").exists());
    let pinned: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
    assert_eq!(pinned["skills"][0]["skill"], "acme/demo");
    assert_eq!(pinned["skills"][0]["requested"], "^1");
    assert_eq!(pinned["skills"][0]["version"], "1.1.0");
    assert_eq!(pinned["skills"][0]["digest"], d2);

    // --locked reports local edits instead of discarding them; with --force it restores
    // exactly the pinned content, even after a newer release.
    std::fs::write(installed.join("SKILL.md"), "tampered").unwrap();
    let v3 = skill_dir(dir.path(), "demo", "1.2.0", &[]);
    serve.ok(Some(&admin), &["publish", "--public", v3.to_str().unwrap(), "--to", &repo, "-n", "acme"]);
    let refused = serve.cli(None, &["install", "--locked", "--lock-file", lock_s]);
    assert_eq!(refused.status.code(), Some(5), "{refused:?}");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("modified: SKILL.md") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(installed.join("SKILL.md")).unwrap(), "tampered", "the edit is kept");
    serve.ok(None, &["install", "--locked", "--force", "--lock-file", lock_s]);
    assert_eq!(std::fs::read(installed.join("SKILL.md")).unwrap(), std::fs::read(v2.join("SKILL.md")).unwrap());
    let again: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
    assert_eq!(again, pinned, "--locked does not move the pin");

    // A plain install refreshes the pin.
    serve.ok(None, &["install", "acme/demo@1.0.0", "--dest", dest_s, "--lock-file", lock_s]);
    assert!(installed.join("examples/basic.md").exists() && !installed.join("scripts").exists());
    let moved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
    assert_eq!(moved["skills"][0]["digest"], d1);

    // Diff, in csreg's shape.
    let (s, diff) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/diff?from=1.0.0&to=1.1.0", None, None);
    assert_eq!(s, 200, "{diff}");
    assert_eq!(diff["summary"], json!({"added": 1, "modified": 1, "removed": 1}));
    let files: Vec<(String, String, u64, u64)> = diff["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().into(),
                f["status"].as_str().unwrap().into(),
                f["additions"].as_u64().unwrap(),
                f["deletions"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("SKILL.md".into(), "modified".into(), 2, 2),
            ("examples/basic.md".into(), "removed".into(), 0, 2),
            ("scripts/run.sh".into(), "added".into(), 2, 0),
        ]
    );
    assert!(
        serve.ok(None, &["diff", "acme/demo", "1.0.0", "1.1.0", "--stat"]).contains("1 added, 1 modified, 1 removed")
    );
    let unified = serve.ok(None, &["diff", "acme/demo", "1.0.0", "1.1.0"]);
    assert!(unified.contains("--- a/SKILL.md\n+++ b/SKILL.md\n"), "{unified}");

    // Download: csreg's answer, an archive URL that serves exactly those bytes, and a count.
    let (s, dl) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/download?version=1.0.0", None, None);
    assert_eq!(s, 200, "{dl}");
    assert_eq!(dl["version"], "1.0.0");
    assert_eq!(dl["digest"], d1);
    let url = dl["downloadUrl"].as_str().unwrap();
    let path = &url[url.find("/api/").unwrap()..];
    let mut conn = std::net::TcpStream::connect(serve.addr).unwrap();
    use std::io::{Read as _, Write as _};
    write!(conn, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let archive = &raw[split..];
    assert_eq!(archive.len() as u64, dl["archiveSizeBytes"].as_u64().unwrap());
    assert_eq!(sha256(archive), format!("sha256:{}", dl["archiveSha256"].as_str().unwrap()));
    // Counted: the two installs that asked the index above, and this download.
    assert_eq!(serve.json(None, &["skill", "show", "acme/demo"])["downloads"], 3);

    // Fork into another namespace: same artifact, remembered origin.
    let fork = serve.json(Some(&admin), &["fork", "acme/demo", "other"]);
    assert_eq!(fork["forkedFrom"], json!({"scope": "acme", "slug": "demo"}));
    assert_eq!(fork["latestVersion"], "1.2.0");
    let resolved = serve.json(None, &["resolve", "other/demo"]);
    assert_eq!(resolved["reference"], serve.json(None, &["resolve", "acme/demo"])["reference"]);

    // Private skills do not install for outsiders.
    let (s, _) = http_json(
        serve.addr,
        "PATCH",
        "/api/v1/skills/acme/demo",
        Some(&admin),
        Some(&json!({"visibility": "private"})),
    );
    assert_eq!(s, 200);
    let out = serve.cli(None, &["install", "acme/demo", "--dest", dest_s, "--lock-file", lock_s]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Not Found (404)"));
    serve.stop();
}

/// Prepares an upload of `archive` as `version` and PUTs it; returns the status and body
/// of whichever step answered last.
fn upload(serve: &Serve, token: &str, version: &str, archive: &[u8], declared_size: usize) -> (u16, serde_json::Value) {
    let body = json!({"version": version, "archiveSha256": sha256(archive).trim_start_matches("sha256:"), "archiveSize": declared_size});
    let (s, prepared) = http_json(serve.addr, "POST", "/api/v1/skills/acme/demo/versions", Some(token), Some(&body));
    if s != 201 {
        return (s, prepared);
    }
    let url = prepared["uploadUrl"].as_str().unwrap();
    let path = &url[url.find("/api/").unwrap()..];
    let (s, body) = http_raw(serve.addr, "PUT", path, Some(token), "application/gzip", archive);
    (s, body)
}

fn finalize(serve: &Serve, token: &str, version: &str) -> (u16, serde_json::Value) {
    let path = format!("/api/v1/skills/acme/demo/versions/{version}/finalize");
    http_json(serve.addr, "POST", &path, Some(token), Some(&json!({"status": "published", "changelog": "via upload"})))
}

#[test]
fn upload_publishing_checks_stores_and_retries() {
    if !peers_available() {
        return;
    }
    use skilldex::bundle::testing::{entry, gz};
    let mut reg = DistRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("{}/store", reg.host);
    let serve = Serve::start(dir.path(), &["--storage-registry", &storage]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);

    // The CLI without --to takes the upload path; the server stores the artifact.
    let v1 = skill_dir(dir.path(), "demo", "1.0.0", &[("notes.md", "n\n")]);
    let published = serve.json(Some(&admin), &["publish", "--public", v1.to_str().unwrap(), "-n", "acme"]);
    assert_eq!(published["status"], "published");
    let digest = published["digest"].as_str().unwrap();
    assert_eq!(published["reference"], format!("{storage}/acme/demo@{digest}"));
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{storage}/acme/demo:1.0.0")]);
    assert_eq!(sha256(&raw.stdout), digest, "the stored artifact is what the index points at");
    let dest = dir.path().join("skills");
    let lock = dir.path().join("skilldex.lock");
    serve.ok(None, &["install", "acme/demo", "--dest", dest.to_str().unwrap(), "--lock-file", lock.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dest.join("demo/notes.md")).unwrap(), "n\n");

    // The hostile corpus, through upload: refused when the archive arrives, so finalize
    // finds nothing to store.
    let corpus = skilldex::bundle::testing::hostile_corpus();
    for (what, archive, want) in &corpus {
        let (s, body) = upload(&serve, &admin, "2.0.0", archive, archive.len());
        assert_eq!(s, *want, "{what}: {body}");
        assert_eq!(body["status"], *want, "{what}: problem+json");
        let (s, body) = finalize(&serve, &admin, "2.0.0");
        assert_eq!((s, body["type"].as_str()), (409, Some("https://skilldex.dev/errors/state-conflict")), "{what}");
        assert!(body["detail"].as_str().unwrap().contains("has not been uploaded"), "{what}: {body}");
    }
    // An archive that is not what was prepared is refused at PUT.
    let good = gz(&[entry(b"SKILL.md", b'0', b"---\nname: demo\ndescription: d\n---\n", b"")]);
    assert_eq!(upload(&serve, &admin, "2.0.0", &good, good.len() + 1).0, 422);
    // A good archive: the answer names the artifact finalize will store, so it can be signed.
    // Preparing the version again leaves the first upload alone (finalize takes the newest).
    assert_eq!(upload(&serve, &admin, "2.0.0", &good, good.len()).0, 200);
    let (s, received) = upload(&serve, &admin, "2.0.0", &good, good.len());
    assert_eq!(s, 200, "{received}");
    let waiting = || std::fs::read_dir(dir.path().join("skilldex-data/uploads")).unwrap().count();
    assert_eq!(waiting(), 2, "both archives wait for finalize");
    let digest_2 = received["digest"].as_str().unwrap().to_owned();
    assert_eq!(received["reference"], format!("{storage}/acme/demo@{digest_2}"));
    // Signatures sent with finalize must be simple-signing payloads for that very artifact.
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let payload_for = |digest: &str| {
        b64(json!({"critical": {"identity": {"docker-reference": format!("{storage}/acme/demo")},
            "image": {"docker-manifest-digest": digest}, "type": "cosign container image signature"}, "optional": null})
        .to_string()
        .as_bytes())
    };
    let path = "/api/v1/skills/acme/demo/versions/2.0.0/finalize";
    for (what, signatures, want, says) in [
        (
            "for another artifact",
            json!([{"payload": payload_for(&format!("sha256:{}", "0".repeat(64))), "signature": b64(b"x")}]),
            422,
            "not this version's artifact",
        ),
        (
            "not a payload",
            json!([{"payload": b64(b"[]"), "signature": b64(b"x")}]),
            422,
            "not a simple-signing payload",
        ),
        ("payload not base64", json!([{"payload": "!!", "signature": b64(b"x")}]), 400, "not base64"),
        ("no signature", json!([{"payload": payload_for(&digest_2), "signature": ""}]), 422, "no base64 signature"),
        (
            "too many",
            json!(vec![json!({"payload": payload_for(&digest_2), "signature": b64(b"x")}); 9]),
            400,
            "at most 8",
        ),
        ("unknown field", json!([{"payload": payload_for(&digest_2), "signature": b64(b"x"), "cert": 1}]), 400, "cert"),
    ] {
        let (s, body) = http_json(serve.addr, "POST", path, Some(&admin), Some(&json!({ "signatures": signatures })));
        assert_eq!(s, want, "{what}: {body}");
        assert!(body["detail"].as_str().unwrap_or_default().contains(says), "{what}: {body}");
    }
    let (_, listed) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "refused finalizes store nothing: {listed}");
    let (s, _) = http_json(
        serve.addr,
        "POST",
        "/api/v1/skills/acme/demo/versions",
        Some(&admin),
        Some(&json!({"version": "2.0.0", "archiveSha256": "ab", "archiveSize": 10})),
    );
    assert_eq!(s, 400);
    let (s, _) = http_json(
        serve.addr,
        "POST",
        "/api/v1/skills/acme/demo/versions",
        Some(&admin),
        Some(&json!({"version": "2.0.0", "archiveSha256": "a".repeat(64), "archiveSize": 60 << 20})),
    );
    assert_eq!(s, 413);

    // Four finalizes of one version at once: exactly one wins, the others are told why.
    let mut results: Vec<(u16, String)> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..4).map(|_| s.spawn(|| finalize(&serve, &admin, "2.0.0"))).collect();
        racers.into_iter().map(|r| r.join().unwrap()).map(|(s, b)| (s, b["detail"].to_string())).collect()
    });
    results.sort();
    assert_eq!(results.iter().map(|r| r.0).collect::<Vec<_>>(), [200, 409, 409, 409], "{results:?}");
    for (_, detail) in &results[1..] {
        assert!(detail.contains("being published") || detail.contains("already exists"), "{detail}");
    }
    let (_, listed) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None);
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "one 2.0.0 is recorded: {listed}");
    assert_eq!(waiting(), 0, "once 2.0.0 is published, no archive of it waits any more");

    // The storage registry goes away during finalize: 502, nothing visible, and a retry works.
    assert_eq!(upload(&serve, &admin, "3.0.0", &good, good.len()).0, 200);
    reg.stop();
    let (s, body) = finalize(&serve, &admin, "3.0.0");
    assert_eq!(s, 502, "{body}");
    let (_, listed) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None);
    let versions: Vec<&str> =
        listed["data"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["2.0.0", "1.0.0"]);
    reg.restart();
    let (s, body) = finalize(&serve, &admin, "3.0.0");
    assert_eq!(s, 200, "{body}");
    assert_eq!(serve.json(None, &["resolve", "acme/demo"])["version"], "3.0.0");
    serve.stop();
}

#[test]
fn token_auth_registries_and_artifacts_pushed_by_oras_py() {
    if !peers_available() {
        return;
    }
    // A registry behind a bearer-token server: pushes need the user, pulls are anonymous.
    let reg = DistRegistry::start(Auth::Token);
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let repo = format!("{}/skills/acme/tokened", reg.host);
    let skill = skill_dir(dir.path(), "tokened", "1.0.0", &[]);
    let path = skill.to_str().unwrap();
    let denied = serve.cli(Some(&admin), &["publish", "--public", path, "--to", &repo, "-n", "acme"]);
    assert!(String::from_utf8_lossy(&denied.stderr).contains("refused access"), "anonymous push is refused");
    let ok = serve.json(
        Some(&admin),
        &[
            "publish",
            "--public",
            path,
            "--to",
            &repo,
            "-n",
            "acme",
            "--registry-username",
            "skilluser",
            "--registry-password",
            "s3cret",
        ],
    );
    assert_eq!(ok["status"], "published", "the server pulled anonymously through the token flow");
    let dest = dir.path().join("skills");
    let lock = dir.path().join("skilldex.lock");
    serve.ok(
        None,
        &["install", "acme/tokened", "--dest", dest.to_str().unwrap(), "--lock-file", lock.to_str().unwrap()],
    );
    assert!(dest.join("tokened/SKILL.md").exists());

    // oras-py pushes an archive as a plain tar+gzip artifact; skilldex registers and installs it.
    let open = DistRegistry::start(Auth::None);
    let archive = dir.path().join("oras/hello.tar.gz");
    std::fs::create_dir_all(archive.parent().unwrap()).unwrap();
    let hello = skill_dir(dir.path(), "hello", "0.1.0", &[("docs/usage.md", "Say hello.\n")]);
    serve.ok(None, &["pack", hello.to_str().unwrap(), "-o", archive.to_str().unwrap()]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/peers/oras_push.py");
    let pushed = std::process::Command::new("python3")
        .arg(script)
        .args([open.host.as_str(), "third-party/hello", "0.1.0", archive.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{}", String::from_utf8_lossy(&pushed.stderr));
    let digest = String::from_utf8_lossy(&pushed.stdout).lines().last().unwrap().trim().to_owned();
    let (s, body) = register(&serve, &admin, "acme/hello", "0.1.0", format!("{}/third-party/hello:0.1.0", open.host));
    assert_eq!(s, 404, "the skill must exist first: {body}");
    let (s, _) =
        http_json(serve.addr, "POST", "/api/v1/skills", Some(&admin), Some(&json!({"scope": "acme", "slug": "hello"})));
    assert_eq!(s, 201);
    let (s, body) = register(&serve, &admin, "acme/hello", "0.1.0", format!("{}/third-party/hello:0.1.0", open.host));
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["digest"], digest, "the digest oras-py reported");
    assert_eq!(serve.json(None, &["resolve", "acme/hello"])["layout"], "tar+gzip");
    serve.ok(None, &["install", "acme/hello", "--dest", dest.to_str().unwrap(), "--lock-file", lock.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dest.join("hello/docs/usage.md")).unwrap(), "Say hello.\n");
    serve.stop();
}
