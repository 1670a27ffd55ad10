//! Skills, their versions and channels: listing and search, lifecycle (deprecate, delete,
//! restore, yank), stars. Visibility is decided here, once, for every surface.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Catalog;
use super::access::require_role;
use super::{Caller, Error, Result, check_text, limits, search};
use crate::domain::{
    ChannelName, Namespace, ReleasedVersion, SkillKind, SkillName, SkillType, Tag, TeamRole, TokenScope, VersionStatus,
    Visibility, now_millis, parse_version,
};
use crate::store::{
    Audience, Channel, NewSkill, Skill, SkillCursor, SkillHit, SkillPatch, SkillQuery, SkillSort, SortKey, Version,
};

/// One page of results and, when more may follow, the opaque cursor for the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SkillListRequest {
    pub q: Option<String>,
    pub namespace: Option<Namespace>,
    /// Skills carrying every one of these tags (at most `limits::TAGS`).
    pub tags: Vec<Tag>,
    pub skill_type: Option<SkillType>,
    pub kind: Option<SkillKind>,
    pub sort: Option<SkillSort>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
    /// Only skills with a published version.
    pub published_only: bool,
    /// Only deprecated (`Some(true)`) or only not deprecated (`Some(false)`) skills.
    pub deprecated: Option<bool>,
    /// Archived skills are left out unless asked for.
    pub archived: Archived,
    /// Only namespaces matching one of these globs (a registry view); empty: any.
    pub namespace_globs: Vec<String>,
    /// Skip this many skills (offset paging, as npm's `from`); not together with `cursor`.
    pub offset: Option<i64>,
    /// How `q` is matched: by its words (the default), by meaning, or both.
    pub mode: SearchMode,
    /// Semantic matches less similar than this (cosine similarity, -1 to 1) are left out.
    pub min_similarity: Option<f32>,
}

/// Which skills a listing takes by their archive state: archived skills have left the
/// catalog, so listings leave them out unless they ask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Archived {
    #[default]
    Excluded,
    Only,
    Included,
}

/// How free text is matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// The words of the query, ranked by BM25 (typos and prefixes included).
    #[default]
    Keyword,
    /// Meaning: skills whose embedding is nearest to the query's.
    Semantic,
    /// Both, fused by reciprocal rank.
    Hybrid,
}

/// A search mode as clients name it.
pub fn parse_search_mode(s: &str) -> Result<SearchMode> {
    match s {
        "keyword" => Ok(SearchMode::Keyword),
        "semantic" => Ok(SearchMode::Semantic),
        "hybrid" => Ok(SearchMode::Hybrid),
        _ => Err(Error::Invalid("mode must be keyword, semantic or hybrid".into())),
    }
}

/// How many results a semantic or hybrid search ranks in all (each list it fuses, too).
pub const SEMANTIC_DEPTH: usize = 200;
/// Reciprocal rank fusion's constant: how much the top few positions of each list dominate.
const RRF_K: f64 = 60.0;

/// The deepest an offset may page: deeper listings page with a cursor instead.
pub const MAX_OFFSET: i64 = 10_000;

/// Where a version stands, as the ToolHive, MCP and npm surfaces show it: yanked versions
/// are archived, versions of a deprecated skill are deprecated, the rest are active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Active,
    Deprecated,
    Archived,
}

impl Lifecycle {
    pub fn of(skill: &Skill, version: &Version) -> Self {
        if version.status == VersionStatus::Yanked { Lifecycle::Archived } else { Lifecycle::of_listed(skill) }
    }

    /// A listed skill's, as of its latest version (never yanked).
    pub fn of_listed(skill: &Skill) -> Self {
        match (skill.archived, skill.deprecated) {
            (true, _) => Lifecycle::Archived,
            (false, true) => Lifecycle::Deprecated,
            (false, false) => Lifecycle::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Active => "active",
            Lifecycle::Deprecated => "deprecated",
            Lifecycle::Archived => "archived",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct VersionFilter {
    pub status: Option<VersionStatus>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Where a page stopped, as the client carries it: the sort it belongs to, the sort key of
/// the last row and that row's id. Floats travel as their bits so they compare exactly.
#[derive(Serialize, Deserialize)]
struct CursorWire {
    s: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<u64>,
    id: String,
}

fn sort_name(s: SkillSort) -> &'static str {
    match s {
        SkillSort::Downloads => "downloads",
        SkillSort::Updated => "updated",
        SkillSort::Name => "name",
        SkillSort::Stars => "stars",
        SkillSort::Relevance => "relevance",
    }
}

pub fn parse_sort(s: &str) -> Result<SkillSort> {
    match s {
        "downloads" => Ok(SkillSort::Downloads),
        "updated" => Ok(SkillSort::Updated),
        "name" => Ok(SkillSort::Name),
        "stars" => Ok(SkillSort::Stars),
        "relevance" => Ok(SkillSort::Relevance),
        _ => Err(Error::Invalid("invalid sort: expected one of downloads, updated, name, stars, relevance".into())),
    }
}

fn encode_cursor(sort: SkillSort, hit: &SkillHit) -> String {
    let s = &hit.skill;
    let mut w = CursorWire { s: sort_name(sort).into(), i: None, t: None, f: None, id: s.id.clone() };
    match sort {
        SkillSort::Downloads => w.i = Some(s.downloads),
        SkillSort::Stars => w.i = Some(s.stars),
        SkillSort::Updated => w.i = Some(s.updated_at),
        SkillSort::Name => w.t = Some(s.name.to_string()),
        SkillSort::Relevance => w.f = Some(hit.rank.to_bits()),
    }
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&w).expect("cursor serializes"))
}

/// A search page's cursor: the position the next page starts at.
fn position_cursor(position: i64) -> String {
    let w = CursorWire {
        s: sort_name(SkillSort::Relevance).into(),
        i: Some(position),
        t: None,
        f: None,
        id: String::new(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&w).expect("cursor serializes"))
}

fn decode_cursor(sort: SkillSort, raw: &str) -> Result<SkillCursor> {
    let bad = || Error::Invalid("invalid cursor: pass back the `cursor` of the previous page unchanged".into());
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let w: CursorWire = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if w.s != sort_name(sort) {
        return Err(Error::Invalid("invalid cursor: it belongs to a listing with another sort order".into()));
    }
    let key = match (sort, w.i, w.t, w.f) {
        (SkillSort::Downloads | SkillSort::Stars | SkillSort::Updated, Some(i), None, None) => SortKey::Int(i),
        (SkillSort::Name, None, Some(t), None) => SortKey::Text(t),
        (SkillSort::Relevance, None, None, Some(f)) => SortKey::Float(f64::from_bits(f)),
        // The search engine pages by position, so no score ever reaches a client.
        (SkillSort::Relevance, Some(position), None, None) if position >= 0 => SortKey::Int(position),
        _ => return Err(bad()),
    };
    Ok(SkillCursor { key, id: w.id })
}

/// Whether a skill belongs in a listing for this query: the visibility rule (`can_see`,
/// deleted skills never listed) and the query's filters, checked in memory.
fn listed(skill: &Skill, q: &SkillQuery, namespaces: &[String]) -> bool {
    let role = match &q.audience {
        Audience::Anonymous => None,
        Audience::Member { .. } => namespaces.iter().any(|n| n == skill.namespace.as_str()).then_some(TeamRole::Reader),
        Audience::Everyone => Some(TeamRole::Owner),
    };
    skill.deleted_at.is_none()
        && super::access::can_see(skill, role)
        && q.namespace.as_ref().is_none_or(|n| *n == skill.namespace)
        && q.tags.iter().all(|t| skill.tags.contains(t))
        && q.skill_type.is_none_or(|t| t == skill.skill_type)
        && q.kind.is_none_or(|k| k == skill.kind)
        && q.archived.is_none_or(|a| a == skill.archived)
        && (!q.published_only || skill.latest_version.is_some())
        && q.deprecated.is_none_or(|d| d == skill.deprecated)
        && (q.namespace_globs.is_empty()
            || super::views::RegistryView { name: String::new(), namespaces: q.namespace_globs.clone() }
                .includes(skill.namespace.as_str()))
}

/// Reciprocal rank fusion: each id scores the sum of 1/(k + position) over the lists that
/// hold it; best first, ties in the first list's order.
fn fuse(lists: &[&[String]]) -> Vec<String> {
    let mut scores: std::collections::HashMap<&str, (f64, usize)> = std::collections::HashMap::new();
    for list in lists {
        for (position, id) in list.iter().enumerate() {
            let entry = scores.entry(id.as_str()).or_insert((0.0, usize::MAX));
            entry.0 += 1.0 / (RRF_K + position as f64 + 1.0);
        }
    }
    for (position, id) in lists.first().copied().unwrap_or_default().iter().enumerate() {
        if let Some(entry) = scores.get_mut(id.as_str()) {
            entry.1 = position;
        }
    }
    let mut fused: Vec<(&str, (f64, usize))> = scores.into_iter().collect();
    fused.sort_by(|a, b| b.1.0.total_cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)).then(a.0.cmp(b.0)));
    fused.into_iter().map(|(id, _)| id.to_owned()).collect()
}

/// Clamps a requested page size: default 20, 1 to 100.
pub fn page_limit(limit: Option<i64>) -> Result<i64> {
    match limit {
        None => Ok(limits::PAGE_DEFAULT),
        Some(n) if (1..=limits::PAGE_MAX).contains(&n) => Ok(n),
        Some(_) => Err(Error::Invalid(format!("limit must be between 1 and {}", limits::PAGE_MAX))),
    }
}

/// Splits a free-text query into plain word tokens, as the search index splits text, and
/// lowercases each character by itself, as the index does (a final "Σ" is "σ", as anywhere
/// else in a word); no query syntax reaches the database.
pub fn search_terms(q: &str) -> Result<Vec<String>> {
    if q.chars().count() > limits::QUERY {
        return Err(Error::Invalid(format!("q is longer than {} characters", limits::QUERY)));
    }
    Ok(q.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().flat_map(char::to_lowercase).take(64).collect())
        .take(limits::QUERY_TERMS)
        .collect())
}

/// What creating a skill asks for; optional fields get csreg's defaults.
#[derive(Debug, Clone)]
pub struct SkillDraft {
    pub namespace: Namespace,
    pub name: SkillName,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub readme: Option<String>,
    pub visibility: Option<Visibility>,
    pub tags: Option<Vec<Tag>>,
    pub skill_type: Option<SkillType>,
    pub kind: Option<SkillKind>,
}

/// A slug names one skill of one kind: publishing to it as another kind is a conflict.
pub fn check_kind(existing: &Skill, kind: Option<SkillKind>) -> Result<()> {
    match kind {
        Some(kind) if kind != existing.kind => Err(Error::Conflict(format!(
            "`{}` is of kind `{}` in `{}`: it takes no versions of kind `{kind}`",
            existing.name, existing.kind, existing.namespace
        ))),
        _ => Ok(()),
    }
}

/// The skill a draft describes, with csreg's defaults, if its fields are within the limits.
pub(super) fn check_draft(draft: &SkillDraft) -> Result<NewSkill> {
    let display_name = draft.display_name.clone().unwrap_or_else(|| draft.name.to_string());
    check_text("displayName", &display_name, limits::DISPLAY_NAME, false)?;
    let description = draft.description.clone().unwrap_or_default();
    check_text("description", &description, limits::DESCRIPTION, true)?;
    let readme = draft.readme.clone().unwrap_or_default();
    check_text("readme", &readme, limits::README, true)?;
    let tags = check_tags(draft.tags.clone().unwrap_or_default())?;
    Ok(NewSkill {
        namespace: draft.namespace.clone(),
        name: draft.name.clone(),
        display_name,
        description,
        readme,
        visibility: draft.visibility.unwrap_or(Visibility::Public),
        tags,
        skill_type: draft.skill_type.unwrap_or(SkillType::Command),
        kind: draft.kind.unwrap_or(SkillKind::Skill),
        forked_from: None,
    })
}

/// Limits the number of tags and puts them in one order without repeats.
fn check_tags(mut tags: Vec<Tag>) -> Result<Vec<Tag>> {
    if tags.len() > limits::TAGS {
        return Err(Error::Invalid(format!("at most {} tags are allowed", limits::TAGS)));
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

fn skill_ref(skill: &Skill) -> String {
    format!("{}/{}", skill.namespace, skill.name)
}

/// The store query for a listing request, and the page size asked for (the query asks for
/// one more, to know whether another page follows).
fn skill_query(caller: &Caller, req: SkillListRequest) -> Result<(SkillQuery, i64)> {
    let limit = page_limit(req.limit)?;
    let terms = match &req.q {
        Some(q) => search_terms(q)?,
        None => Vec::new(),
    };
    let sort = match req.sort {
        Some(SkillSort::Relevance) | None if !terms.is_empty() => SkillSort::Relevance,
        // Relevance without search terms has nothing to rank by.
        Some(SkillSort::Relevance) | None => SkillSort::Updated,
        Some(s) => s,
    };
    if req.tags.len() > limits::TAGS {
        return Err(Error::Invalid(format!("filter by at most {} tags", limits::TAGS)));
    }
    if req.mode != SearchMode::Keyword {
        if terms.is_empty() {
            return Err(Error::Invalid("semantic and hybrid search need words to search for (q)".into()));
        }
        if sort != SkillSort::Relevance {
            return Err(Error::Invalid("semantic and hybrid search results are ordered by relevance only".into()));
        }
    }
    match req.min_similarity {
        Some(_) if req.mode == SearchMode::Keyword => {
            return Err(Error::Invalid("min_similarity applies to semantic and hybrid search only".into()));
        }
        Some(m) if !(-1.0..=1.0).contains(&m) => {
            return Err(Error::Invalid("min_similarity must be between -1 and 1".into()));
        }
        _ => {}
    }
    let after = req.cursor.as_deref().map(|c| decode_cursor(sort, c)).transpose()?;
    let offset = req.offset.unwrap_or(0);
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(Error::Invalid(format!("the offset must be between 0 and {MAX_OFFSET}")));
    }
    if after.is_some() && offset > 0 {
        return Err(Error::Invalid("page with a cursor or with an offset, not both".into()));
    }
    let query = SkillQuery {
        terms,
        namespace: req.namespace,
        tags: req.tags.into_iter().map(String::from).collect(),
        skill_type: req.skill_type,
        kind: req.kind,
        sort,
        after,
        limit: limit + 1,
        audience: caller.audience(),
        published_only: req.published_only,
        deprecated: req.deprecated,
        archived: match req.archived {
            Archived::Excluded => Some(false),
            Archived::Only => Some(true),
            Archived::Included => None,
        },
        namespace_globs: req.namespace_globs,
        offset,
    };
    Ok((query, limit))
}

impl Catalog<'_> {
    pub async fn list_skills(&self, caller: &Caller, req: SkillListRequest) -> Result<Page<SkillHit>> {
        Ok(self.page(caller, req, false).await?.0)
    }

    /// A page of a listing and how many skills the listing matches in all, counting only
    /// what the caller may see (what npm's search shows as its total).
    pub async fn list_skills_counted(&self, caller: &Caller, req: SkillListRequest) -> Result<(Page<SkillHit>, i64)> {
        let (page, total) = self.page(caller, req, true).await?;
        Ok((page, total.unwrap_or_default()))
    }

    /// A page of a listing and, when `count` or when the search engine ranked it (which
    /// counts as it goes), the total.
    async fn page(&self, caller: &Caller, req: SkillListRequest, count: bool) -> Result<(Page<SkillHit>, Option<i64>)> {
        let (mode, min_similarity) = (req.mode, req.min_similarity);
        let (query, limit) = skill_query(caller, req)?;
        let sort = query.sort;
        if mode != SearchMode::Keyword {
            let (page, total) = self.semantic_search(caller, query, limit, mode, min_similarity).await?;
            return Ok((page, Some(total)));
        }
        if let Some(engine) = self.engine_for(&query) {
            return self.search(caller, engine, query, limit, count).await;
        }
        let total = if count { Some(self.core.store.count_skills(&query).await?) } else { None };
        let mut items = self.core.store.list_skills(&query).await?;
        let cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|h| encode_cursor(sort, h))
        } else {
            None
        };
        Ok((Page { items, cursor }, total))
    }

    /// A listing of skills with a published version, each with its `latest` version, read
    /// in one query for the whole page: what catalogs that show versions (ToolHive) list.
    pub async fn list_latest(
        &self,
        caller: &Caller,
        req: SkillListRequest,
    ) -> Result<Page<(SkillHit, ReleasedVersion)>> {
        let page = self.list_skills(caller, SkillListRequest { published_only: true, ..req }).await?;
        let ids: Vec<String> = page.items.iter().map(|h| h.skill.id.clone()).collect();
        let mut latest: std::collections::HashMap<String, Version> =
            self.core.store.latest_versions(&ids).await?.into_iter().map(|v| (v.skill_id.clone(), v)).collect();
        let items = page
            .items
            .into_iter()
            .filter_map(|hit| {
                let v = ReleasedVersion::of(self.core.present(latest.remove(&hit.skill.id)?))?;
                Some((hit, v))
            })
            .collect();
        Ok(Page { items, cursor: page.cursor })
    }

    /// The engine a listing runs on: free-text searches ranked by relevance, when the server
    /// has one. Listings without words, or sorted by another key, run in SQL.
    fn engine_for(&self, query: &SkillQuery) -> Option<&std::sync::Arc<search::SearchEngine>> {
        let searching = !query.terms.is_empty() && query.sort == SkillSort::Relevance;
        self.core.search.as_ref().filter(|_| searching)
    }

    /// One page of a search and, when `count`, how many skills match in all: the engine ranks
    /// and pages by position, the database supplies the skills, and each is checked against the listing's
    /// rules again, so an index that lags behind a change can never show what the caller may
    /// not see.
    async fn search(
        &self,
        caller: &Caller,
        engine: &std::sync::Arc<search::SearchEngine>,
        query: SkillQuery,
        limit: i64,
        count: bool,
    ) -> Result<(Page<SkillHit>, Option<i64>)> {
        let bad = || Error::Invalid("invalid cursor: pass back the `cursor` of the previous page unchanged".into());
        let start = match &query.after {
            None => query.offset,
            Some(SkillCursor { key: SortKey::Int(position), .. }) => *position,
            Some(_) => return Err(bad()),
        };
        if start > MAX_OFFSET {
            return Err(Error::Invalid(format!(
                "search results page at most {MAX_OFFSET} deep; narrow the search with more words or filters"
            )));
        }
        // Every change committed before this search, through any replica, is in its results.
        self.core.catch_up_search().await;
        let namespaces = caller.member_namespaces().to_vec();
        let paged = SkillQuery { after: None, offset: start, limit: limit + 1, ..query };
        let (engine, owned, owned_namespaces) = (engine.clone(), paged.clone(), namespaces.clone());
        let search::Found { ids: mut ranked, total } = self
            .core
            .in_search_slot(move || engine.search(&owned, &search::reach_of(&owned.audience, &owned_namespaces), count))
            .await?;
        let more = ranked.len() as i64 > limit;
        ranked.truncate(limit as usize);
        let mut skills: std::collections::HashMap<String, Skill> =
            self.core.store.skills_by_ids(&ranked).await?.into_iter().map(|s| (s.id.clone(), s)).collect();
        let items = ranked
            .into_iter()
            .enumerate()
            .filter_map(|(position, id)| {
                let skill = skills.remove(&id).filter(|s| listed(s, &paged, &namespaces))?;
                // The rank a client sees is the position, never the engine's score, which
                // reflects the whole index, private skills included.
                Some(SkillHit { skill, rank: 1.0 / (start + position as i64 + 1) as f64, similarity: None })
            })
            .collect();
        Ok((Page { items, cursor: more.then(|| position_cursor(start + limit)) }, total))
    }

    /// Every result of a semantic or hybrid search the caller may see (at most
    /// `SEMANTIC_DEPTH`), best first, with its cosine similarity when ranked by meaning alone
    /// (it depends only on the skill and the query, so it says nothing of other skills), and
    /// the namespaces the caller's reach includes.
    async fn ranked_by_meaning(
        &self,
        caller: &Caller,
        query: &SkillQuery,
        mode: SearchMode,
        min_similarity: Option<f32>,
    ) -> Result<(Vec<(String, Option<f32>)>, Vec<String>)> {
        let engine = self.core.search.clone().filter(|e| e.semantic().is_some()).ok_or_else(|| {
            Error::Invalid(
                "semantic search is not enabled on this server: start skilldex with --embedding-model DIR \
                 (a sentence-transformers model directory, e.g. all-MiniLM-L6-v2; see the README's Search section)"
                    .into(),
            )
        })?;
        // The query's embedding first, with its own permits: a flood of new queries waits
        // there, not in the search slots keyword search needs.
        let semantic = engine.semantic().expect("checked above").clone();
        let vector = semantic.query_vector(&query.terms.join(" ")).await.map_err(|e| Error::Internal(e.to_string()))?;
        self.core.catch_up_search().await;
        let namespaces = caller.member_namespaces().to_vec();
        let (owned, owned_namespaces) = (query.clone(), namespaces.clone());
        let min_similarity = min_similarity.unwrap_or(-1.0);
        let ranked = self
            .core
            .in_search_slot(move || {
                let reach = search::reach_of(&owned.audience, &owned_namespaces);
                let near = semantic.nearest(&vector, &reach, &owned, SEMANTIC_DEPTH, min_similarity);
                let fused: Vec<(String, Option<f32>)> = match mode {
                    SearchMode::Hybrid => {
                        let words =
                            SkillQuery { offset: 0, limit: SEMANTIC_DEPTH as i64, after: None, ..owned.clone() };
                        let by_words = engine.search(&words, &reach, false)?.ids;
                        let near: Vec<String> = near.into_iter().map(|(id, _)| id).collect();
                        fuse(&[&by_words, &near]).into_iter().map(|id| (id, None)).collect()
                    }
                    _ => near.into_iter().map(|(id, similarity)| (id, Some(similarity))).collect(),
                };
                // Both rankings applied visibility and the filters as the index holds them;
                // each page is checked against the database again before it is shown.
                Ok(fused.into_iter().take(SEMANTIC_DEPTH).collect::<Vec<_>>())
            })
            .await?;
        Ok((ranked, namespaces))
    }

    /// One page of a semantic or hybrid search, paged by position like a keyword search, and
    /// how many results it ranks in all.
    async fn semantic_search(
        &self,
        caller: &Caller,
        query: SkillQuery,
        limit: i64,
        mode: SearchMode,
        min_similarity: Option<f32>,
    ) -> Result<(Page<SkillHit>, i64)> {
        let start = match &query.after {
            None => query.offset,
            Some(SkillCursor { key: SortKey::Int(position), .. }) => *position,
            Some(_) => {
                return Err(Error::Invalid(
                    "invalid cursor: pass back the `cursor` of the previous page unchanged".into(),
                ));
            }
        };
        if !(0..=SEMANTIC_DEPTH as i64).contains(&start) {
            return Err(Error::Invalid(format!("semantic and hybrid search rank at most {SEMANTIC_DEPTH} results")));
        }
        let (ranked, namespaces) = self.ranked_by_meaning(caller, &query, mode, min_similarity).await?;
        let page: Vec<(String, Option<f32>)> =
            ranked.iter().skip(start as usize).take(limit as usize).cloned().collect();
        let (page, similarities): (Vec<String>, Vec<Option<f32>>) = page.into_iter().unzip();
        let more = start + limit < ranked.len() as i64;
        let mut skills: std::collections::HashMap<String, Skill> =
            self.core.store.skills_by_ids(&page).await?.into_iter().map(|s| (s.id.clone(), s)).collect();
        let items = page
            .into_iter()
            .zip(similarities)
            .enumerate()
            .filter_map(|(position, (id, similarity))| {
                let skill = skills.remove(&id).filter(|s| listed(s, &query, &namespaces))?;
                Some(SkillHit { skill, rank: 1.0 / (start + position as i64 + 1) as f64, similarity })
            })
            .collect();
        Ok((Page { items, cursor: more.then(|| position_cursor(start + limit)) }, ranked.len() as i64))
    }

    pub async fn get_skill(&self, caller: &Caller, namespace: &Namespace, name: &SkillName) -> Result<Skill> {
        Ok(self.core.visible_skill(caller, namespace, name, true).await?.0)
    }

    /// Creates a skill with no version yet: a standard write token (agent tokens create a
    /// skill only by publishing its first version) and the publisher role.
    pub async fn create_skill(&self, caller: &Caller, draft: SkillDraft) -> Result<Skill> {
        caller.require(TokenScope::Write)?;
        self.create_published_skill(caller, draft).await
    }

    /// Creates the skill a first version is being published to (the publish pipeline's step):
    /// a token that may publish and the publisher role.
    pub(crate) async fn create_published_skill(&self, caller: &Caller, draft: SkillDraft) -> Result<Skill> {
        self.core.require_publisher_in(caller, &draft.namespace).await?;
        let new = check_draft(&draft)?;
        let skill = self.core.store.create_skill(&new, now_millis()).await.map_err(|e| match Error::from(e) {
            Error::Conflict(_) => Error::Conflict(format!("skill `{}/{}` already exists", draft.namespace, draft.name)),
            Error::NotFound(_) => Error::NotFound(format!("namespace `{}` does not exist", draft.namespace)),
            other => other,
        })?;
        self.core.audit(caller, "skill.create", &skill_ref(&skill), json!({ "visibility": skill.visibility })).await;
        Ok(skill)
    }

    pub async fn update_skill(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        mut patch: SkillPatch,
    ) -> Result<Skill> {
        caller.require(TokenScope::Write)?;
        let (skill, role) = self.core.visible_skill(caller, namespace, name, false).await?;
        require_role(role, TeamRole::Publisher, "changing a skill")?;
        if let Some(v) = &patch.display_name {
            check_text("displayName", v, limits::DISPLAY_NAME, false)?;
        }
        if let Some(v) = &patch.description {
            check_text("description", v, limits::DESCRIPTION, true)?;
        }
        if let Some(v) = &patch.readme {
            check_text("readme", v, limits::README, true)?;
        }
        if let Some(Some(v)) = &patch.deprecated_message {
            check_text("deprecatedMessage", v, limits::DEPRECATION_MESSAGE, true)?;
        }
        patch.tags = patch.tags.map(check_tags).transpose()?;
        let updated = self.core.store.update_skill(&skill.id, &patch, now_millis()).await?;
        self.core.audit(caller, "skill.update", &skill_ref(&skill), json!({ "deprecated": updated.deprecated })).await;
        if updated.deprecated && !skill.deprecated {
            self.core.deprecated(&updated).await;
        }
        Ok(updated)
    }

    /// Soft-deletes: the skill leaves listings and search and takes no new versions,
    /// until an owner or site admin restores it.
    pub async fn delete_skill(&self, caller: &Caller, namespace: &Namespace, name: &SkillName) -> Result<()> {
        caller.require(TokenScope::Admin)?;
        let (skill, role) = self.core.visible_skill(caller, namespace, name, false).await?;
        require_role(role, TeamRole::Owner, "deleting a skill")?;
        self.core.store.set_skill_deleted(&skill.id, Some(now_millis())).await?;
        self.core.audit(caller, "skill.delete", &skill_ref(&skill), json!({})).await;
        Ok(())
    }

    pub async fn restore_skill(&self, caller: &Caller, namespace: &Namespace, name: &SkillName) -> Result<Skill> {
        caller.require(TokenScope::Admin)?;
        let (skill, role) = self.core.visible_skill(caller, namespace, name, true).await?;
        require_role(role, TeamRole::Owner, "restoring a skill")?;
        if skill.deleted_at.is_none() {
            return Err(Error::State(format!("skill `{namespace}/{name}` is not deleted")));
        }
        self.core.store.set_skill_deleted(&skill.id, None).await?;
        self.core.audit(caller, "skill.restore", &skill_ref(&skill), json!({})).await;
        Ok(Skill { deleted_at: None, ..skill })
    }

    /// Takes a skill out of the catalog (`archived`) or puts it back: an archived skill is
    /// listed and searched nowhere but still resolves, so what is installed keeps working.
    /// Owners only, with an admin token; idempotent.
    pub async fn set_archived(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        archived: bool,
    ) -> Result<Skill> {
        caller.require(TokenScope::Admin)?;
        let (skill, role) = self.core.visible_skill(caller, namespace, name, false).await?;
        require_role(role, TeamRole::Owner, if archived { "archiving a skill" } else { "unarchiving a skill" })?;
        if skill.archived == archived {
            return Ok(skill);
        }
        let patch = SkillPatch { archived: Some(archived), ..Default::default() };
        let updated = self.core.store.update_skill(&skill.id, &patch, now_millis()).await?;
        let action = if archived { "skill.archive" } else { "skill.unarchive" };
        self.core.audit(caller, action, &skill_ref(&skill), json!({})).await;
        Ok(updated)
    }

    /// Whether the caller starred this skill (never, for anonymous callers).
    pub async fn starred(&self, caller: &Caller, namespace: &Namespace, name: &SkillName) -> Result<bool> {
        let Caller::User(me) = caller else { return Ok(false) };
        let (skill, _) = self.core.visible_skill(caller, namespace, name, false).await?;
        Ok(self.core.store.has_star(&skill.id, &me.user.id).await?)
    }

    /// Stars or un-stars a skill for the caller; idempotent. Returns the new star count.
    pub async fn set_star(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        starred: bool,
    ) -> Result<i64> {
        let me = caller.require(TokenScope::Write)?;
        let (skill, _) = self.core.visible_skill(caller, namespace, name, false).await?;
        let stars = self.core.store.set_star(&skill.id, &me.user.id, starred, now_millis()).await?;
        Ok(stars)
    }

    pub async fn channels(&self, caller: &Caller, namespace: &Namespace, name: &SkillName) -> Result<Vec<Channel>> {
        let (skill, _) = self.core.visible_skill(caller, namespace, name, false).await?;
        Ok(self.core.store.channels(&skill.id).await?)
    }

    /// Points a channel at a published version. `latest` is managed by the index itself.
    pub async fn set_channel(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        channel: &ChannelName,
        version: &str,
    ) -> Result<Channel> {
        caller.require(TokenScope::Write)?;
        let (skill, role) = self.core.visible_skill(caller, namespace, name, false).await?;
        require_role(role, TeamRole::Publisher, "moving a channel")?;
        if channel.as_str() == "latest" {
            return Err(Error::Invalid("the `latest` channel is managed automatically and cannot be set".into()));
        }
        let target = self.find_version(&skill, version).await?;
        if target.status != VersionStatus::Published {
            return Err(Error::Invalid(format!(
                "a channel can only point at a published version; `{version}` is {}",
                target.status
            )));
        }
        let set = self.core.store.set_channel(&skill.id, channel, version, now_millis()).await?;
        self.core
            .audit(caller, "channel.set", &skill_ref(&skill), json!({ "channel": channel, "version": version }))
            .await;
        Ok(set)
    }

    pub async fn delete_channel(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        channel: &str,
    ) -> Result<()> {
        caller.require(TokenScope::Admin)?;
        let (skill, role) = self.core.visible_skill(caller, namespace, name, false).await?;
        require_role(role, TeamRole::Owner, "deleting a channel")?;
        if channel == "latest" {
            return Err(Error::Invalid("the `latest` channel is managed automatically and cannot be deleted".into()));
        }
        if !self.core.store.delete_channel(&skill.id, channel).await? {
            return Err(Error::NotFound(format!("channel `{channel}` not found")));
        }
        self.core.audit(caller, "channel.delete", &skill_ref(&skill), json!({ "channel": channel })).await;
        Ok(())
    }

    /// Versions newest first; drafts only for members of the namespace.
    pub async fn list_versions(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        filter: VersionFilter,
    ) -> Result<Page<Version>> {
        let limit = page_limit(filter.limit)? as usize;
        let (skill, role) = self.core.visible_skill(caller, namespace, name, false).await?;
        let after = filter.cursor.as_deref().map(decode_version_cursor).transpose()?;
        let mut versions: Vec<Version> = self
            .core
            .store
            .versions(&skill.id)
            .await?
            .into_iter()
            .filter(|v| super::access::sees_drafts(role) || v.status != VersionStatus::Draft)
            .filter(|v| filter.status.is_none_or(|s| v.status == s))
            .collect();
        if let Some(after) = after {
            let pos = versions.iter().position(|v| v.version == after).ok_or_else(|| {
                Error::Invalid("invalid cursor: pass back the `cursor` of the previous page unchanged".into())
            })?;
            versions.drain(..=pos);
        }
        let cursor = (versions.len() > limit).then(|| URL_SAFE_NO_PAD.encode(&versions[limit - 1].version));
        versions.truncate(limit);
        Ok(Page { items: versions.into_iter().map(|v| self.core.present(v)).collect(), cursor })
    }

    /// Every version of a skill the caller may see that clients can fetch: stored as an
    /// artifact and not a draft (so published or yanked), newest first, without paging. What
    /// ToolHive's version list and npm's packuments are made from.
    pub async fn released_versions(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
    ) -> Result<(Skill, Option<TeamRole>, Vec<ReleasedVersion>)> {
        let (skill, role) = self.core.visible_skill(caller, namespace, name, false).await?;
        let versions = self.core.store.versions(&skill.id).await?;
        let released = versions.into_iter().filter_map(|v| ReleasedVersion::of(self.core.present(v))).collect();
        Ok((skill, role, released))
    }

    /// One version of a skill, by its exact semver string.
    async fn find_version(&self, skill: &Skill, version: &str) -> Result<Version> {
        parse_version(version)?;
        self.core
            .store
            .version(&skill.id, version)
            .await?
            .ok_or_else(|| Error::NotFound(format!("version `{version}` of `{}` not found", skill_ref(skill))))
    }

    /// Yanks or un-yanks a published version; `latest` follows in the same transaction.
    pub async fn set_yanked(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        version: &str,
        yanked: bool,
    ) -> Result<Version> {
        caller.require(TokenScope::Admin)?;
        let (skill, role) = self.core.visible_skill(caller, namespace, name, false).await?;
        require_role(role, TeamRole::Owner, "yanking a version")?;
        let current = self.find_version(&skill, version).await?;
        if current.status == VersionStatus::Draft {
            return Err(Error::Invalid(format!(
                "version `{version}` is a draft; only published versions can be yanked"
            )));
        }
        let status = if yanked { VersionStatus::Yanked } else { VersionStatus::Published };
        if current.status == status {
            return Ok(self.core.present(current));
        }
        let updated = self.core.store.set_version_status(&skill.id, version, status, now_millis()).await?;
        let action = if yanked { "version.yank" } else { "version.unyank" };
        self.core.audit(caller, action, &skill_ref(&skill), json!({ "version": version })).await;
        if yanked {
            let text = format!("{}@{version} yanked", skill_ref(&skill));
            let body = super::webhooks::skill_event("version.yanked", text, &skill, json!({ "version": version }));
            self.core.webhooks().notify(&skill.namespace, "version.yanked", body).await;
        }
        Ok(self.core.present(updated))
    }
}

fn decode_version_cursor(raw: &str) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Error::Invalid("invalid cursor: pass back the `cursor` of the previous page unchanged".into()))
}

#[cfg(test)]
mod tests {
    use super::fuse;

    #[test]
    fn fusion_puts_what_both_rankings_agree_on_first() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (words, meaning) = (ids(&["name-match", "both"]), ids(&["both", "synonym", "name-match"]));
        assert_eq!(fuse(&[&words, &meaning]), ["both", "name-match", "synonym"]);
        // Equal scores keep the first ranking's order, then the id's.
        assert_eq!(fuse(&[&ids(&["a", "b"]), &ids(&["b", "a"])]), ["a", "b"]);
        assert_eq!(fuse(&[&ids(&["x"]), &ids(&["y"])]), ["x", "y"]);
        assert!(fuse(&[&[], &[]]).is_empty());
    }
}
