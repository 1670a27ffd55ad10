use chrono::{DateTime, Utc};
use clap::Subcommand;
use reqwest::Method;

use super::Client;
use super::output::{Exit, Out, fail, note, table};
use crate::api::wire::{CreateTokenRequest, CreatedTokenResponse, RateLimitsRequest, TokenList, TokenResponse};
use crate::domain::{TokenKind, TokenScope, Username};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token. The secret is printed once; store it now.
    Create {
        #[arg(long)]
        name: String,
        /// read, write or admin (at most your own token's scope); default read. Agent kinds
        /// have their own.
        #[arg(long)]
        scope: Option<TokenScope>,
        /// standard, agent-bridge (search, read, install, wish, review; never publish) or
        /// agent-publisher (also publish). An agent token expires in 7 days unless
        /// --expires-in says otherwise.
        #[arg(long, default_value = "standard")]
        kind: TokenKind,
        /// Issue the token to this user instead of yourself (site administrators).
        #[arg(long)]
        user: Option<Username>,
        /// Lifetime such as 30d, 12h or 90m; default: no expiry (7 days for agent kinds).
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List your tokens (metadata only).
    List {
        /// List this user's tokens instead (site administrators).
        #[arg(long)]
        user: Option<Username>,
    },
    /// Revoke a token by id.
    Revoke { id: String },
    /// Give a token rate limits of its own over the server's (site administrators), e.g.
    /// `publish=100/hour search=off`; with --clear it goes back to the server's.
    Limits {
        id: String,
        /// `class=rate` settings: rates such as 100/hour, or `off`.
        #[arg(required_unless_present = "clear", conflicts_with = "clear")]
        settings: Vec<String>,
        #[arg(long)]
        clear: bool,
    },
}

/// A token's scope, and its kind when it is an agent token: `read (agent-bridge)`.
fn scope_label(scope: TokenScope, kind: TokenKind) -> String {
    if kind.is_agent() { format!("{scope} ({kind})") } else { scope.to_string() }
}

fn parse_lifetime(s: &str) -> anyhow::Result<DateTime<Utc>> {
    let invalid = || fail(Exit::Usage, format!("invalid lifetime `{s}`: use e.g. 30d, 12h or 90m (at most 100 years)"));
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().map_err(|_| invalid())?;
    let d = match unit {
        "d" => chrono::Duration::try_days(n),
        "h" => chrono::Duration::try_hours(n),
        "m" => chrono::Duration::try_minutes(n),
        _ => None,
    };
    d.filter(|d| *d <= chrono::Duration::days(36_525))
        .and_then(|d| Utc::now().checked_add_signed(d))
        .ok_or_else(invalid)
}

pub async fn run(cmd: TokenCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { name, scope, kind, user, expires_in } => {
            let expires_at = expires_in.as_deref().map(parse_lifetime).transpose()?;
            let scope = scope.or((!kind.is_agent()).then_some(TokenScope::Read));
            let body = CreateTokenRequest { name, scope, kind: Some(kind), expires_at };
            let path = match &user {
                Some(u) => format!("/api/v1/users/{u}/tokens"),
                None => "/api/v1/tokens".to_owned(),
            };
            let created: CreatedTokenResponse = client.send(Method::POST, &path, Some(&body)).await?;
            note(format!(
                "Token `{}` ({}) created. Store it now: it will not be shown again. \
                 Use it with `skilldex login --with-token` or SKILLDEX_TOKEN.",
                created.name,
                scope_label(created.scope, created.kind)
            ));
            // The secret alone on stdout, so it can be piped straight into a secret store.
            out.show(&created, |c| println!("{}", c.token))
        }
        TokenCommand::List { user } => {
            let path = match &user {
                Some(u) => format!("/api/v1/users/{u}/tokens"),
                None => "/api/v1/tokens".to_owned(),
            };
            let tokens = client.get::<TokenList>(&path).await?;
            out.show(&tokens, |list| {
                let day = |t: &chrono::DateTime<Utc>| t.format("%Y-%m-%d").to_string();
                let rows: Vec<Vec<String>> = list
                    .data
                    .iter()
                    .map(|t| {
                        let state = match (&t.revoked_at, &t.expires_at) {
                            (Some(r), _) => format!("revoked {}", day(r)),
                            (None, Some(e)) if *e < Utc::now() => format!("expired {}", day(e)),
                            (None, Some(e)) => format!("expires {}", day(e)),
                            (None, None) => "active".to_owned(),
                        };
                        let used = t.last_used_at.as_ref().map_or_else(|| "never".to_owned(), day);
                        let limits = t.rate_limits.clone().unwrap_or_else(|| "-".to_owned());
                        vec![t.id.clone(), t.name.clone(), scope_label(t.scope, t.kind), state, used, limits]
                    })
                    .collect();
                table(&["ID", "NAME", "SCOPE", "STATE", "LAST USED", "RATE LIMITS"], &rows);
            })
        }
        TokenCommand::Revoke { id } => {
            let path = format!("/api/v1/tokens/{}", form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>());
            client.send::<(), serde_json::Value>(Method::DELETE, &path, None).await?;
            note(format!("Token {id} revoked."));
            Ok(())
        }
        TokenCommand::Limits { id, settings, clear } => {
            let text = (!clear).then(|| settings.join(","));
            if let Some(t) = &text {
                t.parse::<crate::ratelimit::Settings>().map_err(|e| fail(Exit::Usage, e))?;
            }
            let path = format!(
                "/api/v1/tokens/{}/rate-limits",
                form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
            );
            let body = RateLimitsRequest { rate_limits: text };
            let token: TokenResponse = client.send(Method::PUT, &path, Some(&body)).await?;
            match &token.rate_limits {
                Some(l) => note(format!("Token {id} now has its own rate limits: {l}.")),
                None => note(format!("Token {id} follows the server's rate limits.")),
            }
            out.show(&token, |_| {})
        }
    }
}
