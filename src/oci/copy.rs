//! Copying an artifact between registries with every digest unchanged: its index, each
//! platform manifest, their configs and layers, and what is attached to it — referrers
//! (Sigstore bundles, attestations), the referrers fallback tag, and cosign's `.sig` tag.
//! Mirroring and export are built on it; whatever verifies signatures upstream verifies them
//! on the copy, because the copy is the same bytes.

use oci_client::Reference;

use super::fetch::{ArtifactSink, ArtifactSource};
use super::layout::{self, Blob, TopLevel};
use super::registry::OciError;

/// How deep indexes may nest when copied (an index of manifests is depth 1).
const MAX_DEPTH: usize = 2;
/// How many referrers of one artifact are copied at most.
const MAX_REFERRERS: usize = 64;
/// How many entries an index, or layers a manifest, may have to be copied.
const MAX_ENTRIES: usize = 64;

/// What a copy moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    pub manifests: u64,
    pub blobs: u64,
    /// Bytes read from the source (manifests and blobs).
    pub bytes: u64,
}

impl std::ops::AddAssign for Copied {
    fn add_assign(&mut self, o: Self) {
        self.manifests += o.manifests;
        self.blobs += o.blobs;
        self.bytes += o.bytes;
    }
}

/// Copies the artifact `digest` of `from_repo` (in `from`) into `to_repo` (in `to`), tagged
/// `tag` there when given, and everything attached to it. Blobs over `max_blob` bytes are
/// refused, and so is a copy past `budget` bytes in all.
pub async fn copy_with_signatures(
    (from, from_repo): (&dyn ArtifactSource, &Reference),
    (to, to_repo): (&dyn ArtifactSink, &Reference),
    digest: &str,
    tag: Option<&str>,
    (max_blob, budget): (u64, u64),
) -> Result<Copied, OciError> {
    let budget = Budget { left: std::sync::atomic::AtomicU64::new(budget), what: from_repo.whole() };
    let max_blob = (max_blob, &budget);
    let mut copied = copy_tree(from, from_repo, to, to_repo, digest, max_blob, 0).await?;
    if let Some(tag) = tag {
        let (bytes, _) = from.manifest(&from_repo.clone_with_digest(digest.to_owned())).await?;
        to.push_manifest_at(
            &at_tag(to_repo, tag),
            &Blob { media_type: media_type_of(&bytes)?, digest: digest.to_owned(), data: bytes },
        )
        .await?;
    }
    copied += copy_attached(from, from_repo, to, to_repo, digest, max_blob).await?;
    Ok(copied)
}

/// Copies what is attached to `digest`: its referrers (from the referrers API or its fallback
/// tag, which is copied too when there is one) and the cosign `.sig` tag.
async fn copy_attached(
    from: &dyn ArtifactSource,
    from_repo: &Reference,
    to: &dyn ArtifactSink,
    to_repo: &Reference,
    digest: &str,
    max_blob: (u64, &Budget),
) -> Result<Copied, OciError> {
    let mut copied = Copied::default();
    let subject = from_repo.clone_with_digest(digest.to_owned());
    for referrer in from.referrers(&subject).await?.into_iter().take(MAX_REFERRERS) {
        copied += copy_tree(from, from_repo, to, to_repo, &referrer.digest, max_blob, 0).await?;
    }
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    for tag in [format!("sha256-{hex}"), format!("sha256-{hex}.sig")] {
        let at = at_tag(from_repo, &tag);
        let tagged = match from.resolve(&at).await {
            Ok(d) => d,
            Err(OciError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        copied += copy_tree(from, from_repo, to, to_repo, &tagged, max_blob, 0).await?;
        let (bytes, _) = from.manifest(&from_repo.clone_with_digest(tagged.clone())).await?;
        let blob = Blob { media_type: media_type_of(&bytes)?, digest: tagged, data: bytes };
        to.push_manifest_at(&at_tag(to_repo, &tag), &blob).await?;
    }
    Ok(copied)
}

/// Copies one manifest or index by digest, children and blobs first, so the target never
/// holds a manifest whose pieces are missing.
fn copy_tree<'a>(
    from: &'a dyn ArtifactSource,
    from_repo: &'a Reference,
    to: &'a dyn ArtifactSink,
    to_repo: &'a Reference,
    digest: &'a str,
    (max_blob, budget): (u64, &'a Budget),
    depth: usize,
) -> futures_util::future::BoxFuture<'a, Result<Copied, OciError>> {
    Box::pin(async move {
        let mut copied = Copied::default();
        let (bytes, _) = from.manifest(&from_repo.clone_with_digest(digest.to_owned())).await?;
        budget.spend(bytes.len() as u64)?;
        copied.bytes += bytes.len() as u64;
        let bad = |e: layout::LayoutError| OciError::Registry(format!("{}@{digest}", from_repo.repository()), e.0);
        match layout::parse_top(&bytes).map_err(bad)? {
            TopLevel::Index(index) => {
                if depth >= MAX_DEPTH {
                    return Err(OciError::Registry(from_repo.whole(), "indexes nest too deep to copy".into()));
                }
                if index.manifests.len() > MAX_ENTRIES {
                    return Err(OciError::TooLarge(format!(
                        "{}: an index of more than {MAX_ENTRIES} entries",
                        from_repo.whole()
                    )));
                }
                for child in &index.manifests {
                    copied +=
                        copy_tree(from, from_repo, to, to_repo, &child.digest, (max_blob, budget), depth + 1).await?;
                }
            }
            TopLevel::Manifest(manifest) => {
                if manifest.layers.len() > MAX_ENTRIES {
                    return Err(OciError::TooLarge(format!(
                        "{}: a manifest of more than {MAX_ENTRIES} layers",
                        from_repo.whole()
                    )));
                }
                for desc in std::iter::once(&manifest.config).chain(&manifest.layers) {
                    budget.spend(desc.size)?;
                    let data = from.blob(from_repo, desc, max_blob).await?;
                    copied.bytes += data.len() as u64;
                    copied.blobs += 1;
                    let blob = Blob { media_type: desc.media_type.clone(), digest: desc.digest.clone(), data };
                    to.push_blob(to_repo, &blob).await?;
                }
            }
        }
        let blob = Blob { media_type: media_type_of(&bytes)?, digest: digest.to_owned(), data: bytes };
        to.push_manifest_at(&to_repo.clone_with_digest(digest.to_owned()), &blob).await?;
        copied.manifests += 1;
        Ok(copied)
    })
}

/// How many bytes copying one artifact whose blobs are at most `max_blob` may read in all:
/// its layer, plus room for its manifests, config and signatures.
pub fn budget_for(max_blob: u64) -> u64 {
    2 * max_blob + 16 * 1024 * 1024
}

/// What a copy may still read, in bytes.
struct Budget {
    left: std::sync::atomic::AtomicU64,
    what: String,
}

impl Budget {
    fn spend(&self, n: u64) -> Result<(), OciError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.left
            .fetch_update(SeqCst, SeqCst, |left| left.checked_sub(n))
            .map(|_| ())
            .map_err(|_| OciError::TooLarge(format!("{}: more to copy than one artifact may hold", self.what)))
    }
}

fn at_tag(repo: &Reference, tag: &str) -> Reference {
    Reference::with_tag(repo.registry().to_owned(), repo.repository().to_owned(), tag.to_owned())
}

/// The media type a manifest says it is, or the one its shape implies.
fn media_type_of(bytes: &[u8]) -> Result<String, OciError> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| OciError::Registry("a manifest".into(), e.to_string()))?;
    Ok(match v["mediaType"].as_str() {
        Some(m) => m.to_owned(),
        None if v.get("manifests").is_some() => layout::media::INDEX.to_owned(),
        None => layout::media::MANIFEST.to_owned(),
    })
}
