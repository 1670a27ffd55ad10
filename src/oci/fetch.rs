//! Reading a skill artifact from a registry: resolve the reference to a digest, pull the
//! manifest (and the linux/amd64 entry of an index), find the layout and its one content
//! layer, pull it, and unpack it by the bundle rules. Used by registration and `install`.

use async_trait::async_trait;
use oci_client::Reference;

use super::layout::{self, Blob, Descriptor, LayoutError, LayoutKind, TopLevel, sha256_digest};
use super::registry::{OciError, Registries, parse_reference};
use super::store::{DistError, EmbeddedStore};
use crate::bundle::{Bundle, BundleError, Limits};

/// Where artifacts are read from: a registry over HTTP, or the embedded store in-process.
/// Either way every manifest and blob is checked against its digest.
#[async_trait]
pub trait ArtifactSource: Send + Sync {
    /// The digest a reference names (a tag is looked up; a digest must exist).
    async fn resolve(&self, r: &Reference) -> Result<String, OciError>;
    /// A manifest's exact bytes and their digest.
    async fn manifest(&self, r: &Reference) -> Result<(Vec<u8>, String), OciError>;
    /// A blob, at most `max` bytes, checked against its descriptor.
    async fn blob(&self, repo: &Reference, desc: &Descriptor, max: u64) -> Result<Vec<u8>, OciError>;
    /// The manifests whose subject is `subject` (a reference by digest).
    async fn referrers(&self, subject: &Reference) -> Result<Vec<Descriptor>, OciError>;
}

/// Where small artifacts (signatures) are written: a registry, or the embedded store.
#[async_trait]
pub trait ArtifactSink: ArtifactSource {
    /// Stores a blob in `repo` unless it is already there.
    async fn push_blob(&self, repo: &Reference, blob: &Blob) -> Result<(), OciError>;
    /// Stores a manifest's exact bytes under the tag or digest `at` names.
    async fn push_manifest_at(&self, at: &Reference, manifest: &Blob) -> Result<(), OciError>;
}

#[async_trait]
impl ArtifactSink for Registries {
    async fn push_blob(&self, repo: &Reference, blob: &Blob) -> Result<(), OciError> {
        Registries::push_blob(self, repo, blob).await
    }
    async fn push_manifest_at(&self, at: &Reference, manifest: &Blob) -> Result<(), OciError> {
        Registries::push_manifest_at(self, at, manifest).await
    }
}

#[async_trait]
impl ArtifactSink for EmbeddedStore {
    async fn push_blob(&self, repo: &Reference, blob: &Blob) -> Result<(), OciError> {
        self.put_blob(repo.repository(), &blob.digest, &blob.data).await.map_err(|e| from_dist(repo.whole(), e))
    }
    async fn push_manifest_at(&self, at: &Reference, manifest: &Blob) -> Result<(), OciError> {
        self.put_manifest(at.repository(), &reference_part(at), Some(&manifest.media_type), &manifest.data)
            .await
            .map(|_| ())
            .map_err(|e| from_dist(at.whole(), e))
    }
}

#[async_trait]
impl ArtifactSource for Registries {
    async fn resolve(&self, r: &Reference) -> Result<String, OciError> {
        Registries::resolve(self, r).await
    }
    async fn manifest(&self, r: &Reference) -> Result<(Vec<u8>, String), OciError> {
        Registries::manifest(self, r).await
    }
    async fn blob(&self, repo: &Reference, desc: &Descriptor, max: u64) -> Result<Vec<u8>, OciError> {
        Registries::blob(self, repo, desc, max).await
    }
    async fn referrers(&self, subject: &Reference) -> Result<Vec<Descriptor>, OciError> {
        Registries::referrers(self, subject, None).await
    }
}

fn from_dist(what: String, e: DistError) -> OciError {
    match e {
        DistError::ManifestUnknown | DistError::BlobUnknown | DistError::NameUnknown => OciError::NotFound(what),
        DistError::DigestInvalid(m) => OciError::BadReference(what, m),
        other => OciError::Registry(what, other.to_string()),
    }
}

#[async_trait]
impl ArtifactSource for EmbeddedStore {
    async fn resolve(&self, r: &Reference) -> Result<String, OciError> {
        Ok(self.manifest(r.repository(), &reference_part(r)).await.map_err(|e| from_dist(r.whole(), e))?.2)
    }
    async fn manifest(&self, r: &Reference) -> Result<(Vec<u8>, String), OciError> {
        let (bytes, _, digest) = EmbeddedStore::manifest(self, r.repository(), &reference_part(r))
            .await
            .map_err(|e| from_dist(r.whole(), e))?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(OciError::DigestMismatch { what: r.whole(), expected: digest, actual });
        }
        Ok((bytes, digest))
    }
    async fn blob(&self, repo: &Reference, desc: &Descriptor, max: u64) -> Result<Vec<u8>, OciError> {
        let what = format!("{}@{}", repo.repository(), desc.digest);
        if desc.size > max {
            return Err(OciError::TooLarge(format!("{} is {} bytes; the limit is {max}", desc.digest, desc.size)));
        }
        let (path, _) =
            EmbeddedStore::blob(self, repo.repository(), &desc.digest).await.map_err(|e| from_dist(what.clone(), e))?;
        let data = tokio::fs::read(path).await.map_err(|e| OciError::Registry(what.clone(), e.to_string()))?;
        let actual = sha256_digest(&data);
        if actual != desc.digest || data.len() as u64 != desc.size {
            return Err(OciError::DigestMismatch { what, expected: desc.digest.clone(), actual });
        }
        Ok(data)
    }
    async fn referrers(&self, subject: &Reference) -> Result<Vec<Descriptor>, OciError> {
        let digest = reference_part(subject);
        let bytes = EmbeddedStore::referrers(self, subject.repository(), &digest, None)
            .await
            .map_err(|e| from_dist(subject.whole(), e))?;
        let index: layout::Index =
            serde_json::from_slice(&bytes).map_err(|e| OciError::Registry(subject.whole(), e.to_string()))?;
        Ok(index.manifests)
    }
}

/// The tag or digest part of a reference.
fn reference_part(r: &Reference) -> String {
    r.digest().or(r.tag()).unwrap_or("latest").to_owned()
}

/// What the registry holds for one version, read and checked.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bundle: Bundle,
    /// `registry/repo@sha256:…` of the top manifest.
    pub pinned: String,
    pub digest: String,
    /// The top manifest's exact bytes.
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub manifest_size: u64,
    pub layout: LayoutKind,
    pub layer_digest: String,
    pub layer_size: u64,
    /// The references the manifest's `dev.toolhive.skills.requires` annotation lists.
    pub toolhive_requires: Vec<String>,
    /// Every requirement of the version, as the publish pipeline checked them.
    pub requires: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error("{reference}: {error}")]
    Layout { reference: String, error: LayoutError },
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// Fetches and checks the artifact `reference` names. `name` is the directory the
/// agentskills layout keeps files under.
pub async fn fetch_bundle(
    registries: &dyn ArtifactSource,
    reference: &str,
    name: &str,
    limits: &Limits,
) -> Result<Fetched, FetchError> {
    let r = parse_reference(reference)?;
    let bad = |error: LayoutError| FetchError::Layout { reference: reference.to_owned(), error };
    let digest = registries.resolve(&r).await?;
    let pinned = r.clone_with_digest(digest.clone());
    let (top_bytes, _) = registries.manifest(&pinned).await?;
    let (media_type, manifest) = match layout::parse_top(&top_bytes).map_err(bad)? {
        TopLevel::Manifest(m) => (layout::media::MANIFEST.to_owned(), m),
        TopLevel::Index(index) => {
            let entry = layout::pick_from_index(&index).map_err(bad)?;
            let (bytes, _) = registries.manifest(&r.clone_with_digest(entry.digest.clone())).await?;
            match layout::parse_top(&bytes).map_err(bad)? {
                TopLevel::Manifest(m) => (layout::media::INDEX.to_owned(), m),
                TopLevel::Index(_) => return Err(bad(LayoutError("nested image indexes are not supported".into()))),
            }
        }
    };
    let (kind, layer) = layout::classify(&manifest).map_err(bad)?;
    let toolhive_requires = layout::annotated_requires(&manifest);
    let blob = registries.blob(&r, layer, limits.max_compressed).await?;
    let prefix = (kind == LayoutKind::AgentSkills).then_some(name);
    let bundle = Bundle::from_archive(&blob, prefix, limits)?;
    Ok(Fetched {
        bundle,
        pinned: format!("{}/{}@{}", r.registry(), r.repository(), digest),
        digest,
        media_type,
        manifest_size: top_bytes.len() as u64,
        manifest: top_bytes,
        layout: kind,
        layer_digest: layer.digest.clone(),
        layer_size: layer.size,
        toolhive_requires,
        requires: Vec::new(),
    })
}
