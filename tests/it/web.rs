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
        "skilldex install --server http://skilldex.test acme/tool@1.1.0",
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
    // Ann owns it with an admin token: her role is in the form that changes it.
    assert!(body.contains("Members") && body.contains("<td>ann</td>"), "{body}");
    assert!(body.contains("<option selected>owner</option>"), "{body}");

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
    assert!(html(&r, StatusCode::BAD_REQUEST).contains("nonsense"), "says what was wrong: {}", r.text);
    html(&page(&app, "/skills/acme/tool/diff?from=1.0.0&to=9.9.9", None).await, StatusCode::NOT_FOUND);
    html(&page(&app, "/skills/Bad%20Name/x", None).await, StatusCode::BAD_REQUEST);
}

/// A browser's request: cookies, and form fields when there is a body.
async fn browser(app: &TestApp, method: Method, path: &str, cookies: &str, form: Option<&[(&str, &str)]>) -> Reply {
    let mut r = Request::builder().method(method).uri(path).header("accept", "text/html");
    if !cookies.is_empty() {
        r = r.header("cookie", cookies);
    }
    let body = match form {
        Some(fields) => {
            r = r.header("content-type", "application/x-www-form-urlencoded");
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields {
                s.append_pair(k, v);
            }
            Body::from(s.finish())
        }
        None => Body::empty(),
    };
    app.send(r.body(body).unwrap()).await
}

/// The value a response sets for a cookie.
fn set_cookie(r: &Reply, name: &str) -> Option<String> {
    r.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let (pair, _) = c.split_once(';').unwrap_or((c, ""));
        pair.strip_prefix(&format!("{name}=")).map(str::to_owned)
    })
}

/// A hidden form field's value in a page.
fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} field: {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// Signs in with `token`; the session cookie.
async fn sign_in(app: &TestApp, token: &str) -> String {
    let form = browser(app, Method::GET, "/signin", "", None).await;
    let pre = set_cookie(&form, "skilldex_signin").unwrap();
    let form_token = field(&form.text, "form_token");
    let cookies = format!("skilldex_signin={pre}");
    let r =
        browser(app, Method::POST, "/signin", &cookies, Some(&[("token", token), ("form_token", &form_token)])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.headers["location"], "/settings");
    let set = r.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert!(
        set.iter().any(|c| c.starts_with("skilldex_session=") && c.contains("HttpOnly") && c.contains("SameSite=Lax")),
        "{set:?}"
    );
    format!("skilldex_session={}", set_cookie(&r, "skilldex_session").unwrap())
}

on_both_backends!(a_browser_session_signs_in_acts_and_ends);

async fn a_browser_session_signs_in_acts_and_ends(db: TestDb) {
    let app = TestApp::new(db).await.storing();
    let ann = app.user("ann", TokenScope::Write).await;
    let owner = app.user("owner", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    publish(&app, &owner, "tool", "1.0.0", "Use it.\n", "public").await;

    // Refused sign-ins: without the form's cookie (login forgery), a bad token, an agent token.
    let r = browser(&app, Method::POST, "/signin", "", Some(&[("token", &ann), ("form_token", "x")])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "skilldex_session").is_none());
    let form = browser(&app, Method::GET, "/signin", "", None).await;
    let pre = format!("skilldex_signin={}", set_cookie(&form, "skilldex_signin").unwrap());
    let ft = field(&form.text, "form_token");
    let r = browser(&app, Method::POST, "/signin", &pre, Some(&[("token", "sdx_forged"), ("form_token", &ft)])).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Another browser's form token (the attacker's own page) does not match this cookie.
    let other = field(&browser(&app, Method::GET, "/signin", "", None).await.text, "form_token");
    let r = browser(&app, Method::POST, "/signin", &pre, Some(&[("token", &ann), ("form_token", &other)])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "skilldex_session").is_none());
    let agent = app.call(
        Method::POST,
        "/api/v1/tokens",
        Some(&ann),
        Some(serde_json::json!({"name": "a", "kind": "agent-bridge"})),
    );
    let agent = agent.await.body["token"].as_str().unwrap().to_owned();
    let r = browser(&app, Method::POST, "/signin", &pre, Some(&[("token", &agent), ("form_token", &ft)])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    let session = sign_in(&app, &ann).await;
    let settings = browser(&app, Method::GET, "/settings", &session, None).await;
    let body = html(&settings, StatusCode::OK);
    assert!(body.contains("<h1>ann</h1>") && body.contains("Sign out"), "{body}");
    let csrf = field(body, "csrf");
    // The cookie is for pages only: the API never takes it as a sign-in.
    let api = Request::get("/api/v1/me").header("cookie", &session).body(Body::empty()).unwrap();
    assert_eq!(app.send(api).await.status, StatusCode::UNAUTHORIZED);

    // A form without the session's form token, or from another site, changes nothing.
    let before = app.get("/api/v1/tokens", Some(&ann)).await.body["data"].as_array().unwrap().len();
    let new = [("name", "laptop"), ("kind", "standard"), ("scope", "read"), ("expires_days", "30")];
    let r = browser(&app, Method::POST, "/settings/tokens", &session, Some(&new)).await;
    html(&r, StatusCode::FORBIDDEN);
    let forged = Request::post("/settings/tokens")
        .header("cookie", &session)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={csrf}&name=evil&scope=read")))
        .unwrap();
    html(&app.send(forged).await, StatusCode::FORBIDDEN);
    let r = browser(&app, Method::POST, "/settings/tokens", "", Some(&new)).await;
    html(&r, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/tokens", Some(&ann)).await.body["data"].as_array().unwrap().len(), before);

    // With it: the token is shown once, never cached, and works. A browser's own Origin
    // (the public URL, or the host it addressed) is this site.
    let mut with_csrf = new.to_vec();
    with_csrf.push(("csrf", &csrf));
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &with_csrf {
        encoded.append_pair(k, v);
    }
    let encoded = encoded.finish();
    for (origin, host) in [("http://skilldex.test", "skilldex.test"), ("http://localhost:8080", "localhost:8080")] {
        let same_site = Request::post("/settings/tokens")
            .header("cookie", &session)
            .header("origin", origin)
            .header("host", host)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(encoded.clone()))
            .unwrap();
        html(&app.send(same_site).await, StatusCode::CREATED);
    }
    let r = browser(&app, Method::POST, "/settings/tokens", &session, Some(&with_csrf)).await;
    let body = html(&r, StatusCode::CREATED);
    assert_eq!(r.headers["cache-control"], "no-store");
    let secret = body.split("<pre id=\"secret\" tabindex=\"0\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert!(body.contains("Copy for your agent") && body.contains("/mcp"), "{body}");
    assert_eq!(app.get("/api/v1/me", Some(&secret)).await.status, StatusCode::OK);
    // Only up to the session's own scope.
    let mut admin = with_csrf.clone();
    admin[2] = ("scope", "admin");
    html(&browser(&app, Method::POST, "/settings/tokens", &session, Some(&admin)).await, StatusCode::FORBIDDEN);

    // Stars.
    let r =
        browser(&app, Method::POST, "/skills/acme/tool/star", &session, Some(&[("csrf", &csrf), ("starred", "true")]))
            .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let page = browser(&app, Method::GET, "/skills/acme/tool", &session, None).await;
    assert!(html(&page, StatusCode::OK).contains("★ Starred") && page.text.contains("1 stars"), "{}", page.text);

    // Revoking the token the session stands for ends the session.
    let second = sign_in(&app, &secret).await;
    assert_eq!(browser(&app, Method::GET, "/settings", &second, None).await.status, StatusCode::OK);
    let listed = app.get("/api/v1/tokens", Some(&ann)).await.body;
    let laptop: Vec<&serde_json::Value> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "laptop" && t["revokedAt"].is_null())
        .collect();
    assert_eq!(laptop.len(), 3, "{listed}");
    // The newest: the one the second session stands for.
    let id = laptop.iter().map(|t| t["id"].as_str().unwrap()).max_by_key(|id| {
        let created = laptop.iter().find(|t| t["id"] == *id).unwrap()["createdAt"].as_str().unwrap().to_owned();
        (created, id.to_string())
    });
    let id = id.unwrap().to_owned();
    let r =
        browser(&app, Method::POST, &format!("/settings/tokens/{id}/revoke"), &session, Some(&[("csrf", &csrf)])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = browser(&app, Method::GET, "/settings", &second, None).await;
    assert_eq!((r.status, r.headers["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/signin"));

    // Signing out ends the session for good, even if the cookie is replayed.
    let r = browser(&app, Method::POST, "/signout", &session, Some(&[("csrf", &csrf)])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(set_cookie(&r, "skilldex_session").as_deref(), Some(""));
    let r = browser(&app, Method::GET, "/settings", &session, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

on_both_backends!(a_session_ends_with_its_token_and_spends_the_persons_budget);

async fn a_session_ends_with_its_token_and_spends_the_persons_budget(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann = app.user("ann", TokenScope::Write).await;
    // A token that expires in two seconds: its session ends with it.
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let body = serde_json::json!({"name": "brief", "scope": "read", "expiresAt": expires});
    let brief = app.call(Method::POST, "/api/v1/tokens", Some(&ann), Some(body)).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = sign_in(&app, &brief).await;
    assert_eq!(browser(&app, Method::GET, "/settings", &session, None).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = browser(&app, Method::GET, "/settings", &session, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the expired token's session is over");

    // A signed-in browser spends its person's budget, shared with their API tokens.
    let session = sign_in(&app, &ann).await;
    let app = app.with_rate_limits("search=2/minute");
    for _ in 0..2 {
        let r = browser(&app, Method::GET, "/search?q=tool", &session, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let r = app.get("/-/v1/search?text=tool", Some(&ann)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let r = browser(&app, Method::GET, "/search?q=tool", &session, None).await;
    html(&r, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
}

on_both_backends!(owners_manage_members_and_administrators_see_users_and_the_audit_log);

async fn owners_manage_members_and_administrators_see_users_and_the_audit_log(db: TestDb) {
    let app = TestApp::new(db).await;
    let owner = app.user("olga", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    let pete = app.user("pete", TokenScope::Admin).await;
    app.member("acme", "pete", "publisher").await;
    let owner_session = sign_in(&app, &owner).await;
    let pete_session = sign_in(&app, &pete).await;

    // A publisher sees the members but cannot change them, not even by posting the form.
    let r = browser(&app, Method::GET, "/teams/acme", &pete_session, None).await;
    let body = html(&r, StatusCode::OK);
    assert!(body.contains("<td>pete</td>") && !body.contains("/members/remove"), "{body}");
    let csrf = field(body, "csrf");
    let r = browser(
        &app,
        Method::POST,
        "/teams/acme/members",
        &pete_session,
        Some(&[("csrf", &csrf), ("username", "pete"), ("role", "owner")]),
    )
    .await;
    html(&r, StatusCode::FORBIDDEN);

    // The owner changes Pete's role from the page.
    let r = browser(&app, Method::GET, "/teams/acme", &owner_session, None).await;
    let body = html(&r, StatusCode::OK);
    assert!(body.contains("/members/remove") && body.contains("Add a member"), "{body}");
    let csrf = field(body, "csrf");
    let r = browser(
        &app,
        Method::POST,
        "/teams/acme/members",
        &owner_session,
        Some(&[("username", "pete"), ("role", "reader")]),
    )
    .await;
    html(&r, StatusCode::FORBIDDEN);
    let r = browser(
        &app,
        Method::POST,
        "/teams/acme/members",
        &owner_session,
        Some(&[("csrf", &csrf), ("username", "pete"), ("role", "reader")]),
    )
    .await;
    assert_eq!((r.status, r.headers["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/teams/acme"));
    let team = app.get("/api/v1/teams/acme", Some(&owner)).await;
    let pete_role =
        team.body["members"].as_array().unwrap().iter().find(|m| m["username"] == "pete").unwrap()["role"].clone();
    assert_eq!(pete_role, "reader", "{}", team.text);

    // Site administrators' pages: for them only.
    let admin_session = sign_in(&app, &app.admin).await;
    let r = browser(&app, Method::GET, "/admin/users", &admin_session, None).await;
    let body = html(&r, StatusCode::OK);
    assert!(body.contains("<td>olga</td>") && body.contains("<td>pete</td>"), "{body}");
    let r = browser(&app, Method::GET, "/admin/audit", &admin_session, None).await;
    assert!(html(&r, StatusCode::OK).contains("team.member"), "{}", r.text);
    html(&browser(&app, Method::GET, "/admin/users", &owner_session, None).await, StatusCode::FORBIDDEN);
    html(&browser(&app, Method::GET, "/admin/audit", "", None).await, StatusCode::UNAUTHORIZED);
}

on_both_backends!(ended_sessions_are_forgotten_and_a_diff_without_versions_is_a_page);

async fn ended_sessions_are_forgotten_and_a_diff_without_versions_is_a_page(db: TestDb) {
    let app = TestApp::new(db).await.storing();
    let ann = app.user("ann", TokenScope::Admin).await;
    app.team("acme", &ann).await;
    publish(&app, &ann, "tool", "1.0.0", "Use it.\n", "public").await;
    html(&page(&app, "/skills/acme/tool/diff", None).await, StatusCode::BAD_REQUEST);

    // A form body that cannot be read is an error page, not the framework's text.
    let live = sign_in(&app, &ann).await;
    let r = browser(&app, Method::POST, "/teams/acme/members", &live, Some(&[("role", "reader")])).await;
    assert!(html(&r, StatusCode::BAD_REQUEST).contains("could not be read"), "{}", r.text);

    let ended = sign_in(&app, &ann).await;
    let csrf = field(&browser(&app, Method::GET, "/settings", &ended, None).await.text, "csrf");
    assert_eq!(
        browser(&app, Method::POST, "/signout", &ended, Some(&[("csrf", &csrf)])).await.status,
        StatusCode::SEE_OTHER
    );
    // Nothing has ended a day ago yet: nothing is forgotten, and the live session stays.
    assert_eq!(app.index.purge_sessions().await.unwrap(), 0);
    // A session whose token was revoked is forgotten with the ended ones.
    let body = serde_json::json!({"name": "short", "scope": "read"});
    let short = app.call(Method::POST, "/api/v1/tokens", Some(&ann), Some(body)).await.body;
    let revoked = sign_in(&app, short["token"].as_str().unwrap()).await;
    let id = short["id"].as_str().unwrap();
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&ann), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(browser(&app, Method::GET, "/settings", &revoked, None).await.status, StatusCode::SEE_OTHER);
    let tomorrow = skilldex::domain::now_millis() + 2 * 24 * 3600 * 1000;
    assert_eq!(app.store().purge_sessions(tomorrow).await.unwrap(), 2, "the signed-out one and the revoked token's");
    let later = skilldex::domain::now_millis() + 8 * 24 * 3600 * 1000;
    assert_eq!(app.store().purge_sessions(later).await.unwrap(), 1, "the live one, once it expired");
    assert_eq!(browser(&app, Method::GET, "/settings", &live, None).await.status, StatusCode::SEE_OTHER);
}

on_both_backends!(sign_in_through_a_provider_refuses_what_it_cannot_trust);

/// skill-pool's SSO settings of team `acme`, as `token`.
async fn sso_call(app: &TestApp, method: Method, token: Option<String>, body: Option<serde_json::Value>) -> Reply {
    let mut req = Request::builder().method(method).uri("/v1/tenant/sso/oidc").header("x-skill-pool-tenant", "acme");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    };
    app.send(req.unwrap()).await
}

/// Without an identity provider in the loop (the browser test has a real one): what the
/// sign-in endpoints and the SSO settings refuse, and that a refusal stores nothing.
async fn sign_in_through_a_provider_refuses_what_it_cannot_trust(db: TestDb) {
    let app = TestApp::new(db).await;
    let owner = app.user("olga", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    let reader = app.user("rita", TokenScope::Admin).await;
    app.member("acme", "rita", "reader").await;
    let good = serde_json::json!({"issuer": "https://id.example.com", "client_id": "c", "client_secret": "s", "default_role": "publisher"});

    // Teams' own providers are off unless the operator turns them on.
    let r = sso_call(&app, Method::PUT, Some(owner.clone()), Some(good.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().contains("--team-sign-in"), "{}", r.text);
    assert!(!html(&browser(&app, Method::GET, "/signin", "", None).await, StatusCode::OK).contains("/signin/team"));
    let app = app.with_index(|index| {
        index.with_sign_in(skilldex::service::signin::SignInConfig { team_providers: true, ..Default::default() })
    });

    // A sign-in only starts from this site's own form, in this browser.
    let form = browser(&app, Method::GET, "/signin", "", None).await;
    let body = html(&form, StatusCode::OK);
    assert!(body.contains("/signin/team") && !body.contains("/signin/oidc"), "a team form, no site provider: {body}");
    let cookies = format!("skilldex_signin={}", set_cookie(&form, "skilldex_signin").unwrap());
    let form_token = field(body, "form_token");
    for (path, fields) in
        [("/signin/oidc", vec![]), ("/signin/team", vec![("namespace", "acme")]), ("/v1/auth/oidc/acme/start", vec![])]
    {
        let r = browser(&app, Method::POST, path, &cookies, Some(&fields)).await;
        assert!(
            html(&r, StatusCode::FORBIDDEN).contains("The form expired"),
            "{path} without the form token: {}",
            r.text
        );
    }
    // A token of the right length but wrong, the right one without its cookie, or the right
    // pair posted from another site's page: refused the same way.
    let wrong = "0".repeat(form_token.len());
    for (cookies, token, origin) in [
        (cookies.as_str(), wrong.as_str(), None),
        ("", form_token.as_str(), None),
        (cookies.as_str(), form_token.as_str(), Some("https://evil.example")),
    ] {
        let body = format!("form_token={token}");
        let mut req = Request::post("/signin/oidc").header("content-type", "application/x-www-form-urlencoded");
        if !cookies.is_empty() {
            req = req.header("cookie", cookies);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = app.send(req.body(Body::from(body)).unwrap()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{cookies} {origin:?}: {}", r.text);
    }
    // With it: no site provider, and no provider for the team yet.
    let ft = form_token.as_str();
    let r = browser(&app, Method::POST, "/signin/oidc", &cookies, Some(&[("form_token", ft)])).await;
    assert!(html(&r, StatusCode::NOT_FOUND).contains("no sign-in provider"), "{}", r.text);
    let r =
        browser(&app, Method::POST, "/signin/team", &cookies, Some(&[("namespace", "acme"), ("form_token", ft)])).await;
    assert!(html(&r, StatusCode::NOT_FOUND).contains("`acme` has no sign-in provider"), "{}", r.text);
    let r =
        browser(&app, Method::POST, "/signin/team", &cookies, Some(&[("namespace", "../admin"), ("form_token", ft)]))
            .await;
    html(&r, StatusCode::BAD_REQUEST);
    // skill-pool's start link shows the sign-in page for that team; it starts nothing.
    let r = browser(&app, Method::GET, "/v1/auth/oidc/acme/start", "", None).await;
    assert!(html(&r, StatusCode::OK).contains("name=\"namespace\" type=\"text\" autocomplete=\"organization\" placeholder=\"team namespace\" required size=\"32\" value=\"acme\""), "{}", r.text);

    // A callback that is not the end of a sign-in this browser began is refused, and leaves
    // the flow this browser has under way alone (another site cannot cut it short, not even
    // with an error); the answer to its own flow, without a code, ends that flow.
    let pending = "skilldex_oidc=st4te.n0nce.ver1fier.acme";
    for (path, cookies, ends_the_flow) in [
        ("/v1/auth/oidc/acme/callback?code=c&state=st4te", "", false),
        ("/v1/auth/oidc/acme/callback?code=c&state=other", pending, false),
        ("/v1/auth/oidc/acme/callback?error=access_denied&state=other", pending, false),
        ("/signin/oidc/callback?code=c&state=st4te", pending, false),
        ("/v1/auth/oidc/acme/callback?state=st4te", pending, true),
    ] {
        let r = browser(&app, Method::GET, path, cookies, None).await;
        assert!(html(&r, StatusCode::BAD_REQUEST).contains("began in another browser"), "{path}: {}", r.text);
        let cleared = set_cookie(&r, "skilldex_oidc").as_deref() == Some("");
        assert_eq!(cleared, ends_the_flow, "{path}");
        assert!(set_cookie(&r, "skilldex_session").is_none(), "{path}");
    }
    // The provider's refusal is shown, as text.
    let r =
        browser(&app, Method::GET, "/v1/auth/oidc/acme/callback?error=%3Cscript%3Ex&state=st4te", pending, None).await;
    let body = html(&r, StatusCode::UNAUTHORIZED);
    assert!(body.contains("did not sign you in (&#60;script&#62;x)") && !body.contains("<script>x"), "{body}");

    // The SSO settings: owners only, with an admin token; bad settings store nothing.
    let sso = |method, token, body| sso_call(&app, method, token, body);
    assert_eq!(sso(Method::GET, None, None).await.status, StatusCode::UNAUTHORIZED);
    let r = sso(Method::PUT, Some(reader.clone()), Some(good.clone())).await;
    assert_eq!((r.status, r.body["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{}", r.text);
    let write = app.token_for("olga", TokenScope::Write).await;
    assert_eq!(sso(Method::GET, Some(write), None).await.status, StatusCode::FORBIDDEN, "owners need an admin token");
    for (bad, why) in [
        (
            serde_json::json!({"issuer": "https://id.example.com", "client_id": "c", "client_secret": "s", "default_role": "king"}),
            "unknown default_role",
        ),
        (
            serde_json::json!({"issuer": "https://id.example.com", "client_id": "c", "default_role": "publisher"}),
            "client_secret is required",
        ),
        (
            serde_json::json!({"issuer": "ftp://id.example.com", "client_id": "c", "client_secret": "s", "default_role": "reader"}),
            "https URL",
        ),
        (
            serde_json::json!({"issuer": "https://id.example.com", "client_id": "", "client_secret": "s", "default_role": "reader"}),
            "client_id is required",
        ),
        (
            serde_json::json!({"issuer": "http://127.0.0.1:9/", "client_id": "c", "client_secret": "s", "default_role": "reader"}),
            "--allow-oidc-issuer",
        ),
        (
            serde_json::json!({"issuer": "https://id.example.com", "client_id": "c", "client_secret": "s", "default_role": "reader", "admin": true}),
            "unknown field",
        ),
    ] {
        let r = sso(Method::PUT, Some(owner.clone()), Some(bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{why}: {}", r.text);
        assert!(r.body["message"].as_str().unwrap().contains(why), "{why}: {}", r.text);
    }
    let r = sso(Method::GET, Some(owner.clone()), None).await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, serde_json::Value::Null), "nothing stored");
    assert_eq!(sso(Method::DELETE, Some(owner.clone()), None).await.status, StatusCode::NO_CONTENT);

    // skill-pool's sign-out: refused from another site's page, the session going on.
    let session = sign_in(&app, &reader).await;
    let req = Request::post("/v1/auth/logout").header("cookie", &session).header("origin", "https://evil.example");
    html(&app.send(req.body(Body::empty()).unwrap()).await, StatusCode::FORBIDDEN);
    html(&browser(&app, Method::GET, "/settings", &session, None).await, StatusCode::OK);
    let r = app.send(Request::post("/v1/auth/logout").header("cookie", &session).body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = browser(&app, Method::GET, "/settings", &session, None).await;
    assert_eq!((r.status, r.headers["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/signin"));
}

on_both_backends!(the_theme_is_checked_stored_and_worn_by_every_page);

/// skill-pool's theme API: site administrators only; colours that fail WCAG AA, images that
/// are not what they claim, or too large, change nothing; pages and `/theme.css` wear it.
async fn the_theme_is_checked_stored_and_worn_by_every_page(db: TestDb) {
    let app = TestApp::new(db).await;
    let olga = app.user("olga", TokenScope::Admin).await;
    let admin = app.admin.clone();
    let send = |method: Method, path: &str, token: Option<&str>, content_type: &str, body: Vec<u8>| {
        let mut req = Request::builder().method(method).uri(path).header("content-type", content_type);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        app.send(req.body(Body::from(body)).unwrap())
    };
    let json = |v: serde_json::Value| v.to_string().into_bytes();
    let theme = serde_json::json!({
        "brand_name": "Acme", "primary": "#1d4ed8", "primary_fg": "#ffffff", "accent": "#1d4ed8", "bg": "#ffffff",
        "fg": "#111827", "muted": "#f3f4f6", "muted_fg": "#4b5563", "border": "#e5e7eb", "radius": "4px",
    });

    // Anyone reads the default; only site administrators change it.
    let r = send(Method::GET, "/v1/theme", None, "", vec![]).await;
    assert_eq!((r.status, r.body["brand_name"].as_str()), (StatusCode::OK, Some("skilldex")), "{}", r.text);
    assert_eq!(
        send(Method::PUT, "/v1/theme", None, "application/json", json(theme.clone())).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(Method::PUT, "/v1/theme", Some(&olga), "application/json", json(theme.clone())).await.status,
        StatusCode::FORBIDDEN
    );
    for (field, value, why) in [
        ("fg", "#cccccc", "body text"),
        ("primary_fg", "#2563eb", "button text"),
        ("bg", "white", "hex colour"),
        ("radius", "1px;}body{display:none", "radius"),
        ("font_family", "Comic Sans", "allowlist"),
        ("brand_name", "", "brand_name"),
    ] {
        let mut bad = theme.clone();
        bad[field] = serde_json::json!(value);
        let r = send(Method::PUT, "/v1/theme", Some(&admin), "application/json", json(bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text);
        assert!(r.body["message"].as_str().unwrap().contains(why), "{field}: {}", r.text);
    }
    assert_eq!(send(Method::GET, "/v1/theme", None, "", vec![]).await.body["brand_name"], "skilldex", "nothing stored");
    html(&page(&app, "/", None).await, StatusCode::OK);
    assert!(!page(&app, "/", None).await.text.contains("/theme.css"), "no theme, no theme stylesheet");

    let r = send(Method::PUT, "/v1/theme", Some(&admin), "application/json", json(theme.clone())).await;
    assert_eq!((r.status, r.body["brand_name"].as_str()), (StatusCode::OK, Some("Acme")), "{}", r.text);
    let home = page(&app, "/", None).await;
    let body = html(&home, StatusCode::OK);
    assert!(body.contains("· Acme</title>"), "{body}");
    let css_path = body
        .split("href=\"/theme.css?v=")
        .nth(1)
        .map(|rest| format!("/theme.css?v={}", rest.split('"').next().unwrap()));
    let css = app.get(&css_path.expect("the page links the theme"), None).await;
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert!(css.text.contains("--bg: #ffffff;") && css.text.contains("--button: #1d4ed8;"), "{}", css.text);

    // Images: one `file` part, checked by what it is.
    let upload = |path: &'static str, token: Option<String>, content_type: &'static str, data: Vec<u8>| {
        let boundary = "b0undary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        send(Method::POST, path, token.as_deref(), "multipart/form-data; boundary=b0undary", body)
    };
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    assert_eq!(
        upload("/v1/theme/logo", Some(olga.clone()), "image/png", png.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        upload("/v1/theme/logo", Some(admin.clone()), "image/png", b"GIF89a".to_vec()).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        upload("/v1/theme/logo", Some(admin.clone()), "text/html", b"<svg/>".to_vec()).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        upload("/v1/theme/favicon", Some(admin.clone()), "image/png", vec![0; 65 << 10]).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(app.get("/v1/theme/logo", None).await.status, StatusCode::NOT_FOUND, "nothing stored");
    assert_eq!(app.get("/v1/theme/favicon", None).await.status, StatusCode::NOT_FOUND);
    let r = upload("/v1/theme/logo", Some(admin.clone()), "image/png", png.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // A site without a favicon shows its logo there.
    for path in ["/v1/theme/logo", "/v1/theme/favicon"] {
        let r = app.get(path, None).await;
        assert_eq!((r.status, r.headers["content-type"].to_str().unwrap()), (StatusCode::OK, "image/png"), "{path}");
        assert_eq!(r.headers["cache-control"], "public, max-age=300");
        assert!(r.headers["content-security-policy"].to_str().unwrap().contains("sandbox"));
    }
    assert_eq!(send(Method::GET, "/v1/theme", None, "", vec![]).await.body["logo_uri"], "/v1/theme/logo");
    let body = page(&app, "/signin", None).await.text;
    assert!(
        body.contains("<img src=\"/v1/theme/logo?v=") && body.contains("rel=\"icon\" href=\"/v1/theme/favicon?v="),
        "{body}"
    );
    assert_eq!(send(Method::DELETE, "/v1/theme/logo", Some(&olga), "", vec![]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(send(Method::DELETE, "/v1/theme/logo", Some(&admin), "", vec![]).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/theme/logo", None).await.status, StatusCode::NOT_FOUND);
    let fonts = app.get("/v1/theme/fonts", None).await;
    assert_eq!(fonts.body["allowed"].as_array().map(Vec::len), Some(12));
}

on_both_backends!(reviews_wishes_and_drafts_have_pages);

/// Reviews on a skill's page, the wishes board and a team's drafts inbox: each form is the
/// service call the API makes, with the visitor's rights and the session's form token.
async fn reviews_wishes_and_drafts_have_pages(db: TestDb) {
    let app = TestApp::new(db).await.storing();
    let owner = app.user("olga", TokenScope::Admin).await;
    app.team("acme", &owner).await;
    publish(&app, &owner, "tool", "1.0.0", "A tool.", "public").await;
    let ben = app.user("ben", TokenScope::Write).await;
    let ben_session = sign_in(&app, &ben).await;
    let olga_session = sign_in(&app, &owner).await;
    let csrf_of = |page: &str| field(page, "csrf");

    // A review: posted from the skill's page, shown there; not by the skill's own team.
    let page = browser(&app, Method::GET, "/skills/acme/tool", &ben_session, None).await;
    let csrf = csrf_of(html(&page, StatusCode::OK));
    assert!(page.text.contains("No reviews yet."));
    let fields = [("csrf", csrf.as_str()), ("rating", "grande"), ("body", "Saved me an afternoon <b>really</b>.")];
    let r = browser(&app, Method::POST, "/skills/acme/tool/reviews", &ben_session, Some(&fields)).await;
    assert_eq!(
        (r.status, r.headers["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/skills/acme/tool#reviews")
    );
    let page = browser(&app, Method::GET, "/skills/acme/tool", "", None).await;
    let body = html(&page, StatusCode::OK);
    assert!(
        body.contains("<strong>ben</strong>") && body.contains("Saved me an afternoon &#60;b&#62;really"),
        "{body}"
    );
    let forged = [("csrf", "nope"), ("rating", "regular"), ("body", "forged review text")];
    html(
        &browser(&app, Method::POST, "/skills/acme/tool/reviews", &ben_session, Some(&forged)).await,
        StatusCode::FORBIDDEN,
    );
    let page = browser(&app, Method::GET, "/skills/acme/tool", &olga_session, None).await;
    let own = [("csrf", csrf_of(&page.text)), ("rating", "grande".into()), ("body", "My own tool is great".into())];
    let own: Vec<(&str, &str)> = own.iter().map(|(k, v)| (*k, v.as_str())).collect();
    html(
        &browser(&app, Method::POST, "/skills/acme/tool/reviews", &olga_session, Some(&own)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    let body = browser(&app, Method::GET, "/skills/acme/tool", "", None).await.text;
    assert!(!body.contains("forged review") && !body.contains("My own tool"), "{body}");

    // A wish: the board shows it to everyone; the form needs a session.
    let board = browser(&app, Method::GET, "/wishes", &ben_session, None).await;
    let csrf = csrf_of(html(&board, StatusCode::OK));
    let wish = [
        ("csrf", csrf.as_str()),
        ("title", "Terraform plan reviewer"),
        ("body", "Reads a plan and flags risky changes."),
        ("tags", "terraform, iac"),
        ("namespace", ""),
    ];
    let r = browser(&app, Method::POST, "/wishes", &ben_session, Some(&wish)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let board = browser(&app, Method::GET, "/wishes", "", None).await;
    let body = html(&board, StatusCode::OK);
    assert!(
        body.contains("Terraform plan reviewer")
            && body.contains("by ben")
            && body.contains("<span class=\"tag\">iac</span>"),
        "{body}"
    );
    assert!(body.contains("Sign in</a> to make a wish"), "{body}");
    let short = [("csrf", csrf.as_str()), ("title", "tf"), ("body", "too short")];
    html(&browser(&app, Method::POST, "/wishes", &ben_session, Some(&short)).await, StatusCode::BAD_REQUEST);
    html(&browser(&app, Method::POST, "/wishes", "", Some(&wish)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(browser(&app, Method::GET, "/wishes", "", None).await.text.matches("class=\"wish\"").count(), 1);
    // A wish for one team: its author and the team see it; nobody else does.
    let for_acme = [
        ("csrf", csrf.as_str()),
        ("title", "Internal deploy checklist"),
        ("body", "Our release steps, as a skill."),
        ("namespace", "acme"),
    ];
    assert_eq!(
        browser(&app, Method::POST, "/wishes", &ben_session, Some(&for_acme)).await.status,
        StatusCode::SEE_OTHER
    );
    assert!(
        browser(&app, Method::GET, "/wishes", &olga_session, None).await.text.contains("Internal deploy checklist")
    );
    assert!(browser(&app, Method::GET, "/wishes", &ben_session, None).await.text.contains("Internal deploy checklist"));
    assert!(!browser(&app, Method::GET, "/wishes", "", None).await.text.contains("Internal deploy checklist"));
    // The team sees no review form on its own skill.
    assert!(
        !browser(&app, Method::GET, "/skills/acme/tool", &olga_session, None).await.text.contains("Post the review")
    );

    // The drafts inbox: members read it; a publisher publishes a draft from it.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("fresh");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("SKILL.md"), "---\nname: fresh\ndescription: Lints fresh code\n---\nRun it.\n").unwrap();
    let archive =
        skilldex::bundle::Bundle::from_dir(&src, &skilldex::bundle::Limits::default()).unwrap().pack(0).tar_gz;
    let meta = serde_json::json!({"slug": "fresh", "origin": "claude-hook", "notes": "from a session"});
    let r = crate::skill_pool::post_multipart(
        &app,
        "/v1/drafts",
        Some(&owner),
        crate::skill_pool::multipart(&meta, Some(&archive)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    html(&browser(&app, Method::GET, "/teams/acme/drafts", &ben_session, None).await, StatusCode::FORBIDDEN);
    let inbox = browser(&app, Method::GET, "/teams/acme/drafts", &olga_session, None).await;
    let body = html(&inbox, StatusCode::OK);
    assert!(body.contains("fresh") && body.contains("from a session") && body.contains("pending"), "{body}");
    let id = body.split("/teams/acme/drafts/").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let csrf = csrf_of(body);
    let forged = [("csrf", "nope"), ("version", "1.0.0")];
    let r =
        browser(&app, Method::POST, &format!("/teams/acme/drafts/{id}/publish"), &olga_session, Some(&forged)).await;
    html(&r, StatusCode::FORBIDDEN);
    assert!(browser(&app, Method::GET, "/teams/acme/drafts", &olga_session, None).await.text.contains("pending"));
    let r = browser(
        &app,
        Method::POST,
        &format!("/teams/acme/drafts/{id}/publish"),
        &olga_session,
        Some(&[("csrf", &csrf), ("version", "1.0.0")]),
    )
    .await;
    assert_eq!(
        (r.status, r.headers["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/skills/acme/fresh"),
        "{}",
        r.text
    );
    let page = browser(&app, Method::GET, "/skills/acme/fresh", &olga_session, None).await;
    assert!(html(&page, StatusCode::OK).contains("Install 1.0.0"), "{}", page.text);
    let inbox = browser(&app, Method::GET, "/teams/acme/drafts", &olga_session, None).await;
    let body = html(&inbox, StatusCode::OK);
    assert!(body.contains("published as") && !body.contains("/publish\""), "{body}");
}

on_both_backends!(people_see_and_end_their_own_browser_sessions);

/// The settings list the visitor's live browser sessions; one can be ended from another,
/// never someone else's, never without the form token.
async fn people_see_and_end_their_own_browser_sessions(db: TestDb) {
    let app = TestApp::new(db).await;
    let ann = app.user("ann", TokenScope::Admin).await;
    let bob = app.user("bob", TokenScope::Admin).await;
    let laptop = sign_in(&app, &ann).await;
    let phone = sign_in(&app, &ann).await;
    let bobs = sign_in(&app, &bob).await;

    let page = browser(&app, Method::GET, "/settings", &laptop, None).await;
    let body = html(&page, StatusCode::OK);
    assert_eq!(body.matches("/settings/sessions/").count(), 1, "the other session can be ended: {body}");
    assert!(body.contains("this browser"), "{body}");
    let other = body.split("/settings/sessions/").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let csrf = field(body, "csrf");

    // Bob cannot end Ann's session, even knowing its id; nobody can without the form token.
    let bob_csrf = field(&browser(&app, Method::GET, "/settings", &bobs, None).await.text, "csrf");
    let path = format!("/settings/sessions/{other}/end");
    html(&browser(&app, Method::POST, &path, &bobs, Some(&[("csrf", &bob_csrf)])).await, StatusCode::NOT_FOUND);
    html(&browser(&app, Method::POST, &path, &laptop, Some(&[("csrf", "nope")])).await, StatusCode::FORBIDDEN);
    html(&browser(&app, Method::GET, "/settings", &phone, None).await, StatusCode::OK);

    // Ann ends her phone's session from her laptop: the phone is signed out, the laptop not.
    let r = browser(&app, Method::POST, &path, &laptop, Some(&[("csrf", &csrf)])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let r = browser(&app, Method::GET, "/settings", &phone, None).await;
    assert_eq!((r.status, r.headers["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/signin"));
    let body = browser(&app, Method::GET, "/settings", &laptop, None).await.text;
    assert_eq!(body.matches("/settings/sessions/").count(), 0, "only this browser's is left: {body}");
    html(&browser(&app, Method::POST, &path, &laptop, Some(&[("csrf", &csrf)])).await, StatusCode::NOT_FOUND);
}

on_both_backends!(the_theme_page_is_for_site_administrators);

/// `/admin/theme`: the API's checks as forms; an upload without the form token, or from
/// another site, stores nothing.
async fn the_theme_page_is_for_site_administrators(db: TestDb) {
    let app = TestApp::new(db).await;
    let olga = app.user("olga", TokenScope::Admin).await;
    let olga_session = sign_in(&app, &olga).await;
    let admin_session = sign_in(&app, &app.admin.clone()).await;
    html(&browser(&app, Method::GET, "/admin/theme", &olga_session, None).await, StatusCode::FORBIDDEN);
    let page = browser(&app, Method::GET, "/admin/theme", &admin_session, None).await;
    let csrf = field(html(&page, StatusCode::OK), "csrf");

    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("brand_name", "Acme"),
        ("bg", "#ffffff"),
        ("fg", "#111111"),
        ("primary", "#1d4ed8"),
        ("primary_fg", "#ffffff"),
        ("accent", "#1d4ed8"),
        ("muted", "#f3f4f6"),
        ("muted_fg", "#4b5563"),
        ("border", "#e5e7eb"),
        ("radius", "4px"),
        ("font_family", ""),
    ];
    fields[3] = ("fg", "#eeeeee");
    let r = browser(&app, Method::POST, "/admin/theme", &admin_session, Some(&fields)).await;
    assert!(html(&r, StatusCode::BAD_REQUEST).contains("WCAG AA"), "{}", r.text);
    fields[3] = ("fg", "#111111");
    html(&browser(&app, Method::POST, "/admin/theme", &olga_session, Some(&fields)).await, StatusCode::FORBIDDEN);
    let r = browser(&app, Method::POST, "/admin/theme", &admin_session, Some(&fields)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let theme = app.get("/v1/theme", None).await;
    assert_eq!(
        (theme.body["brand_name"].as_str(), theme.body["footer_branding"].clone()),
        (Some("Acme"), serde_json::json!(false))
    );

    let upload = |cookies: String, csrf: String, origin: Option<&'static str>| {
        let mut body = format!(
            "--b0\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --b0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"l.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        body.extend_from_slice(b"\r\n--b0--\r\n");
        let mut req = Request::post("/admin/theme/logo")
            .header("content-type", "multipart/form-data; boundary=b0")
            .header("cookie", cookies);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        app.send(req.body(Body::from(body)).unwrap())
    };
    html(&upload(admin_session.clone(), "nope".into(), None).await, StatusCode::FORBIDDEN);
    html(&upload(admin_session.clone(), csrf.clone(), Some("https://evil.example")).await, StatusCode::FORBIDDEN);
    html(&upload(olga_session.clone(), csrf.clone(), None).await, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/v1/theme/logo", None).await.status, StatusCode::NOT_FOUND, "nothing stored");
    let r = upload(admin_session.clone(), csrf.clone(), None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let logo = app.get("/v1/theme/logo", None).await;
    assert_eq!((logo.status, logo.headers["content-type"].to_str().unwrap()), (StatusCode::OK, "image/png"));
    let r = browser(&app, Method::POST, "/admin/theme/logo/remove", &admin_session, Some(&[("csrf", &csrf)])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/v1/theme/logo", None).await.status, StatusCode::NOT_FOUND);
}
