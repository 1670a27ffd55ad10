//! Export and import between sites that share no network: a tar of an OCI image layout plus
//! the index's facts (`skilldex-export.json`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use futures_util::StreamExt as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;
use utoipa::ToSchema;

use super::Problems;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::Json;
use crate::service::transfer::{ExportSummary, ImportSummary, METADATA_FILE};
use crate::service::{Caller, Error};

type Reply<T> = Result<T, ApiError>;

/// The largest import accepted.
const MAX_IMPORT: u64 = 4 * 1024 * 1024 * 1024;
/// How long the body may pause, and how long it may take in all.
const IDLE: Duration = Duration::from_secs(60);
const TOTAL: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// `namespace/name` (every released version) or `namespace/name@version|range|channel`;
    /// 1 to 1000 of them.
    #[schema(schema_with = crate::api::schema::export_selection)]
    pub skills: Vec<String>,
}

/// A directory under the data directory that is removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(state: &AppState) -> Reply<Self> {
        let dir = state.data_dir.join("transfers").join(crate::domain::new_id());
        std::fs::create_dir_all(&dir).map_err(|e| Error::Internal(format!("cannot make a scratch directory: {e}")))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Export skills as a tar: an OCI image layout with each version's artifact, referrers and
/// signatures, what the versions require, and the index's facts about them. Only what the
/// caller may see.
#[utoipa::path(post, path = "/api/v1/export", tag = "sources", security(("bearer" = [])),
    request_body = ExportRequest,
    responses((status = 200, content_type = "application/x-tar", body = Vec<u8>,
        headers(("X-Skilldex-Export" = String, description = "versions=N; unresolved=M"))), Problems))]
pub(super) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<ExportRequest>,
) -> Reply<impl IntoResponse> {
    let scratch = Scratch::new(&state)?;
    let layout = scratch.0.join("layout");
    let summary: ExportSummary = state.index.transfer().export(&caller, &req.skills, &layout).await?;
    let tar_path = scratch.0.join("export.tar");
    let written = tar_path.clone();
    tokio::task::spawn_blocking(move || write_tar(&layout, &written))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::Internal(format!("cannot write the export: {e}")))?;
    let file = tokio::fs::File::open(&tar_path).await.map_err(|e| Error::Internal(e.to_string()))?;
    let size = file.metadata().await.map_err(|e| Error::Internal(e.to_string()))?.len();
    // The open file outlives its name.
    drop(scratch);
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let note = format!("versions={}; unresolved={}", summary.versions, summary.unresolved.len());
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::HeaderName::from_static("x-skilldex-export"), note),
        ],
        body,
    ))
}

/// Import an export (site admins, admin scope). The whole bundle is checked before anything
/// is stored: every blob against its digest, every artifact by the bundle rules and this
/// site's trust policies, every version against what this site recorded. Importing the same
/// bundle again changes nothing.
#[utoipa::path(post, path = "/api/v1/import", tag = "sources", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/x-tar"),
    responses((status = 200, body = ImportSummary), Problems))]
pub(super) async fn import(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Reply<axum::Json<ImportSummary>> {
    // Who may import, before a byte is read.
    crate::service::access::require_site_admin(&caller)?;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_IMPORT) {
        return Err(ApiError::TooLarge(format!("an import is at most {MAX_IMPORT} bytes")));
    }
    let scratch = Scratch::new(&state)?;
    let tar_path = scratch.0.join("import.tar");
    receive(body, &tar_path).await?;
    let dir = scratch.0.join("layout");
    let (from, to) = (tar_path.clone(), dir.clone());
    tokio::task::spawn_blocking(move || unpack(&from, &to))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|why| Error::Invalid(format!("the bundle is refused: {why}; nothing was imported")))?;
    Ok(axum::Json(state.index.transfer().import(&caller, &dir).await?))
}

/// Writes the body to `path`: at most `MAX_IMPORT` bytes, none of its pauses longer than
/// `IDLE`, all of it within `TOTAL`.
async fn receive(body: axum::body::Body, path: &Path) -> Reply<()> {
    let mut file = tokio::fs::File::create(path).await.map_err(|e| Error::Internal(e.to_string()))?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    let started = tokio::time::Instant::now();
    loop {
        let next = tokio::time::timeout(IDLE, stream.next())
            .await
            .map_err(|_| ApiError::BadRequest("the bundle stopped arriving".into()))?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|_| ApiError::BadRequest("the bundle was cut off".into()))?;
        size += chunk.len() as u64;
        if size > MAX_IMPORT {
            return Err(ApiError::TooLarge(format!("an import is at most {MAX_IMPORT} bytes")));
        }
        if started.elapsed() > TOTAL {
            return Err(ApiError::BadRequest("the bundle did not arrive in time".into()));
        }
        file.write_all(&chunk).await.map_err(|e| Error::io("cannot keep the bundle", e))?;
    }
    file.flush().await.map_err(|e| Error::Internal(e.to_string()))?;
    Ok(())
}

/// The tar of a layout: its fixed files, then its blobs, in a fixed order and with no owner,
/// mode or time of this machine.
fn write_tar(layout: &Path, out: &Path) -> std::io::Result<()> {
    let mut builder = tar::Builder::new(std::fs::File::create(out)?);
    builder.mode(tar::HeaderMode::Deterministic);
    for name in ["oci-layout", "index.json", METADATA_FILE] {
        builder.append_path_with_name(layout.join(name), name)?;
    }
    let mut blobs: Vec<_> = std::fs::read_dir(layout.join("blobs/sha256"))?.collect::<std::io::Result<_>>()?;
    blobs.sort_by_key(|e| e.file_name());
    for blob in blobs {
        let name = format!("blobs/sha256/{}", blob.file_name().to_string_lossy());
        builder.append_path_with_name(blob.path(), name)?;
    }
    builder.into_inner()?.sync_all()
}

/// Unpacks a bundle's tar into `dir`, taking only what a layout holds: `oci-layout`,
/// `index.json`, the metadata file and `blobs/sha256/<64 hex>`, each a regular file and at
/// most once. Anything else (links, devices, other paths) refuses the bundle.
fn unpack(tar_path: &Path, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir.join("blobs/sha256")).map_err(|e| e.to_string())?;
    let file = std::fs::File::open(tar_path).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(file);
    let mut seen = std::collections::HashSet::new();
    for entry in archive.entries().map_err(|_| "it is not a tar archive".to_owned())? {
        let mut entry = entry.map_err(|_| "it is not a readable tar archive".to_owned())?;
        let path = entry.path().map_err(|_| "an entry's name is not text".to_owned())?.to_string_lossy().into_owned();
        let path = path.strip_prefix("./").unwrap_or(&path).to_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() && matches!(path.trim_end_matches('/'), "blobs" | "blobs/sha256" | "" | ".") {
            continue;
        }
        let allowed = matches!(path.as_str(), "oci-layout" | "index.json")
            || path == METADATA_FILE
            || path
                .strip_prefix("blobs/sha256/")
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        if !allowed || !kind.is_file() {
            return Err(format!("it holds `{path}`, which is not part of an export"));
        }
        if !seen.insert(path.clone()) {
            return Err(format!("it holds `{path}` twice"));
        }
        let mut out = std::fs::File::create(dir.join(&path)).map_err(|e| e.to_string())?;
        std::io::copy(&mut entry, &mut out).map_err(|_| format!("`{path}` is cut off"))?;
    }
    Ok(())
}
