//! `requires:` in the REST resolve answer: the closure each caller may resolve, each skill
//! pinned by digest, ToolHive references (metadata and manifest annotation) matched to the
//! versions this index records, and an ETag that moves when a dependency does.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use skilldex::bundle::{Bundle, Limits};
use skilldex::domain::TokenScope;
use skilldex::oci::layout::{Blob, Identity, build_toolhive, keys, media};

use crate::common::{HOST, TestApp, TestDb, on_both_backends};
use crate::skill_pool::publish_md;

on_both_backends!(resolve_answers_with_the_closure_the_caller_may_resolve);

fn md(name: &str, version: &str, extra: &str) -> String {
    format!("---\nname: {name}\ndescription: The {name} skill\nversion: {version}\n{extra}---\nUse it.\n")
}

/// One dependency as `requirement -> namespace/name@version digest` (or `-> none`), with
/// who needs it and how deep.
fn row(d: &Value) -> String {
    let to = match &d["resolved"] {
        Value::Null => "none".to_owned(),
        r => format!("{}/{}@{}", r["namespace"].as_str().unwrap(), r["name"].as_str().unwrap(), r["version"]),
    };
    format!("{} -> {to} by {} at {}", d["requirement"].as_str().unwrap(), d["required_by"], d["depth"])
}

async fn resolve_answers_with_the_closure_the_caller_may_resolve(db: TestDb) {
    let app = TestApp::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &alice).await;
    app.team("beta", &app.admin).await;
    let public = json!({"visibility": "public"});
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        publish_md(&app, dir.path(), &alice, ("acme", "lint"), v, &md("lint", v, ""), public.clone()).await;
    }
    let fmt = md("fmt", "1.0.0", "requires:\n  - acme/lint@^1\n");
    publish_md(&app, dir.path(), &app.admin, ("beta", "fmt"), "1.0.0", &fmt, public.clone()).await;
    let private = json!({"visibility": "private"});
    publish_md(&app, dir.path(), &app.admin, ("beta", "secret"), "1.0.0", &md("secret", "1.0.0", ""), private).await;
    publish_md(&app, dir.path(), &alice, ("acme", "docs"), "1.0.0", &md("docs", "1.0.0", ""), public.clone()).await;
    let docs = app.get("/api/v1/resolve/acme/docs", None).await.body["digest"].as_str().unwrap().to_owned();

    // `tools` names `docs` only in its manifest's ToolHive annotation, as other packers may.
    let src = dir.path().join("tools");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("SKILL.md"), md("tools", "1.0.0", "")).unwrap();
    let bundle = Bundle::from_dir(&src, &Limits::default()).unwrap();
    let id = Identity { namespace: "acme", name: "tools", version: "1.0.0" };
    let mut artifact = build_toolhive(&bundle, &bundle.pack(0), &id, None);
    let mut index: Value = serde_json::from_slice(&artifact.index.data).unwrap();
    for (i, m) in artifact.manifests.iter_mut().enumerate() {
        let mut manifest: Value = serde_json::from_slice(&m.data).unwrap();
        manifest["annotations"][keys::TH_REQUIRES] = json!(json!([format!("{HOST}/acme/docs@{docs}")]).to_string());
        *m = Blob::new(media::MANIFEST, serde_json::to_vec(&manifest).unwrap());
        index["manifests"][i]["digest"] = json!(m.digest);
        index["manifests"][i]["size"] = json!(m.data.len());
    }
    artifact.index = Blob::new(media::INDEX, serde_json::to_vec(&index).unwrap());
    app.embedded.push_artifact("acme/tools", "1.0.0", &artifact).await.unwrap();
    let body = json!({"version": "1.0.0", "reference": format!("{HOST}/acme/tools@{}", artifact.digest()),
        "create": public});
    let r = app.call(Method::POST, "/api/v1/skills/acme/tools/versions", Some(&alice), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // Another team's fork records the same artifacts; a reference still names the original.
    let fork = json!({"targetScope": "beta", "targetSlug": "docs"});
    let r = app.call(Method::POST, "/api/v1/skills/acme/docs/fork", Some(&app.admin), Some(fork)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // `app` needs skills by name, a hidden one, a missing one, and a ToolHive reference by tag.
    let requires = format!(
        "requires:\n  - lint@^1\n  - beta/fmt\n  - beta/secret\n  - ghost\nmetadata:\n  toolhive.requires: \"{HOST}/acme/tools:1.0.0\"\n"
    );
    let app_md = md("app", "1.0.0", &requires);
    publish_md(&app, dir.path(), &alice, ("acme", "app"), "1.0.0", &app_md, json!({"visibility": "public"})).await;

    let r = app.get("/api/v1/resolve/acme/app", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let rows: Vec<String> = r.body["dependencies"].as_array().unwrap().iter().map(row).collect();
    let tools = format!("{HOST}/acme/tools:1.0.0");
    let docs_ref = format!("{HOST}/acme/docs@{docs}");
    assert_eq!(
        rows,
        [
            r#"lint@^1 -> acme/lint@"1.1.0" by ["acme/app","beta/fmt"] at 1"#.to_owned(),
            r#"beta/fmt -> beta/fmt@"1.0.0" by ["acme/app"] at 1"#.to_owned(),
            r#"beta/secret -> none by ["acme/app"] at 1"#.to_owned(),
            r#"ghost -> none by ["acme/app"] at 1"#.to_owned(),
            format!(r#"{tools} -> acme/tools@"1.0.0" by ["acme/app"] at 1"#),
            format!(r#"{docs_ref} -> acme/docs@"1.0.0" by ["acme/tools"] at 2"#),
        ],
        "{}",
        r.text
    );
    // Each dependency is pinned as its own resolve pins it.
    let lint = app.get("/api/v1/resolve/acme/lint?version=^1", None).await;
    assert_eq!(r.body["dependencies"][0]["resolved"]["digest"], lint.body["digest"]);
    assert_eq!(r.body["dependencies"][0]["range"], "^1");
    // A private dependency reads to an outsider exactly as a missing one does.
    let hidden = &r.body["dependencies"][2];
    assert_eq!(
        hidden,
        &json!({"requirement": "beta/secret", "required_by": ["acme/app"], "depth": 1, "range": "*",
        "resolved": null})
    );
    assert!(!r.text.contains(
        &app.get("/api/v1/resolve/beta/secret", Some(&app.admin)).await.body["digest"].as_str().unwrap().to_string()
    ));
    // Its team resolves it.
    let r2 = app.get("/api/v1/resolve/acme/app", Some(&app.admin)).await;
    assert_eq!(r2.body["dependencies"][2]["resolved"]["name"], "secret", "{}", r2.text);
    // A skill with no requirements answers as before: no `dependencies` at all.
    assert!(lint.body.get("dependencies").is_none(), "{}", lint.text);

    // A new version within a dependency's range moves the answer and its ETag.
    let etag = r.headers["etag"].to_str().unwrap().to_owned();
    let req = axum::http::Request::get("/api/v1/resolve/acme/app")
        .header("if-none-match", &etag)
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::NOT_MODIFIED);
    publish_md(&app, dir.path(), &alice, ("acme", "lint"), "1.2.0", &md("lint", "1.2.0", ""), json!({})).await;
    let req = axum::http::Request::get("/api/v1/resolve/acme/app")
        .header("if-none-match", &etag)
        .body(axum::body::Body::empty())
        .unwrap();
    let moved = app.send(req).await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_eq!(moved.body["dependencies"][0]["resolved"]["version"], "1.2.0");
    assert_ne!(moved.headers["etag"].to_str().unwrap(), etag);

    // A version may require at most 64 skills; more is refused before anything is stored.
    let many: String = (0..65).map(|i| format!("  - dep-{i}\n")).collect();
    let src = dir.path().join("greedy");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("SKILL.md"), md("greedy", "1.0.0", &format!("requires:\n{many}"))).unwrap();
    let bundle = Bundle::from_dir(&src, &Limits::default()).unwrap();
    let id = Identity { namespace: "acme", name: "greedy", version: "1.0.0" };
    let artifact = build_toolhive(&bundle, &bundle.pack(0), &id, None);
    app.embedded.push_artifact("acme/greedy", "1.0.0", &artifact).await.unwrap();
    let body = json!({"version": "1.0.0", "reference": format!("{HOST}/acme/greedy@{}", artifact.digest()),
        "create": {"visibility": "public"}});
    let r = app.call(Method::POST, "/api/v1/skills/acme/greedy/versions", Some(&alice), Some(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("at most 64"), "{}", r.text);
    assert_eq!(app.get("/api/v1/skills/acme/greedy", Some(&alice)).await.status, StatusCode::NOT_FOUND);
}
