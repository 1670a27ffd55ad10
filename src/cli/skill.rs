//! Skills and their lifecycle: `skill create|show|edit|deprecate|delete|restore`, `search`,
//! `versions`, `channel`, `yank`/`unyank`, `star`/`unstar`, `diff` and `fork`.

use std::str::FromStr;

use anyhow::anyhow;
use clap::Subcommand;
use reqwest::Method;

use super::output::{Exit, Out, fail, note, table};
use super::resolve::{resolve_skill, split_spec};
use super::{Client, RemoteArgs};
use crate::api::wire::{
    ChannelList, ChannelResponse, CreateSkillRequest, SetChannelRequest, SkillDetail, SkillPage, SkillSummary,
    UpdateSkillRequest, VersionPage, VersionResponse,
};
use crate::domain::{ChannelName, Namespace, SkillKind, SkillName, SkillType, Tag, Visibility};

/// `namespace/name`, as users type it.
#[derive(Debug, Clone)]
pub struct SkillRef {
    pub scope: Namespace,
    pub slug: SkillName,
}

impl FromStr for SkillRef {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        let (scope, slug) = s.rsplit_once('/').ok_or_else(|| anyhow!("expected NAMESPACE/NAME, got `{s}`"))?;
        Ok(Self { scope: scope.parse()?, slug: slug.parse()? })
    }
}

impl SkillRef {
    /// A `namespace/name` typed on the command line: a bad one is a usage error (exit 2).
    pub fn typed(s: &str) -> anyhow::Result<Self> {
        s.parse().map_err(|e: anyhow::Error| fail(Exit::Usage, e.to_string()))
    }
}

impl std::fmt::Display for SkillRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.scope, self.slug)
    }
}

impl SkillRef {
    pub fn path(&self) -> String {
        format!("/api/v1/skills/{}/{}", self.scope, self.slug)
    }
}

#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// Create a skill with no version yet (`publish` creates one on its first version).
    Create {
        /// NAMESPACE/NAME
        skill: SkillRef,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Visible to everyone (default: members of the namespace only).
        #[arg(long, conflicts_with = "private")]
        public: bool,
        /// Visible to members of the namespace only (the default).
        #[arg(long)]
        private: bool,
        /// A search tag; repeat for more.
        #[arg(long = "tag")]
        tags: Vec<Tag>,
        /// command, context, template or composite.
        #[arg(long = "type")]
        skill_type: Option<SkillType>,
        /// skill (the default), agent or command.
        #[arg(long)]
        kind: Option<SkillKind>,
    },
    /// Show a skill's details.
    Show { skill: SkillRef },
    /// Change a skill's description, display name, tags, type, kind or visibility.
    Edit {
        skill: SkillRef,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// `public` or `private`.
        #[arg(long)]
        visibility: Option<Visibility>,
        /// Replace the tags with these; repeat for more.
        #[arg(long = "tag", conflicts_with = "clear_tags")]
        tags: Vec<Tag>,
        /// Remove every tag.
        #[arg(long)]
        clear_tags: bool,
        #[arg(long = "type")]
        skill_type: Option<SkillType>,
        /// skill, agent or command.
        #[arg(long)]
        kind: Option<SkillKind>,
    },
    /// Mark a skill deprecated (or, with --undo, not deprecated).
    Deprecate {
        skill: SkillRef,
        #[arg(long)]
        message: Option<String>,
        #[arg(long)]
        undo: bool,
    },
    /// Soft-delete a skill (reversible with `restore`).
    Delete { skill: SkillRef },
    /// Restore a soft-deleted skill.
    Restore { skill: SkillRef },
    /// Take a skill out of the catalog (no listing or search shows it; installs by version
    /// keep working). `--undo` puts it back.
    Archive {
        skill: SkillRef,
        #[arg(long)]
        undo: bool,
    },
}

fn visibility_of(public: bool) -> Visibility {
    if public { Visibility::Public } else { Visibility::Private }
}

pub async fn run(cmd: SkillCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        SkillCommand::Create { skill, display_name, description, public, private: _, tags, skill_type, kind } => {
            let body = CreateSkillRequest {
                scope: skill.scope,
                slug: skill.slug,
                display_name,
                description,
                readme: None,
                visibility: Some(visibility_of(public)),
                tags: Some(tags),
                skill_type,
                kind,
            };
            let created: SkillDetail = client.send(Method::POST, "/api/v1/skills", Some(&body)).await?;
            out.show(&created, |d| {
                note(format!("created {}/{} ({})", d.summary.scope, d.summary.slug, d.summary.visibility))
            })
        }
        SkillCommand::Show { skill } => out.show(&client.get::<SkillDetail>(&skill.path()).await?, show_detail),
        SkillCommand::Edit { skill, display_name, description, visibility, tags, clear_tags, skill_type, kind } => {
            let tags = if clear_tags { Some(Vec::new()) } else { (!tags.is_empty()).then_some(tags) };
            let body = UpdateSkillRequest {
                display_name,
                description,
                visibility,
                tags,
                skill_type,
                kind,
                ..Default::default()
            };
            if body.display_name.is_none()
                && body.description.is_none()
                && body.visibility.is_none()
                && body.tags.is_none()
                && body.skill_type.is_none()
                && body.kind.is_none()
            {
                return Err(fail(Exit::Usage, "nothing to change: pass --description, --tag, --visibility, …"));
            }
            let edited: SkillDetail = client.send(Method::PATCH, &skill.path(), Some(&body)).await?;
            out.show(&edited, |_| note(format!("updated {skill}")))
        }
        SkillCommand::Deprecate { skill, message, undo } => {
            let body = UpdateSkillRequest {
                deprecated: Some(!undo),
                deprecated_message: Some(if undo { None } else { message }),
                ..Default::default()
            };
            let d: SkillDetail = client.send(Method::PATCH, &skill.path(), Some(&body)).await?;
            out.show(&d, |_| {
                note(if undo { format!("{skill} is no longer deprecated") } else { format!("{skill} is deprecated") })
            })
        }
        SkillCommand::Delete { skill } => {
            client.send::<(), serde_json::Value>(Method::DELETE, &skill.path(), None).await?;
            note(format!("{skill} deleted (restore with `skilldex skill restore {skill}`)."));
            Ok(())
        }
        SkillCommand::Restore { skill } => {
            let path = format!("{}/restore", skill.path());
            let d: SkillDetail = client.send(Method::POST, &path, None::<&()>).await?;
            out.show(&d, |_| note(format!("{skill} restored")))
        }
        SkillCommand::Archive { skill, undo } => {
            let path = format!("{}/{}", skill.path(), if undo { "unarchive" } else { "archive" });
            let d: SkillDetail = client.send(Method::POST, &path, None::<&()>).await?;
            out.show(&d, |_| {
                note(if undo { format!("{skill} is back in the catalog") } else { format!("{skill} archived") })
            })
        }
    }
}

fn show_detail(d: &SkillDetail) {
    let s = &d.summary;
    println!("{}/{}@{}  {}", s.scope, s.slug, s.latest_version.as_deref().unwrap_or("-"), s.display_name);
    println!("{}", s.description);
    if s.deprecated {
        println!("DEPRECATED{}", d.deprecated_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default());
    }
    if d.deleted {
        println!("DELETED (restore with `skilldex skill restore {}/{}`)", s.scope, s.slug);
    }
    println!(
        "visibility {}   kind {}   type {}   downloads {}   stars {}",
        s.visibility, s.kind, s.skill_type, s.downloads, s.stars
    );
    if s.archived {
        println!("ARCHIVED: not listed or searched; installs by version still work");
    }
    if !s.tags.is_empty() {
        println!("tags       {}", s.tags.join(", "));
    }
    if let Some(f) = &d.forked_from {
        println!("forked from {}/{}", f.scope, f.slug);
    }
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Words to search for in names, descriptions, tags and READMEs.
    pub query: Option<String>,
    #[arg(long)]
    pub scope: Option<Namespace>,
    #[arg(long)]
    pub tag: Option<Tag>,
    /// skill, agent or command.
    #[arg(long)]
    pub kind: Option<SkillKind>,
    /// downloads, updated, name, stars or relevance.
    #[arg(long)]
    pub sort: Option<String>,
    /// keyword (the words), semantic (the meaning; the server needs --embedding-model) or
    /// hybrid (both).
    #[arg(long)]
    pub mode: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
}

pub async fn search(args: SearchArgs, out: Out) -> anyhow::Result<()> {
    let client = Client::new(&args.remote)?;
    let mut url = reqwest::Url::parse("http://localhost/api/v1/skills").expect("static URL");
    {
        let mut q = url.query_pairs_mut();
        if let Some(v) = &args.query {
            q.append_pair("q", v);
        }
        if let Some(v) = &args.scope {
            q.append_pair("scope", v.as_str());
        }
        if let Some(v) = &args.tag {
            q.append_pair("tag", v.as_str());
        }
        if let Some(v) = &args.kind {
            q.append_pair("kind", v.as_str());
        }
        if let Some(v) = &args.sort {
            q.append_pair("sort", v);
        }
        if let Some(v) = &args.mode {
            q.append_pair("mode", v);
        }
        q.append_pair("limit", &args.limit.to_string());
    }
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let page: SkillPage = client.get(&path).await?;
    out.show(&page, |page| {
        if page.data.is_empty() {
            note("No skills found.");
            return;
        }
        table(&["SKILL", "VERSION", "DESCRIPTION"], &page.data.iter().map(summary_row).collect::<Vec<_>>());
    })
}

fn summary_row(s: &SkillSummary) -> Vec<String> {
    let mut description = s.description.clone();
    if description.chars().count() > 70 {
        description = description.chars().take(69).collect::<String>() + "…";
    }
    if s.deprecated {
        description = format!("[deprecated] {description}");
    }
    if s.visibility == Visibility::Private {
        description = format!("[private] {description}");
    }
    vec![format!("{}/{}", s.scope, s.slug), s.latest_version.clone().unwrap_or_else(|| "-".into()), description]
}

#[derive(Debug, clap::Args)]
pub struct VersionsArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// NAMESPACE/NAME
    pub skill: SkillRef,
    /// Only versions in this state: published, draft or yanked.
    #[arg(long)]
    pub status: Option<String>,
}

/// Every version of a skill (all pages), newest first.
pub async fn versions(args: VersionsArgs, out: Out) -> anyhow::Result<()> {
    let client = Client::new(&args.remote)?;
    let mut all: Vec<VersionResponse> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = reqwest::Url::parse("http://localhost/").expect("static URL");
        url.set_path(&format!("{}/versions", args.skill.path()));
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", "100");
            if let Some(s) = &args.status {
                q.append_pair("status", s);
            }
            if let Some(c) = &cursor {
                q.append_pair("cursor", c);
            }
        }
        let page: VersionPage = client.get(&format!("{}?{}", url.path(), url.query().unwrap_or_default())).await?;
        all.extend(page.data);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.show(&all, |all| {
        if all.is_empty() {
            note(format!("{} has no versions yet.", args.skill));
            return;
        }
        let rows: Vec<Vec<String>> = all
            .iter()
            .map(|v| {
                let when = v.published_at.unwrap_or(v.created_at).format("%Y-%m-%d %H:%M").to_string();
                vec![v.version.clone(), v.status.to_string(), when, v.digest.clone().unwrap_or_else(|| "-".into())]
            })
            .collect();
        table(&["VERSION", "STATUS", "PUBLISHED", "DIGEST"], &rows);
    })
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// The skill's channels (`latest` included) and the versions they point at.
    List { skill: SkillRef },
    /// Point a channel at a version (creating the channel).
    Set { skill: SkillRef, channel: ChannelName, version: semver::Version },
    /// Remove a channel (`latest` cannot be removed).
    Rm { skill: SkillRef, channel: ChannelName },
}

pub async fn channel(cmd: ChannelCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        ChannelCommand::List { skill } => {
            let channels: ChannelList = client.get(&format!("{}/channels", skill.path())).await?;
            out.show(&channels.data, |cs| {
                let rows: Vec<Vec<String>> =
                    cs.iter().map(|c| vec![c.name.clone(), c.version.clone().unwrap_or_else(|| "-".into())]).collect();
                table(&["CHANNEL", "VERSION"], &rows);
            })
        }
        ChannelCommand::Set { skill, channel, version } => {
            let path = format!("{}/channels/{channel}", skill.path());
            let body = SetChannelRequest { version: version.to_string() };
            let c: ChannelResponse = client.send(Method::PUT, &path, Some(&body)).await?;
            out.show(&c, |c| note(format!("{skill}@{} now points at {}", c.name, c.version.as_deref().unwrap_or("-"))))
        }
        ChannelCommand::Rm { skill, channel } => {
            let path = format!("{}/channels/{channel}", skill.path());
            client.send::<(), serde_json::Value>(Method::DELETE, &path, None).await?;
            note(format!("removed channel {channel} of {skill}"));
            Ok(())
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct YankArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// NAMESPACE/NAME@VERSION
    pub version: String,
}

/// Yanks (or unyanks) one exact version: ranges and channels skip a yanked version, an exact
/// pin still resolves to it.
pub async fn yank(args: YankArgs, undo: bool, out: Out) -> anyhow::Result<()> {
    let (skill, Some(version)) = split_spec(&args.version) else {
        return Err(fail(Exit::Usage, "name the version: NAMESPACE/NAME@VERSION"));
    };
    let skill = SkillRef::typed(skill)?;
    let version = semver::Version::parse(version).map_err(|e| {
        fail(Exit::Usage, format!("`{version}` is not a version (a yank names one exact version): {e}"))
    })?;
    let path = format!("{}/versions/{version}/yank", skill.path());
    let method = if undo { Method::DELETE } else { Method::PUT };
    let v: VersionResponse = Client::new(&args.remote)?.send(method, &path, None::<&()>).await?;
    out.show(&v, |v| note(format!("{skill}@{} is {}", v.version, if undo { "no longer yanked" } else { "yanked" })))
}

#[derive(Debug, clap::Args)]
pub struct StarArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    pub skill: SkillRef,
}

pub async fn star(args: StarArgs, undo: bool, out: Out) -> anyhow::Result<()> {
    let path = format!("{}/star", args.skill.path());
    let method = if undo { Method::DELETE } else { Method::PUT };
    let answer: serde_json::Value = Client::new(&args.remote)?.send(method, &path, None::<&()>).await?;
    out.show(&answer, |_| note(format!("{} {}", if undo { "unstarred" } else { "starred" }, args.skill)))
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// NAMESPACE/NAME
    pub skill: SkillRef,
    /// The older version, range or channel.
    pub from: String,
    /// The newer version, range or channel.
    pub to: String,
    /// Only counts per file, not the changes themselves.
    #[arg(long)]
    pub stat: bool,
}

/// Compares two versions: a unified diff per changed file, or with `--stat` line counts.
pub async fn diff(args: DiffArgs, out: Out) -> anyhow::Result<()> {
    let client = Client::new(&args.remote)?;
    let from = resolve_skill(&client, &args.skill, Some(&args.from)).await?.version;
    let to = resolve_skill(&client, &args.skill, Some(&args.to)).await?.version;
    let mut url = reqwest::Url::parse("http://localhost/").expect("static URL");
    url.set_path(&format!("{}/diff", args.skill.path()));
    url.query_pairs_mut().append_pair("from", &from).append_pair("to", &to);
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let d: crate::api::wire::DiffResponse = client.get(&path).await?;
    if args.stat || out.json {
        return out.show(&d, |d| {
            for f in &d.files {
                println!("{:<9} {:>+5} {:>+5}  {}", f.status, f.additions as i64, -(f.deletions as i64), f.path);
            }
            println!(
                "{} → {}: {} added, {} modified, {} removed",
                d.from, d.to, d.summary.added, d.summary.modified, d.summary.removed
            );
        });
    }
    let old = archive_files(&client, &args.skill, &from).await?;
    let new = archive_files(&client, &args.skill, &to).await?;
    for f in &d.files {
        let text = |files: &std::collections::BTreeMap<String, Vec<u8>>| {
            files.get(&f.path).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
        };
        let (a, b) = (text(&old), text(&new));
        let (a_name, b_name) = match f.status.as_str() {
            "added" => ("/dev/null".to_owned(), format!("b/{}", f.path)),
            "removed" => (format!("a/{}", f.path), "/dev/null".to_owned()),
            _ => (format!("a/{}", f.path), format!("b/{}", f.path)),
        };
        let binary =
            [old.get(&f.path), new.get(&f.path)].into_iter().flatten().any(|b| std::str::from_utf8(b).is_err());
        if binary {
            println!("Binary files {a_name} and {b_name} differ");
            continue;
        }
        print!("{}", similar::TextDiff::from_lines(&a, &b).unified_diff().header(&a_name, &b_name));
    }
    Ok(())
}

/// The files of one version, read from its archive (served through the server's checks).
async fn archive_files(
    client: &Client,
    skill: &SkillRef,
    version: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let bytes = client.get_bytes(&format!("{}/versions/{version}/archive", skill.path())).await?;
    let bundle = crate::bundle::Bundle::from_archive(&bytes, None, &super::bundle_limits()?)?;
    Ok(bundle.files.into_iter().map(|f| (f.path, f.data)).collect())
}

#[derive(Debug, clap::Args)]
pub struct ForkArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The skill to copy: NAMESPACE/NAME
    pub skill: SkillRef,
    /// Where to: NAMESPACE or NAMESPACE/NAME
    pub target: String,
}

pub async fn fork(args: ForkArgs, out: Out) -> anyhow::Result<()> {
    let usage = |e: crate::domain::InvalidValue| fail(Exit::Usage, e.to_string());
    let (scope, slug) = match args.target.split_once('/') {
        Some((ns, name)) => (ns.parse::<Namespace>().map_err(usage)?, Some(name.parse::<SkillName>().map_err(usage)?)),
        None => (args.target.parse::<Namespace>().map_err(usage)?, None),
    };
    let body = crate::api::wire::ForkRequest { target_scope: scope, target_slug: slug };
    let path = format!("{}/fork", args.skill.path());
    let fork: SkillDetail = Client::new(&args.remote)?.send(Method::POST, &path, Some(&body)).await?;
    out.show(&fork, |f| note(format!("forked {} into {}/{}", args.skill, f.summary.scope, f.summary.slug)))
}
