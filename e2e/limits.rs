//! Rate limits on the real server: the defaults a fresh server runs with, anonymous callers
//! counted by the address they connect from, and two replicas on one PostgreSQL database
//! spending from one budget in a real Redis, which is stopped and started again mid-test.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Serve, TestDb, http_exchange, rand_suffix};
use crate::common::Backend;

/// A request's status and one of its response headers.
fn status_and(serve: &Serve, path: &str, token: Option<&str>, header: &str) -> (u16, Option<String>) {
    let (status, head, _) = http_exchange(serve.addr, &format!("GET {path}"), token, &[], b"");
    let wanted = format!("{}:", header.to_ascii_lowercase());
    let value = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&wanted))
        .map(|l| l[wanted.len()..].trim().to_owned());
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
    let (status, _, _) = http_exchange(
        serve.addr,
        "GET /-/v1/search?text=x",
        None,
        &[("X-Forwarded-For", "198.51.100.9")],
        b"",
    );
    assert_eq!(status, 429);
    serve.stop();
}

/// A Redis of this test's own, so it can be stopped without touching the machine's.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
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
        format!("redis://127.0.0.1:{}", self.port)
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
    let mut args = db.args();
    args.extend(["--rate-limit-redis", url.as_str()]);
    let one = Serve::start_with_env(dir.path(), &args, &env);
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
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .collect::<String>();
    assert!(log.contains("Redis is unreachable"), "the change is logged");
    assert!(!log.contains(&format!("{url}/")) && !log.contains(&admin), "no secrets in the log");

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
