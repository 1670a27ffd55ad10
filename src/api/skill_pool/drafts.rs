//! skill-pool's drafts inbox and a tenant's notification settings: captured bundles wait
//! for review, are published through the one pipeline or discarded, and each new one is
//! posted to the tenant's webhook.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Reply, SpCaller, SpError, SpJson, Tenant, checked_bundle, metadata, read_parts, rejected, tags_of};
use crate::api::AppState;
use crate::domain::{DraftStatus, SkillName, to_datetime};
use crate::service::webhooks::Change;
use crate::service::{self, DraftInput};
use crate::store::Draft;

pub fn router() -> Router<AppState> {
    use axum::routing::{get, post};
    Router::new()
        .route("/v1/drafts", get(list_drafts).post(create_draft))
        .route("/v1/drafts/{id}", get(get_draft))
        .route("/v1/drafts/{id}/skill-md", get(draft_skill_md))
        .route("/v1/drafts/{id}/publish", post(publish_draft))
        .route("/v1/drafts/{id}/discard", post(discard_draft))
        .route("/v1/tenant/notifications", get(get_notifications).put(put_notifications))
        .route("/v1/tenant/notifications/pending-count", get(pending_count))
}

/// A draft as skill-pool shows it.
#[derive(Debug, Serialize)]
pub struct DraftView {
    id: String,
    slug: String,
    description: String,
    when_to_use: Option<String>,
    tags: Vec<String>,
    origin: String,
    notes: Option<String>,
    status: DraftStatus,
    published_version: Option<String>,
    created_at: DateTime<Utc>,
    reviewed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merge_proposal_slug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merge_proposal_similarity: Option<f64>,
}

impl From<Draft> for DraftView {
    fn from(d: Draft) -> Self {
        let (merge_proposal_slug, merge_proposal_similarity) = d.merge_proposal.unzip();
        Self {
            id: d.id,
            slug: d.slug.to_string(),
            description: d.description,
            when_to_use: d.when_to_use,
            tags: d.tags,
            origin: d.origin,
            notes: d.notes,
            status: d.status,
            published_version: d.published_version,
            created_at: to_datetime(d.created_at),
            reviewed_at: d.reviewed_at.map(to_datetime),
            merge_proposal_slug,
            merge_proposal_similarity,
        }
    }
}

/// What the capturer says of a draft (`metadata`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftMetadata {
    slug: String,
    origin: Option<String>,
    notes: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    when_to_use: Option<String>,
}

/// Where drafts come from, as skill-pool names them.
const ORIGINS: [&str; 4] = ["cli", "capture-scorer", "claude-hook", "web"];
/// The longest note and `when_to_use` kept.
const NOTE_MAX: usize = 4096;

/// `POST /v1/drafts`: a multipart body like a publish's, checked the same way (publishers of
/// the tenant; checked before a byte of the body is read), kept for review.
async fn create_draft(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Reply<(StatusCode, Json<DraftView>)> {
    // Drafts take a standard write token (never an agent's) and the publisher role.
    caller.require(crate::domain::TokenScope::Write)?;
    state.index.require_publisher_in(&caller, &namespace).await?;
    let (raw, archive) = read_parts(&state, &headers, body).await?;
    let meta: DraftMetadata = metadata(&raw)?;
    let slug = meta.slug.trim();
    if slug.is_empty() {
        return Err(SpError::bad_request("slug is required"));
    }
    let slug: SkillName = slug.parse().map_err(|e: crate::domain::InvalidValue| SpError::bad_request(e.to_string()))?;
    let origin = meta.origin.unwrap_or_else(|| "cli".into());
    if !ORIGINS.contains(&origin.as_str()) {
        return Err(SpError::bad_request(format!(
            "origin must be one of: {} (got `{}`)",
            ORIGINS.join(", "),
            crate::domain::truncate(&origin)
        )));
    }
    for (what, text) in [("notes", &meta.notes), ("when_to_use", &meta.when_to_use)] {
        if text.as_ref().is_some_and(|t| t.chars().count() > NOTE_MAX) {
            return Err(SpError::bad_request(format!("{what} is longer than {NOTE_MAX} characters")));
        }
    }
    let bundle = checked_bundle(&state, &archive, &slug, None, None).await?;
    state.index.catalog().check_requirements(&caller, &namespace, &bundle.skill.frontmatter.requires).await?;
    // The bundle's own tags first, then the capturer's; its description is SKILL.md's.
    let mut tags = tags_of(&meta.tags)?;
    let from_md = bundle.skill.frontmatter_json.get("tags").and_then(|t| t.as_array()).cloned().unwrap_or_default();
    let mut all: Vec<crate::domain::Tag> = from_md.iter().filter_map(|t| t.as_str()?.parse().ok()).collect();
    tags.retain(|t| !all.contains(t));
    all.extend(tags);
    let all = tags_of(&all.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let when_to_use = meta
        .when_to_use
        .or_else(|| bundle.skill.frontmatter_json.get("when_to_use").and_then(|w| w.as_str()).map(str::to_owned));
    let input = DraftInput {
        slug,
        description: bundle.skill.frontmatter.description.clone(),
        when_to_use,
        tags: all,
        origin,
        notes: meta.notes,
        archive: archive.to_vec(),
    };
    let draft = state.index.drafts().create(&caller, &namespace, input).await?;
    Ok((StatusCode::CREATED, Json(draft.into())))
}

#[derive(Debug, Deserialize)]
pub struct StatusParam {
    status: Option<String>,
}

/// `GET /v1/drafts?status=pending|published|discarded|all` (pending by default).
async fn list_drafts(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    p: Result<Query<StatusParam>, QueryRejection>,
) -> Reply<Json<Vec<DraftView>>> {
    let Query(p) = p.map_err(rejected)?;
    let status = match p.status.as_deref().unwrap_or("pending") {
        "all" => None,
        s => Some(s.parse::<DraftStatus>().map_err(|_| {
            SpError::bad_request(format!(
                "status must be one of: pending, published, discarded, all (got `{}`)",
                crate::domain::truncate(s)
            ))
        })?),
    };
    let drafts = state.index.drafts().list(&caller, &namespace, status).await?;
    Ok(Json(drafts.into_iter().map(DraftView::from).collect()))
}

async fn get_draft(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    Path(id): Path<String>,
) -> Reply<Json<DraftView>> {
    Ok(Json(state.index.drafts().get(&caller, &namespace, &id).await?.into()))
}

async fn draft_skill_md(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    Path(id): Path<String>,
) -> Reply<Response> {
    let text = state.index.drafts().skill_md(&caller, &namespace, &id).await?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], text).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishDraft {
    version: String,
    slug: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PublishedDraft {
    draft_id: String,
    skill_id: String,
    slug: String,
    version: String,
}

/// `POST /v1/drafts/{id}/publish` with `{version, slug?}`.
async fn publish_draft(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    Path(id): Path<String>,
    SpJson(body): SpJson<PublishDraft>,
) -> Reply<Json<PublishedDraft>> {
    let version = body.version.trim();
    if version.is_empty() {
        return Err(SpError::bad_request("version is required"));
    }
    let slug = match body.slug.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<SkillName>().map_err(|e| SpError::bad_request(e.to_string()))?),
        None => None,
    };
    let (draft, published) = state.index.drafts().publish(&caller, &namespace, &id, version, slug).await?;
    Ok(Json(PublishedDraft {
        draft_id: draft.id,
        skill_id: published.skill.id,
        slug: published.skill.name.to_string(),
        version: published.version.version,
    }))
}

/// `POST /v1/drafts/{id}/discard`: 204; the bundle is purged.
async fn discard_draft(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    Path(id): Path<String>,
) -> Reply<StatusCode> {
    state.index.drafts().discard(&caller, &namespace, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"pending": n}`: the inbox badge.
async fn pending_count(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
) -> Reply<Json<serde_json::Value>> {
    let n = state.index.drafts().pending_count(&caller, &namespace).await?;
    Ok(Json(serde_json::json!({ "pending": n })))
}

#[derive(Debug, Serialize)]
pub struct Notifications {
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_url: Option<String>,
    signing_enabled: bool,
}

impl From<service::webhooks::WebhookSettings> for Notifications {
    fn from(s: service::webhooks::WebhookSettings) -> Self {
        Self { webhook_url: s.url, signing_enabled: s.signing_enabled }
    }
}

async fn get_notifications(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
) -> Reply<Json<Notifications>> {
    Ok(Json(state.index.webhooks().settings(&caller, &namespace).await?.into()))
}

/// Each field: absent or null leaves it, `""` clears it, text sets it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutNotifications {
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
}

fn change(field: Option<String>) -> Change {
    match field.map(|f| f.trim().to_owned()) {
        None => Change::Keep,
        Some(f) if f.is_empty() => Change::Clear,
        Some(f) => Change::Set(f),
    }
}

async fn put_notifications(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    SpJson(body): SpJson<PutNotifications>,
) -> Reply<Json<Notifications>> {
    let settings = state
        .index
        .webhooks()
        .configure(&caller, &namespace, change(body.webhook_url), change(body.webhook_secret))
        .await?;
    Ok(Json(settings.into()))
}
