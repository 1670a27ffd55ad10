//! Skills, stars, channels and versions.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{ChannelPath, Problems, SkillPath, VersionPath};
use crate::api::error::{ApiError, Problem};
use crate::api::extract::{Json, Path, Query};
use crate::api::wire::ResolveParams as DownloadParams;
use crate::api::wire::{
    ChannelList, ChannelResponse, CreateSkillRequest, CreateVersionRequest, CreateVersionResponse, DependencyResponse,
    DiffParams, DiffResponse, DownloadResponse, FinalizeRequest, ForkRequest, ListSkillsParams, ListVersionsParams,
    PreparedUpload, ResolveParams, ResolveResponse, SetChannelRequest, SkillDetail, SkillPage, SkillSummary,
    StarResponse, UpdateSkillRequest, UploadReceived, VersionPage, VersionResponse,
};
use crate::api::{AppState, BodyError};
use crate::domain::{ChannelName, SkillPatch, VersionStatus};
use crate::service::{
    self, ArtifactSource, Caller, PrepareUpload, PublishPlan, SkillDraft, SkillListRequest, SubmittedSignature,
    VersionFilter, parse_sort,
};

type Reply<T> = Result<T, ApiError>;

/// Parses an optional query parameter with the type's own validation message.
fn opt<T: std::str::FromStr<Err = crate::domain::InvalidValue>>(v: Option<String>) -> Reply<Option<T>> {
    Ok(v.map(|s| s.parse::<T>()).transpose().map_err(service::Error::from)?)
}

/// List and search skills the caller may see.
#[utoipa::path(get, path = "/api/v1/skills", tag = "skills", params(ListSkillsParams),
    responses((status = 200, body = SkillPage), Problems))]
pub(super) async fn list_skills(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ListSkillsParams>,
) -> Reply<axum::Json<SkillPage>> {
    let req = SkillListRequest {
        q: p.q,
        namespace: opt(p.scope)?,
        tags: opt(p.tag)?.into_iter().collect(),
        skill_type: opt(p.skill_type)?,
        kind: opt(p.kind)?,
        archived: if p.archived == Some(true) { service::Archived::Only } else { service::Archived::Excluded },
        sort: p.sort.as_deref().map(parse_sort).transpose()?,
        cursor: p.cursor,
        limit: p.limit,
        mode: p.mode.as_deref().map(service::parse_search_mode).transpose()?.unwrap_or_default(),
        min_similarity: p.min_similarity,
        ..Default::default()
    };
    let page = state.index.catalog().list_skills(&caller, req).await?;
    Ok(axum::Json(SkillPage {
        data: page.items.iter().map(|h| SkillSummary::from(&h.skill)).collect(),
        cursor: page.cursor,
    }))
}

/// Create a skill in a namespace you may publish to (write scope; owner or publisher).
#[utoipa::path(post, path = "/api/v1/skills", tag = "skills", security(("bearer" = [])),
    request_body = CreateSkillRequest, responses((status = 201, body = SkillDetail), Problems))]
pub(super) async fn create_skill(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateSkillRequest>,
) -> Reply<(StatusCode, axum::Json<SkillDetail>)> {
    let draft = SkillDraft {
        namespace: req.scope,
        name: req.slug,
        display_name: req.display_name,
        description: req.description,
        readme: req.readme,
        visibility: req.visibility,
        tags: req.tags,
        skill_type: req.skill_type,
        kind: req.kind,
    };
    let skill = state.index.catalog().create_skill(&caller, draft).await?;
    Ok((StatusCode::CREATED, axum::Json(skill.into())))
}

/// A skill's details. Private skills are visible to members of their namespace only.
#[utoipa::path(get, path = "/api/v1/skills/{scope}/{slug}", tag = "skills", params(SkillPath),
    responses((status = 200, body = SkillDetail), Problems))]
pub(super) async fn get_skill(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
) -> Reply<axum::Json<SkillDetail>> {
    Ok(axum::Json(state.index.catalog().get_skill(&caller, &p.scope, &p.slug).await?.into()))
}

/// Update a skill's metadata, including deprecation (write scope; owner or publisher).
#[utoipa::path(patch, path = "/api/v1/skills/{scope}/{slug}", tag = "skills", security(("bearer" = [])),
    params(SkillPath), request_body = UpdateSkillRequest, responses((status = 200, body = SkillDetail), Problems))]
pub(super) async fn update_skill(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
    Json(req): Json<UpdateSkillRequest>,
) -> Reply<axum::Json<SkillDetail>> {
    let patch = SkillPatch {
        display_name: req.display_name,
        description: req.description,
        readme: req.readme,
        visibility: req.visibility,
        tags: req.tags,
        skill_type: req.skill_type,
        kind: req.kind,
        archived: None,
        deprecated: req.deprecated,
        deprecated_message: req.deprecated_message,
    };
    Ok(axum::Json(state.index.catalog().update_skill(&caller, &p.scope, &p.slug, patch).await?.into()))
}

/// Take a skill out of the catalog: no listing or search shows it, installs by version keep
/// working (admin scope; owner).
#[utoipa::path(post, path = "/api/v1/skills/{scope}/{slug}/archive", tag = "skills", security(("bearer" = [])),
    params(SkillPath), responses((status = 200, body = SkillDetail), Problems))]
pub(super) async fn archive_skill(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
) -> Reply<axum::Json<SkillDetail>> {
    Ok(axum::Json(state.index.catalog().set_archived(&caller, &p.scope, &p.slug, true).await?.into()))
}

/// Put an archived skill back in the catalog (admin scope; owner).
#[utoipa::path(post, path = "/api/v1/skills/{scope}/{slug}/unarchive", tag = "skills", security(("bearer" = [])),
    params(SkillPath), responses((status = 200, body = SkillDetail), Problems))]
pub(super) async fn unarchive_skill(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
) -> Reply<axum::Json<SkillDetail>> {
    Ok(axum::Json(state.index.catalog().set_archived(&caller, &p.scope, &p.slug, false).await?.into()))
}

/// Soft-delete a skill: hidden from lists and search, no new versions; reversible
/// (admin scope; owner).
#[utoipa::path(delete, path = "/api/v1/skills/{scope}/{slug}", tag = "skills", security(("bearer" = [])),
    params(SkillPath), responses((status = 204), Problems))]
pub(super) async fn delete_skill(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
) -> Reply<StatusCode> {
    state.index.catalog().delete_skill(&caller, &p.scope, &p.slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Undo a soft delete (admin scope; owner).
#[utoipa::path(post, path = "/api/v1/skills/{scope}/{slug}/restore", tag = "skills", security(("bearer" = [])),
    params(SkillPath), responses((status = 200, body = SkillDetail), Problems))]
pub(super) async fn restore_skill(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
) -> Reply<axum::Json<SkillDetail>> {
    Ok(axum::Json(state.index.catalog().restore_skill(&caller, &p.scope, &p.slug).await?.into()))
}

/// Star a skill (idempotent).
#[utoipa::path(put, path = "/api/v1/skills/{scope}/{slug}/star", tag = "skills", security(("bearer" = [])),
    params(SkillPath), responses((status = 200, body = StarResponse), Problems))]
pub(super) async fn star_skill(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
) -> Reply<axum::Json<StarResponse>> {
    let stars = state.index.catalog().set_star(&caller, &p.scope, &p.slug, true).await?;
    Ok(axum::Json(StarResponse { starred: true, stars }))
}

/// Remove your star (idempotent).
#[utoipa::path(delete, path = "/api/v1/skills/{scope}/{slug}/star", tag = "skills", security(("bearer" = [])),
    params(SkillPath), responses((status = 200, body = StarResponse), Problems))]
pub(super) async fn unstar_skill(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
) -> Reply<axum::Json<StarResponse>> {
    let stars = state.index.catalog().set_star(&caller, &p.scope, &p.slug, false).await?;
    Ok(axum::Json(StarResponse { starred: false, stars }))
}

/// A skill's channels; `latest` is always first.
#[utoipa::path(get, path = "/api/v1/skills/{scope}/{slug}/channels", tag = "skills", params(SkillPath),
    responses((status = 200, body = ChannelList), Problems))]
pub(super) async fn list_channels(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
) -> Reply<axum::Json<ChannelList>> {
    let channels = state.index.catalog().channels(&caller, &p.scope, &p.slug).await?;
    Ok(axum::Json(ChannelList { data: channels.into_iter().map(ChannelResponse::from).collect() }))
}

/// Create or move a channel to a published version (write scope; owner or publisher).
#[utoipa::path(put, path = "/api/v1/skills/{scope}/{slug}/channels/{name}", tag = "skills",
    security(("bearer" = [])), params(ChannelPath), request_body = SetChannelRequest,
    responses((status = 200, body = ChannelResponse), Problems))]
pub(super) async fn set_channel(
    State(state): State<AppState>,
    Path(p): Path<ChannelPath>,
    caller: Caller,
    Json(req): Json<SetChannelRequest>,
) -> Reply<axum::Json<ChannelResponse>> {
    let name: ChannelName = p.name.parse().map_err(service::Error::from)?;
    let channel = state.index.catalog().set_channel(&caller, &p.scope, &p.slug, &name, &req.version).await?;
    Ok(axum::Json(channel.into()))
}

/// Delete a channel (admin scope; owner). `latest` cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/skills/{scope}/{slug}/channels/{name}", tag = "skills",
    security(("bearer" = [])), params(ChannelPath), responses((status = 204), Problems))]
pub(super) async fn delete_channel(
    State(state): State<AppState>,
    Path(p): Path<ChannelPath>,
    caller: Caller,
) -> Reply<StatusCode> {
    state.index.catalog().delete_channel(&caller, &p.scope, &p.slug, &p.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A skill's versions, newest first; drafts are listed for members only.
#[utoipa::path(get, path = "/api/v1/skills/{scope}/{slug}/versions", tag = "skills",
    params(SkillPath, ListVersionsParams), responses((status = 200, body = VersionPage), Problems))]
pub(super) async fn list_versions(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
    Query(q): Query<ListVersionsParams>,
) -> Reply<axum::Json<VersionPage>> {
    let filter = VersionFilter { status: opt(q.status)?, cursor: q.cursor, limit: q.limit };
    let page = state.index.catalog().list_versions(&caller, &p.scope, &p.slug, filter).await?;
    Ok(axum::Json(VersionPage {
        data: page.items.into_iter().map(VersionResponse::from).collect(),
        cursor: page.cursor,
    }))
}

/// Yank a version: ranges and `latest` skip it, exact pins still resolve (admin scope; owner).
#[utoipa::path(put, path = "/api/v1/skills/{scope}/{slug}/versions/{version}/yank", tag = "skills",
    security(("bearer" = [])), params(VersionPath), responses((status = 200, body = VersionResponse), Problems))]
pub(super) async fn yank_version(
    State(state): State<AppState>,
    Path(p): Path<VersionPath>,
    caller: Caller,
) -> Reply<axum::Json<VersionResponse>> {
    Ok(axum::Json(state.index.catalog().set_yanked(&caller, &p.scope, &p.slug, &p.version, true).await?.into()))
}

/// Undo a yank (admin scope; owner).
#[utoipa::path(delete, path = "/api/v1/skills/{scope}/{slug}/versions/{version}/yank", tag = "skills",
    security(("bearer" = [])), params(VersionPath), responses((status = 200, body = VersionResponse), Problems))]
pub(super) async fn unyank_version(
    State(state): State<AppState>,
    Path(p): Path<VersionPath>,
    caller: Caller,
) -> Reply<axum::Json<VersionResponse>> {
    Ok(axum::Json(state.index.catalog().set_yanked(&caller, &p.scope, &p.slug, &p.version, false).await?.into()))
}

/// Create a version: register an artifact already in a registry (`reference`), or prepare
/// an upload (`archiveSha256`, `archiveSize`, …) and get the URL to PUT the archive to
/// (write scope; owner or publisher).
#[utoipa::path(post, path = "/api/v1/skills/{scope}/{slug}/versions", tag = "skills",
    security(("bearer" = [])), params(SkillPath), request_body = CreateVersionRequest,
    responses((status = 201, body = CreateVersionResponse), Problems,
        (status = 422, description = "manifest-invalid: the artifact breaks the bundle rules", body = Problem),
        (status = 502, description = "registry-error: the registry failed or is unreachable", body = Problem)))]
pub(super) async fn create_version(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
    Json(req): Json<CreateVersionRequest>,
) -> Reply<(StatusCode, axum::Json<CreateVersionResponse>)> {
    let create = req.create.clone().map(|c| SkillDraft {
        namespace: p.scope.clone(),
        name: p.slug.clone(),
        display_name: c.display_name,
        description: c.description,
        readme: c.readme,
        visibility: c.visibility,
        tags: c.tags,
        skill_type: c.skill_type,
        kind: c.kind,
    });
    let created = match (&req.reference, &req.archive_sha256, req.archive_size) {
        (Some(reference), None, None) => {
            let credentials = req
                .registry_credentials
                .as_ref()
                .map(|c| c.to_credentials())
                .transpose()
                .map_err(ApiError::BadRequest)?;
            let source = ArtifactSource::Reference { reference: reference.clone(), credentials };
            let plan = PublishPlan::new(p.scope.clone(), p.slug.clone(), req.version.clone(), source);
            let plan = PublishPlan { create, changelog: req.changelog.clone(), ..plan };
            CreateVersionResponse::Registered(state.index.publishing().publish(&caller, plan).await?.version.into())
        }
        (None, Some(sha), Some(size)) => {
            let metadata = serde_json::json!({
                "fileTree": req.file_tree,
                "entryPoint": req.entry_point,
                "skillType": req.skill_type,
                "installPath": req.install_path,
                "manifestJson": req.manifest_json,
                "minClaudeCodeVersion": req.min_claude_code_version,
            });
            let prepare = PrepareUpload {
                version: req.version.clone(),
                archive_sha256: sha.clone(),
                archive_size: size,
                metadata,
            };
            let upload = state.index.publishing().prepare_upload(&caller, &p.scope, &p.slug, prepare, create).await?;
            let base = state.public_base();
            CreateVersionResponse::Prepared(PreparedUpload {
                upload_url: format!("{base}/api/v1/uploads/{}", upload.id),
                version_id: upload.id,
            })
        }
        _ => {
            return Err(ApiError::BadRequest(
                "send either `reference` (an artifact in a registry) or `archiveSha256` and `archiveSize` (an upload)"
                    .into(),
            ));
        }
    };
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Upload the archive of a prepared version (the `uploadUrl` from creating it).
#[utoipa::path(put, path = "/api/v1/uploads/{id}", tag = "skills", security(("bearer" = [])),
    params(("id" = String, Path)), request_body(content = Vec<u8>, content_type = "application/gzip"),
    responses((status = 200, body = UploadReceived), Problems,
        (status = 422, description = "manifest-invalid: size or sha256 differ from what was prepared, or the archive breaks the bundle rules", body = Problem)))]
pub(super) async fn put_upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Reply<axum::Json<UploadReceived>> {
    // Whose upload this is, before a byte of the archive is read.
    let upload = state.index.publishing().upload_to_receive(&caller, &id).await?;
    // Never more than was prepared: a longer body is refused unread.
    let max = upload.archive_size.clamp(0, state.index.limits().archive() as i64) as usize;
    let body = crate::api::read_body(&headers, body, max, super::BODY_TIMEOUT).await.map_err(|e| match e {
        BodyError::TooLarge => {
            ApiError::TooLarge(format!("the archive is larger than the {max} bytes it was prepared as"))
        }
        BodyError::CutOff => ApiError::BadRequest("the archive was cut off".into()),
        BodyError::Late => ApiError::BadRequest("the archive did not arrive in time".into()),
    })?;
    let built = state.index.publishing().receive_upload(&caller, &upload, &body).await?;
    Ok(axum::Json(UploadReceived { reference: built.reference, digest: built.digest }))
}

/// Finalize an uploaded version: check it, store it as an OCI artifact, record it.
#[utoipa::path(post, path = "/api/v1/skills/{scope}/{slug}/versions/{version}/finalize", tag = "skills",
    security(("bearer" = [])), params(VersionPath), request_body = FinalizeRequest,
    responses((status = 200, body = VersionResponse), Problems,
        (status = 422, description = "manifest-invalid: the archive breaks the bundle rules; signature-verification-failed: a trust policy refuses it", body = Problem),
        (status = 502, description = "registry-error: the storage registry failed", body = Problem)))]
pub(super) async fn finalize_version(
    State(state): State<AppState>,
    Path(p): Path<VersionPath>,
    caller: Caller,
    Json(req): Json<FinalizeRequest>,
) -> Reply<axum::Json<VersionResponse>> {
    let mut signatures = Vec::new();
    for (i, s) in req.signatures.into_iter().enumerate() {
        let payload = B64
            .decode(&s.payload)
            .map_err(|_| ApiError::BadRequest(format!("signatures[{i}].payload is not base64")))?;
        signatures.push(SubmittedSignature { payload, signature: s.signature });
    }
    let source = ArtifactSource::Upload { id: req.version_id, signatures };
    let plan = PublishPlan {
        status: req.status.unwrap_or(VersionStatus::Published),
        changelog: req.changelog,
        ..PublishPlan::new(p.scope, p.slug, p.version, source)
    };
    Ok(axum::Json(state.index.publishing().publish(&caller, plan).await?.version.into()))
}

/// Resolve a version, range or channel to one immutable artifact digest.
#[utoipa::path(get, path = "/api/v1/resolve/{scope}/{slug}", tag = "skills", params(SkillPath, ResolveParams),
    responses((status = 200, body = ResolveResponse, headers(("ETag" = String))), (status = 304), Problems))]
pub(super) async fn resolve_skill(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
    Query(q): Query<ResolveParams>,
    headers: HeaderMap,
) -> Reply<Response> {
    let catalog = state.index.catalog();
    let resolved = catalog.resolve(&caller, &p.scope, &p.slug, q.version.as_deref()).await?;
    let closure = catalog.closure(&caller, &resolved).await?;
    let mut body = ResolveResponse::from(resolved);
    body.dependencies = closure.dependencies.into_iter().map(DependencyResponse::from).collect();
    body.dependencies_truncated = closure.truncated;
    // The answer changes when the version picked, its yank state, the skill's deprecation,
    // the verdict or anything its dependencies resolve to change.
    let short = |bytes: &[u8]| crate::oci::layout::sha256_digest(bytes)[7..19].to_owned();
    let deprecation = body.deprecated.then(|| body.deprecation_message.as_deref().unwrap_or_default());
    let dependencies = (!body.dependencies.is_empty()).then(|| {
        let mut all = serde_json::to_vec(&body.dependencies).expect("dependencies serialize");
        all.push(u8::from(body.dependencies_truncated));
        short(&all)
    });
    let tag = format!(
        "\"{}:{}:{}:{}{}\"",
        body.version,
        body.digest,
        if body.yanked { "y" } else { "n" },
        deprecation.map_or_else(|| "-".to_owned(), |m| short(m.as_bytes())),
        dependencies.map(|d| format!(":{d}")).unwrap_or_default()
    );
    Ok(crate::api::with_etag(&headers, &tag, axum::Json(body)))
}

/// Where to download a version's archive; counts a download.
#[utoipa::path(get, path = "/api/v1/skills/{scope}/{slug}/download", tag = "skills", params(SkillPath, DownloadParams),
    responses((status = 200, body = DownloadResponse), Problems))]
pub(super) async fn download_skill(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
    Query(q): Query<DownloadParams>,
) -> Reply<axum::Json<DownloadResponse>> {
    let r = state.index.catalog().download(&caller, &p.scope, &p.slug, q.version.as_deref()).await?;
    let crate::domain::ReleasedVersion { reference, digest, record: v } = r.version;
    let base = state.public_base();
    Ok(axum::Json(DownloadResponse {
        download_url: format!("{base}/api/v1/skills/{}/{}/versions/{}/archive", p.scope, p.slug, v.version),
        archive_sha256: v.archive_sha256.unwrap_or_default(),
        archive_size_bytes: v.archive_size,
        version: v.version,
        reference,
        digest,
    }))
}

/// A version's archive (tar.gz), fetched from the registry by digest and checked.
#[utoipa::path(get, path = "/api/v1/skills/{scope}/{slug}/versions/{version}/archive", tag = "skills",
    params(VersionPath), responses((status = 200, content_type = "application/gzip", body = Vec<u8>), Problems))]
pub(super) async fn get_archive(
    State(state): State<AppState>,
    Path(p): Path<VersionPath>,
    caller: Caller,
) -> Reply<Response> {
    let bytes = state.index.catalog().archive(&caller, &p.scope, &p.slug, &p.version).await?;
    let digest = crate::oci::layout::sha256_digest(&bytes);
    let name = format!("attachment; filename=\"{}-{}.tar.gz\"", p.slug, p.version);
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/gzip")),
            (header::ETAG, HeaderValue::from_str(&format!("\"{digest}\"")).expect("ASCII")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_str(&name).expect("validated names are ASCII")),
        ],
        bytes,
    )
        .into_response())
}

/// Files added, modified and removed between two versions, with line counts.
#[utoipa::path(get, path = "/api/v1/skills/{scope}/{slug}/diff", tag = "skills", params(SkillPath, DiffParams),
    responses((status = 200, body = DiffResponse), Problems))]
pub(super) async fn diff_versions(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
    Query(q): Query<DiffParams>,
) -> Reply<axum::Json<DiffResponse>> {
    Ok(axum::Json(state.index.catalog().diff(&caller, &p.scope, &p.slug, &q.from, &q.to).await?.into()))
}

/// Copy a skill and its latest version into a namespace you publish to (write scope).
#[utoipa::path(post, path = "/api/v1/skills/{scope}/{slug}/fork", tag = "skills", security(("bearer" = [])),
    params(SkillPath), request_body = ForkRequest, responses((status = 201, body = SkillDetail), Problems))]
pub(super) async fn fork_skill(
    State(state): State<AppState>,
    Path(p): Path<SkillPath>,
    caller: Caller,
    Json(req): Json<ForkRequest>,
) -> Reply<(StatusCode, axum::Json<SkillDetail>)> {
    let fork = state
        .index
        .catalog()
        .fork_skill(&caller, &p.scope, &p.slug, &req.target_scope, req.target_slug.as_ref())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(fork.into())))
}
