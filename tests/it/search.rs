//! The search engine behind every surface: what users expect of relevance (name over
//! description, typos, prefixes, all words), visibility in results and counts, cursors, and
//! freshness after every change.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use skilldex::domain::{TokenScope, VersionStatus, now_millis};

use crate::common::{TestApp, TestDb, on_both_backends};

on_both_backends!(
    relevance_users_expect,
    search_keeps_private_skills_private,
    published_only_searches_find_the_published_skills_few_or_many,
    search_pages_and_follows_changes,
    common_words_together_page_count_and_stay_private,
    semantic_search_finds_by_meaning,
    the_index_on_disk_resumes_or_rebuilds,
);

/// Creates a skill through the API.
async fn skill(app: &TestApp, token: &str, id: &str, description: &str, extra: Value) {
    let (scope, slug) = id.split_once('/').unwrap();
    let mut body = json!({ "scope": scope, "slug": slug, "description": description, "visibility": "public" });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let r = app.call(Method::POST, "/api/v1/skills", Some(token), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

/// Changes a skill's fields through the API.
async fn edit(app: &TestApp, token: &str, id: &str, fields: Value) {
    let r = app.call(Method::PATCH, &format!("/api/v1/skills/{id}"), Some(token), Some(fields)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// The ids a REST search answers, best first.
async fn found(app: &TestApp, token: Option<&str>, q: &str) -> Vec<String> {
    found_by(app, token, q, "").await
}

/// The ids a REST search with extra parameters (`&mode=semantic`, …) answers, best first.
async fn found_by(app: &TestApp, token: Option<&str>, q: &str, extra: &str) -> Vec<String> {
    let r = app.get(&format!("/api/v1/skills?q={}&limit=20{extra}", q.replace(' ', "%20")), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}/{}", s["scope"].as_str().unwrap(), s["slug"].as_str().unwrap()))
        .collect()
}

async fn relevance_users_expect(db: TestDb) {
    let app = TestApp::new(db).await;
    app.team("devops", &app.admin).await;
    let a = &app.admin;
    skill(
        &app,
        a,
        "devops/terraform-modules",
        "Writes reusable infrastructure modules with variables and outputs",
        json!({}),
    )
    .await;
    skill(
        &app,
        a,
        "devops/pulumi-stacks",
        "Infrastructure as code in TypeScript, an alternative to terraform",
        json!({}),
    )
    .await;
    skill(
        &app,
        a,
        "devops/k8s-deployment",
        "Writes Kubernetes deployments, services and ingress manifests",
        json!({"tags": ["kubernetes"]}),
    )
    .await;
    skill(&app, a, "devops/rate-limiter", "Designs token bucket rate limits per user, backed by Redis", json!({}))
        .await;
    skill(&app, a, "devops/redis-cache", "Adds read-through caching with Redis", json!({})).await;
    skill(&app, a, "devops/lint-fix", "Fixes findings", json!({})).await;
    skill(&app, a, "devops/style-guide", "Edits prose", json!({"readme": "Also runs a lint over the docs."})).await;

    // A match in the name outranks one in the description, which outranks the README.
    assert_eq!(found(&app, None, "terraform").await, ["devops/terraform-modules", "devops/pulumi-stacks"]);
    assert_eq!(found(&app, None, "lint").await, ["devops/lint-fix", "devops/style-guide"]);
    // As-you-type prefixes, and one typo in a longer word.
    assert_eq!(found(&app, None, "terra").await[0], "devops/terraform-modules");
    assert_eq!(found(&app, None, "kuberntes").await, ["devops/k8s-deployment"]);
    assert_eq!(found(&app, None, "terrafrom").await[0], "devops/terraform-modules");
    // Stemming: "deploying" finds "deployments".
    assert_eq!(found(&app, None, "deploying").await, ["devops/k8s-deployment"]);
    // Every word must match: "redis rate" is the limiter, not the cache.
    assert_eq!(found(&app, None, "redis rate").await, ["devops/rate-limiter"]);
    // Short words get no typo tolerance ("reds" is not "redis"), and one or two letters
    // match whole words only.
    assert!(found(&app, None, "reds").await.is_empty());
    assert!(found(&app, None, "te").await.is_empty());
    assert_eq!(found(&app, None, "ter").await[0], "devops/terraform-modules");
}

async fn search_keeps_private_skills_private(db: TestDb) {
    let app = TestApp::new(db).await;
    let member = app.user("mia", TokenScope::Read).await;
    let outsider = app.user("otto", TokenScope::Read).await;
    app.team("acme", &app.admin).await;
    app.member("acme", "mia", "reader").await;
    skill(&app, &app.admin, "acme/zeppelin-secret", "The zeppelin launch codes", json!({"visibility": "private"}))
        .await;
    skill(&app, &app.admin, "acme/zeppelin-public", "A public zeppelin guide", json!({})).await;
    // Released straight into the database: search follows the database's change sequence.
    app.version("acme", "zeppelin-secret", "1.0.0", VersionStatus::Published).await;
    app.version("acme", "zeppelin-public", "1.0.0", VersionStatus::Published).await;

    for (who, token, want) in [
        ("anonymous", None, vec!["acme/zeppelin-public"]),
        ("an outsider", Some(outsider.as_str()), vec!["acme/zeppelin-public"]),
        ("a member", Some(member.as_str()), vec!["acme/zeppelin-public", "acme/zeppelin-secret"]),
        ("the site admin", Some(app.admin.as_str()), vec!["acme/zeppelin-public", "acme/zeppelin-secret"]),
    ] {
        let mut got = found(&app, token, "zeppelin").await;
        got.sort();
        assert_eq!(got, want, "{who}");
        // npm's search total counts what the caller may see, nothing more.
        let r = app.get("/-/v1/search?text=zeppelin", token).await;
        assert_eq!(r.body["total"], want.len(), "{who}: {}", r.text);
    }
    // A word only the private skill has finds nothing for an outsider, not even a count.
    assert!(found(&app, Some(&outsider), "launch").await.is_empty());
    let r = app.get("/-/v1/search?text=launch", Some(&outsider)).await;
    assert_eq!(r.body["total"], 0);
}

/// ToolHive's and npm's searches for `q` (both list only skills with a published version)
/// answer exactly the skills of `acme` named in `want`, and npm's total counts those.
async fn expect_published(app: &TestApp, who: &str, token: &str, q: &str, want: &[&str]) {
    let r = app.get(&format!("/registry/default/v0.1/x/dev.toolhive/skills?search={q}"), Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut toolhive: Vec<String> =
        r.body["skills"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    toolhive.sort();
    assert_eq!(toolhive, want, "ToolHive, {who}");
    let r = app.get(&format!("/-/v1/search?text={q}"), Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut npm: Vec<String> = r.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["package"]["name"].as_str().unwrap().trim_start_matches("@acme/").to_owned())
        .collect();
    npm.sort();
    assert_eq!(npm, want, "npm, {who}");
    assert_eq!(r.body["total"], want.len(), "npm's total, {who}");
}

async fn published_only_searches_find_the_published_skills_few_or_many(db: TestDb) {
    let app = TestApp::new(db).await;
    let member = app.user("mia", TokenScope::Read).await;
    let outsider = app.user("otto", TokenScope::Read).await;
    app.team("acme", &app.admin).await;
    app.member("acme", "mia", "reader").await;
    let names = ["zeppelin-a", "zeppelin-b", "zeppelin-c", "zeppelin-d", "zeppelin-e", "zeppelin-f"];
    for name in names {
        let visibility = if name == "zeppelin-b" || name == "zeppelin-f" { "private" } else { "public" };
        skill(&app, &app.admin, &format!("acme/{name}"), "A zeppelin guide", json!({ "visibility": visibility })).await;
    }
    // Two of six with a published version: a search for published skills leads with those.
    for name in ["zeppelin-a", "zeppelin-b"] {
        app.released("acme", name, "1.0.0").await;
    }
    expect_published(&app, "an outsider", &outsider, "zeppelin", &["zeppelin-a"]).await;
    expect_published(&app, "a member", &member, "zeppelin", &["zeppelin-a", "zeppelin-b"]).await;
    // Most with one: the same searches check each match as it is collected, with the same rules.
    for name in ["zeppelin-c", "zeppelin-d", "zeppelin-f"] {
        app.released("acme", name, "1.0.0").await;
    }
    let everyone = ["zeppelin-a", "zeppelin-c", "zeppelin-d"];
    expect_published(&app, "an outsider", &outsider, "zeppelin", &everyone).await;
    let members = ["zeppelin-a", "zeppelin-b", "zeppelin-c", "zeppelin-d", "zeppelin-f"];
    expect_published(&app, "a member", &member, "zeppelin", &members).await;
}

async fn search_pages_and_follows_changes(db: TestDb) {
    let app = TestApp::new(db).await;
    app.team("acme", &app.admin).await;
    for i in 0..25 {
        skill(&app, &app.admin, &format!("acme/widget-{i}"), "Builds widgets", json!({})).await;
    }
    // Cursor paging through a search visits every match once. The pages, taken apart, are
    // the one long page cut in pieces: the search skips what cannot reach a page, and a later
    // match that only ties never takes another's place.
    let seen = every_page(&app, None, "widget", 10).await;
    assert_eq!(seen, every_page(&app, None, "widget", 25).await);
    // Cursors carry a position, never the engine's score (which reflects private skills too).
    let r = app.get("/api/v1/skills?q=widget&limit=10", None).await;
    let cursor = r.body["cursor"].as_str().unwrap();
    let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, cursor).unwrap();
    let wire: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(wire["i"], 10, "{wire}");
    assert!(wire.get("f").is_none(), "{wire}");
    for i in 0..3 {
        app.version("acme", &format!("widget-{i}"), "1.0.0", VersionStatus::Published).await;
    }
    let r = app.get("/-/v1/search?text=widget&size=3", None).await;
    let scores: Vec<f64> =
        r.body["objects"].as_array().unwrap().iter().map(|o| o["searchScore"].as_f64().unwrap()).collect();
    assert_eq!(scores, [1.0, 0.5, 1.0 / 3.0], "npm's searchScore is the position");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (25, 25), "{seen:?}");

    // Popularity breaks ties: a starred widget leads the equally relevant rest once the index
    // takes the star up, with the skill's next change (stars alone never write to the change
    // sequence, so starring and unstarring cannot keep every replica reindexing).
    let r = app.call(Method::PUT, "/api/v1/skills/acme/widget-17/star", Some(&app.admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    edit(&app, &app.admin, "acme/widget-17", json!({"readme": "Internal notes"})).await;
    assert_eq!(found(&app, None, "widget").await[0], "acme/widget-17");

    // Every change is searchable as soon as it is answered.
    edit(&app, &app.admin, "acme/widget-3", json!({"description": "Paints gizmos"})).await;
    assert_eq!(found(&app, None, "gizmos").await, ["acme/widget-3"]);
    let r = app.call(Method::DELETE, "/api/v1/skills/acme/widget-3", Some(&app.admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(found(&app, None, "gizmos").await.is_empty(), "a deleted skill leaves search at once");
    let r = app.call(Method::POST, "/api/v1/skills/acme/widget-3/restore", Some(&app.admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(found(&app, None, "gizmos").await, ["acme/widget-3"]);
}

/// Two words so common together (about 100 skills or more likely to hold both) that the
/// engine finds them through one pruned union of their terms: every result still holds both
/// words, the pages cut the one long page, private skills reach members only, and npm's total
/// counts what the caller may see.
async fn common_words_together_page_count_and_stay_private(db: TestDb) {
    let app = TestApp::new(db).await;
    app.team("acme", &app.admin).await;
    app.team("vault", &app.admin).await;
    let member = app.user("mia", TokenScope::Read).await;
    app.member("vault", "mia", "reader").await;
    // Every skill says "cache", four in five also "index"; one in four is private.
    let holds_both = |i: usize| !i.is_multiple_of(5);
    let private = |i: usize| i.is_multiple_of(4);
    for i in 0..160 {
        let (scope, visibility) = if private(i) { ("vault", "private") } else { ("acme", "public") };
        let description = if holds_both(i) {
            format!("Warms the cache of the search index, part {i}")
        } else {
            format!("Warms the cache, part {i}")
        };
        let body =
            json!({"scope": scope, "slug": format!("warm-{i}"), "description": description, "visibility": visibility});
        let r = app.call(Method::POST, "/api/v1/skills", Some(&app.admin), Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        app.version(scope, &format!("warm-{i}"), "1.0.0", VersionStatus::Published).await;
    }
    let expected = |member: bool| -> Vec<String> {
        let mut ids: Vec<String> = (0..160)
            .filter(|&i| holds_both(i) && (member || !private(i)))
            .map(|i| format!("{}/warm-{i}", if private(i) { "vault" } else { "acme" }))
            .collect();
        ids.sort();
        ids
    };
    for (token, sees_private) in [(None, false), (Some(member.as_str()), true)] {
        let paged = every_page(&app, token, "cache%20index", 15).await;
        assert_eq!(paged, every_page(&app, token, "cache%20index", 100).await, "pages of 15 cut pages of 100");
        let mut sorted = paged.clone();
        sorted.sort();
        assert_eq!(sorted, expected(sees_private), "each skill holding both words once, the private ones for members");
        let r = app.get("/-/v1/search?text=cache%20index&size=5", token).await;
        assert_eq!(r.body["total"], expected(sees_private).len(), "npm's total");
        assert_eq!(r.body["objects"].as_array().unwrap().len(), 5);
    }
}

/// The ids of every page of a REST search, `limit` at a time, following the cursors.
async fn every_page(app: &TestApp, token: Option<&str>, q: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let r = app.get(&format!("/api/v1/skills?q={q}&limit={limit}{after}"), token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let data = r.body["data"].as_array().unwrap();
        ids.extend(data.iter().map(|s| format!("{}/{}", s["scope"].as_str().unwrap(), s["slug"].as_str().unwrap())));
        match r.body["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
}

/// Semantic search finds what the words of a query do not, keeps private skills private and
/// applies the listing's filters; hybrid keeps a name match first.
async fn semantic_search_finds_by_meaning(db: TestDb) {
    let Some(app) = TestApp::with_model(db).await else { return };
    let outsider = app.user("otto", TokenScope::Read).await;
    let member = app.user("mia", TokenScope::Read).await;
    app.team("ops", &app.admin).await;
    app.team("vault", &app.admin).await;
    app.member("vault", "mia", "reader").await;
    let a = &app.admin;
    skill(&app, a, "ops/k8s-deployment", "Writes Kubernetes deployments, services and ingress manifests", json!({}))
        .await;
    skill(&app, a, "ops/sourdough", "Bakes bread with a natural starter", json!({"tags": ["kitchen"]})).await;
    skill(&app, a, "ops/pr-review", "Reviews pull requests for bugs and style problems", json!({"tags": ["review"]}))
        .await;
    skill(&app, a, "ops/changelog", "Drafts release notes from merged commits", json!({})).await;
    skill(
        &app,
        a,
        "vault/helm-charts",
        "Packages Kubernetes applications as Helm charts",
        json!({"visibility": "private"}),
    )
    .await;
    app.vectors_ready().await;
    let health = app.get("/healthz", Some(a)).await;
    assert_eq!(health.body["deps"]["embedder"], json!({"status": "up", "vectors": 5, "pending": 0}));
    for token in [None, Some(outsider.as_str()), Some(member.as_str())] {
        let health = app.get("/healthz", token).await;
        assert_eq!(health.body["deps"]["embedder"], json!({"status": "up"}), "counts include private skills");
    }

    // No skill holds these words; the meaning is there.
    let q = "container orchestration";
    assert!(found(&app, None, q).await.is_empty(), "keyword search finds nothing");
    let by_meaning = found_by(&app, None, q, "&mode=semantic").await;
    assert_eq!(by_meaning[0], "ops/k8s-deployment", "{by_meaning:?}");
    assert_eq!(found_by(&app, None, q, "&mode=hybrid").await[0], "ops/k8s-deployment");
    assert_eq!(found_by(&app, None, "critique my code", "&mode=semantic").await[0], "ops/pr-review");

    // Private skills only for members, on every mode.
    for (who, token) in [("anonymous", None), ("an outsider", Some(outsider.as_str()))] {
        for mode in ["semantic", "hybrid"] {
            let got = found_by(&app, token, "helm charts kubernetes", &format!("&mode={mode}")).await;
            assert!(!got.contains(&"vault/helm-charts".to_owned()), "{who}, {mode}: {got:?}");
        }
    }
    let got = found_by(&app, Some(&member), "helm charts kubernetes", "&mode=hybrid").await;
    assert_eq!(got[0], "vault/helm-charts", "a member finds it first: name and meaning match");

    // Filters hold; a high threshold leaves out what is merely related.
    assert_eq!(found_by(&app, None, "container orchestration", "&mode=semantic&tag=review").await, ["ops/pr-review"]);
    assert_eq!(
        found_by(&app, None, "container orchestration", "&mode=semantic&scope=vault").await,
        Vec::<String>::new()
    );
    assert!(found_by(&app, None, q, "&mode=semantic&min_similarity=0.95").await.is_empty());

    // A changed description is searched by its new meaning once its vector is computed.
    edit(&app, a, "ops/changelog", json!({"description": "Plans a vegetable garden"})).await;
    app.vectors_ready().await;
    assert_eq!(found_by(&app, None, "growing tomatoes", "&mode=semantic").await[0], "ops/changelog");

    // Bad requests say what is wrong.
    for (extra, words) in [
        ("&mode=fuzzy", "keyword, semantic or hybrid"),
        ("&mode=semantic&min_similarity=2", "between -1 and 1"),
        ("&min_similarity=0.5", "semantic and hybrid"),
        ("&mode=semantic&sort=downloads", "relevance"),
    ] {
        let r = app.get(&format!("/api/v1/skills?q=review{extra}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{extra}: {}", r.text);
        assert!(r.body["detail"].as_str().unwrap().contains(words), "{extra}: {}", r.text);
    }
    let r = app.get("/api/v1/skills?mode=semantic", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "no words: {}", r.text);
    // A cursor can only point within the 200 results a semantic search ranks.
    use base64::Engine as _;
    let deep =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"s":"relevance","i":9223372036854775000,"id":""}"#);
    let r = app.get(&format!("/api/v1/skills?q=review&mode=hybrid&cursor={deep}"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("at most 200"), "{}", r.text);
}

/// Without a model the server searches by keyword as ever, and a semantic request is told how
/// to enable it.
#[tokio::test]
async fn semantic_search_without_a_model_says_how_to_enable_it() {
    let app = TestApp::new(TestDb::sqlite().await).await;
    for mode in ["semantic", "hybrid"] {
        let r = app.get(&format!("/api/v1/skills?q=review&mode={mode}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.body["detail"].as_str().unwrap().contains("--embedding-model"), "{}", r.text);
    }
    assert_eq!(app.get("/api/v1/skills?q=review&mode=keyword", None).await.status, StatusCode::OK);
}

/// The index kept in the data directory: reopened, it follows on from where it stopped
/// (changes made meanwhile included); for another database, or after missing changes that
/// are no longer kept, it is rebuilt.
async fn the_index_on_disk_resumes_or_rebuilds(db: TestDb) {
    use skilldex::service::Index;
    use skilldex::service::search::SearchEngine;
    let dir = tempfile::tempdir().unwrap();
    let open = |store| Index::new(store).with_search(SearchEngine::open(dir.path()).unwrap());
    let ids = |page: skilldex::service::Page<skilldex::store::SkillHit>| {
        page.items.into_iter().map(|h| h.skill.name.to_string()).collect::<Vec<_>>()
    };
    let search = |index: Index, q: &'static str| async move {
        let req = skilldex::service::SkillListRequest { q: Some(q.into()), ..Default::default() };
        ids(index.catalog().list_skills(&skilldex::service::Caller::Anonymous, req).await.unwrap())
    };
    let app = TestApp::new(db).await;
    app.team("acme", &app.admin).await;
    skill(&app, &app.admin, "acme/first-light", "Wakes the lighthouse", json!({})).await;

    let index = open(app.store().clone());
    assert!(index.start_search().await.unwrap(), "a new index is built");
    assert_eq!(search(index.clone(), "lighthouse").await, ["first-light"]);
    drop(index);

    // While it is closed, a skill is created: reopened, the index resumes and catches up.
    skill(&app, &app.admin, "acme/second-light", "Another lighthouse", json!({})).await;
    let index = open(app.store().clone());
    assert!(!index.start_search().await.unwrap(), "the index on disk is resumed, not rebuilt");
    assert_eq!(search(index.clone(), "lighthouse").await.len(), 2);
    drop(index);

    // A rebuild cut short (the index emptied, the catalog not yet in) records no stamp: the
    // next start rebuilds instead of resuming a partial index.
    SearchEngine::open(dir.path()).unwrap().clear(None).unwrap();
    let index = open(app.store().clone());
    assert!(index.start_search().await.unwrap(), "a partial index is rebuilt");
    assert_eq!(search(index.clone(), "lighthouse").await.len(), 2);
    drop(index);

    // Changes it missed are forgotten (all but the newest): following on would miss them.
    skill(&app, &app.admin, "acme/third-light", "A third lighthouse", json!({})).await;
    skill(&app, &app.admin, "acme/fourth-light", "A fourth lighthouse", json!({})).await;
    app.store().prune_skill_changes(i64::MAX).await.unwrap();
    let index = open(app.store().clone());
    assert!(index.start_search().await.unwrap(), "rebuilt after missing changes");
    assert_eq!(search(index.clone(), "lighthouse").await.len(), 4);
    drop(index);

    // Another database with the same data directory: rebuilt, nothing of the first shows.
    let other = TestApp::new(TestDb::sqlite().await).await;
    let index = open(other.store().clone());
    assert!(index.start_search().await.unwrap(), "another database's index is rebuilt");
    assert!(search(index.clone(), "lighthouse").await.is_empty());
}

/// A skill made private while the server runs stays private to semantic search after a
/// restart, whatever the vectors file on disk still says about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_never_answers_with_who_could_see_a_skill_before() {
    use skilldex::service::search::SearchEngine;
    use skilldex::service::{Index, SearchMode, SkillListRequest};
    let Ok(model) = std::env::var("SKILLDEX_TEST_EMBEDDING_MODEL") else {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "the embedding model is required on CI");
        return;
    };
    let load = || skilldex::service::semantic::Embedder::load(std::path::Path::new(&model)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::new(TestDb::sqlite().await).await;
    app.team("acme", &app.admin).await;
    skill(&app, &app.admin, "acme/k8s-deployment", "Writes Kubernetes deployments and services", json!({})).await;
    let open =
        || Index::new(app.store().clone()).with_search(SearchEngine::open(dir.path()).unwrap().with_model(load()));
    // Whether anonymous finds the skill by meaning, and how many skills the search counts.
    let found = |index: Index| async move {
        let req = || SkillListRequest {
            q: Some("container orchestration".into()),
            mode: SearchMode::Semantic,
            ..Default::default()
        };
        let anonymous = skilldex::service::Caller::Anonymous;
        let (page, count) = index.catalog().list_skills_counted(&anonymous, req()).await.unwrap();
        (page.items.iter().any(|h| h.skill.name.as_str() == "k8s-deployment"), count)
    };

    let index = open();
    index.start_search().await.unwrap();
    let semantic = index.search_engine().unwrap().semantic().unwrap().clone();
    while semantic.pending() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    index.search_engine().unwrap().flush();
    assert_eq!(found(index.clone()).await, (true, 1), "public: found by meaning");

    // Made private and applied by the running index, which goes on past more than the 1000
    // changes a resumed index re-reads; then a hard stop before the vectors file is saved
    // again, so the file still says public.
    edit(&app, &app.admin, "acme/k8s-deployment", json!({"visibility": "private"})).await;
    index.catch_up_search().await;
    assert_eq!(found(index.clone()).await, (false, 0));
    skill(&app, &app.admin, "acme/busy", "Changes a lot", json!({})).await;
    let busy = app.store().skill("acme", "busy").await.unwrap().unwrap();
    for i in 0..1001 {
        let patch = skilldex::domain::SkillPatch { description: Some(format!("change {i}")), ..Default::default() };
        app.store().update_skill(&busy.id, &patch, i).await.unwrap();
    }
    index.catch_up_search().await;
    drop((index, semantic));
    let index = open();
    index.start_search().await.unwrap();
    let semantic = index.search_engine().unwrap().semantic().unwrap().clone();
    while semantic.pending() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The busy skill counts; the private one is neither shown nor counted.
    assert_eq!(found(index.clone()).await, (false, 1), "after the restart");
}

/// On SQLite a search skips the change sequence while this server has written nothing for
/// 250 ms; what another process writes to the same file (the CLI) is found once that time
/// has passed, and this server's own writes at once.
#[tokio::test]
async fn another_process_writes_reach_search_within_a_quarter_second() {
    let db = TestDb::sqlite().await;
    let url = db.url.clone();
    let app = TestApp::new(db).await;
    app.team("acme", &app.admin).await;
    assert!(found(&app, None, "lighthouse").await.is_empty());
    let mut cli = crate::store::skill("acme", "beacon");
    cli.description = "Keeps the lighthouse lit".into();
    skilldex::store::connect(&url).await.unwrap().create_skill(&cli, now_millis()).await.unwrap();
    tokio::time::sleep(skilldex::service::search::QUIET_FOR + std::time::Duration::from_millis(50)).await;
    assert_eq!(found(&app, None, "lighthouse").await, ["acme/beacon"], "another process's write, 300 ms on");
    skill(&app, &app.admin, "acme/lamp", "Lights the lighthouse lamp", json!({})).await;
    let mut both = found(&app, None, "lighthouse").await;
    both.sort();
    assert_eq!(both, ["acme/beacon", "acme/lamp"], "this server's own write, at once");
}
