//! The server killed (SIGKILL) while skills are being created and indexed: on the next start
//! the search index holds every skill that was acknowledged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::common::Serve;
use crate::net::call;

#[test]
fn killed_while_indexing_the_search_index_heals_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let admin = serve.admin_token();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    let acknowledged: Arc<Mutex<Vec<usize>>> = Arc::default();
    let dead = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (acknowledged, dead, admin, addr) = (acknowledged.clone(), dead.clone(), admin.clone(), serve.addr);
        writers.push(std::thread::spawn(move || {
            for i in (w..).step_by(3) {
                if dead.load(Ordering::SeqCst) {
                    return;
                }
                let body =
                    json!({"scope": "acme", "slug": format!("k{i}"), "description": format!("marker{i} healed index")});
                if call(addr, "POST", "/api/v1/skills", Some(&admin), Some(&body)).status == 201 {
                    acknowledged.lock().unwrap().push(i);
                }
            }
        }));
    }
    // Killed without warning once a good number of skills went in, writes still under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while acknowledged.lock().unwrap().len() < 120 {
        assert!(std::time::Instant::now() < deadline, "the writers made progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut serve = serve;
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();
    dead.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    drop(serve);

    // Started again on the same data: each acknowledged skill is found by its own word.
    let serve = Serve::start(dir.path(), &[]);
    let mut missing = Vec::new();
    for i in &acknowledged {
        let found = call(serve.addr, "GET", &format!("/api/v1/skills?q=marker{i}"), Some(&admin), None).json();
        let slugs: Vec<&str> = found["data"].as_array().unwrap().iter().filter_map(|s| s["slug"].as_str()).collect();
        if !slugs.contains(&format!("k{i}").as_str()) {
            missing.push(*i);
        }
    }
    assert!(missing.is_empty(), "acknowledged but not found after the restart: {missing:?}");
    // And the catalogue's search agrees with the database on how many there are.
    let all = call(serve.addr, "GET", "/api/v1/skills?q=healed&limit=100", Some(&admin), None).json();
    assert!(all["data"].as_array().unwrap().len() >= acknowledged.len().min(100));
    assert!(!serve.log().contains("panicked"));
    serve.stop();
}
