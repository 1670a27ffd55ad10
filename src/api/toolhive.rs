//! ToolHive's registry skills extension, read side:
//! `/registry/{registryName}/v0.1/x/dev.toolhive/skills[/{namespace}/{name}[/versions[/{version}]]]`.
//! A thin translation over the same listing, visibility and resolve rules as every surface;
//! errors in ToolHive's `{"error": "…"}` shape.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::domain::{Namespace, SkillName, VersionStatus};
use crate::service::{self, Caller, SkillListRequest};
use crate::store::{Skill, SkillSort, Version};

const BASE: &str = "/registry/{registry}/v0.1/x/dev.toolhive/skills";

/// The registry views this server offers; `default` is everything the caller may see.
const REGISTRIES: &[&str] = &["default"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(BASE, axum::routing::get(list_skills))
        .route(&format!("{BASE}/{{namespace}}/{{name}}"), axum::routing::get(get_latest))
        .route(&format!("{BASE}/{{namespace}}/{{name}}/versions"), axum::routing::get(list_versions))
        .route(&format!("{BASE}/{{namespace}}/{{name}}/versions/{{version}}"), axum::routing::get(get_version))
}

/// An error in ToolHive's shape.
struct ThError(StatusCode, String);

impl IntoResponse for ThError {
    fn into_response(self) -> Response {
        if self.0 == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self.1, "toolhive request failed");
            return (self.0, axum::Json(serde_json::json!({ "error": "internal error" }))).into_response();
        }
        (self.0, axum::Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<service::Error> for ThError {
    fn from(e: service::Error) -> Self {
        let status = match &e {
            service::Error::Invalid(_) => StatusCode::BAD_REQUEST,
            service::Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            service::Error::Forbidden(_) => StatusCode::FORBIDDEN,
            service::Error::NotFound(_) => StatusCode::NOT_FOUND,
            service::Error::Untrusted(_) | service::Error::ManifestInvalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            service::Error::Upstream(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ThError(status, e.to_string())
    }
}

fn bad(msg: impl Into<String>) -> ThError {
    ThError(StatusCode::BAD_REQUEST, msg.into())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub registry_type: String,
    pub identifier: String,
    pub digest: String,
    pub media_type: String,
}

/// A skill as ToolHive describes it (camelCase).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ThSkill {
    pub namespace: String,
    pub name: String,
    pub description: String,
    pub version: String,
    pub status: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<String>,
    pub allowed_tools: Vec<String>,
    pub packages: Vec<Package>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMetadata {
    pub count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkillList {
    pub skills: Vec<ThSkill>,
    pub metadata: ListMetadata,
}

/// `active`, or `deprecated` for skills marked so; yanked versions are `archived`.
fn status_of(skill: &Skill, version: &Version) -> &'static str {
    if version.status == VersionStatus::Yanked {
        "archived"
    } else if skill.deprecated {
        "deprecated"
    } else {
        "active"
    }
}

fn to_skill(skill: &Skill, v: &Version) -> ThSkill {
    let fm: serde_json::Value = serde_json::from_str(&v.frontmatter).unwrap_or_default();
    let text = |k: &str| fm.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let allowed_tools = match fm.get("allowed-tools") {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        Some(serde_json::Value::String(s)) => crate::bundle::split_allowed_tools(s),
        _ => Vec::new(),
    };
    let reference = v.reference.clone().unwrap_or_default();
    let identifier = reference.split('@').next().unwrap_or_default().to_owned();
    ThSkill {
        namespace: skill.scope.to_string(),
        name: skill.slug.to_string(),
        description: text("description").unwrap_or_else(|| skill.description.clone()),
        version: v.version.clone(),
        status: status_of(skill, v).to_owned(),
        title: skill.display_name.clone(),
        license: text("license"),
        compatibility: text("compatibility"),
        allowed_tools,
        packages: vec![Package {
            registry_type: "oci".into(),
            identifier: format!("{identifier}@{}", v.digest.clone().unwrap_or_default()),
            digest: v.digest.clone().unwrap_or_default(),
            media_type: v.media_type.clone().unwrap_or_default(),
        }],
        metadata: fm.get("metadata").and_then(|m| m.as_object().cloned()).unwrap_or_default(),
    }
}

fn check_registry(name: &str) -> Result<(), ThError> {
    if REGISTRIES.contains(&name) { Ok(()) } else { Err(ThError(StatusCode::NOT_FOUND, "registry not found".into())) }
}

#[derive(Debug, Deserialize)]
struct ListParams {
    search: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_skills(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    caller: Result<Caller, super::error::ApiError>,
    Query(p): Query<ListParams>,
) -> Result<axum::Json<SkillList>, ThError> {
    check_registry(&registry)?;
    let caller =
        caller.map_err(|_| ThError(StatusCode::UNAUTHORIZED, "invalid, expired or revoked API token".into()))?;
    let limit = match &p.limit {
        None => 50,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| bad("limit must be between 1 and 100"))?,
    };
    let statuses: Option<Vec<String>> =
        p.status.as_deref().map(|s| s.split(',').map(|x| x.trim().to_lowercase()).collect());
    let unknown = statuses.iter().flatten().find(|s| !["active", "deprecated", "archived"].contains(&s.as_str()));
    if let Some(bad_status) = unknown {
        return Err(bad(format!("invalid status `{}`: use active, deprecated or archived", bad_status.escape_debug())));
    }
    // Listed skills always have a latest version, which is never yanked, so their status
    // is active or deprecated: filter on that in the query, so pages are full.
    let wants = |s: &str| statuses.as_ref().is_none_or(|l| l.iter().any(|x| x == s));
    let deprecated = match (wants("active"), wants("deprecated")) {
        (true, true) => None,
        (false, true) => Some(true),
        (true, false) => Some(false),
        (false, false) => {
            let metadata = ListMetadata { count: 0, next_cursor: None };
            return Ok(axum::Json(SkillList { skills: Vec::new(), metadata }));
        }
    };
    let req = SkillListRequest {
        q: p.search.clone(),
        sort: Some(if p.search.is_some() { SkillSort::Relevance } else { SkillSort::Name }),
        cursor: p.cursor.clone(),
        limit: Some(limit),
        published_only: true,
        deprecated,
        ..Default::default()
    };
    let page = state.index.list_skills(&caller, req).await?;
    let mut skills = Vec::new();
    for hit in &page.items {
        let Some(latest) = &hit.skill.latest_version else { continue };
        let Some(v) = state.index.store().version(&hit.skill.id, latest).await.map_err(service::Error::from)? else {
            continue;
        };
        skills.push(to_skill(&hit.skill, &v));
    }
    Ok(axum::Json(SkillList { metadata: ListMetadata { count: skills.len(), next_cursor: page.cursor }, skills }))
}

/// What every per-skill endpoint checks first: the registry view, the token, the names.
fn prelude(
    registry: &str,
    caller: Result<Caller, super::error::ApiError>,
    namespace: &str,
    name: &str,
) -> Result<(Caller, Namespace, SkillName), ThError> {
    check_registry(registry)?;
    let caller = authenticated(caller)?;
    let ns = namespace.parse().map_err(|e: crate::domain::InvalidValue| bad(e.0))?;
    let n = name.parse().map_err(|e: crate::domain::InvalidValue| bad(e.0))?;
    Ok((caller, ns, n))
}

fn authenticated(caller: Result<Caller, super::error::ApiError>) -> Result<Caller, ThError> {
    caller.map_err(|_| ThError(StatusCode::UNAUTHORIZED, "invalid, expired or revoked API token".into()))
}

async fn get_latest(
    State(state): State<AppState>,
    Path((registry, namespace, name)): Path<(String, String, String)>,
    caller: Result<Caller, super::error::ApiError>,
) -> Result<axum::Json<ThSkill>, ThError> {
    let (caller, ns, n) = prelude(&registry, caller, &namespace, &name)?;
    let r = state.index.resolve(&caller, &ns, &n, None).await?;
    Ok(axum::Json(to_skill(&r.skill, &r.version)))
}

async fn list_versions(
    State(state): State<AppState>,
    Path((registry, namespace, name)): Path<(String, String, String)>,
    caller: Result<Caller, super::error::ApiError>,
) -> Result<axum::Json<SkillList>, ThError> {
    let (caller, ns, n) = prelude(&registry, caller, &namespace, &name)?;
    let (skill, _) = state.index.visible_skill(&caller, &ns, &n, false).await?;
    let filter = service::VersionFilter { limit: Some(100), ..Default::default() };
    let page = state.index.list_versions(&caller, &ns, &n, filter).await?;
    let skills: Vec<ThSkill> = page
        .items
        .iter()
        .filter(|v| v.status != VersionStatus::Draft && v.digest.is_some())
        .map(|v| to_skill(&skill, v))
        .collect();
    Ok(axum::Json(SkillList { metadata: ListMetadata { count: skills.len(), next_cursor: None }, skills }))
}

async fn get_version(
    State(state): State<AppState>,
    Path((registry, namespace, name, version)): Path<(String, String, String, String)>,
    caller: Result<Caller, super::error::ApiError>,
) -> Result<axum::Json<ThSkill>, ThError> {
    let (caller, ns, n) = prelude(&registry, caller, &namespace, &name)?;
    crate::domain::parse_version(&version).map_err(|e| bad(e.0))?;
    let r = state.index.resolve(&caller, &ns, &n, Some(&version)).await?;
    Ok(axum::Json(to_skill(&r.skill, &r.version)))
}
