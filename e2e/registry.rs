//! Real peers for the OCI tests: CNCF distribution (Debian's `docker-registry`) on a loopback
//! port, with or without htpasswd auth, and skopeo. `e2e/test.sh` installs both.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

pub enum Auth {
    None,
    Htpasswd {
        user: &'static str,
        password: &'static str,
    },
    /// Bearer tokens from `e2e/peers/token_server.py`: anonymous pulls, `skilluser`/`s3cret` pushes.
    Token,
}

pub struct DistRegistry {
    child: Option<Child>,
    token_server: Option<Child>,
    /// `127.0.0.1:PORT`
    pub host: String,
    dir: tempfile::TempDir,
}

/// Whether the peers are installed; outside CI their absence skips a test, on CI it fails it.
pub fn peers_available() -> bool {
    let python_peers = Command::new("python3")
        .args(["-c", "import oras, jwt, cryptography"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let found = python_peers
        && ["docker-registry", "skopeo", "htpasswd", "openssl"].iter().all(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    if !found {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "the OCI peers are required on CI");
        eprintln!(
            "skipping: docker-registry, skopeo, htpasswd, openssl or python oras/pyjwt missing (run e2e/test.sh)"
        );
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl DistRegistry {
    pub fn start(auth: Auth) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let auth_yaml = match &auth {
            Auth::None => String::new(),
            Auth::Htpasswd { user, password } => {
                let out = Command::new("htpasswd").args(["-Bbn", "-C", "5", user, password]).output().unwrap();
                assert!(out.status.success());
                std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
                format!("auth:\n  htpasswd:\n    realm: test\n    path: {}\n", dir.path().join("htpasswd").display())
            }
            Auth::Token => {
                let (key, cert) = (dir.path().join("token.key"), dir.path().join("token.crt"));
                let ok = Command::new("sh")
                    .arg("-c")
                    .arg(format!(
                        "openssl ecparam -name prime256v1 -genkey -noout -out {k} && openssl req -x509 -new -key {k} -out {c} -days 2 -subj /CN=e2e",
                        k = key.display(),
                        c = cert.display()
                    ))
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert!(ok.success(), "openssl");
                format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{{TOKEN_PORT}}/token\n    service: skills-registry\n    issuer: skills-test-issuer\n    rootcertbundle: {}\n",
                    cert.display()
                )
            }
        };
        let token_port = free_port();
        let auth_yaml = auth_yaml.replace("{TOKEN_PORT}", &token_port.to_string());
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: e2e-only\n{auth_yaml}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        drop(log);
        let token_server = matches!(auth, Auth::Token).then(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/peers/token_server.py");
            Command::new("python3")
                .arg(script)
                .arg(token_port.to_string())
                .arg(dir.path().join("token.key"))
                .arg(dir.path().join("token.crt"))
                .spawn()
                .expect("start the token server")
        });
        let mut reg = Self { child: None, token_server, host: format!("127.0.0.1:{port}"), dir };
        if reg.token_server.is_some() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::net::TcpStream::connect(("127.0.0.1", token_port)).is_err() {
                assert!(Instant::now() < deadline, "token server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        reg.restart();
        reg
    }

    /// Starts (again) on the same port with the same storage.
    pub fn restart(&mut self) {
        self.stop();
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", self.dir.path().join("config.yml").to_str().unwrap()])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&self.host).is_err() {
            assert!(Instant::now() < deadline, "registry did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// From now on, posts its push notifications to `url` with `secret` as a bearer token
    /// (distribution's `notifications` endpoint), restarted on the same port and storage.
    pub fn notify_to(&mut self, url: &str, secret: &str) {
        let config_path = self.dir.path().join("config.yml");
        let mut config = std::fs::read_to_string(&config_path).unwrap();
        config.push_str(&format!(
            "notifications:\n  endpoints:\n    - name: skilldex\n      url: {url}\n      headers:\n        Authorization: [\"Bearer {secret}\"]\n      timeout: 2s\n      threshold: 3\n      backoff: 1s\n"
        ));
        std::fs::write(&config_path, config).unwrap();
        self.restart();
    }

    /// The registry's filesystem storage root.
    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for DistRegistry {
    fn drop(&mut self) {
        self.stop();
        if let Some(mut t) = self.token_server.take() {
            let _ = t.kill();
            let _ = t.wait();
        }
    }
}

pub fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo").args(args).stdin(Stdio::null()).output().expect("run skopeo")
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Writes an OCI image layout holding one manifest (tagged `tag`) and its blobs, the way
/// any other tool would lay it out, for skopeo to copy into a registry.
pub fn write_layout(dir: &Path, tag: &str, manifest: &[u8], blobs: &[&[u8]]) -> String {
    let blob_dir = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blob_dir).unwrap();
    for b in blobs.iter().chain(std::iter::once(&manifest)) {
        std::fs::write(blob_dir.join(sha256(b).trim_start_matches("sha256:")), b).unwrap();
    }
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let digest = sha256(manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": tag }
        }]
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    digest
}
