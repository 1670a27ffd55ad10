//! The one publish pipeline. Every way a version comes in — a reference to an artifact already
//! in a registry, a prepared upload, an npm tarball, and whatever source comes next — is a
//! [`PublishPlan`] run by [`Publishing::publish`], which decides once, in this order:
//!
//! 1. **authorize**: write scope, publisher role, skill not deleted, version valid and new;
//! 2. **claim** the version of an existing skill, so two publishes of it never work or store at
//!    once (the claim checks again that the version is still new);
//! 3. **obtain** the artifact: fetch it by digest on the caller's behalf, or build it from the
//!    bundle, and apply the bundle rules (name and version must match);
//! 4. **vouch** with the trust policies (submitted signatures included);
//! 5. **create** the skill on its first version, only now, so a refusal leaves nothing behind,
//!    and claim the version;
//! 6. **store** (push what was built) and **record** it, `latest` moving in the same transaction;
//! 7. **settle**: discard archives no finalize can use any more, audit, emit the event.

use serde_json::json;

use super::Publishing;
use super::access::require_role;
use super::events::Event;
use super::upload::StorageTarget;
use super::upload::{SubmittedSignature, check_archive, check_submitted};
use super::webhooks;
use super::{Caller, Error, Result, SkillDraft, version_exists};
use crate::bundle::{Bundle, SKILL_MD};
use crate::domain::{Namespace, SkillName, TeamRole, VersionStatus, now_millis, parse_version};
use crate::oci::{Artifact, Credentials, Fetched, LayoutKind, fetch_bundle};
use crate::policy::{Candidate, Verdict};
use crate::store::{NewVersion, Skill, SkillPatch, Upload, Version};

/// One version to publish, whichever way it came in.
#[derive(Debug, Clone)]
pub struct PublishPlan {
    pub namespace: Namespace,
    pub name: SkillName,
    /// Create the skill from this on its first version; `None`: the skill must exist.
    pub create: Option<SkillDraft>,
    pub version: String,
    /// `published` or `draft`.
    pub status: VersionStatus,
    pub changelog: Option<String>,
    pub source: ArtifactSource,
}

/// Where a published version's artifact comes from.
#[derive(Debug, Clone)]
pub enum ArtifactSource {
    /// An artifact already in a registry (a tag is resolved to a digest once), read with the
    /// caller's `credentials` or anonymously, never with the server's.
    Reference { reference: String, credentials: Option<Credentials> },
    /// The archive of an upload the caller prepared (`id`, or their latest for the version),
    /// with signatures to check with it and store next to it.
    Upload { id: Option<String>, signatures: Vec<SubmittedSignature> },
    /// An `npm publish` tarball, whose `package.json` must name the package and version.
    NpmTarball(Vec<u8>),
    /// A skill archive (tar.gz, SKILL.md at its root) sent with the request itself.
    Archive(Vec<u8>),
    /// An artifact a source already read by reference on the same caller's behalf (with
    /// `Publishing::fetch_artifact`), to learn which skill it is; with `Mirror`, copied into
    /// this server's storage (digests unchanged, signatures along) and recorded there.
    Fetched(Box<Fetched>, Option<Mirror>),
}

/// Where a fetched artifact that is copied into this server's storage is read from.
#[derive(Clone)]
pub enum Mirror {
    /// The registry it was fetched from, read on the caller's behalf with these credentials.
    Registry { credentials: Option<Credentials> },
    /// An imported layout, which holds its signatures too: they are checked there.
    Layout(std::sync::Arc<crate::oci::layout_dir::LayoutDir>),
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mirror::Registry { .. } => "Mirror::Registry",
            Mirror::Layout(_) => "Mirror::Layout",
        })
    }
}

impl ArtifactSource {
    /// How the audit log and events name the way a version came in.
    pub fn kind(&self) -> &'static str {
        match self {
            ArtifactSource::Reference { .. } => "reference",
            ArtifactSource::Upload { .. } => "upload",
            ArtifactSource::NpmTarball(_) => "npm",
            ArtifactSource::Archive(_) => "archive",
            ArtifactSource::Fetched(_, None) => "source",
            ArtifactSource::Fetched(_, Some(Mirror::Registry { .. })) => "mirror",
            ArtifactSource::Fetched(_, Some(Mirror::Layout(_))) => "import",
        }
    }
}

impl PublishPlan {
    /// A published version of an existing skill, from `source`.
    pub fn new(namespace: Namespace, name: SkillName, version: impl Into<String>, source: ArtifactSource) -> Self {
        Self {
            namespace,
            name,
            create: None,
            version: version.into(),
            status: VersionStatus::Published,
            changelog: None,
            source,
        }
    }

    /// The same, creating the skill from `draft` on its first version.
    pub fn creating(draft: SkillDraft, version: impl Into<String>, source: ArtifactSource) -> Self {
        let plan = Self::new(draft.namespace.clone(), draft.name.clone(), version, source);
        Self { create: Some(draft), ..plan }
    }
}

/// What a publish recorded.
#[derive(Debug, Clone)]
pub struct Published {
    pub skill: Skill,
    pub version: Version,
    /// What was copied into this server's storage (a mirrored artifact).
    pub copied: crate::oci::copy::Copied,
}

/// An artifact that passed the bundle rules, not yet vouched for or stored.
struct Obtained {
    fetched: Fetched,
    /// What must be pushed before the version is recorded (nothing for a reference).
    push: Option<Push>,
    /// Signatures that came with the request, as the trust policies take them.
    submitted: Vec<Candidate>,
    /// Where the artifact's signatures are looked for, when not where `fetched.pinned` says.
    signatures_in: Option<std::sync::Arc<crate::oci::layout_dir::LayoutDir>>,
}

/// What goes into this server's storage before a version is recorded.
enum Push {
    /// A built artifact, where it goes, and the signatures to store next to it.
    Built { artifact: Artifact, target: oci_client::Reference, signatures: Vec<SubmittedSignature> },
    /// A fetched artifact (`pinned` where `from` holds it) copied to `target` with what is
    /// attached to it.
    Mirror { pinned: String, from: Mirror, target: oci_client::Reference },
}

impl Publishing<'_> {
    /// Runs one publish through every step, whichever source it came from.
    pub async fn publish(&self, caller: &Caller, plan: PublishPlan) -> Result<Published> {
        let PublishPlan { namespace, name, create, version, status, changelog, source } = plan;
        if status == VersionStatus::Yanked {
            return Err(Error::Invalid("a version is published as `published` or `draft`".into()));
        }
        let via = source.kind();
        let names = (&namespace, &name);
        // A first-version upload carries the skill it creates.
        let create = match (create, &source) {
            (None, ArtifactSource::Upload { id: Some(id), .. }) => self.draft_of_upload(caller, id, names).await?,
            (create, _) => create,
        };
        let (existing, semver) = self.authorize_publish(caller, names, create.is_some(), &version).await?;
        if let Some(skill) = &existing {
            super::check_kind(skill, create.as_ref().and_then(|c| c.kind))?;
        }
        let version = semver.to_string();
        let upload = match &source {
            ArtifactSource::Upload { id, .. } => {
                Some(self.locate_upload(caller, names, existing.as_ref(), &version, id.as_deref()).await?)
            }
            _ => None,
        };
        let upload_id = upload.as_ref().map(|u| u.id.clone());
        // A version of an existing skill is claimed before any work, so a second publish of it
        // is told at once instead of reading, building and checking its artifact too.
        let early = match &existing {
            Some(skill) => Some(self.claim(skill, &version, upload_id.as_deref(), names).await?),
            None => None,
        };
        let steps = async {
            let Obtained { mut fetched, push, submitted, signatures_in } =
                self.obtain(caller, names, &semver, source, upload).await?;
            // Before anything is pushed or claimed for good: too many requirements are refused.
            let frontmatter = fetched.bundle.skill.frontmatter_json.as_object().cloned().unwrap_or_default();
            fetched.requires = super::resolve::checked_requirements(&frontmatter, &fetched.toolhive_requires)?;
            let manifest = Some(fetched.manifest.as_slice());
            let trust = self.core.trust();
            let verdict = match &signatures_in {
                Some(layout) => {
                    trust.vouched_in(layout.as_ref(), names, &version, &fetched.pinned, manifest, &submitted).await?
                }
                None => trust.vouched(names, &version, &fetched.pinned, manifest, &submitted).await?,
            };
            let (skill, late, created) = match (existing, create) {
                (Some(skill), _) => (skill, None, false),
                (None, Some(draft)) => {
                    let (skill, created) = self.create_for_first_version(caller, draft).await?;
                    match self.claim(&skill, &version, upload_id.as_deref(), names).await {
                        Ok(claim) => (skill, Some(claim), created),
                        Err(e) => return Err(self.undo_creation(caller, &skill, created, e).await),
                    }
                }
                (None, None) => return Err(Error::Internal("a publish without a skill got past authorization".into())),
            };
            let record = async {
                let mut fetched = fetched;
                let mut copied = crate::oci::copy::Copied::default();
                if let Some(push) = push
                    && let Some((pinned, c)) = self.push_built(caller, &skill, &version, push).await?
                {
                    // Recorded where the copy is, so it installs when the upstream is gone.
                    fetched.pinned = pinned;
                    copied = c;
                }
                let stored =
                    self.record_version(&skill, &version, (fetched, verdict.clone()), changelog, status).await?;
                Ok::<_, Error>((stored, copied))
            };
            let stored = match late {
                Some(claim) => match claim.around(record).await {
                    Ok(stored) => stored,
                    Err(e) => return Err(self.undo_creation(caller, &skill, created, e).await),
                },
                None => record.await?,
            };
            Ok((skill, stored, verdict))
        };
        let (skill, (stored, copied), verdict) = match early {
            Some(claim) => claim.around(steps).await?,
            None => steps.await?,
        };
        // Settling runs to the end even when the request goes away: the version is recorded.
        let settle = {
            let index = self.core.clone();
            let (caller, skill, stored) = (caller.clone(), skill.clone(), stored.clone());
            let signature = verdict.map(|v| v.status);
            async move {
                index.publishing().discard_archives(&skill, &stored.version, upload_id.as_deref()).await;
                let target = format!("{}/{}", skill.namespace, skill.name);
                let detail = json!({ "version": stored.version, "digest": stored.digest, "signature": signature, "source": via });
                index.audit(&caller, "version.publish", &target, detail).await;
                if status == VersionStatus::Published {
                    let body = webhooks::skill_event(
                        "version.published",
                        format!("{target}@{} published", stored.version),
                        &skill,
                        json!({ "version": stored.version, "digest": stored.digest }),
                    );
                    index.webhooks().notify(&skill.namespace, "version.published", body).await;
                }
                index.emit(Event::VersionPublished {
                    namespace: skill.namespace.clone(),
                    name: skill.name.clone(),
                    version: stored.version.clone(),
                    digest: stored.digest.clone().unwrap_or_default(),
                    status,
                });
            }
        };
        if let Err(e) = tokio::spawn(settle).await {
            tracing::error!(error = %e, "settling a publish failed");
        }
        // The skill as it is now (`latest` may have moved); the recorded version stands either way.
        let skill = match self.core.store.skill(namespace.as_str(), name.as_str()).await {
            Ok(Some(now)) => now,
            Ok(None) | Err(_) => skill,
        };
        Ok(Published { skill, version: self.core.present(stored), copied })
    }

    /// What publishing `bundle` (as this server would build it) as `version` of
    /// `namespace/name` would refuse before storing anything: the caller's right to publish
    /// there, a deleted skill, a version that exists, and the trust policies' verdict on the
    /// artifact. Stores nothing.
    pub async fn preflight(
        &self,
        caller: &Caller,
        names: (&Namespace, &SkillName),
        version: &str,
        bundle: Bundle,
    ) -> Result<()> {
        let (_, semver) = self.authorize_publish(caller, names, true, version).await?;
        let (fetched, _) = self.build_artifact(names.0, names.1, &semver, bundle)?.into_parts(Vec::new());
        let manifest = Some(fetched.manifest.as_slice());
        self.core.trust().vouched(names, &semver.to_string(), &fetched.pinned, manifest, &[]).await?;
        Ok(())
    }

    /// The skill the caller's upload `id` will create, when it is a first version's.
    async fn draft_of_upload(
        &self,
        caller: &Caller,
        id: &str,
        names: (&Namespace, &SkillName),
    ) -> Result<Option<SkillDraft>> {
        let me = caller.require_publish()?;
        let upload = self.core.store.upload_by_id(id).await?.filter(|u| u.created_by == me.user.id);
        Ok(upload.and_then(|u| Self::upload_draft(&u, names)))
    }

    /// The prepared upload an `Upload` source names: the caller's, for this version of the
    /// skill, or of the skill it will create when there is none yet.
    async fn locate_upload(
        &self,
        caller: &Caller,
        (namespace, name): (&Namespace, &SkillName),
        skill: Option<&Skill>,
        version: &str,
        id: Option<&str>,
    ) -> Result<Upload> {
        let not_prepared =
            || Error::NotFound(format!("you have no prepared upload for version {version} of `{namespace}/{name}`"));
        let Some(skill) = skill else {
            let me = caller.require_publish()?;
            let upload = match id {
                Some(id) => self.core.store.upload_by_id(id).await?,
                None => None,
            };
            return upload
                .filter(|u| u.created_by == me.user.id && u.version == version)
                .filter(|u| Self::upload_draft(u, (namespace, name)).is_some())
                .ok_or_else(not_prepared);
        };
        match self.prepared_upload(caller, skill, version, id).await? {
            Some(upload) => Ok(upload),
            None => Err(self.published_meanwhile(skill, version, not_prepared()).await),
        }
    }

    /// Step 1: the skill a new version may be published to by this caller (none yet when the
    /// plan may create it) and the version, valid semver and new. The namespace role comes
    /// first, so an outsider learns nothing about which skills exist, whatever the path.
    pub(super) async fn authorize_publish(
        &self,
        caller: &Caller,
        (namespace, name): (&Namespace, &SkillName),
        may_create: bool,
        version: &str,
    ) -> Result<(Option<Skill>, semver::Version)> {
        self.core.require_publisher_in(caller, namespace).await?;
        match self.core.store.skill(namespace.as_str(), name.as_str()).await? {
            None if may_create => return Ok((None, parse_version(version)?)),
            // A publisher of the namespace may know it is there; a new version would be hidden.
            Some(s) if s.deleted_at.is_some() => {
                return Err(Error::Conflict(format!(
                    "skill `{namespace}/{name}` is deleted: an owner of `{namespace}` can restore it \
                     (`skilldex skill restore {namespace}/{name}`) before versions are published to it again"
                )));
            }
            _ => {}
        }
        let (skill, role) = self.core.visible_skill(caller, namespace, name, false).await?;
        require_role(role, TeamRole::Publisher, "publishing a version")?;
        let semver = parse_version(version)?;
        if self.core.store.version(&skill.id, &semver.to_string()).await?.is_some() {
            return Err(version_exists(&skill, &semver.to_string()));
        }
        Ok((Some(skill), semver))
    }

    /// Step 3: the artifact, fetched or built, checked by the bundle rules as `version` of
    /// `namespace/name`. `upload` is the prepared upload an `Upload` source names.
    async fn obtain(
        &self,
        caller: &Caller,
        (namespace, name): (&Namespace, &SkillName),
        version: &semver::Version,
        source: ArtifactSource,
        upload: Option<Upload>,
    ) -> Result<Obtained> {
        let built = |bundle: Bundle, signatures: Vec<SubmittedSignature>| {
            let built = self.build_artifact(namespace, name, version, bundle)?;
            let submitted = check_submitted(&signatures, built.artifact.digest())?;
            let (fetched, push) = built.into_parts(signatures);
            Ok::<_, Error>(Obtained { fetched, push: Some(push), submitted, signatures_in: None })
        };
        match (source, upload) {
            (ArtifactSource::Reference { reference, credentials }, _) => {
                let fetched = self.fetch_artifact(caller, (&reference, credentials.as_ref()), name.as_str()).await?;
                fetched.bundle.check_identity(name.as_str(), version)?;
                Ok(Obtained { fetched, push: None, submitted: Vec::new(), signatures_in: None })
            }
            (ArtifactSource::Fetched(fetched, mirror), _) => {
                fetched.bundle.check_identity(name.as_str(), version)?;
                let signatures_in = match &mirror {
                    Some(Mirror::Layout(layout)) => Some(layout.clone()),
                    _ => None,
                };
                let push = match mirror {
                    None => None,
                    Some(from) => {
                        let storage = self.storage_repository(namespace, name)?;
                        let target = crate::oci::parse_reference(&format!("{storage}:{version}"))?;
                        Some(Push::Mirror { pinned: fetched.pinned.clone(), from, target })
                    }
                };
                Ok(Obtained { fetched: *fetched, push, submitted: Vec::new(), signatures_in })
            }
            (ArtifactSource::NpmTarball(tarball), _) => {
                let (bundle, package_json) = Bundle::from_npm_tarball(&tarball, &self.core.limits.bundle)?;
                let package = super::npm::package_name(namespace, name);
                super::npm::check_package_json(&package_json, &package, version)?;
                built(bundle, Vec::new())
            }
            (ArtifactSource::Archive(bytes), _) => {
                built(Bundle::from_archive(&bytes, None, &self.core.limits.bundle)?, Vec::new())
            }
            (ArtifactSource::Upload { signatures, .. }, Some(upload)) => {
                let Some(bytes) = self.archive_of(&upload).await? else {
                    return Err(Error::State(format!("the archive for version {version} has not been uploaded yet")));
                };
                check_archive(&upload, &bytes)?;
                let bundle = Bundle::from_archive(&bytes, None, &self.core.limits.bundle)?;
                built(bundle, signatures)
            }
            (ArtifactSource::Upload { .. }, None) => Err(Error::Internal("an upload source without its upload".into())),
        }
    }

    /// `err`, unless a concurrent publish of the version won meanwhile (and consumed the upload
    /// this one was about to read): then that the version exists.
    async fn published_meanwhile(&self, skill: &Skill, version: &str, err: Error) -> Error {
        match self.core.store.version(&skill.id, version).await {
            Ok(Some(_)) => version_exists(skill, version),
            Ok(None) => err,
            Err(e) => e.into(),
        }
    }

    /// Creates the skill a first version is about to be published to, and says whether this
    /// publish created it. One created at the same moment by someone else is published into
    /// all the same.
    async fn create_for_first_version(&self, caller: &Caller, draft: SkillDraft) -> Result<(Skill, bool)> {
        let (namespace, name, kind) = (draft.namespace.clone(), draft.name.clone(), draft.kind);
        match self.core.catalog().create_published_skill(caller, draft).await {
            Ok(skill) => Ok((skill, true)),
            // Checked like any existing skill: one deleted meanwhile takes no versions, one
            // of another kind none of this kind.
            Err(Error::Conflict(_)) => {
                let skill = self.core.visible_skill(caller, &namespace, &name, false).await?.0;
                super::check_kind(&skill, kind)?;
                Ok((skill, false))
            }
            Err(e) => Err(e),
        }
    }

    /// After a first publish failed past creating its skill: removes the skill again if this
    /// publish created it and nothing else has used it since, so a failed publish leaves
    /// nothing behind. Returns the failure.
    async fn undo_creation(&self, caller: &Caller, skill: &Skill, created: bool, failure: Error) -> Error {
        if created {
            match self.core.store.remove_unused_skill(&skill.id, now_millis()).await {
                Ok(true) => {
                    let detail = json!({ "reason": "its first version was not stored" });
                    self.core
                        .audit(caller, "skill.remove", &format!("{}/{}", skill.namespace, skill.name), detail)
                        .await;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, skill = %skill.id, "could not remove a skill whose first publish failed")
                }
            }
        }
        failure
    }

    /// Reads an artifact by reference on `caller`'s behalf and checks it against the bundle
    /// rules. This server's own repositories are read through the gate with the caller's
    /// rights: one the caller may not read is not found, like a missing one.
    pub async fn fetch_artifact(
        &self,
        caller: &Caller,
        (reference, credentials): (&str, Option<&Credentials>),
        name: &str,
    ) -> Result<Fetched> {
        let view = self.core.source_for_caller(caller, reference, credentials).await?;
        Ok(fetch_bundle(view.source(), &self.core.public_reference(reference), name, &self.core.limits.bundle).await?)
    }

    /// Step 6: stores a checked artifact, with its signature verdict, as a version; the
    /// skill's README and description follow the version that is now `latest`.
    async fn record_version(
        &self,
        skill: &Skill,
        version: &str,
        (f, verdict): (Fetched, Option<Verdict>),
        changelog: Option<String>,
        status: VersionStatus,
    ) -> Result<Version> {
        let file_tree = f.bundle.file_tree();
        let file_count = file_tree.len() as i64;
        let fm = &f.bundle.skill;
        let new = NewVersion {
            skill_id: skill.id.clone(),
            version: version.to_owned(),
            status: Some(status),
            changelog,
            entry_point: Some(SKILL_MD.into()),
            skill_type: Some(skill.skill_type),
            install_path: None,
            file_count,
            archive_size: f.layer_size as i64,
            archive_sha256: f.layer_digest.strip_prefix("sha256:").map(str::to_owned),
            reference: Some(self.core.stored_reference(&f.pinned)),
            digest: Some(f.digest.clone()),
            media_type: Some(f.media_type.clone()),
            manifest_size: Some(f.manifest_size as i64),
            layout: Some(f.layout.as_str().to_owned()),
            file_tree: Some(file_tree),
            frontmatter: Some(fm.frontmatter_json.as_object().cloned().unwrap_or_default()),
            readme: Some(fm.body.clone()),
            signature: verdict.as_ref().map(|v| serde_json::to_value(v).expect("verdict serializes")),
            requires: f.requires.clone(),
        };
        let stored = self.core.store.create_version(&new, now_millis()).await.map_err(|e| match Error::from(e) {
            Error::Conflict(_) => version_exists(skill, version),
            other => other,
        })?;
        let current = self.core.store.skill(skill.namespace.as_str(), skill.name.as_str()).await?;
        if current.is_some_and(|s| s.latest_version.as_deref() == Some(version)) {
            let patch = SkillPatch {
                readme: Some(fm.body.clone()),
                description: Some(fm.frontmatter.description.clone()),
                ..Default::default()
            };
            self.core.store.update_skill(&skill.id, &patch, now_millis()).await?;
        }
        Ok(stored)
    }
}

impl Publishing<'_> {
    /// Pushes a built artifact that the trust policies let through to the storage registry,
    /// with the signatures that came with it; or copies a mirrored one there, and says where
    /// it now is and what was copied.
    async fn push_built(
        &self,
        caller: &Caller,
        skill: &Skill,
        version: &str,
        push: Push,
    ) -> Result<Option<(String, crate::oci::copy::Copied)>> {
        let (artifact, target, signatures) = match push {
            Push::Built { artifact, target, signatures } => (artifact, target, signatures),
            Push::Mirror { pinned, from, target } => {
                return self.mirror(caller, &pinned, &from, &target).await.map(Some);
            }
        };
        let storage = self.storage()?;
        let sink: &dyn crate::oci::ArtifactSink = match &storage.target {
            StorageTarget::Registry { .. } => {
                if let Err(e) = self.core.registries.push(&target, &artifact, &|_| {}).await {
                    // A concurrent publish of the same version may have won while both pushed.
                    if self.core.store.version(&skill.id, version).await?.is_some() {
                        return Err(version_exists(skill, version));
                    }
                    return Err(e.into());
                }
                self.core.registries.as_ref()
            }
            StorageTarget::Embedded => {
                let store =
                    self.core.embedded().ok_or_else(|| Error::Internal("no embedded store to upload to".into()))?;
                store.store().push_artifact(target.repository(), version, &artifact).await.map_err(|e| match e {
                    crate::oci::store::DistError::Full => Error::from(e),
                    e => Error::Internal(format!("embedded store: {e}")),
                })?;
                store.store().as_ref()
            }
        };
        // The submitted signatures go next to the artifact, as `skilldex sign` would put them.
        for s in signatures {
            let same = s.signature.clone();
            crate::oci::signatures::push_legacy(sink, &target, artifact.digest(), s.payload, s.signature, &|x| {
                x == same
            })
            .await?;
        }
        Ok(None)
    }

    /// Copies the artifact `pinned` names (read on the caller's behalf) into this server's
    /// storage at `target`, with what is attached to it: where it now is, and what was copied.
    async fn mirror(
        &self,
        caller: &Caller,
        pinned: &str,
        mirror: &Mirror,
        target: &oci_client::Reference,
    ) -> Result<(String, crate::oci::copy::Copied)> {
        let from = crate::oci::parse_reference(pinned)?;
        let digest = from.digest().ok_or_else(|| Error::Internal("a mirrored artifact without a digest".into()))?;
        let view;
        let source: &dyn crate::oci::ArtifactSource = match mirror {
            Mirror::Registry { credentials } => {
                view = self.core.source_for_caller(caller, pinned, credentials.as_ref()).await?;
                view.source()
            }
            Mirror::Layout(layout) => layout.as_ref(),
        };
        let sink: &dyn crate::oci::ArtifactSink = match &self.storage()?.target {
            StorageTarget::Registry { .. } => self.core.registries.as_ref(),
            StorageTarget::Embedded => self
                .core
                .embedded()
                .ok_or_else(|| Error::Internal("no embedded store to mirror into".into()))?
                .store()
                .as_ref(),
        };
        let max = self.core.limits.bundle.max_compressed;
        let limits = (max, crate::oci::copy::budget_for(max));
        let copied =
            crate::oci::copy::copy_with_signatures((source, &from), (sink, target), digest, target.tag(), limits)
                .await?;
        Ok((format!("{}/{}@{digest}", target.registry(), target.repository()), copied))
    }
}

impl super::upload::BuiltUpload {
    /// The built artifact as the pipeline records it, and what must be pushed for it.
    fn into_parts(self, signatures: Vec<SubmittedSignature>) -> (Fetched, Push) {
        let Self { bundle, artifact, target, pinned } = self;
        let fetched = Fetched {
            pinned,
            manifest: artifact.index.data.clone(),
            digest: artifact.digest().to_owned(),
            media_type: crate::oci::layout::media::INDEX.to_owned(),
            manifest_size: artifact.index.data.len() as u64,
            layout: LayoutKind::ToolHive,
            layer_digest: artifact.layer.digest.clone(),
            layer_size: artifact.layer.data.len() as u64,
            // Packed from the SKILL.md's own `toolhive.requires`, which the record reads.
            toolhive_requires: Vec::new(),
            requires: Vec::new(),
            bundle,
        };
        (fetched, Push::Built { artifact, target, signatures })
    }
}
