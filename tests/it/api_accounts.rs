//! Users, tokens and teams over HTTP.

use axum::http::{Method, StatusCode};
use serde_json::json;
use skilldex::domain::TokenScope;

use crate::common::{TestApp, TestDb, on_both_backends};

on_both_backends!(tokens_are_shown_once_and_scoped, revoked_and_expired_tokens_stop_working, teams_and_members);

async fn tokens_are_shown_once_and_scoped(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann_write = app.user("ann", TokenScope::Write).await;
    assert!(ann_write.starts_with("sdx_"));

    let me = app.get("/api/v1/me", Some(&ann_write)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"]["username"], "ann");
    assert_eq!(me.body["token"]["scope"], "write");

    // A token can mint tokens for its user, never above its own scope.
    let r =
        app.call(Method::POST, "/api/v1/tokens", Some(&ann_write), Some(json!({"name": "ci", "scope": "read"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let ci = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(r.body["scope"], "read");
    let r = app
        .call(Method::POST, "/api/v1/tokens", Some(&ann_write), Some(json!({"name": "root", "scope": "admin"})))
        .await;
    assert_eq!((r.status, r.problem_type()), (StatusCode::FORBIDDEN, "insufficient-permissions"));

    // Listings never carry secrets, and the store keeps only hashes.
    let list = app.get("/api/v1/tokens", Some(&ci)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2);
    assert!(!list.text.contains(&ci) && !list.text.contains(&ann_write), "no secret in listings");
    assert!(list.body["data"].as_array().unwrap().iter().all(|t| t.get("token").is_none()));
    let stored = app.store().token_by_hash(&skilldex::service::access::hash_token(&ci)).await.unwrap();
    assert!(stored.is_some(), "stored as SHA-256 of the secret");

    // The last-used time is recorded.
    let ci_id = list.body["data"].as_array().unwrap().iter().find(|t| t["name"] == "ci").unwrap()["id"].clone();
    let mut used = serde_json::Value::Null;
    for _ in 0..50 {
        let l = app.get("/api/v1/tokens", Some(&ann_write)).await;
        used = l.body["data"].as_array().unwrap().iter().find(|t| t["id"] == ci_id).unwrap()["lastUsedAt"].clone();
        if !used.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(used.is_string(), "lastUsedAt set after use");

    // Only site admins create users or mint tokens for others.
    let ann_admin = app.token_for("ann", TokenScope::Admin).await;
    let r = app
        .call(Method::POST, "/api/v1/users", Some(&ann_admin), Some(json!({"username": "bob", "email": "b@x.io"})))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .call(Method::POST, "/api/v1/users/ann/tokens", Some(&ann_admin), Some(json!({"name": "x", "scope": "read"})))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .call(Method::POST, "/api/v1/users", Some(&app.admin), Some(json!({"username": "ann", "email": "a@x.io"})))
        .await;
    assert_eq!((r.status, r.problem_type()), (StatusCode::CONFLICT, "version-conflict"));
}

async fn revoked_and_expired_tokens_stop_working(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann = app.user("ann", TokenScope::Write).await;
    let bob = app.user("bob", TokenScope::Admin).await;
    let ids = app.get("/api/v1/tokens", Some(&ann)).await.body["data"].clone();
    let id = ids[0]["id"].as_str().unwrap().to_owned();

    // Someone else's token looks like no token at all.
    let r = app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&bob), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/me", Some(&ann)).await.status, StatusCode::OK);

    let r = app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&ann), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.get("/api/v1/me", Some(&ann)).await;
    assert_eq!((r.status, r.problem_type()), (StatusCode::UNAUTHORIZED, "authentication-required"));
    assert!(r.headers.get("www-authenticate").is_some());
    // Even public reads refuse a revoked token rather than treating it as anonymous.
    assert_eq!(app.get("/api/v1/skills", Some(&ann)).await.status, StatusCode::UNAUTHORIZED);

    let expired = app.expired_token_for("ann").await;
    assert_eq!(app.get("/api/v1/me", Some(&expired)).await.status, StatusCode::UNAUTHORIZED);
    let r = app
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&bob),
            Some(json!({"name": "old", "scope": "read", "expiresAt": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!((r.status, r.problem_type()), (StatusCode::BAD_REQUEST, "validation-error"));
    let r = app
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&bob),
            Some(json!({"name": "soon", "scope": "read", "expiresAt": "2999-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["expiresAt"], "2999-01-01T00:00:00Z");

    // Garbage and other schemes are refused, not treated as anonymous.
    assert_eq!(app.get("/api/v1/skills", Some("sdx_nope")).await.status, StatusCode::UNAUTHORIZED);
    let r = app.raw(Method::GET, "/api/v1/skills", None, None, None).await;
    assert_eq!(r.status, StatusCode::OK);

    // Site admins with an admin token can revoke anyone's token.
    let bob_ids = app.get("/api/v1/tokens", Some(&bob)).await.body["data"].clone();
    let bob_id =
        bob_ids.as_array().unwrap().iter().find(|t| t["scope"] == "admin").unwrap()["id"].as_str().unwrap().to_owned();
    let r = app.call(Method::DELETE, &format!("/api/v1/tokens/{bob_id}"), Some(&app.admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", Some(&bob)).await.status, StatusCode::UNAUTHORIZED);
}

/// On SQLite a token read recently is used again while this server writes nothing, for at
/// most 250 ms: one revoked through this server stops at once, one revoked by another process
/// writing to the same file (another server) within a quarter second.
#[tokio::test]
async fn a_token_revoked_by_another_process_stops_within_a_quarter_second() {
    let db = TestDb::sqlite().await;
    let url = db.url.clone();
    let app = TestApp::new(db).await;
    let (ann, bob) = (app.user("ann", TokenScope::Write).await, app.user("bob", TokenScope::Write).await);
    let id_of = |who: &str| {
        let app = &app;
        let who = who.to_owned();
        async move { app.get("/api/v1/tokens", Some(&who)).await.body["data"][0]["id"].as_str().unwrap().to_owned() }
    };
    let (ann_id, bob_id) = (id_of(&ann).await, id_of(&bob).await);
    // Used a few times: the first use is recorded, then the token is kept.
    for _ in 0..3 {
        for token in [&ann, &bob] {
            assert_eq!(app.get("/api/v1/me", Some(token)).await.status, StatusCode::OK);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let r = app.call(Method::DELETE, &format!("/api/v1/tokens/{ann_id}"), Some(&ann), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", Some(&ann)).await.status, StatusCode::UNAUTHORIZED, "at once");

    let cli = skilldex::store::connect(&url).await.unwrap();
    assert!(cli.revoke_token(&bob_id, skilldex::domain::now_millis()).await.unwrap());
    tokio::time::sleep(skilldex::service::search::QUIET_FOR + std::time::Duration::from_millis(50)).await;
    let r = app.get("/api/v1/me", Some(&bob)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "revoked by another process, 300 ms on");
    assert_eq!(app.get("/api/v1/skills", Some(&bob)).await.status, StatusCode::UNAUTHORIZED);
}

async fn teams_and_members(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann = app.user("ann", TokenScope::Admin).await;
    let bob = app.user("bob", TokenScope::Admin).await;
    let ann_write = app.token_for("ann", TokenScope::Write).await;

    let r = app
        .call(Method::POST, "/api/v1/teams", Some(&ann_write), Some(json!({"slug": "acme", "displayName": "Acme"})))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "creating a team needs an admin-scope token");
    let r = app
        .call(Method::POST, "/api/v1/teams", Some(&ann), Some(json!({"slug": "io.github.acme", "displayName": "Acme"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["members"][0]["username"], "ann");
    assert_eq!(r.body["members"][0]["role"], "owner");
    let r = app
        .call(Method::POST, "/api/v1/teams", Some(&bob), Some(json!({"slug": "io.github.acme", "displayName": "Mine"})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Outsiders see the team but not who is in it.
    let r = app.get("/api/v1/teams/io.github.acme", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["displayName"], "Acme");
    assert!(r.body.get("members").is_none());
    assert!(!r.text.contains("ann"));

    // Only owners manage members.
    let path = "/api/v1/teams/io.github.acme/members/bob";
    let r = app.call(Method::PUT, path, Some(&bob), Some(json!({"role": "owner"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.call(Method::PUT, path, Some(&ann), Some(json!({"role": "publisher"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    let r = app.get("/api/v1/teams/io.github.acme", Some(&bob)).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2, "members see the member list");
    let r = app.call(Method::PUT, path, Some(&bob), Some(json!({"role": "owner"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a publisher cannot promote themself");

    // The last owner can be neither demoted nor removed.
    let ann_path = "/api/v1/teams/io.github.acme/members/ann";
    let r = app.call(Method::PUT, ann_path, Some(&ann), Some(json!({"role": "reader"}))).await;
    assert_eq!((r.status, r.problem_type()), (StatusCode::CONFLICT, "state-conflict"));
    let r = app.call(Method::DELETE, ann_path, Some(&ann), None).await;
    assert_eq!((r.status, r.problem_type()), (StatusCode::CONFLICT, "state-conflict"));
    let r = app
        .call(Method::PUT, "/api/v1/teams/io.github.acme/members/nobody", Some(&ann), Some(json!({"role": "reader"})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = app.call(Method::DELETE, path, Some(&ann), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.call(Method::DELETE, path, Some(&ann), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/teams/nope", None).await.status, StatusCode::NOT_FOUND);

    // Everything above left a trail.
    let audit = app.get("/api/v1/audit?limit=100", Some(&app.admin)).await;
    let actions: Vec<&str> =
        audit.body["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["team.create", "team.member.set", "team.member.remove", "user.create", "token.create"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert_eq!(app.get("/api/v1/audit", Some(&ann)).await.status, StatusCode::FORBIDDEN);
}
