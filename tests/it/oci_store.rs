//! The embedded OCI store's garbage collection, on both index backends.

use std::time::Duration;

use skilldex::bundle::{Bundle, Limits};
use skilldex::domain::{VersionStatus, now_millis};
use skilldex::oci::layout::{Artifact, Identity, build_toolhive};
use skilldex::oci::store::EmbeddedStore;
use skilldex::store::{NewUser, NewVersion};

use crate::common::{TestDb, on_both_backends};

on_both_backends!(gc_keeps_what_versions_and_manifests_reference);
on_both_backends!(a_failed_index_json_rewrite_is_tried_again_and_leaves_nothing_behind);

/// The artifact of `acme/demo` at `version`, built from a bundle written under `root`.
fn demo_artifact(root: &std::path::Path, version: &str) -> Artifact {
    let skill_dir = root.join("src/demo");
    std::fs::create_dir_all(&skill_dir).unwrap();
    std::fs::write(skill_dir.join("SKILL.md"), format!("---\nname: demo\ndescription: d\nversion: {version}\n---\n"))
        .unwrap();
    let b = Bundle::from_dir(&skill_dir, &Limits::default()).unwrap();
    build_toolhive(&b, &b.pack(0), &Identity { namespace: "acme", name: "demo", version }, None)
}

async fn gc_keeps_what_versions_and_manifests_reference(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), db.store.clone()).await.unwrap();
    let artifact = |version: &str| demo_artifact(dir.path(), version);
    let (v1, v2) = (artifact("1.0.0"), artifact("2.0.0"));
    store.push_artifact("acme/demo", "1.0.0", &v1).await.unwrap();
    store.push_artifact("acme/demo", "2.0.0", &v2).await.unwrap();
    store.put_blob("acme/demo", &skilldex::oci::layout::sha256_digest(b"orphan"), b"orphan").await.unwrap();

    // The layout's index.json follows the pushes in the background, within moments.
    let listed = || layout_tags(dir.path()).unwrap_or_default();
    for _ in 0..100 {
        if listed().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed(), ["acme/demo:1.0.0", "acme/demo:2.0.0"]);

    // Version 1.0.0 is recorded in the index; then its manifests leave the store.
    let owner = db
        .store
        .create_user(&NewUser { username: "ann".parse().unwrap(), email: "a@x.io".into(), is_admin: false })
        .await
        .unwrap();
    db.store.create_team(&"acme".parse().unwrap(), "Acme", &owner.id).await.unwrap();
    let skill = db.store.create_skill(&crate::store::skill("acme", "demo"), now_millis()).await.unwrap();
    db.store
        .create_version(
            &NewVersion {
                skill_id: skill.id,
                version: "1.0.0".into(),
                status: Some(VersionStatus::Published),
                digest: Some(v1.digest().to_owned()),
                archive_sha256: Some(v1.layer.digest.trim_start_matches("sha256:").to_owned()),
                ..Default::default()
            },
            now_millis(),
        )
        .await
        .unwrap();
    store.delete_manifest("acme/demo", "1.0.0").await.unwrap();
    store.delete_manifest("acme/demo", v1.digest()).await.unwrap();
    store.delete_manifest("acme/demo", "2.0.0").await.unwrap();
    store.delete_manifest("acme/demo", v2.digest()).await.unwrap();

    // Within the grace period nothing goes.
    assert_eq!(store.gc(Duration::from_secs(3600)).await.unwrap().0, 0);
    let (removed, freed) = store.gc(Duration::ZERO).await.unwrap();
    let exists = |d: &str| store.blob_path(d).unwrap().exists();
    assert!(exists(v1.digest()) && exists(&v1.layer.digest), "a recorded version is never collected");
    assert!(v1.manifests.iter().chain(&v1.configs).all(|m| exists(&m.digest)), "nor what its index references");
    assert!(!exists(v2.digest()), "a deleted, unrecorded artifact goes");
    assert!(!exists(&skilldex::oci::layout::sha256_digest(b"orphan")));
    assert_eq!(
        removed, 2,
        "the v2 index and the orphan; v2's platform manifests are still listed, so they and their blobs stay"
    );
    assert!(freed > 0);
    assert!(v2.manifests.iter().all(|m| exists(&m.digest)) && exists(&v2.layer.digest));
    // The layout's index.json lists exactly what remains: the four untagged platform manifests.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert!(entries.iter().all(|e| e["annotations"]["dev.skilldex.repository"] == "acme/demo"));
}

/// The tags `index.json` lists, or `None` while it cannot be read as a listing.
fn layout_tags(root: &std::path::Path) -> Option<Vec<String>> {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("index.json")).ok()?).ok()?;
    let mut tags: Vec<String> = index["manifests"]
        .as_array()?
        .iter()
        .filter_map(|e| e["annotations"]["org.opencontainers.image.ref.name"].as_str().map(str::to_owned))
        .collect();
    tags.sort();
    Some(tags)
}

async fn a_failed_index_json_rewrite_is_tried_again_and_leaves_nothing_behind(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), db.store.clone()).await.unwrap();
    let artifact = |version: &str| demo_artifact(dir.path(), version);
    let wait_for = |want: &'static [&'static str]| {
        let root = dir.path().to_owned();
        async move {
            for _ in 0..200 {
                if layout_tags(&root).is_some_and(|t| t == want) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("index.json lists {want:?}; it holds {:?}", layout_tags(&root));
        }
    };
    store.push_artifact("acme/demo", "1.0.0", &artifact("1.0.0")).await.unwrap();
    wait_for(&["acme/demo:1.0.0"]).await;

    // index.json can no longer be replaced (a directory with something in it stands there).
    let index = dir.path().join("index.json");
    std::fs::remove_file(&index).unwrap();
    std::fs::create_dir_all(index.join("blocker")).unwrap();
    store.push_artifact("acme/demo", "2.0.0", &artifact("2.0.0")).await.unwrap();
    // The push itself succeeded and is served; the rewrite fails, says so, and its attempts
    // (one every 2 s in the background) leave no temporary files behind.
    assert!(store.manifest("acme/demo", "2.0.0").await.is_ok());
    assert!(store.write_index().await.is_err());
    let mut most = 0;
    for _ in 0..100 {
        most = most.max(std::fs::read_dir(dir.path().join("tmp")).unwrap().count());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(most <= 1, "failed rewrites left {most} temporary files (one may be in progress)");
    assert!(index.is_dir());

    // Once it can be written again, the next attempt lists both, without another push.
    std::fs::remove_dir_all(&index).unwrap();
    wait_for(&["acme/demo:1.0.0", "acme/demo:2.0.0"]).await;
}
