//! The artifact layouts skilldex writes and reads (documented in `artifact-types/`).
//!
//! Writes: the ToolHive skill layout — an image index with linux/amd64 and linux/arm64
//! image manifests (`artifactType dev.toolhive.skills.v1`), a standard image config carrying
//! the `dev.toolhive.skills.*` labels and the layer's diff_id, and one tar+gzip layer with
//! `SKILL.md` at its root — plus skilldex's own `dev.skilldex.*` annotations. All JSON is
//! written from ordered maps, so equal input always gives equal digests.
//!
//! Reads: that layout, the agentskills layout (files under `<name>/`), and any manifest with
//! a single tar+gzip layer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::bundle::{Bundle, Packed};

pub mod media {
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
    pub const LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const TOOLHIVE_ARTIFACT: &str = "dev.toolhive.skills.v1";
    pub const AGENTSKILLS_ARTIFACT: &str = "application/vnd.agentskills.skill.v1";
    pub const AGENTSKILLS_CONFIG: &str = "application/vnd.agentskills.skill.config.v1+json";
    pub const AGENTSKILLS_LAYER: &str = "application/vnd.agentskills.skill.content.v1.tar+gzip";
    /// Every manifest type skilldex asks registries for.
    pub const ACCEPT: &[&str] = &[INDEX, MANIFEST, DOCKER_MANIFEST, DOCKER_LIST];
    /// Layer types that hold a bundle's tar+gzip.
    pub const TAR_GZIP_LAYERS: &[&str] = &[
        LAYER_TAR_GZIP,
        DOCKER_LAYER,
        AGENTSKILLS_LAYER,
        "application/gzip",
        "application/x-gzip",
        "application/tar+gzip",
    ];
}

pub mod keys {
    pub const CREATED: &str = "org.opencontainers.image.created";
    pub const TITLE: &str = "org.opencontainers.image.title";
    pub const TH_NAME: &str = "dev.toolhive.skills.name";
    pub const TH_DESCRIPTION: &str = "dev.toolhive.skills.description";
    pub const TH_VERSION: &str = "dev.toolhive.skills.version";
    /// A JSON array of OCI references: the skills this one needs, as ToolHive writes them.
    pub const TH_REQUIRES: &str = "dev.toolhive.skills.requires";
    /// The SKILL.md `metadata` key ToolHive fills `TH_REQUIRES` from (one reference per line).
    pub const TH_METADATA_REQUIRES: &str = "toolhive.requires";
    pub const TH_LICENSE: &str = "dev.toolhive.skills.license";
    pub const TH_ALLOWED_TOOLS: &str = "dev.toolhive.skills.allowedTools";
    pub const TH_FILES: &str = "dev.toolhive.skills.files";
    pub const SDX_NAMESPACE: &str = "dev.skilldex.namespace";
    pub const SDX_NAME: &str = "dev.skilldex.name";
    pub const SDX_VERSION: &str = "dev.skilldex.version";
    /// The diff_id of the content layer: the identity of the files, whatever the wrapping.
    pub const SDX_CONTENT_DIGEST: &str = "dev.skilldex.content-digest";
}

/// The platforms the ToolHive layout lists, so clients on either pick the artifact.
pub const PLATFORMS: [(&str, &str); 2] = [("linux", "amd64"), ("linux", "arm64")];

/// The layer's file name, as ToolHive titles it.
pub const LAYER_TITLE: &str = "skill.tar.gz";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Index {
    /// A plain image index listing `manifests` (referrers answers, layout `index.json`).
    pub fn listing(manifests: Vec<Descriptor>) -> Self {
        Index {
            schema_version: 2,
            media_type: Some(media::INDEX.to_owned()),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: None,
        }
    }
}

/// Content and its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, data: Vec<u8>) -> Self {
        Self { media_type: media_type.to_owned(), digest: sha256_digest(&data), data }
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.data.len() as u64,
            artifact_type: None,
            platform: None,
            annotations: None,
        }
    }
}

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Who an artifact is, for the `dev.skilldex.*` annotations.
#[derive(Debug, Clone)]
pub struct Identity<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub version: &'a str,
}

/// A complete artifact ready to push: blobs first, then manifests, then the index.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub layer: Blob,
    pub configs: Vec<Blob>,
    pub manifests: Vec<Blob>,
    pub index: Blob,
}

impl Artifact {
    pub fn digest(&self) -> &str {
        &self.index.digest
    }

    /// The bytes one pulls, summed over every blob and manifest.
    pub fn size(&self) -> u64 {
        let blobs = self.configs.iter().chain(&self.manifests).map(|b| b.data.len() as u64).sum::<u64>();
        blobs + self.layer.data.len() as u64 + self.index.data.len() as u64
    }
}

/// The references in a `toolhive.requires` metadata value: one per line, blank lines skipped.
pub fn toolhive_requires(value: &str) -> Vec<String> {
    value.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// The references a manifest's `dev.toolhive.skills.requires` annotation lists; none when it
/// is missing or not a JSON array of strings (as ToolHive reads it).
pub fn annotated_requires(manifest: &Manifest) -> Vec<String> {
    manifest
        .annotations
        .as_ref()
        .and_then(|a| a.get(keys::TH_REQUIRES))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// Builds the ToolHive layout for a bundle. `created` (seconds) is recorded only when given,
/// so that builds are reproducible unless `SOURCE_DATE_EPOCH` asks for a date.
pub fn build_toolhive(bundle: &Bundle, packed: &Packed, id: &Identity<'_>, created: Option<u64>) -> Artifact {
    let fm = &bundle.skill.frontmatter;
    let layer = Blob::new(media::LAYER_TAR_GZIP, packed.tar_gz.clone());
    let created_at = created.map(|s| {
        chrono::DateTime::from_timestamp(s as i64, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    });

    let mut labels = BTreeMap::new();
    labels.insert(keys::TH_NAME, fm.name.to_string());
    labels.insert(keys::TH_DESCRIPTION, fm.description.clone());
    labels.insert(keys::TH_VERSION, id.version.to_owned());
    if let Some(l) = &fm.license {
        labels.insert(keys::TH_LICENSE, l.clone());
    }
    labels.insert(keys::TH_ALLOWED_TOOLS, serde_json::to_string(&fm.allowed_tools).expect("strings serialize"));
    let files: Vec<&str> = bundle.files.iter().map(|f| f.path.as_str()).collect();
    labels.insert(keys::TH_FILES, serde_json::to_string(&files).expect("strings serialize"));

    let mut annotations = BTreeMap::new();
    annotations.insert(keys::TH_NAME.to_owned(), fm.name.to_string());
    annotations.insert(keys::TH_DESCRIPTION.to_owned(), fm.description.clone());
    annotations.insert(keys::TH_VERSION.to_owned(), id.version.to_owned());
    // As ToolHive packs it: only its own references, so `thv` can pull each one.
    let toolhive_requires =
        fm.metadata.get(keys::TH_METADATA_REQUIRES).map(|v| toolhive_requires(v)).unwrap_or_default();
    if !toolhive_requires.is_empty() {
        annotations.insert(keys::TH_REQUIRES.to_owned(), serde_json::to_string(&toolhive_requires).expect("serialize"));
    }
    annotations.insert(keys::SDX_NAMESPACE.to_owned(), id.namespace.to_owned());
    annotations.insert(keys::SDX_NAME.to_owned(), id.name.to_owned());
    annotations.insert(keys::SDX_VERSION.to_owned(), id.version.to_owned());
    annotations.insert(keys::SDX_CONTENT_DIGEST.to_owned(), packed.diff_id.clone());
    if let Some(c) = &created_at {
        annotations.insert(keys::CREATED.to_owned(), c.clone());
    }

    let mut layer_desc = layer.descriptor();
    layer_desc.annotations = Some(BTreeMap::from([(keys::TITLE.to_owned(), LAYER_TITLE.to_owned())]));

    let mut configs = Vec::new();
    let mut manifests = Vec::new();
    let mut entries = Vec::new();
    for (os, arch) in PLATFORMS {
        let mut config = serde_json::json!({
            "architecture": arch,
            "os": os,
            "config": { "Labels": labels },
            "rootfs": { "type": "layers", "diff_ids": [packed.diff_id] },
            "history": [{ "created_by": "skilldex pack" }],
        });
        if let Some(c) = &created_at {
            config["created"] = serde_json::Value::String(c.clone());
            config["history"][0]["created"] = serde_json::Value::String(c.clone());
        }
        let config = Blob::new(media::IMAGE_CONFIG, serde_json::to_vec(&config).expect("serialize"));
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::MANIFEST.to_owned()),
            artifact_type: Some(media::TOOLHIVE_ARTIFACT.to_owned()),
            config: config.descriptor(),
            layers: vec![layer_desc.clone()],
            subject: None,
            annotations: Some(annotations.clone()),
        };
        let manifest = Blob::new(media::MANIFEST, serde_json::to_vec(&manifest).expect("serialize"));
        let mut entry = manifest.descriptor();
        entry.platform = Some(Platform { architecture: arch.to_owned(), os: os.to_owned() });
        entries.push(entry);
        configs.push(config);
        manifests.push(manifest);
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(media::INDEX.to_owned()),
        artifact_type: Some(media::TOOLHIVE_ARTIFACT.to_owned()),
        manifests: entries,
        subject: None,
        annotations: Some(annotations),
    };
    let index = Blob::new(media::INDEX, serde_json::to_vec(&index).expect("serialize"));
    Artifact { layer, configs, manifests, index }
}

/// Writes an artifact as an OCI image layout directory (`oci-layout`, `index.json`,
/// `blobs/sha256/…`), its index tagged `tag`, as skopeo and umoci read it.
pub fn write_oci_layout(dir: &std::path::Path, artifact: &Artifact, tag: &str) -> std::io::Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    let all = std::iter::once(&artifact.layer).chain(&artifact.configs).chain(&artifact.manifests);
    for b in all.chain(std::iter::once(&artifact.index)) {
        std::fs::write(blobs.join(b.digest.trim_start_matches("sha256:")), &b.data)?;
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut entry = artifact.index.descriptor();
    entry.annotations = Some(BTreeMap::from([("org.opencontainers.image.ref.name".to_owned(), tag.to_owned())]));
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&Index::listing(vec![entry])).expect("serialize"))
}

/// Which layout a manifest is in, by `artifactType` or, failing that, `config.mediaType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    ToolHive,
    AgentSkills,
    PlainTarGzip,
}

impl LayoutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LayoutKind::ToolHive => "toolhive",
            LayoutKind::AgentSkills => "agentskills",
            LayoutKind::PlainTarGzip => "tar+gzip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LayoutError(pub String);

/// A parsed top-level manifest: an index to pick from, or a manifest to read.
#[derive(Debug, Clone)]
pub enum TopLevel {
    Index(Index),
    Manifest(Manifest),
}

/// Whether a manifest or index and each descriptor in it are JSON objects: serde would also
/// read them from arrays of their fields, which no other tool accepts as a manifest.
fn objects_where_structs(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    let absent_or_object = |x: Option<&Value>| x.is_none_or(|x| x.is_object() || x.is_null());
    let descriptor = |d: &Value| d.is_object() && absent_or_object(d.get("platform"));
    let all_descriptors = |key: &str| v.get(key).and_then(Value::as_array).is_none_or(|a| a.iter().all(descriptor));
    v.is_object()
        && ["config", "subject"].iter().all(|k| v.get(*k).is_none_or(|d| d.is_null() || descriptor(d)))
        && all_descriptors("layers")
        && all_descriptors("manifests")
}

/// Parses manifest bytes, using `mediaType` when present and the shape when not.
pub fn parse_top(bytes: &[u8]) -> Result<TopLevel, LayoutError> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| LayoutError(format!("the manifest is not JSON: {e}")))?;
    if !objects_where_structs(&v) {
        return Err(LayoutError("a manifest, and each descriptor in it, must be a JSON object".into()));
    }
    let media_type = v.get("mediaType").and_then(|m| m.as_str());
    let is_index = match media_type {
        Some(media::INDEX | media::DOCKER_LIST) => true,
        Some(media::MANIFEST | media::DOCKER_MANIFEST) => false,
        Some(other) => return Err(LayoutError(format!("unsupported manifest media type `{other}`"))),
        None => v.get("manifests").is_some(),
    };
    if is_index {
        serde_json::from_value(v).map(TopLevel::Index).map_err(|e| LayoutError(format!("invalid image index: {e}")))
    } else {
        serde_json::from_value(v).map(TopLevel::Manifest).map_err(|e| LayoutError(format!("invalid manifest: {e}")))
    }
}

/// The index entry to read: linux/amd64 when listed, else the first (as `thv` does).
pub fn pick_from_index(index: &Index) -> Result<&Descriptor, LayoutError> {
    let is_amd64 = |d: &&Descriptor| d.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == "amd64");
    index
        .manifests
        .iter()
        .find(is_amd64)
        .or_else(|| index.manifests.first())
        .ok_or_else(|| LayoutError("the image index lists no manifests".into()))
}

/// Finds the layout and the one layer holding the bundle.
pub fn classify(manifest: &Manifest) -> Result<(LayoutKind, &Descriptor), LayoutError> {
    let kind_hint = manifest.artifact_type.as_deref().unwrap_or(manifest.config.media_type.as_str());
    let kind = match kind_hint {
        media::TOOLHIVE_ARTIFACT => LayoutKind::ToolHive,
        media::AGENTSKILLS_ARTIFACT | media::AGENTSKILLS_CONFIG => LayoutKind::AgentSkills,
        _ => LayoutKind::PlainTarGzip,
    };
    let layers: Vec<&Descriptor> =
        manifest.layers.iter().filter(|l| media::TAR_GZIP_LAYERS.contains(&l.media_type.as_str())).collect();
    match layers.as_slice() {
        [one] => Ok((kind, one)),
        [] => Err(LayoutError(format!(
            "no tar+gzip layer in the manifest (layer types: {})",
            manifest.layers.iter().map(|l| l.media_type.as_str()).collect::<Vec<_>>().join(", ")
        ))),
        _ => Err(LayoutError("the manifest has more than one tar+gzip layer; a skill is one layer".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Limits;

    fn bundle() -> Bundle {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("SKILL.md"),
            "---\nname: demo\ndescription: A demo\nallowed-tools: Read\n---\nHi\n",
        )
        .unwrap();
        Bundle::from_dir(d.path(), &Limits::default()).unwrap()
    }

    #[test]
    fn toolhive_layout_is_reproducible_and_readable() {
        let b = bundle();
        let id = Identity { namespace: "acme", name: "demo", version: "1.0.0" };
        let a1 = build_toolhive(&b, &b.pack(0), &id, None);
        let a2 = build_toolhive(&b, &b.pack(0), &id, None);
        assert_eq!(a1.index, a2.index, "same input, same digest");
        assert_ne!(build_toolhive(&b, &b.pack(0), &id, Some(1_700_000_000)).digest(), a1.digest());

        let TopLevel::Index(index) = parse_top(&a1.index.data).unwrap() else { panic!("index expected") };
        assert_eq!(index.artifact_type.as_deref(), Some(media::TOOLHIVE_ARTIFACT));
        assert_eq!(index.manifests.len(), 2);
        let picked = pick_from_index(&index).unwrap();
        assert_eq!(picked.platform.as_ref().unwrap().architecture, "amd64");
        let TopLevel::Manifest(m) = parse_top(&a1.manifests[0].data).unwrap() else { panic!("manifest expected") };
        let (kind, layer) = classify(&m).unwrap();
        assert_eq!(kind, LayoutKind::ToolHive);
        assert_eq!(layer.digest, a1.layer.digest);
        let config: serde_json::Value = serde_json::from_slice(&a1.configs[0].data).unwrap();
        assert_eq!(config["config"]["Labels"][keys::TH_NAME], "demo");
        assert_eq!(config["config"]["Labels"][keys::TH_ALLOWED_TOOLS], "[\"Read\"]");
        assert_eq!(config["rootfs"]["diff_ids"][0], b.pack(0).diff_id);
        assert!(config.get("created").is_none());
        assert_eq!(m.annotations.as_ref().unwrap()[keys::SDX_NAMESPACE], "acme");
    }

    #[test]
    fn other_layouts_are_recognised() {
        let layer = Descriptor {
            media_type: media::AGENTSKILLS_LAYER.into(),
            digest: "sha256:00".into(),
            size: 1,
            artifact_type: None,
            platform: None,
            annotations: None,
        };
        let mut m = Manifest {
            schema_version: 2,
            media_type: None,
            artifact_type: None,
            config: Descriptor { media_type: media::AGENTSKILLS_CONFIG.into(), ..layer.clone() },
            layers: vec![layer.clone()],
            subject: None,
            annotations: None,
        };
        assert_eq!(classify(&m).unwrap().0, LayoutKind::AgentSkills, "falls back to config.mediaType");
        m.config.media_type = media::EMPTY.into();
        m.artifact_type = Some("application/vnd.example+type".into());
        m.layers[0].media_type = media::LAYER_TAR_GZIP.into();
        assert_eq!(classify(&m).unwrap().0, LayoutKind::PlainTarGzip);
        m.layers.push(m.layers[0].clone());
        assert!(classify(&m).is_err());
        assert!(parse_top(br#"{"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}"#).is_err());
    }
}
