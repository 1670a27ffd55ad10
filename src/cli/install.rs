//! `skilldex install`, `uninstall`, `list`, `outdated` and `update`: skills pulled by digest,
//! checked, extracted atomically into the skill directories of one or more agents, and pinned
//! in a lock file that records every directory skilldex wrote and the hash of every file in
//! it. skilldex replaces only what it installed and nobody changed since; anything else is
//! refused unless `--force`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::Client;
use super::RemoteArgs;
use super::agents::{self, Agent};
use super::output::{Exit, Out, fail, note, table, warn};
use super::registry::RegistryArgs;
use super::resolve::{resolve_skill, split_spec};
use super::skill::SkillRef;
use crate::api::wire::ResolveResponse;
use crate::bundle::Bundle;
use crate::oci::{FetchError, OciError, fetch_bundle, parse_reference};

/// Where skills go and which lock file records them.
#[derive(Debug, Clone, clap::Args)]
pub struct PlaceArgs {
    /// An agent to install for: a name (see `skilldex agents`), `all`, or `auto` (the agents
    /// found on this machine); repeat for several. Default: where the skill is installed
    /// already, else Claude Code.
    #[arg(long = "agent", short = 'a', value_name = "AGENT", conflicts_with = "dest")]
    pub agents: Vec<String>,
    /// Install for the user (each agent's directory in your home) instead of this project;
    /// recorded in the user lock file next to the CLI's config.
    #[arg(long, short = 'g')]
    pub global: bool,
    /// Install under this directory instead of an agent's (`DIR/<name>`).
    #[arg(long, value_name = "DIR")]
    pub dest: Option<PathBuf>,
    /// The lock file; default: `skilldex.lock` (with --global, the user lock file).
    #[arg(long)]
    pub lock_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub place: PlaceArgs,
    /// `namespace/name[@version|range|channel]`; none: everything the lock file pins.
    pub skill: Option<String>,
    /// The directory name to install as (default: the skill's name), to keep two skills of
    /// one name side by side.
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<crate::domain::SkillName>,
    /// Reinstall exactly the digests pinned in the lock file, without asking the index.
    #[arg(long)]
    pub locked: bool,
    /// Change nothing: exit with 7 when a directory the lock file records is missing or was
    /// changed (for CI).
    #[arg(long, conflicts_with_all = ["skill", "locked", "force"])]
    pub check: bool,
    /// Replace a directory skilldex did not install, or one changed since it did.
    #[arg(long)]
    pub force: bool,
    /// Verify the signatures against this trust policy file before extracting anything.
    #[arg(long)]
    pub policy: Option<PathBuf>,
}

/// The lock file: one pinned artifact per installed skill and every directory it went to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockFile {
    pub version: u32,
    pub skills: Vec<LockEntry>,
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
    /// Lock files of version 1 recorded one directory here.
    #[serde(default, skip_serializing)]
    path: Option<PathBuf>,
}

/// One directory a skill was installed into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    pub path: PathBuf,
    /// The agents that read this directory (none for `--dest`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// Each file's path and `sha256:` digest as installed: what "changed locally" is measured
    /// against.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

const LOCK_VERSION: u32 = 2;

impl LockFile {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let mut lock: LockFile = match std::fs::read_to_string(path) {
            Ok(text) => {
                serde_json::from_str(&text).with_context(|| format!("{} is not a valid lock file", path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LockFile::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        for entry in &mut lock.skills {
            if let Some(path) = entry.path.take() {
                entry.targets.push(Installed { path, agents: Vec::new(), files: BTreeMap::new() });
            }
        }
        Ok(lock)
    }

    fn write(&mut self, path: &Path) -> anyhow::Result<()> {
        self.version = LOCK_VERSION;
        self.skills.sort_by(|a, b| a.skill.cmp(&b.skill));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = path.with_extension("lock.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self)? + "\n")?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }

    fn entry(&self, skill: &str) -> Option<&LockEntry> {
        self.skills.iter().find(|e| e.skill == skill)
    }

    /// The skill installed at `dir`, if skilldex put one there.
    fn owner_of(&self, dir: &Path) -> Option<&LockEntry> {
        self.skills.iter().find(|e| e.targets.iter().any(|t| same_path(&t.path, dir)))
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

impl PlaceArgs {
    fn lock_path(&self) -> anyhow::Result<PathBuf> {
        match (&self.lock_file, self.global) {
            (Some(p), _) => Ok(p.clone()),
            (None, false) => Ok(PathBuf::from("skilldex.lock")),
            (None, true) => super::profile::config_home()
                .map(|c| c.join("skilldex").join("skilldex.lock"))
                .ok_or_else(|| fail(Exit::Usage, "HOME is not set, so the user lock file has no place")),
        }
    }

    /// The directories (each with the agents reading it) to install `dir_name` into.
    fn targets(&self, dir_name: &str, already: Option<&LockEntry>) -> anyhow::Result<Vec<(PathBuf, Vec<String>)>> {
        if let Some(dest) = &self.dest {
            return Ok(vec![(dest.join(dir_name), Vec::new())]);
        }
        let mut out: Vec<(PathBuf, Vec<String>)> = Vec::new();
        let add = |out: &mut Vec<(PathBuf, Vec<String>)>, path: PathBuf, agent: Option<&str>| match out
            .iter_mut()
            .find(|(p, _)| same_path(p, &path))
        {
            Some((_, names)) => names.extend(agent.map(str::to_owned)),
            None => out.push((path, agent.map(str::to_owned).into_iter().collect())),
        };
        // Where it is installed already stays up to date; new agents are added.
        for t in already.map(|e| e.targets.as_slice()).unwrap_or_default() {
            add(&mut out, t.path.clone(), None);
            if let Some((_, names)) = out.iter_mut().find(|(p, _)| same_path(p, &t.path)) {
                names.extend(t.agents.iter().cloned());
            }
        }
        let chosen: Vec<&Agent> = match (self.agents.is_empty(), out.is_empty()) {
            (false, _) => agents::chosen(&self.agents)?,
            (true, true) => vec![&agents::AGENTS[0]],
            (true, false) => Vec::new(),
        };
        for agent in chosen {
            add(&mut out, agent.skills_dir(self.global)?.join(dir_name), Some(agent.name));
        }
        for (_, names) in &mut out {
            names.sort();
            names.dedup();
        }
        Ok(out)
    }
}

/// How a directory differs from what skilldex installed there.
#[derive(Debug, Default, Serialize)]
pub struct Changes {
    pub modified: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.modified.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (what, files) in [("modified", &self.modified), ("added", &self.added), ("removed", &self.removed)] {
            if !files.is_empty() {
                parts.push(format!("{what}: {}", files.join(", ")));
            }
        }
        parts.join("; ")
    }
}

/// Compares a directory with the files recorded for it (an old lock without hashes: only
/// that the directory is there).
fn changes(target: &Installed) -> anyhow::Result<Option<Changes>> {
    if !target.path.exists() {
        return Ok(None);
    }
    let found = hash_tree(&target.path)?;
    let mut c = Changes::default();
    if target.files.is_empty() {
        return Ok(Some(c));
    }
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

/// Every file under `dir` (relative, `/`-separated) and its digest; a link or other
/// special file counts as a file whose content is its kind, so it always shows as changed.
fn hash_tree(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() {
                let data = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                out.insert(rel, crate::oci::layout::sha256_digest(&data));
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

fn bundle_hashes(bundle: &Bundle) -> BTreeMap<String, String> {
    bundle.files.iter().map(|f| (f.path.clone(), crate::oci::layout::sha256_digest(&f.data))).collect()
}

/// Whether `dir` may receive `skill`: it is free, or skilldex installed this skill there and
/// nobody changed it since; `--force` overrides. Says exactly what is in the way.
fn may_write(lock: &LockFile, skill: &str, dir: &Path, force: bool) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    let Some(owner) = lock.owner_of(dir) else {
        if dir.exists() {
            return Err(fail(
                Exit::Conflict,
                format!(
                    "{} exists and skilldex did not install it: move it away, install under another name \
                     with `--as NAME`, or replace it with --force",
                    dir.display()
                ),
            ));
        }
        return Ok(());
    };
    if owner.skill != skill {
        return Err(fail(
            Exit::Conflict,
            format!(
                "{} holds {}: install {skill} beside it with `--as NAME`, or replace it with --force",
                dir.display(),
                owner.skill
            ),
        ));
    }
    let target = owner.targets.iter().find(|t| same_path(&t.path, dir)).expect("the owner has this target");
    if let Some(c) = changes(target)?.filter(|c| !c.is_empty()) {
        return Err(fail(
            Exit::Conflict,
            format!(
                "{} was changed since skilldex installed it ({}): copy your edits elsewhere, or discard them with --force",
                dir.display(),
                c.describe()
            ),
        ));
    }
    Ok(())
}

/// Installs one skill, resolved by the index, into its directories and records it.
async fn install_one(
    args: &InstallArgs,
    client: &Client,
    lock: &mut LockFile,
    requested: &str,
) -> anyhow::Result<LockEntry> {
    let (skill, spec) = split_spec(requested);
    let skill: SkillRef = skill.parse().map_err(|e: anyhow::Error| fail(Exit::Usage, e.to_string()))?;
    let key = format!("{}/{}", skill.scope, skill.slug);
    let resolved = resolve_skill(client, &skill, spec).await?;
    warn_about(&key, &resolved);
    if let Some(file) = &args.policy {
        check_policy(&args.registry, file, &skill, &resolved.reference).await?;
    }
    let bundle = pull(&args.registry, client, &resolved.reference, &resolved.digest, skill.slug.as_str()).await?;
    // The directory is named after the skill inside (agents match it against SKILL.md's name),
    // so a fork keeps its original's directory unless told otherwise.
    let dir_name = args.as_name.as_ref().map_or_else(|| bundle.name().to_owned(), ToString::to_string);
    let targets = args.place.targets(&dir_name, lock.entry(&key))?;
    for (dir, _) in &targets {
        may_write(lock, &key, dir, args.force)?;
    }
    let entry = LockEntry {
        skill: key.clone(),
        requested: spec.unwrap_or("latest").to_owned(),
        version: resolved.version.clone(),
        digest: resolved.digest.clone(),
        reference: resolved.reference.clone(),
        targets: place(&bundle, &targets)?,
        path: None,
    };
    record(lock, entry.clone());
    count_download(client, &skill, &resolved.version).await;
    Ok(entry)
}

/// Extracts the bundle into every directory; returns what was written where.
fn place(bundle: &Bundle, targets: &[(PathBuf, Vec<String>)]) -> anyhow::Result<Vec<Installed>> {
    let files = bundle_hashes(bundle);
    let mut done = Vec::new();
    for (dir, agents) in targets {
        extract(bundle, dir)?;
        done.push(Installed { path: dir.clone(), agents: agents.clone(), files: files.clone() });
    }
    Ok(done)
}

/// Puts `entry` in the lock: its directories are taken from any other skill (only possible
/// with --force), and it replaces the skill's previous entry.
fn record(lock: &mut LockFile, entry: LockEntry) {
    for other in &mut lock.skills {
        other.targets.retain(|t| !entry.targets.iter().any(|n| same_path(&n.path, &t.path)));
    }
    lock.skills.retain(|e| e.skill != entry.skill && !e.targets.is_empty());
    lock.skills.push(entry);
}

fn warn_about(skill: &str, r: &ResolveResponse) {
    if r.yanked {
        warn(format!("{skill}@{} is yanked: its publisher withdrew it", r.version));
    }
    if r.deprecated {
        let why = r.deprecation_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        warn(format!("{skill} is deprecated{why}"));
    }
}

/// Counts an install as a download; a failure costs only the count.
async fn count_download(client: &Client, skill: &SkillRef, version: &str) {
    let path = format!("/api/v1/skills/{}/{}/download?version={}", skill.scope, skill.slug, version);
    if let Err(e) = client.get::<serde_json::Value>(&path).await {
        tracing::debug!(error = %e, "the download was not counted");
    }
}

pub async fn run(args: InstallArgs, out: Out) -> anyhow::Result<()> {
    let lock_path = args.place.lock_path()?;
    let mut lock = LockFile::read(&lock_path)?;
    if args.check {
        return check(&lock, &lock_path, out);
    }
    let client = Client::new(&args.remote)?;
    let installed = match (&args.skill, args.locked) {
        (Some(requested), false) => {
            let entry = install_one(&args, &client, &mut lock, requested).await?;
            lock.write(&lock_path)?;
            vec![entry]
        }
        (wanted, _) => {
            let only = wanted.as_deref().map(|w| split_spec(w).0);
            let entries: Vec<LockEntry> =
                lock.skills.iter().filter(|e| only.is_none_or(|o| o == e.skill)).cloned().collect();
            if entries.is_empty() {
                return Err(match only {
                    Some(o) => fail(Exit::NotFound, format!("{o} is not in {}", lock_path.display())),
                    None => fail(Exit::Usage, format!("{} pins no skills: name one to install", lock_path.display())),
                });
            }
            let mut done = Vec::new();
            for entry in entries {
                if let Some(e) = reinstall(&args, &client, &mut lock, entry).await? {
                    done.push(e);
                }
                lock.write(&lock_path)?;
            }
            done
        }
    };
    out.show(&installed, |installed| {
        for e in installed {
            let dirs: Vec<String> = e.targets.iter().map(|t| t.path.display().to_string()).collect();
            note(format!("installed {}@{} ({}) into {}", e.skill, e.version, e.digest, dirs.join(", ")));
        }
    })
}

/// Reinstalls a lock entry exactly as pinned, into each of its directories that is missing
/// or differs; `None` when every one was already as recorded.
async fn reinstall(
    args: &InstallArgs,
    client: &Client,
    lock: &mut LockFile,
    entry: LockEntry,
) -> anyhow::Result<Option<LockEntry>> {
    let mut stale = Vec::new();
    for t in &entry.targets {
        match changes(t)? {
            None => stale.push((t.path.clone(), t.agents.clone())),
            Some(c) if c.is_empty() && !t.files.is_empty() => {}
            Some(c) if c.is_empty() => stale.push((t.path.clone(), t.agents.clone())),
            Some(c) if args.force => {
                warn(format!("discarding local changes in {} ({})", t.path.display(), c.describe()));
                stale.push((t.path.clone(), t.agents.clone()));
            }
            Some(c) => {
                return Err(fail(
                    Exit::Conflict,
                    format!(
                        "{} was changed since skilldex installed it ({}): copy your edits elsewhere, or discard them with --force",
                        t.path.display(),
                        c.describe()
                    ),
                ));
            }
        }
    }
    if stale.is_empty() {
        note(format!("{}@{} is up to date", entry.skill, entry.version));
        return Ok(None);
    }
    let skill: SkillRef = entry.skill.parse()?;
    let bundle = pull(&args.registry, client, &entry.reference, &entry.digest, skill.slug.as_str()).await?;
    let placed = place(&bundle, &stale)?;
    let mut updated = entry.clone();
    for p in placed {
        match updated.targets.iter_mut().find(|t| same_path(&t.path, &p.path)) {
            Some(t) => *t = p,
            None => updated.targets.push(p),
        }
    }
    record(lock, updated.clone());
    Ok(Some(updated))
}

/// `install --check`: every directory the lock records is there and unchanged.
fn check(lock: &LockFile, lock_path: &Path, out: Out) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Problem {
        skill: String,
        path: PathBuf,
        problem: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        changes: Option<Changes>,
    }
    let mut problems = Vec::new();
    for e in &lock.skills {
        for t in &e.targets {
            let (problem, changes) = match changes(t)? {
                None => ("missing".to_owned(), None),
                Some(c) if c.is_empty() => continue,
                Some(c) => ("changed".to_owned(), Some(c)),
            };
            problems.push(Problem { skill: e.skill.clone(), path: t.path.clone(), problem, changes });
        }
    }
    out.show(&problems, |problems| {
        for p in problems {
            let detail = p.changes.as_ref().map(|c| format!(" ({})", c.describe())).unwrap_or_default();
            note(format!("{}: {} is {}{detail}", p.skill, p.path.display(), p.problem));
        }
    })?;
    if !problems.is_empty() {
        return Err(fail(
            Exit::Check,
            format!(
                "{} director{} disagree with {}: run `skilldex install` to restore them",
                problems.len(),
                if problems.len() == 1 { "y" } else { "ies" },
                lock_path.display()
            ),
        ));
    }
    note(format!("every skill in {} is installed as pinned", lock_path.display()));
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub place: PlaceArgs,
    /// `namespace/name`, or just the name when only one installed skill has it.
    pub skill: String,
    /// Remove directories even when they were changed since skilldex installed them.
    #[arg(long)]
    pub force: bool,
}

/// Removes a skill's directories (only unchanged ones, unless --force) and its lock entry.
pub fn uninstall(args: UninstallArgs, out: Out) -> anyhow::Result<()> {
    let lock_path = args.place.lock_path()?;
    let mut lock = LockFile::read(&lock_path)?;
    let entry = find_installed(&lock, &args.skill, &lock_path)?.clone();
    for t in &entry.targets {
        if let Some(c) = changes(t)?.filter(|c| !c.is_empty() && !args.force) {
            return Err(fail(
                Exit::Conflict,
                format!(
                    "{} was changed since skilldex installed it ({}): keep it by moving it away first, or remove it with --force",
                    t.path.display(),
                    c.describe()
                ),
            ));
        }
    }
    for t in &entry.targets {
        match std::fs::remove_dir_all(&t.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", t.path.display())),
        }
    }
    lock.skills.retain(|e| e.skill != entry.skill);
    lock.write(&lock_path)?;
    out.show(&entry, |e| {
        let dirs: Vec<String> = e.targets.iter().map(|t| t.path.display().to_string()).collect();
        note(format!(
            "uninstalled {} (removed {})",
            e.skill,
            if dirs.is_empty() { "nothing".into() } else { dirs.join(", ") }
        ))
    })
}

fn find_installed<'a>(lock: &'a LockFile, name: &str, lock_path: &Path) -> anyhow::Result<&'a LockEntry> {
    let name = split_spec(name).0;
    let matches: Vec<&LockEntry> = lock
        .skills
        .iter()
        .filter(|e| e.skill == name || (!name.contains('/') && e.skill.rsplit('/').next() == Some(name)))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(fail(Exit::NotFound, format!("{name} is not installed (not in {})", lock_path.display()))),
        many => {
            let names: Vec<&str> = many.iter().map(|e| e.skill.as_str()).collect();
            Err(fail(Exit::Usage, format!("`{name}` is ambiguous: name one of {}", names.join(", "))))
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub place: PlaceArgs,
}

/// One installed skill as the index sees it now.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledStatus {
    pub skill: String,
    pub requested: String,
    pub version: String,
    /// The newest version within `requested`.
    pub wanted: Option<String>,
    /// The newest version of all.
    pub latest: Option<String>,
    /// `up to date`, `outdated`, `yanked`, `deprecated`, `modified`, `missing` or
    /// `unknown` (the index did not answer), most pressing first.
    pub status: Vec<String>,
    pub paths: Vec<PathBuf>,
}

async fn status_of(client: &Client, e: &LockEntry) -> InstalledStatus {
    let mut status = Vec::new();
    for t in &e.targets {
        match changes(t) {
            Ok(None) => status.push("missing".to_owned()),
            Ok(Some(c)) if !c.is_empty() => status.push("modified".to_owned()),
            _ => {}
        }
    }
    let (mut wanted, mut latest) = (None, None);
    match e.skill.parse::<SkillRef>() {
        Ok(skill) => {
            let spec = (e.requested != "latest").then_some(e.requested.as_str());
            let pinned = resolve_skill(client, &skill, Some(&e.version)).await;
            let within = resolve_skill(client, &skill, spec).await;
            let newest = resolve_skill(client, &skill, None).await;
            match &pinned {
                Ok(p) if p.yanked => status.push("yanked".to_owned()),
                Ok(p) if p.deprecated => status.push("deprecated".to_owned()),
                Ok(_) => {}
                Err(_) => status.push("unknown".to_owned()),
            }
            wanted = within.ok().map(|r| r.version);
            latest = newest.ok().map(|r| r.version);
            if wanted.as_deref().is_some_and(|w| newer(w, &e.version)) {
                status.push("outdated".to_owned());
            }
        }
        Err(_) => status.push("unknown".to_owned()),
    }
    status.sort();
    status.dedup();
    if status.is_empty() {
        status.push("up to date".to_owned());
    }
    InstalledStatus {
        skill: e.skill.clone(),
        requested: e.requested.clone(),
        version: e.version.clone(),
        wanted,
        latest,
        status,
        paths: e.targets.iter().map(|t| t.path.clone()).collect(),
    }
}

fn newer(a: &str, b: &str) -> bool {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

pub async fn list(args: ListArgs, out: Out, only_outdated: bool) -> anyhow::Result<()> {
    let lock_path = args.place.lock_path()?;
    let lock = LockFile::read(&lock_path)?;
    let client = Client::new(&args.remote)?;
    let mut rows = Vec::new();
    for e in &lock.skills {
        let s = status_of(&client, e).await;
        let outdated = s.latest.as_deref().is_some_and(|l| newer(l, &s.version));
        if !only_outdated || outdated {
            rows.push(s);
        }
    }
    out.show(&rows, |rows| {
        if rows.is_empty() {
            note(if only_outdated { "Every installed skill is up to date." } else { "No skills installed here." });
            return;
        }
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut row = vec![r.skill.clone(), r.version.clone()];
                if only_outdated {
                    row.push(r.wanted.clone().unwrap_or_else(|| "-".into()));
                    row.push(r.latest.clone().unwrap_or_else(|| "-".into()));
                } else {
                    row.push(r.requested.clone());
                    row.push(r.status.join(", "));
                    row.push(r.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "));
                }
                row
            })
            .collect();
        if only_outdated {
            table(&["SKILL", "CURRENT", "WANTED", "LATEST"], &cells);
        } else {
            table(&["SKILL", "VERSION", "REQUESTED", "STATUS", "INSTALLED IN"], &cells);
        }
    })
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub place: PlaceArgs,
    /// One installed skill (`namespace/name` or its name); default: every one.
    pub skill: Option<String>,
    /// Discard local changes in the directories being updated.
    #[arg(long)]
    pub force: bool,
}

/// Moves installed skills to the newest version their requested range or channel allows.
pub async fn update(args: UpdateArgs, out: Out) -> anyhow::Result<()> {
    let lock_path = args.place.lock_path()?;
    let mut lock = LockFile::read(&lock_path)?;
    let entries: Vec<LockEntry> = match &args.skill {
        Some(name) => vec![find_installed(&lock, name, &lock_path)?.clone()],
        None => lock.skills.clone(),
    };
    let install = InstallArgs {
        remote: args.remote.clone(),
        registry: args.registry.clone(),
        place: PlaceArgs { agents: Vec::new(), dest: None, ..args.place.clone() },
        skill: None,
        as_name: None,
        locked: false,
        check: false,
        force: args.force,
        policy: None,
    };
    let client = Client::new(&args.remote)?;
    let mut updated = Vec::new();
    for e in entries {
        let requested = if e.requested == "latest" { e.skill.clone() } else { format!("{}@{}", e.skill, e.requested) };
        let skill: SkillRef = e.skill.parse()?;
        let spec = (e.requested != "latest").then_some(e.requested.as_str());
        let resolved = resolve_skill(&client, &skill, spec).await?;
        if resolved.digest == e.digest {
            note(format!("{}@{} is up to date", e.skill, e.version));
            continue;
        }
        let mut entry = install_one(&install, &client, &mut lock, &requested).await?;
        entry.requested = e.requested.clone();
        record(&mut lock, entry.clone());
        lock.write(&lock_path)?;
        note(format!("updated {} from {} to {}", e.skill, e.version, entry.version));
        updated.push(entry);
    }
    out.show(&updated, |_| {})
}

/// Verifies the artifact against a local policy file; fails unless every enforcing policy
/// passes (warn mode prints the failure and goes on).
async fn check_policy(registry: &RegistryArgs, file: &Path, skill: &SkillRef, reference: &str) -> anyhow::Result<()> {
    let set = crate::policy::PolicySet::load_file(file)?;
    let policies = set.applicable(skill.scope.as_str());
    if policies.is_empty() {
        return Err(fail(Exit::Usage, format!("{} does not cover namespace `{}`", file.display(), skill.scope)));
    }
    let registries = registry.registries(parse_reference(reference)?.resolve_registry());
    let verdict = super::sign::verify_artifact(&registries, reference, &policies, skill.slug.as_str()).await?;
    if let Some(p) = verdict.enforced_failure() {
        return Err(fail(
            Exit::Failure,
            format!("refusing to install {reference}: policy `{}` ({}): {}", p.policy, p.status.as_str(), p.reason),
        ));
    }
    if verdict.status != crate::policy::SignatureStatus::Verified {
        warn(super::sign::reasons(&verdict));
    } else {
        note(format!("verified {reference} ({})", verdict.identity.as_deref().unwrap_or("signed")));
    }
    Ok(())
}

/// Pulls by digest and refuses anything whose digest differs from the pin. The server's own
/// registry is read with the CLI's token, so private skills install for their team.
async fn pull(
    registry: &RegistryArgs,
    client: &Client,
    reference: &str,
    digest: &str,
    name: &str,
) -> anyhow::Result<Bundle> {
    let r = parse_reference(reference)?;
    if r.digest() != Some(digest) {
        return Err(fail(Exit::Failure, format!("{reference} is not pinned to {digest}")));
    }
    let registries = Pulling(registry.registries_with_server(r.resolve_registry(), client));
    let fetched = match fetch_bundle(&registries, reference, name, &super::bundle_limits()?).await {
        Ok(f) => f,
        Err(e) => {
            let exit = match &e {
                FetchError::Oci(OciError::Unauthorized(_)) => Exit::Auth,
                FetchError::Oci(OciError::NotFound(_) | OciError::Refused(_)) => Exit::NotFound,
                FetchError::Oci(OciError::Unreachable(..) | OciError::Registry(..)) => Exit::Network,
                _ => Exit::Failure,
            };
            return Err(fail(exit, format!("pulling {reference}: {e}")));
        }
    };
    if fetched.digest != digest {
        return Err(fail(Exit::Failure, format!("digest mismatch for {reference}: got {}", fetched.digest)));
    }
    Ok(fetched.bundle)
}

/// Registries that draw a progress bar while a layer comes in (on a terminal, when large).
struct Pulling(crate::oci::Registries);

#[async_trait::async_trait]
impl crate::oci::ArtifactSource for Pulling {
    async fn resolve(&self, r: &oci_client::Reference) -> Result<String, OciError> {
        self.0.resolve(r).await
    }
    async fn manifest(&self, r: &oci_client::Reference) -> Result<(Vec<u8>, String), OciError> {
        self.0.manifest(r).await
    }
    async fn blob(
        &self,
        repo: &oci_client::Reference,
        desc: &crate::oci::layout::Descriptor,
        max: u64,
    ) -> Result<Vec<u8>, OciError> {
        let bar = super::output::progress(desc.size, format!("pulling {}", repo.repository()));
        let got = self.0.blob_with_progress(repo, desc, max, &|n| bar.inc(n)).await;
        bar.finish();
        got
    }
    async fn referrers(
        &self,
        subject: &oci_client::Reference,
    ) -> Result<Vec<crate::oci::layout::Descriptor>, OciError> {
        self.0.referrers(subject, None).await
    }
}

/// Writes the bundle into a fresh sibling directory, then swaps it into place, so a failed
/// install never leaves a half-written skill behind.
fn extract(bundle: &Bundle, target: &Path) -> anyhow::Result<()> {
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("skill");
    let suffix = format!("{:08x}", rand::random::<u32>());
    let staging = parent.join(format!(".{name}.new-{suffix}"));
    std::fs::create_dir(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let written = (|| -> anyhow::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        for f in &bundle.files {
            // Paths were checked by the bundle rules: relative, no `..`, no links.
            let path = staging.join(&f.path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mode = if f.executable { 0o755 } else { 0o644 };
            let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&path)?;
            out.write_all(&f.data)?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e.context(format!("cannot write into {}", staging.display())));
    }
    let old = parent.join(format!(".{name}.old-{suffix}"));
    let had_old = target.symlink_metadata().is_ok();
    if had_old {
        std::fs::rename(target, &old).with_context(|| format!("cannot replace {}", target.display()))?;
    }
    std::fs::rename(&staging, target).with_context(|| format!("cannot move into {}", target.display()))?;
    if had_old {
        let _ = std::fs::remove_dir_all(&old).or_else(|_| std::fs::remove_file(&old));
    }
    Ok(())
}

/// `skilldex agents`: the agents `--agent` knows and their directories.
pub fn list_agents(out: Out) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Row {
        name: &'static str,
        agent: &'static str,
        project: PathBuf,
        user: Option<PathBuf>,
    }
    let rows: Vec<Row> = agents::AGENTS
        .iter()
        .map(|a| Row {
            name: a.name,
            agent: a.display,
            project: a.skills_dir(false).unwrap_or_default(),
            user: a.skills_dir(true).ok(),
        })
        .collect();
    out.show(&rows, |rows| {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let user = r.user.as_ref().map(|u| u.display().to_string()).unwrap_or_else(|| "-".into());
                vec![r.name.to_owned(), r.agent.to_owned(), r.project.display().to_string(), user]
            })
            .collect();
        table(&["NAME", "AGENT", "PROJECT DIRECTORY", "USER DIRECTORY (--global)"], &cells);
    })
}
