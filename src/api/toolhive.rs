//! ToolHive's registry skills extension:
//! `/registry/{registryName}/v0.1/x/dev.toolhive/skills[/{namespace}/{name}[/versions[/{version}]]]`
//! (with `POST` to publish a version and `DELETE` of a version, a yank), and its publish call
//! `POST /v1/entries`. A thin translation over the same listing, visibility, resolve,
//! lifecycle and publish rules as every surface; errors in ToolHive's `{"error": "…"}` shape.
//! Registry names are the configured views.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ErrorMessage, authenticated, bad};
use crate::domain::{Namespace, ReleasedVersion, Skill, SkillName, SkillSort};
use crate::service::limits::PAGE_MAX;
use crate::service::{
    ArtifactSource, Caller, Lifecycle, PublishPlan, Published, RegistryView, SkillDraft, SkillListRequest,
};

const BASE: &str = "/registry/{registry}/v0.1/x/dev.toolhive/skills";

/// How long a published Skill's body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/entries", axum::routing::post(publish_entry))
        .route(BASE, axum::routing::get(list_skills).post(publish_skill))
        .route(&format!("{BASE}/{{namespace}}/{{name}}"), axum::routing::get(get_latest))
        .route(&format!("{BASE}/{{namespace}}/{{name}}/versions"), axum::routing::get(list_versions))
        .route(
            &format!("{BASE}/{{namespace}}/{{name}}/versions/{{version}}"),
            axum::routing::get(get_version).delete(delete_version),
        )
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

fn to_skill(skill: &Skill, v: &ReleasedVersion) -> ThSkill {
    let fm = &v.frontmatter;
    let text = |k: &str| fm.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let allowed_tools = crate::bundle::allowed_tools_of(fm);
    let identifier = v.reference.split('@').next().unwrap_or_default().to_owned();
    ThSkill {
        namespace: skill.namespace.to_string(),
        name: skill.name.to_string(),
        description: text("description").unwrap_or_else(|| skill.description.clone()),
        version: v.version.clone(),
        status: Lifecycle::of(skill, v).as_str().to_owned(),
        title: skill.display_name.clone(),
        license: text("license"),
        compatibility: text("compatibility"),
        allowed_tools,
        packages: vec![Package {
            registry_type: "oci".into(),
            identifier: format!("{identifier}@{}", v.digest),
            digest: v.digest.clone(),
            media_type: v.media_type.clone().unwrap_or_default(),
        }],
        metadata: fm.get("metadata").and_then(|m| m.as_object().cloned()).unwrap_or_default(),
    }
}

fn view<'a>(state: &'a AppState, name: &str) -> Result<&'a RegistryView, ErrorMessage> {
    state.index.view(name).ok_or_else(|| ErrorMessage(StatusCode::NOT_FOUND, "registry not found".into()))
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
) -> Result<axum::Json<SkillList>, ErrorMessage> {
    let view = view(&state, &registry)?;
    let caller = authenticated(caller)?;
    let limit = match &p.limit {
        None => 50,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=PAGE_MAX).contains(n))
            .ok_or_else(|| bad(format!("limit must be between 1 and {PAGE_MAX}")))?,
    };
    let statuses: Option<Vec<String>> =
        p.status.as_deref().map(|s| s.split(',').map(|x| x.trim().to_lowercase()).collect());
    let unknown = statuses.iter().flatten().find(|s| !["active", "deprecated", "archived"].contains(&s.as_str()));
    if let Some(bad_status) = unknown {
        return Err(bad(format!("invalid status `{}`: use active, deprecated or archived", bad_status.escape_debug())));
    }
    // A listed skill is archived, else deprecated, else active: filter on that in the query
    // where one filter says it, so pages are full. Without a status, archived skills are
    // left out, as everywhere else.
    let wants = |s: &str| statuses.as_ref().is_some_and(|l| l.iter().any(|x| x == s));
    let (active, deprecated, archived) = match &statuses {
        None => (true, true, false),
        Some(_) => (wants("active"), wants("deprecated"), wants("archived")),
    };
    let (deprecated_filter, archived_filter) = match (active, deprecated, archived) {
        (true, true, false) => (None, crate::service::Archived::Excluded),
        (false, true, false) => (Some(true), crate::service::Archived::Excluded),
        (true, false, false) => (Some(false), crate::service::Archived::Excluded),
        (false, false, true) => (None, crate::service::Archived::Only),
        (false, false, false) => {
            let metadata = ListMetadata { count: 0, next_cursor: None };
            return Ok(axum::Json(SkillList { skills: Vec::new(), metadata }));
        }
        // Archived with one or both of the others: the rest is filtered below.
        (_, _, true) => (None, crate::service::Archived::Included),
    };
    let req = SkillListRequest {
        q: p.search.clone(),
        sort: Some(if p.search.is_some() { SkillSort::Relevance } else { SkillSort::Name }),
        cursor: p.cursor.clone(),
        limit: Some(limit),
        deprecated: deprecated_filter,
        archived: archived_filter,
        namespace_globs: view.namespaces.clone(),
        ..Default::default()
    };
    let page = state.index.catalog().list_latest(&caller, req).await?;
    let shown = |s: &crate::store::Skill| match Lifecycle::of_listed(s) {
        Lifecycle::Active => active,
        Lifecycle::Deprecated => deprecated,
        Lifecycle::Archived => archived,
    };
    let skills: Vec<ThSkill> =
        page.items.iter().filter(|(hit, _)| shown(&hit.skill)).map(|(hit, v)| to_skill(&hit.skill, v)).collect();
    Ok(axum::Json(SkillList { metadata: ListMetadata { count: skills.len(), next_cursor: page.cursor }, skills }))
}

/// What every per-skill endpoint checks first: the registry view, the token, the names. A
/// skill outside the view is not found, exactly like one that does not exist.
fn prelude(
    state: &AppState,
    registry: &str,
    caller: Result<Caller, super::error::ApiError>,
    namespace: &str,
    name: &str,
) -> Result<(Caller, Namespace, SkillName), ErrorMessage> {
    let view = view(state, registry)?;
    let caller = authenticated(caller)?;
    let ns: Namespace = namespace.parse().map_err(|e: crate::domain::InvalidValue| bad(e.0))?;
    let n: SkillName = name.parse().map_err(|e: crate::domain::InvalidValue| bad(e.0))?;
    if !view.includes(ns.as_str()) {
        return Err(ErrorMessage(StatusCode::NOT_FOUND, format!("skill `{ns}/{n}` not found")));
    }
    Ok((caller, ns, n))
}

async fn get_latest(
    State(state): State<AppState>,
    Path((registry, namespace, name)): Path<(String, String, String)>,
    caller: Result<Caller, super::error::ApiError>,
) -> Result<axum::Json<ThSkill>, ErrorMessage> {
    let (caller, ns, n) = prelude(&state, &registry, caller, &namespace, &name)?;
    let r = state.index.catalog().resolve(&caller, &ns, &n, None).await?;
    Ok(axum::Json(to_skill(&r.skill, &r.version)))
}

async fn list_versions(
    State(state): State<AppState>,
    Path((registry, namespace, name)): Path<(String, String, String)>,
    caller: Result<Caller, super::error::ApiError>,
) -> Result<axum::Json<SkillList>, ErrorMessage> {
    let (caller, ns, n) = prelude(&state, &registry, caller, &namespace, &name)?;
    let (skill, _, released) = state.index.catalog().released_versions(&caller, &ns, &n).await?;
    let skills: Vec<ThSkill> = released.iter().map(|v| to_skill(&skill, v)).collect();
    Ok(axum::Json(SkillList { metadata: ListMetadata { count: skills.len(), next_cursor: None }, skills }))
}

async fn get_version(
    State(state): State<AppState>,
    Path((registry, namespace, name, version)): Path<(String, String, String, String)>,
    caller: Result<Caller, super::error::ApiError>,
) -> Result<axum::Json<ThSkill>, ErrorMessage> {
    let (caller, ns, n) = prelude(&state, &registry, caller, &namespace, &name)?;
    crate::domain::parse_version(&version).map_err(|e| bad(e.0))?;
    let r = state.index.catalog().resolve(&caller, &ns, &n, Some(&version)).await?;
    Ok(axum::Json(to_skill(&r.skill, &r.version)))
}

/// ToolHive's "delete a version", as skilldex deletes nothing a lock may pin: the version is
/// yanked (owners, with an admin token; audited): an exact pin still resolves and nothing
/// leaves the registry, while ranges and `latest` skip it. Deleting it again is a no-op.
async fn delete_version(
    State(state): State<AppState>,
    Path((registry, namespace, name, version)): Path<(String, String, String, String)>,
    caller: Result<Caller, super::error::ApiError>,
) -> Result<StatusCode, ErrorMessage> {
    let (caller, ns, n) = prelude(&state, &registry, caller, &namespace, &name)?;
    crate::domain::parse_version(&version).map_err(|e| bad(e.0))?;
    state.index.catalog().set_yanked(&caller, &ns, &n, &version, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// ToolHive's publish body: exactly one of `skill` and `server`; `claims` are ToolHive's
/// authorization claims, which skilldex replaces with its own tokens and roles.
#[derive(Debug, Deserialize)]
struct PublishEntry {
    /// Read so that a malformed value is a 400; not used otherwise.
    #[serde(default, rename = "claims")]
    _claims: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "super::wire::object")]
    skill: Option<EntrySkill>,
    server: Option<serde_json::Value>,
}

/// The fields of a published Skill that skilldex uses; the rest come from the artifact's
/// own SKILL.md, which is what gets served.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntrySkill {
    namespace: String,
    name: String,
    version: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    title: Option<String>,
    /// `active` (the default); a version cannot be published deprecated or archived.
    #[serde(default)]
    status: Option<String>,
    #[serde(default, deserialize_with = "super::wire::objects")]
    packages: Vec<EntryPackage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryPackage {
    registry_type: String,
    #[serde(default)]
    identifier: Option<String>,
    /// The tag, when the identifier names none.
    #[serde(default, rename = "ref")]
    reference: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}

/// `POST /v1/entries {claims, skill}`: registry-first publishing of the OCI package the
/// skill names (201 with the published Skill; 409 when the version exists).
async fn publish_entry(
    State(state): State<AppState>,
    caller: Result<Caller, super::error::ApiError>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, axum::Json<ThSkill>), ErrorMessage> {
    let caller = authenticated(caller)?;
    let body = body?;
    let entry: PublishEntry = super::wire::from_object(&body).map_err(|e| bad(format!("invalid request body: {e}")))?;
    let skill = match (entry.skill, entry.server) {
        (Some(skill), None) => skill,
        (None, Some(_)) => return Err(bad("this registry holds skills only; MCP servers cannot be published here")),
        _ => return Err(bad("exactly one of `skill` and `server` must be given")),
    };
    publish(&state, &caller, skill, None).await
}

/// `POST /registry/{registry}/v0.1/x/dev.toolhive/skills` with a Skill as the body: the same
/// publish as `POST /v1/entries`, into a namespace the registry view holds (201 with the
/// published Skill; 409 when the version exists). The token's right to publish is checked
/// before the body is read.
async fn publish_skill(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    caller: Result<Caller, super::error::ApiError>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, axum::Json<ThSkill>), ErrorMessage> {
    let view = view(&state, &registry)?.clone();
    let caller = authenticated(caller)?;
    caller.require_publish()?;
    let body = super::read_body(&headers, body, state.index.limits().json_body, BODY_TIMEOUT).await?;
    let skill: EntrySkill = super::wire::from_object(&body).map_err(|e| bad(format!("invalid request body: {e}")))?;
    publish(&state, &caller, skill, Some(&view)).await
}

/// Publishes the OCI package a Skill names as its version, through the one pipeline; inside
/// `view` when published through one.
async fn publish(
    state: &AppState,
    caller: &Caller,
    skill: EntrySkill,
    view: Option<&RegistryView>,
) -> Result<(StatusCode, axum::Json<ThSkill>), ErrorMessage> {
    if let Some(status) = skill.status.as_deref().filter(|s| *s != "active") {
        return Err(bad(format!(
            "a version is published `active`, not `{}`; deprecate or archive the skill afterwards",
            status.escape_debug()
        )));
    }
    let ns: Namespace = skill.namespace.parse().map_err(|e: crate::domain::InvalidValue| bad(e.0))?;
    let name: SkillName = skill.name.parse().map_err(|e: crate::domain::InvalidValue| bad(e.0))?;
    if let Some(view) = view.filter(|v| !v.includes(ns.as_str())) {
        return Err(bad(format!("registry `{}` does not hold namespace `{ns}`", view.name)));
    }
    let reference = oci_reference(&skill.packages)?;
    let draft = SkillDraft {
        namespace: ns,
        name,
        display_name: skill.title.filter(|t| !t.is_empty()),
        description: skill.description.filter(|d| !d.is_empty()),
        readme: None,
        visibility: None,
        tags: None,
        skill_type: None,
        kind: None,
    };
    let source = ArtifactSource::Reference { reference, credentials: None };
    let Published { skill, version, .. } =
        state.index.publishing().publish(caller, PublishPlan::creating(draft, skill.version, source)).await?;
    let released = ReleasedVersion::of(version)
        .ok_or_else(|| crate::service::Error::Internal("a published version has no artifact".into()))?;
    Ok((StatusCode::CREATED, axum::Json(to_skill(&skill, &released))))
}

/// `identifier` with the package's `ref` as its tag, when it names no tag or digest itself;
/// one that names another tag than `ref` is refused.
fn tagged(identifier: &str, reference: Option<&str>) -> Result<String, ErrorMessage> {
    let Some(tag) = reference else { return Ok(identifier.to_owned()) };
    let last = identifier.rsplit('/').next().unwrap_or_default();
    if last.contains('@') {
        return Ok(identifier.to_owned());
    }
    match last.split_once(':') {
        Some((_, own)) if own == tag => Ok(identifier.to_owned()),
        Some((_, own)) => {
            Err(bad(format!("the identifier is tagged `{own}`, not the package ref `{}`", tag.escape_debug())))
        }
        None => {
            let whole = format!("{identifier}:{tag}");
            crate::oci::parse_reference(&whole).map_err(|e| bad(e.to_string()))?;
            Ok(whole)
        }
    }
}

/// The one OCI package to register: `identifier` pinned by `digest` when both are given, else
/// tagged by `ref`.
fn oci_reference(packages: &[EntryPackage]) -> Result<String, ErrorMessage> {
    let oci: Vec<&EntryPackage> = packages.iter().filter(|p| p.registry_type == "oci").collect();
    let [package] = oci.as_slice() else {
        return Err(bad("the skill must have exactly one package with registryType `oci`"));
    };
    let identifier = package
        .identifier
        .as_deref()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| bad("the OCI package has no identifier"))?;
    let Some(digest) = package.digest.as_deref().filter(|d| !d.is_empty()) else {
        return tagged(identifier, package.reference.as_deref().filter(|r| !r.is_empty()));
    };
    let r = crate::oci::parse_reference(identifier).map_err(|e| bad(e.to_string()))?;
    if r.digest().is_some_and(|d| d != digest) {
        return Err(bad(format!(
            "the identifier is pinned to {}, not to the package digest {digest}",
            r.digest().unwrap_or_default()
        )));
    }
    Ok(format!("{}/{}@{digest}", r.registry(), r.repository()))
}
