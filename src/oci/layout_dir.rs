//! An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), read and
//! written like a registry: what exports are written to and imports read from. Every manifest
//! kept is listed in `index.json` (tagged ones with `org.opencontainers.image.ref.name` =
//! `<repository>:<tag>`), so referrers are found by their `subject` without a registry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use oci_client::Reference;

use super::fetch::{ArtifactSink, ArtifactSource};
use super::layout::{self, Blob, Descriptor, sha256_digest};
use super::registry::{MAX_MANIFEST, OciError};
use sha2::Digest as _;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A manifest the layout holds: its media type, size, and its subject's digest.
type Kept = (String, u64, Option<String>);

/// A layout directory. Opened for reading, every blob has been checked against its name.
pub struct LayoutDir {
    root: PathBuf,
    /// Every manifest by digest.
    manifests: Mutex<BTreeMap<String, Kept>>,
    /// `<repository>:<tag>` → digest.
    tags: Mutex<BTreeMap<String, String>>,
}

impl LayoutDir {
    /// A new, empty layout at `root` (created).
    pub fn create(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("blobs/sha256"))?;
        std::fs::write(root.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(Self { root: root.to_owned(), manifests: Default::default(), tags: Default::default() })
    }

    /// Opens a layout someone else wrote: every file under `blobs/sha256` must hash to its
    /// name and be at most `max_blob` bytes (manifests far less), and everything
    /// `index.json` lists must be there. Anything else is refused. Reads files: call it off
    /// the async runtime.
    pub fn open(root: &Path, max_blob: u64) -> Result<Self, String> {
        let index_path = root.join("index.json");
        if std::fs::metadata(&index_path).map(|m| m.len()).unwrap_or(u64::MAX) > MAX_MANIFEST as u64 * 16 {
            return Err("the layout has no index.json, or one too large".to_owned());
        }
        let index = std::fs::read(index_path).map_err(|_| "the layout has no index.json".to_owned())?;
        let index: layout::Index =
            serde_json::from_slice(&index).map_err(|e| format!("the layout's index.json does not parse: {e}"))?;
        let dir = Self { root: root.to_owned(), manifests: Default::default(), tags: Default::default() };
        let blobs = root.join("blobs/sha256");
        let entries = std::fs::read_dir(&blobs).map_err(|_| "the layout has no blobs/sha256".to_owned())?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name().into_string().map_err(|_| "a blob name that is not text".to_owned())?;
            let size = entry.metadata().map_err(|e| format!("blob {name}: {e}"))?.len();
            if size > max_blob {
                return Err(format!("blob sha256:{name} is {size} bytes; the limit is {max_blob}"));
            }
            // Hashed as it is read, never held whole.
            let mut hasher = sha2::Sha256::new();
            let mut file = std::fs::File::open(entry.path()).map_err(|e| format!("blob {name}: {e}"))?;
            std::io::copy(&mut file, &mut hasher).map_err(|e| format!("blob {name}: {e}"))?;
            if hex::encode(hasher.finalize()) != name {
                return Err(format!("blob sha256:{name} does not match its content: the bundle was altered"));
            }
        }
        for d in &index.manifests {
            if d.size > MAX_MANIFEST as u64 {
                return Err(format!("{} is listed as a manifest of {} bytes", d.digest, d.size));
            }
            let data =
                dir.read_blob(&d.digest).map_err(|_| format!("index.json lists {}, which is missing", d.digest))?;
            if data.len() as u64 != d.size {
                return Err(format!("{} is not the size index.json says", d.digest));
            }
            let subject = serde_json::from_slice::<serde_json::Value>(&data)
                .ok()
                .and_then(|v| v["subject"]["digest"].as_str().map(str::to_owned));
            dir.manifests.lock().expect("lock").insert(d.digest.clone(), (d.media_type.clone(), d.size, subject));
            if let Some(name) = d.annotations.as_ref().and_then(|a| a.get(REF_NAME)) {
                dir.tags.lock().expect("lock").insert(name.clone(), d.digest.clone());
            }
        }
        Ok(dir)
    }

    /// Writes `index.json` listing every manifest and tag.
    pub fn finish(&self) -> std::io::Result<()> {
        let manifests = self.manifests.lock().expect("lock");
        let tags = self.tags.lock().expect("lock");
        let mut listed: Vec<Descriptor> = Vec::new();
        let entry = |digest: &str, name: Option<&str>| {
            let (media_type, size, _) = &manifests[digest];
            Descriptor {
                media_type: media_type.clone(),
                digest: digest.to_owned(),
                size: *size,
                artifact_type: None,
                platform: None,
                annotations: name.map(|n| BTreeMap::from([(REF_NAME.to_owned(), n.to_owned())])),
            }
        };
        for (name, digest) in tags.iter() {
            listed.push(entry(digest, Some(name)));
        }
        for digest in manifests.keys() {
            if !tags.values().any(|d| d == digest) {
                listed.push(entry(digest, None));
            }
        }
        let index = layout::Index::listing(listed);
        std::fs::write(self.root.join("index.json"), serde_json::to_vec_pretty(&index).expect("index serializes"))
    }

    /// The digest `<repository>:<tag>` names.
    pub fn tagged(&self, repository: &str, tag: &str) -> Option<String> {
        self.tags.lock().expect("lock").get(&format!("{repository}:{tag}")).cloned()
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, OciError> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
            .ok_or_else(|| OciError::BadReference(digest.to_owned(), "not a sha256 digest".into()))?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    fn read_blob(&self, digest: &str) -> Result<Vec<u8>, OciError> {
        std::fs::read(self.blob_path(digest)?).map_err(|_| OciError::NotFound(digest.to_owned()))
    }

    fn write_blob(&self, blob: &Blob) -> Result<(), OciError> {
        if sha256_digest(&blob.data) != blob.digest {
            return Err(OciError::DigestMismatch {
                what: blob.digest.clone(),
                expected: blob.digest.clone(),
                actual: sha256_digest(&blob.data),
            });
        }
        let path = self.blob_path(&blob.digest)?;
        if !path.exists() {
            std::fs::write(&path, &blob.data).map_err(|e| OciError::Registry("the layout".into(), e.to_string()))?;
        }
        Ok(())
    }
}

fn reference_part(r: &Reference) -> Option<&str> {
    r.digest().or(r.tag())
}

#[async_trait]
impl ArtifactSource for LayoutDir {
    async fn resolve(&self, r: &Reference) -> Result<String, OciError> {
        match (r.digest(), r.tag()) {
            (Some(d), _) if self.manifests.lock().expect("lock").contains_key(d) => Ok(d.to_owned()),
            (None, Some(tag)) => self.tagged(r.repository(), tag).ok_or_else(|| OciError::NotFound(r.whole())),
            _ => Err(OciError::NotFound(r.whole())),
        }
    }

    async fn manifest(&self, r: &Reference) -> Result<(Vec<u8>, String), OciError> {
        let digest = self.resolve(r).await?;
        let data = self.read_blob(&digest)?;
        let actual = sha256_digest(&data);
        if actual != digest {
            return Err(OciError::DigestMismatch { what: r.whole(), expected: digest, actual });
        }
        Ok((data, digest))
    }

    async fn blob(&self, _repo: &Reference, desc: &Descriptor, max: u64) -> Result<Vec<u8>, OciError> {
        if desc.size > max {
            return Err(OciError::TooLarge(format!("{} is {} bytes; the limit is {max}", desc.digest, desc.size)));
        }
        let data = self.read_blob(&desc.digest)?;
        let actual = sha256_digest(&data);
        if actual != desc.digest || data.len() as u64 != desc.size {
            return Err(OciError::DigestMismatch { what: desc.digest.clone(), expected: desc.digest.clone(), actual });
        }
        Ok(data)
    }

    async fn referrers(&self, subject: &Reference) -> Result<Vec<Descriptor>, OciError> {
        let Some(digest) = reference_part(subject) else { return Ok(Vec::new()) };
        let manifests = self.manifests.lock().expect("lock");
        Ok(manifests
            .iter()
            .filter(|(_, (_, _, s))| s.as_deref() == Some(digest))
            .map(|(d, (media_type, size, _))| Descriptor {
                media_type: media_type.clone(),
                digest: d.clone(),
                size: *size,
                artifact_type: None,
                platform: None,
                annotations: None,
            })
            .collect())
    }
}

#[async_trait]
impl ArtifactSink for LayoutDir {
    async fn push_blob(&self, _repo: &Reference, blob: &Blob) -> Result<(), OciError> {
        self.write_blob(blob)
    }

    async fn push_manifest_at(&self, at: &Reference, manifest: &Blob) -> Result<(), OciError> {
        self.write_blob(manifest)?;
        let subject = serde_json::from_slice::<serde_json::Value>(&manifest.data)
            .ok()
            .and_then(|v| v["subject"]["digest"].as_str().map(str::to_owned));
        self.manifests
            .lock()
            .expect("lock")
            .insert(manifest.digest.clone(), (manifest.media_type.clone(), manifest.data.len() as u64, subject));
        if let (None, Some(tag)) = (at.digest(), at.tag()) {
            self.tags.lock().expect("lock").insert(format!("{}:{tag}", at.repository()), manifest.digest.clone());
        }
        Ok(())
    }
}
