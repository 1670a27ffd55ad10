//! skill-pool's projects, plans, stack mappings, bootstrap tiers and `/v1/mcp`, on a tenant.

use axum::http::StatusCode;
use serde_json::{Value, json};
use skilldex::domain::TokenScope;

use crate::common::{HOST, Reply, TestApp, TestDb, on_both_backends};
use crate::skill_pool::{error, get, post_json};

on_both_backends!(projects_resolve_remotes_and_bootstrap_in_tiers, tenant_mcp_has_the_tools_and_the_plan);

async fn send(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("x-skill-pool-tenant", "acme")
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    app.send(req.body(axum::body::Body::from(body)).unwrap()).await
}

/// Publishes `name` in acme with these tags (a public skill of kind `kind`).
async fn skill(app: &TestApp, token: &str, name: &str, tags: &[&str], kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join(name);
    std::fs::create_dir_all(&src).unwrap();
    let md = format!("---\nname: {name}\ndescription: The {name} skill\n---\nRun it.\n");
    std::fs::write(src.join("SKILL.md"), md).unwrap();
    let bundle = skilldex::bundle::Bundle::from_dir(&src, &skilldex::bundle::Limits::default()).unwrap();
    let id = skilldex::oci::layout::Identity { namespace: "acme", name, version: "1.0.0" };
    let artifact = skilldex::oci::layout::build_toolhive(&bundle, &bundle.pack(0), &id, None);
    app.embedded.push_artifact(&format!("acme/{name}"), "1.0.0", &artifact).await.unwrap();
    let body = json!({"version": "1.0.0", "reference": format!("{HOST}/acme/{name}@{}", artifact.digest()),
        "create": {"visibility": "public", "tags": tags, "kind": kind}});
    let r = app
        .call(axum::http::Method::POST, &format!("/api/v1/skills/acme/{name}/versions"), Some(token), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

async fn projects_resolve_remotes_and_bootstrap_in_tiers(db: TestDb) {
    let app = TestApp::new(db).await;
    let alice = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &alice).await;
    let rita = app.user("rita", TokenScope::Read).await;
    app.member("acme", "rita", "reader").await;
    let eve = app.user("eve", TokenScope::Admin).await;
    for (name, tags) in [("axum-helper", &["rust", "axum"][..]), ("clippy", &["rust"]), ("pytest", &["python"])] {
        skill(&app, &alice, name, tags, "skill").await;
    }
    skill(&app, &alice, "reviewer", &["rust"], "agent").await;

    // Owners (admin token) keep projects; members read them; outsiders get nothing.
    let project = json!({"slug": "billing", "name": "Billing", "git_remote": "git@GitHub.com:Acme/billing.git"});
    let r = send(&app, "POST", "/v1/tenant/projects", Some(&rita), Some(project.clone())).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"));
    let r = send(&app, "POST", "/v1/tenant/projects", Some(&eve), Some(project.clone())).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"));
    let r = send(&app, "POST", "/v1/tenant/projects", Some(&alice), Some(project.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        (r.body["git_remote"].clone(), r.body["item_count"].clone(), r.body["stack_tags"].clone()),
        (json!("https://github.com/Acme/billing"), json!(0), json!([]))
    );
    for (body, status, says) in [
        (project.clone(), StatusCode::CONFLICT, "already exists"),
        (
            json!({"slug": "other", "name": "Other", "git_remote": "https://github.com/Acme/billing/"}),
            StatusCode::CONFLICT,
            "already exists",
        ),
        (json!({"slug": "x", "name": " "}), StatusCode::BAD_REQUEST, "name is required"),
        (json!({"slug": " ", "name": "X"}), StatusCode::BAD_REQUEST, "slug is required"),
        (json!({"slug": "x", "name": "X", "git_remote": "not a remote"}), StatusCode::BAD_REQUEST, "not a git remote"),
    ] {
        let r = send(&app, "POST", "/v1/tenant/projects", Some(&alice), Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert!(r.body["message"].as_str().unwrap().contains(says), "{body}: {}", r.text);
    }

    // Items: the whole list, in order; kinds checked before anything is written.
    let items = json!([{"slug": "clippy"}, {"slug": "reviewer", "kind": "agent"}, {"slug": "not-yet-published"}]);
    let r = send(&app, "PUT", "/v1/tenant/projects/billing/items", Some(&alice), Some(items)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = send(
        &app,
        "PUT",
        "/v1/tenant/projects/billing/items",
        Some(&alice),
        Some(json!([{"slug": "x", "kind": "plugin"}])),
    )
    .await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"));
    let r = get(&app, Some("acme"), None, "/v1/tenant/projects/billing", Some(&rita)).await;
    assert_eq!(r.body["item_count"], 3, "{}", r.text);
    assert_eq!(r.body["items"][1], json!({"skill_slug": "reviewer", "kind": "agent", "position": 1}));
    let r = get(&app, Some("acme"), None, "/v1/tenant/projects", Some(&eve)).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"));
    let r = get(&app, Some("acme"), None, "/v1/tenant/projects", Some(&rita)).await;
    assert_eq!(r.body.as_array().map(|a| a.len()), Some(1), "{}", r.text);

    // Resolving a checkout's remote, in whatever form git prints it.
    for remote in
        ["https://github.com/Acme/billing.git", "ssh://git@github.com/Acme/billing", "git@github.com:Acme/billing"]
    {
        let path = format!("/v1/projects/resolve?remote={}", urlencoding(remote));
        let r = get(&app, Some("acme"), None, &path, Some(&rita)).await;
        assert_eq!(r.body, json!({"slug": "billing", "name": "Billing"}), "{remote}: {}", r.text);
    }
    let r = get(
        &app,
        Some("acme"),
        None,
        "/v1/projects/resolve?remote=https%3A%2F%2Fgithub.com%2Facme%2Fother",
        Some(&rita),
    )
    .await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "not_found"));
    let r = get(&app, Some("acme"), None, "/v1/projects/resolve?remote=", Some(&rita)).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("remote query parameter is required"))
    );

    // Bootstrap: the project's own, then curated picks, then tagged skills; cap 8.
    let r = send(&app, "PUT", "/v1/tenant/stack-mappings", Some(&alice), Some(json!({"Rust": ["pytest"]}))).await;
    assert_eq!(r.body, json!({"rust": ["pytest"]}), "{}", r.text);
    let r =
        get(&app, Some("acme"), None, "/v1/bootstrap?stack=Rust,%20axum&project=billing&debug=1", Some(&rita)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["stack"], json!(["rust", "axum"]));
    assert_eq!(r.body["skills"], json!(["clippy", "reviewer", "not-yet-published", "pytest", "axum-helper"]));
    assert_eq!(r.body["project"], json!({"slug": "billing", "name": "Billing"}));
    assert_eq!(r.body["project_items"][1], json!({"slug": "reviewer", "kind": "agent", "source": "direct"}));
    assert_eq!(
        r.body["tier_breakdown"],
        json!({"project": ["clippy", "reviewer", "not-yet-published"], "curated": ["pytest"],
               "tagged": ["axum-helper", "clippy"], "semantic": []}),
        "agents are not offered by tag; the most tags shared first"
    );
    let r = get(&app, Some("acme"), None, "/v1/bootstrap?stack=python&project=nope", Some(&rita)).await;
    assert_eq!(r.body, json!({"stack": ["python"], "skills": ["pytest"]}), "an unknown project falls through");
    let r = get(&app, Some("acme"), None, "/v1/bootstrap?stack=%20,", Some(&rita)).await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"));
    let r = get(&app, Some("acme"), None, "/v1/bootstrap?stack=rust", Some(&eve)).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"));
    // A stack is at most 20 tags once repeats are gone; more is refused before any lookup.
    let repeated = ["rust", "axum"].repeat(5000).join(",");
    let r = get(&app, Some("acme"), None, &format!("/v1/bootstrap?stack={repeated}"), Some(&rita)).await;
    assert_eq!(r.body["stack"], json!(["rust", "axum"]), "{}", r.text);
    let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    let r = get(&app, Some("acme"), None, &format!("/v1/bootstrap?stack={}", many.join(",")), Some(&rita)).await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"), "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().contains("at most 20"), "{}", r.text);
    let huge: serde_json::Map<String, Value> = (0..501).map(|i| (format!("t{i}"), json!([]))).collect();
    let r = send(&app, "PUT", "/v1/tenant/stack-mappings", Some(&alice), Some(Value::Object(huge))).await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"), "{}", r.text);
    let r = get(&app, Some("acme"), None, "/v1/tenant/stack-mappings", Some(&alice)).await;
    assert_eq!(r.body, json!({"rust": ["pytest"]}), "nothing changed: {}", r.text);

    // The project's stack tags stand in for a missing `stack`.
    let r = send(
        &app,
        "PATCH",
        "/v1/tenant/projects/billing",
        Some(&alice),
        Some(json!({"stack_tags": ["Python"], "git_remote": null})),
    )
    .await;
    assert_eq!(
        (r.body["stack_tags"].clone(), r.body["git_remote"].clone()),
        (json!(["python"]), Value::Null),
        "{}",
        r.text
    );
    let r = get(&app, Some("acme"), None, "/v1/bootstrap?project=billing", Some(&rita)).await;
    assert_eq!(r.body["skills"], json!(["clippy", "reviewer", "not-yet-published", "pytest"]), "{}", r.text);

    // Deleted, with its items.
    assert_eq!(
        send(&app, "DELETE", "/v1/tenant/projects/billing", Some(&rita), None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, "DELETE", "/v1/tenant/projects/billing", Some(&alice), None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = get(&app, Some("acme"), None, "/v1/tenant/projects/billing", Some(&rita)).await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "not_found"));
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn tenant_mcp_has_the_tools_and_the_plan(db: TestDb) {
    let app = TestApp::new(db).await;
    let alice = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &alice).await;
    let rita = app.user("rita", TokenScope::Read).await;
    app.member("acme", "rita", "reader").await;
    skill(&app, &alice, "clippy", &["rust"], "skill").await;
    skill(&app, &alice, "reviewer", &["rust"], "agent").await;
    let call = |name: &str, arguments: Value| json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}});

    let r = post_json(&app, "/v1/mcp", Some(&rita), json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})).await;
    let names: Vec<&str> =
        r.body["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["search_skills", "get_skill", "install_skill", "get_project_plan"]);
    let plain = app
        .call(axum::http::Method::POST, "/mcp", None, Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})))
        .await;
    assert_eq!(plain.body["result"]["tools"].as_array().map(Vec::len), Some(3), "no plan tool off a tenant");

    // The tenant is the namespace unless named; skill-pool's `slug` and `kind` are understood.
    let r = post_json(&app, "/v1/mcp", Some(&rita), call("search_skills", json!({"kind": "agent"}))).await;
    let found: Vec<&str> = r.body["result"]["structuredContent"]["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["reviewer"], "{}", r.text);
    let r = post_json(&app, "/v1/mcp", Some(&rita), call("get_skill", json!({"slug": "clippy"}))).await;
    assert!(r.body["result"]["content"][0]["text"].as_str().unwrap().starts_with("---\nname: clippy"), "{}", r.text);
    let r =
        post_json(&app, "/v1/mcp", Some(&rita), call("get_skill", json!({"slug": "clippy", "kind": "agent"}))).await;
    assert_eq!(r.body["result"]["isError"], true, "{}", r.text);
    let r = app.call(axum::http::Method::POST, "/mcp", None, Some(call("get_skill", json!({"slug": "clippy"})))).await;
    assert_eq!(r.body["result"]["isError"], true, "no slug without a tenant: {}", r.text);

    // get_project_plan: a missing project and a missing plan are tool errors; then the plan.
    let r = post_json(&app, "/v1/mcp", Some(&rita), call("get_project_plan", json!({"project_slug": "billing"}))).await;
    assert_eq!(r.body["result"]["content"][0]["text"], "project `billing` not found for tenant `acme`", "{}", r.text);
    let p = json!({"slug": "billing", "name": "Billing"});
    assert_eq!(send(&app, "POST", "/v1/tenant/projects", Some(&alice), Some(p)).await.status, StatusCode::CREATED);
    let r = post_json(&app, "/v1/mcp", Some(&rita), call("get_project_plan", json!({"project_slug": "billing"}))).await;
    assert!(
        r.body["result"]["content"][0]["text"].as_str().unwrap().contains("has no imported plan yet"),
        "{}",
        r.text
    );
    let plan = "# Plan\n\n1. Ship it.\n";
    let mut req = axum::http::Request::builder()
        .method("PUT")
        .uri("/v1/tenant/projects/billing/plan")
        .header("x-skill-pool-tenant", "acme")
        .header("content-type", "text/markdown");
    req = req.header("authorization", format!("Bearer {rita}"));
    assert_eq!(app.send(req.body(axum::body::Body::from(plan)).unwrap()).await.status, StatusCode::FORBIDDEN);
    let req = axum::http::Request::builder()
        .method("PUT")
        .uri("/v1/tenant/projects/billing/plan")
        .header("x-skill-pool-tenant", "acme")
        .header("content-type", "text/markdown")
        .header("authorization", format!("Bearer {alice}"));
    let r = app.send(req.body(axum::body::Body::from(plan)).unwrap()).await;
    assert_eq!(r.body["version"], 1, "{}", r.text);
    let r = post_json(&app, "/v1/mcp", Some(&rita), call("get_project_plan", json!({"project_slug": "billing"}))).await;
    let content = &r.body["result"]["content"];
    assert!(
        content[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Active plan for project `billing` (tenant `acme`), version 1."),
        "{}",
        r.text
    );
    assert_eq!((content[1]["text"].as_str(), r.body["result"]["isError"].clone()), (Some(plan), json!(false)));
    let r = get(&app, Some("acme"), None, "/v1/tenant/projects/billing/plan", Some(&rita)).await;
    assert_eq!((r.body["version"].clone(), r.body["body"].clone()), (json!(1), json!(plan)));
}
