//! Air-gapped transfer end to end: skills published and signed on one server (SQLite, its
//! own store) are exported with what they require, the server is stopped, and another server
//! with no registry in common (and the other database) imports the bundle: same digests,
//! same verdicts, same channels, yanks and deprecation. Importing again changes nothing; an
//! altered bundle is refused with nothing stored.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Backend, Serve, TestDb, http_json, http_raw, on_both_backends};

const BIN: &str = env!("CARGO_BIN_EXE_skilldex");

fn write_skill(root: &Path, name: &str, version: &str, requires: &[&str]) -> std::path::PathBuf {
    let dir = root.join(format!("src-{name}-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let requires = if requires.is_empty() {
        String::new()
    } else {
        format!("requires:\n{}", requires.iter().map(|r| format!("  - {r}\n")).collect::<String>())
    };
    std::fs::write(
        dir.join("SKILL.md"),
        format!(
            "---\nname: {name}\ndescription: The {name} skill\nversion: {version}\n{requires}---\n# {name} {version}\n"
        ),
    )
    .unwrap();
    dir
}

fn resolve(serve: &Serve, token: &str, spec: &str) -> (u16, Value) {
    let (skill, version) = spec.split_once('@').unwrap();
    http_json(serve.addr, "GET", &format!("/api/v1/resolve/{skill}?version={version}"), Some(token), None)
}

fn transfer_between_sites(backend: Backend) {
    let Some(db) = TestDb::new(backend) else { return };
    let base = tempfile::tempdir().unwrap();
    let (site_a, site_b, site_c) = (base.path().join("a"), base.path().join("b"), base.path().join("c"));
    for d in [&site_a, &site_b, &site_c] {
        std::fs::create_dir_all(d).unwrap();
    }
    let keygen = Command::new(BIN).args(["keygen", "-o"]).arg(base.path().join("release")).output().unwrap();
    assert!(keygen.status.success());
    let policy = base.path().join("policies");
    std::fs::create_dir_all(&policy).unwrap();
    let key = crate::signatures::key_policy("acme-release", "acme", "enforce", &base.path().join("release.pub"));
    std::fs::write(policy.join("acme.yaml"), key).unwrap();
    let policies = ["--policies", policy.to_str().unwrap()];

    // Site A: two skills, one requiring the other, signed; a channel, a yank, a deprecation.
    let a = Serve::start(&site_a, &policies);
    let admin_a = a.admin_token();
    a.ok(Some(&admin_a), &["team", "create", "acme"]);
    let key = base.path().join("release.key");
    let publish = |dir: std::path::PathBuf, extra: &[&str]| {
        let mut args =
            vec!["publish", dir.to_str().unwrap(), "-n", "acme", "--sign-key", key.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let v: Value = a.json(Some(&admin_a), &args);
        assert_eq!(v["signature"]["status"], "verified", "{v}");
        v["digest"].as_str().unwrap().to_owned()
    };
    publish(write_skill(base.path(), "base", "1.0.0", &[]), &["--public"]);
    publish(write_skill(base.path(), "app", "1.0.0", &["base@^1"]), &["--channel", "stable"]);
    publish(write_skill(base.path(), "app", "1.1.0", &["base@^1"]), &[]);
    a.ok(Some(&admin_a), &["yank", "acme/app@1.1.0"]);
    let (s, v) = http_json(
        a.addr,
        "PATCH",
        "/api/v1/skills/acme/app",
        Some(&admin_a),
        Some(&json!({"deprecated": true, "deprecatedMessage": "use acme/app2"})),
    );
    assert_eq!(s, 200, "{v}");
    let before: Vec<(String, Value)> = ["acme/app@1.0.0", "acme/app@1.1.0", "acme/base@1.0.0"]
        .iter()
        .map(|spec| (spec.to_string(), resolve(&a, &admin_a, spec).1))
        .collect();

    // An outsider exports nothing private.
    a.ok(Some(&admin_a), &["user", "create", "olga", "--email", "olga@example.com"]);
    let olga: Value = a.json(Some(&admin_a), &["token", "create", "--user", "olga", "--name", "o", "--scope", "read"]);
    let (s, _) =
        http_json(a.addr, "POST", "/api/v1/export", olga["token"].as_str(), Some(&json!({"skills": ["acme/app"]})));
    assert_eq!(s, 404, "a private skill is not found for an outsider");

    // The export: app's released versions and the base they require.
    let bundle = base.path().join("bundle.tar");
    let out = a.cli(Some(&admin_a), &["export", "acme/app", "-o", bundle.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["summary"].as_str().unwrap().starts_with("versions=3;"), "{summary}");
    let again = a.cli(Some(&admin_a), &["export", "acme/app", "-o", bundle.to_str().unwrap()]);
    assert!(!again.status.success(), "an existing bundle is never overwritten");
    a.stop();

    // Site B: another database, its own store, no network to A.
    let mut flags = db.args();
    flags.extend_from_slice(&policies);
    let b = Serve::start(&site_b, &flags);
    let admin_b = b.admin_token();
    b.ok(Some(&admin_b), &["user", "create", "pat", "--email", "pat@example.com"]);
    let pat: Value = b.json(Some(&admin_b), &["token", "create", "--user", "pat", "--name", "p", "--scope", "admin"]);
    let (s, _) = http_raw(
        b.addr,
        "POST",
        "/api/v1/import",
        pat["token"].as_str(),
        "application/x-tar",
        &std::fs::read(&bundle).unwrap(),
    );
    assert_eq!(s, 403, "only site administrators import");
    let imported: Value = b.json(Some(&admin_b), &["import", bundle.to_str().unwrap()]);
    assert_eq!((imported["imported"].as_u64(), imported["unchanged"].as_u64()), (Some(3), Some(0)), "{imported}");
    assert_eq!(imported["teamsCreated"], json!(["acme"]));
    for (spec, was) in &before {
        let (s, now) = resolve(&b, &admin_b, spec);
        assert_eq!(s, 200, "{spec}: {now}");
        assert_eq!(now["digest"], was["digest"], "{spec}: the same digest");
        assert_eq!(now["signature"]["status"], was["signature"]["status"], "{spec}: the same verdict");
        assert_eq!(now["signature"]["identity"], was["signature"]["identity"], "{spec}");
        assert_eq!(now["yanked"], was["yanked"], "{spec}");
        assert_eq!(now["deprecated"], was["deprecated"], "{spec}");
        assert!(now["reference"].as_str().unwrap().starts_with(&b.addr.to_string()), "stored in B's own store: {now}");
    }
    assert_eq!(resolve(&b, &admin_b, "acme/app@stable").1["version"], "1.0.0", "the channel came along");
    let (_, app) = http_json(b.addr, "GET", "/api/v1/skills/acme/app", Some(&admin_b), None);
    assert_eq!(app["deprecatedMessage"], "use acme/app2", "{app}");
    assert_eq!(app["visibility"], "private");
    let dest = base.path().join("installed");
    b.install_into(Some(&admin_b), "acme/app@stable", &dest);
    assert!(std::fs::read_to_string(dest.join("app/SKILL.md")).unwrap().contains("app 1.0.0"));

    // Again: nothing changes.
    let (_, audit_before) = http_json(b.addr, "GET", "/api/v1/audit?limit=100", Some(&admin_b), None);
    let again: Value = b.json(Some(&admin_b), &["import", bundle.to_str().unwrap()]);
    assert_eq!((again["imported"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(3)), "{again}");
    let (_, audit_after) = http_json(b.addr, "GET", "/api/v1/audit?limit=100", Some(&admin_b), None);
    let actions = |a: &Value| -> Vec<String> {
        a["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
    };
    let (was, now) = (actions(&audit_before), actions(&audit_after));
    assert_eq!(&now[1..], &was[..], "only the import itself is audited");
    assert_eq!(now[0], "import");
    b.stop();

    // An altered bundle, and one carrying a path outside a layout: refused, nothing stored.
    let c = Serve::start(&site_c, &policies);
    let admin_c = c.admin_token();
    let original = std::fs::read(&bundle).unwrap();
    let mut altered = original.clone();
    let offset = blob_offset(&original);
    altered[offset] ^= 0x01;
    let mut escaping = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    header.set_mode(0o644);
    // Written raw: the tar crate itself refuses to make such a name.
    let name = b"blobs/../../escape";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_cksum();
    escaping.append(&header, &b"hi"[..]).unwrap();
    let escaping = escaping.into_inner().unwrap();
    // The second skill's display name is over the limit: the first must not be stored either.
    let overlong = with_metadata(&original, |m| m["skills"][1]["displayName"] = json!("x".repeat(10_000)));
    // A version written as an array of its fields, which serde alone would read.
    let as_array = with_metadata(&original, |m| {
        let v = m["skills"][1]["versions"][0].clone();
        m["skills"][1]["versions"][0] = json!([v["version"], v["digest"], v["status"], v["changelog"]]);
    });
    for (what, body) in [
        ("altered", altered),
        ("escaping", escaping),
        ("not a tar", b"garbage".to_vec()),
        ("overlong name", overlong),
        ("version as an array", as_array),
    ] {
        let (s, v) = http_raw(c.addr, "POST", "/api/v1/import", Some(&admin_c), "application/x-tar", &body);
        assert_eq!(s, 400, "{what}: {v}");
        assert!(v["detail"].as_str().unwrap().contains("nothing was imported"), "{what}: {v}");
        if what == "version as an array" {
            assert!(v["detail"].as_str().unwrap().contains("must be JSON objects"), "{v}");
        }
    }
    let (_, teams) = http_json(c.addr, "GET", "/api/v1/teams", Some(&admin_c), None);
    assert_eq!(teams["data"], json!([]), "no team was created");
    let (_, skills) = http_json(c.addr, "GET", "/api/v1/skills", Some(&admin_c), None);
    assert_eq!(skills["data"], json!([]), "no skill was created");
    assert!(!site_c.join("escape").exists() && !site_c.join("skilldex-data/escape").exists());
    c.stop();
}

/// The bundle with its metadata changed by `change` (its blobs as they were).
fn with_metadata(tar_bytes: &[u8], change: impl Fn(&mut Value)) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    for entry in tar::Archive::new(tar_bytes).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if path == "skilldex-export.json" {
            let mut meta: Value = serde_json::from_slice(&data).unwrap();
            change(&mut meta);
            data = serde_json::to_vec(&meta).unwrap();
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        out.append_data(&mut header, &path, &data[..]).unwrap();
    }
    out.into_inner().unwrap()
}

/// Where the data of the bundle's largest blob starts in the tar.
fn blob_offset(tar_bytes: &[u8]) -> usize {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut best = (0u64, 0usize);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        if entry.path().unwrap().starts_with("blobs") && entry.size() > best.0 {
            best = (entry.size(), entry.raw_file_position() as usize);
        }
    }
    assert!(best.0 > 0);
    best.1 + 10
}

on_both_backends!(transfer_between_sites);
