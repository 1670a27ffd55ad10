//! Request and response bodies of the native API (`/api/v1`), shared by the server and the
//! CLI. Field names follow the csreg API (camelCase). Request bodies refuse unknown fields,
//! so a typo is an error rather than a silently ignored setting.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::entity;
use crate::domain::{
    Namespace, SkillKind, SkillName, SkillType, Tag, TeamRole, TokenKind, TokenScope, Username, VersionStatus,
    Visibility, to_datetime,
};

/// Whether a request body is a JSON object. Every JSON request body skilldex takes on any
/// surface is one (or a list of them): serde would also read a struct from an array of its
/// fields in order (`["acme", "Acme"]`, or `[null]` for a struct of optional fields), which
/// no client means.
pub(crate) fn is_object(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// `T` from a body that must be a JSON object; the error says what is wrong with it.
pub(crate) fn from_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if !is_object(body) {
        return Err("expected a JSON object".into());
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// An optional nested object: serde would also read a struct from an array of its fields in
/// order, which no client means and the OpenAPI document forbids.
pub(crate) fn object<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Option::<serde_json::Map<String, serde_json::Value>>::deserialize(d)?
        .map(|m| serde_json::from_value(serde_json::Value::Object(m)).map_err(serde::de::Error::custom))
        .transpose()
}

/// A list of nested objects, each read as `object` reads one.
pub(crate) fn objects<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<serde_json::Map<String, serde_json::Value>>::deserialize(d)?
        .into_iter()
        .map(|m| serde_json::from_value(serde_json::Value::Object(m)).map_err(serde::de::Error::custom))
        .collect()
}

/// `objects` for an optional list.
pub(crate) fn objects_opt<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    Option::<Vec<serde_json::Map<String, serde_json::Value>>>::deserialize(d)?
        .map(|v| {
            v.into_iter()
                .map(|m| serde_json::from_value(serde_json::Value::Object(m)).map_err(serde::de::Error::custom))
                .collect()
        })
        .transpose()
}

/// Lets a PATCH tell "set to null" (`Some(None)`) from "leave alone" (`None`).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: Username,
    #[schema(schema_with = super::schema::email)]
    pub email: String,
    /// Make the user a site administrator.
    #[serde(default)]
    pub admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserResponse {
    pub id: String,
    pub username: Username,
    pub email: String,
    pub admin: bool,
    pub created_at: DateTime<Utc>,
}

impl From<entity::User> for UserResponse {
    fn from(u: entity::User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            admin: u.is_admin,
            created_at: to_datetime(u.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTokenRequest {
    #[schema(schema_with = super::schema::token_name)]
    pub name: String,
    /// `read`, `write` or `admin`: required for a standard token; an agent kind has its own
    /// (`agent-bridge` read, `agent-publisher` write) and may leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<TokenScope>,
    /// `standard` (the default), `agent-bridge` or `agent-publisher`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TokenKind>,
    /// When the token stops working; an agent token without one expires in 7 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token's metadata; the secret is never shown again after creation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    pub kind: TokenKind,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Budgets a site administrator gave this token over the server's (`publish=100/hour`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<String>,
}

/// A token's own budgets, in the form of `--rate-limits` (`publish=100/hour,search=off`);
/// null or empty returns the token to the server's.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitsRequest {
    pub rate_limits: Option<String>,
}

impl From<entity::Token> for TokenResponse {
    fn from(t: entity::Token) -> Self {
        Self {
            id: t.id,
            name: t.name,
            scope: t.scope,
            kind: t.kind,
            created_at: to_datetime(t.created_at),
            expires_at: t.expires_at.map(to_datetime),
            last_used_at: t.last_used_at.map(to_datetime),
            revoked_at: t.revoked_at.map(to_datetime),
            rate_limits: t.rate_limits.map(|s| s.to_string()),
        }
    }
}

/// A newly issued token. `token` is the secret: shown this once, stored only as a hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedTokenResponse {
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    pub kind: TokenKind,
    pub token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A collection as created or replaced.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CollectionRequest {
    /// 1–100 characters.
    #[schema(schema_with = super::schema::collection_name)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::schema::description_opt)]
    pub description: Option<String>,
    /// `private` (the default when created) or `public`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// A team's collection (publisher role needed); without it the collection is yours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Namespace>,
    /// The skills, in order, as `namespace/name` (at most 200, each once, each one you can see).
    #[serde(default)]
    #[schema(schema_with = super::schema::collection_items)]
    pub skills: Vec<String>,
}

/// A collection, with the skills the caller may see.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionResponse {
    pub id: String,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    /// The owning user, for a personal collection.
    pub owner: Option<String>,
    /// The owning namespace, for a team's collection.
    pub namespace: Option<Namespace>,
    /// `namespace/name`, in order.
    pub skills: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CollectionPage {
    pub data: Vec<CollectionResponse>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub data: Vec<TokenResponse>,
}

/// Who the presented token belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    pub user: UserResponse,
    pub token: TokenResponse,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTeamRequest {
    /// Also the namespace the team owns.
    pub slug: Namespace,
    #[schema(schema_with = super::schema::display_name)]
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetMemberRequest {
    pub role: TeamRole,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberResponse {
    pub username: Username,
    pub role: TeamRole,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamResponse {
    pub id: String,
    pub slug: Namespace,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    /// Present for members of the team and site administrators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<MemberResponse>>,
}

impl From<crate::service::TeamView> for TeamResponse {
    fn from(v: crate::service::TeamView) -> Self {
        Self {
            id: v.team.id,
            slug: v.team.namespace,
            display_name: v.team.display_name,
            created_at: to_datetime(v.team.created_at),
            members: v.members.map(|ms| {
                ms.into_iter()
                    .map(|m| MemberResponse { username: m.username, role: m.role, added_at: to_datetime(m.added_at) })
                    .collect()
            }),
        }
    }
}

/// One page of users, by name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserPage {
    pub data: Vec<UserResponse>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub cursor: Option<String>,
}

/// A team as listed, with the caller's role in it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamSummary {
    pub slug: Namespace,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    /// Your role in the team, when you are a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<TeamRole>,
}

/// One page of teams, by slug.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TeamPage {
    pub data: Vec<TeamSummary>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSkillRequest {
    pub scope: Namespace,
    pub slug: SkillName,
    #[serde(default)]
    #[schema(schema_with = super::schema::display_name_opt)]
    pub display_name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::schema::description_opt)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::schema::readme_opt)]
    pub readme: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    #[serde(default)]
    #[schema(schema_with = super::schema::tags_opt)]
    pub tags: Option<Vec<Tag>>,
    #[serde(default)]
    pub skill_type: Option<SkillType>,
    /// skill (the default), agent or command.
    #[serde(default)]
    pub kind: Option<SkillKind>,
}

/// Only the fields present are changed; `deprecatedMessage: null` clears the message.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSkillRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::schema::display_name_opt)]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::schema::description_opt)]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::schema::readme_opt)]
    pub readme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::schema::tags_opt)]
    pub tags: Option<Vec<Tag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill_type: Option<SkillType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SkillKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::schema::deprecation_message_opt)]
    pub deprecated_message: Option<Option<String>>,
}

/// A skill as listed (csreg's list item).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkillSummary {
    pub id: String,
    pub scope: Namespace,
    pub slug: SkillName,
    pub display_name: String,
    pub description: String,
    pub visibility: Visibility,
    pub tags: Vec<String>,
    pub skill_type: SkillType,
    /// skill, agent or command.
    pub kind: SkillKind,
    pub downloads: i64,
    pub stars: i64,
    pub latest_version: Option<String>,
    pub deprecated: bool,
    /// Archived: listed and searched nowhere, still resolvable.
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&entity::Skill> for SkillSummary {
    fn from(s: &entity::Skill) -> Self {
        Self {
            id: s.id.clone(),
            scope: s.namespace.clone(),
            slug: s.name.clone(),
            display_name: s.display_name.clone(),
            description: s.description.clone(),
            visibility: s.visibility,
            tags: s.tags.clone(),
            skill_type: s.skill_type,
            kind: s.kind,
            downloads: s.downloads,
            stars: s.stars,
            latest_version: s.latest_version.clone(),
            deprecated: s.deprecated,
            archived: s.archived,
            created_at: to_datetime(s.created_at),
            updated_at: to_datetime(s.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ForkedFrom {
    pub scope: String,
    pub slug: String,
}

/// A skill with everything csreg's detail view carries.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkillDetail {
    #[serde(flatten)]
    pub summary: SkillSummary,
    pub readme: String,
    pub deprecated_message: Option<String>,
    pub forked_from: Option<ForkedFrom>,
    /// True while the skill is soft-deleted (only its owners and site admins see it then).
    pub deleted: bool,
}

impl From<entity::Skill> for SkillDetail {
    fn from(s: entity::Skill) -> Self {
        let forked_from = s
            .forked_from
            .as_deref()
            .and_then(|f| f.split_once('/'))
            .map(|(scope, slug)| ForkedFrom { scope: scope.to_owned(), slug: slug.to_owned() });
        Self {
            summary: SkillSummary::from(&s),
            deleted: s.deleted_at.is_some(),
            readme: s.readme,
            deprecated_message: s.deprecated_message,
            forked_from,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkillPage {
    pub data: Vec<SkillSummary>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSkillsParams {
    /// Full-text search over name, display name, description, tags and README (at most 256
    /// characters and 16 words).
    #[param(schema_with = super::schema::query)]
    pub q: Option<String>,
    /// Only skills in this namespace.
    #[param(value_type = Option<Namespace>)]
    pub scope: Option<String>,
    #[param(value_type = Option<Tag>)]
    pub tag: Option<String>,
    /// command, context, template or composite.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<SkillType>)]
    pub skill_type: Option<String>,
    /// skill, agent or command.
    #[param(value_type = Option<SkillKind>)]
    pub kind: Option<String>,
    /// `true` lists the archived skills instead of the catalog (default `false`).
    pub archived: Option<bool>,
    /// downloads, updated, name, stars or relevance (the default when `q` is given).
    #[param(schema_with = super::schema::skill_sort)]
    pub sort: Option<String>,
    /// The `cursor` of the previous page, unchanged.
    pub cursor: Option<String>,
    /// Page size, 1-100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// How `q` matches: `keyword` (its words; the default), `semantic` (meaning, by the
    /// server's embedding model) or `hybrid` (both, fused). Semantic and hybrid rank at most
    /// 200 results and need a server started with `--embedding-model`.
    #[param(schema_with = super::schema::search_mode)]
    pub mode: Option<String>,
    /// Semantic matches less similar than this cosine similarity (-1 to 1) are left out.
    #[param(minimum = -1.0, maximum = 1.0)]
    pub min_similarity: Option<f32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StarResponse {
    pub starred: bool,
    pub stars: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelResponse {
    pub name: String,
    /// Null only for `latest` before anything is published.
    pub version: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl From<entity::Channel> for ChannelResponse {
    fn from(c: entity::Channel) -> Self {
        Self { name: c.name, version: c.version, updated_at: to_datetime(c.updated_at) }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelList {
    pub data: Vec<ChannelResponse>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetChannelRequest {
    #[schema(schema_with = super::schema::version)]
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionResponse {
    pub id: String,
    pub version: String,
    pub status: VersionStatus,
    pub changelog: Option<String>,
    pub entry_point: String,
    pub skill_type: SkillType,
    pub file_count: i64,
    pub archive_size: i64,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// The artifact's manifest digest, once stored in a registry.
    pub digest: Option<String>,
    /// `registry/repo@sha256:…`, once stored in a registry.
    pub reference: Option<String>,
    /// The signature verdict, once verified.
    #[schema(value_type = Option<Object>)]
    pub signature: Option<serde_json::Value>,
}

impl From<entity::Version> for VersionResponse {
    fn from(v: entity::Version) -> Self {
        Self {
            id: v.id,
            version: v.version,
            status: v.status,
            changelog: v.changelog,
            entry_point: v.entry_point,
            skill_type: v.skill_type,
            file_count: v.file_count,
            archive_size: v.archive_size,
            created_at: to_datetime(v.created_at),
            published_at: v.published_at.map(to_datetime),
            digest: v.digest,
            reference: v.reference,
            signature: v.signature,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionPage {
    pub data: Vec<VersionResponse>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListVersionsParams {
    /// draft, published or yanked.
    #[param(value_type = Option<VersionStatus>)]
    pub status: Option<String>,
    /// The `cursor` of the previous page, unchanged.
    pub cursor: Option<String>,
    /// Page size, 1-100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryResponse {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub action: String,
    pub target: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEntryResponse>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The `cursor` of the previous page, unchanged.
    pub cursor: Option<String>,
    /// Page size, 1-100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// One dependency's state in `/healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DepHealth {
    /// up, down or off.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Deps {
    pub db: DepHealth,
    pub storage: DepHealth,
    pub embedder: EmbedderHealth,
}

/// The embedding model behind semantic search.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbedderHealth {
    /// up (a model is loaded) or off (semantic search is not enabled).
    pub status: String,
    /// Skills with a vector (shown to site administrators only: it counts private skills).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vectors: Option<u64>,
    /// Skills waiting for theirs (new or changed text; site administrators only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
}

/// Liveness and dependency status; HTTP 200 always, `degraded` when the database is down.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// ok or degraded.
    pub status: String,
    pub version: String,
    pub deps: Deps,
}

/// Creates a version, one of two ways: with `reference`, registers an artifact already in a
/// registry; with `archiveSha256` and `archiveSize`, prepares an upload (csreg's first step).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateVersionRequest {
    /// Semver, e.g. `1.4.0`; must match SKILL.md's `version` when it has one.
    #[schema(schema_with = super::schema::version)]
    pub version: String,
    /// `registry/repo:tag` or `registry/repo@sha256:…`; a tag is resolved to a digest once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Credentials for `reference`'s registry, used for this one read and never stored. The
    /// server reads other registries anonymously otherwise, never with its own credentials.
    #[serde(default, deserialize_with = "object", skip_serializing_if = "Option::is_none")]
    pub registry_credentials: Option<RegistryCredentials>,
    #[serde(default, deserialize_with = "objects_opt", skip_serializing_if = "Option::is_none")]
    pub file_tree: Option<Vec<crate::bundle::FileEntry>>,
    /// The archive's SHA-256, 64 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub archive_sha256: Option<String>,
    /// The archive's size in bytes (at most the server's archive limit: 413 past it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub archive_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill_type: Option<SkillType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_path: Option<String>,
    /// The SKILL.md frontmatter as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub manifest_json: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_claude_code_version: Option<String>,
    /// Create the skill with these fields if this is its first version; it comes into being
    /// only when the version is stored, so a failed publish leaves nothing. Ignored when the
    /// skill exists. Without it, publishing to a skill that does not exist is a 404.
    #[serde(default, deserialize_with = "object", skip_serializing_if = "Option::is_none")]
    pub create: Option<NewSkillFields>,
    /// What changed in this version, when registering a reference (an upload says it at
    /// finalize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog: Option<String>,
}

/// The fields of a skill created by its first version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSkillFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readme: Option<String>,
    /// Default: public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill_type: Option<SkillType>,
    /// Default: skill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SkillKind>,
}

/// Credentials for one registry: a user name and password, or a bearer token.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryCredentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistryCredentials({:?}, ***)", self.username)
    }
}

impl RegistryCredentials {
    pub fn to_credentials(&self) -> Result<crate::oci::Credentials, String> {
        use crate::oci::Credentials;
        match (&self.username, &self.password, &self.token) {
            (Some(u), p, None) => {
                Ok(Credentials::Basic { username: u.clone(), password: p.clone().unwrap_or_default() })
            }
            (None, None, Some(t)) => Ok(Credentials::Bearer(t.clone())),
            _ => Err("registryCredentials takes `username` and `password`, or `token`".into()),
        }
    }

    pub fn from_credentials(c: &crate::oci::Credentials) -> Option<Self> {
        use crate::oci::Credentials;
        match c {
            Credentials::Anonymous => None,
            Credentials::Basic { username, password } => {
                Some(Self { username: Some(username.clone()), password: Some(password.clone()), token: None })
            }
            Credentials::Bearer(t) => Some(Self { token: Some(t.clone()), ..Default::default() }),
        }
    }
}

/// The answer to preparing an upload: PUT the archive to `uploadUrl`, then finalize.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreparedUpload {
    pub upload_url: String,
    pub version_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CreateVersionResponse {
    Registered(VersionResponse),
    Prepared(PreparedUpload),
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FinalizeRequest {
    /// `published` (the default) or `draft` (visible to namespace members only).
    #[serde(default)]
    #[schema(schema_with = super::schema::finalize_status)]
    pub status: Option<VersionStatus>,
    #[serde(default)]
    pub changelog: Option<String>,
    /// Cosign legacy signatures of the artifact the upload answered with (`digest`): checked
    /// with the trust policies before anything is stored, then stored next to the artifact
    /// as its `sha256-<hex>.sig`.
    #[serde(default, deserialize_with = "objects", skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<SignatureUpload>,
    /// The `versionId` preparing the version answered: finalize publishes exactly that upload,
    /// which must be the caller's. Without it, the caller's own prepared upload of the version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// One cosign legacy signature: the simple-signing payload and its signature, both base64.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureUpload {
    /// The simple-signing JSON payload, base64.
    #[schema(schema_with = super::schema::base64)]
    pub payload: String,
    /// The signature over the payload, base64 (cosign's `dev.cosignproject.cosign/signature`).
    #[schema(schema_with = super::schema::base64)]
    pub signature: String,
}

/// What receiving an upload's archive answers: the artifact finalize will store it as.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadReceived {
    /// `registry/repository@sha256:…`: where the version will be once finalized.
    pub reference: String,
    /// The artifact's digest: what a signature for this version signs.
    pub digest: String,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResolveParams {
    /// An exact version (`1.2.3`), a Cargo-style range (`^1.2`, `>=1, <2`) or a channel
    /// (`latest`, `stable`). Default: `latest`.
    pub version: Option<String>,
}

/// One immutable artifact: what a client pulls, by digest.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolveResponse {
    pub namespace: Namespace,
    pub name: SkillName,
    pub version: String,
    /// The digest of the top manifest (an image index for the ToolHive layout).
    pub digest: String,
    /// `registry/repo@sha256:…`
    pub reference: String,
    pub media_type: String,
    /// Size in bytes of the manifest `digest` names.
    pub size: i64,
    /// True for a yanked version, which only an exact pin resolves to.
    pub yanked: bool,
    /// True when the skill is deprecated (it still resolves).
    #[serde(default)]
    pub deprecated: bool,
    /// The deprecation's message, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_message: Option<String>,
    /// The artifact layout: `toolhive`, `agentskills` or `tar+gzip`.
    pub layout: Option<String>,
    /// The signature verdict, once verification exists.
    #[schema(value_type = Option<Object>)]
    pub signature: Option<serde_json::Value>,
    /// The skills this version needs (its `requires:` and ToolHive references), transitively,
    /// breadth first, each once: what `skilldex install` installs with it. Left out when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<DependencyResponse>,
    /// True when the closure is larger than an answer lists (256 skills, 1024 requirements
    /// resolved, or 64 ToolHive references looked up): `dependencies` holds only its first part.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dependencies_truncated: bool,
}

/// A skill a resolved version needs, directly or through another.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DependencyResponse {
    /// The requirement as its publisher wrote it: `name`, `namespace/name`, each optionally
    /// `@range`, or a ToolHive OCI reference.
    pub requirement: String,
    /// `namespace/name` of each skill in the closure whose version declares it (the resolved
    /// skill's own first when it is one of them).
    pub required_by: Vec<String>,
    /// 1 for the resolved version's own requirements, 2 for theirs, and so on.
    pub depth: usize,
    /// The range asked for (`*` for any), or a ToolHive reference's tag or digest.
    pub range: String,
    /// What it resolves to for you, pinned by digest; null when nothing does (not published
    /// yet, not visible to you, or a reference this index does not record).
    #[schema(no_recursion)]
    pub resolved: Option<ResolveResponse>,
}

impl From<crate::service::Dependency> for DependencyResponse {
    fn from(d: crate::service::Dependency) -> Self {
        Self {
            requirement: d.requirement,
            required_by: d.required_by,
            depth: d.depth,
            range: d.range,
            resolved: d.resolved.map(ResolveResponse::from),
        }
    }
}

impl From<crate::service::Resolved> for ResolveResponse {
    fn from(r: crate::service::Resolved) -> Self {
        let yanked = r.yanked();
        let crate::domain::ReleasedVersion { reference, digest, record: v } = r.version;
        Self {
            deprecated: r.skill.deprecated,
            deprecation_message: r.skill.deprecated_message.filter(|_| r.skill.deprecated),
            namespace: r.skill.namespace,
            name: r.skill.name,
            version: v.version,
            digest,
            reference,
            media_type: v.media_type.unwrap_or_default(),
            size: v.manifest_size.unwrap_or_default(),
            yanked,
            layout: v.layout,
            signature: v.signature,
            dependencies: Vec::new(),
            dependencies_truncated: false,
        }
    }
}

/// Where to fetch a version's archive, as csreg answers, plus its OCI identity.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DownloadResponse {
    /// The archive (tar.gz), served by skilldex from the registry by digest.
    pub download_url: String,
    pub archive_sha256: String,
    pub archive_size_bytes: i64,
    pub version: String,
    /// `registry/repo@sha256:…`, for clients that pull OCI artifacts themselves.
    pub reference: String,
    pub digest: String,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// The older version (semver).
    #[param(inline, value_type = super::schema::Semver)]
    pub from: String,
    /// The newer version (semver).
    #[param(inline, value_type = super::schema::Semver)]
    pub to: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiffSummary {
    pub added: usize,
    pub modified: usize,
    pub removed: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiffFile {
    pub path: String,
    /// added, modified or removed.
    pub status: String,
    pub additions: usize,
    pub deletions: usize,
    /// The change as a unified diff; absent for binary files and very large changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiffResponse {
    pub from: String,
    pub to: String,
    pub summary: DiffSummary,
    pub files: Vec<DiffFile>,
}

impl From<crate::service::Diff> for DiffResponse {
    fn from(d: crate::service::Diff) -> Self {
        use crate::service::FileStatus;
        let count = |s: FileStatus| d.files.iter().filter(|f| f.status == s).count();
        Self {
            summary: DiffSummary {
                added: count(FileStatus::Added),
                modified: count(FileStatus::Modified),
                removed: count(FileStatus::Removed),
            },
            files: d
                .files
                .iter()
                .map(|f| DiffFile {
                    path: f.path.clone(),
                    status: f.status.as_str().to_owned(),
                    additions: f.additions,
                    deletions: f.deletions,
                    patch: f.patch.clone(),
                })
                .collect(),
            from: d.from,
            to: d.to,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForkRequest {
    pub target_scope: Namespace,
    /// Default: the source skill's name.
    #[serde(default)]
    pub target_slug: Option<SkillName>,
}
