use std::str::FromStr;

use anyhow::anyhow;
use clap::Subcommand;
use reqwest::Method;

use super::{Client, print_json};
use crate::api::wire::{CreateSkillRequest, SkillDetail, SkillPage, UpdateSkillRequest};
use crate::domain::{Namespace, SkillName, SkillType, Tag, Visibility};

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
    fn path(&self) -> String {
        format!("/api/v1/skills/{}/{}", self.scope, self.slug)
    }
}

#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// Create a skill in a namespace you may publish to.
    Create {
        /// NAMESPACE/NAME
        skill: SkillRef,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Visible to members of the namespace only.
        #[arg(long)]
        private: bool,
        /// A search tag; repeat for more.
        #[arg(long = "tag")]
        tags: Vec<Tag>,
        /// command, context, template or composite.
        #[arg(long = "type")]
        skill_type: Option<SkillType>,
    },
    /// Show a skill's details.
    Show { skill: SkillRef },
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
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub remote: super::RemoteArgs,
    /// Words to search for in names, descriptions, tags and READMEs.
    pub query: Option<String>,
    #[arg(long)]
    pub scope: Option<Namespace>,
    #[arg(long)]
    pub tag: Option<Tag>,
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

pub async fn run(cmd: SkillCommand, client: &Client) -> anyhow::Result<()> {
    match cmd {
        SkillCommand::Create { skill, display_name, description, private, tags, skill_type } => {
            let body = CreateSkillRequest {
                scope: skill.scope,
                slug: skill.slug,
                display_name,
                description,
                readme: None,
                visibility: Some(if private { Visibility::Private } else { Visibility::Public }),
                tags: Some(tags),
                skill_type,
            };
            print_json(&client.send::<_, SkillDetail>(Method::POST, "/api/v1/skills", Some(&body)).await?)
        }
        SkillCommand::Show { skill } => print_json(&client.get::<SkillDetail>(&skill.path()).await?),
        SkillCommand::Deprecate { skill, message, undo } => {
            let body = UpdateSkillRequest {
                deprecated: Some(!undo),
                deprecated_message: Some(if undo { None } else { message }),
                ..Default::default()
            };
            print_json(&client.send::<_, SkillDetail>(Method::PATCH, &skill.path(), Some(&body)).await?)
        }
        SkillCommand::Delete { skill } => {
            client.send::<(), serde_json::Value>(Method::DELETE, &skill.path(), None).await?;
            eprintln!("{}/{} deleted (restore with `skilldex skill restore`).", skill.scope, skill.slug);
            Ok(())
        }
        SkillCommand::Restore { skill } => {
            let path = format!("{}/restore", skill.path());
            print_json(&client.send::<(), SkillDetail>(Method::POST, &path, None).await?)
        }
    }
}

pub async fn search(args: SearchArgs, client: &Client) -> anyhow::Result<()> {
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
    for s in &page.data {
        let version = s.latest_version.as_deref().unwrap_or("-");
        println!("{}/{}@{}\t{}", s.scope, s.slug, version, s.description);
    }
    if page.data.is_empty() {
        eprintln!("No skills found.");
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub remote: super::RemoteArgs,
    /// NAMESPACE/NAME
    pub skill: SkillRef,
    /// The older version.
    pub from: String,
    /// The newer version.
    pub to: String,
}

pub async fn diff(args: DiffArgs) -> anyhow::Result<()> {
    let mut url = reqwest::Url::parse("http://localhost/").expect("static URL");
    url.set_path(&format!("{}/diff", args.skill.path()));
    url.query_pairs_mut().append_pair("from", &args.from).append_pair("to", &args.to);
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let d: crate::api::wire::DiffResponse = Client::new(&args.remote)?.get(&path).await?;
    for f in &d.files {
        println!("{:<9} {:>+5} {:>+5}  {}", f.status, f.additions as i64, -(f.deletions as i64), f.path);
    }
    println!(
        "{} → {}: {} added, {} modified, {} removed",
        d.from, d.to, d.summary.added, d.summary.modified, d.summary.removed
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ForkArgs {
    #[command(flatten)]
    pub remote: super::RemoteArgs,
    /// The skill to copy: NAMESPACE/NAME
    pub skill: SkillRef,
    /// Where to: NAMESPACE or NAMESPACE/NAME
    pub target: String,
}

pub async fn fork(args: ForkArgs) -> anyhow::Result<()> {
    let (scope, slug) = match args.target.split_once('/') {
        Some((ns, name)) => (ns.parse::<Namespace>()?, Some(name.parse::<SkillName>()?)),
        None => (args.target.parse::<Namespace>()?, None),
    };
    let body = crate::api::wire::ForkRequest { target_scope: scope, target_slug: slug };
    let path = format!("{}/fork", args.skill.path());
    let fork: SkillDetail = Client::new(&args.remote)?.send(Method::POST, &path, Some(&body)).await?;
    print_json(&fork)
}
