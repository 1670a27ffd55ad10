//! skill-pool's theme API (`/v1/theme`, its logo, favicon and fonts), over the site's one
//! theme: everyone reads it, site administrators change it. Images are served as what they
//! were checked to be, under a policy that lets nothing in them run even when opened alone.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{Reply, SpCaller, SpError, SpJson, read_multipart};
use crate::api::AppState;
use crate::service::theme::{ALLOWED_FONTS, ImageKind, Theme};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/theme", get(get_theme).put(put_theme))
        .route("/v1/theme/fonts", get(fonts))
        .route("/v1/theme/logo", get(get_logo).post(post_logo).delete(delete_logo))
        .route("/v1/theme/favicon", get(get_favicon).post(post_favicon).delete(delete_favicon))
}

async fn get_theme(State(state): State<AppState>) -> Reply<Json<Theme>> {
    Ok(Json(state.index.themes().current().await?))
}

async fn put_theme(
    State(state): State<AppState>,
    SpCaller(caller): SpCaller,
    SpJson(theme): SpJson<Theme>,
) -> Reply<Json<Theme>> {
    Ok(Json(state.index.themes().set(&caller, theme).await?))
}

async fn fonts() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "allowed": ALLOWED_FONTS }))
}

/// The image, or 404; cached for five minutes by anyone (pages name it with its version).
async fn image(state: &AppState, kind: ImageKind) -> Reply<Response> {
    let Some(image) = state.index.themes().image(kind).await? else {
        return Err(SpError::new(StatusCode::NOT_FOUND, "not_found", format!("no {} is set", kind.name())));
    };
    let mut r = image.data.into_response();
    let h = r.headers_mut();
    let content_type = HeaderValue::from_str(&image.content_type).unwrap_or(HeaderValue::from_static("image/png"));
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Opened on its own, an SVG is a document: nothing in it may run or load.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"),
    );
    Ok(r)
}

/// A multipart body with one `file` part, stored once it proves to be what it claims.
async fn upload(
    state: &AppState,
    caller: &crate::service::Caller,
    kind: ImageKind,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Reply<Response> {
    // Who may change the theme is decided before the body is read.
    crate::service::access::require_site_admin(caller)?;
    let what = "send multipart/form-data with one `file` part";
    let parts = read_multipart(headers, body, what, &[("file", kind.max_bytes() as u64)]).await?;
    let part = parts.into_iter().next().ok_or_else(|| SpError::bad_request("the `file` part is missing"))?;
    let content_type = part.content_type.unwrap_or_default();
    let stored = state.index.themes().set_image(caller, kind, &content_type, part.data.to_vec()).await?;
    let body = serde_json::json!({
        "content_type": stored.content_type,
        "bytes": stored.data.len(),
        "uri": format!("/v1/theme/{}", kind.name()),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn get_logo(State(state): State<AppState>) -> Reply<Response> {
    image(&state, ImageKind::Logo).await
}

async fn get_favicon(State(state): State<AppState>) -> Reply<Response> {
    image(&state, ImageKind::Favicon).await
}

async fn post_logo(
    State(state): State<AppState>,
    SpCaller(caller): SpCaller,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Reply<Response> {
    upload(&state, &caller, ImageKind::Logo, &headers, body).await
}

async fn post_favicon(
    State(state): State<AppState>,
    SpCaller(caller): SpCaller,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Reply<Response> {
    upload(&state, &caller, ImageKind::Favicon, &headers, body).await
}

async fn delete_logo(State(state): State<AppState>, SpCaller(caller): SpCaller) -> Reply<StatusCode> {
    state.index.themes().remove_image(&caller, ImageKind::Logo).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_favicon(State(state): State<AppState>, SpCaller(caller): SpCaller) -> Reply<StatusCode> {
    state.index.themes().remove_image(&caller, ImageKind::Favicon).await?;
    Ok(StatusCode::NO_CONTENT)
}
