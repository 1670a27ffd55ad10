//! Signatures and trust policies end to end: keys made and used by the CLI, keyless bundles
//! made by real independent signers (sigstore-python, sigstore-js) against a local mock
//! Fulcio and Rekor, against the distribution registry (referrers by fallback tag) and the
//! embedded store (referrers API).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::registry::{Auth, DistRegistry, peers_available, skopeo};

fn write(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
}

/// A trust policy over `namespace` (several: comma-separated) taking what the key
/// `pub_file` signed.
pub(crate) fn key_policy(name: &str, namespace: &str, mode: &str, pub_file: &Path) -> String {
    let namespaces: Vec<String> = namespace.split(',').map(|n| format!("\"{n}\"")).collect();
    format!(
        "apiVersion: skilldex.dev/v1\nkind: TrustPolicy\nname: {name}\nnamespaces: [{}]\nmode: {mode}\nrules:\n  - name: release\n    skills: [\"*\"]\n    authorities:\n      - name: release-key\n        key: {{ publicKeyFile: {} }}\n",
        namespaces.join(", "),
        pub_file.display()
    )
}

/// Where a test pushes: a distribution registry, or the server's own store.
enum Target {
    Distribution(DistRegistry),
    Embedded,
}

impl Target {
    fn repo(&self, serve: &Serve, ns: &str, name: &str) -> String {
        match self {
            Target::Distribution(r) => format!("{}/skills/{ns}/{name}", r.host),
            Target::Embedded => format!("{}/{ns}/{name}", serve.addr),
        }
    }
    /// The tags of `ns/name`'s repository, as skopeo lists them.
    fn tags(&self, serve: &Serve, admin: &str, ns: &str, name: &str) -> Vec<String> {
        let repo = format!("docker://{}", self.repo(serve, ns, name));
        let creds = format!("--creds=admin:{admin}");
        let mut args = vec!["list-tags", "--tls-verify=false", &repo];
        if let Target::Embedded = self {
            args.push(&creds);
        }
        let out = skopeo(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        listed["Tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect()
    }

    fn creds(&self, admin: &str) -> Vec<String> {
        match self {
            Target::Distribution(_) => Vec::new(),
            Target::Embedded => {
                vec!["--registry-username".into(), "admin".into(), "--registry-password".into(), admin.into()]
            }
        }
    }
}

fn key_signed_suite(target: Target) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let policies = root.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let keygen = |prefix: &Path| {
        let out = Command::new(BIN)
            .args(["keygen", "-o", prefix.to_str().unwrap()])
            .env_remove("SKILLDEX_KEY_PASSWORD")
            .env_remove("COSIGN_PASSWORD")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    keygen(&root.join("release"));
    keygen(&root.join("intruder"));
    keygen(&root.join("rotated"));
    let mode = std::fs::metadata(root.join("release.key")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);
    let again = Command::new(BIN).args(["keygen", "-o", root.join("release").to_str().unwrap()]).output().unwrap();
    assert!(!again.status.success(), "keygen never overwrites a key");
    write(&policies.join("acme.yaml"), &key_policy("acme-release", "acme", "enforce", &root.join("release.pub")));
    write(&policies.join("lab.yaml"), &key_policy("lab-release", "lab", "warn", &root.join("release.pub")));

    // Uploads are stored where the suite's artifacts live: distribution under `skills/`, or
    // the embedded store.
    let mut flags = vec!["--policies".to_owned(), policies.to_str().unwrap().to_owned()];
    if let Target::Distribution(r) = &target {
        flags.extend(["--storage-registry".to_owned(), format!("{}/skills", r.host)]);
    }
    let serve = Serve::start(root, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let admin = std::fs::read_to_string(root.join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    serve.ok(Some(&admin), &["team", "create", "lab"]);
    let creds = target.creds(&admin);
    let publish = |ns: &str, version: &str, key: Option<&Path>| {
        let skill = skill_dir(root, "demo", version, &[]);
        let repo = target.repo(&serve, ns, "demo");
        let mut args: Vec<String> = vec![
            "publish".into(),
            "--public".into(),
            "--json".into(),
            skill.to_str().unwrap().into(),
            "--to".into(),
            repo,
            "-n".into(),
            ns.into(),
        ];
        if let Some(k) = key {
            args.extend(["--sign-key".into(), k.to_str().unwrap().into()]);
        }
        args.extend(creds.iter().cloned());
        serve.cli(Some(&admin), &args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // Signed with the trusted key: published, and the verdict is stored and shown.
    let out = publish("acme", "1.0.0", Some(&root.join("release.key")));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["signature"]["status"], "verified", "{v}");
    assert_eq!(v["signature"]["identity"], "key:release-key");
    assert_eq!(v["signature"]["policies"][0]["rule"], "release");
    let digest = v["digest"].as_str().unwrap().to_owned();
    let resolved = serve.json(Some(&admin), &["resolve", "acme/demo@^1"]);
    assert_eq!(resolved["signature"]["status"], "verified");
    let (_, versions) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None);
    assert_eq!(versions["data"][0]["signature"]["status"], "verified", "{versions}");

    // Signing twice does not pile up duplicates, and a second key's signature sits beside
    // the first instead of replacing it.
    let reference = format!("{}@{digest}", target.repo(&serve, "acme", "demo"));
    let sign = vec!["sign".to_owned(), reference.clone(), "--key".into()];
    for key in ["release.key", "release.key", "intruder.key"] {
        let mut args = sign.clone();
        args.push(root.join(key).to_str().unwrap().into());
        args.extend(creds.iter().cloned());
        serve.ok(Some(&admin), &args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    // cosign's own check, done independently: the signature made by skilldex verifies.
    let cosign_verify = |reference: &str, public: &str| {
        let (host, rest) = reference.split_once('/').unwrap();
        let (repo_path, digest) = rest.split_once('@').unwrap();
        let mut check = Command::new("python3");
        check.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/peers/cosign_verify.py")).args([
            host,
            repo_path,
            digest,
            root.join(public).to_str().unwrap(),
        ]);
        if let Target::Embedded = target {
            check.args(["admin", &admin]);
        }
        let out = check.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success() || stdout.starts_with("VERIFIED"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    assert_eq!(cosign_verify(&reference, "release.pub"), "VERIFIED 1", "one release-key signature, not two");

    // The CLI verifies on its own, against a policy file.
    let policy_file = policies.join("acme.yaml");
    let verified = serve.cli(Some(&admin), &["verify", "acme/demo@1.0.0", "--policy", policy_file.to_str().unwrap()]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    let install_dir = root.join("project");
    std::fs::create_dir_all(&install_dir).unwrap();
    let mut install = Command::new(BIN);
    install
        .current_dir(&install_dir)
        .env("SKILLDEX_SERVER", serve.url())
        .env("SKILLDEX_TOKEN", &admin)
        .args(["install", "acme/demo@1.0.0", "--policy", policy_file.to_str().unwrap()])
        .args(&creds);
    let out = install.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(install_dir.join(".claude/skills/demo/SKILL.md").exists());

    // The wrong key, and no key: refused under enforce, with the rule and the reason.
    let out = publish("acme", "2.0.0", Some(&root.join("intruder.key")));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("acme-release") && err.contains("does not verify with this key"), "{err}");
    let out = publish("acme", "3.0.0", None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("unsigned") && err.contains("rule `release` needs a signature"), "{err}");
    let (_, versions) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None);
    assert_eq!(versions["data"].as_array().unwrap().len(), 1, "refused versions are not recorded");

    // The upload path: the server names the artifact it will store, the CLI signs it, and
    // finalize checks the signature before storing the version and the signature beside it.
    let upload = |name: &str, version: &str, key: Option<&str>| {
        let skill = skill_dir(root, name, version, &[]);
        let mut args = vec![
            "publish".to_owned(),
            "--public".to_owned(),
            "--json".to_owned(),
            skill.to_str().unwrap().into(),
            "-n".into(),
            "acme".into(),
        ];
        if let Some(k) = key {
            args.extend(["--sign-key".into(), root.join(k).to_str().unwrap().into()]);
        }
        serve.cli(Some(&admin), &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = upload("uploaded", "1.0.0", Some("release.key"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["signature"]["status"], "verified", "{v}");
    let uploaded = v["reference"].as_str().unwrap().to_owned();
    assert!(uploaded.starts_with(&target.repo(&serve, "acme", "uploaded")), "{uploaded}");
    assert_eq!(cosign_verify(&uploaded, "release.pub"), "VERIFIED 1", "the signature is stored next to the upload");
    let out = upload("uploaded", "2.0.0", Some("intruder.key"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("acme-release") && err.contains("does not verify with this key"), "{err}");
    let out = upload("uploaded", "3.0.0", None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsigned"), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, versions) = http_json(serve.addr, "GET", "/api/v1/skills/acme/uploaded/versions", Some(&admin), None);
    assert_eq!(versions["data"].as_array().unwrap().len(), 1, "refused uploads are not recorded: {versions}");
    let tags = target.tags(&serve, &admin, "acme", "uploaded");
    assert_eq!(
        tags.iter().filter(|t| t.ends_with(".sig")).count(),
        1,
        "a refused upload leaves no signature behind: {tags:?}"
    );
    assert!(!tags.contains(&"2.0.0".to_owned()) && !tags.contains(&"3.0.0".to_owned()), "{tags:?}");

    // Under warn, unsigned is accepted and flagged.
    let out = publish("lab", "1.0.0", None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["signature"]["status"], "unsigned");
    assert_eq!(v["signature"]["policies"][0]["mode"], "warn");
    let out =
        serve.cli(Some(&admin), &["verify", "lab/demo@1.0.0", "--policy", policies.join("lab.yaml").to_str().unwrap()]);
    assert!(!out.status.success(), "verify fails what is not verified");

    // Rotating the key in the policy file and reloading (SIGHUP) re-checks lazily at
    // resolve: acme/demo@1.0.0 is no longer trusted and no longer served.
    write(&policies.join("acme.yaml"), &key_policy("acme-release", "acme", "enforce", &root.join("rotated.pub")));
    write(&policies.join("broken.yaml"), "apiVersion: skilldex.dev/v1\nkind: TrustPolicy\nsurprise: true\n");
    hangup(&serve);
    let (status, _) = http_json(serve.addr, "GET", "/api/v1/resolve/acme/demo?version=1.0.0", Some(&admin), None);
    assert_eq!(status, 200, "a broken file keeps the policies in force");
    std::fs::remove_file(policies.join("broken.yaml")).unwrap();
    hangup(&serve);
    let (status, body) = http_json(serve.addr, "GET", "/api/v1/resolve/acme/demo?version=1.0.0", Some(&admin), None);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["type"], "https://skilldex.dev/errors/signature-verification-failed");
    let (_, versions) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None);
    assert_eq!(versions["data"][0]["signature"]["status"], "invalid", "the new verdict is stored: {versions}");
    // Signing with the new key and re-evaluating makes it servable again.
    let mut args =
        vec!["sign".to_owned(), reference.clone(), "--key".into(), root.join("rotated.key").to_str().unwrap().into()];
    args.extend(creds.iter().cloned());
    serve.ok(Some(&admin), &args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = serve.json(Some(&admin), &["policy", "reevaluate", "--namespace", "acme", "--all"]);
    assert_eq!(out["reevaluated"], 2, "{out}");
    let result = |skill: &str| out["results"].as_array().unwrap().iter().find(|r| r["skill"] == skill).unwrap().clone();
    assert_eq!(
        (result("acme/demo")["previous"].as_str(), result("acme/demo")["status"].as_str()),
        (Some("invalid"), Some("verified"))
    );
    // The upload signed with the old key loses its trust at once.
    assert_eq!(result("acme/uploaded")["status"], "invalid", "{out}");
    let (status, _) = http_json(serve.addr, "GET", "/api/v1/resolve/acme/demo?version=1.0.0", Some(&admin), None);
    assert_eq!(status, 200);
    serve.stop();
}

fn hangup(serve: &Serve) {
    Command::new("kill").args(["-HUP", &serve.child.id().to_string()]).status().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
}

#[test]
fn key_signatures_against_the_distribution_registry() {
    if !peers_available() {
        return;
    }
    key_signed_suite(Target::Distribution(DistRegistry::start(Auth::None)));
}

#[test]
fn key_signatures_against_the_embedded_store() {
    if !peers_available() {
        return;
    }
    key_signed_suite(Target::Embedded);
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/peers")
}

/// The local mock Sigstore (e2e/peers/mock_sigstore.js): Fulcio and Rekor on PORT, a
/// Fulcio whose certificates are already expired on PORT+1.
struct MockSigstore {
    child: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl MockSigstore {
    fn start(dir: &Path) -> Self {
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        let port =
            std::iter::repeat_with(|| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port())
                .take(50)
                .find(|p| *p < u16::MAX && free(*p + 1))
                .unwrap();
        let child = Command::new("node")
            .arg(peers_dir().join("mock_sigstore.js"))
            .args([&port.to_string(), dir.to_str().unwrap()])
            .spawn()
            .expect("node");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !dir.join("ready").exists() {
            assert!(std::time::Instant::now() < deadline, "the mock Sigstore did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        MockSigstore { child, port, dir: dir.to_owned() }
    }
}

impl Drop for MockSigstore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sigstore_peers_available() -> bool {
    let ok = Command::new("python3").args(["-c", "import sigstore"]).status().is_ok_and(|s| s.success())
        && peers_dir().join("node_modules/@sigstore/mock").exists();
    if !ok {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "the Sigstore peers are required on CI");
        eprintln!("skipping: sigstore-python or e2e/peers/node_modules missing (run e2e/test.sh)");
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn token(subject: &str, issuer: &str) -> String {
    run(Command::new("python3").arg(peers_dir().join("oidc_token.py")).args([subject, issuer])).trim().to_owned()
}

fn keyless_suite(target: Target) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mock_dir = root.join("sigstore");
    std::fs::create_dir_all(&mock_dir).unwrap();
    let mock = MockSigstore::start(&mock_dir);
    let policies = root.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    // Plain PEM keys (not cosign's encrypted form) for sigstore-js's key-signed bundles.
    for name in ["bundle", "stranger"] {
        let key = root.join(format!("{name}.pem"));
        run(Command::new("openssl").args(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out"]).arg(&key));
        run(Command::new("openssl")
            .args(["ec", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(root.join(format!("{name}.pub"))));
    }
    write(
        &policies.join("acme.yaml"),
        &format!(
            "apiVersion: skilldex.dev/v1\nkind: TrustPolicy\nname: acme-ci\nnamespaces: [acme]\nmode: enforce\nrules:\n  - name: ci\n    skills: [\"*\"]\n    authorities:\n      - name: ci\n        keyless:\n          trustedRootFile: {}\n          issuer: https://oidc.skills.test\n          subjectRegExp: \"signer@skills\\\\.test\"\n      - name: bundle-key\n        key: {{ publicKeyFile: {} }}\n",
            mock.dir.join("trusted_root.json").display(),
            root.join("bundle.pub").display()
        ),
    );
    let serve = Serve::start(root, &["--policies", policies.to_str().unwrap()]);
    let admin = std::fs::read_to_string(root.join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    serve.ok(Some(&admin), &["team", "create", "stage"]);
    let body = serde_json::json!({"scope": "acme", "slug": "demo"});
    let (status, _) = http_json(serve.addr, "POST", "/api/v1/skills", Some(&admin), Some(&body));
    assert_eq!(status, 201);
    let creds = target.creds(&admin);
    let skopeo_creds: Vec<String> = match target {
        Target::Embedded => vec![format!("--creds=admin:{admin}")],
        Target::Distribution(_) => Vec::new(),
    };

    // Each case: an artifact pushed and registered in `stage` (no policy), signed by a real
    // signer, the bundle attached next to it, then registered as a version of acme/demo.
    let stage = |version: &str| -> (String, PathBuf) {
        let skill = skill_dir(root, "demo", version, &[]);
        let mut args: Vec<String> = vec![
            "publish".into(),
            "--public".into(),
            "--json".into(),
            skill.to_str().unwrap().into(),
            "--to".into(),
            target.repo(&serve, "stage", "demo"),
            "-n".into(),
            "stage".into(),
        ];
        args.extend(creds.iter().cloned());
        let v = serve.json(Some(&admin), &args.iter().map(String::as_str).collect::<Vec<_>>());
        let reference = v["reference"].as_str().unwrap().to_owned();
        let mut inspect = Command::new("skopeo");
        inspect
            .args(["inspect", "--raw", "--tls-verify=false"])
            .args(&skopeo_creds)
            .arg(format!("docker://{reference}"));
        let bytes = run(&mut inspect);
        let manifest = root
            .join(format!("manifest-{}.json", crate::registry::sha256(bytes.as_bytes()).trim_start_matches("sha256:")));
        std::fs::write(&manifest, bytes).unwrap();
        (reference, manifest)
    };
    let attach = |reference: &str, bundle: &Path| {
        let (host, rest) = reference.split_once('/').unwrap();
        let (repo, digest) = rest.split_once('@').unwrap();
        let mut cmd = Command::new("python3");
        let manifest_size = std::fs::metadata(root.join(format!("manifest-{}.json", &digest[7..]))).unwrap().len();
        cmd.arg(peers_dir().join("attach_bundle.py")).args([
            host,
            repo,
            digest,
            &manifest_size.to_string(),
            "application/vnd.oci.image.index.v1+json",
            bundle.to_str().unwrap(),
        ]);
        if let Target::Embedded = target {
            cmd.args(["admin", &admin]);
        }
        run(&mut cmd);
    };
    let python_sign = |manifest: &Path, subject: &str, issuer: &str| -> PathBuf {
        let bundle = manifest.with_extension("sigstore.json");
        run(Command::new("python3")
            .args(["-m", "sigstore", "--trust-config"])
            .arg(mock.dir.join("trust_config.json"))
            .args([
                "sign",
                "--overwrite",
                "--identity-token",
                &token(subject, issuer),
                "--bundle",
                bundle.to_str().unwrap(),
                manifest.to_str().unwrap(),
            ]));
        bundle
    };
    let register_as = |version: &str, reference: &str| register(&serve, &admin, "acme/demo", version, reference);

    // A good signature by sigstore-python: verified, with the identity and issuer recorded.
    let (good_ref, good_manifest) = stage("1.0.0");
    let good = python_sign(&good_manifest, "signer@skills.test", "https://oidc.skills.test");
    attach(&good_ref, &good);
    let (status, v) = register_as("1.0.0", &good_ref);
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["signature"]["status"], "verified", "{v}");
    assert_eq!(v["signature"]["identity"], "signer@skills.test");
    assert_eq!(v["signature"]["issuer"], "https://oidc.skills.test");
    assert!(v["signature"]["trustRootHash"].as_str().unwrap().starts_with("sha256:"));

    // The refusals, each for its own reason.
    let refused = |version: &str, reference: &str, want: &str| {
        let (status, body) = register_as(version, reference);
        assert_eq!(status, 422, "{version}: {body}");
        assert_eq!(body["type"], "https://skilldex.dev/errors/signature-verification-failed");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("acme-ci") && detail.contains(want), "{version}: want `{want}` in {detail}");
    };
    let (r, m) = stage("1.1.0");
    attach(&r, &python_sign(&m, "intruder@skills.test", "https://oidc.skills.test"));
    refused("1.1.0", &r, "identity `intruder@skills.test`");

    let (r, m) = stage("1.2.0");
    attach(&r, &python_sign(&m, "signer@skills.test", "https://evil.test"));
    refused("1.2.0", &r, "issuer `https://evil.test`");

    // sigstore-js signs with a certificate from the Fulcio whose clock is an hour behind.
    let (r, m) = stage("1.3.0");
    let expired = m.with_extension("expired.json");
    run(Command::new("node").arg(peers_dir().join("sign_bundle.js")).args([
        "keyless",
        &format!("http://127.0.0.1:{}", mock.port + 1),
        &format!("http://127.0.0.1:{}", mock.port),
        &token("signer@skills.test", "https://oidc.skills.test"),
        m.to_str().unwrap(),
        expired.to_str().unwrap(),
    ]));
    attach(&r, &expired);
    refused("1.3.0", &r, "expired");

    // 1.0.0's good bundle attached to another artifact, as is and with its digest rewritten.
    let (r, _) = stage("1.4.0");
    attach(&r, &good);
    refused("1.4.0", &r, "copied from another artifact");
    let (r, _) = stage("1.5.0");
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    let digest = r.split_once('@').unwrap().1.trim_start_matches("sha256:");
    let raw: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&digest[i * 2..i * 2 + 2], 16).unwrap()).collect();
    use base64::Engine as _;
    doc["messageSignature"]["messageDigest"]["digest"] = base64::engine::general_purpose::STANDARD.encode(raw).into();
    let tampered = root.join("tampered.json");
    std::fs::write(&tampered, doc.to_string()).unwrap();
    attach(&r, &tampered);
    refused("1.5.0", &r, "rejected");

    // cosign's legacy keyless form: the simple-signing payload signed by sigstore-python,
    // stored as a `.sig` layer with certificate and Rekor bundle annotations.
    let legacy = |reference: &str, subject: &str| {
        let (host, rest) = reference.split_once('/').unwrap();
        let (repo, digest) = rest.split_once('@').unwrap();
        let payload = root.join(format!("payload-{}.json", &digest[7..]));
        run(Command::new("python3").arg(peers_dir().join("legacy_sig.py")).args([
            "payload",
            &format!("{host}/{repo}"),
            digest,
            payload.to_str().unwrap(),
        ]));
        let bundle = python_sign(&payload, subject, "https://oidc.skills.test");
        let mut cmd = Command::new("python3");
        cmd.arg(peers_dir().join("legacy_sig.py")).args([
            "attach",
            host,
            repo,
            digest,
            payload.to_str().unwrap(),
            bundle.to_str().unwrap(),
        ]);
        if let Target::Embedded = target {
            cmd.args(["admin", &admin]);
        }
        run(&mut cmd);
    };
    let (r, _) = stage("2.0.0");
    legacy(&r, "signer@skills.test");
    let (status, v) = register_as("2.0.0", &r);
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["signature"]["status"], "verified", "{v}");
    assert_eq!(v["signature"]["identity"], "signer@skills.test");
    assert!(v["signature"]["policies"][0]["signers"][0]["origin"].as_str().unwrap().ends_with(".sig#0"), "{v}");
    let (r, _) = stage("2.1.0");
    legacy(&r, "intruder@skills.test");
    refused("2.1.0", &r, "identity `intruder@skills.test`");

    // Sigstore bundles signed with a plain key by sigstore-js, logged in the mock Rekor.
    let key_bundle = |manifest: &Path, key: &str| -> PathBuf {
        let bundle = manifest.with_extension(format!("{key}.json"));
        run(Command::new("node").arg(peers_dir().join("sign_bundle.js")).args([
            "key",
            root.join(format!("{key}.pem")).to_str().unwrap(),
            root.join(format!("{key}.pub")).to_str().unwrap(),
            &format!("http://127.0.0.1:{}", mock.port),
            manifest.to_str().unwrap(),
            bundle.to_str().unwrap(),
        ]));
        bundle
    };
    let (r, m) = stage("3.0.0");
    attach(&r, &key_bundle(&m, "bundle"));
    let (status, v) = register_as("3.0.0", &r);
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["signature"]["status"], "verified", "{v}");
    assert_eq!(v["signature"]["identity"], "key:bundle-key", "{v}");
    let (r, m) = stage("3.1.0");
    attach(&r, &key_bundle(&m, "stranger"));
    refused("3.1.0", &r, "bundle-key:");

    // An unsigned artifact, and the good one once more: the stored verdicts stand.
    let (r, _) = stage("1.6.0");
    refused("1.6.0", &r, "unsigned");
    let (status, body) = http_json(serve.addr, "GET", "/api/v1/resolve/acme/demo?version=1.0.0", Some(&admin), None);
    assert_eq!((status, &body["signature"]["status"]), (200, &serde_json::json!("verified")), "{body}");
    serve.stop();
}

#[test]
fn keyless_bundles_against_the_distribution_registry() {
    if !peers_available() || !sigstore_peers_available() {
        return;
    }
    keyless_suite(Target::Distribution(DistRegistry::start(Auth::None)));
}

#[test]
fn keyless_bundles_against_the_embedded_store() {
    if !peers_available() || !sigstore_peers_available() {
        return;
    }
    keyless_suite(Target::Embedded);
}

/// Hostile and malformed content where signatures are looked for: each is refused for what
/// it is, promptly, without a 5xx, and junk next to a good signature does not spoil it.
fn hostile_signature_suite(target: Target) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let policies = root.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let out = Command::new(BIN).args(["keygen", "-o", root.join("release").to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    write(&policies.join("acme.yaml"), &key_policy("acme-release", "acme", "enforce", &root.join("release.pub")));
    let serve = Serve::start(root, &["--policies", policies.to_str().unwrap()]);
    let admin = std::fs::read_to_string(root.join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    serve.ok(Some(&admin), &["team", "create", "stage"]);
    let (status, _) = http_json(
        serve.addr,
        "POST",
        "/api/v1/skills",
        Some(&admin),
        Some(&serde_json::json!({"scope": "acme", "slug": "demo"})),
    );
    assert_eq!(status, 201);
    let creds = target.creds(&admin);

    // An artifact in `stage` (no policy there), to be registered as a version of acme/demo.
    let stage = |version: &str| -> String {
        let skill = skill_dir(root, "demo", version, &[]);
        let repo = target.repo(&serve, "stage", "demo");
        let mut args: Vec<String> = vec![
            "publish".into(),
            "--public".into(),
            "--json".into(),
            skill.to_str().unwrap().into(),
            "--to".into(),
            repo,
            "-n".into(),
            "stage".into(),
        ];
        args.extend(creds.iter().cloned());
        let v = serve.json(Some(&admin), &args.iter().map(String::as_str).collect::<Vec<_>>());
        v["reference"].as_str().unwrap().to_owned()
    };
    let push_raw = |reference: &str, at: &str, media_type: &str, manifest: &[u8], blobs: &[&[u8]]| -> String {
        let (host, rest) = reference.split_once('/').unwrap();
        let repo = rest.split_once('@').unwrap().0;
        let file = |name: String, data: &[u8]| {
            let p = root.join(name);
            std::fs::write(&p, data).unwrap();
            p
        };
        let mut cmd = Command::new("python3");
        cmd.arg(peers_dir().join("push_raw.py")).args([host, repo, at, media_type]);
        cmd.arg(file(format!("m-{}", crate::registry::sha256(manifest)), manifest));
        for b in blobs {
            cmd.arg(file(format!("b-{}", crate::registry::sha256(b)), b));
        }
        if let Target::Embedded = target {
            cmd.args(["--auth", "admin", &admin]);
        }
        run(&mut cmd).trim().to_owned()
    };
    let digest_of = |reference: &str| reference.split_once('@').unwrap().1.to_owned();
    let sig_tag = |reference: &str| format!("{}.sig", digest_of(reference).replace(':', "-"));
    let payload_for = |reference: &str| {
        serde_json::json!({"critical": {"identity": {"docker-reference": reference.split_once('@').unwrap().0},
            "image": {"docker-manifest-digest": digest_of(reference)}, "type": "cosign container image signature"},
            "optional": null})
        .to_string()
        .into_bytes()
    };
    let descriptor = |media_type: &str, data: &[u8], annotations: serde_json::Value| {
        serde_json::json!({"mediaType": media_type, "digest": crate::registry::sha256(data), "size": data.len(),
            "annotations": annotations})
    };
    const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    const SIMPLE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
    let sig_manifest = |layers: Vec<serde_json::Value>| {
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", b"{}", serde_json::json!({})),
            "layers": layers}))
        .unwrap()
    };
    let junk_signature = serde_json::json!({"dev.cosignproject.cosign/signature": "AAAA"});
    let refused = |version: &str, reference: &str, status: &str, want: &str| {
        let started = std::time::Instant::now();
        let (code, body) = register(&serve, &admin, "acme/demo", version, reference);
        assert_eq!(code, 422, "{version}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("({status})")) && detail.contains(want),
            "{version}: want `{want}` in {detail}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{version} took {:?}", started.elapsed());
    };

    // The `.sig` tag holds an index, not a signature manifest.
    let r = stage("1.0.0");
    let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    push_raw(&r, &sig_tag(&r), "application/vnd.oci.image.index.v1+json", index, &[]);
    refused("1.0.0", &r, "unsigned", "needs a signature");

    // Forty junk signatures of the right payload: only the first 32 are even read.
    let r = stage("1.1.0");
    let payload = payload_for(&r);
    let layers = (0..40).map(|_| descriptor(SIMPLE, &payload, junk_signature.clone())).collect();
    push_raw(&r, &sig_tag(&r), MANIFEST, &sig_manifest(layers), &[b"{}", &payload]);
    refused("1.1.0", &r, "invalid", "does not verify with this key");

    // A signature payload larger than any signature may be.
    let r = stage("1.2.0");
    let mut huge = payload_for(&r);
    huge.extend(std::iter::repeat_n(b' ', 300 * 1024));
    push_raw(
        &r,
        &sig_tag(&r),
        MANIFEST,
        &sig_manifest(vec![descriptor(SIMPLE, &huge, junk_signature.clone())]),
        &[b"{}", &huge],
    );
    refused("1.2.0", &r, "invalid", "cannot be read");

    // A referrer whose bundle is not JSON, and one that names another artifact as subject.
    let r = stage("1.3.0");
    let other = stage("1.4.0");
    let bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
    let (host_repo, _) = r.split_once('@').unwrap();
    let subject = |of: &str| {
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("--creds=admin:{admin}"),
            &format!("docker://{host_repo}@{}", digest_of(of)),
        ]);
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest_of(of),
            "size": raw.stdout.len()})
    };
    let mut listed = Vec::new();
    for (of, bundle) in [(&r, &b"this is not a bundle"[..]), (&other, br#"{"mediaType":"x"}"#)] {
        let referrer = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": MANIFEST,
            "artifactType": bundle_type,
            "config": descriptor("application/vnd.oci.empty.v1+json", b"{}", serde_json::json!({})),
            "layers": [descriptor(bundle_type, bundle, serde_json::json!({}))], "subject": subject(of)}))
        .unwrap();
        let digest = push_raw(&r, &crate::registry::sha256(&referrer), MANIFEST, &referrer, &[b"{}", bundle]);
        listed.push(serde_json::json!({"mediaType": MANIFEST, "digest": digest, "size": referrer.len(),
            "artifactType": bundle_type}));
    }
    // Registries without the referrers API are read through the fallback tag, which anyone
    // may write: list both under *this* artifact's tag, whatever their subjects say.
    if let Target::Distribution(_) = target {
        let fallback = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": listed}))
        .unwrap();
        push_raw(&r, &digest_of(&r).replace(':', "-"), "application/vnd.oci.image.index.v1+json", &fallback, &[]);
    }
    refused("1.3.0", &r, "invalid", "not JSON");

    // A good signature with junk beside it (before and after): still verified.
    let r = stage("1.5.0");
    let payload = payload_for(&r);
    push_raw(
        &r,
        &sig_tag(&r),
        MANIFEST,
        &sig_manifest(vec![descriptor(SIMPLE, &payload, junk_signature.clone())]),
        &[b"{}", &payload],
    );
    let mut args =
        vec!["sign".to_owned(), r.clone(), "--key".into(), root.join("release.key").to_str().unwrap().into()];
    args.extend(creds.iter().cloned());
    serve.ok(Some(&admin), &args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut junk_after = vec![descriptor(SIMPLE, b"not json", junk_signature.clone())];
    let sig_bytes = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("--creds=admin:{admin}"),
        &format!("docker://{}:{}", r.split_once('@').unwrap().0, sig_tag(&r)),
    ])
    .stdout;
    let mut current: serde_json::Value = serde_json::from_slice(&sig_bytes).unwrap();
    current["layers"].as_array_mut().unwrap().append(&mut junk_after);
    push_raw(&r, &sig_tag(&r), MANIFEST, &serde_json::to_vec(&current).unwrap(), &[b"not json"]);
    let (status, v) = register(&serve, &admin, "acme/demo", "1.5.0", &r);
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["signature"]["status"], "verified", "{v}");

    let (_, versions) = http_json(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None);
    assert_eq!(versions["data"].as_array().unwrap().len(), 1, "only the good version is recorded: {versions}");
    let (status, _) = http_json(serve.addr, "GET", "/healthz", None, None);
    assert_eq!(status, 200, "the server is still up");
    serve.stop();
}

#[test]
fn hostile_signatures_against_the_distribution_registry() {
    if !peers_available() {
        return;
    }
    hostile_signature_suite(Target::Distribution(DistRegistry::start(Auth::None)));
}

#[test]
fn hostile_signatures_against_the_embedded_store() {
    if !peers_available() {
        return;
    }
    hostile_signature_suite(Target::Embedded);
}
