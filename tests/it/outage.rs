//! The database goes away (PostgreSQL reached through a relay the test cuts): every surface
//! answers 503 in its own shape, says when to retry, shows no internals, and answers
//! normally again once the database is back, without a restart.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::common::{PgProxy, Reply, TestApp};

/// One request on one surface, and what its answer must look like.
struct Probe {
    what: &'static str,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    html: bool,
    shape: fn(&Reply) -> bool,
}

fn probes() -> Vec<Probe> {
    let probe = |what, method, path, shape| Probe { what, method, path, body: None, html: false, shape };
    vec![
        probe("native", Method::GET, "/api/v1/skills", |r| {
            r.problem_type() == "service-unavailable"
                && r.headers["content-type"] == "application/problem+json"
                && r.body["detail"].as_str().is_some_and(|d| d.contains("try again"))
        }),
        probe("SkillsMgr", Method::GET, "/api/r/acme/demo", |r| {
            r.body["error"]["code"].is_string()
                && r.body["error"]["message"].as_str().is_some_and(|m| m.contains("try again"))
        }),
        probe("ToolHive", Method::GET, "/registry/default/v0.1/x/dev.toolhive/skills", |r| {
            r.body["error"].as_str().is_some_and(|m| m.contains("try again"))
        }),
        probe("npm", Method::GET, "/@acme/demo", |r| r.body["error"].as_str().is_some_and(|m| m.contains("try again"))),
        probe("skill-pool", Method::GET, "/v1/skills", |r| {
            r.body["error"] == "unavailable" && r.body["message"].as_str().is_some_and(|m| m.contains("try again"))
        }),
        probe("registry", Method::GET, "/v2/acme/demo/manifests/1.0.0", |r| {
            r.body["errors"][0]["code"].is_string()
                && r.body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("try again"))
        }),
        Probe {
            what: "MCP",
            method: Method::POST,
            path: "/mcp",
            body: Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "get_skill", "arguments": {"namespace": "acme", "name": "demo"}}})),
            html: false,
            // Refused at the door (a token to look up): a JSON-RPC error. Met inside a tool:
            // MCP's tool error, a result with `isError`.
            shape: |r| {
                let says = |m: &Value| m.as_str().is_some_and(|m| m.contains("try again"));
                r.body["jsonrpc"] == "2.0"
                    && (says(&r.body["error"]["message"])
                        || r.body["result"]["isError"] == true && says(&r.body["result"]["content"][0]["text"]))
            },
        },
        Probe {
            what: "web",
            method: Method::GET,
            path: "/",
            body: None,
            html: true,
            shape: |r| {
                r.headers["content-type"].to_str().unwrap().starts_with("text/html")
                    && r.text.contains("Try again in a moment")
            },
        },
    ]
}

async fn send(app: &TestApp, p: &Probe, token: Option<&str>) -> Reply {
    let mut req = Request::builder()
        .method(p.method.clone())
        .uri(p.path)
        .header("content-type", "application/json")
        .header("x-skill-pool-tenant", "acme");
    if p.html {
        req = req.header("accept", "text/html");
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = p.body.as_ref().map_or_else(Body::empty, |b| Body::from(b.to_string()));
    app.send(req.body(body).unwrap()).await
}

/// Every surface, with a token and without one, all at once (each waits for a connection):
/// 503 in the surface's shape, `Retry-After`, no internals.
async fn assert_outage_answers(app: &TestApp, probes: &[Probe], how: &str) {
    let admin = app.admin.as_str();
    let asked = probes.iter().flat_map(|p| [(p, Some(admin)), (p, None)]);
    let answers = futures_util::future::join_all(
        asked.map(|(p, token)| async move { (p, token.is_some(), send(app, p, token).await) }),
    )
    .await;
    for (p, with_token, r) in &answers {
        let who = if *with_token { "with a token" } else { "anonymous" };
        assert!((p.shape)(r), "{} {who} {how}: not in its surface's shape: {}", p.what, r.text);
        if p.what == "MCP" && !with_token {
            // Met inside a tool: MCP's tool error, in a 200.
            assert_eq!(r.status, StatusCode::OK, "{how}: {}", r.text);
            assert_eq!(r.body["result"]["isError"], true, "{how}: {}", r.text);
            continue;
        }
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{} {who} {how}: {}", p.what, r.text);
        let retry = r.headers.get("retry-after").map(|v| v.to_str().unwrap());
        assert_eq!(retry, Some("2"), "{} {who} {how}", p.what);
        for internal in ["sqlx", "pool", "Connection refused", "os error", "internal error", "invalid, expired"] {
            assert!(!r.text.contains(internal), "{} {who} {how}: internals in {}", p.what, r.text);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_surface_answers_an_outage_with_503_in_its_own_shape_and_recovers() {
    let Some((db, proxy)) = PgProxy::database().await else { return };
    let app = TestApp::new(db).await;
    let admin = app.admin.clone();
    let probes = probes();

    proxy.cut();
    // With rate limits (as `serve` runs) the limiter looks the caller up first; without
    // them each handler does: either way the outage is a 503, never a bad token.
    assert_outage_answers(&app, &probes, "with limits").await;
    let app = app.without_rate_limits();
    assert_outage_answers(&app, &probes, "without limits").await;

    // The database is back: the same app answers, and the token is still good.
    proxy.mend().await;
    let mut last = app.get("/api/v1/skills", Some(&admin)).await;
    for _ in 0..100 {
        if last.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        last = app.get("/api/v1/skills", Some(&admin)).await;
    }
    assert_eq!(last.status, StatusCode::OK, "{}", last.text);
    let r = send(&app, &probes[7], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "the web catalog is back: {}", r.text);
}
