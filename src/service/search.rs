//! The search engine every surface's free-text search runs on: a tantivy index (BM25 ranking,
//! top-k collection) derived from the database, with field weights, stemming, prefix matching,
//! one-edit typo tolerance and visibility decided in the query itself, so pages, cursors and
//! counts never include what the caller may not see.
//!
//! The index holds every skill that is not deleted. It is rebuilt from the database at start
//! and then follows the database's change sequence (`skill_changes`, written by triggers in
//! the same transaction as each change): before every search and twice a second, so a change
//! made through any replica is found by the next search on every replica.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::Digest as _;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, RegexQuery, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value as _,
};
use tantivy::{DocAddress, IndexReader, IndexWriter, ReloadPolicy, Searcher, SegmentReader, TantivyDocument, Term};

use super::semantic::{Embedder, Semantic};
use crate::domain::Skill;
use crate::store::{Audience, SkillQuery};

/// Field weights: a match in the name counts most, then the display name, tags, the
/// description and last the README.
const WEIGHTS: [(&str, f32); 5] =
    [("name", 10.0), ("display", 8.0), ("tags", 5.0), ("description", 3.0), ("readme", 1.0)];
/// A word that only starts a word of the skill counts this much of a full match…
const PREFIX_WEIGHT: f32 = 0.5;
/// …and a word one edit away (words of five letters or more) this much.
const FUZZY_WEIGHT: f32 = 0.3;
/// Words shorter than this get no typo tolerance (too many neighbours).
const FUZZY_MIN_LEN: usize = 5;
/// Words one edit away are looked for only when the words as typed find fewer skills than
/// this (as Typesense's `typo_tokens_threshold`): a misspelt word finds little, and the
/// neighbours of a common word cost much of a search's time.
const TYPO_THRESHOLD: usize = 10;
/// Words shorter than this match whole words only: a prefix of one or two letters would
/// match much of the dictionary, at much of a search's cost.
const PREFIX_MIN_LEN: usize = 3;
/// How much popularity (downloads and stars) nudges near-ties, per e-fold.
const POPULARITY: f32 = 1e-3;
/// Memory the index writer may buffer before it flushes a segment.
const WRITER_MEMORY: usize = 15_000_000;

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
pub const FORMAT: u32 = 2;

struct Fields {
    id: Field,
    key: Field,
    namespace: Field,
    public: Field,
    published: Field,
    deprecated: Field,
    skill_type: Field,
    tag: Field,
    popularity: Field,
    /// (stemmed, unstemmed, weight) for each weighted text field.
    text: Vec<(Field, Field, f32)>,
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
    semantic: Option<Arc<Semantic>>,
}

/// How far a search reaches beyond public skills.
pub enum Reach<'a> {
    Public,
    /// Public skills and everything in these namespaces.
    Member(&'a [String]),
    Everything,
}

/// A stable 64-bit key for an id: the last tie-break, and what cursors compare.
fn id_key(id: &str) -> u64 {
    let digest = sha2::Sha256::digest(id.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
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
        let opened = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| fail(&e))
            .and_then(|d| tantivy::Index::open_or_create(d, schema.clone()).map_err(|e| fail(&e)));
        let index = match opened {
            Ok(index) if index.schema() == schema => index,
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
                drop(held);
                tantivy::Index::create(directory, schema, tantivy::IndexSettings::default())?
            }
        };
        Self::with_index(index, f, Some(dir.to_owned()))
    }

    fn with_index(index: tantivy::Index, f: Fields, dir: Option<PathBuf>) -> Result<Self, SearchError> {
        let writer = match index.writer_with_num_threads(1, WRITER_MEMORY) {
            Ok(writer) => writer,
            Err(tantivy::TantivyError::LockFailure(tantivy::directory::error::LockError::LockBusy, _)) => {
                return Err(SearchError::Busy(dir.map(|d| d.display().to_string()).unwrap_or_default()));
            }
            Err(e) => return Err(e.into()),
        };
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Self { index, reader, writer: Mutex::new(writer), f, dir, semantic: None })
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
        doc.add_u64(f.key, id_key(&s.id));
        doc.add_text(f.namespace, s.namespace.as_str());
        doc.add_u64(f.public, u64::from(s.visibility == crate::domain::Visibility::Public));
        doc.add_u64(f.published, u64::from(s.latest_version.is_some()));
        doc.add_u64(f.deprecated, u64::from(s.deprecated));
        doc.add_text(f.skill_type, s.skill_type.as_str());
        for t in &s.tags {
            doc.add_text(f.tag, t);
        }
        doc.add_u64(f.popularity, (s.downloads.max(0) + s.stars.max(0)) as u64);
        let tags = s.tags.join(" ");
        let texts =
            [s.name.as_str(), s.display_name.as_str(), tags.as_str(), s.description.as_str(), s.readme.as_str()];
        for ((stemmed, plain, _), text) in f.text.iter().zip(texts) {
            doc.add_text(*stemmed, text);
            doc.add_text(*plain, text);
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
        self.reader.reload()?;
        if let Some(semantic) = &self.semantic {
            semantic.update(skills, removed);
        }
        Ok(())
    }

    /// Commits, recording `stamp`; none while a rebuild is under way, so an index whose
    /// rebuild was cut short is rebuilt again rather than resumed.
    fn commit(&self, writer: &mut IndexWriter, stamp: Option<&Stamp>) -> Result<(), SearchError> {
        let mut commit = writer.prepare_commit()?;
        commit.set_payload(&stamp.and_then(|s| serde_json::to_string(s).ok()).unwrap_or_default());
        commit.commit()?;
        Ok(())
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
        self.reader.reload()?;
        Ok(())
    }

    /// Empties the index (before a rebuild).
    pub fn clear(&self, stamp: Option<&Stamp>) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer.delete_all_documents()?;
        self.commit(&mut writer, stamp)?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// The query `q` describes, for a caller who sees `visible`.
    fn query(&self, q: &SkillQuery, visible: &Reach<'_>, typos: bool) -> Result<BooleanQuery, SearchError> {
        Ok(BooleanQuery::new(self.clauses(q, visible, typos)?))
    }

    /// The clauses of `query`.
    fn clauses(&self, q: &SkillQuery, visible: &Reach<'_>, typos: bool) -> Result<Vec<Clause>, SearchError> {
        let f = &self.f;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (i, word) in q.terms.iter().enumerate() {
            // As you type, only the last word is unfinished.
            let last = i + 1 == q.terms.len();
            must.push((Occur::Must, self.word(word, last, typos)?));
        }
        let term = |field: Field, text: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic))
        };
        let flag = |field: Field, on: bool| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_u64(field, u64::from(on)), IndexRecordOption::Basic))
        };
        match visible {
            Reach::Everything => {}
            Reach::Public => must.push(filter(flag(f.public, true))),
            Reach::Member(namespaces) => {
                let mut any: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Should, flag(f.public, true))];
                any.extend(namespaces.iter().map(|n| (Occur::Should, term(f.namespace, n))));
                must.push(filter(Box::new(BooleanQuery::new(any))));
            }
        }
        if let Some(ns) = &q.namespace {
            must.push(filter(term(f.namespace, ns.as_str())));
        }
        for tag in &q.tags {
            must.push(filter(term(f.tag, tag)));
        }
        if let Some(t) = q.skill_type {
            must.push(filter(term(f.skill_type, t.as_str())));
        }
        if q.published_only {
            must.push(filter(flag(f.published, true)));
        }
        if let Some(d) = q.deprecated {
            must.push(filter(flag(f.deprecated, d)));
        }
        if !q.namespace_globs.is_empty() {
            let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for glob in &q.namespace_globs {
                any.push((Occur::Should, Box::new(RegexQuery::from_pattern(&glob_regex(glob), f.namespace)?)));
            }
            must.push(filter(Box::new(BooleanQuery::new(any))));
        }
        Ok(must)
    }

    /// One query word: its stems in every weighted field, the words it begins (`prefix`), and
    /// for longer words, words one edit away (`typos`).
    fn word(&self, word: &str, prefix: bool, typos: bool) -> Result<Box<dyn Query>, SearchError> {
        // The tokenizers drop tokens longer than this; a longer word matches what it begins.
        let word = truncate_bytes(word, MAX_TOKEN_BYTES);
        let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (stemmed, plain, weight) in &self.f.text {
            let mut analyzer = self.index.tokenizer_for_field(*stemmed)?;
            let mut stream = analyzer.token_stream(word);
            while stream.advance() {
                let term = Term::from_field_text(*stemmed, &stream.token().text);
                let exact = TermQuery::new(term, IndexRecordOption::WithFreqs);
                any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(exact), *weight))));
            }
            let plain_term = Term::from_field_text(*plain, word);
            if prefix && word.chars().count() >= PREFIX_MIN_LEN {
                let prefix = FuzzyTermQuery::new_prefix(plain_term.clone(), 0, true);
                any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(prefix), weight * PREFIX_WEIGHT))));
            }
            if typos && word.chars().count() >= FUZZY_MIN_LEN {
                let fuzzy = FuzzyTermQuery::new(plain_term, 1, true);
                any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(fuzzy), weight * FUZZY_WEIGHT))));
            }
        }
        Ok(Box::new(BooleanQuery::new(any)))
    }

    /// The ids of one page of skills matching `q` (its terms, filters, offset and limit),
    /// best first, with their scores.
    pub fn search(&self, q: &SkillQuery, visible: &Reach<'_>) -> Result<Vec<(String, f64)>, SearchError> {
        let limit = usize::try_from(q.limit.max(1)).unwrap_or(1);
        let offset = usize::try_from(q.offset.max(0)).unwrap_or(0);
        let searcher = self.reader.searcher();
        let strict = self.query(q, visible, false)?;
        let (matches, mut found) = searcher.search(&strict, &(Count, top(limit, offset)))?;
        if self.typos_worth_trying(q, matches) {
            found = searcher.search(&self.query(q, visible, true)?, &top(limit, offset))?;
        }
        let ranks: Vec<f64> = found.iter().map(|((rank, _), _)| f64::from(*rank)).collect();
        let ids = ids_of(&searcher, found.into_iter().map(|(_, address)| address))?;
        Ok(ids.into_iter().zip(ranks).collect())
    }

    /// How many skills match `q`, ignoring its cursor, offset and limit.
    pub fn count(&self, q: &SkillQuery, visible: &Reach<'_>) -> Result<i64, SearchError> {
        let searcher = self.reader.searcher();
        let mut matches = searcher.search(&self.query(q, visible, false)?, &Count)?;
        if self.typos_worth_trying(q, matches) {
            matches = searcher.search(&self.query(q, visible, true)?, &Count)?;
        }
        Ok(matches as i64)
    }

    /// Whether to look for words one edit away from the query's: only when the words as typed
    /// find fewer than `TYPO_THRESHOLD` skills, and a word is long enough to have typos. The
    /// choice depends on the query alone, never on the page, so every page and the count agree.
    fn typos_worth_trying(&self, q: &SkillQuery, matches: usize) -> bool {
        matches < TYPO_THRESHOLD && q.terms.iter().any(|w| w.chars().count() >= FUZZY_MIN_LEN)
    }
}

/// The skill ids of these documents, in order.
fn ids_of(searcher: &Searcher, addresses: impl IntoIterator<Item = DocAddress>) -> Result<Vec<String>, SearchError> {
    let mut ids = Vec::new();
    for address in addresses {
        let doc: TantivyDocument = searcher.doc(address)?;
        if let Some(id) = doc.get_first(searcher.schema().get_field("id")?).and_then(|v| v.as_str()) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// Collects one page: best rank first, popularity nudging near-ties, then a key fixed per skill.
fn top(limit: usize, offset: usize) -> impl tantivy::collector::Collector<Fruit = Vec<((f32, u64), DocAddress)>> {
    TopDocs::with_limit(limit).and_offset(offset).tweak_score(move |segment: &SegmentReader| {
        let keys = segment.fast_fields().u64("key").map(|c| c.first_or_default_col(0));
        let popularity = segment.fast_fields().u64("popularity").map(|c| c.first_or_default_col(0));
        move |doc, score: f32| {
            let (Ok(keys), Ok(popularity)) = (&keys, &popularity) else { return (0.0, 0) };
            let rank = score + POPULARITY * ((popularity.get_val(doc) + 1) as f32).ln();
            // Equal ranks fall back to a key fixed per skill, so pages never reshuffle ties.
            (rank, keys.get_val(doc))
        }
    })
}

/// The index's fields.
fn schema() -> (Schema, Fields) {
    let mut schema = Schema::builder();
    let id = schema.add_text_field("id", STRING | STORED);
    let key = schema.add_u64_field("key", FAST);
    let namespace = schema.add_text_field("namespace", STRING);
    let public = schema.add_u64_field("public", INDEXED);
    let published = schema.add_u64_field("published", INDEXED);
    let deprecated = schema.add_u64_field("deprecated", INDEXED);
    let skill_type = schema.add_text_field("type", STRING);
    let tag = schema.add_text_field("tag", STRING);
    let popularity = schema.add_u64_field("popularity", FAST);
    let stemmed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer("en_stem").set_index_option(IndexRecordOption::WithFreqs),
    );
    let plain = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer("default").set_index_option(IndexRecordOption::Basic),
    );
    let text = WEIGHTS
        .iter()
        .map(|(name, weight)| {
            let s = schema.add_text_field(name, stemmed.clone());
            let p = schema.add_text_field(&format!("{name}_plain"), plain.clone());
            (s, p, *weight)
        })
        .collect();
    let fields = Fields { id, key, namespace, public, published, deprecated, skill_type, tag, popularity, text };
    (schema.build(), fields)
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

/// The longest token the index keeps (tantivy's tokenizers drop longer ones).
const MAX_TOKEN_BYTES: usize = 40;

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate_bytes(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
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
    fn overlong_words_are_cut_at_a_character_boundary() {
        assert_eq!(truncate_bytes("short", 40), "short");
        let long = "é".repeat(30);
        let cut = truncate_bytes(&long, MAX_TOKEN_BYTES);
        assert!(cut.len() <= MAX_TOKEN_BYTES && cut.chars().all(|c| c == 'é'));
    }
}
