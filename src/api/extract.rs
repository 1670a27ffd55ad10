//! Extractors that reject malformed input with the native API's problem shape, and the
//! caller extractor that authenticates every request the same way.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::service::{self, Caller};

/// `axum::Json` of a JSON object, with rejections as problem+json. Every request body of the
/// native API is an object: serde would also read a struct from an array of its fields in
/// order (`["acme", "Acme"]`), which no client means and the OpenAPI document forbids.
pub struct Json<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state).await?;
        if !super::wire::is_object(&bytes) {
            return Err(ApiError::BadRequest("invalid request body: expected a JSON object".into()));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Json(value))
    }
}

/// A body that is a JSON list of objects, each read as `T` (as `Json` reads one).
pub struct JsonList<T>(pub Vec<T>);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonList<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        #[derive(serde::Deserialize)]
        #[serde(transparent)]
        struct List<T: serde::de::DeserializeOwned>(#[serde(deserialize_with = "super::wire::objects")] Vec<T>);
        let bytes = json_bytes(req, state).await?;
        let axum::Json(List(items)) = axum::Json::<List<T>>::from_bytes(&bytes)?;
        Ok(JsonList(items))
    }
}

/// A JSON request's body: its content type checked, its bytes read within the route's limit.
async fn json_bytes<S: Send + Sync>(req: axum::extract::Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    if !is_json(req.headers()) {
        return Err(ApiError::UnsupportedMediaType(
            "expected a JSON body with `Content-Type: application/json`".into(),
        ));
    }
    axum::body::Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge("the request body is larger than this endpoint accepts".into())
        } else {
            ApiError::BadRequest(r.body_text())
        }
    })
}

/// `application/json` or a `+json` type, as axum's own `Json` takes them.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(essence) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = essence.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// `axum::extract::Path`, with rejections as problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query`, with rejections as problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The request's one `Authorization` header, if any. Two are refused rather than one of them
/// silently chosen.
pub fn single_authorization(headers: &axum::http::HeaderMap) -> Result<Option<&axum::http::HeaderValue>, String> {
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    match (all.next(), all.next()) {
        (_, Some(_)) => Err("send one Authorization header, not several".into()),
        (value, None) => Ok(value),
    }
}

/// The bearer secret a request presents, if any. Schemes other than Bearer are refused, so a
/// client that meant to authenticate never silently becomes anonymous.
pub fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = single_authorization(&parts.headers).map_err(ApiError::BadRequest)? else {
        return Ok(None);
    };
    let unauth = |m: &str| ApiError::Service(service::Error::Unauthenticated(m.to_owned()));
    let value = value.to_str().map_err(|_| unauth("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, secret)) if scheme.eq_ignore_ascii_case("bearer") && !secret.trim().is_empty() => {
            Ok(Some(secret.trim()))
        }
        _ => Err(unauth("expected `Authorization: Bearer <token>`")),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(known) = parts.extensions.get::<super::limits::Authenticated>() {
            return Ok(known.0.clone());
        }
        let secret = bearer(parts)?;
        Ok(state.index.authenticate(secret).await?)
    }
}
