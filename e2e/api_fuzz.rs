//! Schema-driven fuzzing of the native API: schemathesis (from PyPI) generates requests from
//! the `/openapi.json` the server serves, in every phase (examples, coverage of each
//! constraint's edges, random fuzzing, and stateful sequences along the links it infers),
//! and checks every answer: no 5xx, the status and body the document gives, and that the
//! document states the server's real rules (a request it allows is not refused with 400,
//! one it forbids is refused). Rules a JSON Schema cannot state are listed, with reasons, in
//! `e2e/schemathesis/`.

use std::process::{Command, Stdio};

use crate::common::{Serve, http_get, http_json, skill_dir};

fn schemathesis_available() -> bool {
    let found = Command::new("st").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !found {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "schemathesis is required on CI");
        eprintln!("skipping: schemathesis is not installed (run e2e/test.sh)");
    }
    found
}

#[test]
fn generated_requests_find_no_server_error_and_no_undocumented_rule() {
    if !schemathesis_available() {
        return;
    }
    let Some(model) = crate::common::embedding_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Semantic search is one of the modes the document offers, so the server has its model.
    let serve = Serve::start(dir.path(), &["--embedding-model", &model]);
    let admin = serve.admin_token();
    // Something to find: a team, a public skill with a version, a channel.
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    let src = skill_dir(dir.path(), "demo", "1.0.0", &[]);
    serve.ok(Some(&admin), &["publish", "--public", src.to_str().unwrap(), "-n", "acme"]);
    let (status, tokens) = http_json(serve.addr, "GET", "/api/v1/tokens", Some(&admin), None);
    assert_eq!(status, 200, "{tokens}");
    let own_id = tokens["data"][0]["id"].as_str().unwrap().to_owned();

    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/schemathesis");
    let examples = std::env::var("SKILLDEX_FUZZ_EXAMPLES").unwrap_or_else(|_| "40".into());
    let seed = std::env::var("SKILLDEX_FUZZ_SEED").unwrap_or_else(|_| "20261205".into());
    let mut st = Command::new("st");
    st.arg("--config-file")
        .arg(config.join("schemathesis.toml"))
        .args(["run", &format!("{}/openapi.json", serve.url())])
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args(["--checks", "all", "--max-examples", &examples, "--workers", "1", "--no-shrink"])
        .args(["--request-timeout", "30"])
        .current_dir(dir.path())
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &config)
        .env("SKILLDEX_FUZZ_TOKEN_ID", &own_id)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    if seed != "random" {
        st.args(["--seed", &seed]);
    }
    let out = st.output().expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);
    let tail: String =
        report.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(out.status.success(), "schemathesis found failures:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("generated"), "the run generated cases:\n{tail}");
    eprintln!("{tail}");

    // The server came through it: healthy, answering, its token still good, nothing panicked.
    assert_eq!(http_get(serve.addr, "/healthz").0, 200);
    let (status, me) = http_json(serve.addr, "GET", "/api/v1/me", Some(&admin), None);
    assert_eq!((status, me["user"]["username"].as_str()), (200, Some("admin")), "{me}");
    assert!(!serve.log().contains("panicked"), "no handler panicked");
    serve.stop();
}
