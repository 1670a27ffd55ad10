//! SkillsMgr's agent API: `/api/r/<name>` (npm packument and publish), wishes, agent token
//! kinds on every surface, and SkillsMgr's error envelope.

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use serde_json::{Value, json};
use skilldex::bundle::{Bundle, Limits};
use skilldex::domain::{TokenScope, VersionStatus};

use crate::common::{Reply, TestApp, TestDb, on_both_backends};

on_both_backends!(
    packuments_and_publishing_under_api_r,
    wishes_are_seen_and_closed_by_the_right_people,
    agent_tokens_do_what_their_kind_allows,
    collections_list_only_what_each_reader_may_see,
    reviews_are_as_private_as_what_they_review
);

/// SkillsMgr's envelope, and nothing else: `{"error": {"code", "message"}}`.
fn envelope(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"]["code"], code, "{}", r.text);
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
    assert_eq!(r.body.as_object().map(|o| o.len()), Some(1), "{}", r.text);
    assert_eq!(r.body["error"].as_object().map(|o| o.len()), Some(2), "{}", r.text);
}

/// An agent token of `kind` for the user of `token`.
async fn agent_token(app: &TestApp, token: &str, kind: &str) -> String {
    let r = app.call(Method::POST, "/api/v1/tokens", Some(token), Some(json!({"name": kind, "kind": kind}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["kind"], kind);
    r.body["token"].as_str().unwrap().to_owned()
}

/// npm's publish document for `@acme/<name>@<version>`, its tarball a bundle naming `name`.
pub(crate) fn npm_document(dir: &std::path::Path, name: &str, version: &str) -> Value {
    npm_document_with(dir, name, version, "Use it.\n", "public")
}

/// The same with this SKILL.md body and npm `access` (`public` or `restricted`: private).
pub(crate) fn npm_document_with(dir: &std::path::Path, name: &str, version: &str, body: &str, access: &str) -> Value {
    let src = dir.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&src).unwrap();
    let skill_md = format!("---\nname: {name}\ndescription: A tool.\nversion: {version}\nlicense: MIT\n---\n{body}");
    std::fs::write(src.join("SKILL.md"), skill_md).unwrap();
    let bundle = Bundle::from_dir(&src, &Limits::default()).unwrap();
    let package = format!("@acme/{name}");
    let tarball = bundle.npm_tarball(json!({"name": package, "version": version}).to_string().as_bytes());
    json!({
        "name": package,
        "access": access,
        "dist-tags": {"latest": version},
        "versions": {version: {"name": package, "version": version}},
        "_attachments": {format!("{package}-{version}.tgz"): {
            "data": base64::engine::general_purpose::STANDARD.encode(&tarball), "length": tarball.len()}},
    })
}

async fn packuments_and_publishing_under_api_r(db: TestDb) {
    let app = TestApp::new(db).await.storing();
    let dir = tempfile::tempdir().unwrap();
    let ann = app.user("ann", TokenScope::Admin).await;
    app.team("acme", &ann).await;
    let otto = app.user("otto", TokenScope::Write).await;
    let bridge = agent_token(&app, &ann, "agent-bridge").await;
    let publisher = agent_token(&app, &ann, "agent-publisher").await;
    let doc = npm_document(dir.path(), "tool", "1.0.0");

    // Publishing: never with a token that may not, never by an outsider; nothing is created.
    for (token, status, code) in [
        (None, StatusCode::UNAUTHORIZED, "unauthorized"),
        (Some("sdx_not_a_token"), StatusCode::UNAUTHORIZED, "unauthorized"),
        (Some(bridge.as_str()), StatusCode::FORBIDDEN, "forbidden"),
        (Some(otto.as_str()), StatusCode::FORBIDDEN, "forbidden"),
    ] {
        let r = app.call(Method::PUT, "/api/r/@acme/tool", token, Some(doc.clone())).await;
        envelope(&r, status, code);
    }
    assert_eq!(app.get("/api/v1/skills/acme/tool", Some(&ann)).await.status, StatusCode::NOT_FOUND);
    let r = app.call(Method::PUT, "/api/r/@acme/tool", Some(&publisher), Some(doc.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["version"], "1.0.0");
    // Never republishable, whoever asks.
    let r = app.call(Method::PUT, "/api/r/@acme%2ftool", Some(&ann), Some(doc.clone())).await;
    envelope(&r, StatusCode::CONFLICT, "conflict");
    let mut other = doc.clone();
    other["name"] = json!("@acme/other");
    envelope(
        &app.call(Method::PUT, "/api/r/@acme/tool", Some(&ann), Some(other)).await,
        StatusCode::BAD_REQUEST,
        "invalid_input",
    );
    let r = app.raw(Method::PUT, "/api/r/@acme/tool", Some(&ann), Some("{not json"), Some("application/json")).await;
    envelope(&r, StatusCode::BAD_REQUEST, "invalid_input");

    // Reading: the same packument as npm's own path, in every spelling, with its validators.
    let npm = app.get("/@acme%2ftool", Some(&bridge)).await;
    assert_eq!(npm.status, StatusCode::OK);
    for path in ["/api/r/@acme/tool", "/api/r/@acme%2ftool", "/api/r/acme/tool"] {
        let r = app.get(path, Some(&bridge)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        assert_eq!(r.body, npm.body, "{path}");
        assert_eq!(r.body["versions"]["1.0.0"]["dist"]["tarball"].as_str().map(|t| t.ends_with(".tgz")), Some(true));
        assert_eq!(r.headers["etag"], npm.headers["etag"]);
        assert!(r.headers.contains_key("last-modified"), "{path}");
    }
    let etag = npm.headers["etag"].to_str().unwrap().to_owned();
    let req = axum::http::Request::get("/api/r/@acme/tool")
        .header("authorization", format!("Bearer {bridge}"))
        .header("if-none-match", &etag)
        .body(axum::body::Body::empty())
        .unwrap();
    let r = app.send(req).await;
    assert_eq!((r.status, r.bytes.len()), (StatusCode::NOT_MODIFIED, 0));

    // Private stays private: an outsider's 404 reads exactly like a package that does not exist.
    app.skill("acme", "secret", "private", &ann).await;
    app.version("acme", "secret", "1.0.0", VersionStatus::Published).await;
    assert_eq!(app.get("/api/r/@acme/secret", Some(&bridge)).await.status, StatusCode::OK);
    let hidden = app.get("/api/r/@acme/secret", Some(&otto)).await;
    let absent = app.get("/api/r/@acme/nothing", Some(&otto)).await;
    envelope(&hidden, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(hidden.text.replace("secret", "X"), absent.text.replace("nothing", "X"));
    envelope(&app.get("/api/r/@acme/secret", None).await, StatusCode::NOT_FOUND, "not_found");
    envelope(&app.get("/api/r/tool", None).await, StatusCode::NOT_FOUND, "not_found");
    envelope(&app.get("/api/r/@acme/Bad_Name", None).await, StatusCode::BAD_REQUEST, "invalid_input");
    envelope(
        &app.call(Method::DELETE, "/api/r/@acme/tool", Some(&ann), None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

async fn wishes_are_seen_and_closed_by_the_right_people(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann = app.user("ann", TokenScope::Admin).await; // owns acme
    app.team("acme", &ann).await;
    let wes = app.user("wes", TokenScope::Write).await; // asks, in no team
    let reader = app.user("ray", TokenScope::Read).await;
    let otto = app.user("otto", TokenScope::Write).await;
    let bridge = agent_token(&app, &wes, "agent-bridge").await;
    app.skill("acme", "pdf-tables", "private", &ann).await;
    app.skill("acme", "pdf-open", "public", &ann).await;
    let wish = |title: &str, namespace: Option<&str>, tags: &[&str]| json!({"title": title, "body": "Need a skill that handles tables and footnotes", "tags": tags, "namespace": namespace});
    let post = |token: Option<&str>, body: Value| {
        let (app, token) = (&app, token.map(str::to_owned));
        async move { app.call(Method::POST, "/api/wishes", token.as_deref(), Some(body)).await }
    };

    // Who may wish, and what a wish must say. Nothing refused is stored.
    envelope(&post(None, wish("PDF to Markdown", None, &[])).await, StatusCode::UNAUTHORIZED, "unauthorized");
    envelope(&post(Some(&reader), wish("PDF to Markdown", None, &[])).await, StatusCode::FORBIDDEN, "forbidden");
    for (body, what) in [
        (wish("PDF", None, &[]), "title under 5"),
        (json!({"title": "PDF to Markdown", "body": "too short"}), "body under 10"),
        (json!({"title": "     PDF ", "body": "Need a skill that handles tables"}), "title blank-padded to 3"),
        (wish("PDF to Markdown", None, &["a", "b", "c", "d", "e", "f", "g", "h", "i"]), "9 tags"),
        (wish("PDF to Markdown", None, &["Not A Tag!"]), "a bad tag"),
        (
            json!({"title": "PDF to Markdown", "body": "Need a skill that handles tables", "mood": "x"}),
            "an unknown field",
        ),
        (json!({"title": 5, "body": "Need a skill that handles tables"}), "a number for a title"),
        (wish("PDF to Markdown", Some("Not Valid"), &[]), "a bad namespace"),
    ] {
        let r = post(Some(&bridge), body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text);
        envelope(&r, StatusCode::BAD_REQUEST, "invalid_input");
    }
    envelope(
        &post(Some(&bridge), wish("PDF to Markdown", Some("ghost"), &[])).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let huge = format!(r#"{{"title": "PDF to Markdown", "body": "{}"}}"#, "x".repeat(2 << 20));
    let r = app.raw(Method::POST, "/api/wishes", Some(&bridge), Some(&huge), Some("application/json")).await;
    envelope(&r, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    assert_eq!(app.get("/api/wishes", Some(&ann)).await.body["data"], json!([]), "nothing refused was stored");

    // A site-wide wish (by an agent on wes's behalf) and one addressed to acme.
    let r = post(Some(&bridge), wish("PDF to Markdown", None, &["pdf", "markdown", "pdf"])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!((r.body["author"].as_str(), r.body["status"].as_str()), (Some("wes"), Some("open")));
    assert_eq!(r.body["tags"], json!(["pdf", "markdown"]));
    let open_wish = r.body["id"].as_str().unwrap().to_owned();
    let r = post(Some(&wes), wish("Tables in PDFs for acme", Some("acme"), &["pdf"])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let team_wish = r.body["id"].as_str().unwrap().to_owned();

    // Who sees what: anyone the site-wide wish; the addressed one its author, acme's members
    // and site admins only — to anyone else it does not exist.
    let ids = |r: Reply| -> Vec<String> {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body["data"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_owned()).collect()
    };
    let both = vec![team_wish.clone(), open_wish.clone()];
    assert_eq!(ids(app.get("/api/wishes", None).await), [open_wish.as_str()]);
    assert_eq!(ids(app.get("/api/wishes", Some(&otto)).await), [open_wish.as_str()]);
    for token in [&wes, &ann, &app.admin] {
        assert_eq!(ids(app.get("/api/wishes", Some(token)).await), both);
    }
    let hidden = app.get(&format!("/api/wishes/{team_wish}"), Some(&otto)).await;
    let absent = app.get("/api/wishes/00000000-0000-0000-0000-000000000000", Some(&otto)).await;
    envelope(&hidden, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(hidden.text.replace(&team_wish, "X"), absent.text.replace("00000000-0000-0000-0000-000000000000", "X"));
    assert_eq!(app.get(&format!("/api/wishes/{team_wish}"), Some(&ann)).await.status, StatusCode::OK);

    // Filters and paging.
    assert_eq!(ids(app.get("/api/wishes?tag=markdown", Some(&ann)).await), [open_wish.as_str()]);
    assert_eq!(ids(app.get("/api/wishes?namespace=acme", Some(&ann)).await), [team_wish.as_str()]);
    assert_eq!(ids(app.get("/api/wishes?namespace=acme", Some(&otto)).await), Vec::<String>::new());
    let first = app.get("/api/wishes?limit=1", Some(&ann)).await;
    let cursor = first.body["cursor"].as_str().unwrap().to_owned();
    let second = app.get(&format!("/api/wishes?limit=1&cursor={cursor}"), Some(&ann)).await;
    assert!(second.body["cursor"].is_null());
    assert_eq!([ids(first), ids(second)].concat(), both);
    for bad in ["?status=maybe", "?limit=0", "?limit=101", "?tag=Bad%20Tag", "?colour=red"] {
        envelope(&app.get(&format!("/api/wishes{bad}"), Some(&ann)).await, StatusCode::BAD_REQUEST, "invalid_input");
    }

    // Closing: not by an outsider (the addressed wish does not exist for them; the site-wide
    // one is not theirs), not as an answer they cannot see; by a member, with an answer.
    let close = |id: &str, token: &str, answer: Option<&str>| {
        let body = answer.map_or_else(|| json!({}), |a| json!({"answer": a}));
        let (app, path, token) = (&app, format!("/api/wishes/{id}/close"), token.to_owned());
        async move { app.call(Method::POST, &path, Some(&token), Some(body)).await }
    };
    envelope(&close(&team_wish, &otto, None).await, StatusCode::NOT_FOUND, "not_found");
    envelope(&close(&open_wish, &otto, None).await, StatusCode::FORBIDDEN, "forbidden");
    envelope(&close(&team_wish, &wes, Some("acme/pdf-tables")).await, StatusCode::NOT_FOUND, "not_found");
    envelope(&close(&team_wish, &ann, Some("acme")).await, StatusCode::BAD_REQUEST, "invalid_input");
    assert_eq!(app.get(&format!("/api/wishes/{team_wish}"), Some(&ann)).await.body["status"], "open");
    let r = close(&team_wish, &ann, Some("acme/pdf-tables")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["status"].as_str(), r.body["closedBy"].as_str()), (Some("closed"), Some("ann")));
    assert_eq!(r.body["answer"], "acme/pdf-tables");
    // The private answer is named only to those who may see it.
    let seen_by_author = app.get(&format!("/api/wishes/{team_wish}"), Some(&wes)).await;
    assert_eq!(
        (seen_by_author.body["status"].as_str(), &seen_by_author.body["answer"]),
        (Some("closed"), &Value::Null)
    );
    // Nor does an outsider learn who in the team closed it.
    assert_eq!(seen_by_author.body["closedBy"], Value::Null, "{}", seen_by_author.text);
    envelope(&close(&team_wish, &ann, None).await, StatusCode::CONFLICT, "conflict");
    // The author closes their own site-wide wish with a public answer.
    let r = close(&open_wish, &bridge, Some("acme/pdf-open")).await;
    assert_eq!((r.status, r.body["answer"].as_str()), (StatusCode::OK, Some("acme/pdf-open")), "{}", r.text);
    assert_eq!(ids(app.get("/api/wishes?status=open", Some(&ann)).await), Vec::<String>::new());
    assert_eq!(ids(app.get("/api/wishes?status=closed", None).await), [open_wish]);
    envelope(
        &app.call(Method::DELETE, "/api/wishes", Some(&ann), None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    // A repeated tag counts once, also against the limit of 8.
    let r = post(Some(&wes), wish("PDF to Markdown, again", None, &["pdf"; 9])).await;
    assert_eq!((r.status, &r.body["tags"]), (StatusCode::CREATED, &json!(["pdf"])), "{}", r.text);
}

async fn agent_tokens_do_what_their_kind_allows(db: TestDb) {
    let app = TestApp::new(db).await.storing();
    let dir = tempfile::tempdir().unwrap();
    let ann = app.user("ann", TokenScope::Admin).await;
    app.team("acme", &ann).await;
    let read = app.token_for("ann", TokenScope::Read).await;

    // Kinds carry their own scope and a short life by default.
    let r =
        app.call(Method::POST, "/api/v1/tokens", Some(&ann), Some(json!({"name": "a", "kind": "agent-bridge"}))).await;
    assert_eq!((r.status, r.body["scope"].as_str()), (StatusCode::CREATED, Some("read")), "{}", r.text);
    let expires = chrono::DateTime::parse_from_rfc3339(r.body["expiresAt"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((6.9..=7.0).contains(&days), "an agent token lives 7 days by default, not {days}");
    for (body, status) in [
        (json!({"name": "a", "kind": "agent-bridge", "scope": "write"}), StatusCode::BAD_REQUEST),
        (json!({"name": "a", "kind": "agent-helper"}), StatusCode::BAD_REQUEST),
        (json!({"name": "a"}), StatusCode::BAD_REQUEST),
    ] {
        let r = app.call(Method::POST, "/api/v1/tokens", Some(&ann), Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
    }
    // Never more than the token asking: a read token makes no agent token (an agent-bridge
    // token wishes and reviews, which a read token may not).
    for kind in ["agent-publisher", "agent-bridge"] {
        let body = json!({"name": "a", "kind": kind});
        let r = app.call(Method::POST, "/api/v1/tokens", Some(&read), Some(body)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{kind}: {}", r.text);
    }
    let bridge = agent_token(&app, &ann, "agent-bridge").await;
    let publisher = agent_token(&app, &ann, "agent-publisher").await;

    // npm: the publisher publishes; neither moves dist-tags nor unpublishes.
    let doc = npm_document(dir.path(), "tool", "1.0.0");
    let r = app.call(Method::PUT, "/@acme%2ftool", Some(&bridge), Some(doc.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // A dist-tag is a channel move: refused before anything is stored.
    let mut tagged = doc.clone();
    tagged["dist-tags"] = json!({"latest": "1.0.0", "beta": "1.0.0"});
    let r = app.call(Method::PUT, "/@acme%2ftool", Some(&publisher), Some(tagged)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(app.get("/api/v1/skills/acme/tool", Some(&ann)).await.status, StatusCode::NOT_FOUND);
    let r = app.call(Method::PUT, "/@acme%2ftool", Some(&publisher), Some(doc)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Nor does an agent create a skill without publishing it.
    let bare = json!({"scope": "acme", "slug": "bare"});
    let r = app.call(Method::POST, "/api/v1/skills", Some(&publisher), Some(bare)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    for token in [&bridge, &publisher] {
        let r = app
            .raw(
                Method::PUT,
                "/-/package/@acme%2ftool/dist-tags/beta",
                Some(token),
                Some("\"1.0.0\""),
                Some("application/json"),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r = app.call(Method::PUT, "/api/v1/skills/acme/tool/versions/1.0.0/yank", Some(token), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }
    let channels = app.get("/api/v1/skills/acme/tool/channels", Some(&ann)).await;
    assert!(!channels.text.contains("beta"), "{}", channels.text);
    let versions = app.get("/api/v1/skills/acme/tool/versions", Some(&ann)).await;
    assert_eq!(versions.body["data"][0]["status"], "published", "{}", versions.text);

    // /v2/: the bridge may pull, never push; the publisher may start a push.
    let r = app.raw(Method::POST, "/v2/acme/tool/blobs/uploads/", Some(&bridge), None, None).await;
    assert_eq!((r.status, r.body["errors"][0]["code"].as_str()), (StatusCode::FORBIDDEN, Some("DENIED")), "{}", r.text);
    let r = app.raw(Method::POST, "/v2/acme/tool/blobs/uploads/", Some(&publisher), None, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let r = app.raw(Method::GET, "/v2/acme/tool/tags/list", Some(&bridge), None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Deleting is not publishing.
    let r = app.raw(Method::DELETE, "/v2/acme/tool/manifests/some-tag", Some(&publisher), None, None).await;
    assert_eq!((r.status, r.body["errors"][0]["code"].as_str()), (StatusCode::FORBIDDEN, Some("DENIED")), "{}", r.text);

    // A site administrator's agent token has a member's reach, not the site's.
    app.team("other", &app.admin).await;
    app.skill("other", "hidden", "private", &app.admin).await;
    app.skill("acme", "secret", "private", &ann).await;
    let admin_agent = agent_token(&app, &app.admin, "agent-bridge").await;
    assert_eq!(app.get("/api/v1/skills/other/hidden", Some(&admin_agent)).await.status, StatusCode::OK, "a member");
    assert_eq!(app.get("/api/v1/skills/acme/secret", Some(&app.admin)).await.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/skills/acme/secret", Some(&admin_agent)).await.status, StatusCode::NOT_FOUND);

    // Tokens are for people: an agent token lists, mints and revokes none.
    for token in [&bridge, &publisher] {
        assert_eq!(app.get("/api/v1/tokens", Some(token)).await.status, StatusCode::FORBIDDEN);
        let id = app.get("/api/v1/me", Some(token)).await.body["token"]["id"].as_str().unwrap().to_owned();
        let r = app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(token), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }
    // The owner sees both, by kind.
    let listed = app.get("/api/v1/tokens", Some(&ann)).await;
    let kinds: Vec<&str> = listed.body["data"].as_array().unwrap().iter().filter_map(|t| t["kind"].as_str()).collect();
    assert!(kinds.contains(&"agent-bridge") && kinds.contains(&"agent-publisher") && kinds.contains(&"standard"));
}

async fn collections_list_only_what_each_reader_may_see(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann = app.user("ann", TokenScope::Admin).await; // owns acme
    app.team("acme", &ann).await;
    let wes = app.user("wes", TokenScope::Write).await;
    let otto = app.user("otto", TokenScope::Write).await;
    let bridge = agent_token(&app, &wes, "agent-bridge").await;
    app.skill("acme", "pub-tool", "public", &ann).await;
    app.skill("acme", "priv-tool", "private", &ann).await;
    let create = |token: &str, body: Value| {
        let (app, token) = (&app, token.to_owned());
        async move { app.call(Method::POST, "/api/v1/collections", Some(&token), Some(body)).await }
    };
    let skills = |r: &Reply| -> Vec<String> {
        r.body["skills"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
    };

    // Refusals, each leaving nothing behind.
    for (token, body, want) in [
        (bridge.as_str(), json!({"name": "Mine", "skills": ["acme/pub-tool"]}), StatusCode::FORBIDDEN),
        (wes.as_str(), json!({"name": "Mine", "skills": ["acme/priv-tool"]}), StatusCode::NOT_FOUND),
        (wes.as_str(), json!({"name": "Mine", "namespace": "acme", "skills": []}), StatusCode::FORBIDDEN),
        (wes.as_str(), json!({"name": " ", "skills": []}), StatusCode::BAD_REQUEST),
        (wes.as_str(), json!({"name": "Twice", "skills": ["acme/pub-tool", "acme/pub-tool"]}), StatusCode::BAD_REQUEST),
        (wes.as_str(), json!({"name": "Bad", "skills": ["pub-tool"]}), StatusCode::BAD_REQUEST),
        (wes.as_str(), json!({"name": "Many", "skills": vec!["acme/pub-tool"; 201]}), StatusCode::BAD_REQUEST),
        (wes.as_str(), json!({"name": "Odd", "colour": "red"}), StatusCode::BAD_REQUEST),
    ] {
        let r = create(token, body.clone()).await;
        assert_eq!(r.status, want, "{body}: {}", r.text);
    }
    assert_eq!(app.get("/api/v1/collections", Some(&app.admin)).await.body["data"], json!([]));

    // A personal public list; a team's public list holding a private skill; a private list.
    let r = create(&wes, json!({"name": "Wes picks", "visibility": "public", "skills": ["acme/pub-tool"]})).await;
    assert_eq!((r.status, r.body["owner"].as_str()), (StatusCode::CREATED, Some("wes")), "{}", r.text);
    let wes_list = r.body["id"].as_str().unwrap().to_owned();
    let r = create(
        &ann,
        json!({"name": "Acme kit", "namespace": "acme", "visibility": "public",
            "skills": ["acme/priv-tool", "acme/pub-tool"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(skills(&r), ["acme/priv-tool", "acme/pub-tool"], "in the order given");
    let team_list = r.body["id"].as_str().unwrap().to_owned();
    let r = create(&ann, json!({"name": "Ann's drafts", "skills": ["acme/pub-tool"]})).await;
    assert_eq!(r.body["visibility"], "private", "private unless said otherwise");
    let private_list = r.body["id"].as_str().unwrap().to_owned();

    // The private skill is listed to members only; the private list exists for its owner only.
    let seen = app.get(&format!("/api/v1/collections/{team_list}"), Some(&otto)).await;
    assert_eq!(skills(&seen), ["acme/pub-tool"]);
    assert_eq!(skills(&app.get(&format!("/api/v1/collections/{team_list}"), None).await), ["acme/pub-tool"]);
    assert_eq!(
        skills(&app.get(&format!("/api/v1/collections/{team_list}"), Some(&ann)).await),
        ["acme/priv-tool", "acme/pub-tool"]
    );
    let hidden = app.get(&format!("/api/v1/collections/{private_list}"), Some(&otto)).await;
    let ghost = "01234567-89ab-cdef-0123-456789abcdef";
    let absent = app.get(&format!("/api/v1/collections/{ghost}"), Some(&otto)).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(
        hidden.body["detail"].as_str().unwrap().replace(&private_list, "X"),
        absent.body["detail"].as_str().unwrap().replace(ghost, "X")
    );
    let listed = |token: Option<&str>| {
        let app = &app;
        let token = token.map(str::to_owned);
        async move {
            let r = app.get("/api/v1/collections", token.as_deref()).await;
            let mut ids: Vec<String> =
                r.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
            ids.sort();
            ids
        }
    };
    let mut public = vec![wes_list.clone(), team_list.clone()];
    public.sort();
    assert_eq!(listed(None).await, public);
    assert_eq!(listed(Some(&otto)).await, public);
    let mut all = vec![wes_list.clone(), team_list.clone(), private_list.clone()];
    all.sort();
    assert_eq!(listed(Some(&ann)).await, all);
    let first = app.get("/api/v1/collections?limit=1", Some(&ann)).await;
    let next = app
        .get(&format!("/api/v1/collections?limit=1&cursor={}", first.body["cursor"].as_str().unwrap()), Some(&ann))
        .await;
    assert_ne!(first.body["data"][0]["id"], next.body["data"][0]["id"]);

    // Changing: the owner, or the team's publishers; never its namespace.
    let put = |id: &str, token: &str, body: Value| {
        let (app, path, token) = (&app, format!("/api/v1/collections/{id}"), token.to_owned());
        async move { app.call(Method::PUT, &path, Some(&token), Some(body)).await }
    };
    assert_eq!(put(&team_list, &otto, json!({"name": "Mine now"})).await.status, StatusCode::FORBIDDEN);
    assert_eq!(put(&private_list, &otto, json!({"name": "Mine now"})).await.status, StatusCode::NOT_FOUND);
    assert_eq!(put(&wes_list, &wes, json!({"name": "Moved", "namespace": "acme"})).await.status, StatusCode::CONFLICT);
    assert_eq!(app.get(&format!("/api/v1/collections/{team_list}"), Some(&ann)).await.body["name"], "Acme kit");
    let r = put(&wes_list, &wes, json!({"name": "Wes picks", "description": "Tools I use", "skills": []})).await;
    assert_eq!((r.status, r.body["description"].as_str()), (StatusCode::OK, Some("Tools I use")), "{}", r.text);
    assert_eq!((r.body["visibility"].as_str(), skills(&r).len()), (Some("public"), 0), "visibility kept");
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/v1/collections/{wes_list}"), Some(&otto), None).await.status,
        StatusCode::FORBIDDEN
    );
    // A site administrator changes another's collection with an admin token only.
    let admin_write = app.token_for("admin", TokenScope::Write).await;
    let r = app.call(Method::DELETE, &format!("/api/v1/collections/{wes_list}"), Some(&admin_write), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = put(&wes_list, &app.admin, json!({"name": "Renamed by the site"})).await;
    assert_eq!((r.status, r.body["name"].as_str()), (StatusCode::OK, Some("Renamed by the site")), "{}", r.text);
    // An anonymous caller is refused before the body is looked at.
    let r = app
        .call(
            Method::PUT,
            &format!("/api/v1/collections/{wes_list}"),
            None,
            Some(json!({"name": "x", "namespace": "other"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/v1/collections/{wes_list}"), Some(&wes), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&format!("/api/v1/collections/{wes_list}"), Some(&wes)).await.status, StatusCode::NOT_FOUND);
}

async fn reviews_are_as_private_as_what_they_review(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann = app.user("ann", TokenScope::Admin).await; // owns acme
    app.team("acme", &ann).await;
    let wes = app.user("wes", TokenScope::Write).await;
    let otto = app.user("otto", TokenScope::Write).await;
    let reader = app.user("ray", TokenScope::Read).await;
    let bridge = agent_token(&app, &wes, "agent-bridge").await;
    app.skill("acme", "pub-tool", "public", &ann).await;
    app.skill("acme", "priv-tool", "private", &ann).await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/collections",
            Some(&ann),
            Some(json!({"name": "Kit", "namespace": "acme", "visibility": "public"})),
        )
        .await;
    let kit = r.body["id"].as_str().unwrap().to_owned();
    let review = |target_type: &str, target_id: &str, rating: &str, body: &str| json!({"targetType": target_type, "targetId": target_id, "rating": rating, "body": body});
    let post = |token: Option<&str>, body: Value| {
        let (app, token) = (&app, token.map(str::to_owned));
        async move { app.call(Method::POST, "/api/reviews", token.as_deref(), Some(body)).await }
    };
    let good = review("package", "@acme/pub-tool", "grande", "Handled every PDF I gave it.");

    // Who may review, what a review must say, and never one's own work.
    envelope(&post(None, good.clone()).await, StatusCode::UNAUTHORIZED, "unauthorized");
    envelope(&post(Some(&reader), good.clone()).await, StatusCode::FORBIDDEN, "forbidden");
    for (body, status, code) in [
        (review("package", "@acme/pub-tool", "tall", "Handled every PDF."), StatusCode::BAD_REQUEST, "invalid_input"),
        (review("package", "@acme/pub-tool", "grande", "meh "), StatusCode::BAD_REQUEST, "invalid_input"),
        (review("server", "@acme/pub-tool", "grande", "Handled every PDF."), StatusCode::BAD_REQUEST, "invalid_input"),
        (review("package", "@acme/Bad_Name", "grande", "Handled every PDF."), StatusCode::BAD_REQUEST, "invalid_input"),
        (review("package", "@acme/priv-tool", "grande", "Handled every PDF."), StatusCode::NOT_FOUND, "not_found"),
        (
            review("collection", "no-such-collection", "grande", "Handled every PDF."),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        envelope(&post(Some(&bridge), body).await, status, code);
    }
    envelope(&post(Some(&ann), good.clone()).await, StatusCode::UNPROCESSABLE_ENTITY, "cannot_review_own");
    envelope(
        &post(Some(&ann), review("collection", &kit, "grande", "Our own kit")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "cannot_review_own",
    );
    let list = |token: Option<&str>, target_type: &str, target_id: &str| {
        let path = format!("/api/reviews?targetType={target_type}&targetId={}", target_id.replace('/', "%2F"));
        let token = token.map(str::to_owned);
        let app = &app;
        async move { app.get(&path, token.as_deref()).await }
    };
    assert_eq!(
        list(Some(&ann), "package", "@acme/pub-tool").await.body["data"],
        json!([]),
        "nothing refused was stored"
    );

    // One review per author and target; an agent reviews on its user's behalf.
    let r = post(Some(&bridge), good.clone()).await;
    assert_eq!((r.status, r.body["author"].as_str()), (StatusCode::CREATED, Some("wes")), "{}", r.text);
    assert_eq!((r.body["targetType"].as_str(), r.body["targetId"].as_str()), (Some("package"), Some("@acme/pub-tool")));
    let wes_review = r.body["id"].as_str().unwrap().to_owned();
    envelope(&post(Some(&wes), good.clone()).await, StatusCode::CONFLICT, "conflict");
    let r = post(Some(&otto), review("collection", &kit, "regular", "Good start, thin on docs")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let kit_review = r.body["id"].as_str().unwrap().to_owned();

    // A private skill's reviews are seen by those who see the skill, and no one else.
    let r = post(Some(&app.admin), review("package", "@acme/priv-tool", "grande", "Audited it, fine.")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let private_review = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(list(Some(&ann), "package", "@acme/priv-tool").await.body["data"][0]["id"], private_review.as_str());
    let hidden = list(Some(&otto), "package", "@acme/priv-tool").await;
    let absent = list(Some(&otto), "package", "@acme/nothing").await;
    envelope(&hidden, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(hidden.text.replace("priv-tool", "X"), absent.text.replace("nothing", "X"));
    let hidden = app.get(&format!("/api/reviews/{private_review}"), Some(&otto)).await;
    let absent = app.get("/api/reviews/01234567-89ab-cdef-0123-456789abcdef", Some(&otto)).await;
    envelope(&hidden, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        hidden.text.replace(&private_review, "X"),
        absent.text.replace("01234567-89ab-cdef-0123-456789abcdef", "X")
    );
    let public = list(None, "package", "@acme/pub-tool").await;
    assert_eq!((public.status, public.body["data"][0]["id"].as_str()), (StatusCode::OK, Some(wes_review.as_str())));

    // Changed and deleted by its author only (a site administrator may delete).
    let put = |token: &str, body: Value| {
        let (app, path, token) = (&app, format!("/api/reviews/{wes_review}"), token.to_owned());
        async move { app.call(Method::PUT, &path, Some(&token), Some(body)).await }
    };
    envelope(
        &put(&otto, json!({"rating": "regular", "body": "Not my review"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    envelope(&put(&wes, json!({"rating": "regular"})).await, StatusCode::BAD_REQUEST, "invalid_input");
    let r = put(&bridge, json!({"rating": "regular", "body": "Good, but slow on big files."})).await;
    assert_eq!((r.status, r.body["rating"].as_str()), (StatusCode::OK, Some("regular")), "{}", r.text);
    let r = app.call(Method::DELETE, &format!("/api/reviews/{wes_review}"), Some(&otto), None).await;
    envelope(&r, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.get(&format!("/api/reviews/{wes_review}"), None).await.body["body"], "Good, but slow on big files.");
    let r = app.call(Method::DELETE, &format!("/api/reviews/{wes_review}"), Some(&wes), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    envelope(&app.get(&format!("/api/reviews/{wes_review}"), Some(&wes)).await, StatusCode::NOT_FOUND, "not_found");

    // Deleting a collection takes its reviews with it.
    assert_eq!(app.get(&format!("/api/reviews/{kit_review}"), None).await.status, StatusCode::OK);
    let r = app.call(Method::DELETE, &format!("/api/v1/collections/{kit}"), Some(&ann), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    envelope(
        &app.get(&format!("/api/reviews/{kit_review}"), Some(&app.admin)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}
