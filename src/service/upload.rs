//! Publishing by upload (csreg's two steps): *prepare* records what the archive will be,
//! the client PUTs the archive, *finalize* checks it against what was prepared and the
//! bundle rules, builds the ToolHive artifact, pushes it to the storage registry and records
//! the version. Until finalize succeeds nothing is visible; a failed finalize can be retried.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest as _, Sha256};

use super::Publishing;
use super::SkillDraft;
use super::{Caller, Error, Result};
use crate::bundle::{Bundle, source_date_epoch};
use crate::domain::{Namespace, SkillName, new_id, now_millis};
use crate::oci::layout::{Identity, build_toolhive};
use crate::oci::parse_reference;
use crate::policy::Candidate;
use crate::policy::cosign::SimpleSigning;
use crate::store::{Skill, Upload};

/// Where uploads wait and where finished artifacts go.
#[derive(Clone)]
pub struct Storage {
    pub target: StorageTarget,
    /// Archives between PUT and finalize.
    pub uploads_dir: PathBuf,
}

#[derive(Clone)]
pub enum StorageTarget {
    /// `registry/prefix`: versions are pushed to `<prefix>/<namespace>/<name>:<version>`.
    Registry { prefix: String },
    /// This server's own store, served at `/v2/` as `<namespace>/<name>`.
    Embedded,
}

/// How long a prepared upload waits for its archive and finalize.
const UPLOAD_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// How long one publish holds its upload row; longer than any push, and a lease, so a claim
/// left by a process that died lapses on its own.
const PUBLISH_LEASE_MS: i64 = 15 * 60 * 1000;

/// At most this many signatures may come with a finalize.
pub const MAX_SUBMITTED_SIGNATURES: usize = 8;

/// The artifact an uploaded archive will be stored as: known once the archive is in, so a
/// client can sign it before finalize.
#[derive(Debug, Clone)]
pub struct UploadedArtifact {
    /// `registry/repo@sha256:…` once finalized.
    pub reference: String,
    pub digest: String,
}

/// A cosign legacy signature sent with finalize: the simple-signing payload and its
/// base64 signature, as `skilldex sign` or `cosign sign` would push them.
#[derive(Debug, Clone)]
pub struct SubmittedSignature {
    pub payload: Vec<u8>,
    pub signature: String,
}

/// What "prepare" asks for.
#[derive(Debug, Clone)]
pub struct PrepareUpload {
    pub version: String,
    pub archive_sha256: String,
    pub archive_size: i64,
    /// fileTree, entryPoint, skillType, installPath, manifestJson as the client sent them.
    pub metadata: serde_json::Value,
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Publishing<'_> {
    pub(super) fn storage(&self) -> Result<&Storage> {
        self.core.storage.as_ref().ok_or_else(|| {
            Error::Invalid("this server stores no uploads; register an artifact that is already in a registry with `reference` instead".into())
        })
    }

    /// The repository (with registry host) versions of `namespace/name` are stored in.
    pub(super) fn storage_repository(&self, namespace: &Namespace, name: &SkillName) -> Result<String> {
        match &self.storage()?.target {
            StorageTarget::Registry { prefix } => Ok(format!("{}/{namespace}/{name}", prefix.trim_end_matches('/'))),
            StorageTarget::Embedded => {
                let host =
                    self.core.embedded().ok_or_else(|| Error::Internal("no embedded store to upload to".into()))?;
                Ok(format!("{}/{namespace}/{name}", host.host()))
            }
        }
    }

    fn upload_path(&self, id: &str) -> Result<PathBuf> {
        Ok(self.storage()?.uploads_dir.join(format!("{id}.tar.gz")))
    }

    /// Records what an archive will be. `create` is the skill to create when this is its
    /// first version: the skill comes into being only when the version is stored.
    pub async fn prepare_upload(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        req: PrepareUpload,
        create: Option<SkillDraft>,
    ) -> Result<Upload> {
        let me = caller.require_publish()?;
        self.storage()?;
        let (skill, semver) = self.authorize_publish(caller, (namespace, name), create.is_some(), &req.version).await?;
        let version = semver.to_string();
        let sha = req.archive_sha256.to_ascii_lowercase();
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Invalid("archiveSha256 must be 64 hex digits".into()));
        }
        if req.archive_size <= 0 {
            return Err(Error::Invalid("archiveSize must be positive".into()));
        }
        if req.archive_size as u64 > self.core.limits.archive() {
            return Err(Error::TooLarge(format!("archives may be at most {} bytes", self.core.limits.archive())));
        }
        if let Some(m) = req.metadata.get("manifestJson").filter(|m| !m.is_null()) {
            if m.get("name").and_then(|n| n.as_str()).is_some_and(|n| n != name.as_str()) {
                return Err(Error::ManifestInvalid(format!("manifestJson names another skill than `{name}`")));
            }
            if m.get("version").and_then(|n| n.as_str()).is_some_and(|v| v != version) {
                return Err(Error::ManifestInvalid(format!("manifestJson says another version than {version}")));
            }
        }
        let mut metadata = req.metadata;
        if skill.is_none()
            && let (Some(draft), Some(fields)) = (&create, metadata.as_object_mut())
        {
            // Checked now (tags, lengths) so the finalize that creates it cannot fail on them.
            super::skills::check_draft(draft)?;
            fields.insert("create".into(), draft_json(draft));
        }
        self.sweep_uploads().await;
        let now = now_millis();
        let upload = Upload {
            id: new_id(),
            skill_id: skill.map(|s| s.id),
            version,
            archive_sha256: sha,
            archive_size: req.archive_size,
            metadata,
            created_by: me.user.id.clone(),
            created_at: now,
            expires_at: now + UPLOAD_TTL_MS,
        };
        self.put_upload(&upload).await?;
        Ok(upload)
    }

    /// The skill a first-version upload will create, if `upload` is one, for `namespace/name`.
    pub(super) fn upload_draft(upload: &Upload, (namespace, name): (&Namespace, &SkillName)) -> Option<SkillDraft> {
        if upload.skill_id.is_some() {
            return None;
        }
        let draft = draft_from_json(upload.metadata.get("create")?)?;
        (draft.namespace == *namespace && draft.name == *name).then_some(draft)
    }

    /// The prepared upload `id`, if it is the caller's and has not expired: what must hold
    /// before its archive is read.
    pub async fn upload_to_receive(&self, caller: &Caller, id: &str) -> Result<Upload> {
        let me = caller.require_publish()?;
        let not_found = || Error::NotFound(format!("upload `{id}` not found"));
        let upload = self.core.store.upload_by_id(id).await?.ok_or_else(not_found)?;
        if upload.created_by != me.user.id || upload.expires_at < now_millis() {
            return Err(not_found());
        }
        Ok(upload)
    }

    /// Stores the archive of a prepared upload, if it is exactly what was prepared and a
    /// valid bundle, and says which artifact finalize will store it as.
    pub async fn receive_upload(&self, caller: &Caller, upload: &Upload, bytes: &[u8]) -> Result<UploadedArtifact> {
        let upload = self.upload_to_receive(caller, &upload.id).await?;
        let not_found = || Error::NotFound(format!("upload `{}` not found", upload.id));
        check_archive(&upload, bytes)?;
        let (namespace, name) = match &upload.skill_id {
            Some(id) => {
                let skill = self.core.store.skill_by_id(id).await?.ok_or_else(not_found)?;
                if self.core.store.version(&skill.id, &upload.version).await?.is_some() {
                    // Another publish of this version won meanwhile.
                    return Err(super::version_exists(&skill, &upload.version));
                }
                (skill.namespace, skill.name)
            }
            None => {
                let draft = upload.metadata.get("create").and_then(draft_from_json).ok_or_else(not_found)?;
                (draft.namespace, draft.name)
            }
        };
        let built = self.build_upload(&namespace, &name, &upload.version, bytes)?;
        let dir = &self.storage()?.uploads_dir;
        tokio::fs::create_dir_all(dir).await.map_err(io_error)?;
        let tmp = dir.join(format!(".{}.{}.partial", upload.id, new_id()));
        if let Err(e) = tokio::fs::write(&tmp, bytes).await {
            // A write cut short (a full disk) leaves part of the file: it goes.
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io_error(e));
        }
        tokio::fs::rename(&tmp, self.upload_path(&upload.id)?).await.map_err(io_error)?;
        Ok(UploadedArtifact { reference: built.pinned, digest: built.artifact.digest().to_owned() })
    }

    /// The artifact an archive is stored as. It is packed canonically, so the same files
    /// always give the same digest: at upload and at finalize.
    fn build_upload(
        &self,
        namespace: &Namespace,
        name: &SkillName,
        version: &str,
        bytes: &[u8],
    ) -> Result<BuiltUpload> {
        let semver = crate::domain::parse_version(version).map_err(|e| Error::Invalid(e.to_string()))?;
        let bundle = Bundle::from_archive(bytes, None, &self.core.limits.bundle)?;
        self.build_artifact(namespace, name, &semver, bundle)
    }

    /// The ToolHive artifact a checked bundle is stored as, and where: `version` of
    /// `namespace/name` in the storage registry.
    pub(super) fn build_artifact(
        &self,
        namespace: &Namespace,
        name: &SkillName,
        version: &semver::Version,
        bundle: Bundle,
    ) -> Result<BuiltUpload> {
        bundle.check_identity(name.as_str(), version)?;
        let version = version.to_string();
        let packed = bundle.pack(source_date_epoch().unwrap_or(0));
        let id = Identity { namespace: namespace.as_str(), name: name.as_str(), version: &version };
        let artifact = build_toolhive(&bundle, &packed, &id, source_date_epoch());
        let target = parse_reference(&format!("{}:{version}", self.storage_repository(namespace, name)?))?;
        let pinned = format!("{}/{}@{}", target.registry(), target.repository(), artifact.digest());
        Ok(BuiltUpload { bundle, artifact, target, pinned })
    }

    /// The upload `caller` prepared for `version` of `skill`: the one named `id`, or their
    /// latest. Nobody else's upload is ever published.
    pub(super) async fn prepared_upload(
        &self,
        caller: &Caller,
        skill: &Skill,
        version: &str,
        id: Option<&str>,
    ) -> Result<Option<Upload>> {
        let me = caller.require_publish()?;
        Ok(match id {
            Some(id) => self
                .core
                .store
                .upload_by_id(id)
                .await?
                .filter(|u| u.version == version && u.created_by == me.user.id)
                .filter(|u| match &u.skill_id {
                    Some(id) => *id == skill.id,
                    // Prepared before the skill existed; created meanwhile, it takes the version.
                    None => Self::upload_draft(u, (&skill.namespace, &skill.name)).is_some(),
                }),
            None => self.core.store.upload_for(&skill.id, version, &me.user.id).await?,
        })
    }

    /// The archive PUT for `upload`, if it has arrived.
    pub(super) async fn archive_of(&self, upload: &Upload) -> Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.upload_path(&upload.id)?).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(e)),
        }
    }

    /// Records an upload row. Earlier uploads of the same version stay, each finalized only
    /// by its own id (or expiring), so concurrent publishers never take each other's.
    async fn put_upload(&self, upload: &Upload) -> Result<()> {
        Ok(self.core.store.put_upload(upload).await?)
    }

    /// Claims `version` of `skill` for one publish: two publishes of one version never push at
    /// once, and the second is told the version is being published. `upload` is the prepared
    /// upload being published, removed once the version is stored.
    pub(super) async fn claim(
        &self,
        skill: &Skill,
        version: &str,
        upload: Option<&str>,
        (namespace, name): (&Namespace, &SkillName),
    ) -> Result<Claim> {
        let now = now_millis();
        let holder = upload.map_or_else(new_id, str::to_owned);
        if !self.core.store.claim_version(&skill.id, version, &holder, now, now + PUBLISH_LEASE_MS).await? {
            return Err(being_published(namespace, name, version));
        }
        let claim = Claim {
            store: self.core.store.clone(),
            held: Some((skill.id.clone(), version.to_owned(), holder)),
            upload: upload.map(str::to_owned),
        };
        // A publish that held the claim before may have recorded the version since it was
        // authorized: checked here, under the claim, nothing can record it any more.
        match self.core.store.version(&skill.id, version).await {
            Ok(None) => Ok(claim),
            Ok(Some(_)) => claim.around(async { Err(super::version_exists(skill, version)) }).await,
            Err(e) => claim.around(async { Err(e.into()) }).await,
        }
    }

    /// Removes the archives still waiting for a version that is now published, and the one
    /// it was published from: no finalize can use them any more (the others' rows stay until
    /// they expire, so a late PUT or finalize is told the version exists). Failures only cost
    /// disk space until the sweep.
    pub(super) async fn discard_archives(&self, skill: &Skill, version: &str, published: Option<&str>) {
        if let Some(path) = published.and_then(|id| self.upload_path(id).ok()) {
            let _ = tokio::fs::remove_file(path).await;
        }
        if self.core.storage.is_none() {
            return;
        }
        match self.core.store.uploads_of(&skill.id, version).await {
            Ok(ids) => {
                for path in ids.iter().filter_map(|id| self.upload_path(id).ok()) {
                    let _ = tokio::fs::remove_file(path).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list the uploads of a published version"),
        }
    }

    /// Drops expired uploads and their archives; failures only cost disk space.
    async fn sweep_uploads(&self) {
        match self.core.store.expire_uploads(now_millis()).await {
            Ok(ids) => {
                for id in ids {
                    if let Ok(p) = self.upload_path(&id) {
                        let _ = tokio::fs::remove_file(p).await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not expire uploads"),
        }
    }
}

pub(super) struct BuiltUpload {
    pub bundle: Bundle,
    pub artifact: crate::oci::Artifact,
    pub target: oci_client::Reference,
    /// `registry/repo@digest`.
    pub pinned: String,
}

/// A publish's claim on its version. Given up when the publish fails, and also when it is
/// dropped midway (its request was abandoned), so the version can be published again at once
/// rather than when the lease lapses; the upload it published is removed when it succeeds.
pub(super) struct Claim {
    store: std::sync::Arc<dyn crate::store::Store>,
    /// (skill id, version, holder) while held.
    held: Option<(String, String, String)>,
    upload: Option<String>,
}

impl Claim {
    /// Runs the publish under the claim and settles the claim before answering, so a retry
    /// right after the answer gets in.
    pub(super) async fn around<T>(mut self, publish: impl Future<Output = Result<T>>) -> Result<T> {
        let outcome = publish.await;
        let Some((skill, version, holder)) = self.held.take() else { return outcome };
        if let (Ok(_), Some(upload)) = (&outcome, &self.upload)
            && let Err(e) = self.store.delete_upload(upload).await
        {
            tracing::warn!(upload = %upload, error = %e, "could not remove a published upload");
        }
        if let Err(e) = self.store.release_version(&skill, &version, &holder).await {
            // A claim left behind lapses with its lease.
            tracing::warn!(%version, error = %e, "could not settle a publish claim");
        }
        outcome
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let (Some((skill, version, holder)), Ok(runtime)) = (self.held.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let store = self.store.clone();
        // If this fails too, the lease lapses on its own.
        runtime.spawn(async move { store.release_version(&skill, &version, &holder).await });
    }
}

fn being_published(namespace: &Namespace, name: &SkillName, version: &str) -> Error {
    Error::Conflict(format!("version {version} of `{namespace}/{name}` is being published by another request"))
}

/// Submitted signatures as candidates, refused unless each is a simple-signing payload for
/// exactly this artifact.
pub(super) fn check_submitted(signatures: &[SubmittedSignature], digest: &str) -> Result<Vec<Candidate>> {
    if signatures.len() > MAX_SUBMITTED_SIGNATURES {
        return Err(Error::Invalid(format!("at most {MAX_SUBMITTED_SIGNATURES} signatures may come with finalize")));
    }
    let mut out = Vec::new();
    for (i, s) in signatures.iter().enumerate() {
        let bad = |m: String| Error::Untrusted(format!("signatures[{i}] {m}; nothing was changed"));
        if s.payload.len() as u64 > crate::oci::signatures::MAX_SIGNATURE_BYTES {
            return Err(bad("is too large".into()));
        }
        let payload: SimpleSigning =
            serde_json::from_slice(&s.payload).map_err(|e| bad(format!("is not a simple-signing payload: {e}")))?;
        let signed = &payload.critical.image.docker_manifest_digest;
        if signed != digest {
            return Err(bad(format!("signs {signed}, not this version's artifact {digest}")));
        }
        if s.signature.is_empty() || B64.decode(&s.signature).is_err() {
            return Err(bad("has no base64 signature".into()));
        }
        out.push(Candidate::Legacy {
            origin: format!("finalize signatures[{i}]"),
            payload: s.payload.clone(),
            signature: s.signature.clone(),
            certificate: None,
            rekor: None,
        });
    }
    Ok(out)
}

pub(super) fn check_archive(upload: &Upload, bytes: &[u8]) -> Result<()> {
    if bytes.len() as i64 != upload.archive_size {
        return Err(Error::ManifestInvalid(format!(
            "the archive is {} bytes; {} were prepared",
            bytes.len(),
            upload.archive_size
        )));
    }
    let actual = sha256_hex(bytes);
    if actual != upload.archive_sha256 {
        return Err(Error::ManifestInvalid(format!(
            "the archive's sha256 is {actual}; {} was prepared",
            upload.archive_sha256
        )));
    }
    Ok(())
}

fn io_error(e: std::io::Error) -> Error {
    Error::io("upload storage", e)
}

/// How a first-version upload keeps the skill it will create.
fn draft_json(d: &SkillDraft) -> serde_json::Value {
    serde_json::json!({
        "namespace": d.namespace,
        "name": d.name,
        "displayName": d.display_name,
        "description": d.description,
        "readme": d.readme,
        "visibility": d.visibility,
        "tags": d.tags,
        "skillType": d.skill_type,
        "kind": d.kind,
    })
}

fn draft_from_json(v: &serde_json::Value) -> Option<SkillDraft> {
    fn parse<T: serde::de::DeserializeOwned>(v: &serde_json::Value, key: &str) -> Option<T> {
        v.get(key).filter(|x| !x.is_null()).and_then(|x| serde_json::from_value(x.clone()).ok())
    }
    Some(SkillDraft {
        namespace: parse(v, "namespace")?,
        name: parse(v, "name")?,
        display_name: parse(v, "displayName"),
        description: parse(v, "description"),
        readme: parse(v, "readme"),
        visibility: parse(v, "visibility"),
        tags: parse(v, "tags"),
        skill_type: parse(v, "skillType"),
        kind: parse(v, "kind"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SkillType, Visibility};
    use crate::store::{NewSkill, NewUser};

    /// A SQLite store with one skill, and a prepared upload of its 1.0.0.
    async fn store_with_upload(dir: &std::path::Path) -> (std::sync::Arc<dyn crate::store::Store>, Upload) {
        let store = crate::store::connect(&format!("sqlite://{}", dir.join("index.db").display())).await.unwrap();
        let user = NewUser { username: "ann".parse().unwrap(), email: "ann@example.com".into(), is_admin: false };
        let ann = store.create_user(&user).await.unwrap();
        store.create_team(&"acme".parse().unwrap(), "Acme", &ann.id).await.unwrap();
        let skill = NewSkill {
            namespace: "acme".parse().unwrap(),
            name: "tool".parse().unwrap(),
            display_name: "tool".into(),
            description: String::new(),
            readme: String::new(),
            visibility: Visibility::Public,
            tags: vec![],
            skill_type: SkillType::Command,
            kind: crate::domain::SkillKind::Skill,
            forked_from: None,
        };
        let skill = store.create_skill(&skill, now_millis()).await.unwrap();
        let now = now_millis();
        let upload = Upload {
            id: new_id(),
            skill_id: Some(skill.id),
            version: "1.0.0".into(),
            archive_sha256: "a".repeat(64),
            archive_size: 1,
            metadata: "{}".into(),
            created_by: ann.id,
            created_at: now,
            expires_at: now + UPLOAD_TTL_MS,
        };
        store.put_upload(&upload).await.unwrap();
        (store, upload)
    }

    fn claimed_by(store: &std::sync::Arc<dyn crate::store::Store>, upload: &Upload, holder: &str) -> Claim {
        Claim {
            store: store.clone(),
            held: Some((upload.skill_id.clone().unwrap(), upload.version.clone(), holder.to_owned())),
            upload: Some(upload.id.clone()),
        }
    }

    async fn claim(store: &std::sync::Arc<dyn crate::store::Store>, upload: &Upload, holder: &str) -> bool {
        let now = now_millis();
        store
            .claim_version(upload.skill_id.as_deref().unwrap(), &upload.version, holder, now, now + PUBLISH_LEASE_MS)
            .await
            .unwrap()
    }

    /// Whether another publish could claim the version now (and gives the claim back).
    async fn free(store: &std::sync::Arc<dyn crate::store::Store>, upload: &Upload) -> bool {
        let free = claim(store, upload, "probe").await;
        if free {
            store.release_version(upload.skill_id.as_deref().unwrap(), &upload.version, "probe").await.unwrap();
        }
        free
    }

    #[tokio::test]
    async fn a_failed_publish_gives_its_claim_back_before_answering() {
        let dir = tempfile::tempdir().unwrap();
        let (store, upload) = store_with_upload(dir.path()).await;
        assert!(claim(&store, &upload, &upload.id).await);
        assert!(!free(&store, &upload).await, "claimed: a second publish of the version is refused");
        let failed: Result<()> =
            claimed_by(&store, &upload, &upload.id).around(async { Err(Error::Invalid("refused".into())) }).await;
        assert!(failed.is_err());
        assert!(free(&store, &upload).await, "released at once, so a retry right away gets in");
        assert!(store.upload_by_id(&upload.id).await.unwrap().is_some(), "the prepared upload stays");

        assert!(claim(&store, &upload, &upload.id).await);
        claimed_by(&store, &upload, &upload.id).around(async { Ok(()) }).await.unwrap();
        assert!(store.upload_by_id(&upload.id).await.unwrap().is_none(), "a published upload is removed");
    }

    #[tokio::test]
    async fn an_abandoned_publish_gives_its_claim_back() {
        let dir = tempfile::tempdir().unwrap();
        let (store, upload) = store_with_upload(dir.path()).await;
        // The request goes away mid-publish: its future, and the claim with it, is dropped.
        assert!(claim(&store, &upload, &upload.id).await);
        let publish = claimed_by(&store, &upload, &upload.id).around(std::future::pending::<Result<()>>());
        assert!(tokio::time::timeout(std::time::Duration::from_millis(20), publish).await.is_err());
        let mut released = false;
        for _ in 0..100 {
            if free(&store, &upload).await {
                released = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(released, "the claim was given back without waiting for the lease");
        assert!(store.upload_by_id(&upload.id).await.unwrap().is_some(), "an abandoned upload can be finalized again");
    }

    #[tokio::test]
    async fn a_lapsed_claim_can_be_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let (store, upload) = store_with_upload(dir.path()).await;
        let now = now_millis();
        // A claim left by a process that died: its lease ended a moment ago.
        assert!(
            store
                .claim_version(upload.skill_id.as_deref().unwrap(), &upload.version, "dead", now - 10, now - 1)
                .await
                .unwrap()
        );
        assert!(claim(&store, &upload, &upload.id).await, "the lapsed claim does not block the version");
        assert!(!claim(&store, &upload, "third").await);
    }
}
