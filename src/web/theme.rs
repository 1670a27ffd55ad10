//! The site administrators' theme page: the same checks as `PUT /v1/theme` and the image
//! uploads of `/v1/theme/logo|favicon`, as forms.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;

use super::account::see_other;
use super::session::{self, Visitor};
use super::{Chrome, Form, Page, WebError, render};
use crate::api::AppState;
use crate::service::access::require_site_admin;
use crate::service::theme::{ALLOWED_FONTS, ImageKind, Theme};
use crate::service::{self as svc};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/theme", get(theme_page).post(set_theme))
        .route("/admin/theme/{image}", post(upload))
        .route("/admin/theme/{image}/remove", post(remove))
}

/// The colour fields, in the order the page shows them, with their labels.
const COLOURS: [(&str, &str); 8] = [
    ("bg", "Background"),
    ("fg", "Text"),
    ("primary", "Buttons"),
    ("primary_fg", "Button text"),
    ("accent", "Links"),
    ("muted", "Cards"),
    ("muted_fg", "Secondary text"),
    ("border", "Borders"),
];

#[derive(Template)]
#[template(path = "admin_theme.html")]
struct ThemePage {
    chrome: Chrome,
    theme: Theme,
    colours: Vec<(&'static str, &'static str, String)>,
    fonts: &'static [&'static str],
    /// Each image: its name, label, whether one is set, and the types a browser may offer.
    images: Vec<(&'static str, &'static str, bool, &'static str)>,
}

async fn theme_page(State(state): State<AppState>, visitor: Visitor) -> Page {
    require_site_admin(&visitor.caller)?;
    let theme = state.index.themes().current().await?;
    let colours = COLOURS.iter().map(|(field, label)| (*field, *label, colour(&theme, field))).collect();
    let snapshot = state.index.themes().snapshot();
    let page = ThemePage {
        chrome: Chrome::new(&state, "", &visitor),
        theme,
        colours,
        fonts: ALLOWED_FONTS,
        images: vec![
            (
                "logo",
                "Logo (SVG, PNG, JPEG or WebP; 256 KiB at most)",
                snapshot.logo.is_some(),
                "image/svg+xml,image/png,image/jpeg,image/webp",
            ),
            (
                "favicon",
                "Favicon (also ICO; 64 KiB at most)",
                snapshot.favicon.is_some(),
                "image/svg+xml,image/png,image/jpeg,image/webp,image/x-icon",
            ),
        ],
    };
    Ok(render(StatusCode::OK, page))
}

fn colour(t: &Theme, field: &str) -> String {
    match field {
        "bg" => &t.bg,
        "fg" => &t.fg,
        "primary" => &t.primary,
        "primary_fg" => &t.primary_fg,
        "accent" => &t.accent,
        "muted" => &t.muted,
        "muted_fg" => &t.muted_fg,
        _ => &t.border,
    }
    .clone()
}

#[derive(Deserialize)]
struct ThemeForm {
    #[serde(default)]
    csrf: String,
    brand_name: String,
    primary: String,
    primary_fg: String,
    accent: String,
    bg: String,
    fg: String,
    muted: String,
    muted_fg: String,
    border: String,
    radius: String,
    #[serde(default)]
    font_family: String,
    /// A checkbox: present when checked.
    #[serde(default)]
    footer_branding: Option<String>,
}

async fn set_theme(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<ThemeForm>,
) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    let theme = Theme {
        brand_name: form.brand_name,
        primary: form.primary,
        primary_fg: form.primary_fg,
        accent: form.accent,
        bg: form.bg,
        fg: form.fg,
        muted: form.muted,
        muted_fg: form.muted_fg,
        border: form.border,
        radius: form.radius.trim().to_owned(),
        logo_uri: None,
        footer_branding: form.footer_branding.is_some(),
        font_family: Some(form.font_family).filter(|f| !f.is_empty()),
    };
    state.index.themes().set(&visitor.caller, theme).await?;
    Ok(see_other("/admin/theme"))
}

fn kind(image: &str) -> Result<ImageKind, WebError> {
    match image {
        "logo" => Ok(ImageKind::Logo),
        "favicon" => Ok(ImageKind::Favicon),
        _ => Err(WebError(svc::Error::NotFound("no such image".into()))),
    }
}

/// An image upload: `multipart/form-data` with the form token and one `file`. Who may send
/// it, and from where, is decided before the body is read.
async fn upload(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(image): Path<String>,
    body: axum::body::Body,
) -> Page {
    let kind = kind(&image)?;
    require_site_admin(&visitor.caller)?;
    session::same_origin(&headers, &state)?;
    let fields = [("csrf", 256), ("file", kind.max_bytes() as u64)];
    let what = "send the form with its file";
    let parts = crate::api::multipart::read(&headers, body, what, &fields, std::time::Duration::from_secs(60))
        .await
        .map_err(|r| {
            WebError(if r.status == StatusCode::PAYLOAD_TOO_LARGE {
                svc::Error::TooLarge(format!("a {} may be at most {} KiB", kind.name(), kind.max_bytes() >> 10))
            } else {
                svc::Error::Invalid(r.message)
            })
        })?;
    let part = |name: &str| parts.iter().find(|p| p.name == name);
    let csrf = part("csrf").map(|p| String::from_utf8_lossy(&p.data).into_owned()).unwrap_or_default();
    visitor.check_form(&headers, &state, &csrf)?;
    let file = part("file")
        .filter(|p| !p.data.is_empty())
        .ok_or_else(|| WebError(svc::Error::Invalid("choose a file to upload".into())))?;
    let content_type = file.content_type.clone().unwrap_or_default();
    state.index.themes().set_image(&visitor.caller, kind, &content_type, file.data.to_vec()).await?;
    Ok(see_other("/admin/theme"))
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn remove(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(image): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Page {
    let kind = kind(&image)?;
    visitor.check_form(&headers, &state, &form.csrf)?;
    state.index.themes().remove_image(&visitor.caller, kind).await?;
    Ok(see_other("/admin/theme"))
}
