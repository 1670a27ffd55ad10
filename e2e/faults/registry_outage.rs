//! The backing registry (a real CNCF distribution, behind a proxy that cuts it off at a
//! chosen request) stopped in the middle of a push and in the middle of a pull.

use crate::common::{Serve, skill_dir};
use crate::net::{DEMO_ARCHIVE, Proxy, call, publish_demo};
use crate::registry::{Auth, DistRegistry, peers_available};

#[test]
fn the_registry_stopped_mid_push_and_mid_pull_stores_nothing_and_recovers() {
    if !peers_available() {
        return;
    }
    let mut reg = DistRegistry::start(Auth::None);
    let proxy = Proxy::start(reg.host.clone());
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("{}/skills", proxy.addr);
    let serve = Serve::start(dir.path(), &["--storage-registry", &storage]);
    let admin = serve.admin_token();
    let original = publish_demo(&serve, &admin);
    let archive = DEMO_ARCHIVE;
    let audit_before = call(serve.addr, "GET", "/api/v1/audit?limit=100", Some(&admin), None).json()["data"].clone();

    // Mid-push: the blobs went up, then the registry stops as the manifest is pushed.
    proxy.arm("/manifests/");
    let v2 = skill_dir(dir.path(), "demo", "1.1.0", &[]);
    let push = std::thread::spawn({
        let cmd = serve.command(Some(&admin), &["publish", v2.to_str().unwrap(), "-n", "acme"]);
        move || {
            let mut cmd = cmd;
            cmd.output().unwrap()
        }
    });
    proxy.wait_tripped();
    reg.stop();
    let out = push.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the publish failed");
    assert!(stderr.contains("registry"), "a clear error names the registry: {stderr}");
    assert!(!stderr.contains("internal"), "{stderr}");

    // While it is down: a clear 502 for reads of content and for publishing; the index still
    // resolves, and nothing of 1.1.0 was recorded.
    let a = call(serve.addr, "GET", archive, Some(&admin), None);
    assert_eq!(a.status, 502, "{}", a.text());
    assert_eq!(a.json()["type"], "https://skilldex.dev/errors/registry-error");
    let out = serve.cli(Some(&admin), &["publish", v2.to_str().unwrap(), "-n", "acme"]);
    assert!(!out.status.success());
    let resolved = call(serve.addr, "GET", "/api/v1/resolve/acme/demo", Some(&admin), None);
    assert_eq!((resolved.status, resolved.json()["version"].as_str()), (200, Some("1.0.0")));
    let versions = call(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None).json();
    let listed: Vec<&str> =
        versions["data"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(listed, ["1.0.0"], "no trace of the failed publish");
    let audit = call(serve.addr, "GET", "/api/v1/audit?limit=100", Some(&admin), None).json()["data"].clone();
    assert_eq!(audit, audit_before, "nothing was audited as done");

    // Back: the same server publishes and serves again, the old bytes unchanged.
    reg.restart();
    proxy.heal();
    serve.ok(Some(&admin), &["publish", v2.to_str().unwrap(), "-n", "acme"]);
    let again = call(serve.addr, "GET", archive, Some(&admin), None);
    assert_eq!((again.status, again.body == original.body), (200, true));

    // Mid-pull: the registry stops as the server reads the archive's blob.
    proxy.arm("/blobs/sha256:");
    let pulled = std::thread::spawn({
        let addr = serve.addr;
        let admin = admin.clone();
        move || call(addr, "GET", "/api/v1/skills/acme/demo/versions/1.1.0/archive", Some(&admin), None)
    });
    proxy.wait_tripped();
    reg.stop();
    let a = pulled.join().unwrap();
    assert_eq!(a.status, 502, "a clear error, not a truncated archive: {}", a.text());
    assert_eq!(a.json()["type"], "https://skilldex.dev/errors/registry-error");
    reg.restart();
    proxy.heal();
    let a = call(serve.addr, "GET", "/api/v1/skills/acme/demo/versions/1.1.0/archive", Some(&admin), None);
    assert_eq!(a.status, 200, "read again once the registry is back");
    let resolved = call(serve.addr, "GET", "/api/v1/resolve/acme/demo", Some(&admin), None);
    assert_eq!(resolved.json()["version"], "1.1.0");
    assert!(!serve.log().contains("panicked"));
    serve.stop();
}
