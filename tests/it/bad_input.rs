//! Malformed bodies, bad names, bad semver, unknown fields and oversized bodies, walked
//! through every write endpoint: each gets the right problem+json and nothing is stored.

use axum::http::{Method, StatusCode};
use serde_json::json;
use skilldex::domain::{TokenScope, VersionStatus};

use crate::common::{TestApp, TestDb, on_both_backends};

on_both_backends!(bad_input_is_refused_and_stores_nothing, array_bodies_are_refused_on_every_surface);

const JSON: Option<&str> = Some("application/json");

struct Case {
    method: Method,
    path: String,
    body: Option<String>,
    content_type: Option<&'static str>,
    status: StatusCode,
    kind: &'static str,
}

fn case(method: Method, path: &str, body: impl Into<Option<String>>, status: StatusCode, kind: &'static str) -> Case {
    Case { method, path: path.to_owned(), body: body.into(), content_type: JSON, status, kind }
}

fn j(v: serde_json::Value) -> Option<String> {
    Some(v.to_string())
}

async fn bad_input_is_refused_and_stores_nothing(db: TestDb) {
    let app = TestApp::new(db).await;
    let owner = app.user("olivia", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    app.skill("acme", "tool", "public", &owner).await;
    app.version("acme", "tool", "1.0.0", VersionStatus::Published).await;

    use StatusCode as S;
    let bad = S::BAD_REQUEST;
    let v = "validation-error";
    let huge = format!("{{\"username\":\"{}\",\"email\":\"a@b.c\"}}", "a".repeat(2 * 1024 * 1024));
    let long = "x".repeat(1100);
    let skill = "/api/v1/skills/acme/tool";
    let mut cases = vec![
        // Users
        case(Method::POST, "/api/v1/users", "{".to_owned(), bad, v),
        case(Method::POST, "/api/v1/users", "".to_owned(), bad, v),
        case(Method::POST, "/api/v1/users", "[]".to_owned(), bad, v),
        case(Method::POST, "/api/v1/users", j(json!({"username": "zed"})), bad, v),
        case(Method::POST, "/api/v1/users", j(json!({"username": 5, "email": "z@x.io"})), bad, v),
        case(Method::POST, "/api/v1/users", j(json!({"username": "Zed Zed", "email": "z@x.io"})), bad, v),
        case(Method::POST, "/api/v1/users", j(json!({"username": "zed", "email": "not-an-email"})), bad, v),
        case(Method::POST, "/api/v1/users", j(json!({"username": "zed", "email": "z@x.io", "role": "god"})), bad, v),
        case(Method::POST, "/api/v1/users", Some(huge.clone()), S::PAYLOAD_TOO_LARGE, "archive-too-large"),
        Case {
            content_type: None,
            ..case(
                Method::POST,
                "/api/v1/users",
                j(json!({"username": "zed", "email": "z@x.io"})),
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
            )
        },
        Case {
            content_type: Some("text/plain"),
            ..case(
                Method::POST,
                "/api/v1/users",
                j(json!({"username": "zed", "email": "z@x.io"})),
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
            )
        },
        // Tokens
        case(Method::POST, "/api/v1/users/Not%20Valid/tokens", j(json!({"name": "n", "scope": "read"})), bad, v),
        case(
            Method::POST,
            "/api/v1/users/nobody/tokens",
            j(json!({"name": "n", "scope": "read"})),
            S::NOT_FOUND,
            "not-found",
        ),
        case(Method::POST, "/api/v1/tokens", j(json!({"name": "n", "scope": "root"})), bad, v),
        case(Method::POST, "/api/v1/tokens", j(json!({"name": "", "scope": "read"})), bad, v),
        case(Method::POST, "/api/v1/tokens", j(json!({"name": long, "scope": "read"})), bad, v),
        case(Method::POST, "/api/v1/tokens", j(json!({"name": "n", "scope": "read", "expiresAt": "tomorrow"})), bad, v),
        case(
            Method::POST,
            "/api/v1/tokens",
            j(json!({"name": "n", "scope": "read", "expiresAt": "2000-01-01T00:00:00Z"})),
            bad,
            v,
        ),
        case(Method::POST, "/api/v1/tokens", j(json!({"name": "n\u{0}", "scope": "read"})), bad, v),
        case(Method::DELETE, "/api/v1/tokens/does-not-exist", None, S::NOT_FOUND, "not-found"),
        // Teams
        case(Method::POST, "/api/v1/teams", j(json!({"slug": "-acme-", "displayName": "A"})), bad, v),
        case(Method::POST, "/api/v1/teams", j(json!({"slug": "a".repeat(129), "displayName": "A"})), bad, v),
        case(Method::POST, "/api/v1/teams", j(json!({"slug": "newteam", "displayName": ""})), bad, v),
        // A struct's fields as an array (serde's other reading of a struct) is not a body.
        case(Method::POST, "/api/v1/teams", j(json!(["newteam", "New team"])), bad, v),
        case(Method::POST, "/api/v1/policies/reevaluate", j(json!([null])), bad, v),
        case(Method::POST, "/api/v1/teams", j(json!({"slug": "newteam"})), bad, v),
        case(
            Method::POST,
            "/api/v1/teams",
            j(json!({"slug": "acme", "displayName": "Dup"})),
            S::CONFLICT,
            "version-conflict",
        ),
        case(Method::PUT, "/api/v1/teams/acme/members/olivia", j(json!({"role": "king"})), bad, v),
        // The last owner stays: a conflict with the team as it is, not a bad request.
        case(
            Method::PUT,
            "/api/v1/teams/acme/members/olivia",
            j(json!({"role": "reader"})),
            S::CONFLICT,
            "state-conflict",
        ),
        case(Method::PUT, "/api/v1/teams/acme/members/BAD!", j(json!({"role": "reader"})), bad, v),
        case(Method::PUT, "/api/v1/teams/ACME/members/olivia", j(json!({"role": "reader"})), bad, v),
        case(Method::DELETE, "/api/v1/teams/acme/members/olivia", None, S::CONFLICT, "state-conflict"),
        // Skills
        case(Method::POST, "/api/v1/skills", j(json!({"scope": "acme", "slug": "Bad--Name"})), bad, v),
        case(Method::POST, "/api/v1/skills", j(json!({"scope": "ac/me", "slug": "ok"})), bad, v),
        case(Method::POST, "/api/v1/skills", j(json!({"scope": "acme", "slug": "ok", "visibility": "secret"})), bad, v),
        case(Method::POST, "/api/v1/skills", j(json!({"scope": "acme", "slug": "ok", "skillType": "agent"})), bad, v),
        case(Method::POST, "/api/v1/skills", j(json!({"scope": "acme", "slug": "ok", "tags": ["Not A Tag"]})), bad, v),
        case(
            Method::POST,
            "/api/v1/skills",
            j(json!({"scope": "acme", "slug": "ok", "tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()})),
            bad,
            v,
        ),
        case(
            Method::POST,
            "/api/v1/skills",
            j(json!({"scope": "acme", "slug": "ok", "description": "d".repeat(1025)})),
            bad,
            v,
        ),
        case(
            Method::POST,
            "/api/v1/skills",
            j(json!({"scope": "acme", "slug": "ok", "displayName": "a\u{7}b"})),
            bad,
            v,
        ),
        case(
            Method::POST,
            "/api/v1/skills",
            j(json!({"scope": "acme", "slug": "ok", "readme": "r".repeat(600 * 1024)})),
            bad,
            v,
        ),
        case(
            Method::POST,
            "/api/v1/skills",
            j(json!({"scope": "acme", "slug": "ok", "readme": "r".repeat(1100 * 1024)})),
            S::PAYLOAD_TOO_LARGE,
            "archive-too-large",
        ),
        case(Method::POST, "/api/v1/skills", j(json!({"scope": "acme", "slug": "ok", "extra": true})), bad, v),
        case(
            Method::POST,
            "/api/v1/skills",
            j(json!({"scope": "acme", "slug": "tool"})),
            S::CONFLICT,
            "version-conflict",
        ),
        case(Method::PATCH, skill, j(json!({"tags": "review"})), bad, v),
        case(Method::PATCH, skill, j(json!({"deprecatedMessage": "m".repeat(501)})), bad, v),
        case(Method::PATCH, skill, j(json!({"description": "x", "owner": "me"})), bad, v),
        case(Method::PATCH, skill, j(json!({"displayName": "   "})), bad, v),
        case(Method::PATCH, "/api/v1/skills/acme/Tool", j(json!({"description": "x"})), bad, v),
        case(Method::PATCH, "/api/v1/skills/acme/ghost", j(json!({"description": "x"})), S::NOT_FOUND, "not-found"),
        // Channels and versions
        case(Method::PUT, &format!("{skill}/channels/1.0.0"), j(json!({"version": "1.0.0"})), bad, v),
        case(Method::PUT, &format!("{skill}/channels/latest"), j(json!({"version": "1.0.0"})), bad, v),
        case(Method::PUT, &format!("{skill}/channels/stable"), j(json!({"version": "v1"})), bad, v),
        case(
            Method::PUT,
            &format!("{skill}/channels/stable"),
            j(json!({"version": "2.0.0"})),
            S::NOT_FOUND,
            "not-found",
        ),
        case(Method::PUT, &format!("{skill}/channels/stable"), j(json!({"version": "1.0.0", "pin": true})), bad, v),
        case(Method::DELETE, &format!("{skill}/channels/latest"), None, bad, v),
        case(Method::PUT, &format!("{skill}/versions/not-semver/yank"), None, bad, v),
        // A nested object given as an array of its fields is not one either.
        case(
            Method::POST,
            &format!("{skill}/versions"),
            j(json!({"version": "9.0.0", "archiveSha256": "a".repeat(64), "archiveSize": 1, "create": [null, null]})),
            bad,
            v,
        ),
        case(Method::PUT, &format!("{skill}/versions/9.9.9/yank"), None, S::NOT_FOUND, "not-found"),
        case(Method::POST, &format!("{skill}/restore"), None, S::CONFLICT, "state-conflict"),
        // Reads with bad parameters
        case(Method::GET, "/api/v1/skills?limit=0", None, bad, v),
        case(Method::GET, "/api/v1/skills?limit=101", None, bad, v),
        case(Method::GET, "/api/v1/skills?limit=ten", None, bad, v),
        case(Method::GET, "/api/v1/skills?sort=random", None, bad, v),
        case(Method::GET, "/api/v1/skills?cursor=garbage", None, bad, v),
        case(Method::GET, "/api/v1/skills?cursor=eyJzIjoibmFtZSJ9", None, bad, v),
        case(Method::GET, "/api/v1/skills?type=agent", None, bad, v),
        case(Method::GET, "/api/v1/skills?scope=Bad!", None, bad, v),
        case(Method::GET, &format!("/api/v1/skills?q={}", "q".repeat(300)), None, bad, v),
        case(Method::GET, &format!("{skill}/versions?status=gone"), None, bad, v),
        case(Method::GET, &format!("{skill}/versions?cursor=%%%"), None, bad, v),
        case(Method::GET, "/api/v1/audit?limit=-1", None, bad, v),
        case(Method::GET, "/api/v1/nothing-here", None, S::NOT_FOUND, "not-found"),
        case(Method::PATCH, "/api/v1/tokens", None, S::METHOD_NOT_ALLOWED, "method-not-allowed"),
    ];
    // Malformed bodies for every write endpoint that takes one.
    for (method, path) in [
        (Method::POST, "/api/v1/users".to_owned()),
        (Method::POST, "/api/v1/users/olivia/tokens".to_owned()),
        (Method::POST, "/api/v1/tokens".to_owned()),
        (Method::POST, "/api/v1/teams".to_owned()),
        (Method::PUT, "/api/v1/teams/acme/members/olivia".to_owned()),
        (Method::POST, "/api/v1/skills".to_owned()),
        (Method::PATCH, skill.to_owned()),
        (Method::PUT, format!("{skill}/channels/stable")),
    ] {
        for body in ["{\"a\":", "null", "\"text\"", "{\"unknownField\": 1}"] {
            cases.push(case(method.clone(), &path, body.to_owned(), bad, v));
        }
        cases.push(case(method.clone(), &path, Some(huge.clone()), S::PAYLOAD_TOO_LARGE, "archive-too-large"));
    }

    let audit_before = app.audit_len().await;
    let skills_before = app.get("/api/v1/skills?limit=100", Some(&app.admin)).await.text;
    let tokens_before = app.get("/api/v1/tokens", Some(&owner)).await.body["data"].as_array().unwrap().len();
    let detail_before = app.get(skill, Some(&owner)).await.text;
    let channels_before = app.get(&format!("{skill}/channels"), None).await.text;

    for c in &cases {
        let token = if c.path.starts_with("/api/v1/users") || c.path.starts_with("/api/v1/audit") {
            app.admin.clone()
        } else {
            owner.clone()
        };
        let r = app.raw(c.method.clone(), &c.path, Some(&token), c.body.as_deref(), c.content_type).await;
        let what = format!("{} {} {:.80}", c.method, c.path, c.body.as_deref().unwrap_or(""));
        assert_eq!(r.status, c.status, "{what}: {}", r.text);
        assert_eq!(r.headers["content-type"], "application/problem+json", "{what}");
        assert_eq!(r.problem_type(), c.kind, "{what}: {}", r.text);
        assert_eq!(r.body["status"], c.status.as_u16(), "{what}");
        assert_eq!(r.body["instance"], c.path.split('?').next().unwrap(), "{what}");
        assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}");
        assert!(r.body["title"].is_string(), "{what}");
    }

    // Nothing was stored or changed by any of it.
    assert_eq!(app.audit_len().await, audit_before, "no audited change happened");
    assert_eq!(app.get("/api/v1/skills?limit=100", Some(&app.admin)).await.text, skills_before);
    assert_eq!(app.get("/api/v1/tokens", Some(&owner)).await.body["data"].as_array().unwrap().len(), tokens_before);
    assert_eq!(app.get(skill, Some(&owner)).await.text, detail_before);
    assert_eq!(app.get(&format!("{skill}/channels"), None).await.text, channels_before);
    assert_eq!(app.store().count_users().await.unwrap(), 2, "admin and olivia only");
    assert!(app.store().team_by_namespace("newteam").await.unwrap().is_none());
    let member = app.store().user_by_name("olivia").await.unwrap().unwrap();
    assert_eq!(app.store().member_role("acme", &member.id).await.unwrap(), Some(skilldex::domain::TeamRole::Owner));
}

/// A request as a skill-pool client sends it, on the acme tenant.
async fn on_tenant(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: &serde_json::Value,
) -> crate::common::Reply {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("x-skill-pool-tenant", "acme")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    app.send(req).await
}

/// What the array bodies below could have changed, as `owner` reads it.
async fn surface_state(app: &TestApp, owner: &str) -> Vec<String> {
    let mut state = Vec::new();
    for path in
        ["/v1/tenant/projects", "/v1/tenant/projects/web", "/v1/theme", "/v1/profile/tokens", "/v1/tenant/usage/top"]
    {
        let r = on_tenant(app, Method::GET, path, owner, &json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        state.push(r.text);
    }
    state.push(app.get("/api/wishes", Some(owner)).await.text);
    state.push(app.get("/api/v1/skills/acme/tool/versions", Some(owner)).await.text);
    state.push(app.get("/v2/acme/tool/tags/list", Some(owner)).await.text);
    state.push(app.audit_len().await.to_string());
    state
}

/// serde reads a struct from an array of its fields in order as readily as from an object.
/// Every surface takes objects only, so a list of values meant as something else never
/// becomes a project, a theme, a token, a wish, a usage count or an install: each is refused
/// in the surface's own shape, and nothing is stored.
async fn array_bodies_are_refused_on_every_surface(db: TestDb) {
    let app = TestApp::new(db).await;
    let owner = app.user("olivia", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    app.skill("acme", "tool", "public", &owner).await;
    app.version("acme", "tool", "1.0.0", VersionStatus::Published).await;
    let r = on_tenant(&app, Method::POST, "/v1/tenant/projects", &owner, &json!({"slug": "web", "name": "Web"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    let theme = on_tenant(&app, Method::GET, "/v1/theme", &owner, &json!({})).await.body;
    let fields = ["brand_name", "primary", "primary_fg", "accent", "bg", "fg", "muted", "muted_fg", "border", "radius"];
    let mut theme_as_list: Vec<serde_json::Value> = fields.iter().map(|f| theme[f].clone()).collect();
    theme_as_list[0] = json!("Defaced");
    let state_before = surface_state(&app, &owner).await;

    // skill-pool: `{"error": "bad_request", "message": …}`.
    for (method, path, body) in [
        (Method::POST, "/v1/tenant/projects", json!(["billing", "Billing", null, null, []])),
        (Method::PATCH, "/v1/tenant/projects/web", json!(["Renamed", null, null, null])),
        (Method::PUT, "/v1/theme", json!(theme_as_list)),
        (Method::POST, "/v1/profile/tokens", json!(["ci", null])),
        (Method::POST, "/v1/usage", json!(["tool", null, "download"])),
        (Method::PUT, "/v1/tenant/sso/oidc", json!(["https://idp.example.com", "skilldex", null, "reader"])),
        (Method::PUT, "/v1/tenant/stack-mappings", json!([["rust", ["tool"]]])),
    ] {
        let r = on_tenant(&app, method.clone(), path, &owner, &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {path}: {}", r.text);
        assert_eq!(crate::skill_pool::error(&r), "bad_request", "{method} {path}");
        assert!(r.text.contains("expected a JSON object"), "{method} {path}: {}", r.text);
    }
    // A project's items are a list, of objects.
    let r = on_tenant(&app, Method::PUT, "/v1/tenant/projects/web/items", &owner, &json!([["tool", "skill"]])).await;
    assert_eq!((r.status, crate::skill_pool::error(&r)), (StatusCode::BAD_REQUEST, "bad_request"), "{}", r.text);
    // A multipart publish's metadata too.
    let dir = tempfile::tempdir().unwrap();
    let archive = crate::skill_pool::archive(dir.path(), "tool", "2.0.0", "A tool", "Use it.\n");
    let body = crate::skill_pool::multipart(&json!(["tool", "2.0.0"]), Some(&archive));
    let r = crate::skill_pool::post_multipart(&app, "/v1/skills", Some(&owner), body).await;
    assert_eq!((r.status, crate::skill_pool::error(&r)), (StatusCode::BAD_REQUEST, "bad_request"), "{}", r.text);
    assert!(r.text.contains("invalid metadata: expected a JSON object"), "{}", r.text);

    // npm: the publish document, and its attachment.
    let doc = crate::skillsmgr::npm_document(dir.path(), "tool", "2.0.0");
    let values: Vec<serde_json::Value> = doc.as_object().unwrap().values().cloned().collect();
    let mut listed_attachment = doc.clone();
    for attachment in listed_attachment["_attachments"].as_object_mut().unwrap().values_mut() {
        *attachment = json!([attachment["data"], attachment["length"]]);
    }
    for (body, says) in [(json!(values), "expected a JSON object"), (listed_attachment, "invalid attachment")] {
        let r = app.call(Method::PUT, "/@acme%2ftool", Some(&owner), Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.body["error"].as_str().is_some_and(|e| e.contains(says)), "{}", r.text);
    }

    // OCI: a manifest, or a descriptor in it, given as a list is no manifest.
    let digest = format!("sha256:{}", "0".repeat(64));
    for manifest in [
        json!([2, "application/vnd.oci.image.manifest.v1+json", null, []]),
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": ["application/vnd.oci.empty.v1+json", digest, 2], "layers": []}),
    ] {
        let r = app
            .raw(
                Method::PUT,
                "/v2/acme/tool/manifests/2.0.0",
                Some(&owner),
                Some(&manifest.to_string()),
                Some("application/vnd.oci.image.manifest.v1+json"),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{manifest}: {}", r.text);
        assert_eq!(r.body["errors"][0]["code"], "MANIFEST_INVALID", "{manifest}: {}", r.text);
    }

    // SkillsMgr: `{"error": {"code", "message"}}`.
    let r = app.call(Method::POST, "/api/wishes", Some(&owner), Some(json!(["A wish", "Please"]))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "invalid_input", "{}", r.text);
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("expected a JSON object")), "{}", r.text);

    // ToolHive: `{"error": …}`, for the entry and for the skill and packages inside it.
    let skill = json!({"namespace": "acme", "name": "tool", "version": "2.0.0", "packages": [["oci", "x", "y", "z"]]});
    for body in [json!([null, skill.clone()]), json!({"skill": ["acme", "tool", "2.0.0"]}), json!({"skill": skill})] {
        let r = app.call(Method::POST, "/v1/entries", Some(&owner), Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert!(r.body["error"].as_str().is_some_and(|m| m.contains("invalid request body")), "{body}: {}", r.text);
    }

    // MCP: a tool's arguments as a list are the tool's error, not a reading of the skill.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_skill", "arguments": ["acme", "tool"]}});
    let r = app.call(Method::POST, "/mcp", Some(&owner), Some(call)).await;
    assert_eq!(r.body["result"]["isError"], true, "{}", r.text);
    assert!(r.text.contains("expected a JSON object"), "{}", r.text);
    assert!(!r.text.contains("1.0.0"), "nothing of the skill is told: {}", r.text);

    assert_eq!(surface_state(&app, &owner).await, state_before, "nothing was stored or changed");
}
