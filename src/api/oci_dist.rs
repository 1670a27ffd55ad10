//! The OCI distribution API (spec 1.1) over the embedded store, at `/v2/`. Same tokens as
//! the REST API, as `Bearer <token>` or as the password of basic auth; errors in the
//! spec's `{"errors":[{code, message, detail}]}` shape.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::AppState;
use crate::oci::store::{DistError, EmbeddedStore, MAX_MANIFEST, check_repo};
use crate::service::{self, Caller, RepoAccess};

/// Largest blob the embedded store takes (a skill is at most 50 MiB compressed).
pub const MAX_BLOB: u64 = 64 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/", axum::routing::any(handle))
        .route("/v2/{*path}", axum::routing::any(handle))
        .layer(DefaultBodyLimit::max(MAX_BLOB as usize + 1))
}

/// A failure, in the spec's shape.
enum Failure {
    Dist(DistError),
    Unauthorized,
    Denied(String),
    NotFound(String),
    Internal(String),
}

impl From<DistError> for Failure {
    fn from(e: DistError) -> Self {
        Failure::Dist(e)
    }
}

impl From<service::Error> for Failure {
    fn from(e: service::Error) -> Self {
        match e {
            service::Error::Unauthenticated(_) => Failure::Unauthorized,
            service::Error::Forbidden(m) => Failure::Denied(m),
            service::Error::NotFound(m) => Failure::NotFound(m),
            other => Failure::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            Failure::Dist(e) => {
                let status = match e {
                    DistError::BlobUnknown
                    | DistError::BlobUploadUnknown
                    | DistError::ManifestUnknown
                    | DistError::NameUnknown => StatusCode::NOT_FOUND,
                    DistError::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
                    DistError::Unsupported(_) => StatusCode::METHOD_NOT_ALLOWED,
                    DistError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
                    DistError::SizeInvalid(m) if m.contains("at most") => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                (status, e.code(), e.to_string())
            }
            Failure::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authentication required".to_owned()),
            Failure::Denied(m) => (StatusCode::FORBIDDEN, "DENIED", m.clone()),
            Failure::NotFound(m) => (StatusCode::NOT_FOUND, "NAME_UNKNOWN", m.clone()),
            Failure::Internal(m) => {
                tracing::error!(error = %m, "registry request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "internal error".to_owned())
            }
        };
        let body = serde_json::json!({ "errors": [{ "code": code, "message": message, "detail": null }] });
        let mut r = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"skilldex\""));
        }
        r
    }
}

type Reply = Result<Response, Failure>;

/// The token a registry client presents: `Bearer <token>`, or basic auth whose password is one.
fn presented_token(headers: &HeaderMap) -> Result<Option<String>, Failure> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| Failure::Unauthorized)?;
    let (scheme, rest) = value.split_once(' ').ok_or(Failure::Unauthorized)?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let t = rest.trim();
        return Ok((!t.is_empty()).then(|| t.to_owned()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(rest.trim()).map_err(|_| Failure::Unauthorized)?;
        let decoded = String::from_utf8(decoded).map_err(|_| Failure::Unauthorized)?;
        let (_, password) = decoded.split_once(':').ok_or(Failure::Unauthorized)?;
        // Clients answer a challenge with empty credentials when they have none.
        return Ok((!password.is_empty()).then(|| password.to_owned()));
    }
    Err(Failure::Unauthorized)
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()))
            .flatten();
        match (hex, b[i]) {
            (Some(v), _) => {
                out.push(v);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, c) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a `/v2/…` path asks for.
enum Route<'a> {
    Base,
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Uploads(&'a str),
    Upload(&'a str, &'a str),
    Tags(&'a str),
    Referrers(&'a str, &'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(repo));
    }
    if let Some(repo) = rest.strip_suffix("/blobs/uploads/").or_else(|| rest.strip_suffix("/blobs/uploads")) {
        return Some(Route::Uploads(repo));
    }
    for marker in ["/blobs/uploads/", "/manifests/", "/blobs/", "/referrers/"] {
        let Some(i) = rest.rfind(marker) else { continue };
        let (repo, tail) = (&rest[..i], &rest[i + marker.len()..]);
        if tail.is_empty() || tail.contains('/') {
            continue;
        }
        return Some(match marker {
            "/blobs/uploads/" => Route::Upload(repo, tail),
            "/manifests/" => Route::Manifest(repo, tail),
            "/blobs/" => Route::Blob(repo, tail),
            _ => Route::Referrers(repo, tail),
        });
    }
    None
}

async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match serve(&state, &method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(f) => f.into_response(),
    }
}

async fn serve(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let store =
        state.embedded.clone().ok_or_else(|| Failure::NotFound("this server has no embedded registry".into()))?;
    let caller = state.index.authenticate(presented_token(headers)?.as_deref()).await?;
    let route = route(uri.path()).ok_or_else(|| Failure::NotFound("no such registry endpoint".into()))?;
    let body = || {
        body.as_ref()
            .map(Bytes::clone)
            .map_err(|_| Failure::Dist(DistError::SizeInvalid(format!("blobs may be at most {MAX_BLOB} bytes"))))
    };
    let repo_of = |r: &str| check_repo(r).map(|_| r.to_owned()).map_err(Failure::from);
    match route {
        Route::Base => match caller {
            Caller::Anonymous => Err(Failure::Unauthorized),
            Caller::User(_) => Ok(axum::Json(serde_json::json!({})).into_response()),
        },
        Route::Manifest(repo, reference) => {
            let repo = repo_of(repo)?;
            match *method {
                Method::GET | Method::HEAD => {
                    allow(state, &caller, &repo, RepoAccess::Pull).await?;
                    let (bytes, media_type, digest) = store.manifest(&repo, reference).await?;
                    if !accepts(headers, &media_type) {
                        return Err(DistError::ManifestUnknown.into());
                    }
                    let len = bytes.len();
                    let body = if *method == Method::HEAD { Body::empty() } else { Body::from(bytes) };
                    Ok(response(
                        StatusCode::OK,
                        &[
                            ("Content-Type", &media_type),
                            ("Docker-Content-Digest", &digest),
                            ("Content-Length", &len.to_string()),
                        ],
                        body,
                    ))
                }
                Method::PUT => {
                    allow(state, &caller, &repo, RepoAccess::Push).await?;
                    let bytes = body()?;
                    if bytes.len() > MAX_MANIFEST {
                        return Err(DistError::ManifestInvalid(format!("larger than {MAX_MANIFEST} bytes")).into());
                    }
                    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
                    let (digest, subject) = store.put_manifest(&repo, reference, ct, &bytes).await?;
                    let location = format!("/v2/{repo}/manifests/{digest}");
                    let mut h = vec![("Location", location.as_str()), ("Docker-Content-Digest", digest.as_str())];
                    if let Some(s) = &subject {
                        h.push(("OCI-Subject", s.as_str()));
                    }
                    Ok(response(StatusCode::CREATED, &h, Body::empty()))
                }
                Method::DELETE => {
                    allow(state, &caller, &repo, RepoAccess::Push).await?;
                    store.delete_manifest(&repo, reference).await?;
                    Ok(StatusCode::ACCEPTED.into_response())
                }
                _ => Err(DistError::Unsupported(format!("{method} on manifests")).into()),
            }
        }
        Route::Blob(repo, digest) => {
            let repo = repo_of(repo)?;
            match *method {
                Method::GET | Method::HEAD => {
                    allow(state, &caller, &repo, RepoAccess::Pull).await?;
                    let (path, size) = store.blob(&repo, digest).await?;
                    serve_blob(method, headers, &path, size, digest).await
                }
                Method::DELETE => {
                    allow(state, &caller, &repo, RepoAccess::Push).await?;
                    Err(DistError::Unsupported("blob deletion; use `skilldex gc`".into()).into())
                }
                _ => Err(DistError::Unsupported(format!("{method} on blobs")).into()),
            }
        }
        Route::Uploads(repo) => {
            let repo = repo_of(repo)?;
            if *method != Method::POST {
                return Err(DistError::Unsupported(format!("{method} on uploads")).into());
            }
            allow(state, &caller, &repo, RepoAccess::Push).await?;
            if let (Some(digest), Some(from)) = (query_param(uri, "mount"), query_param(uri, "from")) {
                let readable =
                    check_repo(&from).is_ok() && allow(state, &caller, &from, RepoAccess::Pull).await.is_ok();
                if readable && store.mount(&repo, &from, &digest).await? {
                    let location = format!("/v2/{repo}/blobs/{digest}");
                    return Ok(response(
                        StatusCode::CREATED,
                        &[("Location", &location), ("Docker-Content-Digest", &digest)],
                        Body::empty(),
                    ));
                }
            }
            if let Some(digest) = query_param(uri, "digest") {
                store.put_blob(&repo, &digest, &body()?).await?;
                let location = format!("/v2/{repo}/blobs/{digest}");
                return Ok(response(
                    StatusCode::CREATED,
                    &[("Location", &location), ("Docker-Content-Digest", &digest)],
                    Body::empty(),
                ));
            }
            let id = store.start_upload(&repo).await?;
            Ok(upload_progress(StatusCode::ACCEPTED, &repo, &id, 0))
        }
        Route::Upload(repo, id) => {
            let repo = repo_of(repo)?;
            allow(state, &caller, &repo, RepoAccess::Push).await?;
            match *method {
                Method::PATCH => {
                    let start = content_range_start(headers)?;
                    let size = store.append_upload(&repo, id, start, &body()?, MAX_BLOB).await?;
                    Ok(upload_progress(StatusCode::ACCEPTED, &repo, id, size))
                }
                Method::PUT => {
                    let digest = query_param(uri, "digest")
                        .ok_or_else(|| DistError::DigestInvalid("the digest parameter is required".into()))?;
                    store.finish_upload(&repo, id, &digest, &body()?, MAX_BLOB).await?;
                    let location = format!("/v2/{repo}/blobs/{digest}");
                    Ok(response(
                        StatusCode::CREATED,
                        &[("Location", &location), ("Docker-Content-Digest", &digest)],
                        Body::empty(),
                    ))
                }
                Method::GET => {
                    let size = store.upload_size(&repo, id).await?;
                    Ok(upload_progress(StatusCode::NO_CONTENT, &repo, id, size))
                }
                Method::DELETE => {
                    store.cancel_upload(&repo, id).await?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                _ => Err(DistError::Unsupported(format!("{method} on an upload")).into()),
            }
        }
        Route::Tags(repo) => {
            let repo = repo_of(repo)?;
            if *method != Method::GET {
                return Err(DistError::Unsupported(format!("{method} on tags")).into());
            }
            allow(state, &caller, &repo, RepoAccess::Pull).await?;
            let n = match query_param(uri, "n") {
                Some(n) => n
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=10_000).contains(n))
                    .ok_or_else(|| DistError::Unsupported("invalid n".into()))?,
                None => 10_000,
            };
            let last = query_param(uri, "last");
            let tags = store.tags(&repo, last.as_deref(), n).await?;
            let mut r = axum::Json(serde_json::json!({ "name": repo, "tags": tags })).into_response();
            if query_param(uri, "n").is_some() && tags.len() as i64 == n && n > 0 {
                let link = format!("</v2/{repo}/tags/list?n={n}&last={}>; rel=\"next\"", tags.last().expect("n > 0"));
                r.headers_mut()
                    .insert(header::LINK, HeaderValue::from_str(&link).map_err(|e| Failure::Internal(e.to_string()))?);
            }
            Ok(r)
        }
        Route::Referrers(repo, digest) => {
            let repo = repo_of(repo)?;
            if *method != Method::GET {
                return Err(DistError::Unsupported(format!("{method} on referrers")).into());
            }
            allow(state, &caller, &repo, RepoAccess::Pull).await?;
            let filter = query_param(uri, "artifactType");
            let index = store.referrers(&repo, digest, filter.as_deref()).await?;
            let mut h = vec![("Content-Type", crate::oci::layout::media::INDEX)];
            if filter.is_some() {
                h.push(("OCI-Filters-Applied", "artifactType"));
            }
            Ok(response(StatusCode::OK, &h, Body::from(index)))
        }
    }
}

async fn allow(state: &AppState, caller: &Caller, repo: &str, access: RepoAccess) -> Result<(), Failure> {
    Ok(state.index.repository_access(caller, repo, access).await?)
}

fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    let values: Vec<&str> = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect();
    if values.is_empty() {
        return true;
    }
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .any(|t| t == media_type || t == "*/*")
}

fn content_range_start(headers: &HeaderMap) -> Result<Option<u64>, Failure> {
    let Some(v) = headers.get(header::CONTENT_RANGE) else { return Ok(None) };
    let v = v.to_str().map_err(|_| DistError::RangeInvalid)?;
    let v = v.strip_prefix("bytes ").unwrap_or(v);
    let start = v.split('-').next().unwrap_or("").parse::<u64>().map_err(|_| DistError::RangeInvalid)?;
    Ok(Some(start))
}

fn upload_progress(status: StatusCode, repo: &str, id: &str, size: u64) -> Response {
    let location = format!("/v2/{repo}/blobs/uploads/{id}");
    let range = format!("0-{}", size.saturating_sub(1));
    response(
        status,
        &[("Location", &location), ("Range", &range), ("Docker-Upload-UUID", id), ("Content-Length", "0")],
        Body::empty(),
    )
}

fn response(status: StatusCode, headers: &[(&str, &str)], body: Body) -> Response {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(body).expect("valid headers")
}

/// Serves a blob, honouring a single `Range: bytes=a-b` request.
async fn serve_blob(method: &Method, headers: &HeaderMap, path: &std::path::Path, size: u64, digest: &str) -> Reply {
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(r) => Some(parse_range(r, size).ok_or(DistError::RangeInvalid)?),
    };
    let data = tokio::fs::read(path).await.map_err(|_| DistError::BlobUnknown)?;
    let (status, slice, content_range) = match range {
        Some((a, b)) => {
            (StatusCode::PARTIAL_CONTENT, &data[a as usize..=b as usize], Some(format!("bytes {a}-{b}/{size}")))
        }
        None => (StatusCode::OK, &data[..], None),
    };
    let len = slice.len().to_string();
    let mut h = vec![
        ("Content-Type", "application/octet-stream"),
        ("Docker-Content-Digest", digest),
        ("Content-Length", len.as_str()),
        ("Accept-Ranges", "bytes"),
    ];
    if let Some(cr) = &content_range {
        h.push(("Content-Range", cr.as_str()));
    }
    let body = if *method == Method::HEAD { Body::empty() } else { Body::from(slice.to_vec()) };
    Ok(response(status, &h, body))
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` within `size`; `None` when unsatisfiable.
fn parse_range(r: &str, size: u64) -> Option<(u64, u64)> {
    let spec = r.strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().ok()?, size - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && start < size).then_some((start, end))
}

/// The store every `/v2/` request is served from.
pub type Embedded = Arc<EmbeddedStore>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,4-5", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn routes_split_repository_names() {
        assert!(matches!(route("/v2/"), Some(Route::Base)));
        assert!(matches!(route("/v2/acme/demo/manifests/1.0.0"), Some(Route::Manifest("acme/demo", "1.0.0"))));
        assert!(matches!(route("/v2/a/b/c/blobs/sha256:ab"), Some(Route::Blob("a/b/c", "sha256:ab"))));
        assert!(matches!(route("/v2/acme/demo/blobs/uploads/"), Some(Route::Uploads("acme/demo"))));
        assert!(matches!(route("/v2/acme/demo/blobs/uploads/x-1"), Some(Route::Upload("acme/demo", "x-1"))));
        assert!(matches!(route("/v2/acme/demo/tags/list"), Some(Route::Tags("acme/demo"))));
        assert!(matches!(route("/v2/acme/demo/referrers/sha256:ab"), Some(Route::Referrers("acme/demo", "sha256:ab"))));
        assert!(route("/v2/acme/demo/unknown").is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("application%2Fvnd.example%2Bjson"), "application/vnd.example+json");
        assert_eq!(percent_decode("sha256%3Aab"), "sha256:ab");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
