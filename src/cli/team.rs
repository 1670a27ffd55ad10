//! `skilldex team`: teams own namespaces; owners manage their members.

use clap::Subcommand;
use reqwest::Method;

use super::Client;
use super::output::{Out, note, table};
use crate::api::wire::{CreateTeamRequest, SetMemberRequest, TeamPage, TeamResponse, TeamSummary};
use crate::domain::{Namespace, TeamRole, Username};

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team; it owns the namespace of the same slug and you become its owner.
    Create {
        slug: Namespace,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List teams and your role in each.
    List {
        /// Only the teams you belong to.
        #[arg(long)]
        mine: bool,
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

pub async fn run(cmd: TeamCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        TeamCommand::Create { slug, display_name } => {
            let display_name = display_name.unwrap_or_else(|| slug.to_string());
            let body = CreateTeamRequest { slug, display_name };
            let team: TeamResponse = client.send(Method::POST, "/api/v1/teams", Some(&body)).await?;
            out.show(&team, |t| note(format!("created team {} (you own namespace `{}`)", t.display_name, t.slug)))
        }
        TeamCommand::List { mine } => {
            let mut all: Vec<TeamSummary> = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    Some(c) => format!("/api/v1/teams?limit=100&cursor={c}"),
                    None => "/api/v1/teams?limit=100".to_owned(),
                };
                let page: TeamPage = client.get(&path).await?;
                all.extend(page.data.into_iter().filter(|t| !mine || t.role.is_some()));
                match page.cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            out.show(&all, |teams| {
                let rows: Vec<Vec<String>> = teams
                    .iter()
                    .map(|t| {
                        let role = t.role.map_or_else(|| "-".to_owned(), |r| r.to_string());
                        vec![t.slug.to_string(), t.display_name.clone(), role]
                    })
                    .collect();
                table(&["TEAM", "NAME", "YOUR ROLE"], &rows);
            })
        }
        TeamCommand::Show { slug } => {
            let team: TeamResponse = client.get(&format!("/api/v1/teams/{slug}")).await?;
            out.show(&team, show_team)
        }
        TeamCommand::SetMember { slug, username, role } => {
            let path = format!("/api/v1/teams/{slug}/members/{username}");
            let team: TeamResponse = client.send(Method::PUT, &path, Some(&SetMemberRequest { role })).await?;
            out.show(&team, |_| note(format!("{username} is now {role} of {slug}")))
        }
        TeamCommand::RemoveMember { slug, username } => {
            let path = format!("/api/v1/teams/{slug}/members/{username}");
            client.send::<(), serde_json::Value>(Method::DELETE, &path, None).await?;
            note(format!("{username} removed from {slug}."));
            Ok(())
        }
    }
}

fn show_team(t: &TeamResponse) {
    println!("{} ({})", t.slug, t.display_name);
    match &t.members {
        Some(members) => {
            let rows: Vec<Vec<String>> =
                members.iter().map(|m| vec![m.username.to_string(), m.role.to_string()]).collect();
            table(&["MEMBER", "ROLE"], &rows);
        }
        None => println!("(members are shown to members only)"),
    }
}
