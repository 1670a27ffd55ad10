//! `skilldex user`, `whoami` and `audit`.

use clap::Subcommand;
use reqwest::Method;

use super::output::{Out, note, table};
use super::{Client, RemoteArgs};
use crate::api::wire::{AuditPage, CreateUserRequest, UserPage, UserResponse, WhoAmI};
use crate::domain::Username;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (needs a site administrator's admin token).
    Create {
        username: Username,
        #[arg(long)]
        email: String,
        /// Make the user a site administrator.
        #[arg(long)]
        admin: bool,
    },
    /// List every user (site administrators).
    List,
}

pub async fn run(cmd: UserCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create { username, email, admin } => {
            let body = CreateUserRequest { username, email, admin };
            let user: UserResponse = client.send(Method::POST, "/api/v1/users", Some(&body)).await?;
            out.show(&user, |u| {
                note(format!("created user {}{}", u.username, if u.admin { " (site admin)" } else { "" }))
            })
        }
        UserCommand::List => {
            let mut all: Vec<UserResponse> = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    Some(c) => format!(
                        "/api/v1/users?limit=100&cursor={}",
                        form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
                    ),
                    None => "/api/v1/users?limit=100".to_owned(),
                };
                let page: UserPage = client.get(&path).await?;
                all.extend(page.data);
                match page.cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            out.show(&all, |users| {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        let admin = if u.admin { "yes" } else { "" };
                        vec![
                            u.username.to_string(),
                            u.email.clone(),
                            admin.into(),
                            u.created_at.format("%Y-%m-%d").to_string(),
                        ]
                    })
                    .collect();
                table(&["USER", "EMAIL", "ADMIN", "CREATED"], &rows);
            })
        }
    }
}

pub async fn whoami(client: &Client, out: Out) -> anyhow::Result<()> {
    let me: WhoAmI = client.get("/api/v1/me").await?;
    out.show(&me, |me| {
        println!(
            "{} ({}{}) on {}, token `{}` with scope {}",
            me.user.username,
            me.user.email,
            if me.user.admin { ", site admin" } else { "" },
            client.base(),
            me.token.name,
            me.token.scope
        )
    })
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// How many entries (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Continue after this entry (the `cursor` of an earlier --json page).
    #[arg(long)]
    pub cursor: Option<String>,
}

pub async fn audit(args: AuditArgs, out: Out) -> anyhow::Result<()> {
    let mut path = format!("/api/v1/audit?limit={}", args.limit);
    if let Some(c) = &args.cursor {
        path.push_str(&format!("&cursor={}", form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()));
    }
    let page: AuditPage = Client::new(&args.remote)?.get(&path).await?;
    out.show(&page, |page| {
        let rows: Vec<Vec<String>> = page
            .data
            .iter()
            .map(|e| {
                vec![
                    e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    e.actor.clone().unwrap_or_else(|| "-".into()),
                    e.action.clone(),
                    e.target.clone(),
                ]
            })
            .collect();
        table(&["WHEN", "WHO", "ACTION", "TARGET"], &rows);
        if let Some(c) = &page.cursor {
            note(format!("more: skilldex audit --cursor {c}"));
        }
    })
}
