//! The foundation, end to end: bootstrap, the CLI over the API, shutdown, replicas.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::*;

#[test]
fn fresh_start_bootstraps_an_admin_and_the_cli_drives_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let token_file = dir.path().join("skilldex-data/admin-token");
    assert!(
        serve.stdout.iter().any(|l| l.contains("first admin token") && l.contains("skilldex-data/admin-token")),
        "{:?}",
        serve.stdout
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    assert!(dir.path().join("skilldex-data/skilldex.db").exists(), "SQLite index under ./skilldex-data");

    let (status, body) = http_get(serve.addr, "/healthz");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");

    assert_eq!(serve.json(Some(&admin), &["whoami"])["user"]["username"], "admin");
    serve.ok(Some(&admin), &["user", "create", "ann", "--email", "ann@example.com"]);
    let created =
        serve.json(Some(&admin), &["token", "create", "--user", "ann", "--name", "laptop", "--scope", "admin"]);
    let ann = created["token"].as_str().unwrap().to_owned();
    assert_eq!(serve.json(Some(&ann), &["whoami"])["user"]["username"], "ann");

    let team = serve.json(Some(&ann), &["team", "create", "acme", "--display-name", "Acme Corp"]);
    assert_eq!(team["members"][0]["role"], "owner");
    serve.ok(Some(&admin), &["user", "create", "bob", "--email", "bob@example.com"]);
    let team = serve.json(Some(&ann), &["team", "set-member", "acme", "bob", "--role", "publisher"]);
    assert_eq!(team["members"].as_array().unwrap().len(), 2);

    let skill = serve.json(
        Some(&ann),
        &["skill", "create", "--public", "acme/reviewer", "--description", "Reviews pull requests", "--tag", "review"],
    );
    assert_eq!(skill["slug"], "reviewer");
    serve.ok(Some(&ann), &["skill", "create", "acme/internal", "--description", "Private review notes", "--private"]);

    let found = serve.ok(None, &["search", "review"]);
    assert!(found.lines().any(|l| l.starts_with("acme/reviewer ") && l.ends_with("Reviews pull requests")), "{found}");
    assert!(!found.contains("internal"), "private skills stay private: {found}");
    assert!(serve.ok(Some(&ann), &["search", "review"]).contains("acme/internal"));

    let deprecated = serve.json(Some(&ann), &["skill", "deprecate", "acme/reviewer", "--message", "use reviewer-v2"]);
    assert_eq!(deprecated["deprecatedMessage"], "use reviewer-v2");
    serve.ok(Some(&ann), &["skill", "delete", "acme/reviewer"]);
    assert!(!serve.ok(None, &["search", "review"]).contains("acme/reviewer"));
    assert_eq!(serve.json(Some(&ann), &["skill", "restore", "acme/reviewer"])["deleted"], false);

    // Errors carry the problem's title, status and detail.
    let out = serve.cli(None, &["skill", "show", "acme/internal"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Not Found (404)") && err.contains("acme/internal"), "{err}");
    let out = serve.cli(Some("sdx_wrong"), &["whoami"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthorized (401)"));

    let tokens = serve.json(Some(&ann), &["token", "list"]);
    let id = tokens["data"][0]["id"].as_str().unwrap().to_owned();
    serve.ok(Some(&ann), &["token", "revoke", &id]);
    assert!(!serve.cli(Some(&ann), &["whoami"]).status.success(), "revoked token is refused");

    serve.stop();

    // A restart keeps everything and does not issue another admin token.
    let before = std::fs::read_to_string(&token_file).unwrap();
    let serve = Serve::start(dir.path(), &[]);
    assert!(!serve.stdout.iter().any(|l| l.contains("first admin token")));
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), before);
    assert!(serve.ok(Some(&admin), &["search"]).contains("acme/reviewer"));
    serve.stop();
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    let body = r#"{"slug":"late-team","displayName":"Arrived during shutdown"}"#;
    let (head, tail) = body.split_at(10);

    let mut conn = TcpStream::connect(serve.addr).unwrap();
    write!(
        conn,
        "POST /api/v1/teams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    )
    .unwrap();
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    terminate(&serve.child);
    std::thread::sleep(Duration::from_millis(300));
    conn.write_all(tail.as_bytes()).unwrap();
    let mut resp = String::new();
    BufReader::new(&conn).read_line(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "in-flight request finished: {resp}");

    let mut serve = serve;
    let status = wait_with_timeout(&mut serve.child, Duration::from_secs(15));
    assert!(status.success(), "clean exit after draining: {status}");
    assert!(TcpStream::connect(serve.addr).is_err(), "no longer accepting connections");
}

/// Two replicas on one PostgreSQL database: migrations run once, state is shared.
#[test]
fn replicas_share_one_postgres_index() {
    let admin_url =
        std::env::var("SKILLDEX_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("skilldex_e2e_{}", rand_suffix());
    if psql(&admin_url, &format!("CREATE DATABASE {name}")).is_err() {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "PostgreSQL is required on CI");
        eprintln!("skipping: PostgreSQL unreachable");
        return;
    }
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("db-url");
    std::fs::write(&url_file, &url).unwrap();

    let one = Serve::start(dir.path(), &["--database-url", &url, "--log-format", "json"]);
    let two = Serve::start(dir.path(), &["--database-url-file", url_file.to_str().unwrap()]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    assert!(!two.stdout.iter().any(|l| l.contains("first admin token")), "only the first replica bootstraps");

    one.ok(Some(&admin), &["team", "create", "shared"]);
    one.ok(
        Some(&admin),
        &["skill", "create", "--public", "shared/everywhere", "--description", "Seen by every replica"],
    );
    assert!(two.ok(None, &["search", "every"]).contains("shared/everywhere"));

    // Each replica's search index follows the database: a change made through one is found
    // through the other within a second, and so is a deletion.
    let found_through_two = |q: &str| {
        let (status, body) = http_get(two.addr, &format!("/api/v1/skills?q={q}"));
        assert_eq!(status, 200, "{body}");
        body.contains("\"everywhere\"")
    };
    let within_a_second = |what: &str, done: &dyn Fn() -> bool| {
        let started = std::time::Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(1), "{what} not seen through the other replica");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let patch = serde_json::json!({"description": "Now about zeppelins"});
    let (status, body) = http_json(one.addr, "PATCH", "/api/v1/skills/shared/everywhere", Some(&admin), Some(&patch));
    assert_eq!(status, 200, "{body}");
    within_a_second("the new description", &|| found_through_two("zeppelins"));
    assert!(!found_through_two("replica"), "the old description no longer matches");
    let (status, body) = http_json(one.addr, "DELETE", "/api/v1/skills/shared/everywhere", Some(&admin), None);
    assert_eq!(status, 204, "{body}");
    within_a_second("the deletion", &|| !found_through_two("zeppelins"));
    let (status, body) = http_get(two.addr, "/healthz");
    assert_eq!(status, 200);
    assert!(body.contains(r#""db":{"status":"up""#), "{body}");
    one.stop();
    two.stop();
    let _ = psql(&admin_url, &format!("DROP DATABASE {name} WITH (FORCE)"));
}

/// `--max-archive-size` and `--max-blob-size` are one configuration every surface reads: an
/// upload, an npm publish and a `/v2/` blob over them are refused with 413 before a byte of
/// the body is read, and nothing is stored. (With the defaults, 50 and 64 MiB, each of these
/// requests would have been read.)
#[test]
fn size_limits_come_from_configuration_on_every_surface() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &["--max-archive-size", "1", "--max-blob-size", "2"]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    serve.ok(Some(&admin), &["skill", "create", "--public", "acme/big"]);
    let mib: usize = 1 << 20;

    let prepare = |size: usize| {
        let body = serde_json::json!({"version": "1.0.0", "archiveSha256": "a".repeat(64), "archiveSize": size});
        http_json(serve.addr, "POST", "/api/v1/skills/acme/big/versions", Some(&admin), Some(&body))
    };
    let (s, body) = prepare(mib + 1);
    assert_eq!(s, 413, "{body}");
    assert!(body["detail"].as_str().unwrap().contains(&mib.to_string()), "says the limit: {body}");
    assert_eq!(prepare(mib).0, 201, "exactly the limit is fine");

    // npm: the tarball travels base64 in JSON, so the body may be a third larger plus 1 MiB.
    let junk = vec![b'x'; 3 * mib];
    let (s, _) = http_raw(serve.addr, "PUT", "/@acme%2fbig", Some(&admin), "application/json", &junk);
    assert_eq!(s, 413);

    // /v2/: blobs between the archive and the blob limit are taken, larger ones refused.
    let push = |len: usize| {
        let blob = vec![7u8; len];
        let digest = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&blob)));
        let path = format!("POST /v2/acme/big/blobs/uploads/?digest={digest}");
        http_exchange(serve.addr, &path, Some(&admin), &[("Content-Type", "application/octet-stream")], &blob).0
    };
    assert_eq!(push(2 * mib + 1), 413);
    assert_eq!(push(mib + mib / 2), 201);

    let (_, listed) = http_json(serve.addr, "GET", "/api/v1/skills/acme/big/versions", Some(&admin), None);
    assert_eq!(listed["data"], serde_json::json!([]), "nothing was recorded: {listed}");
}

/// Lowering `--max-archive-size` never locks out what is already published: a version
/// accepted under the old limit is still downloaded, installed from npm and diffed, while a
/// new version of that size is refused.
#[test]
fn published_versions_stay_readable_after_the_limit_is_lowered() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let noise: Vec<u8> = (0..3 << 19).map(|_| rand::random::<u8>()).collect();
    let mut published = Vec::new();
    for version in ["1.0.0", "1.1.0"] {
        let skill = skill_dir(dir.path(), "big", version, &[]);
        std::fs::write(skill.join("noise.bin"), &noise).unwrap();
        published.push(skill);
    }
    serve.ok(Some(&admin), &["publish", "--public", published[0].to_str().unwrap(), "-n", "acme"]);
    serve.stop();

    let serve = Serve::start(dir.path(), &["--max-archive-size", "1"]);
    let (s, _, archive) =
        http_exchange(serve.addr, "GET /api/v1/skills/acme/big/versions/1.0.0/archive", None, &[], b"");
    assert_eq!(s, 200);
    assert!(archive.len() > 1 << 20, "the whole 1.5 MiB archive: {}", archive.len());
    let (s, _, tarball) = http_exchange(serve.addr, "GET /@acme/big/-/big-1.0.0.tgz", None, &[], b"");
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&tarball));
    let out = serve.cli(Some(&admin), &["publish", "--public", published[1].to_str().unwrap(), "-n", "acme"]);
    assert!(!out.status.success(), "a new 1.5 MiB version is over the new limit");
    assert!(String::from_utf8_lossy(&out.stderr).contains("413"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The search index is kept in the data directory: a restart resumes it, `skilldex reindex`
/// rebuilds it (and refuses while the server holds it), and a missing one is rebuilt on start.
#[test]
fn the_search_index_is_kept_and_rebuilt_by_reindex() {
    let dir = tempfile::tempdir().unwrap();
    let logs = || {
        let mut all = String::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap().to_string_lossy().starts_with("serve-") {
                all.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
        all
    };
    let reindex = || {
        std::process::Command::new(BIN)
            .arg("reindex")
            .current_dir(dir.path())
            .env_remove("SKILLDEX_DATA_DIR")
            .env_remove("SKILLDEX_DATABASE_URL")
            .output()
            .unwrap()
    };
    let serve = Serve::start(dir.path(), &[]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    serve.ok(Some(&admin), &["skill", "create", "--public", "acme/lighthouse", "--description", "Keeps the lamp lit"]);
    serve.ok(Some(&admin), &["skill", "create", "--public", "acme/foghorn", "--description", "Sounds in the fog"]);
    assert_eq!(logs().matches("search index built").count(), 1, "a new data directory builds its index");

    let busy = reindex();
    assert!(!busy.status.success(), "reindex while the server runs is refused");
    assert!(String::from_utf8_lossy(&busy.stderr).contains("stop the server"), "{busy:?}");
    serve.stop();

    let out = reindex();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("search index rebuilt: 2 skills"), "{out:?}");

    let serve = Serve::start(dir.path(), &[]);
    assert_eq!(logs().matches("search index built").count(), 1, "a restart resumes the index on disk");
    assert!(logs().contains("search index opened"));
    assert!(serve.ok(None, &["search", "lamp"]).contains("acme/lighthouse"));
    serve.stop();

    std::fs::remove_dir_all(dir.path().join("skilldex-data/search")).unwrap();
    let serve = Serve::start(dir.path(), &[]);
    assert_eq!(logs().matches("search index built").count(), 2, "a missing index is rebuilt on start");
    assert!(serve.ok(None, &["search", "fog"]).contains("acme/foghorn"));
    serve.stop();
}
