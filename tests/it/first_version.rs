//! A skill comes into being with its first stored version: a first publish that fails, is
//! abandoned or is attempted by the wrong person leaves no skill behind; a deleted skill says
//! so to its team and nothing to anyone else. And the account listings the CLI reads.

use axum::http::{Method, StatusCode};
use serde_json::json;
use skilldex::bundle::{Bundle, Limits};
use skilldex::domain::{TokenScope, Visibility};
use skilldex::oci::layout::{Identity, build_toolhive};
use skilldex::service::{ArtifactSource, Error, PrepareUpload, PublishPlan, SkillDraft, Storage, StorageTarget};

use crate::common::{HOST, TestApp, TestDb, on_both_backends};

on_both_backends!(a_first_version_creates_its_skill_only_once_stored, users_and_teams_are_listed_to_whom_they_may_be);

fn bundle(dir: &std::path::Path, name: &str, version: &str) -> Bundle {
    let src = dir.join(format!("src-{name}-{version}"));
    std::fs::create_dir_all(&src).unwrap();
    let skill_md = format!("---\nname: {name}\ndescription: Fresh.\nversion: {version}\n---\nUse it.\n");
    std::fs::write(src.join("SKILL.md"), skill_md).unwrap();
    Bundle::from_dir(&src, &Limits::default()).unwrap()
}

fn prepare(archive: &[u8], version: &str) -> PrepareUpload {
    PrepareUpload {
        version: version.into(),
        archive_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(archive)),
        archive_size: archive.len() as i64,
        metadata: json!({}),
    }
}

async fn a_first_version_creates_its_skill_only_once_stored(db: TestDb) {
    let app = TestApp::new(db).await.storing();
    let dir = tempfile::tempdir().unwrap();
    let owner = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    let alice = app.caller(&app.token_for("alice", TokenScope::Write).await).await;
    let bob = app.user("bob", TokenScope::Write).await;
    app.member("acme", "bob", "publisher").await;
    let bob = app.caller(&bob).await;
    let eve = app.caller(&app.user("eve", TokenScope::Write).await).await;
    let (ns, name) = ("acme".parse().unwrap(), "fresh".parse().unwrap());
    let draft = SkillDraft {
        namespace: "acme".parse().unwrap(),
        name: "fresh".parse().unwrap(),
        display_name: None,
        description: Some("Made fresh".into()),
        readme: None,
        visibility: Some(Visibility::Private),
        tags: None,
        skill_type: None,
        kind: None,
    };
    let archive = bundle(dir.path(), "fresh", "1.0.0").pack(0).tar_gz;
    let publishing = app.index.publishing();
    let nothing_there = || async { app.store().skill("acme", "fresh").await.unwrap().is_none() };

    // An outsider may not prepare one; a draft over the limits is refused before anything.
    let e = publishing.prepare_upload(&eve, &ns, &name, prepare(&archive, "1.0.0"), Some(draft.clone())).await;
    assert!(matches!(e, Err(Error::Forbidden(_))), "{e:?}");
    let tags = (0..30).map(|i| format!("t{i}").parse().unwrap()).collect();
    let crowded = SkillDraft { tags: Some(tags), ..draft.clone() };
    let e = publishing.prepare_upload(&alice, &ns, &name, prepare(&archive, "1.0.0"), Some(crowded)).await;
    assert!(matches!(e, Err(Error::Invalid(_))), "{e:?}");

    // Prepared and uploaded: still no skill, for as long as the version is not stored.
    let upload = publishing.prepare_upload(&alice, &ns, &name, prepare(&archive, "1.0.0"), Some(draft.clone())).await;
    let upload = upload.unwrap();
    assert_eq!(upload.skill_id, None);
    publishing.receive_upload(&alice, &upload, &archive).await.unwrap();
    assert!(nothing_there().await);

    // Another publisher of the team cannot finalize it, nor can a finalize of another version.
    let plan = |version: &str| {
        let source = ArtifactSource::Upload { id: Some(upload.id.clone()), signatures: Vec::new() };
        PublishPlan::new(ns.clone(), name.clone(), version, source)
    };
    let e = publishing.publish(&bob, plan("1.0.0")).await.map(|_| ()).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    let e = publishing.publish(&alice, plan("1.0.1")).await.map(|_| ()).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    assert!(nothing_there().await);
    let r = app.get("/api/v1/skills?q=fresh", Some(&owner)).await;
    assert_eq!(r.body["data"], json!([]), "nothing listed, not even to the owner");

    // Its author finalizes: the skill exists now, as the draft said, with its version.
    let done = publishing.publish(&alice, plan("1.0.0")).await.unwrap();
    assert_eq!(done.skill.visibility, Visibility::Private);
    assert_eq!(done.skill.latest_version.as_deref(), Some("1.0.0"));
    assert_eq!(app.get("/api/v1/skills/acme/fresh", None).await.status, StatusCode::NOT_FOUND, "private");
    assert_eq!(app.get("/api/v1/skills/acme/fresh", Some(&owner)).await.status, StatusCode::OK);

    // A first publish that fails after the skill was created (its registry is down) removes it.
    let unreachable = Storage {
        target: StorageTarget::Registry { prefix: "127.0.0.1:9/skills".into() },
        uploads_dir: dir.path().join("uploads-down"),
    };
    let down = app.index.clone().with_storage(unreachable);
    let lost = bundle(dir.path(), "lost", "1.0.0").pack(0).tar_gz;
    let lost_name = "lost".parse().unwrap();
    let draft_lost = SkillDraft { name: "lost".parse().unwrap(), ..draft.clone() };
    let down = down.publishing();
    let upload = down.prepare_upload(&alice, &ns, &lost_name, prepare(&lost, "1.0.0"), Some(draft_lost)).await.unwrap();
    down.receive_upload(&alice, &upload, &lost).await.unwrap();
    let source = ArtifactSource::Upload { id: Some(upload.id.clone()), signatures: Vec::new() };
    let e = down.publish(&alice, PublishPlan::new(ns.clone(), lost_name, "1.0.0", source)).await;
    assert!(e.is_err());
    assert!(app.store().skill("acme", "lost").await.unwrap().is_none(), "no skill left behind");
    let admin = app.caller(&app.admin).await;
    let log = app.index.accounts().audit_log(&admin, None, 5).await.unwrap();
    assert_eq!((log[0].action.as_str(), log[0].target.as_str()), ("skill.remove", "acme/lost"));
    let r = app.get("/api/v1/skills?q=lost", Some(&owner)).await;
    assert_eq!(r.body["data"], json!([]), "and none in search: {}", r.text);

    // Registering a reference: `create` makes the skill with it; without it, 404.
    let other = bundle(dir.path(), "other", "1.0.0");
    let id = Identity { namespace: "acme", name: "other", version: "1.0.0" };
    let artifact = build_toolhive(&other, &other.pack(0), &id, None);
    app.embedded.push_artifact("acme/other", "1.0.0", &artifact).await.unwrap();
    let reference = format!("{HOST}/acme/other@{}", artifact.digest());
    let body = json!({"version": "1.0.0", "reference": reference});
    let r = app.call(Method::POST, "/api/v1/skills/acme/other/versions", Some(&owner), Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let mut with_create = body.clone();
    with_create["create"] = json!({"visibility": "public", "tags": ["lint"]});
    let r = app.call(Method::POST, "/api/v1/skills/acme/other/versions", Some(&owner), Some(with_create.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let shown = app.get("/api/v1/skills/acme/other", None).await;
    assert_eq!((shown.body["visibility"].clone(), shown.body["tags"].clone()), (json!("public"), json!(["lint"])));
    let mut unknown = with_create.clone();
    unknown["create"]["owner"] = json!("eve");
    let r = app.call(Method::POST, "/api/v1/skills/acme/third/versions", Some(&owner), Some(unknown)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "unknown fields are refused: {}", r.text);

    // A deleted skill tells its team to restore it, and an outsider only that they may not publish.
    let r = app.call(Method::DELETE, "/api/v1/skills/acme/other", Some(&owner), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    with_create["version"] = json!("1.1.0");
    let r = app.call(Method::POST, "/api/v1/skills/acme/other/versions", Some(&owner), Some(with_create.clone())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("is deleted") && r.text.contains("restore"), "{}", r.text);
    let eve_token = app.token_for("eve", TokenScope::Write).await;
    let r = app.call(Method::POST, "/api/v1/skills/acme/other/versions", Some(&eve_token), Some(with_create)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(!r.text.contains("deleted"), "{}", r.text);
}

async fn users_and_teams_are_listed_to_whom_they_may_be(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann = app.user("ann", TokenScope::Admin).await;
    app.user("bob", TokenScope::Read).await;
    app.team("acme", &ann).await;
    app.team("beta", &app.admin).await;

    // Users: site administrators only, by name, paged.
    let r = app.get("/api/v1/users?limit=2", Some(&app.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let names: Vec<&str> = r.body["data"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "ann"]);
    let next = format!("/api/v1/users?limit=2&cursor={}", r.body["cursor"].as_str().unwrap());
    let r = app.get(&next, Some(&app.admin)).await;
    assert_eq!(r.body["data"][0]["username"], "bob");
    assert_eq!(r.body["cursor"], serde_json::Value::Null);
    assert_eq!(app.get("/api/v1/users", Some(&ann)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/users", None).await.status, StatusCode::UNAUTHORIZED);

    // Teams: everyone sees that they exist; the role is the caller's own.
    let r = app.get("/api/v1/teams", Some(&ann)).await;
    assert_eq!(
        r.body["data"][0],
        json!({"slug": "acme", "displayName": "acme", "createdAt": r.body["data"][0]["createdAt"], "role": "owner"})
    );
    assert!(r.body["data"][1].get("role").is_none(), "{}", r.text);
    let r = app.get("/api/v1/teams", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["data"].as_array().unwrap().iter().all(|t| t.get("role").is_none() && t.get("members").is_none()));
}
