//! Rate limits on every surface: each refuses with 429 in its own error shape, with
//! `Retry-After` and `RateLimit-*`; budgets belong to people (whichever token they use) and
//! to addresses for anonymous callers; a refused request changes nothing; site
//! administrators give single tokens budgets of their own; an MCP batch pays per call.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use skilldex::domain::TokenScope;

use crate::common::{Reply, TestApp, TestDb, on_both_backends};

on_both_backends!(
    every_surface_refuses_in_its_own_shape,
    budgets_belong_to_tokens_users_and_addresses,
    a_refused_request_changes_nothing,
    administrators_give_a_token_its_own_budget,
    mcp_batches_and_searches_pay_per_call
);

/// A 429 with the headers a client needs to back off.
fn refused(r: &Reply, limit: &str) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let header = |name: &str| r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let wait: u64 = header("retry-after").parse().unwrap_or_else(|_| panic!("Retry-After in seconds: {:?}", r.headers));
    assert!(wait >= 1, "{:?}", r.headers);
    assert_eq!(header("ratelimit-limit"), limit);
    assert_eq!(header("ratelimit-remaining"), "0");
    assert!(!header("ratelimit-reset").is_empty() && !header("ratelimit-policy").is_empty(), "{:?}", r.headers);
    assert!(!r.text.contains("governor") && !r.text.contains("redis"), "no internals: {}", r.text);
}

/// Sends `request()` until the budget of two is spent; returns the refusal.
async fn spend_two(app: &TestApp, request: impl Fn() -> Request<Body>) -> Reply {
    for n in 0..2 {
        let r = app.send(request()).await;
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "request {n} is within the budget: {}", r.text);
        assert_eq!(r.headers["ratelimit-remaining"], (1 - n).to_string(), "{:?}", r.headers);
    }
    app.send(request()).await
}

fn get(path: &str, token: &str) -> Request<Body> {
    Request::get(path).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap()
}

async fn every_surface_refuses_in_its_own_shape(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann = app.user("ann", TokenScope::Admin).await;
    app.team("acme", &ann).await;
    let mut tokens = Vec::new();
    for i in 0..7 {
        tokens.push(app.user(&format!("user{i}"), TokenScope::Write).await);
    }
    let app = app.with_rate_limits("*=2/minute");

    // The native API: csreg's `rate-limit-exceeded` problem.
    let r = spend_two(&app, || get("/api/v1/skills?q=pdf", &tokens[0])).await;
    refused(&r, "2");
    assert_eq!(r.problem_type(), "rate-limit-exceeded", "{}", r.text);
    assert_eq!(r.body["status"], 429);
    assert_eq!(r.body["instance"], "/api/v1/skills");
    assert!(r.body["detail"].as_str().unwrap().contains("search"), "{}", r.text);

    // npm (and SkillsMgr's search, on the same path): `{"error": "…"}`.
    let r = spend_two(&app, || get("/-/v1/search?text=pdf", &tokens[1])).await;
    refused(&r, "2");
    assert!(r.body["error"].as_str().is_some_and(|m| m.contains("try again")), "{}", r.text);

    // SkillsMgr's envelope.
    let r = spend_two(&app, || get("/api/wishes", &tokens[2])).await;
    refused(&r, "2");
    assert_eq!(r.body, json!({"error": {"code": "rate_limited", "message": r.body["error"]["message"]}}));

    // ToolHive.
    let r = spend_two(&app, || get("/registry/default/v0.1/x/dev.toolhive/skills?search=pdf", &tokens[3])).await;
    refused(&r, "2");
    assert!(r.body["error"].is_string(), "{}", r.text);

    // The OCI distribution spec.
    let r = spend_two(&app, || get("/v2/acme/tool/tags/list", &tokens[4])).await;
    refused(&r, "2");
    assert_eq!(r.body["errors"][0]["code"], "TOOMANYREQUESTS", "{}", r.text);

    // skill-pool.
    let sp = || {
        Request::get("/v1/skills?query=pdf")
            .header("authorization", format!("Bearer {}", tokens[5]))
            .header("x-skill-pool-tenant", "acme")
            .body(Body::empty())
            .unwrap()
    };
    let r = spend_two(&app, sp).await;
    refused(&r, "2");
    assert_eq!(r.body["error"], "rate_limited", "{}", r.text);

    // MCP: a JSON-RPC error with HTTP 429.
    let mcp = || {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
        Request::post("/mcp")
            .header("authorization", format!("Bearer {}", tokens[6]))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(Body::from(body))
            .unwrap()
    };
    let r = spend_two(&app, mcp).await;
    refused(&r, "2");
    assert_eq!(r.body["jsonrpc"], "2.0");
    assert_eq!(r.body["error"]["code"], -32029, "{}", r.text);

    // Health and metrics spend nothing; the refusals are counted by class.
    for _ in 0..3 {
        assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    }
    let metrics = app.get("/metrics", None).await.text;
    assert!(metrics.contains("skilldex_rate_limited_total{class=\"search\"} 4"), "{metrics}");
    assert!(metrics.contains("skilldex_rate_limited_total{class=\"mcp\"} 1"), "{metrics}");
}

async fn budgets_belong_to_tokens_users_and_addresses(db: TestDb) {
    let app = TestApp::new(db).await.with_rate_limits("search=2/minute,wish=2/day");
    let ann = app.user("ann", TokenScope::Write).await;
    let bob = app.user("bob", TokenScope::Write).await;
    // Ann's second token, an agent's: it spends Ann's budgets, so minting tokens buys nothing.
    let r =
        app.call(Method::POST, "/api/v1/tokens", Some(&ann), Some(json!({"name": "agent", "kind": "agent-bridge"})));
    let agent = r.await.body["token"].as_str().unwrap().to_owned();

    refused(&spend_two(&app, || get("/-/v1/search?text=a", &ann)).await, "2");
    refused(&app.get("/-/v1/search?text=a", Some(&agent)).await, "2");
    assert_eq!(app.get("/-/v1/search?text=a", Some(&bob)).await.status, StatusCode::OK, "Bob's is his own");
    // Only searches spend the search budget: listing without words is a read.
    let r = app.get("/api/v1/skills?q=%20", Some(&ann)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["ratelimit-policy"], "1200;w=60");

    assert_eq!(wish(&app, &ann, 1).await.status, StatusCode::CREATED);
    assert_eq!(wish(&app, &agent, 2).await.status, StatusCode::CREATED);
    // The agent and the person share one daily wish budget (SkillsMgr's "shared with the
    // human owner's daily quota"); Bob has his own.
    let r = wish(&app, &agent, 3).await;
    refused(&r, "2");
    assert_eq!(r.body["error"]["code"], "rate_limited");
    refused(&wish(&app, &ann, 4).await, "2");
    assert_eq!(wish(&app, &bob, 5).await.status, StatusCode::CREATED);
    let listed = app.get("/api/wishes", Some(&ann)).await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(3), "{}", listed.text);

    // Anonymous callers spend their address's budget; a token that does not authenticate
    // is anonymous to the limiter and still answered with its 401, never a free pass.
    let from = |addr: &str, token: Option<&str>| {
        let mut r =
            Request::get("/-/v1/search?text=a").extension(skilldex::api::limits::ClientAddr(addr.parse().unwrap()));
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(Body::empty()).unwrap()
    };
    assert_eq!(app.send(from("192.0.2.1", None)).await.status, StatusCode::OK);
    assert_eq!(app.send(from("192.0.2.1", Some("sdx_forged"))).await.status, StatusCode::UNAUTHORIZED);
    refused(&app.send(from("192.0.2.1", Some("sdx_another_forgery"))).await, "2");
    refused(&app.send(from("192.0.2.1", None)).await, "2");
    assert_eq!(app.send(from("192.0.2.2", None)).await.status, StatusCode::OK, "another address");
    // An IPv6 host is one address however many of its /64 it uses.
    assert_eq!(app.send(from("2001:db8::1", None)).await.status, StatusCode::OK);
    assert_eq!(app.send(from("2001:db8::2", None)).await.status, StatusCode::OK);
    refused(&app.send(from("2001:db8::3", None)).await, "2");
    // A client cannot pick its address with X-Forwarded-For unless a trusted proxy says so.
    let forged = Request::get("/-/v1/search?text=a")
        .header("x-forwarded-for", "198.51.100.7")
        .extension(skilldex::api::limits::ClientAddr("192.0.2.1".parse().unwrap()))
        .body(Body::empty())
        .unwrap();
    refused(&app.send(forged).await, "2");
}

async fn wish(app: &TestApp, token: &str, n: usize) -> Reply {
    let body = json!({"title": format!("A wish number {n}"), "body": "Something to review pull requests."});
    app.call(Method::POST, "/api/wishes", Some(token), Some(body)).await
}

async fn a_refused_request_changes_nothing(db: TestDb) {
    let app = TestApp::new(db).await.storing().with_rate_limits("publish=1/hour,review=1/day");
    let ann = app.user("ann", TokenScope::Admin).await;
    app.team("acme", &ann).await;
    let bob = app.user("bob", TokenScope::Write).await;
    let dir = tempfile::tempdir().unwrap();

    let r = app.call(
        Method::PUT,
        "/api/r/@acme/tool",
        Some(&ann),
        Some(crate::skillsmgr::npm_document(dir.path(), "tool", "1.0.0")),
    );
    assert_eq!(r.await.status, StatusCode::CREATED);
    let r = app
        .call(
            Method::PUT,
            "/@acme%2ftool",
            Some(&ann),
            Some(crate::skillsmgr::npm_document(dir.path(), "tool", "1.1.0")),
        )
        .await;
    refused(&r, "1");
    assert!(r.body["error"].as_str().is_some_and(|m| m.contains("publish")), "{}", r.text);
    let versions = app.get("/api/v1/skills/acme/tool/versions", Some(&ann)).await;
    assert_eq!(versions.body["data"].as_array().map(Vec::len), Some(1), "nothing published: {}", versions.text);
    // Every surface spends from the same publish budget: registering a version by reference
    // is refused too, and leaves nothing.
    let r = app
        .call(
            Method::POST,
            "/api/v1/skills/acme/tool/versions",
            Some(&ann),
            Some(json!({"version": "2.0.0", "reference": "skilldex.test/acme/tool@sha256:0000000000000000000000000000000000000000000000000000000000000000"})),
        )
        .await;
    refused(&r, "1");
    assert_eq!(r.problem_type(), "rate-limit-exceeded");
    let versions = app.get("/api/v1/skills/acme/tool/versions", Some(&ann)).await;
    assert_eq!(versions.body["data"].as_array().map(Vec::len), Some(1), "{}", versions.text);

    let review = |n: u32| {
        let body = json!({"targetType": "package", "targetId": "@acme/tool", "rating": "grande", "body": format!("Works well {n}")});
        app.call(Method::POST, "/api/reviews", Some(&bob), Some(body))
    };
    assert_eq!(review(1).await.status, StatusCode::CREATED);
    refused(&review(2).await, "1");
    let reviews = app.get("/api/reviews?targetType=package&targetId=@acme%2Ftool", Some(&bob)).await;
    assert_eq!(reviews.body["data"].as_array().map(Vec::len), Some(1), "{}", reviews.text);
}

async fn administrators_give_a_token_its_own_budget(db: TestDb) {
    let app = TestApp::new(db).await.with_rate_limits("search=1/minute");
    let ann = app.user("ann", TokenScope::Write).await;
    let me = app.get("/api/v1/tokens", Some(&ann)).await;
    let id = me.body["data"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/tokens/{id}/rate-limits");
    assert_eq!(app.get("/-/v1/search?text=a", Some(&ann)).await.status, StatusCode::OK);
    refused(&app.get("/-/v1/search?text=a", Some(&ann)).await, "1");

    // Only a site administrator with an admin token; a bad setting is a 400; nothing changes.
    let raise = json!({"rateLimits": "search=100/minute"});
    let r = app.call(Method::PUT, &path, Some(&ann), Some(raise.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = app.call(Method::PUT, &path, Some(&app.admin), Some(json!({"rateLimits": "search=lots"}))).await;
    assert_eq!(r.problem_type(), "validation-error", "{}", r.text);
    let r =
        app.call(Method::PUT, "/api/v1/tokens/no-such-token/rate-limits", Some(&app.admin), Some(raise.clone())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let listed = app.get("/api/v1/users/ann/tokens", Some(&app.admin)).await;
    assert!(listed.body["data"][0].get("rateLimits").is_none(), "{}", listed.text);
    assert_eq!(app.get("/api/v1/users/ann/tokens", Some(&ann)).await.status, StatusCode::FORBIDDEN);

    let r = app.call(Method::PUT, &path, Some(&app.admin), Some(raise)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["rateLimits"], "search=100/minute");
    let r = app.get("/-/v1/search?text=a", Some(&ann)).await;
    assert_eq!(r.status, StatusCode::OK, "the token's own budget applies at once: {}", r.text);
    assert_eq!(r.headers["ratelimit-limit"], "100");
    let listed = app.get("/api/v1/tokens", Some(&ann)).await;
    assert_eq!(listed.body["data"][0]["rateLimits"], "search=100/minute", "{}", listed.text);
    let audit = app.get("/api/v1/audit", Some(&app.admin)).await;
    assert!(audit.text.contains("token.rate-limits"), "{}", audit.text);

    // Back to the server's budget, which Ann spent.
    let r = app.call(Method::PUT, &path, Some(&app.admin), Some(json!({"rateLimits": null}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body.get("rateLimits").is_none(), "{}", r.text);
    refused(&app.get("/-/v1/search?text=a", Some(&ann)).await, "1");
}

/// Two processes' limiters on the machine's Redis spend from one budget.
#[tokio::test]
async fn limiters_sharing_redis_share_one_budget() {
    let url = std::env::var("SKILLDEX_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let host = url.trim_start_matches("redis://").rsplit('@').next().unwrap().split('/').next().unwrap().to_owned();
    if std::net::TcpStream::connect(&host).is_err() {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "Redis is required on CI");
        eprintln!("skipping: Redis unreachable");
        return;
    }
    use skilldex::ratelimit::{Class, RateLimiter};
    let prefix = format!("it-{:x}", rand::random::<u32>());
    let settings: skilldex::ratelimit::Settings = "publish=3/hour".parse().unwrap();
    let one = RateLimiter::new(settings.clone(), Some(&url), &prefix).unwrap();
    let two = RateLimiter::new(settings, Some(&url), &prefix).unwrap();
    let spend = |limiter: &std::sync::Arc<RateLimiter>, key: &'static str| {
        let limiter = limiter.clone();
        async move { limiter.check(Class::Publish, key, None).await.unwrap() }
    };
    assert_eq!(spend(&one, "t:1").await.remaining, 2);
    assert_eq!(spend(&two, "t:1").await.remaining, 1);
    assert_eq!(spend(&one, "t:1").await.remaining, 0);
    let refused = spend(&two, "t:1").await;
    assert!(!refused.allowed);
    // Twenty minutes for one publish's share of an hour to come back.
    assert!(refused.retry_after > std::time::Duration::from_secs(19 * 60), "{refused:?}");
    assert!(spend(&two, "t:2").await.allowed, "another token's budget");
    assert!(one.render_metrics().contains("skilldex_rate_limit_fallbacks_total 0"));
}

async fn mcp_batches_and_searches_pay_per_call(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann = app.user("ann", TokenScope::Read).await;
    let app = app.with_rate_limits("mcp=3/minute,search=2/minute");
    let call = |id: u32, query: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "search_skills", "arguments": {"query": query}}})
    };
    let post = |body: serde_json::Value| {
        Request::post("/mcp")
            .header("authorization", format!("Bearer {ann}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    // One request of three searches: two fit the search budget, the third is refused alone.
    let r = app.send(post(json!([call(1, "pdf"), call(2, "review"), call(3, "lint")]))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let answers = r.body.as_array().unwrap();
    assert!(answers[0]["result"].is_object() && answers[1]["result"].is_object(), "{}", r.text);
    assert_eq!(answers[2]["id"], 3);
    assert_eq!(answers[2]["error"]["code"], -32029, "{}", r.text);
    // The batch spent three MCP calls (one request, two more messages): the budget is gone.
    let r = app.send(post(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}))).await;
    refused(&r, "3");
    assert_eq!(r.body["error"]["code"], -32029);
}

/// A Redis that accepts connections and never answers (a silent socket) holds no request
/// longer than the time-out, and only one request waits for it per second.
#[tokio::test]
async fn a_silent_redis_holds_nothing_up() {
    use skilldex::ratelimit::{Class, RateLimiter};
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let limiter = RateLimiter::new("search=2/minute".parse().unwrap(), Some(&url), "it").unwrap();
    let started = std::time::Instant::now();
    let first = limiter.check(Class::Search, "u:1", None).await.unwrap();
    assert!(first.allowed, "fails open to this process's own budget");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    // Within the pause that follows, nobody waits for Redis, and the local budget holds.
    let started = std::time::Instant::now();
    assert!(limiter.check(Class::Search, "u:1", None).await.unwrap().allowed);
    assert!(!limiter.check(Class::Search, "u:1", None).await.unwrap().allowed);
    assert!(started.elapsed() < std::time::Duration::from_millis(100), "{:?}", started.elapsed());
    assert!(limiter.render_metrics().contains("skilldex_rate_limit_fallbacks_total 3"), "{}", limiter.render_metrics());
}
