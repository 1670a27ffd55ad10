//! The OCI distribution API (spec 1.1) over the embedded store, at `/v2/`. A translation
//! only: who may read or change what is decided by the gate in `service::registry`, reached
//! through a `RepoReader` or `RepoWriter`. Same tokens as the REST API, as `Bearer <token>`
//! or as the password of basic auth; errors in the spec's `{"errors":[{code, message,
//! detail}]}` shape. The caller is authenticated and authorized before any body is read;
//! blob bodies stream to disk and blobs stream back out.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::{StreamExt as _, TryStreamExt as _};

use super::AppState;
use crate::oci::store::{DistError, MAX_MANIFEST};
use crate::service::{self, Caller, RepoWriter};

/// How long a body may stall before the upload is given up.
const BODY_IDLE: Duration = Duration::from_secs(30);
/// How long sending one blob may take: a client reading a trickle cannot hold its connection
/// for hours (64 MiB in this time needs about 75 KB/s).
const BLOB_SEND_LIMIT: Duration = Duration::from_secs(15 * 60);

pub fn router() -> Router<AppState> {
    Router::new().route("/v2/", axum::routing::any(handle)).route("/v2/{*path}", axum::routing::any(handle))
}

/// A failure, in the spec's shape.
enum Failure {
    Dist(DistError),
    Unauthorized,
    BadRequest(String),
    Denied(String),
    NotFound(String),
    TooManyRequests(String),
    Conflict(String),
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
            service::Error::Registry(d) => Failure::Dist(d),
            service::Error::Invalid(m) | service::Error::OwnWork(m) => Failure::BadRequest(m),
            service::Error::TooLarge(m) => Failure::Dist(DistError::TooLarge(m)),
            service::Error::RateLimited(m) => Failure::TooManyRequests(m),
            service::Error::Conflict(m) | service::Error::State(m) => Failure::Conflict(m),
            service::Error::Unavailable(m) => Failure::Dist(DistError::Unavailable(m)),
            service::Error::StorageFull(_) => Failure::Dist(DistError::Full),
            other => Failure::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Failure::Dist(DistError::Storage(m)) | Failure::Internal(m) => {
                // The cause goes to the log; the client learns nothing about internals.
                tracing::error!(error = %m, "registry request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "internal error".to_owned())
            }
            Failure::Dist(e) => (StatusCode::from_u16(e.status()).expect("valid status"), e.code(), e.to_string()),
            Failure::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authentication required".to_owned()),
            Failure::BadRequest(m) => (StatusCode::BAD_REQUEST, "UNSUPPORTED", m),
            Failure::Denied(m) => (StatusCode::FORBIDDEN, "DENIED", m),
            Failure::NotFound(m) => (StatusCode::NOT_FOUND, "NAME_UNKNOWN", m),
            Failure::TooManyRequests(m) => (StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", m),
            Failure::Conflict(m) => (StatusCode::CONFLICT, "DENIED", m),
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

/// A service error in the distribution spec's shape.
pub(super) fn render(error: service::Error) -> Response {
    Failure::from(error).into_response()
}

/// The secret a registry client presents; `None` when absent or malformed.
pub(super) fn presented_secret(headers: &HeaderMap) -> Option<String> {
    presented_token(headers).ok().flatten()
}

/// The token a registry client presents: `Bearer <token>`, or basic auth whose password is one.
fn presented_token(headers: &HeaderMap) -> Result<Option<String>, Failure> {
    let value = super::extract::single_authorization(headers).map_err(Failure::BadRequest)?;
    let Some(value) = value else { return Ok(None) };
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
    form_urlencoded::parse(uri.query()?.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
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

/// Repository names contain slashes, so the path is split by its last marker.
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

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    match serve(&state, request).await {
        Ok(r) => r,
        Err(f) => f.into_response(),
    }
}

async fn serve(state: &AppState, request: Request) -> Reply {
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
    // Who is asking, and may they, before a byte of the body is read.
    let caller = match parts.extensions.get::<super::limits::Authenticated>() {
        Some(known) => known.0.clone(),
        None => state.index.authenticate(presented_token(headers)?.as_deref()).await?,
    };
    let route = route(uri.path()).ok_or_else(|| Failure::NotFound("no such registry endpoint".into()))?;
    match route {
        Route::Base => match caller {
            Caller::Anonymous => Err(Failure::Unauthorized),
            Caller::User(_) => Ok(axum::Json(serde_json::json!({})).into_response()),
        },
        Route::Manifest(repo, reference) => match *method {
            Method::GET | Method::HEAD => {
                let reader = state.index.registry().reader(&caller, repo).await?;
                let (bytes, media_type, digest) = reader.manifest(reference).await?;
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
                let writer = state.index.registry().writer(&caller, repo).await?;
                let bytes = read_small(headers, body, MAX_MANIFEST).await?;
                let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
                let (digest, subject) = writer.put_manifest(reference, ct, &bytes).await?;
                let location = format!("/v2/{repo}/manifests/{digest}");
                let mut h = vec![("Location", location.as_str()), ("Docker-Content-Digest", digest.as_str())];
                if let Some(s) = &subject {
                    h.push(("OCI-Subject", s.as_str()));
                }
                Ok(response(StatusCode::CREATED, &h, Body::empty()))
            }
            Method::DELETE => {
                let writer = state.index.registry().writer(&caller, repo).await?;
                writer.delete_manifest(reference).await?;
                Ok(StatusCode::ACCEPTED.into_response())
            }
            _ => Err(DistError::Unsupported(format!("{method} on manifests")).into()),
        },
        Route::Blob(repo, digest) => match *method {
            Method::GET | Method::HEAD => {
                let reader = state.index.registry().reader(&caller, repo).await?;
                let (path, size) = reader.blob(digest).await?;
                // A whole pull, not a HEAD nor a later part of a ranged one.
                let range = headers.get(axum::http::header::RANGE).and_then(|r| r.to_str().ok());
                if *method == Method::GET && range.is_none_or(|r| r.trim().starts_with("bytes=0-")) {
                    reader.count_pull(digest).await;
                }
                serve_blob(method, headers, &path, size, digest).await
            }
            Method::DELETE => {
                state.index.registry().writer(&caller, repo).await?;
                Err(DistError::Unsupported("blob deletion; unreferenced blobs are removed by `skilldex gc`".into())
                    .into())
            }
            _ => Err(DistError::Unsupported(format!("{method} on blobs")).into()),
        },
        Route::Uploads(repo) => {
            if *method != Method::POST {
                return Err(DistError::Unsupported(format!("{method} on uploads")).into());
            }
            let writer = state.index.registry().writer(&caller, repo).await?;
            if let (Some(digest), Some(from)) = (query_param(uri, "mount"), query_param(uri, "from")) {
                let mounted = match state.index.registry().reader(&caller, &from).await {
                    Ok(source) => writer.mount(&source, &digest).await?,
                    Err(_) => false,
                };
                if mounted {
                    return Ok(blob_created(repo, &digest));
                }
            }
            let monolithic = query_param(uri, "digest");
            if monolithic.is_some() {
                declared_length(headers, writer.max_blob())?;
            }
            let id = writer.start_upload().await?;
            if let Some(digest) = monolithic {
                // A monolithic upload: the whole blob in this request.
                if let Err(e) = receive(&writer, &id, None, headers, body).await {
                    let _ = writer.cancel_upload(&id).await;
                    return Err(e);
                }
                writer.finish_upload(&id, &digest).await?;
                return Ok(blob_created(repo, &digest));
            }
            Ok(upload_progress(StatusCode::ACCEPTED, repo, &id, 0))
        }
        Route::Upload(repo, id) => {
            let writer = state.index.registry().writer(&caller, repo).await?;
            match *method {
                Method::PATCH => {
                    let start = content_range_start(headers)?;
                    let size = receive(&writer, id, start, headers, body).await?;
                    Ok(upload_progress(StatusCode::ACCEPTED, repo, id, size))
                }
                Method::PUT => {
                    let digest = query_param(uri, "digest")
                        .ok_or_else(|| DistError::DigestInvalid("the digest parameter is required".into()))?;
                    receive(&writer, id, None, headers, body).await?;
                    writer.finish_upload(id, &digest).await?;
                    Ok(blob_created(repo, &digest))
                }
                Method::GET => {
                    let size = writer.upload_size(id).await?;
                    Ok(upload_progress(StatusCode::NO_CONTENT, repo, id, size))
                }
                Method::DELETE => {
                    writer.cancel_upload(id).await?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                _ => Err(DistError::Unsupported(format!("{method} on an upload")).into()),
            }
        }
        Route::Tags(repo) => {
            if *method != Method::GET {
                return Err(DistError::Unsupported(format!("{method} on tags")).into());
            }
            let n = match query_param(uri, "n") {
                Some(n) => Some(
                    n.parse::<i64>()
                        .ok()
                        .filter(|n| (0..=10_000).contains(n))
                        .ok_or_else(|| DistError::PaginationInvalid("n must be a number from 0 to 10000".into()))?,
                ),
                None => None,
            };
            let reader = state.index.registry().reader(&caller, repo).await?;
            let last = query_param(uri, "last");
            let tags = reader.tags(last.as_deref(), n.unwrap_or(10_000)).await?;
            let next = match (n, tags.last()) {
                (Some(n), Some(last)) if n > 0 && tags.len() as i64 == n => Some(last.clone()),
                _ => None,
            };
            let mut r = axum::Json(serde_json::json!({ "name": repo, "tags": tags })).into_response();
            if let (Some(n), Some(last)) = (n, next) {
                let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
                let link = format!("</v2/{repo}/tags/list?n={n}&last={last}>; rel=\"next\"");
                let link = HeaderValue::from_str(&link).map_err(|e| Failure::Internal(e.to_string()))?;
                r.headers_mut().insert(header::LINK, link);
            }
            Ok(r)
        }
        Route::Referrers(repo, digest) => {
            if *method != Method::GET {
                return Err(DistError::Unsupported(format!("{method} on referrers")).into());
            }
            let reader = state.index.registry().reader(&caller, repo).await?;
            let filter = query_param(uri, "artifactType");
            let index = reader.referrers(digest, filter.as_deref()).await?;
            let mut h = vec![("Content-Type", crate::oci::layout::media::INDEX)];
            if filter.is_some() {
                h.push(("OCI-Filters-Applied", "artifactType"));
            }
            Ok(response(StatusCode::OK, &h, Body::from(index)))
        }
    }
}

/// The declared length, refused up front when it is more than `max`.
fn declared_length(headers: &HeaderMap, max: u64) -> Result<(), Failure> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > max => Err(DistError::TooLarge(format!("at most {max} bytes are accepted here")).into()),
        _ => Ok(()),
    }
}

/// A small body (a manifest), read whole: at most `max` bytes, within the idle limit.
async fn read_small(headers: &HeaderMap, body: Body, max: usize) -> Result<bytes::Bytes, Failure> {
    declared_length(headers, max as u64)?;
    match tokio::time::timeout(BODY_IDLE, axum::body::to_bytes(body, max)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(DistError::ManifestInvalid(format!("larger than {max} bytes, or cut off")).into()),
        Err(_) => Err(DistError::ManifestInvalid("the body stalled".into()).into()),
    }
}

/// Streams a request body onto an upload; returns the upload's size.
async fn receive(
    writer: &RepoWriter<'_>,
    id: &str,
    start: Option<u64>,
    headers: &HeaderMap,
    body: Body,
) -> Result<u64, Failure> {
    declared_length(headers, writer.max_blob())?;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    Ok(writer.append_upload(id, start, stream, BODY_IDLE).await?)
}

fn blob_created(repo: &str, digest: &str) -> Response {
    let location = format!("/v2/{repo}/blobs/{digest}");
    response(StatusCode::CREATED, &[("Location", &location), ("Docker-Content-Digest", digest)], Body::empty())
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
    // Header values come from checked digests and media types; should one ever not be a
    // valid header, the client gets an error, not a dropped connection.
    r.body(body).unwrap_or_else(|e| Failure::Internal(format!("invalid response header: {e}")).into_response())
}

/// Streams a blob from disk, honouring a single `Range: bytes=a-b` request.
async fn serve_blob(method: &Method, headers: &HeaderMap, path: &std::path::Path, size: u64, digest: &str) -> Reply {
    use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(r) => Some(parse_range(r, size).ok_or(DistError::RangeInvalid)?),
    };
    let (status, (start, end), content_range) = match range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, (a, b), Some(format!("bytes {a}-{b}/{size}"))),
        None => (StatusCode::OK, (0, size.saturating_sub(1)), None),
    };
    let len = if size == 0 { 0 } else { end - start + 1 };
    let len_text = len.to_string();
    let mut h = vec![
        ("Content-Type", "application/octet-stream"),
        ("Docker-Content-Digest", digest),
        ("Content-Length", len_text.as_str()),
        ("Accept-Ranges", "bytes"),
    ];
    if let Some(cr) = &content_range {
        h.push(("Content-Range", cr.as_str()));
    }
    if *method == Method::HEAD {
        return Ok(response(status, &h, Body::empty()));
    }
    let mut file = tokio::fs::File::open(path).await.map_err(|_| DistError::BlobUnknown)?;
    file.seek(std::io::SeekFrom::Start(start)).await.map_err(DistError::from)?;
    let stream = tokio_util::io::ReaderStream::new(file.take(len));
    let body = Body::from_stream(stream.take_until(Box::pin(tokio::time::sleep(BLOB_SEND_LIMIT))));
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
    fn query_values_are_decoded() {
        let uri: Uri = "/v2/x/referrers/d?artifactType=application%2Fvnd.example%2Bjson&n=1".parse().unwrap();
        assert_eq!(query_param(&uri, "artifactType").as_deref(), Some("application/vnd.example+json"));
        assert_eq!(query_param(&uri, "n").as_deref(), Some("1"));
        assert_eq!(query_param(&uri, "last"), None);
    }
}
