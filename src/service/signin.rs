//! Signing in through an OpenID provider: the site's own (`serve --oidc-issuer`) or a team's
//! (skill-pool's per-tenant SSO, configured by the team's owners). A person is known by the
//! provider's issuer and their subject there; the first sign-in creates their user (a team's
//! provider also makes them a member with the team's default role). The site's provider may
//! instead find an existing user by a verified email address that exactly one user has; a
//! team's provider never does, so no team can claim someone else's account.
//!
//! A signed-in browser acts as a token of the user's own, full scope, whose secret nobody
//! ever sees; revoking it (in the settings) ends every browser session it carries.

use serde_json::json;

use super::{Caller, Error, Result, SignIn};
use crate::domain::{Namespace, TeamRole, TokenKind, TokenScope, Username, now_millis};
use crate::oci::outbound::OutboundPolicy;
use crate::oidc::{Identity, OidcError, ProviderConfig, RelyingParty, Started};
use crate::store::{NewToken, NewUser, OidcProvider, StoreError, User};

/// How sign-in is set up on this server.
#[derive(Default)]
pub struct SignInConfig {
    /// The site's own provider, if any.
    pub site: Option<ProviderConfig>,
    /// Whether teams may name providers of their own (which then create users): off unless
    /// the operator turns it on.
    pub team_providers: bool,
    /// Where teams' providers may be: public hosts, and the hosts an operator allowed.
    pub policy: OutboundPolicy,
    pub party: RelyingParty,
}

/// What a team's owner sets: `client_secret` `None` keeps the one stored (for the same
/// issuer and client only).
#[derive(Clone)]
pub struct ProviderInput {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub default_role: TeamRole,
}

/// Where a sign-in goes: the site's provider, or a team's.
pub enum Realm<'a> {
    Site,
    Team(&'a Namespace),
}

const ISSUER_MAX: usize = 512;
const CLIENT_ID_MAX: usize = 256;
const CLIENT_SECRET_MAX: usize = 1024;

impl SignIn<'_> {
    /// The site's own provider, if the server has one.
    pub fn site_provider(&self) -> Option<&ProviderConfig> {
        self.core.sign_in.site.as_ref()
    }

    /// Whether teams' own providers sign people in on this server.
    pub fn team_providers_allowed(&self) -> bool {
        self.core.sign_in.team_providers
    }

    /// The provider of `realm`, the policy it is reached under, and for a team the team's id
    /// and default role.
    async fn provider(
        &self,
        realm: &Realm<'_>,
    ) -> Result<(ProviderConfig, Option<&OutboundPolicy>, Option<(String, TeamRole)>)> {
        match realm {
            Realm::Site => {
                let site = self.site_provider().ok_or_else(|| {
                    Error::NotFound("this server has no sign-in provider (serve --oidc-issuer)".into())
                })?;
                Ok((site.clone(), None, None))
            }
            Realm::Team(namespace) => {
                if !self.team_providers_allowed() {
                    return Err(Error::NotFound("teams' own sign-in providers are off on this server".into()));
                }
                let missing = || Error::NotFound(format!("`{namespace}` has no sign-in provider"));
                let team = self.core.store.team_by_namespace(namespace.as_str()).await?.ok_or_else(missing)?;
                let p = self.core.store.oidc_provider(&team.id).await?.ok_or_else(missing)?;
                let client_secret = self.core.site_key.open(&p.client_secret).ok_or_else(|| {
                    Error::Internal("a team's client secret does not open with this server's secret key".into())
                })?;
                let config = ProviderConfig { issuer: p.issuer, client_id: p.client_id, client_secret };
                Ok((config, Some(&self.core.sign_in.policy), Some((team.id, p.default_role))))
            }
        }
    }

    /// Where to send the browser to sign in; `redirect` is this server's callback URL.
    pub async fn start(&self, realm: Realm<'_>, redirect: &str) -> Result<Started> {
        let (provider, policy, _) = self.provider(&realm).await?;
        self.core.sign_in.party.start(&provider, redirect, policy).await.map_err(oidc_error)
    }

    /// Completes a sign-in: the code is exchanged and the ID token validated; the caller the
    /// browser session will act as.
    pub async fn finish(
        &self,
        realm: Realm<'_>,
        redirect: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<Caller> {
        let (provider, policy, team) = self.provider(&realm).await?;
        let identity = self
            .core
            .sign_in
            .party
            .finish(&provider, redirect, policy, code, verifier, nonce)
            .await
            .map_err(oidc_error)?;
        let user = self.user_of(&identity, team.is_none()).await?;
        if let Some((team_id, role)) = team {
            self.join(&team_id, &user, role, &realm).await?;
        }
        let token_id = self.session_token(&identity, &user).await?;
        let bearer = self
            .core
            .store
            .bearer_by_token_id(&token_id)
            .await?
            .ok_or_else(|| Error::Internal("the sign-in token vanished".into()))?;
        let caller =
            self.core.caller_of(bearer).ok_or_else(|| Error::Internal("the sign-in token is not live".into()))?;
        self.core.audit(&caller, "user.signin", user.username.as_str(), json!({ "issuer": identity.issuer })).await;
        Ok(caller)
    }

    /// The user `identity` is: known already, found by a verified email (site provider only),
    /// or created.
    async fn user_of(&self, identity: &Identity, site: bool) -> Result<User> {
        let store = &self.core.store;
        if let Some(known) = store.oidc_identity(&identity.issuer, &identity.subject).await? {
            return store
                .user_by_id(&known.user_id)
                .await?
                .ok_or_else(|| Error::Internal("identity without user".into()));
        }
        // Only a user no provider signed in yet, no site administrator, and only when exactly
        // one has the address: a user some team's provider created can never be taken over
        // this way, nor an administrator's account by whoever the provider vouches for.
        if site
            && identity.email_verified
            && let Some(email) = &identity.email
            && super::accounts::check_email(email).is_ok()
            && let [only] = store.unlinked_users_by_email(email, 2).await?.as_slice()
        {
            match store.link_oidc_identity(&identity.issuer, &identity.subject, &only.id).await {
                Ok(()) => return self.linked_user(identity).await,
                // This subject was recorded at the same moment: it is whoever it was recorded as.
                Err(StoreError::Conflict(_))
                    if store.oidc_identity(&identity.issuer, &identity.subject).await?.is_some() =>
                {
                    return self.linked_user(identity).await;
                }
                // Another subject claimed that user first: this one gets a user of its own.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // An address the provider vouches for, and well-formed; else none.
        let email = identity
            .email
            .clone()
            .filter(|e| identity.email_verified && super::accounts::check_email(e).is_ok())
            .unwrap_or_default();
        for name in username_candidates(identity) {
            let new = NewUser { username: name, email: email.clone(), is_admin: false };
            match store.create_oidc_user(&identity.issuer, &identity.subject, &new).await {
                Ok(user) => {
                    let detail = json!({ "via": "oidc", "issuer": identity.issuer });
                    self.core.audit(&Caller::Anonymous, "user.create", user.username.as_str(), detail).await;
                    return Ok(user);
                }
                Err(StoreError::Conflict(what)) if what == "user" => continue,
                // A sign-in of the same person at the same moment recorded them first.
                Err(StoreError::Conflict(_)) => return self.linked_user(identity).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict("no free username for this person; ask an administrator".into()))
    }

    async fn linked_user(&self, identity: &Identity) -> Result<User> {
        let store = &self.core.store;
        let known = store
            .oidc_identity(&identity.issuer, &identity.subject)
            .await?
            .ok_or_else(|| Error::Internal("identity not recorded".into()))?;
        store.user_by_id(&known.user_id).await?.ok_or_else(|| Error::Internal("identity without user".into()))
    }

    /// Makes the user a member of the team with its default role, unless they are one.
    async fn join(&self, team_id: &str, user: &User, role: TeamRole, realm: &Realm<'_>) -> Result<()> {
        let Realm::Team(namespace) = realm else { return Ok(()) };
        if !self.core.store.join_team(team_id, &user.id, role, now_millis()).await? {
            return Ok(());
        }
        let detail = json!({ "user": user.username.as_str(), "role": role.as_str(), "via": "oidc" });
        self.core.audit(&Caller::Anonymous, "team.member.set", namespace.as_str(), detail).await;
        Ok(())
    }

    /// The token the identity's browser sessions act as: the live one recorded, or a new one.
    async fn session_token(&self, identity: &Identity, user: &User) -> Result<String> {
        let store = &self.core.store;
        let recorded = store.oidc_identity(&identity.issuer, &identity.subject).await?.and_then(|i| i.token_id);
        if let Some(id) = &recorded
            && let Some(token) = store.token_by_id(id).await?
            && token.revoked_at.is_none()
            && token.expires_at.is_none_or(|e| e > now_millis())
        {
            return Ok(token.id);
        }
        let host = crate::oidc::issuer_host(&identity.issuer);
        // Its secret is thrown away: only sessions ever act as it.
        let token = store
            .create_token(&NewToken {
                user_id: user.id.clone(),
                name: format!("browser sign-in via {host}").chars().take(64).collect(),
                scope: TokenScope::Admin,
                kind: TokenKind::Standard,
                hash: super::access::hash_token(&super::access::generate_token()),
                expires_at: None,
            })
            .await?;
        if store.set_oidc_identity_token(&identity.issuer, &identity.subject, &token.id, recorded.as_deref()).await? {
            return Ok(token.id);
        }
        // Another sign-in of this person recorded its token first: use that one.
        store.revoke_token(&token.id, now_millis()).await?;
        store
            .oidc_identity(&identity.issuer, &identity.subject)
            .await?
            .and_then(|i| i.token_id)
            .ok_or_else(|| Error::Internal("no sign-in token recorded".into()))
    }

    /// A team's provider, for its owners (the secret is never part of what they read).
    pub async fn team_provider(&self, caller: &Caller, namespace: &Namespace) -> Result<Option<OidcProvider>> {
        self.core.require_owner(caller, namespace, "reading the sign-in settings").await?;
        let team = self.team(namespace).await?;
        Ok(self.core.store.oidc_provider(&team).await?)
    }

    /// Sets a team's provider, once its issuer answers with a discovery document.
    pub async fn set_team_provider(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        input: ProviderInput,
    ) -> Result<OidcProvider> {
        self.core.require_owner(caller, namespace, "changing the sign-in settings").await?;
        if !self.team_providers_allowed() {
            return Err(Error::Forbidden(
                "teams' own sign-in providers are off on this server; an operator turns them on with serve --team-sign-in"
                    .into(),
            ));
        }
        let team = self.team(namespace).await?;
        let issuer = input.issuer.trim().to_owned();
        check_field("issuer", &issuer, ISSUER_MAX)?;
        let url = reqwest::Url::parse(&issuer).map_err(|_| Error::Invalid("issuer must be an https URL".into()))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() || url.query().is_some() {
            return Err(Error::Invalid("issuer must be an https URL without a query".into()));
        }
        check_field("client_id", &input.client_id, CLIENT_ID_MAX)?;
        let current = self.core.store.oidc_provider(&team).await?;
        // The stored secret goes only to the provider it was given for.
        let client_secret = match (input.client_secret, current) {
            (Some(s), _) => {
                check_field("client_secret", &s, CLIENT_SECRET_MAX)?;
                self.core.site_key.seal(&s)
            }
            // Sealed already.
            (None, Some(c)) if c.issuer == issuer && c.client_id == input.client_id => c.client_secret,
            (None, Some(_)) => {
                return Err(Error::Invalid("client_secret is required when the issuer or client_id changes".into()));
            }
            (None, None) => return Err(Error::Invalid("client_secret is required".into())),
        };
        // The issuer must be an OpenID provider where this server may reach it.
        self.core.sign_in.party.discover(&issuer, Some(&self.core.sign_in.policy)).await.map_err(|e| match e {
            OidcError::NotAllowed(why) => Error::Invalid(format!(
                "the issuer cannot be used: {why}; an operator can allow an internal provider with --allow-oidc-issuer"
            )),
            other => Error::Invalid(other.to_string()),
        })?;
        let provider = OidcProvider {
            issuer,
            client_id: input.client_id,
            client_secret,
            default_role: input.default_role,
            updated_at: now_millis(),
        };
        self.core.store.set_oidc_provider(&team, Some(&provider)).await?;
        let detail = json!({ "issuer": provider.issuer, "client_id": provider.client_id, "default_role": provider.default_role.as_str() });
        self.core.audit(caller, "sso.configure", namespace.as_str(), detail).await;
        Ok(provider)
    }

    /// Removes a team's provider; false when it had none. Sessions already open go on until
    /// they expire or their token is revoked.
    pub async fn remove_team_provider(&self, caller: &Caller, namespace: &Namespace) -> Result<bool> {
        self.core.require_owner(caller, namespace, "changing the sign-in settings").await?;
        let team = self.team(namespace).await?;
        let removed = self.core.store.set_oidc_provider(&team, None).await?;
        if removed {
            self.core.audit(caller, "sso.remove", namespace.as_str(), json!({})).await;
        }
        Ok(removed)
    }

    async fn team(&self, namespace: &Namespace) -> Result<String> {
        let team = self.core.store.team_by_namespace(namespace.as_str()).await?;
        Ok(team.ok_or_else(|| Error::NotFound(format!("no team `{namespace}`")))?.id)
    }
}

fn oidc_error(e: OidcError) -> Error {
    match e {
        OidcError::Provider(m) | OidcError::NotAllowed(m) => Error::Upstream(m),
        OidcError::Rejected(m) => Error::Unauthenticated(m),
    }
}

fn check_field(name: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::Invalid(format!("{name} is required")));
    }
    if value.len() > max || value.chars().any(char::is_control) {
        return Err(Error::Invalid(format!("{name} must be at most {max} characters, without control characters")));
    }
    Ok(())
}

/// Names to try for a new user: from the provider's preferred username, else the email's
/// local part, else the name; then with `-2` … `-9`, then with a random suffix.
fn username_candidates(identity: &Identity) -> impl Iterator<Item = Username> {
    let source = identity
        .preferred_username
        .as_deref()
        .or_else(|| identity.email.as_deref().and_then(|e| e.split('@').next()))
        .or(identity.name.as_deref())
        .unwrap_or("user");
    let mut base = String::new();
    for c in source.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' };
        if !(c == '-' && base.ends_with('-')) {
            base.push(c);
        }
    }
    let mut base: String = base.trim_matches(|c: char| !c.is_ascii_alphanumeric()).chars().take(30).collect();
    base = base.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned();
    if base.is_empty() {
        base = "user".into();
    }
    let numbered = (2..10).map({
        let base = base.clone();
        move |n| format!("{base}-{n}")
    });
    let random = (0..5).map({
        let base = base.clone();
        move |_| format!("{base}-{}", hex::encode(rand::random::<[u8; 3]>()))
    });
    std::iter::once(base).chain(numbered).chain(random).filter_map(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(preferred: Option<&str>, email: Option<&str>) -> Identity {
        Identity {
            issuer: "https://id.example".into(),
            subject: "s".into(),
            email: email.map(str::to_owned),
            email_verified: false,
            preferred_username: preferred.map(str::to_owned),
            name: None,
        }
    }

    #[test]
    fn usernames_come_from_the_claims_and_always_parse() {
        let first = |i: &Identity| username_candidates(i).next().unwrap().to_string();
        assert_eq!(first(&identity(Some("Jane.Doe"), None)), "jane-doe");
        assert_eq!(first(&identity(None, Some("ops+x@example.com"))), "ops-x");
        assert_eq!(first(&identity(Some("--"), None)), "user");
        assert_eq!(first(&identity(Some("Ünïcode Näme"), None)), "n-code-n-me");
        let all: Vec<String> = username_candidates(&identity(Some("a"), None)).map(|u| u.to_string()).collect();
        assert_eq!(&all[..3], ["a", "a-2", "a-3"]);
        assert_eq!(all.len(), 14, "{all:?}");
    }
}
