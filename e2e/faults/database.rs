//! PostgreSQL stopped and started again (the machine's own cluster) while clients create and
//! read skills.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Backend, Serve, TestDb, pg_admin_url};
use crate::net::call;

/// The machine's cluster, driven with `pg_ctlcluster`; started again when dropped, so a
/// failing test leaves PostgreSQL as it found it.
struct Cluster {
    version: String,
    name: String,
}

impl Cluster {
    /// The cluster serving the port the tests' PostgreSQL URL names (`pg_lsclusters` lists
    /// `15 main 5432 online …`).
    fn find() -> Option<Cluster> {
        let url = pg_admin_url();
        let port = url.rsplit_once(':').map(|(_, p)| p.split('/').next().unwrap_or("5432")).unwrap_or("5432");
        let out = Command::new("pg_lsclusters").arg("--no-header").output().ok()?;
        String::from_utf8_lossy(&out.stdout).lines().find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() >= 3 && f[2] == port).then(|| Cluster { version: f[0].to_owned(), name: f[1].to_owned() })
        })
    }

    fn ctl(&self, action: &str) -> bool {
        Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &self.version, &self.name, action, "-m", "fast"])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !is_up() {
            self.ctl("start");
        }
    }
}

fn is_up() -> bool {
    Command::new("pg_isready").args(["-q", "-d", &pg_admin_url()]).status().is_ok_and(|s| s.success())
}

/// One request's skill (for a create), status, `Retry-After`, body and how long it took.
type Outcome = (String, u16, Option<String>, String, Duration);

#[test]
fn postgres_stopped_under_load_answers_503_then_recovers_and_loses_nothing() {
    let Some(db) = TestDb::new(Backend::Postgres) else { return };
    let Some(cluster) = Cluster::find() else {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "pg_ctlcluster is required on CI");
        eprintln!("skipping: no cluster of pg_lsclusters serves the tests' PostgreSQL");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &db.args());
    let admin = serve.admin_token();
    serve.ok(Some(&admin), &["team", "create", "acme"]);

    // Two writers create skills one after another and a reader lists; every answer is kept.
    let stop = Arc::new(AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let mut clients = Vec::new();
    for writer in 0..3 {
        let (stop, answers, admin, addr) = (stop.clone(), answers.clone(), admin.clone(), serve.addr);
        clients.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let (slug, a) = if writer < 2 {
                    let slug = format!("s{writer}-{i}");
                    let a = call(
                        addr,
                        "POST",
                        "/api/v1/skills",
                        Some(&admin),
                        Some(&json!({"scope": "acme", "slug": slug})),
                    );
                    (slug, a)
                } else {
                    (String::new(), call(addr, "GET", "/api/v1/skills?scope=acme&limit=5", Some(&admin), None))
                };
                answers.lock().unwrap().push((slug, a.status, a.header("retry-after"), a.text(), sent.elapsed()));
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(answers.lock().unwrap().iter().all(|a| a.1 == 200 || a.1 == 201), "all well before the fault");
    let before = answers.lock().unwrap().len();
    assert!(cluster.ctl("stop"), "PostgreSQL stopped");
    let stopped = Instant::now();
    // The fault lasts longer than the server waits for a connection (5 s), and until every
    // client has had its answer about it: a request must not wait out the outage.
    loop {
        std::thread::sleep(Duration::from_millis(100));
        // Writers are told apart by their skills' prefix (`s0-`, `s1-`); the reader has none.
        let refused: std::collections::HashSet<String> = answers.lock().unwrap()[before..]
            .iter()
            .filter(|a| a.1 == 503)
            .map(|a| a.0.split('-').next().unwrap_or_default().to_owned())
            .collect();
        if refused.len() == 3 && stopped.elapsed() > Duration::from_secs(6) {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(20),
            "requests during the outage are answered 503 within the server's wait for a connection: {:?}",
            answers.lock().unwrap()[before..].iter().map(|a| a.1).collect::<Vec<_>>()
        );
    }
    assert!(!is_up(), "PostgreSQL stayed down for the fault");
    let during = answers.lock().unwrap().len();
    assert!(cluster.ctl("start"), "PostgreSQL started again");
    let started = Instant::now();
    // Recovery without a restart: the writers succeed again.
    loop {
        let last = answers.lock().unwrap().last().map(|a| a.1);
        if last.is_some_and(|s| s == 201 || s == 200) && answers.lock().unwrap().len() > during + 10 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the server recovers once PostgreSQL is back");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }

    let answers = answers.lock().unwrap();
    // Every request the outage touched got a clear 503.
    let outage: Vec<_> = answers.iter().filter(|a| a.1 != 200 && a.1 != 201).collect();
    assert!(!outage.is_empty(), "requests during the outage failed");
    for (slug, status, retry, text, took) in &outage {
        assert_eq!(*status, 503, "{slug}: {text}");
        // One wait for a connection (5 s), not one per lookup the request makes.
        assert!(*took < Duration::from_secs(9), "{slug}: answered after {took:?}");
        let problem: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(problem["type"], "https://skilldex.dev/errors/service-unavailable", "{text}");
        assert!(retry.is_some(), "a 503 says when to retry");
        for internal in ["sqlx", "pool", "Connection refused", "os error", "57P"] {
            assert!(!text.contains(internal), "no internals in {text}");
        }
    }
    assert!(answers.iter().all(|a| [200, 201, 503].contains(&a.1)), "only successes and 503s");
    let tail = &answers[answers.len() - 10..];
    assert!(
        tail.iter().all(|a| a.1 == 200 || a.1 == 201),
        "recovered: {:?}",
        tail.iter().map(|a| a.1).collect::<Vec<_>>()
    );

    // Nothing acknowledged is lost: every skill whose creation answered 201 is there.
    let created: Vec<&String> = answers.iter().filter(|a| a.1 == 201).map(|a| &a.0).collect();
    assert!(created.len() > 20, "the load created skills before and after");
    for slug in &created {
        let a = call(serve.addr, "GET", &format!("/api/v1/skills/acme/{slug}"), Some(&admin), None);
        assert_eq!(a.status, 200, "acme/{slug} was acknowledged: {}", a.text());
    }
    assert!(!serve.log().contains("panicked"));
    serve.stop();
    drop(cluster);
}
