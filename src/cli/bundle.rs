//! `skilldex pack` and `skilldex validate`: the bundle rules, run locally.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::bundle::{Bundle, source_date_epoch};

#[derive(Debug, clap::Args)]
pub struct PackArgs {
    /// The skill directory (with SKILL.md at its root).
    pub dir: PathBuf,
    /// Where to write the tar.gz; default `<name>.tar.gz` in the current directory.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Also write the OCI artifact (ToolHive layout) as an OCI image layout directory,
    /// tagged with the version, e.g. for `skopeo copy oci:DIR:1.0.0 docker://…`.
    #[arg(long, requires = "namespace")]
    pub oci_layout: Option<PathBuf>,
    /// The namespace recorded in the artifact's annotations (with --oci-layout).
    #[arg(long, short)]
    pub namespace: Option<crate::domain::Namespace>,
    /// The version (with --oci-layout); default: SKILL.md's `version`.
    #[arg(long)]
    pub version: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The skill directory (with SKILL.md at its root).
    pub dir: PathBuf,
}

pub fn pack(args: PackArgs) -> anyhow::Result<()> {
    let bundle = Bundle::from_dir(&args.dir, &super::bundle_limits()?)?;
    let packed = bundle.pack(source_date_epoch().unwrap_or(0));
    let out = args.output.unwrap_or_else(|| PathBuf::from(format!("{}.tar.gz", bundle.name())));
    std::fs::write(&out, &packed.tar_gz).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "packed {} ({} files, {} bytes) into {}\n  archive sha256: {}\n  content digest: {}",
        bundle.name(),
        bundle.files.len(),
        packed.tar_gz.len(),
        out.display(),
        crate::oci::layout::sha256_digest(&packed.tar_gz).trim_start_matches("sha256:"),
        packed.diff_id
    );
    if let (Some(dir), Some(ns)) = (&args.oci_layout, &args.namespace) {
        let version = match (&args.version, &bundle.skill.frontmatter.version) {
            (Some(v), _) => crate::domain::parse_version(v)?,
            (None, Some(v)) => v.clone(),
            (None, None) => anyhow::bail!("SKILL.md has no `version`; pass --version"),
        };
        bundle.check_identity(bundle.name(), &version)?;
        let version = version.to_string();
        let id = crate::oci::Identity { namespace: ns.as_str(), name: bundle.name(), version: &version };
        let artifact = crate::oci::layout::build_toolhive(&bundle, &packed, &id, source_date_epoch());
        crate::oci::layout::write_oci_layout(dir, &artifact, &version)
            .with_context(|| format!("cannot write {}", dir.display()))?;
        println!("  OCI layout:     {} ({}:{version}, artifact {})", dir.display(), dir.display(), artifact.digest());
    }
    Ok(())
}

pub fn validate(args: ValidateArgs, out: super::output::Out) -> anyhow::Result<()> {
    let bundle = Bundle::from_dir(&args.dir, &super::bundle_limits()?)?;
    let fm = &bundle.skill.frontmatter;
    let checked = serde_json::json!({
        "name": fm.name,
        "version": fm.version.as_ref().map(ToString::to_string),
        "files": bundle.files.len(),
        "allowedTools": fm.allowed_tools,
    });
    out.show(&checked, |_| {
        let version = fm.version.as_ref().map_or_else(|| "(no version in SKILL.md)".to_owned(), |v| v.to_string());
        println!("ok: {} {version}, {} files", fm.name, bundle.files.len());
    })
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The skill's name (lowercase letters, digits and hyphens); the directory is created
    /// under the current one unless --dir says where.
    pub name: crate::domain::SkillName,
    /// What the skill does and when an agent should use it.
    #[arg(long, default_value = "Describe what this skill does and when an agent should use it.")]
    pub description: String,
    /// The directory to create (default: ./NAME). It must not exist, or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Writes `NAME/SKILL.md` (valid by the bundle rules, version 0.1.0) and checks it.
pub fn init(args: InitArgs, out: super::output::Out) -> anyhow::Result<()> {
    use super::output::{Exit, fail, note};
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(args.name.as_str()));
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(fail(Exit::Conflict, format!("{} exists and is not empty: nothing was written", dir.display())));
    }
    let description = args.description.replace('\n', " ");
    let skill_md = format!(
        "---\nname: {name}\ndescription: {description}\nversion: 0.1.0\n---\n\n# {name}\n\n\
         Instructions for the agent: what to do, step by step, and what to avoid.\n",
        name = args.name,
        description = serde_json::to_string(&description)?,
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(crate::bundle::SKILL_MD);
    std::fs::write(&path, skill_md).with_context(|| format!("cannot write {}", path.display()))?;
    let bundle = Bundle::from_dir(&dir, &super::bundle_limits()?)?;
    let written = serde_json::json!({ "path": path, "name": bundle.name(), "version": "0.1.0" });
    out.show(&written, |_| {
        note(format!("wrote {}: edit it, then `skilldex publish {} -n NAMESPACE`", path.display(), dir.display()))
    })
}
