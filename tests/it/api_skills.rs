//! Skills, channels, versions and stars over HTTP.

use axum::http::{Method, StatusCode};
use serde_json::json;
use skilldex::domain::{TokenScope, VersionStatus};

use crate::common::{TestApp, TestDb, on_both_backends};

on_both_backends!(
    skill_lifecycle,
    search_filters_sorts_and_pages,
    versions_channels_and_yanks,
    concurrent_creates_have_one_winner,
);

async fn skill_lifecycle(db: TestDb) {
    let app = TestApp::new(db).await;
    let owner = app.user("olivia", TokenScope::Admin).await;
    app.team("backend", &owner).await;

    let r = app
        .call(
            Method::POST,
            "/api/v1/skills",
            Some(&owner),
            Some(json!({"scope": "backend", "slug": "code-reviewer", "displayName": "Code Reviewer",
                "description": "Automated code review skill", "tags": ["review", "quality"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // csreg's create response shape.
    for field in [
        "id",
        "scope",
        "slug",
        "displayName",
        "description",
        "visibility",
        "tags",
        "skillType",
        "downloads",
        "stars",
        "latestVersion",
        "createdAt",
        "updatedAt",
    ] {
        assert!(r.body.get(field).is_some(), "missing {field}: {}", r.text);
    }
    assert_eq!(r.body["visibility"], "public");
    assert_eq!(r.body["skillType"], "command");
    assert_eq!(r.body["latestVersion"], serde_json::Value::Null);

    let r = app
        .call(Method::POST, "/api/v1/skills", Some(&owner), Some(json!({"scope": "backend", "slug": "code-reviewer"})))
        .await;
    assert_eq!((r.status, r.problem_type()), (StatusCode::CONFLICT, "version-conflict"));
    assert_eq!(r.body["instance"], "/api/v1/skills");

    let r =
        app.call(Method::POST, "/api/v1/skills", Some(&owner), Some(json!({"scope": "frontend", "slug": "x"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "cannot publish into a namespace you are not in");

    // Deprecate with a message, then clear it.
    let path = "/api/v1/skills/backend/code-reviewer";
    let r = app
        .call(Method::PATCH, path, Some(&owner), Some(json!({"deprecated": true, "deprecatedMessage": "use v2"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["deprecated"].clone(), r.body["deprecatedMessage"].clone()), (json!(true), json!("use v2")));
    assert_eq!(r.body["displayName"], "Code Reviewer", "fields not sent stay as they were");
    let r = app
        .call(Method::PATCH, path, Some(&owner), Some(json!({"deprecated": false, "deprecatedMessage": null})))
        .await;
    assert_eq!((r.body["deprecated"].clone(), r.body["deprecatedMessage"].clone()), (json!(false), json!(null)));
    let r = app.call(Method::PATCH, path, Some(&owner), Some(json!({"readme": "# Reviewer\nReads diffs."}))).await;
    assert_eq!(r.body["readme"], "# Reviewer\nReads diffs.");

    // Stars are idempotent and counted.
    let star = format!("{path}/star");
    let r = app.call(Method::PUT, &star, Some(&owner), None).await;
    assert_eq!((r.status, r.body["stars"].clone()), (StatusCode::OK, json!(1)));
    let r = app.call(Method::PUT, &star, Some(&owner), None).await;
    assert_eq!(r.body["stars"], 1);
    assert_eq!(app.get(path, None).await.body["stars"], 1);
    let r = app.call(Method::DELETE, &star, Some(&owner), None).await;
    assert_eq!((r.body["starred"].clone(), r.body["stars"].clone()), (json!(false), json!(0)));

    // Soft delete: gone from lists and lookups, restorable by an owner.
    let r = app.call(Method::DELETE, path, Some(&owner), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/skills?q=review", None).await.body["data"], json!([]));
    assert_eq!(app.get("/api/v1/skills", Some(&owner)).await.body["data"], json!([]));
    let r = app.get(path, Some(&owner)).await;
    assert_eq!((r.status, r.body["deleted"].clone()), (StatusCode::OK, json!(true)), "owners still see it");
    let r = app.call(Method::PATCH, path, Some(&owner), Some(json!({"description": "x"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a deleted skill takes no changes");
    let r = app
        .call(Method::POST, "/api/v1/skills", Some(&owner), Some(json!({"scope": "backend", "slug": "code-reviewer"})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "the name stays taken while deleted");
    let r = app.call(Method::POST, &format!("{path}/restore"), Some(&owner), None).await;
    assert_eq!((r.status, r.body["deleted"].clone()), (StatusCode::OK, json!(false)));
    assert_eq!(app.get("/api/v1/skills?q=review", None).await.body["data"].as_array().unwrap().len(), 1);
    let r = app.call(Method::POST, &format!("{path}/restore"), Some(&owner), None).await;
    assert_eq!((r.status, r.problem_type()), (StatusCode::CONFLICT, "state-conflict"), "restoring a live skill");
}

async fn search_filters_sorts_and_pages(db: TestDb) {
    let app = TestApp::new(db).await;
    let owner = app.user("olivia", TokenScope::Admin).await;
    app.team("backend", &owner).await;
    app.team("frontend", &owner).await;
    let specs = [
        ("backend", "code-reviewer", "Reviews pull requests", vec!["review"], "command"),
        ("backend", "sql-helper", "Writes SQL migrations", vec!["db"], "context"),
        ("frontend", "css-linter", "Lints stylesheets and reviews CSS", vec!["review", "css"], "command"),
        ("frontend", "react-docs", "React documentation", vec!["docs"], "template"),
    ];
    for (scope, slug, desc, tags, ty) in &specs {
        let r = app
            .call(
                Method::POST,
                "/api/v1/skills",
                Some(&owner),
                Some(json!({"scope": scope, "slug": slug, "description": desc, "tags": tags, "skillType": ty})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let slugs = |r: &crate::common::Reply| -> Vec<String> {
        r.body["data"].as_array().unwrap().iter().map(|s| s["slug"].as_str().unwrap().to_owned()).collect()
    };
    let r = app.get("/api/v1/skills?q=review", None).await;
    assert_eq!(slugs(&r), ["code-reviewer", "css-linter"], "name match ranks first");
    assert_eq!(slugs(&app.get("/api/v1/skills?scope=frontend&sort=name", None).await), ["css-linter", "react-docs"]);
    assert_eq!(slugs(&app.get("/api/v1/skills?tag=review&sort=name", None).await), ["code-reviewer", "css-linter"]);
    assert_eq!(slugs(&app.get("/api/v1/skills?type=template", None).await), ["react-docs"]);
    assert_eq!(slugs(&app.get("/api/v1/skills?q=review&scope=backend", None).await), ["code-reviewer"]);
    assert_eq!(slugs(&app.get("/api/v1/skills?q=nothing-like-this", None).await), Vec::<String>::new());

    app.call(Method::PUT, "/api/v1/skills/frontend/react-docs/star", Some(&owner), None).await;
    assert_eq!(slugs(&app.get("/api/v1/skills?sort=stars&limit=1", None).await), ["react-docs"]);
    let all = slugs(&app.get("/api/v1/skills?sort=name", None).await);
    assert_eq!(all, ["code-reviewer", "css-linter", "react-docs", "sql-helper"]);

    // Walking pages of one gives every skill once, and the last page has no cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/skills?sort=name&limit=1&cursor={c}"),
            None => "/api/v1/skills?sort=name&limit=1".to_owned(),
        };
        let r = app.get(&path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        seen.extend(slugs(&r));
        cursor = r.body["cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, all);
    let r = app.get("/api/v1/skills?sort=name&limit=4", None).await;
    assert!(r.body["cursor"].is_null(), "no cursor when everything fit");
    let first = app.get("/api/v1/skills?sort=name&limit=1", None).await.body["cursor"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/api/v1/skills?sort=stars&cursor={first}"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a cursor belongs to its sort order");
}

async fn versions_channels_and_yanks(db: TestDb) {
    let app = TestApp::new(db).await;
    let owner = app.user("olivia", TokenScope::Admin).await;
    app.team("backend", &owner).await;
    app.skill("backend", "tool", "public", &owner).await;
    for v in ["1.0.0", "1.1.0", "2.0.0-beta.1"] {
        app.version("backend", "tool", v, VersionStatus::Published).await;
    }
    app.version("backend", "tool", "3.0.0", VersionStatus::Draft).await;
    let base = "/api/v1/skills/backend/tool";
    assert_eq!(app.get(base, None).await.body["latestVersion"], "1.1.0");

    let versions = |r: &crate::common::Reply| -> Vec<String> {
        r.body["data"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap().to_owned()).collect()
    };
    let r = app.get(&format!("{base}/versions"), None).await;
    assert_eq!(versions(&r), ["2.0.0-beta.1", "1.1.0", "1.0.0"], "drafts are for members only");
    for field in
        ["id", "version", "status", "changelog", "entryPoint", "skillType", "fileCount", "archiveSize", "createdAt"]
    {
        assert!(r.body["data"][0].get(field).is_some(), "missing {field}");
    }
    let r = app.get(&format!("{base}/versions"), Some(&owner)).await;
    assert_eq!(versions(&r)[0], "3.0.0");
    let r = app.get(&format!("{base}/versions?status=draft"), Some(&owner)).await;
    assert_eq!(versions(&r), ["3.0.0"]);
    let r = app.get(&format!("{base}/versions?limit=2"), None).await;
    let next = r.body["cursor"].as_str().unwrap().to_owned();
    let r = app.get(&format!("{base}/versions?limit=2&cursor={next}"), None).await;
    assert_eq!(versions(&r), ["1.0.0"]);

    // Yanking the latest moves `latest` back; un-yanking restores it.
    let r = app.call(Method::PUT, &format!("{base}/versions/1.1.0/yank"), Some(&owner), None).await;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::OK, json!("yanked")));
    assert_eq!(app.get(base, None).await.body["latestVersion"], "1.0.0");
    let r = app.get(&format!("{base}/versions?status=yanked"), None).await;
    assert_eq!(versions(&r), ["1.1.0"]);
    let r = app.call(Method::DELETE, &format!("{base}/versions/1.1.0/yank"), Some(&owner), None).await;
    assert_eq!(r.body["status"], "published");
    assert_eq!(app.get(base, None).await.body["latestVersion"], "1.1.0");
    let r = app.call(Method::PUT, &format!("{base}/versions/3.0.0/yank"), Some(&owner), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "drafts cannot be yanked");
    let r = app.call(Method::PUT, &format!("{base}/versions/9.9.9/yank"), Some(&owner), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Channels: latest is automatic; others point at published versions only.
    let r = app.get(&format!("{base}/channels"), None).await;
    assert_eq!(r.body["data"][0]["name"], "latest");
    assert_eq!(r.body["data"][0]["version"], "1.1.0");
    let r = app
        .call(Method::PUT, &format!("{base}/channels/stable"), Some(&owner), Some(json!({"version": "1.0.0"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["name"].clone(), r.body["version"].clone()), (json!("stable"), json!("1.0.0")));
    let r =
        app.call(Method::PUT, &format!("{base}/channels/beta"), Some(&owner), Some(json!({"version": "3.0.0"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "drafts cannot be channel targets");
    let r = app
        .call(Method::PUT, &format!("{base}/channels/latest"), Some(&owner), Some(json!({"version": "1.0.0"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.call(Method::DELETE, &format!("{base}/channels/latest"), Some(&owner), None).await;
    assert_eq!((r.status, r.problem_type()), (StatusCode::BAD_REQUEST, "validation-error"));
    let names: Vec<String> = app.get(&format!("{base}/channels"), None).await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["latest", "stable"]);
    let r = app.call(Method::DELETE, &format!("{base}/channels/stable"), Some(&owner), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.call(Method::DELETE, &format!("{base}/channels/stable"), Some(&owner), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // `latest` cannot be deleted even before it points anywhere.
    app.skill("backend", "empty", "public", &owner).await;
    let r = app.call(Method::DELETE, "/api/v1/skills/backend/empty/channels/latest", Some(&owner), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.get("/api/v1/skills/backend/empty/channels", None).await;
    assert_eq!(
        r.body["data"],
        json!([{"name": "latest", "version": null, "updatedAt": r.body["data"][0]["updatedAt"]}])
    );
}

async fn concurrent_creates_have_one_winner(db: TestDb) {
    let app = TestApp::new(db).await;
    let owner = app.user("olivia", TokenScope::Write).await;
    let admin = app.admin.clone();
    app.team("race", &admin).await;
    let r = app
        .call(Method::PUT, "/api/v1/teams/race/members/olivia", Some(&admin), Some(json!({"role": "publisher"})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let app = std::sync::Arc::new(app);
    for round in 0..8 {
        let body = json!({"scope": "race", "slug": format!("skill-{round}")});
        let (a, b) = tokio::join!(
            {
                let (app, owner, body) = (app.clone(), owner.clone(), body.clone());
                tokio::spawn(
                    async move { app.call(Method::POST, "/api/v1/skills", Some(&owner), Some(body)).await.status },
                )
            },
            {
                let (app, admin, body) = (app.clone(), admin.clone(), body.clone());
                tokio::spawn(
                    async move { app.call(Method::POST, "/api/v1/skills", Some(&admin), Some(body)).await.status },
                )
            }
        );
        let mut statuses = [a.unwrap(), b.unwrap()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "round {round}");
    }
    assert_eq!(app.get("/api/v1/skills?scope=race&limit=100", None).await.body["data"].as_array().unwrap().len(), 8);
}
