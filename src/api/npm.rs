//! An npm-compatible registry over the same core: skills are the scoped packages
//! `@namespace/name`, so `npm view`, `npm install`, `npm search`, `npm publish` and
//! `npm dist-tag` work with `--registry <skilldex URL>`. Channels are dist-tags; packuments,
//! search hits and tarballs follow the same visibility and resolve rules as every surface.
//! Errors are npm's `{"error": "…"}`.
//!
//! npm escapes a scoped name's slash (`/@team%2fskill`); the unescaped form
//! (`/@team/skill`) is served too.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::{ApiError, ErrorMessage, authenticated, bad};
use crate::domain::{ChannelName, Millis, Namespace, SkillName, SkillSort, Tag, Visibility};
use crate::service::{
    ArtifactSource, Caller, Lifecycle, NpmPackage, PublishPlan, SkillDraft, SkillListRequest, deprecation_notice,
    package_name,
};

/// npm's own cap on a search page.
const MAX_SEARCH_SIZE: i64 = 250;

/// The longest search text, qualifiers included.
const MAX_SEARCH_TEXT: usize = 256;

/// How long a package document may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/-/ping", axum::routing::get(|| async { axum::Json(json!({})) }))
        .route("/-/whoami", axum::routing::get(whoami))
        .route("/-/v1/search", axum::routing::get(search))
        .route("/@{package}", axum::routing::get(packument).put(publish))
        .route("/@{package}/-rev/{rev}", axum::routing::put(unpublish_versions).delete(unpublish_package))
        .route("/@{scope}/{name}", axum::routing::get(packument_unescaped))
        .route("/@{scope}/{name}/-/{file}", axum::routing::get(tarball))
        .route("/@{scope}/{name}/-/{file}/-rev/{rev}", axum::routing::delete(unpublish_tarball))
        .route("/-/package/{package}/visibility", axum::routing::get(visibility))
        .route("/-/package/{package}/access", axum::routing::post(set_access))
        .route("/-/package/{package}/dist-tags", axum::routing::get(dist_tags))
        .route("/-/package/{package}/dist-tags/{tag}", axum::routing::put(set_dist_tag).delete(delete_dist_tag))
}

/// `@scope/name` (the `@` already stripped by the route or not) as a skill's names.
pub(super) fn parse_package(raw: &str) -> Result<(Namespace, SkillName), ErrorMessage> {
    let raw = raw.strip_prefix('@').unwrap_or(raw);
    let Some((scope, name)) = raw.split_once('/') else {
        return Err(not_found_unscoped(raw));
    };
    Ok((parse_scope(scope)?, parse_name(name)?))
}

fn parse_scope(scope: &str) -> Result<Namespace, ErrorMessage> {
    scope.parse().map_err(|e: crate::domain::InvalidValue| bad(format!("invalid package scope: {}", e.0)))
}

fn parse_name(name: &str) -> Result<SkillName, ErrorMessage> {
    name.parse().map_err(|e: crate::domain::InvalidValue| bad(format!("invalid package name: {}", e.0)))
}

fn not_found_unscoped(raw: &str) -> ErrorMessage {
    ErrorMessage(
        StatusCode::NOT_FOUND,
        format!("package `{}` not found: this registry serves scoped packages, @namespace/name", raw.escape_debug()),
    )
}

fn iso(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn whoami(caller: Result<Caller, ApiError>) -> Result<axum::Json<Value>, ErrorMessage> {
    let caller = authenticated(caller)?;
    let name = caller
        .username()
        .ok_or_else(|| ErrorMessage(StatusCode::UNAUTHORIZED, "you are not logged in to this registry".into()))?;
    Ok(axum::Json(json!({ "username": name })))
}

async fn packument(
    State(state): State<AppState>,
    Path(package): Path<String>,
    headers: HeaderMap,
    caller: Result<Caller, ApiError>,
) -> Result<Response, ErrorMessage> {
    let (scope, name) = parse_package(&package)?;
    serve_packument(&state, &headers, authenticated(caller)?, scope, name).await
}

async fn packument_unescaped(
    State(state): State<AppState>,
    Path((scope, name)): Path<(String, String)>,
    headers: HeaderMap,
    caller: Result<Caller, ApiError>,
) -> Result<Response, ErrorMessage> {
    let (scope, name) = (parse_scope(&scope)?, parse_name(&name)?);
    serve_packument(&state, &headers, authenticated(caller)?, scope, name).await
}

pub(super) async fn serve_packument(
    state: &AppState,
    headers: &HeaderMap,
    caller: Caller,
    scope: Namespace,
    name: SkillName,
) -> Result<Response, ErrorMessage> {
    let package = state.index.catalog().npm_package(&caller, &scope, &name).await?;
    let full = to_packument(&package, state.public_base());
    // `npm install` asks for the abbreviated form; `npm view` and others for the full one.
    let accept = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).unwrap_or_default();
    let (doc, content_type) =
        if accept.contains(ABBREVIATED) { (abbreviated(full), ABBREVIATED) } else { (full, "application/json") };
    let body = serde_json::to_vec(&doc).expect("JSON serializes");
    // npm caches packuments and revalidates them with If-None-Match. Last-Modified is the
    // packument's `time.modified`, for information: some changes (a yank, a signature checked
    // again) move no clock, so only the entity tag decides a 304.
    let tag = format!("\"{}\"", &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))[..32]);
    let modified = chrono::DateTime::from_timestamp_millis(package.skill.updated_at).unwrap_or_default();
    let headers_out = [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CACHE_CONTROL, "private, no-cache".to_owned()),
        (header::VARY, "Accept, Authorization".to_owned()),
        (header::LAST_MODIFIED, modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
    ];
    Ok(super::with_etag(headers, &tag, (headers_out, body)))
}

/// The media type of npm's abbreviated packument ("corgi"), which `npm install` asks for.
const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

/// A full packument cut down to what installing needs: no readme, no per-version
/// descriptions or keywords.
fn abbreviated(full: Value) -> Value {
    let versions: Map<String, Value> = full["versions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(v, manifest)| {
            let mut kept = Map::new();
            for key in ["name", "version", "dist", "deprecated"] {
                if let Some(value) = manifest.get(key) {
                    kept.insert(key.to_owned(), value.clone());
                }
            }
            (v.clone(), Value::Object(kept))
        })
        .collect();
    json!({
        "name": full["name"],
        "modified": full["time"]["modified"],
        "dist-tags": full["dist-tags"],
        "versions": versions,
    })
}

/// A skill as a full packument; a deprecated skill deprecates every version.
fn to_packument(p: &NpmPackage, base: &str) -> Value {
    let skill = &p.skill;
    let name = package_name(&skill.namespace, &skill.name);
    let mut versions = Map::new();
    let mut time = Map::new();
    for (v, dist) in &p.versions {
        let fm = &v.frontmatter;
        let unpacked: u64 = v.file_tree.iter().map(|f| f.size).sum();
        let mut manifest = json!({
            "_id": format!("{name}@{}", v.version),
            "name": name,
            "version": v.version,
            "description": fm.get("description").and_then(|d| d.as_str()).unwrap_or(&skill.description),
            "keywords": skill.tags,
            "dist": {
                "tarball": format!("{base}/@{}/{}/-/{}-{}.tgz", skill.namespace, skill.name, skill.name, v.version),
                "integrity": dist.integrity,
                "shasum": dist.shasum,
                "fileCount": v.file_count,
                "unpackedSize": unpacked,
            },
            "skilldex": {
                "reference": v.reference,
                "digest": v.digest,
                "signature": v.signature.as_ref().map(|s| s["status"].clone()),
            },
        });
        if let Some(license) = fm.get("license").and_then(|l| l.as_str()) {
            manifest["license"] = license.into();
        }
        if Lifecycle::of(skill, v) == Lifecycle::Deprecated {
            manifest["deprecated"] = deprecation_notice(skill).into();
        }
        versions.insert(v.version.clone(), manifest);
        time.insert(v.version.clone(), iso(v.published_at.unwrap_or(v.created_at)).into());
    }
    time.insert("created".into(), iso(skill.created_at).into());
    time.insert("modified".into(), iso(skill.updated_at).into());
    // Only tags that point at a listed version: npm refuses a dist-tag to nowhere.
    let dist_tags: Map<String, Value> = p
        .channels
        .iter()
        .filter_map(|c| Some((c.name.clone(), c.version.clone()?)))
        .filter(|(_, v)| versions.contains_key(v))
        .map(|(n, v)| (n, Value::String(v)))
        .collect();
    json!({
        "_id": name,
        "name": name,
        "description": skill.description,
        "dist-tags": dist_tags,
        "versions": versions,
        "time": time,
        "keywords": skill.tags,
        "readme": skill.readme,
        "maintainers": [],
    })
}

async fn tarball(
    State(state): State<AppState>,
    Path((scope, name, file)): Path<(String, String, String)>,
    caller: Result<Caller, ApiError>,
) -> Result<Response, ErrorMessage> {
    let caller = authenticated(caller)?;
    let (scope, name) = (parse_scope(&scope)?, parse_name(&name)?);
    let version = file
        .strip_prefix(&format!("{name}-"))
        .and_then(|rest| rest.strip_suffix(".tgz"))
        .ok_or_else(|| ErrorMessage(StatusCode::NOT_FOUND, format!("no tarball `{}`", file.escape_debug())))?;
    let bytes = state.index.catalog().npm_tarball(&caller, &scope, &name, version).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "private, max-age=31536000, immutable"),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    text: Option<String>,
    size: Option<String>,
    from: Option<String>,
}

/// `GET /-/v1/search?text=&size=&from=`: npm's search. `text` takes words and the
/// qualifiers `keywords:<tag>` and `scope:<namespace>`; hits come best first.
async fn search(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Query(p): Query<SearchParams>,
) -> Result<axum::Json<Value>, ErrorMessage> {
    let caller = authenticated(caller)?;
    let number = |raw: &Option<String>, what: &str, range: std::ops::RangeInclusive<i64>, default: i64| match raw {
        None => Ok(default),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| bad(format!("{what} must be a whole number from {} to {}", range.start(), range.end()))),
    };
    let size = number(&p.size, "size", 1..=MAX_SEARCH_SIZE, 20)?;
    let from = number(&p.from, "from", 0..=crate::service::MAX_OFFSET, 0)?;
    let mut req = SkillListRequest { published_only: true, offset: Some(from), ..Default::default() };
    let text = p.text.as_deref().unwrap_or("");
    if text.chars().count() > MAX_SEARCH_TEXT {
        return Err(bad(format!("text is longer than {MAX_SEARCH_TEXT} characters")));
    }
    let mut words = Vec::new();
    for word in text.split_whitespace() {
        match word.split_once(':') {
            Some(("keywords", tag)) => {
                req.tags.push(tag.parse::<Tag>().map_err(|e| bad(format!("invalid keyword: {}", e.0)))?);
            }
            Some(("scope", scope)) => req.namespace = Some(parse_scope(scope.strip_prefix('@').unwrap_or(scope))?),
            Some(("kind", kind)) => {
                req.kind = Some(kind.parse().map_err(|e: crate::domain::InvalidValue| bad(e.0))?);
            }
            _ => words.push(word),
        }
    }
    req.q = (!words.is_empty()).then(|| words.join(" "));
    req.sort = Some(if req.q.is_some() { SkillSort::Relevance } else { SkillSort::Downloads });
    // The service pages at most PAGE_MAX at a time: take as many pages as `size` asks for.
    // The first also tells how many skills match in all.
    let first = SkillListRequest { limit: Some(size.min(crate::service::limits::PAGE_MAX)), ..req.clone() };
    let (page, total) = state.index.catalog().list_skills_counted(&caller, first).await?;
    let mut full = page.items.len() as i64 == size.min(crate::service::limits::PAGE_MAX);
    let mut hits = page.items;
    let mut offset = from + hits.len() as i64;
    while full && (hits.len() as i64) < size && offset <= crate::service::MAX_OFFSET {
        let limit = (size - hits.len() as i64).min(crate::service::limits::PAGE_MAX);
        let page_req = SkillListRequest { offset: Some(offset), limit: Some(limit), ..req.clone() };
        let page = state.index.catalog().list_skills(&caller, page_req).await?.items;
        full = page.len() as i64 == limit;
        offset += page.len() as i64;
        hits.extend(page);
    }
    let base = state.public_base();
    let best = hits.iter().map(|h| h.rank).fold(0.0_f64, f64::max);
    let objects: Vec<Value> = hits
        .iter()
        .map(|hit| {
            let s = &hit.skill;
            let name = package_name(&s.namespace, &s.name);
            let relevance = if best > 0.0 { hit.rank / best } else { 1.0 };
            let detail = ScoreDetail::of(s);
            let final_score =
                0.6 * relevance + 0.15 * detail.quality + 0.15 * detail.popularity + 0.1 * detail.maintenance;
            let mut object = json!({
                "package": {
                    "name": name,
                    "scope": s.namespace,
                    "version": s.latest_version,
                    "description": s.description,
                    "keywords": s.tags,
                    "date": iso(s.updated_at),
                    "links": {
                        "npm": format!("{base}/@{}/{}", s.namespace, s.name),
                        "homepage": format!("{base}/api/v1/skills/{}/{}", s.namespace, s.name),
                    },
                    "maintainers": [],
                },
                "score": {
                    "final": final_score,
                    "detail": { "quality": detail.quality, "popularity": detail.popularity,
                        "maintenance": detail.maintenance },
                },
                "searchScore": hit.rank,
            });
            if s.deprecated {
                object["flags"] = json!({ "deprecated": s.deprecated_message.clone().unwrap_or_default() });
            }
            object
        })
        .collect();
    Ok(axum::Json(json!({ "objects": objects, "total": total, "time": iso(crate::domain::now_millis()) })))
}

/// The body `npm publish` PUTs: the package document with one new version and its
/// tarball as a base64 attachment.
#[derive(Debug, Deserialize)]
struct PublishBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "dist-tags")]
    dist_tags: Map<String, Value>,
    versions: Map<String, Value>,
    #[serde(default)]
    access: Option<String>,
    /// None (or empty) in what `npm deprecate` sends back.
    #[serde(default, rename = "_attachments")]
    attachments: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
struct Attachment {
    data: String,
    #[serde(default)]
    length: Option<u64>,
}

/// npm's `score.detail`, computed from what the index knows of a skill, each in 0–1.
struct ScoreDetail {
    /// The share of three things a reader needs that the skill has: a description, a README
    /// of at least 100 characters, at least one tag.
    quality: f64,
    /// Downloads and stars, each saturating: `0.8 · d/(d+100) + 0.2 · s/(s+10)`.
    popularity: f64,
    /// 0 when deprecated or archived, else 1.
    maintenance: f64,
}

impl ScoreDetail {
    fn of(s: &crate::store::Skill) -> Self {
        let has = [!s.description.trim().is_empty(), s.readme.trim().chars().count() >= 100, !s.tags.is_empty()];
        let quality = has.iter().filter(|h| **h).count() as f64 / has.len() as f64;
        let (d, st) = (s.downloads.max(0) as f64, s.stars.max(0) as f64);
        let popularity = 0.8 * d / (d + 100.0) + 0.2 * st / (st + 10.0);
        let maintenance = if s.deprecated || s.archived { 0.0 } else { 1.0 };
        Self { quality, popularity, maintenance }
    }
}

/// The package document a PUT carries, for the package its path names. Every such PUT
/// (publish, deprecate, unpublish) needs the publisher role in the package's scope, so the
/// body is read only once the caller has it: anyone else is refused first, whatever the body.
async fn package_document(
    state: &AppState,
    caller: &Caller,
    package: &str,
    (headers, body): (&HeaderMap, axum::body::Body),
) -> Result<(Namespace, SkillName, PublishBody), ErrorMessage> {
    let (scope, slug) = parse_package(package)?;
    state.index.require_publisher_in(caller, &scope).await?;
    let body = super::read_body(headers, body, state.index.limits().npm_publish_body(), BODY_TIMEOUT).await?;
    let doc: PublishBody =
        super::wire::from_object(&body).map_err(|e| bad(format!("invalid package document: {e}")))?;
    let name = package_name(&scope, &slug);
    if doc.name != name {
        return Err(bad(format!("the document names `{}`, not `{name}`", doc.name.escape_debug())));
    }
    Ok((scope, slug, doc))
}

/// `PUT /@scope%2fname`: `npm publish`, onto upload publishing. The version must be new
/// (409 otherwise); `dist.integrity` and `dist.shasum`, when sent, must match the tarball.
/// A dist-tag other than `latest` (which follows the highest version) sets that channel.
/// Without attachments it is `npm deprecate` sending the packument back.
async fn publish(
    State(state): State<AppState>,
    Path(package): Path<String>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, axum::Json<Value>), ErrorMessage> {
    publish_package(&state, &authenticated(caller)?, &package, &headers, body).await
}

/// A package document PUT to `package` (`@scope/name`, the `@` optional), as `npm publish`
/// and `npm deprecate` send it.
pub(super) async fn publish_package(
    state: &AppState,
    caller: &Caller,
    package: &str,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, axum::Json<Value>), ErrorMessage> {
    let (scope, slug, mut doc) = package_document(state, caller, package, (headers, body)).await?;
    let name = package_name(&scope, &slug);
    let attachments = doc.attachments.take().unwrap_or_default();
    if attachments.is_empty() {
        apply_change(state, caller, (&scope, &slug), &doc).await?;
        return Ok((StatusCode::OK, axum::Json(json!({ "ok": true, "id": name }))));
    }
    let Publish { version, tarball, visibility, keywords, tags } = read_publish(&doc, &attachments)?;
    let draft = SkillDraft {
        namespace: scope.clone(),
        name: slug.clone(),
        display_name: None,
        description: doc.description.filter(|d| !d.trim().is_empty()),
        readme: None,
        visibility: Some(visibility),
        tags: (!keywords.is_empty()).then_some(keywords),
        skill_type: None,
        kind: None,
    };
    // Moving a dist-tag other than `latest` is a channel move, which agent tokens never make:
    // refused before anything is stored.
    if !tags.is_empty() {
        caller.require(crate::domain::TokenScope::Write)?;
    }
    let plan = PublishPlan::creating(draft, version.clone(), ArtifactSource::NpmTarball(tarball));
    let stored = state.index.publishing().publish(caller, plan).await?.version;
    for (channel, target) in tags.iter().filter(|(_, v)| *v == stored.version) {
        state.index.catalog().set_channel(caller, &scope, &slug, channel, target).await?;
    }
    Ok((StatusCode::CREATED, axum::Json(json!({ "ok": true, "id": name, "version": stored.version }))))
}

/// What a publish document carries, read and checked before anything is stored.
struct Publish {
    version: String,
    tarball: Vec<u8>,
    visibility: Visibility,
    keywords: Vec<Tag>,
    tags: Vec<(ChannelName, String)>,
}

/// Reads the one version and its tarball attachment out of a publish document.
fn read_publish(doc: &PublishBody, attachments: &Map<String, Value>) -> Result<Publish, ErrorMessage> {
    let [(version, manifest)] = doc.versions.iter().collect::<Vec<_>>()[..] else {
        return Err(bad("a publish carries exactly one version"));
    };
    let [(_, attachment)] = attachments.iter().collect::<Vec<_>>()[..] else {
        return Err(bad("a publish carries exactly one tarball attachment"));
    };
    if !attachment.is_object() {
        return Err(bad("invalid attachment: expected a JSON object"));
    }
    let attachment: Attachment =
        serde_json::from_value(attachment.clone()).map_err(|e| bad(format!("invalid attachment: {e}")))?;
    let tarball = B64.decode(attachment.data.trim()).map_err(|_| bad("the attachment's data is not base64"))?;
    if attachment.length.is_some_and(|l| l != tarball.len() as u64) {
        return Err(bad(format!(
            "the attachment is {} bytes, not the {} its length says",
            tarball.len(),
            attachment.length.unwrap_or(0)
        )));
    }
    check_dist(manifest, &tarball)?;
    // As on npm's own registry, a new scoped package is restricted unless published public.
    let visibility = doc.access.as_deref().map(access).transpose()?.unwrap_or(Visibility::Private);
    let keywords: Vec<Tag> = manifest["keywords"]
        .as_array()
        .map(|k| k.iter().filter_map(|t| t.as_str()?.to_lowercase().parse().ok()).collect())
        .unwrap_or_default();
    let tags: Vec<(ChannelName, String)> = doc
        .dist_tags
        .iter()
        .filter(|(tag, _)| tag.as_str() != "latest")
        .map(|(tag, v)| {
            let channel = tag.parse::<ChannelName>().map_err(|e| bad(format!("invalid dist-tag: {}", e.0)))?;
            Ok((channel, v.as_str().unwrap_or_default().to_owned()))
        })
        .collect::<Result<_, ErrorMessage>>()?;
    Ok(Publish { version: version.clone(), tarball, visibility, keywords, tags })
}

/// A publish body's bytes read as the server reads them, up to the tarball's bundle rules
/// (the parser fuzzers' entry).
#[cfg(feature = "test-util")]
#[doc(hidden)]
pub fn parse_publish_body(body: &[u8]) {
    let Ok(mut doc) = super::wire::from_object::<PublishBody>(body) else { return };
    let attachments = doc.attachments.take().unwrap_or_default();
    if let Ok(p) = read_publish(&doc, &attachments) {
        let _ = crate::bundle::Bundle::from_npm_tarball(&p.tarball, &crate::bundle::Limits::default());
    }
}

/// The versions of a packument sent back, with their deprecation notices, as the service
/// takes them.
async fn apply_change(
    state: &AppState,
    caller: &Caller,
    (scope, slug): (&Namespace, &SkillName),
    doc: &PublishBody,
) -> Result<(), ErrorMessage> {
    let wanted = doc
        .versions
        .iter()
        .map(|(version, manifest)| match &manifest["deprecated"] {
            Value::Null => Ok((version.clone(), None)),
            Value::String(notice) => Ok((version.clone(), Some(notice.clone()))),
            _ => Err(bad(format!("`deprecated` of {} must be a string", version.escape_debug()))),
        })
        .collect::<Result<_, ErrorMessage>>()?;
    state.index.catalog().npm_change(caller, (scope, slug), wanted).await?;
    Ok(())
}

/// `PUT /@scope%2fname/-rev/<rev>`: `npm unpublish @scope/name@version` sends the packument
/// back without that version, which is then yanked.
async fn unpublish_versions(
    State(state): State<AppState>,
    Path((package, _rev)): Path<(String, String)>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<axum::Json<Value>, ErrorMessage> {
    let caller = authenticated(caller)?;
    let (scope, slug, doc) = package_document(&state, &caller, &package, (&headers, body)).await?;
    if doc.attachments.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(bad("an unpublish carries no attachments"));
    }
    apply_change(&state, &caller, (&scope, &slug), &doc).await?;
    Ok(axum::Json(json!({ "ok": true })))
}

/// `DELETE /@scope%2fname/-rev/<rev>`: `npm unpublish` of a whole package deletes the skill
/// (softly: its owners can restore it, and its name stays taken).
async fn unpublish_package(
    State(state): State<AppState>,
    Path((package, _rev)): Path<(String, String)>,
    caller: Result<Caller, ApiError>,
) -> Result<axum::Json<Value>, ErrorMessage> {
    let caller = authenticated(caller)?;
    let (scope, slug) = parse_package(&package)?;
    state.index.catalog().delete_skill(&caller, &scope, &slug).await?;
    Ok(axum::Json(json!({ "ok": true })))
}

/// `DELETE /@scope/name/-/name-<version>.tgz/-rev/<rev>`, the last step of unpublishing a
/// version: its tarball stays, so lockfiles that pin it keep installing.
async fn unpublish_tarball(
    State(state): State<AppState>,
    Path((scope, name, _file, _rev)): Path<(String, String, String, String)>,
    caller: Result<Caller, ApiError>,
) -> Result<axum::Json<Value>, ErrorMessage> {
    let caller = authenticated(caller)?;
    let (scope, name) = (parse_scope(&scope)?, parse_name(&name)?);
    state.index.catalog().get_skill(&caller, &scope, &name).await?;
    Ok(axum::Json(json!({ "ok": true })))
}

/// npm's access levels as visibilities (`private` is what `npm access set status=private` means).
fn access(level: &str) -> Result<Visibility, ErrorMessage> {
    match level {
        "public" => Ok(Visibility::Public),
        "restricted" | "private" => Ok(Visibility::Private),
        other => Err(bad(format!("access must be public or restricted, not `{}`", other.escape_debug()))),
    }
}

/// `npm access get status`: whether the package is public.
async fn visibility(
    State(state): State<AppState>,
    Path(package): Path<String>,
    caller: Result<Caller, ApiError>,
) -> Result<axum::Json<Value>, ErrorMessage> {
    let caller = authenticated(caller)?;
    let (scope, name) = parse_package(&package)?;
    let skill = state.index.catalog().get_skill(&caller, &scope, &name).await?;
    Ok(axum::Json(json!({ "public": skill.visibility == Visibility::Public })))
}

/// `npm access set status=public|private`: the skill's visibility.
async fn set_access(
    State(state): State<AppState>,
    Path(package): Path<String>,
    caller: Result<Caller, ApiError>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ErrorMessage> {
    let caller = authenticated(caller)?;
    let (scope, name) = parse_package(&package)?;
    let body: Map<String, Value> =
        serde_json::from_slice(&body?).map_err(|e| bad(format!("invalid access document: {e}")))?;
    let Some(wanted) = body.get("access").and_then(Value::as_str) else {
        return Err(bad("skilldex sets only a package's access (public or restricted); it has no MFA setting"));
    };
    let visibility = access(wanted)?;
    let patch = crate::domain::SkillPatch { visibility: Some(visibility), ..Default::default() };
    state.index.catalog().update_skill(&caller, &scope, &name, patch).await?;
    Ok(StatusCode::OK)
}

/// The digests npm computed for the tarball it sends must be the tarball's.
fn check_dist(manifest: &Value, tarball: &[u8]) -> Result<(), ErrorMessage> {
    let wrong = |what: &str| ErrorMessage(StatusCode::BAD_REQUEST, format!("the tarball does not match its {what}"));
    if let Some(sent) = manifest["dist"]["integrity"].as_str()
        && sent.starts_with("sha512-")
        && sent != crate::service::integrity(tarball)
    {
        return Err(wrong("dist.integrity"));
    }
    if let Some(sent) = manifest["dist"]["shasum"].as_str() {
        use sha1::Digest as _;
        if !sent.eq_ignore_ascii_case(&hex::encode(sha1::Sha1::digest(tarball))) {
            return Err(wrong("dist.shasum"));
        }
    }
    Ok(())
}

async fn dist_tags(
    State(state): State<AppState>,
    Path(package): Path<String>,
    caller: Result<Caller, ApiError>,
) -> Result<axum::Json<Map<String, Value>>, ErrorMessage> {
    let caller = authenticated(caller)?;
    let (scope, name) = parse_package(&package)?;
    let channels = state.index.catalog().channels(&caller, &scope, &name).await?;
    Ok(axum::Json(channels.into_iter().filter_map(|c| Some((c.name, Value::String(c.version?)))).collect()))
}

/// `npm dist-tag add @scope/name@version tag`: the body is the version as a JSON string.
async fn set_dist_tag(
    State(state): State<AppState>,
    Path((package, tag)): Path<(String, String)>,
    caller: Result<Caller, ApiError>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ErrorMessage> {
    let caller = authenticated(caller)?;
    let (scope, name) = parse_package(&package)?;
    let channel: ChannelName = tag.parse().map_err(|e: crate::domain::InvalidValue| bad(e.0))?;
    let body = body?;
    let version: String =
        serde_json::from_slice(&body).map_err(|_| bad("the body must be the version, as a JSON string"))?;
    state.index.catalog().set_channel(&caller, &scope, &name, &channel, &version).await?;
    Ok(axum::Json(json!({ "ok": true })))
}

async fn delete_dist_tag(
    State(state): State<AppState>,
    Path((package, tag)): Path<(String, String)>,
    caller: Result<Caller, ApiError>,
) -> Result<axum::Json<Value>, ErrorMessage> {
    let caller = authenticated(caller)?;
    let (scope, name) = parse_package(&package)?;
    state.index.catalog().delete_channel(&caller, &scope, &name, &tag).await?;
    Ok(axum::Json(json!({ "ok": true })))
}
