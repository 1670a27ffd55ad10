//! skill-pool's catalog API: tenant resolution both ways, its row and error shapes, and the
//! same visibility as every other surface.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use skilldex::bundle::{Bundle, Limits};
use skilldex::domain::TokenScope;
use skilldex::oci::layout::{Identity, build_toolhive};

use crate::common::{HOST, Reply, TestApp, TestDb, on_both_backends};

on_both_backends!(
    the_catalog_reads_as_skill_pool_does_and_through_the_gate,
    semantic_rows_carry_their_similarity,
    profile_tokens_are_ordinary_tokens,
    dependencies_close_over_what_the_caller_may_resolve,
    multipart_publishes_go_through_the_one_pipeline,
    kinds_and_the_archive_hold_on_every_surface,
    uses_from_every_surface_feed_the_tenant_reports,
    signed_bundle_links_serve_their_holder_until_they_expire
);

/// Publishes `version` of `ns/name` (tags as given) by reference to the embedded store.
async fn publish(
    app: &TestApp,
    dir: &std::path::Path,
    token: &str,
    (ns, name): (&str, &str),
    version: &str,
    create: Value,
) {
    let description = format!("Lints {name} code.");
    publish_described(app, dir, token, (ns, name, &description), version, create).await;
}

/// The same, with the SKILL.md description given.
async fn publish_described(
    app: &TestApp,
    dir: &std::path::Path,
    token: &str,
    (ns, name, description): (&str, &str, &str),
    version: &str,
    create: Value,
) {
    let md = format!("---\nname: {name}\ndescription: {description}\nversion: {version}\n---\nRun it.\n");
    publish_md(app, dir, token, (ns, name), version, &md, create).await;
}

/// The same, with the whole SKILL.md given.
pub(crate) async fn publish_md(
    app: &TestApp,
    dir: &std::path::Path,
    token: &str,
    (ns, name): (&str, &str),
    version: &str,
    md: &str,
    create: Value,
) {
    let src = dir.join(format!("{ns}-{name}-{version}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("SKILL.md"), md).unwrap();
    let bundle = Bundle::from_dir(&src, &Limits::default()).unwrap();
    let id = Identity { namespace: ns, name, version };
    let artifact = build_toolhive(&bundle, &bundle.pack(0), &id, None);
    app.embedded.push_artifact(&format!("{ns}/{name}"), version, &artifact).await.unwrap();
    let body = json!({"version": version, "reference": format!("{HOST}/{ns}/{name}@{}", artifact.digest()),
        "changelog": format!("release {version}"), "create": create});
    let r = app
        .call(axum::http::Method::POST, &format!("/api/v1/skills/{ns}/{name}/versions"), Some(token), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

/// A GET with the tenant header (or none) and a bearer token (or none).
pub(crate) async fn get(
    app: &TestApp,
    tenant: Option<&str>,
    host: Option<&str>,
    path: &str,
    token: Option<&str>,
) -> Reply {
    let mut req = Request::builder().uri(path);
    if let Some(t) = tenant {
        req = req.header("x-skill-pool-tenant", t);
    }
    if let Some(h) = host {
        req = req.header("host", h);
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    app.send(req.body(Body::empty()).unwrap()).await
}

pub(crate) fn slugs(r: &Reply) -> Vec<&str> {
    r.body.as_array().unwrap_or_else(|| panic!("{}", r.text)).iter().map(|s| s["slug"].as_str().unwrap()).collect()
}

/// A skill-pool error: exactly `{error, message}`.
pub(crate) fn error(r: &Reply) -> &str {
    assert_eq!(r.body.as_object().map(|o| o.len()), Some(2), "{}", r.text);
    assert!(r.body["message"].is_string(), "{}", r.text);
    r.body["error"].as_str().unwrap()
}

async fn the_catalog_reads_as_skill_pool_does_and_through_the_gate(db: TestDb) {
    let app = TestApp::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &alice).await;
    app.team("beta", &app.admin).await;
    let eve = app.user("eve", TokenScope::Read).await;
    let public = json!({"visibility": "public", "tags": ["lint", "rust"]});
    publish(&app, dir.path(), &alice, ("acme", "linter"), "1.0.0", public.clone()).await;
    publish(&app, dir.path(), &alice, ("acme", "linter"), "1.1.0", public.clone()).await;
    publish(&app, dir.path(), &alice, ("acme", "secret"), "1.0.0", json!({"visibility": "private"})).await;
    publish(&app, dir.path(), &app.admin, ("beta", "other"), "1.0.0", public).await;

    // The tenant's published skills the caller may see, by slug, in skill-pool's row shape.
    let r = get(&app, Some("acme"), None, "/v1/skills", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(slugs(&r), ["linter"], "another tenant's and private skills stay out");
    let row = r.body[0].as_object().unwrap();
    let keys: Vec<&str> = row.keys().map(String::as_str).collect();
    assert_eq!(keys, ["created_at", "description", "kind", "slug", "status", "tags", "version"], "{row:?}");
    assert_eq!((row["version"].clone(), row["status"].clone()), (json!("1.1.0"), json!("published")));
    assert_eq!(slugs(&get(&app, Some("acme"), None, "/v1/skills", Some(&alice)).await), ["linter", "secret"]);
    assert_eq!(slugs(&get(&app, Some("acme"), None, "/v1/skills", Some(&eve)).await), ["linter"]);
    assert_eq!(slugs(&get(&app, Some("acme"), None, "/v1/skills?tags=rust,lint", None).await), ["linter"]);
    assert_eq!(slugs(&get(&app, Some("acme"), None, "/v1/skills?tags=rust,go", None).await), Vec::<&str>::new());
    assert_eq!(
        slugs(&get(&app, Some("acme"), None, "/v1/skills?query=lints", Some(&alice)).await),
        ["linter", "secret"]
    );
    assert_eq!(
        slugs(&get(&app, Some("acme"), None, "/v1/skills?limit=0", Some(&alice)).await),
        ["linter"],
        "clamped to 1"
    );
    assert_eq!(slugs(&get(&app, Some("acme"), None, "/v1/skills?kind=agent", Some(&alice)).await), Vec::<&str>::new());
    let r = get(&app, Some("acme"), None, "/v1/skills?kind=robot", None).await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"));
    let r = get(&app, Some("acme"), None, "/v1/skills?semantic=code%20review", None).await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"));
    assert!(r.body["message"].as_str().unwrap().contains("--embedding-model"), "{}", r.text);

    // The tenant by host: exactly one label under the public host; otherwise a clear refusal.
    let by_host = get(&app, None, Some(&format!("acme.{HOST}")), "/v1/skills", None).await;
    assert_eq!(slugs(&by_host), ["linter"]);
    for host in [HOST.to_owned(), format!("x.acme.{HOST}"), "acme.elsewhere.test".to_owned()] {
        let r = get(&app, None, Some(&host), "/v1/skills", None).await;
        assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "tenant_resolution_failed"), "{host}");
    }
    let r = get(&app, Some("nobody"), None, "/v1/skills", None).await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "tenant_resolution_failed"));
    let r = get(&app, Some("Not A Tenant"), None, "/v1/skills", None).await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "tenant_resolution_failed"));

    // Refused tokens, bad query strings and unknown paths answer in skill-pool's shape too;
    // no answer may be kept by a shared cache.
    let r = get(&app, Some("acme"), None, "/v1/skills", Some("sdx_not_a_token")).await;
    assert_eq!((r.status, error(&r)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let r = get(&app, Some("acme"), None, "/v1/skills?limit=abc", None).await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"));
    let r = get(&app, Some("acme"), None, "/v1/nothing/here", None).await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(r.headers["cache-control"], "private, no-cache");
    assert!(r.headers["vary"].to_str().unwrap().contains("X-Skill-Pool-Tenant"));

    // One skill: its row, kind and frontmatter; a private one is not found for outsiders,
    // exactly as one that does not exist.
    let r = get(&app, Some("acme"), None, "/v1/skills/linter", None).await;
    assert_eq!((r.body["kind"].clone(), r.body["frontmatter"]["name"].clone()), (json!("skill"), json!("linter")));
    let hidden = get(&app, Some("acme"), None, "/v1/skills/secret", Some(&eve)).await;
    let missing = get(&app, Some("acme"), None, "/v1/skills/nothing", Some(&eve)).await;
    assert_eq!((hidden.status, error(&hidden)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(hidden.body["message"].as_str().unwrap().replace("secret", "nothing"), missing.body["message"]);
    assert_eq!(get(&app, Some("acme"), None, "/v1/skills/secret", Some(&alice)).await.status, StatusCode::OK);
    assert_eq!(get(&app, Some("beta"), None, "/v1/skills/linter", None).await.status, StatusCode::NOT_FOUND);

    // Versions, newest first, with the changelog as the summary.
    let r = get(&app, Some("acme"), None, "/v1/skills/linter/versions", None).await;
    let versions: Vec<&str> = r.body.as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["1.1.0", "1.0.0"]);
    assert_eq!(r.body[0]["change_summary"], "release 1.1.0");

    // The body and the bundle: signed-in callers only, through the same gate.
    let r = get(&app, Some("acme"), None, "/v1/skills/linter/skill-md", None).await;
    assert_eq!((r.status, error(&r)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let r = get(&app, Some("acme"), None, "/v1/skills/linter/skill-md", Some(&eve)).await;
    assert!(r.text.starts_with("---\nname: linter\n") && r.text.contains("version: 1.1.0"), "{}", r.text);
    assert_eq!(
        get(&app, Some("acme"), None, "/v1/skills/secret/skill-md", Some(&eve)).await.status,
        StatusCode::NOT_FOUND
    );
    let r = get(&app, Some("acme"), None, "/v1/skills/linter/bundle.tar.gz", Some(&eve)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/gzip");
    let bundle = Bundle::from_archive(&r.bytes, None, &Limits::default()).unwrap();
    assert_eq!(bundle.skill.frontmatter.version.as_ref().map(ToString::to_string).as_deref(), Some("1.1.0"));
    assert_eq!(app.get("/api/v1/skills/acme/linter", None).await.body["downloads"], 1, "a download is counted");
    let r = get(&app, Some("acme"), None, "/v1/skills/secret/bundle.tar.gz", Some(&eve)).await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "not_found"));

    // Health needs neither tenant nor token, in skill-pool's shape.
    let r = get(&app, None, None, "/v1/healthz", Some("sdx_not_a_token")).await;
    assert_eq!((r.status, error(&r)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let r = get(&app, None, None, "/v1/healthz", None).await;
    assert_eq!(
        (r.status, r.body["status"].clone(), r.body["deps"]["embedder"]["status"].clone()),
        (StatusCode::OK, json!("ok"), json!("off"))
    );
}

async fn semantic_rows_carry_their_similarity(db: TestDb) {
    let Some(app) = TestApp::with_model(db).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let alice = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &alice).await;
    let public = json!({"visibility": "public"});
    for (name, description) in [
        ("reviewer", "Reviews pull requests and points out bugs"),
        ("sourdough", "Bakes bread with a natural starter"),
        ("k8s-deploy", "Writes Kubernetes deployment manifests"),
    ] {
        publish_described(&app, dir.path(), &alice, ("acme", name, description), "1.0.0", public.clone()).await;
    }
    app.vectors_ready().await;

    // By meaning, most similar first, each row with its similarity; `semantic` wins over `query`.
    let path = "/v1/skills?semantic=check%20my%20code%20changes&query=bread";
    let r = get(&app, Some("acme"), None, path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(slugs(&r).first(), Some(&"reviewer"), "{}", r.text);
    let similarities: Vec<f64> = r.body.as_array().unwrap().iter().map(|s| s["similarity"].as_f64().unwrap()).collect();
    assert!(similarities.iter().all(|s| (0.0..=1.0).contains(s)), "{similarities:?}");
    assert!(similarities.windows(2).all(|w| w[0] >= w[1]), "{similarities:?}");
    let floor = (similarities[0] + similarities[1]) / 2.0;
    let path = format!("/v1/skills?semantic=check%20my%20code%20changes&min_similarity={floor}");
    let r = get(&app, Some("acme"), None, &path, None).await;
    assert_eq!(slugs(&r), ["reviewer"], "min_similarity leaves the rest out: {}", r.text);
    let r = get(&app, Some("acme"), None, "/v1/skills?semantic=x&min_similarity=1.5", None).await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"));
}

async fn profile_tokens_are_ordinary_tokens(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann = app.user("ann", TokenScope::Write).await;
    let bob = app.user("bob", TokenScope::Write).await;
    let post = |token: Option<&str>, body: Value| {
        let token = token.map(str::to_owned);
        let app = &app;
        async move { app.call(axum::http::Method::POST, "/v1/profile/tokens", token.as_deref(), Some(body)).await }
    };

    // Minted as asked, the secret shown once; it is a skilldex token like any other.
    let r = post(Some(&ann), json!({"label": " laptop ", "scopes": "skills:read skills:publish"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let raw = r.body["raw_token"].as_str().unwrap().to_owned();
    assert_eq!(r.body["prefix"].as_str().unwrap(), &raw[..12]);
    assert_eq!(
        (r.body["label"].clone(), r.body["scopes"].clone()),
        (json!("laptop"), json!("skills:read skills:publish"))
    );
    let me = app.get("/api/v1/me", Some(&raw)).await;
    assert_eq!(
        (me.body["user"]["username"].clone(), me.body["token"]["scope"].clone()),
        (json!("ann"), json!("write"))
    );
    let id = r.body["id"].as_str().unwrap().to_owned();

    // Never above the asking token's scope; only known scopes; a label and a JSON body.
    let r = post(Some(&ann), json!({"label": "root", "scopes": ["tenant:admin"]})).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"));
    let r = post(Some(&ann), json!({"label": "x", "scopes": ["rogue:scope"]})).await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"));
    assert!(r.body["message"].as_str().unwrap().contains("rogue:scope"));
    for body in
        [json!({"label": " ", "scopes": "skills:read"}), json!({"label": "x"}), json!({"scopes": "skills:read"})]
    {
        let r = post(Some(&ann), body.clone()).await;
        assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"), "{body}");
    }
    let r = post(None, json!({"label": "x", "scopes": "skills:read"})).await;
    assert_eq!((r.status, error(&r)), (StatusCode::UNAUTHORIZED, "unauthorized"));

    // Listed without secrets.
    let r = app.get("/v1/profile/tokens", Some(&ann)).await;
    let laptop = r.body.as_array().unwrap().iter().find(|t| t["label"] == "laptop").unwrap().clone();
    assert_eq!(
        (laptop["prefix"].clone(), laptop["scopes"].clone()),
        (Value::Null, json!("skills:read skills:publish"))
    );
    assert!(!r.text.contains(&raw) && !r.text.contains(&ann));

    // A token minted by an expiring token expires with it, at the latest.
    let r = app
        .call(
            axum::http::Method::POST,
            "/api/v1/tokens",
            Some(&ann),
            Some(json!({"name": "ci", "scope": "read", "expiresAt": "2099-01-01T00:00:00Z"})),
        )
        .await;
    let expiring = r.body["token"].as_str().unwrap().to_owned();
    let r = post(Some(&expiring), json!({"label": "copy", "scopes": "skills:read"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let listed = app.get("/v1/profile/tokens", Some(&ann)).await;
    let copy = listed.body.as_array().unwrap().iter().find(|t| t["label"] == "copy").unwrap().clone();
    assert_eq!(copy["expires_at"], "2099-01-01T00:00:00Z", "{listed:?}", listed = listed.text);

    // Revoked once and for all; revoking again is fine; someone else's is not found.
    let path = format!("/v1/profile/tokens/{id}");
    let r = app.call(axum::http::Method::DELETE, &path, Some(&bob), None).await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(app.get("/api/v1/me", Some(&raw)).await.status, StatusCode::OK, "bob changed nothing");
    for _ in 0..2 {
        let r = app.call(axum::http::Method::DELETE, &path, Some(&ann), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }
    assert_eq!(app.get("/api/v1/me", Some(&raw)).await.status, StatusCode::UNAUTHORIZED);
}

async fn dependencies_close_over_what_the_caller_may_resolve(db: TestDb) {
    let app = TestApp::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &alice).await;
    app.team("beta", &app.admin).await;
    let public = json!({"visibility": "public"});
    let md = |name: &str, requires: &[&str]| {
        let list: String = requires.iter().map(|r| format!("  - \"{r}\"\n")).collect();
        let requires = if requires.is_empty() { String::new() } else { format!("requires:\n{list}") };
        format!("---\nname: {name}\ndescription: The {name} skill\nversion: 1.0.0\n{requires}---\nUse it.\n")
    };
    let skills: [(&str, &str, &[&str], Value); 6] = [
        ("acme", "app", &["lint", "beta/fmt@^1", "ghost@2.0.0", "app", "beta/secret"], public.clone()),
        ("acme", "lint", &["style"], public.clone()),
        ("acme", "style", &["lint"], public.clone()),
        ("beta", "fmt", &[], public.clone()),
        ("beta", "secret", &["beta/deep"], json!({"visibility": "private"})),
        ("beta", "deep", &[], json!({"visibility": "private"})),
    ];
    for (ns, name, requires, create) in skills {
        let token = if ns == "acme" { alice.clone() } else { app.admin.clone() };
        publish_md(&app, dir.path(), &token, (ns, name), "1.0.0", &md(name, requires), create).await;
    }

    // Breadth first, each once, cycles and self-references cut; what nothing resolves is
    // kept; what the caller may not see is kept by name but never opened.
    let r = get(&app, Some("acme"), None, "/v1/skills/app/deps", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let closure: Vec<String> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {} {} {}",
                d["slug"].as_str().unwrap(),
                d["version_range"].as_str().unwrap(),
                d["depth"],
                d["resolved"]
            )
        })
        .collect();
    let expected =
        ["lint * 1 true", "beta/fmt ^1 1 true", "ghost 2.0.0 1 false", "beta/secret * 1 false", "style * 2 true"];
    assert_eq!(closure, expected, "{}", r.text);
    assert!(!r.text.contains("deep"), "a hidden skill's own requirements are never read: {}", r.text);
    let r = get(&app, Some("beta"), None, "/v1/skills/secret/deps", Some(&alice)).await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "not_found"));
    let r = get(&app, Some("beta"), None, "/v1/skills/secret/deps", Some(&app.admin)).await;
    assert_eq!(r.body, json!([{"slug": "deep", "version_range": "*", "depth": 1, "resolved": true}]));
}

/// A multipart body with a `metadata` part and, when given, a `bundle` part.
pub(crate) fn multipart(metadata: &Value, bundle: Option<&[u8]>) -> Vec<u8> {
    let mut body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n"
    )
    .into_bytes();
    if let Some(bundle) = bundle {
        body.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"b.tar.gz\"\r\nContent-Type: application/gzip\r\n\r\n",
        );
        body.extend_from_slice(bundle);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XyZ--\r\n");
    body
}

pub(crate) fn archive(dir: &std::path::Path, name: &str, version: &str, description: &str, body: &str) -> Vec<u8> {
    let src = dir.join(format!("mp-{name}-{version}-{}", description.len()));
    std::fs::create_dir_all(&src).unwrap();
    let md = format!("---\nname: {name}\ndescription: {description}\nversion: {version}\n---\n{body}");
    std::fs::write(src.join("SKILL.md"), md).unwrap();
    Bundle::from_dir(&src, &Limits::default()).unwrap().pack(0).tar_gz
}

pub(crate) async fn post_multipart(app: &TestApp, path: &str, token: Option<&str>, body: Vec<u8>) -> Reply {
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header("x-skill-pool-tenant", "acme")
        .header("content-type", "multipart/form-data; boundary=XyZ");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    app.send(req.body(Body::from(body)).unwrap()).await
}

async fn multipart_publishes_go_through_the_one_pipeline(db: TestDb) {
    let app = TestApp::new(db).await.storing();
    let dir = tempfile::tempdir().unwrap();
    let owner = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    let alice = app.token_for("alice", TokenScope::Write).await;
    let eve = app.user("eve", TokenScope::Write).await;
    let meta = |version: &str| json!({"slug": "fresh", "version": version, "tags": ["lint"]});
    let good = archive(dir.path(), "fresh", "1.0.0", "Lints fresh code", "Run it.\n");
    let versions = || async { app.get("/api/v1/skills/acme/fresh/versions", Some(&owner)).await };

    // Refused before anything: outsiders, anonymous callers, bad parts and bad content.
    let r = post_multipart(&app, "/v1/skills", Some(&eve), multipart(&meta("1.0.0"), Some(&good))).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"));
    let r = post_multipart(&app, "/v1/skills", None, multipart(&meta("1.0.0"), Some(&good))).await;
    assert_eq!((r.status, error(&r)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let long = "x".repeat(1600);
    // A GitHub-shaped token, built here so no such literal sits in the source.
    let token = format!("ghp_{}", "q8Zr2VbN5xKp7TmW3sYc9LhD4fGj6AeU1234");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (multipart(&meta("1.0.0"), None), "`bundle` part is missing"),
        (multipart(&json!({"slug": "other", "version": "1.0.0"}), Some(&good)), "other"),
        (multipart(&meta("2.0.0"), Some(&good)), "2.0.0"),
        (multipart(&json!({"slug": "fresh", "version": "1.0.0", "kind": "robot"}), Some(&good)), "kind must be"),
        (multipart(&json!({"slug": "fresh", "version": "1.0.0", "description": long}), Some(&good)), "1536"),
        (
            multipart(
                &meta("1.0.0"),
                Some(&archive(dir.path(), "fresh", "1.0.0", "d", "Edit\n/home/alice/notes.md\n")),
            ),
            "line 7",
        ),
        (
            multipart(
                &meta("1.0.0"),
                Some(&archive(dir.path(), "fresh", "1.0.0", "d", &format!("Run\nexport GH={token}\n"))),
            ),
            "possible secret detected: SKILL.md line 7: GitHub token",
        ),
        (b"not multipart at all".to_vec(), "invalid multipart"),
        (
            [
                format!("--XyZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{}\r\n", meta("9.9.9"))
                    .into_bytes(),
                multipart(&meta("1.0.0"), Some(&good)),
            ]
            .concat(),
            "more than one `metadata`",
        ),
        (
            multipart(&json!({"slug": "fresh", "version": "1.0.0", "tags": vec!["t"; 25]}), Some(&good)),
            "at most 20 tags",
        ),
    ];
    for (body, says) in cases {
        let r = post_multipart(&app, "/v1/skills", Some(&alice), body).await;
        assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"), "{says}: {}", r.text);
        assert!(r.body["message"].as_str().unwrap().contains(says), "{says}: {}", r.text);
        assert!(!r.text.contains(&token), "the secret is never echoed");
    }
    assert_eq!(versions().await.status, StatusCode::NOT_FOUND, "no skill was created by any of it");

    // Validation says yes and stores nothing.
    let r = post_multipart(&app, "/v1/skills/validate", Some(&alice), multipart(&meta("1.0.0"), Some(&good))).await;
    assert_eq!((r.status, r.body["valid"].clone()), (StatusCode::OK, json!(true)), "{}", r.text);
    assert_eq!(versions().await.status, StatusCode::NOT_FOUND);

    // Published: a private skill of the tenant's team, resolvable like any other version.
    let r = post_multipart(&app, "/v1/skills", Some(&alice), multipart(&meta("1.0.0"), Some(&good))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        (r.body["slug"].clone(), r.body["version"].clone(), r.body["tags"].clone()),
        (json!("fresh"), json!("1.0.0"), json!(["lint"]))
    );
    assert_eq!(get(&app, Some("acme"), None, "/v1/skills/fresh", None).await.status, StatusCode::NOT_FOUND);
    let resolved = app.get("/api/v1/resolve/acme/fresh", Some(&owner)).await;
    assert!(resolved.body["digest"].as_str().unwrap().starts_with("sha256:"), "{}", resolved.text);
    let r = post_multipart(&app, "/v1/skills", Some(&alice), multipart(&meta("1.0.0"), Some(&good))).await;
    assert_eq!((r.status, error(&r)), (StatusCode::CONFLICT, "conflict"), "versions are immutable");
    let r = post_multipart(&app, "/v1/skills/validate", Some(&alice), multipart(&meta("1.0.0"), Some(&good))).await;
    assert_eq!((r.status, error(&r)), (StatusCode::CONFLICT, "conflict"), "validation knows it too");
    let as_agent = json!({"slug": "fresh", "version": "1.1.0", "kind": "agent"});
    let newer = archive(dir.path(), "fresh", "1.1.0", "Lints fresh code", "Run it.\n");
    let r = post_multipart(&app, "/v1/skills", Some(&alice), multipart(&as_agent, Some(&newer))).await;
    assert_eq!((r.status, error(&r)), (StatusCode::CONFLICT, "conflict"), "a slug is one skill of one kind");
    assert!(r.body["message"].as_str().unwrap().contains("is of kind `skill`"), "{}", r.text);

    // A metadata part larger than any real one is refused as such, unread past its limit;
    // a home directory inside a URL is no local path.
    let huge = json!({"slug": "fresh", "version": "1.1.0", "description": "d".repeat(100_000)});
    let r = post_multipart(&app, "/v1/skills/validate", Some(&alice), multipart(&huge, Some(&good))).await;
    assert_eq!((r.status, error(&r)), (StatusCode::PAYLOAD_TOO_LARGE, "bad_request"), "{}", r.text);
    // A requirement no published version meets is a conflict; a forward reference is not.
    let needs = |requires: &str| {
        let src = dir.path().join(format!("needs-{}", requires.len()));
        std::fs::create_dir_all(&src).unwrap();
        let md = format!("---\nname: needs\ndescription: Needs others\nrequires:\n  - {requires}\n---\nRun it.\n");
        std::fs::write(src.join("SKILL.md"), md).unwrap();
        Bundle::from_dir(&src, &Limits::default()).unwrap().pack(0).tar_gz
    };
    let needs_meta = json!({"slug": "needs", "version": "1.0.0"});
    for (requires, status) in [
        ("fresh@^2", StatusCode::CONFLICT),
        ("fresh@^1", StatusCode::OK),
        ("fresh", StatusCode::OK),
        ("not-yet@^3", StatusCode::OK),
    ] {
        let body = multipart(&needs_meta, Some(&needs(requires)));
        let r = post_multipart(&app, "/v1/skills/validate", Some(&alice), body).await;
        assert_eq!(r.status, status, "{requires}: {}", r.text);
    }
    let r = post_multipart(&app, "/v1/skills", Some(&alice), multipart(&needs_meta, Some(&needs("fresh@^2")))).await;
    assert_eq!((r.status, error(&r)), (StatusCode::CONFLICT, "conflict"));
    assert!(r.body["message"].as_str().unwrap().contains("none satisfies `^2`"), "{}", r.text);
    let linked = archive(dir.path(), "fresh", "1.1.0", "Lints", "See https://example.com/home/page\n");
    let r = post_multipart(&app, "/v1/skills/validate", Some(&alice), multipart(&meta("1.1.0"), Some(&linked))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // A trust policy that refuses unsigned versions in the tenant refuses them at validation too.
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/examples");
    app.index.set_policies(skilldex::policy::PolicySet::load_dir(&examples).unwrap());
    let r = post_multipart(&app, "/v1/skills/validate", Some(&alice), multipart(&meta("1.1.0"), Some(&linked))).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"), "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().contains("acme-release"), "{}", r.text);
    let r = post_multipart(&app, "/v1/skills", Some(&alice), multipart(&meta("1.1.0"), Some(&linked))).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"), "as publishing would: {}", r.text);
}

async fn kinds_and_the_archive_hold_on_every_surface(db: TestDb) {
    let app = TestApp::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    let owner = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    let publisher = app.user("bob", TokenScope::Admin).await;
    app.member("acme", "bob", "publisher").await;
    let public = |kind: &str| json!({"visibility": "public", "kind": kind, "tags": ["review"]});
    publish(&app, dir.path(), &owner, ("acme", "linter"), "1.0.0", public("skill")).await;
    publish(&app, dir.path(), &owner, ("acme", "reviewer"), "1.0.0", public("agent")).await;
    let listed = |path: String| {
        let app = &app;
        async move {
            let r = app.get(&path, None).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
            let rows = r.body.get("data").or(r.body.get("skills")).unwrap_or(&r.body).clone();
            let mut names: Vec<String> = rows
                .as_array()
                .unwrap_or_else(|| panic!("{path}: {}", r.text))
                .iter()
                .map(|s| s["slug"].as_str().or(s["name"].as_str()).unwrap().to_owned())
                .collect();
            names.sort();
            names
        }
    };

    // The kind is the skill's, filterable on each surface; skill-pool's default is `skill`.
    assert_eq!(listed("/api/v1/skills?kind=agent".into()).await, ["reviewer"]);
    assert_eq!(listed("/api/v1/skills?kind=agent&q=lints".into()).await, ["reviewer"], "through the engine too");
    assert_eq!(listed("/api/v1/skills?kind=skill".into()).await, ["linter"]);
    assert_eq!(listed("/api/v1/skills".into()).await, ["linter", "reviewer"]);
    let r = app.get("/api/v1/skills?kind=robot", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(app.get("/api/v1/skills/acme/reviewer", None).await.body["kind"], "agent");
    assert_eq!(slugs(&get(&app, Some("acme"), None, "/v1/skills", None).await), ["linter"]);
    assert_eq!(slugs(&get(&app, Some("acme"), None, "/v1/skills?kind=agent", None).await), ["reviewer"]);
    let r = get(&app, Some("acme"), None, "/v1/skills/reviewer", None).await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "not_found"), "an agent is no skill");
    let r = get(&app, Some("acme"), None, "/v1/skills/reviewer?kind=agent", None).await;
    assert_eq!((r.status, r.body["kind"].clone()), (StatusCode::OK, json!("agent")));
    let npm = app.get("/-/v1/search?text=kind:agent", None).await;
    let names: Vec<&str> =
        npm.body["objects"].as_array().unwrap().iter().map(|o| o["package"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["@acme/reviewer"], "{}", npm.text);
    let mcp = app
        .call(
            axum::http::Method::POST,
            "/mcp",
            None,
            Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "search_skills", "arguments": {"kind": "agent"}}})),
        )
        .await;
    let found = mcp.body["result"]["structuredContent"]["skills"].as_array().cloned().unwrap_or_default();
    let found: Vec<&str> = found.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(found, ["reviewer"], "{}", mcp.text);

    // A slug is one skill of one kind on every publish path, checked before any content is
    // read: nothing is stored.
    let body = json!({"version": "1.1.0", "reference": format!("{HOST}/acme/reviewer@sha256:{}", "0".repeat(64)),
        "create": {"kind": "skill"}});
    let r = app.call(axum::http::Method::POST, "/api/v1/skills/acme/reviewer/versions", Some(&owner), Some(body)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("`reviewer` is of kind `agent`"), "{}", r.text);
    assert_eq!(app.get("/api/v1/skills/acme/reviewer", None).await.body["latestVersion"], "1.0.0");

    // Archiving: owners with an admin token only; nothing changes on a refusal.
    let r = app.call(axum::http::Method::POST, "/api/v1/skills/acme/linter/archive", Some(&publisher), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = post_multipart(&app, "/v1/skills/linter/archive", Some(&publisher), Vec::new()).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"));
    let r = post_multipart(&app, "/v1/skills/linter/archive", None, Vec::new()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(listed("/api/v1/skills?kind=skill".into()).await, ["linter"]);
    let r = post_multipart(&app, "/v1/skills/linter/archive", Some(&owner), Vec::new()).await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!({"slug": "linter", "version": "1.0.0"})));

    // Archived: gone from every listing and search, still resolvable and installable by
    // version; listed again only when asked for, with its status.
    assert_eq!(listed("/api/v1/skills?kind=skill".into()).await, Vec::<String>::new());
    assert_eq!(listed("/api/v1/skills?q=lints".into()).await, ["reviewer"]);
    assert_eq!(slugs(&get(&app, Some("acme"), None, "/v1/skills", None).await), Vec::<&str>::new());
    let r = get(&app, Some("acme"), None, "/v1/skills/linter", None).await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "not_found"));
    let r = post_multipart(&app, "/v1/skills/linter/archive", Some(&owner), Vec::new()).await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "not_found"), "archived already");
    assert_eq!(listed("/registry/default/v0.1/x/dev.toolhive/skills".into()).await, ["reviewer"]);
    assert_eq!(listed("/registry/default/v0.1/x/dev.toolhive/skills?status=archived".into()).await, ["linter"]);
    assert_eq!(
        listed("/registry/default/v0.1/x/dev.toolhive/skills?status=active,archived".into()).await,
        ["linter", "reviewer"]
    );
    assert_eq!(listed("/api/v1/skills?archived=true".into()).await, ["linter"]);
    let r = app.get("/api/v1/resolve/acme/linter", None).await;
    assert_eq!((r.status, r.body["version"].clone()), (StatusCode::OK, json!("1.0.0")), "{}", r.text);
    let detail = app.get("/api/v1/skills/acme/linter", None).await;
    assert_eq!(detail.body["archived"], true);

    // And back.
    let r = app.call(axum::http::Method::POST, "/api/v1/skills/acme/linter/unarchive", Some(&owner), None).await;
    assert_eq!((r.status, r.body["archived"].clone()), (StatusCode::OK, json!(false)), "{}", r.text);
    assert_eq!(listed("/api/v1/skills?q=lints&kind=skill".into()).await, ["linter"]);
    let audit = app.get("/api/v1/audit?limit=100", Some(&app.admin)).await;
    let archives = audit.body["data"].as_array().unwrap().iter().filter(|e| e["action"] == "skill.archive").count();
    assert_eq!(archives, 1, "one archive, audited once: {}", audit.text);
}

/// A POST with the tenant header, a JSON body and a bearer token (or none).
pub(crate) async fn post_json(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> Reply {
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header("x-skill-pool-tenant", "acme")
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    app.send(req.body(Body::from(body.to_string())).unwrap()).await
}

async fn uses_from_every_surface_feed_the_tenant_reports(db: TestDb) {
    let app = TestApp::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &alice).await;
    let eve = app.user("eve", TokenScope::Read).await;
    let public = json!({"visibility": "public"});
    for name in ["linter", "helper", "idle", "unused"] {
        publish(&app, dir.path(), &alice, ("acme", name), "1.0.0", public.clone()).await;
    }
    publish(&app, dir.path(), &alice, ("acme", "secret"), "1.0.0", json!({"visibility": "private"})).await;

    // Uses from four surfaces: skill-pool's bundle and body, REST's download (what the
    // CLI's install counts), MCP's get_skill, and a client's own report.
    assert_eq!(
        get(&app, Some("acme"), None, "/v1/skills/linter/bundle.tar.gz", Some(&eve)).await.status,
        StatusCode::OK
    );
    assert_eq!(get(&app, Some("acme"), None, "/v1/skills/linter/skill-md", Some(&eve)).await.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/skills/acme/linter/download", Some(&eve)).await.status, StatusCode::OK);
    let mcp = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_skill", "arguments": {"namespace": "acme", "name": "helper"}}});
    let r = app.call(axum::http::Method::POST, "/mcp", Some(&eve), Some(mcp)).await;
    assert!(r.body["result"]["isError"].is_null(), "{}", r.text);
    let r = post_json(&app, "/v1/usage", Some(&eve), json!({"skill_id": "helper", "event": "download"})).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::ACCEPTED, ""));

    // Bad reports are refused in skill-pool's shape and count nothing.
    for (token, body, status, code) in [
        (Some(&eve), json!({"skill_id": "helper", "event": "install"}), StatusCode::BAD_REQUEST, "bad_request"),
        (
            Some(&eve),
            json!({"skill_id": "helper", "event": "view", "kind": "robot"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Some(&eve),
            json!({"skill_id": "helper", "event": "view", "kind": "agent"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (Some(&eve), json!({"skill_id": "secret", "event": "view"}), StatusCode::NOT_FOUND, "not_found"),
        (Some(&eve), json!({"skill_id": "nothing", "event": "view"}), StatusCode::NOT_FOUND, "not_found"),
        (None, json!({"skill_id": "helper", "event": "view"}), StatusCode::UNAUTHORIZED, "unauthorized"),
    ] {
        let r = post_json(&app, "/v1/usage", token.map(String::as_str), body.clone()).await;
        assert_eq!((r.status, error(&r)), (status, code), "{body}: {}", r.text);
    }

    // The top list: total uses, most first.
    let r = get(&app, Some("acme"), None, "/v1/tenant/usage/top?days=7", Some(&alice)).await;
    assert_eq!(
        r.body,
        json!([
            {"slug": "linter", "downloads": 2, "views": 1, "total": 3},
            {"slug": "helper", "downloads": 1, "views": 1, "total": 2},
        ]),
        "{}",
        r.text
    );
    assert_eq!(app.get("/api/v1/skills/acme/linter", None).await.body["downloads"], 2, "the counter agrees");
    let r = get(&app, Some("acme"), None, "/v1/tenant/usage/top?limit=1", Some(&alice)).await;
    assert_eq!(slugs(&r), ["linter"]);

    // The timeline: one row per day, zero-filled, today last.
    let r = get(&app, Some("acme"), None, "/v1/tenant/usage/timeline?days=3", Some(&alice)).await;
    let days = r.body.as_array().unwrap_or_else(|| panic!("{}", r.text));
    assert_eq!(days.len(), 3, "{}", r.text);
    assert_eq!(days[0], json!({"day": days[0]["day"], "downloads": 0, "views": 0, "unique_skills": 0}));
    assert_eq!(
        (days[2]["downloads"].clone(), days[2]["views"].clone(), days[2]["unique_skills"].clone()),
        (json!(3), json!(2), json!(2))
    );
    assert!(days[2]["day"].as_str().unwrap().ends_with("T00:00:00Z"), "{}", r.text);
    let r = get(&app, Some("acme"), None, "/v1/tenant/usage/timeline?days=9999", Some(&alice)).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(365), "clamped");

    // Decay: used fewer than `max_uses` times and not lately. `idle` was last used long ago;
    // `unused` was never used but is new, the rest were used today.
    let idle = app.store().skill("acme", "idle").await.unwrap().unwrap();
    let long_ago = skilldex::domain::now_millis() - 200 * 86_400_000;
    app.store().record_usage(&idle.id, skilldex::store::UsageEvent::Download, false, long_ago).await.unwrap();
    let r = get(&app, Some("acme"), None, "/v1/tenant/skills/decay", Some(&alice)).await;
    assert_eq!(slugs(&r), ["idle"], "{}", r.text);
    let row = r.body[0].as_object().unwrap();
    let keys: Vec<&str> = row.keys().map(String::as_str).collect();
    assert_eq!(keys, ["created_at", "description", "last_used_at", "slug", "use_count", "version"]);
    assert_eq!((row["use_count"].clone(), row["version"].clone()), (json!(1), json!("1.0.0")));
    assert_eq!(
        slugs(&get(&app, Some("acme"), None, "/v1/tenant/skills/decay?max_uses=1", Some(&alice)).await),
        Vec::<&str>::new()
    );
    assert_eq!(
        slugs(&get(&app, Some("acme"), None, "/v1/tenant/skills/decay?days=300", Some(&alice)).await),
        Vec::<&str>::new()
    );

    // A pull of the content layer through the registry API is a download too; a HEAD or a
    // later part of a ranged pull is not.
    let json = |r: Reply| -> Value { serde_json::from_slice(&r.bytes).unwrap_or_else(|_| panic!("{}", r.text)) };
    let index = json(app.get("/v2/acme/unused/manifests/1.0.0", None).await);
    let child = format!("/v2/acme/unused/manifests/{}", index["manifests"][0]["digest"].as_str().unwrap());
    let manifest = json(app.get(&child, None).await);
    let layer = format!("/v2/acme/unused/blobs/{}", manifest["layers"][0]["digest"].as_str().unwrap());
    for (method, range) in [("HEAD", None), ("GET", Some("bytes=10-")), ("GET", None)] {
        let mut req = Request::builder().method(method).uri(&layer);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        let r = app.send(req.body(Body::empty()).unwrap()).await;
        assert!(r.status.is_success(), "{method} {range:?}: {} {}", r.status, r.text);
    }
    assert_eq!(app.get("/api/v1/skills/acme/unused", None).await.body["downloads"], 1);

    // Reports are for the tenant's owners with an admin token; tenants for site admins.
    let alice_write = app.token_for("alice", TokenScope::Write).await;
    for path in ["/v1/tenant/usage/top", "/v1/tenant/usage/timeline", "/v1/tenant/skills/decay", "/v1/tenants"] {
        let r = get(&app, Some("acme"), None, path, Some(&eve)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.text);
        let r = get(&app, Some("acme"), None, path, Some(&alice_write)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.text);
        let r = get(&app, Some("acme"), None, path, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {}", r.text);
    }
    assert_eq!(get(&app, None, None, "/v1/tenants", Some(&alice)).await.status, StatusCode::FORBIDDEN);
    let r = get(&app, None, None, "/v1/tenants", Some(&app.admin)).await;
    assert_eq!(slugs(&r), ["acme"], "{}", r.text);
}

/// A bundle link as this site signs it, for a grant the test writes itself.
fn signed_link(key: &str, grant: &Value) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = serde_json::to_vec(grant).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(b"skilldex bundle url\0");
    mac.update(&payload);
    format!("/v1/bundles/{}.{}", b64.encode(&payload), b64.encode(mac.finalize().into_bytes()))
}

async fn signed_bundle_links_serve_their_holder_until_they_expire(db: TestDb) {
    let app = TestApp::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &alice).await;
    publish(&app, dir.path(), &alice, ("acme", "lint"), "1.0.0", json!({"visibility": "public"})).await;
    let whole = get(&app, Some("acme"), None, "/v1/skills/lint/bundle.tar.gz", Some(&alice)).await;
    assert_eq!(whole.status, StatusCode::OK, "the embedded store's bytes come straight back: {}", whole.text);
    let digest = app.get("/api/v1/resolve/acme/lint", None).await.body["digest"].as_str().unwrap().to_owned();
    let key = app.store().url_key("the-test-key").await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let grant = |version: &str, digest: &str, expires: i64, private: bool| {
        json!({"namespace": "acme", "name": "lint", "version": version, "digest": digest, "expires": expires,
            "private": private})
    };
    let link = signed_link(&key, &grant("1.0.0", &digest, now + 300, false));

    // Its holder needs no token and no tenant.
    let r = app.get(&link, None).await;
    assert_eq!((r.status, r.headers["content-type"].to_str().unwrap()), (StatusCode::OK, "application/gzip"));
    assert_eq!(r.bytes, whole.bytes);
    assert_eq!(r.headers["cache-control"], "private, no-cache", "never cached");

    // Expired, tampered with, or signed with another key: refused, in skill-pool's shape.
    let expired = signed_link(&key, &grant("1.0.0", &digest, now - 1, false));
    let mut flipped = link.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let (payload, signature) = link.rsplit_once('.').unwrap();
    let other = signed_link(&key, &grant("1.0.1", &digest, now + 300, false));
    let swapped = format!("{}.{}", other.rsplit_once('.').unwrap().0, signature);
    let foreign = signed_link("another-site", &grant("1.0.0", &digest, now + 300, false));
    for bad in
        [expired, String::from_utf8(flipped).unwrap(), swapped, foreign, format!("{payload}."), "/v1/bundles/x".into()]
    {
        let r = app.get(&bad, None).await;
        assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"), "{bad}: {}", r.text);
        assert!(r.bytes.len() < 200, "no archive: {}", r.text);
    }

    // A genuine link to what is no longer there as signed: another digest, a skill turned
    // private (the link was for anyone), a deleted skill.
    let r = app
        .get(&signed_link(&key, &grant("1.0.0", &format!("sha256:{}", "0".repeat(64)), now + 300, false)), None)
        .await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "not_found"));
    let private = json!({"visibility": "private"});
    let r = app.call(axum::http::Method::PATCH, "/api/v1/skills/acme/lint", Some(&alice), Some(private)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(app.get(&link, None).await.status, StatusCode::NOT_FOUND);
    let members = signed_link(&key, &grant("1.0.0", &digest, now + 300, true));
    assert_eq!(app.get(&members, None).await.status, StatusCode::OK, "signed for a member");
    let r = app.call(axum::http::Method::DELETE, "/api/v1/skills/acme/lint", Some(&alice), None).await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(app.get(&members, None).await.status, StatusCode::NOT_FOUND);
}
