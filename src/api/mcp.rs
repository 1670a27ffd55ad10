//! The MCP endpoint: `/mcp`, the Model Context Protocol over streamable HTTP (JSON-RPC 2.0,
//! answered as plain JSON). Three tools, `search_skills`, `get_skill` and `install_skill`, are
//! thin translations over the same listing, visibility and resolve rules as every surface,
//! with the same Bearer tokens. A skill that is missing (or private to someone else) is a
//! tool result with `isError: true`, never a protocol error.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::limits::Spender;
use crate::domain::{Namespace, SkillName, SkillSort, Tag};
use crate::ratelimit::{Class, Decision};
use crate::service::{self, Caller, Lifecycle, SearchMode, SkillListRequest};

/// Protocol versions this endpoint speaks, newest first (the initialize handshake era).
const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// At most this many messages in one batch.
const MAX_BATCH: usize = 32;
/// `install_skill` returns files inline up to this many bytes; larger skills are pulled by
/// reference instead.
const MAX_INLINE_BYTES: usize = 8 << 20;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const UNAUTHORIZED: i64 = -32001;
/// The caller's budget for MCP calls is spent (HTTP 429, `Retry-After`).
const RATE_LIMITED: i64 = -32029;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mcp", axum::routing::post(post_mcp).get(no_stream).delete(|| async { StatusCode::METHOD_NOT_ALLOWED }))
}

/// Server-initiated messages are never sent, so there is no stream to open.
async fn no_stream() -> Response {
    let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn error(id: Value, code: i64, message: impl Into<String>) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message.into() } })
}

/// A request refused before it was read (its budget is spent, or the database cannot say
/// who is calling), in JSON-RPC's shape with the HTTP status every surface gives it.
pub(super) fn refuse(e: service::Error) -> Response {
    let code = match e {
        service::Error::RateLimited(_) => RATE_LIMITED,
        _ => -32603,
    };
    let super::error::ErrorMessage(status, message) = e.into();
    reply(status, error(Value::Null, code, message))
}

/// A bad token: 401 with a challenge, in JSON-RPC's shape.
fn unauthorized() -> Response {
    let mut r =
        reply(StatusCode::UNAUTHORIZED, error(Value::Null, UNAUTHORIZED, "invalid, expired or revoked API token"));
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

async fn post_mcp(
    State(state): State<AppState>,
    caller: Result<Caller, super::error::ApiError>,
    spender: Option<axum::Extension<Spender>>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    serve_messages(&state, None, caller, spender.map(|s| s.0), body).await
}

/// skill-pool's `/v1/mcp`: the same endpoint on one tenant, whose namespace the tools default
/// to, plus `get_project_plan`.
pub async fn post_tenant_mcp(
    State(state): State<AppState>,
    super::skill_pool::Tenant(tenant): super::skill_pool::Tenant,
    caller: Result<Caller, super::error::ApiError>,
    spender: Option<axum::Extension<Spender>>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    serve_messages(&state, Some(&tenant), caller, spender.map(|s| s.0), body).await
}

/// A message or a batch, answered.
async fn serve_messages(
    state: &AppState,
    tenant: Option<&Namespace>,
    caller: Result<Caller, super::error::ApiError>,
    spender: Option<Spender>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return reply(r.status(), error(Value::Null, INVALID_REQUEST, "the message is too large"));
        }
        Err(r) => return reply(StatusCode::BAD_REQUEST, error(Value::Null, INVALID_REQUEST, r.body_text())),
    };
    let caller = match caller {
        Ok(c) => c,
        Err(super::error::ApiError::BadRequest(m)) => {
            return reply(StatusCode::BAD_REQUEST, error(Value::Null, INVALID_REQUEST, m));
        }
        // An outage is not a bad token: the client must not drop its credentials over it.
        Err(super::error::ApiError::Service(e)) if !matches!(e, service::Error::Unauthenticated(_)) => {
            return refuse(e);
        }
        Err(_) => return unauthorized(),
    };
    let message: Value = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return reply(StatusCode::BAD_REQUEST, error(Value::Null, PARSE_ERROR, format!("parse error: {e}"))),
    };
    match message {
        Value::Array(batch) => {
            if batch.is_empty() || batch.len() > MAX_BATCH {
                let m = format!("a batch holds 1 to {MAX_BATCH} messages");
                return reply(StatusCode::BAD_REQUEST, error(Value::Null, INVALID_REQUEST, m));
            }
            let mut answers = Vec::new();
            for (i, m) in batch.into_iter().enumerate() {
                // The request paid for its first message; each further one is a call of its own.
                let refused = match &spender {
                    Some(s) => charge(s, &m, i > 0).await,
                    None => None,
                };
                match refused {
                    Some(decision) => answers.push(error(
                        m.get("id").cloned().unwrap_or(Value::Null),
                        RATE_LIMITED,
                        super::limits::refusal(&decision),
                    )),
                    None => answers.extend(handle(state, tenant, &caller, m).await),
                }
            }
            if answers.is_empty() {
                StatusCode::ACCEPTED.into_response()
            } else {
                reply(StatusCode::OK, Value::Array(answers))
            }
        }
        single => {
            if let Some(decision) = match &spender {
                Some(s) => charge(s, &single, false).await,
                None => None,
            } {
                let id = single.get("id").cloned().unwrap_or(Value::Null);
                let mut r =
                    reply(StatusCode::TOO_MANY_REQUESTS, error(id, RATE_LIMITED, super::limits::refusal(&decision)));
                super::limits::stamp(r.headers_mut(), &decision);
                return r;
            }
            match handle(state, tenant, &caller, single).await {
                Some(answer) => reply(StatusCode::OK, answer),
                None => StatusCode::ACCEPTED.into_response(),
            }
        }
    }
}

/// What one message spends beyond its request: another MCP call when it is not the first
/// of a batch, a search when it searches by words. The refusal, if any.
async fn charge(spender: &Spender, message: &Value, extra_call: bool) -> Option<Decision> {
    if extra_call && let Err(d) = spender.spend(Class::Mcp).await {
        return Some(d);
    }
    let searches = message.get("method").and_then(Value::as_str) == Some("tools/call")
        && message.pointer("/params/name").and_then(Value::as_str) == Some("search_skills")
        && message.pointer("/params/arguments/query").and_then(Value::as_str).is_some_and(|q| !q.trim().is_empty());
    if searches && let Err(d) = spender.spend(Class::Search).await {
        return Some(d);
    }
    None
}

/// One message: the answer to a request, or nothing for notifications and responses.
async fn handle(state: &AppState, tenant: Option<&Namespace>, caller: &Caller, message: Value) -> Option<Value> {
    let Value::Object(m) = message else {
        return Some(error(Value::Null, INVALID_REQUEST, "a JSON-RPC message is an object"));
    };
    let id = m.get("id").cloned();
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some(error(id.unwrap_or(Value::Null), INVALID_REQUEST, "`jsonrpc` must be \"2.0\""));
    }
    let method = match m.get("method") {
        Some(Value::String(method)) => method.clone(),
        Some(_) => return Some(error(id.unwrap_or(Value::Null), INVALID_REQUEST, "`method` must be a string")),
        // A response to something this server never asked: nothing to do.
        None => return None,
    };
    // A notification (`notifications/initialized`, `notifications/cancelled`, …) is acknowledged.
    let id = id?;
    if !(id.is_string() || id.is_i64() || id.is_u64()) {
        return Some(error(Value::Null, INVALID_REQUEST, "`id` must be a string or an integer"));
    }
    let params = m.get("params").cloned().unwrap_or_else(|| json!({}));
    if !params.is_object() {
        return Some(error(id, INVALID_PARAMS, "`params` must be an object"));
    }
    Some(match request(state, tenant, caller, &method, params).await {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err((code, message)) => error(id, code, message),
    })
}

async fn request(
    state: &AppState,
    tenant: Option<&Namespace>,
    caller: &Caller,
    method: &str,
    params: Value,
) -> Result<Value, (i64, String)> {
    match method {
        "initialize" => {
            let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or_default();
            let version = PROTOCOL_VERSIONS.iter().find(|v| **v == asked).unwrap_or(&PROTOCOL_VERSIONS[0]);
            Ok(json!({
                "protocolVersion": version,
                "capabilities": { "tools": { "listChanged": false } },
                "serverInfo": { "name": "skilldex", "title": "skilldex skill registry", "version": env!("CARGO_PKG_VERSION") },
                "instructions": "Find agent skills with search_skills, read one with get_skill, and fetch its files, pinned by digest, with install_skill.",
            }))
        }
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": tools(tenant.is_some()) })),
        "tools/call" => {
            let name =
                params.get("name").and_then(Value::as_str).ok_or((INVALID_PARAMS, "`name` is required".into()))?;
            let arguments = params.get("arguments").cloned().unwrap_or_else(|| json!({}));
            let outcome = match name {
                "search_skills" => search_skills(state, tenant, caller, arguments).await,
                "get_skill" => get_skill(state, tenant, caller, arguments).await,
                "install_skill" => install_skill(state, tenant, caller, arguments).await,
                "get_project_plan" if tenant.is_some() => {
                    get_project_plan(state, tenant.expect("checked"), caller, arguments).await
                }
                other => return Err((INVALID_PARAMS, format!("unknown tool `{other}`"))),
            };
            Ok(outcome.unwrap_or_else(|message| json!({ "content": [text(message)], "isError": true })))
        }
        other => Err((METHOD_NOT_FOUND, format!("method `{other}` not found"))),
    }
}

/// The tools; on a tenant (`/v1/mcp`) the namespace is the tenant's unless named, a skill
/// may be named by `slug` (skill-pool's word), and `get_project_plan` is there too.
fn tools(on_tenant: bool) -> Value {
    let mut skill_args = json!({
        "type": "object",
        "properties": {
            "namespace": { "type": "string", "description": "The skill's namespace, e.g. `acme` or `io.github.acme`" },
            "name": { "type": "string", "description": "The skill's name" },
            "version": { "type": "string", "description": "An exact version (1.2.3), a range (^1.2) or a channel (stable); default: latest" },
            "kind": { "type": "string", "enum": ["skill", "agent", "command"], "description": "What it must be (default: any)" },
        },
        "required": ["namespace", "name"],
        "additionalProperties": false,
    });
    if on_tenant {
        skill_args["properties"]["slug"] = json!({ "type": "string", "description": "The skill's name (as `name`)" });
        skill_args["required"] = json!([]);
    }
    let mut tools = json!([
        {
            "name": "search_skills",
            "title": "Search skills",
            "description": "Search the skill registry by text, tags and namespace. Returns matching skills with their latest version, best matches first.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": { "type": "string", "description": "Words to look for in names, descriptions, tags and READMEs" },
                    "tags": { "type": "array", "items": { "type": "string" }, "description": "Only skills carrying all of these tags" },
                    "namespace": { "type": "string", "description": "Only skills in this namespace" },
                    "kind": { "type": "string", "enum": ["skill", "agent", "command"], "description": "Only skills of this kind (default: every kind)" },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 50, "description": "At most this many results (default 10)" },
                },
                "additionalProperties": false,
            },
            "annotations": { "readOnlyHint": true, "openWorldHint": false },
        },
        {
            "name": "get_skill",
            "title": "Read a skill",
            "description": "The SKILL.md of a skill version, with its metadata: version, digest, status, files.",
            "inputSchema": skill_args,
            "annotations": { "readOnlyHint": true, "openWorldHint": false },
        },
        {
            "name": "install_skill",
            "title": "Install a skill",
            "description": "Resolves a skill version to an immutable digest reference and returns every file of the skill, to be written under the agent's skills directory (e.g. .claude/skills/<name>/).",
            "inputSchema": skill_args,
            "annotations": { "readOnlyHint": true, "openWorldHint": false },
        },
    ]);
    if on_tenant {
        tools[0]["inputSchema"]["properties"]["semantic"] =
            json!({ "type": "string", "description": "Rank by meaning instead of words" });
        let plan = json!({
            "name": "get_project_plan",
            "title": "Read a project's plan",
            "description": "The plan imported for a project of this tenant, as Markdown, with its version and SHA-256.",
            "inputSchema": {
                "type": "object",
                "properties": { "project_slug": { "type": "string", "description": "The project's slug" } },
                "required": ["project_slug"],
                "additionalProperties": false,
            },
            "annotations": { "readOnlyHint": true, "openWorldHint": false },
        });
        tools.as_array_mut().expect("a list").push(plan);
    }
    tools
}

fn text(s: impl Into<String>) -> Value {
    json!({ "type": "text", "text": s.into() })
}

/// What a tool says when the index refuses: the same words as every surface, no internals.
fn tool_error(e: service::Error) -> String {
    e.public_message()
}

/// A tool's arguments, which MCP sends as an object (serde would also read them from a list).
fn arguments<T: for<'de> Deserialize<'de>>(arguments: Value) -> Result<T, String> {
    if !arguments.is_object() {
        return Err("invalid arguments: expected a JSON object".into());
    }
    serde_json::from_value(arguments).map_err(|e| format!("invalid arguments: {e}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    namespace: Option<String>,
    kind: Option<String>,
    limit: Option<i64>,
    /// On a tenant: rank by meaning (skill-pool's `semantic`, which wins over `query`).
    semantic: Option<String>,
}

async fn search_skills(
    state: &AppState,
    tenant: Option<&Namespace>,
    caller: &Caller,
    args: Value,
) -> Result<Value, String> {
    let args: SearchArgs = arguments(args)?;
    if args.semantic.is_some() && tenant.is_none() {
        return Err("invalid arguments: unknown field `semantic`".into());
    }
    let limit = args.limit.unwrap_or(10);
    if !(1..=50).contains(&limit) {
        return Err("`limit` must be between 1 and 50".into());
    }
    let namespace = args.namespace.map(|n| n.parse::<Namespace>().map_err(|e| e.0)).transpose()?.or(tenant.cloned());
    let tags = args.tags.iter().map(|t| t.parse::<Tag>().map_err(|e| e.0)).collect::<Result<Vec<_>, _>>()?;
    let kind = args.kind.map(|k| k.parse::<crate::domain::SkillKind>().map_err(|e| e.0)).transpose()?;
    let semantic = args.semantic.filter(|q| !q.trim().is_empty());
    let query = semantic.clone().or(args.query).filter(|q| !q.trim().is_empty());
    // Agents ask in their own words: by meaning and by words at once, when the server can.
    let worded = query.as_deref().is_some_and(|q| q.chars().any(char::is_alphanumeric));
    let mode = match (semantic.is_some(), worded && state.index.semantic_enabled()) {
        (true, _) => SearchMode::Semantic,
        (false, true) => SearchMode::Hybrid,
        (false, false) => SearchMode::Keyword,
    };
    let req = SkillListRequest {
        mode,
        sort: Some(if query.is_some() { SkillSort::Relevance } else { SkillSort::Downloads }),
        q: query,
        namespace,
        tags,
        kind,
        limit: Some(limit),
        published_only: true,
        ..Default::default()
    };
    let page = state.index.catalog().list_skills(caller, req).await.map_err(tool_error)?;
    let skills: Vec<Value> = page
        .items
        .iter()
        .map(|h| {
            let s = &h.skill;
            json!({
                "namespace": s.namespace, "name": s.name, "title": s.display_name, "description": s.description,
                "version": s.latest_version, "tags": s.tags, "kind": s.kind,
                "status": Lifecycle::of_listed(s).as_str(),
                "downloads": s.downloads, "stars": s.stars,
            })
        })
        .collect();
    let found = json!({ "count": skills.len(), "skills": skills });
    let summary = if skills.is_empty() {
        "No skills match.".to_owned()
    } else {
        serde_json::to_string_pretty(&found).expect("json")
    };
    Ok(json!({ "content": [text(summary)], "structuredContent": found }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkillArgs {
    namespace: Option<String>,
    name: Option<String>,
    /// On a tenant: skill-pool's word for `name`.
    slug: Option<String>,
    version: Option<String>,
    kind: Option<String>,
}

/// The skill a tool is asked about, and the kind it must be, if any.
struct Named {
    namespace: Namespace,
    name: SkillName,
    version: Option<String>,
    kind: Option<crate::domain::SkillKind>,
}

impl SkillArgs {
    fn parse(args: Value, tenant: Option<&Namespace>) -> Result<Named, String> {
        let a: SkillArgs = arguments(args)?;
        if a.slug.is_some() && tenant.is_none() {
            return Err("invalid arguments: unknown field `slug`".into());
        }
        let namespace = match a.namespace {
            Some(n) => n.parse::<Namespace>().map_err(|e| e.0)?,
            None => tenant.cloned().ok_or("invalid arguments: missing field `namespace`")?,
        };
        let name = a.name.or(a.slug).ok_or("invalid arguments: missing field `name`")?;
        let name = name.parse::<SkillName>().map_err(|e| e.0)?;
        let kind = a.kind.map(|k| k.parse::<crate::domain::SkillKind>().map_err(|e| e.0)).transpose()?;
        Ok(Named { namespace, name, version: a.version.filter(|v| !v.is_empty()), kind })
    }
}

impl Named {
    /// The skill named, parsed from a tool's arguments; one of another kind than asked is as
    /// missing as one that does not exist.
    async fn find(state: &AppState, tenant: Option<&Namespace>, caller: &Caller, args: Value) -> Result<Self, String> {
        let named = SkillArgs::parse(args, tenant)?;
        let skill = state.index.catalog().get_skill(caller, &named.namespace, &named.name).await.map_err(tool_error)?;
        match named.kind {
            Some(kind) if kind != skill.kind => Err(format!("no {kind} `{}/{}`", named.namespace, named.name)),
            _ => Ok(named),
        }
    }
}

/// A resolved version as the tools describe it.
fn describe(r: &service::Resolved, bundle: &crate::bundle::Bundle) -> Value {
    let (s, v) = (&r.skill, &r.version);
    let files: Vec<Value> = bundle.files.iter().map(|f| json!({ "path": f.path, "size": f.data.len() })).collect();
    let signature: Option<Value> = v.signature.clone();
    json!({
        "namespace": s.namespace, "name": s.name, "title": s.display_name,
        "description": bundle.skill.frontmatter.description,
        "version": v.version, "status": Lifecycle::of(s, v).as_str(),
        "reference": v.reference, "digest": v.digest,
        "signature": signature.as_ref().and_then(|sig| sig.get("status")).cloned(),
        "files": files,
    })
}

async fn get_skill(
    state: &AppState,
    tenant: Option<&Namespace>,
    caller: &Caller,
    args: Value,
) -> Result<Value, String> {
    let named = Named::find(state, tenant, caller, args).await?;
    let (ns, name, version) = (&named.namespace, &named.name, named.version.as_deref());
    let resolved = state.index.catalog().view(caller, ns, name, version).await.map_err(tool_error)?;
    let bundle = state.index.catalog().files(&resolved).await.map_err(tool_error)?;
    let skill_md =
        bundle.files.iter().find(|f| f.path == crate::bundle::SKILL_MD).map(|f| f.data.clone()).unwrap_or_default();
    let metadata = describe(&resolved, &bundle);
    Ok(json!({
        "content": [text(String::from_utf8_lossy(&skill_md)), text(serde_json::to_string_pretty(&metadata).expect("json"))],
        "structuredContent": metadata,
    }))
}

async fn install_skill(
    state: &AppState,
    tenant: Option<&Namespace>,
    caller: &Caller,
    args: Value,
) -> Result<Value, String> {
    let Named { namespace: ns, name, version, .. } = Named::find(state, tenant, caller, args).await?;
    let resolved = state.index.catalog().download(caller, &ns, &name, version.as_deref()).await.map_err(tool_error)?;
    let bundle = state.index.catalog().files(&resolved).await.map_err(tool_error)?;
    let pinned = resolved.version.reference.clone();
    let total: usize = bundle.files.iter().map(|f| f.data.len()).sum();
    if total > MAX_INLINE_BYTES {
        return Err(format!(
            "{ns}/{name}@{} is {total} bytes, more than can be returned inline; pull {pinned} with `skilldex install` or any OCI client",
            resolved.version.version
        ));
    }
    let base = format!("skilldex://{ns}/{name}@{}", resolved.version.version);
    let mut content = vec![text(format!(
        "{ns}/{name}@{} resolved to {pinned}. Write each file below under the skills directory as {name}/<path>.",
        resolved.version.version
    ))];
    for f in &bundle.files {
        let uri = format!("{base}/{}", f.path);
        let resource = match std::str::from_utf8(&f.data) {
            Ok(t) => json!({ "uri": uri, "mimeType": mime_for(&f.path), "text": t }),
            Err(_) => json!({ "uri": uri, "mimeType": "application/octet-stream", "blob": B64.encode(&f.data) }),
        };
        content.push(json!({ "type": "resource", "resource": resource }));
    }
    let mut metadata = describe(&resolved, &bundle);
    metadata["installPath"] = json!(format!(".claude/skills/{name}"));
    Ok(json!({ "content": content, "structuredContent": metadata }))
}

fn mime_for(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("md") => "text/markdown",
        Some("json") => "application/json",
        Some("py") => "text/x-python",
        Some("sh") => "text/x-shellscript",
        Some("yaml" | "yml") => "application/yaml",
        _ => "text/plain",
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanArgs {
    project_slug: String,
}

/// A project's imported plan: where it stands, then its Markdown.
async fn get_project_plan(state: &AppState, tenant: &Namespace, caller: &Caller, args: Value) -> Result<Value, String> {
    let args: PlanArgs = arguments(args)?;
    let slug = args.project_slug.trim();
    let (project, plan) = match state.index.projects().plan(caller, tenant, slug).await {
        Ok(found) => found,
        Err(service::Error::NotFound(_)) => return Err(format!("project `{slug}` not found for tenant `{tenant}`")),
        Err(e) => return Err(tool_error(e)),
    };
    let Some(plan) = plan else {
        return Err(format!(
            "project `{}` in tenant `{tenant}` has no imported plan yet; import one with PUT /v1/tenant/projects/{}/plan",
            project.slug, project.slug
        ));
    };
    let head = format!(
        "Active plan for project `{}` (tenant `{tenant}`), version {}.\nSource: api | SHA-256: {} | Imported: {}",
        project.slug,
        plan.version,
        plan.sha256,
        crate::domain::to_datetime(plan.imported_at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    Ok(json!({ "content": [text(head), text(plan.body)], "isError": false }))
}
