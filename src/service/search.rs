//! The search engine every surface's free-text search runs on: a tantivy index (BM25 ranking,
//! top-k collection with block-max WAND) derived from the database, with field weights,
//! stemming, prefix matching and one-edit typo tolerance. Visibility and the filters are
//! decided in the engine (narrow filters in the query, the rest on each match as it is
//! collected), so pages, cursors and counts never include what the caller may not see.
//!
//! The index holds every skill that is not deleted. It is rebuilt from the database at start
//! and then follows the database's change sequence (`skill_changes`, written by triggers in
//! the same transaction as each change): before every search and twice a second, so a change
//! made through any replica is found by the next search on every replica.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tantivy::query::{
    Bm25StatisticsProvider, Bm25Weight, BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring, FuzzyTermQuery,
    Occur, Query, RegexQuery, TermQuery,
};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};
use tantivy::{DocId, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader, TantivyDocument, Term};

use super::semantic::{Embedder, Semantic};
use crate::domain::Skill;
use crate::store::{Audience, SkillQuery};

/// Field weights: a match in the name counts most, then the display name, tags, the
/// description and last the README. The words each begins are indexed for all but the README
/// (as-you-type matches there would be noise, at much of the index's size).
const WEIGHTS: [(&str, f32, bool); 5] = [
    ("name", 10.0, true),
    ("display", 8.0, true),
    ("tags", 5.0, true),
    ("description", 3.0, true),
    ("readme", 1.0, false),
];
/// A word that only begins a word of the skill counts this much of a full match (a third: a
/// whole word once counted as its stem and as a beginning, 1.5 against 0.5, and the ranking
/// keeps those proportions)…
const PREFIX_WEIGHT: f32 = 1.0 / 3.0;
/// …up to this many characters: a longer unfinished word matches the words that begin with
/// its first `PREFIX_MAX_LEN` characters.
const PREFIX_MAX_LEN: usize = 20;
/// …and a word one edit away (words of five letters or more) this much.
const FUZZY_WEIGHT: f32 = 0.3;
/// Words shorter than this get no typo tolerance (too many neighbours). Nor do words longer
/// than any word one edit from a word the index holds (`MAX_TOKEN_BYTES` letters, twice as
/// many bytes: the index holds words of fewer bytes as written, and lowercasing makes a
/// letter at most half as long again, as "İ", two bytes, becomes "i" and a dot above, three):
/// they have nothing to find, and the automaton that looks for them grows with the word.
const FUZZY_MIN_LEN: usize = 5;
/// Words one edit away are looked for only when the words as typed find fewer skills than
/// this (as Typesense's `typo_tokens_threshold`): a misspelt word finds little, and the
/// neighbours of a common word cost much of a search's time.
const TYPO_THRESHOLD: usize = 10;
/// Words shorter than this match whole words only: a prefix of one or two letters would
/// match much of the dictionary, at much of a search's cost.
const PREFIX_MIN_LEN: usize = 3;
/// Several words are looked for through one union of their terms when about this many skills
/// are likely to hold them all (five pages of twenty), through the conjunction of the words
/// when fewer.
const UNION_LIKELY: f64 = 100.0;
/// How much popularity (downloads and stars) nudges near-ties, per e-fold.
const POPULARITY: f32 = 1e-3;
/// Ranks are rounded down to steps of this size (a power of two: exact in floats): matches
/// closer than that tie, and keep their order in the index. Far below any difference a
/// reader would notice, and below the nudge of a single star (`POPULARITY` × ln 2).
const RANK_STEP: f32 = 1.0 / 4096.0;

/// `rank` rounded down to a `RANK_STEP`.
fn stepped(rank: f32) -> f32 {
    (rank / RANK_STEP).floor() * RANK_STEP
}
/// Memory the index writer may buffer before it flushes a segment.
const WRITER_MEMORY: usize = 15_000_000;
/// The index is compacted into one segment once nothing was committed for this long…
const COMPACT_QUIET: std::time::Duration = std::time::Duration::from_secs(5);
/// …at most this often: merging a large index takes seconds of a core. A compaction that
/// lost the race to one of tantivy's own merges is tried again after `COMPACT_RETRY`.
const COMPACT_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
const COMPACT_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Failed(String),
    /// Another process holds the index directory's writer lock.
    #[error("the search index in {0} is in use by another skilldex process")]
    Busy(String),
}

impl SearchError {
    pub fn new(message: impl Into<String>) -> Self {
        SearchError::Failed(message.into())
    }
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Failed(e.to_string())
    }
}

/// What an index kept on disk records with each commit: the database it follows and how far
/// into its change sequence it has applied. An index of another database, or of another
/// format, is rebuilt.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    pub format: u32,
    pub site: String,
    pub watermark: i64,
}

/// The index format: raised whenever the schema or how text is analysed changes.
pub const FORMAT: u32 = 10;

struct Fields {
    id: Field,
    /// The id's two halves where it is a UUID (`uuid_halves`).
    uuid: [Field; 2],
    namespace: Field,
    public: Field,
    published: Field,
    deprecated: Field,
    archived: Field,
    skill_type: Field,
    kind: Field,
    tag: Field,
    popularity: Field,
    text: Vec<TextField>,
}

/// One weighted text field, indexed three ways.
struct TextField {
    /// Stemmed words, with their frequencies (BM25).
    stemmed: Field,
    /// Words as written (for words one edit away).
    plain: Field,
    /// The beginnings of each word (as you type), with their frequencies.
    prefixes: Option<Field>,
    weight: f32,
}

/// The engine: one index, one writer, one reader reloaded after every commit, and the
/// skills' vectors when a model is loaded.
pub struct SearchEngine {
    index: tantivy::Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
    /// Where the index is kept; none when held in memory.
    dir: Option<PathBuf>,
    /// The index's files, as tantivy maps them (none in memory).
    files: Option<tantivy::directory::MmapDirectory>,
    semantic: Option<Arc<Semantic>>,
    /// When the index was last committed to, and when it may next be compacted.
    upkeep: Mutex<Upkeep>,
}

struct Upkeep {
    committed: std::time::Instant,
    /// The earliest the next compaction may begin.
    next_compaction: std::time::Instant,
}

/// How far a search reaches beyond public skills.
pub enum Reach<'a> {
    Public,
    /// Public skills and everything in these namespaces.
    Member(&'a [String]),
    Everything,
}

impl SearchEngine {
    /// An empty engine held in memory.
    pub fn in_memory() -> Result<Self, SearchError> {
        let (schema, f) = schema();
        Self::with_index(tantivy::Index::create_in_ram(schema), f, None)
    }

    /// The engine kept in `dir` (created when missing). An index of another format is emptied
    /// (`stamp` then tells the caller to rebuild it); `SearchError::Busy` when another process
    /// holds it.
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        let fail = |e: &dyn std::fmt::Display| SearchError::new(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        let (schema, f) = schema();
        let opened = tantivy::directory::MmapDirectory::open(dir).map_err(|e| fail(&e)).and_then(|d| {
            let files = d.clone();
            tantivy::Index::open_or_create(d, schema.clone()).map(|i| (i, files)).map_err(|e| fail(&e))
        });
        let (index, files) = match opened {
            Ok((index, files)) if index.schema() == schema => (index, files),
            // Another format's files (or damaged ones): derived data, so start again.
            _ => {
                use tantivy::Directory as _;
                let directory = tantivy::directory::MmapDirectory::open(dir).map_err(|e| fail(&e))?;
                // Never pull the files from under another process that uses them (a replica
                // of another version sharing this data directory).
                let held = match directory.acquire_lock(&tantivy::directory::INDEX_WRITER_LOCK) {
                    Ok(held) => held,
                    Err(tantivy::directory::error::LockError::LockBusy) => {
                        return Err(SearchError::Busy(dir.display().to_string()));
                    }
                    Err(e) => return Err(fail(&e)),
                };
                tracing::warn!(dir = %dir.display(), "the search index there is of another format; rebuilding it");
                for entry in std::fs::read_dir(dir).map_err(|e| fail(&e))? {
                    let path = entry.map_err(|e| fail(&e))?.path();
                    let ours = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n != "vectors.bin" && !n.starts_with(".tantivy-"));
                    if path.is_file() && ours {
                        std::fs::remove_file(&path).map_err(|e| fail(&e))?;
                    }
                }
                // The new index exists before the lock is let go: a second process starting
                // now finds it, instead of replacing it again.
                let files = directory.clone();
                let index = tantivy::Index::create(directory, schema, tantivy::IndexSettings::default())?;
                drop(held);
                (index, files)
            }
        };
        let mut engine = Self::with_index(index, f, Some(dir.to_owned()))?;
        engine.files = Some(files);
        Ok(engine)
    }

    fn with_index(index: tantivy::Index, f: Fields, dir: Option<PathBuf>) -> Result<Self, SearchError> {
        index.tokenizers().register(PREFIXES, prefix_analyzer());
        let writer = match index.writer_with_num_threads(1, WRITER_MEMORY) {
            Ok(writer) => writer,
            Err(tantivy::TantivyError::LockFailure(tantivy::directory::error::LockError::LockBusy, _)) => {
                return Err(SearchError::Busy(dir.map(|d| d.display().to_string()).unwrap_or_default()));
            }
            Err(e) => return Err(e.into()),
        };
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let now = std::time::Instant::now();
        let upkeep = Mutex::new(Upkeep { committed: now, next_compaction: now });
        Ok(Self { index, reader, writer: Mutex::new(writer), f, dir, files: None, semantic: None, upkeep })
    }

    /// Adds semantic search with `model`; the vectors are kept beside the index.
    pub fn with_model(mut self, model: Embedder) -> Self {
        let file = self.dir.as_ref().map(|d| d.join("vectors.bin"));
        self.semantic = Some(Semantic::start(model, file));
        self
    }

    pub fn semantic(&self) -> Option<&Arc<Semantic>> {
        self.semantic.as_ref()
    }

    /// What the last commit recorded; none for an index in memory, a new one, or one of
    /// another format.
    pub fn stamp(&self) -> Option<Stamp> {
        self.dir.as_ref()?;
        let payload = self.index.load_metas().ok()?.payload?;
        serde_json::from_str::<Stamp>(&payload).ok().filter(|s| s.format == FORMAT)
    }

    /// Saves what is not yet on disk (the vectors; the index is saved with every commit).
    pub fn flush(&self) {
        if let Some(semantic) = &self.semantic {
            semantic.save();
        }
    }

    fn document(&self, s: &Skill) -> TantivyDocument {
        let f = &self.f;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &s.id);
        if let Some(halves) = uuid_halves(&s.id) {
            for (field, half) in f.uuid.iter().zip(halves) {
                doc.add_u64(*field, half);
            }
        }
        doc.add_text(f.namespace, s.namespace.as_str());
        doc.add_u64(f.public, u64::from(s.visibility == crate::domain::Visibility::Public));
        doc.add_u64(f.published, u64::from(s.latest_version.is_some()));
        doc.add_u64(f.deprecated, u64::from(s.deprecated));
        doc.add_u64(f.archived, u64::from(s.archived));
        doc.add_text(f.skill_type, s.skill_type.as_str());
        doc.add_text(f.kind, s.kind.as_str());
        for t in &s.tags {
            doc.add_text(f.tag, t);
        }
        doc.add_u64(f.popularity, (s.downloads.max(0) + s.stars.max(0)) as u64);
        let tags = s.tags.join(" ");
        let texts =
            [s.name.as_str(), s.display_name.as_str(), tags.as_str(), s.description.as_str(), s.readme.as_str()];
        for (field, text) in f.text.iter().zip(texts) {
            doc.add_text(field.stemmed, text);
            doc.add_text(field.plain, text);
            if let Some(prefixes) = field.prefixes {
                doc.add_text(prefixes, text);
            }
        }
        doc
    }

    /// Replaces what the index holds for these skills: each is (re)indexed unless deleted;
    /// `removed` ids leave the index. One commit, recording `stamp`, then searches see all of
    /// it. Their vectors follow as the model computes them.
    pub fn apply(&self, skills: &[Skill], removed: &[String], stamp: Option<&Stamp>) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for id in removed.iter().chain(skills.iter().map(|s| &s.id)) {
            writer.delete_term(Term::from_field_text(self.f.id, id));
        }
        for s in skills.iter().filter(|s| s.deleted_at.is_none()) {
            writer.add_document(self.document(s))?;
        }
        self.commit(&mut writer, stamp)?;
        drop(writer);
        self.reload()?;
        if let Some(semantic) = &self.semantic {
            semantic.update(skills, removed);
        }
        Ok(())
    }

    /// Lets searches see the last commit. tantivy's directory remembers every file it has
    /// mapped, long after the file is gone (each commit and merge leaves segments behind),
    /// until it is asked for its cache's state, which forgets the dead ones: asked here, or a
    /// server that keeps publishing would keep growing (the soak found a kilobyte or so per
    /// publish).
    fn reload(&self) -> Result<(), SearchError> {
        self.reader.reload()?;
        if let Some(files) = &self.files {
            files.get_cache_info();
        }
        Ok(())
    }

    /// Commits, recording `stamp`; none while a rebuild is under way, so an index whose
    /// rebuild was cut short is rebuilt again rather than resumed.
    fn commit(&self, writer: &mut IndexWriter, stamp: Option<&Stamp>) -> Result<(), SearchError> {
        let mut commit = writer.prepare_commit()?;
        commit.set_payload(&stamp.and_then(|s| serde_json::to_string(s).ok()).unwrap_or_default());
        commit.commit()?;
        self.upkeep.lock().unwrap_or_else(|p| p.into_inner()).committed = std::time::Instant::now();
        Ok(())
    }

    /// Merges the index's segments into one when it has several, nothing was committed for
    /// `COMPACT_QUIET` and the last compaction is `COMPACT_EVERY` ago; returns whether it
    /// did. A search looks each of its terms up in every segment, and ranks each segment's
    /// matches from scratch: an index grown by many commits (a catalog seeded through the API
    /// left ten segments) searches markedly faster as one. Commits go on while it merges.
    pub fn compact(&self) -> Result<bool, SearchError> {
        let upkeep = || self.upkeep.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        {
            let mut upkeep = upkeep();
            if now.duration_since(upkeep.committed) < COMPACT_QUIET || now < upkeep.next_compaction {
                return Ok(false);
            }
            // Set before anything can fail: a failing compaction is logged once a period.
            upkeep.next_compaction = now + COMPACT_EVERY;
        }
        let merging = {
            let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let segments = self.index.searchable_segment_ids()?;
            if segments.len() < 2 {
                upkeep().next_compaction = now;
                return Ok(false);
            }
            writer.merge(&segments)
        };
        match merging.wait() {
            Ok(_) => {}
            // One of tantivy's own merges took some of the segments first (it merges small
            // ones as they come), and this merge was thrown away when it ended.
            Err(tantivy::TantivyError::InvalidArgument(reason)) => {
                tracing::debug!(%reason, "search index compaction put off");
                upkeep().next_compaction = std::time::Instant::now() + COMPACT_RETRY;
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        self.reload()?;
        Ok(true)
    }

    /// Adds these skills without committing: a rebuild adds the whole catalog and commits
    /// once (`seal`), so the index starts with a few large segments, not hundreds of small
    /// ones to merge.
    pub fn add(&self, skills: &[Skill]) -> Result<(), SearchError> {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for s in skills.iter().filter(|s| s.deleted_at.is_none()) {
            writer.add_document(self.document(s))?;
        }
        drop(writer);
        if let Some(semantic) = &self.semantic {
            semantic.update(skills, &[]);
        }
        Ok(())
    }

    /// Commits what was added and records `stamp` (after a rebuild, or when the watermark
    /// moved over changes that needed no new documents).
    pub fn seal(&self, stamp: &Stamp) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.commit(&mut writer, Some(stamp))?;
        drop(writer);
        self.reload()?;
        Ok(())
    }

    /// Empties the index (before a rebuild).
    pub fn clear(&self, stamp: Option<&Stamp>) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer.delete_all_documents()?;
        self.commit(&mut writer, stamp)?;
        drop(writer);
        self.reload()?;
        Ok(())
    }

    /// The query for `q`'s words and its narrow filters (namespace, tags, namespace globs,
    /// and published versions when `few_published`), which select few skills and so lead the
    /// search. Visibility and the broad filters are checked as matches are collected (`Gate`).
    /// A single word with no narrow filter is a plain union of terms, which tantivy ranks with
    /// block-max WAND, skipping whole blocks of postings that cannot reach the page.
    fn plan(
        &self,
        searcher: &tantivy::Searcher,
        q: &SkillQuery,
        typos: bool,
        few_published: bool,
    ) -> Result<Plan, SearchError> {
        let f = &self.f;
        let mut words = Vec::with_capacity(q.terms.len());
        for (i, word) in q.terms.iter().enumerate() {
            // As you type, only the last word is unfinished.
            let last = i + 1 == q.terms.len();
            words.push(self.word(word, last, typos)?);
        }
        let statistics = Statistics::of(searcher, &words)?;
        let narrow = q.namespace.is_some()
            || (q.published_only && few_published)
            || !q.tags.is_empty()
            || !q.namespace_globs.is_empty();
        // One word, or several so common together that a page fills early, of plain terms
        // and with nothing narrow: one union of every term, which block-max WAND prunes once
        // the page is full, each match holding every word and scored again in a fixed order
        // (`HeldWords`). With fewer, the conjunction of the words is cheaper: led by its
        // rarest word, it reads little of the others. Words one edit away are not plain
        // terms; they are looked for only when little matches. The choice depends on the
        // query, never on the page.
        let any = (!words.is_empty()
            && !narrow
            && !typos
            && (words.len() == 1 || likely_matches(&statistics, &words) >= UNION_LIKELY))
            .then(|| -> Result<Union, SearchError> {
                let all: Vec<Clause> =
                    words.iter().flat_map(|w| &w.clauses).map(|(occur, query)| (*occur, query.box_clone())).collect();
                let every = words
                    .iter()
                    .map(|word| word.clauses.iter().map(|(_, query)| query.box_clone()).collect())
                    .collect();
                let strongest: Vec<_> = words.iter().map(|word| word.strongest(&statistics, 2)).collect();
                Ok(Union { query: Box::new(BooleanQuery::new(all)), words: Words(every), leads: leads(&strongest) })
            })
            .transpose()?;
        let mut must: Vec<Clause> = words
            .into_iter()
            .map(|word| (Occur::Must, Box::new(BooleanQuery::new(word.clauses)) as Box<dyn Query>))
            .collect();
        let term = |field: Field, text: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic))
        };
        if let Some(ns) = &q.namespace {
            must.push(filter(term(f.namespace, ns.as_str())));
        }
        if q.published_only && few_published {
            let published = Term::from_field_u64(f.published, 1);
            must.push(filter(Box::new(TermQuery::new(published, IndexRecordOption::Basic))));
        }
        for tag in &q.tags {
            must.push(filter(term(f.tag, tag)));
        }
        if !q.namespace_globs.is_empty() {
            let mut any: Vec<Clause> = Vec::new();
            for glob in &q.namespace_globs {
                any.push((Occur::Should, Box::new(RegexQuery::from_pattern(&glob_regex(glob), f.namespace)?)));
            }
            must.push(filter(Box::new(BooleanQuery::new(any))));
        }
        let query = match must.len() {
            1 => must.remove(0).1,
            _ => Box::new(BooleanQuery::new(must)),
        };
        Ok(Plan { query, any, statistics })
    }

    /// One query word's clauses (any of them matches the word): its stems in every weighted
    /// field, the words it begins (`prefix`), and for longer words, words one edit away
    /// (`typos`).
    fn word(&self, word: &str, prefix: bool, typos: bool) -> Result<Word, SearchError> {
        let chars = word.chars().count();
        // The word is one of the index's words already (split as the index splits text, then
        // lowercased character by character, `search_terms`): it is stemmed whole, as the
        // index stemmed it. Split again, a word whose lowercase holds a mark that is no letter
        // ("İ" lowercases to "i" and a dot above) would become two words the index never
        // held. Nor is it cut: the index dropped words of 40 bytes or more as written, before
        // lowercasing, so a longer word may be in the index lowercased, and one that is not
        // finds nothing exact, as it should.
        let stem = english().stem(word).into_owned();
        let mut found = Word { clauses: Vec::new(), terms: Vec::new(), beginnings: Vec::new() };
        for field in &self.f.text {
            let stem = Term::from_field_text(field.stemmed, &stem);
            found.term(stem.clone(), field.weight);
            if let Some(prefixes) = field.prefixes
                && prefix
                && chars >= PREFIX_MIN_LEN
            {
                let begun: String = word.chars().take(PREFIX_MAX_LEN).collect();
                let beginning = Term::from_field_text(prefixes, &begun);
                found.beginnings.push((beginning.clone(), stem));
                found.term(beginning, field.weight * PREFIX_WEIGHT);
            }
            if typos && (FUZZY_MIN_LEN..=MAX_TOKEN_BYTES).contains(&chars) && word.len() <= 2 * MAX_TOKEN_BYTES {
                let fuzzy = FuzzyTermQuery::new(Term::from_field_text(field.plain, word), 1, true);
                found.clauses.push((Occur::Should, weighted(Box::new(fuzzy), field.weight * FUZZY_WEIGHT)));
            }
        }
        Ok(found)
    }

    /// The ids of one page of skills matching `q` (its terms, filters, offset and limit),
    /// best first, and, when `count`, how many skills match in all.
    pub fn search(&self, q: &SkillQuery, visible: &Reach<'_>, count: bool) -> Result<Found, SearchError> {
        let limit = usize::try_from(q.limit.max(1)).unwrap_or(1);
        let offset = usize::try_from(q.offset.max(0)).unwrap_or(0);
        let searcher = self.reader.searcher();
        let gate = Gate::new(q, visible);
        // Where few skills have a published version, a search for published ones walks those
        // (a narrow filter); where most have, the gate checks each match.
        let few_published = q.published_only
            && searcher.doc_freq(&Term::from_field_u64(self.f.published, 1))? * 2 < searcher.num_docs();
        let mut plan = self.plan(&searcher, q, false, few_published)?;
        let mut page = Collected::collect(&searcher, &plan, &gate, offset + limit)?;
        if self.typos_worth_trying(&searcher, q, page.matches)? {
            plan = self.plan(&searcher, q, true, few_published)?;
            page = Collected::collect(&searcher, &plan, &gate, offset + limit)?;
        }
        let total = match (count, page.pruned) {
            (false, _) => None,
            (true, false) => Some(page.matches as i64),
            (true, true) => Some(count_matches(&searcher, plan.query.as_ref(), &gate)? as i64),
        };
        let mut columns = std::collections::HashMap::new();
        let mut ids = Vec::new();
        for hit in page.best.into_iter().skip(offset) {
            let column = match columns.entry(hit.segment) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(Ids::of(searcher.segment_reader(hit.segment))?)
                }
            };
            ids.push(column.get(hit.doc)?);
        }
        Ok(Found { ids, total })
    }

    /// Whether to look for words one edit away from the query's: only when the words as typed
    /// find fewer than `TYPO_THRESHOLD` skills, a word is long enough to have typos, and every
    /// word too short for them is in the index (one that is not leaves nothing to find, typos
    /// or not: "check my code" where no skill says "my"). The choice depends on the query
    /// alone, never on the page, so every page and the count agree.
    fn typos_worth_trying(
        &self,
        searcher: &tantivy::Searcher,
        q: &SkillQuery,
        matches: usize,
    ) -> Result<bool, SearchError> {
        if matches >= TYPO_THRESHOLD || q.terms.iter().all(|w| w.chars().count() < FUZZY_MIN_LEN) {
            return Ok(false);
        }
        for (i, word) in q.terms.iter().enumerate() {
            if word.chars().count() >= FUZZY_MIN_LEN {
                continue;
            }
            let word = self.word(word, i + 1 == q.terms.len(), false)?;
            if Statistics::of(searcher, std::slice::from_ref(&word))?.holding(&word) == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// How a search finds its matches.
struct Plan {
    /// Every word (a union of its clauses) and the narrow filters, all required.
    query: Box<dyn Query>,
    /// For plain words and no narrow filter, the same matches with the same scores found
    /// another way (tantivy walks a conjunction of unions in full, scoring every match of
    /// every word).
    any: Option<Union>,
    /// What the words' terms are weighed by.
    statistics: Statistics,
}

/// The matches of several words as one union of all their clauses, which tantivy ranks with
/// block-max WAND, skipping what cannot reach the page.
struct Union {
    query: Box<dyn Query>,
    /// The words, each of which a match of the union must also hold, and by which it is
    /// scored.
    words: Words,
    /// For several words, conjunctions of one strong term of each (`leads`): their few
    /// matches are walked first, and are likely among the best, so the page's bar is high
    /// before the union is walked, and the union skips more.
    leads: Vec<Box<dyn Query>>,
}

/// Given each of several words' strongest terms, strongest first: the conjunction of every
/// word's strongest, then for each word, the one with its second instead (the first alone may
/// hold too few to fill a page), each conjunction once (a word repeated gives the same).
/// Tantivy walks a conjunction of terms with block-max pruning. None for a single word, or
/// when a word has no term any document holds.
fn leads(strongest: &[Vec<(&Term, f32)>]) -> Vec<Box<dyn Query>> {
    if strongest.len() < 2 || strongest.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    let mut seen = std::collections::HashSet::new();
    let mut leads = Vec::new();
    for second in std::iter::once(None).chain((0..strongest.len()).map(Some)) {
        if second.is_some_and(|i| strongest[i].len() < 2) {
            continue;
        }
        let chosen: Vec<(&Term, f32)> =
            strongest.iter().enumerate().map(|(i, terms)| terms[usize::from(second == Some(i))]).collect();
        let mut terms: Vec<&Term> = chosen.iter().map(|(term, _)| *term).collect();
        terms.sort();
        terms.dedup();
        if !seen.insert(terms) {
            continue;
        }
        let clauses = chosen.into_iter().map(|(term, weight)| (Occur::Must, term_query(term, weight)));
        leads.push(Box::new(BooleanQuery::new(clauses.collect())) as Box<dyn Query>);
    }
    leads
}

/// One query word: the clauses any of which matches it, and the term and weight of each of
/// them that is one term (all but words one edit away).
struct Word {
    clauses: Vec<Clause>,
    terms: Vec<(Term, f32)>,
    /// Each beginnings term, with the stem of the same field, whose words the beginnings
    /// fields leave out (`EdgeNgramsStream`).
    beginnings: Vec<(Term, Term)>,
}

impl Word {
    /// Adds a clause for one term.
    fn term(&mut self, term: Term, weight: f32) {
        self.clauses.push((Occur::Should, term_query(&term, weight)));
        self.terms.push((term, weight));
    }

    /// The word's terms that can add most to a score, at most `n`, strongest first: by
    /// BM25's bound, its weight and how rare it is (its other factors vary less between
    /// fields). The matches that hold them are likely the best. Empty when no document holds
    /// any.
    fn strongest<'a>(&'a self, statistics: &Statistics, n: usize) -> Vec<(&'a Term, f32)> {
        let mut strengths: Vec<_> = self
            .terms
            .iter()
            .filter(|(term, _)| statistics.held(term) > 0)
            .map(|(term, weight)| {
                let bm25 = Bm25Weight::for_one_term_without_explain(statistics.weighed(term), statistics.docs, 1.0);
                (bm25.boost_by(*weight).max_score(), term, *weight)
            })
            .collect();
        strengths.sort_by(|a, b| b.0.total_cmp(&a.0));
        strengths.into_iter().take(n).map(|(_, term, weight)| (term, weight)).collect()
    }
}

/// The statistics BM25 weighs a search's terms by, read from the index once per search (the
/// union, the words and the leads weigh the same terms): how many documents hold each term,
/// how many tokens each field holds, how many documents there are.
///
/// A beginning of a word counts, besides the documents the beginnings field holds it for,
/// those that hold the word's stem, which that field leaves out (`EdgeNgramsStream`): as when
/// whole words were beginnings too. A beginning rare only because most words that start with
/// it stem as the typed word does would otherwise weigh much more than the word itself.
#[derive(Clone, Default)]
struct Statistics {
    /// Documents, deleted ones included (as BM25 counts them).
    docs: u64,
    /// Documents not deleted.
    alive: u64,
    held: std::collections::HashMap<Term, u64>,
    added: std::collections::HashMap<Term, u64>,
    tokens: std::collections::HashMap<Field, u64>,
}

impl Statistics {
    fn of(searcher: &tantivy::Searcher, words: &[Word]) -> Result<Self, SearchError> {
        use std::collections::hash_map::Entry;
        let mut statistics = Statistics {
            docs: Bm25StatisticsProvider::total_num_docs(searcher)?,
            alive: searcher.num_docs(),
            ..Default::default()
        };
        let terms = words.iter().flat_map(|w| w.terms.iter().map(|(term, _)| term));
        for term in terms.chain(words.iter().flat_map(|w| w.beginnings.iter().map(|(_, stem)| stem))) {
            if let Entry::Vacant(held) = statistics.held.entry(term.clone()) {
                held.insert(searcher.doc_freq(term)?);
            }
            if let Entry::Vacant(tokens) = statistics.tokens.entry(term.field()) {
                tokens.insert(Bm25StatisticsProvider::total_num_tokens(searcher, term.field())?);
            }
        }
        for (beginning, stem) in words.iter().flat_map(|w| &w.beginnings) {
            let stemmed = statistics.held(stem);
            let added = statistics.added.entry(beginning.clone()).or_default();
            *added = (*added).max(stemmed);
        }
        Ok(statistics)
    }

    /// How many documents (deleted ones included) hold `term`.
    fn held(&self, term: &Term) -> u64 {
        self.held.get(term).copied().unwrap_or(0)
    }

    /// How many documents (deleted ones included) hold `word`'s most common term: 0 when none
    /// holds the word.
    fn holding(&self, word: &Word) -> u64 {
        word.terms.iter().map(|(term, _)| self.held(term)).max().unwrap_or(0)
    }

    /// How many documents BM25 takes to hold `term`: never more than there are (documents
    /// that hold a beginning and the stem are counted twice), which BM25 requires.
    fn weighed(&self, term: &Term) -> u64 {
        (self.held(term) + self.added.get(term).copied().unwrap_or(0)).min(self.docs)
    }

    /// BM25's statistics for a search of the index `searcher` reads: these, and the index's
    /// own for any other term (none of the words').
    fn weighing<'a>(&'a self, searcher: &'a tantivy::Searcher) -> Weighing<'a> {
        Weighing { searcher, statistics: self }
    }
}

/// A search's `Statistics`, and the index's own for what they do not hold.
struct Weighing<'a> {
    searcher: &'a tantivy::Searcher,
    statistics: &'a Statistics,
}

impl Bm25StatisticsProvider for Weighing<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        match self.statistics.tokens.get(&field) {
            Some(&tokens) => Ok(tokens),
            None => Bm25StatisticsProvider::total_num_tokens(self.searcher, field),
        }
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.statistics.docs)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        match self.statistics.held.contains_key(term) {
            true => Ok(self.statistics.weighed(term)),
            false => self.searcher.doc_freq(term),
        }
    }
}

/// A query for `term`, with its frequencies (BM25), its score multiplied by `weight`.
fn term_query(term: &Term, weight: f32) -> Box<dyn Query> {
    weighted(Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)), weight)
}

/// `query`, its score multiplied by `weight`.
fn weighted(query: Box<dyn Query>, weight: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(query, weight))
}

/// About how many skills hold every word, were the words independent of each other: a
/// word's skills are taken as those of its most common term (its fields overlap much).
fn likely_matches(statistics: &Statistics, words: &[Word]) -> f64 {
    let all = statistics.alive.max(1) as f64;
    let mut likely = all;
    for word in words {
        likely *= (statistics.holding(word) as f64 / all).min(1.0);
    }
    likely
}

/// Each query word's clauses.
struct Words(Vec<Vec<Box<dyn Query>>>);

impl Words {
    /// Each word's clauses, weighed (scored) over the whole index once per search.
    fn weigh(&self, scoring: EnableScoring<'_>) -> Result<WeighedWords, SearchError> {
        let mut words = Vec::with_capacity(self.0.len());
        for word in &self.0 {
            let mut weights = Vec::with_capacity(word.len());
            for clause in word {
                weights.push(clause.weight(scoring)?);
            }
            words.push(weights);
        }
        Ok(WeighedWords(words))
    }
}

/// Each query word's clauses as weights.
struct WeighedWords(Vec<Vec<Box<dyn tantivy::query::Weight>>>);

impl WeighedWords {
    /// How many clauses the words have in all.
    fn clauses(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    /// The words' postings in `segment`.
    fn open(&self, segment: &SegmentReader) -> Result<HeldWords, SearchError> {
        let mut words = Vec::with_capacity(self.0.len());
        for word in &self.0 {
            let mut postings = Vec::with_capacity(word.len());
            for weight in word {
                postings.push(weight.scorer(segment, 1.0)?);
            }
            words.push(postings);
        }
        Ok(HeldWords { words, last: 0 })
    }
}

/// The words' postings in one segment, moved forward as documents are asked about.
struct HeldWords {
    words: Vec<Vec<Box<dyn tantivy::query::Scorer>>>,
    /// The last document asked about.
    last: DocId,
}

impl HeldWords {
    /// `doc`'s score when it holds every word (some clause of each matches it): the sum of
    /// its clauses' scores, word by word, clause by clause. Block-max WAND sums them in an
    /// order that depends on how far it skipped, and so on the page's depth; a sum rounded
    /// differently can move a rank by a step and reorder near-ties between one page and
    /// the next. Documents must be asked about in increasing order (as tantivy hands out
    /// matches).
    fn score(&mut self, doc: DocId) -> Option<Score> {
        debug_assert!(doc >= self.last, "documents asked about out of order");
        self.last = doc;
        let mut total: Score = 0.0;
        for word in &mut self.words {
            let mut held = false;
            for postings in word.iter_mut() {
                if postings.doc() < doc {
                    postings.seek(doc);
                }
                if postings.doc() == doc {
                    total += postings.score();
                    held = true;
                }
            }
            if !held {
                return None;
            }
        }
        Some(total)
    }
}

/// One page of a search.
pub struct Found {
    /// The skills' ids, best first.
    pub ids: Vec<String>,
    /// How many skills match in all, when asked for.
    pub total: Option<i64>,
}

/// A segment's skill ids (opened once per segment a page draws from), from its columns, not
/// the document store, which would decompress a block per document.
struct Ids {
    /// Ids that are UUIDs written the usual way, as two numbers each: read straight from
    /// the columns, which open at no cost (tantivy's one column of 128-bit numbers reads a
    /// table as long as the segment when it opens).
    uuids: [tantivy::columnar::Column<u64>; 2],
    /// Every id, as written: each read scans a block of the column's dictionary.
    written: tantivy::columnar::StrColumn,
}

impl Ids {
    fn of(segment: &SegmentReader) -> Result<Self, SearchError> {
        let columns = segment.fast_fields();
        let written = columns.str("id")?.ok_or_else(|| SearchError::new("the index has no id column"))?;
        Ok(Ids { uuids: [columns.u64(UUID_HALVES[0])?, columns.u64(UUID_HALVES[1])?], written })
    }

    /// The skill id of a document.
    fn get(&self, doc: DocId) -> Result<String, SearchError> {
        if let [Some(high), Some(low)] = self.uuids.each_ref().map(|half| half.first(doc)) {
            return Ok(uuid::Uuid::from_u64_pair(high, low).to_string());
        }
        let mut id = String::new();
        let ord = self.written.term_ords(doc).next().ok_or_else(|| SearchError::new("a document without an id"))?;
        self.written.ord_to_str(ord, &mut id).map_err(|e| SearchError::new(e.to_string()))?;
        Ok(id)
    }
}

/// The columns of the two halves of a skill id that is a UUID.
const UUID_HALVES: [&str; 2] = ["uuid_high", "uuid_low"];

/// A skill id that is a UUID written as `new_id` writes one, as the two halves of the number
/// it spells, which read back as the same id.
fn uuid_halves(id: &str) -> Option<[u64; 2]> {
    let uuid = uuid::Uuid::try_parse(id).ok()?;
    (uuid.to_string() == id).then(|| {
        let (high, low) = uuid.as_u64_pair();
        [high, low]
    })
}

/// Who may see a match, and the broad filters (published, deprecated, archived, type, kind):
/// checked on each match from the index's columns, so they never slow the posting lists down.
struct Gate<'a> {
    reach: &'a Reach<'a>,
    published_only: bool,
    /// Flag columns that must hold a value (`deprecated`, `archived`).
    flags: Vec<(&'static str, bool)>,
    /// Word columns that must hold a word (`type`, `kind`).
    words: Vec<(&'static str, &'static str)>,
}

/// A gate's columns in one segment.
struct SegmentGate {
    public: std::sync::Arc<dyn tantivy::columnar::ColumnValues<u64>>,
    namespace: tantivy::columnar::Column<u64>,
    /// The ordinals, in this segment, of the namespaces a member's reach includes.
    member_of: Vec<u64>,
    everything: bool,
    published: Option<std::sync::Arc<dyn tantivy::columnar::ColumnValues<u64>>>,
    flags: Vec<(std::sync::Arc<dyn tantivy::columnar::ColumnValues<u64>>, u64)>,
    words: Vec<(tantivy::columnar::Column<u64>, u64)>,
}

impl<'a> Gate<'a> {
    fn new(q: &'a SkillQuery, reach: &'a Reach<'a>) -> Self {
        let flags = [("deprecated", q.deprecated), ("archived", q.archived)];
        let words = [("type", q.skill_type.map(|t| t.as_str())), ("kind", q.kind.map(|k| k.as_str()))];
        Gate {
            reach,
            published_only: q.published_only,
            flags: flags.into_iter().filter_map(|(name, want)| Some((name, want?))).collect(),
            words: words.into_iter().filter_map(|(name, want)| Some((name, want?))).collect(),
        }
    }

    /// The gate's columns in `segment`; none when nothing there can pass.
    fn open(&self, segment: &SegmentReader) -> Result<Option<SegmentGate>, SearchError> {
        let fast = segment.fast_fields();
        let flag = |name: &str| -> Result<_, SearchError> { Ok(fast.u64(name)?.first_or_default_col(0)) };
        let ords = |name: &str| -> Result<tantivy::columnar::StrColumn, SearchError> {
            fast.str(name)?.ok_or_else(|| SearchError::new(format!("the index has no {name} column")))
        };
        let ord_of = |column: &tantivy::columnar::StrColumn, value: &str| -> Result<Option<u64>, SearchError> {
            column.dictionary().term_ord(value).map_err(|e| SearchError::new(e.to_string()))
        };
        let namespaces = ords("namespace")?;
        let mut member_of = Vec::new();
        if let Reach::Member(names) = self.reach {
            for name in names.iter() {
                member_of.extend(ord_of(&namespaces, name)?);
            }
        }
        let mut words = Vec::with_capacity(self.words.len());
        for &(name, want) in &self.words {
            let column = ords(name)?;
            let Some(ord) = ord_of(&column, want)? else { return Ok(None) };
            words.push((column.ords().clone(), ord));
        }
        // A flag no document of the segment has: nothing there passes.
        let flag_wanted = |name: &str, want: u64| -> Result<Option<_>, SearchError> {
            let column = fast.u64(name)?;
            let held = (column.min_value()..=column.max_value()).contains(&want) && column.num_docs() > 0;
            Ok(held.then(|| column.first_or_default_col(0)))
        };
        let published = match self.published_only {
            false => None,
            true => match flag_wanted("published", 1)? {
                Some(column) => Some(column),
                None => return Ok(None),
            },
        };
        let mut flags = Vec::with_capacity(self.flags.len());
        for &(name, want) in &self.flags {
            match flag_wanted(name, u64::from(want))? {
                Some(column) => flags.push((column, u64::from(want))),
                None => return Ok(None),
            }
        }
        Ok(Some(SegmentGate {
            public: flag("public")?,
            namespace: namespaces.ords().clone(),
            member_of,
            everything: matches!(self.reach, Reach::Everything),
            published,
            flags,
            words,
        }))
    }
}

impl SegmentGate {
    fn passes(&self, doc: DocId) -> bool {
        let visible = self.everything
            || self.public.get_val(doc) == 1
            || (!self.member_of.is_empty()
                && self.namespace.first(doc).is_some_and(|ord| self.member_of.contains(&ord)));
        visible
            && self.published.as_ref().is_none_or(|p| p.get_val(doc) == 1)
            && self.flags.iter().all(|(column, want)| column.get_val(doc) == *want)
            && self.words.iter().all(|(column, want)| column.first(doc) == Some(*want))
    }
}

/// A match on a page: ranked by score nudged by popularity, ties by where it is in the index
/// (a fixed order within one snapshot, so pages of one search never overlap).
#[derive(Clone, Copy)]
struct Hit {
    rank: Score,
    segment: u32,
    doc: DocId,
}

impl Hit {
    /// Better hits first.
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        other.rank.total_cmp(&self.rank).then(self.segment.cmp(&other.segment)).then(self.doc.cmp(&other.doc))
    }
}

impl PartialEq for Hit {
    fn eq(&self, other: &Self) -> bool {
        self.order(other).is_eq()
    }
}
impl Eq for Hit {}
impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Hit {
    /// The heap's greatest is the page's worst.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order(other)
    }
}

/// The best `k` matches that pass the gate, and how many matches passed.
struct Collected {
    best: Vec<Hit>,
    /// Every match unless `pruned`; then at least `TYPO_THRESHOLD`.
    matches: usize,
    /// Whether matches that could not reach the page were skipped uncounted.
    pruned: bool,
}

impl Collected {
    /// Collects over every segment in order. Once enough matches were seen to decide on
    /// typos, the worst rank on the page becomes the bar a match must clear, and the engine
    /// skips what cannot (`Walk::entry`). For several words, the leads' matches are collected
    /// first, and the union passes over them.
    fn collect(searcher: &tantivy::Searcher, plan: &Plan, gate: &Gate<'_>, k: usize) -> Result<Self, SearchError> {
        let (query, union) = match &plan.any {
            Some(union) => (union.query.as_ref(), Some(union)),
            None => (plan.query.as_ref(), None),
        };
        let weighing = plan.statistics.weighing(searcher);
        let scoring = EnableScoring::enabled_from_statistics_provider(&weighing, searcher);
        let words = union.map(|u| u.words.weigh(scoring)).transpose()?;
        let mut walk = Walk {
            k,
            // How far tantivy's sums (which decide what it skips) may be from the ones
            // matches are ranked by, per unit of score: the same clause scores added in
            // another order.
            drift: words.as_ref().map_or(0, WeighedWords::clauses) as f32 * f32::EPSILON,
            heap: std::collections::BinaryHeap::with_capacity(k + 1),
            matches: 0,
            pruned: false,
        };
        let segments = searcher.segment_readers();
        // What the leads took, per segment, in order.
        let mut taken: Vec<Vec<DocId>> = vec![Vec::new(); segments.len()];
        for lead in union.map_or(&[][..], |u| &u.leads) {
            let weight = lead.weight(scoring)?;
            for (segment, reader) in segments.iter().enumerate() {
                let mut took = Vec::new();
                let at = (segment as u32, reader);
                walk.segment(weight.as_ref(), words.as_ref(), at, gate, &taken[segment], Some(&mut took))?;
                taken[segment].extend(took);
                taken[segment].sort_unstable();
            }
        }
        let weight = query.weight(scoring)?;
        for (segment, reader) in segments.iter().enumerate() {
            walk.segment(weight.as_ref(), words.as_ref(), (segment as u32, reader), gate, &taken[segment], None)?;
        }
        Ok(Collected { best: walk.heap.into_sorted_vec(), matches: walk.matches, pruned: walk.pruned })
    }
}

/// The state of a search's walk through its matches, segment after segment.
struct Walk {
    /// How many matches the page needs (its offset and limit).
    k: usize,
    /// How far a sum by tantivy may be from the one a match is ranked by, per unit of score.
    drift: f32,
    /// The best matches so far; the greatest is the worst of them.
    heap: std::collections::BinaryHeap<Hit>,
    matches: usize,
    pruned: bool,
}

/// What a match must score, popularity included, to take a place on a full page.
#[derive(Clone, Copy)]
struct Entry {
    /// Enough for a match later in the index than the page's worst (segment, then document):
    /// one whose rank rounds to the worst rank only ties it, and comes later, so it is worse.
    later: Score,
    /// Enough for a match earlier than the page's worst, which a tie beats. Matches come in
    /// the index's order but when a walk starts over (a second lead, the union after the
    /// leads).
    earlier: Score,
    /// Where the page's worst is in the index.
    worst: (u32, DocId),
}

impl Entry {
    /// What a match at `at` must score.
    fn at(&self, at: (u32, DocId)) -> Score {
        if at > self.worst { self.later } else { self.earlier }
    }
}

impl Walk {
    /// What a match must score to take a place on the page, once it is full and enough
    /// matches were seen to decide on typos. The entry keeps a margin below the step for the
    /// rounding of sums: tantivy's against the one a match is ranked by, which grows with the
    /// score and the number of clauses. `lift` is the most popularity can add in the segment.
    fn entry(&self, lift: Score) -> Option<Entry> {
        match self.heap.peek() {
            Some(worst) if self.heap.len() >= self.k && self.matches >= TYPO_THRESHOLD => {
                let margin = (RANK_STEP / 4.0).max(2.0 * self.drift * (worst.rank.abs() + lift));
                Some(Entry {
                    later: worst.rank + RANK_STEP - margin,
                    earlier: worst.rank - margin,
                    worst: (worst.segment, worst.doc),
                })
            }
            _ => None,
        }
    }

    /// Walks the matches of `weight` in one segment, passing over those in `skip` (in
    /// order), and adds to `took` (in order) each match it counted.
    fn segment(
        &mut self,
        weight: &dyn tantivy::query::Weight,
        words: Option<&WeighedWords>,
        (segment, reader): (u32, &SegmentReader),
        gate: &Gate<'_>,
        skip: &[DocId],
        mut took: Option<&mut Vec<DocId>>,
    ) -> Result<(), SearchError> {
        let Some(columns) = gate.open(reader)? else { return Ok(()) };
        let mut held = words.map(|w| w.open(reader)).transpose()?;
        let popularity = reader.fast_fields().u64("popularity")?;
        // The most popularity can add in this segment: what a score must clear is the page's
        // worst rank less this.
        let lift = POPULARITY * ((popularity.max_value() + 1) as f32).ln();
        let popularity = popularity.first_or_default_col(0);
        let alive = reader.alive_bitset();
        let mut skip = skip.iter().copied().peekable();
        // What tantivy's sum must clear (popularity adds at most `lift`) for matches after
        // `at` (tantivy hands them out in order): whole blocks that cannot are skipped.
        let bar = |entry: Option<Entry>, at: (u32, DocId)| entry.map_or(Score::MIN, |e| e.at(at) - lift);
        let mut enter = self.entry(lift);
        let mut threshold = bar(enter, (segment, 0));
        weight.for_each_pruning(threshold, reader, &mut |doc, score| {
            threshold = bar(enter, (segment, doc));
            while skip.next_if(|&taken| taken < doc).is_some() {}
            if skip.peek() == Some(&doc) || alive.is_some_and(|a| a.is_deleted(doc)) || !columns.passes(doc) {
                return threshold;
            }
            let nudge = POPULARITY * ((popularity.get_val(doc) + 1) as f32).ln();
            // Once the page is full, one that cannot take a place with its own popularity is
            // passed over before it is checked and scored again.
            if enter.is_some_and(|e| score + nudge < e.at((segment, doc))) {
                return threshold;
            }
            let Some(score) = held.as_mut().map_or(Some(score), |h| h.score(doc)) else {
                return threshold;
            };
            self.matches += 1;
            if let Some(took) = took.as_mut() {
                took.push(doc);
            }
            let hit = Hit { rank: stepped(score + nudge), segment, doc };
            if self.heap.len() < self.k {
                self.heap.push(hit);
            } else if self.heap.peek().is_some_and(|worst| hit < *worst) {
                self.heap.pop();
                self.heap.push(hit);
            }
            enter = self.entry(lift);
            threshold = bar(enter, (segment, doc));
            self.pruned |= enter.is_some();
            threshold
        })?;
        Ok(())
    }
}

/// How many matches of `query` pass the gate (no scoring).
fn count_matches(searcher: &tantivy::Searcher, query: &dyn Query, gate: &Gate<'_>) -> Result<usize, SearchError> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut matches = 0;
    for reader in searcher.segment_readers() {
        let Some(columns) = gate.open(reader)? else { continue };
        let alive = reader.alive_bitset();
        weight.for_each_no_score(reader, &mut |docs| {
            matches += docs.iter().filter(|&&doc| alive.is_none_or(|a| a.is_alive(doc)) && columns.passes(doc)).count();
        })?;
    }
    Ok(matches)
}

/// The index's fields.
fn schema() -> (Schema, Fields) {
    let mut schema = Schema::builder();
    let id = schema.add_text_field("id", STRING | FAST);
    let uuid = UUID_HALVES.map(|half| schema.add_u64_field(half, FAST));
    let namespace = schema.add_text_field("namespace", STRING | FAST);
    let public = schema.add_u64_field("public", FAST);
    let published = schema.add_u64_field("published", FAST | INDEXED);
    let deprecated = schema.add_u64_field("deprecated", FAST);
    let archived = schema.add_u64_field("archived", FAST);
    let skill_type = schema.add_text_field("type", STRING | FAST);
    let kind = schema.add_text_field("kind", STRING | FAST);
    let tag = schema.add_text_field("tag", STRING);
    let popularity = schema.add_u64_field("popularity", FAST);
    let indexed = |tokenizer: &str, record: IndexRecordOption| {
        TextOptions::default()
            .set_indexing_options(TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(record))
    };
    let text = WEIGHTS
        .iter()
        .map(|(name, weight, as_you_type)| TextField {
            stemmed: schema.add_text_field(name, indexed("en_stem", IndexRecordOption::WithFreqs)),
            plain: schema.add_text_field(&format!("{name}_plain"), indexed("default", IndexRecordOption::Basic)),
            // With their lengths (fieldnorms), as every scored field: tantivy records the
            // best score of each block of postings from them, and without them records
            // nothing, so block-max WAND took a beginning to score nothing in a full block and
            // skipped matches that belonged on the page.
            prefixes: as_you_type.then(|| {
                let options = TextOptions::default().set_indexing_options(
                    TextFieldIndexing::default().set_tokenizer(PREFIXES).set_index_option(IndexRecordOption::WithFreqs),
                );
                schema.add_text_field(&format!("{name}_prefixes"), options)
            }),
            weight: *weight,
        })
        .collect();
    let fields = Fields {
        id,
        uuid,
        namespace,
        public,
        published,
        deprecated,
        archived,
        skill_type,
        kind,
        tag,
        popularity,
        text,
    };
    (schema.build(), fields)
}

/// The analyzer that indexes the beginnings of words.
const PREFIXES: &str = "prefixes";

/// Words as the default analyzer splits them, each as the prefixes it begins with
/// (`PREFIX_MIN_LEN` to `PREFIX_MAX_LEN` characters) but those that stem as the word does:
/// an unfinished word is then one term.
fn prefix_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(EdgeNgrams)
        .build()
}

/// The token filter behind `prefix_analyzer`.
#[derive(Clone)]
struct EdgeNgrams;

impl TokenFilter for EdgeNgrams {
    type Tokenizer<T: Tokenizer> = EdgeNgramsTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> EdgeNgramsTokenizer<T> {
        EdgeNgramsTokenizer(tokenizer)
    }
}

#[derive(Clone)]
struct EdgeNgramsTokenizer<T>(T);

impl<T: Tokenizer> Tokenizer for EdgeNgramsTokenizer<T> {
    type TokenStream<'a> = EdgeNgramsStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        EdgeNgramsStream {
            words: self.0.token_stream(text),
            stemmer: english(),
            word: String::new(),
            ends: Vec::new(),
            token: Token::default(),
        }
    }
}

struct EdgeNgramsStream<S> {
    words: S,
    stemmer: frostem::Stemmer,
    word: String,
    /// Where the prefixes of `word` still to come end, the next last.
    ends: Vec<usize>,
    token: Token,
}

impl<S: TokenStream> TokenStream for EdgeNgramsStream<S> {
    fn advance(&mut self) -> bool {
        loop {
            if let Some(end) = self.ends.pop() {
                self.token.text.clear();
                self.token.text.push_str(&self.word[..end]);
                return true;
            }
            if !self.words.advance() {
                return false;
            }
            let word = self.words.token();
            self.word.clone_from(&word.text);
            self.token = Token { text: String::new(), ..word.clone() };
            let ends = self
                .word
                .char_indices()
                .map(|(at, c)| at + c.len_utf8())
                .skip(PREFIX_MIN_LEN - 1)
                .take(PREFIX_MAX_LEN + 1 - PREFIX_MIN_LEN);
            // A beginning that stems as the whole word does is found by the word's stem (the
            // search looks for both): indexed here too, it would count twice for every whole
            // word, and the beginnings of common words would double their postings. The cut
            // at `PREFIX_MAX_LEN` is always kept, as a longer query is cut there too.
            let stem = self.stemmer.stem(&self.word);
            let cut = self.word.char_indices().nth(PREFIX_MAX_LEN - 1).map(|(at, c)| at + c.len_utf8());
            self.ends.clear();
            for end in ends {
                if Some(end) == cut || self.stemmer.stem(&self.word[..end]) != stem {
                    self.ends.push(end);
                }
            }
            self.ends.reverse();
        }
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// One clause of a boolean query.
type Clause = (Occur, Box<dyn Query>);

/// A clause that must hold and adds nothing to the score.
fn filter(query: Box<dyn Query>) -> Clause {
    (Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0)))
}

/// How many changes one catch-up reads at a time (each brings its skill's README along).
pub const CHANGE_BATCH: i64 = 500;
/// How long a hole in the change sequence is waited for, from when this replica first saw
/// it: a concurrent transaction may have taken the number and not committed yet. After this
/// it is taken as rolled back.
const GAP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// How far before the newest change a rebuilt index starts following: changes that took
/// their numbers before the rebuild but commit after it are applied too.
const REBUILD_MARGIN: i64 = 1000;

/// How long a search may rely on the last catch-up when this process wrote nothing since:
/// changes committed through other processes (other replicas, the CLI on the same SQLite
/// file) reach searches at most this late.
pub const QUIET_FOR: std::time::Duration = std::time::Duration::from_millis(250);

/// Where an engine stands in the database's change sequence: every change up to the
/// watermark is applied, and so are the ones listed beyond it.
#[derive(Debug, Default, Clone)]
pub struct Follow {
    watermark: i64,
    beyond: std::collections::BTreeSet<i64>,
    /// Since when the number after the watermark has been missing.
    gap_since: Option<std::time::Instant>,
    /// When the last complete catch-up began: it applied every change committed before then.
    caught_up_from: Option<std::time::Instant>,
}

impl Follow {
    /// Following an index rebuilt from the database when `newest` was the newest change.
    pub fn rebuilt_at(newest: i64) -> Self {
        Self { watermark: (newest - REBUILD_MARGIN).max(0), ..Default::default() }
    }

    /// Following an index kept on disk that had applied every change up to `watermark`. The
    /// changes just before are read again, as after a rebuild: one skipped as rolled back
    /// after the wait may yet have committed.
    pub fn resumed(watermark: i64) -> Self {
        Self::rebuilt_at(watermark)
    }

    /// Whether a catch-up that began at or after `arrived` has completed: a search that
    /// arrived then needs no catch-up of its own.
    pub fn covers(&self, arrived: std::time::Instant) -> bool {
        self.caught_up_from.is_some_and(|from| from >= arrived)
    }

    /// Records that a catch-up begun at `from` completed.
    pub fn caught_up(&mut self, from: std::time::Instant) {
        self.caught_up_from = Some(from);
    }

    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// The skills these changes touch that are not applied yet, each once.
    pub fn unseen(&self, changes: &[(i64, String, i64)]) -> Vec<String> {
        let mut ids: Vec<String> =
            changes.iter().filter(|(seq, _, _)| !self.beyond.contains(seq)).map(|(_, id, _)| id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Records these changes as applied and moves the watermark over every number that is
    /// applied, or has been missing for longer than a transaction could take to commit.
    pub fn applied(&mut self, changes: &[(i64, String, i64)]) {
        self.beyond.extend(changes.iter().map(|(seq, _, _)| *seq));
        while let Some(&first) = self.beyond.iter().next() {
            let gap_passed = self.gap_since.get_or_insert_with(std::time::Instant::now).elapsed() > GAP_WAIT;
            if first == self.watermark + 1 || gap_passed {
                self.watermark = first;
                self.beyond.remove(&first);
                self.gap_since = None;
            } else {
                break;
            }
        }
        if self.beyond.is_empty() {
            self.gap_since = None;
        }
    }
}

/// Who a listing is for, as the engine sees it.
pub fn reach_of<'a>(audience: &Audience, namespaces: &'a [String]) -> Reach<'a> {
    match audience {
        Audience::Anonymous => Reach::Public,
        Audience::Member { .. } => Reach::Member(namespaces),
        Audience::Everyone => Reach::Everything,
    }
}

/// Tantivy's tokenizers drop tokens of this many bytes or more, as written (before they
/// lowercase them).
const MAX_TOKEN_BYTES: usize = 40;

/// The stemmer of the index's stemmed fields (tantivy's `en_stem` runs it on each lowercased
/// word), and of the beginnings the as-you-type fields leave out.
fn english() -> frostem::Stemmer {
    frostem::Stemmer::new(frostem::Algorithm::English)
}

/// A namespace glob (`*`, `?`, and only namespace characters) as a regular expression.
fn glob_regex(glob: &str) -> String {
    glob.chars()
        .map(|c| match c {
            '*' => ".*".to_owned(),
            '?' => ".".to_owned(),
            c if c.is_ascii_alphanumeric() => c.to_string(),
            c => format!("\\{c}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(seqs: &[i64]) -> Vec<(i64, String, i64)> {
        seqs.iter().map(|s| (*s, format!("skill-{s}"), 0)).collect()
    }

    #[test]
    fn the_watermark_waits_at_a_gap_while_later_changes_still_apply() {
        let mut f = Follow::rebuilt_at(0);
        f.applied(&changes(&[1, 2, 3]));
        assert_eq!(f.watermark(), 3);
        // 4 took its number but has not committed: 5 and 6 are applied, the watermark waits.
        let later = changes(&[5, 6]);
        assert_eq!(f.unseen(&later), ["skill-5", "skill-6"]);
        f.applied(&later);
        assert_eq!(f.watermark(), 3);
        assert!(f.unseen(&later).is_empty(), "read again from the watermark, not applied twice");
        // 4 commits: everything is contiguous again.
        f.applied(&changes(&[4, 5, 6]));
        assert_eq!(f.watermark(), 6);
    }

    #[test]
    fn an_index_of_another_format_is_replaced_but_never_under_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let mut other = Schema::builder();
        other.add_text_field("something_else", STRING);
        let old = tantivy::Index::create_in_dir(dir.path(), other.build()).unwrap();
        let writer: IndexWriter = old.writer_with_num_threads(1, WRITER_MEMORY).unwrap();
        assert!(matches!(SearchEngine::open(dir.path()), Err(SearchError::Busy(_))), "in use: left alone");
        assert!(dir.path().join("meta.json").exists());
        drop(writer);
        let engine = SearchEngine::open(dir.path()).expect("replaced once free");
        assert!(engine.stamp().is_none(), "a new index has no stamp: it is rebuilt");
    }

    #[test]
    fn a_catch_up_serves_only_the_searches_that_arrived_before_it_began() {
        let mut f = Follow::default();
        let early = std::time::Instant::now();
        assert!(!f.covers(early), "nothing has caught up yet");
        let began = std::time::Instant::now();
        f.caught_up(began);
        let late = std::time::Instant::now() + std::time::Duration::from_millis(1);
        assert!(f.covers(early) && f.covers(began));
        assert!(!f.covers(late), "a search that arrived later may wait on a change committed after");
    }

    #[test]
    fn a_rebuilt_index_rereads_changes_that_may_commit_late() {
        assert_eq!(Follow::rebuilt_at(5000).watermark(), 4000);
        assert_eq!(Follow::rebuilt_at(10).watermark(), 0);
    }

    #[test]
    fn ranks_closer_than_a_step_tie_but_a_single_star_still_counts() {
        assert_eq!(stepped(7.25), 7.25);
        assert_eq!(stepped(7.25 + RANK_STEP / 3.0), 7.25, "a difference no reader would notice is a tie");
        for score in [0.5_f32, 7.25, 31.0, 97.3] {
            assert!(stepped(score + POPULARITY * 2f32.ln()) > stepped(score), "one star lifts {score}");
        }
    }

    #[test]
    fn words_are_indexed_by_their_beginnings() {
        let tokens = |text: &str| {
            let mut analyzer = prefix_analyzer();
            let mut stream = analyzer.token_stream(text);
            let mut tokens = Vec::new();
            while stream.advance() {
                tokens.push(stream.token().text.clone());
            }
            tokens
        };
        // Beginnings that stem as the whole word does ("reviewe", "review" for "reviewer")
        // are left out: the word's stem finds them.
        let expected = ["cod", "rev", "revi", "revie", "ünï", "ünïc", "ünïcö", "ünïcöd"];
        assert_eq!(
            tokens("Code-Reviewer go Ünïcödé"),
            expected,
            "two-letter words are left out; unicode is cut between characters"
        );
        let longest = tokens(&"a".repeat(30)).iter().map(|t| t.chars().count()).max();
        assert_eq!(longest, Some(PREFIX_MAX_LEN));
    }

    /// A skill of the catalog `several_words_*` search: a seeded mix of a few words, some
    /// private, with downloads that nudge ties.
    fn seeded_skill(i: usize) -> Skill {
        const WORDS: [&str; 12] = [
            "cache", "index", "review", "deploy", "query", "stream", "audit", "token", "build", "lint", "trace",
            "proxy",
        ];
        let word = |n: usize| WORDS[(i * 7 + n * 5 + i / 13 * n) % WORDS.len()];
        let description = (0..3 + i % 7).map(|n| word(n * n + 1)).collect::<Vec<_>>().join(" ");
        Skill {
            id: format!("s{i:04}"),
            namespace: if i.is_multiple_of(5) { "team" } else { "pub" }.parse().unwrap(),
            name: format!("{}-{}-{i}", word(7), word(11)).parse().unwrap(),
            display_name: format!("{} {}", word(3), word(2)),
            description,
            readme: format!("About {} and {}.", word(9), word(4)),
            visibility: if i.is_multiple_of(5) {
                crate::domain::Visibility::Private
            } else {
                crate::domain::Visibility::Public
            },
            tags: vec![word(6).to_owned()],
            skill_type: crate::domain::SkillType::Command,
            kind: crate::domain::SkillKind::Skill,
            archived: false,
            downloads: (i % 17) as i64,
            stars: 0,
            latest_version: None,
            deprecated: false,
            deprecated_message: None,
            forked_from: None,
            deleted_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// A public skill named `skill-{i}` ("Skill {i}") that says nothing but `description`.
    fn described(id: &str, i: usize, description: &str) -> Skill {
        Skill {
            id: id.to_owned(),
            name: format!("skill-{i}").parse().unwrap(),
            display_name: format!("Skill {i}"),
            description: description.to_owned(),
            readme: String::new(),
            tags: Vec::new(),
            downloads: 0,
            ..seeded_skill(1)
        }
    }

    /// A search for `text` in the public catalog: a page of `limit` from `offset`.
    fn words_query(text: &str, offset: i64, limit: i64) -> SkillQuery {
        let terms = text.split(' ').map(str::to_owned).collect();
        SkillQuery { terms, offset, limit, ..crate::service::semantic::tests::any() }
    }

    /// An engine holding `count` seeded skills, committed `per_commit` at a time (a segment
    /// each), and the skills.
    fn seeded_engine(count: usize, per_commit: usize) -> (SearchEngine, Vec<Skill>) {
        let engine = SearchEngine::in_memory().unwrap();
        let skills: Vec<Skill> = (0..count).map(seeded_skill).collect();
        for part in skills.chunks(per_commit) {
            engine.apply(part, &[], None).unwrap();
        }
        (engine, skills)
    }

    #[test]
    fn a_word_too_short_for_typos_that_no_skill_holds_spares_the_typo_pass() {
        let (engine, _) = seeded_engine(200, 200);
        let searcher = engine.reader.searcher();
        let worth =
            |text: &str, matches| engine.typos_worth_trying(&searcher, &words_query(text, 0, 20), matches).unwrap();
        let found = |text: &str| engine.search(&words_query(text, 0, 20), &Reach::Public, true).unwrap().total.unwrap();
        // "tracr" is one edit from "trace": worth a second look, which finds it.
        assert!(worth("tracr", 0));
        assert!(found("tracr") > 0, "the misspelt word is found through its neighbour");
        assert!(worth("tracr lint", 0), "every short word is in the index");
        // No skill says "my": nothing can match, with typos or without, so none are looked for.
        assert!(!worth("tracr my lint", 0));
        assert!(!worth("my tracr", 0));
        assert_eq!(found("tracr my lint"), 0);
        // Words as typed that find enough need no typos either.
        assert!(!worth("tracr", TYPO_THRESHOLD));
    }

    #[test]
    fn a_query_word_is_the_word_the_index_holds() {
        // Tantivy keeps words shorter than 40 bytes as written, and lowercases them after:
        // nineteen "İ" (38 bytes) are held as 57.
        let long = "İ".repeat(19);
        let skill = |i: usize, description: &str| described(&format!("w{i}"), i, description);
        let skills = [
            skill(0, "Guides to İnk and paper"),
            skill(1, &format!("Names a {long} for the audit")),
            skill(2, "Guides around the audit"),
            skill(3, "Walks along the ΟΔΟΣ"),
            // What a query word of 21 "İ" was once cut to.
            skill(4, &format!("Says {} for the audit", "İ".repeat(13))),
        ];
        let engine = SearchEngine::in_memory().unwrap();
        engine.apply(&skills, &[], None).unwrap();
        let found = |q: &str| {
            let terms = crate::service::skills::search_terms(q).unwrap();
            let q = SkillQuery { terms, limit: 10, ..crate::service::semantic::tests::any() };
            engine.search(&q, &Reach::Public, false).unwrap().ids
        };
        // "İ" lowercases to "i" and a combining dot, as the index lowercased it: one word
        // still, not "i" and "nk" (too short for typos to find it another way).
        for q in ["İnk guides", "İNK GUIDES"] {
            assert_eq!(found(q), ["w0"], "{q:?}");
        }
        // Each letter is lowercased by itself, as the index does: a Σ that ends a word is σ.
        assert_eq!(found("ΟΔΟΣ walks"), ["w3"]);
        // The long word is found whole, as typed, even when it is not the last word (not
        // only one edit away, which typo tolerance finds too); a word the index could not
        // hold finds nothing, not another word it begins.
        assert_eq!(found(&format!("{long} audit")), ["w1"]);
        let word = engine.word(&long.to_lowercase(), false, false).unwrap();
        let searcher = engine.reader.searcher();
        assert_eq!(Statistics::of(&searcher, std::slice::from_ref(&word)).unwrap().holding(&word), 1);
        assert!(found(&format!("{long}İİ audit")).is_empty());
        // Nor is a word looked for one edit away when no word the index holds is that near.
        let typos = |word: &str| {
            let word = engine.word(word, false, true).unwrap();
            word.clauses.len() - word.terms.len()
        };
        assert_eq!(typos("audits"), WEIGHTS.len());
        assert_eq!(typos(&"a".repeat(MAX_TOKEN_BYTES + 1)), 0);
        assert_eq!(typos(&"\u{20000}".repeat(21)), 0, "more bytes than any word one edit from the index's");
    }

    #[test]
    fn a_page_names_each_skill_by_its_id_as_written() {
        let (new, other, gone) = (crate::domain::new_id(), crate::domain::new_id(), crate::domain::new_id());
        let nil = uuid::Uuid::nil().to_string();
        let ids = [new.clone(), "s0001".into(), new.to_uppercase(), format!("{{{new}}}"), format!("urn:uuid:{new}")];
        let more = [other.clone(), gone.clone(), nil.clone(), "s0002".into()];
        let engine = SearchEngine::in_memory().unwrap();
        // Two segments, one of them with a deleted document.
        for (batch, start) in [(&ids[..], 0), (&more[..], ids.len())] {
            let skills: Vec<Skill> =
                batch.iter().enumerate().map(|(i, id)| described(id, start + i, "Audit")).collect();
            engine.apply(&skills, &[], None).unwrap();
        }
        engine.apply(&[], std::slice::from_ref(&gone), None).unwrap();
        let mut expected: Vec<String> = ids.iter().chain(&more).filter(|id| **id != gone).cloned().collect();
        expected.sort();
        let found = || {
            let mut found = engine.search(&words_query("audit", 0, 20), &Reach::Public, false).unwrap().ids;
            found.sort();
            found
        };
        assert_eq!(found(), expected, "UUIDs read back from their numbers, other ids as written");
        engine.upkeep.lock().unwrap().committed -= COMPACT_QUIET;
        assert!(engine.compact().unwrap());
        assert_eq!(found(), expected, "and after the segments are merged");
        // The UUIDs written as `new_id` writes them are read from their numbers.
        let searcher = engine.reader.searcher();
        let [segment] = searcher.segment_readers() else { panic!("one segment") };
        let columns = Ids::of(segment).unwrap();
        let mut numbered: Vec<String> = (0..segment.max_doc())
            .filter(|&doc| columns.uuids[1].first(doc).is_some())
            .map(|doc| columns.get(doc).unwrap())
            .collect();
        numbered.sort();
        let mut uuids = vec![new, other, nil];
        uuids.sort();
        assert_eq!(numbered, uuids);
    }

    #[test]
    fn a_tie_with_the_page_is_let_in_only_from_earlier_in_the_index() {
        let worst = Hit { rank: 2.0, segment: 1, doc: 50 };
        let walk = Walk {
            k: 1,
            drift: 0.0,
            heap: std::collections::BinaryHeap::from([worst]),
            matches: TYPO_THRESHOLD,
            pruned: false,
        };
        let entry = walk.entry(0.0).unwrap();
        // Later in the index, a tie is worse than the page's worst: kept out.
        for later in [(1, 51), (2, 0)] {
            assert!(entry.at(later) > worst.rank, "{later:?}");
        }
        // After a lead, the union starts over: a tie earlier in the index is better, and gets in.
        for earlier in [(1, 10), (0, 900)] {
            assert!(entry.at(earlier) <= worst.rank, "{earlier:?}");
            assert!(Hit { segment: earlier.0, doc: earlier.1, ..worst } < worst);
        }
    }

    #[test]
    fn a_whole_word_outranks_a_longer_word_it_begins() {
        // Thirty skills say "test"; one says "testbed", a word "test" only begins. The
        // beginnings fields leave "test" out of "test" (its stem finds it), so there the
        // beginning "test" is rare; weighed as rare, the one "testbed" would rank first.
        let skill = |i: usize, description: &str| described(&format!("t{i:02}"), i, description);
        let mut skills: Vec<Skill> = (0..30).map(|i| skill(i, "Runs the test suite")).collect();
        skills.push(skill(30, "Sets up a testbed"));
        skills.push(skill(31, "Runs the test suite on a testbed"));
        let engine = SearchEngine::in_memory().unwrap();
        engine.apply(&skills, &[], None).unwrap();
        let found = engine.search(&words_query("test", 0, 40), &Reach::Public, true).unwrap();
        assert_eq!(found.total, Some(32), "every skill that says a word beginning with \"test\"");
        assert_eq!(found.ids.last().unwrap(), "t30", "a word the query only begins counts least");
        // As you type, the beginning finds the same skills; the whole word once.
        let typing = engine.search(&words_query("tes", 0, 40), &Reach::Public, true).unwrap();
        assert_eq!(typing.total, Some(32));
    }

    #[test]
    fn every_page_is_the_beginning_of_the_unpruned_ranking() {
        // Block-max WAND skips more the shallower the page. Two ways it went wrong: blocks of
        // a field kept without lengths were recorded as scoring nothing, so whole runs of
        // better matches were skipped (as-you-type beginnings: pages of a common word lost
        // most of their best matches); and it sums what it does not skip in an order that
        // depends on how much it skipped, which moved about one rank in 300 by a step.
        let (engine, skills) = seeded_engine(3000, 700);
        engine.apply(&skills[100..300], &[], None).unwrap();
        let searcher = engine.reader.searcher();
        let mut compared = 0;
        for text in ["cache", "review", "index", "dep", "cache index", "review dep", "trace proxy"] {
            for reach in [Reach::Public, Reach::Everything] {
                let q = words_query(text, 0, 200);
                let plan = engine.plan(&searcher, &q, false, false).unwrap();
                assert!(plan.any.is_some(), "{text:?}: through the union");
                // Deeper than every match: nothing skipped.
                let all =
                    Collected::collect(&searcher, &plan, &Gate::new(&q, &reach), searcher.num_docs() as usize).unwrap();
                assert!(!all.pruned && all.best.len() > 200, "{text:?}");
                for k in [200, 61, 21, 7, 3] {
                    let page = Collected::collect(&searcher, &plan, &Gate::new(&q, &reach), k).unwrap();
                    assert!(page.pruned, "{text:?}, {k} deep: skipped what could not reach the page");
                    let hits = |c: &Collected, n: usize| -> Vec<(u32, DocId, f32)> {
                        c.best.iter().take(n).map(|h| (h.segment, h.doc, h.rank)).collect()
                    };
                    assert_eq!(hits(&page, k), hits(&all, k), "{text:?}, {k} deep: the unpruned ranking's first {k}");
                    compared += k;
                }
            }
        }
        assert!(compared > 4000, "{compared}");
    }

    #[test]
    fn several_words_find_the_same_pages_through_one_union_as_through_the_conjunction() {
        // Three commits: three segments, so the rank bar carries from one to the next; a
        // fourth reindexes some skills, which leaves deleted documents behind.
        let (engine, skills) = seeded_engine(1500, 500);
        engine.apply(&skills[100..300], &[], None).unwrap();
        let searcher = engine.reader.searcher();
        assert_eq!(searcher.segment_readers().len(), 4);
        assert!(searcher.segment_readers().iter().any(|s| s.num_deleted_docs() > 0));
        let namespaces = ["team".to_owned()];
        let mut unioned = 0;
        for text in ["cache index", "review dep", "query stream audit", "token lint", "cache cache", "trace proxy"] {
            for (offset, limit) in [(0, 21), (40, 21), (0, 3)] {
                for reach in [Reach::Public, Reach::Member(&namespaces), Reach::Everything] {
                    let q = words_query(text, offset, limit);
                    let gate = Gate::new(&q, &reach);
                    let k = (offset + limit) as usize;
                    let plan = engine.plan(&searcher, &q, false, false).unwrap();
                    let Some(any) = &plan.any else { continue };
                    unioned += 1;
                    let union = Collected::collect(&searcher, &plan, &gate, k).unwrap();
                    let conjunction =
                        Plan { query: plan.query.box_clone(), any: None, statistics: plan.statistics.clone() };
                    let every = Collected::collect(&searcher, &conjunction, &gate, k).unwrap();
                    // The same ranks, but for the order in which a match's scores are summed,
                    // which can move a rank across a step (and so reorder near-ties).
                    assert_eq!(union.best.len(), k, "{text:?}: the page is full");
                    for (u, e) in union.best.iter().zip(&every.best) {
                        assert!(
                            (u.rank - e.rank).abs() <= RANK_STEP,
                            "{text:?} from {offset}: {} vs {}",
                            u.rank,
                            e.rank
                        );
                    }
                    // And the same skills, but for near-ties at the page's end.
                    let last = every.best.last().unwrap().rank;
                    let clear = |c: &Collected| {
                        let mut docs: Vec<_> = c
                            .best
                            .iter()
                            .filter(|h| h.rank > last + 2.0 * RANK_STEP)
                            .map(|h| (h.segment, h.doc))
                            .collect();
                        docs.sort_unstable();
                        docs
                    };
                    assert_eq!(clear(&union), clear(&every), "{text:?} from {offset}: the same page");
                    assert!(clear(&every).len() >= k / 2, "{text:?}: few near-ties");
                    assert!(union.pruned, "{text:?}: the union skipped what could not reach the page");
                    let counted = count_matches(&searcher, plan.query.as_ref(), &gate).unwrap();
                    let by_union = count_matches(&searcher, any.query.as_ref(), &gate).unwrap();
                    if text != "cache cache" {
                        assert!(by_union > counted, "{text:?}: the union alone finds more, each word is checked");
                    }
                }
            }
        }
        assert!(unioned >= 24, "many of these searches go through the union ({unioned})");
        // A page deeper than every match: nothing pruned, so the same matches counted too.
        let q = words_query("cache index", 0, 2000);
        let plan = engine.plan(&searcher, &q, false, false).unwrap();
        assert!(plan.any.is_some());
        let gate = Gate::new(&q, &Reach::Public);
        let union = Collected::collect(&searcher, &plan, &gate, 2000).unwrap();
        let every = Collected::collect(
            &searcher,
            &Plan { query: plan.query.box_clone(), any: None, statistics: plan.statistics.clone() },
            &gate,
            2000,
        )
        .unwrap();
        let docs = |c: &Collected| {
            let mut docs: Vec<_> = c.best.iter().map(|h| (h.segment, h.doc)).collect();
            docs.sort_unstable();
            docs
        };
        assert!(!union.pruned && union.matches == every.matches && union.matches > 100);
        assert_eq!(docs(&union), docs(&every));
        // A word almost nothing holds: the conjunction, led by it, reads little.
        let q = words_query("cache zeppelin", 0, 21);
        assert!(engine.plan(&searcher, &q, false, false).unwrap().any.is_none());
    }

    #[test]
    fn a_quiet_index_is_compacted_into_one_segment_that_finds_the_same() {
        let (engine, skills) = seeded_engine(300, 100);
        engine.apply(&skills[..10], &[], Some(&Stamp { format: FORMAT, site: "site".into(), watermark: 42 })).unwrap();
        // Every match on one page: merging drops the reindexed skills' old documents, which
        // changes word statistics a little and the order of near-ties, never what matches.
        let q = words_query("cache index", 0, 1000);
        let sorted = |mut ids: Vec<String>| {
            ids.sort_unstable();
            ids
        };
        let before = engine.search(&q, &Reach::Public, true).unwrap();
        assert!(before.ids.len() > 20);
        let stamp = engine.index.load_metas().unwrap().payload;
        assert!(stamp.as_ref().is_some_and(|s| s.contains("watermark")));
        assert!(!engine.compact().unwrap(), "not while commits are recent");
        engine.upkeep.lock().unwrap().committed -= COMPACT_QUIET;
        assert!(engine.compact().unwrap());
        assert_eq!(engine.reader.searcher().segment_readers().len(), 1);
        assert_eq!(engine.reader.searcher().segment_reader(0).num_deleted_docs(), 0);
        let after = engine.search(&q, &Reach::Public, true).unwrap();
        assert_eq!((sorted(after.ids), after.total), (sorted(before.ids), before.total));
        assert_eq!(engine.index.load_metas().unwrap().payload, stamp, "where the index stands is kept");
        // Not again so soon, even with new segments.
        engine.apply(&skills[..1], &[], None).unwrap();
        engine.upkeep.lock().unwrap().committed -= COMPACT_QUIET;
        assert!(!engine.compact().unwrap(), "at most every {COMPACT_EVERY:?}");
    }
}
