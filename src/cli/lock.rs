//! The lock file and the directories it records: which skill skilldex put where, and the
//! digest of every file it wrote, so it can tell its own untouched directories from
//! everything else. Relative paths in a lock file are relative to the lock file's directory
//! (the project), wherever the command runs from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::output::{Exit, fail};
use crate::bundle::Bundle;

/// The lock file: one pinned artifact per installed skill and every directory it went to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockFile {
    pub version: u32,
    pub skills: Vec<LockEntry>,
    /// The directory relative paths start from: the lock file's own.
    #[serde(skip)]
    root: PathBuf,
    /// Whether the file existed when read.
    #[serde(skip)]
    pub found: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockEntry {
    /// `namespace/name`
    pub skill: String,
    /// What was asked for (`^1.2`, `stable`, `latest`, …); `update` stays within it.
    pub requested: String,
    pub version: String,
    pub digest: String,
    /// `registry/repo@sha256:…`
    pub reference: String,
    /// Every directory the skill was installed into.
    #[serde(default)]
    pub targets: Vec<Installed>,
    /// The installed skills whose requirements (`requires:`) need this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_by: Vec<String>,
    /// Installed only because other skills need it: uninstalling the last of them removes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dependency: bool,
    /// Lock files of version 1 recorded one directory here.
    #[serde(default, skip_serializing)]
    pub(super) path: Option<PathBuf>,
}

/// One directory a skill was installed into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    /// Relative to the lock file's directory, or absolute.
    pub path: PathBuf,
    /// The agents that read this directory (none for `--dest`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// Each file's path and `sha256:` digest as installed: what "changed" is measured
    /// against. Empty for directories recorded by a version 1 lock file.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

const LOCK_VERSION: u32 = 2;

impl LockFile {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut lock: LockFile = match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut lock: LockFile = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a valid lock file", path.display()))?;
                lock.found = true;
                lock
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LockFile::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        lock.root = root;
        for entry in &mut lock.skills {
            if let Some(path) = entry.path.take() {
                entry.targets.push(Installed { path, agents: Vec::new(), files: BTreeMap::new() });
            }
        }
        Ok(lock)
    }

    pub fn write(&mut self, path: &Path) -> anyhow::Result<()> {
        self.version = LOCK_VERSION;
        self.skills.sort_by(|a, b| a.skill.cmp(&b.skill));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = path.with_extension("lock.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self)? + "\n")?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn entry(&self, skill: &str) -> Option<&LockEntry> {
        self.skills.iter().find(|e| e.skill == skill)
    }

    /// Where a recorded path is on disk, from wherever the command runs.
    pub fn disk(&self, recorded: &Path) -> PathBuf {
        if recorded.is_absolute() { recorded.to_path_buf() } else { self.root.join(recorded) }
    }

    /// How to record a path given relative to the current directory: relative to the lock
    /// file's directory when it is inside it, else absolute.
    pub fn recorded(&self, from_cwd: &Path) -> PathBuf {
        let Ok(cwd) = std::env::current_dir() else { return from_cwd.to_path_buf() };
        let absolute = cwd.join(from_cwd);
        let root = cwd.join(&self.root);
        match (canonical_prefix(&absolute), root.canonicalize()) {
            (Some(a), Ok(r)) => a.strip_prefix(&r).map(Path::to_path_buf).unwrap_or(a),
            _ => absolute,
        }
    }

    /// The skill installed at `recorded` (a recorded path), if skilldex put one there.
    pub fn owner_of(&self, recorded: &Path) -> Option<&LockEntry> {
        self.skills.iter().find(|e| e.targets.iter().any(|t| self.same(&t.path, recorded)))
    }

    /// Whether two recorded paths name one directory.
    pub fn same(&self, a: &Path, b: &Path) -> bool {
        a == b || matches!((self.disk(a).canonicalize(), self.disk(b).canonicalize()), (Ok(x), Ok(y)) if x == y)
    }

    /// How a recorded directory differs from what skilldex wrote there; `None` when it is
    /// gone.
    pub fn changes(&self, target: &Installed) -> anyhow::Result<Option<Changes>> {
        let dir = self.disk(&target.path);
        let Ok(meta) = dir.symlink_metadata() else { return Ok(None) };
        let mut c = Changes::default();
        if !meta.is_dir() {
            c.replaced = true;
            return Ok(Some(c));
        }
        if target.files.is_empty() {
            c.unverified = true;
            return Ok(Some(c));
        }
        let found = hash_tree(&dir)?;
        for (path, digest) in &found {
            match target.files.get(path) {
                Some(d) if d == digest => {}
                Some(_) => c.modified.push(path.clone()),
                None => c.added.push(path.clone()),
            }
        }
        c.removed = target.files.keys().filter(|p| !found.contains_key(*p)).cloned().collect();
        Ok(Some(c))
    }
}

/// The path with its deepest existing ancestor resolved (the rest need not exist yet).
fn canonical_prefix(path: &Path) -> Option<PathBuf> {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return Some(rest.iter().rev().fold(real, |p: PathBuf, part| p.join(part)));
        }
        rest.push(existing.file_name()?.to_owned());
        existing = existing.parent()?;
    }
}

/// How a directory differs from what skilldex installed there.
#[derive(Debug, Default, Serialize)]
pub struct Changes {
    pub modified: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Recorded by an older skilldex without file digests: whether it changed is unknown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unverified: bool,
    /// No longer a directory.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replaced: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.modified.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && !self.unverified
            && !self.replaced
    }

    pub fn describe(&self) -> String {
        if self.replaced {
            return "it is no longer a directory".into();
        }
        if self.unverified {
            return "an older skilldex recorded it without file digests, so changes cannot be told; \
                    `skilldex install` with no skill records them when nothing changed"
                .into();
        }
        let mut parts = Vec::new();
        for (what, files) in [("modified", &self.modified), ("added", &self.added), ("removed", &self.removed)] {
            if !files.is_empty() {
                parts.push(format!("{what}: {}", files.join(", ")));
            }
        }
        parts.join("; ")
    }

    /// The refusal for writing over (or removing) a changed directory.
    pub fn refusal(&self, dir: &Path, what_to_do: &str) -> anyhow::Error {
        fail(
            Exit::Conflict,
            format!("{} was changed since skilldex installed it ({}): {what_to_do}", dir.display(), self.describe()),
        )
    }
}

/// Every file under `dir` (relative, `/`-separated) and its digest, read in pieces; a link
/// or other special file counts as a file whose content is its kind, so it always differs.
pub fn hash_tree(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    fn digest_of(path: &Path) -> anyhow::Result<String> {
        use sha2::Digest as _;
        let mut file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut file, &mut hasher).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
    }
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() {
                out.insert(rel, digest_of(&path)?);
            } else {
                out.insert(rel, "not a regular file".to_owned());
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// The digest of every file of a bundle, as `hash_tree` would find them once extracted.
pub fn bundle_hashes(bundle: &Bundle) -> BTreeMap<String, String> {
    bundle.files.iter().map(|f| (f.path.clone(), crate::oci::layout::sha256_digest(&f.data))).collect()
}

/// A bundle written next to its target, waiting to be swapped into place.
pub struct Staged {
    staging: PathBuf,
    target: PathBuf,
}

/// Writes the bundle into a fresh directory beside `target` (nothing at `target` changes).
pub fn stage(bundle: &Bundle, target: &Path) -> anyhow::Result<Staged> {
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("skill");
    let staging = parent.join(format!(".{name}.new-{:08x}", rand::random::<u32>()));
    std::fs::create_dir(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let staged = Staged { staging, target: target.to_path_buf() };
    let written = (|| -> anyhow::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        for f in &bundle.files {
            // Paths were checked by the bundle rules: relative, no `..`, no links.
            let path = staged.staging.join(&f.path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mode = if f.executable { 0o755 } else { 0o644 };
            let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&path)?;
            out.write_all(&f.data)?;
        }
        Ok(())
    })();
    match written {
        Ok(()) => Ok(staged),
        Err(e) => {
            let staging = staged.staging.clone();
            drop(staged);
            Err(e.context(format!("cannot write into {}", staging.display())))
        }
    }
}

impl Staged {
    /// Swaps the staged directory into place; what was there goes only once the new one is in.
    pub fn commit(self) -> anyhow::Result<()> {
        let name = self.target.file_name().and_then(|n| n.to_str()).unwrap_or("skill");
        let old = self.target.with_file_name(format!(".{name}.old-{:08x}", rand::random::<u32>()));
        let had_old = self.target.symlink_metadata().is_ok();
        if had_old {
            std::fs::rename(&self.target, &old).with_context(|| format!("cannot replace {}", self.target.display()))?;
        }
        if let Err(e) = std::fs::rename(&self.staging, &self.target) {
            if had_old {
                let _ = std::fs::rename(&old, &self.target);
            }
            return Err(e).with_context(|| format!("cannot move into {}", self.target.display()));
        }
        if had_old {
            let _ = std::fs::remove_dir_all(&old).or_else(|_| std::fs::remove_file(&old));
        }
        Ok(())
    }
}

impl Drop for Staged {
    /// A staged directory never swapped in is removed (once swapped in, it is no longer there).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}
