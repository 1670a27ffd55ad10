//! What people say and ask for: reviews on a skill's page, the wishes board, and a team's
//! drafts inbox. Every action is the same service call the API makes, with the visitor's
//! rights; every form carries the session's form token.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;

use super::account::see_other;
use super::session::Visitor;
use super::{Chrome, Form, Page, day, field, parse, render};
use crate::api::AppState;
use crate::domain::{DraftStatus, Namespace, ReviewRating, SkillName, Tag, TeamRole, TokenScope, WishStatus};
use crate::service::Caller;
use crate::service::reviews::ReviewView;
use crate::service::reviews::TargetRef;
use crate::service::wishes::{WishFilter, WishInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/skills/{namespace}/{name}/reviews", post(review))
        .route("/wishes", get(wishes).post(wish))
        .route("/teams/{namespace}/drafts", get(drafts))
        .route("/teams/{namespace}/drafts/{id}/publish", post(publish_draft))
        .route("/teams/{namespace}/drafts/{id}/discard", post(discard_draft))
}

/// A review as the skill page lists it.
pub(super) struct ReviewRow {
    pub author: String,
    pub rating: String,
    pub date: String,
    pub body: String,
}

impl From<ReviewView> for ReviewRow {
    fn from(v: ReviewView) -> Self {
        ReviewRow {
            author: v.review.author.to_string(),
            rating: v.review.rating.to_string(),
            date: day(v.review.updated_at),
            body: v.review.body,
        }
    }
}

/// The newest reviews of a skill the visitor may see (the page already proved it may).
pub(super) async fn reviews_of(
    state: &AppState,
    caller: &Caller,
    namespace: &Namespace,
    name: &SkillName,
) -> Result<Vec<ReviewRow>, crate::service::Error> {
    let target = TargetRef::Package(namespace.clone(), name.clone());
    let reviews = state.index.reviews().list(caller, target, None, 20).await?;
    Ok(reviews.into_iter().map(ReviewRow::from).collect())
}

#[derive(Deserialize)]
struct ReviewForm {
    #[serde(default)]
    csrf: String,
    rating: String,
    body: String,
}

async fn review(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<ReviewForm>,
) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    let namespace: Namespace = parse(&namespace)?;
    let name: SkillName = parse(&name)?;
    let rating: ReviewRating = parse(&form.rating)?;
    let target = TargetRef::Package(namespace.clone(), name.clone());
    state.index.reviews().create(&visitor.caller, target, rating, &form.body).await?;
    Ok(see_other(&format!("/skills/{namespace}/{name}#reviews")))
}

struct WishRow {
    title: String,
    body: String,
    author: String,
    namespace: Option<String>,
    tags: Vec<String>,
    status: String,
    date: String,
    answer: Option<String>,
}

#[derive(Template)]
#[template(path = "wishes.html")]
struct WishesPage {
    chrome: Chrome,
    wishes: Vec<WishRow>,
    status: String,
    tag: String,
    next: Option<String>,
    signed_in: bool,
}

#[derive(Deserialize, Default)]
struct WishQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    before: String,
}

const WISHES_PER_PAGE: i64 = 30;

/// Open wishes (or closed, or all), newest first, with a form to make one when signed in.
async fn wishes(State(state): State<AppState>, visitor: Visitor, Query(q): Query<WishQuery>) -> Page {
    let status = match q.status.trim() {
        "" | "open" => Some(WishStatus::Open),
        "all" => None,
        s => Some(parse(s)?),
    };
    let filter = WishFilter {
        status,
        tag: field::<Tag>(&q.tag)?,
        namespace: None,
        before: Some(q.before.trim().to_owned()).filter(|b| !b.is_empty()),
        limit: WISHES_PER_PAGE + 1,
    };
    let mut found = state.index.wishes().list(&visitor.caller, filter).await?;
    let more = found.len() as i64 > WISHES_PER_PAGE;
    found.truncate(WISHES_PER_PAGE as usize);
    let next = match (more, found.last()) {
        (true, Some(last)) => {
            let mut url = form_urlencoded::Serializer::new(String::from("/wishes?"));
            url.append_pair("status", q.status.trim())
                .append_pair("tag", q.tag.trim())
                .append_pair("before", &last.wish.id);
            Some(url.finish())
        }
        _ => None,
    };
    let wishes = found
        .into_iter()
        .map(|v| WishRow {
            title: v.wish.title,
            body: v.wish.body,
            author: v.wish.author.to_string(),
            namespace: v.wish.namespace.map(|n| n.to_string()),
            tags: v.wish.tags,
            status: v.wish.status.to_string(),
            date: day(v.wish.created_at),
            answer: v.answer.map(|(ns, name)| format!("{ns}/{name}")),
        })
        .collect();
    let page = WishesPage {
        chrome: Chrome::new(&state, "", &visitor),
        wishes,
        status: q.status.trim().to_owned(),
        tag: q.tag.trim().to_owned(),
        next,
        signed_in: !visitor.csrf().is_empty(),
    };
    Ok(render(StatusCode::OK, page))
}

#[derive(Deserialize)]
struct WishForm {
    #[serde(default)]
    csrf: String,
    title: String,
    body: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    namespace: String,
}

async fn wish(State(state): State<AppState>, visitor: Visitor, headers: HeaderMap, Form(form): Form<WishForm>) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    let tags = form
        .tags
        .split([',', ' '])
        .filter(|t| !t.trim().is_empty())
        .map(parse::<Tag>)
        .collect::<Result<Vec<_>, _>>()?;
    let input = WishInput { title: form.title, body: form.body, tags, namespace: field(&form.namespace)? };
    state.index.wishes().create(&visitor.caller, input).await?;
    Ok(see_other("/wishes"))
}

struct DraftRow {
    id: String,
    slug: String,
    description: String,
    tags: Vec<String>,
    origin: String,
    notes: Option<String>,
    status: String,
    pending: bool,
    published_version: Option<String>,
    merge: Option<String>,
    date: String,
}

#[derive(Template)]
#[template(path = "drafts.html")]
struct DraftsPage {
    chrome: Chrome,
    namespace: String,
    drafts: Vec<DraftRow>,
    /// Whether the visitor may publish or discard (a publisher with a write token, signed in).
    can_review: bool,
}

/// A team's drafts inbox: its members read it; publishers publish or discard from it.
async fn drafts(State(state): State<AppState>, visitor: Visitor, Path(namespace): Path<String>) -> Page {
    let namespace: Namespace = parse(&namespace)?;
    let drafts = state.index.drafts().list(&visitor.caller, &namespace, None).await?;
    let drafts = drafts
        .into_iter()
        .map(|d| DraftRow {
            id: d.id,
            slug: d.slug.to_string(),
            description: d.description,
            tags: d.tags,
            origin: d.origin,
            notes: d.notes,
            pending: d.status == DraftStatus::Pending,
            status: d.status.to_string(),
            published_version: d.published_version,
            merge: d.merge_proposal.map(|(slug, similarity)| format!("{slug} ({:.0} % alike)", similarity * 100.0)),
            date: day(d.created_at),
        })
        .collect();
    let role = state.index.role_in(&visitor.caller, namespace.as_str()).await?;
    let can_review = !visitor.csrf().is_empty()
        && role.is_some_and(|r| r >= TeamRole::Publisher)
        && visitor.caller.require(TokenScope::Write).is_ok();
    let page =
        DraftsPage { chrome: Chrome::new(&state, "", &visitor), namespace: namespace.to_string(), drafts, can_review };
    Ok(render(StatusCode::OK, page))
}

#[derive(Deserialize)]
struct PublishForm {
    #[serde(default)]
    csrf: String,
    version: String,
}

async fn publish_draft(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path((namespace, id)): Path<(String, String)>,
    Form(form): Form<PublishForm>,
) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    let namespace: Namespace = parse(&namespace)?;
    let (draft, _) = state.index.drafts().publish(&visitor.caller, &namespace, &id, form.version.trim(), None).await?;
    Ok(see_other(&format!("/skills/{namespace}/{}", draft.slug)))
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn discard_draft(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path((namespace, id)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Page {
    visitor.check_form(&headers, &state, &form.csrf)?;
    let namespace: Namespace = parse(&namespace)?;
    state.index.drafts().discard(&visitor.caller, &namespace, &id).await?;
    Ok(see_other(&format!("/teams/{namespace}/drafts")))
}
