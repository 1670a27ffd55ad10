//! `skilldex install`, `uninstall`, `list`, `outdated` and `update`: skills pulled by digest,
//! checked, extracted atomically into the skill directories of one or more agents, and pinned
//! in a lock file that records every directory skilldex wrote and the hash of every file in
//! it. skilldex replaces only what it installed and nobody changed since; anything else is
//! refused unless `--force`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Client;
use super::RemoteArgs;
use super::agents::{self, Agent};
use super::lock::{Installed, LockEntry, LockFile, Staged, bundle_hashes, hash_tree, stage};
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

    /// The directories (as the lock records them, each with the agents reading it) to
    /// install `dir_name` into: wherever the skill is installed already, plus `--dest` or the
    /// agents asked for (Claude Code for a skill installed nowhere yet).
    fn targets(
        &self,
        lock: &LockFile,
        dir_name: &str,
        already: Option<&LockEntry>,
    ) -> anyhow::Result<Vec<(PathBuf, Vec<String>)>> {
        let mut out: Vec<(PathBuf, Vec<String>)> = Vec::new();
        let mut add = |path: PathBuf, names: &[String]| match out.iter_mut().find(|(p, _)| lock.same(p, &path)) {
            Some((_, known)) => known.extend(names.iter().cloned()),
            None => out.push((path, names.to_vec())),
        };
        for t in already.map(|e| e.targets.as_slice()).unwrap_or_default() {
            add(t.path.clone(), &t.agents);
        }
        if let Some(dest) = &self.dest {
            add(lock.recorded(&dest.join(dir_name)), &[]);
        } else {
            let chosen: Vec<&Agent> = match (self.agents.is_empty(), already.is_some()) {
                (false, _) => agents::chosen(&self.agents)?,
                (true, false) => vec![&agents::AGENTS[0]],
                (true, true) => Vec::new(),
            };
            for agent in chosen {
                // Project directories are relative to the project: the lock file's directory.
                add(agent.skills_dir(self.global)?.join(dir_name), &[agent.name.to_owned()]);
            }
        }
        for (_, names) in &mut out {
            names.sort();
            names.dedup();
        }
        Ok(out)
    }

    /// Refuses where-to flags on a command that keeps skills where they are.
    fn none_given(&self, command: &str) -> anyhow::Result<()> {
        if !self.agents.is_empty() || self.dest.is_some() {
            return Err(fail(
                Exit::Usage,
                format!("{command} keeps each skill where the lock file says: -a/--dest apply to `install NAME`"),
            ));
        }
        Ok(())
    }
}

/// Whether `dir` (as recorded) may receive `skill`: it is free, or skilldex installed this
/// skill there and nobody changed it since; `--force` overrides. Says exactly what is in the way.
fn may_write(lock: &LockFile, skill: &str, dir: &Path, force: bool) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    let shown = lock.disk(dir);
    let Some(owner) = lock.owner_of(dir) else {
        if shown.symlink_metadata().is_ok() {
            return Err(fail(
                Exit::Conflict,
                format!(
                    "{} exists and skilldex did not install it: move it away, install under another name \
                     with `--as NAME`, or replace it with --force",
                    shown.display()
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
                shown.display(),
                owner.skill
            ),
        ));
    }
    let target = owner.targets.iter().find(|t| lock.same(&t.path, dir)).expect("the owner has this target");
    match lock.changes(target)? {
        Some(c) if !c.is_empty() => Err(c.refusal(&shown, "copy your edits elsewhere, or discard them with --force")),
        _ => Ok(()),
    }
}

/// Installs one skill, resolved by the index, into its directories and records it, then
/// the skills it requires. Returns every skill installed, the asked-for one first; the lock
/// file is written after each, so what is installed is always recorded.
async fn install_one(
    args: &InstallArgs,
    client: &Client,
    lock: &mut LockFile,
    lock_path: &Path,
    requested: &str,
) -> anyhow::Result<Vec<LockEntry>> {
    let (skill, spec) = split_spec(requested);
    let skill = SkillRef::typed(skill)?;
    let key = format!("{}/{}", skill.scope, skill.slug);
    if let (Some(name), Some(entry)) = (&args.as_name, lock.entry(&key))
        && let Some(t) = entry.targets.iter().find(|t| t.path.file_name().is_some_and(|n| n != name.as_str()))
    {
        return Err(fail(
            Exit::Usage,
            format!("{key} is installed as {} already: uninstall it first to use another name", t.path.display()),
        ));
    }
    let resolved = resolve_skill(client, &skill, spec).await?;
    let mut entry = install_resolved(args, client, lock, &skill, &resolved, args.as_name.as_ref(), args.force).await?;
    entry.requested = spec.unwrap_or("latest").to_owned();
    if let Some(before) = lock.entry(&key) {
        entry.required_by = before.required_by.clone();
    }
    record(lock, entry.clone());
    lock.write(lock_path)?;
    let mut written = vec![entry];
    written.extend(install_dependencies(args, client, lock, lock_path, &resolved).await?);
    Ok(written)
}

/// Installs what a resolved version requires, each pinned by digest, into the places the
/// command names (never with `--force`: that is for the skill asked for), and returns those
/// installed. A dependency installed already at a version its requirement allows is kept as
/// it is (the link is recorded), and so is one installed by name whatever its version (with
/// a warning when it does not satisfy); one nothing resolves for the caller is reported.
async fn install_dependencies(
    args: &InstallArgs,
    client: &Client,
    lock: &mut LockFile,
    lock_path: &Path,
    root: &ResolveResponse,
) -> anyhow::Result<Vec<LockEntry>> {
    let root_key = format!("{}/{}", root.namespace, root.name);
    if root.dependencies_truncated {
        warn(format!(
            "{root_key} needs more skills than one answer lists: only the first {} are installed",
            root.dependencies.len()
        ));
    }
    let mut written = Vec::new();
    for d in &root.dependencies {
        let requirement = d.requirement.escape_debug();
        // Only skills of this closure may be named as needing it: a server cannot tie a
        // dependency to some other installed skill (whose uninstall would then remove it).
        let by: Vec<String> = d
            .required_by
            .iter()
            .filter(|b| {
                **b == root_key
                    || root
                        .dependencies
                        .iter()
                        .any(|o| o.resolved.as_ref().is_some_and(|r| format!("{}/{}", r.namespace, r.name) == **b))
            })
            .cloned()
            .collect();
        let Some(r) = d.resolved.as_ref().filter(|_| !by.is_empty()) else {
            warn(format!(
                "{} requires `{requirement}`, which is not installed: nothing published here matches it, or you may not read it",
                d.required_by.join(", ").escape_debug()
            ));
            continue;
        };
        let key = format!("{}/{}", r.namespace, r.name);
        let before = lock.entry(&key).cloned();
        let satisfied =
            before.as_ref().is_some_and(|e| e.digest == r.digest || crate::service::spec_admits(&d.range, &e.version));
        let mut entry = match before.clone() {
            Some(e) if satisfied => {
                note(format!("{key}@{} is installed already, as `{requirement}` asks", e.version));
                e
            }
            Some(e) if !e.dependency => {
                warn(format!(
                    "{key}@{} was installed by name and is left as it is, but `{requirement}` asks for {}",
                    e.version, r.version
                ));
                e
            }
            _ => {
                let skill: SkillRef = key.parse()?;
                let mut e = install_resolved(args, client, lock, &skill, r, Some(&r.name), false).await?;
                // What `update` follows: the range, or for a ToolHive reference the version it named.
                e.requested =
                    if crate::service::spec_admits(&d.range, &r.version) { d.range.clone() } else { r.version.clone() };
                e.dependency = true;
                e.required_by = before.map(|b| b.required_by).unwrap_or_default();
                written.push(e.clone());
                e
            }
        };
        for b in by {
            if !entry.required_by.contains(&b) {
                entry.required_by.push(b);
            }
        }
        record(lock, entry);
        lock.write(lock_path)?;
    }
    Ok(written)
}

/// Pulls a resolved version, checks it, and writes it into its directories; the entry
/// returned (asked for by name, needed by nothing yet) is not recorded yet.
async fn install_resolved(
    args: &InstallArgs,
    client: &Client,
    lock: &LockFile,
    skill: &SkillRef,
    resolved: &ResolveResponse,
    as_name: Option<&crate::domain::SkillName>,
    force: bool,
) -> anyhow::Result<LockEntry> {
    let key = format!("{}/{}", skill.scope, skill.slug);
    warn_about(&key, resolved);
    if let Some(file) = &args.policy {
        check_policy(&args.registry, client, file, skill, &resolved.reference).await?;
    }
    let bundle = pull(&args.registry, client, &resolved.reference, &resolved.digest, skill.slug.as_str()).await?;
    // The directory is named after the skill inside (agents match it against SKILL.md's name),
    // so a fork keeps its original's directory unless told otherwise.
    let dir_name = as_name.map_or_else(|| bundle.name().to_owned(), ToString::to_string);
    if dir_name != bundle.name() {
        warn(format!(
            "installing as `{dir_name}`, but its SKILL.md says `{}`: some agents want the two to match",
            bundle.name()
        ));
    }
    let targets = args.place.targets(lock, &dir_name, lock.entry(&key))?;
    for (dir, _) in &targets {
        may_write(lock, &key, dir, force)?;
    }
    let entry = LockEntry {
        skill: key,
        requested: "latest".to_owned(),
        version: resolved.version.clone(),
        digest: resolved.digest.clone(),
        reference: resolved.reference.clone(),
        targets: place(lock, &bundle, &targets)?,
        required_by: Vec::new(),
        dependency: false,
        path: None,
    };
    // A pull from the server's own registry was counted as it came in; one from elsewhere
    // is told to the server.
    let pulled_from_server = parse_reference(&resolved.reference)
        .ok()
        .zip(super::registry::server_registry(client))
        .is_some_and(|(r, server)| r.resolve_registry().eq_ignore_ascii_case(&server));
    if !pulled_from_server {
        count_download(client, skill, &resolved.version).await;
    }
    Ok(entry)
}

/// Writes the bundle into every directory, all or none: each is staged beside its target
/// first, and swapped in only once every one is staged. Returns what was written where.
fn place(lock: &LockFile, bundle: &Bundle, targets: &[(PathBuf, Vec<String>)]) -> anyhow::Result<Vec<Installed>> {
    let staged: Vec<Staged> =
        targets.iter().map(|(dir, _)| stage(bundle, &lock.disk(dir))).collect::<anyhow::Result<_>>()?;
    for s in staged {
        s.commit()?;
    }
    let files = bundle_hashes(bundle);
    Ok(targets
        .iter()
        .map(|(path, agents)| Installed { path: path.clone(), agents: agents.clone(), files: files.clone() })
        .collect())
}

/// Puts `entry` in the lock: its directories are taken from any other skill (only possible
/// with --force), and it replaces the skill's previous entry.
fn record(lock: &mut LockFile, entry: LockEntry) {
    let taken: Vec<PathBuf> = entry.targets.iter().map(|t| t.path.clone()).collect();
    let others: Vec<(usize, usize)> = lock
        .skills
        .iter()
        .enumerate()
        .flat_map(|(i, e)| e.targets.iter().enumerate().map(move |(j, t)| (i, j, t)))
        .filter(|(_, _, t)| taken.iter().any(|p| lock.same(p, &t.path)))
        .map(|(i, j, _)| (i, j))
        .collect();
    for (i, j) in others.into_iter().rev() {
        lock.skills[i].targets.remove(j);
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

/// Counts an install of a skill pulled from another registry as a download; a failure
/// costs only the count.
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
        if !lock.found {
            return Err(fail(
                Exit::NotFound,
                format!("no lock file at {}: nothing to check against", lock_path.display()),
            ));
        }
        return check(&lock, &lock_path, out);
    }
    let client = Client::new(&args.remote)?;
    let installed = match (&args.skill, args.locked) {
        (Some(requested), false) => install_one(&args, &client, &mut lock, &lock_path, requested).await?,
        (wanted, _) => {
            args.place.none_given("installing what the lock file pins")?;
            if args.as_name.is_some() {
                return Err(fail(Exit::Usage, "--as applies to `install NAME`"));
            }
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
            let dirs: Vec<String> = e.targets.iter().map(|t| lock.disk(&t.path).display().to_string()).collect();
            let why = if e.required_by.is_empty() || !e.dependency {
                String::new()
            } else {
                format!(", required by {}", e.required_by.join(", "))
            };
            note(format!("installed {}@{} ({}) into {}{why}", e.skill, e.version, e.digest, dirs.join(", ")));
        }
    })
}

/// Reinstalls a lock entry exactly as pinned into each of its directories that is missing
/// or differs; `None` when every one was already as recorded. A directory an older skilldex
/// recorded without digests gets them when it holds exactly the pinned files.
async fn reinstall(
    args: &InstallArgs,
    client: &Client,
    lock: &mut LockFile,
    entry: LockEntry,
) -> anyhow::Result<Option<LockEntry>> {
    let skill: SkillRef = entry.skill.parse()?;
    let mut bundle: Option<Bundle> = None;
    let mut stale = Vec::new();
    let mut updated = entry.clone();
    for t in updated.targets.iter_mut() {
        let shown = lock.disk(&t.path);
        match lock.changes(t)? {
            None => stale.push((t.path.clone(), t.agents.clone())),
            Some(c) if c.is_empty() => {}
            Some(c) if c.unverified => {
                if bundle.is_none() {
                    bundle =
                        Some(pull(&args.registry, client, &entry.reference, &entry.digest, skill.slug.as_str()).await?);
                }
                let pinned = bundle_hashes(bundle.as_ref().expect("pulled above"));
                if hash_tree(&shown)? == pinned {
                    t.files = pinned;
                } else if args.force {
                    warn(format!("replacing {}, which differs from the pinned version", shown.display()));
                    stale.push((t.path.clone(), t.agents.clone()));
                } else {
                    return Err(fail(
                        Exit::Conflict,
                        format!(
                            "{} differs from {}@{} as pinned, and an older skilldex kept no record of what it wrote: \
                             copy your edits elsewhere, or replace it with --force",
                            shown.display(),
                            entry.skill,
                            entry.version
                        ),
                    ));
                }
            }
            Some(c) if args.force => {
                warn(format!("discarding local changes in {} ({})", shown.display(), c.describe()));
                stale.push((t.path.clone(), t.agents.clone()));
            }
            Some(c) => return Err(c.refusal(&shown, "copy your edits elsewhere, or discard them with --force")),
        }
    }
    if stale.is_empty() {
        note(format!("{}@{} is up to date", entry.skill, entry.version));
        if updated != entry {
            record(lock, updated);
        }
        return Ok(None);
    }
    let bundle = match bundle {
        Some(b) => b,
        None => pull(&args.registry, client, &entry.reference, &entry.digest, skill.slug.as_str()).await?,
    };
    for p in place(lock, &bundle, &stale)? {
        if let Some(t) = updated.targets.iter_mut().find(|t| t.path == p.path) {
            *t = p;
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
        changes: Option<super::lock::Changes>,
    }
    let mut problems = Vec::new();
    for e in &lock.skills {
        for t in &e.targets {
            let (problem, changes) = match lock.changes(t)? {
                None => ("missing".to_owned(), None),
                Some(c) if c.is_empty() => continue,
                Some(c) => ("changed".to_owned(), Some(c)),
            };
            problems.push(Problem { skill: e.skill.clone(), path: lock.disk(&t.path), problem, changes });
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

/// Removes a skill's directories and its lock entry: all of them, or (when one was changed
/// since, and without --force) none. Then the skills installed only because it required
/// them, and no other installed skill does, go too (one changed since is kept, and said so).
pub fn uninstall(args: UninstallArgs, out: Out) -> anyhow::Result<()> {
    args.place.none_given("uninstall")?;
    let lock_path = args.place.lock_path()?;
    let mut lock = LockFile::read(&lock_path)?;
    let entry = find_installed(&lock, &args.skill, &lock_path)?.clone();
    if let Some(refusal) = changed_refusal(&lock, &entry, args.force)? {
        return Err(refusal);
    }
    remove_dirs(&lock, &entry)?;
    lock.skills.retain(|e| e.skill != entry.skill);
    lock.write(&lock_path)?;
    let mut removed = vec![entry];
    let mut gone = vec![removed[0].skill.clone()];
    while let Some(skill) = gone.pop() {
        for e in lock.skills.iter_mut() {
            e.required_by.retain(|r| *r != skill);
        }
        let orphans: Vec<LockEntry> =
            lock.skills.iter().filter(|e| e.dependency && e.required_by.is_empty()).cloned().collect();
        for orphan in orphans {
            // --force is for the skill named; a dependency changed since is always kept.
            if let Some(refusal) = changed_refusal(&lock, &orphan, false)? {
                warn(format!("keeping {}, which no installed skill needs now: {refusal}", orphan.skill));
                if let Some(e) = lock.skills.iter_mut().find(|e| e.skill == orphan.skill) {
                    e.dependency = false;
                }
                continue;
            }
            remove_dirs(&lock, &orphan)?;
            lock.skills.retain(|e| e.skill != orphan.skill);
            lock.write(&lock_path)?;
            gone.push(orphan.skill.clone());
            removed.push(orphan);
        }
    }
    lock.write(&lock_path)?;
    out.show(&removed, |removed| {
        for e in removed {
            let dirs: Vec<String> = e.targets.iter().map(|t| lock.disk(&t.path).display().to_string()).collect();
            note(format!(
                "uninstalled {} (removed {})",
                e.skill,
                if dirs.is_empty() { "nothing".into() } else { dirs.join(", ") }
            ))
        }
    })
}

/// Why `entry`'s directories may not be removed: one was changed since it was installed
/// (unless `force`).
fn changed_refusal(lock: &LockFile, entry: &LockEntry, force: bool) -> anyhow::Result<Option<anyhow::Error>> {
    for t in &entry.targets {
        if let Some(c) = lock.changes(t)?.filter(|c| !c.is_empty() && !force) {
            return Ok(Some(
                c.refusal(&lock.disk(&t.path), "keep it by moving it away first, or remove it with --force"),
            ));
        }
    }
    Ok(None)
}

fn remove_dirs(lock: &LockFile, entry: &LockEntry) -> anyhow::Result<()> {
    for t in &entry.targets {
        let dir = lock.disk(&t.path);
        let removed = match dir.symlink_metadata() {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&dir),
            Ok(_) => std::fs::remove_file(&dir),
            Err(_) => Ok(()),
        };
        removed.map_err(|e| fail(Exit::Failure, format!("cannot remove {}: {e}", dir.display())))?;
    }
    Ok(())
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

async fn status_of(client: &Client, lock: &LockFile, e: &LockEntry) -> InstalledStatus {
    let mut status = Vec::new();
    for t in &e.targets {
        match lock.changes(t) {
            Ok(None) => status.push("missing".to_owned()),
            Ok(Some(c)) if c.unverified => status.push("unverified".to_owned()),
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
        paths: e.targets.iter().map(|t| lock.disk(&t.path)).collect(),
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
        let s = status_of(&client, &lock, e).await;
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
    args.place.none_given("update")?;
    let lock_path = args.place.lock_path()?;
    let mut lock = LockFile::read(&lock_path)?;
    let entries: Vec<LockEntry> = match &args.skill {
        Some(name) => vec![find_installed(&lock, name, &lock_path)?.clone()],
        None => lock.skills.clone(),
    };
    let install = InstallArgs {
        remote: args.remote.clone(),
        registry: args.registry.clone(),
        place: args.place.clone(),
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
        // An earlier skill's update may have moved this one already.
        let Some(e) = lock.entry(&e.skill).cloned() else { continue };
        let requested = if e.requested == "latest" { e.skill.clone() } else { format!("{}@{}", e.skill, e.requested) };
        let skill: SkillRef = e.skill.parse()?;
        let spec = (e.requested != "latest").then_some(e.requested.as_str());
        let resolved = resolve_skill(&client, &skill, spec).await?;
        if resolved.digest == e.digest {
            note(format!("{}@{} is up to date", e.skill, e.version));
            continue;
        }
        let mut written = install_one(&install, &client, &mut lock, &lock_path, &requested).await?.into_iter();
        let mut entry = written.next().expect("the asked-for skill comes first");
        entry.requested = e.requested.clone();
        entry.dependency = e.dependency;
        record(&mut lock, entry.clone());
        lock.write(&lock_path)?;
        note(format!("updated {} from {} to {}", e.skill, e.version, entry.version));
        updated.push(entry);
        updated.extend(written);
    }
    out.show(&updated, |_| {})
}

/// Verifies the artifact against a local policy file; fails unless every enforcing policy
/// passes (warn mode prints the failure and goes on).
async fn check_policy(
    registry: &RegistryArgs,
    client: &Client,
    file: &Path,
    skill: &SkillRef,
    reference: &str,
) -> anyhow::Result<()> {
    let set = crate::policy::PolicySet::load_file(file)?;
    let policies = set.applicable(skill.scope.as_str());
    if policies.is_empty() {
        return Err(fail(Exit::Usage, format!("{} does not cover namespace `{}`", file.display(), skill.scope)));
    }
    let registries = registry.registries_with_server(parse_reference(reference)?.resolve_registry(), client);
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
