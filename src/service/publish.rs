//! Publishing, registry first: the artifact is already in a registry; the index fetches
//! it by digest, checks it by the bundle rules and records it. A version becomes visible
//! only once everything has been fetched and checked; any failure before that stores nothing.

use serde_json::json;

use super::access::require_role;
use super::{Caller, Error, Index, Result};
use crate::bundle::SKILL_MD;
use crate::domain::{Namespace, SkillName, TeamRole, TokenScope, VersionStatus, now_millis, parse_version};
use crate::oci::{Credentials, Fetched, fetch_bundle};
use crate::policy::Verdict;
use crate::store::{NewVersion, Skill, SkillPatch, Version};

impl Index {
    /// Registers `reference` (a tag is resolved to a digest once, here) as `version`. A
    /// registry other than this server's own is read with `credentials`, the caller's, or
    /// anonymously: never with the server's.
    pub async fn register_version(
        &self,
        caller: &Caller,
        scope: &Namespace,
        slug: &SkillName,
        version: &str,
        (reference, credentials): (&str, Option<&Credentials>),
    ) -> Result<Version> {
        let (skill, semver) = self.new_version_of(caller, scope, slug, version).await?;
        let checked = self.checked_artifact(caller, scope, slug, &semver, (reference, credentials)).await?;
        self.record_version(caller, &skill, &semver.to_string(), checked, None, VersionStatus::Published).await
    }

    /// The artifact `reference` names, fetched, checked by the bundle rules as `version` of
    /// `scope/slug`, and passed by the trust policies; nothing is stored.
    async fn checked_artifact(
        &self,
        caller: &Caller,
        scope: &Namespace,
        slug: &SkillName,
        version: &semver::Version,
        (reference, credentials): (&str, Option<&Credentials>),
    ) -> Result<(Fetched, Option<Verdict>)> {
        let fetched = self.fetch_artifact(caller, (reference, credentials), slug.as_str()).await?;
        fetched.bundle.check_identity(slug.as_str(), version)?;
        let manifest = Some(fetched.manifest.as_slice());
        let verdict = self.vouched((scope, slug), &version.to_string(), &fetched.pinned, manifest, &[]).await?;
        Ok((fetched, verdict))
    }

    /// Registers `reference` as `version` of `draft`'s skill, creating the skill on its first
    /// version. The artifact is fetched and checked before the skill is created, so a refused
    /// first version leaves no empty skill behind. ToolHive's publish call lands here.
    pub async fn publish_reference(
        &self,
        caller: &Caller,
        draft: super::SkillDraft,
        version: &str,
        reference: &str,
    ) -> Result<(Skill, Version)> {
        let (scope, slug) = (draft.scope.clone(), draft.slug.clone());
        // The namespace role first: an outsider learns nothing about which skills exist.
        self.require_publisher_in(caller, &scope).await?;
        let existing = self.store.skill(scope.as_str(), slug.as_str()).await?;
        let version = if existing.is_some() {
            self.register_version(caller, &scope, &slug, version, (reference, None)).await?
        } else {
            let checked =
                self.checked_artifact(caller, &scope, &slug, &parse_version(version)?, (reference, None)).await?;
            self.create_for_first_version(caller, draft).await?;
            let (skill, semver) = self.new_version_of(caller, &scope, &slug, version).await?;
            self.record_version(caller, &skill, &semver.to_string(), checked, None, VersionStatus::Published).await?
        };
        let skill = self.store.skill(scope.as_str(), slug.as_str()).await?.ok_or_else(|| {
            Error::Internal(format!("skill `{scope}/{slug}` vanished while its version was published"))
        })?;
        Ok((skill, version))
    }

    /// Creates the skill a first version is about to be published to. One created at the same
    /// moment by someone else is published into all the same.
    pub(super) async fn create_for_first_version(&self, caller: &Caller, draft: super::SkillDraft) -> Result<()> {
        match self.create_skill(caller, draft).await {
            Ok(_) | Err(Error::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The skill a new version may be published to by this caller (write scope, publisher
    /// role, skill not deleted), and the version, which must be valid semver and new.
    pub(super) async fn new_version_of(
        &self,
        caller: &Caller,
        scope: &Namespace,
        slug: &SkillName,
        version: &str,
    ) -> Result<(Skill, semver::Version)> {
        caller.require(TokenScope::Write)?;
        let (skill, role) = self.visible_skill(caller, scope, slug, false).await?;
        require_role(role, TeamRole::Publisher, "publishing a version")?;
        let semver = parse_version(version)?;
        if self.store.version(&skill.id, &semver.to_string()).await?.is_some() {
            return Err(version_exists(&skill, &semver.to_string()));
        }
        Ok((skill, semver))
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
        let view = self.source_for_caller(caller, reference, credentials).await?;
        Ok(fetch_bundle(view.source(), &self.public_reference(reference), name, &self.limits).await?)
    }

    /// Stores a checked artifact, with its signature verdict, as a published version; the skill's README and description
    /// follow the version that is now `latest`.
    pub(super) async fn record_version(
        &self,
        caller: &Caller,
        skill: &Skill,
        version: &str,
        (f, verdict): (Fetched, Option<Verdict>),
        changelog: Option<String>,
        status: VersionStatus,
    ) -> Result<Version> {
        let file_tree = f.bundle.file_tree();
        let fm = &f.bundle.skill;
        let new = NewVersion {
            skill_id: skill.id.clone(),
            version: version.to_owned(),
            status: Some(status),
            changelog,
            entry_point: Some(SKILL_MD.into()),
            skill_type: Some(skill.skill_type),
            install_path: None,
            file_count: file_tree.len() as i64,
            archive_size: f.layer_size as i64,
            archive_sha256: f.layer_digest.strip_prefix("sha256:").map(str::to_owned),
            reference: Some(self.stored_reference(&f.pinned)),
            digest: Some(f.digest.clone()),
            media_type: Some(f.media_type.clone()),
            manifest_size: Some(f.manifest_size as i64),
            layout: Some(f.layout.as_str().to_owned()),
            file_tree: Some(serde_json::to_string(&file_tree).expect("file tree serializes")),
            frontmatter: Some(fm.frontmatter_json.to_string()),
            readme: Some(fm.body.clone()),
            signature: verdict.as_ref().map(|v| serde_json::to_string(v).expect("verdict serializes")),
        };
        let stored = self.store.create_version(&new, now_millis()).await.map_err(|e| match Error::from(e) {
            Error::Conflict(_) => version_exists(skill, version),
            other => other,
        })?;
        let current = self.store.skill(skill.scope.as_str(), skill.slug.as_str()).await?;
        if current.is_some_and(|s| s.latest_version.as_deref() == Some(version)) {
            let patch = SkillPatch {
                readme: Some(fm.body.clone()),
                description: Some(fm.frontmatter.description.clone()),
                ..Default::default()
            };
            self.store.update_skill(&skill.id, &patch, now_millis()).await?;
        }
        let target = format!("{}/{}", skill.scope, skill.slug);
        self.audit(
            caller,
            "version.publish",
            &target,
            json!({ "version": version, "digest": f.digest, "signature": verdict.map(|v| v.status) }),
        )
        .await;
        Ok(self.present(stored))
    }
}

pub(super) fn version_exists(skill: &Skill, version: &str) -> Error {
    Error::Conflict(format!(
        "version {version} of `{}/{}` already exists; versions are immutable",
        skill.scope, skill.slug
    ))
}
