//! Sources (site administrators): OCI repositories whose semver tags become versions, and the
//! receiver registry notifications are posted to.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Problems;
use crate::api::error::ApiError;
use crate::api::extract::{Json, Path};
use crate::api::{AppState, BodyError};
use crate::domain::{Namespace, Visibility};
use crate::service::Caller;
use crate::service::sources::{MAX_NOTIFICATION, NewSource, SourceInfo, SourceLocation};

type Reply<T> = Result<T, ApiError>;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSourceRequest {
    /// 1–64 lowercase letters, digits and inner hyphens.
    #[schema(schema_with = crate::api::schema::source_name)]
    pub name: String,
    /// The namespace whose skills the source's artifacts become.
    pub namespace: Namespace,
    /// `registry/repository`, or `registry/prefix/*` for every repository the registry's
    /// catalog lists under the prefix. Exactly one of `oci` and `catalog`.
    pub oci: Option<String>,
    /// A ToolHive upstream registry file (`data.skills[]`) at an `https://` URL, a `file:`
    /// path on the server or in a git repository (`git+https://…/repo.git?ref=main#path.json`),
    /// or a ToolHive skills API listing (another skilldex's
    /// `/registry/{name}/v0.1/x/dev.toolhive/skills`). Entries are pinned by digest.
    pub catalog: Option<String>,
    /// Seconds between scheduled runs: 0 (only when asked or notified) or 60 to a year;
    /// default 3600.
    #[schema(schema_with = crate::api::schema::source_interval)]
    pub interval_secs: Option<u64>,
    /// Of the skills the source creates; default private.
    pub visibility: Option<Visibility>,
    /// What the registry is read with; never returned.
    #[serde(default, deserialize_with = "crate::api::wire::object")]
    pub credentials: Option<SourceCredentials>,
    /// Accept registry notifications (a secret is made and shown once, in this answer).
    #[serde(default)]
    pub notifications: bool,
    /// Copy each artifact, with its signatures and referrers, into this server's storage
    /// (digests unchanged) and install from there, so versions outlive the upstream.
    #[serde(default)]
    pub mirror: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceCredentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedSource {
    #[serde(flatten)]
    pub source: SourceInfo,
    /// The secret registry notifications must present as `Authorization: Bearer <secret>`;
    /// shown only here.
    pub notify_secret: Option<String>,
    /// Where registry notifications are posted.
    pub notify_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceList {
    pub data: Vec<SourceInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationAccepted {
    /// How many pushed version tags of the source's repositories will be taken.
    pub accepted: usize,
}

/// Add a source (site admins, admin scope). Its first run is due at once.
#[utoipa::path(post, path = "/api/v1/sources", tag = "sources", security(("bearer" = [])),
    request_body = CreateSourceRequest, responses((status = 201, body = CreatedSource), Problems))]
pub(super) async fn create_source(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateSourceRequest>,
) -> Reply<(StatusCode, axum::Json<CreatedSource>)> {
    let location = match (req.oci, req.catalog) {
        (Some(oci), None) => SourceLocation::Oci(oci),
        (None, Some(catalog)) => SourceLocation::Catalog(catalog),
        _ => return Err(ApiError::BadRequest("a source reads exactly one of `oci` and `catalog`".into())),
    };
    let new = NewSource {
        name: req.name,
        namespace: req.namespace,
        location,
        interval_secs: req.interval_secs,
        visibility: req.visibility,
        credentials: req.credentials.map(|c| (c.username, c.password)),
        notifications: req.notifications,
        mirror: req.mirror,
    };
    let added = state.index.sources().add(&caller, new).await?;
    let notify_url = added
        .notify_secret
        .as_ref()
        .map(|_| format!("{}/api/v1/sources/{}/notifications", state.public_base(), added.source.name));
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedSource { source: added.source, notify_secret: added.notify_secret, notify_url }),
    ))
}

/// Every source with its status (site admins, admin scope).
#[utoipa::path(get, path = "/api/v1/sources", tag = "sources", security(("bearer" = [])),
    responses((status = 200, body = SourceList), Problems))]
pub(super) async fn list_sources(State(state): State<AppState>, caller: Caller) -> Reply<axum::Json<SourceList>> {
    Ok(axum::Json(SourceList { data: state.index.sources().list(&caller).await? }))
}

/// One source: its settings, last run, tag outcomes and the tags that need attention.
#[utoipa::path(get, path = "/api/v1/sources/{name}", tag = "sources", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = SourceInfo), Problems))]
pub(super) async fn get_source(
    State(state): State<AppState>,
    Path(name): Path<String>,
    caller: Caller,
) -> Reply<axum::Json<SourceInfo>> {
    Ok(axum::Json(state.index.sources().get(&caller, &name).await?))
}

/// Remove a source and what it found (the versions it registered stay); the token it acted
/// as is revoked.
#[utoipa::path(delete, path = "/api/v1/sources/{name}", tag = "sources", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 204), Problems))]
pub(super) async fn delete_source(
    State(state): State<AppState>,
    Path(name): Path<String>,
    caller: Caller,
) -> Reply<StatusCode> {
    state.index.sources().remove(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Run a source now and answer when the run ends (409 while another run is under way).
#[utoipa::path(post, path = "/api/v1/sources/{name}/sync", tag = "sources", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = SourceInfo), Problems))]
pub(super) async fn sync_source(
    State(state): State<AppState>,
    Path(name): Path<String>,
    caller: Caller,
) -> Reply<axum::Json<SourceInfo>> {
    Ok(axum::Json(state.index.sources().sync(&caller, &name).await?))
}

/// The receiver for a registry's push notifications: CNCF distribution's `notifications`
/// endpoint or Harbor's webhook, configured to send `Authorization: Bearer <the source's
/// notification secret>`. Pushed version tags of the source's repositories are taken at once.
#[utoipa::path(post, path = "/api/v1/sources/{name}/notifications", tag = "sources",
    params(("name" = String, Path)), request_body = Object,
    responses((status = 202, body = NotificationAccepted), Problems))]
pub(super) async fn notify_source(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Reply<(StatusCode, axum::Json<NotificationAccepted>)> {
    let secret = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim());
    // The secret is checked before a byte of the body is read.
    let notifier = state.index.sources().notifier(&name, secret).await?;
    let body = crate::api::read_body(&headers, body, MAX_NOTIFICATION, std::time::Duration::from_secs(30))
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => ApiError::TooLarge(format!("a notification is at most {MAX_NOTIFICATION} bytes")),
            other => ApiError::BadRequest(other.message().into()),
        })?;
    let events: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::BadRequest("a notification is a JSON document".into()))?;
    let accepted = state.index.sources().notified(notifier, &events).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(NotificationAccepted { accepted })))
}
