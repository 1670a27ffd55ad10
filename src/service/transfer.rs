//! Moving skills between sites that share no network: an export is an OCI image layout
//! holding every selected version's artifact with its referrers and signatures (digests
//! unchanged), the versions their `requires` pull in, and the index's own facts about them
//! (`skilldex-export.json`: skills, versions and their status, channels, deprecation). An
//! import checks the whole bundle first — every blob against its digest, every artifact by
//! the bundle rules and this site's trust policies, every version against what this site
//! already recorded — and stores nothing when anything is refused; then each version goes
//! through the one publish pipeline, copied into this server's storage. Importing the same
//! bundle again changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::access::require_site_admin;
use super::publish::{ArtifactSource, Mirror, PublishPlan};
use super::resolve::Resolved;
use super::{Caller, Error, Result, SkillDraft, Transfer};
use crate::domain::{
    ChannelName, Millis, Namespace, SkillKind, SkillName, SkillPatch, SkillType, Tag, VersionStatus, Visibility,
    now_millis,
};
use crate::oci::copy::{Copied, copy_with_signatures};
use crate::oci::layout_dir::LayoutDir;
use crate::oci::{fetch_bundle, parse_reference};

/// The file in an export that holds the index's facts.
pub const METADATA_FILE: &str = "skilldex-export.json";
/// The format of that file this server writes and reads.
const FORMAT: u32 = 1;
/// The registry part of references into an export (it names no host).
const EXPORT_REGISTRY: &str = "skilldex.export";
/// How many versions one export or import holds at most.
pub const MAX_VERSIONS: usize = 5000;
/// The most skills one export may name.
pub const MAX_SELECTION: usize = 1000;
/// The metadata file's size limit.
const MAX_METADATA: u64 = 64 * 1024 * 1024;
/// The most one export may hold.
pub const MAX_EXPORT_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// The index's facts about the exported skills.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportMetadata {
    pub format: u32,
    pub exported_at: Millis,
    pub skills: Vec<ExportedSkill>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportedSkill {
    pub namespace: Namespace,
    pub name: SkillName,
    pub display_name: String,
    pub visibility: Visibility,
    pub tags: Vec<String>,
    pub kind: SkillKind,
    pub skill_type: SkillType,
    pub deprecated: bool,
    pub deprecated_message: Option<String>,
    pub archived: bool,
    /// Channels (other than `latest`) that point at an exported version.
    pub channels: BTreeMap<String, String>,
    pub versions: Vec<ExportedVersion>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportedVersion {
    pub version: String,
    pub digest: String,
    /// `published` or `yanked`.
    pub status: VersionStatus,
    pub changelog: Option<String>,
}

/// The metadata file: a JSON object whose skills, and their versions, are objects too (serde
/// would also read a struct from an array of its fields, which no export writes).
fn read_metadata(text: &[u8]) -> Result<ExportMetadata, String> {
    use serde_json::Value;
    let v: Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let objects = |list: Option<&Value>| list.and_then(Value::as_array).is_none_or(|a| a.iter().all(Value::is_object));
    let skills = v.get("skills").and_then(Value::as_array);
    if !v.is_object()
        || !objects(v.get("skills"))
        || !skills.is_none_or(|s| s.iter().all(|s| objects(s.get("versions"))))
    {
        return Err("the file, each skill and each version must be JSON objects".into());
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportSummary {
    pub skills: usize,
    pub versions: usize,
    pub manifests: u64,
    pub blobs: u64,
    pub bytes: u64,
    /// Requirements of exported versions that did not resolve for the caller (not exported).
    pub unresolved: Vec<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    pub skills: usize,
    /// Versions recorded by this import.
    pub imported: usize,
    /// Versions this site already had, at the same digest.
    pub unchanged: usize,
    /// Teams created for namespaces this site did not have.
    pub teams_created: Vec<String>,
    /// Bytes copied into this server's storage.
    pub bytes: u64,
}

/// The skill an exported one is created as.
fn draft_of(skill: &ExportedSkill) -> SkillDraft {
    SkillDraft {
        namespace: skill.namespace.clone(),
        name: skill.name.clone(),
        display_name: Some(skill.display_name.clone()),
        description: None,
        readme: None,
        visibility: Some(skill.visibility),
        tags: Some(skill.tags.iter().filter_map(|t| t.parse().ok()).collect()),
        skill_type: Some(skill.skill_type),
        kind: Some(skill.kind),
    }
}

/// The tag a version is kept under in an export: OCI tags take no `+`, so build metadata's
/// is written `_` (as Helm does).
fn export_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// One version an import will record.
struct Planned {
    skill: usize,
    version: semver::Version,
    fetched: crate::oci::Fetched,
}

impl Transfer<'_> {
    /// Writes the selected skills into the layout at `dir`: `namespace/name` (every released
    /// version) or `namespace/name@range|channel|version` (the one it resolves to), with what
    /// their versions require, as `caller` may see them.
    pub async fn export(&self, caller: &Caller, selectors: &[String], dir: &Path) -> Result<ExportSummary> {
        // Exports cost disk and time: signed-in callers only, a few at once.
        caller.require(crate::domain::TokenScope::Read)?;
        let _slot = self
            .core
            .export_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::RateLimited("other exports are being written; try again in a moment".into()))?;
        if selectors.is_empty() || selectors.len() > MAX_SELECTION {
            return Err(Error::Invalid(format!("an export names 1 to {MAX_SELECTION} skills")));
        }
        let catalog = self.core.catalog();
        let mut roots: Vec<Resolved> = Vec::new();
        for selector in selectors {
            let (skill, spec) = match selector.split_once('@') {
                Some((skill, spec)) => (skill, Some(spec)),
                None => (selector.as_str(), None),
            };
            let bad = || Error::Invalid(format!("`{selector}` is not `namespace/name` or `namespace/name@version`"));
            let (ns, name) = skill.split_once('/').ok_or_else(bad)?;
            let (ns, name): (Namespace, SkillName) = (ns.parse().map_err(|_| bad())?, name.parse().map_err(|_| bad())?);
            match spec {
                Some(spec) => roots.push(catalog.resolve(caller, &ns, &name, Some(spec)).await?),
                None => {
                    let (skill, _) = self.core.visible_skill(caller, &ns, &name, false).await?;
                    let versions = self.core.store.versions(&skill.id).await?;
                    let released: Vec<_> = versions.into_iter().filter(|v| v.status != VersionStatus::Draft).collect();
                    if released.is_empty() {
                        return Err(Error::NotFound(format!("`{ns}/{name}` has no released version to export")));
                    }
                    for v in released {
                        roots.push(catalog.resolve(caller, &ns, &name, Some(&v.version)).await?);
                    }
                }
            }
        }
        // Every version once, with what it requires.
        let mut chosen: BTreeMap<(String, String), Resolved> = BTreeMap::new();
        let mut unresolved = BTreeSet::new();
        for root in roots {
            let closure = catalog.closure(caller, &root).await?;
            if closure.truncated {
                unresolved.insert(format!(
                    "{}/{}: more requirements than one export follows",
                    root.skill.namespace, root.skill.name
                ));
            }
            for dep in closure.dependencies {
                match dep.resolved {
                    Some(r) => {
                        chosen
                            .entry((format!("{}/{}", r.skill.namespace, r.skill.name), r.version.version.clone()))
                            .or_insert(r);
                    }
                    None => {
                        unresolved.insert(format!("{} (required by {})", dep.requirement, dep.required_by.join(", ")));
                    }
                }
            }
            chosen
                .entry((format!("{}/{}", root.skill.namespace, root.skill.name), root.version.version.clone()))
                .or_insert(root);
        }
        if chosen.len() > MAX_VERSIONS {
            return Err(Error::Invalid(format!(
                "an export holds at most {MAX_VERSIONS} versions; this one needs {}",
                chosen.len()
            )));
        }
        let layout = LayoutDir::create(dir).map_err(|e| Error::Internal(format!("cannot write the export: {e}")))?;
        let mut copied = Copied::default();
        let mut skills: BTreeMap<String, ExportedSkill> = BTreeMap::new();
        for ((key, version), resolved) in &chosen {
            let record = &resolved.version.record;
            let reference = record
                .reference
                .as_deref()
                .ok_or_else(|| Error::Internal(format!("{key}@{version} has no reference")))?;
            let (from, source) = self.core.recorded_source(reference)?;
            let to = parse_reference(&format!("{EXPORT_REGISTRY}/{key}:{}", export_tag(version)))?;
            copied += copy_with_signatures(
                (source, &from),
                (&layout, &to),
                &resolved.version.digest,
                to.tag(),
                (
                    self.core.limits.bundle.max_compressed,
                    crate::oci::copy::budget_for(self.core.limits.bundle.max_compressed),
                ),
            )
            .await?;
            if copied.bytes > MAX_EXPORT_BYTES {
                return Err(Error::TooLarge(format!(
                    "an export holds at most {MAX_EXPORT_BYTES} bytes; name fewer skills"
                )));
            }
            let skill = &resolved.skill;
            let entry = match skills.get_mut(key) {
                Some(entry) => entry,
                None => {
                    let entry = ExportedSkill {
                        namespace: skill.namespace.clone(),
                        name: skill.name.clone(),
                        display_name: skill.display_name.clone(),
                        visibility: skill.visibility,
                        tags: skill.tags.clone(),
                        kind: skill.kind,
                        skill_type: skill.skill_type,
                        deprecated: skill.deprecated,
                        deprecated_message: skill.deprecated_message.clone(),
                        archived: skill.archived,
                        channels: BTreeMap::new(),
                        versions: Vec::new(),
                    };
                    skills.entry(key.clone()).or_insert(entry)
                }
            };
            entry.versions.push(ExportedVersion {
                version: version.clone(),
                digest: resolved.version.digest.clone(),
                status: record.status,
                changelog: record.changelog.clone(),
            });
        }
        for (key, entry) in skills.iter_mut() {
            let (ns, name) = key.split_once('/').expect("keys are namespace/name");
            let skill =
                self.core.store.skill(ns, name).await?.ok_or_else(|| Error::NotFound(format!("`{key}` not found")))?;
            for channel in self.core.store.channels(&skill.id).await? {
                // Only channels a version of the export can hold (a published one).
                let held =
                    |v: &String| entry.versions.iter().any(|e| &e.version == v && e.status == VersionStatus::Published);
                if let Some(v) = channel.version.filter(|v| channel.name != "latest" && held(v)) {
                    entry.channels.insert(channel.name, v);
                }
            }
        }
        layout.finish().map_err(|e| Error::Internal(format!("cannot write the export: {e}")))?;
        let metadata =
            ExportMetadata { format: FORMAT, exported_at: now_millis(), skills: skills.into_values().collect() };
        std::fs::write(dir.join(METADATA_FILE), serde_json::to_vec_pretty(&metadata).expect("metadata serializes"))
            .map_err(|e| Error::Internal(format!("cannot write the export: {e}")))?;
        let summary = ExportSummary {
            skills: metadata.skills.len(),
            versions: chosen.len(),
            manifests: copied.manifests,
            blobs: copied.blobs,
            bytes: copied.bytes,
            unresolved: unresolved.into_iter().collect(),
        };
        self.core
            .audit(caller, "export", "skills", json!({ "selectors": selectors, "versions": summary.versions }))
            .await;
        Ok(summary)
    }

    /// Imports the export unpacked at `dir` (site administrators, admin scope). Everything is
    /// checked before anything is stored; a refusal stores nothing.
    pub async fn import(&self, caller: &Caller, dir: &Path) -> Result<ImportSummary> {
        require_site_admin(caller)?;
        let refused = |why: String| Error::Invalid(format!("the bundle is refused: {why}; nothing was imported"));
        let max_blob = self.core.limits.bundle.max_compressed;
        let opened = dir.to_owned();
        let layout = tokio::task::spawn_blocking(move || LayoutDir::open(&opened, max_blob))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let layout = Arc::new(layout.map_err(refused)?);
        let meta_path = dir.join(METADATA_FILE);
        if std::fs::metadata(&meta_path).map(|m| m.len()).unwrap_or(u64::MAX) > MAX_METADATA {
            return Err(refused(format!("it has no {METADATA_FILE}, or one too large")));
        }
        let text = std::fs::read(&meta_path).map_err(|_| refused(format!("it has no {METADATA_FILE}")))?;
        let meta = read_metadata(&text).map_err(|e| refused(format!("{METADATA_FILE} does not parse: {e}")))?;
        if meta.format != FORMAT {
            return Err(refused(format!("it is of format {}, this server reads {FORMAT}", meta.format)));
        }
        if meta.skills.iter().map(|s| s.versions.len()).sum::<usize>() > MAX_VERSIONS {
            return Err(refused(format!("it holds more than {MAX_VERSIONS} versions")));
        }
        let mut summary = ImportSummary { skills: meta.skills.len(), ..Default::default() };
        // Everything is checked first.
        let mut planned: Vec<Planned> = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, skill) in meta.skills.iter().enumerate() {
            let key = format!("{}/{}", skill.namespace, skill.name);
            if !seen.insert(key.clone()) {
                return Err(refused(format!("`{key}` is listed twice")));
            }
            for tag in &skill.tags {
                tag.parse::<Tag>().map_err(|e| refused(format!("`{key}`: {e}")))?;
            }
            // What creating the skill and settling it would refuse, refused now.
            super::skills::check_draft(&draft_of(skill)).map_err(|e| refused(format!("`{key}`: {e}")))?;
            if let Some(message) = &skill.deprecated_message {
                super::check_text("deprecatedMessage", message, super::limits::DEPRECATION_MESSAGE, true)
                    .map_err(|e| refused(format!("`{key}`: {e}")))?;
            }
            for (name, target) in &skill.channels {
                name.parse::<ChannelName>().map_err(|e| refused(format!("`{key}`: {e}")))?;
                if !skill.versions.iter().any(|v| &v.version == target && v.status == VersionStatus::Published) {
                    return Err(refused(format!(
                        "`{key}`'s channel `{name}` points at no published version of the bundle"
                    )));
                }
            }
            let existing = self.core.store.skill(skill.namespace.as_str(), skill.name.as_str()).await?;
            if let Some(s) = &existing
                && s.kind != skill.kind
            {
                return Err(Error::Conflict(format!(
                    "`{key}` is of kind `{}` here and `{}` in the bundle; nothing was imported",
                    s.kind, skill.kind
                )));
            }
            if let Some(s) = existing.as_ref().filter(|s| s.archived || s.deleted_at.is_some()) {
                return Err(Error::Conflict(format!(
                    "`{key}` is {} here: an owner restores it before versions are imported into it; nothing was imported",
                    if s.deleted_at.is_some() { "deleted" } else { "archived" }
                )));
            }
            let mut versions = BTreeSet::new();
            for v in &skill.versions {
                let version = crate::domain::parse_version(&v.version).map_err(|e| refused(e.to_string()))?;
                if !versions.insert(version.clone())
                    || !matches!(v.status, VersionStatus::Published | VersionStatus::Yanked)
                {
                    return Err(refused(format!(
                        "`{key}@{}` is listed twice or with a status that is not released",
                        v.version
                    )));
                }
                if layout.tagged(&key, &export_tag(&v.version)).as_deref() != Some(v.digest.as_str()) {
                    return Err(refused(format!("`{key}@{}` is not the artifact its metadata names", v.version)));
                }
                let recorded = match &existing {
                    Some(s) => self.core.store.version(&s.id, &version.to_string()).await?,
                    None => None,
                };
                if let Some(r) = recorded {
                    if r.digest.as_deref() == Some(v.digest.as_str()) {
                        summary.unchanged += 1;
                        continue;
                    }
                    return Err(Error::Conflict(format!(
                        "`{key}@{}` is recorded here with another artifact ({}); nothing was imported",
                        v.version,
                        r.digest.unwrap_or_default()
                    )));
                }
                let pinned = format!("{EXPORT_REGISTRY}/{key}@{}", v.digest);
                let fetched = fetch_bundle(layout.as_ref(), &pinned, skill.name.as_str(), &self.core.limits.bundle)
                    .await
                    .map_err(|e| refused(format!("`{key}@{}`: {}", v.version, Error::from(e))))?;
                fetched
                    .bundle
                    .check_identity(skill.name.as_str(), &version)
                    .map_err(|e| refused(format!("`{key}@{}`: {e}", v.version)))?;
                let names = (&skill.namespace, &skill.name);
                let manifest = Some(fetched.manifest.as_slice());
                self.core.trust().vouched_in(layout.as_ref(), names, &v.version, &pinned, manifest, &[]).await?;
                planned.push(Planned { skill: i, version, fetched });
            }
        }
        // Then stored: teams first, versions oldest first, then what the index says of them.
        for ns in meta.skills.iter().map(|s| &s.namespace).collect::<BTreeSet<_>>() {
            if self.core.store.team_by_namespace(ns.as_str()).await?.is_none() {
                self.core.accounts().create_team(caller, ns.clone(), ns.to_string()).await?;
                summary.teams_created.push(ns.to_string());
            }
        }
        planned.sort_by(|a, b| (a.skill, &a.version).cmp(&(b.skill, &b.version)));
        for p in planned {
            let skill = &meta.skills[p.skill];
            let draft = draft_of(skill);
            let changelog =
                skill.versions.iter().find(|v| v.version == p.version.to_string()).and_then(|v| v.changelog.clone());
            let mut plan = PublishPlan::creating(
                draft,
                p.version.to_string(),
                ArtifactSource::Fetched(Box::new(p.fetched), Some(Mirror::Layout(layout.clone()))),
            );
            plan.changelog = changelog;
            let published = self.core.publishing().publish(caller, plan).await?;
            summary.imported += 1;
            summary.bytes += published.copied.bytes;
        }
        for skill in &meta.skills {
            self.settle_skill(caller, skill).await?;
        }
        let detail = json!({ "skills": summary.skills, "imported": summary.imported, "unchanged": summary.unchanged });
        self.core.audit(caller, "import", "skills", detail).await;
        Ok(summary)
    }

    /// Yanks, channels, deprecation and archiving as the bundle has them, where they differ.
    async fn settle_skill(&self, caller: &Caller, skill: &ExportedSkill) -> Result<()> {
        let catalog = self.core.catalog();
        let (ns, name) = (&skill.namespace, &skill.name);
        let here = self
            .core
            .store
            .skill(ns.as_str(), name.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("`{ns}/{name}` not found")))?;
        for v in skill.versions.iter().filter(|v| v.status == VersionStatus::Yanked) {
            let recorded = self.core.store.version(&here.id, &v.version).await?;
            if recorded.is_some_and(|r| r.status != VersionStatus::Yanked) {
                catalog.set_yanked(caller, ns, name, &v.version, true).await?;
            }
        }
        let channels: BTreeMap<String, Option<String>> =
            self.core.store.channels(&here.id).await?.into_iter().map(|c| (c.name, c.version)).collect();
        for (channel, version) in &skill.channels {
            if channels.get(channel).cloned().flatten().as_ref() != Some(version) {
                let channel: ChannelName =
                    channel.parse().map_err(|e: crate::domain::InvalidValue| Error::Invalid(e.to_string()))?;
                catalog.set_channel(caller, ns, name, &channel, version).await?;
            }
        }
        if skill.deprecated && (!here.deprecated || here.deprecated_message != skill.deprecated_message) {
            let patch = SkillPatch {
                deprecated: Some(true),
                deprecated_message: Some(skill.deprecated_message.clone()),
                ..Default::default()
            };
            catalog.update_skill(caller, ns, name, patch).await?;
        }
        if skill.archived && !here.archived {
            catalog.set_archived(caller, ns, name, true).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn build_metadata_is_kept_under_a_tag_oci_allows() {
        assert_eq!(super::export_tag("1.2.3+build.7"), "1.2.3_build.7");
        assert_eq!(super::export_tag("1.2.3-rc.1"), "1.2.3-rc.1");
        assert!(oci_client::Reference::try_from(format!("r.example/a/b:{}", super::export_tag("1.0.0+x"))).is_ok());
    }
}
