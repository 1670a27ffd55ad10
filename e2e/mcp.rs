//! The MCP endpoint against the official MCP Python SDK client (`mcp` from PyPI), with public
//! and private skills, and JSON-RPC garbage over raw HTTP.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;
use crate::registry::peers_available;

fn mcp_peer_available() -> bool {
    let ok = Command::new("python3").args(["-c", "import mcp"]).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "the MCP SDK is required on CI");
        eprintln!("skipping: the `mcp` Python package is missing (run e2e/test.sh)");
    }
    ok
}

/// Runs the SDK client: initialize, tools/list, ping, then `calls`; returns what it parsed.
fn sdk(serve: &Serve, token: Option<&str>, calls: Value) -> Value {
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/peers/mcp_client.py"))
        .args([&format!("{}/mcp", serve.url()), token.unwrap_or("-"), &calls.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn text_of(result: &Value) -> String {
    result["content"].as_array().unwrap().iter().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_official_mcp_client_searches_reads_and_installs_skills() {
    if !peers_available() || !mcp_peer_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (serve, admin) = serve_with_team(root);
    serve.ok(Some(&admin), &["user", "create", "eve", "--email", "eve@example.com"]);
    let eve = serve.json(Some(&admin), &["token", "create", "--name", "t", "--scope", "read", "--user", "eve"]);
    let eve = eve["token"].as_str().unwrap().to_owned();
    serve.ok(
        Some(&admin),
        &["skill", "create", "--public", "acme/alpha", "--description", "Reviews code", "--tag", "review"],
    );
    for version in ["1.0.0", "1.1.0"] {
        let skill = skill_dir(root, "alpha", version, &[("notes.md", "n\n"), ("scripts/run.sh", "echo hi\n")]);
        serve.ok(Some(&admin), &["publish", "--public", skill.to_str().unwrap(), "-n", "acme"]);
    }
    serve.ok(Some(&admin), &["skill", "create", "acme/secret", "--description", "Hush", "--private"]);
    let secret = skill_dir(root, "secret", "1.0.0", &[]);
    serve.ok(Some(&admin), &["publish", "--public", secret.to_str().unwrap(), "-n", "acme"]);

    let calls = json!([
        ["search_skills", {}],
        ["search_skills", {"query": "secret"}],
        ["search_skills", {"tags": ["review"], "namespace": "acme", "limit": 5}],
        ["get_skill", {"namespace": "acme", "name": "alpha"}],
        ["get_skill", {"namespace": "acme", "name": "alpha", "version": "1.0.0"}],
        ["install_skill", {"namespace": "acme", "name": "alpha", "version": "^1"}],
        ["get_skill", {"namespace": "acme", "name": "secret"}],
        ["get_skill", {"namespace": "acme", "name": "absent"}],
        ["install_skill", {"namespace": "acme", "name": "secret"}],
        ["get_skill", {"namespace": "Not A Namespace", "name": "alpha"}],
        ["search_skills", {"limit": 0}],
        ["get_skill", {"namespace": "acme", "name": "alpha", "colour": "red"}],
        ["get_skill", {"namespace": "acme", "name": "alpha", "version": "^9"}],
        ["search_skills", {"tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()}],
        ["search_skills", {"tags": ["review", "other"]}],
    ]);

    // Anonymous and an outsider see the same thing: public skills only.
    for token in [None, Some(eve.as_str())] {
        let out = sdk(&serve, token, calls.clone());
        assert_eq!(out["protocolVersion"], "2025-11-25", "{out}");
        assert_eq!(out["server"], "skilldex");
        let tools: Vec<&str> = out["tools"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(tools, ["get_skill", "install_skill", "search_skills"]);
        let r = &out["calls"];
        let listed: Vec<&str> = r[0]["structuredContent"]["skills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(listed, ["alpha"], "private skills are not listed: {}", r[0]);
        assert_eq!(r[0]["structuredContent"]["count"], 1);
        assert_eq!(r[1]["structuredContent"]["count"], 0, "nor found by search");
        assert_eq!(r[2]["structuredContent"]["skills"][0]["name"], "alpha");

        // get_skill: SKILL.md and the metadata of the latest version, or the one asked for.
        assert_eq!(r[3]["isError"], false);
        assert!(text_of(&r[3]).starts_with("---\nname: alpha\n"), "{}", r[3]);
        let meta = &r[3]["structuredContent"];
        assert_eq!((meta["version"].as_str(), meta["status"].as_str()), (Some("1.1.0"), Some("active")));
        assert!(meta["digest"].as_str().unwrap().starts_with("sha256:"));
        assert_eq!(r[4]["structuredContent"]["version"], "1.0.0");

        // install_skill: pinned by digest, every file as an embedded resource.
        let install = &r[5];
        assert_eq!(install["isError"], false, "{install}");
        let reference = install["structuredContent"]["reference"].as_str().unwrap();
        assert!(reference.ends_with(meta["digest"].as_str().unwrap()), "{reference}");
        assert!(text_of(install).contains(reference));
        let files: Vec<(&str, &str)> = install["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["type"] == "resource")
            .map(|c| (c["resource"]["uri"].as_str().unwrap(), c["resource"]["text"].as_str().unwrap()))
            .collect();
        let uris: Vec<&str> = files.iter().map(|(u, _)| *u).collect();
        assert_eq!(
            uris,
            [
                "skilldex://acme/alpha@1.1.0/SKILL.md",
                "skilldex://acme/alpha@1.1.0/notes.md",
                "skilldex://acme/alpha@1.1.0/scripts/run.sh"
            ]
        );
        assert_eq!(files[2].1, "echo hi\n");

        // A private skill is exactly as missing as an absent one, as a tool error.
        for i in [6, 7, 8] {
            assert_eq!(r[i]["isError"], true, "{}", r[i]);
        }
        assert_eq!(text_of(&r[6]).replace("secret", "X"), text_of(&r[7]).replace("absent", "X"));
        assert!(!text_of(&r[8]).contains("Hush"));
        // Bad arguments and versions that match nothing are tool errors the model can read.
        for (i, says) in [(9, "namespace"), (10, "limit"), (11, "colour"), (12, "^9"), (13, "at most 20 tags")] {
            assert_eq!(r[i]["isError"], true, "{}", r[i]);
            assert!(text_of(&r[i]).contains(says), "{}", r[i]);
        }
        assert_eq!(r[14]["structuredContent"]["count"], 0, "every tag must match: {}", r[14]);
    }

    // A member sees the private skill through every tool.
    let out = sdk(
        &serve,
        Some(&admin),
        json!([["search_skills", {"query": "secret"}], ["get_skill", {"namespace": "acme", "name": "secret"}]]),
    );
    assert_eq!(out["calls"][0]["structuredContent"]["skills"][0]["name"], "secret");
    assert_eq!(out["calls"][1]["isError"], false);

    // Installs are counted as downloads, like every other install.
    let (_, skill) = http_json(serve.addr, "GET", "/api/v1/skills/acme/alpha", None, None);
    assert_eq!(skill["downloads"], 2, "{skill}");

    // JSON-RPC garbage over raw HTTP: the protocol's error shape, never a 500.
    let rpc = |token: Option<&str>, body: &[u8]| http_raw(serve.addr, "POST", "/mcp", token, "application/json", body);
    let code = |v: &Value| v["error"]["code"].as_i64();
    let (s, v) = rpc(None, b"{not json");
    assert_eq!((s, code(&v)), (400, Some(-32700)), "{v}");
    let (s, v) = rpc(None, b"[]");
    assert_eq!((s, code(&v)), (400, Some(-32600)), "{v}");
    let (s, v) = rpc(None, br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#);
    assert_eq!((s, code(&v), &v["id"]), (200, Some(-32600), &json!(1)), "{v}");
    let (s, v) = rpc(None, br#"{"jsonrpc":"2.0","id":2,"method":"resources/list"}"#);
    assert_eq!((s, code(&v)), (200, Some(-32601)), "{v}");
    let (s, v) = rpc(None, br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"rm_rf"}}"#);
    assert_eq!((s, code(&v)), (200, Some(-32602)), "{v}");
    let (s, v) = rpc(None, br#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#);
    assert_eq!((s, code(&v)), (200, Some(-32600)), "{v}");
    let (s, v) = rpc(None, br#"{"jsonrpc":"2.0","id":4,"method":"ping","params":[1]}"#);
    assert_eq!((s, code(&v)), (200, Some(-32602)), "{v}");
    let (s, v) = rpc(None, br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    assert_eq!((s, v), (202, Value::Null), "notifications are acknowledged with no body");
    let (s, v) = rpc(
        None,
        br#"[{"jsonrpc":"2.0","id":5,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/cancelled"},42]"#,
    );
    assert_eq!(s, 200);
    assert_eq!(v.as_array().map(Vec::len), Some(2), "one answer for the ping, one error for 42: {v}");
    assert_eq!(v[0]["result"], json!({}));
    let (s, v) = rpc(Some("sk_not_a_token"), br#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#);
    assert_eq!((s, code(&v)), (401, Some(-32001)), "{v}");
    let big = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"ping","params":{{"pad":"{}"}}}}"#, "x".repeat(2 << 20));
    let (s, v) = rpc(None, big.as_bytes());
    assert_eq!((s, code(&v)), (413, Some(-32600)), "{v}");
    let (s, _) = http_raw(serve.addr, "GET", "/mcp", None, "application/json", b"");
    assert_eq!(s, 405, "no server-to-client stream is offered");
    serve.stop();
}

/// With an embedding model, an agent's search over MCP is hybrid: it finds a skill by what it
/// does, in words the skill never uses, and still never shows a private skill to outsiders.
#[test]
fn agents_find_skills_by_meaning_over_mcp() {
    if !mcp_peer_available() {
        return;
    }
    let Some(model) = crate::common::embedding_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let serve = Serve::start(root, &["--embedding-model", &model]);
    let admin = std::fs::read_to_string(root.join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    for (name, description, private) in [
        ("k8s-deploy", "Writes Kubernetes deployments, services and ingress manifests", false),
        ("sourdough", "Bakes bread with a natural starter", false),
        ("helm-vault", "Packages Kubernetes applications as Helm charts", true),
    ] {
        let id = format!("acme/{name}");
        let mut args = vec!["skill", "create", &id, "--description", description];
        args.push(if private { "--private" } else { "--public" });
        serve.ok(Some(&admin), &args);
        let skill = root.join(name);
        std::fs::create_dir_all(&skill).unwrap();
        let md = format!("---\nname: {name}\ndescription: {description}\nversion: 1.0.0\n---\n# {name}\n");
        std::fs::write(skill.join("SKILL.md"), md).unwrap();
        serve.ok(Some(&admin), &["publish", "--public", skill.to_str().unwrap(), "-n", "acme"]);
    }
    // Vectors are computed in the background; keyword search never waits for them.
    let names = |out: &Value| -> Vec<String> {
        out["calls"][0]["structuredContent"]["skills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let query = json!([["search_skills", {"query": "container orchestration"}]]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let found = loop {
        let found = names(&sdk(&serve, None, query.clone()));
        if found.iter().any(|n| n == "k8s-deploy") || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    assert_eq!(found.first().map(String::as_str), Some("k8s-deploy"), "found by meaning: {found:?}");
    assert!(!found.contains(&"helm-vault".to_owned()), "never a private skill for anonymous: {found:?}");
    let as_admin = names(&sdk(&serve, Some(&admin), json!([["search_skills", {"query": "helm charts"}]])));
    assert_eq!(as_admin.first().map(String::as_str), Some("helm-vault"), "{as_admin:?}");
    // The CLI asks for the same by meaning.
    let found = serve.ok(None, &["search", "container orchestration", "--mode", "semantic"]);
    assert!(found.lines().nth(1).is_some_and(|l| l.starts_with("acme/k8s-deploy  1.0.0")), "{found}");
    assert!(!found.contains("helm-vault"), "{found}");
    serve.stop();
}
