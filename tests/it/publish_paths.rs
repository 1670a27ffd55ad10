//! Every way to publish goes through one pipeline: the same failure, met by registering a
//! reference (REST), publishing one that may create the skill (ToolHive), finalizing an upload
//! or publishing an npm tarball, gives the same error, leaves the same (untouched) state and
//! writes no audit entry and no event; the same success writes the same audit entry and event.

use skilldex::bundle::{Bundle, Limits};
use skilldex::domain::{TokenScope, VersionStatus};
use skilldex::oci::layout::{Identity, build_toolhive};
use skilldex::policy::PolicySet;
use skilldex::service::{
    ArtifactSource, Caller, Error, Event, Index, PrepareUpload, PublishPlan, Published, SkillDraft, Storage,
    StorageTarget,
};
use tokio::sync::broadcast::error::TryRecvError;

use crate::common::{HOST, TestApp, TestDb, on_both_backends};

on_both_backends!(every_path_fails_and_succeeds_alike);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    Reference,
    ToolHive,
    Upload,
    Npm,
}

const PATHS: [Path; 4] = [Path::Reference, Path::ToolHive, Path::Upload, Path::Npm];

/// One site per path, so each path meets exactly the same state.
struct Site {
    app: TestApp,
    /// The index with upload storage in the embedded store.
    index: Index,
    /// Owner of `acme`.
    alice: Caller,
    /// Signed in with write scope, in no team.
    bob: Caller,
    dir: tempfile::TempDir,
}

async fn site(db: TestDb) -> Site {
    let app = TestApp::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage { target: StorageTarget::Embedded, uploads_dir: dir.path().join("uploads") };
    let index = app.index.clone().with_storage(storage);
    let owner = app.user("alice", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    app.skill("acme", "tool", "public", &owner).await;
    let alice = app.token_for("alice", TokenScope::Write).await;
    let bob = app.user("bob", TokenScope::Write).await;
    let (alice, bob) = (app.caller(&alice).await, app.caller(&bob).await);
    Site { app, index, alice, bob, dir }
}

fn draft() -> SkillDraft {
    SkillDraft {
        namespace: "acme".parse().unwrap(),
        name: "tool".parse().unwrap(),
        display_name: None,
        description: None,
        readme: None,
        visibility: None,
        tags: None,
        skill_type: None,
        kind: None,
    }
}

impl Site {
    /// A bundle whose SKILL.md names `name` and says `version`.
    fn bundle(&self, name: &str, version: &str) -> Bundle {
        let src = self.dir.path().join(format!("src-{name}-{version}"));
        std::fs::create_dir_all(&src).unwrap();
        let skill_md = format!("---\nname: {name}\ndescription: A tool.\nversion: {version}\n---\nUse it.\n");
        std::fs::write(src.join("SKILL.md"), skill_md).unwrap();
        Bundle::from_dir(&src, &Limits::default()).unwrap()
    }

    /// Publishes `bundle` as `version` of acme/tool by `path`, as `who`.
    async fn publish(&self, path: Path, who: &Caller, bundle: Bundle, version: &str) -> Result<Published, Error> {
        match path {
            Path::Reference | Path::ToolHive => {
                let id = Identity { namespace: "acme", name: "tool", version };
                let artifact = build_toolhive(&bundle, &bundle.pack(0), &id, None);
                self.app.embedded.push_artifact("acme/tool", "candidate", &artifact).await.unwrap();
                let reference = format!("{HOST}/acme/tool@{}", artifact.digest());
                let source = ArtifactSource::Reference { reference, credentials: None };
                let plan = match path {
                    Path::ToolHive => PublishPlan::creating(draft(), version, source),
                    _ => PublishPlan::new("acme".parse().unwrap(), "tool".parse().unwrap(), version, source),
                };
                self.index.publishing().publish(who, plan).await
            }
            Path::Upload => {
                let archive = bundle.pack(0).tar_gz;
                let prepare = PrepareUpload {
                    version: version.into(),
                    archive_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&archive)),
                    archive_size: archive.len() as i64,
                    metadata: serde_json::json!({}),
                };
                let (ns, name) = ("acme".parse().unwrap(), "tool".parse().unwrap());
                let upload = self.index.publishing().prepare_upload(who, &ns, &name, prepare, None).await?;
                self.index.publishing().receive_upload(who, &upload, &archive).await?;
                let source = ArtifactSource::Upload { id: Some(upload.id), signatures: Vec::new() };
                self.index.publishing().publish(who, PublishPlan::new(ns, name, version, source)).await
            }
            Path::Npm => {
                let package_json = format!(r#"{{"name":"@acme/tool","version":"{version}"}}"#);
                let tarball = bundle.npm_tarball(package_json.as_bytes());
                let plan = PublishPlan::creating(draft(), version, ArtifactSource::NpmTarball(tarball));
                self.index.publishing().publish(who, plan).await
            }
        }
    }

    async fn audit_actions(&self) -> Vec<(String, serde_json::Value)> {
        let admin = self.app.caller(&self.app.admin).await;
        let log = self.app.index.accounts().audit_log(&admin, None, 1000).await.unwrap();
        log.into_iter().map(|e| (e.action, e.detail)).collect()
    }

    async fn versions(&self) -> Vec<String> {
        let skill = self.app.store().skill("acme", "tool").await.unwrap().unwrap();
        self.app.store().versions(&skill.id).await.unwrap().into_iter().map(|v| v.version).collect()
    }
}

/// An error as a user meets it: its kind and its words.
fn shown(e: &Error) -> (&'static str, String) {
    let kind = match e {
        Error::Invalid(_) => "invalid",
        Error::Unauthenticated(_) => "unauthenticated",
        Error::Forbidden(_) => "forbidden",
        Error::NotFound(_) => "not-found",
        Error::Conflict(_) => "conflict",
        Error::ManifestInvalid(_) => "manifest-invalid",
        Error::TooLarge(_) => "too-large",
        Error::Untrusted(_) => "untrusted",
        Error::Upstream(_) => "upstream",
        other => panic!("an internal failure where a refusal was expected: {other}"),
    };
    (kind, e.to_string())
}

async fn every_path_fails_and_succeeds_alike(db: TestDb) {
    // Each path gets its own site on the same backend.
    let mut sites = Vec::new();
    let postgres = db.url.starts_with("postgres");
    sites.push(site(db).await);
    for _ in 1..PATHS.len() {
        let db = if postgres { TestDb::postgres().await.unwrap() } else { TestDb::sqlite().await };
        sites.push(site(db).await);
    }

    type Attempt = fn(&Site) -> (Caller, Bundle, &'static str);
    let refusals: [(&str, Attempt); 4] = [
        ("an outsider", |s| (s.bob.clone(), s.bundle("tool", "1.0.0"), "1.0.0")),
        ("a SKILL.md naming another skill", |s| (s.alice.clone(), s.bundle("other", "1.0.0"), "1.0.0")),
        ("a SKILL.md saying another version", |s| (s.alice.clone(), s.bundle("tool", "2.0.0"), "1.0.0")),
        ("a version that is not semver", |s| (s.alice.clone(), s.bundle("tool", "1.0.0"), "1.0")),
    ];
    for (what, attempt) in refusals {
        let mut seen = Vec::new();
        for (site, path) in sites.iter().zip(PATHS) {
            let before = site.audit_actions().await.len();
            let mut events = site.index.subscribe();
            let (who, bundle, version) = attempt(site);
            let e = site.publish(path, &who, bundle, version).await.map(|_| ()).unwrap_err();
            assert_eq!(site.audit_actions().await.len(), before, "{what} by {path:?}: no audit entry");
            assert!(matches!(events.try_recv(), Err(TryRecvError::Empty)), "{what} by {path:?}: no event");
            assert_eq!(site.versions().await, Vec::<String>::new(), "{what} by {path:?}: nothing recorded");
            seen.push(shown(&e));
        }
        assert!(seen.iter().all(|e| *e == seen[0]), "{what}: every path refuses alike: {seen:#?}");
    }

    // The same success: one audit entry and one event, alike but for the path's name.
    let mut published = Vec::new();
    for (site, path) in sites.iter().zip(PATHS) {
        let before = site.audit_actions().await.len();
        let mut events = site.index.subscribe();
        let done = site.publish(path, &site.alice, site.bundle("tool", "1.0.0"), "1.0.0").await.unwrap();
        let digest = done.version.digest.clone().unwrap();
        assert_eq!(done.skill.latest_version.as_deref(), Some("1.0.0"), "{path:?}");
        assert_eq!(done.skill.description, "A tool.", "{path:?}: the skill follows its latest SKILL.md");
        let audit = site.audit_actions().await;
        assert_eq!(audit.len(), before + 1, "{path:?}: {audit:?}");
        let (action, mut detail) = audit[0].clone();
        assert_eq!(action, "version.publish", "{path:?}");
        assert_eq!(detail["digest"], digest.as_str(), "{path:?}");
        let source = detail.as_object_mut().unwrap().remove("source").unwrap();
        let expected = if path == Path::ToolHive { "reference".to_owned() } else { format!("{path:?}").to_lowercase() };
        assert_eq!(source, expected);
        detail.as_object_mut().unwrap().remove("digest");
        let event = events.try_recv().unwrap();
        assert_eq!(
            event,
            Event::VersionPublished {
                namespace: "acme".parse().unwrap(),
                name: "tool".parse().unwrap(),
                version: "1.0.0".into(),
                digest,
                status: VersionStatus::Published,
            },
            "{path:?}"
        );
        assert!(matches!(events.try_recv(), Err(TryRecvError::Empty)), "{path:?}: one event");
        published.push(detail);
    }
    assert!(published.iter().all(|d| *d == published[0]), "{published:#?}");

    // Publishing it again, and refusal by a trust policy, are alike everywhere too.
    let policies = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/examples");
    for (what, enforce) in [("a version that exists", false), ("an unsigned version an enforcing policy covers", true)]
    {
        let mut seen = Vec::new();
        for (site, path) in sites.iter().zip(PATHS) {
            if enforce {
                site.index.set_policies(PolicySet::load_dir(&policies).unwrap());
            }
            let version = if enforce { "1.1.0" } else { "1.0.0" };
            let before = site.audit_actions().await.len();
            let mut events = site.index.subscribe();
            let bundle = site.bundle("tool", version);
            let e = site.publish(path, &site.alice, bundle, version).await.map(|_| ()).unwrap_err();
            assert_eq!(site.audit_actions().await.len(), before, "{what} by {path:?}");
            assert!(matches!(events.try_recv(), Err(TryRecvError::Empty)), "{what} by {path:?}");
            assert_eq!(site.versions().await, ["1.0.0"], "{what} by {path:?}");
            seen.push(shown(&e));
        }
        assert!(seen.iter().all(|e| *e == seen[0]), "{what}: {seen:#?}");
        let expected = if enforce { "untrusted" } else { "conflict" };
        assert_eq!(seen[0].0, expected, "{what}");
    }
}

on_both_backends!(an_oversized_npm_publish_is_refused_unread);

/// A publisher's npm publish that declares more than npm bodies may be is refused on the
/// declared size, before the body is read (the body sent here is tiny, so only the header
/// can refuse it), and nothing is created.
async fn an_oversized_npm_publish_is_refused_unread(db: TestDb) {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;
    let app = TestApp::new(db).await;
    app.team("acme", &app.admin).await;
    let declared = app.index.limits().npm_publish_body() + 1;
    let req = Request::builder()
        .method("PUT")
        .uri("/@acme%2fbig")
        .header("authorization", format!("Bearer {}", app.admin))
        .header("content-type", "application/json")
        .header("content-length", declared.to_string())
        .body(Body::from("{}"))
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), axum::http::StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.store().skill("acme", "big").await.unwrap().is_none(), "nothing was created");
}
