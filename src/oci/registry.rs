//! Talking to OCI registries through `oci-client`: pull by digest with every byte checked,
//! push that skips blobs already present, credentials from flags, env or
//! `~/.docker/config.json`, plain HTTP for loopback hosts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::layout::{Artifact, Blob, Descriptor, Index, media, sha256_digest};

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("invalid OCI reference `{0}`: {1}")]
    BadReference(String, String),
    #[error("{0} was not found in the registry")]
    NotFound(String),
    /// The outbound policy does not let the server contact this registry. Said exactly like
    /// `NotFound`, so callers cannot use the server to tell which hosts exist.
    #[error("{0} was not found in the registry")]
    Refused(String),
    #[error("the registry refused access to {0} (check the registry credentials)")]
    Unauthorized(String),
    #[error("cannot reach the registry for {0}: {1}")]
    Unreachable(String, String),
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("{0}")]
    TooLarge(String),
    #[error("the registry answered with an error for {0}: {1}")]
    Registry(String, String),
}

/// How to authenticate to a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic { username: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

impl Credentials {
    fn auth(&self) -> RegistryAuth {
        match self {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => RegistryAuth::Basic(username.clone(), password.clone()),
            Credentials::Bearer(t) => RegistryAuth::Bearer(t.clone()),
        }
    }
}

/// Where credentials come from, most specific first: per-host settings, then one set for
/// every registry (CLI flags), then the Docker config file, then anonymous.
#[derive(Debug, Clone, Default)]
pub struct CredentialSource {
    pub per_host: HashMap<String, Credentials>,
    pub any_host: Option<Credentials>,
    pub docker_config: Option<PathBuf>,
}

impl CredentialSource {
    /// The standard Docker config: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    pub fn default_docker_config() -> Option<PathBuf> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
        Some(dir.join("config.json"))
    }

    /// The credentials used for `host`.
    pub fn for_host(&self, host: &str) -> Credentials {
        if let Some(c) = self.per_host.get(host) {
            return c.clone();
        }
        if let Some(c) = &self.any_host {
            return c.clone();
        }
        self.docker_config.as_ref().and_then(|p| docker_credentials(p, host)).unwrap_or(Credentials::Anonymous)
    }
}

/// Reads `auths.<host>` from a Docker config file (`auth` or `username`/`password`).
fn docker_credentials(path: &std::path::Path, host: &str) -> Option<Credentials> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    let auths = doc.get("auths")?.as_object()?;
    let normalize = |k: &str| {
        let k = k.trim_start_matches("https://").trim_start_matches("http://");
        k.split('/').next().unwrap_or(k).to_owned()
    };
    let entry = auths.iter().find(|(k, _)| normalize(k) == host).map(|(_, v)| v)?;
    if let Some(token) = entry.get("registrytoken").and_then(|t| t.as_str()) {
        return Some(Credentials::Bearer(token.to_owned()));
    }
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
        let decoded = base64::engine::general_purpose::STANDARD.decode(auth).ok()?;
        let (u, p) = String::from_utf8(decoded).ok()?.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))?;
        return Some(Credentials::Basic { username: u, password: p });
    }
    let u = entry.get("username")?.as_str()?;
    let p = entry.get("password")?.as_str()?;
    Some(Credentials::Basic { username: u.to_owned(), password: p.to_owned() })
}

/// Loopback registries are spoken to over plain HTTP; everything else over HTTPS.
pub fn is_loopback(registry: &str) -> bool {
    let (host, _) = super::outbound::split_host_port(registry);
    host == "localhost" || host == "::1" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

pub fn parse_reference(s: &str) -> Result<Reference, OciError> {
    let r: Reference =
        s.parse().map_err(|e: oci_client::ParseError| OciError::BadReference(s.to_owned(), e.to_string()))?;
    // A reference must name its registry explicitly; skilldex never guesses Docker Hub.
    if !s.starts_with(r.registry()) {
        return Err(OciError::BadReference(
            s.to_owned(),
            "name the registry host, e.g. ghcr.io/org/skill:1.0.0".into(),
        ));
    }
    Ok(r)
}

/// Registry clients, one per host (auth is cached per client and host).
pub struct Registries {
    creds: CredentialSource,
    /// Which registries may be contacted; `None`: any (the CLI, acting for its own user).
    policy: Option<super::outbound::OutboundPolicy>,
    /// The egress proxy every connection goes through when there is a policy.
    proxy: Option<String>,
    clients: Mutex<HashMap<String, (Arc<Client>, RegistryAuth)>>,
    /// How reads of a (registry, repository) were authorized lately, so a fetch of several
    /// pieces asks the token service once.
    read_auths: Mutex<HashMap<(String, String), (ReadAuth, std::time::Instant)>>,
    /// For the calls oci-client does not make the way skilldex needs (referrers).
    http: reqwest::Client,
}

impl Registries {
    pub fn new(creds: CredentialSource) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("skilldex/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .expect("HTTP client");
        Self {
            creds,
            policy: None,
            proxy: None,
            clients: Mutex::new(HashMap::new()),
            read_auths: Mutex::new(HashMap::new()),
            http,
        }
    }

    /// Clients for reading on a caller's behalf: the caller's credentials (or none) for every
    /// host, never this one's, under the same outbound policy.
    pub fn for_caller(&self, credentials: Option<Credentials>) -> Registries {
        let creds = CredentialSource { any_host: credentials, ..Default::default() };
        Registries {
            creds,
            policy: self.policy.clone(),
            proxy: self.proxy.clone(),
            clients: Mutex::new(HashMap::new()),
            read_auths: Mutex::new(HashMap::new()),
            http: self.http.clone(),
        }
    }

    /// Contact only the registries `policy` permits, on every hop (redirects and token realms
    /// included): all connections go through an egress proxy that applies it.
    pub fn with_policy(mut self, policy: super::outbound::OutboundPolicy) -> std::io::Result<Self> {
        let egress = super::egress::Egress::start(policy.clone())?;
        let proxy = reqwest::Proxy::all(egress.url()).map_err(std::io::Error::other)?;
        self.http = reqwest::Client::builder()
            .user_agent(concat!("skilldex/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .proxy(proxy)
            .build()
            .map_err(std::io::Error::other)?;
        self.proxy = Some(egress.url());
        self.policy = Some(policy);
        Ok(self)
    }

    /// The egress proxy every connection goes through, when there is a policy (for other
    /// clients, such as git, to use too).
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// Whether the outbound policy (when there is one) lets `registry` (`host[:port]`) be
    /// contacted.
    pub async fn permits(&self, registry: &str) -> bool {
        match &self.policy {
            Some(policy) => policy.permits(registry).await,
            None => true,
        }
    }

    /// Refuses a registry the outbound policy does not permit (when there is one).
    async fn permit(&self, r: &Reference) -> Result<(), OciError> {
        if let Some(policy) = &self.policy
            && !policy.permits(r.resolve_registry()).await
        {
            tracing::info!(registry = r.resolve_registry(), "outbound policy refused a registry");
            return Err(OciError::Refused(r.whole()));
        }
        Ok(())
    }

    /// The oci-client for `r`'s registry (pushes), once the outbound policy allows it.
    async fn checked(&self, r: &Reference) -> Result<(Arc<Client>, RegistryAuth), OciError> {
        self.permit(r).await?;
        self.client(r)
    }

    /// The repository's tags (as the registry lists them on its first page).
    pub async fn tags(&self, repo: &Reference) -> Result<Vec<String>, OciError> {
        let small = self.get_small(repo, "tags/list", "application/json", &repo.whole()).await?;
        match small.status {
            200 => {}
            404 => return Err(OciError::NotFound(repo.whole())),
            401 | 403 => return Err(OciError::Unauthorized(repo.whole())),
            other => return Err(OciError::Registry(repo.whole(), format!("HTTP {other}"))),
        }
        let list: serde_json::Value =
            serde_json::from_slice(&small.body).map_err(|e| OciError::Registry(repo.whole(), e.to_string()))?;
        let tags = list["tags"].as_array().map(|t| t.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect());
        Ok(tags.unwrap_or_default())
    }

    /// One page of at most `n` of the repository's tags after `last`, and where the next page
    /// starts (`None`: this was the last one). The registry says there is more with a `Link`
    /// header; one that ignores `n` and sends everything at once is read whole, within the
    /// size limit.
    pub async fn tags_page(
        &self,
        repo: &Reference,
        last: Option<&str>,
        n: usize,
    ) -> Result<(Vec<String>, Option<String>), OciError> {
        let mut path = format!("tags/list?n={n}");
        if let Some(last) = last {
            path.push_str(&format!("&last={}", urlencode(last)));
        }
        let what = repo.whole();
        let resp = self.read(repo, reqwest::Method::GET, &path, "application/json", &what).await?;
        let (next, body) = Self::listing_answer(resp, &what).await?;
        Self::listed(&body, "tags", next, &what)
    }

    /// A document (a catalog) at `url`, read anonymously within `max` bytes, under the
    /// outbound policy on every hop.
    pub async fn document(&self, url: &str, max: usize) -> Result<Vec<u8>, OciError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| OciError::BadReference(url.to_owned(), e.to_string()))?;
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(OciError::BadReference(url.to_owned(), "no host".into())),
        };
        if !self.permits(&host).await {
            return Err(OciError::Refused(host));
        }
        let resp = self
            .http
            .get(parsed)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| OciError::Unreachable(url.to_owned(), e.without_url().to_string()))?;
        let resp = egress_answer(self.proxy.is_some(), resp, url)?;
        expect_ok(resp.status().as_u16(), url)?;
        read_capped(resp, max, url).await
    }

    /// One page of at most `n` repository names of `registry`'s catalog (`/v2/_catalog`)
    /// after `last`, and where the next page starts. Registries that keep their catalog to
    /// themselves answer 401, 403 or 404: `Unauthorized` or `NotFound`.
    pub async fn catalog_page(
        &self,
        registry: &str,
        last: Option<&str>,
        n: usize,
    ) -> Result<(Vec<String>, Option<String>), OciError> {
        let what = format!("the repository catalog of {registry}");
        let r = parse_reference(&format!("{registry}/catalog"))?;
        let auth = self.scoped_auth(&r, "registry:catalog:*", &what).await?;
        let mut url = format!("{}/v2/_catalog?n={n}", base_url(&r));
        if let Some(last) = last {
            url.push_str(&format!("&last={}", urlencode(last)));
        }
        let req = auth.apply(self.http.get(&url).header(reqwest::header::ACCEPT, "application/json"));
        let resp = req.send().await.map_err(|e| OciError::Unreachable(what.clone(), e.without_url().to_string()))?;
        let resp = egress_answer(self.proxy.is_some(), resp, &what)?;
        let (next, body) = Self::listing_answer(resp, &what).await?;
        Self::listed(&body, "repositories", next, &what)
    }

    /// Whether a listing links to a next page, and its body (read within the size limit),
    /// once its status is a 200.
    async fn listing_answer(resp: reqwest::Response, what: &str) -> Result<(bool, Vec<u8>), OciError> {
        expect_ok(resp.status().as_u16(), what)?;
        let next = resp
            .headers()
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|link| link.contains("rel=\"next\"") || link.contains("rel=next")));
        Ok((next, read_capped(resp, MAX_LISTING, what).await?))
    }

    /// The names under `field` of a listing's body, and the last of them when there is more.
    fn listed(body: &[u8], field: &str, next: bool, what: &str) -> Result<(Vec<String>, Option<String>), OciError> {
        let list: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| OciError::Registry(what.to_owned(), e.to_string()))?;
        let names: Vec<String> = list[field]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let more = if next { names.last().cloned() } else { None };
        Ok((names, more))
    }

    /// The manifests whose `subject` is `subject`'s digest: from the referrers API, or, where
    /// the registry has none (404), from the `sha256-<hex>` tag. Unlike a missing fallback
    /// tag (no referrers), any registry failure is an error: "cannot tell" must never read
    /// as "nothing there".
    pub async fn referrers(
        &self,
        subject: &Reference,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, OciError> {
        let digest = subject
            .digest()
            .ok_or_else(|| OciError::BadReference(subject.whole(), "referrers need a digest".into()))?
            .to_owned();
        let what = format!("referrers of {}", subject.whole());
        let mut path = format!("referrers/{digest}");
        if let Some(t) = artifact_type {
            path.push_str(&format!("?artifactType={}", urlencode(t)));
        }
        let small = self.get_small(subject, &path, media::INDEX, &what).await?;
        let filtered = small.filtered;
        let index = match small.status {
            200 => serde_json::from_slice::<Index>(&small.body)
                .map_err(|e| OciError::Registry(what.clone(), e.to_string()))?,
            404 => {
                let tag = digest.replace(':', "-");
                let fallback = Reference::with_tag(subject.registry().into(), subject.repository().into(), tag);
                match self.manifest(&fallback).await {
                    Ok((bytes, _)) => serde_json::from_slice::<Index>(&bytes)
                        .map_err(|e| OciError::Registry(what.clone(), e.to_string()))?,
                    Err(OciError::NotFound(_)) => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                }
            }
            401 | 403 => return Err(OciError::Unauthorized(what)),
            other => return Err(OciError::Registry(what, format!("HTTP {other}"))),
        };
        let wanted = |d: &Descriptor| filtered || artifact_type.is_none_or(|t| d.artifact_type.as_deref() == Some(t));
        Ok(index.manifests.into_iter().filter(wanted).collect())
    }

    /// Pushes one manifest's exact bytes under a tag or its digest.
    pub async fn push_manifest_at(&self, at: &Reference, manifest: &Blob) -> Result<(), OciError> {
        let (client, auth) = self.checked(at).await?;
        client.store_auth_if_needed(at.resolve_registry(), &auth).await;
        client.auth(at, &auth, oci_client::RegistryOperation::Push).await.map_err(|e| map_err(&at.whole(), e))?;
        self.push_manifest(&client, at, manifest).await
    }

    /// Pushes a blob unless the registry already has it.
    pub async fn push_blob(&self, repo: &Reference, blob: &Blob) -> Result<(), OciError> {
        let (client, auth) = self.checked(repo).await?;
        client.store_auth_if_needed(repo.resolve_registry(), &auth).await;
        client.auth(repo, &auth, oci_client::RegistryOperation::Push).await.map_err(|e| map_err(&repo.whole(), e))?;
        if !client.blob_exists(repo, &blob.digest).await.map_err(|e| map_err(&repo.whole(), e))? {
            client.push_blob(repo, blob.data.clone(), &blob.digest).await.map_err(|e| map_err(&repo.whole(), e))?;
        }
        Ok(())
    }

    fn client(&self, r: &Reference) -> Result<(Arc<Client>, RegistryAuth), OciError> {
        let host = r.resolve_registry().to_owned();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = clients.get(&host) {
            return Ok(found.clone());
        }
        let protocol = if is_loopback(&host) { ClientProtocol::Http } else { ClientProtocol::Https };
        let config = ClientConfig {
            protocol,
            http_proxy: self.proxy.clone(),
            https_proxy: self.proxy.clone(),
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            ..Default::default()
        };
        // Never a fallback client: one without the proxy would escape the outbound policy.
        let client = Client::try_from(config).map_err(|e| OciError::Unreachable(r.whole(), e.to_string()))?;
        let made = (Arc::new(client), self.creds.for_host(&host).auth());
        clients.insert(host, made.clone());
        Ok(made)
    }

    /// Turns a tag into a digest (HEAD); a reference already pinned is returned as pinned,
    /// after checking the registry has it.
    pub async fn resolve(&self, r: &Reference) -> Result<String, OciError> {
        let target = r.digest().or(r.tag()).unwrap_or("latest");
        let path = format!("manifests/{target}");
        let head = self.read(r, reqwest::Method::HEAD, &path, &media::ACCEPT.join(", "), &r.whole()).await?;
        let digest = head.headers().get("docker-content-digest").and_then(|d| d.to_str().ok()).map(str::to_owned);
        match head.status().as_u16() {
            200 => {}
            // A registry that does not answer HEAD: the digest comes from the manifest itself.
            405 => return Ok(self.manifest(r).await?.1),
            404 => return Err(OciError::NotFound(r.whole())),
            401 | 403 => return Err(OciError::Unauthorized(r.whole())),
            other => return Err(OciError::Registry(r.whole(), format!("HTTP {other}"))),
        }
        match digest.filter(|d| is_sha256(d)) {
            Some(d) => check_pinned(r, d),
            // Without the header the digest is computed from the (size-capped) manifest.
            None => Ok(self.manifest(r).await?.1),
        }
    }

    /// The exact manifest bytes and their digest, computed here from those bytes. Reading
    /// stops past `MAX_MANIFEST` bytes: a registry cannot make the server buffer more.
    pub async fn manifest(&self, r: &Reference) -> Result<(Vec<u8>, String), OciError> {
        let target = r.digest().or(r.tag()).unwrap_or("latest");
        let small = self.get_small(r, &format!("manifests/{target}"), &media::ACCEPT.join(", "), &r.whole()).await?;
        match small.status {
            200 => {}
            404 => return Err(OciError::NotFound(r.whole())),
            401 | 403 => return Err(OciError::Unauthorized(r.whole())),
            other => return Err(OciError::Registry(r.whole(), format!("HTTP {other}"))),
        }
        let digest = sha256_digest(&small.body);
        Ok((small.body, check_pinned(r, digest)?))
    }

    /// A request to `/v2/<repo>/<path>`, authorized for pulling from `r`'s repository.
    async fn read(
        &self,
        r: &Reference,
        method: reqwest::Method,
        path: &str,
        accept: &str,
        what: &str,
    ) -> Result<reqwest::Response, OciError> {
        let auth = self.read_auth(r, what).await?;
        let url = format!("{}/v2/{}/{path}", base_url(r), r.repository());
        let req = auth.apply(self.http.request(method, &url).header(reqwest::header::ACCEPT, accept));
        let resp = req.send().await.map_err(|e| OciError::Unreachable(what.to_owned(), e.without_url().to_string()))?;
        egress_answer(self.proxy.is_some(), resp, what)
    }

    /// How to authorize pulls from `r`'s repository: the registry's challenge at `/v2/`
    /// answered with this registry's credentials (a token fetched from the realm for a
    /// bearer challenge). Every answer is read within a size limit.
    async fn read_auth(&self, r: &Reference, what: &str) -> Result<ReadAuth, OciError> {
        self.scoped_auth(r, &format!("repository:{}:pull", r.repository()), what).await
    }

    /// The same for any token `scope` on `r`'s registry (the catalog's is
    /// `registry:catalog:*`).
    async fn scoped_auth(&self, r: &Reference, scope: &str, what: &str) -> Result<ReadAuth, OciError> {
        self.permit(r).await?;
        let key = (r.resolve_registry().to_owned(), scope.to_owned());
        let cached = self.read_auths.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
        if let Some((auth, _)) = cached.filter(|(_, at)| at.elapsed() < READ_AUTH_TTL) {
            return Ok(auth);
        }
        let (auth, settled) = self.challenge(r, scope, what).await?;
        if settled {
            let mut cache = self.read_auths.lock().unwrap_or_else(|p| p.into_inner());
            cache.retain(|_, (_, at)| at.elapsed() < READ_AUTH_TTL);
            cache.insert(key, (auth.clone(), std::time::Instant::now()));
        }
        Ok(auth)
    }

    /// Answers the registry's challenge at `/v2/` for pulling from `r`'s repository, and
    /// whether the answer is settled enough to reuse. Credentials go only to the registry they
    /// are for (a challenge from a host the probe was redirected to gets none) and to its
    /// token realm over HTTPS (or on loopback).
    async fn challenge(&self, r: &Reference, scope: &str, what: &str) -> Result<(ReadAuth, bool), OciError> {
        let creds = self.creds.for_host(r.resolve_registry());
        let unreachable = |e: reqwest::Error| OciError::Unreachable(what.to_owned(), e.without_url().to_string());
        let probe = self.http.get(format!("{}/v2/", base_url(r))).send().await.map_err(unreachable)?;
        let same_host = probe.url().host_str().zip(probe.url().port_or_known_default()).is_some_and(|(h, p)| {
            let base = reqwest::Url::parse(&format!("{}/", base_url(r))).ok();
            base.is_some_and(|b| b.host_str() == Some(h) && b.port_or_known_default() == Some(p))
        });
        let challenge = probe.headers().get(reqwest::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
        let challenge = challenge.map(str::to_owned);
        let status = probe.status().as_u16();
        drop(probe);
        if !same_host {
            // ContainerDrip: a redirected probe's challenge is another host's to make.
            return Ok((ReadAuth::None, false));
        }
        let settled = matches!(status, 200 | 401);
        let from_creds = match &creds {
            Credentials::Anonymous => ReadAuth::None,
            Credentials::Basic { username, password } => ReadAuth::Basic(username.clone(), password.clone()),
            Credentials::Bearer(t) => ReadAuth::Bearer(t.clone()),
        };
        let Some(challenge) = challenge.filter(|_| status == 401) else { return Ok((from_creds, settled)) };
        let bearer = challenge.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("bearer "));
        if !bearer || matches!(creds, Credentials::Bearer(_)) {
            return Ok((from_creds, settled));
        }
        let params = challenge_params(&challenge[7..]);
        let realm = params.iter().find(|(k, _)| k == "realm").map(|(_, v)| v.clone());
        let realm =
            realm.ok_or_else(|| OciError::Registry(what.to_owned(), "a bearer challenge without a realm".into()))?;
        let realm_url = reqwest::Url::parse(&realm)
            .map_err(|_| OciError::Registry(what.to_owned(), "the bearer challenge's realm is not a URL".into()))?;
        let private_enough = realm_url.scheme() == "https"
            || (realm_url.scheme() == "http" && realm_url.host_str().is_some_and(is_loopback));
        let mut query: Vec<(String, String)> = params.into_iter().filter(|(k, _)| k == "service").collect();
        query.push(("scope".into(), scope.to_owned()));
        let mut req = self.http.get(realm_url).query(&query);
        if let (ReadAuth::Basic(u, p), true) = (&from_creds, private_enough) {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.map_err(unreachable)?;
        match resp.status().as_u16() {
            200 => {}
            401 | 403 => return Err(OciError::Unauthorized(what.to_owned())),
            other => return Err(OciError::Registry(what.to_owned(), format!("token service: HTTP {other}"))),
        }
        let body = read_capped(resp, MAX_TOKEN_ANSWER, what).await?;
        let answer: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| OciError::Registry(what.to_owned(), "the token service answered garbage".into()))?;
        let token = answer.get("token").or_else(|| answer.get("access_token")).and_then(|t| t.as_str());
        let token =
            token.ok_or_else(|| OciError::Registry(what.to_owned(), "the token service sent no token".into()))?;
        Ok((ReadAuth::Bearer(token.to_owned()), true))
    }

    /// `GET /v2/<repo>/<path>`; a 200 body is read only up to `MAX_MANIFEST` bytes (more is
    /// `TooLarge`), other bodies not at all.
    async fn get_small(&self, r: &Reference, path: &str, accept: &str, what: &str) -> Result<Small, OciError> {
        let resp = self.read(r, reqwest::Method::GET, path, accept, what).await?;
        let status = resp.status().as_u16();
        let filtered = resp.headers().contains_key("OCI-Filters-Applied");
        if status != 200 {
            return Ok(Small { status, filtered, body: Vec::new() });
        }
        let body = read_capped(resp, MAX_MANIFEST, what).await?;
        Ok(Small { status, filtered, body })
    }

    /// A blob, refused past `max` bytes, checked against its descriptor's digest and size.
    pub async fn blob(&self, repo: &Reference, desc: &Descriptor, max: u64) -> Result<Vec<u8>, OciError> {
        self.blob_with_progress(repo, desc, max, &|_| {}).await
    }

    /// The same, telling `progress` the size of each piece as it arrives.
    pub async fn blob_with_progress(
        &self,
        repo: &Reference,
        desc: &Descriptor,
        max: u64,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Vec<u8>, OciError> {
        if desc.size > max {
            return Err(OciError::TooLarge(format!("{} is {} bytes; the limit is {max}", desc.digest, desc.size)));
        }
        let what = format!("{}@{}", repo.repository(), desc.digest);
        let resp = self.read(repo, reqwest::Method::GET, &format!("blobs/{}", desc.digest), "*/*", &what).await?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(OciError::NotFound(what)),
            401 | 403 => return Err(OciError::Unauthorized(what)),
            other => return Err(OciError::Registry(what, format!("HTTP {other}"))),
        }
        let mut data = Vec::with_capacity(desc.size as usize);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| OciError::Unreachable(what.clone(), e.without_url().to_string()))?;
            if data.len() + chunk.len() > max as usize || data.len() + chunk.len() > desc.size as usize {
                return Err(OciError::DigestMismatch {
                    what,
                    expected: format!("{} ({} bytes)", desc.digest, desc.size),
                    actual: "more bytes than the descriptor says".into(),
                });
            }
            data.extend_from_slice(&chunk);
            progress(chunk.len() as u64);
        }
        let actual = sha256_digest(&data);
        if actual != desc.digest || data.len() as u64 != desc.size {
            return Err(OciError::DigestMismatch { what, expected: desc.digest.clone(), actual });
        }
        Ok(data)
    }

    /// Pushes an artifact: blobs the registry lacks, each platform manifest by digest, then
    /// the index under `target`'s tag (or by digest when it has none). `progress` hears the
    /// size of each piece as it is done (skipped blobs included).
    pub async fn push(
        &self,
        target: &Reference,
        artifact: &Artifact,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), OciError> {
        let (client, auth) = self.checked(target).await?;
        let what = target.whole();
        client.store_auth_if_needed(target.resolve_registry(), &auth).await;
        client.auth(target, &auth, oci_client::RegistryOperation::Push).await.map_err(|e| map_err(&what, e))?;
        let blobs = std::iter::once(&artifact.layer).chain(&artifact.configs);
        for blob in blobs {
            let exists = client.blob_exists(target, &blob.digest).await.map_err(|e| map_err(&what, e))?;
            if !exists {
                client.push_blob(target, blob.data.clone(), &blob.digest).await.map_err(|e| map_err(&what, e))?;
            }
            progress(blob.data.len() as u64);
        }
        for m in &artifact.manifests {
            // By digest: the tag is for the index alone, and may never point anywhere else.
            let by_digest =
                Reference::with_digest(target.registry().into(), target.repository().into(), m.digest.clone());
            self.push_manifest(&client, &by_digest, m).await?;
            progress(m.data.len() as u64);
        }
        let top = match target.tag() {
            Some(tag) => Reference::with_tag(target.registry().into(), target.repository().into(), tag.into()),
            None => target.clone_with_digest(artifact.index.digest.clone()),
        };
        self.push_manifest(&client, &top, &artifact.index).await?;
        progress(artifact.index.data.len() as u64);
        Ok(())
    }

    async fn push_manifest(&self, client: &Client, at: &Reference, m: &Blob) -> Result<(), OciError> {
        let target = match at.tag() {
            Some(_) => at.clone(),
            None => Reference::with_digest(at.registry().into(), at.repository().into(), m.digest.clone()),
        };
        let content_type =
            m.media_type.parse().map_err(|_| OciError::BadReference(m.media_type.clone(), "bad media type".into()))?;
        client
            .push_manifest_raw(&target, m.data.clone(), content_type)
            .await
            .map_err(|e| map_err(&target.whole(), e))?;
        Ok(())
    }
}

/// How long connecting to a registry may take, and one read from it.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// The largest answer a token service may give.
const MAX_TOKEN_ANSWER: usize = 64 * 1024;
/// The most a page of tags or repositories may weigh: a registry that ignores `n` and sends
/// 100 000 names at once still fits.
const MAX_LISTING: usize = 16 * 1024 * 1024;

/// How long an answered challenge is reused (registry tokens live for minutes).
const READ_AUTH_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// How reads from one repository are authorized.
#[derive(Clone)]
enum ReadAuth {
    None,
    Basic(String, String),
    Bearer(String),
}

impl ReadAuth {
    fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            ReadAuth::None => req,
            ReadAuth::Basic(u, p) => req.basic_auth(u, Some(p)),
            ReadAuth::Bearer(t) => req.bearer_auth(t),
        }
    }
}

/// `http://` for loopback registries, `https://` for the rest, and the host.
fn base_url(r: &Reference) -> String {
    let scheme = if is_loopback(r.resolve_registry()) { "http" } else { "https" };
    format!("{scheme}://{}", r.resolve_registry())
}

fn is_sha256(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The `key="value"` pairs of a `WWW-Authenticate` challenge.
fn challenge_params(params: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((v, n)) => (v, n),
                None => (quoted, ""),
            },
            None => after.split_once(',').unwrap_or((after, "")),
        };
        out.push((key, value.to_owned()));
        rest = next.trim_start().trim_start_matches(',');
    }
    out
}

/// The response, unless it is the egress proxy's own refusal (only believed when there is a
/// proxy): then why no connection was made (the policy, or an address that did not answer),
/// not a registry's error.
fn egress_answer(proxied: bool, resp: reqwest::Response, what: &str) -> Result<reqwest::Response, OciError> {
    if !proxied {
        return Ok(resp);
    }
    match resp.headers().get(super::egress::EGRESS_HEADER).and_then(|v| v.to_str().ok()) {
        Some("refused") => Err(OciError::Refused(what.to_owned())),
        Some("unreachable") => Err(OciError::Unreachable(what.to_owned(), "no connection could be made".into())),
        _ => Ok(resp),
    }
}

/// `Ok` for a 200; otherwise the error a registry's (or catalog's) status means.
fn expect_ok(status: u16, what: &str) -> Result<(), OciError> {
    match status {
        200 => Ok(()),
        404 => Err(OciError::NotFound(what.to_owned())),
        401 | 403 => Err(OciError::Unauthorized(what.to_owned())),
        other => Err(OciError::Registry(what.to_owned(), format!("HTTP {other}"))),
    }
}

/// A response body, refused past `max` bytes.
async fn read_capped(resp: reqwest::Response, max: usize, what: &str) -> Result<Vec<u8>, OciError> {
    let too_large = || OciError::TooLarge(format!("{what}: the registry sent more than {max} bytes"));
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| OciError::Unreachable(what.to_owned(), e.without_url().to_string()))?;
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A small answer from a registry.
struct Small {
    status: u16,
    /// `OCI-Filters-Applied` was set.
    filtered: bool,
    body: Vec<u8>,
}

/// Percent-encodes a query value (media types contain `/` and `+`).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Refuses an answer whose digest differs from the one the reference pins.
fn check_pinned(r: &Reference, digest: String) -> Result<String, OciError> {
    match r.digest() {
        Some(pinned) if pinned != digest => {
            Err(OciError::DigestMismatch { what: r.whole(), expected: pinned.to_owned(), actual: digest })
        }
        _ => Ok(digest),
    }
}

/// Manifests are small JSON documents; anything bigger is refused before parsing.
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;

fn map_err(what: &str, e: OciDistributionError) -> OciError {
    use OciDistributionError as E;
    let what = what.to_owned();
    match e {
        E::ImageManifestNotFoundError(_) => OciError::NotFound(what),
        E::AuthenticationFailure(m) => OciError::Unauthorized(format!("{what}: {m}")),
        E::UnauthorizedError { .. } => OciError::Unauthorized(what),
        E::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                OciError::NotFound(what)
            } else if codes.iter().any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                OciError::Unauthorized(what)
            } else {
                OciError::Registry(what, envelope.to_string())
            }
        }
        E::ServerError { code: 404, .. } => OciError::NotFound(what),
        E::ServerError { code: 401 | 403, .. } => OciError::Unauthorized(what),
        E::RequestError(e) => match e.status().map(|s| s.as_u16()) {
            Some(401 | 403) => OciError::Unauthorized(what),
            Some(404) => OciError::NotFound(what),
            Some(code) => OciError::Registry(what, format!("HTTP {code}")),
            None => OciError::Unreachable(what, e.without_url().to_string()),
        },
        E::DigestError(e) => {
            OciError::DigestMismatch { what, expected: "the requested digest".into(), actual: e.to_string() }
        }
        other => OciError::Registry(what, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_use_plain_http() {
        for h in ["127.0.0.1:5000", "localhost:5000", "localhost", "[::1]:5000", "127.1.2.3"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["ghcr.io", "10.0.0.1:5000", "registry.local:5000", "[2001:db8::1]:443"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn references_must_name_their_registry() {
        assert!(parse_reference("127.0.0.1:5000/skills/demo:1.0.0").is_ok());
        assert!(
            parse_reference(
                "ghcr.io/acme/demo@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            )
            .is_ok()
        );
        assert!(parse_reference("demo:1.0.0").is_err(), "no Docker Hub guessing");
        assert!(parse_reference("ghcr.io/Bad Name").is_err());
    }

    #[test]
    fn docker_config_credentials() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        std::fs::write(&p, format!(r#"{{"auths":{{"https://reg.example:5000/v1/":{{"auth":"{auth}"}},"tok.example":{{"registrytoken":"abc"}}}}}}"#))
            .unwrap();
        let src = CredentialSource { docker_config: Some(p), ..Default::default() };
        assert_eq!(
            src.for_host("reg.example:5000"),
            Credentials::Basic { username: "alice".into(), password: "s3cret".into() }
        );
        assert_eq!(src.for_host("tok.example"), Credentials::Bearer("abc".into()));
        assert_eq!(src.for_host("other.example"), Credentials::Anonymous);
        assert_eq!(format!("{:?}", src.for_host("reg.example:5000")), "Basic(alice, ***)", "no secrets in Debug");
    }

    #[test]
    fn bearer_challenges_are_read() {
        let p = challenge_params(
            r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull".into()));
        assert_eq!(
            challenge_params("realm=x, service=y"),
            [("realm".into(), "x".into()), ("service".into(), "y".into())]
        );
    }
}
