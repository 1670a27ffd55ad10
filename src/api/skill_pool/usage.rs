//! skill-pool's usage and lifecycle endpoints: clients report uses (`POST /v1/usage`), a
//! tenant's owners read the timeline, the top list and the decay report, and site
//! administrators list the tenants.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Reply, SpCaller, SpError, SpJson, Tenant, kind_of, rejected, slug};
use crate::api::AppState;
use crate::domain::to_datetime;
use crate::store::UsageEvent;

pub fn router() -> Router<AppState> {
    use axum::routing::{get, post};
    Router::new()
        .route("/v1/usage", post(report))
        .route("/v1/tenant/usage/top", get(top))
        .route("/v1/tenant/usage/timeline", get(timeline))
        .route("/v1/tenant/skills/decay", get(decay))
        .route("/v1/tenants", get(tenants))
}

/// A use as skill-pool's CLI reports it; `skill_id` is the slug.
#[derive(Debug, Deserialize)]
pub struct UsageReport {
    skill_id: String,
    kind: Option<String>,
    event: String,
    // `project_hash` is accepted and not kept: which project used it is the client's business.
}

/// `POST /v1/usage`: 202 once counted; a failure to record is logged, never answered.
async fn report(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    SpJson(body): SpJson<UsageReport>,
) -> Reply<StatusCode> {
    let event = match body.event.as_str() {
        "view" => UsageEvent::View,
        "download" => UsageEvent::Download,
        other => {
            return Err(SpError::bad_request(format!(
                "event must be one of `view` or `download`, got `{}`",
                crate::domain::truncate(other)
            )));
        }
    };
    let kind = kind_of(body.kind.as_deref())?;
    let name = slug(&body.skill_id)?;
    state.index.usage().report(&caller, &namespace, &name, kind, event).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize)]
pub struct Window {
    days: Option<i64>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct TopRow {
    slug: String,
    downloads: i64,
    views: i64,
    total: i64,
}

/// The tenant's most used skills over `days` (1–365, default 30), `limit` rows (1–100,
/// default 10).
async fn top(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    w: Result<Query<Window>, QueryRejection>,
) -> Reply<Json<Vec<TopRow>>> {
    let Query(w) = w.map_err(rejected)?;
    let days = w.days.unwrap_or(30).clamp(1, 365);
    let limit = w.limit.unwrap_or(10).clamp(1, 100) as usize;
    let rows = state.index.usage().top(&caller, &namespace, days, limit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|u| TopRow {
                slug: u.skill.name.to_string(),
                downloads: u.downloads,
                views: u.views,
                total: u.downloads + u.views,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize)]
pub struct DayRow {
    day: DateTime<Utc>,
    downloads: i64,
    views: i64,
    unique_skills: i64,
}

/// One row per UTC day of the last `days` (1–365, default 30), oldest first, zero-filled.
async fn timeline(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    w: Result<Query<Window>, QueryRejection>,
) -> Reply<Json<Vec<DayRow>>> {
    let Query(w) = w.map_err(rejected)?;
    let days = w.days.unwrap_or(30).clamp(1, 365);
    let rows = state.index.usage().timeline(&caller, &namespace, days).await?;
    Ok(Json(
        rows.into_iter()
            .map(|d| DayRow {
                day: to_datetime(d.day * 86_400_000),
                downloads: d.downloads,
                views: d.views,
                unique_skills: d.skills,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
pub struct DecayParams {
    days: Option<i64>,
    max_uses: Option<i64>,
    limit: Option<i64>,
    kind: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DecayRow {
    slug: String,
    version: String,
    description: String,
    use_count: i64,
    last_used_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

/// Published skills used fewer than `max_uses` times (0–100, default 3) in all and not in
/// the last `days` (1–1825, default 180); the least recently used first, `limit` rows
/// (1–1000, default 200).
async fn decay(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    p: Result<Query<DecayParams>, QueryRejection>,
) -> Reply<Json<Vec<DecayRow>>> {
    let Query(p) = p.map_err(rejected)?;
    let days = p.days.unwrap_or(180).clamp(1, 1825);
    let max_uses = p.max_uses.unwrap_or(3).clamp(0, 100);
    let limit = p.limit.unwrap_or(200).clamp(1, 1000) as usize;
    let kind = kind_of(p.kind.as_deref())?;
    let rows = state.index.usage().decaying(&caller, &namespace, kind, days, max_uses, limit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(d, v)| DecayRow {
                slug: d.skill.name.to_string(),
                version: v.version,
                description: d.skill.description,
                use_count: d.uses,
                last_used_at: to_datetime(d.last_used_at),
                created_at: to_datetime(v.published_at.unwrap_or(v.created_at)),
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize)]
pub struct TenantRow {
    slug: String,
    name: String,
    created_at: DateTime<Utc>,
}

/// Every tenant (team), for site administrators with an admin token.
async fn tenants(State(state): State<AppState>, SpCaller(caller): SpCaller) -> Reply<Json<Vec<TenantRow>>> {
    let teams = state.index.accounts().all_teams(&caller).await?;
    Ok(Json(
        teams
            .into_iter()
            .map(|t| TenantRow {
                slug: t.namespace.to_string(),
                name: t.display_name,
                created_at: to_datetime(t.created_at),
            })
            .collect(),
    ))
}
