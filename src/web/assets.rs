//! The stylesheet and script, compiled into the binary and served under names that carry
//! their content's hash, so browsers may keep them for a year and still never run a stale one.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../../assets/web/app.css");
const JS: &str = include_str!("../../assets/web/app.js");

struct Asset {
    /// `/assets/app.<hash>.css`
    path: String,
    body: &'static str,
    content_type: &'static str,
}

fn asset(stem: &str, ext: &str, body: &'static str, content_type: &'static str) -> Asset {
    let digest = crate::oci::layout::sha256_digest(body.as_bytes());
    let short = &digest["sha256:".len().."sha256:".len() + 12];
    Asset { path: format!("/assets/{stem}.{short}.{ext}"), body, content_type }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [asset("app", "css", CSS, "text/css; charset=utf-8"), asset("app", "js", JS, "text/javascript; charset=utf-8")]
});

pub fn css_path() -> &'static str {
    &ASSETS[0].path
}

pub fn js_path() -> &'static str {
    &ASSETS[1].path
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let wanted = format!("/assets/{file}");
    let Some(asset) = ASSETS.iter().find(|a| a.path == wanted) else {
        return super::not_found();
    };
    let mut response = (StatusCode::OK, asset.body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
