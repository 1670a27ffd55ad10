//! Signing in through an OpenID provider: the site's (`/signin/oidc`) or a team's
//! (skill-pool's `/v1/auth/oidc/{tenant}/start` and `/callback`), and skill-pool's
//! `POST /v1/auth/logout`.
//!
//! The flow's state, nonce and PKCE verifier wait in a short-lived cookie of this browser, so
//! the callback can land on any replica; a callback whose state is not this browser's is
//! refused (login forgery), and so is one for another realm than the one it began in.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::account::{begin_session, see_other, signin_page, signin_page_for};
use super::session::{self, Via, Visitor};
use super::{Chrome, Form, Page, WebError, parse, render};
use crate::api::AppState;
use crate::domain::Namespace;
use crate::service::signin::Realm;
use crate::service::{self, Caller};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin/oidc", get(to_signin).post(site_start))
        .route("/signin/oidc/callback", get(site_callback))
        .route("/signin/team", post(team_start))
        .route("/v1/auth/oidc/{tenant}/start", get(tenant_signin_page).post(tenant_start))
        .route("/v1/auth/oidc/{tenant}/callback", get(tenant_callback_page))
        .route("/v1/auth/logout", post(logout))
}

/// How long a browser may take at the provider.
const PENDING_SECS: i64 = 600;

fn pending_cookie(state: &AppState) -> &'static str {
    if state.public_base().starts_with("https://") { "__Host-skilldex_oidc" } else { "skilldex_oidc" }
}

/// The redirect URI of the site's provider.
fn site_callback_url(state: &AppState) -> String {
    format!("{}/signin/oidc/callback", state.public_base())
}

/// The redirect URI a team registers at its provider.
pub fn tenant_callback(state: &AppState, namespace: &Namespace) -> String {
    format!("{}/v1/auth/oidc/{namespace}/callback", state.public_base())
}

/// The realm's name in the pending cookie: `-` for the site, else the namespace.
fn realm_key(realm: &Realm<'_>) -> String {
    match realm {
        Realm::Site => "-".into(),
        Realm::Team(ns) => ns.to_string(),
    }
}

async fn to_signin() -> Response {
    see_other("/signin")
}

/// skill-pool's start link: a sign-in only begins from this site's own form, so the link
/// shows the sign-in page with the team filled in (a link elsewhere cannot sign anyone in
/// to an account of its choosing).
async fn tenant_signin_page(State(state): State<AppState>, visitor: Visitor, Path(tenant): Path<String>) -> Page {
    let namespace: Namespace = parse(&tenant)?;
    Ok(signin_page_for(&state, &visitor, StatusCode::OK, None, namespace.as_str()))
}

#[derive(Deserialize)]
struct StartForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    namespace: String,
}

async fn site_start(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Page {
    start(&state, &visitor, &headers, &form.form_token, Realm::Site, site_callback_url(&state)).await
}

/// The sign-in page's team form.
async fn team_start(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Page {
    let namespace: Namespace = match form.namespace.trim().parse() {
        Ok(ns) => ns,
        Err(e) => return Ok(signin_page(&state, &visitor, StatusCode::BAD_REQUEST, Some(format!("{e}")))),
    };
    let redirect = tenant_callback(&state, &namespace);
    start(&state, &visitor, &headers, &form.form_token, Realm::Team(&namespace), redirect).await
}

async fn tenant_start(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Form(form): Form<StartForm>,
) -> Page {
    let namespace: Namespace = parse(&tenant)?;
    let redirect = tenant_callback(&state, &namespace);
    start(&state, &visitor, &headers, &form.form_token, Realm::Team(&namespace), redirect).await
}

#[derive(Template)]
#[template(path = "continue.html")]
struct ContinuePage {
    chrome: Chrome,
    provider: String,
    target: String,
}

/// Sends the browser to the provider, with the flow's secrets in a cookie of its own. Only
/// a sign-in form this site gave this browser starts a flow (login forgery). The page moves
/// on by itself rather than redirecting: the policy's `form-action 'self'` would stop a
/// form's redirect at the provider's site.
async fn start(
    state: &AppState,
    visitor: &Visitor,
    headers: &HeaderMap,
    form_token: &str,
    realm: Realm<'_>,
    redirect: String,
) -> Page {
    if !session::signin_form_is_ours(headers, state, form_token) {
        let message = "The form expired. Start signing in again.".to_owned();
        return Ok(signin_page(state, visitor, StatusCode::FORBIDDEN, Some(message)));
    }
    let key = realm_key(&realm);
    let started = match state.index.sign_in().start(realm, &redirect).await {
        Ok(started) => started,
        Err(e) => return failed(state, visitor, e),
    };
    let provider = crate::oidc::issuer_host(&started.url);
    let page = ContinuePage { chrome: Chrome::new(state, "", visitor), provider, target: started.url };
    let mut r = render(StatusCode::OK, page);
    let value = format!("{}.{}.{}.{key}", started.state, started.nonce, started.verifier);
    let h = r.headers_mut();
    // Lax: the provider sends the browser back with a top-level GET from its own site.
    h.append(header::SET_COOKIE, session::set_cookie(state, pending_cookie(state), &value, PENDING_SECS, "Lax"));
    // Never kept: it holds the way to the provider for this one flow.
    h.insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(r)
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn site_callback(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Page {
    let redirect = site_callback_url(&state);
    callback(&state, &visitor, &headers, query, Realm::Site, redirect).await
}

async fn tenant_callback_page(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Query(query): Query<Callback>,
) -> Page {
    let namespace: Namespace = parse(&tenant)?;
    let redirect = tenant_callback(&state, &namespace);
    callback(&state, &visitor, &headers, query, Realm::Team(&namespace), redirect).await
}

/// Checks the callback belongs to the flow this browser began, finishes it, and opens a
/// session; the flow's cookie is cleared once its answer came, whatever it says.
async fn callback(
    state: &AppState,
    visitor: &Visitor,
    headers: &HeaderMap,
    query: Callback,
    realm: Realm<'_>,
    redirect: String,
) -> Page {
    let pending = session::cookie(headers, pending_cookie(state)).unwrap_or("");
    let parts: Vec<&str> = pending.splitn(4, '.').collect();
    // Only the answer to this browser's own flow, error or not, ends it: another site cannot
    // cut a sign-in short by sending the browser here.
    let ours = matches!(parts.as_slice(), [expected_state, _, _, key]
        if *key == realm_key(&realm) && query.state.as_deref().is_some_and(|s| session::equal(s, expected_state)));
    let mut r = match parts.as_slice() {
        [_, nonce, verifier, _] if ours => {
            if let Some(error) = &query.error {
                let shown: String = error.chars().filter(|c| c.is_ascii_graphic()).take(64).collect();
                let message = format!("The identity provider did not sign you in ({shown}).");
                signin_page(state, visitor, StatusCode::UNAUTHORIZED, Some(message))
            } else {
                match &query.code {
                    Some(code) => {
                        let done = match state.index.sign_in().finish(realm, &redirect, code, verifier, nonce).await {
                            Ok(caller @ Caller::User(_)) => begin_session(state, visitor, &caller).await,
                            Ok(Caller::Anonymous) => {
                                failed(state, visitor, service::Error::Internal("anonymous".into()))
                            }
                            Err(e) => failed(state, visitor, e),
                        };
                        done.unwrap_or_else(IntoResponse::into_response)
                    }
                    _ => expired(state, visitor),
                }
            }
        }
        _ => expired(state, visitor),
    };
    if ours {
        r.headers_mut().append(header::SET_COOKIE, session::set_cookie(state, pending_cookie(state), "", 0, "Lax"));
    }
    Ok(r)
}

/// A callback that is not the end of a sign-in this browser began.
fn expired(state: &AppState, visitor: &Visitor) -> Response {
    let message = "That sign-in expired or began in another browser. Start again.".to_owned();
    signin_page(state, visitor, StatusCode::BAD_REQUEST, Some(message))
}

/// A sign-in that failed, on the sign-in page: its message for the person, internals never.
fn failed(state: &AppState, visitor: &Visitor, e: service::Error) -> Page {
    use service::Error as E;
    let status = match &e {
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        E::Forbidden(_) => StatusCode::FORBIDDEN,
        E::Upstream(_) => StatusCode::BAD_GATEWAY,
        E::Conflict(_) | E::State(_) => StatusCode::CONFLICT,
        _ => return Err(WebError(e)),
    };
    Ok(signin_page(state, visitor, status, Some(e.public_message())))
}

/// skill-pool's sign-out: ends this browser's session. Refused from another site's page.
async fn logout(State(state): State<AppState>, visitor: Visitor, headers: HeaderMap) -> Page {
    session::same_origin(&headers, &state)?;
    if let Via::Session { secret, .. } = &visitor.via {
        state.index.close_session(secret).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, session::set_cookie(&state, session::session_cookie(&state), "", 0, "Lax"));
    Ok(r)
}
