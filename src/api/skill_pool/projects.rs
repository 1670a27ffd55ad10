//! skill-pool's projects, plans, curated stack mappings and bootstrap, on a tenant.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Reply, SpCaller, SpError, SpJson, SpJsonList, Tenant, kind_of, rejected};
use crate::api::AppState;
use crate::api::wire::present;
use crate::domain::to_datetime;
use crate::service::projects::ProjectChange;
use crate::store::{Project, ProjectItem, ProjectPlan};

pub fn router() -> Router<AppState> {
    use axum::routing::get;
    Router::new()
        .route("/v1/tenant/projects", get(list_projects).post(create_project))
        .route("/v1/tenant/projects/{slug}", get(get_project).patch(update_project).delete(delete_project))
        .route("/v1/tenant/projects/{slug}/items", axum::routing::put(set_items))
        .route("/v1/tenant/projects/{slug}/plan", get(get_plan).put(set_plan))
        .route("/v1/tenant/stack-mappings", get(get_mappings).put(set_mappings))
        .route("/v1/projects/resolve", get(resolve_project))
        .route("/v1/bootstrap", get(bootstrap))
}

#[derive(Debug, Serialize)]
pub struct ProjectView {
    slug: String,
    name: String,
    description: Option<String>,
    git_remote: Option<String>,
    stack_tags: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    item_count: i64,
}

impl ProjectView {
    fn of(p: Project, item_count: i64) -> Self {
        Self {
            slug: p.slug,
            name: p.name,
            description: p.description,
            git_remote: p.git_remote,
            stack_tags: p.stack_tags,
            created_at: to_datetime(p.created_at),
            updated_at: to_datetime(p.updated_at),
            item_count,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ItemView {
    skill_slug: String,
    kind: &'static str,
    position: i64,
}

impl From<ProjectItem> for ItemView {
    fn from(i: ProjectItem) -> Self {
        Self { skill_slug: i.skill_slug, kind: i.kind.as_str(), position: i.position }
    }
}

#[derive(Debug, Serialize)]
pub struct ProjectDetail {
    #[serde(flatten)]
    project: ProjectView,
    items: Vec<ItemView>,
}

async fn list_projects(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
) -> Reply<Json<Vec<ProjectView>>> {
    let projects = state.index.projects().list(&caller, &namespace).await?;
    Ok(Json(projects.into_iter().map(|(p, n)| ProjectView::of(p, n)).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    slug: String,
    name: String,
    description: Option<String>,
    git_remote: Option<String>,
    #[serde(default)]
    stack_tags: Vec<String>,
}

async fn create_project(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    SpJson(body): SpJson<NewProject>,
) -> Reply<(StatusCode, Json<ProjectView>)> {
    let change = ProjectChange {
        name: Some(body.name),
        description: Some(body.description.filter(|d| !d.trim().is_empty())),
        git_remote: Some(body.git_remote),
        stack_tags: Some(body.stack_tags),
    };
    let project = state.index.projects().create(&caller, &namespace, &body.slug, change).await?;
    Ok((StatusCode::CREATED, Json(ProjectView::of(project, 0))))
}

async fn get_project(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    Path(slug): Path<String>,
) -> Reply<Json<ProjectDetail>> {
    let (project, items) = state.index.projects().get(&caller, &namespace, &slug).await?;
    let count = items.len() as i64;
    Ok(Json(ProjectDetail {
        project: ProjectView::of(project, count),
        items: items.into_iter().map(ItemView::from).collect(),
    }))
}

/// A field left out stays; `null` clears `description` and `git_remote`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    git_remote: Option<Option<String>>,
    stack_tags: Option<Vec<String>>,
}

async fn update_project(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    Path(slug): Path<String>,
    SpJson(body): SpJson<ProjectPatch>,
) -> Reply<Json<ProjectView>> {
    let change = ProjectChange {
        name: body.name,
        description: body.description,
        git_remote: body.git_remote,
        stack_tags: body.stack_tags,
    };
    let projects = state.index.projects();
    let project = projects.update(&caller, &namespace, &slug, change).await?;
    let (_, items) = projects.get(&caller, &namespace, &slug).await?;
    Ok(Json(ProjectView::of(project, items.len() as i64)))
}

async fn delete_project(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    Path(slug): Path<String>,
) -> Reply<StatusCode> {
    state.index.projects().delete(&caller, &namespace, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemIn {
    slug: String,
    kind: Option<String>,
}

/// `PUT …/items` with `[{slug, kind}]`: the whole list, in order.
async fn set_items(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    Path(slug): Path<String>,
    SpJsonList(body): SpJsonList<ItemIn>,
) -> Reply<StatusCode> {
    let items = body.into_iter().map(|i| Ok((i.slug, kind_of(i.kind.as_deref())?))).collect::<Reply<Vec<_>>>()?;
    state.index.projects().set_items(&caller, &namespace, &slug, items).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
pub struct PlanView {
    version: i64,
    sha256: String,
    imported_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

impl PlanView {
    fn of(plan: ProjectPlan, with_body: bool) -> Self {
        Self {
            version: plan.version,
            sha256: plan.sha256,
            imported_at: to_datetime(plan.imported_at),
            body: with_body.then_some(plan.body),
        }
    }
}

/// `PUT …/plan` with the plan's Markdown as the body: its next version.
async fn set_plan(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    Path(slug): Path<String>,
    body: Result<String, axum::extract::rejection::StringRejection>,
) -> Reply<Json<PlanView>> {
    let body = body.map_err(|e| SpError::bad_request(e.body_text()))?;
    let plan = state.index.projects().set_plan(&caller, &namespace, &slug, &body).await?;
    Ok(Json(PlanView::of(plan, false)))
}

async fn get_plan(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    Path(slug): Path<String>,
) -> Reply<Json<PlanView>> {
    let (project, plan) = state.index.projects().plan(&caller, &namespace, &slug).await?;
    let plan = plan.ok_or_else(|| {
        SpError::new(StatusCode::NOT_FOUND, "not_found", format!("project `{}` has no imported plan yet", project.slug))
    })?;
    Ok(Json(PlanView::of(plan, true)))
}

async fn get_mappings(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
) -> Reply<Json<serde_json::Map<String, serde_json::Value>>> {
    let mappings = state.index.projects().stack_mappings(&caller, &namespace).await?;
    Ok(Json(mappings.into_iter().map(|(tag, slugs)| (tag, serde_json::json!(slugs))).collect()))
}

/// `PUT /v1/tenant/stack-mappings` with `{"rust": ["linter", …], …}`: replaces them all.
async fn set_mappings(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    SpJson(body): SpJson<std::collections::BTreeMap<String, Vec<String>>>,
) -> Reply<Json<serde_json::Map<String, serde_json::Value>>> {
    let projects = state.index.projects();
    projects.set_stack_mappings(&caller, &namespace, body.into_iter().collect()).await?;
    let mappings = projects.stack_mappings(&caller, &namespace).await?;
    Ok(Json(mappings.into_iter().map(|(tag, slugs)| (tag, serde_json::json!(slugs))).collect()))
}

#[derive(Debug, Deserialize)]
pub struct RemoteParam {
    remote: Option<String>,
}

/// `GET /v1/projects/resolve?remote=`: `{slug, name}` of the project with that remote.
async fn resolve_project(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    p: Result<Query<RemoteParam>, QueryRejection>,
) -> Reply<Json<serde_json::Value>> {
    let Query(p) = p.map_err(rejected)?;
    let remote = p.remote.as_deref().map(str::trim).unwrap_or_default();
    if remote.is_empty() {
        return Err(SpError::bad_request("remote query parameter is required"));
    }
    let project = state.index.projects().resolve(&caller, &namespace, remote).await?;
    Ok(Json(serde_json::json!({ "slug": project.slug, "name": project.name })))
}

#[derive(Debug, Deserialize)]
pub struct BootstrapParams {
    stack: Option<String>,
    project: Option<String>,
    debug: Option<String>,
}

/// `GET /v1/bootstrap?stack=rust,axum&project=…&debug=1`.
async fn bootstrap(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    p: Result<Query<BootstrapParams>, QueryRejection>,
) -> Reply<Json<serde_json::Value>> {
    let Query(p) = p.map_err(rejected)?;
    let stack: Vec<String> = p
        .stack
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if stack.is_empty() && p.project.is_none() {
        return Err(SpError::bad_request(
            "stack query must contain at least one comma-separated tag (or supply ?project=)",
        ));
    }
    let debug = matches!(p.debug.as_deref(), Some("1" | "true"));
    let project = p.project.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let b = state.index.projects().bootstrap(&caller, &namespace, stack, project).await?;
    let mut out = serde_json::json!({ "stack": b.stack, "skills": b.skills });
    if let Some(p) = &b.project {
        out["project"] = serde_json::json!({ "slug": p.slug, "name": p.name });
    }
    if !b.project_items.is_empty() {
        out["project_items"] = b
            .project_items
            .iter()
            .map(|i| serde_json::json!({ "slug": i.skill_slug, "kind": i.kind, "source": "direct" }))
            .collect();
    }
    if debug {
        let mut tiers = serde_json::json!({
            "curated": b.tiers.curated, "tagged": b.tiers.tagged, "semantic": b.tiers.semantic,
        });
        if !b.tiers.project.is_empty() {
            tiers["project"] = serde_json::json!(b.tiers.project);
        }
        out["tier_breakdown"] = tiers;
    }
    Ok(Json(out))
}
