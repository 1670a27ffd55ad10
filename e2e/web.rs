//! The web catalog in a real browser: Debian's Chromium driven by Playwright
//! (`e2e/peers/browser.mjs`), sign-in through a real OpenID Provider (`oidc-provider` from npm,
//! `e2e/peers/oidc_provider.mjs`), accessibility checked by axe-core. Screenshots go to a
//! temporary folder the test prints.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{BIN, Backend, Serve, TestDb, http_exchange, http_json, on_both_backends, skill_dir};

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/peers")
}

/// The OpenID Provider, with this server's two clients: the site's and team `acme`'s.
struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    fn start(dir: &Path, port: u16, clients: Value) -> Provider {
        let log = std::fs::File::create(dir.join("provider.log")).unwrap();
        let child = Command::new("node")
            .arg(peers_dir().join("oidc_provider.mjs"))
            .args([&port.to_string(), dir.to_str().unwrap()])
            .env("OIDC_CLIENTS", clients.to_string())
            .stdin(Stdio::null())
            // Its notices (development keys and pages, as a test wants) stay in a file.
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("node");
        let ready = dir.join("ready");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "the OpenID Provider did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Provider { child, issuer: std::fs::read_to_string(ready).unwrap() }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs one browser scenario and returns what it found.
fn browser(scenario: &str, plan: &Value) -> Value {
    let out = Command::new("node")
        .arg(peers_dir().join("browser.mjs"))
        .arg(scenario)
        .env("BROWSER_PLAN", plan.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser scenario {scenario} failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{scenario}: {e}: {stdout}"))
}

/// No dialog, page error or CSP violation happened, and axe found nothing serious.
fn clean(found: &Value, scenario: &str) {
    let events = &found["events"];
    for kind in ["dialogs", "errors", "csp"] {
        assert_eq!(events[kind], json!([]), "{scenario}: {kind}");
    }
    if let Some(pages) = found["axe"].as_object() {
        for (page, violations) in pages {
            assert_eq!(violations, &json!([]), "{scenario}: axe on {page}");
        }
    }
}

/// Where screenshots go: kept after the run, for people to look at.
fn shots_dir(backend: Backend) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("skilldex-web-screenshots-{backend:?}").to_lowercase());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const XSS_README: &str = r#"# Hostile README

<script>window.__xss = true; alert("script")</script>
<img src="x" onerror="window.__xss = true; alert('img')">
<svg onload="window.__xss = true; alert('svg')"><script>alert('svg script')</script></svg>
<iframe src="javascript:alert('iframe')"></iframe>
<a href="javascript:alert('link')">a javascript: link</a>
<a href="JaVaScRiPt&colon;alert('encoded')">encoded</a>
<div onmouseover="window.__xss = true; alert('hover')" style="position:fixed;inset:0">hover me</div>
<object data="javascript:alert('object')"></object>
<embed src="javascript:alert('embed')">
<form action="javascript:alert('form')"><button>go</button></form>
<math><mtext><table><mglyph><style><img src=x onerror="alert('mxss')"></style></mglyph></table></mtext></math>
<details open ontoggle="alert('toggle')">details</details>
<base href="javascript:alert('base')//">
<meta http-equiv="refresh" content="0;url=javascript:alert('meta')">

[markdown link](javascript:alert('md'))
![markdown image](javascript:alert('img'))
[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)

Some ordinary text that must still be shown.
"#;

on_both_backends!(the_web_catalog_works_in_a_browser_with_oidc_sign_in);

fn the_web_catalog_works_in_a_browser_with_oidc_sign_in(backend: Backend) {
    let Some(db) = TestDb::new(backend) else { return };
    let dir = tempfile::tempdir().unwrap();
    let shots = shots_dir(backend);
    let idp_port = free_port();
    let issuer = format!("http://127.0.0.1:{idp_port}");
    // The team's provider is another one, as it would be.
    let team_idp_port = free_port();
    let team_issuer = format!("http://127.0.0.1:{team_idp_port}");
    let secret_file = dir.path().join("oidc-secret");
    std::fs::write(&secret_file, "site-secret\n").unwrap();
    let mut args = vec![
        "--oidc-issuer",
        &issuer,
        "--oidc-client-id",
        "skilldex-site",
        "--oidc-client-secret-file",
        secret_file.to_str().unwrap(),
        "--team-sign-in",
        "--allow-oidc-issuer",
        "127.0.0.1:*",
    ];
    args.extend(db.args());
    let serve = Serve::start(dir.path(), &args);
    let base = serve.url();
    let idp_dir = dir.path().join("idp");
    std::fs::create_dir_all(&idp_dir).unwrap();
    let site_clients = json!([
        {"client_id": "skilldex-site", "client_secret": "site-secret", "redirect_uris": [format!("{base}/signin/oidc/callback")]},
    ]);
    let provider = Provider::start(&idp_dir, idp_port, site_clients);
    assert_eq!(provider.issuer, issuer);
    let team_idp_dir = dir.path().join("team-idp");
    std::fs::create_dir_all(&team_idp_dir).unwrap();
    let team_clients = json!([
        {"client_id": "skilldex-acme", "client_secret": "acme-secret", "redirect_uris": [format!("{base}/v1/auth/oidc/acme/callback")]},
    ]);
    let team_provider = Provider::start(&team_idp_dir, team_idp_port, team_clients);
    assert_eq!(team_provider.issuer, team_issuer);

    // A team with public skills, a private one, and one with a hostile README. Alice exists
    // already (with the address the provider will vouch for) and reads the team's skills.
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    serve.ok(Some(&admin), &["user", "create", "alice", "--email", "alice@example.test"]);
    serve.ok(Some(&admin), &["team", "set-member", "acme", "alice", "--role", "reader"]);
    let skills = dir.path().join("skills");
    let readme = "Turns invoices into tidy PDF reports.\n\n```sh\npdf-tools render invoice.json\n```\n";
    for version in ["1.0.0", "1.1.0"] {
        let d = skill_dir(&skills, "pdf-tools", version, &[("reference.md", &format!("# Reference {version}\n"))]);
        let md = std::fs::read_to_string(d.join("SKILL.md")).unwrap();
        std::fs::write(
            d.join("SKILL.md"),
            md.replace("The pdf-tools skill", "Render invoices as PDF reports") + readme,
        )
        .unwrap();
        serve.ok(Some(&admin), &["publish", "--public", d.to_str().unwrap(), "-n", "acme"]);
    }
    let secret = skill_dir(&skills, "secret-plan", "1.0.0", &[]);
    let md = std::fs::read_to_string(secret.join("SKILL.md")).unwrap();
    std::fs::write(secret.join("SKILL.md"), md.replace("The secret-plan skill", "Zanzibar expansion plan")).unwrap();
    serve.ok(Some(&admin), &["publish", secret.to_str().unwrap(), "-n", "acme"]);
    let hostile = skill_dir(&skills, "hostile-readme", "1.0.0", &[]);
    let md = std::fs::read_to_string(hostile.join("SKILL.md")).unwrap();
    std::fs::write(hostile.join("SKILL.md"), md + XSS_README).unwrap();
    serve.ok(Some(&admin), &["publish", "--public", hostile.to_str().unwrap(), "-n", "acme"]);

    // A visitor searches, opens the skill, copies the install command.
    let plan = json!({
        "base": base, "shots": shots,
        "query": "invoices", "skill": "/skills/acme/pdf-tools", "suggest": "pdf",
        "private": "/skills/acme/secret-plan", "privateWord": "zanzibar",
        "team": "/teams/acme", "diff": "/skills/acme/pdf-tools/diff?from=1.0.0&to=1.1.0",
    });
    let found = browser("visitor", &plan);
    clean(&found, "visitor");
    assert_eq!(found["results"][0], "/skills/acme/pdf-tools", "{found}");
    assert!(found["suggestions"].as_array().unwrap().contains(&json!("acme/pdf-tools")), "{found}");
    assert_eq!((found["privateResults"].clone(), found["privateSuggestions"].clone()), (json!(0), json!([])));
    let copied = found["copied"].as_str().unwrap().to_owned();
    assert_eq!(copied, format!("skilldex install --server {base} acme/pdf-tools@1.1.0"));

    // …and runs it, pasted as it is, in a project on a machine with no saved profile.
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let words: Vec<&str> = copied.split_whitespace().collect();
    assert_eq!(words[0], "skilldex");
    let out = Command::new(BIN)
        .args(&words[1..])
        .current_dir(&project)
        .env("HOME", &project)
        .env("SKILLDEX_CONFIG", project.join("no-profile.yaml"))
        .env_remove("SKILLDEX_TOKEN")
        .env_remove("SKILLDEX_SERVER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{copied}: {}", String::from_utf8_lossy(&out.stderr));
    let installed =
        walk(&project).into_iter().find(|p| p.ends_with("pdf-tools/reference.md")).expect("installed files");
    assert_eq!(std::fs::read_to_string(installed).unwrap(), "# Reference 1.1.0\n");

    // The hostile README executes nothing, with the site's CSP and without it.
    let found = browser("xss", &json!({"base": base, "shots": shots, "skill": "/skills/acme/hostile-readme"}));
    for case in ["withCsp", "withoutCsp"] {
        let seen = &found[case];
        assert_eq!(seen["events"]["dialogs"], json!([]), "{case}: {seen}");
        assert_eq!(seen["events"]["errors"], json!([]), "{case}: {seen}");
        for (what, expected) in
            [("executed", json!(false)), ("scripts", json!(0)), ("handlers", json!(0)), ("jsUrls", json!(0))]
        {
            assert_eq!(seen[what], expected, "{case}: {what}: {seen}");
        }
        assert!(seen["text"].as_u64().unwrap() > 20, "the README's text is shown: {seen}");
    }
    // With the CSP in force the sanitized page did not even try anything it would block.
    assert_eq!(found["withCsp"]["events"]["csp"], json!([]), "{found}");

    // Alice signs in through the site's provider (found by her verified address), creates a
    // token, stars a skill, sees the private one; forged forms change nothing.
    let found = browser(
        "member",
        &json!({
            "base": base, "shots": shots, "login": "alice",
            "skill": "/skills/acme/pdf-tools", "private": "/skills/acme/secret-plan",
        }),
    );
    clean(&found, "member");
    assert_eq!(found["user"], "alice", "{found}");
    assert_eq!(found["privateStatus"], 200);
    assert_eq!(found["starredButton"], "★ Starred");
    for (form, status) in found["forged"].as_object().unwrap() {
        assert_eq!(status, 403, "a forged {form} is refused: {found}");
    }
    assert_eq!(found["stillSignedIn"], "alice");
    assert_eq!(
        (found["logout"].clone(), found["afterLogout"].clone(), found["afterLogoutStatus"].clone()),
        (json!(204), json!("/signin"), json!(200))
    );
    let token = found["token"].as_str().unwrap();
    assert!(found["agentNote"].as_str().unwrap().contains(token), "{found}");
    // The token works, as alice, with the scope asked for.
    let (status, me) = http_json(serve.addr, "GET", "/api/v1/me", Some(token), None);
    assert_eq!(
        (status, me["user"]["username"].as_str(), me["token"]["scope"].as_str()),
        (200, Some("alice"), Some("write")),
        "{me}"
    );
    let (_, skill) = http_json(serve.addr, "GET", "/api/v1/skills/acme/pdf-tools", None, None);
    assert_eq!(skill["stars"], 1, "{skill}");
    // Her tokens: the one she made and the one her browser sessions act as; nothing forged.
    let (_, tokens) = http_json(serve.addr, "GET", "/api/v1/users/alice/tokens", Some(&admin), None);
    let mut names: Vec<&str> = tokens["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["browser sign-in via 127.0.0.1", "laptop"], "{tokens}");
    // She was found, not created again.
    let (_, users) = http_json(serve.addr, "GET", "/api/v1/users", Some(&admin), None);
    assert_eq!(users["data"].as_array().unwrap().len(), 2, "{users}");

    // The team's owners name its own provider (skill-pool's SSO settings); the secret is
    // never read back, and only owners may see or change them.
    let sso = |method: &str, token: &str, body: Option<&Value>| {
        let body = body.map(Value::to_string).unwrap_or_default();
        let headers = [("X-Skill-Pool-Tenant", "acme"), ("Content-Type", "application/json")];
        let (status, _, text) =
            http_exchange(serve.addr, &format!("{method} /v1/tenant/sso/oidc"), Some(token), &headers, body.as_bytes());
        (status, serde_json::from_slice::<Value>(&text).unwrap_or(Value::Null))
    };
    let settings = json!({"issuer": team_issuer, "client_id": "skilldex-acme", "client_secret": "acme-secret", "default_role": "publisher"});
    assert_eq!(sso("PUT", token, Some(&settings)).0, 403, "a reader cannot");
    assert_eq!(sso("GET", &admin, None), (200, Value::Null));
    let unreachable = json!({"issuer": format!("http://127.0.0.1:{}", free_port()), "client_id": "x", "client_secret": "y", "default_role": "publisher"});
    assert_eq!(sso("PUT", &admin, Some(&unreachable)).0, 400, "an issuer that does not answer is refused");
    assert_eq!(sso("GET", &admin, None), (200, Value::Null), "nothing was stored");
    let (status, shown) = sso("PUT", &admin, Some(&settings));
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["client_secret"], Value::Null);
    assert_eq!(shown["redirect_uri"], format!("{base}/v1/auth/oidc/acme/callback"));
    let (status, shown) = sso("GET", &admin, None);
    assert_eq!(
        (status, shown["issuer"].as_str(), shown["client_secret"].clone()),
        (200, Some(team_issuer.as_str()), Value::Null)
    );
    // The stored secret goes to no other provider: changing the issuer or client needs it again.
    let elsewhere = json!({"issuer": issuer, "client_id": "skilldex-acme", "default_role": "publisher"});
    let (status, refused) = sso("PUT", &admin, Some(&elsewhere));
    assert_eq!(status, 400, "{refused}");
    assert_eq!(sso("GET", &admin, None).1["issuer"], team_issuer.as_str(), "nothing changed");

    // Someone signs in through the team's provider for the first time, which vouches for
    // alice's address: a new user (not alice: a team's provider never reaches an existing
    // account), a member with the team's default role, who sees the team's private skill.
    let found = browser(
        "tenant",
        &json!({"base": base, "shots": shots, "login": "alice", "tenant": "acme", "private": "/skills/acme/secret-plan"}),
    );
    clean(&found, "tenant");
    assert_eq!((found["user"].clone(), found["privateStatus"].clone()), (json!("alice-2"), json!(200)));
    let team = serve.json(Some(&admin), &["team", "show", "acme"]);
    let role_of = |team: &Value, user: &str| {
        team["members"].as_array().unwrap().iter().find(|m| m["username"] == user).map(|m| m["role"].clone())
    };
    assert_eq!(role_of(&team, "alice-2"), Some(json!("publisher")), "{team}");
    assert_eq!(role_of(&team, "alice"), Some(json!("reader")), "the real alice is untouched: {team}");
    let (_, tokens) = http_json(serve.addr, "GET", "/api/v1/users/alice/tokens", Some(&admin), None);
    assert_eq!(tokens["data"].as_array().unwrap().len(), 2, "{tokens}");
    // The team's client secret went to its provider, and into no log.
    let logs: String = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().starts_with("serve-"))
        .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
        .collect();
    assert!(
        logs.contains("listening") && !logs.contains("acme-secret") && !logs.contains("site-secret"),
        "secrets logged"
    );
    // …and is kept in the database sealed under the site's key, never as written.
    let stored = match backend {
        Backend::Sqlite => walk(&dir.path().join("skilldex-data"))
            .into_iter()
            .filter_map(|f| std::fs::read(f).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .collect::<String>(),
        Backend::Postgres => {
            let out = Command::new("psql")
                .args([db.args[1].as_str(), "-qAtc", "SELECT client_secret FROM oidc_providers"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    assert!(!stored.contains("acme-secret"), "the client secret is stored as written");
    if backend == Backend::Postgres {
        assert!(stored.starts_with("sdx1:"), "{stored}");
    }

    // The owner (signed in with an API token) makes alice a publisher on the team page.
    let found = browser(
        "owner",
        &json!({"base": base, "shots": shots, "token": admin, "team": "/teams/acme", "member": "alice", "role": "publisher"}),
    );
    clean(&found, "owner");
    assert_eq!(found["roleShown"], "publisher");
    assert_eq!(role_of(&serve.json(Some(&admin), &["team", "show", "acme"]), "alice"), Some(json!("publisher")));

    // The site's administrator sets a theme and uploads a hostile SVG logo: pages wear the
    // theme, the logo draws and runs nothing, even opened on its own.
    let theme = json!({
        "brand_name": "Acme Skills", "primary": "#7a1f5c", "primary_fg": "#ffffff", "accent": "#7a1f5c",
        "bg": "#fdf8f2", "fg": "#2b1d14", "muted": "#f3e9dc", "muted_fg": "#5e4636", "border": "#d9c7b3",
        "radius": "10px", "font_family": "Atkinson Hyperlegible", "footer_branding": false,
    });
    let put = |token: &str, body: &Value| {
        let headers = [("Content-Type", "application/json")];
        let (status, _, text) =
            http_exchange(serve.addr, "PUT /v1/theme", Some(token), &headers, body.to_string().as_bytes());
        (status, serde_json::from_slice::<Value>(&text).unwrap_or(Value::Null))
    };
    assert_eq!(put(token, &theme).0, 403, "alice is no site administrator");
    let mut unreadable = theme.clone();
    unreadable["fg"] = json!("#d9c7b3");
    let (status, refused) = put(&admin, &unreadable);
    assert!(status == 400 && refused["message"].as_str().unwrap().contains("WCAG AA"), "{refused}");
    let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32" onload="window.__xss=true;alert('logo')">
<script>window.__xss=true;alert('script')</script>
<rect width="32" height="32" rx="6" fill="#7a1f5c" onmouseover="alert('hover')"/>
<foreignObject width="32" height="32"><body xmlns="http://www.w3.org/1999/xhtml"><img src="x" onerror="alert('fo')"/></body></foreignObject>
<a href="javascript:alert('link')"><circle cx="16" cy="16" r="8" fill="#ffffff"/></a>
</svg>"##;
    let boundary = "skilldex-e2e-boundary";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"logo.svg\"\r\n\
         Content-Type: image/svg+xml\r\n\r\n{svg}\r\n--{boundary}--\r\n"
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let upload = |token: &str| {
        http_exchange(
            serve.addr,
            "POST /v1/theme/logo",
            Some(token),
            &[("Content-Type", &content_type)],
            multipart.as_bytes(),
        )
        .0
    };
    assert_eq!(upload(token), 403);
    // The administrator does it on the theme page.
    let found =
        browser("adminTheme", &json!({"base": base, "shots": shots, "token": admin, "theme": theme, "svg": svg}));
    clean(&found, "adminTheme");
    assert_eq!(found["preview"], 32, "the page shows the stored logo: {found}");
    let (_, current) = http_json(serve.addr, "GET", "/v1/theme", None, None);
    assert_eq!(
        (current["brand_name"].as_str(), current["bg"].as_str()),
        (Some("Acme Skills"), Some("#fdf8f2")),
        "{current}"
    );
    assert_eq!(
        (current["font_family"].as_str(), current["footer_branding"].clone()),
        (Some("Atkinson Hyperlegible"), json!(false))
    );
    let (_, head, stored) = http_exchange(serve.addr, "GET /v1/theme/logo", None, &[], b"");
    let stored = String::from_utf8(stored).unwrap();
    for gone in ["script", "alert", "onload", "onmouseover", "foreignObject", "javascript"] {
        assert!(!stored.contains(gone), "{gone} survived: {stored}");
    }
    assert!(head.contains("sandbox") && head.to_lowercase().contains("content-type: image/svg+xml"), "{head}");
    let found = browser("theme", &json!({"base": base, "shots": shots}));
    clean(&found, "theme");
    assert_eq!(found["background"], "rgb(253, 248, 242)", "{found}");
    assert_eq!(found["darkBackground"], "rgb(253, 248, 242)", "the theme's checked pair holds in dark mode too");
    assert_eq!(found["button"], "rgb(122, 31, 92)");
    assert_eq!(
        (found["brand"].clone(), found["title"].as_str().unwrap().ends_with("· Acme Skills")),
        (json!("Acme Skills"), true)
    );
    assert_eq!(found["logoWidth"], 32, "the sanitized logo still draws: {found}");
    assert!(found["favicon"].as_str().unwrap().starts_with("/v1/theme/favicon?v="), "{found}");
    assert_eq!((found["logoType"].clone(), found["logoExecuted"].clone()), (json!("image/svg+xml"), json!(false)));

    // Without the provider, the team's sign-in is gone.
    assert_eq!(sso("DELETE", &admin, None).0, 204);
    assert_eq!(sso("GET", &admin, None), (200, Value::Null));
    eprintln!("screenshots of the web catalog: {}", shots.display());
    drop((provider, team_provider));
    serve.stop();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A replica started with another secret key than the one the database's secrets were sealed
/// with refuses to start, and says why.
#[test]
fn a_server_with_another_secret_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    Serve::start(dir.path(), &[]).stop();
    let key = dir.path().join("skilldex-data/secret-key");
    let first = std::fs::read_to_string(&key).unwrap();
    assert_eq!(first.trim().len(), 64);
    let other = dir.path().join("other-key");
    std::fs::write(&other, format!("{}\n", "ab".repeat(32))).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--secret-key-file", other.to_str().unwrap()])
        .current_dir(dir.path())
        .env_remove("SKILLDEX_DATABASE_URL")
        .env_remove("SKILLDEX_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not the one this database's secrets were sealed with"), "{stderr}");
    // The right key still starts it.
    Serve::start(dir.path(), &["--secret-key-file", key.to_str().unwrap()]).stop();
    assert_eq!(std::fs::read_to_string(&key).unwrap(), first, "the key file is never rewritten");
}
