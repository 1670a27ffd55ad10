//! Rate limits on the real server: the defaults a fresh server runs with, anonymous callers
//! counted by the address they connect from, and two replicas on one PostgreSQL database
//! spending from one budget in a real Redis, which is stopped and started again mid-test.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Backend;
use crate::common::{Serve, TestDb, http_exchange, rand_suffix};

/// A request's status and one of its response headers.
fn status_and(serve: &Serve, path: &str, token: Option<&str>, header: &str) -> (u16, Option<String>) {
    let (status, head, _) = http_exchange(serve.addr, &format!("GET {path}"), token, &[], b"");
    let wanted = format!("{}:", header.to_ascii_lowercase());
    let value =
        head.lines().find(|l| l.to_ascii_lowercase().starts_with(&wanted)).map(|l| l[wanted.len()..].trim().to_owned());
    (status, value)
}

fn admin_token(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("skilldex-data/admin-token")).unwrap().trim().to_owned()
}

#[test]
fn a_fresh_server_limits_with_skillsmgr_defaults_and_counts_anonymous_callers_by_address() {
    let dir = tempfile::tempdir().unwrap();
    // No settings: the defaults, as a user's first `skilldex serve` has them.
    let serve = Serve::start_with_env(dir.path(), &[], &[("SKILLDEX_RATE_LIMITS", "")]);
    let admin = admin_token(dir.path());
    let (status, policy) = status_and(&serve, "/-/v1/search?text=x", Some(&admin), "RateLimit-Policy");
    assert_eq!((status, policy.as_deref()), (200, Some("120;w=60")));
    let (_, policy) = status_and(&serve, "/api/r/@acme/tool", Some(&admin), "RateLimit-Policy");
    assert_eq!(policy.as_deref(), Some("240;w=60"));
    let (_, limit) = status_and(&serve, "/healthz", None, "RateLimit-Limit");
    assert_eq!(limit, None, "health checks spend nothing");
    serve.stop();

    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with_env(dir.path(), &[], &[("SKILLDEX_RATE_LIMITS", "search=2/minute")]);
    for _ in 0..2 {
        assert_eq!(status_and(&serve, "/-/v1/search?text=x", None, "x").0, 200);
    }
    let (status, retry) = status_and(&serve, "/-/v1/search?text=x", None, "Retry-After");
    assert_eq!(status, 429, "anonymous callers from one address share its budget");
    assert!(retry.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| (1..=30).contains(&n))));
    // A forged X-Forwarded-For does not buy a fresh budget from an untrusted client.
    let (status, _, _) =
        http_exchange(serve.addr, "GET /-/v1/search?text=x", None, &[("X-Forwarded-For", "198.51.100.9")], b"");
    assert_eq!(status, 429);
    serve.stop();
}

/// A refused publish is answered before its body is read: a client declaring 60 MB and
/// sending none gets its 429 at once. Site administrators lift one token's budget from the
/// CLI, and it applies at once.
#[test]
fn a_refusal_reads_no_body_and_an_administrator_lifts_a_token_budget() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with_env(dir.path(), &[], &[("SKILLDEX_RATE_LIMITS", "publish=1/hour,search=1/minute")]);
    let admin = admin_token(dir.path());
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    let (status, _) = crate::common::register(&serve, &admin, "acme/tool", "1.0.0", "127.0.0.1:1/acme/tool:1.0.0");
    assert_ne!(status, 429, "the first publish is within the budget");

    let mut s = TcpStream::connect(serve.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    use std::io::Write as _;
    write!(
        s,
        "PUT /api/r/@acme%2ftool HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nContent-Length: 60000000\r\n\r\n"
    )
    .unwrap();
    let started = Instant::now();
    let head = String::from_utf8_lossy(&crate::common::read_all(&mut s)).into_owned();
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    assert!(head.contains("rate_limited"), "SkillsMgr's envelope: {head}");
    assert!(started.elapsed() < Duration::from_secs(5), "answered without waiting for the body");

    // `skilldex token limits`: the administrator's own token gets a search budget of its own.
    let listed = serve.json(Some(&admin), &["token", "list", "--user", "admin"]);
    let id = listed["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(status_and(&serve, "/-/v1/search?text=x", Some(&admin), "x").0, 200);
    assert_eq!(status_and(&serve, "/-/v1/search?text=x", Some(&admin), "x").0, 429);
    let out = serve.cli(Some(&admin), &["token", "limits", &id, "search=50/minute"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("search=50/minute"));
    let (status, limit) = status_and(&serve, "/-/v1/search?text=x", Some(&admin), "RateLimit-Limit");
    assert_eq!((status, limit.as_deref()), (200, Some("50")));
    let out = serve.cli(Some(&admin), &["token", "limits", &id, "search=lots"]);
    assert_eq!(out.status.code(), Some(2), "a bad setting is a usage error");
    serve.ok(Some(&admin), &["token", "limits", &id, "--clear"]);
    assert_eq!(status_and(&serve, "/-/v1/search?text=x", Some(&admin), "x").0, 429, "back to the spent budget");
    serve.stop();
}

/// A Redis of this test's own, so it can be stopped without touching the machine's.
struct Redis {
    child: Child,
    port: u16,
}

/// The password of the test's Redis, which must never reach a log.
const REDIS_PASSWORD: &str = "s3cret-redis-password";

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--requirepass", REDIS_PASSWORD])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed with the machine's Redis");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Redis { child, port }
    }

    fn url(&self) -> String {
        format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn fallbacks(serve: &Serve) -> u64 {
    let (_, metrics) = crate::common::http_get(serve.addr, "/metrics");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("skilldex_rate_limit_fallbacks_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the fallback counter is exported")
}

#[test]
fn replicas_share_one_budget_in_redis_and_keep_serving_when_it_stops() {
    let Some(db) = TestDb::new(Backend::Postgres) else { return };
    let mut redis = Redis::start(free_port());
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("e2e-{}", rand_suffix());
    let url = redis.url();
    let env = [("SKILLDEX_RATE_LIMITS", "search=3/minute"), ("SKILLDEX_RATE_LIMIT_PREFIX", prefix.as_str())];
    let url_file = dir.path().join("redis-url");
    std::fs::write(&url_file, &url).unwrap();
    let mut args = db.args();
    args.extend(["--rate-limit-redis", url.as_str()]);
    let one = Serve::start_with_env(dir.path(), &args, &env);
    // The other replica reads the URL from a file, keeping the password out of `ps`.
    let mut args = db.args();
    args.extend(["--rate-limit-redis-file", url_file.to_str().unwrap()]);
    let two = Serve::start_with_env(dir.path(), &args, &env);
    let admin = admin_token(dir.path());
    let search = |serve: &Serve| status_and(serve, "/-/v1/search?text=x", Some(&admin), "RateLimit-Remaining");

    // The second replica sees what was spent through the first.
    assert_eq!(search(&one), (200, Some("2".into())));
    assert_eq!(search(&one), (200, Some("1".into())));
    assert_eq!(search(&two), (200, Some("0".into())));
    assert_eq!(search(&one).0, 429);
    assert_eq!(search(&two).0, 429);
    assert_eq!(fallbacks(&one), 0);

    // Redis stops: both replicas keep serving, each from budgets of its own, and count it.
    redis.stop();
    assert_eq!(search(&one).0, 200, "fail open to this replica's own budget");
    assert_eq!(search(&two).0, 200);
    assert!(fallbacks(&one) >= 1 && fallbacks(&two) >= 1);
    let log = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect::<String>();
    assert!(log.contains("Redis is unreachable"), "the change is logged");
    assert!(!log.contains(REDIS_PASSWORD) && !log.contains(&admin), "no secrets in the log");

    // Redis is back (empty: it keeps nothing on disk): the budget is shared again within
    // the pause after a failure.
    let _redis = Redis::start(redis.port);
    std::thread::sleep(Duration::from_millis(1200));
    let deadline = Instant::now() + Duration::from_secs(10);
    while search(&one).1.as_deref() != Some("2") {
        assert!(Instant::now() < deadline, "the replicas went back to Redis");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(search(&two), (200, Some("1".into())));
    assert_eq!(search(&one), (200, Some("0".into())));
    assert_eq!(search(&two).0, 429);
    one.stop();
    two.stop();
}
