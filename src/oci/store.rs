//! The embedded OCI store: an OCI image layout under the data dir (`oci-layout`,
//! `index.json`, `blobs/sha256/…`) that any layout reader (skopeo, umoci) can open, plus
//! per-repository metadata in the index database (which repository may serve which blob,
//! its manifests, tags and referrers).
//!
//! Every write lands in a temporary file first and becomes visible by rename, only after
//! its digest was checked, so a crash never leaves a partial blob under a digest name.
//! Acknowledged manifests are database rows committed after their blobs are in place.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::layout::{self, Descriptor, Index, TopLevel, media};
use crate::domain::{new_id, now_millis};
use crate::store::{OciManifest, Store, StoreError};

/// Largest manifest the store accepts.
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;
/// How long an upload may sit unfinished before it is swept.
pub const UPLOAD_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Failures in the distribution spec's vocabulary (its error codes).
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("blob unknown to registry")]
    BlobUnknown,
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    #[error("manifest references a manifest or blob unknown to registry: {0}")]
    ManifestBlobUnknown(String),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest unknown to registry")]
    ManifestUnknown,
    #[error("invalid repository name")]
    NameInvalid,
    #[error("repository name not known to registry")]
    NameUnknown,
    #[error("provided length did not match content length: {0}")]
    SizeInvalid(String),
    #[error("the requested range cannot be satisfied")]
    RangeInvalid,
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("invalid number of results requested: {0}")]
    PaginationInvalid(String),
    #[error("storage failure: {0}")]
    Storage(String),
    /// The disk under the store is full; nothing was stored.
    #[error("the registry's storage is full; nothing was stored")]
    Full,
    /// The index the store keeps its records in cannot be reached right now.
    #[error("{0}")]
    Unavailable(String),
}

impl DistError {
    /// The spec's error code.
    pub fn code(&self) -> &'static str {
        match self {
            DistError::BlobUnknown => "BLOB_UNKNOWN",
            DistError::BlobUploadInvalid(_) => "BLOB_UPLOAD_INVALID",
            DistError::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            DistError::DigestInvalid(_) => "DIGEST_INVALID",
            DistError::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            DistError::ManifestInvalid(_) => "MANIFEST_INVALID",
            DistError::ManifestUnknown => "MANIFEST_UNKNOWN",
            DistError::NameInvalid => "NAME_INVALID",
            DistError::NameUnknown => "NAME_UNKNOWN",
            DistError::SizeInvalid(_) => "SIZE_INVALID",
            DistError::RangeInvalid => "RANGE_INVALID",
            DistError::Unsupported(_) => "UNSUPPORTED",
            DistError::TooLarge(_) => "SIZE_INVALID",
            DistError::PaginationInvalid(_) => "PAGINATION_NUMBER_INVALID",
            DistError::Storage(_) | DistError::Full | DistError::Unavailable(_) => "UNKNOWN",
        }
    }
}

impl DistError {
    /// The HTTP status this failure answers with.
    pub fn status(&self) -> u16 {
        match self {
            DistError::BlobUnknown
            | DistError::BlobUploadUnknown
            | DistError::ManifestUnknown
            | DistError::NameUnknown => 404,
            DistError::RangeInvalid => 416,
            DistError::Unsupported(_) => 405,
            DistError::TooLarge(_) => 413,
            DistError::Storage(_) => 500,
            DistError::Full => 507,
            DistError::Unavailable(_) => 503,
            _ => 400,
        }
    }
}

impl From<std::io::Error> for DistError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull {
            tracing::error!("the embedded store's disk is full");
            return DistError::Full;
        }
        DistError::Storage(e.to_string())
    }
}

impl From<StoreError> for DistError {
    fn from(e: StoreError) -> Self {
        match e.outage() {
            Some(crate::store::Outage::Full) => DistError::Full,
            Some(crate::store::Outage::Unavailable) => {
                DistError::Unavailable("the registry's index is unavailable right now; try again shortly".into())
            }
            None => DistError::Storage(e.to_string()),
        }
    }
}

type DResult<T> = Result<T, DistError>;

/// `sha256:<64 hex>`, the only digest algorithm the store takes.
pub fn check_digest(d: &str) -> DResult<&str> {
    match d.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
            Ok(hex)
        }
        Some(_) => Err(DistError::DigestInvalid(format!("`{}` is not a sha256 digest", d.escape_debug()))),
        None => {
            Err(DistError::Unsupported(format!("digest algorithm of `{}`; only sha256 is supported", d.escape_debug())))
        }
    }
}

/// Repository names as the distribution spec allows them (`a/b-c/d_e`), at most 255 bytes.
pub fn check_repo(name: &str) -> DResult<()> {
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&x| x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, b'.' | b'_' | b'-'))
            && !c.contains("..")
            && !c.contains("___")
    };
    if name.len() <= 255 && name.split('/').all(component_ok) { Ok(()) } else { Err(DistError::NameInvalid) }
}

/// Tags as the distribution spec allows them.
pub fn is_tag(r: &str) -> bool {
    let b = r.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'.' | b'_' | b'-'))
}

fn hex_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub struct EmbeddedStore {
    root: PathBuf,
    store: Arc<dyn Store>,
    layout_index: Arc<LayoutIndex>,
    /// Wakes the task that rewrites `index.json` once manifests were stored; when full, a
    /// rewrite is already due and will see this change too.
    index_due: tokio::sync::mpsc::Sender<()>,
}

/// The least time between two rewrites of `index.json` prompted by stored manifests, and
/// how many times the last rewrite took: under a stream of pushes the whole-catalog rewrite
/// takes a bounded share of the server's time, whatever the catalog's size.
const INDEX_GAP: Duration = Duration::from_millis(200);
const INDEX_GAP_FACTOR: u32 = 4;

/// The layout's `index.json`, written from the database: the database is the truth, the
/// file is what layout readers (skopeo's `oci:`) see of it.
struct LayoutIndex {
    root: PathBuf,
    store: Arc<dyn Store>,
    /// One rewrite at a time, each reading the database after the previous one wrote, so
    /// the last write always holds the latest state.
    lock: tokio::sync::Mutex<()>,
}

impl EmbeddedStore {
    /// Opens (creating) the layout at `root` and rewrites `index.json` from the database; a
    /// task of the current Tokio runtime keeps it following later pushes.
    pub async fn open(root: &Path, store: Arc<dyn Store>) -> DResult<Self> {
        tokio::fs::create_dir_all(root.join("blobs/sha256")).await?;
        tokio::fs::create_dir_all(root.join("uploads")).await?;
        tokio::fs::create_dir_all(root.join("tmp")).await?;
        // Leftovers of writes interrupted by a crash were never visible; drop them.
        let mut tmp = tokio::fs::read_dir(root.join("tmp")).await?;
        while let Some(entry) = tmp.next_entry().await? {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
        let layout = root.join("oci-layout");
        if tokio::fs::metadata(&layout).await.is_err() {
            write_atomic(root, &layout, br#"{"imageLayoutVersion":"1.0.0"}"#).await?;
        }
        let layout_index =
            Arc::new(LayoutIndex { root: root.to_owned(), store: store.clone(), lock: tokio::sync::Mutex::new(()) });
        layout_index.write().await?;
        let (index_due, due) = tokio::sync::mpsc::channel(1);
        tokio::spawn(keep_layout_index(layout_index.clone(), due));
        Ok(Self { root: root.to_owned(), store, layout_index, index_due })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &str) -> DResult<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(check_digest(digest)?))
    }

    /// A blob the repository may serve: its path and size.
    pub async fn blob(&self, repo: &str, digest: &str) -> DResult<(PathBuf, u64)> {
        let path = self.blob_path(digest)?;
        let size = self.store.oci_blob(repo, digest).await?.ok_or(DistError::BlobUnknown)?;
        match tokio::fs::metadata(&path).await {
            Ok(_) => Ok((path, size as u64)),
            Err(_) => Err(DistError::BlobUnknown),
        }
    }

    /// Stores verified bytes under their digest (atomically) and links them to `repo`.
    pub async fn put_blob(&self, repo: &str, digest: &str, data: &[u8]) -> DResult<()> {
        let target = self.blob_path(digest)?;
        let actual = hex_digest(data);
        if actual != digest {
            return Err(DistError::DigestInvalid(format!("content is {actual}")));
        }
        if tokio::fs::metadata(&target).await.is_err() {
            write_atomic(&self.root, &target, data).await?;
        }
        self.store.oci_link_blob(repo, digest, data.len() as i64, now_millis()).await?;
        Ok(())
    }

    /// Makes a blob another repository has available here (cross-repository mount).
    pub async fn mount(&self, repo: &str, from: &str, digest: &str) -> DResult<bool> {
        check_digest(digest)?;
        match self.store.oci_blob(from, digest).await? {
            Some(size) if tokio::fs::metadata(self.blob_path(digest)?).await.is_ok() => {
                self.store.oci_link_blob(repo, digest, size, now_millis()).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn upload_paths(&self, id: &str) -> DResult<(PathBuf, PathBuf)> {
        if id.len() != 36 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(DistError::BlobUploadUnknown);
        }
        let dir = self.root.join("uploads");
        Ok((dir.join(format!("{id}.data")), dir.join(format!("{id}.repo"))))
    }

    pub async fn start_upload(&self, repo: &str) -> DResult<String> {
        let id = new_id();
        let (data, owner) = self.upload_paths(&id)?;
        tokio::fs::write(&owner, repo).await?;
        tokio::fs::write(&data, b"").await?;
        Ok(id)
    }

    /// The upload's current size, if it exists and belongs to `repo`.
    pub async fn upload_size(&self, repo: &str, id: &str) -> DResult<u64> {
        let (data, owner) = self.upload_paths(id)?;
        match tokio::fs::read_to_string(&owner).await {
            Ok(r) if r == repo => Ok(tokio::fs::metadata(&data).await.map_err(|_| DistError::BlobUploadUnknown)?.len()),
            _ => Err(DistError::BlobUploadUnknown),
        }
    }

    /// Appends a request body to an upload as it arrives, straight to disk; `start`, when
    /// given, must be where the upload ends now. Refused past `max` bytes in all, and when
    /// the body stalls for longer than `idle`. Returns the upload's new size.
    pub async fn append_upload<S>(
        &self,
        repo: &str,
        id: &str,
        start: Option<u64>,
        mut body: S,
        (max, idle): (u64, Duration),
    ) -> DResult<u64>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Unpin + Send,
    {
        use futures_util::StreamExt as _;
        let mut size = self.upload_size(repo, id).await?;
        if start.is_some_and(|s| s != size) {
            return Err(DistError::RangeInvalid);
        }
        let (data, _) = self.upload_paths(id)?;
        let mut f = tokio::fs::OpenOptions::new().append(true).open(&data).await?;
        loop {
            let chunk = match tokio::time::timeout(idle, body.next()).await {
                Ok(Some(Ok(chunk))) => chunk,
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(DistError::BlobUploadInvalid(format!("the body was cut off: {e}"))),
                Err(_) => return Err(DistError::BlobUploadInvalid("the body stalled".into())),
            };
            size += chunk.len() as u64;
            if size > max {
                drop(f);
                let _ = self.cancel_upload(repo, id).await;
                return Err(DistError::TooLarge(format!("blobs may be at most {max} bytes")));
            }
            f.write_all(&chunk).await?;
        }
        f.flush().await?;
        Ok(size)
    }

    /// Completes an upload whose bytes are all in: they must hash to `digest`; then they
    /// become the blob. Returns its size.
    pub async fn finish_upload(&self, repo: &str, id: &str, digest: &str) -> DResult<u64> {
        check_digest(digest)?;
        self.upload_size(repo, id).await?;
        let (data, owner) = self.upload_paths(id)?;
        let (actual, size) = hash_file(&data).await?;
        if actual != digest {
            self.cancel_upload(repo, id).await?;
            return Err(DistError::DigestInvalid(format!("uploaded content is {actual}")));
        }
        let target = self.blob_path(digest)?;
        if tokio::fs::metadata(&target).await.is_err() {
            tokio::fs::rename(&data, &target).await?;
        } else {
            let _ = tokio::fs::remove_file(&data).await;
        }
        let _ = tokio::fs::remove_file(&owner).await;
        self.store.oci_link_blob(repo, digest, size as i64, now_millis()).await?;
        Ok(size)
    }

    pub async fn cancel_upload(&self, repo: &str, id: &str) -> DResult<()> {
        self.upload_size(repo, id).await?;
        let (data, owner) = self.upload_paths(id)?;
        let _ = tokio::fs::remove_file(data).await;
        let _ = tokio::fs::remove_file(owner).await;
        Ok(())
    }

    /// Removes uploads untouched for longer than `ttl`.
    pub async fn sweep_uploads(&self, ttl: Duration) -> DResult<usize> {
        let mut removed = 0;
        let mut dir = tokio::fs::read_dir(self.root.join("uploads")).await?;
        while let Some(entry) = dir.next_entry().await? {
            let old =
                entry.metadata().await?.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age > ttl);
            if old {
                let _ = tokio::fs::remove_file(entry.path()).await;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Stores a manifest pushed under `reference` (a tag or its digest). Everything it
    /// references must already be in the repository. Returns its digest and subject.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> DResult<(String, Option<String>)> {
        if bytes.len() > MAX_MANIFEST {
            return Err(DistError::ManifestInvalid(format!("larger than {MAX_MANIFEST} bytes")));
        }
        let digest = hex_digest(bytes);
        let tag = if is_tag(reference) {
            Some(reference)
        } else {
            check_digest(reference)?;
            if reference != digest {
                return Err(DistError::DigestInvalid(format!("the manifest is {digest}, not {reference}")));
            }
            None
        };
        let invalid = |e: layout::LayoutError| DistError::ManifestInvalid(e.0);
        let parsed = layout::parse_top(bytes).map_err(invalid)?;
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| DistError::ManifestInvalid(e.to_string()))?;
        let declared = doc.get("mediaType").and_then(|m| m.as_str());
        let media_type = match (&parsed, declared) {
            (_, Some(m)) => m.to_owned(),
            (TopLevel::Index(_), None) => media::INDEX.to_owned(),
            (TopLevel::Manifest(_), None) => media::MANIFEST.to_owned(),
        };
        // It is served back as a header: printable ASCII only.
        if media_type.is_empty() || media_type.len() > 255 || !media_type.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DistError::ManifestInvalid("mediaType is not a media type".into()));
        }
        let ct = content_type.map(|c| c.split(';').next().unwrap_or("").trim()).unwrap_or("");
        if !ct.is_empty() && ct != media_type && declared.is_some() {
            return Err(DistError::ManifestInvalid(format!("Content-Type {ct} differs from mediaType {media_type}")));
        }
        let (artifact_type, subject, annotations, blobs) = match &parsed {
            TopLevel::Manifest(m) => {
                let mut blobs = Vec::new();
                for d in std::iter::once(&m.config).chain(&m.layers) {
                    check_digest(&d.digest)?;
                    let known = self.store.oci_blob(repo, &d.digest).await?;
                    if known.is_none() && d.media_type != media::EMPTY {
                        return Err(DistError::ManifestBlobUnknown(d.digest.clone()));
                    }
                    if known.is_none() {
                        // The empty config is well known; store it on demand.
                        self.put_blob(repo, &d.digest, b"{}")
                            .await
                            .map_err(|_| DistError::ManifestBlobUnknown(d.digest.clone()))?;
                    }
                    blobs.push((d.digest.clone(), d.size as i64));
                }
                let at = m.artifact_type.clone().or_else(|| Some(m.config.media_type.clone()));
                (at, m.subject.as_ref().map(|s| s.digest.clone()), m.annotations.clone(), blobs)
            }
            TopLevel::Index(i) => {
                for d in &i.manifests {
                    check_digest(&d.digest)?;
                    if self.store.oci_manifest(repo, &d.digest).await?.is_none() {
                        return Err(DistError::ManifestBlobUnknown(d.digest.clone()));
                    }
                }
                (
                    i.artifact_type.clone(),
                    i.subject.as_ref().map(|s| s.digest.clone()),
                    i.annotations.clone(),
                    Vec::new(),
                )
            }
        };
        if let Some(s) = &subject {
            check_digest(s)
                .map_err(|_| DistError::ManifestInvalid("the subject's digest is not a sha256 digest".into()))?;
        }
        if artifact_type.as_deref().is_some_and(|t| t.len() > 255 || !t.bytes().all(|b| b.is_ascii_graphic())) {
            return Err(DistError::ManifestInvalid("artifactType is not a media type".into()));
        }
        let path = self.blob_path(&digest)?;
        if tokio::fs::metadata(&path).await.is_err() {
            write_atomic(&self.root, &path, bytes).await?;
        }
        let row = OciManifest {
            repo: repo.to_owned(),
            digest: digest.clone(),
            media_type,
            size: bytes.len() as i64,
            artifact_type,
            subject: subject.clone(),
            annotations,
            created_at: now_millis(),
        };
        self.store.oci_put_manifest(&row, &blobs, tag).await?;
        // Rewriting the whole listing on every push would cost each push the catalog's size.
        let _ = self.index_due.try_send(());
        Ok((digest, subject))
    }

    /// Stores a whole artifact in-process: blobs, platform manifests by digest, the index
    /// under `tag`. The same checks apply as to pushes over HTTP.
    pub async fn push_artifact(&self, repo: &str, tag: &str, artifact: &super::Artifact) -> DResult<()> {
        check_repo(repo)?;
        for b in std::iter::once(&artifact.layer).chain(&artifact.configs) {
            self.put_blob(repo, &b.digest, &b.data).await?;
        }
        for m in &artifact.manifests {
            self.put_manifest(repo, &m.digest, Some(&m.media_type), &m.data).await?;
        }
        self.put_manifest(repo, tag, Some(&artifact.index.media_type), &artifact.index.data).await?;
        Ok(())
    }

    /// A manifest by tag or digest: its bytes, media type and digest.
    pub async fn manifest(&self, repo: &str, reference: &str) -> DResult<(Vec<u8>, String, String)> {
        let digest = if is_tag(reference) {
            self.store.oci_tag(repo, reference).await?.ok_or(DistError::ManifestUnknown)?
        } else {
            check_digest(reference)?;
            reference.to_owned()
        };
        let row = self.store.oci_manifest(repo, &digest).await?.ok_or(DistError::ManifestUnknown)?;
        let bytes = tokio::fs::read(self.blob_path(&digest)?).await.map_err(|_| DistError::ManifestUnknown)?;
        Ok((bytes, row.media_type, digest))
    }

    /// The digest `tag` points at in `repo`.
    pub async fn tag_target(&self, repo: &str, tag: &str) -> DResult<Option<String>> {
        Ok(self.store.oci_tag(repo, tag).await?)
    }

    /// What the store records about a manifest of `repo` (media type, subject, …).
    pub async fn manifest_record(&self, repo: &str, digest: &str) -> DResult<Option<OciManifest>> {
        Ok(self.store.oci_manifest(repo, digest).await?)
    }

    /// Everything `roots` reach: each of them, an index's manifests, a manifest's config and
    /// layers. The walk stops at blobs that are missing or are not manifests.
    pub async fn closure(&self, roots: impl IntoIterator<Item = String>) -> HashSet<String> {
        let mut reached = HashSet::new();
        let mut todo: Vec<String> = roots.into_iter().collect();
        while let Some(digest) = todo.pop() {
            if !reached.insert(digest.clone()) {
                continue;
            }
            let Ok(path) = self.blob_path(&digest) else { continue };
            let Ok(bytes) = tokio::fs::read(&path).await else { continue };
            match layout::parse_top(&bytes) {
                Ok(TopLevel::Index(i)) => todo.extend(i.manifests.into_iter().map(|d| d.digest)),
                Ok(TopLevel::Manifest(m)) => {
                    reached.insert(m.config.digest);
                    reached.extend(m.layers.into_iter().map(|l| l.digest));
                }
                Err(_) => {}
            }
        }
        reached
    }

    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> DResult<()> {
        let found = if is_tag(reference) {
            self.store.oci_delete_tag(repo, reference).await?
        } else {
            check_digest(reference)?;
            self.store.oci_delete_manifest(repo, reference).await?
        };
        if !found {
            return Err(DistError::ManifestUnknown);
        }
        self.write_index().await
    }

    /// Rewrites `index.json` from the database now, so that it lists every manifest stored
    /// so far (after pushes it follows within moments on its own; the server calls this as
    /// it stops).
    pub async fn write_index(&self) -> DResult<()> {
        self.layout_index.write().await
    }

    pub async fn tags(&self, repo: &str, last: Option<&str>, n: i64) -> DResult<Vec<String>> {
        Ok(self.store.oci_tags(repo, last, n).await?)
    }

    /// The referrers index for `digest`, filtered by `artifact_type` when given.
    pub async fn referrers(&self, repo: &str, digest: &str, artifact_type: Option<&str>) -> DResult<Vec<u8>> {
        check_digest(digest)?;
        let rows = self.store.oci_referrers(repo, digest).await?;
        let manifests = rows
            .into_iter()
            .filter(|m| artifact_type.is_none_or(|t| m.artifact_type.as_deref() == Some(t)))
            .map(|m| Descriptor {
                media_type: m.media_type,
                digest: m.digest,
                size: m.size as u64,
                artifact_type: m.artifact_type,
                platform: None,
                annotations: m.annotations,
            })
            .collect();
        let index = Index::listing(manifests);
        Ok(serde_json::to_vec(&index).expect("serialize"))
    }

    /// Removes blobs nothing needs: not a manifest the store lists or anything such a
    /// manifest references, not any part of a version the index records (even if its
    /// manifest was deleted from the store), and not linked more recently than `grace`
    /// (an upload whose manifest is still on its way). Returns (blobs removed, bytes freed).
    pub async fn gc(&self, grace: Duration) -> DResult<(usize, u64)> {
        let mut roots: Vec<String> = Vec::new();
        let mut layers: Vec<String> = Vec::new();
        let mut pages = ManifestPages::default();
        while let Some(page) = pages.next(&self.store).await? {
            roots.extend(page.into_iter().map(|(m, _)| m.digest));
        }
        for (digest, layer) in self.store.version_artifacts().await? {
            roots.push(digest);
            layers.extend(layer);
        }
        let mut keep = self.closure(roots).await;
        keep.extend(layers);
        let cutoff = now_millis() - grace.as_millis() as i64;
        let mut recent: HashSet<String> = HashSet::new();
        for (repo, digest, linked_at) in self.store.oci_blob_links().await? {
            if keep.contains(&digest) {
                continue;
            }
            if linked_at > cutoff {
                recent.insert(digest);
            } else {
                self.store.oci_unlink_blob(&repo, &digest).await?;
            }
        }
        let (mut removed, mut freed) = (0, 0);
        let mut dir = tokio::fs::read_dir(self.root.join("blobs/sha256")).await?;
        while let Some(entry) = dir.next_entry().await? {
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            if keep.contains(&digest) || recent.contains(&digest) {
                continue;
            }
            let old_enough =
                entry.metadata().await?.modified().ok().and_then(|m| m.elapsed().ok()).is_none_or(|age| age >= grace);
            if old_enough {
                freed += entry.metadata().await?.len();
                tokio::fs::remove_file(entry.path()).await?;
                removed += 1;
            }
        }
        Ok((removed, freed))
    }
}

impl LayoutIndex {
    /// Rewrites `index.json` from the database: one entry per tag (named `repo:tag`) and one
    /// per untagged manifest, so layout readers see everything the store holds.
    async fn write(&self) -> DResult<()> {
        self.write_timed().await.map(|_| ())
    }

    /// `write`, returning how long it took once it had the lock. The listing is read and
    /// written a page of manifests at a time, so its memory does not grow with the store.
    async fn write_timed(&self) -> DResult<Duration> {
        let _guard = self.lock.lock().await;
        let started = std::time::Instant::now();
        let tmp = TempFile::new(&self.root);
        self.write_listing(&tmp.path).await?;
        tmp.rename(&self.root.join("index.json")).await?;
        Ok(started.elapsed())
    }

    /// Writes the listing to `path`: one entry per tag (named `repo:tag`) and one per
    /// untagged manifest, so layout readers see everything the store holds.
    async fn write_listing(&self, path: &Path) -> DResult<()> {
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(path).await?);
        let head = serde_json::to_string(&Index::listing(Vec::new())).expect("serialize");
        let head = head.strip_suffix("]}").expect("the listing ends with its manifests");
        file.write_all(head.as_bytes()).await?;
        let mut pages = ManifestPages::default();
        let mut first = true;
        while let Some(page) = pages.next(&self.store).await? {
            let mut bytes = Vec::new();
            for (m, tags) in &page {
                let entry = |name: (&str, String)| Descriptor {
                    media_type: m.media_type.clone(),
                    digest: m.digest.clone(),
                    size: m.size as u64,
                    artifact_type: m.artifact_type.clone(),
                    platform: None,
                    annotations: Some(BTreeMap::from([(name.0.to_owned(), name.1)])),
                };
                let names = if tags.is_empty() {
                    vec![("dev.skilldex.repository", m.repo.clone())]
                } else {
                    tags.iter().map(|t| ("org.opencontainers.image.ref.name", format!("{}:{t}", m.repo))).collect()
                };
                for name in names {
                    if !std::mem::take(&mut first) {
                        bytes.push(b',');
                    }
                    serde_json::to_writer(&mut bytes, &entry(name)).expect("serialize");
                }
            }
            file.write_all(&bytes).await?;
        }
        file.write_all(b"]}").await?;
        file.flush().await?;
        file.get_ref().sync_all().await?;
        Ok(())
    }
}

/// Rewrites `index.json` each time manifests were stored, at most once per `INDEX_GAP` (or
/// `INDEX_GAP_FACTOR` times the last rewrite's duration); a failed rewrite is tried again
/// after the gap until one succeeds. Ends with the store.
async fn keep_layout_index(index: Arc<LayoutIndex>, mut due: tokio::sync::mpsc::Receiver<()>) {
    while due.recv().await.is_some() {
        loop {
            match index.write_timed().await {
                Ok(took) => {
                    tokio::time::sleep(INDEX_GAP.max(took * INDEX_GAP_FACTOR)).await;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not rewrite the layout's index.json; trying again");
                    tokio::time::sleep(INDEX_GAP * 10).await;
                }
            }
        }
    }
}

/// The sha256 digest and size of a file, read in pieces.
async fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    use tokio::io::AsyncReadExt as _;
    let mut f = tokio::fs::File::open(path).await?;
    let (mut hasher, mut size, mut buf) = (Sha256::new(), 0u64, vec![0u8; 256 * 1024]);
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((format!("sha256:{}", hex::encode(hasher.finalize())), size))
}

/// Every manifest the database lists, with its tags, a page at a time (memory flat in the
/// store's size).
#[derive(Default)]
struct ManifestPages {
    /// The last (repository, digest) read; `done` once a page came back short.
    after: Option<(String, String)>,
    done: bool,
}

impl ManifestPages {
    const SIZE: i64 = 1000;

    async fn next(&mut self, store: &Arc<dyn Store>) -> DResult<Option<Vec<(OciManifest, Vec<String>)>>> {
        if self.done {
            return Ok(None);
        }
        let after = self.after.as_ref().map(|(r, d)| (r.as_str(), d.as_str()));
        let page = store.oci_manifest_page(after, Self::SIZE).await?;
        self.done = (page.len() as i64) < Self::SIZE;
        self.after = page.last().map(|(m, _)| (m.repo.clone(), m.digest.clone()));
        Ok((!page.is_empty()).then_some(page))
    }
}

/// A file in the layout's `tmp/`, removed when dropped unless it was renamed into place: a
/// write that fails or is cancelled (its client went away) leaves nothing behind, but for a
/// cancelled create still finishing on its blocking thread, which start-up clears.
struct TempFile {
    path: PathBuf,
    placed: bool,
}

impl TempFile {
    fn new(root: &Path) -> Self {
        Self { path: root.join("tmp").join(new_id()), placed: false }
    }

    async fn rename(mut self, target: &Path) -> std::io::Result<()> {
        tokio::fs::rename(&self.path, target).await?;
        self.placed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes a file so that readers see either the old content or all of the new.
async fn write_atomic(root: &Path, target: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = TempFile::new(root);
    let mut f = tokio::fs::File::create(&tmp.path).await?;
    f.write_all(data).await?;
    f.sync_all().await?;
    drop(f);
    tmp.rename(target).await
}
