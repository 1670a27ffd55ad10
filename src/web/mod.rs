//! The web catalog: server-rendered pages over the same catalog calls as every other surface
//! (so a page shows exactly what its visitor may see), with a strict Content-Security-Policy,
//! no inline script, and assets embedded in the binary under content-hashed names.

mod account;
mod admin;
mod assets;
mod community;
mod markdown;
mod oidc;
mod session;
mod theme;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::api::AppState;
use crate::domain::{Namespace, Skill, SkillName, SkillSort, Version, VersionStatus, Visibility};
use crate::service::{self, Caller, SkillListRequest, VersionFilter};

pub use markdown::render_markdown;
pub use oidc::tenant_callback;
use session::Visitor;
pub use session::{FoundSession, find_session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/search", get(search))
        .route("/search/suggest", get(suggest))
        .route("/skills/{namespace}/{name}", get(skill_page))
        .route("/skills/{namespace}/{name}/diff", get(diff_page))
        .route("/teams/{namespace}", get(team_page))
        .route("/assets/{file}", get(assets::serve))
        .route("/theme.css", get(theme_css))
        .merge(account::router())
        .merge(admin::router())
        .merge(oidc::router())
        .merge(community::router())
        .merge(theme::router())
}

/// What every page's frame shows.
struct Chrome {
    css: &'static str,
    js: &'static str,
    /// The search box's text.
    query: String,
    version: &'static str,
    /// This server's public URL.
    base: String,
    /// The signed-in user, if any.
    user: Option<String>,
    /// The session's form token, for forms on the page.
    csrf: String,
    /// Whether the visitor may open the site administrators' pages.
    admin: bool,
    /// The site's name, its theme's stylesheet, logo and favicon (with versions in their
    /// URLs), and whether the footer names skilldex.
    brand: String,
    theme_css: Option<String>,
    logo: Option<String>,
    favicon: Option<String>,
    branding: bool,
}

impl Chrome {
    fn new(state: &AppState, query: &str, visitor: &Visitor) -> Self {
        let mut chrome = Self::new_for(state.public_base().to_owned(), query, visitor);
        let theme = state.index.themes().snapshot();
        chrome.brand = theme.brand().to_owned();
        if let Some((t, at)) = &theme.theme {
            chrome.theme_css = Some(format!("/theme.css?v={at}"));
            chrome.branding = t.footer_branding;
        }
        chrome.logo = theme.logo.map(|at| format!("/v1/theme/logo?v={at}"));
        chrome.favicon = theme.favicon.or(theme.logo).map(|at| format!("/v1/theme/favicon?v={at}"));
        chrome
    }

    /// The frame with this public URL (empty where it is not known, as on error pages).
    fn new_for(base: String, query: &str, visitor: &Visitor) -> Self {
        Chrome {
            css: assets::css_path(),
            js: assets::js_path(),
            query: query.to_owned(),
            version: env!("CARGO_PKG_VERSION"),
            base,
            user: visitor.name(),
            csrf: visitor.csrf(),
            admin: matches!(&visitor.caller, Caller::User(p) if p.user.is_admin && p.token.scope == crate::domain::TokenScope::Admin),
            brand: "skilldex".into(),
            theme_css: None,
            logo: None,
            favicon: None,
            branding: true,
        }
    }
}

#[derive(Deserialize)]
struct Versioned {
    #[serde(default)]
    v: String,
}

/// The theme's stylesheet (its version is in the URL pages use). A replica that has not
/// seen that version yet answers with what it has, for this request only.
async fn theme_css(State(state): State<AppState>, Query(q): Query<Versioned>) -> Response {
    let snapshot = state.index.themes().snapshot();
    let css = snapshot.theme.as_ref().map(|(t, _)| t.css()).unwrap_or_default();
    let current = snapshot.theme.as_ref().is_some_and(|(_, at)| at.to_string() == q.v);
    let mut r = css.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    let cache = if current { "public, max-age=300" } else { "no-store" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// The policy every page is served under: nothing inline and nothing from elsewhere, not
/// even README images (they would tell their host who reads which page).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // Pages depend on who asks: never stored by shared caches.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Authorization, Cookie"));
    response
}

fn render(status: StatusCode, page: impl Template) -> Response {
    match page.render() {
        Ok(body) => html(status, body),
        Err(e) => WebError(service::Error::Internal(format!("template: {e}"))).into_response(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: &'static str,
    message: String,
}

/// A failure, as a page: the status it deserves and a sentence, never internals.
pub struct WebError(pub service::Error);

impl From<service::Error> for WebError {
    fn from(e: service::Error) -> Self {
        WebError(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        use service::Error as E;
        let (status, heading) = match &self.0 {
            E::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            E::Invalid(_) => (StatusCode::BAD_REQUEST, "That request is not valid"),
            E::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "Sign-in needed"),
            E::Forbidden(_) => (StatusCode::FORBIDDEN, "Not allowed"),
            E::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
            E::Conflict(_) | E::State(_) => (StatusCode::CONFLICT, "That conflicts with what is there"),
            E::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "Too large"),
            E::ManifestInvalid(_) | E::Untrusted(_) | E::OwnWork(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "That cannot be done")
            }
            E::Upstream(_) => (StatusCode::BAD_GATEWAY, "A registry did not answer"),
            E::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment"),
            E::StorageFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "The server's storage is full"),
            E::Registry(d) if (400..500).contains(&d.status()) => {
                (StatusCode::from_u16(d.status()).unwrap_or(StatusCode::BAD_REQUEST), "That request is not valid")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
        };
        let message = if status == StatusCode::NOT_FOUND {
            "There is no such page, or it is not one you may see.".to_owned()
        } else {
            self.0.public_message()
        };
        let chrome = Chrome::new_for(String::new(), "", &Visitor::anonymous());
        match (ErrorPage { chrome, heading, message }).render() {
            Ok(body) => html(status, body),
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        }
    }
}

/// `axum::Form`, with a body that cannot be read (missing fields, another content type, too
/// large) answered as an error page like every other failure.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Form), rejection(WebError))]
pub struct Form<T>(pub T);

impl From<axum::extract::rejection::FormRejection> for WebError {
    fn from(r: axum::extract::rejection::FormRejection) -> Self {
        let status = r.status();
        let message = format!("the form could not be read: {}", r.body_text());
        WebError(if status == StatusCode::PAYLOAD_TOO_LARGE {
            service::Error::TooLarge(message)
        } else {
            service::Error::Invalid(message)
        })
    }
}

/// The page a browser gets for a path nothing serves.
pub fn not_found() -> Response {
    WebError(service::Error::NotFound("no such page".into())).into_response()
}

type Page = Result<Response, WebError>;

/// A skill as a card in a list.
struct Card {
    namespace: String,
    name: String,
    description: String,
    tags: Vec<String>,
    downloads: i64,
    stars: i64,
    version: Option<String>,
    kind: String,
    deprecated: bool,
    private: bool,
}

impl From<&Skill> for Card {
    fn from(s: &Skill) -> Self {
        Card {
            namespace: s.namespace.to_string(),
            name: s.name.to_string(),
            description: s.description.clone(),
            tags: s.tags.clone(),
            downloads: s.downloads,
            stars: s.stars,
            version: s.latest_version.clone(),
            kind: s.kind.to_string(),
            deprecated: s.deprecated,
            private: s.visibility == Visibility::Private,
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    recent: Vec<Card>,
    popular: Vec<Card>,
    teams: Vec<String>,
}

async fn home(State(state): State<AppState>, visitor: Visitor) -> Page {
    let caller = &visitor.caller;
    let catalog = state.index.catalog();
    let list = |sort| SkillListRequest { sort: Some(sort), limit: Some(8), published_only: true, ..Default::default() };
    let (recent, popular) = tokio::try_join!(
        catalog.list_skills(caller, list(SkillSort::Updated)),
        catalog.list_skills(caller, list(SkillSort::Downloads)),
    )?;
    // Namespaces are public; only their names are shown, so nobody's roles are looked up.
    let teams = state.index.accounts().list_teams(&Caller::Anonymous, None, 100).await?;
    Ok(render(
        StatusCode::OK,
        HomePage {
            chrome: Chrome::new(&state, "", &visitor),
            recent: recent.items.iter().map(|h| Card::from(&h.skill)).collect(),
            popular: popular.items.iter().map(|h| Card::from(&h.skill)).collect(),
            teams: teams.into_iter().map(|(t, _)| t.namespace.to_string()).collect(),
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
struct SearchForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    sort: String,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    chrome: Chrome,
    form: SearchForm,
    skills: Vec<Card>,
    next: Option<String>,
    kinds: &'static [(&'static str, &'static str)],
    statuses: &'static [(&'static str, &'static str)],
    sorts: &'static [(&'static str, &'static str)],
}

const KINDS: &[(&str, &str)] = &[("", "Any"), ("skill", "Skills"), ("agent", "Agents"), ("command", "Commands")];
const STATUSES: &[(&str, &str)] = &[("", "Any"), ("active", "Active"), ("deprecated", "Deprecated")];
const SORTS: &[(&str, &str)] = &[
    ("", "Best match"),
    ("downloads", "Most downloaded"),
    ("stars", "Most starred"),
    ("updated", "Recently updated"),
    ("name", "Name"),
];

/// A form or path value, trimmed, parsed with the domain's own rules.
fn parse<T: std::str::FromStr<Err = crate::domain::InvalidValue>>(v: &str) -> Result<T, service::Error> {
    v.trim().parse().map_err(service::Error::from)
}

/// Empty form fields mean "any".
fn field<T: std::str::FromStr<Err = crate::domain::InvalidValue>>(v: &str) -> Result<Option<T>, WebError> {
    if v.trim().is_empty() { Ok(None) } else { Ok(Some(parse(v)?)) }
}

fn list_request(form: &SearchForm) -> Result<SkillListRequest, WebError> {
    let q = form.q.trim();
    let sort = match form.sort.trim() {
        "" if q.is_empty() => Some(SkillSort::Downloads),
        "" => Some(SkillSort::Relevance),
        s => Some(service::parse_sort(s)?),
    };
    let deprecated = match form.status.trim() {
        "" => None,
        "active" => Some(false),
        "deprecated" => Some(true),
        other => return Err(service::Error::Invalid(format!("unknown status `{other}`")).into()),
    };
    Ok(SkillListRequest {
        q: (!q.is_empty()).then(|| q.to_owned()),
        namespace: field(&form.namespace)?,
        tags: field(&form.tag)?.into_iter().collect(),
        kind: field(&form.kind)?,
        sort,
        deprecated,
        cursor: form.cursor.clone(),
        limit: Some(20),
        published_only: true,
        ..Default::default()
    })
}

async fn search(State(state): State<AppState>, visitor: Visitor, form: Query<SearchForm>) -> Page {
    let caller = &visitor.caller;
    let Query(form) = form;
    let page = state.index.catalog().list_skills(caller, list_request(&form)?).await?;
    let next = page.cursor.map(|cursor| {
        let mut url = form_urlencoded::Serializer::new(String::from("/search?"));
        for (k, v) in [
            ("q", &form.q),
            ("namespace", &form.namespace),
            ("tag", &form.tag),
            ("kind", &form.kind),
            ("status", &form.status),
            ("sort", &form.sort),
        ] {
            if !v.trim().is_empty() {
                url.append_pair(k, v);
            }
        }
        url.append_pair("cursor", &cursor);
        url.finish()
    });
    Ok(render(
        StatusCode::OK,
        SearchPage {
            chrome: Chrome::new(&state, &form.q, &visitor),
            skills: page.items.iter().map(|h| Card::from(&h.skill)).collect(),
            form,
            next,
            kinds: KINDS,
            statuses: STATUSES,
            sorts: SORTS,
        },
    ))
}

/// Names for the search box's suggestions: the first few matches the visitor may see.
async fn suggest(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(form): Query<SearchForm>,
) -> Result<Response, WebError> {
    let caller = &visitor.caller;
    let q = form.q.trim();
    if q.is_empty() {
        return Ok(axum::Json(Vec::<String>::new()).into_response());
    }
    let req = SkillListRequest {
        q: Some(q.to_owned()),
        sort: Some(SkillSort::Relevance),
        limit: Some(8),
        published_only: true,
        ..Default::default()
    };
    let page = state.index.catalog().list_skills(caller, req).await?;
    let names: Vec<String> = page.items.iter().map(|h| format!("{}/{}", h.skill.namespace, h.skill.name)).collect();
    let mut response = axum::Json(names).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    Ok(response)
}

/// One way to install, as text that works when pasted.
struct Snippet {
    label: &'static str,
    text: String,
}

struct SignatureView {
    status: String,
    class: &'static str,
    signer: Option<String>,
}

struct LatestView {
    version: String,
    license: Option<String>,
    compatibility: Option<String>,
    allowed_tools: Vec<String>,
    signature: Option<SignatureView>,
    digest: Option<String>,
    files: usize,
}

struct VersionRow {
    version: String,
    status: String,
    yanked: bool,
    date: String,
}

struct SkillView {
    namespace: String,
    name: String,
    display_name: String,
    description: String,
    tags: Vec<String>,
    downloads: i64,
    stars: i64,
    kind: String,
    deprecated: bool,
    deprecated_message: Option<String>,
    archived: bool,
    private: bool,
}

#[derive(Template)]
#[template(path = "skill.html")]
struct SkillPage {
    chrome: Chrome,
    skill: SkillView,
    readme: String,
    latest: Option<LatestView>,
    snippets: Vec<Snippet>,
    channels: Vec<(String, String)>,
    versions: Vec<VersionRow>,
    /// Whether the signed-in visitor starred it; `None` for anonymous visitors.
    starred: Option<bool>,
    reviews: Vec<community::ReviewRow>,
    /// Whether the visitor may review it: signed in, and not of its team.
    can_review: bool,
}

fn signature_view(v: &Version) -> Option<SignatureView> {
    let verdict: crate::policy::verify::Verdict = serde_json::from_value(v.signature.clone()?).ok()?;
    let status = verdict.status.as_str();
    let class = match status {
        "verified" => "ok",
        "invalid" | "error" => "bad",
        _ => "muted",
    };
    Some(SignatureView { status: status.to_owned(), class, signer: verdict.identity })
}

fn text_of(v: &Version, key: &str) -> Option<String> {
    v.frontmatter.get(key).and_then(|x| x.as_str()).map(str::to_owned).filter(|s| !s.trim().is_empty())
}

fn install_snippets(base: &str, namespace: &str, name: &str, version: &str, reference: &str) -> Vec<Snippet> {
    vec![
        // Names this server, so it works pasted on a machine with no saved profile.
        Snippet {
            label: "skilldex CLI",
            text: format!("skilldex install --server {base} {namespace}/{name}@{version}"),
        },
        // By the artifact's own reference, wherever it is stored, pinned by digest.
        Snippet { label: "ToolHive", text: format!("thv skill install {reference}") },
        Snippet { label: "npm", text: format!("npm install @{namespace}/{name}@{version} --registry {base}/") },
        Snippet {
            label: "Kubernetes image volume (pinned by digest)",
            text: format!(
                "volumes:\n  - name: {name}\n    image:\n      reference: {reference}\n      pullPolicy: IfNotPresent"
            ),
        },
        Snippet { label: "MCP endpoint", text: format!("{base}/mcp") },
    ]
}

fn day(millis: i64) -> String {
    crate::domain::to_datetime(millis).format("%Y-%m-%d").to_string()
}

async fn skill_page(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    visitor: Visitor,
) -> Page {
    let caller = &visitor.caller;
    let namespace: Namespace = parse(&namespace)?;
    let name: SkillName = parse(&name)?;
    let catalog = state.index.catalog();
    let skill = catalog.get_skill(caller, &namespace, &name).await?;
    let filter = VersionFilter { status: None, cursor: None, limit: Some(100) };
    let (versions, channels) = tokio::try_join!(
        catalog.list_versions(caller, &namespace, &name, filter),
        catalog.channels(caller, &namespace, &name),
    )?;
    let starred = match caller {
        Caller::User(_) => Some(catalog.starred(caller, &namespace, &name).await?),
        Caller::Anonymous => None,
    };
    let reviews = community::reviews_of(&state, caller, &namespace, &name).await?;
    let can_review = matches!(caller, Caller::User(p) if !p.namespaces.iter().any(|n| n == namespace.as_str()))
        && !visitor.csrf().is_empty();
    let latest = match &skill.latest_version {
        Some(v) => catalog.resolve(caller, &namespace, &name, Some(v)).await.ok(),
        None => None,
    };
    let base = state.public_base().to_owned();
    let (latest, snippets) = match latest {
        Some(r) => {
            let v = &r.version.record;
            let snippets = install_snippets(&base, namespace.as_str(), name.as_str(), &v.version, &r.version.reference);
            let view = LatestView {
                version: v.version.clone(),
                license: text_of(v, "license"),
                compatibility: text_of(v, "compatibility"),
                allowed_tools: crate::bundle::allowed_tools_of(&v.frontmatter),
                signature: signature_view(v),
                digest: Some(r.version.digest.clone()),
                files: v.file_tree.len(),
            };
            (Some(view), snippets)
        }
        None => (None, Vec::new()),
    };
    let versions = versions
        .items
        .iter()
        .map(|v| VersionRow {
            version: v.version.clone(),
            status: v.status.to_string(),
            yanked: v.status == VersionStatus::Yanked,
            date: v.published_at.map(day).unwrap_or_default(),
        })
        .collect();
    let channels = channels.into_iter().filter_map(|c| Some((c.name, c.version?))).collect();
    let readme = render_markdown(&skill.readme);
    let view = SkillView {
        namespace: skill.namespace.to_string(),
        name: skill.name.to_string(),
        display_name: if skill.display_name.trim().is_empty() { skill.name.to_string() } else { skill.display_name },
        description: skill.description,
        tags: skill.tags,
        downloads: skill.downloads,
        stars: skill.stars,
        kind: skill.kind.to_string(),
        deprecated: skill.deprecated,
        deprecated_message: skill.deprecated_message,
        archived: skill.archived,
        private: skill.visibility == Visibility::Private,
    };
    Ok(render(
        StatusCode::OK,
        SkillPage {
            chrome: Chrome::new(&state, "", &visitor),
            skill: view,
            readme,
            latest,
            snippets,
            channels,
            versions,
            starred,
            reviews,
            can_review,
        },
    ))
}

#[derive(Debug, Deserialize)]
struct DiffForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

struct FileView {
    path: String,
    status: String,
    additions: usize,
    deletions: usize,
    /// Each line of the unified diff with its class (`add`, `del`, `hunk` or none).
    lines: Vec<(&'static str, String)>,
    note: &'static str,
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    chrome: Chrome,
    namespace: String,
    name: String,
    from: String,
    to: String,
    files: Vec<FileView>,
}

async fn diff_page(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    visitor: Visitor,
    Query(form): Query<DiffForm>,
) -> Page {
    let caller = &visitor.caller;
    let namespace: Namespace = parse(&namespace)?;
    let name: SkillName = parse(&name)?;
    let diff = state.index.catalog().diff(caller, &namespace, &name, &form.from, &form.to).await?;
    let files = diff
        .files
        .into_iter()
        .map(|f| {
            let lines = f
                .patch
                .as_deref()
                .unwrap_or("")
                .split_inclusive('\n')
                .map(|l| {
                    let class = match l.as_bytes().first() {
                        Some(b'+') if !l.starts_with("+++") => "add",
                        Some(b'-') if !l.starts_with("---") => "del",
                        Some(b'@') => "hunk",
                        _ => "",
                    };
                    (class, l.to_owned())
                })
                .collect();
            let note = if f.patch.is_none() { "Binary, or too large to show." } else { "" };
            FileView {
                path: f.path,
                status: f.status.as_str().to_owned(),
                additions: f.additions,
                deletions: f.deletions,
                lines,
                note,
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        DiffPage {
            chrome: Chrome::new(&state, "", &visitor),
            namespace: namespace.to_string(),
            name: name.to_string(),
            from: diff.from,
            to: diff.to,
            files,
        },
    ))
}

#[derive(Debug, Deserialize)]
struct TeamForm {
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    chrome: Chrome,
    namespace: String,
    display_name: String,
    skills: Vec<Card>,
    next: Option<String>,
    /// Members and roles, shown to members only.
    members: Option<Vec<(String, String)>>,
    /// Whether the visitor manages the members (an owner with an admin-scope session).
    manage: bool,
    roles: &'static [&'static str],
}

async fn team_page(
    State(state): State<AppState>,
    Path(namespace): Path<String>,
    visitor: Visitor,
    Query(form): Query<TeamForm>,
) -> Page {
    let caller = &visitor.caller;
    let namespace: Namespace = parse(&namespace)?;
    let team = state.index.accounts().team(caller, &namespace).await?;
    let req = SkillListRequest {
        namespace: Some(namespace.clone()),
        sort: Some(SkillSort::Name),
        cursor: form.cursor,
        limit: Some(50),
        ..Default::default()
    };
    let page = state.index.catalog().list_skills(caller, req).await?;
    let next = page
        .cursor
        .map(|c| form_urlencoded::Serializer::new(format!("/teams/{namespace}?")).append_pair("cursor", &c).finish());
    let members =
        team.members.map(|all| all.into_iter().map(|m| (m.username.to_string(), m.role.to_string())).collect());
    let display_name =
        if team.team.display_name.trim().is_empty() { namespace.to_string() } else { team.team.display_name };
    let manage = caller.require(crate::domain::TokenScope::Admin).is_ok()
        && state.index.role_in(caller, namespace.as_str()).await? == Some(crate::domain::TeamRole::Owner);
    Ok(render(
        StatusCode::OK,
        TeamPage {
            chrome: Chrome::new(&state, "", &visitor),
            namespace: namespace.to_string(),
            display_name,
            skills: page.items.iter().map(|h| Card::from(&h.skill)).collect(),
            next,
            members,
            manage,
            roles: &["reader", "publisher", "owner"],
        },
    ))
}

/// Whether a request comes from a browser that wants a page rather than JSON.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').next().is_some_and(|first| first.trim().starts_with("text/html")))
}
