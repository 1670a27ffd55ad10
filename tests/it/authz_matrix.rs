//! Every endpoint × every kind of caller × public and private skills gives the documented
//! status, and nothing about a private skill reaches anyone outside its namespace.
//!
//! The expected status comes from a model written here from the documented rules, not from
//! the code under test: token scope first (401/403), then visibility (404), then role (403).
//! Agent tokens (`agent-bridge`, `agent-publisher`) pass only what needs no more than `read`,
//! plus publishing for `agent-publisher`.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use skilldex::domain::{TokenScope, VersionStatus};

use crate::common::{TestApp, TestDb, on_both_backends};

on_both_backends!(skill_endpoints_matrix, account_endpoints_matrix);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    NoToken,
    /// The namespace owner, with tokens of each scope.
    OwnerRead,
    OwnerWrite,
    OwnerAdmin,
    /// Other members, with admin-scope tokens (so their role is what limits them).
    Publisher,
    Reader,
    /// Someone outside the namespace, with an admin-scope token.
    NonMember,
    Revoked,
    Expired,
    /// The namespace owner's agent tokens.
    AgentBridge,
    AgentPublisher,
}

const EVERYONE: [Who; 11] = [
    Who::NoToken,
    Who::OwnerRead,
    Who::OwnerWrite,
    Who::OwnerAdmin,
    Who::Publisher,
    Who::Reader,
    Who::NonMember,
    Who::Revoked,
    Who::Expired,
    Who::AgentBridge,
    Who::AgentPublisher,
];

#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
enum Role {
    None,
    Reader,
    Publisher,
    Owner,
}

impl Who {
    fn scope(self) -> Option<TokenScope> {
        match self {
            Who::NoToken | Who::Revoked | Who::Expired => None,
            Who::OwnerRead | Who::AgentBridge => Some(TokenScope::Read),
            Who::OwnerWrite | Who::AgentPublisher => Some(TokenScope::Write),
            _ => Some(TokenScope::Admin),
        }
    }
    fn agent(self) -> bool {
        matches!(self, Who::AgentBridge | Who::AgentPublisher)
    }
    fn role(self) -> Role {
        match self {
            Who::OwnerRead | Who::OwnerWrite | Who::OwnerAdmin | Who::AgentBridge | Who::AgentPublisher => Role::Owner,
            Who::Publisher => Role::Publisher,
            Who::Reader => Role::Reader,
            _ => Role::None,
        }
    }
}

/// What a skill endpoint needs, and what it answers on success.
struct Endpoint {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    scope: Option<TokenScope>,
    role: Role,
    ok: StatusCode,
    /// Put the skill into the state the endpoint acts on (run as the site admin).
    before: Option<(Method, &'static str, Option<Value>)>,
    /// Undo a successful call (run as the site admin).
    after: Option<(Method, &'static str, Option<Value>)>,
    /// Acts on a soft-deleted skill, which only its owners can see.
    on_deleted: bool,
}

fn ep(method: Method, path: &'static str, scope: Option<TokenScope>, role: Role, ok: StatusCode) -> Endpoint {
    Endpoint { method, path, body: None, scope, role, ok, before: None, after: None, on_deleted: false }
}

fn skill_endpoints() -> Vec<Endpoint> {
    use TokenScope::*;
    let stable = Some(json!({"version": "1.0.0"}));
    vec![
        ep(Method::GET, "", None, Role::None, StatusCode::OK),
        Endpoint {
            body: Some(json!({"description": "changed"})),
            ..ep(Method::PATCH, "", Some(Write), Role::Publisher, StatusCode::OK)
        },
        Endpoint {
            after: Some((Method::POST, "/restore", None)),
            ..ep(Method::DELETE, "", Some(Admin), Role::Owner, StatusCode::NO_CONTENT)
        },
        Endpoint {
            before: Some((Method::DELETE, "", None)),
            after: Some((Method::POST, "/restore", None)),
            on_deleted: true,
            ..ep(Method::POST, "/restore", Some(Admin), Role::Owner, StatusCode::OK)
        },
        ep(Method::PUT, "/star", Some(Write), Role::None, StatusCode::OK),
        ep(Method::DELETE, "/star", Some(Write), Role::None, StatusCode::OK),
        ep(Method::GET, "/channels", None, Role::None, StatusCode::OK),
        Endpoint {
            body: stable.clone(),
            ..ep(Method::PUT, "/channels/stable", Some(Write), Role::Publisher, StatusCode::OK)
        },
        Endpoint {
            before: Some((Method::PUT, "/channels/stable", stable.clone())),
            ..ep(Method::DELETE, "/channels/stable", Some(Admin), Role::Owner, StatusCode::NO_CONTENT)
        },
        ep(Method::GET, "/versions", None, Role::None, StatusCode::OK),
        Endpoint {
            after: Some((Method::DELETE, "/versions/1.0.0/yank", None)),
            ..ep(Method::PUT, "/versions/1.0.0/yank", Some(Admin), Role::Owner, StatusCode::OK)
        },
        Endpoint {
            before: Some((Method::PUT, "/versions/1.0.0/yank", None)),
            after: Some((Method::DELETE, "/versions/1.0.0/yank", None)),
            ..ep(Method::DELETE, "/versions/1.0.0/yank", Some(Admin), Role::Owner, StatusCode::OK)
        },
    ]
}

/// The documented rules, applied in their documented order.
fn expected(e: &Endpoint, who: Who, private: bool) -> StatusCode {
    if matches!(who, Who::Revoked | Who::Expired) {
        return StatusCode::UNAUTHORIZED;
    }
    if let Some(need) = e.scope {
        match who.scope() {
            None => return StatusCode::UNAUTHORIZED,
            Some(have) if have < need => return StatusCode::FORBIDDEN,
            // None of these endpoints publishes: agent tokens only read.
            Some(_) if who.agent() && need > TokenScope::Read => return StatusCode::FORBIDDEN,
            _ => {}
        }
    }
    if (private && who.role() == Role::None) || (e.on_deleted && who.role() < Role::Owner) {
        return StatusCode::NOT_FOUND;
    }
    if who.role() < e.role {
        return StatusCode::FORBIDDEN;
    }
    e.ok
}

struct World {
    app: TestApp,
    tokens: Vec<(Who, Option<String>)>,
}

impl World {
    async fn new(db: TestDb) -> Self {
        let app = TestApp::new(db).await;
        let owner_admin = app.user("olivia", TokenScope::Admin).await;
        let owner_read = app.token_for("olivia", TokenScope::Read).await;
        let owner_write = app.token_for("olivia", TokenScope::Write).await;
        let publisher = app.user("pat", TokenScope::Admin).await;
        let reader = app.user("rita", TokenScope::Admin).await;
        let outsider = app.user("nora", TokenScope::Admin).await;
        let revoked = app.token_for("olivia", TokenScope::Admin).await;
        let expired = app.expired_token_for("olivia").await;
        app.team("acme", &owner_admin).await;
        for (user, role) in [("pat", "publisher"), ("rita", "reader")] {
            let r = app
                .call(
                    Method::PUT,
                    &format!("/api/v1/teams/acme/members/{user}"),
                    Some(&owner_admin),
                    Some(json!({"role": role})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
        }
        app.team("other", &outsider).await;
        let id = app.get("/api/v1/me", Some(&revoked)).await.body["token"]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&revoked), None).await.status,
            StatusCode::NO_CONTENT
        );
        let agent = |kind: &'static str| {
            let (app, owner) = (&app, owner_admin.clone());
            async move {
                let r = app
                    .call(Method::POST, "/api/v1/tokens", Some(&owner), Some(json!({"name": kind, "kind": kind})))
                    .await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
                r.body["token"].as_str().unwrap().to_owned()
            }
        };
        let (bridge, publisher_agent) = (agent("agent-bridge").await, agent("agent-publisher").await);
        for (slug, vis) in [("pub-skill", "public"), ("priv-skill", "private")] {
            app.skill("acme", slug, vis, &owner_admin).await;
            app.version("acme", slug, "1.0.0", VersionStatus::Published).await;
        }
        let tokens = vec![
            (Who::NoToken, None),
            (Who::OwnerRead, Some(owner_read)),
            (Who::OwnerWrite, Some(owner_write)),
            (Who::OwnerAdmin, Some(owner_admin)),
            (Who::Publisher, Some(publisher)),
            (Who::Reader, Some(reader)),
            (Who::NonMember, Some(outsider)),
            (Who::Revoked, Some(revoked)),
            (Who::Expired, Some(expired)),
            (Who::AgentBridge, Some(bridge)),
            (Who::AgentPublisher, Some(publisher_agent)),
        ];
        Self { app, tokens }
    }

    fn token(&self, who: Who) -> Option<&str> {
        self.tokens.iter().find(|(w, _)| *w == who).and_then(|(_, t)| t.as_deref())
    }

    async fn as_admin(&self, skill: &str, step: &(Method, &'static str, Option<Value>)) {
        let path = format!("/api/v1/skills/acme/{skill}{}", step.1);
        let r = self.app.call(step.0.clone(), &path, Some(&self.app.admin), step.2.clone()).await;
        assert!(r.status.is_success(), "set-up {} {path}: {}", step.0, r.text);
    }
}

async fn skill_endpoints_matrix(db: TestDb) {
    let w = World::new(db).await;
    let mut cells = 0;
    for e in skill_endpoints() {
        for private in [false, true] {
            let skill = if private { "priv-skill" } else { "pub-skill" };
            for who in EVERYONE {
                if let Some(step) = &e.before {
                    w.as_admin(skill, step).await;
                }
                let path = format!("/api/v1/skills/acme/{skill}{}", e.path);
                let r = w.app.call(e.method.clone(), &path, w.token(who), e.body.clone()).await;
                let want = expected(&e, who, private);
                assert_eq!(r.status, want, "{} {path} as {who:?}: {}", e.method, r.text);
                if !r.status.is_success() {
                    assert_eq!(r.headers["content-type"], "application/problem+json", "{} {path} as {who:?}", e.method);
                    assert_eq!(r.body["status"], r.status.as_u16());
                    assert_eq!(r.body["instance"], path);
                }
                if private && r.status == StatusCode::NOT_FOUND {
                    // Indistinguishable from a skill that does not exist at all.
                    let ghost = path.replace("priv-skill", "no-such-skill");
                    let g = w.app.call(e.method.clone(), &ghost, w.token(who), e.body.clone()).await;
                    assert_eq!(g.status, StatusCode::NOT_FOUND);
                    assert_eq!(r.text.replace("priv-skill", "no-such-skill"), g.text, "{} {path} as {who:?}", e.method);
                }
                // Undo what the call changed or, when it was refused, what the set-up changed
                // (an endpoint with a set-up step undoes that step itself on success).
                let changed = r.status.is_success() != e.before.is_some();
                if let (true, Some(step)) = (changed, &e.after) {
                    w.as_admin(skill, step).await;
                }
                cells += 1;
            }
        }
    }
    assert_eq!(cells, 12 * 2 * 11);

    // Listings and search: the private skill appears for members only, in every sort.
    for who in EVERYONE {
        if matches!(who, Who::Revoked | Who::Expired) {
            continue;
        }
        for query in ["", "?q=skill", "?sort=downloads", "?scope=acme", "?tag=none", "?q=priv"] {
            let r = w.app.get(&format!("/api/v1/skills{query}"), w.token(who)).await;
            assert_eq!(r.status, StatusCode::OK);
            let member = who.role() != Role::None;
            let shown = r.text.contains("priv-skill");
            if query != "?tag=none" {
                assert_eq!(shown, member, "{who:?} {query}: {}", r.text);
            } else {
                assert!(!shown);
            }
        }
    }
}

async fn account_endpoints_matrix(db: TestDb) {
    let w = World::new(db).await;
    // (method, path, body, what each caller gets)
    use StatusCode as S;
    let unauth = S::UNAUTHORIZED;
    let cases: Vec<(Method, &str, Option<Value>, [StatusCode; 11])> = vec![
        // order: NoToken, OwnerRead, OwnerWrite, OwnerAdmin, Publisher, Reader, NonMember, Revoked, Expired,
        // AgentBridge, AgentPublisher (agent tokens never manage tokens, users or teams)
        (
            Method::GET,
            "/api/v1/me",
            None,
            [unauth, S::OK, S::OK, S::OK, S::OK, S::OK, S::OK, unauth, unauth, S::OK, S::OK],
        ),
        (
            Method::GET,
            "/api/v1/tokens",
            None,
            [unauth, S::OK, S::OK, S::OK, S::OK, S::OK, S::OK, unauth, unauth, S::FORBIDDEN, S::FORBIDDEN],
        ),
        (
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "n", "scope": "read"})),
            [
                unauth,
                S::CREATED,
                S::CREATED,
                S::CREATED,
                S::CREATED,
                S::CREATED,
                S::CREATED,
                unauth,
                unauth,
                S::FORBIDDEN,
                S::FORBIDDEN,
            ],
        ),
        (
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "zed", "email": "z@x.io"})),
            [
                unauth,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                unauth,
                unauth,
                S::FORBIDDEN,
                S::FORBIDDEN,
            ],
        ),
        (
            Method::POST,
            "/api/v1/users/rita/tokens",
            Some(json!({"name": "n", "scope": "read"})),
            [
                unauth,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                unauth,
                unauth,
                S::FORBIDDEN,
                S::FORBIDDEN,
            ],
        ),
        (
            Method::GET,
            "/api/v1/teams/acme",
            None,
            [S::OK, S::OK, S::OK, S::OK, S::OK, S::OK, S::OK, unauth, unauth, S::OK, S::OK],
        ),
        (
            Method::PUT,
            "/api/v1/teams/acme/members/rita",
            Some(json!({"role": "reader"})),
            [
                unauth,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::OK,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                unauth,
                unauth,
                S::FORBIDDEN,
                S::FORBIDDEN,
            ],
        ),
        (
            Method::GET,
            "/api/v1/audit",
            None,
            [
                unauth,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                unauth,
                unauth,
                S::FORBIDDEN,
                S::FORBIDDEN,
            ],
        ),
    ];
    for (method, path, body, want) in cases {
        for (i, who) in EVERYONE.iter().enumerate() {
            let r = w.app.call(method.clone(), path, w.token(*who), body.clone()).await;
            assert_eq!(r.status, want[i], "{method} {path} as {who:?}: {}", r.text);
            if path == "/api/v1/teams/acme" && r.status == S::OK {
                let member = who.role() != Role::None;
                assert_eq!(r.body.get("members").is_some(), member, "member list for {who:?}");
            }
        }
    }
    // Creating a team needs an admin-scope token, nothing more.
    for (i, who) in EVERYONE.iter().enumerate() {
        let body = json!({"slug": format!("team-{i}"), "displayName": "T"});
        let r = w.app.call(Method::POST, "/api/v1/teams", w.token(*who), Some(body)).await;
        let want = match who.scope() {
            None => S::UNAUTHORIZED,
            Some(TokenScope::Admin) => S::CREATED,
            Some(_) => S::FORBIDDEN,
        };
        assert_eq!(r.status, want, "POST /api/v1/teams as {who:?}");
    }
    // Creating a skill without a version: write scope (agent tokens create skills only by
    // publishing) and publisher or owner in that namespace.
    for (i, who) in EVERYONE.iter().enumerate() {
        let body = json!({"scope": "acme", "slug": format!("new-{i}")});
        let r = w.app.call(Method::POST, "/api/v1/skills", w.token(*who), Some(body)).await;
        let want = match (who.scope(), who.role()) {
            (None, _) => S::UNAUTHORIZED,
            (Some(TokenScope::Read), _) => S::FORBIDDEN,
            (Some(_), _) if who.agent() => S::FORBIDDEN,
            (Some(_), Role::Owner | Role::Publisher) => S::CREATED,
            (Some(_), _) => S::FORBIDDEN,
        };
        assert_eq!(r.status, want, "POST /api/v1/skills as {who:?}: {}", r.text);
    }
}
