//! Users, API tokens and teams (each team owns the namespace of the same slug).

use serde_json::json;

use super::Accounts;
use super::access::{generate_token, hash_token, require_role, require_site_admin};
use super::{Caller, Error, Result, check_text, limits};
use crate::domain::{Millis, Namespace, TeamRole, TokenKind, TokenScope, Username, now_millis};
use crate::store::{Member, NewToken, NewUser, Team, Token, User};

/// A token as just issued: the only moment its secret is known.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub token: Token,
    pub secret: String,
}

#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub name: String,
    /// For a standard token, what it may do; an agent kind has its own (a different one is
    /// refused).
    pub scope: Option<TokenScope>,
    pub kind: TokenKind,
    pub expires_at: Option<Millis>,
}

/// How long an agent token lives when no expiry is asked for: one pasted into an agent's
/// context should not outlive the task by much.
pub const AGENT_TOKEN_LIFETIME: Millis = 7 * 24 * 60 * 60 * 1000;

impl TokenRequest {
    /// The scope the token will have: its kind's, or the one asked for.
    fn scope(&self) -> Result<TokenScope> {
        match (self.kind.fixed_scope(), self.scope) {
            (None, Some(scope)) => Ok(scope),
            (None, None) => Err(Error::Invalid("scope is required: read, write or admin".into())),
            (Some(fixed), None) => Ok(fixed),
            (Some(fixed), Some(asked)) if asked == fixed => Ok(fixed),
            (Some(fixed), Some(asked)) => Err(Error::Invalid(format!(
                "an `{}` token has `{fixed}` scope, not `{asked}`; leave scope out",
                self.kind
            ))),
        }
    }

    /// When the token will expire: as asked, else in `AGENT_TOKEN_LIFETIME` for an agent
    /// kind, else never.
    fn expiry(&self) -> Option<Millis> {
        self.expires_at.or_else(|| self.kind.is_agent().then(|| now_millis() + AGENT_TOKEN_LIFETIME))
    }
}

/// A team as one caller may see it: members only for members and site admins.
#[derive(Debug, Clone)]
pub struct TeamView {
    pub team: Team,
    pub members: Option<Vec<Member>>,
}

impl Accounts<'_> {
    pub async fn create_user(&self, caller: &Caller, username: Username, email: String, admin: bool) -> Result<User> {
        require_site_admin(caller)?;
        check_email(&email)?;
        let user = self.core.store.create_user(&NewUser { username, email, is_admin: admin }).await?;
        self.core.audit(caller, "user.create", user.username.as_str(), json!({ "admin": admin })).await;
        Ok(user)
    }

    /// Issues a token to another user (site admins only).
    pub async fn create_token_for(
        &self,
        caller: &Caller,
        username: &Username,
        req: TokenRequest,
    ) -> Result<CreatedToken> {
        require_site_admin(caller)?;
        let user = self.find_user(username).await?;
        let created = self.issue_token(&user, req).await?;
        self.core.audit(caller, "token.create", user.username.as_str(), token_detail(&created.token)).await;
        Ok(created)
    }

    /// Issues a token to the caller, never with more scope than the token asking for it
    /// (agent tokens never issue any).
    pub async fn create_own_token(&self, caller: &Caller, req: TokenRequest) -> Result<CreatedToken> {
        let me = caller.require_account()?;
        let scope = req.scope()?;
        if scope > me.token.scope {
            return Err(Error::Forbidden(format!("a `{}` token cannot create a `{scope}` token", me.token.scope)));
        }
        // An agent token may wish and review, which a read token may not.
        if req.kind.is_agent() && me.token.scope < TokenScope::Write {
            return Err(Error::Forbidden(format!(
                "a `{}` token cannot create an `{}` token; use a write token",
                me.token.scope, req.kind
            )));
        }
        // Never outliving the token asking for it.
        let expires_at = match (req.expiry(), me.token.expires_at) {
            (Some(asked), Some(own)) => Some(asked.min(own)),
            (asked, own) => asked.or(own),
        };
        let created = self.issue_token(&me.user, TokenRequest { expires_at, ..req }).await?;
        self.core.audit(caller, "token.create", me.user.username.as_str(), token_detail(&created.token)).await;
        Ok(created)
    }

    async fn issue_token(&self, user: &User, req: TokenRequest) -> Result<CreatedToken> {
        check_text("name", &req.name, limits::TOKEN_NAME, false)?;
        let scope = req.scope()?;
        if req.expires_at.is_some_and(|e| e <= now_millis()) {
            return Err(Error::Invalid("expiresAt must be in the future".into()));
        }
        let expires_at = req.expiry();
        let secret = generate_token();
        let token = self
            .core
            .store
            .create_token(&NewToken {
                user_id: user.id.clone(),
                name: req.name,
                scope,
                kind: req.kind,
                hash: hash_token(&secret),
                expires_at,
            })
            .await?;
        Ok(CreatedToken { token, secret })
    }

    pub async fn list_tokens(&self, caller: &Caller) -> Result<Vec<Token>> {
        let me = caller.require_account()?;
        Ok(self.core.store.tokens_of(&me.user.id).await?)
    }

    /// Revokes one of the caller's tokens; site admins with an admin token may revoke anyone's.
    /// Someone else's token is reported as not found.
    pub async fn revoke_token(&self, caller: &Caller, id: &str) -> Result<()> {
        let me = caller.require_account()?;
        let not_found = || Error::NotFound(format!("token `{id}` not found"));
        let token = self.core.store.token_by_id(id).await?.ok_or_else(not_found)?;
        let admin_override = me.user.is_admin && me.token.scope == TokenScope::Admin;
        if token.user_id != me.user.id && !admin_override {
            return Err(not_found());
        }
        if !self.core.store.revoke_token(id, now_millis()).await? {
            return Err(not_found());
        }
        self.core.audit(caller, "token.revoke", id, json!({ "name": token.name })).await;
        Ok(())
    }

    /// Another user's tokens (site admins with an admin token), metadata only.
    pub async fn list_user_tokens(&self, caller: &Caller, username: &Username) -> Result<Vec<Token>> {
        require_site_admin(caller)?;
        let user = self.find_user(username).await?;
        Ok(self.core.store.tokens_of(&user.id).await?)
    }

    /// Gives a token budgets of its own over the server's (`None` returns it to the server's):
    /// site admins with an admin token, for any token, so a trusted importer can publish more
    /// or a noisy agent less.
    pub async fn set_token_rate_limits(
        &self,
        caller: &Caller,
        id: &str,
        limits: Option<crate::ratelimit::Settings>,
    ) -> Result<Token> {
        require_site_admin(caller)?;
        let not_found = || Error::NotFound(format!("token `{id}` not found"));
        let text = limits.as_ref().filter(|s| !s.is_empty()).map(ToString::to_string);
        if !self.core.store.set_token_rate_limits(id, text.as_deref()).await? {
            return Err(not_found());
        }
        let token = self.core.store.token_by_id(id).await?.ok_or_else(not_found)?;
        self.core.audit(caller, "token.rate-limits", id, json!({ "name": token.name, "rateLimits": text })).await;
        Ok(token)
    }

    /// Creates a team, which claims the namespace of the same slug; the creator becomes owner.
    pub async fn create_team(&self, caller: &Caller, namespace: Namespace, display_name: String) -> Result<Team> {
        let me = caller.require(TokenScope::Admin)?;
        check_text("displayName", &display_name, limits::DISPLAY_NAME, false)?;
        let team =
            self.core.store.create_team(&namespace, &display_name, &me.user.id).await.map_err(
                |e| match Error::from(e) {
                    Error::Conflict(_) => Error::Conflict(format!("namespace `{namespace}` is already taken")),
                    other => other,
                },
            )?;
        self.core.audit(caller, "team.create", namespace.as_str(), json!({ "displayName": display_name })).await;
        Ok(team)
    }

    pub async fn team(&self, caller: &Caller, namespace: &Namespace) -> Result<TeamView> {
        let team = self.find_team(namespace).await?;
        let members = match self.core.role_in(caller, namespace.as_str()).await? {
            Some(_) => Some(self.core.store.team_members(&team.id).await?),
            None => None,
        };
        Ok(TeamView { team, members })
    }

    pub async fn set_member(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        username: &Username,
        role: TeamRole,
    ) -> Result<()> {
        caller.require(TokenScope::Admin)?;
        let team = self.find_team(namespace).await?;
        require_role(self.core.role_in(caller, namespace.as_str()).await?, TeamRole::Owner, "managing members")?;
        let user = self.find_user(username).await?;
        self.core.store.set_member(&team.id, &user.id, role, now_millis()).await?;
        self.core
            .audit(caller, "team.member.set", namespace.as_str(), json!({ "username": username, "role": role }))
            .await;
        Ok(())
    }

    pub async fn remove_member(&self, caller: &Caller, namespace: &Namespace, username: &Username) -> Result<()> {
        caller.require(TokenScope::Admin)?;
        let team = self.find_team(namespace).await?;
        require_role(self.core.role_in(caller, namespace.as_str()).await?, TeamRole::Owner, "managing members")?;
        let not_member = || Error::NotFound(format!("`{username}` is not a member of `{namespace}`"));
        let user = self.core.store.user_by_name(username.as_str()).await?.ok_or_else(not_member)?;
        if !self.core.store.remove_member(&team.id, &user.id).await? {
            return Err(not_member());
        }
        self.core.audit(caller, "team.member.remove", namespace.as_str(), json!({ "username": username })).await;
        Ok(())
    }

    /// Every user, by name (site administrators).
    pub async fn list_users(&self, caller: &Caller, after: Option<&str>, limit: i64) -> Result<Vec<User>> {
        require_site_admin(caller)?;
        Ok(self.core.store.list_users(after, limit).await?)
    }

    /// Every team, by slug, with the caller's role in each (teams and their namespaces are
    /// public; their members are not).
    /// Every team, by namespace (site administrators, admin scope).
    pub async fn all_teams(&self, caller: &Caller) -> Result<Vec<Team>> {
        caller.require(TokenScope::Admin)?;
        require_site_admin(caller)?;
        let mut all: Vec<Team> = Vec::new();
        loop {
            let after = all.last().map(|t| t.namespace.to_string());
            let page = self.core.store.list_teams(after.as_deref(), 500).await?;
            let done = page.len() < 500;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    pub async fn list_teams(
        &self,
        caller: &Caller,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(Team, Option<TeamRole>)>> {
        let teams = self.core.store.list_teams(after, limit).await?;
        let mut out = Vec::with_capacity(teams.len());
        for team in teams {
            // Membership itself: site administrators act as owners everywhere, but belong
            // only to the teams they joined.
            let role = match caller {
                Caller::User(p) => self.core.store.member_role(team.namespace.as_str(), &p.user.id).await?,
                Caller::Anonymous => None,
            };
            out.push((team, role));
        }
        Ok(out)
    }

    async fn find_user(&self, username: &Username) -> Result<User> {
        self.core
            .store
            .user_by_name(username.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("user `{username}` not found")))
    }

    async fn find_team(&self, namespace: &Namespace) -> Result<Team> {
        self.core
            .store
            .team_by_namespace(namespace.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("team `{namespace}` not found")))
    }

    pub async fn audit_log(
        &self,
        caller: &Caller,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<crate::store::AuditEntry>> {
        require_site_admin(caller)?;
        // The cursor is the id of the last entry of the previous page: a UUID, nothing else.
        if before.is_some_and(|b| uuid::Uuid::parse_str(b).is_err()) {
            return Err(Error::Invalid("invalid cursor: pass back the `cursor` of the previous page unchanged".into()));
        }
        Ok(self.core.store.audit_log(before, limit).await?)
    }

    /// On an empty index, creates the `admin` site administrator and an admin-scope token.
    /// Returns the secret, or `None` when users already exist.
    pub async fn bootstrap_admin(&self) -> Result<Option<String>> {
        if self.core.store.count_users().await? > 0 {
            return Ok(None);
        }
        let user = self
            .core
            .store
            .create_user(&NewUser {
                username: "admin".parse().expect("valid username"),
                email: "admin@localhost".into(),
                is_admin: true,
            })
            .await?;
        let created = self
            .issue_token(
                &user,
                TokenRequest {
                    name: "bootstrap".into(),
                    scope: Some(TokenScope::Admin),
                    kind: TokenKind::Standard,
                    expires_at: None,
                },
            )
            .await?;
        self.core.audit(&Caller::Anonymous, "user.bootstrap", "admin", json!({})).await;
        Ok(Some(created.secret))
    }
}

fn token_detail(t: &Token) -> serde_json::Value {
    json!({ "id": t.id, "name": t.name, "scope": t.scope, "kind": t.kind, "expiresAt": t.expires_at })
}

pub(super) fn check_email(email: &str) -> Result<()> {
    let valid = email.chars().count() <= limits::EMAIL
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid { Ok(()) } else { Err(Error::Invalid(format!("invalid email address `{}`", email.escape_debug()))) }
}
