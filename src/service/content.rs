//! What a version contains: downloads (counted), the archive itself, diffs between versions,
//! and forks. Content is always read from the registry by digest and checked again.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::Mac as _;
use serde_json::json;

use super::Catalog;
use super::access::require_role;
use super::{Caller, Error, Resolved, Result};
use crate::bundle::{Bundle, SKILL_MD};
use crate::domain::{Namespace, ReleasedVersion, SkillName, Tag, TeamRole, TokenScope, VersionStatus, now_millis};
use crate::oci::layout::{Descriptor, media};
use crate::store::{NewSkill, NewVersion, Skill, Version};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    Added,
    Modified,
    Removed,
}

impl FileStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            FileStatus::Added => "added",
            FileStatus::Modified => "modified",
            FileStatus::Removed => "removed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: String,
    pub status: FileStatus,
    pub additions: usize,
    pub deletions: usize,
    /// The change as a unified diff (three lines of context); `None` for binary files and
    /// for changes too large to show (over `MAX_PATCH` bytes).
    pub patch: Option<String>,
}

/// The largest unified diff kept for one file.
pub const MAX_PATCH: usize = 256 << 10;
/// The most unified diff text one comparison keeps, over all its files.
pub const MAX_PATCHES: usize = 2 << 20;
/// Files larger than this (either side) get counts but no unified diff.
const MAX_DIFFED_FILE: usize = 1 << 20;
/// How long one comparison may search for the smallest diff; past it, line diffs settle for
/// a coarser (still correct) answer.
const DIFF_TIME: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Diff {
    pub from: String,
    pub to: String,
    pub files: Vec<FileChange>,
}

/// How long a signed bundle URL is good for (skill-pool's presigned URLs: five minutes).
pub const BUNDLE_URL_SECONDS: i64 = 300;

/// What a signed bundle URL grants: one version's archive, by digest, until `expires`
/// (seconds since the epoch).
#[derive(serde::Serialize, serde::Deserialize)]
struct BundleGrant {
    namespace: String,
    name: String,
    version: String,
    digest: String,
    expires: i64,
    /// Signed for a member of a private skill; a link to a public one stops working when the
    /// skill turns private.
    private: bool,
}

fn bundle_mac(key: &[u8], payload: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(b"skilldex bundle url\0");
    mac.update(payload);
    mac
}

impl Catalog<'_> {
    /// Resolves for download and counts it.
    pub async fn download(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        spec: Option<&str>,
    ) -> Result<Resolved> {
        self.resolve_for(caller, namespace, name, spec, crate::store::UsageEvent::Download).await
    }

    /// Resolves for reading its SKILL.md and counts a view.
    pub async fn view(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        spec: Option<&str>,
    ) -> Result<Resolved> {
        self.resolve_for(caller, namespace, name, spec, crate::store::UsageEvent::View).await
    }

    async fn resolve_for(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        spec: Option<&str>,
        event: crate::store::UsageEvent,
    ) -> Result<Resolved> {
        let resolved = self.resolve(caller, namespace, name, spec).await?;
        self.core.usage().record(&resolved.skill, event).await;
        Ok(resolved)
    }

    /// The version's archive (its content layer), fetched by digest and checked.
    pub async fn archive(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        version: &str,
    ) -> Result<Vec<u8>> {
        crate::domain::parse_version(version)?;
        let resolved = self.resolve(caller, namespace, name, Some(version)).await?;
        self.layer_bytes(&resolved.version).await
    }

    /// Whether a version's archive is kept by this server (its embedded store), rather than in
    /// another registry.
    pub fn stored_here(&self, v: &ReleasedVersion) -> bool {
        self.core.is_embedded(&v.reference)
    }

    /// A token for a URL on this server that serves `resolved`'s archive to whoever holds it,
    /// for `BUNDLE_URL_SECONDS`, like a presigned URL: the caller's right to read it, checked
    /// when it was resolved, travels with it.
    pub async fn sign_bundle_url(&self, resolved: &Resolved) -> Result<String> {
        let grant = BundleGrant {
            namespace: resolved.skill.namespace.to_string(),
            name: resolved.skill.name.to_string(),
            version: resolved.version.version.clone(),
            digest: resolved.version.digest.clone(),
            expires: now_millis() / 1000 + BUNDLE_URL_SECONDS,
            private: resolved.skill.visibility != crate::domain::Visibility::Public,
        };
        let payload = serde_json::to_vec(&grant).expect("a grant serializes");
        let mac = bundle_mac(&self.core.url_key().await?, &payload);
        Ok(format!("{}.{}", B64URL.encode(&payload), B64URL.encode(mac.finalize().into_bytes())))
    }

    /// The archive a signed URL's token grants, named `(name, version)`: refused unless this
    /// site signed it and it has not expired, and not found unless the version is still there,
    /// released, with the digest it was signed for.
    pub async fn redeem_bundle_url(&self, token: &str) -> Result<(String, String, Vec<u8>)> {
        let refused = || Error::Forbidden("this bundle link is not valid, or it expired: ask for a new one".into());
        let (payload, signature) = token.split_once('.').ok_or_else(refused)?;
        let payload = B64URL.decode(payload).map_err(|_| refused())?;
        let signature = B64URL.decode(signature).map_err(|_| refused())?;
        bundle_mac(&self.core.url_key().await?, &payload).verify_slice(&signature).map_err(|_| refused())?;
        let grant: BundleGrant = serde_json::from_slice(&payload).map_err(|_| refused())?;
        if grant.expires < now_millis() / 1000 {
            return Err(refused());
        }
        let gone =
            || Error::NotFound(format!("{}/{}@{} is no longer available", grant.namespace, grant.name, grant.version));
        let skill = self
            .core
            .store
            .skill(&grant.namespace, &grant.name)
            .await?
            .filter(|s| s.deleted_at.is_none())
            .filter(|s| grant.private || s.visibility == crate::domain::Visibility::Public)
            .ok_or_else(gone)?;
        let version = self.core.store.version(&skill.id, &grant.version).await?;
        let released = version
            .map(|v| self.core.present(v))
            .and_then(ReleasedVersion::of)
            .filter(|v| v.digest == grant.digest)
            .ok_or_else(gone)?;
        let bytes = self.layer_bytes(&released).await?;
        Ok((grant.name, grant.version, bytes))
    }

    async fn layer_bytes(&self, v: &ReleasedVersion) -> Result<Vec<u8>> {
        let missing = || Error::NotFound(format!("version {} has no stored archive", v.version));
        let sha = v.archive_sha256.as_deref().ok_or_else(missing)?;
        let (repo, source) = self.core.recorded_source(&v.reference)?;
        let desc = Descriptor {
            media_type: media::LAYER_TAR_GZIP.into(),
            digest: format!("sha256:{sha}"),
            size: v.archive_size as u64,
            artifact_type: None,
            platform: None,
            annotations: None,
        };
        Ok(source.blob(&repo, &desc, self.read_limits(v).max_compressed).await?)
    }

    /// The files of a version the caller resolved (so may see), fetched by digest and checked.
    pub async fn files(&self, resolved: &Resolved) -> Result<Bundle> {
        self.bundle_of(&resolved.version).await
    }

    /// A version's files, read back from its archive.
    pub(super) async fn bundle_of(&self, v: &ReleasedVersion) -> Result<Bundle> {
        let bytes = self.layer_bytes(v).await?;
        let name = v.frontmatter.get("name").and_then(|n| n.as_str()).unwrap_or("");
        let prefix = (v.layout.as_deref() == Some("agentskills")).then_some(name);
        Ok(Bundle::from_archive(&bytes, prefix, &self.read_limits(v))?)
    }

    /// The bundle limits a recorded version is read back with: today's, raised to what the
    /// version was accepted with, so lowering `--max-archive-size` never locks out a version
    /// that is already published (its artifact is pinned by digest, so it cannot grow).
    fn read_limits(&self, v: &Version) -> crate::bundle::Limits {
        let mut limits = self.core.limits.bundle;
        let unpacked: u64 = v.file_tree.iter().map(|f| f.size).sum();
        let largest = v.file_tree.iter().map(|f| f.size).max().unwrap_or(0);
        limits.max_compressed = limits.max_compressed.max(v.archive_size.max(0) as u64);
        limits.max_uncompressed = limits.max_uncompressed.max(unpacked);
        limits.max_file = limits.max_file.max(largest);
        limits.max_files = limits.max_files.max(v.file_tree.len());
        limits
    }

    /// Files added, modified and removed between two versions, with line counts.
    pub async fn diff(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        from: &str,
        to: &str,
    ) -> Result<Diff> {
        crate::domain::parse_version(from)?;
        crate::domain::parse_version(to)?;
        let old = self.resolve(caller, namespace, name, Some(from)).await?;
        let new = self.resolve(caller, namespace, name, Some(to)).await?;
        let (a, b) = tokio::try_join!(self.bundle_of(&old.version), self.bundle_of(&new.version))?;
        // Diffing is CPU work whose size the publishers chose: off the request threads.
        let files = tokio::task::spawn_blocking(move || diff_files(&a, &b))
            .await
            .map_err(|e| Error::Internal(format!("diff task: {e}")))?;
        Ok(Diff { from: old.version.version.clone(), to: new.version.version.clone(), files })
    }

    /// Copies a skill and its latest version into another namespace the caller publishes to.
    pub async fn fork_skill(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        target_scope: &Namespace,
        target_slug: Option<&SkillName>,
    ) -> Result<Skill> {
        caller.require(TokenScope::Write)?;
        let (source, _) = self.core.visible_skill(caller, namespace, name, false).await?;
        let target_role = self.core.role_in(caller, target_scope.as_str()).await?;
        require_role(target_role, TeamRole::Publisher, &format!("forking into `{target_scope}`"))?;
        let target_slug = target_slug.unwrap_or(name);
        let latest = match &source.latest_version {
            Some(v) => self.core.store.version(&source.id, v).await?.filter(|v| v.status == VersionStatus::Published),
            None => None,
        };
        let origin = format!("{namespace}/{name}");
        let new = NewSkill {
            namespace: target_scope.clone(),
            name: target_slug.clone(),
            display_name: source.display_name.clone(),
            description: source.description.clone(),
            readme: source.readme.clone(),
            visibility: source.visibility,
            tags: source.tags.iter().filter_map(|t| t.parse::<Tag>().ok()).collect(),
            skill_type: source.skill_type,
            kind: source.kind,
            forked_from: Some(origin.clone()),
        };
        let version = latest.as_ref().map(|v| NewVersion {
            skill_id: String::new(),
            version: v.version.clone(),
            status: Some(VersionStatus::Published),
            changelog: Some(format!("Forked from {origin}@{}", v.version)),
            entry_point: Some(v.entry_point.clone()),
            skill_type: Some(v.skill_type),
            install_path: v.install_path.clone(),
            file_count: v.file_count,
            archive_size: v.archive_size,
            archive_sha256: v.archive_sha256.clone(),
            reference: v.reference.clone(),
            digest: v.digest.clone(),
            media_type: v.media_type.clone(),
            manifest_size: v.manifest_size,
            layout: v.layout.clone(),
            file_tree: Some(v.file_tree.clone()),
            frontmatter: Some(v.frontmatter.clone()),
            readme: v.readme.clone(),
            signature: v.signature.clone(),
            requires: super::resolve::requires_of(v),
        });
        let fork =
            self.core.store.fork_skill(&new, version.as_ref(), now_millis()).await.map_err(|e| {
                match Error::from(e) {
                    Error::Conflict(_) => {
                        Error::Conflict(format!("skill `{target_scope}/{target_slug}` already exists"))
                    }
                    other => other,
                }
            })?;
        let target = format!("{target_scope}/{target_slug}");
        self.core
            .audit(caller, "skill.fork", &target, json!({ "from": origin, "version": source.latest_version }))
            .await;
        Ok(fork)
    }
}

/// Compares two bundles file by file; SKILL.md first, then by path.
pub fn diff_files(a: &Bundle, b: &Bundle) -> Vec<FileChange> {
    let old: std::collections::BTreeMap<&str, &[u8]> =
        a.files.iter().map(|f| (f.path.as_str(), f.data.as_slice())).collect();
    let new: std::collections::BTreeMap<&str, &[u8]> =
        b.files.iter().map(|f| (f.path.as_str(), f.data.as_slice())).collect();
    let mut paths: Vec<&str> = old.keys().chain(new.keys()).copied().collect();
    paths.sort_by_key(|p| (*p != SKILL_MD, *p));
    paths.dedup();
    let mut patch_budget = MAX_PATCHES;
    let deadline = std::time::Instant::now() + DIFF_TIME;
    paths
        .into_iter()
        .filter_map(|path| {
            let (status, before, after) = match (old.get(path), new.get(path)) {
                (None, Some(n)) => (FileStatus::Added, &b""[..], *n),
                (Some(o), None) => (FileStatus::Removed, *o, &b""[..]),
                (Some(o), Some(n)) if o != n => (FileStatus::Modified, *o, *n),
                _ => return None,
            };
            let (additions, deletions, patch) = line_changes(path, before, after, deadline);
            // Past the budget, files are still listed with their counts, without text.
            let patch = patch.filter(|p| p.len() <= patch_budget);
            patch_budget -= patch.as_ref().map_or(0, String::len);
            Some(FileChange { path: path.to_owned(), status, additions, deletions, patch })
        })
        .collect()
}

/// Lines added and removed, and the unified diff; binary (non-UTF-8) content counts as no
/// lines and has no diff.
fn line_changes(
    path: &str,
    before: &[u8],
    after: &[u8],
    deadline: std::time::Instant,
) -> (usize, usize, Option<String>) {
    let (Ok(before), Ok(after)) = (std::str::from_utf8(before), std::str::from_utf8(after)) else {
        return (0, 0, None);
    };
    let diff = similar::TextDiff::configure().deadline(deadline).diff_lines(before, after);
    let (add, del) = diff.iter_all_changes().fold((0, 0), |(add, del), c| match c.tag() {
        similar::ChangeTag::Insert => (add + 1, del),
        similar::ChangeTag::Delete => (add, del + 1),
        similar::ChangeTag::Equal => (add, del),
    });
    if before.len().max(after.len()) > MAX_DIFFED_FILE {
        return (add, del, None);
    }
    let patch = diff.unified_diff().context_radius(3).header(&format!("a/{path}"), &format!("b/{path}")).to_string();
    (add, del, (patch.len() <= MAX_PATCH).then_some(patch))
}
