use clap::Subcommand;
use reqwest::Method;

use super::{Client, print_json};
use crate::api::wire::{CreateTeamRequest, SetMemberRequest, TeamResponse};
use crate::domain::{Namespace, TeamRole, Username};

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team; it owns the namespace of the same slug and you become its owner.
    Create {
        slug: Namespace,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Show a team (members are listed for members only).
    Show { slug: Namespace },
    /// Add a member or change their role.
    SetMember {
        slug: Namespace,
        username: Username,
        /// owner, publisher or reader.
        #[arg(long)]
        role: TeamRole,
    },
    /// Remove a member.
    RemoveMember { slug: Namespace, username: Username },
}

pub async fn run(cmd: TeamCommand, client: &Client) -> anyhow::Result<()> {
    match cmd {
        TeamCommand::Create { slug, display_name } => {
            let display_name = display_name.unwrap_or_else(|| slug.to_string());
            let body = CreateTeamRequest { slug, display_name };
            print_json(&client.send::<_, TeamResponse>(Method::POST, "/api/v1/teams", Some(&body)).await?)
        }
        TeamCommand::Show { slug } => print_json(&client.get::<TeamResponse>(&format!("/api/v1/teams/{slug}")).await?),
        TeamCommand::SetMember { slug, username, role } => {
            let path = format!("/api/v1/teams/{slug}/members/{username}");
            print_json(&client.send::<_, TeamResponse>(Method::PUT, &path, Some(&SetMemberRequest { role })).await?)
        }
        TeamCommand::RemoveMember { slug, username } => {
            let path = format!("/api/v1/teams/{slug}/members/{username}");
            client.send::<(), serde_json::Value>(Method::DELETE, &path, None).await?;
            eprintln!("{username} removed from {slug}.");
            Ok(())
        }
    }
}
