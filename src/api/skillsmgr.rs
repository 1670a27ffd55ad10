//! SkillsMgr's agent API over the same core: `/api/r/<name>` is the npm packument and npm
//! publish under SkillsMgr's path (the same functions as npm's own paths, so the same
//! visibility, `ETag` and 409 on an existing version), `/api/wishes` holds wishes and
//! `/api/reviews` reviews of skills and collections.
//! Errors are SkillsMgr's envelope, `{"error": {"code": "…", "message": "…"}}`, with its
//! codes (`invalid_input`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
//! `too_large`, `rate_limited`, `internal_error`, …).

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::json;

use super::AppState;
use super::error::{ApiError, ErrorMessage, authenticated};
use crate::domain::{Namespace, ReviewRating, ReviewTarget, Tag, WishStatus, to_datetime};
use crate::service::reviews::{ReviewView, TargetRef};
use crate::service::wishes::{WishFilter, WishInput, WishView};
use crate::service::{self, Caller, page_limit};

/// The largest wish or close request read.
const BODY_MAX: usize = 64 * 1024;
/// How long such a body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/r/{*name}", get(package).put(publish).fallback(method_not_allowed))
        .route("/api/wishes", get(list_wishes).post(create_wish).fallback(method_not_allowed))
        .route("/api/wishes/{id}", get(wish).fallback(method_not_allowed))
        .route("/api/wishes/{id}/close", post(close_wish).fallback(method_not_allowed))
        .route("/api/reviews", get(list_reviews).post(create_review).fallback(method_not_allowed))
        .route("/api/reviews/{id}", get(review).put(update_review).delete(delete_review).fallback(method_not_allowed))
}

/// An error in SkillsMgr's envelope.
#[derive(Debug)]
pub struct SmError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl SmError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, code: code_of(status), message: message.into() }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

/// SkillsMgr's code for a status.
fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid_input",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        409 => "conflict",
        413 => "too_large",
        429 => "rate_limited",
        502..=504 => "upstream_error",
        _ => "internal_error",
    }
}

impl IntoResponse for SmError {
    fn into_response(self) -> Response {
        let message = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self.message, "request failed");
            "internal error".to_owned()
        } else {
            self.message
        };
        (self.status, axum::Json(json!({ "error": { "code": self.code, "message": message } }))).into_response()
    }
}

impl From<ErrorMessage> for SmError {
    fn from(ErrorMessage(status, message): ErrorMessage) -> Self {
        Self::new(status, message)
    }
}

impl From<service::Error> for SmError {
    fn from(e: service::Error) -> Self {
        let own = matches!(e, service::Error::OwnWork(_));
        let mut error: SmError = ErrorMessage::from(e).into();
        if own {
            error.code = "cannot_review_own";
        }
        error
    }
}

async fn method_not_allowed() -> SmError {
    SmError::new(StatusCode::METHOD_NOT_ALLOWED, "this method is not allowed here")
}

/// The caller (anonymous without a token); a bad token is a 401 in SkillsMgr's envelope.
fn caller_of(caller: Result<Caller, ApiError>) -> Result<Caller, SmError> {
    Ok(authenticated(caller)?)
}

/// `GET /api/r/<name>`: the npm packument of `@namespace/name` (the slash escaped or not).
async fn package(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    caller: Result<Caller, ApiError>,
) -> Result<Response, SmError> {
    let caller = caller_of(caller)?;
    let (scope, slug) = super::npm::parse_package(&name)?;
    Ok(super::npm::serve_packument(&state, &headers, caller, scope, slug).await?)
}

/// `PUT /api/r/<name>`: npm publish (a new version only: 409 for one that exists).
async fn publish(
    State(state): State<AppState>,
    Path(name): Path<String>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, SmError> {
    let caller = caller_of(caller)?;
    Ok(super::npm::publish_package(&state, &caller, &name, &headers, body).await?.into_response())
}

/// A small JSON body, read only after the caller has been authorized; an empty one is `{}`.
async fn read_json<T: DeserializeOwned>(headers: &HeaderMap, body: axum::body::Body) -> Result<T, SmError> {
    let bytes = super::read_body(headers, body, BODY_MAX, BODY_TIMEOUT)
        .await
        .map_err(|e| SmError::new(e.status(), e.message()))?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
    super::wire::from_object(bytes).map_err(|e| SmError::invalid(format!("invalid request body: {e}")))
}

/// A wish on the wire.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WishResponse {
    id: String,
    title: String,
    body: String,
    tags: Vec<String>,
    /// The namespace whose team is asked; null for a site-wide wish.
    namespace: Option<String>,
    status: WishStatus,
    author: String,
    /// The skill that answers it (`namespace/name`), when the caller may see it.
    answer: Option<String>,
    closed_by: Option<String>,
    closed_at: Option<chrono::DateTime<chrono::Utc>>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<WishView> for WishResponse {
    fn from(v: WishView) -> Self {
        let w = v.wish;
        Self {
            id: w.id,
            title: w.title,
            body: w.body,
            tags: w.tags,
            namespace: w.namespace.map(String::from),
            status: w.status,
            author: w.author.to_string(),
            answer: v.answer.map(|(ns, name)| format!("{ns}/{name}")),
            closed_by: w.closed_by.map(|u| u.to_string()),
            closed_at: w.closed_at.map(to_datetime),
            created_at: to_datetime(w.created_at),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWishBody {
    title: String,
    body: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    namespace: Option<String>,
}

/// `POST /api/wishes`: 201 with the wish.
async fn create_wish(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, axum::Json<WishResponse>), SmError> {
    let caller = caller_of(caller)?;
    // Refused before the body is read: no token that may not wish gets to send one.
    caller.require_participate()?;
    let req: NewWishBody = read_json(&headers, body).await?;
    let tags =
        req.tags.iter().map(|t| t.parse::<Tag>().map_err(|e| SmError::invalid(e.0))).collect::<Result<Vec<_>, _>>()?;
    let namespace = req.namespace.as_deref().map(parse_namespace).transpose()?;
    let input = WishInput { title: req.title, body: req.body, tags, namespace };
    let wish = state.index.wishes().create(&caller, input).await?;
    Ok((StatusCode::CREATED, axum::Json(wish.into())))
}

fn parse_namespace(raw: &str) -> Result<Namespace, SmError> {
    raw.parse().map_err(|e: crate::domain::InvalidValue| SmError::invalid(e.0))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WishParams {
    status: Option<WishStatus>,
    tag: Option<String>,
    namespace: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct WishPage {
    data: Vec<WishResponse>,
    /// Pass as `cursor` for the next page; null on the last.
    cursor: Option<String>,
}

/// `GET /api/wishes`: the wishes the caller may see, newest first.
async fn list_wishes(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    params: Result<Query<WishParams>, QueryRejection>,
) -> Result<axum::Json<WishPage>, SmError> {
    let caller = caller_of(caller)?;
    let Query(params) = params.map_err(|e| SmError::invalid(e.body_text()))?;
    let limit = page_limit(params.limit)?;
    let filter = WishFilter {
        status: params.status,
        tag: params.tag.as_deref().map(|t| t.parse::<Tag>().map_err(|e| SmError::invalid(e.0))).transpose()?,
        namespace: params.namespace.as_deref().map(parse_namespace).transpose()?,
        before: params.cursor,
        limit: limit + 1,
    };
    let mut wishes = state.index.wishes().list(&caller, filter).await?;
    let more = wishes.len() as i64 > limit;
    wishes.truncate(limit as usize);
    let cursor = more.then(|| wishes.last().map(|w| w.wish.id.clone())).flatten();
    Ok(axum::Json(WishPage { data: wishes.into_iter().map(Into::into).collect(), cursor }))
}

/// `GET /api/wishes/<id>`.
async fn wish(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Result<Caller, ApiError>,
) -> Result<axum::Json<WishResponse>, SmError> {
    let caller = caller_of(caller)?;
    Ok(axum::Json(state.index.wishes().get(&caller, &id).await?.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    /// The skill that answers the wish, `namespace/name`.
    #[serde(default)]
    answer: Option<String>,
}

/// `POST /api/wishes/<id>/close`, optionally naming the skill that answers it.
async fn close_wish(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<axum::Json<WishResponse>, SmError> {
    let caller = caller_of(caller)?;
    caller.require_participate()?;
    let req: CloseBody = read_json(&headers, body).await?;
    let answer = req
        .answer
        .as_deref()
        .map(|raw| crate::domain::parse_skill_ref(raw).map_err(|e| SmError::invalid(e.0)))
        .transpose()?;
    let closed = state.index.wishes().close(&caller, &id, answer.as_ref().map(|(ns, name)| (ns, name))).await?;
    Ok(axum::Json(closed.into()))
}

/// A review on the wire.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewResponse {
    id: String,
    target_type: ReviewTarget,
    /// `@namespace/name` for a skill, the collection's id for a collection.
    target_id: String,
    rating: ReviewRating,
    body: String,
    author: String,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<ReviewView> for ReviewResponse {
    fn from(v: ReviewView) -> Self {
        let r = v.review;
        Self {
            id: r.id,
            target_type: r.target,
            target_id: v.target_name,
            rating: r.rating,
            body: r.body,
            author: r.author.to_string(),
            created_at: to_datetime(r.created_at),
            updated_at: to_datetime(r.updated_at),
        }
    }
}

/// `targetType` and `targetId` as the service names a target.
fn target_of(kind: ReviewTarget, id: &str) -> Result<TargetRef, SmError> {
    Ok(match kind {
        ReviewTarget::Package => {
            let (ns, name) = super::npm::parse_package(id)?;
            TargetRef::Package(ns, name)
        }
        ReviewTarget::Collection => TargetRef::Collection(id.to_owned()),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewReviewBody {
    target_type: ReviewTarget,
    target_id: String,
    rating: ReviewRating,
    body: String,
}

/// `POST /api/reviews`: 201 with the review; one per author and target (409), never of
/// one's own work (422 `cannot_review_own`).
async fn create_review(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, axum::Json<ReviewResponse>), SmError> {
    let caller = caller_of(caller)?;
    caller.require_participate()?;
    let req: NewReviewBody = read_json(&headers, body).await?;
    let target = target_of(req.target_type, &req.target_id)?;
    let review = state.index.reviews().create(&caller, target, req.rating, &req.body).await?;
    Ok((StatusCode::CREATED, axum::Json(review.into())))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReviewParams {
    target_type: ReviewTarget,
    target_id: String,
    cursor: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct ReviewPage {
    data: Vec<ReviewResponse>,
    cursor: Option<String>,
}

/// `GET /api/reviews?targetType=…&targetId=…`: a target's reviews, newest first.
async fn list_reviews(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    params: Result<Query<ReviewParams>, QueryRejection>,
) -> Result<axum::Json<ReviewPage>, SmError> {
    let caller = caller_of(caller)?;
    let Query(params) = params.map_err(|e| SmError::invalid(e.body_text()))?;
    let limit = page_limit(params.limit)?;
    let target = target_of(params.target_type, &params.target_id)?;
    let mut reviews = state.index.reviews().list(&caller, target, params.cursor.as_deref(), limit + 1).await?;
    let more = reviews.len() as i64 > limit;
    reviews.truncate(limit as usize);
    let cursor = more.then(|| reviews.last().map(|r| r.review.id.clone())).flatten();
    Ok(axum::Json(ReviewPage { data: reviews.into_iter().map(Into::into).collect(), cursor }))
}

async fn review(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Result<Caller, ApiError>,
) -> Result<axum::Json<ReviewResponse>, SmError> {
    let caller = caller_of(caller)?;
    Ok(axum::Json(state.index.reviews().get(&caller, &id).await?.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewChange {
    rating: ReviewRating,
    body: String,
}

/// `PUT /api/reviews/<id>`: its author changes the rating and the text.
async fn update_review(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<axum::Json<ReviewResponse>, SmError> {
    let caller = caller_of(caller)?;
    caller.require_participate()?;
    let change: ReviewChange = read_json(&headers, body).await?;
    Ok(axum::Json(state.index.reviews().update(&caller, &id, change.rating, &change.body).await?.into()))
}

/// `DELETE /api/reviews/<id>`: its author, or a site administrator; 204.
async fn delete_review(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Result<Caller, ApiError>,
) -> Result<StatusCode, SmError> {
    let caller = caller_of(caller)?;
    state.index.reviews().delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
