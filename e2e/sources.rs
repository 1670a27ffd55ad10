//! Sources end to end: a CNCF distribution registry filled by skopeo and oras-py with skills
//! in the ToolHive, agentskills and plain layouts (some signed, some broken), indexed by
//! sources; a push announced by the registry's own notifications; a tag that moves; an
//! upstream that goes away and comes back; credentials that never come back out.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Backend, Serve, TestDb, http_json, http_raw, on_both_backends, skill_dir};
use crate::registry::{Auth, DistRegistry, peers_available, sha256, skopeo, write_layout};

const BIN: &str = env!("CARGO_BIN_EXE_skilldex");

/// Packs `dir` as a ToolHive-layout artifact and copies it to `host/repo:tag` with skopeo;
/// the digest.
fn push_toolhive(root: &Path, dir: &Path, host: &str, repo: &str, tag: &str, creds: Option<&str>) -> String {
    // The version packed is SKILL.md's (the directory is named `<name>-<version>`).
    let version = dir.file_name().unwrap().to_str().unwrap().rsplit('-').next().unwrap().to_owned();
    let layout = root.join(format!("layout-{}-{tag}-{}", repo.replace('/', "_"), crate::common::rand_suffix()));
    let out = Command::new(BIN)
        .args(["pack", dir.to_str().unwrap(), "-o"])
        .arg(root.join("packed.tar.gz"))
        .args(["--oci-layout", layout.to_str().unwrap(), "-n", "acme", "--version", &version])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let source = format!("oci:{}:{version}", layout.display());
    let dest = format!("docker://{host}/{repo}:{tag}");
    let mut args = vec!["copy", "--dest-tls-verify=false", "--preserve-digests", &source, &dest];
    let creds_flag = creds.map(|c| format!("--dest-creds={c}"));
    if let Some(c) = &creds_flag {
        args.push(c);
    }
    let copy = skopeo(&args);
    assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    let inspect = skopeo(&["inspect", "--raw", "--tls-verify=false", &dest]);
    if creds.is_none() {
        assert!(inspect.status.success());
        return sha256(&inspect.stdout);
    }
    String::new()
}

/// Packs `dir` as a plain tar.gz and pushes it with oras-py (one tar+gzip layer, a config of
/// oras's own); the digest.
fn push_oras(root: &Path, dir: &Path, host: &str, repo: &str, tag: &str) -> String {
    let archive = root.join(format!("oras-{}-{tag}.tar.gz", repo.replace('/', "_")));
    let out =
        Command::new(BIN).args(["pack", dir.to_str().unwrap(), "-o", archive.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/peers/oras_push.py");
    let out = Command::new("python3").arg(script).args([host, repo, tag]).arg(&archive).output().unwrap();
    assert!(out.status.success(), "oras-py: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_owned()
}

/// An agentskills-layout artifact (files under `<name>/`) copied with skopeo; the digest.
fn push_agentskills(root: &Path, host: &str, repo: &str, tag: &str, name: &str) -> String {
    let skill_md = format!("---\nname: {name}\ndescription: Laid out the agentskills way\n---\n# {name}\n");
    let layer = skilldex::bundle::testing::gz(&[
        skilldex::bundle::testing::entry(format!("{name}/").as_bytes(), b'5', b"", b""),
        skilldex::bundle::testing::entry(format!("{name}/SKILL.md").as_bytes(), b'0', skill_md.as_bytes(), b""),
    ]);
    let config = json!({"name": name}).to_string().into_bytes();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.agentskills.skill.v1",
        "config": {"mediaType": "application/vnd.agentskills.skill.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.agentskills.skill.content.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}]
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let layout = root.join(format!("agentskills-{name}-{tag}"));
    let digest = write_layout(&layout, tag, &bytes, &[&config, &layer]);
    let copy = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--preserve-digests",
        &format!("oci:{}:{tag}", layout.display()),
        &format!("docker://{host}/{repo}:{tag}"),
    ]);
    assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    digest
}

fn source(serve: &Serve, admin: &str, name: &str) -> Value {
    let (s, v) = http_json(serve.addr, "GET", &format!("/api/v1/sources/{name}"), Some(admin), None);
    assert_eq!(s, 200, "{v}");
    v
}

/// `skilldex source add ARGS…`, which must succeed.
fn add_source(serve: &Serve, admin: &str, args: &[&str]) {
    let args: Vec<&str> = ["source", "add"].iter().chain(args).copied().collect();
    let out = serve.cli(Some(admin), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn sync(serve: &Serve, admin: &str, name: &str) -> Value {
    let out = serve.cli(Some(admin), &["source", "sync", name, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn resolve(serve: &Serve, token: Option<&str>, spec: &str) -> (u16, Value) {
    let (skill, version) = spec.split_once('@').unwrap();
    http_json(serve.addr, "GET", &format!("/api/v1/resolve/{skill}?version={version}"), token, None)
}

fn sources_end_to_end(backend: Backend) {
    if !peers_available() {
        return;
    }
    let Some(db) = TestDb::new(backend) else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut reg = DistRegistry::start(Auth::None);
    let host = reg.host.clone();

    // Keys and a policy: `secure` takes only versions signed with the release key.
    let keygen = Command::new(BIN).args(["keygen", "-o"]).arg(root.join("release")).output().unwrap();
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let policies = root.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("secure.yaml"),
        crate::signatures::key_policy("secure-release", "secure,mirrored", "enforce", &root.join("release.pub")),
    )
    .unwrap();

    // The registry as a team keeps it: three layouts, a tag that is not a version, a broken
    // version, a repository outside the prefix.
    let reviewer_1 =
        push_toolhive(root, &skill_dir(root, "reviewer", "1.0.0", &[]), &host, "skills/acme/reviewer", "1.0.0", None);
    let reviewer_11 =
        push_toolhive(root, &skill_dir(root, "reviewer", "1.1.0", &[]), &host, "skills/acme/reviewer", "v1.1.0", None);
    push_toolhive(root, &skill_dir(root, "reviewer", "1.1.0", &[]), &host, "skills/acme/reviewer", "latest", None);
    // Its SKILL.md says 9.9.9: a tag that says otherwise fails, and is reported.
    push_oras(root, &skill_dir(root, "reviewer", "9.9.9", &[]), &host, "skills/acme/reviewer", "1.2.0");
    let foreign = push_agentskills(root, &host, "skills/acme/foreign", "1.0.0", "foreign");
    let plain = push_oras(root, &skill_dir(root, "plain", "0.1.0", &[]), &host, "skills/acme/plain", "0.1.0");
    push_toolhive(root, &skill_dir(root, "outsider", "1.0.0", &[]), &host, "elsewhere/outsider", "1.0.0", None);
    let signed =
        push_toolhive(root, &skill_dir(root, "demo", "1.0.0", &[]), &host, "skills/secure/demo", "1.0.0", None);
    push_toolhive(root, &skill_dir(root, "demo", "1.1.0", &[]), &host, "skills/secure/demo", "1.1.0", None);
    let sign = Command::new(BIN)
        .args(["sign", &format!("{host}/skills/secure/demo@{signed}"), "--key"])
        .arg(root.join("release.key"))
        .output()
        .unwrap();
    assert!(sign.status.success(), "{}", String::from_utf8_lossy(&sign.stderr));

    let mut flags: Vec<&str> = db.args();
    flags.extend(["--policies", policies.to_str().unwrap(), "--source-metrics"]);
    let serve = Serve::start(root, &flags);
    let admin = serve.admin_token();
    for team in ["acme", "secure", "mirrored"] {
        serve.ok(Some(&admin), &["team", "create", team]);
    }
    serve.ok(Some(&admin), &["user", "create", "pat", "--email", "pat@example.com"]);
    serve.ok(Some(&admin), &["team", "set-member", "acme", "pat", "--role", "owner"]);
    let pat: Value =
        serve.json(Some(&admin), &["token", "create", "--user", "pat", "--name", "pat", "--scope", "admin"]);
    let pat = pat["token"].as_str().unwrap().to_owned();

    // Only site administrators add, see or run sources; a refusal adds nothing.
    let body = json!({"name": "acme-src", "namespace": "acme", "oci": format!("{host}/skills/acme/*"), "intervalSecs": 0, "notifications": true});
    let (s, v) = http_json(serve.addr, "POST", "/api/v1/sources", None, Some(&body));
    assert_eq!(s, 401, "{v}");
    let (s, v) = http_json(serve.addr, "POST", "/api/v1/sources", Some(&pat), Some(&body));
    assert_eq!(s, 403, "a team owner is not a site administrator: {v}");
    assert_eq!(v["type"], "https://skilldex.dev/errors/insufficient-permissions");
    let (s, _) = http_json(serve.addr, "GET", "/api/v1/sources", Some(&pat), None);
    assert_eq!(s, 403);
    for (bad, why) in [
        (json!({"name": "x", "namespace": "acme", "oci": format!("{host}/skills/acme/reviewer:1.0.0")}), "a tag"),
        (json!({"name": "x", "namespace": "acme", "oci": host.clone()}), "no repository"),
        (json!({"name": "Bad Name", "namespace": "acme", "oci": format!("{host}/skills/*")}), "a bad name"),
        (json!({"name": "x", "namespace": "nobody", "oci": format!("{host}/skills/*")}), "no such team"),
        (json!({"name": "x", "namespace": "acme", "oci": format!("{host}/skills/*"), "intervalSecs": 5}), "too often"),
        (json!({"name": "x", "namespace": "acme", "oci": format!("{host}/skills/*"), "extra": 1}), "an unknown field"),
    ] {
        let (s, v) = http_json(serve.addr, "POST", "/api/v1/sources", Some(&admin), Some(&bad));
        assert!(s == 400 || s == 404, "{why}: {s} {v}");
    }
    let (_, listed) = http_json(serve.addr, "GET", "/api/v1/sources", Some(&admin), None);
    assert_eq!(listed["data"], json!([]), "refusals add nothing");
    let (s, v) =
        http_json(serve.addr, "POST", "/api/v1/sources/nobody/notifications", None, Some(&json!({"events": []})));
    assert_eq!(s, 401, "no source, no secret: the same answer as a wrong secret: {v}");

    let (s, created) = http_json(serve.addr, "POST", "/api/v1/sources", Some(&admin), Some(&body));
    assert_eq!(s, 201, "{created}");
    let notify_secret = created["notifySecret"].as_str().unwrap().to_owned();
    assert!(notify_secret.starts_with("sdxn_"));
    assert_eq!(created["notifyUrl"], format!("{}/api/v1/sources/acme-src/notifications", serve.url()));
    let (s, _) = http_json(serve.addr, "POST", "/api/v1/sources", Some(&admin), Some(&body));
    assert_eq!(s, 409, "names are unique");
    add_source(
        &serve,
        &admin,
        &[
            "secure-src",
            "--oci",
            &format!("{host}/skills/secure/demo"),
            "-n",
            "secure",
            "--every",
            "0",
            "--visibility",
            "public",
        ],
    );
    let shown = source(&serve, &admin, "acme-src");
    assert!(shown.get("notifySecret").is_none() && shown["notifications"] == true, "{shown}");
    // Nobody but a site administrator reads, runs or removes one either.
    for (method, path) in [
        ("GET", "/api/v1/sources/acme-src"),
        ("POST", "/api/v1/sources/acme-src/sync"),
        ("DELETE", "/api/v1/sources/acme-src"),
    ] {
        let (s, v) = http_json(serve.addr, method, path, Some(&pat), None);
        assert_eq!(s, 403, "{method} {path}: {v}");
        let (s, _) = http_json(serve.addr, method, path, None, None);
        assert_eq!(s, 401, "{method} {path} anonymously");
    }
    assert_eq!(source(&serve, &admin, "acme-src")["name"], "acme-src", "still there");

    // The first run (due at once, so the scheduler may have begun it; a sync waits for it):
    // every version tag under the prefix, in every layout, as the skill the artifact names;
    // the broken tag is reported with why; `latest` is not a version.
    let run = sync(&serve, &admin, "acme-src");
    let counts = &run["status"]["lastRun"];
    assert_eq!(run["status"]["lastError"], Value::Null, "{run}");
    assert_eq!(counts["repositories"], 3, "{run}");
    assert_eq!(counts["registered"].as_u64().unwrap() + counts["unchanged"].as_u64().unwrap(), 4, "{run}");
    assert_eq!((counts["failed"].as_u64(), counts["ignored"].as_u64()), (Some(1), Some(1)), "{run}");
    assert_eq!((run["tags"]["registered"].as_u64(), run["tags"]["failed"].as_u64()), (Some(4), Some(1)), "{run}");
    let problem = &run["problems"][0];
    assert_eq!(
        (problem["repository"].as_str(), problem["tag"].as_str()),
        (Some("skills/acme/reviewer"), Some("1.2.0"))
    );
    assert!(problem["detail"].as_str().unwrap().contains("9.9.9"), "{problem}");
    for (spec, digest, layout) in [
        ("acme/reviewer@1.0.0", &reviewer_1, "toolhive"),
        ("acme/reviewer@1.1.0", &reviewer_11, "toolhive"),
        ("acme/foreign@1.0.0", &foreign, "agentskills"),
        ("acme/plain@0.1.0", &plain, "tar+gzip"),
    ] {
        let (s, v) = resolve(&serve, Some(&admin), spec);
        assert_eq!(s, 200, "{spec}: {v}");
        assert_eq!(&v["digest"], digest.as_str(), "{spec}: same digest as in the registry");
        assert_eq!(v["layout"], layout, "{spec}");
        assert!(v["reference"].as_str().unwrap().starts_with(&format!("{host}/skills/acme/")), "{v}");
        // Private unless the source says otherwise.
        assert_eq!(resolve(&serve, None, spec).0, 404, "{spec}");
    }
    assert_eq!(resolve(&serve, Some(&admin), "acme/outsider@1.0.0").0, 404, "outside the prefix");
    let install = root.join("installed");
    serve.install_into(Some(&admin), "acme/foreign@1.0.0", &install);
    assert!(std::fs::read_to_string(install.join("foreign/SKILL.md")).unwrap().contains("agentskills way"));
    let (_, audit) = http_json(serve.addr, "GET", "/api/v1/audit?limit=50", Some(&admin), None);
    let via_source = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "version.publish" && e["detail"]["source"] == "source")
        // secure-src's first run may have begun on its own meanwhile: only acme's count here.
        .filter(|e| e["target"].as_str().is_some_and(|t| t.starts_with("acme/")))
        .count();
    assert_eq!(via_source, 4, "each version is audited as coming from a source");

    // Signed and unsigned under an enforcing policy: the signed one comes in verified, the
    // other is refused and reported.
    let run = sync(&serve, &admin, "secure-src");
    assert_eq!(run["tags"]["registered"], 1, "{run}");
    assert_eq!(run["tags"]["failed"], 1, "{run}");
    assert!(run["problems"][0]["detail"].as_str().unwrap().contains("trust policy"), "{run}");
    let (s, v) = resolve(&serve, None, "secure/demo@1.0.0");
    assert_eq!((s, v["signature"]["status"].as_str()), (200, Some("verified")), "{v}");
    assert_eq!(resolve(&serve, None, "secure/demo@1.1.0").0, 404);

    // A mirror of the same repository: the artifact and its signature are copied into the
    // server's own store, digests unchanged, and recorded there.
    add_source(
        &serve,
        &admin,
        &[
            "mirror-src",
            "--oci",
            &format!("{host}/skills/secure/demo"),
            "-n",
            "mirrored",
            "--every",
            "0",
            "--visibility",
            "public",
            "--mirror",
        ],
    );
    let run = sync(&serve, &admin, "mirror-src");
    assert_eq!((run["mirror"].as_bool(), run["tags"]["registered"].as_u64()), (Some(true), Some(1)), "{run}");
    let (s, mirrored) = resolve(&serve, None, "mirrored/demo@1.0.0");
    assert_eq!(s, 200, "{mirrored}");
    assert_eq!(mirrored["digest"], signed.as_str(), "the copy has the upstream's digest");
    assert_eq!(mirrored["reference"], format!("{}/mirrored/demo@{signed}", serve.addr), "recorded where the copy is");
    assert_eq!(mirrored["signature"]["status"], "verified", "{mirrored}");

    // A ToolHive upstream file: valid entries (one pinned by digest, one by tag, pinned once),
    // a duplicate, an invalid one, one without a package, one naming another skill.
    serve.ok(Some(&admin), &["team", "create", "upstream"]);
    let package = |identifier: String, digest: Option<&str>| {
        let mut p = json!({"registryType": "oci", "identifier": identifier});
        if let Some(d) = digest {
            p["digest"] = json!(d);
        }
        json!([p])
    };
    let upstream = json!({"version": "1.0.0", "meta": {"last_updated": "2026-12-01T00:00:00Z"}, "data": {"servers": [], "skills": [
        {"namespace": "io.example", "name": "plain", "description": "d", "version": "0.1.0", "packages": package(format!("{host}/skills/acme/plain:0.1.0"), None)},
        {"namespace": "io.example", "name": "foreign", "description": "d", "version": "1.0.0", "packages": package(format!("{host}/skills/acme/foreign"), Some(&foreign))},
        {"namespace": "io.example", "name": "plain", "description": "again", "version": "0.1.0", "packages": package(format!("{host}/skills/acme/plain:0.1.0"), None)},
        {"namespace": "io.example", "name": "Not A Name", "description": "d", "version": "1"},
        {"namespace": "io.example", "name": "nopkg", "description": "d", "version": "1.0.0", "packages": []},
        {"namespace": "io.example", "name": "other", "description": "d", "version": "1.0.0", "packages": package(format!("{host}/skills/acme/plain:0.1.0"), None)}
    ]}});
    let catalog_file = root.join("upstream.json");
    std::fs::write(&catalog_file, upstream.to_string()).unwrap();
    add_source(
        &serve,
        &admin,
        &["upstream-file", "--catalog", &format!("file:{}", catalog_file.display()), "-n", "upstream", "--every", "0"],
    );
    let run = sync(&serve, &admin, "upstream-file");
    assert_eq!(run["kind"], "catalog");
    assert_eq!((run["tags"]["registered"].as_u64(), run["tags"]["failed"].as_u64()), (Some(2), Some(4)), "{run}");
    let details: Vec<&str> =
        run["problems"].as_array().unwrap().iter().map(|p| p["detail"].as_str().unwrap()).collect();
    for expected in ["twice", "not a skill name", "no OCI package", "is the skill `plain`"] {
        assert!(details.iter().any(|d| d.contains(expected)), "{expected}: {details:?}");
    }
    assert_eq!(resolve(&serve, Some(&admin), "upstream/plain@0.1.0").1["digest"], plain.as_str(), "pinned once");
    assert_eq!(resolve(&serve, Some(&admin), "upstream/foreign@1.0.0").1["digest"], foreign.as_str());
    assert_eq!(resolve(&serve, Some(&admin), "upstream/other@1.0.0").0, 404);

    // A catalog entry naming a private skill in this server's own store reads it as nobody
    // would: not found, and not copied into a public namespace.
    let out =
        serve.cli(Some(&admin), &["publish", skill_dir(root, "secret", "1.0.0", &[]).to_str().unwrap(), "-n", "acme"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let leak = json!({"data": {"skills": [{"name": "secret", "version": "1.0.0", "description": "d",
        "packages": package(format!("{}/acme/secret:1.0.0", serve.addr), None)}]}});
    let leak_file = root.join("leak.json");
    std::fs::write(&leak_file, leak.to_string()).unwrap();
    let leak_location = format!("file:{}", leak_file.display());
    add_source(
        &serve,
        &admin,
        &["leaky", "--catalog", &leak_location, "-n", "upstream", "--every", "0", "--visibility", "public"],
    );
    let run = sync(&serve, &admin, "leaky");
    assert_eq!(run["tags"]["failed"], 1, "{run}");
    assert_eq!(resolve(&serve, None, "upstream/secret@1.0.0").0, 404);
    assert_eq!(resolve(&serve, Some(&admin), "upstream/secret@1.0.0").0, 404, "nothing was copied");

    // The same file from a git repository.
    let git_repo = root.join("catalog-repo");
    std::fs::create_dir_all(git_repo.join("registry")).unwrap();
    std::fs::write(git_repo.join("registry/skills.json"), upstream.to_string()).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git").current_dir(&git_repo).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "--quiet", "--initial-branch", "main"]);
    git(&["add", "."]);
    git(&["-c", "user.name=e2e", "-c", "user.email=e2e@example.com", "commit", "--quiet", "-m", "catalog"]);
    serve.ok(Some(&admin), &["team", "create", "gitcat"]);
    let location = format!("git+file://{}?ref=main#registry/skills.json", git_repo.display());
    add_source(&serve, &admin, &["upstream-git", "--catalog", &location, "-n", "gitcat", "--every", "0"]);
    let run = sync(&serve, &admin, "upstream-git");
    assert_eq!((run["tags"]["registered"].as_u64(), run["tags"]["failed"].as_u64()), (Some(2), Some(4)), "{run}");
    assert_eq!(resolve(&serve, Some(&admin), "gitcat/foreign@1.0.0").1["digest"], foreign.as_str());
    for (bad, why) in [
        (format!("git+file://{}#../../etc/passwd", git_repo.display()), "a path out of the repository"),
        ("git+ext::sh -c touch% /tmp/pwned#x.json".to_owned(), "another transport"),
        (format!("git+file://{}?ref=--upload-pack=x#registry/skills.json", git_repo.display()), "an option as a ref"),
    ] {
        let body = json!({"name": "bad-git", "namespace": "gitcat", "catalog": bad});
        let (s, v) = http_json(serve.addr, "POST", "/api/v1/sources", Some(&admin), Some(&body));
        assert_eq!(s, 400, "{why}: {v}");
    }
    {
        let body = json!({"name": "cat-creds", "namespace": "gitcat", "catalog": location,
            "credentials": {"username": "u", "password": "p"}});
        let (s, v) = http_json(serve.addr, "POST", "/api/v1/sources", Some(&admin), Some(&body));
        assert_eq!(s, 400, "a catalog never uses credentials: {v}");
    }
    let body = json!({"name": "bad-git", "namespace": "gitcat", "catalog": "git+https://example.com/r.git#../x"});
    let (s, v) = http_json(serve.addr, "POST", "/api/v1/sources", Some(&admin), Some(&body));
    assert_eq!(s, 400, "a path out of an https repository: {v}");

    // Another skilldex's ToolHive listing as a catalog: its public skills, pinned by digest.
    let other_dir = root.join("other-site");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = Serve::start(&other_dir, &[]);
    let other_admin = other.admin_token();
    other.ok(Some(&other_admin), &["team", "create", "peer"]);
    let listing = format!("{}/registry/default/v0.1/x/dev.toolhive/skills", serve.url());
    add_source(&other, &other_admin, &["peer", "--catalog", &listing, "-n", "peer", "--every", "0"]);
    let run = sync(&other, &other_admin, "peer");
    assert_eq!(run["status"]["lastError"], Value::Null, "{run}");
    // secure/demo and mirrored/demo are both public there: one namespace here holds one
    // demo@1.0.0, so the second entry is reported, not merged.
    assert_eq!((run["tags"]["registered"].as_u64(), run["tags"]["failed"].as_u64()), (Some(1), Some(1)), "{run}");
    assert!(run["problems"][0]["detail"].as_str().unwrap().contains("twice"), "{run}");
    let (s, v) = resolve(&other, Some(&other_admin), "peer/demo@1.0.0");
    assert_eq!((s, v["digest"].as_str()), (200, Some(signed.as_str())), "{v}");
    let (_, metrics) = crate::common::http_get(other.addr, "/metrics");
    assert!(!metrics.contains("skilldex_source"), "sources stay off /metrics unless asked: {metrics}");
    // The heap as the server's allocator sees it: some bytes allocated, at least as many held.
    let gauge = |name: &str| -> u64 {
        let line = metrics.lines().find_map(|l| l.strip_prefix(&format!("{name} ")));
        line.and_then(|n| n.trim().parse().ok()).unwrap_or_else(|| panic!("{name} is exported: {metrics}"))
    };
    let (allocated, resident) = (gauge("skilldex_heap_allocated_bytes"), gauge("skilldex_heap_resident_bytes"));
    assert!(allocated > 1 << 20 && resident >= allocated, "allocated {allocated}, resident {resident}");
    other.stop();

    // Again: nothing new; the broken tag is tried again and still reported.
    let run = sync(&serve, &admin, "acme-src");
    let counts = &run["status"]["lastRun"];
    assert_eq!(
        (counts["registered"].as_u64(), counts["unchanged"].as_u64(), counts["failed"].as_u64()),
        (Some(0), Some(4), Some(1)),
        "{run}"
    );

    // A tag that moves to other content is reported; the version keeps its digest.
    let moved_to = push_toolhive(
        root,
        &skill_dir(root, "reviewer", "1.0.0", &[("extra.md", "changed")]),
        &host,
        "skills/acme/reviewer",
        "1.0.0",
        None,
    );
    assert_ne!(moved_to, reviewer_1);
    let run = sync(&serve, &admin, "acme-src");
    assert_eq!(run["status"]["lastRun"]["moved"], 1, "{run}");
    let moved = run["problems"].as_array().unwrap().iter().find(|p| p["outcome"] == "moved").unwrap();
    assert_eq!(moved["tag"], "1.0.0");
    assert_eq!(moved["digest"], reviewer_1.as_str());
    assert!(moved["detail"].as_str().unwrap().contains(&moved_to), "{moved}");
    assert_eq!(resolve(&serve, Some(&admin), "acme/reviewer@1.0.0").1["digest"], reviewer_1.as_str());

    // Harbor's webhook shape, posted with the secret: the pushed tag is taken at once.
    let harbor_pushed =
        push_toolhive(root, &skill_dir(root, "reviewer", "1.4.0", &[]), &host, "skills/acme/reviewer", "1.4.0", None);
    let harbor = json!({"type": "PUSH_ARTIFACT", "occur_at": 1, "operator": "robot", "event_data": {
        "resources": [{"digest": harbor_pushed, "tag": "1.4.0", "resource_url": format!("{host}/skills/acme/reviewer:1.4.0")}],
        "repository": {"name": "reviewer", "namespace": "skills", "repo_full_name": "skills/acme/reviewer", "repo_type": "private"}}});
    let (s, v) = http_raw(
        serve.addr,
        "POST",
        "/api/v1/sources/acme-src/notifications",
        Some(&notify_secret),
        "application/json",
        harbor.to_string().as_bytes(),
    );
    assert_eq!((s, v["accepted"].as_u64()), (202, Some(1)), "{v}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while resolve(&serve, Some(&admin), "acme/reviewer@1.4.0").0 != 200 {
        assert!(Instant::now() < deadline, "the tag Harbor announced was not taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(resolve(&serve, Some(&admin), "acme/reviewer@1.4.0").1["digest"], harbor_pushed.as_str());

    // The registry announces a push; the version is there at once, without a run.
    let (s, _) = http_raw(
        serve.addr,
        "POST",
        "/api/v1/sources/acme-src/notifications",
        Some("sdxn_wrong"),
        "application/json",
        br#"{"events":[{"action":"push","target":{"repository":"skills/acme/reviewer","tag":"1.0.0"}}]}"#,
    );
    assert_eq!(s, 401, "a notification without the secret is refused");
    reg.notify_to(&format!("{}/api/v1/sources/acme-src/notifications", serve.url()), &notify_secret);
    let pushed_at = Instant::now();
    let new =
        push_toolhive(root, &skill_dir(root, "reviewer", "1.3.0", &[]), &host, "skills/acme/reviewer", "1.3.0", None);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, v) = resolve(&serve, Some(&admin), "acme/reviewer@1.3.0");
        if s == 200 {
            assert_eq!(v["digest"], new.as_str());
            eprintln!(
                "a notified push was resolvable {} ms after skopeo started pushing",
                pushed_at.elapsed().as_millis()
            );
            break;
        }
        assert!(Instant::now() < deadline, "the notified push was not indexed: {}", reg.log());
        std::thread::sleep(Duration::from_millis(50));
    }

    // The upstream goes away: the run says why and nothing recorded changes; back, it recovers.
    // The mirrored version still installs and verifies: its signature came along.
    reg.stop();
    serve.install_into(None, "mirrored/demo@1.0.0", &root.join("from-mirror"));
    assert!(root.join("from-mirror/demo/SKILL.md").exists());
    let out =
        serve.cli(None, &["verify", "mirrored/demo@1.0.0", "--policy", policies.join("secure.yaml").to_str().unwrap()]);
    assert!(out.status.success(), "verified from the copy: {}", String::from_utf8_lossy(&out.stderr));
    let (s, v) =
        http_json(serve.addr, "POST", "/api/v1/policies/reevaluate", Some(&admin), Some(&json!({"all": true})));
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        resolve(&serve, None, "mirrored/demo@1.0.0").1["signature"]["status"],
        "verified",
        "checked again from the copy"
    );
    let out = serve.cli(
        None,
        &[
            "install",
            "secure/demo@1.0.0",
            "--dest",
            root.join("from-upstream").to_str().unwrap(),
            "--lock-file",
            root.join("c.lock").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "what was not mirrored needs its upstream");
    let run = sync(&serve, &admin, "acme-src");
    assert!(run["status"]["lastError"].as_str().unwrap().contains("reach"), "{run}");
    let (_, metrics) = crate::common::http_get(serve.addr, "/metrics");
    assert!(metrics.contains("skilldex_source_up{source=\"acme-src\"} 0"), "{metrics}");
    assert_eq!(resolve(&serve, Some(&admin), "acme/reviewer@1.3.0").0, 200);
    reg.restart();
    let run = sync(&serve, &admin, "acme-src");
    assert_eq!(run["status"]["lastError"], Value::Null, "{run}");
    let (_, metrics) = crate::common::http_get(serve.addr, "/metrics");
    assert!(metrics.contains("skilldex_source_up{source=\"acme-src\"} 1"), "{metrics}");
    assert!(metrics.contains("skilldex_source_tags{source=\"acme-src\",outcome=\"registered\"} 5"), "{metrics}");

    // Credentials: used, never returned, never logged.
    let locked = DistRegistry::start(Auth::Htpasswd { user: "puller", password: "pull-Secret-42" });
    push_toolhive(
        root,
        &skill_dir(root, "vault", "1.0.0", &[]),
        &locked.host,
        "team/vault",
        "1.0.0",
        Some("puller:pull-Secret-42"),
    );
    let password_file = root.join("password");
    std::fs::write(&password_file, "pull-Secret-42\n").unwrap();
    add_source(
        &serve,
        &admin,
        &[
            "vault",
            "--oci",
            &format!("{}/team/vault", locked.host),
            "-n",
            "acme",
            "--every",
            "0",
            "--username",
            "puller",
            "--password-file",
            password_file.to_str().unwrap(),
        ],
    );
    let run = sync(&serve, &admin, "vault");
    assert_eq!(run["tags"]["registered"], 1, "{run}");
    assert_eq!(run["credentials"], true);
    let (_, all) = http_json(serve.addr, "GET", "/api/v1/sources", Some(&admin), None);
    assert!(!all.to_string().contains("pull-Secret-42"), "the password is never returned");

    // A source acts as a token of its own: revoked, the source stops and says so.
    let tokens: Value = serve.json(Some(&admin), &["token", "list"]);
    let id = tokens["data"].as_array().unwrap().iter().find(|t| t["name"] == "source vault").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    serve.ok(Some(&admin), &["token", "revoke", &id]);
    let run = sync(&serve, &admin, "vault");
    assert!(run["status"]["lastError"].as_str().unwrap().contains("revoked"), "{run}");

    // Removed: gone from the list, the versions stay.
    serve.ok(Some(&admin), &["source", "rm", "vault"]);
    let (s, _) = http_json(serve.addr, "GET", "/api/v1/sources/vault", Some(&admin), None);
    assert_eq!(s, 404);
    assert_eq!(resolve(&serve, Some(&admin), "acme/vault@1.0.0").0, 200);
    let log = serve.log();
    assert!(!log.contains("pull-Secret-42") && !log.contains(&notify_secret), "no secret is logged");
    serve.stop();
}

on_both_backends!(sources_end_to_end);

/// The hostile bundle corpus pushed as version tags of one repository: every tag is reported
/// with why, no version or skill is recorded; and a catalog of 10 000 entries gets a status
/// for each without reading past its limits.
#[test]
fn hostile_artifacts_and_a_huge_catalog_get_a_clear_status() {
    if !peers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let reg = DistRegistry::start(Auth::None);
    let corpus = skilldex::bundle::testing::hostile_corpus();
    let empty = b"{}".to_vec();
    for (i, (what, layer, _)) in corpus.iter().enumerate() {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.example.skill",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(&empty), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(layer), "size": layer.len()}]
        });
        let tag = format!("1.0.{i}");
        let layout = root.join(format!("hostile-{i}"));
        write_layout(&layout, &tag, &serde_json::to_vec(&manifest).unwrap(), &[&empty, layer]);
        let copy = skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--preserve-digests",
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://{}/hostile/demo:{tag}", reg.host),
        ]);
        assert!(copy.status.success(), "{what}: {}", String::from_utf8_lossy(&copy.stderr));
    }
    let serve = Serve::start(root, &[]);
    let admin = serve.admin_token();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    add_source(
        &serve,
        &admin,
        &["hostile", "--oci", &format!("{}/hostile/demo", reg.host), "-n", "acme", "--every", "0"],
    );
    let run = sync(&serve, &admin, "hostile");
    assert_eq!(run["tags"]["failed"].as_u64(), Some(corpus.len() as u64), "{run}");
    assert_eq!(run["tags"]["registered"], Value::Null, "{run}");
    let problems = run["problems"].as_array().unwrap();
    assert_eq!(problems.len(), corpus.len());
    assert!(problems.iter().all(|p| !p["detail"].as_str().unwrap().is_empty()), "every tag says why: {run}");
    let (s, _) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo", Some(&admin), None);
    assert_eq!(s, 404, "no skill was left behind");

    // 10 000 entries, none with an OCI package: each is reported, the run ends.
    let entries: Vec<Value> = (0..10_000)
        .map(|i| json!({"namespace": "io.example", "name": format!("skill-{i}"), "description": "d", "version": "1.0.0", "packages": []}))
        .collect();
    let file = root.join("huge.json");
    std::fs::write(&file, json!({"version": "1.0.0", "data": {"skills": entries}}).to_string()).unwrap();
    add_source(
        &serve,
        &admin,
        &["huge", "--catalog", &format!("file:{}", file.display()), "-n", "acme", "--every", "0"],
    );
    let run = sync(&serve, &admin, "huge");
    assert_eq!(run["status"]["lastError"], Value::Null, "{run}");
    assert_eq!(run["tags"]["failed"], 10_000);
    assert_eq!(run["problems"].as_array().unwrap().len(), 100, "the status lists the first 100");
    let (_, skills) = http_json(serve.addr, "GET", "/api/v1/skills", Some(&admin), None);
    assert_eq!(skills["data"], json!([]), "nothing recorded");
    serve.stop();
}

/// An upstream that accepts connections and never answers ends the run with a clear error
/// after `--source-timeout`; a repository with more tags than one page holds is read page by
/// page to the end.
#[test]
fn silent_upstreams_time_out_and_long_tag_lists_are_paged() {
    if !peers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming() {
            held.push(conn);
        }
    });
    let reg = DistRegistry::start(Auth::None);
    // One artifact whose SKILL.md says 9.9.9, under 1005 version tags: every tag is looked at
    // and reported, none registered.
    let layer = skilldex::bundle::testing::gz(&[skilldex::bundle::testing::entry(
        b"SKILL.md",
        b'0',
        b"---\nname: paged\ndescription: d\nversion: 9.9.9\n---\n",
        b"",
    )]);
    let empty = b"{}".to_vec();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(&empty), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}]
    }))
    .unwrap();
    let layout = root.join("paged");
    write_layout(&layout, "1.0.0", &manifest, &[&empty, &layer]);
    let copy = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1.0.0", layout.display()),
        &format!("docker://{}/paged/paged:1.0.0", reg.host),
    ]);
    assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    let reg_addr: std::net::SocketAddr = reg.host.parse().unwrap();
    for i in 1..1005 {
        let (s, _) = http_raw(
            reg_addr,
            "PUT",
            &format!("/v2/paged/paged/manifests/1.0.{i}"),
            None,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        );
        assert_eq!(s, 201);
    }

    let serve = Serve::start(root, &["--source-timeout", "2"]);
    let admin = serve.admin_token();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    for (name, oci) in [("silent", format!("{silent_addr}/silent/x")), ("paged", format!("{}/paged/paged", reg.host))] {
        add_source(&serve, &admin, &[name, "--oci", &oci, "-n", "acme", "--every", "0"]);
    }
    let run = sync(&serve, &admin, "silent");
    assert!(run["status"]["lastError"].as_str().unwrap().contains("in time"), "{run}");
    assert_eq!(run["status"]["lastSuccessAt"], Value::Null, "{run}");
    let run = sync(&serve, &admin, "paged");
    assert_eq!(run["status"]["lastError"], Value::Null, "{run}");
    assert_eq!(run["status"]["lastRun"]["tags"], 1005, "every page was read: {}", run["status"]);
    assert_eq!(run["tags"]["failed"], 1005, "{}", run["tags"]);
    assert!(run["problems"][0]["detail"].as_str().unwrap().contains("9.9.9"));
    serve.stop();
}

/// A mirror into a storage registry (not the embedded store): the copy, with its signature,
/// lands there with the same digest, and installs and verifies with the upstream gone.
#[test]
fn a_mirror_into_the_storage_registry_outlives_its_upstream() {
    if !peers_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut upstream = DistRegistry::start(Auth::None);
    let storage = DistRegistry::start(Auth::None);
    let keygen = Command::new(BIN).args(["keygen", "-o"]).arg(root.join("k")).output().unwrap();
    assert!(keygen.status.success());
    let digest =
        push_toolhive(root, &skill_dir(root, "tool", "1.0.0", &[]), &upstream.host, "team/tool", "1.0.0", None);
    let sign = Command::new(BIN)
        .args(["sign", &format!("{}/team/tool@{digest}", upstream.host), "--key"])
        .arg(root.join("k.key"))
        .output()
        .unwrap();
    assert!(sign.status.success(), "{}", String::from_utf8_lossy(&sign.stderr));
    let policy = root.join("acme.yaml");
    std::fs::write(&policy, crate::signatures::key_policy("acme", "acme", "enforce", &root.join("k.pub"))).unwrap();
    let policies = root.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(&policy, policies.join("acme.yaml")).unwrap();
    let store = format!("{}/store", storage.host);
    let serve = Serve::start(root, &["--storage-registry", &store, "--policies", policies.to_str().unwrap()]);
    let admin = serve.admin_token();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    add_source(
        &serve,
        &admin,
        &[
            "m",
            "--oci",
            &format!("{}/team/tool", upstream.host),
            "-n",
            "acme",
            "--every",
            "0",
            "--mirror",
            "--visibility",
            "public",
        ],
    );
    let run = sync(&serve, &admin, "m");
    assert_eq!(run["tags"]["registered"], 1, "{run}");
    let (s, v) = resolve(&serve, None, "acme/tool@1.0.0");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["reference"], format!("{store}/acme/tool@{digest}"), "recorded in the storage registry");
    assert_eq!(v["signature"]["status"], "verified");
    upstream.stop();
    serve.install_into(None, "acme/tool@1.0.0", &root.join("dest"));
    let out = serve.cli(None, &["verify", "acme/tool@1.0.0", "--policy", policy.to_str().unwrap()]);
    assert!(out.status.success(), "the signature came along: {}", String::from_utf8_lossy(&out.stderr));
    serve.stop();
}
