use clap::Subcommand;
use reqwest::Method;

use super::{Client, print_json};
use crate::api::wire::{CreateUserRequest, UserResponse};
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
}

pub async fn run(cmd: UserCommand, client: &Client) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create { username, email, admin } => {
            let body = CreateUserRequest { username, email, admin };
            let user: UserResponse = client.send(Method::POST, "/api/v1/users", Some(&body)).await?;
            print_json(&user)
        }
    }
}
