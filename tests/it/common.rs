//! Test harness: every test body runs against SQLite (a temp file) and PostgreSQL (a fresh
//! database per test, dropped afterwards), through the real router.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use skilldex::api::{App, AppState};
use skilldex::domain::{TokenKind, TokenScope, VersionStatus, now_millis};
use skilldex::service::{Caller, Index, TokenRequest};
use skilldex::store::{NewToken, NewVersion, Store};
use skilldex::telemetry::Metrics;

/// Runs an `async fn(TestDb)` once per backend, as `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::TestDb::sqlite().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::common::TestDb::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    )+};
}
pub(crate) use on_both_backends;

pub struct TestDb {
    pub store: Arc<dyn Store>,
    pub url: String,
    _guard: Guard,
}

enum Guard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime; use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    use sqlx::Connection as _;
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut c)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

pub fn pg_admin_url() -> String {
    std::env::var("SKILLDEX_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Creates an empty PostgreSQL database and returns (its URL, the admin URL, its name);
/// `None` when PostgreSQL is unreachable outside CI.
pub async fn fresh_pg_database() -> Option<(String, String, String)> {
    use sqlx::Connection as _;
    let admin_url = pg_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL is required on CI but unreachable at {admin_url}: {e}")
        }
        Err(e) => {
            eprintln!("skipping PostgreSQL test: {e}");
            return None;
        }
    };
    let name = format!("skilldex_test_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await.expect("create test database");
    let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
    Some((format!("{base}/{name}"), admin_url.clone(), name))
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("index.db").display());
        let store = skilldex::store::connect(&url).await.expect("open sqlite");
        Self { store, url, _guard: Guard::Dir(dir) }
    }

    pub async fn postgres() -> Option<Self> {
        let (url, admin_url, name) = fresh_pg_database().await?;
        let store = skilldex::store::connect(&url).await.expect("open postgres");
        Some(Self { store, url, _guard: Guard::Postgres { admin_url, name } })
    }
}

/// A response as a test sees it.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The problem type's last segment (`validation-error`), or "" when not a problem.
    pub fn problem_type(&self) -> &str {
        self.body["type"].as_str().and_then(|t| t.rsplit('/').next()).unwrap_or("")
    }
}

/// The host the test app's public URL and embedded registry are named by.
pub const HOST: &str = "skilldex.test";

/// Rate limits kept in this process.
pub fn rate_limits(settings: &str) -> skilldex::api::limits::RateLimits {
    let limiter = skilldex::ratelimit::RateLimiter::new(settings.parse().unwrap(), None, "test").unwrap();
    skilldex::api::limits::RateLimits { limiter, trusted_proxies: Vec::new() }
}

/// The API over `index`, as `serve` builds it (with `limits`, or none).
fn app_router(index: &Index, data: &std::path::Path, limits: Option<skilldex::api::limits::RateLimits>) -> Router {
    skilldex::api::router(AppState::new(App {
        index: index.clone(),
        metrics: Metrics::default(),
        data_dir: data.into(),
        public_url: format!("http://{HOST}"),
        rate_limits: limits,
    }))
}

pub struct TestApp {
    pub db: TestDb,
    pub router: Router,
    pub index: Index,
    /// The site administrator's admin-scope token.
    pub admin: String,
    /// The embedded store, for setting up content directly (the gate is what is tested).
    pub embedded: Arc<skilldex::oci::store::EmbeddedStore>,
    _data: tempfile::TempDir,
}

impl TestApp {
    pub async fn new(db: TestDb) -> Self {
        Self::with_engine(db, skilldex::service::search::SearchEngine::in_memory().unwrap()).await
    }

    /// An app whose search engine has the embedding model the test command installs
    /// (`SKILLDEX_TEST_EMBEDDING_MODEL`); none where it is missing, except on CI.
    pub async fn with_model(db: TestDb) -> Option<Self> {
        let Ok(dir) = std::env::var("SKILLDEX_TEST_EMBEDDING_MODEL") else {
            assert!(std::env::var("CI").map_or(true, |v| v != "true"), "the embedding model is required on CI");
            eprintln!("skipping: SKILLDEX_TEST_EMBEDDING_MODEL is not set");
            return None;
        };
        let model = skilldex::service::semantic::Embedder::load(std::path::Path::new(&dir)).unwrap();
        let engine = skilldex::service::search::SearchEngine::in_memory().unwrap().with_model(model);
        Some(Self::with_engine(db, engine).await)
    }

    /// Waits until every skill's vector is computed.
    pub async fn vectors_ready(&self) {
        self.index.catch_up_search().await;
        let engine = self.index.search_engine().unwrap();
        let semantic = engine.semantic().unwrap();
        for _ in 0..600 {
            if semantic.pending() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("skill vectors not computed within 30 s");
    }

    pub async fn with_engine(db: TestDb, engine: skilldex::service::search::SearchEngine) -> Self {
        let data = tempfile::tempdir().unwrap();
        let embedded = Arc::new(
            skilldex::oci::store::EmbeddedStore::open(&data.path().join("oci"), db.store.clone()).await.unwrap(),
        );
        let registry = skilldex::service::EmbeddedRegistry::new(embedded.clone(), HOST.into(), Vec::new());
        let index = Index::new(db.store.clone()).with_embedded(registry).with_search(engine);
        let admin = index.accounts().bootstrap_admin().await.unwrap().expect("fresh index");
        let router = app_router(&index, data.path(), Some(rate_limits("*=1000000/minute")));
        Self { router, db, index, admin, embedded, _data: data }
    }

    /// The same app storing archives sent to it (upload, npm and multipart publishing) in
    /// its embedded store.
    #[allow(dead_code)]
    pub fn storing(self) -> Self {
        let uploads_dir = self._data.path().join("uploads");
        let storage = skilldex::service::Storage { target: skilldex::service::StorageTarget::Embedded, uploads_dir };
        self.with_index(|index| index.with_storage(storage))
    }

    /// The same app with its index changed by `change` (e.g. a webhook policy).
    #[allow(dead_code)]
    pub fn with_index(mut self, change: impl FnOnce(Index) -> Index) -> Self {
        self.index = change(self.index.clone());
        self.router = app_router(&self.index, self._data.path(), Some(rate_limits("*=1000000/minute")));
        self
    }

    /// The same app with no rate limits at all: every handler authenticates its caller.
    #[allow(dead_code)]
    pub fn without_rate_limits(mut self) -> Self {
        self.router = app_router(&self.index, self._data.path(), None);
        self
    }

    /// The same app with these rate limits (`class=rate,…`) in place of the generous ones
    /// every test runs under.
    #[allow(dead_code)]
    pub fn with_rate_limits(mut self, settings: &str) -> Self {
        self.router = app_router(&self.index, self._data.path(), Some(rate_limits(settings)));
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.db.store
    }

    /// Sends a request with an optional bearer token and an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let raw = body.map(|b| b.to_string());
        self.raw(method, path, token, raw.as_deref(), Some("application/json")).await
    }

    /// Sends a request with an exact body and content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let (Some(_), Some(ct)) = (body, content_type) {
            req = req.header("content-type", ct);
        }
        self.send(req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned()))).unwrap()).await
    }

    /// Sends a request built by the test (its own headers) and reads the answer.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, body, text, bytes: bytes.to_vec() }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    /// Creates a user through the API and returns a token of theirs with `scope`.
    pub async fn user(&self, name: &str, scope: TokenScope) -> String {
        let r = self
            .call(
                Method::POST,
                "/api/v1/users",
                Some(&self.admin),
                Some(serde_json::json!({ "username": name, "email": format!("{name}@example.com") })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        self.token_for(name, scope).await
    }

    pub async fn token_for(&self, name: &str, scope: TokenScope) -> String {
        let r = self
            .call(
                Method::POST,
                &format!("/api/v1/users/{name}/tokens"),
                Some(&self.admin),
                Some(serde_json::json!({ "name": "test", "scope": scope })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// A token that expired a minute ago (the API refuses to issue such a token).
    pub async fn expired_token_for(&self, name: &str) -> String {
        let user = self.store().user_by_name(name).await.unwrap().unwrap();
        let secret = skilldex::service::access::generate_token();
        self.store()
            .create_token(&NewToken {
                user_id: user.id,
                name: "expired".into(),
                scope: TokenScope::Admin,
                kind: TokenKind::Standard,
                hash: skilldex::service::access::hash_token(&secret),
                expires_at: Some(now_millis() - 60_000),
            })
            .await
            .unwrap();
        secret
    }

    pub async fn team(&self, slug: &str, owner_token: &str) {
        let r = self
            .call(
                Method::POST,
                "/api/v1/teams",
                Some(owner_token),
                Some(serde_json::json!({ "slug": slug, "displayName": slug })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }

    /// Makes `user` a member of `team` with `role`, as the site administrator.
    pub async fn member(&self, team: &str, user: &str, role: &str) {
        let path = format!("/api/v1/teams/{team}/members/{user}");
        let r = self.call(Method::PUT, &path, Some(&self.admin), Some(serde_json::json!({ "role": role }))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }

    pub async fn skill(&self, scope: &str, slug: &str, visibility: &str, token: &str) -> Value {
        let r = self
            .call(
                Method::POST,
                "/api/v1/skills",
                Some(token),
                Some(serde_json::json!({ "scope": scope, "slug": slug, "visibility": visibility,
                    "description": format!("{slug} skill") })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }

    /// Records a version row directly: storing bundles is the OCI layer's job, not the index's.
    pub async fn version(&self, scope: &str, slug: &str, version: &str, status: VersionStatus) {
        let skill = self.store().skill(scope, slug).await.unwrap().expect("skill exists");
        self.store()
            .create_version(
                &NewVersion { skill_id: skill.id, version: version.into(), status: Some(status), ..Default::default() },
                now_millis(),
            )
            .await
            .unwrap();
    }

    /// Records a published version pinned by a digest (as every listing of released versions
    /// needs), directly.
    pub async fn released(&self, scope: &str, slug: &str, version: &str) {
        let skill = self.store().skill(scope, slug).await.unwrap().expect("skill exists");
        let digest = format!("sha256:{}", "a".repeat(64));
        let v = NewVersion {
            skill_id: skill.id,
            version: version.into(),
            status: Some(VersionStatus::Published),
            reference: Some(format!("registry.example/{scope}/{slug}@{digest}")),
            digest: Some(digest),
            ..Default::default()
        };
        self.store().create_version(&v, now_millis()).await.unwrap();
    }

    pub async fn audit_len(&self) -> usize {
        let caller = self.index.authenticate(Some(&self.admin)).await.unwrap();
        self.index.accounts().audit_log(&caller, None, 100_000).await.unwrap().len()
    }

    #[allow(dead_code)]
    pub async fn caller(&self, token: &str) -> Caller {
        self.index.authenticate(Some(token)).await.unwrap()
    }

    #[allow(dead_code)]
    pub fn token_request(scope: TokenScope) -> TokenRequest {
        TokenRequest { name: "t".into(), scope: Some(scope), kind: TokenKind::Standard, expires_at: None }
    }
}

/// A TCP relay between the server and the tests' PostgreSQL, which a test can cut (every
/// connection closed, new ones refused, as when the database goes down) and mend.
pub struct PgProxy {
    pub addr: std::net::SocketAddr,
    upstream: String,
    relays: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
}

impl PgProxy {
    /// A fresh database reached through a relay.
    #[allow(dead_code)]
    pub async fn database() -> Option<(TestDb, Arc<PgProxy>)> {
        let (url, admin_url, name) = fresh_pg_database().await?;
        let guard = Guard::Postgres { admin_url, name };
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let (credentials, rest) = rest.rsplit_once('@').map_or(("", rest), |(c, r)| (c, r));
        let (upstream, path) = rest.split_once('/').expect("a database name");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(PgProxy {
            addr: listener.local_addr().unwrap(),
            upstream: upstream.to_owned(),
            relays: Default::default(),
        });
        proxy.serve(listener);
        let at = if credentials.is_empty() { String::new() } else { format!("{credentials}@") };
        let url = format!("{scheme}://{at}{}/{path}", proxy.addr);
        let store = skilldex::store::connect(&url).await.expect("open postgres through the relay");
        Some((TestDb { store, url, _guard: guard }, proxy))
    }

    fn serve(self: &Arc<Self>, listener: tokio::net::TcpListener) {
        let proxy = self.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = proxy.upstream.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                proxy.relays.lock().unwrap().push(relay.abort_handle());
            }
        });
        self.relays.lock().unwrap().push(accept.abort_handle());
    }

    /// The database goes away: open connections close, new ones are refused.
    #[allow(dead_code)]
    pub fn cut(&self) {
        for relay in self.relays.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    /// The database is back, at the same address.
    #[allow(dead_code)]
    pub async fn mend(self: &Arc<Self>) {
        self.serve(tokio::net::TcpListener::bind(self.addr).await.unwrap());
    }
}
