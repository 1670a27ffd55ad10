//! Finding an artifact's signatures in its repository, and attaching legacy ones.
//!
//! Two places are read: cosign's `sha256-<hex>.sig` manifest (one simple-signing layer per
//! signature) and the artifact's referrers (Sigstore bundles; the referrers API, or its
//! `sha256-<hex>` fallback tag). A missing tag or an empty referrers list means "no
//! signature"; any other registry failure is an error, so it can never read as unsigned.

use oci_client::Reference;

use super::fetch::{ArtifactSink, ArtifactSource};
use super::layout::{Blob, Descriptor, Manifest, media};
use super::registry::OciError;
use crate::policy::Candidate;
use crate::policy::cosign::{self, annotations};

/// At most this many signatures are read per artifact; a registry cannot make skilldex
/// fetch without end.
pub const MAX_SIGNATURES: usize = 32;
/// The largest signature payload or bundle read.
pub const MAX_SIGNATURE_BYTES: u64 = 256 * 1024;

fn sig_reference(repo: &Reference, digest: &str) -> Reference {
    Reference::with_tag(repo.registry().into(), repo.repository().into(), cosign::signature_tag(digest))
}

/// Every signature attached to `repo@digest`.
pub async fn discover(source: &dyn ArtifactSource, repo: &Reference, digest: &str) -> Result<Vec<Candidate>, OciError> {
    let mut found = Vec::new();
    let tag = sig_reference(repo, digest);
    match source.manifest(&tag).await {
        Ok((bytes, _)) => {
            if let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) {
                let layers = manifest.layers.iter().filter(|l| l.media_type == cosign::media::SIMPLE_SIGNING);
                for (i, layer) in layers.take(MAX_SIGNATURES).enumerate() {
                    let origin = format!("{}#{i}", tag.tag().unwrap_or_default());
                    let payload = match signature_blob(source, repo, layer).await? {
                        Ok(payload) => payload,
                        Err(reason) => {
                            found.push(Candidate::Unreadable { origin, reason });
                            continue;
                        }
                    };
                    let note = |k: &str| layer.annotations.as_ref().and_then(|a| a.get(k)).cloned();
                    found.push(Candidate::Legacy {
                        origin,
                        payload,
                        signature: note(annotations::SIGNATURE).unwrap_or_default(),
                        certificate: note(annotations::CERTIFICATE),
                        rekor: note(annotations::BUNDLE),
                    });
                }
            } else {
                tracing::warn!(tag = %tag.whole(), "ignoring a signature tag that is not an image manifest");
            }
        }
        Err(OciError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let subject = repo.clone_with_digest(digest.to_owned());
    for desc in source.referrers(&subject).await?.into_iter().take(MAX_SIGNATURES) {
        // Registries label bundle manifests differently; only skip what is surely not one.
        let maybe_bundle = desc
            .artifact_type
            .as_deref()
            .is_none_or(|t| t.starts_with(cosign::media::BUNDLE_PREFIX) || t == media::EMPTY || t.is_empty());
        if !maybe_bundle {
            continue;
        }
        let bytes = match source.manifest(&repo.clone_with_digest(desc.digest.clone())).await {
            Ok((bytes, _)) => bytes,
            // Listed by a fallback index but not there, or not what was listed: not a signature.
            Err(OciError::NotFound(_) | OciError::DigestMismatch { .. } | OciError::TooLarge(_)) => continue,
            Err(e) => return Err(e),
        };
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) else { continue };
        // A fallback index is just a tag anyone may write: trust only the manifest's subject.
        if manifest.subject.as_ref().map(|s| s.digest.as_str()) != Some(digest) {
            continue;
        }
        for layer in manifest.layers.iter().filter(|l| l.media_type.starts_with(cosign::media::BUNDLE_PREFIX)) {
            let origin = format!("referrer {}", desc.digest);
            found.push(match signature_blob(source, repo, layer).await? {
                Ok(json) => Candidate::Bundle { origin, json },
                Err(reason) => Candidate::Unreadable { origin, reason },
            });
        }
    }
    Ok(found)
}

/// A signature's blob; `Ok(Err(reason))` when the blob itself is unusable (too large,
/// missing, not what its descriptor says), which only makes that signature count for
/// nothing. Only a failing registry is an error.
async fn signature_blob(
    source: &dyn ArtifactSource,
    repo: &Reference,
    layer: &Descriptor,
) -> Result<Result<Vec<u8>, String>, OciError> {
    match source.blob(repo, layer, MAX_SIGNATURE_BYTES).await {
        Ok(bytes) => Ok(Ok(bytes)),
        Err(e @ (OciError::TooLarge(_) | OciError::NotFound(_) | OciError::DigestMismatch { .. })) => {
            Ok(Err(e.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// Adds a legacy signature layer to `repo`'s `sha256-<hex>.sig` manifest for `digest`,
/// keeping the signatures already there. Returns false, changing nothing, when a layer with
/// the same payload already has a signature `same_signer` accepts (signing is randomized,
/// so equal bytes cannot tell).
pub async fn push_legacy(
    registries: &dyn ArtifactSink,
    repo: &Reference,
    digest: &str,
    payload: Vec<u8>,
    signature: String,
    same_signer: &(dyn Fn(&str) -> bool + Sync),
) -> Result<bool, OciError> {
    let tag = sig_reference(repo, digest);
    let mut manifest = match registries.manifest(&tag).await {
        Ok((bytes, _)) => serde_json::from_slice::<Manifest>(&bytes)
            .map_err(|e| OciError::Registry(tag.whole(), format!("the signature manifest is unreadable: {e}")))?,
        Err(OciError::NotFound(_)) => {
            let config = Blob::new(media::IMAGE_CONFIG, b"{}".to_vec());
            registries.push_blob(repo, &config).await?;
            Manifest {
                schema_version: 2,
                media_type: Some(media::MANIFEST.to_owned()),
                artifact_type: None,
                config: config.descriptor(),
                layers: Vec::new(),
                subject: None,
                annotations: None,
            }
        }
        Err(e) => return Err(e),
    };
    let blob = Blob::new(cosign::media::SIMPLE_SIGNING, payload);
    let exists = manifest.layers.iter().any(|l| {
        l.digest == blob.digest
            && l.annotations.as_ref().and_then(|a| a.get(annotations::SIGNATURE)).is_some_and(|s| same_signer(s))
    });
    if exists {
        return Ok(false);
    }
    registries.push_blob(repo, &blob).await?;
    manifest.layers.push(Descriptor {
        annotations: Some([(annotations::SIGNATURE.to_owned(), signature)].into()),
        ..blob.descriptor()
    });
    let bytes = serde_json::to_vec(&manifest).expect("manifest serializes");
    registries.push_manifest_at(&tag, &Blob::new(media::MANIFEST, bytes)).await?;
    Ok(true)
}
