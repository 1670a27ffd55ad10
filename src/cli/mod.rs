//! The `skilldex` command line: the server (`serve`) and a client for the native API.

mod agents;
mod bundle;
mod client;
mod gc;
mod install;
mod lock;
mod output;
mod profile;
mod publish;
mod registry;
mod reindex;
mod resolve;
mod serve;
mod sign;
mod skill;
mod source;
mod team;
mod token;
mod transfer;
mod user;

use clap::{Parser, Subcommand};

pub use client::Client;
pub use output::{Exit, exit_of};

#[derive(Debug, Parser)]
#[command(
    name = "skilldex",
    version,
    about = "A registry for AI-agent skills (SKILL.md bundles) stored as OCI artifacts",
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 not signed in or not allowed, \
                  5 conflict (exists, changed locally, deleted), 6 server or registry unreachable, \
                  7 `install --check` found differences."
)]
pub struct Cli {
    /// Print results as JSON (stable, for scripts); messages still go to stderr.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Where client commands send their requests, and as whom. Flags and environment variables
/// win over the profile `skilldex login` saved.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// Base URL of the skilldex server (default: the profile's, else http://127.0.0.1:8080).
    #[arg(long, global = true, env = "SKILLDEX_SERVER")]
    pub server: Option<String>,
    /// API token (sent as `Authorization: Bearer`; default: the profile's).
    #[arg(long, global = true, env = "SKILLDEX_TOKEN", hide_env_values = true)]
    pub token: Option<crate::config::Secret>,
    /// The saved profile to use (see `skilldex login`).
    #[arg(long, global = true, env = "SKILLDEX_PROFILE")]
    pub profile: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the registry server (SQLite and data under ./skilldex-data by default).
    Serve(Box<crate::config::ServeArgs>),
    /// Save a server and token in a profile (the token is read without echo, or from stdin).
    Login(profile::LoginArgs),
    /// Forget a profile's token.
    Logout(profile::LogoutArgs),
    /// Show the user and token the configured token belongs to.
    Whoami(RemoteArgs),
    /// Manage users (site administrators).
    User(Remote<user::UserCommand>),
    /// Create, list and revoke API tokens.
    Token(Remote<token::TokenCommand>),
    /// Manage teams, which own namespaces, and their members.
    Team(Remote<team::TeamCommand>),
    /// Bring skills in from OCI registries: sources whose version tags become versions
    /// (site administrators).
    Source(Remote<source::SourceCommand>),
    /// Write skills, their versions' artifacts and signatures, and what they require into a
    /// bundle for a site with no network to this one.
    Export(transfer::ExportArgs),
    /// Recreate the skills of a bundle `export` wrote (site administrators): same digests,
    /// signatures checked by this site's policies; importing twice changes nothing.
    Import(transfer::ImportArgs),
    /// Create, show, edit, deprecate, delete and restore skills.
    Skill(Remote<skill::SkillCommand>),
    /// Search the skills you may see.
    Search(skill::SearchArgs),
    /// A skill's versions and their state.
    Versions(skill::VersionsArgs),
    /// List, set and remove a skill's channels (`stable`, `beta`, …).
    Channel(Remote<skill::ChannelCommand>),
    /// Withdraw a version: ranges and channels skip it, an exact pin still resolves.
    Yank(skill::YankArgs),
    /// Undo a yank.
    Unyank(skill::YankArgs),
    /// Star a skill.
    Star(skill::StarArgs),
    /// Remove your star.
    Unstar(skill::StarArgs),
    /// The audit log, newest first (site administrators).
    Audit(user::AuditArgs),
    /// Write a new skill directory with a valid SKILL.md to start from.
    Init(bundle::InitArgs),
    /// Check a skill directory against the bundle rules.
    Validate(bundle::ValidateArgs),
    /// Pack a skill directory into a reproducible tar.gz.
    Pack(bundle::PackArgs),
    /// Publish a skill directory: upload it (or push it to a registry with --to) and register
    /// the version. A first publish creates the skill, private unless --public.
    Publish(publish::PublishArgs),
    /// Resolve a version, range or channel to an immutable artifact digest.
    Resolve(resolve::ResolveArgs),
    /// Install a skill (pulled by digest, verified) for one or more agents and pin it in the
    /// lock file; with no skill, install everything the lock file pins.
    Install(install::InstallArgs),
    /// Remove an installed skill's directories and its lock entry.
    Uninstall(install::UninstallArgs),
    /// Installed skills and their state: up to date, outdated, yanked, deprecated, modified.
    List(install::ListArgs),
    /// Installed skills with newer versions.
    Outdated(install::ListArgs),
    /// Update installed skills within the version range or channel they were installed with.
    Update(install::UpdateArgs),
    /// The agents `install --agent` knows and their skill directories.
    Agents,
    /// Compare two versions (or ranges, or channels) of a skill: a unified diff per file.
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
        let out = output::Out { json: self.json };
        match self.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Login(args) => profile::login(args, out).await,
            Command::Logout(args) => profile::logout(args),
            Command::Whoami(remote) => user::whoami(&Client::new(&remote)?, out).await,
            Command::User(r) => user::run(r.command, &Client::new(&r.remote)?, out).await,
            Command::Token(r) => token::run(r.command, &Client::new(&r.remote)?, out).await,
            Command::Team(r) => team::run(r.command, &Client::new(&r.remote)?, out).await,
            Command::Source(r) => source::run(r.command, &Client::new(&r.remote)?, out).await,
            Command::Export(args) => transfer::export(args, out).await,
            Command::Import(args) => transfer::import(args, out).await,
            Command::Skill(r) => skill::run(r.command, &Client::new(&r.remote)?, out).await,
            Command::Search(args) => skill::search(args, out).await,
            Command::Versions(args) => skill::versions(args, out).await,
            Command::Channel(r) => skill::channel(r.command, &Client::new(&r.remote)?, out).await,
            Command::Yank(args) => skill::yank(args, false, out).await,
            Command::Unyank(args) => skill::yank(args, true, out).await,
            Command::Star(args) => skill::star(args, false, out).await,
            Command::Unstar(args) => skill::star(args, true, out).await,
            Command::Audit(args) => user::audit(args, out).await,
            Command::Init(args) => bundle::init(args, out),
            Command::Validate(args) => bundle::validate(args, out),
            Command::Pack(args) => bundle::pack(args),
            Command::Publish(args) => publish::run(args, out).await,
            Command::Resolve(args) => resolve::run(args, out).await,
            Command::Install(args) => install::run(args, out).await,
            Command::Uninstall(args) => install::uninstall(args, out),
            Command::List(args) => install::list(args, out, false).await,
            Command::Outdated(args) => install::list(args, out, true).await,
            Command::Update(args) => install::update(args, out).await,
            Command::Agents => install::list_agents(out),
            Command::Diff(args) => skill::diff(args, out).await,
            Command::Fork(args) => skill::fork(args, out).await,
            Command::Gc(args) => gc::run(args).await,
            Command::Reindex(args) => reindex::run(args).await,
            Command::Keygen(args) => sign::keygen(args),
            Command::Sign(args) => sign::sign(args).await,
            Command::Verify(args) => sign::verify(args, out).await,
            Command::Policy(r) => sign::policy(r.command, &r.remote).await,
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
