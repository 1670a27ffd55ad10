//! ToolHive's skills extension API: shapes, visibility, status filter, paging and errors.

use axum::http::{Method, StatusCode};
use serde_json::json;
use skilldex::domain::{TokenScope, VersionStatus, now_millis};
use skilldex::store::NewVersion;

use crate::common::{HOST, TestApp, TestDb, on_both_backends};

on_both_backends!(
    toolhive_extension_api,
    every_released_version_is_listed,
    deleting_a_version_yanks_it,
    publishing_on_the_extension_path
);

const BASE: &str = "/registry/default/v0.1/x/dev.toolhive/skills";

async fn stored_version(app: &TestApp, scope: &str, slug: &str, version: &str, status: VersionStatus) {
    let skill = app.store().skill(scope, slug).await.unwrap().unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let frontmatter = json!({"name": slug, "description": format!("{slug} from SKILL.md"), "license": "MIT",
        "allowed-tools": "Read Grep", "metadata": {"team": "platform"}});
    app.store()
        .create_version(
            &NewVersion {
                skill_id: skill.id,
                version: version.into(),
                status: Some(status),
                reference: Some(format!("ghcr.io/acme/skills/{slug}@{digest}")),
                digest: Some(digest),
                media_type: Some("application/vnd.oci.image.index.v1+json".into()),
                frontmatter: frontmatter.as_object().cloned(),
                ..Default::default()
            },
            now_millis(),
        )
        .await
        .unwrap();
}

async fn toolhive_extension_api(db: TestDb) {
    let app = TestApp::new(db).await;
    let owner = app.user("olivia", TokenScope::Read).await;
    app.team("io.github.acme", &app.admin).await;
    app.member("io.github.acme", "olivia", "reader").await;
    for (slug, vis) in
        [("lint-fix", "public"), ("old-tool", "public"), ("secret-sauce", "private"), ("empty", "public")]
    {
        app.skill("io.github.acme", slug, vis, &app.admin).await;
    }
    for slug in ["lint-fix", "old-tool", "secret-sauce"] {
        stored_version(&app, "io.github.acme", slug, "1.0.0", VersionStatus::Published).await;
    }
    stored_version(&app, "io.github.acme", "lint-fix", "1.1.0", VersionStatus::Published).await;
    let r = app
        .call(
            Method::PATCH,
            "/api/v1/skills/io.github.acme/old-tool",
            Some(&app.admin),
            Some(json!({"deprecated": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // The list: ToolHive's shape, latest versions, nothing unpublished or private.
    let r = app.get(BASE, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let names: Vec<&str> = r.body["skills"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lint-fix", "old-tool"]);
    assert_eq!(r.body["metadata"]["count"], 2);
    assert!(r.body["metadata"].get("nextCursor").is_none(), "no cursor on the last page");
    let lint = &r.body["skills"][0];
    assert_eq!(lint["namespace"], "io.github.acme");
    assert_eq!(lint["version"], "1.1.0");
    assert_eq!(lint["status"], "active");
    assert_eq!(lint["description"], "lint-fix from SKILL.md");
    assert_eq!(lint["license"], "MIT");
    assert_eq!(lint["allowedTools"], json!(["Read", "Grep"]));
    assert_eq!(lint["metadata"], json!({"team": "platform"}));
    let digest = format!("sha256:{}", "ab".repeat(32));
    assert_eq!(
        lint["packages"],
        json!([{"registryType": "oci", "identifier": format!("ghcr.io/acme/skills/lint-fix@{digest}"),
                "digest": digest, "mediaType": "application/vnd.oci.image.index.v1+json"}])
    );
    assert!(!r.text.contains("secret-sauce"));

    // Members see private skills; status is honoured.
    let r = app.get(BASE, Some(&owner)).await;
    assert_eq!(r.body["metadata"]["count"], 3);
    let r = app.get(&format!("{BASE}?status=deprecated"), None).await;
    let names: Vec<&str> = r.body["skills"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["old-tool"]);
    let r = app.get(&format!("{BASE}?status=active,deprecated&search=lint"), None).await;
    assert_eq!(r.body["skills"][0]["name"], "lint-fix");

    // Paging with an opaque cursor.
    let r = app.get(&format!("{BASE}?limit=1"), None).await;
    assert_eq!(r.body["metadata"]["count"], 1);
    let cursor = r.body["metadata"]["nextCursor"].as_str().unwrap().to_owned();
    let r = app.get(&format!("{BASE}?limit=1&cursor={cursor}"), None).await;
    assert_eq!(r.body["skills"][0]["name"], "old-tool");

    // One skill, its versions, one version.
    let r = app.get(&format!("{BASE}/io.github.acme/lint-fix"), None).await;
    assert_eq!((r.status, r.body["version"].clone()), (StatusCode::OK, json!("1.1.0")));
    let r = app.get(&format!("{BASE}/io.github.acme/lint-fix/versions"), None).await;
    let versions: Vec<&str> =
        r.body["skills"].as_array().unwrap().iter().map(|s| s["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["1.1.0", "1.0.0"]);
    let r = app.get(&format!("{BASE}/io.github.acme/lint-fix/versions/1.0.0"), None).await;
    assert_eq!(r.body["version"], "1.0.0");

    // Errors in ToolHive's shape; private skills are not found, never forbidden.
    for (path, status) in [
        (format!("{BASE}?limit=0"), StatusCode::BAD_REQUEST),
        (format!("{BASE}?limit=101"), StatusCode::BAD_REQUEST),
        (format!("{BASE}?limit=many"), StatusCode::BAD_REQUEST),
        (format!("{BASE}?cursor=garbage"), StatusCode::BAD_REQUEST),
        (format!("{BASE}?status=gone"), StatusCode::BAD_REQUEST),
        ("/registry/nope/v0.1/x/dev.toolhive/skills".to_owned(), StatusCode::NOT_FOUND),
        (format!("{BASE}/io.github.acme/secret-sauce"), StatusCode::NOT_FOUND),
        (format!("{BASE}/io.github.acme/secret-sauce/versions"), StatusCode::NOT_FOUND),
        (format!("{BASE}/io.github.acme/lint-fix/versions/9.9.9"), StatusCode::NOT_FOUND),
        (format!("{BASE}/io.github.acme/lint-fix/versions/not-semver"), StatusCode::BAD_REQUEST),
        (format!("{BASE}/Bad_NS/lint-fix"), StatusCode::BAD_REQUEST),
    ] {
        let r = app.get(&path, None).await;
        assert_eq!(r.status, status, "{path}: {}", r.text);
        assert!(r.body["error"].as_str().is_some_and(|e| !e.is_empty()), "{path}: {}", r.text);
        assert!(r.body.get("type").is_none(), "ToolHive's shape, not problem+json");
    }
    let r = app.get("/registry/nope/v0.1/x/dev.toolhive/skills", None).await;
    assert_eq!(r.body["error"], "registry not found");
    let ghost = app.get(&format!("{BASE}/io.github.acme/no-such-skill"), None).await;
    let private = app.get(&format!("{BASE}/io.github.acme/secret-sauce"), None).await;
    assert_eq!(private.text.replace("secret-sauce", "no-such-skill"), ghost.text, "indistinguishable from absent");
    assert_eq!(app.get(BASE, Some("sdx_bad")).await.status, StatusCode::UNAUTHORIZED);
}

/// A skill's version list is whole: more versions than one service page, drafts left out.
async fn every_released_version_is_listed(db: TestDb) {
    let app = TestApp::new(db).await;
    app.team("acme", &app.admin).await;
    app.skill("acme", "busy", "public", &app.admin).await;
    for patch in 0..105 {
        stored_version(&app, "acme", "busy", &format!("1.0.{patch}"), VersionStatus::Published).await;
    }
    stored_version(&app, "acme", "busy", "2.0.0", VersionStatus::Yanked).await;
    stored_version(&app, "acme", "busy", "3.0.0-draft", VersionStatus::Draft).await;
    let r = app.get(&format!("{BASE}/acme/busy/versions"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let versions: Vec<&str> =
        r.body["skills"].as_array().unwrap().iter().map(|s| s["version"].as_str().unwrap()).collect();
    assert_eq!((versions.len(), r.body["metadata"]["count"].as_u64()), (106, Some(106)));
    assert!(versions.contains(&"1.0.0") && versions.contains(&"1.0.104"), "{versions:?}");
    assert!(versions.contains(&"2.0.0") && !versions.contains(&"3.0.0-draft"));
}

/// ToolHive's "delete a version" is skilldex's yank: owners with an admin token only, audited;
/// exact pins keep resolving, `latest` skips it; every refusal changes nothing.
async fn deleting_a_version_yanks_it(db: TestDb) {
    let app = TestApp::new(db).await;
    let ns = "io.github.acme";
    app.team(ns, &app.admin).await;
    let mut tokens = std::collections::HashMap::new();
    for (user, role, scope) in [
        ("olga", "owner", TokenScope::Admin),
        ("otis", "owner", TokenScope::Write),
        ("pia", "publisher", TokenScope::Admin),
        ("rita", "reader", TokenScope::Admin),
    ] {
        tokens.insert(user, app.user(user, scope).await);
        app.member(ns, user, role).await;
    }
    let outsider = app.user("oscar", TokenScope::Admin).await;
    app.skill(ns, "lint-fix", "public", &app.admin).await;
    app.skill(ns, "secret-sauce", "private", &app.admin).await;
    for version in ["1.0.0", "1.1.0"] {
        stored_version(&app, ns, "lint-fix", version, VersionStatus::Published).await;
    }
    stored_version(&app, ns, "secret-sauce", "1.0.0", VersionStatus::Published).await;
    let delete = |path: String, token: Option<String>| {
        let app = &app;
        async move { app.call(Method::DELETE, &path, token.as_deref(), None).await }
    };
    // A version's status as the REST API lists it.
    let status_of = |slug: &'static str, version: &'static str| {
        let (app, path) = (&app, format!("/api/v1/skills/{ns}/{slug}/versions"));
        async move {
            let r = app.get(&path, Some(&app.admin)).await;
            let data = r.body["data"].as_array().unwrap().clone();
            data.into_iter().find(|v| v["version"] == version).map(|v| v["status"].clone())
        }
    };
    let audited = app.audit_len().await;

    let v110 = format!("{BASE}/{ns}/lint-fix/versions/1.1.0");
    for (who, path, token, want) in [
        ("anonymous", v110.clone(), None, StatusCode::UNAUTHORIZED),
        ("a bad token", v110.clone(), Some("sdx_bad".to_owned()), StatusCode::UNAUTHORIZED),
        ("an outsider", v110.clone(), Some(outsider.clone()), StatusCode::FORBIDDEN),
        ("a reader", v110.clone(), Some(tokens["rita"].clone()), StatusCode::FORBIDDEN),
        ("a publisher", v110.clone(), Some(tokens["pia"].clone()), StatusCode::FORBIDDEN),
        ("an owner with a write token", v110.clone(), Some(tokens["otis"].clone()), StatusCode::FORBIDDEN),
        (
            "an outsider, a private skill",
            format!("{BASE}/{ns}/secret-sauce/versions/1.0.0"),
            Some(outsider.clone()),
            StatusCode::NOT_FOUND,
        ),
        (
            "an unknown registry",
            format!("/registry/nope/v0.1/x/dev.toolhive/skills/{ns}/lint-fix/versions/1.1.0"),
            Some(tokens["olga"].clone()),
            StatusCode::NOT_FOUND,
        ),
        (
            "an absent version",
            format!("{BASE}/{ns}/lint-fix/versions/9.9.9"),
            Some(tokens["olga"].clone()),
            StatusCode::NOT_FOUND,
        ),
        (
            "not a version",
            format!("{BASE}/{ns}/lint-fix/versions/latest!"),
            Some(tokens["olga"].clone()),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = delete(path, token).await;
        assert_eq!(r.status, want, "{who}: {}", r.text);
        assert!(r.body["error"].as_str().is_some_and(|e| !e.is_empty()), "{who}: ToolHive's shape: {}", r.text);
    }
    assert_eq!(status_of("lint-fix", "1.1.0").await, Some(json!("published")), "refusals change nothing");
    assert_eq!(app.audit_len().await, audited);
    assert_eq!(status_of("secret-sauce", "1.0.0").await, Some(json!("published")));

    let r = delete(v110.clone(), Some(tokens["olga"].clone())).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(status_of("lint-fix", "1.1.0").await, Some(json!("yanked")));
    assert_eq!(app.audit_len().await, audited + 1, "audited");
    // `latest` moves back; the exact version still answers (what a lock pins keeps working).
    let r = app.get(&format!("{BASE}/{ns}/lint-fix"), None).await;
    assert_eq!((r.status, r.body["version"].clone()), (StatusCode::OK, json!("1.0.0")));
    let r = app.get(&v110, None).await;
    assert_eq!((r.status, r.body["version"].clone()), (StatusCode::OK, json!("1.1.0")), "{}", r.text);
    // Again: nothing more to do.
    let r = delete(v110.clone(), Some(tokens["olga"].clone())).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.audit_len().await, audited + 1);
}

/// ToolHive's publish on the extension path: the seed's Skill body goes through the one
/// publish pipeline (the artifact fetched with the caller's rights), 201 with the Skill, 409
/// the second time; every refusal leaves nothing behind.
async fn publishing_on_the_extension_path(db: TestDb) {
    use skilldex::bundle::{Bundle, Limits};
    use skilldex::oci::layout::{Identity, build_toolhive};
    let app = TestApp::new(db).await.with_index(|i| i.with_views(vec!["labs=lab*".parse().unwrap()]));
    let dir = tempfile::tempdir().unwrap();
    let ann = app.user("ann", TokenScope::Admin).await;
    app.team("acme", &ann).await;
    let otto = app.user("otto", TokenScope::Write).await;
    let read = app.token_for("ann", TokenScope::Read).await;
    let agent = |kind: &'static str| {
        let (app, ann) = (&app, ann.clone());
        async move {
            let r =
                app.call(Method::POST, "/api/v1/tokens", Some(&ann), Some(json!({"name": kind, "kind": kind}))).await;
            r.body["token"].as_str().unwrap().to_owned()
        }
    };
    let (bridge, publisher) = (agent("agent-bridge").await, agent("agent-publisher").await);
    let src = dir.path().join("lint-fix");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("SKILL.md"), "---\nname: lint-fix\ndescription: Fix lint.\nversion: 1.0.0\n---\nRun it.\n")
        .unwrap();
    let bundle = Bundle::from_dir(&src, &Limits::default()).unwrap();
    let id = Identity { namespace: "acme", name: "lint-fix", version: "1.0.0" };
    let artifact = build_toolhive(&bundle, &bundle.pack(0), &id, None);
    app.embedded.push_artifact("acme/lint-fix", "1.0.0", &artifact).await.unwrap();
    let digest = artifact.digest().to_string();
    // The body as ToolHive's documentation shows it.
    let skill = |status: &str| {
        json!({"namespace": "acme", "name": "lint-fix", "title": "Lint Fixer",
            "description": "Find and fix linting errors in a project", "version": "1.0.0", "status": status,
            "license": "Apache-2.0", "allowedTools": ["Read", "Edit", "Bash", "Grep"],
            "packages": [{"registryType": "oci", "identifier": format!("{HOST}/acme/lint-fix"), "ref": "1.0.0",
                "digest": digest}],
            "repository": {"type": "git", "url": "https://github.com/acme/skills"},
            "icons": [], "metadata": {"team": "platform"}, "_meta": {}})
    };
    let labs = "/registry/labs/v0.1/x/dev.toolhive/skills";
    let nope = "/registry/nope/v0.1/x/dev.toolhive/skills";
    for (who, path, token, body, want) in [
        ("anonymous", BASE, None, skill("active"), StatusCode::UNAUTHORIZED),
        ("a bad token", BASE, Some("sdx_bad"), skill("active"), StatusCode::UNAUTHORIZED),
        ("a read token", BASE, Some(read.as_str()), skill("active"), StatusCode::FORBIDDEN),
        ("an agent-bridge token", BASE, Some(bridge.as_str()), skill("active"), StatusCode::FORBIDDEN),
        ("an outsider", BASE, Some(otto.as_str()), skill("active"), StatusCode::FORBIDDEN),
        ("a view without the namespace", labs, Some(ann.as_str()), skill("active"), StatusCode::BAD_REQUEST),
        ("an unknown registry", nope, Some(ann.as_str()), skill("active"), StatusCode::NOT_FOUND),
        ("published deprecated", BASE, Some(ann.as_str()), skill("deprecated"), StatusCode::BAD_REQUEST),
        (
            "no name",
            BASE,
            Some(ann.as_str()),
            json!({"namespace": "acme", "version": "1.0.0"}),
            StatusCode::BAD_REQUEST,
        ),
        ("a list", BASE, Some(ann.as_str()), json!([skill("active")]), StatusCode::BAD_REQUEST),
        (
            "a ref other than the identifier's tag",
            BASE,
            Some(ann.as_str()),
            json!({"namespace": "acme", "name": "lint-fix", "version": "1.0.0", "packages": [{"registryType": "oci",
                "identifier": format!("{HOST}/acme/lint-fix:2.0.0"), "ref": "1.0.0"}]}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = app.call(Method::POST, path, token, Some(body)).await;
        assert_eq!(r.status, want, "{who}: {}", r.text);
        assert!(r.body["error"].as_str().is_some_and(|e| !e.is_empty()), "{who}: ToolHive's shape: {}", r.text);
    }
    let huge = format!("{{\"namespace\": \"{}\"}}", "a".repeat(4 << 20));
    let r = app.raw(Method::POST, BASE, Some(&ann), Some(&huge), Some("application/json")).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert!(r.body["error"].is_string(), "{}", r.text);
    assert_eq!(app.get("/api/v1/skills/acme/lint-fix", Some(&ann)).await.status, StatusCode::NOT_FOUND);

    let r = app.call(Method::POST, BASE, Some(&publisher), Some(skill("active"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!((r.body["name"].as_str(), r.body["version"].as_str()), (Some("lint-fix"), Some("1.0.0")));
    assert_eq!(r.body["title"], "Lint Fixer");
    assert_eq!(r.body["packages"][0]["digest"], digest.as_str());
    let fetched = app.get(&format!("{BASE}/acme/lint-fix"), Some(&ann)).await;
    assert_eq!(fetched.body, r.body);
    let r = app.call(Method::POST, BASE, Some(&ann), Some(skill("active"))).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.body["error"].is_string());
}
