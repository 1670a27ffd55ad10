//! skill-pool's drafts inbox and tenant webhooks: captured bundles reviewed by the tenant's
//! publishers through the one publish pipeline, and events posted, signed and retried.

use axum::http::StatusCode;
use hmac::Mac;
use serde_json::{Value, json};
use skilldex::bundle::{Bundle, Limits};
use skilldex::domain::TokenScope;

use crate::common::{Reply, TestApp, TestDb, on_both_backends};
use crate::skill_pool::{error, get, multipart, post_json, post_multipart};

on_both_backends!(
    drafts_are_reviewed_by_the_tenant,
    webhooks_are_signed_queued_and_retried,
    drafts_like_a_published_skill_are_proposed_as_its_update
);

/// A bundle whose SKILL.md names `name` and says no version (drafts have none yet).
fn unversioned(dir: &std::path::Path, name: &str, body: &str) -> Vec<u8> {
    let src = dir.join(format!("draft-{name}-{}", body.len()));
    std::fs::create_dir_all(&src).unwrap();
    let md = format!("---\nname: {name}\ndescription: Lints {name} code\nwhen_to_use: before a review\n---\n{body}");
    std::fs::write(src.join("SKILL.md"), md).unwrap();
    Bundle::from_dir(&src, &Limits::default()).unwrap().pack(0).tar_gz
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> Reply {
    post_json(app, path, token, body).await
}

async fn put(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> Reply {
    let mut req = axum::http::Request::builder()
        .method("PUT")
        .uri(path)
        .header("x-skill-pool-tenant", "acme")
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    app.send(req.body(axum::body::Body::from(body.to_string())).unwrap()).await
}

/// The tenant `acme`: alice owns it (admin token), bob publishes, rita reads; eve is outside.
async fn tenant(db: TestDb) -> (TestApp, [String; 4]) {
    let app = TestApp::new(db).await.storing();
    let alice = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &alice).await;
    let bob = app.user("bob", TokenScope::Write).await;
    app.member("acme", "bob", "publisher").await;
    let rita = app.user("rita", TokenScope::Read).await;
    app.member("acme", "rita", "reader").await;
    let eve = app.user("eve", TokenScope::Write).await;
    (app, [alice, bob, rita, eve])
}

async fn drafts_are_reviewed_by_the_tenant(db: TestDb) {
    let (app, [alice, bob, rita, eve]) = tenant(db).await;
    let dir = tempfile::tempdir().unwrap();
    let fresh = unversioned(dir.path(), "fresh", "Run it.\n");
    let meta = json!({"slug": "fresh", "origin": "claude-hook", "notes": "from a session", "tags": ["lint"]});
    let inbox = |status: &'static str| {
        let app = &app;
        let rita = rita.clone();
        async move {
            let r = get(app, Some("acme"), None, &format!("/v1/drafts?status={status}"), Some(&rita)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.body.as_array().unwrap().iter().map(|d| d["status"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };

    // Capturing needs the publisher role; refusals keep the inbox empty.
    for (token, status) in
        [(Some(&eve), StatusCode::FORBIDDEN), (Some(&rita), StatusCode::FORBIDDEN), (None, StatusCode::UNAUTHORIZED)]
    {
        let r = post_multipart(&app, "/v1/drafts", token.map(String::as_str), multipart(&meta, Some(&fresh))).await;
        assert_eq!(r.status, status, "{}", r.text);
    }
    for (metadata, bundle, says) in [
        (json!({"slug": "fresh", "origin": "robot"}), fresh.clone(), "origin must be one of"),
        (json!({"slug": " "}), fresh.clone(), "slug is required"),
        (json!({"slug": "other"}), fresh.clone(), "the slug must be the skill's name"),
        (json!({"slug": "fresh"}), unversioned(dir.path(), "fresh", "See /home/bob/x\n"), "home directory"),
        (
            json!({"slug": "fresh"}),
            unversioned(dir.path(), "fresh", &format!("DB_PASSWORD=\"{}\"\n", "Zq8r#T2mVx9Lk4Wp")),
            "possible secret detected: SKILL.md line 6",
        ),
    ] {
        let r = post_multipart(&app, "/v1/drafts", Some(&bob), multipart(&metadata, Some(&bundle))).await;
        assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"), "{says}: {}", r.text);
        assert!(r.body["message"].as_str().unwrap().contains(says), "{says}: {}", r.text);
    }
    assert_eq!(inbox("all").await, Vec::<String>::new());

    // Captured: skill-pool's draft row, description and when_to_use from SKILL.md.
    let r = post_multipart(&app, "/v1/drafts", Some(&bob), multipart(&meta, Some(&fresh))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let keys: Vec<&str> = r.body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "description",
            "id",
            "notes",
            "origin",
            "published_version",
            "reviewed_at",
            "slug",
            "status",
            "tags",
            "when_to_use"
        ],
        "no merge proposal without a model"
    );
    assert_eq!(
        (
            r.body["description"].clone(),
            r.body["when_to_use"].clone(),
            r.body["tags"].clone(),
            r.body["status"].clone()
        ),
        (json!("Lints fresh code"), json!("before a review"), json!(["lint"]), json!("pending"))
    );
    let id = r.body["id"].as_str().unwrap().to_owned();

    // Members read it; outsiders see nothing, not even that it exists.
    assert_eq!(inbox("pending").await, ["pending"]);
    let r = get(&app, Some("acme"), None, "/v1/drafts", Some(&eve)).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"));
    let r = get(&app, Some("acme"), None, &format!("/v1/drafts/{id}"), Some(&eve)).await;
    let missing = get(&app, Some("acme"), None, "/v1/drafts/nope", Some(&eve)).await;
    assert_eq!((r.status, error(&r)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(r.body["message"].as_str().unwrap().replace(&id, "nope"), missing.body["message"]);
    assert_eq!(get(&app, Some("acme"), None, &format!("/v1/drafts/{id}"), Some(&rita)).await.body["id"], id);
    let md = get(&app, Some("acme"), None, &format!("/v1/drafts/{id}/skill-md"), Some(&rita)).await;
    assert!(md.text.starts_with("---\nname: fresh\n"), "{}", md.text);
    let r = get(&app, Some("acme"), None, "/v1/tenant/notifications/pending-count", Some(&rita)).await;
    assert_eq!(r.body, json!({"pending": 1}));
    let r = get(&app, Some("acme"), None, "/v1/drafts?status=maybe", Some(&rita)).await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"));

    // Published by a publisher only, once, through the pipeline: a private skill of the team.
    let publish = format!("/v1/drafts/{id}/publish");
    let r = post(&app, &publish, Some(&rita), json!({"version": "1.0.0"})).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"));
    let r = post(&app, &publish, Some(&bob), json!({"version": " "})).await;
    assert_eq!((r.status, r.body["message"].clone()), (StatusCode::BAD_REQUEST, json!("version is required")));
    let r = post(&app, &publish, Some(&bob), json!({"version": "1.0.0"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["slug"].clone(), r.body["version"].clone(), r.body["draft_id"].clone()),
        (json!("fresh"), json!("1.0.0"), json!(id))
    );
    let skill = app.get("/api/v1/skills/acme/fresh", Some(&rita)).await;
    assert_eq!(
        (skill.body["visibility"].clone(), skill.body["id"].clone()),
        (json!("private"), r.body["skill_id"].clone())
    );
    assert_eq!(app.get("/api/v1/skills/acme/fresh", Some(&eve)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/resolve/acme/fresh", Some(&rita)).await.body["version"], "1.0.0");
    let r = post(&app, &publish, Some(&bob), json!({"version": "1.0.1"})).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("draft is already published — cannot publish"))
    );
    let r = get(&app, Some("acme"), None, &format!("/v1/drafts/{id}"), Some(&rita)).await;
    assert_eq!((r.body["status"].clone(), r.body["published_version"].clone()), (json!("published"), json!("1.0.0")));
    assert!(r.body["reviewed_at"].is_string());

    // A second capture of the same skill: a version that exists is refused and the draft
    // stays pending; another version goes through.
    let again =
        post_multipart(&app, "/v1/drafts", Some(&bob), multipart(&json!({"slug": "fresh"}), Some(&fresh))).await;
    let again = again.body["id"].as_str().unwrap().to_owned();
    let r = post(&app, &format!("/v1/drafts/{again}/publish"), Some(&bob), json!({"version": "1.0.0"})).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("fresh@1.0.0 already exists — pick a different version"))
    );
    assert_eq!(inbox("pending").await, ["pending"]);
    let r = post(&app, &format!("/v1/drafts/{again}/publish"), Some(&bob), json!({"version": "1.1.0"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Discarded: by publishers, pending drafts only, the content purged.
    let third =
        post_multipart(&app, "/v1/drafts", Some(&bob), multipart(&json!({"slug": "fresh"}), Some(&fresh))).await;
    let third = third.body["id"].as_str().unwrap().to_owned();
    let discard = format!("/v1/drafts/{third}/discard");
    assert_eq!(post(&app, &discard, Some(&rita), json!({})).await.status, StatusCode::FORBIDDEN);
    let r = post(&app, &discard, Some(&bob), json!({})).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(post(&app, &discard, Some(&bob), json!({})).await.status, StatusCode::NOT_FOUND, "once");
    let md = get(&app, Some("acme"), None, &format!("/v1/drafts/{third}/skill-md"), Some(&rita)).await;
    assert_eq!((md.status, error(&md)), (StatusCode::NOT_FOUND, "not_found"));
    let r = post(&app, &format!("/v1/drafts/{third}/publish"), Some(&bob), json!({"version": "2.0.0"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(inbox("discarded").await, ["discarded"]);
    assert_eq!(inbox("all").await, ["discarded", "published", "published"]);
    let pending = get(&app, Some("acme"), None, "/v1/tenant/notifications/pending-count", Some(&alice)).await;
    assert_eq!(pending.body, json!({"pending": 0}));
}

/// What a receiver was sent: each request's headers and body.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A receiver on loopback that records what it is sent and answers with the statuses
/// queued (200 once they run out).
struct Receiver {
    url: String,
    seen: Seen,
    answers: std::sync::Arc<std::sync::Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start(answers: Vec<u16>) -> Self {
        let seen: Seen = Default::default();
        let answers = std::sync::Arc::new(std::sync::Mutex::new(answers));
        let (s, a) = (seen.clone(), answers.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (s, a) = (s.clone(), a.clone());
                async move {
                    s.lock().unwrap().push((headers, body.to_vec()));
                    let mut a = a.lock().unwrap();
                    let code = if a.is_empty() { 200 } else { a.remove(0) };
                    StatusCode::from_u16(code).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, seen, answers }
    }

    fn events(&self) -> Vec<Value> {
        self.seen.lock().unwrap().iter().map(|(_, b)| serde_json::from_slice(b).unwrap()).collect()
    }
}

async fn webhooks_are_signed_queued_and_retried(db: TestDb) {
    let (app, [alice, bob, _rita, _eve]) = tenant(db).await;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(vec![500]).await;
    let hook = json!({"webhook_url": receiver.url, "webhook_secret": "s3cret"});

    // Owners with an admin token configure it; loopback needs the operator's allowance.
    let r = put(&app, "/v1/tenant/notifications", Some(&bob), hook.clone()).await;
    assert_eq!((r.status, error(&r)), (StatusCode::FORBIDDEN, "forbidden"));
    let r = put(&app, "/v1/tenant/notifications", Some(&alice), hook.clone()).await;
    assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"));
    assert!(r.body["message"].as_str().unwrap().contains("--allow-webhook"), "{}", r.text);
    let app = app.with_index(|index| {
        index.with_webhooks(skilldex::service::webhooks::WebhookConfig {
            policy: skilldex::oci::outbound::OutboundPolicy::new(vec!["127.0.0.1:*".parse().unwrap()]),
            retry_delay: std::time::Duration::ZERO,
        })
    });
    for bad in ["ftp://example.com/hook", "http://user:pw@127.0.0.1/hook", "not a url"] {
        let r = put(&app, "/v1/tenant/notifications", Some(&alice), json!({"webhook_url": bad})).await;
        assert_eq!((r.status, error(&r)), (StatusCode::BAD_REQUEST, "bad_request"), "{bad}");
    }
    let r = put(&app, "/v1/tenant/notifications", Some(&alice), hook).await;
    assert_eq!(r.body, json!({"webhook_url": receiver.url, "signing_enabled": true}), "{}", r.text);
    let r = get(&app, Some("acme"), None, "/v1/tenant/notifications", Some(&alice)).await;
    assert_eq!(r.body, json!({"webhook_url": receiver.url, "signing_enabled": true}), "the secret is never shown");

    // A draft is queued for the webhook; the first attempt meets a 500 and is tried again.
    let fresh = unversioned(dir.path(), "fresh", "Run it.\n");
    let r = post_multipart(&app, "/v1/drafts", Some(&bob), multipart(&json!({"slug": "fresh"}), Some(&fresh))).await;
    let draft = r.body["id"].as_str().unwrap().to_owned();
    let webhooks = app.index.webhooks();
    assert_eq!(webhooks.deliver_due().await.unwrap(), 1);
    assert_eq!(app.store().pending_deliveries().await.unwrap(), 1, "still queued after a 500");
    assert_eq!(webhooks.deliver_due().await.unwrap(), 1);
    assert_eq!(app.store().pending_deliveries().await.unwrap(), 0);
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one failed attempt, one delivered");
    let (headers, body) = &seen[1];
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-skill-pool-signature"], expected.as_str(), "HMAC-SHA256 of exactly the body");
    assert_eq!(headers["content-type"], "application/json");
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        (
            event["event"].clone(),
            event["tenant"]["slug"].clone(),
            event["draft"]["id"].clone(),
            event["draft"]["slug"].clone()
        ),
        (json!("draft.created"), json!("acme"), json!(draft), json!("fresh"))
    );
    assert_eq!(event["text"], "New draft `fresh` ready for review in `acme`");

    // skilldex's own events go the same way: a published version, a yank, a deprecation.
    let r = post_json(&app, &format!("/v1/drafts/{draft}/publish"), Some(&bob), json!({"version": "1.0.0"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let yank =
        app.call(axum::http::Method::PUT, "/api/v1/skills/acme/fresh/versions/1.0.0/yank", Some(&alice), None).await;
    assert!(yank.status.is_success(), "{}", yank.text);
    let deprecate = json!({"deprecated": true, "deprecatedMessage": "use fresher"});
    let r = app.call(axum::http::Method::PATCH, "/api/v1/skills/acme/fresh", Some(&bob), Some(deprecate)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // At most two of one namespace per batch, so a tenant with a long queue and a silent
    // receiver cannot hold every batch; the rest go in the next, in order.
    assert_eq!(webhooks.deliver_due().await.unwrap(), 2);
    assert_eq!(webhooks.deliver_due().await.unwrap(), 1);
    let kinds: Vec<Value> = receiver.events()[2..].iter().map(|e| e["event"].clone()).collect();
    assert_eq!(kinds, [json!("version.published"), json!("version.yanked"), json!("skill.deprecated")]);
    assert_eq!(receiver.events()[2]["version"], "1.0.0");

    // A receiver that refuses (4xx) is not asked again; each attempt is audited.
    receiver.answers.lock().unwrap().push(410);
    let r =
        app.call(axum::http::Method::DELETE, "/api/v1/skills/acme/fresh/versions/1.0.0/yank", Some(&alice), None).await;
    assert!(r.status.is_success(), "{}", r.text);
    let r =
        app.call(axum::http::Method::PUT, "/api/v1/skills/acme/fresh/versions/1.0.0/yank", Some(&alice), None).await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(webhooks.deliver_due().await.unwrap(), 1);
    assert_eq!(webhooks.deliver_due().await.unwrap(), 0, "given up on a 410");
    assert_eq!(app.store().pending_deliveries().await.unwrap(), 0);
    let audit = app.get("/api/v1/audit?limit=100", Some(&app.admin)).await;
    let results: Vec<&str> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "webhook.deliver")
        .map(|e| e["detail"]["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["failed", "delivered", "delivered", "delivered", "delivered", "retrying"], "newest first");

    // Cleared: nothing more is queued.
    let r = put(&app, "/v1/tenant/notifications", Some(&alice), json!({"webhook_url": ""})).await;
    assert_eq!(r.body, json!({"signing_enabled": false}), "{}", r.text);
    post_multipart(&app, "/v1/drafts", Some(&bob), multipart(&json!({"slug": "fresh"}), Some(&fresh))).await;
    assert_eq!(app.store().pending_deliveries().await.unwrap(), 0);
}

async fn drafts_like_a_published_skill_are_proposed_as_its_update(db: TestDb) {
    let Some(app) = TestApp::with_model(db).await else { return };
    let app = app.storing();
    let dir = tempfile::tempdir().unwrap();
    let alice = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &alice).await;
    let bundle = |name: &str, description: &str| {
        let src = dir.path().join(name);
        std::fs::create_dir_all(&src).unwrap();
        let md = format!("---\nname: {name}\ndescription: {description}\n---\nRun it.\n");
        std::fs::write(src.join("SKILL.md"), md).unwrap();
        Bundle::from_dir(&src, &Limits::default()).unwrap().pack(0).tar_gz
    };
    let published = bundle("reviewer", "Reviews pull requests and points out bugs");
    let meta = json!({"slug": "reviewer", "version": "1.0.0"});
    let r = post_multipart(&app, "/v1/skills", Some(&alice), multipart(&meta, Some(&published))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    app.vectors_ready().await;

    // Nearly the same description: proposed as an update of `reviewer`; another subject: not.
    let alike = bundle("pr-reviewer", "Reviews pull requests and points out the bugs in them");
    let r = post_multipart(&app, "/v1/drafts", Some(&alice), multipart(&json!({"slug": "pr-reviewer"}), Some(&alike)))
        .await;
    assert_eq!(r.body["merge_proposal_slug"], "reviewer", "{}", r.text);
    let similarity = r.body["merge_proposal_similarity"].as_f64().unwrap();
    assert!((0.85..=1.0).contains(&similarity), "{similarity}");
    let other = bundle("bread", "Bakes sourdough bread with a natural starter");
    let r = post_multipart(&app, "/v1/drafts", Some(&alice), multipart(&json!({"slug": "bread"}), Some(&other))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(r.body.get("merge_proposal_slug").is_none(), "{}", r.text);
}
