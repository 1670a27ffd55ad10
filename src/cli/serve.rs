//! `skilldex serve`: open the index, make sure an administrator exists, serve until signalled.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};

use anyhow::Context as _;

use crate::api::{App, AppState};
use crate::config::{ServeArgs, admin_token_path};
use crate::server::{Server, shutdown_signal};
use std::sync::Arc;

use crate::oci::outbound::OutboundPolicy;
use crate::oci::{CredentialSource, Credentials, Registries};
use std::net::SocketAddr;

use crate::oci::store::EmbeddedStore;
use crate::policy::PolicySet;
use crate::service::search::{SearchEngine, SearchError};
use crate::service::semantic::Embedder;
use crate::service::{EmbeddedRegistry, Index, Storage, StorageTarget};
use crate::telemetry::{self, Metrics};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let url = args.database_url()?;
    let store = crate::store::connect(url.expose()).await.context("cannot open the index database")?;
    tracing::info!(backend = store.backend(), "index database ready");
    let key = site_key(&args, &store).await?;
    let embedded = std::sync::Arc::new(
        crate::oci::store::EmbeddedStore::open(&args.data_dir.join("oci"), store.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the embedded OCI store: {e}"))?,
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let public_url = public_url(&args, addr)?;
    let registry = embedded_registry(&embedded, &public_url, addr)?;
    tracing::info!(host = registry.host(), "the embedded OCI store is served at /v2/");
    let mut index = with_storage(Index::new(store), &args)?.with_embedded(registry);
    index = index.with_views(args.toolhive_registries.clone()).with_limits(args.limits());
    index = index.with_search(search_engine(&args.data_dir, args.embedding_model.as_deref(), true)?);
    index = index.with_webhooks(crate::service::webhooks::WebhookConfig {
        policy: OutboundPolicy::new(args.allow_webhooks.clone()),
        retry_delay: std::time::Duration::from_secs(args.webhook_retry_delay.max(1)),
    });
    index = index.with_sign_in(args.sign_in()?).with_site_key(key).with_source_metrics(args.source_metrics);
    index = index.with_source_timeout(std::time::Duration::from_secs(args.source_timeout));
    if let Some(dir) = &args.policies {
        let set = PolicySet::load_dir(dir).context("cannot load the trust policies")?;
        tracing::info!(dir = %dir.display(), policies = set.policies.len(), "trust policies loaded");
        index = index.with_policies(set);
        reload_policies_on_sighup(index.clone(), dir.clone())?;
    }
    bootstrap_admin(&index, &args).await?;
    let moved = index.registry().make_references_portable().await.context("cannot rewrite stored references")?;
    if moved > 0 {
        tracing::info!(versions = moved, "references into the embedded store are now stored without a host");
    }
    index.start_search().await.context("cannot open the search index")?;
    index.themes().refresh().await.context("cannot read the theme")?;
    // Another replica's theme changes reach this one's pages within seconds.
    let themes = index.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            if let Err(e) = themes.themes().refresh().await {
                tracing::warn!(error = %e, "could not read the theme");
            }
        }
    });
    follow_changes(index.clone());
    // Webhook deliveries queued by this replica or another, until the process ends.
    let deliveries = index.clone();
    tokio::spawn(async move { deliveries.webhooks().run().await });
    // Sources due on this replica or another run here when this one takes them first.
    let sources = index.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            every.tick().await;
            if let Err(e) = sources.sources().run_due().await {
                tracing::warn!(error = %e, "could not run the sources that are due");
            }
        }
    });
    let engine = index.search_engine();
    let rate_limits = args.rate_limits()?;
    tracing::info!(
        shared = rate_limits.limiter.is_shared(),
        settings = %args.rate_limits,
        "rate limits ready"
    );

    let state = AppState::new(App {
        index,
        metrics: Metrics::default(),
        data_dir: args.data_dir.clone(),
        public_url: public_url.to_string().trim_end_matches('/').to_owned(),
        rate_limits: Some(rate_limits),
    });
    // Abandoned uploads expire while the server runs, not only when someone runs `gc`; ended
    // browser sessions are forgotten a day after they end.
    let sweeper = embedded.clone();
    let sessions = state.index.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(15 * 60));
        loop {
            every.tick().await;
            match sweeper.sweep_uploads(crate::oci::store::UPLOAD_TTL).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(files = n, "removed abandoned uploads"),
                Err(e) => tracing::warn!(error = %e, "could not sweep abandoned uploads"),
            }
            match sessions.purge_sessions().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "forgot ended browser sessions"),
                Err(e) => tracing::warn!(error = %e, "could not purge ended browser sessions"),
            }
        }
    });
    let server = Server::new(listener, state, args.connection_limits());
    let addr = server.local_addr()?;
    tracing::info!(%addr, "skilldex listening");
    let stop = shutdown_signal();
    println!("skilldex listening on http://{addr}");
    let served = server.serve(stop).await.context("server error");
    // The layout's listing follows pushes in the background; leave it complete.
    if let Err(e) = embedded.write_index().await {
        tracing::warn!(error = %e, "could not rewrite the layout's index.json; it is rewritten at the next start");
    }
    served?;
    if let Some(engine) = engine {
        tokio::task::spawn_blocking(move || engine.flush()).await?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The search engine kept in `<data_dir>/search`, with semantic search when `model` is given.
/// When another process holds that directory (replicas sharing a data directory) and
/// `shared_ok`, this one keeps its index in memory instead.
pub(super) fn search_engine(
    data_dir: &std::path::Path,
    model: Option<&std::path::Path>,
    shared_ok: bool,
) -> anyhow::Result<SearchEngine> {
    let dir = data_dir.join("search");
    let engine = match SearchEngine::open(&dir) {
        Ok(engine) => engine,
        Err(e @ SearchError::Busy(_)) if shared_ok => {
            tracing::warn!(error = %e, "keeping this process's search index in memory");
            SearchEngine::in_memory().context("cannot create the search index")?
        }
        Err(e) => return Err(e).context("cannot open the search index"),
    };
    let Some(model) = model else { return Ok(engine) };
    let started = std::time::Instant::now();
    let embedder =
        Embedder::load(model).with_context(|| format!("cannot load the embedding model in {}", model.display()))?;
    tracing::info!(dir = %model.display(), ms = started.elapsed().as_millis() as u64, "embedding model loaded");
    Ok(engine.with_model(embedder))
}

/// SIGHUP reloads the policy directory; a load that fails keeps the set in force.
fn reload_policies_on_sighup(index: Index, dir: std::path::PathBuf) -> anyhow::Result<()> {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            let loaded = {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || PolicySet::load_dir(&dir)).await
            };
            match loaded {
                Ok(Ok(set)) => {
                    tracing::info!(policies = set.policies.len(), "trust policies reloaded");
                    index.set_policies(set);
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "trust policies not reloaded; the previous ones stay in force")
                }
                Err(e) => tracing::error!(error = %e, "trust policy reload failed"),
            }
        }
    });
    Ok(())
}

/// On a fresh index, creates the `admin` user and writes its token, once, to a file only
/// the current user can read.
async fn bootstrap_admin(index: &Index, args: &ServeArgs) -> anyhow::Result<()> {
    let path = admin_token_path(&args.data_dir);
    if index.has_users().await? {
        return Ok(());
    }
    // Open the file before creating the account, so a token is never issued that
    // could not be written down.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    let Some(secret) = index.accounts().bootstrap_admin().await? else {
        drop(file);
        let _ = std::fs::remove_file(&path);
        return Ok(());
    };
    writeln!(file, "{secret}")?;
    file.sync_all()?;
    println!("first admin token (user `admin`) written to {}", path.display());
    Ok(())
}

/// The URL clients reach this server at: `--public-url`, else the bound address (the
/// loopback address when bound to all interfaces).
fn public_url(args: &ServeArgs, addr: SocketAddr) -> anyhow::Result<reqwest::Url> {
    let raw = match &args.public_url {
        Some(url) => url.clone(),
        None if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
        None => format!("http://{addr}"),
    };
    let url = reqwest::Url::parse(&raw).with_context(|| format!("invalid --public-url `{raw}`"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
        "--public-url must be an http:// or https:// URL with a host, not `{raw}`"
    );
    Ok(url)
}

/// The embedded store under the public URL's host, also answering to this server's own
/// loopback spellings.
fn embedded_registry(
    store: &Arc<EmbeddedStore>,
    public: &reqwest::Url,
    addr: SocketAddr,
) -> anyhow::Result<EmbeddedRegistry> {
    let host = public.host_str().context("the public URL has no host")?;
    let host = match public.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let port = addr.port();
    let mut aliases =
        vec![format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}"), addr.to_string()];
    // The public host with its scheme's port written out is the same host.
    if let Some(default) = public.port_or_known_default() {
        aliases.push(format!("{}:{default}", public.host_str().unwrap_or_default()));
    }
    Ok(EmbeddedRegistry::new(store.clone(), host, aliases))
}

/// Where uploads are stored: `--storage-registry` (with its credentials for that host only;
/// other hosts use the Docker config), else this server's embedded store.
fn with_storage(index: Index, args: &ServeArgs) -> anyhow::Result<Index> {
    let uploads_dir = args.data_dir.join("uploads");
    let mut creds = CredentialSource { docker_config: CredentialSource::default_docker_config(), ..Default::default() };
    let mut policy = OutboundPolicy::new(args.allow_registries.clone());
    let target = match &args.storage_registry {
        None => {
            tracing::info!("uploads are stored in the embedded OCI store");
            StorageTarget::Embedded
        }
        Some(prefix) => {
            let probe = crate::oci::parse_reference(&format!("{}/probe:latest", prefix.trim_end_matches('/')))
                .with_context(|| format!("invalid --storage-registry `{prefix}`"))?;
            let host = probe.resolve_registry().to_owned();
            if let Some(user) = &args.storage_username {
                let password = args.storage_password()?.map(|p| p.expose().to_owned()).unwrap_or_default();
                creds.per_host.insert(host.clone(), Credentials::Basic { username: user.clone(), password });
            }
            policy = policy.allow(&host);
            tracing::info!(registry = %prefix, "uploads are stored in this registry");
            StorageTarget::Registry { prefix: prefix.trim_end_matches('/').to_owned() }
        }
    };
    let registries = Registries::new(creds).with_policy(policy).context("cannot start the egress proxy")?;
    Ok(index.with_registries(Arc::new(registries)).with_storage(Storage { target, uploads_dir }))
}

/// Keeps the search index following the database's changes (those made through other
/// replicas too) even while nobody searches, and compacts it when it is quiet.
fn follow_changes(index: crate::service::Index) {
    let upkeep = index.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            upkeep.compact_search().await;
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        for round in 0u64.. {
            tick.tick().await;
            index.catch_up_search().await;
            // About every ten minutes.
            if round % 1200 == 0 {
                index.prune_search_changes().await;
            }
        }
    });
}

/// The site's secret key, checked against the one the database's secrets were sealed with.
async fn site_key(args: &ServeArgs, store: &Arc<dyn crate::store::Store>) -> anyhow::Result<crate::secrets::SiteKey> {
    let (path, create) = match &args.secret_key_file {
        Some(path) => (path.clone(), false),
        None => (args.data_dir.join("secret-key"), true),
    };
    let key = crate::secrets::SiteKey::load(&path, create)?;
    let recorded = store.key_check(&key.check_value()).await.context("cannot read the site key's check value")?;
    if recorded != key.check_value() {
        anyhow::bail!(
            "the secret key in {} is not the one this database's secrets were sealed with; give every replica the same --secret-key-file",
            path.display()
        );
    }
    Ok(key)
}
