//! The one gate in front of the embedded OCI store. Every read or write of its content on a
//! caller's behalf — `/v2/`, registering a version by reference, anything later — goes
//! through a [`RepoReader`] or [`RepoWriter`], which can only be had by passing the rules:
//!
//! - Repositories are `<namespace>/<skill>[/…]`. Pulling needs to see the skill (a public one:
//!   anyone; a private one: members), or, for a repository with no skill yet, membership of
//!   the namespace. A repository the caller may not read fails exactly like a missing one.
//! - Content that only drafts reference is readable only by those who may see drafts.
//! - Pushing needs a write token and the publisher role; never into a deleted skill.
//! - Anything a recorded version references (its index, child manifests, blobs, version tag,
//!   signatures and other referrers) is never deleted, re-pointed or overwritten. Signature
//!   tags may only grow (a new signature added beside the old ones).
//! - In a skill's own repository, `latest` and the skill's channels are read-only tags that
//!   follow the index.
//!
//! References into the embedded store are stored without a host (`/ns/name@sha256:…`) and
//! rendered with the server's public host when they are handed out, so data survives a
//! move to another port or host.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use oci_client::Reference;
use serde_json::json;

use super::Registry;
use super::access::{can_see, sees_drafts};
use super::{Caller, Error, Index, Result};
use crate::domain::{Namespace, SkillName, TeamRole, TokenScope, VersionStatus};
use crate::oci::layout::{self, Descriptor, sha256_digest};
use crate::oci::store::{DistError, EmbeddedStore, check_repo, is_tag};
use crate::oci::{ArtifactSource, Credentials, OciError};
use crate::store::{Skill, Version};

/// The most tags one listing gathers before paging.
const MAX_TAGS: i64 = 10_000;

/// The embedded store and the names this server answers to.
#[derive(Clone)]
pub struct EmbeddedRegistry {
    store: Arc<EmbeddedStore>,
    /// The host references are rendered with (`--public-url`'s, else the bound address),
    /// then other spellings of this server (loopback aliases of the bound port).
    hosts: Vec<String>,
}

impl EmbeddedRegistry {
    pub fn new(store: Arc<EmbeddedStore>, host: String, aliases: Vec<String>) -> Self {
        let mut hosts = vec![host];
        hosts.extend(aliases.into_iter().filter(|a| !a.is_empty()));
        hosts.dedup();
        Self { store, hosts }
    }

    /// The host handed-out references name.
    pub fn host(&self) -> &str {
        &self.hosts[0]
    }

    /// The store itself, ungated: for the service's own writes after it has authorized them.
    pub(crate) fn store(&self) -> &Arc<EmbeddedStore> {
        &self.store
    }

    /// Whether `host` names this server, however it is spelled (case, trailing dot, an
    /// explicit default port).
    fn is_self(&self, host: &str) -> bool {
        let wanted = canonical_host(host);
        self.hosts.iter().any(|h| h == host || canonical_host(h) == wanted)
    }
}

/// A stored or rendered reference into the embedded store, taken apart.
struct EmbeddedRef<'a> {
    repo: &'a str,
    /// The digest or tag.
    target: &'a str,
}

/// `repo@digest` or `repo:tag` (or a bare repo, meaning `latest`).
fn split_repo(rest: &str) -> EmbeddedRef<'_> {
    if let Some((repo, digest)) = rest.split_once('@') {
        return EmbeddedRef { repo, target: digest };
    }
    let name_start = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[name_start..].rfind(':') {
        Some(i) => EmbeddedRef { repo: &rest[..name_start + i], target: &rest[name_start + i + 1..] },
        None => EmbeddedRef { repo: rest, target: "latest" },
    }
}

fn repo_parts(repo: &str) -> (Option<Namespace>, Option<SkillName>) {
    let mut parts = repo.split('/');
    let namespace = parts.next().and_then(|n| n.parse().ok());
    let skill = parts.next().and_then(|s| s.parse().ok());
    (namespace, skill)
}

/// A registry's host and port as a connection sees them: lower case, no trailing dot, no
/// brackets, the port a number (the default one when none is written).
fn canonical_host(registry: &str) -> (String, u16) {
    let (host, port) = crate::oci::outbound::split_host_port(registry);
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let default = if crate::oci::registry::is_loopback(registry) { 80 } else { 443 };
    let port = port.and_then(|p| p.parse::<u16>().ok()).unwrap_or(default);
    (host, port)
}

/// `sha256-<hex>` (the referrers fallback index) or `sha256-<hex>.<suffix>` (cosign's
/// signature, attestation and SBOM tags).
fn is_signature_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else { return false };
    let hex = rest.split('.').next().unwrap_or("");
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `new` keeps every entry of `old` exactly, annotations included (a cosign signature
/// lives in its layer's annotations): the layers of a manifest, the manifests of an index.
fn keeps_everything(old: &[u8], new: &[u8]) -> bool {
    let parsed = |bytes: &[u8]| -> Option<serde_json::Value> {
        layout::parse_top(bytes).ok()?;
        serde_json::from_slice(bytes).ok()
    };
    let (Some(old), Some(new)) = (parsed(old), parsed(new)) else { return false };
    let list = |doc: &serde_json::Value| -> Option<(bool, Vec<serde_json::Value>)> {
        match (doc.get("layers"), doc.get("manifests")) {
            (Some(l), None) => Some((false, l.as_array()?.clone())),
            (None, Some(m)) => Some((true, m.as_array()?.clone())),
            _ => None,
        }
    };
    let (Some((old_index, old_entries)), Some((new_index, new_entries))) = (list(&old), list(&new)) else {
        return false;
    };
    // What it is attached to and what it says of itself stay; only new entries may come.
    let annotations =
        |doc: &serde_json::Value| doc.get("annotations").and_then(|a| a.as_object()).cloned().unwrap_or_default();
    let kept_annotations = annotations(&old).iter().all(|(k, v)| annotations(&new).get(k) == Some(v));
    old_index == new_index
        && old.get("subject") == new.get("subject")
        && kept_annotations
        && old_entries.iter().all(|entry| new_entries.contains(entry))
}

impl Index {
    /// Serve and guard this embedded store.
    pub fn with_embedded(mut self, registry: EmbeddedRegistry) -> Self {
        self.embedded = Some(registry);
        self
    }

    pub fn embedded(&self) -> Option<&EmbeddedRegistry> {
        self.embedded.as_ref()
    }

    fn embedded_or_missing(&self) -> Result<&EmbeddedRegistry> {
        self.embedded.as_ref().ok_or_else(|| Error::NotFound("this server has no embedded registry".into()))
    }

    /// Whether a reference (stored or public) points into the embedded store.
    pub(crate) fn is_embedded(&self, reference: &str) -> bool {
        self.embedded.is_some() && self.embedded_part(reference).is_some()
    }

    /// The part of a reference after this server's host, if it points into the embedded store.
    fn embedded_part<'a>(&self, reference: &'a str) -> Option<&'a str> {
        if let Some(rest) = reference.strip_prefix('/') {
            return Some(rest);
        }
        let (host, rest) = reference.split_once('/')?;
        self.embedded.as_ref().filter(|e| e.is_self(host)).map(|_| rest)
    }

    /// How a pinned reference is stored: without a host when it points into the embedded store.
    pub(crate) fn stored_reference(&self, pinned: &str) -> String {
        match self.embedded_part(pinned) {
            Some(rest) => format!("/{rest}"),
            None => pinned.to_owned(),
        }
    }

    /// How a stored reference is handed out: with this server's public host.
    pub fn public_reference(&self, stored: &str) -> String {
        match (stored.strip_prefix('/'), &self.embedded) {
            (Some(rest), Some(e)) => format!("{}/{rest}", e.host()),
            _ => stored.to_owned(),
        }
    }

    /// A version as surfaces show it (its reference rendered).
    pub fn present(&self, mut v: Version) -> Version {
        v.reference = v.reference.map(|r| self.public_reference(&r));
        v
    }

    /// A reference the server reads a recorded version from, and where from: the embedded
    /// store in-process, any other registry over HTTP. Only for versions already recorded,
    /// which their callers were allowed to see.
    pub(crate) fn recorded_source(&self, reference: &str) -> Result<(Reference, &dyn ArtifactSource)> {
        let parsed = crate::oci::parse_reference(&self.public_reference(reference))?;
        match (&self.embedded, self.embedded_part(reference)) {
            (Some(e), Some(_)) => Ok((parsed, e.store.as_ref() as &dyn ArtifactSource)),
            _ => Ok((parsed, self.registries.as_ref() as &dyn ArtifactSource)),
        }
    }

    /// Where a caller-supplied reference is read from on the caller's behalf: this server's
    /// own repositories through the gate, with the caller's rights; other registries as they are.
    pub(crate) async fn source_for_caller<'a>(
        &'a self,
        caller: &'a Caller,
        reference: &str,
        credentials: Option<&Credentials>,
    ) -> Result<CallerView<'a>> {
        let parsed = crate::oci::parse_reference(&self.public_reference(reference))?;
        if self.embedded_part(reference).is_some() {
            return Ok(CallerView::Own(CallerSource { index: self, caller }));
        }
        // The storage registry is this server's too: read with its credentials, but only what
        // the caller could pull from the embedded store.
        if let Some(repo) = self.storage_repository_of(&parsed).await {
            let rights = self
                .registry()
                .pull_rights(caller, &repo)
                .await
                .map_err(|_| Error::from(OciError::NotFound(parsed.whole())))?;
            // Someone who may not see drafts may read only what a released version recorded.
            let released = match &rights.skill {
                Some(skill) if !sees_drafts(rights.role) => Some(
                    self.store
                        .versions(&skill.id)
                        .await?
                        .into_iter()
                        .filter(|v| v.status != VersionStatus::Draft)
                        .filter_map(|v| v.digest)
                        .collect(),
                ),
                _ => None,
            };
            return Ok(CallerView::Remote(StorageSource { registries: self.registries.as_ref(), released }));
        }
        Ok(CallerView::Callers(Box::new(self.registries.for_caller(credentials.cloned()))))
    }

    /// `<namespace>/<name>` when `r` is in the storage registry's repositories, however its
    /// host is spelled: letter case, a trailing dot, a default or zero-padded port, or another
    /// name for the same address all count as the storage registry.
    async fn storage_repository_of(&self, r: &Reference) -> Option<String> {
        let prefix = match &self.storage.as_ref()?.target {
            super::StorageTarget::Registry { prefix } => prefix.trim_end_matches('/'),
            super::StorageTarget::Embedded => return None,
        };
        let storage = crate::oci::parse_reference(&format!("{prefix}/probe:latest")).ok()?;
        let storage_path = storage.repository().strip_suffix("probe")?.trim_end_matches('/');
        let storage_host = storage.resolve_registry();
        // A storage registry given as a bare host keeps its repositories at the top.
        let repo = match storage_path {
            "" => r.repository(),
            path => r.repository().strip_prefix(path)?.strip_prefix('/')?,
        };
        let (a, b) = (canonical_host(r.resolve_registry()), canonical_host(storage_host));
        let same = a == b || {
            let addrs = |(host, port): (String, u16)| async move {
                tokio::net::lookup_host((host, port)).await.map(|a| a.map(|s| s.ip()).collect::<HashSet<_>>()).ok()
            };
            match (addrs(a.clone()).await, addrs(b.clone()).await) {
                (Some(x), Some(y)) => a.1 == b.1 && !x.is_disjoint(&y),
                _ => false,
            }
        };
        same.then(|| repo.to_owned())
    }
}

impl<'a> Registry<'a> {
    /// Rewrites stored references that name this server by a host (as data written before
    /// references were portable did, possibly on another port) to the host-less form.
    /// A loopback host counts as this server when the embedded store holds that very manifest.
    /// Returns how many versions changed.
    pub async fn make_references_portable(&self) -> Result<usize> {
        let Some(registry) = &self.core.embedded else { return Ok(0) };
        let mut moved = 0;
        for (id, reference) in self.core.store.version_references().await? {
            if reference.starts_with('/') {
                continue;
            }
            let Some((host, rest)) = reference.split_once('/') else { continue };
            let ours = registry.is_self(host)
                || (crate::oci::registry::is_loopback(host) && {
                    let r = split_repo(rest);
                    registry.store.manifest_record(r.repo, r.target).await.ok().flatten().is_some()
                });
            if ours {
                self.core.store.set_version_reference(&id, &format!("/{rest}")).await?;
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// Reading `repo` as `caller`: refused exactly like a missing repository unless the caller
    /// may see it (401 for anonymous callers, so clients send credentials).
    pub async fn reader(&self, caller: &Caller, repo: &str) -> Result<RepoReader<'a>> {
        let registry = self.core.embedded_or_missing()?;
        let rights = self.pull_rights(caller, repo).await?;
        let mut reader =
            RepoReader { index: self.core, registry, repo: repo.to_owned(), skill: None, hidden: HashSet::new() };
        if let Some(skill) = rights.skill {
            if !sees_drafts(rights.role) {
                reader.hidden = reader.draft_only(&skill).await?;
            }
            if rights.own {
                reader.skill = Some(skill);
            }
        }
        Ok(reader)
    }

    /// Whether `caller` may pull from `repo`, by the rules of the skill it belongs to.
    async fn pull_rights(&self, caller: &Caller, repo: &str) -> Result<PullRights> {
        check_repo(repo).map_err(Error::Registry)?;
        let (namespace, name) = repo_parts(repo);
        let hidden = || match caller {
            Caller::Anonymous => Error::Unauthenticated("authentication required".into()),
            Caller::User(_) => Error::NotFound(format!("repository `{repo}` not found")),
        };
        let Some(namespace) = namespace else { return Err(hidden()) };
        let skill = match &name {
            Some(name) => self.core.store.skill(namespace.as_str(), name.as_str()).await?,
            None => None,
        };
        let role = self.core.role_in(caller, namespace.as_str()).await?;
        let visible = match &skill {
            Some(s) => can_see(s, role),
            None => role.is_some(),
        };
        if !visible {
            return Err(hidden());
        }
        // Channels are tags of the skill's own repository only.
        let own = name.is_some_and(|n| repo == format!("{namespace}/{n}"));
        Ok(PullRights { skill, role, own })
    }

    /// Writing to `repo` as `caller`: a write token and the publisher role, and never into a
    /// deleted skill's repository.
    pub async fn writer(&self, caller: &'a Caller, repo: &str) -> Result<RepoWriter<'a>> {
        let registry = self.core.embedded_or_missing()?;
        check_repo(repo).map_err(Error::Registry)?;
        let (namespace, name) = repo_parts(repo);
        let Some(namespace) = namespace else {
            caller.require_publish()?;
            return Err(Error::Forbidden(format!("`{repo}` is in no namespace you may publish to")));
        };
        // The same check as creating a skill: a write token, the publisher role.
        self.core.require_publisher_in(caller, &namespace).await?;
        let skill = match &name {
            Some(name) => self.core.store.skill(namespace.as_str(), name.as_str()).await?,
            None => None,
        };
        if let Some(s) = skill.as_ref().filter(|s| s.deleted_at.is_some()) {
            return Err(Error::Forbidden(format!(
                "skill `{}/{}` is deleted; restore it before pushing to its repository",
                s.namespace, s.name
            )));
        }
        let own = name.is_some_and(|n| repo == format!("{namespace}/{n}"));
        Ok(RepoWriter { index: self.core, registry, caller, repo: repo.to_owned(), skill: skill.filter(|_| own) })
    }
}

/// What is attached to the manifest `top` in `repo`: the manifests its signature, attestation
/// and SBOM tags (`sha256-<hex>.sig`, …, and the referrers fallback `sha256-<hex>`) name, and
/// its referrers.
async fn attached(store: &EmbeddedStore, repo: &str, top: &str) -> Result<Vec<String>> {
    let hex = top.trim_start_matches("sha256:");
    let mut found = Vec::new();
    for suffix in [".sig", ".att", ".sbom", ""] {
        found.extend(store.tag_target(repo, &format!("sha256-{hex}{suffix}")).await?);
    }
    let index = store.referrers(repo, top, None).await?;
    let listing: layout::Index = serde_json::from_slice(&index).map_err(|e| Error::Internal(e.to_string()))?;
    found.extend(listing.manifests.into_iter().map(|d| d.digest));
    Ok(found)
}

/// What a caller allowed to pull from a repository may do there.
struct PullRights {
    /// The skill the repository belongs to, if it exists.
    skill: Option<Skill>,
    role: Option<TeamRole>,
    /// Whether the repository is the skill's own (`<namespace>/<name>` exactly).
    own: bool,
}

/// Read access to one repository, granted by [`Registry::reader`].
pub struct RepoReader<'a> {
    index: &'a Index,
    registry: &'a EmbeddedRegistry,
    repo: String,
    /// The skill this is the repository of, for its channel tags.
    skill: Option<Skill>,
    /// Digests only drafts reference, when the caller may not see drafts.
    hidden: HashSet<String>,
}

impl RepoReader<'_> {
    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// Content of this repository that only drafts of `skill` reference.
    async fn draft_only(&self, skill: &Skill) -> Result<HashSet<String>> {
        let versions = self.index.store.versions(&skill.id).await?;
        if versions.iter().all(|v| v.status != VersionStatus::Draft) {
            return Ok(HashSet::new());
        }
        let (mut drafts, mut others) = (Vec::new(), Vec::new());
        for v in &versions {
            let Some(digest) = self.digest_here(v) else { continue };
            if v.status == VersionStatus::Draft { drafts.push(digest) } else { others.push(digest) }
        }
        let store = &self.registry.store;
        let others = store.closure(others).await;
        // A draft's signatures and other referrers are the draft's too.
        let mut roots = drafts.clone();
        for top in drafts.iter().filter(|d| !others.contains(*d)) {
            roots.extend(attached(store, &self.repo, top).await?);
        }
        Ok(store.closure(roots).await.difference(&others).cloned().collect())
    }

    /// The digest of a version whose artifact lives in this repository.
    fn digest_here(&self, v: &Version) -> Option<String> {
        let rest = self.index.embedded_part(v.reference.as_deref()?)?;
        let r = split_repo(rest);
        (r.repo == self.repo).then(|| r.target.to_owned())
    }

    /// `Some(digest)` when `tag` is a channel of this repository's skill (`latest` included):
    /// the digest its version has here, if it may be read. `None` when it is not a channel.
    async fn channel(&self, tag: &str) -> Result<Option<Option<String>>> {
        let Some(skill) = &self.skill else { return Ok(None) };
        let version = if tag == "latest" {
            skill.latest_version.clone()
        } else {
            let channels = self.index.store.channels(&skill.id).await?;
            match channels.into_iter().find(|c| c.name == tag) {
                Some(c) => c.version,
                None => return Ok(None),
            }
        };
        let Some(version) = version else { return Ok(Some(None)) };
        let found = self.index.store.version(&skill.id, &version).await?;
        let digest = found
            .filter(|v| v.status != VersionStatus::Draft)
            .and_then(|v| self.digest_here(&v))
            .filter(|d| !self.hidden.contains(d));
        Ok(Some(digest))
    }

    async fn digest_of(&self, reference: &str) -> Result<String> {
        let digest = if is_tag(reference) {
            match self.channel(reference).await? {
                Some(d) => d,
                None => self.registry.store.tag_target(&self.repo, reference).await?,
            }
            .ok_or(DistError::ManifestUnknown)?
        } else {
            crate::oci::store::check_digest(reference)?;
            reference.to_owned()
        };
        if self.hidden.contains(&digest) {
            return Err(DistError::ManifestUnknown.into());
        }
        Ok(digest)
    }

    /// A manifest by tag (channels included) or digest: its bytes, media type and digest.
    pub async fn manifest(&self, reference: &str) -> Result<(Vec<u8>, String, String)> {
        let digest = self.digest_of(reference).await?;
        Ok(self.registry.store.manifest(&self.repo, &digest).await?)
    }

    /// A blob: its file and size.
    pub async fn blob(&self, digest: &str) -> Result<(std::path::PathBuf, u64)> {
        if self.hidden.contains(digest) {
            return Err(DistError::BlobUnknown.into());
        }
        Ok(self.registry.store.blob(&self.repo, digest).await?)
    }

    /// Counts a pull of a version's content layer (the skill's archive) as a download of the
    /// skill, like a download on any other surface; other blobs are not downloads.
    pub async fn count_pull(&self, digest: &str) {
        let (Some(skill), Some(hex)) = (&self.skill, digest.strip_prefix("sha256:")) else { return };
        match self.index.store.versions(&skill.id).await {
            Ok(versions) if versions.iter().any(|v| v.archive_sha256.as_deref() == Some(hex)) => {
                self.index.usage().record(skill, crate::store::UsageEvent::Download).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a pull was not counted"),
        }
    }

    /// Tags after `last`, at most `n`, in order: the stored ones the caller may read, and the
    /// skill's channels.
    pub async fn tags(&self, last: Option<&str>, n: i64) -> Result<Vec<String>> {
        let store = &self.registry.store;
        let channels: Vec<String> = match &self.skill {
            Some(skill) => std::iter::once("latest".to_owned())
                .chain(self.index.store.channels(&skill.id).await?.into_iter().map(|c| c.name))
                .collect(),
            None => Vec::new(),
        };
        let mut tags = Vec::new();
        for tag in store.tags(&self.repo, None, MAX_TAGS).await? {
            if channels.contains(&tag) {
                continue;
            }
            // Only drafts make a listing look at what tags point to.
            if !self.hidden.is_empty() {
                let target = store.tag_target(&self.repo, &tag).await?;
                if target.is_some_and(|d| self.hidden.contains(&d)) {
                    continue;
                }
            }
            tags.push(tag);
        }
        for name in channels {
            if !tags.contains(&name) && matches!(self.channel(&name).await?, Some(Some(_))) {
                tags.push(name);
            }
        }
        tags.sort();
        tags.retain(|t| last.is_none_or(|l| t.as_str() > l));
        tags.truncate(n.max(0) as usize);
        Ok(tags)
    }

    /// The referrers index of `digest`, filtered by artifact type.
    pub async fn referrers(&self, digest: &str, artifact_type: Option<&str>) -> Result<Vec<u8>> {
        crate::oci::store::check_digest(digest)?;
        if self.hidden.contains(digest) {
            return Ok(serde_json::to_vec(&layout::Index::listing(Vec::new())).expect("serialize"));
        }
        Ok(self.registry.store.referrers(&self.repo, digest, artifact_type).await?)
    }
}

/// Write access to one repository, granted by [`Registry::writer`].
pub struct RepoWriter<'a> {
    index: &'a Index,
    registry: &'a EmbeddedRegistry,
    caller: &'a Caller,
    repo: String,
    /// The skill this is the repository of, for its channel tags.
    skill: Option<Skill>,
}

impl RepoWriter<'_> {
    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// Starts a blob upload into this repository; its id.
    pub async fn start_upload(&self) -> Result<String> {
        Ok(self.registry.store.start_upload(&self.repo).await?)
    }

    /// How many bytes an upload of this repository holds so far.
    pub async fn upload_size(&self, id: &str) -> Result<u64> {
        Ok(self.registry.store.upload_size(&self.repo, id).await?)
    }

    /// The largest blob this repository takes (the configured `registry_blob` limit).
    pub fn max_blob(&self) -> u64 {
        self.index.limits.registry_blob
    }

    /// Appends a request body to an upload, at most `max_blob` in all, giving up when the body
    /// stalls for `idle` (see `EmbeddedStore::append_upload`).
    pub async fn append_upload<S>(&self, id: &str, start: Option<u64>, body: S, idle: Duration) -> Result<u64>
    where
        S: futures_util::Stream<Item = std::result::Result<bytes::Bytes, std::io::Error>> + Unpin + Send,
    {
        let limits = (self.max_blob(), idle);
        Ok(self.registry.store.append_upload(&self.repo, id, start, body, limits).await?)
    }

    /// Completes an upload as the blob `digest`.
    pub async fn finish_upload(&self, id: &str, digest: &str) -> Result<u64> {
        Ok(self.registry.store.finish_upload(&self.repo, id, digest).await?)
    }

    pub async fn cancel_upload(&self, id: &str) -> Result<()> {
        Ok(self.registry.store.cancel_upload(&self.repo, id).await?)
    }

    /// Whether `tag` is a read-only channel tag here.
    async fn is_channel(&self, tag: &str) -> Result<bool> {
        let Some(skill) = &self.skill else { return Ok(false) };
        Ok(tag == "latest" || self.index.store.channels(&skill.id).await?.iter().any(|c| c.name == tag))
    }

    /// Everything recorded versions reference in this repository: their artifacts, and the
    /// signatures and other referrers attached to them.
    async fn protected(&self) -> Result<(HashSet<String>, Vec<Version>)> {
        let versions = self.index.store.versions_by_reference(&format!("/{}@", self.repo)).await?;
        let store = &self.registry.store;
        let tops: Vec<String> = versions
            .iter()
            .filter_map(|v| v.reference.as_deref())
            .map(|r| split_repo(&r[1..]).target.to_owned())
            .collect();
        let mut roots = tops.clone();
        for top in &tops {
            roots.extend(attached(store, &self.repo, top).await?);
        }
        Ok((store.closure(roots).await, versions))
    }

    fn immutable(&self, what: &str) -> Error {
        Error::Forbidden(format!(
            "{what} in `{}` belongs to a recorded version; published versions never change (yank or delete the skill instead)",
            self.repo
        ))
    }

    /// Stores a manifest under a tag or its digest, unless that would re-point a channel or
    /// anything a recorded version references.
    pub async fn put_manifest(
        &self,
        reference: &str,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<(String, Option<String>)> {
        if is_tag(reference) {
            if self.is_channel(reference).await? {
                return Err(Error::Forbidden(format!(
                    "`{reference}` is a channel tag: it follows the index and cannot be pushed; move the channel with the API"
                )));
            }
            let new = sha256_digest(bytes);
            let (protected, versions) = self.protected().await?;
            let store = &self.registry.store;
            let current = store.tag_target(&self.repo, reference).await?.filter(|c| *c != new);
            if let Some(current) = current.filter(|c| protected.contains(c)) {
                let (old, _, _) = store.manifest(&self.repo, &current).await?;
                if !(is_signature_tag(reference) && keeps_everything(&old, bytes)) {
                    return Err(self.immutable(&format!("tag `{reference}`")));
                }
            }
            // A version's own tag in its skill's repository keeps naming its artifact, even if
            // the tag was lost. (Versions of other skills that reference this repository pin
            // content, not tags.)
            let own = |v: &&Version| self.skill.as_ref().is_some_and(|s| s.id == v.skill_id);
            if versions.iter().filter(own).any(|v| v.version == reference && v.digest.as_deref() != Some(new.as_str()))
            {
                return Err(self.immutable(&format!("tag `{reference}`")));
            }
        }
        let stored = self.registry.store.put_manifest(&self.repo, reference, content_type, bytes).await?;
        if is_tag(reference) {
            let detail = json!({ "tag": reference, "digest": stored.0 });
            self.index.audit(self.caller, "registry.tag.push", &self.repo, detail).await;
        }
        Ok(stored)
    }

    /// Deletes a tag or a manifest, unless a channel or a recorded version needs it. Deleting
    /// is not publishing: it takes a standard write token (never an agent token).
    pub async fn delete_manifest(&self, reference: &str) -> Result<()> {
        self.caller.require(TokenScope::Write)?;
        let store = &self.registry.store;
        let digest = if is_tag(reference) {
            if self.is_channel(reference).await? {
                return Err(Error::Forbidden(format!("`{reference}` is a channel tag and cannot be deleted")));
            }
            store.tag_target(&self.repo, reference).await?.ok_or(DistError::ManifestUnknown)?
        } else {
            crate::oci::store::check_digest(reference)?;
            reference.to_owned()
        };
        let (protected, _) = self.protected().await?;
        if protected.contains(&digest) {
            let what = if is_tag(reference) { format!("tag `{reference}`") } else { format!("manifest {digest}") };
            return Err(self.immutable(&what));
        }
        store.delete_manifest(&self.repo, reference).await?;
        self.index.audit(self.caller, "registry.manifest.delete", &self.repo, json!({ "reference": reference })).await;
        Ok(())
    }

    /// Makes a blob that `from` may serve available here (cross-repository mount); `false`
    /// when it cannot, so the client uploads it instead.
    pub async fn mount(&self, from: &RepoReader<'_>, digest: &str) -> Result<bool> {
        if from.blob(digest).await.is_err() {
            return Ok(false);
        }
        Ok(self.registry.store.mount(&self.repo, from.repo(), digest).await?)
    }
}

/// Where a fetch on a caller's behalf reads from.
pub(crate) enum CallerView<'a> {
    /// The embedded store, through the gate.
    Own(CallerSource<'a>),
    /// The storage registry, with the server's credentials, once the gate allowed it.
    Remote(StorageSource<'a>),
    /// Any other registry, with the caller's credentials or none.
    Callers(Box<crate::oci::Registries>),
}

impl CallerView<'_> {
    pub(crate) fn source(&self) -> &dyn ArtifactSource {
        match self {
            CallerView::Own(s) => s,
            CallerView::Remote(r) => r,
            CallerView::Callers(r) => r.as_ref(),
        }
    }
}

/// The storage registry read on a caller's behalf: when `released` is set (the caller may
/// not see drafts), a reference must resolve to an artifact a released version recorded.
/// Every fetch resolves its reference first, so checking there covers what follows.
pub(crate) struct StorageSource<'a> {
    registries: &'a crate::oci::Registries,
    released: Option<HashSet<String>>,
}

#[async_trait]
impl ArtifactSource for StorageSource<'_> {
    async fn resolve(&self, r: &Reference) -> Result<String, OciError> {
        let digest = ArtifactSource::resolve(self.registries, r).await?;
        match &self.released {
            Some(released) if !released.contains(&digest) => Err(OciError::NotFound(r.whole())),
            _ => Ok(digest),
        }
    }

    async fn manifest(&self, r: &Reference) -> Result<(Vec<u8>, String), OciError> {
        ArtifactSource::manifest(self.registries, r).await
    }

    async fn blob(&self, repo: &Reference, desc: &Descriptor, max: u64) -> Result<Vec<u8>, OciError> {
        ArtifactSource::blob(self.registries, repo, desc, max).await
    }

    async fn referrers(&self, subject: &Reference) -> Result<Vec<Descriptor>, OciError> {
        ArtifactSource::referrers(self.registries, subject).await
    }
}

/// This server's own repositories read with a caller's rights, for fetches by reference.
/// Whatever the caller may not read is reported as not found, like a missing repository.
pub(crate) struct CallerSource<'a> {
    index: &'a Index,
    caller: &'a Caller,
}

impl CallerSource<'_> {
    async fn reader(&self, r: &Reference) -> Result<RepoReader<'_>, OciError> {
        self.index.registry().reader(self.caller, r.repository()).await.map_err(|_| OciError::NotFound(r.whole()))
    }
}

fn not_found(what: String) -> impl FnOnce(Error) -> OciError {
    move |_| OciError::NotFound(what)
}

#[async_trait]
impl ArtifactSource for CallerSource<'_> {
    async fn resolve(&self, r: &Reference) -> Result<String, OciError> {
        let reader = self.reader(r).await?;
        let target = r.digest().or(r.tag()).unwrap_or("latest");
        Ok(reader.manifest(target).await.map_err(not_found(r.whole()))?.2)
    }

    async fn manifest(&self, r: &Reference) -> Result<(Vec<u8>, String), OciError> {
        let reader = self.reader(r).await?;
        let target = r.digest().or(r.tag()).unwrap_or("latest");
        let (bytes, _, digest) = reader.manifest(target).await.map_err(not_found(r.whole()))?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(OciError::DigestMismatch { what: r.whole(), expected: digest, actual });
        }
        Ok((bytes, digest))
    }

    async fn blob(&self, repo: &Reference, desc: &Descriptor, max: u64) -> Result<Vec<u8>, OciError> {
        let reader = self.reader(repo).await?;
        let what = format!("{}@{}", repo.repository(), desc.digest);
        reader.blob(&desc.digest).await.map_err(not_found(what))?;
        crate::oci::ArtifactSource::blob(
            self.index.embedded_or_missing().map_err(not_found(repo.whole()))?.store.as_ref(),
            repo,
            desc,
            max,
        )
        .await
    }

    async fn referrers(&self, subject: &Reference) -> Result<Vec<Descriptor>, OciError> {
        let reader = self.reader(subject).await?;
        let digest = subject.digest().unwrap_or_default();
        let bytes = reader.referrers(digest, None).await.map_err(not_found(subject.whole()))?;
        let index: layout::Index =
            serde_json::from_slice(&bytes).map_err(|e| OciError::Registry(subject.whole(), e.to_string()))?;
        Ok(index.manifests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_target() {
        let r = split_repo("acme/demo@sha256:ab");
        assert_eq!((r.repo, r.target), ("acme/demo", "sha256:ab"));
        let r = split_repo("acme/demo:1.0.0");
        assert_eq!((r.repo, r.target), ("acme/demo", "1.0.0"));
        let r = split_repo("acme/demo");
        assert_eq!((r.repo, r.target), ("acme/demo", "latest"));
    }

    #[test]
    fn hosts_compare_as_connections_see_them() {
        assert_eq!(canonical_host("Skills.Example.com."), ("skills.example.com".into(), 443));
        assert_eq!(canonical_host("skills.example.com:443"), canonical_host("skills.example.com"));
        assert_eq!(canonical_host("127.0.0.1:08080"), ("127.0.0.1".into(), 8080));
        assert_eq!(canonical_host("[::1]:5000"), ("::1".into(), 5000));
        assert_ne!(canonical_host("skills.example.com:8443"), canonical_host("skills.example.com"));
    }

    #[test]
    fn signature_tags_are_recognised() {
        let hex = "a".repeat(64);
        assert!(is_signature_tag(&format!("sha256-{hex}.sig")));
        assert!(is_signature_tag(&format!("sha256-{hex}")));
        assert!(!is_signature_tag("sha256-abc.sig"));
        assert!(!is_signature_tag("1.0.0"));
    }

    #[test]
    fn signature_manifests_may_only_grow() {
        let manifest = |layers: &[&str]| {
            let layers: Vec<_> = layers
                .iter()
                .map(|d| json!({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": d, "size": 1}))
                .collect();
            serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", "c".repeat(64)), "size": 2},
                "layers": layers,
            }))
            .unwrap()
        };
        let (a, b) = (format!("sha256:{}", "a".repeat(64)), format!("sha256:{}", "b".repeat(64)));
        assert!(keeps_everything(&manifest(&[&a]), &manifest(&[&a, &b])), "a signature added beside the old one");
        assert!(!keeps_everything(&manifest(&[&a]), &manifest(&[&b])), "the old signature replaced");
        assert!(!keeps_everything(&manifest(&[&a]), b"not json"));
        // The same payload with another signature in its annotations is a replacement.
        let mut forged: serde_json::Value = serde_json::from_slice(&manifest(&[&a])).unwrap();
        forged["layers"][0]["annotations"] = json!({"dev.cosignproject.cosign/signature": "EVIL"});
        assert!(!keeps_everything(&manifest(&[&a]), &serde_json::to_vec(&forged).unwrap()));
    }
}
