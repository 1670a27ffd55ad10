//! The `skilldex` command line: the server (`serve`) and a client for the native API.

mod client;
mod serve;
mod skill;
mod team;
mod token;
mod user;

use clap::{Parser, Subcommand};

pub use client::Client;

#[derive(Debug, Parser)]
#[command(
    name = "skilldex",
    version,
    about = "A registry for AI-agent skills (SKILL.md bundles) stored as OCI artifacts"
)]
pub struct Cli {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where client commands send their requests, and as whom.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// Base URL of the skilldex server.
    #[arg(long, global = true, env = "SKILLDEX_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API token (sent as `Authorization: Bearer`).
    #[arg(long, global = true, env = "SKILLDEX_TOKEN", hide_env_values = true)]
    pub token: Option<crate::config::Secret>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the registry server (SQLite and data under ./skilldex-data by default).
    Serve(crate::config::ServeArgs),
    /// Show the user and token the configured token belongs to.
    Whoami,
    /// Manage users (site administrators).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Manage teams, which own namespaces, and their members.
    #[command(subcommand)]
    Team(team::TeamCommand),
    /// Create, inspect, deprecate, delete and restore skills.
    #[command(subcommand)]
    Skill(skill::SkillCommand),
    /// Search the skills you may see.
    Search(skill::SearchArgs),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        let client = || Client::new(&self.remote);
        match self.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Whoami => {
                let me: serde_json::Value = client()?.get("/api/v1/me").await?;
                print_json(&me)
            }
            Command::User(cmd) => user::run(cmd, &client()?).await,
            Command::Token(cmd) => token::run(cmd, &client()?).await,
            Command::Team(cmd) => team::run(cmd, &client()?).await,
            Command::Skill(cmd) => skill::run(cmd, &client()?).await,
            Command::Search(args) => skill::search(args, &client()?).await,
        }
    }
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
