//! OpenID Connect, the relying party's side, on the `openidconnect` crate: discovery, the
//! authorization-code flow with PKCE, and full validation of the ID token (the provider's
//! signature, issuer, audience, nonce, expiry, and the access-token hash when present).
//!
//! Every request the flow makes goes through one HTTP client: no redirects, no proxy, time
//! limits, at most 1 MiB read. A provider a team configured is reached only where the
//! outbound policy allows (public hosts, or hosts an operator named), over HTTPS unless an
//! operator named the host; the site's own provider, which the operator configured, is
//! reached as given.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse as _,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};

use crate::oci::outbound::OutboundPolicy;

/// The most a provider's answer may weigh (discovery document, keys, tokens, user info).
const MAX_RESPONSE: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a provider's discovery document and keys are reused before being read again.
const METADATA_TTL: Duration = Duration::from_secs(300);

/// A provider and this server's registration with it.
#[derive(Clone)]
pub struct ProviderConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The host an issuer URL names (the URL itself if it has none), for people to read.
pub fn issuer_host(issuer: &str) -> String {
    reqwest::Url::parse(issuer).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_else(|| issuer.to_owned())
}

/// Why a sign-in could not go on. The text is for the person signing in: it never carries
/// what the provider said (logged instead).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached, or its answers were not what OpenID Connect says.
    #[error("{0}")]
    Provider(String),
    /// The outbound policy forbids reaching the provider (an internal host, plain HTTP).
    #[error("{0}")]
    NotAllowed(String),
    /// What came back with the browser does not prove who is signing in.
    #[error("{0}")]
    Rejected(String),
}

/// Where the browser goes to sign in, and what the callback must be checked against.
pub struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
}

/// Discovery documents (with their keys) recently read, by issuer.
#[derive(Default)]
pub struct MetadataCache(Mutex<HashMap<String, (Instant, CoreProviderMetadata)>>);

/// The relying party: the HTTP rules its requests follow and what it remembers of providers.
#[derive(Default)]
pub struct RelyingParty {
    cache: MetadataCache,
}

impl RelyingParty {
    /// Reads the provider's discovery document and keys (checking the document names the
    /// issuer asked for), or reuses a recent copy. `policy`: the outbound policy a team's
    /// provider is reached under; `None` for the site's own.
    pub async fn discover(
        &self,
        issuer: &str,
        policy: Option<&OutboundPolicy>,
    ) -> Result<CoreProviderMetadata, OidcError> {
        // A team's provider is never served from what the site's own, reached without the
        // policy, left in the cache.
        let key = cache_key(issuer, policy);
        if let Some((at, meta)) = self.cache.0.lock().expect("cache lock").get(&key)
            && at.elapsed() < METADATA_TTL
        {
            return Ok(meta.clone());
        }
        let url =
            IssuerUrl::new(issuer.to_owned()).map_err(|_| OidcError::Provider("the issuer is not a URL".into()))?;
        let http = Http { policy: policy.cloned() };
        let meta = CoreProviderMetadata::discover_async(url, &|r| http.clone().call(r)).await.map_err(|e| {
            tracing::warn!(issuer, error = %e, "OpenID discovery failed");
            match e {
                openidconnect::DiscoveryError::Request(HttpError::Refused(why)) => OidcError::NotAllowed(why),
                _ => OidcError::Provider(format!(
                    "the issuer {issuer} did not answer with an OpenID Connect discovery document and keys"
                )),
            }
        })?;
        self.cache.0.lock().expect("cache lock").insert(key, (Instant::now(), meta.clone()));
        Ok(meta)
    }

    /// Forgets a provider's document and keys (after a token its keys did not verify: they
    /// may have rotated).
    fn forget(&self, issuer: &str, policy: Option<&OutboundPolicy>) {
        self.cache.0.lock().expect("cache lock").remove(&cache_key(issuer, policy));
    }

    /// Where to send the browser: the provider's authorization endpoint with a fresh state,
    /// nonce and PKCE challenge (S256), asking for `openid email profile`.
    pub async fn start(
        &self,
        provider: &ProviderConfig,
        redirect: &str,
        policy: Option<&OutboundPolicy>,
    ) -> Result<Started, OidcError> {
        let client = client(self.discover(&provider.issuer, policy).await?, provider, redirect)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        // The browser is sent there: a provider's page over HTTPS (plain HTTP only for the
        // site's own provider or a host the operator allowed), never another kind of URL.
        let secure = url.scheme() == "https"
            || (url.scheme() == "http"
                && policy.is_none_or(|p| {
                    url.host_str()
                        .zip(url.port_or_known_default())
                        .is_some_and(|(h, port)| p.names(&format!("{h}:{port}"), port))
                }));
        if !secure {
            return Err(OidcError::Provider("the provider's authorization endpoint is not an https URL".into()));
        }
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code (with the PKCE verifier) and validates the ID token fully; claims
    /// the token lacks are asked of the user-info endpoint.
    pub async fn finish(
        &self,
        provider: &ProviderConfig,
        redirect: &str,
        policy: Option<&OutboundPolicy>,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<Identity, OidcError> {
        let client = client(self.discover(&provider.issuer, policy).await?, provider, redirect)?;
        let http = Http { policy: policy.cloned() };
        let call = |r| http.clone().call(r);
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            tracing::warn!(issuer = %provider.issuer, error = %e, "OpenID sign-in failed: {what}");
            OidcError::Provider(format!("the identity provider refused the sign-in ({what})"))
        };
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| failed("no token endpoint", &e))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&call)
            .await
            .map_err(|e| failed("code exchange", &e))?;
        let id_token = token.id_token().ok_or_else(|| OidcError::Rejected("the provider sent no ID token".into()))?;
        let checker = client.id_token_verifier();
        let claims = id_token.claims(&checker, &Nonce::new(nonce.to_owned())).map_err(|e| {
            tracing::warn!(issuer = %provider.issuer, error = %e, "an ID token was refused");
            if matches!(e, openidconnect::ClaimsVerificationError::SignatureVerification(_)) {
                self.forget(&provider.issuer, policy);
            }
            OidcError::Rejected("the ID token did not validate".into())
        })?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token.signing_alg().map_err(|e| failed("signing algorithm", &e))?;
            let key = id_token.signing_key(&checker).map_err(|e| failed("signing key", &e))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|e| failed("access-token hash", &e))?;
            if actual != *expected {
                return Err(OidcError::Rejected("the ID token does not belong to the access token".into()));
            }
        }
        let mut identity = Identity {
            issuer: provider.issuer.clone(),
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            preferred_username: claims.preferred_username().map(|u| u.to_string()),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
        };
        // Providers that keep the ID token small put the profile behind the user-info endpoint.
        if identity.email.is_none() && identity.preferred_username.is_none() {
            let info: Option<CoreUserInfoClaims> =
                match client.user_info(token.access_token().clone(), Some(claims.subject().clone())) {
                    Ok(request) => Some(request.request_async(&call).await.map_err(|e| failed("user info", &e))?),
                    Err(_) => None,
                };
            if let Some(info) = info {
                identity.email = info.email().map(|e| e.to_string());
                identity.email_verified = info.email_verified().unwrap_or(false);
                identity.preferred_username = info.preferred_username().map(|u| u.to_string());
                identity.name = identity.name.or_else(|| info.name().and_then(|n| n.get(None)).map(|n| n.to_string()));
            }
        }
        Ok(identity)
    }
}

fn cache_key(issuer: &str, policy: Option<&OutboundPolicy>) -> String {
    format!("{}{issuer}", if policy.is_some() { "team " } else { "site " })
}

type Client = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client(meta: CoreProviderMetadata, provider: &ProviderConfig, redirect: &str) -> Result<Client, OidcError> {
    let redirect = RedirectUrl::new(redirect.to_owned())
        .map_err(|_| OidcError::Provider("this server's public URL does not make a redirect URL".into()))?;
    Ok(CoreClient::from_provider_metadata(
        meta,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

/// A failed request to a provider.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The outbound policy forbids it (said to the team owner configuring the provider).
    #[error("{0}")]
    Refused(String),
    /// Anything else (logged, never shown).
    #[error("{0}")]
    Failed(String),
}

/// The HTTP client every provider request goes through.
#[derive(Clone)]
struct Http {
    policy: Option<OutboundPolicy>,
}

impl Http {
    async fn call(self, request: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, HttpError> {
        let url =
            reqwest::Url::parse(&request.uri().to_string()).map_err(|e| HttpError::Failed(format!("bad URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpError::Failed(format!("{} is not an http(s) URL", url.scheme())));
        }
        let host = url.host_str().ok_or_else(|| HttpError::Failed("a URL without a host".into()))?.to_owned();
        let port = url.port_or_known_default().ok_or_else(|| HttpError::Failed("a URL without a port".into()))?;
        // No proxy: it would resolve the host itself, past the address checked here.
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("skilldex/", env!("CARGO_PKG_VERSION")));
        if let Some(policy) = &self.policy {
            let authority = format!("{host}:{port}");
            let addr = policy
                .resolve(&authority, port)
                .await
                .ok_or_else(|| HttpError::Refused(format!("{host} is an internal or unknown host")))?;
            if url.scheme() != "https" && !policy.names(&authority, port) {
                return Err(HttpError::Refused(format!("{host} would be reached over plain HTTP")));
            }
            builder = builder.resolve(host.trim_start_matches('[').trim_end_matches(']'), addr);
        }
        let client = builder.build().map_err(|e| HttpError::Failed(format!("no HTTP client: {e}")))?;
        let (parts, body) = request.into_parts();
        let mut response = client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| HttpError::Failed(e.to_string()))?;
        if response.content_length().is_some_and(|n| n > MAX_RESPONSE as u64) {
            return Err(HttpError::Failed("the answer is too large".into()));
        }
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| HttpError::Failed(e.to_string()))? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(HttpError::Failed("the answer is too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = openidconnect::HttpResponse::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}
