//! The embedded registry's gate: every caller × public, private and skill-less repositories ×
//! pull, list, push and delete gives the documented answer, computed from a model written
//! here; and stored references into the store move with the server's address.

use axum::http::{Method, StatusCode};
use serde_json::Value;
use skilldex::bundle::{Bundle, Limits};
use skilldex::domain::{TokenScope, VersionStatus, now_millis};
use skilldex::oci::layout::{Artifact, Identity, build_toolhive};
use skilldex::store::{NewVersion, NpmDist};

use crate::common::{HOST, TestApp, TestDb, on_both_backends};

on_both_backends!(registry_matrix, references_become_portable);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    NoToken,
    OwnerRead,
    OwnerWrite,
    Publisher,
    Reader,
    NonMember,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Repo {
    Public,
    Private,
    /// Pushed before any skill of that name exists.
    NoSkill,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    PullManifest,
    ListTags,
    StartUpload,
    DeleteRecorded,
}

fn artifact(dir: &std::path::Path, name: &str, version: &str) -> Artifact {
    let src = dir.join(format!("src-{name}-{version}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("SKILL.md"), format!("---\nname: {name}\ndescription: d\nversion: {version}\n---\n"))
        .unwrap();
    let b = Bundle::from_dir(&src, &Limits::default()).unwrap();
    build_toolhive(&b, &b.pack(0), &Identity { namespace: "acme", name, version }, None)
}

/// Stores `name`'s 1.0.0 in the embedded store and, for a skill, records it as a version.
async fn stored(app: &TestApp, dir: &std::path::Path, name: &str, record: bool) -> String {
    let a = artifact(dir, name, "1.0.0");
    app.embedded.push_artifact(&format!("acme/{name}"), "1.0.0", &a).await.unwrap();
    if record {
        let skill = app.store().skill("acme", name).await.unwrap().unwrap();
        let v = NewVersion {
            skill_id: skill.id,
            version: "1.0.0".into(),
            status: Some(VersionStatus::Published),
            reference: Some(format!("/acme/{name}@{}", a.digest())),
            digest: Some(a.digest().to_owned()),
            ..Default::default()
        };
        app.store().create_version(&v, now_millis()).await.unwrap();
    }
    a.digest().to_owned()
}

/// The documented rules: a bad token is 401; reading follows the skill's visibility (a
/// repository with no skill: members only), anonymous callers get 401 and others 404 for
/// what they may not read; writing needs a write token (401/403) and the publisher role
/// (403); a recorded version is never deleted, by anyone (403).
fn expected(op: Op, who: Who, repo: Repo) -> (StatusCode, &'static str) {
    use StatusCode as S;
    if who == Who::Revoked {
        return (S::UNAUTHORIZED, "UNAUTHORIZED");
    }
    let member = matches!(who, Who::OwnerRead | Who::OwnerWrite | Who::Publisher | Who::Reader);
    let write = matches!(who, Who::OwnerWrite | Who::Publisher | Who::Reader | Who::NonMember);
    let publisher = matches!(who, Who::OwnerWrite | Who::Publisher);
    match op {
        Op::PullManifest | Op::ListTags => match (repo, who) {
            (Repo::Public, _) => (S::OK, ""),
            (_, Who::NoToken) => (S::UNAUTHORIZED, "UNAUTHORIZED"),
            _ if member => (S::OK, ""),
            _ => (S::NOT_FOUND, "NAME_UNKNOWN"),
        },
        Op::StartUpload | Op::DeleteRecorded => {
            if who == Who::NoToken {
                return (S::UNAUTHORIZED, "UNAUTHORIZED");
            }
            if !write || !publisher {
                return (S::FORBIDDEN, "DENIED");
            }
            match op {
                Op::StartUpload => (S::ACCEPTED, ""),
                _ => (S::FORBIDDEN, "DENIED"),
            }
        }
    }
}

async fn registry_matrix(db: TestDb) {
    let app = TestApp::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    let owner_write = app.user("olivia", TokenScope::Write).await;
    let owner_read = app.token_for("olivia", TokenScope::Read).await;
    let owner_admin = app.token_for("olivia", TokenScope::Admin).await;
    let publisher = app.user("pat", TokenScope::Admin).await;
    let reader = app.user("rita", TokenScope::Admin).await;
    let outsider = app.user("nora", TokenScope::Admin).await;
    let revoked = app.token_for("olivia", TokenScope::Write).await;
    app.team("acme", &owner_admin).await;
    for (user, role) in [("pat", "publisher"), ("rita", "reader")] {
        let path = format!("/api/v1/teams/acme/members/{user}");
        let r = app.call(Method::PUT, &path, Some(&owner_admin), Some(serde_json::json!({"role": role}))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let id = app.get("/api/v1/me", Some(&revoked)).await.body["token"]["id"].as_str().unwrap().to_owned();
    app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&revoked), None).await;
    app.skill("acme", "pub-skill", "public", &owner_admin).await;
    app.skill("acme", "priv-skill", "private", &owner_admin).await;
    let mut digests = Vec::new();
    for (name, record) in [("pub-skill", true), ("priv-skill", true), ("loose", false)] {
        digests.push((name, stored(&app, dir.path(), name, record).await));
    }
    let audit_before = app.audit_len().await;

    let callers = [
        (Who::NoToken, None),
        (Who::OwnerRead, Some(owner_read.as_str())),
        (Who::OwnerWrite, Some(owner_write.as_str())),
        (Who::Publisher, Some(publisher.as_str())),
        (Who::Reader, Some(reader.as_str())),
        (Who::NonMember, Some(outsider.as_str())),
        (Who::Revoked, Some(revoked.as_str())),
    ];
    let mut cells = 0;
    for (repo, name) in [(Repo::Public, "pub-skill"), (Repo::Private, "priv-skill"), (Repo::NoSkill, "loose")] {
        for op in [Op::PullManifest, Op::ListTags, Op::StartUpload, Op::DeleteRecorded] {
            if matches!((op, repo), (Op::DeleteRecorded, Repo::NoSkill)) {
                continue;
            }
            let (method, path) = match op {
                Op::PullManifest => (Method::GET, format!("/v2/acme/{name}/manifests/1.0.0")),
                Op::ListTags => (Method::GET, format!("/v2/acme/{name}/tags/list")),
                Op::StartUpload => (Method::POST, format!("/v2/acme/{name}/blobs/uploads/")),
                Op::DeleteRecorded => (Method::DELETE, format!("/v2/acme/{name}/manifests/1.0.0")),
            };
            for (who, token) in callers {
                let r = app.raw(method.clone(), &path, token, None, None).await;
                let (status, code) = expected(op, who, repo);
                assert_eq!(r.status, status, "{method} {path} as {who:?}: {}", r.text);
                if !code.is_empty() {
                    assert_eq!(r.body["errors"][0]["code"], code, "{method} {path} as {who:?}");
                }
                if r.status == StatusCode::NOT_FOUND {
                    // Word for word what a repository that does not exist answers.
                    let ghost = path.replace(name, "no-such-skill");
                    let g = app.raw(method.clone(), &ghost, token, None, None).await;
                    assert_eq!((g.status, g.text.replace("no-such-skill", name)), (r.status, r.text.clone()));
                }
                cells += 1;
            }
        }
    }
    assert_eq!(cells, 11 * callers.len());

    // Nothing changed: every recorded manifest is still there, and no delete was recorded.
    for (name, digest) in &digests {
        let r = app.raw(Method::GET, &format!("/v2/acme/{name}/manifests/1.0.0"), Some(&owner_admin), None, None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["docker-content-digest"], digest.as_str());
    }
    assert_eq!(app.audit_len().await, audit_before, "refusals and reads leave no audit entries");

    // Registering a reference into the store reads it with the caller's rights.
    let reference = format!("{HOST}/acme/priv-skill@{}", digests[1].1);
    app.team("other", &outsider).await;
    app.skill("other", "priv-skill", "public", &outsider).await;
    let body = serde_json::json!({"version": "1.0.0", "reference": reference});
    let r = app.call(Method::POST, "/api/v1/skills/other/priv-skill/versions", Some(&outsider), Some(body)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.body["detail"].as_str().unwrap().contains("was not found"), "{}", r.text);
}

async fn references_become_portable(db: TestDb) {
    let app = TestApp::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    let owner = app.user("olivia", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    app.skill("acme", "demo", "public", &owner).await;
    let a = artifact(dir.path(), "demo", "1.0.0");
    app.embedded.push_artifact("acme/demo", "1.0.0", &a).await.unwrap();
    let skill = app.store().skill("acme", "demo").await.unwrap().unwrap();
    // As an earlier build wrote them: this server on another port, and two other registries.
    let elsewhere = format!("127.0.0.1:5000/elsewhere/demo@sha256:{}", "0".repeat(64));
    let rows = [
        ("1.0.0", format!("127.0.0.1:9999/acme/demo@{}", a.digest())),
        ("1.1.0", format!("ghcr.io/acme/demo@{}", a.digest())),
        ("1.2.0", elsewhere.clone()),
    ];
    for (version, reference) in &rows {
        let v = NewVersion {
            skill_id: skill.id.clone(),
            version: (*version).into(),
            status: Some(VersionStatus::Published),
            reference: Some(reference.clone()),
            digest: Some(a.digest().to_owned()),
            ..Default::default()
        };
        let created = app.store().create_version(&v, now_millis()).await.unwrap();
        let dist = NpmDist { integrity: "sha512-x".into(), shasum: "y".into(), size: 1 };
        app.store().put_npm_dist(&created.id, &dist).await.unwrap();
    }
    assert_eq!(app.index.registry().make_references_portable().await.unwrap(), 1);
    assert_eq!(app.index.registry().make_references_portable().await.unwrap(), 0, "idempotent");
    let stored: Vec<Option<String>> =
        app.store().versions(&skill.id).await.unwrap().into_iter().rev().map(|v| v.reference).collect();
    assert_eq!(
        stored,
        [Some(format!("/acme/demo@{}", a.digest())), Some(rows[1].1.clone()), Some(elsewhere)],
        "only the reference into this server's own store changed"
    );
    assert_eq!(app.store().npm_dists(&skill.id).await.unwrap().len(), 2, "its tarball digests are made again");
    let r = app.get("/api/v1/resolve/acme/demo?version=1.0.0", None).await;
    assert_eq!(r.body["reference"], Value::from(format!("{HOST}/acme/demo@{}", a.digest())));
}
