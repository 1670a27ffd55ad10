//! Team management for owners (add members, change roles, remove) and the site
//! administrators' pages (users, audit log): forms over the same account calls as the API,
//! so the rights are the API's (an owner with an admin-scope session; a site administrator).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;

use super::account::see_other;
use super::session::Visitor;
use super::{Chrome, Page, render};
use crate::api::AppState;
use crate::domain::{Namespace, TeamRole, Username};
use crate::service;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{namespace}/members", post(set_member))
        .route("/teams/{namespace}/members/remove", post(remove_member))
        .route("/admin/users", get(users))
        .route("/admin/audit", get(audit))
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    csrf: String,
    username: String,
    #[serde(default)]
    role: String,
}

fn parse<T: std::str::FromStr<Err = crate::domain::InvalidValue>>(v: &str) -> Result<T, service::Error> {
    v.trim().parse().map_err(service::Error::from)
}

async fn set_member(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(namespace): Path<String>,
    axum::Form(form): axum::Form<MemberForm>,
) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    let namespace: Namespace = parse(&namespace)?;
    let username: Username = parse(&form.username)?;
    let role: TeamRole = parse(&form.role)?;
    state.index.accounts().set_member(&visitor.caller, &namespace, &username, role).await?;
    Ok(see_other(&format!("/teams/{namespace}")))
}

async fn remove_member(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(namespace): Path<String>,
    axum::Form(form): axum::Form<MemberForm>,
) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    let namespace: Namespace = parse(&namespace)?;
    let username: Username = parse(&form.username)?;
    state.index.accounts().remove_member(&visitor.caller, &namespace, &username).await?;
    Ok(see_other(&format!("/teams/{namespace}")))
}

#[derive(Deserialize)]
struct PageForm {
    cursor: Option<String>,
}

const PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<(String, String, bool, String)>,
    next: Option<String>,
}

async fn users(State(state): State<AppState>, visitor: Visitor, Query(form): Query<PageForm>) -> Page {
    let mut users = state.index.accounts().list_users(&visitor.caller, form.cursor.as_deref(), PAGE + 1).await?;
    let next = (users.len() as i64 > PAGE).then(|| {
        users.truncate(PAGE as usize);
        let last = users.last().map(|u| u.username.to_string()).unwrap_or_default();
        form_urlencoded::Serializer::new("/admin/users?".to_owned()).append_pair("cursor", &last).finish()
    });
    let users =
        users.into_iter().map(|u| (u.username.to_string(), u.email, u.is_admin, super::day(u.created_at))).collect();
    Ok(render(StatusCode::OK, UsersPage { chrome: Chrome::new(&state, "", &visitor), users, next }))
}

struct AuditRow {
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<AuditRow>,
    next: Option<String>,
}

async fn audit(State(state): State<AppState>, visitor: Visitor, Query(form): Query<PageForm>) -> Page {
    let mut entries = state.index.accounts().audit_log(&visitor.caller, form.cursor.as_deref(), PAGE + 1).await?;
    let next = (entries.len() as i64 > PAGE).then(|| {
        entries.truncate(PAGE as usize);
        let last = entries.last().map(|e| e.id.clone()).unwrap_or_default();
        form_urlencoded::Serializer::new("/admin/audit?".to_owned()).append_pair("cursor", &last).finish()
    });
    let entries = entries
        .into_iter()
        .map(|e| AuditRow {
            at: crate::domain::to_datetime(e.at).format("%Y-%m-%d %H:%M:%S").to_string(),
            actor: e.actor.unwrap_or_else(|| "—".to_owned()),
            action: e.action,
            target: e.target,
            detail: e.detail.to_string(),
        })
        .collect();
    Ok(render(StatusCode::OK, AuditPage { chrome: Chrome::new(&state, "", &visitor), entries, next }))
}
