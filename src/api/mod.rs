//! HTTP surfaces. Each module only translates between its wire format and the core in
//! `service`; the router here assembles them with the cross-cutting layers.

pub mod error;
pub mod extract;
pub mod limits;
pub mod mcp;
pub mod multipart;
pub mod npm;
pub mod oci_dist;
mod ops;
mod rest;
mod schema;
pub mod skill_pool;
pub mod skillsmgr;
pub mod toolhive;
pub mod wire;

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::service::Index;
use crate::telemetry::Metrics;
use tracing::Instrument as _;

/// Everything a request handler may need, shared by all surfaces.
pub struct App {
    pub index: Index,
    pub metrics: Metrics,
    pub data_dir: PathBuf,
    /// The URL clients reach this server at (`--public-url`, else the bound address). Never
    /// taken from a request's Host header.
    pub public_url: String,
    /// Rate limits; none when the server runs without them.
    pub rate_limits: Option<limits::RateLimits>,
}

impl App {
    /// The base of absolute URLs handed to clients (download links, upload and tarball URLs).
    pub fn public_base(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}

/// Why a request body could not be read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (declared so, or found so while reading).
    TooLarge,
    /// The connection ended before the body did.
    CutOff,
    /// The body did not arrive in time.
    Late,
}

impl BodyError {
    pub fn status(self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::CutOff => StatusCode::BAD_REQUEST,
            BodyError::Late => StatusCode::REQUEST_TIMEOUT,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            BodyError::TooLarge => "the request body is too large",
            BodyError::CutOff => "the request body was cut off",
            BodyError::Late => "the request body did not arrive in time",
        }
    }
}

/// A whole request body of at most `limit` bytes, arrived within `timeout`. A declared length
/// over the limit is refused before a byte is read; every surface renders the refusal in its
/// own error shape.
pub async fn read_body(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<axum::body::Bytes, BodyError> {
    let declared = headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if e.to_string().contains("length limit") => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::CutOff),
        Err(_) => Err(BodyError::Late),
    }
}

/// Cuts one extra row off a page fetched with `limit + 1`; the cursor is the last row's key.
pub fn paged<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        let cursor = rows.last().map(&key);
        (rows, cursor)
    } else {
        (rows, None)
    }
}

/// A response under an entity tag (`tag`, quoted): 304 without a body when the request's
/// `If-None-Match` already names it (or `*`), else `response` with the tag.
pub fn with_etag(
    headers: &axum::http::HeaderMap,
    tag: &str,
    response: impl axum::response::IntoResponse,
) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse as _;
    let etag = HeaderValue::from_str(tag).expect("entity tags are ASCII");
    let known = headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok());
    let matches =
        known.flat_map(|v| v.split(',')).map(|t| t.trim()).any(|t| t == "*" || t.trim_start_matches("W/") == tag);
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mut response = response.into_response();
    response.headers_mut().insert(header::ETAG, etag);
    response
}

#[derive(Clone)]
pub struct AppState(Arc<App>);

impl AppState {
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "skilldex",
        description = "A registry for AI-agent skills: the native REST API of the skilldex index."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Users, API tokens and teams"),
        (name = "skills", description = "Skills, versions, channels and stars"),
        (name = "sources", description = "OCI repositories whose version tags become versions, and registry notifications"),
        (name = "ops", description = "Health and metrics")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The OpenAPI document of every route `router` serves, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = routes().split_for_parts().1;
    schema::state_rules(&mut api);
    api
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(rest::routes()).merge(ops::routes())
}

pub fn router(state: AppState) -> Router {
    let json_body = state.index.limits().json_body;
    let (router, mut api) = routes().split_for_parts();
    schema::state_rules(&mut api);
    let api = Arc::new(api);
    router
        .route("/openapi.json", axum::routing::get(move || ops::openapi_json(api.clone())))
        .merge(oci_dist::router())
        .merge(toolhive::router())
        .merge(mcp::router())
        .merge(npm::router())
        .merge(skill_pool::router())
        .merge(skillsmgr::router())
        .merge(crate::web::router())
        .fallback(|headers: axum::http::HeaderMap| async move {
            // Browsers get a page; API clients the problem document.
            if crate::web::wants_html(&headers) {
                crate::web::not_found()
            } else {
                axum::response::IntoResponse::into_response(error::ApiError::NoRoute)
            }
        })
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(json_body))
        .layer(middleware::from_fn_with_state(state.clone(), limits::limit))
        .layer(middleware::from_fn(error::finish_errors))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Wraps each request in a span named by its route and records its outcome.
async fn track(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!("request", %method, %route);
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.observe(&method, &route, status, elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, "served");
    });
    response
}
