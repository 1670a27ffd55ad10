//! The core every surface calls: accounts, teams, skills, versions and channels, with the one
//! set of access rules (`access.rs`). Facades translate requests into these calls and the
//! results into their own shapes; they never decide who may see or change what.

pub mod access;
mod accounts;
pub mod collections;
mod content;
mod drafts;
pub mod events;
mod npm;
pub mod projects;
mod publish;
pub mod registry;
mod resolve;
pub mod reviews;
pub mod search;
pub mod semantic;
mod signatures;
pub mod signin;
mod skills;
pub mod sources;
pub mod theme;
pub mod transfer;
mod upload;
mod usage;
pub mod views;
pub mod webhooks;
pub mod wishes;

use std::sync::Arc;

use crate::domain::{InvalidValue, now_millis};
use crate::oci::{CredentialSource, Registries};
use crate::policy::PolicySet;
use crate::store::{NewAudit, Store, StoreError};

pub use access::{Caller, Principal};
pub use accounts::{CreatedToken, TeamView, TokenRequest};
pub use content::{Diff, FileChange, FileStatus};
pub use drafts::{DraftInput, MERGE_SIMILARITY};
pub use events::Event;
pub use npm::{NpmPackage, deprecation_notice, integrity, package_name};
pub use publish::{ArtifactSource, PublishPlan, Published};
pub use registry::{EmbeddedRegistry, RepoReader, RepoWriter};
pub use resolve::{DEPENDENCY_DEPTH, Dependency, Resolved, spec_admits};
pub use signatures::{Reevaluated, Reevaluation};
pub use skills::{
    Archived, Lifecycle, MAX_OFFSET, Page, SearchMode, SkillDraft, SkillListRequest, VersionFilter, check_kind,
    page_limit, parse_search_mode, parse_sort,
};
pub use upload::{PrepareUpload, Storage, StorageTarget, SubmittedSignature, UploadedArtifact};
pub use usage::{DayUse, Decaying, SkillUse};
pub use views::RegistryView;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The thing is not in a state that allows the change (a team's last owner, restoring a
    /// skill that is not deleted): a conflict with what is there, not a bad request.
    #[error("{0}")]
    State(String),
    /// The bundle or artifact breaks the bundle rules or cannot be read.
    #[error("{0}")]
    ManifestInvalid(String),
    #[error("{0}")]
    TooLarge(String),
    /// A trust policy in enforce mode refuses the version's signatures.
    #[error("{0}")]
    Untrusted(String),
    /// Someone judging their own work (reviewing their own skill): SkillsMgr's 422
    /// `cannot_review_own`.
    #[error("{0}")]
    OwnWork(String),
    /// A registry skilldex depends on failed or could not be reached.
    #[error("{0}")]
    Upstream(String),
    /// The caller spent its budget for this kind of request (429).
    #[error("{0}")]
    RateLimited(String),
    /// The database cannot be reached right now (restarting, down, out of connections): a
    /// 503 worth retrying, never a 500.
    #[error("{0}")]
    Unavailable(String),
    /// The disk the server keeps its data on is full (507); nothing was stored.
    #[error("{0}")]
    StorageFull(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(StoreError),
    /// A failure of the embedded OCI store, in the distribution spec's terms.
    #[error(transparent)]
    Registry(crate::oci::store::DistError),
}

/// What a refusal for a full disk says.
const FULL: &str = "the server's storage is full; nothing was stored";

impl Error {
    /// A file the server writes could not be written: a full disk is the caller's 507, any
    /// other failure the server's own (logged with `context`).
    pub fn io(context: &str, e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull {
            tracing::error!(%context, "the server's disk is full");
            return Error::StorageFull(FULL.into());
        }
        Error::Internal(format!("{context}: {e}"))
    }

    /// Whether this is the server's own failure, whose text must never reach a response.
    pub fn is_internal(&self) -> bool {
        matches!(self, Error::Internal(_) | Error::Store(_) | Error::Registry(crate::oci::store::DistError::Storage(_)))
    }

    /// What a response may say: the message, or for an internal failure a generic text (the
    /// cause is logged here).
    pub fn public_message(&self) -> String {
        if self.is_internal() {
            tracing::error!(error = %self, "request failed");
            return "internal error".into();
        }
        self.to_string()
    }
}

impl From<crate::oci::store::DistError> for Error {
    fn from(e: crate::oci::store::DistError) -> Self {
        match e {
            crate::oci::store::DistError::Unavailable(m) => Error::Unavailable(m),
            crate::oci::store::DistError::Full => Error::StorageFull(FULL.into()),
            e => Error::Registry(e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<InvalidValue> for Error {
    fn from(e: InvalidValue) -> Self {
        Error::Invalid(e.0)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Error::Conflict(format!("{what} already exists")),
            StoreError::Invariant(msg) => Error::State(msg),
            StoreError::Missing(what) => Error::NotFound(format!("{what} not found")),
            e => match e.outage() {
                Some(crate::store::Outage::Unavailable) => {
                    tracing::warn!(error = %e, "the database is unavailable");
                    Error::Unavailable("the database is unavailable right now; try again shortly".into())
                }
                Some(crate::store::Outage::Full) => {
                    tracing::error!(error = %e, "the database's disk is full");
                    Error::StorageFull(FULL.into())
                }
                None => Error::Store(e),
            },
        }
    }
}

/// Every size the server enforces on content, set once from configuration (`serve
/// --max-archive-size`, `--max-blob-size`) and read by every surface from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// What one bundle may hold: files, packed and unpacked size, frontmatter.
    pub bundle: crate::bundle::Limits,
    /// The largest blob `/v2/` accepts: a bundle's layer, or anything pushed next to one.
    pub registry_blob: u64,
    /// The largest JSON request body any endpoint reads.
    pub json_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { bundle: crate::bundle::Limits::default(), registry_blob: 64 << 20, json_body: 1 << 20 }
    }
}

impl Limits {
    /// These limits with packed archives of at most `mib` MiB (`None`: unchanged); a bundle
    /// may then unpack to twice that, and never less than the default.
    pub fn with_archive_mib(mut self, mib: Option<u64>) -> Self {
        if let Some(mib) = mib {
            let bundle = &mut self.bundle;
            bundle.max_compressed = mib << 20;
            bundle.max_uncompressed = crate::bundle::Limits::default().max_uncompressed.max(2 * bundle.max_compressed);
        }
        self.registry_blob = self.registry_blob.max(self.bundle.max_compressed);
        self
    }

    /// The largest archive an upload may be prepared with.
    pub fn archive(&self) -> u64 {
        self.bundle.max_compressed
    }

    /// The largest `npm publish` body: the tarball, base64 inside JSON, and room for the rest
    /// of the document.
    pub fn npm_publish_body(&self) -> usize {
        self.bundle.max_compressed as usize * 4 / 3 + (1 << 20)
    }
}

/// Limits on free-text fields; one place, used by every surface.
pub mod limits {
    pub const DISPLAY_NAME: usize = 100;
    pub const DESCRIPTION: usize = 1024;
    pub const README: usize = 512 * 1024;
    pub const TAGS: usize = 20;
    pub const EMAIL: usize = 254;
    pub const TOKEN_NAME: usize = 64;
    pub const DEPRECATION_MESSAGE: usize = 500;
    pub const QUERY: usize = 256;
    pub const QUERY_TERMS: usize = 16;
    pub const PAGE_DEFAULT: i64 = 20;
    pub const PAGE_MAX: i64 = 100;
}

impl From<crate::bundle::BundleError> for Error {
    fn from(e: crate::bundle::BundleError) -> Self {
        match e {
            crate::bundle::BundleError::TooLarge(m) => Error::TooLarge(m),
            other => Error::ManifestInvalid(other.to_string()),
        }
    }
}

impl From<crate::oci::OciError> for Error {
    fn from(e: crate::oci::OciError) -> Self {
        use crate::oci::OciError as O;
        match e {
            O::BadReference(..) => Error::Invalid(e.to_string()),
            O::TooLarge(m) => Error::TooLarge(m),
            O::NotFound(_) | O::Refused(_) | O::Unauthorized(_) | O::DigestMismatch { .. } => {
                Error::ManifestInvalid(e.to_string())
            }
            O::Unreachable(..) | O::Registry(..) => Error::Upstream(e.to_string()),
        }
    }
}

impl From<crate::oci::FetchError> for Error {
    fn from(e: crate::oci::FetchError) -> Self {
        match e {
            crate::oci::FetchError::Oci(e) => e.into(),
            crate::oci::FetchError::Bundle(e) => e.into(),
            layout @ crate::oci::FetchError::Layout { .. } => Error::ManifestInvalid(layout.to_string()),
        }
    }
}

/// The services, each a small view over the shared core with the methods of its domain.
/// Surfaces reach them as `index.catalog()`, `index.publishing()`, …; a service needs another
/// domain's rule, it asks that service the same way (`self.core.trust().vouched(…)`).
macro_rules! services {
    ($($(#[$doc:meta])* $name:ident => $accessor:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name<'a> {
            core: &'a Index,
        }

        impl Index {
            $(#[$doc])*
            pub fn $accessor(&self) -> $name<'_> {
                $name { core: self }
            }
        }
    )+};
}

services! {
    /// Skills, their versions and channels: listing and search, reading, resolving,
    /// lifecycle, stars, forks, and the npm view of them (`skills.rs`, `resolve.rs`,
    /// `content.rs`, `npm.rs`).
    Catalog => catalog,
    /// The one publish pipeline and the upload steps before it (`publish.rs`, `upload.rs`).
    Publishing => publishing,
    /// Users, tokens, teams, the audit log (`accounts.rs`).
    Accounts => accounts,
    /// Signatures under the trust policies (`signatures.rs`).
    Trust => trust,
    /// The gate in front of the embedded OCI store (`registry.rs`).
    Registry => registry,
    /// Usage events and the reports on them (`usage.rs`).
    Usage => usage,
    /// Namespaces' webhooks and their delivery queue (`webhooks.rs`).
    Webhooks => webhooks,
    /// The drafts inbox (`drafts.rs`).
    Drafts => drafts,
    /// Projects, their plans and bootstrap (`projects.rs`).
    Projects => projects,
    /// Wishes for skills nobody has published yet (`wishes.rs`).
    Wishes => wishes,
    /// Named lists of skills (`collections.rs`).
    Collections => collections,
    /// Reviews of skills and collections (`reviews.rs`).
    Reviews => reviews,
    /// Signing in through OpenID providers, the site's and teams' (`signin.rs`).
    SignIn => sign_in,
    /// The site's look: colours, font, logo and favicon (`theme.rs`).
    Themes => themes,
    /// Where versions come in without a publish: OCI repositories, registry notifications
    /// (`sources.rs`).
    Sources => sources,
    /// Moving skills between sites that share no network: export and import (`transfer.rs`).
    Transfer => transfer,
}

/// The shared core every service works on: the store, the registry clients, limits, upload
/// storage, trust policies, registry views, the embedded store and the event channel; plus
/// the rules every service shares (who is calling, visibility, audit, references). Cheap to
/// clone.
#[derive(Clone)]
pub struct Index {
    store: Arc<dyn Store>,
    registries: Arc<Registries>,
    limits: Limits,
    storage: Option<Storage>,
    /// The trust policies in force; replaced whole on reload.
    policies: Arc<std::sync::RwLock<Arc<PolicySet>>>,
    /// The registry views ToolHive clients can name.
    views: Arc<Vec<RegistryView>>,
    /// This server's own OCI store, behind the gate in `registry.rs`.
    embedded: Option<EmbeddedRegistry>,
    /// Committed changes, for whoever listens.
    events: events::Events,
    /// The search engine free-text listings run on; without one they run in SQL.
    search: Option<Arc<search::SearchEngine>>,
    /// Where the engine stands in the database's change sequence.
    follow: Arc<tokio::sync::Mutex<search::Follow>>,
    /// Taken before the last complete catch-up, when no write of this process was under way.
    quiet_since: Arc<std::sync::Mutex<Option<crate::store::QuietMark>>>,
    /// Tokens read recently, used again while nothing was written (`access::KnownBearers`).
    bearers: Arc<access::KnownBearers>,
    /// The database's identity, recorded with the engine's commits.
    site: Arc<tokio::sync::OnceCell<String>>,
    /// The site's URL-signing key, read (or set) once.
    url_key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    /// Searches the engine runs at once; more wait their turn, so a flood of expensive
    /// queries costs time, not unbounded memory.
    search_slots: Arc<tokio::sync::Semaphore>,
    /// Where webhook deliveries may go and how they are retried.
    webhook_config: Arc<webhooks::WebhookConfig>,
    /// Wakes the delivery worker when an event is queued.
    webhook_wake: Arc<tokio::sync::Notify>,
    /// The OpenID providers people sign in with.
    sign_in: Arc<signin::SignInConfig>,
    /// The theme as pages show it, refreshed from the database.
    theme: Arc<std::sync::RwLock<Arc<theme::ThemeSnapshot>>>,
    /// What seals secrets kept in the database. `serve` loads the site's; otherwise (tests,
    /// tools) a random one, good for this process only.
    site_key: Arc<crate::secrets::SiteKey>,
    /// Registry notifications being taken at once.
    notify_slots: Arc<tokio::sync::Semaphore>,
    /// Exports being written at once.
    export_slots: Arc<tokio::sync::Semaphore>,
    /// The sources' metrics as last read, and when.
    source_metrics: Arc<std::sync::Mutex<Option<(std::time::Instant, String)>>>,
    /// Whether `/metrics` shows each source (`--source-metrics`).
    show_source_metrics: bool,
    /// How long a source waits for one page of a listing (`--source-timeout`).
    source_timeout: std::time::Duration,
}

impl Index {
    /// An index that reads registries anonymously or with the Docker config's credentials.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let creds = CredentialSource { docker_config: CredentialSource::default_docker_config(), ..Default::default() };
        Self {
            store,
            registries: Arc::new(Registries::new(creds)),
            limits: Limits::default(),
            storage: None,
            policies: Default::default(),
            views: Arc::new(views::with_default(Vec::new())),
            embedded: None,
            events: Default::default(),
            search: None,
            follow: Default::default(),
            quiet_since: Default::default(),
            bearers: Default::default(),
            site: Default::default(),
            url_key: Default::default(),
            search_slots: Arc::new(tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            )),
            webhook_config: Default::default(),
            webhook_wake: Default::default(),
            sign_in: Default::default(),
            theme: Default::default(),
            site_key: Arc::new(crate::secrets::SiteKey::random()),
            notify_slots: Arc::new(tokio::sync::Semaphore::new(4)),
            export_slots: Arc::new(tokio::sync::Semaphore::new(2)),
            source_metrics: Default::default(),
            show_source_metrics: false,
            source_timeout: sources::DEFAULT_TIMEOUT,
        }
    }

    /// Every committed change from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn emit(&self, event: Event) {
        self.events.emit(event);
    }

    /// Run free-text search on `engine` (rebuild it with `rebuild_search` before serving).
    pub fn with_search(mut self, engine: search::SearchEngine) -> Self {
        self.search = Some(Arc::new(engine));
        self
    }

    /// Whether semantic and hybrid search are available (a model was loaded).
    pub fn semantic_enabled(&self) -> bool {
        self.search.as_ref().is_some_and(|e| e.semantic().is_some())
    }

    /// The search engine, when this index has one.
    pub fn search_engine(&self) -> Option<Arc<search::SearchEngine>> {
        self.search.clone()
    }

    /// Makes the search engine current before serving: an index kept on disk that follows
    /// this database resumes from where it stopped; a new one, one of another database or
    /// format, or one that missed changes no longer kept, is rebuilt. Returns whether it was.
    pub async fn start_search(&self) -> Result<bool> {
        let Some(engine) = self.search.clone() else { return Ok(false) };
        let site = self.site_id().await?;
        let mut resumable = engine.stamp().filter(|s| s.site == site);
        if let Some(stamp) = &resumable
            && self.missed_changes(stamp.watermark).await?
        {
            tracing::info!("the search index missed changes no longer kept; rebuilding it");
            resumable = None;
        }
        let Some(stamp) = resumable else {
            self.rebuild_search().await?;
            return Ok(true);
        };
        *self.follow.lock().await = search::Follow::resumed(stamp.watermark);
        self.forget_quiet();
        self.try_catch_up().await?;
        tracing::info!(watermark = stamp.watermark, "search index opened");
        // Vectors saved before a hard stop may lag behind the index: before serving, compare
        // every skill's visibility, filters and text with what its vector holds.
        self.refresh_vectors().await?;
        Ok(false)
    }

    /// Whether changes after `watermark` are gone from the sequence (forgotten, or this is
    /// another database's sequence), so following it would miss them.
    async fn missed_changes(&self, watermark: i64) -> Result<bool> {
        match self.store.skill_changes_after(watermark, 1).await?.first() {
            Some((seq, _, _)) => Ok(*seq > watermark + 1),
            None => Ok(self.store.last_skill_change().await? < watermark),
        }
    }

    /// The key this site signs short-lived URLs with, shared by every replica of one database.
    async fn url_key(&self) -> Result<Vec<u8>> {
        let store = self.store.clone();
        let key = self
            .url_key
            .get_or_try_init(|| async move {
                let candidate = hex::encode(rand::random::<[u8; 32]>());
                store.url_key(&candidate).await.map(String::into_bytes)
            })
            .await?;
        Ok(key.clone())
    }

    async fn site_id(&self) -> Result<String> {
        let store = self.store.clone();
        Ok(self.site.get_or_try_init(|| async move { store.site_id().await }).await?.clone())
    }

    /// Queues a vector for every skill whose text changed since its vector was computed, and
    /// forgets vectors of skills that are gone. Each batch is read and applied under the
    /// follow lock, so no catch-up applies a newer state in between.
    async fn refresh_vectors(&self) -> Result<()> {
        let Some(semantic) = self.search.as_ref().and_then(|e| e.semantic().cloned()) else { return Ok(()) };
        let mut seen = std::collections::HashSet::new();
        let mut after = None::<String>;
        loop {
            let follow = self.follow.lock().await;
            let batch = self.store.skills_after(after.as_deref(), search::CHANGE_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.id.clone());
            seen.extend(batch.iter().map(|s| s.id.clone()));
            let semantic = semantic.clone();
            run_blocking(move || {
                semantic.update(&batch, &[]);
                Ok(())
            })
            .await?;
            drop(follow);
        }
        self.forget_vanished_vectors(&semantic, &seen).await
    }

    /// Forgets the vectors of skills a scan of the catalog did not see and the database no
    /// longer has (a skill created after the scan passed its place keeps its vector).
    async fn forget_vanished_vectors(
        &self,
        semantic: &Arc<semantic::Semantic>,
        seen: &std::collections::HashSet<String>,
    ) -> Result<()> {
        let unseen: Vec<String> = semantic.ids().into_iter().filter(|id| !seen.contains(id)).collect();
        for chunk in unseen.chunks(search::CHANGE_BATCH as usize) {
            let alive: std::collections::HashSet<String> = self
                .store
                .skills_by_ids(chunk)
                .await?
                .into_iter()
                .filter(|s| s.deleted_at.is_none())
                .map(|s| s.id)
                .collect();
            let gone: Vec<String> = chunk.iter().filter(|id| !alive.contains(*id)).cloned().collect();
            semantic.forget(&gone);
        }
        Ok(())
    }

    /// Fills the search engine from the database; returns how many skills it holds. Changes
    /// made meanwhile are applied again by the next catch-up, which starts from before the scan.
    /// The index records where it stands only once the whole catalog is in.
    pub async fn rebuild_search(&self) -> Result<usize> {
        let Some(engine) = self.search.clone() else { return Ok(0) };
        let started = std::time::Instant::now();
        let mut follow = self.follow.lock().await;
        *follow = search::Follow::rebuilt_at(self.store.last_skill_change().await?);
        self.forget_quiet();
        let stamp =
            search::Stamp { format: search::FORMAT, site: self.site_id().await?, watermark: follow.watermark() };
        let clear = engine.clone();
        run_blocking(move || clear.clear(None)).await?;
        let (mut after, mut seen) = (None::<String>, std::collections::HashSet::new());
        loop {
            let batch = self.store.skills_after(after.as_deref(), search::CHANGE_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.id.clone());
            seen.extend(batch.iter().map(|s| s.id.clone()));
            let engine = engine.clone();
            run_blocking(move || engine.add(&batch)).await?;
        }
        let sealer = engine.clone();
        run_blocking(move || sealer.seal(&stamp)).await?;
        if let Some(semantic) = engine.semantic() {
            self.forget_vanished_vectors(semantic, &seen).await?;
        }
        tracing::info!(skills = seen.len(), ms = started.elapsed().as_millis() as u64, "search index built");
        Ok(seen.len())
    }

    /// Brings the search engine up to date with every committed change to a skill, made
    /// through this replica or another: what each search does first (so writes pay nothing
    /// and a search sees every change committed before it; where the store counts its writes,
    /// those of other processes at most `QUIET_FOR` late), and what a background task does
    /// twice a second. A failure is logged; the changes stay in the sequence and the next
    /// catch-up applies them.
    pub async fn catch_up_search(&self) {
        if let Err(e) = self.try_catch_up().await {
            tracing::error!(error = %e, "could not bring the search index up to date");
        }
    }

    /// Compacts the search index when it is due (`SearchEngine::compact`).
    pub async fn compact_search(&self) {
        let Some(engine) = self.search.clone() else { return };
        match run_blocking(move || engine.compact()).await {
            Ok(true) => tracing::info!("search index compacted into one segment"),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "could not compact the search index"),
        }
    }

    /// Forgets changes to skills older than an hour; run now and then by each replica.
    pub async fn prune_search_changes(&self) {
        match self.store.prune_skill_changes(now_millis() - 60 * 60 * 1000).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(changes = n, "forgot old changes to skills"),
            Err(e) => tracing::warn!(error = %e, "could not forget old changes to skills"),
        }
    }

    /// Whether the last complete catch-up began less than `QUIET_FOR` ago and this process
    /// has written nothing since: then the index holds every change of this process, and any
    /// other's committed more than `QUIET_FOR` ago.
    fn still_quiet(&self) -> bool {
        let Some(marks) = self.store.write_marks() else { return false };
        let quiet = *self.quiet_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        quiet.is_some_and(|mark| mark.holds(marks, search::QUIET_FOR))
    }

    fn forget_quiet(&self) {
        *self.quiet_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    async fn try_catch_up(&self) -> Result<()> {
        let Some(engine) = self.search.clone() else { return Ok(()) };
        if self.still_quiet() {
            return Ok(());
        }
        // Taken before the change sequence is read: every write counted here has committed by then.
        let mark = self.store.write_marks().and_then(crate::store::WriteMarks::mark);
        let arrived = std::time::Instant::now();
        let site = self.site_id().await?;
        let mut follow = self.follow.lock().await;
        // Searches that queued behind a catch-up begun after they arrived are served by it:
        // under load, one read of the change sequence serves every search waiting.
        if follow.covers(arrived) {
            return Ok(());
        }
        let from = std::time::Instant::now();
        loop {
            let before = follow.watermark();
            let changes = self.store.skill_changes_after(before, search::CHANGE_BATCH).await?;
            let ids = follow.unseen(&changes);
            let mut next = follow.clone();
            next.applied(&changes);
            let stamp = search::Stamp { format: search::FORMAT, site: site.clone(), watermark: next.watermark() };
            if !ids.is_empty() {
                let skills = self.store.skills_by_ids(&ids).await?;
                let removed: Vec<String> =
                    ids.iter().filter(|id| !skills.iter().any(|s| &s.id == *id)).cloned().collect();
                let engine = engine.clone();
                run_blocking(move || engine.apply(&skills, &removed, Some(&stamp))).await?;
            } else if next.watermark() != before {
                let engine = engine.clone();
                run_blocking(move || engine.seal(&stamp)).await?;
            }
            *follow = next;
            // A full batch waiting behind a gap is read again next time, not in a loop now.
            if (changes.len() as i64) < search::CHANGE_BATCH {
                // Every change committed before `from` has been read.
                follow.caught_up(from);
                *self.quiet_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = mark;
                return Ok(());
            }
            if follow.watermark() == before {
                return Ok(());
            }
        }
    }

    /// Deliver webhooks under this policy and retry delay.
    pub fn with_webhooks(mut self, config: webhooks::WebhookConfig) -> Self {
        self.webhook_config = Arc::new(config);
        self
    }

    /// Show each source's state on `/metrics`.
    pub fn with_source_metrics(mut self, show: bool) -> Self {
        self.show_source_metrics = show;
        self
    }

    /// How long a source waits for one page of a listing (twice that for one tag), 1 s to
    /// 10 minutes.
    pub fn with_source_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.source_timeout = timeout.clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(600));
        self
    }

    /// Seal secrets kept in the database with this key.
    pub fn with_site_key(mut self, key: crate::secrets::SiteKey) -> Self {
        self.site_key = Arc::new(key);
        self
    }

    /// Sign in through these OpenID providers.
    pub fn with_sign_in(mut self, config: signin::SignInConfig) -> Self {
        self.sign_in = Arc::new(config);
        self
    }

    /// Offer these registry views (plus `default`, unless one of them is called so).
    pub fn with_views(mut self, views: Vec<RegistryView>) -> Self {
        self.views = Arc::new(views::with_default(views));
        self
    }

    /// The registry view called `name`, if this server offers it.
    pub fn view(&self, name: &str) -> Option<&RegistryView> {
        self.views.iter().find(|v| v.name == name)
    }

    /// Accept uploads, pushing finished artifacts under `storage.registry_prefix`.
    pub fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    pub fn registries(&self) -> &Arc<Registries> {
        &self.registries
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Enforce `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn with_registries(mut self, registries: Arc<Registries>) -> Self {
        self.registries = registries;
        self
    }

    /// Whether a team owns `namespace` (teams and their namespaces are public).
    pub async fn namespace_exists(&self, namespace: &crate::domain::Namespace) -> Result<bool> {
        Ok(self.store.team_by_namespace(namespace.as_str()).await?.is_some())
    }

    /// Whether the index database answers.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// Whether any account exists yet (a fresh index has none until the first admin).
    pub async fn has_users(&self) -> Result<bool> {
        Ok(self.store.count_users().await? > 0)
    }

    /// Records who did what. A failure here is logged, not returned: the change it
    /// describes has already been committed.
    async fn audit(&self, caller: &Caller, action: &str, target: &str, detail: serde_json::Value) {
        let entry = NewAudit {
            actor: caller.username().map(str::to_owned),
            action: action.to_owned(),
            target: target.to_owned(),
            detail,
        };
        if let Err(e) = self.store.append_audit(&entry, now_millis()).await {
            tracing::error!(error = %e, action, target, "could not write audit entry");
        }
    }
}

/// The refusal of a second publish of one version.
pub(crate) fn version_exists(skill: &crate::domain::Skill, version: &str) -> Error {
    Error::Conflict(format!(
        "version {version} of `{}/{}` already exists; versions are immutable",
        skill.namespace, skill.name
    ))
}

impl Index {
    /// Runs one engine search when a slot is free.
    async fn in_search_slot<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> std::result::Result<T, search::SearchError> + Send + 'static,
    ) -> Result<T> {
        let _slot = self.search_slots.acquire().await.map_err(|_| Error::Internal("search is shutting down".into()))?;
        run_blocking(work).await
    }
}

/// Runs index work off the async threads.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::result::Result<T, search::SearchError> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|e| Error::Internal(e.to_string())),
        Err(e) => Err(Error::Internal(format!("search index task failed: {e}"))),
    }
}

/// Checks a free-text field's length (in characters) and that it has no control characters
/// other than newlines and tabs.
/// `check_text`, and at least `min` characters.
pub(crate) fn check_length(field: &str, value: &str, min: usize, max: usize) -> Result<()> {
    check_text(field, value, max, false)?;
    if value.chars().count() < min {
        return Err(Error::Invalid(format!("{field} must be at least {min} characters")));
    }
    Ok(())
}

pub(crate) fn check_text(field: &str, value: &str, max: usize, allow_empty: bool) -> Result<()> {
    if !allow_empty && value.trim().is_empty() {
        return Err(Error::Invalid(format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(Error::Invalid(format!("{field} is longer than {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(Error::Invalid(format!("{field} contains control characters")));
    }
    Ok(())
}
