//! The disk under the data directory (SQLite, the embedded OCI store, the search index) fills
//! up: a small tmpfs mounted for the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Serve, skill_dir};
use crate::net::{DEMO_ARCHIVE, call, publish_demo};

/// A tmpfs of `size` mounted at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", dir.to_str().unwrap()])
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` with one file (appending to it if it is there) to the
/// last byte it takes, then gives `leave` bytes back.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
    let chunk = vec![0xa5u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    for _ in 0..64 {
        let _ = f.write_all(&[0u8; 1024]);
    }
    let _ = f.write_all(&[0u8]);
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(leave)).unwrap();
    path
}

/// Every file under `dir` but the filler, with its size.
fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let (p, m) = (e.path(), e.metadata().unwrap());
            if m.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "filler") {
                out.push((p, m.len()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_full_disk_refuses_publishes_with_507_and_recovers_when_freed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(_mounted) = Tmpfs::mount(&data, "24m") else {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "mounting a tmpfs is required on CI (root)");
        eprintln!("skipping: cannot mount a tmpfs here");
        return;
    };
    let data_arg = data.to_str().unwrap().to_owned();
    let serve = Serve::start(dir.path(), &["--data-dir", &data_arg]);
    let admin = std::fs::read_to_string(data.join("admin-token")).unwrap().trim().to_owned();
    let original = publish_demo(&serve, &admin);
    let archive = DEMO_ARCHIVE;
    // What follows a publish in the background (the search index, the layout's listing)
    // lands before the disk fills, so what the refused publish leaves is all that changes.
    let settled = || {
        let listed = std::fs::read_to_string(data.join("oci/index.json")).is_ok_and(|i| i.contains("acme/demo:1.0.0"));
        let found = call(serve.addr, "GET", "/api/v1/skills?q=demo", Some(&admin), None).json()["data"]
            .as_array()
            .is_some_and(|d| !d.is_empty());
        listed && found
    };
    for _ in 0..100 {
        if settled() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(settled(), "the first publish is listed in the layout and found by search");

    // The disk fills but for 96 KiB: room to prepare a version, not for its archive (about
    // 180 KB of letters that do not compress much). The upload is refused with a clear
    // error and leaves nothing behind.
    let filler = fill(&data, 96 * 1024);
    let before = files(&data);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: String = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let v2 = skill_dir(dir.path(), "demo", "1.1.0", &[("notes.md", noise.as_str())]);
    let out = serve.cli(Some(&admin), &["publish", v2.to_str().unwrap(), "-n", "acme"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the publish is refused");
    assert!(stderr.contains("storage is full"), "a clear error: {stderr}");
    // What was there still reads; nothing of 1.1.0 was kept.
    let read = call(serve.addr, "GET", archive, Some(&admin), None);
    assert_eq!((read.status, read.body == original.body), (200, true));
    let versions = call(serve.addr, "GET", "/api/v1/skills/acme/demo/versions", Some(&admin), None).json();
    let listed: Vec<&str> = versions["data"].as_array().unwrap().iter().filter_map(|v| v["version"].as_str()).collect();
    assert_eq!(listed, ["1.0.0"]);
    // Nothing half-written: no new file but empty ones, and every blob of the embedded store
    // whole (its content is its name).
    let after: Vec<_> = files(&data).into_iter().filter(|(p, _)| !p.to_string_lossy().contains("-wal")).collect();
    let before: Vec<_> = before.into_iter().filter(|(p, _)| !p.to_string_lossy().contains("-wal")).collect();
    let left: Vec<_> = after.iter().filter(|f| !before.contains(f)).collect();
    assert!(left.iter().all(|(_, size)| *size == 0), "no partial files left: {left:?}");
    for (path, _) in after.iter().filter(|(p, _)| p.parent().is_some_and(|d| d.ends_with("blobs/sha256"))) {
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(path).unwrap()));
        assert_eq!(path.file_name().unwrap().to_string_lossy(), digest, "a whole blob");
    }

    // Full to the last byte: even the database's writes are refused, with the same 507.
    fill(&data, 0);
    let body = serde_json::json!({"scope": "acme", "slug": "other"});
    let a = call(serve.addr, "POST", "/api/v1/skills", Some(&admin), Some(&body));
    assert_eq!((a.status, a.json()["type"].as_str()), (507, Some("https://skilldex.dev/errors/insufficient-storage")));
    assert_eq!(call(serve.addr, "GET", "/api/v1/skills/acme/other", Some(&admin), None).status, 404);

    // Space again: the same server takes the publish.
    std::fs::remove_file(filler).unwrap();
    serve.ok(Some(&admin), &["publish", v2.to_str().unwrap(), "-n", "acme"]);
    assert_eq!(call(serve.addr, "POST", "/api/v1/skills", Some(&admin), Some(&body)).status, 201);
    let resolved = call(serve.addr, "GET", "/api/v1/resolve/acme/demo", Some(&admin), None);
    assert_eq!(resolved.json()["version"], "1.1.0");
    assert!(!serve.log().contains("panicked"));
    serve.stop();
}
