//! Who is calling, and what they may do. Two things decide every action: the token's scope
//! (what the token may do at most) and the user's role in the namespace (what the user may
//! do). Site administrators count as owners of every namespace. Things a caller may not see
//! are reported as not found, never as forbidden.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::search::QUIET_FOR;
use super::{Error, Index, Result};
use crate::domain::{Namespace, SkillName, TeamRole, TokenKind, TokenScope, Visibility, now_millis};
use crate::store::{Audience, Bearer, QuietMark, Skill, Token, User, WriteMarks};

/// The prefix of every secret skilldex issues, so leaked tokens are easy to scan for.
pub const TOKEN_PREFIX: &str = "sdx_";

#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub token: Token,
    /// The namespaces whose teams the user belongs to, read with the token: what a search
    /// reaches beyond public skills.
    pub namespaces: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    User(Box<Principal>),
}

impl Caller {
    /// The signed-in caller, if their token allows `need`: 401 without a token, 403 when
    /// the token's scope is too low. Agent tokens pass only `read` here: what else they may
    /// do (publish, wish, review) has its own check.
    pub fn require(&self, need: TokenScope) -> Result<&Principal> {
        let me = self.signed_in()?;
        match me.token.kind {
            TokenKind::Standard if me.token.scope < need => Err(Error::Forbidden(format!(
                "this action needs a token with `{need}` scope; this token has `{}`",
                me.token.scope
            ))),
            kind if kind.is_agent() && need > TokenScope::Read => Err(Error::Forbidden(format!(
                "an `{kind}` token cannot do this: agent tokens read{}, wish and review, and never change \
                 anything else",
                if kind == TokenKind::AgentPublisher { ", publish" } else { "" }
            ))),
            _ => Ok(me),
        }
    }

    /// The signed-in caller, if their token may publish a version (or create a skill by
    /// publishing): a standard token with `write` scope or more, or an `agent-publisher` token.
    pub fn require_publish(&self) -> Result<&Principal> {
        let me = self.signed_in()?;
        match me.token.kind {
            TokenKind::Standard => self.require(TokenScope::Write),
            TokenKind::AgentPublisher => Ok(me),
            TokenKind::AgentBridge => {
                Err(Error::Forbidden("an `agent-bridge` token cannot publish; use an `agent-publisher` token".into()))
            }
        }
    }

    /// The signed-in caller, if their token may speak for its user without changing the
    /// catalog (wishes, reviews): a standard token with `write` scope or more, or either agent
    /// kind.
    pub fn require_participate(&self) -> Result<&Principal> {
        let me = self.signed_in()?;
        if me.token.kind.is_agent() { Ok(me) } else { self.require(TokenScope::Write) }
    }

    /// The signed-in caller, if their token may manage the user's tokens: standard tokens
    /// only, so a token pasted into an agent can never mint or revoke another.
    pub fn require_account(&self) -> Result<&Principal> {
        let me = self.signed_in()?;
        if me.token.kind.is_agent() {
            return Err(Error::Forbidden(format!("an `{}` token cannot manage tokens", me.token.kind)));
        }
        Ok(me)
    }

    fn signed_in(&self) -> Result<&Principal> {
        match self {
            Caller::Anonymous => Err(Error::Unauthenticated("this action needs an API token".into())),
            Caller::User(p) => Ok(p),
        }
    }

    pub fn username(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::User(p) => Some(p.user.username.as_str()),
        }
    }

    pub fn is_site_admin(&self) -> bool {
        matches!(self, Caller::User(p) if p.user.is_admin)
    }

    /// The namespaces whose private skills this caller sees as a member (none for site
    /// administrators, who see every namespace's, and for anonymous callers).
    pub fn member_namespaces(&self) -> &[String] {
        match self {
            Caller::User(p) if !p.user.is_admin => &p.namespaces,
            _ => &[],
        }
    }

    /// Which skills listings may show this caller.
    pub fn audience(&self) -> Audience {
        match self {
            Caller::Anonymous => Audience::Anonymous,
            Caller::User(p) if p.user.is_admin => Audience::Everyone,
            Caller::User(p) => Audience::Member { user_id: p.user.id.clone() },
        }
    }
}

/// Makes a new random secret; the caller sees it once, the store keeps only its hash.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// 256 random bits, hex.
fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether a token's use was recorded less than `TOUCH_INTERVAL_MS` before `now`.
fn recently_used(token: &Token, now: crate::domain::Millis) -> bool {
    token.last_used_at.is_some_and(|t| now - t < crate::store::TOUCH_INTERVAL_MS)
}

/// Tokens read recently, by the hash of their secret, each used again only while its mark
/// holds: this process has written nothing since it was read, and for at most `QUIET_FOR`.
/// A token revoked or a membership changed through this process is read again at once;
/// through another process writing to the same SQLite file, at most `QUIET_FOR` late, as
/// search is. Where the store does not count its writes (PostgreSQL, shared by replicas),
/// nothing is kept.
#[derive(Default)]
pub(crate) struct KnownBearers(std::sync::Mutex<std::collections::HashMap<String, (Arc<Bearer>, QuietMark)>>);

impl KnownBearers {
    /// At most this many are kept…
    const MAX: usize = 1024;
    /// …each of a user in at most this many teams (a bigger one is read every time), so what
    /// is kept stays small whoever makes tokens and teams.
    const MAX_TEAMS: usize = 256;

    fn get(&self, hash: &str, marks: &WriteMarks) -> Option<Arc<Bearer>> {
        let known = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        known.get(hash).filter(|(_, mark)| mark.holds(marks, QUIET_FOR)).map(|(bearer, _)| bearer.clone())
    }

    fn put(&self, hash: String, bearer: Arc<Bearer>, mark: QuietMark, marks: &WriteMarks) {
        if bearer.namespaces.len() > Self::MAX_TEAMS {
            return;
        }
        let mut known = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // What no longer holds is never used again.
        known.retain(|_, (_, kept)| kept.holds(marks, QUIET_FOR));
        if known.len() < Self::MAX {
            known.insert(hash, (bearer, mark));
        }
    }
}

/// Whether a role lets its holder see a skill in that state: the visibility rule. Listings
/// apply it in SQL (`matching_skills` in `store/sql.rs`, which also leaves deleted skills out);
/// `tests/it/visibility.rs` holds the two forms in agreement over generated data.
pub fn can_see(skill: &Skill, role: Option<TeamRole>) -> bool {
    match (skill.deleted_at, skill.visibility) {
        // A deleted skill stays visible to the people who can restore it.
        (Some(_), _) => role == Some(TeamRole::Owner),
        (None, Visibility::Public) => true,
        (None, Visibility::Private) => role.is_some(),
    }
}

/// Whether a role lets its holder see drafts: any member of the namespace may.
pub fn sees_drafts(role: Option<TeamRole>) -> bool {
    role.is_some()
}

/// Refuses unless the caller is a site administrator with an admin-scope token.
pub(crate) fn require_site_admin(caller: &Caller) -> Result<()> {
    let me = caller.require(TokenScope::Admin)?;
    if me.user.is_admin { Ok(()) } else { Err(Error::Forbidden("this action is for site administrators".into())) }
}

/// Refuses unless `role` is at least `need`.
pub fn require_role(role: Option<TeamRole>, need: TeamRole, what: &str) -> Result<()> {
    if role.is_some_and(|r| r >= need) {
        Ok(())
    } else {
        Err(Error::Forbidden(format!("{what} needs the `{need}` role in this namespace")))
    }
}

impl Index {
    /// Turns a presented bearer secret into a caller. A secret that is unknown, revoked or
    /// expired is an error (401), not an anonymous call.
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Caller> {
        let Some(secret) = bearer else {
            return Ok(Caller::Anonymous);
        };
        let rejected = || Error::Unauthenticated("invalid, expired or revoked API token".into());
        let hash = hash_token(secret);
        let marks = self.store.write_marks();
        if let Some(bearer) = marks.and_then(|marks| self.bearers.get(&hash, marks)) {
            return self.caller_of(Bearer::clone(&bearer)).ok_or_else(rejected);
        }
        // Taken before the token is read: a write that could change it begins after the mark.
        let mark = marks.and_then(WriteMarks::mark);
        let bearer = self.store.token_by_hash(&hash).await?.ok_or_else(rejected)?;
        // One about to be marked as used is read again after that write, not kept as unused.
        if let (Some(mark), Some(marks)) = (mark, marks)
            && recently_used(&bearer.token, now_millis())
        {
            self.bearers.put(hash, Arc::new(bearer.clone()), mark, marks);
        }
        self.caller_of(bearer).ok_or_else(rejected)
    }

    /// The caller a browser session stands for, and the session's form token; `None` for an
    /// unknown, ended or expired session, or one whose token was revoked or has expired.
    pub async fn session(&self, secret: &str) -> Result<Option<(Caller, String)>> {
        let Some((session, bearer)) = self.store.session_by_hash(&hash_token(secret)).await? else {
            return Ok(None);
        };
        if session.revoked_at.is_some() || session.expires_at <= now_millis() {
            return Ok(None);
        }
        Ok(self.caller_of(bearer).map(|caller| (caller, session.csrf)))
    }

    /// Opens a browser session acting as the token `secret` names (already authenticated
    /// as `caller`): the cookie's secret and the session's form token. It ends at `lifetime`,
    /// or earlier when the token does.
    pub async fn open_session(&self, caller: &Caller, lifetime: crate::domain::Millis) -> Result<(String, String)> {
        let me = caller.require_account()?;
        let secret = format!("sdxs_{}", random_secret());
        let csrf = random_secret();
        let now = now_millis();
        let expires_at = me.token.expires_at.map_or(now + lifetime, |e| e.min(now + lifetime));
        let session = crate::store::WebSession {
            id: hash_token(&secret),
            token_id: me.token.id.clone(),
            csrf: csrf.clone(),
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        self.store.create_session(&session).await?;
        Ok((secret, csrf))
    }

    /// The caller's own live browser sessions, newest first, with the name of the token each
    /// acts as.
    pub async fn sessions_of(&self, caller: &Caller) -> Result<Vec<(crate::store::WebSession, String)>> {
        let me = caller.require_account()?;
        Ok(self.store.live_sessions_of(&me.user.id, now_millis(), 50).await?)
    }

    /// Ends one of the caller's own sessions, named by its id; someone else's, or one that
    /// ended, is not found.
    pub async fn end_session_of(&self, caller: &Caller, id: &str) -> Result<()> {
        let me = caller.require_account()?;
        if self.store.revoke_session_of(&me.user.id, id, now_millis()).await? {
            Ok(())
        } else {
            Err(Error::NotFound("no such session".into()))
        }
    }

    /// The id a session is known by: the hash of its cookie's secret.
    pub fn session_id(secret: &str) -> String {
        hash_token(secret)
    }

    /// Forgets sessions that ended (expired or signed out) more than a day ago; how many.
    pub async fn purge_sessions(&self) -> Result<u64> {
        Ok(self.store.purge_sessions(now_millis() - 24 * 3600 * 1000).await?)
    }

    /// Ends the session `secret` opened (signing out); unknown sessions are ignored.
    pub async fn close_session(&self, secret: &str) -> Result<()> {
        self.store.revoke_session(&hash_token(secret), now_millis()).await?;
        Ok(())
    }

    /// A looked-up token as a caller, unless it is revoked or expired.
    pub(crate) fn caller_of(&self, Bearer { token, user, namespaces }: Bearer) -> Option<Caller> {
        let now = now_millis();
        if token.revoked_at.is_some() || token.expires_at.is_some_and(|e| e <= now) {
            return None;
        }
        if !recently_used(&token, now) {
            let store = self.store.clone();
            let token_id = token.id.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_token(&token_id, now).await {
                    tracing::warn!(error = %e, "could not record token use");
                }
            });
        }
        // An agent token acts as a member of the user's teams, never with a site
        // administrator's reach.
        let user = if token.kind.is_agent() { User { is_admin: false, ..user } } else { user };
        Some(Caller::User(Box::new(Principal { user, token, namespaces })))
    }

    /// Refuses unless the caller owns the namespace (or is a site admin) and uses an admin
    /// token: `what` names the action in the refusal.
    pub(crate) async fn require_owner(&self, caller: &Caller, namespace: &Namespace, what: &str) -> Result<()> {
        caller.require(TokenScope::Admin)?;
        let role = self.role_in(caller, namespace.as_str()).await?;
        require_role(role, TeamRole::Owner, what)
    }

    /// The caller's effective role in a namespace (site admins are owners everywhere).
    pub async fn role_in(&self, caller: &Caller, namespace: &str) -> Result<Option<TeamRole>> {
        match caller {
            Caller::Anonymous => Ok(None),
            Caller::User(p) if p.user.is_admin => Ok(Some(TeamRole::Owner)),
            Caller::User(p) => Ok(self.store.member_role(namespace, &p.user.id).await?),
        }
    }

    /// A skill the caller may see. With `allow_deleted`, owners also see soft-deleted skills
    /// (to inspect and restore them); everyone else gets not-found, as for private skills.
    pub async fn visible_skill(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        allow_deleted: bool,
    ) -> Result<(Skill, Option<TeamRole>)> {
        let not_found = || Error::NotFound(format!("skill `{namespace}/{name}` not found"));
        let skill = self.store.skill(namespace.as_str(), name.as_str()).await?.ok_or_else(not_found)?;
        if skill.deleted_at.is_some() && !allow_deleted {
            return Err(not_found());
        }
        let role = self.role_in(caller, namespace.as_str()).await?;
        if !can_see(&skill, role) {
            return Err(not_found());
        }
        Ok((skill, role))
    }

    /// A token that may publish and at least the publisher role in `namespace`: what creating
    /// a skill or publishing a version needs.
    pub async fn require_publisher_in(&self, caller: &Caller, namespace: &Namespace) -> Result<()> {
        caller.require_publish()?;
        let role = self.role_in(caller, namespace.as_str()).await?;
        if role.is_none_or(|r| r < TeamRole::Publisher) {
            return Err(Error::Forbidden(format!("you may not publish to namespace `{namespace}`")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(i: usize, teams: usize) -> Arc<Bearer> {
        let token = Token {
            id: format!("t{i}"),
            user_id: "u".into(),
            name: "n".into(),
            scope: TokenScope::Read,
            kind: TokenKind::Standard,
            created_at: 0,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            rate_limits: None,
        };
        let user = User {
            id: "u".into(),
            username: "ann".parse().unwrap(),
            email: String::new(),
            is_admin: false,
            created_at: 0,
        };
        Arc::new(Bearer { token, user, namespaces: (0..teams).map(|t| format!("team{t}")).collect() })
    }

    #[test]
    fn kept_tokens_stay_few_and_go_with_the_next_write() {
        let (known, marks) = (KnownBearers::default(), WriteMarks::default());
        let mark = marks.mark().unwrap();
        for i in 0..KnownBearers::MAX + 10 {
            known.put(format!("h{i}"), bearer(i, 1), mark, &marks);
        }
        assert_eq!(known.0.lock().unwrap().len(), KnownBearers::MAX, "no more than MAX are kept");
        assert_eq!(known.get("h0", &marks).unwrap().token.id, "t0");
        assert!(known.get(&format!("h{}", KnownBearers::MAX), &marks).is_none(), "one past MAX was not kept");

        known.put("big".into(), bearer(0, KnownBearers::MAX_TEAMS + 1), mark, &marks);
        assert!(known.get("big", &marks).is_none(), "a member of very many teams is read every time");

        // A write begins: nothing kept before it is used again, and the next one kept makes
        // room by dropping them all.
        marks.begin();
        assert!(known.get("h0", &marks).is_none());
        marks.end();
        assert!(known.get("h0", &marks).is_none(), "nor after it ended");
        known.put("new".into(), bearer(7, 1), marks.mark().unwrap(), &marks);
        assert_eq!(known.0.lock().unwrap().len(), 1);
        assert_eq!(known.get("new", &marks).unwrap().token.id, "t7");
        // Nor is anything kept longer than QUIET_FOR, written or not.
        std::thread::sleep(QUIET_FOR);
        assert!(known.get("new", &marks).is_none());
    }
}
