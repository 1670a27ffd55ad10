//! The metadata index: one store trait per aggregate (accounts, catalog, uploads, the OCI
//! store's metadata, audit), together `Store`, with two backends (SQLite for one node,
//! PostgreSQL for many). Both backends share their SQL through `sql.rs`; only search and
//! connection set-up differ. The store enforces integrity (uniqueness, last-owner, latest pointer) inside
//! transactions; who may do what is decided above it, in `service`.

#[macro_use]
mod sql;
mod postgres;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{
    ChannelName, DraftStatus, Millis, Namespace, ReviewRating, ReviewTarget, SkillKind, SkillName, SkillType, Tag,
    TeamRole, TokenKind, TokenScope, Username, VersionStatus, Visibility, WishStatus,
};

pub use crate::domain::entity::{
    AuditEntry, Channel, Member, NpmDist, Skill, SkillHit, SkillPatch, SkillSort, Team, Token, Upload, User, Version,
};
/// A token's last use is recorded at most once a minute, so reads don't turn into writes.
pub const TOUCH_INTERVAL_MS: i64 = 60_000;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit: the thing already exists.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The change would break an invariant the store keeps (e.g. a team without owners).
    #[error("{0}")]
    Invariant(String),
    #[error("referenced record not found: {0}")]
    Missing(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A database failure that is not a fault of the request or of the server's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Unreachable, restarting or out of connections: it passes, a retry may succeed.
    Unavailable,
    /// The disk under the database is full.
    Full,
}

impl StoreError {
    /// Which outage this is, if it is one; anything else is the server's own failure.
    pub fn outage(&self) -> Option<Outage> {
        let StoreError::Database(e) = self else { return None };
        match e {
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => Some(Outage::Full),
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Some(Outage::Unavailable),
            sqlx::Error::Database(d) => match d.code().as_deref() {
                // SQLite's SQLITE_FULL; PostgreSQL's disk_full.
                Some("13" | "53100") => Some(Outage::Full),
                // PostgreSQL: connection exceptions, a shutdown or restart under way, too
                // many connections.
                Some("08000" | "08001" | "08003" | "08004" | "08006" | "57P01" | "57P02" | "57P03" | "53300") => {
                    Some(Outage::Unavailable)
                }
                _ => None,
            },
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: String,
    pub is_admin: bool,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub user_id: String,
    pub name: String,
    pub scope: TokenScope,
    pub kind: TokenKind,
    /// SHA-256 of the secret, hex; the secret itself is never stored.
    pub hash: String,
    pub expires_at: Option<Millis>,
}

#[derive(Debug, Clone)]
pub struct NewSkill {
    pub namespace: Namespace,
    pub name: SkillName,
    pub display_name: String,
    pub description: String,
    pub readme: String,
    pub visibility: Visibility,
    pub tags: Vec<Tag>,
    pub skill_type: SkillType,
    pub kind: SkillKind,
    pub forked_from: Option<String>,
}

/// What a presented token stands for: the token, its user, and the namespaces whose teams
/// the user belongs to (in any role), read together.
#[derive(Debug, Clone, PartialEq)]
pub struct Bearer {
    pub token: Token,
    pub user: User,
    pub namespaces: Vec<String>,
}

/// A browser session: it acts as `token_id` until `expires_at` or revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// SHA-256 (hex) of the cookie's secret.
    pub id: String,
    pub token_id: String,
    pub csrf: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// A team's own OpenID provider (skill-pool's per-tenant SSO).
#[derive(Clone, PartialEq, Eq)]
pub struct OidcProvider {
    pub issuer: String,
    pub client_id: String,
    /// Never returned by the API.
    pub client_secret: String,
    /// The role a person this provider signs in for the first time gets in the team.
    pub default_role: TeamRole,
    pub updated_at: Millis,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("default_role", &self.default_role)
            .finish_non_exhaustive()
    }
}

/// Someone an OpenID provider signed in: the user, and the token their sessions act as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    pub user_id: String,
    pub token_id: Option<String>,
}

/// Whose eyes a listing is for; private skills are filtered in the query itself so that
/// pagination and counts never include what the viewer may not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    Anonymous,
    /// A signed-in user: sees public skills and the private skills of their teams.
    Member {
        user_id: String,
    },
    /// A site administrator: sees everything that is not deleted.
    Everyone,
}

/// Where the previous page stopped: the sort key of its last row and that row's id.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Int(i64),
    Text(String),
    Float(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SkillCursor {
    pub key: SortKey,
    pub id: String,
}

/// One use of a skill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageEvent {
    /// Its content was fetched: a bundle, an npm tarball, an install.
    Download,
    /// Its SKILL.md was read.
    View,
}

impl UsageEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageEvent::Download => "download",
            UsageEvent::View => "view",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillUsage {
    pub skill_id: String,
    pub downloads: i64,
    pub views: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayUsage {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub downloads: i64,
    pub views: i64,
    pub skills: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageTotal {
    pub skill_id: String,
    pub uses: i64,
    pub last_used_at: Option<Millis>,
}

#[derive(Debug, Clone)]
pub struct SkillQuery {
    /// Search terms, already split into plain word tokens (no query syntax reaches SQL).
    pub terms: Vec<String>,
    pub namespace: Option<Namespace>,
    /// Every one of these tags (none: any).
    pub tags: Vec<String>,
    pub skill_type: Option<SkillType>,
    pub kind: Option<SkillKind>,
    pub sort: SkillSort,
    pub after: Option<SkillCursor>,
    pub limit: i64,
    pub audience: Audience,
    /// Only skills with a published version.
    pub published_only: bool,
    /// Only deprecated (`Some(true)`) or only not deprecated (`Some(false)`) skills.
    pub deprecated: Option<bool>,
    /// Only archived (`Some(true)`) or only not archived (`Some(false)`) skills.
    pub archived: Option<bool>,
    /// Only namespaces matching one of these globs (`*`, `?`; checked to hold nothing else).
    pub namespace_globs: Vec<String>,
    /// Rows to skip after the sort (offset paging, for surfaces that page by `from`).
    pub offset: i64,
}

#[derive(Debug, Clone, Default)]
pub struct NewVersion {
    pub skill_id: String,
    pub version: String,
    pub status: Option<VersionStatus>,
    pub changelog: Option<String>,
    pub entry_point: Option<String>,
    pub skill_type: Option<SkillType>,
    pub install_path: Option<String>,
    pub file_count: i64,
    pub archive_size: i64,
    pub archive_sha256: Option<String>,
    pub reference: Option<String>,
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub manifest_size: Option<i64>,
    pub layout: Option<String>,
    pub file_tree: Option<Vec<crate::domain::entity::FileEntry>>,
    pub frontmatter: Option<crate::domain::entity::JsonObject>,
    pub readme: Option<String>,
    pub signature: Option<serde_json::Value>,
    /// The version's requirements as published (see [`Version::requires`]).
    pub requires: Vec<String>,
}

/// A manifest stored in the embedded OCI store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciManifest {
    pub repo: String,
    pub digest: String,
    pub media_type: String,
    pub size: i64,
    pub artifact_type: Option<String>,
    /// The digest of the manifest this one refers to (`subject`).
    pub subject: Option<String>,
    /// JSON object of the manifest's annotations, for referrers listings.
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewAudit {
    pub actor: Option<String>,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

/// Users, their tokens, and teams with their members.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn count_users(&self) -> StoreResult<i64>;
    async fn create_user(&self, new: &NewUser) -> StoreResult<User>;
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    /// Users by name, after `after` (a username), at most `limit`.
    async fn list_users(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<User>>;
    async fn create_token(&self, new: &NewToken) -> StoreResult<Token>;
    /// The token with this hash, its user and the user's namespaces, in one round trip.
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<Bearer>>;
    async fn token_by_id(&self, id: &str) -> StoreResult<Option<Token>>;
    async fn tokens_of(&self, user_id: &str) -> StoreResult<Vec<Token>>;
    /// Returns false when there was no live token with that id.
    async fn revoke_token(&self, id: &str, at: Millis) -> StoreResult<bool>;
    /// Opens a browser session acting as a token (`id` is the hash of the cookie's secret).
    async fn create_session(&self, session: &WebSession) -> StoreResult<()>;
    /// A live or dead session by hash, with its token, user and namespaces in one round trip.
    async fn session_by_hash(&self, hash: &str) -> StoreResult<Option<(WebSession, Bearer)>>;
    /// Ends a session; false when there was no live one.
    async fn revoke_session(&self, hash: &str, at: Millis) -> StoreResult<bool>;
    /// A user's live browser sessions (not ended, not expired at `now`, their token live),
    /// newest first, at most `limit`, each with its token's name.
    async fn live_sessions_of(&self, user_id: &str, now: Millis, limit: i64) -> StoreResult<Vec<(WebSession, String)>>;
    /// Ends one of a user's sessions; false when the user has no such live session.
    async fn revoke_session_of(&self, user_id: &str, hash: &str, at: Millis) -> StoreResult<bool>;
    /// Deletes sessions that expired or ended before `before`; how many.
    async fn purge_sessions(&self, before: Millis) -> StoreResult<u64>;
    /// The token with this id as a bearer (its user and namespaces), in one round trip.
    async fn bearer_by_token_id(&self, id: &str) -> StoreResult<Option<Bearer>>;
    /// The users, site administrators aside, with this email address (in any case) that no
    /// OpenID provider signed in yet (at most `limit`).
    async fn unlinked_users_by_email(&self, email: &str, limit: i64) -> StoreResult<Vec<User>>;
    /// Makes the user a member with `role` unless they are one already; whether they joined.
    async fn join_team(&self, team_id: &str, user_id: &str, role: TeamRole, at: Millis) -> StoreResult<bool>;
    /// A team's own OpenID provider.
    async fn oidc_provider(&self, team_id: &str) -> StoreResult<Option<OidcProvider>>;
    /// Sets or (with `None`) removes a team's provider; false when there was none to remove.
    async fn set_oidc_provider(&self, team_id: &str, provider: Option<&OidcProvider>) -> StoreResult<bool>;
    /// Whom `subject` at `issuer` is.
    async fn oidc_identity(&self, issuer: &str, subject: &str) -> StoreResult<Option<OidcIdentity>>;
    /// Records that `subject` at `issuer` is the existing user `user_id`;
    /// `Conflict("identity")` when the subject is known already, or the user already has a
    /// subject at that issuer.
    async fn link_oidc_identity(&self, issuer: &str, subject: &str, user_id: &str) -> StoreResult<()>;
    /// Creates the user `subject` at `issuer` is, and records it, in one transaction;
    /// `Conflict("identity")` when the subject is known already, `Conflict("user")` when the
    /// name is taken.
    async fn create_oidc_user(&self, issuer: &str, subject: &str, new: &NewUser) -> StoreResult<User>;
    /// The token the identity's sessions act as, if it is still `previous` (so of two
    /// sign-ins at once only one records its token); whether it was recorded.
    async fn set_oidc_identity_token(
        &self,
        issuer: &str,
        subject: &str,
        token_id: &str,
        previous: Option<&str>,
    ) -> StoreResult<bool>;
    /// The site's theme settings (JSON) and when they changed.
    async fn theme(&self) -> StoreResult<Option<(String, Millis)>>;
    async fn set_theme(&self, settings: &str, at: Millis) -> StoreResult<()>;
    /// When each stored theme image changed, by name.
    async fn theme_asset_versions(&self) -> StoreResult<Vec<(String, Millis)>>;
    /// A theme image (`logo`, `favicon`): its content type, bytes and when it changed.
    async fn theme_asset(&self, name: &str) -> StoreResult<Option<(String, Vec<u8>, Millis)>>;
    /// Stores or (with `None`) removes a theme image; false when there was none to remove.
    async fn set_theme_asset(&self, name: &str, asset: Option<(&str, &[u8])>, at: Millis) -> StoreResult<bool>;
    /// Sets (or with `None` clears) a token's own rate limits; false when there is no such token.
    async fn set_token_rate_limits(&self, id: &str, limits: Option<&str>) -> StoreResult<bool>;
    /// Records use, at most about once a minute per token to spare the database.
    async fn touch_token(&self, id: &str, at: Millis) -> StoreResult<()>;
    /// Creates the team and makes `owner_id` its first owner, atomically.
    async fn create_team(&self, namespace: &Namespace, display_name: &str, owner_id: &str) -> StoreResult<Team>;
    async fn team_by_namespace(&self, namespace: &str) -> StoreResult<Option<Team>>;
    /// Teams by slug, after `after` (a slug), at most `limit`.
    async fn list_teams(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<Team>>;
    async fn team_members(&self, team_id: &str) -> StoreResult<Vec<Member>>;
    async fn member_role(&self, namespace: &str, user_id: &str) -> StoreResult<Option<TeamRole>>;
    /// Adds or changes a member; refuses to leave the team without an owner.
    async fn set_member(&self, team_id: &str, user_id: &str, role: TeamRole, at: Millis) -> StoreResult<()>;
    /// Returns false when the user was not a member; refuses to remove the last owner.
    async fn remove_member(&self, team_id: &str, user_id: &str) -> StoreResult<bool>;
}

/// Skills, their versions (with stored artifact facts), channels, stars, npm tarball facts,
/// and the listing query every catalog surface runs.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    async fn create_skill(&self, new: &NewSkill, at: Millis) -> StoreResult<Skill>;
    /// Removes a skill that never got a version and that no publish is working on (a first
    /// publish that failed after creating it); false when it has either, or is gone.
    async fn remove_unused_skill(&self, id: &str, at: Millis) -> StoreResult<bool>;
    /// Creates a skill and, in the same transaction, its first version.
    async fn fork_skill(&self, new: &NewSkill, version: Option<&NewVersion>, at: Millis) -> StoreResult<Skill>;
    /// Looks a skill up whatever its visibility or deletion state.
    async fn skill(&self, namespace: &str, name: &str) -> StoreResult<Option<Skill>>;
    /// The same, by id.
    async fn skill_by_id(&self, id: &str) -> StoreResult<Option<Skill>>;
    /// These skills (any that exist, in no particular order), in one query.
    async fn skills_by_ids(&self, ids: &[String]) -> StoreResult<Vec<Skill>>;
    /// Changes to skills after sequence number `seq` (sequence, skill id, when), oldest first.
    async fn skill_changes_after(&self, seq: i64, limit: i64) -> StoreResult<Vec<(i64, String, Millis)>>;
    /// Forgets changes older than `before` (every running replica has long applied them, and
    /// one that starts again and finds changes it missed gone rebuilds its index), except the
    /// newest, which shows how far the sequence has come; returns how many went.
    async fn prune_skill_changes(&self, before: Millis) -> StoreResult<u64>;
    /// The newest change's sequence number (0 before any).
    async fn last_skill_change(&self) -> StoreResult<i64>;
    /// Skills not deleted, by id, after `after`: for walking the whole catalog in batches.
    async fn skills_after(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<Skill>>;
    async fn update_skill(&self, id: &str, patch: &SkillPatch, at: Millis) -> StoreResult<Skill>;
    async fn set_skill_deleted(&self, id: &str, deleted_at: Option<Millis>) -> StoreResult<()>;
    async fn list_skills(&self, query: &SkillQuery) -> StoreResult<Vec<SkillHit>>;
    /// How many skills `query` matches in all, ignoring its cursor, offset and limit.
    async fn count_skills(&self, query: &SkillQuery) -> StoreResult<i64>;
    /// Whether this user starred this skill.
    async fn has_star(&self, skill_id: &str, user_id: &str) -> StoreResult<bool>;
    /// Sets or clears a star and returns the new star count.
    async fn set_star(&self, skill_id: &str, user_id: &str, starred: bool, at: Millis) -> StoreResult<i64>;
    /// Inserts a version; when it is published, `latest` moves in the same transaction.
    async fn create_version(&self, new: &NewVersion, at: Millis) -> StoreResult<Version>;
    async fn versions(&self, skill_id: &str) -> StoreResult<Vec<Version>>;
    /// The version numbers a range may resolve to: published, with an artifact. Only the
    /// numbers, so a range over hundreds of versions reads one row in full.
    async fn released_version_numbers(&self, skill_id: &str) -> StoreResult<Vec<String>>;
    async fn version(&self, skill_id: &str, version: &str) -> StoreResult<Option<Version>>;
    /// The `latest` version of each of these skills that has one, in one query.
    async fn latest_versions(&self, skill_ids: &[String]) -> StoreResult<Vec<Version>>;
    /// Changes a version's status and recomputes `latest` in the same transaction.
    async fn set_version_status(
        &self,
        skill_id: &str,
        version: &str,
        status: VersionStatus,
        at: Millis,
    ) -> StoreResult<Version>;
    /// Replaces a version's stored signature verdict (JSON), `None` to clear it.
    async fn set_version_signature(
        &self,
        skill_id: &str,
        version: &str,
        verdict: Option<&serde_json::Value>,
    ) -> StoreResult<()>;
    /// Every skill (not deleted) with its versions that have a stored artifact, optionally
    /// within one namespace; for re-checking signatures.
    async fn stored_versions(&self, namespace: Option<&str>) -> StoreResult<Vec<(Skill, Version)>>;
    /// The npm tarball facts known for a skill's versions, by version id.
    async fn npm_dists(&self, skill_id: &str) -> StoreResult<Vec<(String, NpmDist)>>;
    /// Records a version's npm tarball facts; a second record of the same version is ignored.
    async fn put_npm_dist(&self, version_id: &str, dist: &NpmDist) -> StoreResult<()>;
    /// All channels, `latest` always first (its version is null until something is published).
    async fn channels(&self, skill_id: &str) -> StoreResult<Vec<Channel>>;
    async fn set_channel(&self, skill_id: &str, name: &ChannelName, version: &str, at: Millis) -> StoreResult<Channel>;
    async fn delete_channel(&self, skill_id: &str, name: &str) -> StoreResult<bool>;
    /// Versions whose stored reference starts with `prefix` (those of one repository).
    async fn versions_by_reference(&self, prefix: &str) -> StoreResult<Vec<Version>>;
    /// Every version's id and stored reference, for rewriting references.
    async fn version_references(&self) -> StoreResult<Vec<(String, String)>>;
    /// Rewrites a version's stored reference (same artifact, another spelling); its npm
    /// tarball digests, which embed the reference, are computed again.
    async fn set_version_reference(&self, version_id: &str, reference: &str) -> StoreResult<()>;
    /// The manifest digest and content-layer digest of every stored version.
    async fn version_artifacts(&self) -> StoreResult<Vec<(String, Option<String>)>>;
}

/// Prepared uploads and the per-version publish claims.
#[async_trait]
pub trait UploadStore: Send + Sync {
    /// Records a prepared upload. Any number may wait for one version, each its own.
    async fn put_upload(&self, upload: &Upload) -> StoreResult<()>;
    async fn upload_by_id(&self, id: &str) -> StoreResult<Option<Upload>>;
    /// The upload `created_by` prepared last for this version, if any.
    async fn upload_for(&self, skill_id: &str, version: &str, created_by: &str) -> StoreResult<Option<Upload>>;
    async fn delete_upload(&self, id: &str) -> StoreResult<()>;
    /// The ids of every upload prepared for this version.
    async fn uploads_of(&self, skill_id: &str, version: &str) -> StoreResult<Vec<String>>;
    /// Claims a version for one publish (by `holder`) until `until`, unless another holder's
    /// claim has not lapsed (then `false`).
    async fn claim_version(
        &self,
        skill_id: &str,
        version: &str,
        holder: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<bool>;
    /// Gives up `holder`'s claim on a version, so it can be published again at once.
    async fn release_version(&self, skill_id: &str, version: &str, holder: &str) -> StoreResult<()>;
    /// Removes uploads past their expiry and returns their ids (their files go too).
    async fn expire_uploads(&self, now: Millis) -> StoreResult<Vec<String>>;
}

/// The embedded OCI store's metadata: blob links, manifests, tags, referrers.
#[async_trait]
pub trait OciStore: Send + Sync {
    /// Makes a blob servable from a repository (after upload, mount or manifest push).
    async fn oci_link_blob(&self, repo: &str, digest: &str, size: i64, at: Millis) -> StoreResult<()>;
    /// The blob's size when the repository may serve it.
    async fn oci_blob(&self, repo: &str, digest: &str) -> StoreResult<Option<i64>>;
    /// Records a manifest (idempotent), the blobs it references, and optionally a tag, atomically.
    async fn oci_put_manifest(&self, m: &OciManifest, blobs: &[(String, i64)], tag: Option<&str>) -> StoreResult<()>;
    async fn oci_manifest(&self, repo: &str, digest: &str) -> StoreResult<Option<OciManifest>>;
    async fn oci_tag(&self, repo: &str, tag: &str) -> StoreResult<Option<String>>;
    /// Tags in lexical order after `last`, at most `n`.
    async fn oci_tags(&self, repo: &str, last: Option<&str>, n: i64) -> StoreResult<Vec<String>>;
    async fn oci_referrers(&self, repo: &str, subject: &str) -> StoreResult<Vec<OciManifest>>;
    /// Deletes a manifest and the tags pointing at it; false when there was none.
    async fn oci_delete_manifest(&self, repo: &str, digest: &str) -> StoreResult<bool>;
    async fn oci_delete_tag(&self, repo: &str, tag: &str) -> StoreResult<bool>;
    /// Up to `limit` manifests after `(repository, digest)` in that order, each with its
    /// tags: the layout's `index.json` is written, and garbage collection finds its roots, a page
    /// at a time, whatever the store's size.
    async fn oci_manifest_page(
        &self,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<(OciManifest, Vec<String>)>>;
    /// Every blob link: (repository, digest, when linked).
    async fn oci_blob_links(&self) -> StoreResult<Vec<(String, String, Millis)>>;
    async fn oci_unlink_blob(&self, repo: &str, digest: &str) -> StoreResult<()>;
}

/// A request for a skill nobody has published yet (SkillsMgr's wishes): site-wide, or
/// addressed to one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wish {
    pub id: String,
    pub author_id: String,
    pub author: Username,
    pub namespace: Option<Namespace>,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub status: WishStatus,
    /// The skill that answers it (its id), named when it was closed.
    pub answer_skill_id: Option<String>,
    pub closed_by: Option<Username>,
    pub closed_at: Option<Millis>,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewWish {
    pub author_id: String,
    pub namespace: Option<Namespace>,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
}

/// Which wishes a listing returns, newest first.
#[derive(Debug, Clone)]
pub struct WishQuery {
    /// Who is asking: anonymous callers see site-wide wishes; members also their own and
    /// those addressed to their namespaces; site administrators every wish.
    pub audience: Audience,
    pub status: Option<WishStatus>,
    pub tag: Option<String>,
    pub namespace: Option<Namespace>,
    /// The id of the last wish of the previous page.
    pub before: Option<String>,
    pub limit: i64,
}

/// A named, ordered list of skills, owned by a user or by a namespace's team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: String,
    /// The owning user (a personal collection) …
    pub owner_id: Option<String>,
    pub owner: Option<Username>,
    /// … or the owning namespace (its team's collection).
    pub namespace: Option<Namespace>,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    /// The skills, in order (ids).
    pub skill_ids: Vec<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A collection's content, as created or replaced.
#[derive(Debug, Clone)]
pub struct CollectionContent {
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub skill_ids: Vec<String>,
}

/// A review of a skill or a collection; one per author and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: String,
    pub author_id: String,
    pub author: Username,
    pub target: ReviewTarget,
    /// The skill's or the collection's id.
    pub target_id: String,
    pub rating: ReviewRating,
    pub body: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Wishes, collections and reviews: what users say about skills.
#[async_trait]
pub trait CommunityStore: Send + Sync {
    async fn create_wish(&self, new: &NewWish, at: Millis) -> StoreResult<Wish>;
    async fn wish(&self, id: &str) -> StoreResult<Option<Wish>>;
    async fn wishes(&self, query: &WishQuery) -> StoreResult<Vec<Wish>>;
    /// Closes an open wish, answered by a skill or not; false when it is not open.
    async fn close_wish(&self, id: &str, by: &str, answer_skill_id: Option<&str>, at: Millis) -> StoreResult<bool>;

    /// A collection owned by the user `owner_id` or by `namespace` (exactly one), made by the
    /// user `creator`.
    async fn create_collection(
        &self,
        owner: (Option<&str>, Option<&Namespace>),
        creator: &str,
        content: &CollectionContent,
        at: Millis,
    ) -> StoreResult<Collection>;
    async fn collection(&self, id: &str) -> StoreResult<Option<Collection>>;
    /// The collections `audience` may see, by id: public ones, a member's own and their
    /// namespaces', every one for site administrators.
    async fn collections(&self, audience: &Audience, after: Option<&str>, limit: i64) -> StoreResult<Vec<Collection>>;
    /// Replaces a collection's content; false when it does not exist.
    async fn replace_collection(&self, id: &str, content: &CollectionContent, at: Millis) -> StoreResult<bool>;
    /// Deletes a collection and the reviews of it; false when it does not exist.
    async fn delete_collection(&self, id: &str) -> StoreResult<bool>;

    /// A new review; a conflict when the author has reviewed the target already.
    async fn create_review(
        &self,
        author_id: &str,
        target: (ReviewTarget, &str),
        rating: ReviewRating,
        body: &str,
        at: Millis,
    ) -> StoreResult<Review>;
    async fn review(&self, id: &str) -> StoreResult<Option<Review>>;
    /// The reviews of one target, newest first, after the review `before` when given.
    async fn reviews_of(
        &self,
        target: (ReviewTarget, &str),
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<Review>>;
    async fn update_review(&self, id: &str, rating: ReviewRating, body: &str, at: Millis) -> StoreResult<bool>;
    async fn delete_review(&self, id: &str) -> StoreResult<bool>;
}

/// The append-only audit log.
/// A bundle captured for review (skill-pool's drafts inbox).
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub id: String,
    pub namespace: Namespace,
    pub slug: SkillName,
    pub description: String,
    pub when_to_use: Option<String>,
    pub tags: Vec<String>,
    pub origin: String,
    pub notes: Option<String>,
    pub status: DraftStatus,
    pub published_version: Option<String>,
    pub archive_sha256: String,
    /// A published skill this one looks like (by meaning), and how alike.
    pub merge_proposal: Option<(String, f64)>,
    pub created_by: String,
    pub created_at: Millis,
    pub reviewed_at: Option<Millis>,
}

/// Drafts, each with its bundle until it is discarded.
#[async_trait]
pub trait DraftStore: Send + Sync {
    async fn insert_draft(&self, draft: &Draft, archive: &[u8]) -> StoreResult<()>;
    /// The namespace's drafts, newest first (pending first when `status` is none).
    async fn drafts(&self, namespace: &Namespace, status: Option<DraftStatus>, limit: i64) -> StoreResult<Vec<Draft>>;
    async fn draft(&self, namespace: &Namespace, id: &str) -> StoreResult<Option<Draft>>;
    /// A draft's bundle, while it is kept.
    async fn draft_archive(&self, id: &str) -> StoreResult<Option<Vec<u8>>>;
    async fn count_drafts(&self, namespace: &Namespace, status: DraftStatus) -> StoreResult<i64>;
    /// Holds a pending draft for a publish until `until`; false when it is not pending or
    /// another publish holds it.
    async fn claim_draft(&self, id: &str, until: Millis, now: Millis) -> StoreResult<bool>;
    /// Gives a claim back (the publish failed).
    async fn release_draft(&self, id: &str) -> StoreResult<()>;
    /// Marks a claimed draft published as `version`.
    async fn publish_draft(&self, id: &str, version: &str, at: Millis) -> StoreResult<()>;
    /// Discards a pending draft nobody is publishing and purges its bundle; false when
    /// there is no such draft.
    async fn discard_draft(&self, id: &str, at: Millis, now: Millis) -> StoreResult<bool>;
}

/// A repository of a namespace's and what it should load (skill-pool's projects).
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: String,
    pub namespace: Namespace,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    /// Normalised (`https://host/path`).
    pub git_remote: Option<String>,
    pub stack_tags: Vec<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One skill a project loads, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectItem {
    pub skill_slug: String,
    pub kind: SkillKind,
    pub position: i64,
}

/// A project's imported plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPlan {
    pub body: String,
    pub sha256: String,
    pub version: i64,
    pub imported_at: Millis,
}

/// Projects, their items and plans, and curated stack mappings.
#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// A slug or remote already taken in the namespace is a `Conflict`.
    async fn create_project(&self, project: &Project) -> StoreResult<()>;
    /// The namespace's projects by slug, each with how many items it has.
    async fn projects(&self, namespace: &Namespace) -> StoreResult<Vec<(Project, i64)>>;
    async fn project(&self, namespace: &Namespace, slug: &str) -> StoreResult<Option<Project>>;
    async fn project_by_remote(&self, namespace: &Namespace, remote: &str) -> StoreResult<Option<Project>>;
    /// Saves a project's fields (not its id, namespace or slug); a remote taken by another
    /// project is a `Conflict`.
    async fn update_project(&self, project: &Project) -> StoreResult<()>;
    /// False when there was no such project; its items go with it.
    async fn delete_project(&self, namespace: &Namespace, slug: &str) -> StoreResult<bool>;
    /// Replaces the items, in one transaction.
    async fn set_project_items(&self, project_id: &str, items: &[ProjectItem]) -> StoreResult<()>;
    async fn project_items(&self, project_id: &str) -> StoreResult<Vec<ProjectItem>>;
    /// Imports a plan as the project's next version; returns it.
    async fn set_project_plan(
        &self,
        project_id: &str,
        body: &str,
        sha256: &str,
        at: Millis,
    ) -> StoreResult<ProjectPlan>;
    async fn project_plan(&self, project_id: &str) -> StoreResult<Option<ProjectPlan>>;
    /// Replaces the namespace's curated mappings (tag → skills in order).
    async fn set_stack_mappings(&self, namespace: &Namespace, mappings: &[(String, Vec<String>)]) -> StoreResult<()>;
    async fn stack_mappings(&self, namespace: &Namespace) -> StoreResult<Vec<(String, Vec<String>)>>;
}

/// Where a namespace's events are posted.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub namespace: Namespace,
    pub url: String,
    pub secret: Option<String>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Webhook({}, {}, secret: {})", self.namespace, self.url, self.secret.is_some())
    }
}

/// One event on its way to a namespace's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub namespace: Namespace,
    pub event: String,
    /// Exactly the bytes posted (and signed).
    pub body: String,
    pub attempts: i64,
    pub created_at: Millis,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Try again at this time.
    Retry {
        at: Millis,
        error: String,
    },
    /// Given up.
    Failed {
        error: String,
    },
}

/// Webhooks and their durable delivery queue.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn webhook(&self, namespace: &Namespace) -> StoreResult<Option<Webhook>>;
    /// Sets (or, with none, removes) a namespace's webhook.
    async fn set_webhook(&self, namespace: &Namespace, hook: Option<&Webhook>, at: Millis) -> StoreResult<()>;
    async fn enqueue_delivery(&self, delivery: &Delivery, at: Millis) -> StoreResult<()>;
    /// Takes up to `limit` deliveries due at `now`, each held until `lease_until` so no
    /// other worker sends it meanwhile (a lease: a worker that dies lets it go).
    async fn claim_deliveries(&self, now: Millis, lease_until: Millis, limit: i64) -> StoreResult<Vec<Delivery>>;
    /// Records an attempt's outcome, if the delivery is still held under `lease` (the time
    /// its claim set); false when another worker has taken it since.
    async fn finish_delivery(
        &self,
        id: &str,
        lease: Millis,
        outcome: &DeliveryOutcome,
        at: Millis,
    ) -> StoreResult<bool>;
    /// Deliveries not finished yet.
    async fn pending_deliveries(&self) -> StoreResult<i64>;
}

/// What people do with skills, from every surface (usage events).
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Records one use of a skill; a download the server served (`counted`) also moves its
    /// `downloads` counter.
    async fn record_usage(&self, skill_id: &str, event: UsageEvent, counted: bool, at: Millis) -> StoreResult<()>;
    /// Per skill of `namespace` with uses since `since`: its downloads and views then.
    async fn usage_by_skill(&self, namespace: &Namespace, since: Millis) -> StoreResult<Vec<SkillUsage>>;
    /// Per UTC day (days since the epoch) with uses since `since`: downloads, views and how
    /// many skills were used, for the skills of `namespace`.
    async fn usage_by_day(&self, namespace: &Namespace, since: Millis) -> StoreResult<Vec<DayUsage>>;
    /// Every skill of `namespace` with how often it was ever used and when last.
    async fn usage_totals(&self, namespace: &Namespace) -> StoreResult<Vec<UsageTotal>>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, entry: &NewAudit, at: Millis) -> StoreResult<()>;
    /// Newest first; `before` is the id of the last entry of the previous page.
    async fn audit_log(&self, before: Option<&str>, limit: i64) -> StoreResult<Vec<AuditEntry>>;
}

/// A source as stored: where it reads, what it feeds, who it acts as, and its last run.
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub id: String,
    pub name: String,
    pub namespace: Namespace,
    /// `oci`.
    pub kind: String,
    pub location: String,
    /// Seconds between runs; 0: only when asked or notified.
    pub interval_secs: i64,
    /// The visibility of skills the source creates.
    pub visibility: crate::domain::Visibility,
    /// Copy each artifact into this server's storage and record the copy.
    pub mirror: bool,
    /// Sealed with the site key.
    pub credentials: Option<String>,
    /// SHA-256 (hex) of the secret registry notifications present.
    pub notify_hash: Option<String>,
    /// The token the source acts as; `None` once that token is deleted.
    pub token_id: Option<String>,
    pub created_by: String,
    pub created_at: Millis,
    pub next_run_at: Millis,
    /// Until when a replica holds the source for a run.
    pub lease_until: Option<Millis>,
    /// The last run's outcome, as JSON.
    pub status: String,
}

/// What a source found at one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTag {
    pub source_id: String,
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// `registered`, `exists`, `failed` or `moved`.
    pub outcome: String,
    pub detail: Option<String>,
    pub skill: Option<String>,
    pub version: Option<String>,
    pub seen_at: Millis,
}

/// Sources and what they found.
#[async_trait]
pub trait SourceStore: Send + Sync {
    /// Conflict when the name is taken.
    async fn create_source(&self, source: &SourceRow) -> StoreResult<()>;
    async fn sources(&self) -> StoreResult<Vec<SourceRow>>;
    async fn source_by_name(&self, name: &str) -> StoreResult<Option<SourceRow>>;
    /// Removes a source and what it found; false when there was none.
    async fn delete_source(&self, id: &str) -> StoreResult<bool>;
    /// Sources due at `now` that no replica holds.
    async fn due_sources(&self, now: Millis) -> StoreResult<Vec<SourceRow>>;
    /// Holds the source for a run until `lease_until` (and not due before), unless another
    /// run holds it.
    /// With `due_only`, only a source whose run is due (a scheduled run, not one asked for).
    async fn claim_source(&self, id: &str, now: Millis, lease_until: Millis, due_only: bool) -> StoreResult<bool>;
    /// Records a run's outcome and the next run, if the run still holds the source under
    /// `lease`; false when it does not.
    async fn finish_source(&self, id: &str, lease: Millis, status: &str, next_run_at: Millis) -> StoreResult<bool>;
    /// Asks for a run as soon as a worker is free.
    async fn source_due_now(&self, id: &str, now: Millis) -> StoreResult<()>;
    async fn source_tag(&self, source_id: &str, repository: &str, tag: &str) -> StoreResult<Option<SourceTag>>;
    async fn put_source_tag(&self, tag: &SourceTag) -> StoreResult<()>;
    /// Tags of the source by outcome: how many of each.
    async fn source_tag_counts(&self, source_id: &str) -> StoreResult<Vec<(String, i64)>>;
    /// The tags that need someone's attention (`failed`, `moved`), newest first.
    async fn source_problems(&self, source_id: &str, limit: i64) -> StoreResult<Vec<SourceTag>>;
}

/// The whole index: every aggregate's store on one database, which is what a backend is.
#[async_trait]
pub trait Store:
    AccountStore
    + CatalogStore
    + UploadStore
    + OciStore
    + AuditStore
    + UsageStore
    + DraftStore
    + WebhookStore
    + ProjectStore
    + CommunityStore
    + SourceStore
    + 'static
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
    /// What identifies this database, fixed when it was created.
    async fn site_id(&self) -> StoreResult<String>;
    /// The site's URL-signing key: `candidate` becomes it unless one was set already.
    async fn url_key(&self, candidate: &str) -> StoreResult<String>;
    /// The site key's check value: `candidate` is recorded if none is, and the recorded one
    /// returned.
    async fn key_check(&self, candidate: &str) -> StoreResult<String>;
    /// The writes to the database made through this process, where the backend counts them.
    fn write_marks(&self) -> Option<&WriteMarks>;
}

/// Counts the writes this process begins and finishes on a backend whose writes all go
/// through one pool, so a reader can learn without a query that nothing was written since it
/// last looked. A write is counted as begun when its connection leaves the pool and as ended
/// when it comes back and has answered a ping (so a COMMIT it was sent has landed). A
/// connection closed instead of returned leaves the counts apart for good: readers then
/// always ask the database.
#[derive(Default)]
pub struct WriteMarks {
    begun: std::sync::atomic::AtomicU64,
    ended: std::sync::atomic::AtomicU64,
}

impl WriteMarks {
    /// How many writes have begun, when every one of them has ended: everything this process
    /// wrote until now is committed (or rolled back). `None` while a write is under way.
    pub fn quiet(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::SeqCst;
        // Ended first: both only grow and `ended` never passes `begun`, so equal readings
        // mean no write was under way when `ended` was read.
        let ended = self.ended.load(SeqCst);
        let begun = self.begun.load(SeqCst);
        (begun == ended).then_some(begun)
    }

    /// Now, if no write is under way: what a reading of the database taken after it can be
    /// trusted by (`QuietMark::holds`).
    pub fn mark(&self) -> Option<QuietMark> {
        self.quiet().map(|writes| QuietMark { writes, at: std::time::Instant::now() })
    }

    pub(crate) fn begin(&self) {
        self.begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn end(&self) {
        let ended = self.ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        debug_assert!(ended <= self.begun.load(std::sync::atomic::Ordering::SeqCst), "a write ended that never began");
    }
}

/// A moment at which this process had no write under way, and how many it had begun then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietMark {
    writes: u64,
    at: std::time::Instant,
}

impl QuietMark {
    /// Whether this process has begun no write since the mark, less than `within` ago: then
    /// a reading taken after the mark still holds everything this process wrote, and what
    /// other processes committed more than `within` ago.
    pub fn holds(&self, marks: &WriteMarks, within: std::time::Duration) -> bool {
        marks.quiet() == Some(self.writes) && self.at.elapsed() < within
    }
}

/// Opens the database named by a `sqlite://…` or `postgres://…` URL and runs its migrations.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        anyhow::bail!("unsupported database URL: expected sqlite://… or postgres://…")
    }
}

/// One numbered migration, the same number in both backends' folders.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration in order for one backend (`"sqlite"` or `"postgres"`), listed once: most
/// are shared (`migrations/shared/`); those whose SQL differs live in `migrations/<backend>/`.
macro_rules! migrations {
    ($backend:literal) => {
        &[
            $crate::store::migrations!(@one 1, "init", $backend, "0001_init"),
            $crate::store::migrations!(@one 2, "artifact_details", "shared", "0002_artifact_details"),
            $crate::store::migrations!(@one 3, "uploads", "shared", "0003_uploads"),
            $crate::store::migrations!(@one 4, "oci_store", "shared", "0004_oci_store"),
            $crate::store::migrations!(@one 5, "npm_dists", "shared", "0005_npm_dists"),
            $crate::store::migrations!(@one 6, "upload_claims", "shared", "0006_upload_claims"),
            $crate::store::migrations!(@one 7, "publish_claims", $backend, "0007_publish_claims"),
            $crate::store::migrations!(@one 8, "skill_changes", $backend, "0008_skill_changes"),
            $crate::store::migrations!(@one 9, "site", $backend, "0009_site"),
            $crate::store::migrations!(@one 10, "uploads_for_new_skills", $backend, "0010_uploads_for_new_skills"),
            $crate::store::migrations!(@one 11, "skill_kind_archived", $backend, "0011_skill_kind_archived"),
            $crate::store::migrations!(@one 12, "usage_events", "shared", "0012_usage_events"),
            $crate::store::migrations!(@one 13, "drafts", $backend, "0013_drafts"),
            $crate::store::migrations!(@one 14, "webhooks", "shared", "0014_webhooks"),
            $crate::store::migrations!(@one 15, "projects", "shared", "0015_projects"),
            $crate::store::migrations!(@one 16, "version_requires", "shared", "0016_version_requires"),
            $crate::store::migrations!(@one 17, "url_key", "shared", "0017_url_key"),
            $crate::store::migrations!(@one 18, "agents", "shared", "0018_agents"),
            $crate::store::migrations!(@one 19, "reviews", "shared", "0019_reviews"),
            $crate::store::migrations!(@one 20, "token_rate_limits", "shared", "0020_token_rate_limits"),
            $crate::store::migrations!(@one 21, "web_sessions", "shared", "0021_web_sessions"),
            $crate::store::migrations!(@one 22, "published_listings", "shared", "0022_published_listings"),
            $crate::store::migrations!(@one 23, "oidc", "shared", "0023_oidc"),
            $crate::store::migrations!(@one 24, "theme", "shared", "0024_theme"),
            $crate::store::migrations!(@one 25, "key_check", "shared", "0025_key_check"),
            $crate::store::migrations!(@one 26, "sources", "shared", "0026_sources"),
        ]
    };
    (@one $version:literal, $name:literal, $dir:tt, $file:literal) => {
        $crate::store::Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../migrations/", $dir, "/", $file, ".sql")),
        }
    };
}
pub(crate) use migrations;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_told_from_faults() {
        let io = |kind| StoreError::Database(sqlx::Error::Io(std::io::Error::from(kind)));
        assert_eq!(io(std::io::ErrorKind::StorageFull).outage(), Some(Outage::Full));
        assert_eq!(io(std::io::ErrorKind::ConnectionRefused).outage(), Some(Outage::Unavailable));
        assert_eq!(StoreError::Database(sqlx::Error::PoolTimedOut).outage(), Some(Outage::Unavailable));
        assert_eq!(StoreError::Database(sqlx::Error::RowNotFound).outage(), None);
        assert_eq!(StoreError::Database(sqlx::Error::WorkerCrashed).outage(), None);
        assert_eq!(StoreError::Corrupt("x".into()).outage(), None);
    }

    /// Every migration file is compiled in, in order: `migrations/shared/` (SQL both dialects
    /// run as it is) on both backends, `migrations/<backend>/` (where they differ) on its own,
    /// each number once, and both backends have the same numbers.
    #[test]
    fn every_migration_file_is_registered() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let files_in = |dir: &str| -> Vec<(String, String)> {
            let mut files: Vec<(String, String)> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .map(|f| (f.clone(), std::fs::read_to_string(root.join(dir).join(&f)).unwrap()))
                .collect();
            files.sort();
            files
        };
        let shared = files_in("shared");
        let mut numbers = Vec::new();
        for (backend, list) in [("sqlite", SqliteStore::MIGRATIONS), ("postgres", PostgresStore::MIGRATIONS)] {
            let mut expected: Vec<(String, String)> = files_in(backend).into_iter().chain(shared.clone()).collect();
            expected.sort();
            let registered: Vec<(String, String)> =
                list.iter().map(|m| (format!("{:04}_{}.sql", m.version, m.name), m.sql.to_owned())).collect();
            assert_eq!(registered, expected, "{backend}: registered in order, with the files' exact text");
            let mut seen: Vec<i64> = list.iter().map(|m| m.version).collect();
            seen.dedup();
            assert_eq!(seen.len(), list.len(), "{backend}: each number once");
            numbers.push(seen);
        }
        assert_eq!(numbers[0], numbers[1], "both backends have the same numbers");
    }
}
