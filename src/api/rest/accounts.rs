//! Users, tokens, teams and the audit log.

use axum::extract::State;
use axum::http::StatusCode;

use super::Problems;
use crate::api::error::ApiError;
use crate::api::extract::{Json, Path, Query};
use crate::api::wire::{
    AuditEntryResponse, AuditPage, CreateTeamRequest, CreateTokenRequest, CreateUserRequest, CreatedTokenResponse,
    PageParams, RateLimitsRequest, SetMemberRequest, TeamPage, TeamResponse, TeamSummary, TokenList, TokenResponse,
    UserPage, UserResponse, WhoAmI,
};
use crate::api::{AppState, paged};
use crate::domain::{Namespace, Username, to_datetime};
use crate::service::{Caller, CreatedToken, TokenRequest, page_limit};

type Reply<T> = Result<T, ApiError>;

fn token_request(req: CreateTokenRequest) -> TokenRequest {
    TokenRequest {
        name: req.name,
        scope: req.scope,
        kind: req.kind.unwrap_or(crate::domain::TokenKind::Standard),
        expires_at: req.expires_at.map(|t| t.timestamp_millis()),
    }
}

fn created(c: CreatedToken) -> (StatusCode, axum::Json<CreatedTokenResponse>) {
    let t = c.token;
    (
        StatusCode::CREATED,
        axum::Json(CreatedTokenResponse {
            id: t.id,
            name: t.name,
            scope: t.scope,
            kind: t.kind,
            token: c.secret,
            created_at: to_datetime(t.created_at),
            expires_at: t.expires_at.map(to_datetime),
        }),
    )
}

/// Who the presented token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), Problems))]
pub(super) async fn whoami(caller: Caller) -> Reply<axum::Json<WhoAmI>> {
    let me = caller.require(crate::domain::TokenScope::Read)?;
    Ok(axum::Json(WhoAmI { user: me.user.clone().into(), token: me.token.clone().into() }))
}

/// Create a user (site admins, admin scope).
#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", security(("bearer" = [])),
    request_body = CreateUserRequest, responses((status = 201, body = UserResponse), Problems))]
pub(super) async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateUserRequest>,
) -> Reply<(StatusCode, axum::Json<UserResponse>)> {
    let user = state.index.accounts().create_user(&caller, req.username, req.email, req.admin).await?;
    Ok((StatusCode::CREATED, axum::Json(user.into())))
}

/// Issue a token to a user (site admins, admin scope). The secret is shown once.
#[utoipa::path(post, path = "/api/v1/users/{username}/tokens", tag = "accounts", security(("bearer" = [])),
    params(("username" = Username, Path)), request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedTokenResponse), Problems))]
pub(super) async fn create_user_token(
    State(state): State<AppState>,
    Path(username): Path<Username>,
    caller: Caller,
    Json(req): Json<CreateTokenRequest>,
) -> Reply<(StatusCode, axum::Json<CreatedTokenResponse>)> {
    Ok(created(state.index.accounts().create_token_for(&caller, &username, token_request(req)).await?))
}

/// Issue a token to yourself, with at most the scope of the token you call with.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "accounts", security(("bearer" = [])),
    request_body = CreateTokenRequest, responses((status = 201, body = CreatedTokenResponse), Problems))]
pub(super) async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateTokenRequest>,
) -> Reply<(StatusCode, axum::Json<CreatedTokenResponse>)> {
    Ok(created(state.index.accounts().create_own_token(&caller, token_request(req)).await?))
}

/// Your tokens (metadata only).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = TokenList), Problems))]
pub(super) async fn list_tokens(State(state): State<AppState>, caller: Caller) -> Reply<axum::Json<TokenList>> {
    let tokens = state.index.accounts().list_tokens(&caller).await?;
    Ok(axum::Json(TokenList { data: tokens.into_iter().map(TokenResponse::from).collect() }))
}

/// Revoke one of your tokens (site admins with an admin token: anyone's).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), Problems))]
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
) -> Reply<StatusCode> {
    state.index.accounts().revoke_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's tokens, metadata only (site admins with an admin token).
#[utoipa::path(get, path = "/api/v1/users/{username}/tokens", tag = "accounts", security(("bearer" = [])),
    params(("username" = Username, Path)), responses((status = 200, body = TokenList), Problems))]
pub(super) async fn list_user_tokens(
    State(state): State<AppState>,
    Path(username): Path<Username>,
    caller: Caller,
) -> Reply<axum::Json<TokenList>> {
    let tokens = state.index.accounts().list_user_tokens(&caller, &username).await?;
    Ok(axum::Json(TokenList { data: tokens.into_iter().map(TokenResponse::from).collect() }))
}

/// Give a token budgets of its own over the server's rate limits, or return it to the
/// server's (site admins with an admin token).
#[utoipa::path(put, path = "/api/v1/tokens/{id}/rate-limits", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RateLimitsRequest,
    responses((status = 200, body = TokenResponse), Problems))]
pub(super) async fn set_token_rate_limits(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
    Json(req): Json<RateLimitsRequest>,
) -> Reply<axum::Json<TokenResponse>> {
    let limits = match req.rate_limits.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(text.parse().map_err(ApiError::BadRequest)?),
    };
    let token = state.index.accounts().set_token_rate_limits(&caller, &id, limits).await?;
    Ok(axum::Json(token.into()))
}

/// Create a team, claiming the namespace of the same slug; you become its owner.
#[utoipa::path(post, path = "/api/v1/teams", tag = "accounts", security(("bearer" = [])),
    request_body = CreateTeamRequest, responses((status = 201, body = TeamResponse), Problems))]
pub(super) async fn create_team(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateTeamRequest>,
) -> Reply<(StatusCode, axum::Json<TeamResponse>)> {
    let slug = req.slug.clone();
    state.index.accounts().create_team(&caller, req.slug, req.display_name).await?;
    let view = state.index.accounts().team(&caller, &slug).await?;
    Ok((StatusCode::CREATED, axum::Json(view.into())))
}

/// Every user, by name (site admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "accounts", security(("bearer" = [])),
    params(PageParams), responses((status = 200, body = UserPage), Problems))]
pub(super) async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Reply<axum::Json<UserPage>> {
    let limit = page_limit(params.limit)?;
    let users = state.index.accounts().list_users(&caller, params.cursor.as_deref(), limit + 1).await?;
    let (users, cursor) = paged(users, limit, |u| u.username.to_string());
    Ok(axum::Json(UserPage { data: users.into_iter().map(Into::into).collect(), cursor }))
}

/// Every team, by slug, with your role in each.
#[utoipa::path(get, path = "/api/v1/teams", tag = "accounts", params(PageParams),
    responses((status = 200, body = TeamPage), Problems))]
pub(super) async fn list_teams(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Reply<axum::Json<TeamPage>> {
    let limit = page_limit(params.limit)?;
    let teams = state.index.accounts().list_teams(&caller, params.cursor.as_deref(), limit + 1).await?;
    let (teams, cursor) = paged(teams, limit, |(t, _)| t.namespace.to_string());
    let data = teams
        .into_iter()
        .map(|(t, role)| TeamSummary {
            slug: t.namespace,
            display_name: t.display_name,
            created_at: to_datetime(t.created_at),
            role,
        })
        .collect();
    Ok(axum::Json(TeamPage { data, cursor }))
}

/// A team; its member list is shown to members and site admins only.
#[utoipa::path(get, path = "/api/v1/teams/{slug}", tag = "accounts",
    params(("slug" = Namespace, Path)), responses((status = 200, body = TeamResponse), Problems))]
pub(super) async fn get_team(
    State(state): State<AppState>,
    Path(slug): Path<Namespace>,
    caller: Caller,
) -> Reply<axum::Json<TeamResponse>> {
    Ok(axum::Json(state.index.accounts().team(&caller, &slug).await?.into()))
}

/// Add a member or change their role (team owners, admin scope).
#[utoipa::path(put, path = "/api/v1/teams/{slug}/members/{username}", tag = "accounts", security(("bearer" = [])),
    params(("slug" = Namespace, Path), ("username" = Username, Path)), request_body = SetMemberRequest,
    responses((status = 200, body = TeamResponse), Problems))]
pub(super) async fn set_member(
    State(state): State<AppState>,
    Path((slug, username)): Path<(Namespace, Username)>,
    caller: Caller,
    Json(req): Json<SetMemberRequest>,
) -> Reply<axum::Json<TeamResponse>> {
    state.index.accounts().set_member(&caller, &slug, &username, req.role).await?;
    Ok(axum::Json(state.index.accounts().team(&caller, &slug).await?.into()))
}

/// Remove a member (team owners, admin scope). The last owner cannot be removed.
#[utoipa::path(delete, path = "/api/v1/teams/{slug}/members/{username}", tag = "accounts", security(("bearer" = [])),
    params(("slug" = Namespace, Path), ("username" = Username, Path)), responses((status = 204), Problems))]
pub(super) async fn remove_member(
    State(state): State<AppState>,
    Path((slug, username)): Path<(Namespace, Username)>,
    caller: Caller,
) -> Reply<StatusCode> {
    state.index.accounts().remove_member(&caller, &slug, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The audit log, newest first (site admins, admin scope).
#[utoipa::path(get, path = "/api/v1/audit", tag = "accounts", security(("bearer" = [])),
    params(PageParams), responses((status = 200, body = AuditPage), Problems))]
pub(super) async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Reply<axum::Json<AuditPage>> {
    let limit = page_limit(params.limit)?;
    let entries = state.index.accounts().audit_log(&caller, params.cursor.as_deref(), limit + 1).await?;
    let (entries, cursor) = paged(entries, limit, |e| e.id.clone());
    let data = entries
        .into_iter()
        .map(|e| AuditEntryResponse {
            id: e.id,
            at: to_datetime(e.at),
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
        })
        .collect();
    Ok(axum::Json(AuditPage { data, cursor }))
}
