//! Reading a skill artifact from a registry: resolve the reference to a digest, pull the
//! manifest (and the linux/amd64 entry of an index), find the layout and its one content
//! layer, pull it, and unpack it by the bundle rules. Used by registration and `install`.

use super::layout::{self, LayoutError, LayoutKind, TopLevel};
use super::registry::{OciError, Registries, parse_reference};
use crate::bundle::{Bundle, BundleError, Limits};

/// What the registry holds for one version, read and checked.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bundle: Bundle,
    /// `registry/repo@sha256:…` of the top manifest.
    pub pinned: String,
    pub digest: String,
    pub media_type: String,
    pub manifest_size: u64,
    pub layout: LayoutKind,
    pub layer_digest: String,
    pub layer_size: u64,
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
    registries: &Registries,
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
    let blob = registries.blob(&r, layer, limits.max_compressed).await?;
    let prefix = (kind == LayoutKind::AgentSkills).then_some(name);
    let bundle = Bundle::from_archive(&blob, prefix, limits)?;
    Ok(Fetched {
        bundle,
        pinned: format!("{}/{}@{}", r.registry(), r.repository(), digest),
        digest,
        media_type,
        manifest_size: top_bytes.len() as u64,
        layout: kind,
        layer_digest: layer.digest.clone(),
        layer_size: layer.size,
    })
}
