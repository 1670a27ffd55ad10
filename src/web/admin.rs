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
use super::{Chrome, Form, Page, WebError, parse, render};
use crate::api::{AppState, paged};
use crate::domain::{Namespace, TeamRole, Username};

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

/// A member form that came from this site, and whom it is about.
fn member_form(
    visitor: &Visitor,
    headers: &HeaderMap,
    state: &AppState,
    namespace: &str,
    form: &MemberForm,
) -> Result<(Namespace, Username), WebError> {
    visitor.check_form(headers, state, &form.csrf)?;
    Ok((parse(namespace)?, parse(&form.username)?))
}

async fn set_member(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(namespace): Path<String>,
    Form(form): Form<MemberForm>,
) -> Page {
    let (namespace, username) = member_form(&visitor, &headers, &state, &namespace, &form)?;
    let role: TeamRole = parse(&form.role)?;
    state.index.accounts().set_member(&visitor.caller, &namespace, &username, role).await?;
    Ok(see_other(&format!("/teams/{namespace}")))
}

async fn remove_member(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(namespace): Path<String>,
    Form(form): Form<MemberForm>,
) -> Page {
    let (namespace, username) = member_form(&visitor, &headers, &state, &namespace, &form)?;
    state.index.accounts().remove_member(&visitor.caller, &namespace, &username).await?;
    Ok(see_other(&format!("/teams/{namespace}")))
}

/// The link to the page after `cursor`, if there is one.
fn next_link(path: &str, cursor: Option<String>) -> Option<String> {
    cursor.map(|c| form_urlencoded::Serializer::new(format!("{path}?")).append_pair("cursor", &c).finish())
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
    let users = state.index.accounts().list_users(&visitor.caller, form.cursor.as_deref(), PAGE + 1).await?;
    let (users, cursor) = paged(users, PAGE, |u| u.username.to_string());
    let next = next_link("/admin/users", cursor);
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
    let entries = state.index.accounts().audit_log(&visitor.caller, form.cursor.as_deref(), PAGE + 1).await?;
    let (entries, cursor) = paged(entries, PAGE, |e| e.id.clone());
    let next = next_link("/admin/audit", cursor);
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
