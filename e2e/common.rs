//! Shared helpers: the real `skilldex serve` process, its CLI, raw HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_skilldex");

/// A running `skilldex serve`.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdout: Vec<String>,
    /// The directory the server runs in; CLI profiles of the tests live there too.
    pub dir: std::path::PathBuf,
    /// Where the server's log (its stderr) goes.
    pub log: std::path::PathBuf,
}

impl Serve {
    /// Starts the server in `cwd` and waits for it to say where it listens.
    pub fn start(cwd: &Path, extra: &[&str]) -> Serve {
        Self::start_with_env(cwd, extra, &[])
    }

    /// Starts the server with extra environment variables.
    pub fn start_with_env(cwd: &Path, extra: &[&str], env: &[(&str, &str)]) -> Serve {
        // The peers these tests start run on loopback, which the server refuses by default.
        let mut args = vec!["--allow-registry", "127.0.0.1:*", "--allow-registry", "localhost:*"];
        args.extend_from_slice(extra);
        Self::start_exactly(cwd, &args, env)
    }

    /// Starts the server with exactly these flags (no loopback peers allowed).
    pub fn start_exactly(cwd: &Path, extra: &[&str], env: &[(&str, &str)]) -> Serve {
        Self::start_on(cwd, "127.0.0.1:0", extra, env)
    }

    /// Starts the server listening on `listen`.
    pub fn start_on(cwd: &Path, listen: &str, extra: &[&str], env: &[(&str, &str)]) -> Serve {
        let log_path = cwd.join(format!("serve-{}.log", rand_suffix()));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--listen", listen])
            .args(extra)
            .current_dir(cwd)
            .env_remove("SKILLDEX_TOKEN")
            .env_remove("SKILLDEX_DATABASE_URL")
            .env_remove("SKILLDEX_DATA_DIR")
            // Tests publish far more than the default budgets allow; the rate-limit tests
            // set their own.
            .env("SKILLDEX_RATE_LIMITS", "*=1000000/minute")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .envs(env.iter().copied())
            .spawn()
            .expect("start skilldex serve");
        // Owned by `Serve` from here on, so a failed start still kills the process.
        let mut serve =
            Serve { child, addr: ([0, 0, 0, 0], 0).into(), stdout: Vec::new(), dir: cwd.to_owned(), log: log_path };
        let mut lines = BufReader::new(serve.child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "server did not start: {:?}", serve.stdout);
            let line = lines.next().expect("server exited before listening").unwrap();
            serve.stdout.push(line.clone());
            if let Some(url) = line.strip_prefix("skilldex listening on http://") {
                serve.addr = url.parse().unwrap();
                return serve;
            }
        }
    }

    /// The admin token the server wrote on its first start.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.dir.join("skilldex-data/admin-token")).unwrap().trim().to_owned()
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn cli(&self, token: Option<&str>, args: &[&str]) -> Output {
        self.command(token, args).output().unwrap()
    }

    /// The CLI aimed at this server, as `token`, with a profile file of its own (empty until
    /// a test logs in) so nothing outside the test directory is read or written.
    pub fn command(&self, token: Option<&str>, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("SKILLDEX_SERVER", self.url())
            .env("SKILLDEX_CONFIG", self.dir.join("cli-config.yaml"))
            .env_remove("SKILLDEX_TOKEN")
            .env_remove("SKILLDEX_PROFILE")
            .stdin(Stdio::null());
        if let Some(t) = token {
            cmd.env("SKILLDEX_TOKEN", t);
        }
        cmd
    }

    /// Runs a CLI command that must succeed and returns its stdout.
    pub fn ok(&self, token: Option<&str>, args: &[&str]) -> String {
        let out = self.cli(token, args);
        assert!(out.status.success(), "skilldex {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Installs `spec` as `token` into `dest`, with the lock file beside it (never in the
    /// repository's working directory); the install must succeed.
    pub fn install_into(&self, token: Option<&str>, spec: &str, dest: &Path) {
        let lock = dest.with_extension("lock");
        let (dest, lock) = (dest.to_str().unwrap(), lock.to_str().unwrap());
        let out = self.cli(token, &["install", spec, "--dest", dest, "--lock-file", lock]);
        assert!(out.status.success(), "install {spec}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Runs a CLI command with `--json` that must succeed and returns what it printed.
    pub fn json(&self, token: Option<&str>, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        if !args.contains(&"--json") {
            args.push("--json");
        }
        serde_json::from_str(&self.ok(token, &args)).unwrap()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) {
        terminate(&self.child);
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(15));
        assert!(status.success(), "skilldex serve exited with {status}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn terminate(child: &Child) {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "process did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn rand_suffix() -> String {
    format!("{:x}", rand::random::<u32>())
}

pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Sends a JSON request over a fresh connection and returns the status and parsed body.
pub fn http_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    http_raw(addr, method, path, token, "application/json", body.as_bytes())
}

/// Sends raw bytes with a content type; returns the status and the body parsed as JSON.
pub fn http_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, serde_json::Value) {
    let (status, _, body) =
        http_exchange(addr, &format!("{method} {path}"), token, &[("Content-Type", content_type)], body);
    (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

/// One request over a fresh connection (`request` is `METHOD /path`, with a bearer token and
/// extra headers); the status, the response head and the body's bytes.
pub fn http_exchange(
    addr: SocketAddr,
    request: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!("{request} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).unwrap();
    // A server may answer (and close) before the whole body is sent: it refuses without reading.
    let _ = s.write_all(body);
    let resp = read_all(&mut s);
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(resp.len());
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    (head[9..12].parse().unwrap(), head, resp.get(split + 4..).unwrap_or_default().to_vec())
}

/// Everything the peer sends until it closes, keeping what arrived before a reset.
pub fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut resp = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return resp,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes a skill directory: SKILL.md with this name, version and body, plus `extra` files.
pub fn skill_dir(root: &Path, name: &str, version: &str, extra: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = root.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("SKILL.md"),
        format!("---\nname: {name}\ndescription: The {name} skill\nversion: {version}\nallowed-tools: Read Grep\n---\n# {name}\n\nVersion {version}.\n"),
    )
    .unwrap();
    for (path, content) in extra {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

/// Where a test's index lives: SQLite in the data dir, or a fresh PostgreSQL database that
/// is dropped afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database for one test; its flags go to `serve`.
pub struct TestDb {
    pub args: Vec<String>,
    drop: Option<(String, String)>,
}

impl TestDb {
    /// `None` when PostgreSQL is unreachable outside CI (on CI that fails the test).
    pub fn new(backend: Backend) -> Option<TestDb> {
        if backend == Backend::Sqlite {
            return Some(TestDb { args: Vec::new(), drop: None });
        }
        let admin_url = pg_admin_url();
        let name = format!("skilldex_e2e_{}", rand_suffix());
        if psql(&admin_url, &format!("CREATE DATABASE {name}")).is_err() {
            assert!(std::env::var("CI").map_or(true, |v| v != "true"), "PostgreSQL is required on CI");
            eprintln!("skipping: PostgreSQL unreachable");
            return None;
        }
        let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
        Some(TestDb { args: vec!["--database-url".into(), url], drop: Some((admin_url, name)) })
    }

    pub fn args(&self) -> Vec<&str> {
        self.args.iter().map(String::as_str).collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.drop {
            let _ = psql(admin, &format!("DROP DATABASE {name} WITH (FORCE)"));
        }
    }
}

pub fn pg_admin_url() -> String {
    std::env::var("SKILLDEX_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out =
        Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]).output().map_err(|e| e.to_string())?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// The embedding model's directory the tests use (`SKILLDEX_TEST_EMBEDDING_MODEL`, set by
/// `e2e/test.sh`); outside CI its absence skips a test, on CI it fails it.
pub fn embedding_model() -> Option<String> {
    let model = std::env::var("SKILLDEX_TEST_EMBEDDING_MODEL").ok();
    if model.is_none() {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "the embedding model is required on CI");
        eprintln!("skipping: SKILLDEX_TEST_EMBEDDING_MODEL is not set");
    }
    model
}

/// Runs `fn name(Backend)` as two tests, `name_sqlite` and `name_postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name(crate::common::Backend::Sqlite)
                }
                #[test]
                fn postgres() {
                    super::$name(crate::common::Backend::Postgres)
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

/// Starts a server with the admin token and a team `acme` ready.
pub fn serve_with_team(dir: &Path) -> (Serve, String) {
    let serve = Serve::start(dir, &[]);
    let admin = std::fs::read_to_string(dir.join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    (serve, admin)
}

/// Registers an artifact already in a registry as `version` of `skill` (`ns/name`).
pub fn register(
    serve: &Serve,
    token: &str,
    skill: &str,
    version: impl AsRef<str>,
    reference: impl AsRef<str>,
) -> (u16, serde_json::Value) {
    let body = serde_json::json!({"version": version.as_ref(), "reference": reference.as_ref()});
    http_json(serve.addr, "POST", &format!("/api/v1/skills/{skill}/versions"), Some(token), Some(&body))
}
