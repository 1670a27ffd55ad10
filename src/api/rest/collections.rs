//! Collections: named, ordered lists of skills owned by a user or a team (and reviewable on
//! SkillsMgr's `/api/reviews`).

use axum::extract::State;
use axum::http::StatusCode;

use super::Problems;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{Json, Path, Query};
use crate::api::paged;
use crate::api::wire::{CollectionPage, CollectionRequest, CollectionResponse, PageParams};
use crate::service::collections::{CollectionInput, CollectionOwner, CollectionView};
use crate::service::{Caller, Error, page_limit};

type Reply<T> = Result<T, ApiError>;

fn response(v: CollectionView) -> CollectionResponse {
    let c = v.collection;
    CollectionResponse {
        id: c.id,
        name: c.name,
        description: c.description,
        visibility: c.visibility,
        owner: c.owner.map(|u| u.to_string()),
        namespace: c.namespace,
        skills: v.skills.iter().map(|s| format!("{}/{}", s.namespace, s.name)).collect(),
        created_at: crate::domain::to_datetime(c.created_at),
        updated_at: crate::domain::to_datetime(c.updated_at),
    }
}

fn input(req: CollectionRequest) -> Reply<CollectionInput> {
    let skills = req
        .skills
        .iter()
        .map(|s| crate::domain::parse_skill_ref(s).map_err(|e| Error::Invalid(e.0)))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(CollectionInput {
        name: req.name,
        description: req.description.unwrap_or_default(),
        visibility: req.visibility,
        skills,
    })
}

/// Create a collection: yours, or with `namespace` your team's (publisher role). Private
/// unless `visibility` says public; only skills you can see.
#[utoipa::path(post, path = "/api/v1/collections", tag = "collections", security(("bearer" = [])),
    request_body = CollectionRequest, responses((status = 201, body = CollectionResponse), Problems))]
pub(super) async fn create_collection(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CollectionRequest>,
) -> Reply<(StatusCode, axum::Json<CollectionResponse>)> {
    let owner = match req.namespace.clone() {
        Some(ns) => CollectionOwner::Namespace(ns),
        None => CollectionOwner::Me,
    };
    let created = state.index.collections().create(&caller, owner, input(req)?).await?;
    Ok((StatusCode::CREATED, axum::Json(response(created))))
}

/// The collections you may see (public ones, yours, your teams'), by id; each lists only
/// the skills you may see.
#[utoipa::path(get, path = "/api/v1/collections", tag = "collections", params(PageParams),
    responses((status = 200, body = CollectionPage), Problems))]
pub(super) async fn list_collections(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Reply<axum::Json<CollectionPage>> {
    let limit = page_limit(params.limit)?;
    let found = state.index.collections().list(&caller, params.cursor.as_deref(), limit + 1).await?;
    let (found, cursor) = paged(found, limit, |v| v.collection.id.clone());
    Ok(axum::Json(CollectionPage { data: found.into_iter().map(response).collect(), cursor }))
}

/// One collection (404 when it is private and not yours).
#[utoipa::path(get, path = "/api/v1/collections/{id}", tag = "collections",
    params(("id" = String, Path)), responses((status = 200, body = CollectionResponse), Problems))]
pub(super) async fn get_collection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
) -> Reply<axum::Json<CollectionResponse>> {
    Ok(axum::Json(response(state.index.collections().get(&caller, &id).await?)))
}

/// Replace a collection's name, description, visibility and skills (its owner, or its team's
/// publishers). `namespace` cannot change.
#[utoipa::path(put, path = "/api/v1/collections/{id}", tag = "collections", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CollectionRequest,
    responses((status = 200, body = CollectionResponse), Problems))]
pub(super) async fn replace_collection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
    Json(req): Json<CollectionRequest>,
) -> Reply<axum::Json<CollectionResponse>> {
    caller.require(crate::domain::TokenScope::Write)?;
    let current = state.index.collections().get(&caller, &id).await?;
    if req.namespace.is_some() && req.namespace != current.collection.namespace {
        return Err(Error::State("a collection's namespace cannot change".into()).into());
    }
    Ok(axum::Json(response(state.index.collections().replace(&caller, &id, input(req)?).await?)))
}

/// Delete a collection and its reviews.
#[utoipa::path(delete, path = "/api/v1/collections/{id}", tag = "collections", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), Problems))]
pub(super) async fn delete_collection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
) -> Reply<StatusCode> {
    state.index.collections().delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
