//! The web catalog: pages show what their visitor may see and nothing else (pages, search,
//! suggestions, counts), README Markdown is rendered inert, every page carries a strict
//! Content-Security-Policy, assets are content-addressed, and failures are pages.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use skilldex::domain::TokenScope;

use crate::common::{Reply, TestApp, TestDb, on_both_backends};
use crate::skillsmgr::npm_document_with;

on_both_backends!(pages_show_only_what_the_visitor_may_see, readme_payloads_do_nothing_and_failures_are_pages);

/// A README that tries everything a page must not run.
const HOSTILE: &str = "# Tool\n\nUse it **well**.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n\
<img src=x onerror=alert(1)>\n\n<svg onload=alert(1)></svg>\n\n<a href=\"data:text/html,<b>x</b>\">d</a>\n\n\
<iframe src=\"https://evil.example\"></iframe>\n";

async fn page(app: &TestApp, path: &str, token: Option<&str>) -> Reply {
    let mut r = Request::get(path).header("accept", "text/html,application/xhtml+xml");
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    app.send(r.body(Body::empty()).unwrap()).await
}

/// A page: HTML, under the strict policy, with no inline script.
fn html(r: &Reply, status: StatusCode) -> &str {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers["x-frame-options"], "DENY");
    for tag in r.text.match_indices("<script").map(|(i, _)| &r.text[i..]) {
        let tag = &tag[..tag.find('>').unwrap()];
        assert!(tag.contains(" src=\"/assets/"), "only the embedded script runs: {tag}");
    }
    &r.text
}

async fn publish(app: &TestApp, token: &str, name: &str, version: &str, body: &str, access: &str) {
    let dir = tempfile::tempdir().unwrap();
    let doc = npm_document_with(dir.path(), name, version, body, access);
    let r = app.call(Method::PUT, &format!("/@acme%2f{name}"), Some(token), Some(doc)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

async fn pages_show_only_what_the_visitor_may_see(db: TestDb) {
    let app = TestApp::new(db).await.storing();
    let ann = app.user("ann", TokenScope::Admin).await;
    app.team("acme", &ann).await;
    let otto = app.user("otto", TokenScope::Read).await;
    publish(&app, &ann, "tool", "1.0.0", "Use it.\n", "public").await;
    publish(&app, &ann, "tool", "1.1.0", "Use it well.\n", "public").await;
    publish(&app, &ann, "secret-plan", "1.0.0", "Private.\n", "restricted").await;

    // Home: the public skill, never the private one, for anyone outside the team.
    for token in [None, Some(otto.as_str())] {
        let r = page(&app, "/", token).await;
        let body = html(&r, StatusCode::OK);
        assert!(body.contains("acme/tool") && !body.contains("secret-plan"), "{body}");
    }
    let r = page(&app, "/", Some(&ann)).await;
    assert!(html(&r, StatusCode::OK).contains("acme/secret-plan"), "members see their private skill");

    // Search and suggestions: the same rule.
    let r = page(&app, "/search?q=secret", None).await;
    assert!(!html(&r, StatusCode::OK).contains("secret-plan"));
    let r = page(&app, "/search?q=secret", Some(&ann)).await;
    assert!(html(&r, StatusCode::OK).contains("acme/secret-plan"));
    assert_eq!(app.get("/search/suggest?q=secret", None).await.body, serde_json::json!([]));
    assert_eq!(app.get("/search/suggest?q=secret", Some(&ann)).await.body, serde_json::json!(["acme/secret-plan"]));
    let r = page(&app, "/search?namespace=acme&kind=skill&sort=name", None).await;
    assert!(html(&r, StatusCode::OK).contains("acme/tool"));

    // A private skill's page is the same 404 as a skill that does not exist.
    let hidden = page(&app, "/skills/acme/secret-plan", Some(&otto)).await;
    let absent = page(&app, "/skills/acme/no-such-skill", Some(&otto)).await;
    html(&hidden, StatusCode::NOT_FOUND);
    assert_eq!(hidden.text, absent.text);
    html(&page(&app, "/skills/acme/secret-plan", Some(&ann)).await, StatusCode::OK);

    // The skill page: facts, versions, and install snippets that name this server.
    let r = page(&app, "/skills/acme/tool", None).await;
    let body = html(&r, StatusCode::OK);
    for expected in [
        "skilldex install acme/tool@1.1.0",
        "npm install @acme/tool@1.1.0 --registry http://skilldex.test/",
        "thv skill install skilldex.test/acme/tool@sha256:",
        "reference: skilldex.test/acme/tool@sha256:",
        "http://skilldex.test/mcp",
        "<dd>MIT</dd>",
        "1.0.0",
    ] {
        assert!(body.contains(expected), "{expected} missing: {body}");
    }
    // The diff between the two versions, line by line.
    let r = page(&app, "/skills/acme/tool/diff?from=1.0.0&to=1.1.0", None).await;
    let body = html(&r, StatusCode::OK);
    assert!(
        body.contains("<span class=\"add\">+Use it well.") && body.contains("<span class=\"del\">-Use it."),
        "{body}"
    );
    html(&page(&app, "/skills/acme/secret-plan/diff?from=1.0.0&to=1.0.0", Some(&otto)).await, StatusCode::NOT_FOUND);

    // The namespace page: members and roles for members only.
    let r = page(&app, "/teams/acme", None).await;
    let body = html(&r, StatusCode::OK);
    assert!(body.contains("acme/tool") && !body.contains("secret-plan") && !body.contains("Members"), "{body}");
    let r = page(&app, "/teams/acme", Some(&ann)).await;
    let body = html(&r, StatusCode::OK);
    assert!(body.contains("Members") && body.contains("<td>ann</td><td>owner</td>"), "{body}");

    // Assets: named by their content, kept for a year; any other name is a 404.
    let home = page(&app, "/", None).await.text;
    let css = home.split("href=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(css.starts_with("/assets/app.") && css.ends_with(".css"), "{css}");
    let r = app.get(&css, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["cache-control"], "public, max-age=31536000, immutable");
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/css"));
    assert_eq!(page(&app, "/assets/app.0000.css", None).await.status, StatusCode::NOT_FOUND);
}

async fn readme_payloads_do_nothing_and_failures_are_pages(db: TestDb) {
    let app = TestApp::new(db).await.storing();
    let ann = app.user("ann", TokenScope::Admin).await;
    app.team("acme", &ann).await;
    publish(&app, &ann, "tool", "1.0.0", HOSTILE, "public").await;
    let r = page(&app, "/skills/acme/tool", None).await;
    let body = html(&r, StatusCode::OK).to_ascii_lowercase();
    assert!(body.contains("<strong>well</strong>"), "Markdown is rendered: {body}");
    for bad in ["alert(1)</script>", "onerror", "onload", "javascript:", "<svg", "<iframe", "data:text/html"] {
        assert!(!body.contains(bad), "{bad} survived: {body}");
    }

    // Failures are pages in the right status; API clients keep their problem documents.
    html(&page(&app, "/no/such/page", None).await, StatusCode::NOT_FOUND);
    let api = app.get("/no/such/page", None).await;
    assert_eq!(api.problem_type(), "not-found");
    html(&page(&app, "/", Some("sdx_forged")).await, StatusCode::UNAUTHORIZED);
    let r = page(&app, "/search?kind=nonsense", None).await;
    assert!(!html(&r, StatusCode::BAD_REQUEST).contains("panicked"));
    html(&page(&app, "/skills/acme/tool/diff?from=1.0.0&to=9.9.9", None).await, StatusCode::NOT_FOUND);
    html(&page(&app, "/skills/Bad%20Name/x", None).await, StatusCode::BAD_REQUEST);
}
