//! skill-pool's catalog API (`/v1/…`), translated onto the service: a skill-pool tenant is a
//! namespace, a slug a skill name in it. Every read goes through the same access and
//! lifecycle rules as every other surface; this module only translates shapes and errors
//! (`{"error": code, "message": …}`).

mod drafts;
mod projects;
mod sso;
mod theme;
mod usage;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::domain::{Namespace, SkillKind, SkillName, Tag, TokenScope, to_datetime};
use crate::service::{self, Caller, SearchMode, SkillListRequest, VersionFilter};
use crate::store::SkillSort;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/healthz", get(healthz))
        .route("/v1/skills", get(list_skills).post(publish))
        .route("/v1/skills/validate", axum::routing::post(validate))
        .route("/v1/skills/{slug}", get(get_skill))
        .route("/v1/skills/{slug}/skill-md", get(skill_md))
        .route("/v1/skills/{slug}/versions", get(list_versions))
        .route("/v1/skills/{slug}/bundle.tar.gz", get(bundle))
        .route("/v1/bundles/{token}", get(signed_bundle))
        .route("/v1/skills/{slug}/deps", get(dependencies))
        .route("/v1/skills/{slug}/archive", axum::routing::post(archive))
        .route("/v1/profile/tokens", get(list_tokens).post(create_token))
        .route("/v1/profile/tokens/{id}", axum::routing::delete(revoke_token))
        .merge(usage::router())
        .merge(drafts::router())
        .merge(projects::router())
        .merge(sso::router())
        .route("/v1/mcp", axum::routing::post(super::mcp::post_tenant_mcp))
        .route(
            "/v1/{*rest}",
            axum::routing::any(|| async { SpError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") }),
        )
        .layer(axum::middleware::map_response(private_to_the_caller))
        // The theme is the same for everyone, and its images may be cached.
        .merge(theme::router())
}

/// `/healthz`, with a refused token answered in skill-pool's shape.
async fn healthz(state: State<AppState>, SpCaller(caller): SpCaller) -> Json<crate::api::wire::Health> {
    super::ops::get_health(state, caller).await
}

/// Answers depend on the tenant and the token: no shared cache may keep them.
async fn private_to_the_caller(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("Authorization, X-Skill-Pool-Tenant"));
    response
}

/// A rejected query string, in skill-pool's shape.
fn rejected(e: QueryRejection) -> SpError {
    SpError::bad_request(e.body_text())
}

/// The caller, with a refused or malformed token answered in skill-pool's shape.
pub struct SpCaller(pub Caller);

impl FromRequestParts<AppState> for SpCaller {
    type Rejection = SpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await {
            Ok(caller) => Ok(SpCaller(caller)),
            Err(super::error::ApiError::Service(service::Error::Unauthenticated(_))) => {
                Err(SpError::new(StatusCode::UNAUTHORIZED, "unauthorized", "invalid, expired or revoked API token"))
            }
            Err(super::error::ApiError::Service(e)) => Err(e.into()),
            Err(other) => Err(SpError::bad_request(other.to_string())),
        }
    }
}

/// A JSON object body as `T`, read as the native API reads one, refused in skill-pool's shape.
pub struct SpJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for SpJson<T> {
    type Rejection = SpError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, SpError> {
        match crate::api::extract::Json::<T>::from_request(req, state).await {
            Ok(crate::api::extract::Json(body)) => Ok(SpJson(body)),
            Err(e) => Err(body_refused(e)),
        }
    }
}

/// A JSON list of objects as `Vec<T>`, refused in skill-pool's shape.
pub struct SpJsonList<T>(pub Vec<T>);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for SpJsonList<T> {
    type Rejection = SpError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, SpError> {
        match crate::api::extract::JsonList::<T>::from_request(req, state).await {
            Ok(crate::api::extract::JsonList(items)) => Ok(SpJsonList(items)),
            Err(e) => Err(body_refused(e)),
        }
    }
}

/// A refused JSON body (400, or 413 or 415), in skill-pool's shape.
fn body_refused(e: super::error::ApiError) -> SpError {
    SpError::new(e.status(), "bad_request", e.to_string())
}

/// An error as skill-pool answers it.
#[derive(Debug)]
pub struct SpError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl SpError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for SpError {
    fn into_response(self) -> Response {
        let message = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self.message, "skill-pool request failed");
            "internal error".to_owned()
        } else {
            self.message
        };
        (self.status, Json(serde_json::json!({ "error": self.code, "message": message }))).into_response()
    }
}

impl From<service::Error> for SpError {
    fn from(e: service::Error) -> Self {
        use service::Error as E;
        let (status, code) = match &e {
            E::Invalid(_) | E::ManifestInvalid(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            E::OwnWork(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_request"),
            E::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "bad_request"),
            E::Registry(d) => match StatusCode::from_u16(d.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR) {
                StatusCode::NOT_FOUND => (StatusCode::NOT_FOUND, "not_found"),
                s if s.is_client_error() => (s, "bad_request"),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
            },
            E::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            E::Forbidden(_) | E::Untrusted(_) => (StatusCode::FORBIDDEN, "forbidden"),
            E::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            E::Conflict(_) | E::State(_) => (StatusCode::CONFLICT, "conflict"),
            E::Upstream(_) => (StatusCode::BAD_GATEWAY, "internal_error"),
            E::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            E::StorageFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage"),
            E::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        };
        Self::new(status, code, e.public_message())
    }
}

type Reply<T> = Result<T, SpError>;

/// The tenant a request is for: the `X-Skill-Pool-Tenant` header, else the first label of a
/// host under this server's public host (`acme.skills.example.com`). It must name a team.
pub struct Tenant(pub Namespace);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = SpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let failed = |message: String| SpError::new(StatusCode::BAD_REQUEST, "tenant_resolution_failed", message);
        let named = match parts.headers.get_all("x-skill-pool-tenant").iter().collect::<Vec<_>>().as_slice() {
            [] => None,
            [one] => {
                Some(one.to_str().map_err(|_| failed("X-Skill-Pool-Tenant is not text".into()))?.trim().to_owned())
            }
            _ => return Err(failed("more than one X-Skill-Pool-Tenant header".into())),
        };
        let name = match named {
            Some(name) => name,
            None => subdomain(parts, state).ok_or_else(|| {
                failed(
                    "no tenant: send X-Skill-Pool-Tenant, or use the tenant's own host (TENANT.<this server's host>)"
                        .into(),
                )
            })?,
        };
        let namespace: Namespace = name.parse().map_err(|e: crate::domain::InvalidValue| failed(e.to_string()))?;
        if !state.index.namespace_exists(&namespace).await? {
            return Err(SpError::new(
                StatusCode::NOT_FOUND,
                "tenant_resolution_failed",
                format!("no tenant `{namespace}`"),
            ));
        }
        Ok(Tenant(namespace))
    }
}

/// `acme` from `Host: acme.skills.example.com` when this server's public host is
/// `skills.example.com`: exactly one label more, nothing else.
fn subdomain(parts: &Parts, state: &AppState) -> Option<String> {
    let host = parts.headers.get(header::HOST)?.to_str().ok()?;
    let host =
        host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
    let public = reqwest::Url::parse(state.public_base()).ok()?.host_str()?.to_ascii_lowercase();
    let label = host.to_ascii_lowercase().strip_suffix(&format!(".{public}"))?.to_owned();
    (!label.is_empty() && !label.contains('.')).then_some(label)
}

/// The slug in a path, as a skill name.
fn slug(raw: &str) -> Reply<SkillName> {
    raw.parse()
        .map_err(|e: crate::domain::InvalidValue| SpError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()))
}

/// `kind` as skill-pool takes it: `skill` unless said otherwise.
fn kind_of(kind: Option<&str>) -> Reply<SkillKind> {
    kind.map_or(Ok(SkillKind::Skill), |k| {
        k.parse().map_err(|_| {
            SpError::bad_request(format!("kind must be skill, agent or command, got `{}`", crate::domain::truncate(k)))
        })
    })
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    query: Option<String>,
    tags: Option<String>,
    limit: Option<i64>,
    semantic: Option<String>,
    min_similarity: Option<f32>,
    kind: Option<String>,
}

/// One catalog row as skill-pool lists it.
#[derive(Debug, Serialize)]
pub struct Row {
    slug: String,
    version: String,
    description: String,
    tags: Vec<String>,
    status: &'static str,
    created_at: DateTime<Utc>,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    similarity: Option<f64>,
}

impl Row {
    /// A published version of a skill as a catalog row (`similarity` from a search by meaning).
    fn of(s: &crate::domain::Skill, v: &crate::domain::Version, similarity: Option<f32>) -> Self {
        Row {
            slug: s.name.to_string(),
            version: v.version.clone(),
            description: s.description.clone(),
            tags: s.tags.iter().map(ToString::to_string).collect(),
            status: "published",
            created_at: to_datetime(v.published_at.unwrap_or(v.created_at)),
            kind: s.kind.as_str(),
            similarity: similarity.map(|s| f64::from(s.clamp(0.0, 1.0))),
        }
    }
}

const LIST_DEFAULT: i64 = 50;
const LIST_MAX: i64 = 200;

/// The tenant's published skills the caller may see: by slug, or by meaning with `semantic`.
async fn list_skills(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    p: Result<Query<ListParams>, QueryRejection>,
) -> Reply<Json<Vec<Row>>> {
    let Query(p) = p.map_err(rejected)?;
    let kind = kind_of(p.kind.as_deref())?;
    let limit = p.limit.unwrap_or(LIST_DEFAULT).clamp(1, LIST_MAX);
    let tags = match &p.tags {
        Some(csv) => csv
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| t.parse::<Tag>().map_err(|e| SpError::bad_request(e.to_string())))
            .collect::<Reply<Vec<Tag>>>()?,
        None => Vec::new(),
    };
    if p.min_similarity.is_some_and(|m| !(0.0..=1.0).contains(&m)) {
        return Err(SpError::bad_request("min_similarity must be between 0.0 and 1.0"));
    }
    let semantic = p.semantic.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let request = SkillListRequest {
        q: semantic.map(str::to_owned).or(p.query.clone()),
        namespace: Some(namespace),
        tags,
        kind: Some(kind),
        sort: Some(if semantic.is_some() { SkillSort::Relevance } else { SkillSort::Name }),
        published_only: true,
        mode: if semantic.is_some() { SearchMode::Semantic } else { SearchMode::Keyword },
        min_similarity: p.min_similarity,
        ..Default::default()
    };
    let mut rows = Vec::new();
    let mut cursor = None;
    while (rows.len() as i64) < limit {
        let page_limit = (limit - rows.len() as i64).min(service::limits::PAGE_MAX);
        let req = SkillListRequest { cursor: cursor.take(), limit: Some(page_limit), ..request.clone() };
        let page = state.index.catalog().list_latest(&caller, req).await?;
        for (hit, latest) in page.items {
            rows.push(Row::of(&hit.skill, &latest.record, hit.similarity));
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(Json(rows))
}

#[derive(Debug, Deserialize)]
pub struct KindParam {
    kind: Option<String>,
}

/// The latest published version of a skill: its catalog row, its kind and its frontmatter.
#[derive(Debug, Serialize)]
pub struct Detail {
    #[serde(flatten)]
    row: Row,
    frontmatter: serde_json::Map<String, serde_json::Value>,
}

async fn get_skill(State(state): State<AppState>, at: SkillAt) -> Reply<Json<Detail>> {
    at.in_catalog(&state).await?;
    let SkillAt { namespace, caller, name, .. } = at;
    let resolved = state.index.catalog().resolve(&caller, &namespace, &name, None).await?;
    let v = &resolved.version.record;
    let s = &resolved.skill;
    Ok(Json(Detail { row: Row::of(s, v, None), frontmatter: v.frontmatter.clone() }))
}

/// What every per-skill endpoint starts from: the tenant, the caller, the slug and the kind
/// it names (`?kind=`, default `skill`).
pub struct SkillAt {
    namespace: Namespace,
    caller: Caller,
    name: SkillName,
    kind: SkillKind,
}

impl SkillAt {
    /// The skill, when it is of the kind asked for; archived skills have left the catalog
    /// unless `archived` is allowed.
    async fn skill(&self, state: &AppState, archived: bool) -> Reply<crate::domain::Skill> {
        let skill = state.index.catalog().get_skill(&self.caller, &self.namespace, &self.name).await?;
        if skill.kind != self.kind || (skill.archived && !archived) {
            return Err(SpError::new(StatusCode::NOT_FOUND, "not_found", format!("no {} `{}`", self.kind, self.name)));
        }
        Ok(skill)
    }

    /// The skill, when it is of the kind asked for and in the catalog.
    async fn in_catalog(&self, state: &AppState) -> Reply<crate::domain::Skill> {
        self.skill(state, false).await
    }
}

impl FromRequestParts<AppState> for SkillAt {
    type Rejection = SpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Tenant(namespace) = Tenant::from_request_parts(parts, state).await?;
        let SpCaller(caller) = SpCaller::from_request_parts(parts, state).await?;
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| SpError::new(StatusCode::NOT_FOUND, "not_found", e.body_text()))?;
        let Query(k) = Query::<KindParam>::from_request_parts(parts, state).await.map_err(rejected)?;
        let kind = kind_of(k.kind.as_deref())?;
        Ok(SkillAt { namespace, caller, name: slug(&raw)?, kind })
    }
}

/// SKILL.md of the latest published version, as text (signed-in callers).
async fn skill_md(State(state): State<AppState>, at: SkillAt) -> Reply<Response> {
    require_token(&at.caller)?;
    at.in_catalog(&state).await?;
    let SkillAt { namespace, caller, name, .. } = at;
    let catalog = state.index.catalog();
    let resolved = catalog.view(&caller, &namespace, &name, None).await?;
    let bundle = catalog.files(&resolved).await?;
    let text = bundle.files.iter().find(|f| f.path == crate::bundle::SKILL_MD).map(|f| f.data.clone());
    let text = text.ok_or_else(|| SpError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "no SKILL.md"))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], text).into_response())
}

/// skill-pool's bundle and body downloads are for signed-in callers only.
fn require_token(caller: &Caller) -> Reply<()> {
    match caller {
        Caller::Anonymous => Err(SpError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a bearer token is required")),
        Caller::User(_) => Ok(()),
    }
}

#[derive(Debug, Serialize)]
pub struct VersionRow {
    version: String,
    published_at: Option<DateTime<Utc>>,
    change_summary: String,
    status: String,
}

const VERSIONS_MAX: i64 = 50;

/// Every version the caller may see, newest first, at most 50.
async fn list_versions(State(state): State<AppState>, at: SkillAt) -> Reply<Json<Vec<VersionRow>>> {
    at.skill(&state, true).await?;
    let SkillAt { namespace, caller, name, .. } = at;
    let filter = VersionFilter { limit: Some(VERSIONS_MAX), ..Default::default() };
    let page = state.index.catalog().list_versions(&caller, &namespace, &name, filter).await?;
    let rows = page
        .items
        .into_iter()
        .map(|v| VersionRow {
            change_summary: v.changelog.as_deref().unwrap_or_default().chars().take(200).collect(),
            published_at: v.published_at.map(to_datetime),
            status: v.status.to_string(),
            version: v.version,
        })
        .collect();
    Ok(Json(rows))
}

#[derive(Debug, Deserialize)]
pub struct BundleParams {
    /// Send the bytes from here even when the archive lives in another registry.
    #[serde(default)]
    bytes: bool,
}

/// The latest published version's archive, counted as a download (signed-in callers): the
/// bytes (`application/gzip`) when this server's embedded store keeps them or `bytes=true`
/// asks, else a 307 to a URL on this server that serves them to its holder for 300 s.
async fn bundle(
    State(state): State<AppState>,
    at: SkillAt,
    params: Result<Query<BundleParams>, QueryRejection>,
) -> Reply<Response> {
    let Query(params) = params.map_err(rejected)?;
    require_token(&at.caller)?;
    at.in_catalog(&state).await?;
    let SkillAt { namespace, caller, name, .. } = at;
    let catalog = state.index.catalog();
    let counted = catalog.download(&caller, &namespace, &name, None).await?;
    if !params.bytes && !catalog.stored_here(&counted.version) {
        let token = catalog.sign_bundle_url(&counted).await?;
        let location = format!("{}/v1/bundles/{token}", state.public_base());
        return Ok((
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, HeaderValue::from_str(&location).expect("a URL of ASCII"))],
        )
            .into_response());
    }
    let bytes = catalog.archive(&caller, &namespace, &name, &counted.version.record.version).await?;
    Ok(gzip_attachment(name.as_str(), &counted.version.record.version, bytes))
}

/// What a signed bundle URL grants, to whoever holds it: no token, no tenant.
async fn signed_bundle(State(state): State<AppState>, Path(token): Path<String>) -> Reply<Response> {
    let (name, version, bytes) = state.index.catalog().redeem_bundle_url(&token).await?;
    Ok(gzip_attachment(&name, &version, bytes))
}

fn gzip_attachment(name: &str, version: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{name}-{version}.tar.gz\"");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/gzip")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("names are ASCII")),
        ],
        bytes,
    )
        .into_response()
}

/// skill-pool's scopes, as one skilldex token scope: the highest named wins.
fn scope_of(scopes: &[String]) -> Reply<TokenScope> {
    let mut best = None;
    for s in scopes {
        let scope = match s.as_str() {
            "skills:read" => TokenScope::Read,
            "skills:publish" => TokenScope::Write,
            "tenant:admin" => TokenScope::Admin,
            other => {
                return Err(SpError::bad_request(format!(
                    "unknown scope `{}`; allowed: skills:read, skills:publish, tenant:admin",
                    crate::domain::truncate(other)
                )));
            }
        };
        best = best.max(Some(scope));
    }
    best.ok_or_else(|| SpError::bad_request("at least one scope is required"))
}

/// A skilldex scope as skill-pool's scope string: what the token may do.
fn scopes_of(scope: TokenScope) -> &'static str {
    match scope {
        TokenScope::Read => "skills:read",
        TokenScope::Write => "skills:read skills:publish",
        TokenScope::Admin => "skills:read skills:publish tenant:admin",
    }
}

#[derive(Debug, Serialize)]
pub struct TokenView {
    id: String,
    label: String,
    /// The secret's first characters; not kept, so null for listed tokens.
    prefix: Option<String>,
    scopes: &'static str,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

/// The caller's own tokens (metadata only).
async fn list_tokens(State(state): State<AppState>, SpCaller(caller): SpCaller) -> Reply<Json<Vec<TokenView>>> {
    let tokens = state.index.accounts().list_tokens(&caller).await?;
    let view = tokens
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            label: t.name,
            prefix: None,
            scopes: scopes_of(t.scope),
            created_at: to_datetime(t.created_at),
            last_used_at: t.last_used_at.map(to_datetime),
            revoked_at: t.revoked_at.map(to_datetime),
            expires_at: t.expires_at.map(to_datetime),
        })
        .collect();
    Ok(Json(view))
}

/// A space-separated string or a list, as skill-pool takes scopes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Scopes {
    List(Vec<String>),
    Joined(String),
}

#[derive(Debug, Deserialize)]
pub struct CreateToken {
    label: String,
    scopes: Option<Scopes>,
}

#[derive(Debug, Serialize)]
pub struct CreatedToken {
    id: String,
    /// Shown once; only its hash is kept.
    raw_token: String,
    prefix: String,
    scopes: &'static str,
    created_at: DateTime<Utc>,
    label: String,
}

/// A token for the caller, never above the scope of the token asking.
async fn create_token(
    State(state): State<AppState>,
    SpCaller(caller): SpCaller,
    SpJson(body): SpJson<CreateToken>,
) -> Reply<Json<CreatedToken>> {
    let label = body.label.trim().to_owned();
    if label.is_empty() || label.chars().count() > service::limits::TOKEN_NAME {
        return Err(SpError::bad_request(format!("label must be 1–{} characters", service::limits::TOKEN_NAME)));
    }
    let scopes: Vec<String> = match body.scopes {
        Some(Scopes::List(list)) => list.iter().flat_map(|s| s.split_whitespace().map(str::to_owned)).collect(),
        Some(Scopes::Joined(s)) => s.split_whitespace().map(str::to_owned).collect(),
        None => Vec::new(),
    };
    let scope = scope_of(&scopes)?;
    let request = service::TokenRequest {
        name: label.clone(),
        scope: Some(scope),
        kind: crate::domain::TokenKind::Standard,
        expires_at: None,
    };
    let created = state.index.accounts().create_own_token(&caller, request).await?;
    Ok(Json(CreatedToken {
        id: created.token.id,
        prefix: created.secret.chars().take(12).collect(),
        raw_token: created.secret,
        scopes: scopes_of(scope),
        created_at: to_datetime(created.token.created_at),
        label,
    }))
}

/// Revokes one of the caller's tokens; revoking it again is no error.
async fn revoke_token(
    State(state): State<AppState>,
    SpCaller(caller): SpCaller,
    Path(id): Path<String>,
) -> Reply<StatusCode> {
    let accounts = state.index.accounts();
    match accounts.revoke_token(&caller, &id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(service::Error::NotFound(m)) => {
            let revoked_already =
                accounts.list_tokens(&caller).await?.iter().any(|t| t.id == id && t.revoked_at.is_some());
            if revoked_already { Ok(StatusCode::NO_CONTENT) } else { Err(service::Error::NotFound(m).into()) }
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Serialize)]
pub struct DependencyRow {
    /// The name in this tenant, or `namespace/name` in another.
    slug: String,
    version_range: String,
    depth: usize,
    /// Whether it resolves for you (published and visible); a client warns about the rest.
    resolved: bool,
}

/// The transitive closure of the latest version's `requires:`; requirements nothing
/// resolves (yet) are kept, so a client can warn and skip.
async fn dependencies(State(state): State<AppState>, at: SkillAt) -> Reply<Json<Vec<DependencyRow>>> {
    at.in_catalog(&state).await?;
    let SkillAt { namespace, caller, name, .. } = at;
    let closure = state.index.catalog().dependencies(&caller, &namespace, &name).await?;
    let rows = closure
        .into_iter()
        .map(|d| DependencyRow {
            slug: match &d.namespace {
                Some(ns) if *ns == namespace => d.name,
                Some(ns) => format!("{ns}/{}", d.name),
                None => d.name,
            },
            version_range: d.range,
            depth: d.depth,
            resolved: d.resolved.is_some(),
        })
        .collect();
    Ok(Json(rows))
}

/// What `metadata` says of a multipart publish.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    slug: String,
    version: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    kind: Option<String>,
}

/// skill-pool's description limit, counted in characters.
const DESCRIPTION_MAX: usize = 1536;
/// The largest `metadata` part: a few fields and at most `limits::TAGS` tags.
const METADATA_MAX: u64 = 64 * 1024;
/// How long a publish body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A multipart publish read and checked (bundle rules and skill-pool's own checks), nothing
/// stored: the caller may publish to the tenant, which is checked before a byte is read.
struct Checked {
    name: SkillName,
    version: semver::Version,
    archive: Vec<u8>,
    tags: Vec<Tag>,
    kind: SkillKind,
    bundle: crate::bundle::Bundle,
}

/// The two parts of a multipart body, `metadata` and `bundle`, each within its own limit;
/// nothing else is read.
async fn read_parts(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
) -> Reply<(axum::body::Bytes, axum::body::Bytes)> {
    let archive = state.index.limits().archive();
    let what = "send multipart/form-data with a `bundle` part and a `metadata` part";
    let parts = read_multipart(headers, body, what, &[("bundle", archive), ("metadata", METADATA_MAX)]).await?;
    let mut parts = parts.into_iter().map(|p| (p.name, p.data)).collect::<std::collections::HashMap<_, _>>();
    let archive = parts.remove("bundle").ok_or_else(|| SpError::bad_request("the `bundle` part is missing"))?;
    let metadata = parts.remove("metadata").ok_or_else(|| SpError::bad_request("the `metadata` part is missing"))?;
    Ok((metadata, archive))
}

/// A multipart body's parts (see `crate::api::multipart`), refusals in skill-pool's shape.
pub(super) async fn read_multipart(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    what: &str,
    fields: &[(&str, u64)],
) -> Reply<Vec<crate::api::multipart::Part>> {
    crate::api::multipart::read(headers, body, what, fields, BODY_TIMEOUT)
        .await
        .map_err(|e| SpError::new(e.status, "bad_request", e.message))
}

/// The `metadata` part as `T`.
fn metadata<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Reply<T> {
    crate::api::wire::from_object(raw)
        .map_err(|e| SpError::bad_request(format!("invalid metadata: {}", crate::domain::truncate(&e))))
}

/// Tags as skill-pool sends them, at most `limits::TAGS`.
fn tags_of(tags: &[String]) -> Reply<Vec<Tag>> {
    if tags.len() > service::limits::TAGS {
        return Err(SpError::bad_request(format!("at most {} tags are allowed", service::limits::TAGS)));
    }
    tags.iter().map(|t| t.parse::<Tag>().map_err(|e| SpError::bad_request(e.to_string()))).collect()
}

/// The bundle under skilldex's bundle rules (named `name`, and `version` when given) and
/// skill-pool's own checks: descriptions of at most 1536 characters, no home-directory path
/// in SKILL.md.
fn check_bundle(
    state: &AppState,
    archive: &[u8],
    name: &SkillName,
    version: Option<&semver::Version>,
    description: Option<&str>,
) -> Reply<crate::bundle::Bundle> {
    let bundle = crate::bundle::Bundle::from_archive(archive, None, &state.index.limits().bundle)
        .map_err(service::Error::from)?;
    match version {
        Some(v) => bundle.check_identity(name.as_str(), v).map_err(service::Error::from)?,
        None if bundle.name() != name.as_str() => {
            return Err(SpError::bad_request(format!(
                "SKILL.md names `{}`, not `{name}`: the slug must be the skill's name",
                bundle.name()
            )));
        }
        None => {}
    }
    for description in [description, Some(bundle.skill.frontmatter.description.as_str())].into_iter().flatten() {
        if description.chars().count() > DESCRIPTION_MAX {
            return Err(SpError::bad_request(format!("the description is longer than {DESCRIPTION_MAX} characters")));
        }
    }
    let skill_md =
        bundle.files.iter().find(|f| f.path == crate::bundle::SKILL_MD).map(|f| String::from_utf8_lossy(&f.data));
    if let Some((line, path)) = skill_md.and_then(|text| home_path(&text)) {
        return Err(SpError::bad_request(format!(
            "SKILL.md line {line} names a path in someone's home directory (`{path}`): skills must not depend on one machine"
        )));
    }
    let findings = crate::bundle::secrets::scan(&bundle.files);
    if let Some(first) = findings.first() {
        let more = match findings.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return Err(SpError::bad_request(format!(
            "possible secret detected: {first}{more}; remove it (use an environment variable) and publish again"
        )));
    }
    Ok(bundle)
}

/// `check_bundle` off the async workers: unpacking and scanning a large bundle takes a while.
async fn checked_bundle(
    state: &AppState,
    archive: &axum::body::Bytes,
    name: &SkillName,
    version: Option<semver::Version>,
    description: Option<String>,
) -> Reply<crate::bundle::Bundle> {
    let (state, archive, name) = (state.clone(), archive.clone(), name.clone());
    tokio::task::spawn_blocking(move || check_bundle(&state, &archive, &name, version.as_ref(), description.as_deref()))
        .await
        .map_err(|e| SpError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e.to_string()))?
}

async fn read_publish(
    state: &AppState,
    caller: &Caller,
    namespace: &Namespace,
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
) -> Reply<Checked> {
    state.index.require_publisher_in(caller, namespace).await?;
    let (raw, archive) = read_parts(state, headers, body).await?;
    let metadata: Metadata = metadata(&raw)?;
    let tags = tags_of(&metadata.tags)?;
    let kind = kind_of(metadata.kind.as_deref())?;
    let name: SkillName =
        metadata.slug.parse().map_err(|e: crate::domain::InvalidValue| SpError::bad_request(e.to_string()))?;
    let version = crate::domain::parse_version(&metadata.version).map_err(|e| SpError::bad_request(e.to_string()))?;
    let bundle = checked_bundle(state, &archive, &name, Some(version.clone()), metadata.description.clone()).await?;
    state.index.catalog().check_requirements(caller, namespace, &bundle.skill.frontmatter.requires).await?;
    // Checked again by the pipeline; here too, so validation tells it.
    if let Ok(existing) = state.index.catalog().get_skill(caller, namespace, &name).await {
        service::check_kind(&existing, Some(kind))?;
    }
    Ok(Checked { name, version, archive: archive.to_vec(), tags, kind, bundle })
}

/// The first `/home/<user>`, `/Users/<user>` or `C:\Users\<user>` path in `text` (not
/// inside a URL), with its line.
fn home_path(text: &str) -> Option<(usize, String)> {
    static PATTERN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?:^|[\s"'`(=])((?:/home/|/Users/|[A-Za-z]:[\\/][Uu]sers[\\/])[A-Za-z0-9._-]+)"#)
            .expect("static pattern")
    });
    text.lines().enumerate().find_map(|(i, line)| PATTERN.captures(line).map(|c| (i + 1, c[1].to_owned())))
}

/// `POST /v1/skills`: publish a version from a multipart body. A new skill is created with
/// it, private to the tenant's team, only once the version is stored.
async fn publish(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Reply<(StatusCode, Json<Row>)> {
    // The unpacked bundle is not needed past the checks: the pipeline reads the archive itself.
    let Checked { name, version, archive, tags, kind, .. } =
        read_publish(&state, &caller, &namespace, &headers, body).await?;
    let draft = service::SkillDraft {
        namespace: namespace.clone(),
        name,
        display_name: None,
        description: None,
        readme: None,
        visibility: Some(crate::domain::Visibility::Private),
        tags: Some(tags),
        skill_type: None,
        kind: Some(kind),
    };
    let source = service::ArtifactSource::Archive(archive);
    let plan = service::PublishPlan::creating(draft, version.to_string(), source);
    let published = state.index.publishing().publish(&caller, plan).await?;
    let (s, v) = (&published.skill, &published.version);
    Ok((StatusCode::CREATED, Json(Row::of(s, v, None))))
}

/// `POST /v1/skills/validate`: the same checks as publishing, nothing stored.
async fn validate(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Reply<Json<serde_json::Value>> {
    let Checked { name, version, bundle, .. } = read_publish(&state, &caller, &namespace, &headers, body).await?;
    let files = bundle.files.len();
    // What the pipeline would refuse before storing: a version that exists, a trust policy.
    state.index.publishing().preflight(&caller, (&namespace, &name), &version.to_string(), bundle).await?;
    Ok(Json(serde_json::json!({
        "valid": true,
        "slug": name,
        "version": version.to_string(),
        "files": files,
    })))
}

#[derive(Debug, Serialize)]
pub struct Archived {
    slug: String,
    version: String,
}

/// `POST /v1/skills/{slug}/archive`: the skill leaves the catalog (team owners with an admin
/// token, skill-pool's `tenant:admin`); installs by version keep working.
async fn archive(State(state): State<AppState>, at: SkillAt) -> Reply<Json<Archived>> {
    let skill = at.in_catalog(&state).await?;
    let Some(version) = skill.latest_version else {
        return Err(SpError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("`{}` has no published version", at.name),
        ));
    };
    state.index.catalog().set_archived(&at.caller, &at.namespace, &at.name, true).await?;
    Ok(Json(Archived { slug: at.name.to_string(), version }))
}
