//! The `skilldex` command line: the server (`serve`) and a client for the native API.

mod bundle;
mod client;
mod gc;
mod install;
mod publish;
mod registry;
mod reindex;
mod resolve;
mod serve;
mod sign;
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
    Whoami(RemoteArgs),
    /// Manage users (site administrators).
    User(Remote<user::UserCommand>),
    /// Create, list and revoke API tokens.
    Token(Remote<token::TokenCommand>),
    /// Manage teams, which own namespaces, and their members.
    Team(Remote<team::TeamCommand>),
    /// Create, inspect, deprecate, delete and restore skills.
    Skill(Remote<skill::SkillCommand>),
    /// Search the skills you may see.
    Search(skill::SearchArgs),
    /// Check a skill directory against the bundle rules.
    Validate(bundle::ValidateArgs),
    /// Pack a skill directory into a reproducible tar.gz.
    Pack(bundle::PackArgs),
    /// Push a skill directory to a registry as an OCI artifact and register the version.
    Publish(publish::PublishArgs),
    /// Resolve a version, range or channel to an immutable artifact digest.
    Resolve(resolve::ResolveArgs),
    /// Install a skill (pulled by digest, verified) into .claude/skills and pin it in skilldex.lock.
    Install(install::InstallArgs),
    /// Compare two versions of a skill.
    Diff(skill::DiffArgs),
    /// Copy a skill and its latest version into another namespace.
    Fork(skill::ForkArgs),
    /// Make a signing key pair (cosign-compatible, ECDSA P-256).
    Keygen(sign::KeygenArgs),
    /// Sign an artifact with a key; the signature is attached next to it in its registry.
    Sign(sign::SignArgs),
    /// Verify a skill's or an artifact's signatures against a trust policy file.
    Verify(sign::VerifyArgs),
    /// Check trust policy files; list and re-apply the server's policies.
    Policy(Remote<sign::PolicyCommand>),
    /// Remove blobs of the embedded OCI store that nothing references (never a published version's).
    Gc(gc::GcArgs),
    /// Rebuild the search index (and, with a model, every skill's vector) from the database.
    Reindex(reindex::ReindexArgs),
}

/// A client command group with the connection flags every client command takes.
#[derive(Debug, clap::Args)]
pub struct Remote<T: Subcommand> {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(subcommand)]
    pub command: T,
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Whoami(remote) => print_json(&Client::new(&remote)?.get::<serde_json::Value>("/api/v1/me").await?),
            Command::User(r) => user::run(r.command, &Client::new(&r.remote)?).await,
            Command::Token(r) => token::run(r.command, &Client::new(&r.remote)?).await,
            Command::Team(r) => team::run(r.command, &Client::new(&r.remote)?).await,
            Command::Skill(r) => skill::run(r.command, &Client::new(&r.remote)?).await,
            Command::Validate(args) => bundle::validate(args),
            Command::Pack(args) => bundle::pack(args),
            Command::Publish(args) => publish::run(args).await,
            Command::Resolve(args) => resolve::run(args).await,
            Command::Install(args) => install::run(args).await,
            Command::Diff(args) => skill::diff(args).await,
            Command::Fork(args) => skill::fork(args).await,
            Command::Gc(args) => gc::run(args).await,
            Command::Reindex(args) => reindex::run(args).await,
            Command::Keygen(args) => sign::keygen(args),
            Command::Sign(args) => sign::sign(args).await,
            Command::Verify(args) => sign::verify(args).await,
            Command::Policy(r) => sign::policy(r.command, &r.remote).await,
            Command::Search(args) => {
                let client = Client::new(&args.remote)?;
                skill::search(args, &client).await
            }
        }
    }
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The bundle limits the CLI packs and installs with: the server's defaults, raised (or
/// lowered) by `SKILLDEX_MAX_ARCHIVE_SIZE` in MiB, the variable `serve` reads too, so a site
/// that accepts larger skills gives its CLI users the same number.
pub(crate) fn bundle_limits() -> anyhow::Result<crate::bundle::Limits> {
    limits_from(std::env::var("SKILLDEX_MAX_ARCHIVE_SIZE").ok().as_deref())
}

fn limits_from(mib: Option<&str>) -> anyhow::Result<crate::bundle::Limits> {
    let mib = match mib.map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => Some(
            m.parse::<u64>()
                .ok()
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| anyhow::anyhow!("SKILLDEX_MAX_ARCHIVE_SIZE must be a size in MiB from 1 to 4096"))?,
        ),
    };
    Ok(crate::service::Limits::default().with_archive_mib(mib).bundle)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_archive_size_variable_sets_the_cli_limits_like_the_servers() {
        let default = super::limits_from(None).unwrap();
        assert_eq!(default, crate::bundle::Limits::default());
        let raised = super::limits_from(Some("200")).unwrap();
        assert_eq!(raised.max_compressed, 200 << 20);
        assert_eq!(raised.max_uncompressed, 400 << 20);
        for bad in ["0", "-1", "lots", "5000"] {
            assert!(super::limits_from(Some(bad)).is_err(), "{bad}");
        }
    }
}
