//! The records the index keeps, as every layer sees them: what a user, token, team, skill,
//! version, channel, upload or audit entry is. The store reads and writes them; services
//! decide who may see and change them; facades turn them into wire shapes.

use serde::{Deserialize, Serialize};

use super::{
    Millis, Namespace, SkillKind, SkillName, SkillType, Tag, TeamRole, TokenKind, TokenScope, Username, VersionStatus,
    Visibility,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: Username,
    pub email: String,
    pub is_admin: bool,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub scope: TokenScope,
    pub kind: TokenKind,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    /// Budgets a site administrator set for this token, over the server's.
    pub rate_limits: Option<crate::ratelimit::Settings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: String,
    pub namespace: Namespace,
    pub display_name: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub username: Username,
    pub role: TeamRole,
    pub added_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Skill {
    pub id: String,
    pub namespace: Namespace,
    pub name: SkillName,
    pub display_name: String,
    pub description: String,
    pub readme: String,
    pub visibility: Visibility,
    pub tags: Vec<String>,
    pub skill_type: SkillType,
    pub kind: SkillKind,
    /// Left the catalog: listed and searched nowhere, still resolvable.
    pub archived: bool,
    pub downloads: i64,
    pub stars: i64,
    pub latest_version: Option<String>,
    pub deprecated: bool,
    pub deprecated_message: Option<String>,
    pub forked_from: Option<String>,
    pub deleted_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A partial update: `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct SkillPatch {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub readme: Option<String>,
    pub visibility: Option<Visibility>,
    pub tags: Option<Vec<Tag>>,
    pub skill_type: Option<SkillType>,
    pub kind: Option<SkillKind>,
    pub archived: Option<bool>,
    pub deprecated: Option<bool>,
    pub deprecated_message: Option<Option<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkillSort {
    Downloads,
    Updated,
    Name,
    Stars,
    Relevance,
}

/// A listed skill with its relevance score (0 when the query had no terms).
#[derive(Debug, Clone)]
pub struct SkillHit {
    pub skill: Skill,
    pub rank: f64,
    /// For a search by meaning alone: the cosine similarity of the skill to the query.
    pub similarity: Option<f32>,
}

/// Everything a stored version carries. In the index alone (before a bundle is stored as an
/// OCI artifact) the artifact fields are empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub id: String,
    pub skill_id: String,
    pub version: String,
    pub status: VersionStatus,
    pub changelog: Option<String>,
    pub entry_point: String,
    pub skill_type: SkillType,
    pub install_path: Option<String>,
    pub file_count: i64,
    pub archive_size: i64,
    pub archive_sha256: Option<String>,
    /// `registry/repo@sha256:…`: where the artifact lives, pinned by digest.
    pub reference: Option<String>,
    pub digest: Option<String>,
    pub media_type: Option<String>,
    /// Size in bytes of the manifest `digest` names.
    pub manifest_size: Option<i64>,
    /// The artifact layout it was read in: `toolhive`, `agentskills` or `tar+gzip`.
    pub layout: Option<String>,
    /// JSON array of `{path, size, sha256}`.
    pub file_tree: Vec<FileEntry>,
    /// JSON object: the SKILL.md frontmatter.
    pub frontmatter: JsonObject,
    pub readme: Option<String>,
    /// JSON object: the signature verdict, once verification exists.
    pub signature: Option<serde_json::Value>,
    pub created_at: Millis,
    pub published_at: Option<Millis>,
    /// Its requirements as published: SKILL.md's `requires:` entries, then ToolHive's
    /// references. `None` for versions recorded before these were kept (read from the
    /// frontmatter instead).
    pub requires: Option<Vec<String>>,
}

/// A version's npm tarball, as the npm surface describes it: `sha512-<base64>` integrity,
/// hex sha1 shasum and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmDist {
    pub integrity: String,
    pub shasum: String,
    pub size: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    pub version: Option<String>,
    pub updated_at: Millis,
}

/// A prepared upload: what finalize will check the archive against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    /// None for a first version: the skill is created from `metadata.create` when it is stored.
    pub skill_id: Option<String>,
    pub version: String,
    pub archive_sha256: String,
    pub archive_size: i64,
    /// JSON object: fileTree, entryPoint, skillType, installPath, manifestJson as sent.
    pub metadata: serde_json::Value,
    pub created_by: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: String,
    pub at: Millis,
    pub actor: Option<String>,
    pub action: String,
    pub target: String,
    /// JSON object with action-specific details.
    pub detail: serde_json::Value,
}

/// A JSON object, as the SKILL.md frontmatter is stored.
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// One entry of a bundle's file tree, as csreg lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// A version clients can fetch: not a draft, and recorded with its artifact, so its pinned
/// reference and digest are always there. Every surface that hands out artifacts (resolve,
/// ToolHive, npm, MCP, downloads) works on these; the rule is `ReleasedVersion::of`, once.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleasedVersion {
    /// `registry/repo@sha256:…`, as the reader should fetch it.
    pub reference: String,
    /// The top manifest's digest.
    pub digest: String,
    /// The whole record; its fields are reached through `Deref`.
    pub record: Version,
}

impl ReleasedVersion {
    /// The version, when it is released.
    pub fn of(record: Version) -> Option<Self> {
        if record.status == VersionStatus::Draft {
            return None;
        }
        let (Some(reference), Some(digest)) = (record.reference.clone(), record.digest.clone()) else {
            return None;
        };
        Some(Self { reference, digest, record })
    }
}

impl std::ops::Deref for ReleasedVersion {
    type Target = Version;

    fn deref(&self) -> &Version {
        &self.record
    }
}
