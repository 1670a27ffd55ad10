//! The native API's one error shape: RFC 7807 `application/problem+json` with csreg's
//! problem types. Every failure, including malformed input that axum itself rejects, ends
//! up here; the `instance` member is filled in by `finish_errors` once the request
//! path is known.

use axum::extract::Request;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::service;

pub const PROBLEM_BASE: &str = "https://skilldex.dev/errors/";
pub const PROBLEM_JSON: &str = "application/problem+json";
/// `Retry-After` (seconds) on a 503: a database restart or failover takes about this long.
pub const RETRY_OUTAGE: &str = "2";

/// A problem details document (RFC 7807).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `https://skilldex.dev/errors/<kind>`, e.g. `…/version-conflict`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request path this problem is about.
    pub instance: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Service(#[from] service::Error),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("no route for this path")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use service::Error as S;
        match self {
            ApiError::Service(S::Invalid(_)) | ApiError::BadRequest(_) => {
                (StatusCode::BAD_REQUEST, "validation-error", "Bad Request")
            }
            ApiError::Service(S::Unauthenticated(_)) => {
                (StatusCode::UNAUTHORIZED, "authentication-required", "Unauthorized")
            }
            ApiError::Service(S::Forbidden(_)) => (StatusCode::FORBIDDEN, "insufficient-permissions", "Forbidden"),
            ApiError::Service(S::NotFound(_)) | ApiError::NoRoute => (StatusCode::NOT_FOUND, "not-found", "Not Found"),
            ApiError::Service(S::Conflict(_)) => (StatusCode::CONFLICT, "version-conflict", "Conflict"),
            ApiError::Service(S::State(_)) => (StatusCode::CONFLICT, "state-conflict", "Conflict"),
            ApiError::Service(S::ManifestInvalid(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "manifest-invalid", "Unprocessable Entity")
            }
            ApiError::Service(S::Untrusted(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "signature-verification-failed", "Unprocessable Entity")
            }
            ApiError::Service(S::OwnWork(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation-error", "Unprocessable Entity")
            }
            ApiError::Service(S::Upstream(_)) => (StatusCode::BAD_GATEWAY, "registry-error", "Bad Gateway"),
            ApiError::Service(S::RateLimited(_)) => {
                (StatusCode::TOO_MANY_REQUESTS, "rate-limit-exceeded", "Too Many Requests")
            }
            ApiError::Service(S::Unavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "service-unavailable", "Service Unavailable")
            }
            ApiError::Service(S::StorageFull(_)) => {
                (StatusCode::INSUFFICIENT_STORAGE, "insufficient-storage", "Insufficient Storage")
            }
            ApiError::Service(S::TooLarge(_)) | ApiError::TooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "archive-too-large", "Payload Too Large")
            }
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported Media Type")
            }
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method Not Allowed"),
            ApiError::Service(S::Registry(e)) => match e.status() {
                404 => (StatusCode::NOT_FOUND, "not-found", "Not Found"),
                413 => (StatusCode::PAYLOAD_TOO_LARGE, "archive-too-large", "Payload Too Large"),
                500 => (StatusCode::INTERNAL_SERVER_ERROR, "internal-error", "Internal Server Error"),
                503 => (StatusCode::SERVICE_UNAVAILABLE, "service-unavailable", "Service Unavailable"),
                507 => (StatusCode::INSUFFICIENT_STORAGE, "insufficient-storage", "Insufficient Storage"),
                _ => (StatusCode::BAD_REQUEST, "validation-error", "Bad Request"),
            },
            ApiError::Service(S::Store(_) | S::Internal(_)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal-error", "Internal Server Error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, title) = self.parts();
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The cause goes to the log with its chain; the caller gets no internals.
            tracing::error!(error = ?self, "request failed");
            "an unexpected error occurred; it has been logged".to_owned()
        } else {
            self.to_string()
        };
        let problem = Problem {
            kind: format!("{PROBLEM_BASE}{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            instance: String::new(),
        };
        let mut response = (status, axum::Json(&problem)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"skilldex\""));
        }
        response.extensions_mut().insert(problem);
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::UnsupportedMediaType("expected a JSON body with `Content-Type: application/json`".into())
            }
            JsonRejection::JsonDataError(e) => ApiError::BadRequest(format!("invalid request body: {}", e.body_text())),
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!("malformed JSON: {}", e.body_text())),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::TooLarge("the request body is larger than this endpoint accepts".into())
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

/// Finishes every error answer the same way, whatever its surface: a 503 says when to try
/// again; problem documents get the request path, and any other bare error response from the
/// framework becomes a problem too.
pub async fn finish_errors(request: Request, next: Next) -> Response {
    let instance = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if response.status() == StatusCode::SERVICE_UNAVAILABLE && !response.headers().contains_key(header::RETRY_AFTER) {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_OUTAGE));
    }
    let problem = response.extensions().get::<Problem>().cloned();
    let Some(mut problem) = problem else {
        // A bare 413 from a body limit becomes a problem; a surface's own JSON error stays.
        let is_json =
            response.headers().get(header::CONTENT_TYPE).is_some_and(|c| c.as_bytes().starts_with(b"application/json"));
        if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
            let mut r =
                ApiError::TooLarge("the request body is larger than this endpoint accepts".into()).into_response();
            let p = r.extensions_mut().remove::<Problem>().expect("problem set");
            return with_instance(r, p, &instance);
        }
        return response;
    };
    problem.instance = instance.clone();
    with_instance(response, problem, &instance)
}

fn with_instance(response: Response, mut problem: Problem, instance: &str) -> Response {
    problem.instance = instance.to_owned();
    let (mut parts, _) = response.into_parts();
    let body = serde_json::to_vec(&problem).expect("problem serializes");
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// The error shape ToolHive's and npm's clients read: `{"error": "…"}` with a fitting
/// status. Internal errors are logged and shown only as `internal error`.
#[derive(Debug)]
pub struct ErrorMessage(pub StatusCode, pub String);

impl IntoResponse for ErrorMessage {
    fn into_response(self) -> Response {
        if self.0 == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self.1, "request failed");
            return (self.0, axum::Json(serde_json::json!({ "error": "internal error" }))).into_response();
        }
        (self.0, axum::Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<service::Error> for ErrorMessage {
    fn from(e: service::Error) -> Self {
        let status = match &e {
            service::Error::Invalid(_) => StatusCode::BAD_REQUEST,
            service::Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            service::Error::Forbidden(_) => StatusCode::FORBIDDEN,
            service::Error::NotFound(_) => StatusCode::NOT_FOUND,
            service::Error::Conflict(_) | service::Error::State(_) => StatusCode::CONFLICT,
            service::Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            service::Error::Untrusted(_) | service::Error::ManifestInvalid(_) | service::Error::OwnWork(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            service::Error::Upstream(_) => StatusCode::BAD_GATEWAY,
            service::Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            service::Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            service::Error::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            service::Error::Registry(d) => {
                StatusCode::from_u16(d.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ErrorMessage(status, e.public_message())
    }
}

impl ErrorMessage {
    fn from_api(e: ApiError) -> Self {
        match e {
            ApiError::Service(s) => s.into(),
            other => {
                let status = other.parts().0;
                ErrorMessage(status, other.to_string())
            }
        }
    }
}

impl From<super::BodyError> for ErrorMessage {
    fn from(e: super::BodyError) -> Self {
        ErrorMessage(e.status(), e.message().into())
    }
}

/// A 400 in the `{"error": "…"}` shape.
pub fn bad(msg: impl Into<String>) -> ErrorMessage {
    ErrorMessage(StatusCode::BAD_REQUEST, msg.into())
}

/// The caller, or a 401 in the `{"error": "…"}` shape for a bad token.
pub fn authenticated(caller: Result<service::Caller, ApiError>) -> Result<service::Caller, ErrorMessage> {
    caller.map_err(|e| match e {
        ApiError::BadRequest(m) => bad(m),
        ApiError::Service(service::Error::Unauthenticated(_)) => {
            ErrorMessage(StatusCode::UNAUTHORIZED, "invalid, expired or revoked API token".into())
        }
        other => ErrorMessage::from_api(other),
    })
}

impl From<axum::extract::rejection::BytesRejection> for ErrorMessage {
    fn from(r: axum::extract::rejection::BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ErrorMessage(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large".into())
        } else {
            bad(r.body_text())
        }
    }
}
