//! `/openapi.json`, `/healthz` and `/metrics`.

use axum::http::{Method, StatusCode};

use crate::common::{TestApp, TestDb, fresh_pg_database};

/// The generated API document is pinned: any change to the surface shows up in review.
#[tokio::test]
async fn openapi_document_is_pinned() {
    let app = TestApp::new(TestDb::sqlite().await).await;
    let r = app.get("/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, serde_json::to_value(skilldex::api::openapi()).unwrap());
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/api/v1/skills",
        "/api/v1/skills/{scope}/{slug}/channels/{name}",
        "/api/v1/teams/{slug}/members/{username}",
        "/healthz",
    ] {
        assert!(paths.contains_key(p), "{p} documented");
    }
    insta::assert_json_snapshot!("openapi", r.body);
}

#[tokio::test]
async fn health_reports_dependencies_and_metrics_count_requests() {
    let app = TestApp::new(TestDb::sqlite().await).await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r.body["deps"]["db"]["status"], "up");
    assert!(r.body["deps"]["db"]["latency_ms"].is_u64());
    assert_eq!(r.body["deps"]["storage"]["status"], "up");
    assert_eq!(r.body["deps"]["embedder"], serde_json::json!({"status": "off"}), "no model: semantic search is off");

    app.get("/api/v1/skills", None).await;
    app.get("/api/v1/skills/acme/private-thing", Some("sdx_secret_value")).await;
    let m = app.get("/metrics", None).await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(
        m.text.contains(r#"skilldex_http_requests_total{method="GET",route="/api/v1/skills",status="200"} 1"#),
        "{}",
        m.text
    );
    assert!(m.text.contains(r#"route="/api/v1/skills/{scope}/{slug}",status="401""#), "{}", m.text);
    assert!(m.text.contains("skilldex_http_request_duration_seconds_bucket"));
    assert!(!m.text.contains("private-thing") && !m.text.contains("sdx_secret_value"), "labels are routes, not paths");
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// With the database gone, `/healthz` still answers 200 but says `degraded`.
#[tokio::test]
async fn health_is_degraded_when_the_database_is_down() {
    let Some((url, admin_url, name)) = fresh_pg_database().await else {
        return;
    };
    let store = skilldex::store::connect(&url).await.unwrap();
    let index = skilldex::service::Index::new(store);
    let data = tempfile::tempdir().unwrap();
    let router = skilldex::api::router(skilldex::api::AppState::new(skilldex::api::App {
        index,
        metrics: Default::default(),
        data_dir: data.path().into(),
        public_url: "http://skilldex.test".into(),
        rate_limits: None,
    }));
    {
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).execute(&mut admin).await.unwrap();
    }
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let resp =
        router.oneshot(axum::http::Request::get("/healthz").body(axum::body::Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["deps"]["db"]["status"], "down");
}
