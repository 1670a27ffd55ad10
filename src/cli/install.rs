//! `skilldex install`: resolve, pull by digest, check every digest and the bundle rules,
//! extract atomically into `.claude/skills/<name>`, and pin the result in `skilldex.lock`.
//! `--locked` reinstalls exactly what the lock file pins, without asking the index.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::RemoteArgs;
use super::registry::RegistryArgs;
use super::resolve::split_spec;
use super::skill::SkillRef;
use crate::bundle::Bundle;
use crate::oci::{fetch_bundle, parse_reference};

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// `namespace/name[@version|range|channel]`; with --locked and no skill, everything in the lock.
    pub skill: Option<String>,
    /// The directory skills are installed under.
    #[arg(long, default_value = ".claude/skills")]
    pub dest: PathBuf,
    /// Reinstall exactly the digests pinned in the lock file.
    #[arg(long)]
    pub locked: bool,
    /// The lock file.
    #[arg(long, default_value = "skilldex.lock")]
    pub lock_file: PathBuf,
    /// Verify the signatures against this trust policy file before extracting anything.
    #[arg(long)]
    pub policy: Option<PathBuf>,
}

/// `skilldex.lock`: one pinned artifact per installed skill.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockFile {
    pub version: u32,
    pub skills: Vec<LockEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockEntry {
    /// `namespace/name`
    pub skill: String,
    /// What was asked for (`^1.2`, `stable`, …).
    pub requested: String,
    pub version: String,
    pub digest: String,
    /// `registry/repo@sha256:…`
    pub reference: String,
    /// Where it was extracted.
    pub path: PathBuf,
}

impl LockFile {
    fn read(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                serde_json::from_str(&text).with_context(|| format!("{} is not a valid lock file", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LockFile { version: 1, skills: Vec::new() }),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    fn write(&mut self, path: &Path) -> anyhow::Result<()> {
        self.version = 1;
        self.skills.sort_by(|a, b| a.skill.cmp(&b.skill));
        let tmp = path.with_extension("lock.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self)? + "\n")?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }

    fn upsert(&mut self, entry: LockEntry) {
        self.skills.retain(|e| e.skill != entry.skill);
        self.skills.push(entry);
    }
}

/// Verifies the artifact against a local policy file; fails unless every enforcing policy
/// passes (warn mode prints the failure and goes on).
async fn check_policy(registry: &RegistryArgs, file: &Path, skill: &SkillRef, reference: &str) -> anyhow::Result<()> {
    let set = crate::policy::PolicySet::load_file(file)?;
    let policies = set.applicable(skill.scope.as_str());
    if policies.is_empty() {
        bail!("{} does not cover namespace `{}`", file.display(), skill.scope);
    }
    let registries = registry.registries(parse_reference(reference)?.resolve_registry());
    let verdict = super::sign::verify_artifact(&registries, reference, &policies, skill.slug.as_str()).await?;
    if let Some(p) = verdict.enforced_failure() {
        bail!("refusing to install {reference}: policy `{}` ({}): {}", p.policy, p.status.as_str(), p.reason);
    }
    if verdict.status != crate::policy::SignatureStatus::Verified {
        eprintln!("warning: {}", super::sign::reasons(&verdict));
    } else {
        eprintln!("verified {reference} ({})", verdict.identity.as_deref().unwrap_or("signed"));
    }
    Ok(())
}

pub async fn run(args: InstallArgs) -> anyhow::Result<()> {
    let mut lock = LockFile::read(&args.lock_file)?;
    if args.locked {
        let wanted: Vec<LockEntry> = match &args.skill {
            Some(s) => {
                let (skill, _) = split_spec(s);
                let found = lock.skills.iter().find(|e| e.skill == skill).cloned();
                vec![found.with_context(|| format!("{skill} is not in {}", args.lock_file.display()))?]
            }
            None => lock.skills.clone(),
        };
        if wanted.is_empty() {
            bail!("{} pins no skills", args.lock_file.display());
        }
        for entry in wanted {
            let name = entry.skill.rsplit('/').next().unwrap_or_default().to_owned();
            let bundle = pull(&args.registry, &entry.reference, &entry.digest, &name).await?;
            extract(&bundle, &entry.path)?;
            eprintln!("installed {}@{} ({}) into {}", entry.skill, entry.version, entry.digest, entry.path.display());
        }
        return Ok(());
    }

    let Some(requested) = &args.skill else { bail!("name a skill to install, or pass --locked") };
    let (skill, spec) = split_spec(requested);
    let skill: SkillRef = skill.parse()?;
    let resolved = super::resolve::resolve_skill(&args.remote, &skill, spec).await?;
    if resolved.yanked {
        eprintln!("warning: {}/{}@{} is yanked", skill.scope, skill.slug, resolved.version);
    }
    if let Some(file) = &args.policy {
        check_policy(&args.registry, file, &skill, &resolved.reference).await?;
    }
    let bundle = pull(&args.registry, &resolved.reference, &resolved.digest, skill.slug.as_str()).await?;
    let target = args.dest.join(bundle.name());
    extract(&bundle, &target)?;
    lock.upsert(LockEntry {
        skill: format!("{}/{}", skill.scope, skill.slug),
        requested: spec.unwrap_or("latest").to_owned(),
        version: resolved.version.clone(),
        digest: resolved.digest.clone(),
        reference: resolved.reference.clone(),
        path: target.clone(),
    });
    lock.write(&args.lock_file)?;
    eprintln!(
        "installed {}/{}@{} ({}) into {}",
        skill.scope,
        skill.slug,
        resolved.version,
        resolved.digest,
        target.display()
    );
    Ok(())
}

/// Pulls by digest and refuses anything whose digest differs from the pin.
async fn pull(registry: &RegistryArgs, reference: &str, digest: &str, name: &str) -> anyhow::Result<Bundle> {
    let r = parse_reference(reference)?;
    if r.digest() != Some(digest) {
        bail!("{reference} is not pinned to {digest}");
    }
    let registries = registry.registries(r.resolve_registry());
    let fetched = fetch_bundle(&registries, reference, name, &super::bundle_limits()?).await?;
    if fetched.digest != digest {
        bail!("digest mismatch for {reference}: got {}", fetched.digest);
    }
    Ok(fetched.bundle)
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
    let had_old = target.exists();
    if had_old {
        std::fs::rename(target, &old).with_context(|| format!("cannot replace {}", target.display()))?;
    }
    std::fs::rename(&staging, target).with_context(|| format!("cannot move into {}", target.display()))?;
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}
