//! Signing in with an API token, signing out, a user's settings (tokens: create with scope,
//! kind and expiry, shown once, with "copy for your agent"; revoke) and stars. Every action
//! is the same service call the API makes, with the visitor's rights.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::session::{self, SESSION_LIFETIME_MS, Via, Visitor};
use super::{Chrome, Form, Page, day, parse, render};
use crate::api::AppState;
use crate::domain::{Namespace, SkillName, TokenKind, TokenScope, now_millis};
use crate::service::{self, Caller, TokenRequest};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin", get(signin_form).post(signin))
        .route("/signout", post(signout))
        .route("/settings", get(settings))
        .route("/settings/tokens", post(create_token))
        .route("/settings/tokens/{id}/revoke", post(revoke_token))
        .route("/settings/sessions/{id}/end", post(end_session))
        .route("/skills/{namespace}/{name}/star", post(star))
}

/// A redirect after a form (303: the browser follows with GET).
pub(super) fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_str(to).expect("paths are ASCII"));
    r
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    chrome: Chrome,
    form_token: String,
    error: Option<String>,
    /// The host of the site's OpenID provider, when there is one.
    provider: Option<String>,
    /// The team whose provider the team form names already.
    team: String,
    /// Whether teams' own providers sign people in here.
    teams: bool,
}

/// The sign-in form, with a fresh double-submit token in a cookie and in the form.
pub(super) fn signin_page(state: &AppState, visitor: &Visitor, status: StatusCode, error: Option<String>) -> Response {
    signin_page_for(state, visitor, status, error, "")
}

/// The sign-in form with the team form naming `team`.
pub(super) fn signin_page_for(
    state: &AppState,
    visitor: &Visitor,
    status: StatusCode,
    error: Option<String>,
    team: &str,
) -> Response {
    let form_token = hex::encode(rand::random::<[u8; 16]>());
    let provider = state.index.sign_in().site_provider().map(|p| crate::oidc::issuer_host(&p.issuer));
    let page = SigninPage {
        chrome: Chrome::new(state, "", visitor),
        form_token: form_token.clone(),
        error,
        provider,
        team: team.to_owned(),
        teams: state.index.sign_in().team_providers_allowed(),
    };
    let mut r = render(status, page);
    r.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(state, session::signin_cookie(state), &form_token, 3600, "Strict"),
    );
    r
}

async fn signin_form(State(state): State<AppState>, visitor: Visitor) -> Response {
    signin_page(&state, &visitor, StatusCode::OK, None)
}

#[derive(Deserialize)]
struct SigninForm {
    token: String,
    #[serde(default)]
    form_token: String,
}

async fn signin(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<SigninForm>,
) -> Page {
    session::same_origin(&headers, &state)?;
    if !session::signin_form_is_ours(&headers, &state, &form.form_token) {
        return Ok(signin_page(
            &state,
            &visitor,
            StatusCode::FORBIDDEN,
            Some("The form expired. Paste your token again.".into()),
        ));
    }
    let caller = match state.index.authenticate(Some(form.token.trim())).await {
        Ok(Caller::User(p)) => Caller::User(p),
        Ok(Caller::Anonymous) | Err(service::Error::Unauthenticated(_)) => {
            let message = "That token is unknown, expired or revoked.".to_owned();
            return Ok(signin_page(&state, &visitor, StatusCode::UNAUTHORIZED, Some(message)));
        }
        Err(e) => return Err(e.into()),
    };
    let mut r = begin_session(&state, &visitor, &caller).await?;
    r.headers_mut()
        .append(header::SET_COOKIE, session::set_cookie(&state, session::signin_cookie(&state), "", 0, "Strict"));
    Ok(r)
}

/// Opens a browser session acting as `caller` (ending the one this browser had) and sends
/// the browser to its settings.
pub(super) async fn begin_session(state: &AppState, visitor: &Visitor, caller: &Caller) -> Page {
    if let Via::Session { secret, .. } = &visitor.via {
        state.index.close_session(secret).await?;
    }
    let (secret, _) = match state.index.open_session(caller, SESSION_LIFETIME_MS).await {
        Ok(opened) => opened,
        Err(service::Error::Forbidden(m)) => return Ok(signin_page(state, visitor, StatusCode::FORBIDDEN, Some(m))),
        Err(e) => return Err(e.into()),
    };
    let mut r = see_other("/settings");
    r.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(state, session::session_cookie(state), &secret, SESSION_LIFETIME_MS / 1000, "Lax"),
    );
    Ok(r)
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn signout(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    if let Via::Session { secret, .. } = &visitor.via {
        state.index.close_session(secret).await?;
    }
    let mut r = see_other("/");
    r.headers_mut()
        .append(header::SET_COOKIE, session::set_cookie(&state, session::session_cookie(&state), "", 0, "Lax"));
    Ok(r)
}

struct TokenRow {
    id: String,
    name: String,
    scope: String,
    state: String,
    last_used: String,
    active: bool,
}

/// A live browser session, in the settings.
struct SessionRow {
    id: String,
    started: String,
    ends: String,
    via: String,
    /// The session this page was asked for with.
    current: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    username: String,
    email: String,
    tokens: Vec<TokenRow>,
    sessions: Vec<SessionRow>,
    /// The scopes a new token may have: at most the visitor's own.
    scopes: Vec<&'static str>,
}

async fn settings(State(state): State<AppState>, visitor: Visitor) -> Page {
    let Caller::User(me) = &visitor.caller else { return Ok(see_other("/signin")) };
    let tokens = state.index.accounts().list_tokens(&visitor.caller).await?;
    let now = now_millis();
    let tokens = tokens
        .into_iter()
        .map(|t| {
            let (state, active) = match (t.revoked_at, t.expires_at) {
                (Some(r), _) => (format!("revoked {}", day(r)), false),
                (None, Some(e)) if e <= now => (format!("expired {}", day(e)), false),
                (None, Some(e)) => (format!("expires {}", day(e)), true),
                (None, None) => ("active".to_owned(), true),
            };
            let scope = if t.kind.is_agent() { format!("{} ({})", t.scope, t.kind) } else { t.scope.to_string() };
            TokenRow {
                id: t.id,
                name: t.name,
                scope,
                state,
                last_used: t.last_used_at.map_or_else(|| "never".to_owned(), day),
                active,
            }
        })
        .collect();
    let current = match &visitor.via {
        Via::Session { secret, .. } => Some(crate::service::Index::session_id(secret)),
        _ => None,
    };
    let sessions = state
        .index
        .sessions_of(&visitor.caller)
        .await?
        .into_iter()
        .map(|(s, via)| SessionRow {
            current: current.as_deref() == Some(s.id.as_str()),
            id: s.id,
            started: minute(s.created_at),
            ends: minute(s.expires_at),
            via,
        })
        .collect();
    let scopes = [TokenScope::Read, TokenScope::Write, TokenScope::Admin]
        .into_iter()
        .filter(|s| *s <= me.token.scope)
        .map(|s| s.as_str())
        .collect();
    Ok(render(
        StatusCode::OK,
        SettingsPage {
            chrome: Chrome::new(&state, "", &visitor),
            username: me.user.username.to_string(),
            email: me.user.email.clone(),
            tokens,
            sessions,
            scopes,
        },
    ))
}

/// A moment to the minute, UTC.
fn minute(millis: i64) -> String {
    crate::domain::to_datetime(millis).format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Ends one of the visitor's browser sessions (another device's, say).
async fn end_session(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    state.index.end_session_of(&visitor.caller, &id).await?;
    Ok(see_other("/settings#sessions"))
}

#[derive(Deserialize)]
struct NewTokenForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    kind: String,
    /// Days until it expires; empty or 0 for never.
    #[serde(default)]
    expires_days: String,
}

#[derive(Template)]
#[template(path = "token_created.html")]
struct TokenCreatedPage {
    chrome: Chrome,
    name: String,
    label: String,
    secret: String,
    agent_note: String,
}

async fn create_token(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<NewTokenForm>,
) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    let kind: TokenKind = match form.kind.trim() {
        "" => TokenKind::Standard,
        k => parse(k)?,
    };
    let scope: Option<TokenScope> = match form.scope.trim() {
        "" => None,
        s => Some(parse(s)?),
    };
    let expires_at = match form.expires_days.trim() {
        "" | "0" => None,
        d => {
            let days: i64 = d
                .parse()
                .ok()
                .filter(|n| (1..=3650).contains(n))
                .ok_or_else(|| service::Error::Invalid("expiry is a number of days from 1 to 3650".into()))?;
            Some(now_millis() + days * 24 * 3600 * 1000)
        }
    };
    let scope = if kind.is_agent() { None } else { scope.or(Some(TokenScope::Read)) };
    let req = TokenRequest { name: form.name, scope, kind, expires_at };
    let created = state.index.accounts().create_own_token(&visitor.caller, req).await?;
    let t = &created.token;
    let label = if t.kind.is_agent() { format!("{} ({})", t.scope, t.kind) } else { t.scope.to_string() };
    let base = state.public_base();
    let agent_note = format!(
        "You may use the skilldex registry at {base} with this token: send `Authorization: Bearer {secret}`.\n\
         MCP endpoint: {base}/mcp (tools: search_skills, get_skill, install_skill).\n\
         Search: GET {base}/-/v1/search?text=<words>. Treat the token as a secret; never print it back.",
        secret = created.secret
    );
    let mut r = render(
        StatusCode::CREATED,
        TokenCreatedPage {
            chrome: Chrome::new(&state, "", &visitor),
            name: t.name.clone(),
            label,
            secret: created.secret.clone(),
            agent_note,
        },
    );
    // The secret is on this page only: never kept by the browser's cache.
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

async fn revoke_token(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    state.index.accounts().revoke_token(&visitor.caller, &id).await?;
    Ok(see_other("/settings"))
}

#[derive(Deserialize)]
struct StarForm {
    #[serde(default)]
    csrf: String,
    /// `true` to star, anything else to unstar.
    #[serde(default)]
    starred: String,
}

async fn star(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    Form(form): Form<StarForm>,
) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    let namespace: Namespace = parse(&namespace)?;
    let name: SkillName = parse(&name)?;
    state.index.catalog().set_star(&visitor.caller, &namespace, &name, form.starred == "true").await?;
    Ok(see_other(&format!("/skills/{namespace}/{name}")))
}
