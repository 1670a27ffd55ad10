//! Multipart bodies (skill-pool's publish and drafts, theme images from the API and from the
//! web): read whole within a limit and a time, only the parts asked for, each at most once and
//! within its own size.

use axum::http::{HeaderMap, StatusCode, header};

/// One part of a multipart body.
pub struct Part {
    pub name: String,
    pub content_type: Option<String>,
    pub data: axum::body::Bytes,
}

/// Why a multipart body was refused: a status and a sentence for the client.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
}

impl Refused {
    fn bad(message: impl Into<String>) -> Self {
        Refused { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

/// The parts of a multipart body named in `fields`, each at most once and within its own
/// limit; any other part is refused. `what` tells a client what to send instead.
pub async fn read(
    headers: &HeaderMap,
    body: axum::body::Body,
    what: &str,
    fields: &[(&str, u64)],
    timeout: std::time::Duration,
) -> Result<Vec<Part>, Refused> {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| Refused::bad(what))?;
    let limit = fields.iter().map(|(_, max)| *max as usize).sum::<usize>() + (1 << 20);
    let bytes = crate::api::read_body(headers, body, limit, timeout)
        .await
        .map_err(|e| Refused { status: e.status(), message: e.message().to_owned() })?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let mut sizes = multer::SizeLimit::new();
    for (name, max) in fields {
        sizes = sizes.for_field(*name, *max);
    }
    let constraints =
        multer::Constraints::new().allowed_fields(fields.iter().map(|(name, _)| *name).collect()).size_limit(sizes);
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let bad_part = |e: multer::Error| match e {
        multer::Error::FieldSizeExceeded { field_name, .. } => Refused {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("the `{}` part is too large", field_name.as_deref().unwrap_or("?")),
        },
        e => Refused::bad(format!("invalid multipart body: {}", crate::domain::truncate(&e.to_string()))),
    };
    let mut parts: Vec<Part> = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(bad_part)? {
        let name = field.name().unwrap_or_default().to_owned();
        if parts.iter().any(|p| p.name == name) {
            return Err(Refused::bad(format!("more than one `{name}` part")));
        }
        let content_type = field.content_type().map(ToString::to_string);
        parts.push(Part { name, content_type, data: field.bytes().await.map_err(bad_part)? });
    }
    Ok(parts)
}
