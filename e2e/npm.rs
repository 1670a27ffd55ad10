//! The npm-compatible surface against the real npm CLI: `npm view`, `npm install`,
//! `npm search`, `npm dist-tag`, `npm publish` (with a token in an `.npmrc` the test
//! writes), `npm deprecate`, `npm unpublish` and `npm access`, with public and private
//! skills; and npm-shaped errors for bad input over raw HTTP.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use skilldex::bundle::testing::{entry, gz};

use crate::common::*;

fn npm_available() -> bool {
    let ok = Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "the npm CLI is required on CI");
        eprintln!("skipping: the npm CLI is missing");
    }
    ok
}

/// A running skilldex with the team `acme` in a fresh directory, when the npm CLI is here.
fn npm_site() -> Option<(tempfile::TempDir, Serve, String)> {
    if !npm_available() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    Some((dir, serve, admin))
}

/// Runs the npm CLI against one skilldex server, isolated from the machine's npm config and
/// cache; `token` goes into a user `.npmrc` for the server's host.
struct Npm {
    home: PathBuf,
    registry: String,
    host: String,
}

impl Npm {
    fn new(root: &Path, serve: &Serve) -> Npm {
        let home = root.join("npm-home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join("global.npmrc"), "").unwrap();
        Npm { home, registry: format!("{}/", serve.url()), host: serve.url().trim_start_matches("http:").to_owned() }
    }

    /// The `.npmrc` line that gives npm a token for this registry.
    fn auth_line(&self, token: &str) -> String {
        format!("{}/:_authToken={token}\n", self.host)
    }

    fn run(&self, cwd: &Path, token: Option<&str>, args: &[&str]) -> Output {
        let userconfig = self.home.join(format!("user-{}.npmrc", rand_suffix()));
        std::fs::write(&userconfig, token.map(|t| self.auth_line(t)).unwrap_or_default()).unwrap();
        let out = Command::new("npm")
            .args(args)
            .args(["--registry", &self.registry])
            .current_dir(cwd)
            .env("npm_config_userconfig", &userconfig)
            .env("npm_config_globalconfig", self.home.join("global.npmrc"))
            .env("npm_config_cache", self.home.join("cache"))
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_audit", "false")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let _ = std::fs::remove_file(userconfig);
        out
    }

    /// Runs npm and expects success; returns stdout.
    fn ok(&self, cwd: &Path, token: Option<&str>, args: &[&str]) -> String {
        let out = self.run(cwd, token, args);
        assert!(out.status.success(), "npm {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs npm and expects failure; returns stderr.
    fn fails(&self, cwd: &Path, token: Option<&str>, args: &[&str]) -> String {
        let out = self.run(cwd, token, args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "npm {args:?} succeeded:\n{}", String::from_utf8_lossy(&out.stdout));
        stderr
    }

    fn view(&self, cwd: &Path, token: Option<&str>, spec: &str) -> Value {
        serde_json::from_str(&self.ok(cwd, token, &["view", spec, "--json"])).unwrap()
    }

    /// A fresh project directory with an empty package.json.
    fn project(&self, root: &Path, name: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("package.json"), r#"{"name":"p","version":"1.0.0","private":true}"#).unwrap();
        dir
    }
}

/// GET returning the status and the raw body bytes.
fn http_bytes(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n").unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    (head[9..12].parse().unwrap(), resp[split + 4..].to_vec())
}

/// An anonymous GET with `If-None-Match: known` (if given): the status and the ETag; a 304
/// must come without a body.
fn conditional_get(url: &str, known: Option<&str>) -> (u16, String) {
    let mut curl = Command::new("curl");
    curl.args(["-s", "-D", "-", "-w", "\n%{http_code}", url]);
    if let Some(tag) = known {
        curl.args(["-H", &format!("If-None-Match: {tag}")]);
    }
    let out = String::from_utf8(curl.output().unwrap().stdout).unwrap();
    let (response, code) = out.rsplit_once('\n').unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let etag = head.lines().find_map(|l| l.strip_prefix("etag: ").or_else(|| l.strip_prefix("ETag: ")));
    let code: u16 = code.parse().unwrap();
    if code == 304 {
        assert!(body.is_empty(), "{body}");
    }
    (code, etag.unwrap_or_default().trim().to_owned())
}

fn sri(bytes: &[u8]) -> String {
    format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes)))
}

fn token_for(serve: &Serve, admin: &str, user: &str, scope: &str) -> String {
    serve.ok(Some(admin), &["user", "create", user, "--email", &format!("{user}@example.com")]);
    let t = serve.json(Some(admin), &["token", "create", "--name", "t", "--scope", scope, "--user", user]);
    t["token"].as_str().unwrap().to_owned()
}

fn publish_dir(serve: &Serve, admin: &str, root: &Path, name: &str, version: &str) {
    let dir = skill_dir(root, name, version, &[("scripts/run.sh", "echo hi\n")]);
    serve.ok(Some(admin), &["publish", "--public", dir.to_str().unwrap(), "-n", "acme"]);
}

#[test]
fn npm_views_installs_and_searches_skills_without_leaking_private_ones() {
    let Some((dir, serve, admin)) = npm_site() else { return };
    let root = dir.path();
    let eve = token_for(&serve, &admin, "eve", "read");
    let mia = token_for(&serve, &admin, "mia", "read");
    serve.ok(Some(&admin), &["team", "set-member", "acme", "mia", "--role", "reader"]);
    serve.ok(
        Some(&admin),
        &["skill", "create", "--public", "acme/alpha", "--description", "Reviews code", "--tag", "review"],
    );
    for v in ["1.0.0", "1.0.1", "1.1.0"] {
        publish_dir(&serve, &admin, root, "alpha", v);
    }
    let (s, b) = http_json(serve.addr, "PUT", "/api/v1/skills/acme/alpha/versions/1.0.1/yank", Some(&admin), None);
    assert_eq!(s, 200, "{b}");
    let body = json!({"version": "1.0.0"});
    let (s, b) = http_json(serve.addr, "PUT", "/api/v1/skills/acme/alpha/channels/stable", Some(&admin), Some(&body));
    assert_eq!(s, 200, "{b}");
    serve
        .ok(Some(&admin), &["skill", "create", "acme/secret", "--description", "Hush", "--private", "--tag", "review"]);
    publish_dir(&serve, &admin, root, "secret", "1.0.0");
    serve.ok(Some(&admin), &["skill", "create", "--public", "acme/old", "--description", "Old one"]);
    publish_dir(&serve, &admin, root, "old", "0.9.0");
    serve.ok(Some(&admin), &["skill", "deprecate", "acme/old", "--message", "use @acme/alpha"]);
    let npm = Npm::new(root, &serve);
    let work = npm.project(root, "work");

    // npm view: versions (the yanked one left out), dist-tags from channels, the tarball.
    let view = npm.view(&work, None, "@acme/alpha");
    assert_eq!(view["name"], "@acme/alpha");
    assert_eq!(view["version"], "1.1.0");
    assert_eq!(view["versions"], json!(["1.0.0", "1.1.0"]));
    assert_eq!(view["dist-tags"], json!({"latest": "1.1.0", "stable": "1.0.0"}));
    assert_eq!(view["keywords"], json!(["review"]));
    assert_eq!(view["description"], "The alpha skill");
    let tarball = view["dist"]["tarball"].as_str().unwrap();
    assert_eq!(tarball, format!("{}/@acme/alpha/-/alpha-1.1.0.tgz", serve.url()));
    let path = tarball.trim_start_matches(&serve.url()).to_owned();
    let (s, bytes) = http_bytes(serve.addr, &path, None);
    assert_eq!(s, 200);
    assert_eq!(view["dist"]["integrity"], sri(&bytes), "dist.integrity is the sha512 of the tarball served");
    assert_eq!(http_bytes(serve.addr, &path, None).1, bytes, "the tarball is the same bytes every time");
    // The plain (unescaped) packument path serves the same document.
    let (s, plain) = http_json(serve.addr, "GET", "/@acme/alpha", None, None);
    let (_, escaped) = http_json(serve.addr, "GET", "/@acme%2falpha", None, None);
    assert_eq!(s, 200);
    assert_eq!(plain["versions"], escaped["versions"]);
    assert_eq!(plain["versions"]["1.1.0"]["skilldex"]["digest"].as_str().unwrap().len(), 71);
    // A yanked version's tarball still answers, so lockfiles that pin it keep installing.
    assert_eq!(http_bytes(serve.addr, "/@acme/alpha/-/alpha-1.0.1.tgz", None).0, 200);

    // A deprecated skill's versions carry npm's deprecation message.
    let old = npm.view(&work, None, "@acme/old");
    assert_eq!(old["deprecated"], "use @acme/alpha");

    // npm install: a range, a dist-tag, and the files as published.
    let app = npm.project(root, "app");
    npm.ok(&app, None, &["install", "@acme/alpha@^1.0.0"]);
    let installed = app.join("node_modules/@acme/alpha");
    let pj: Value = serde_json::from_slice(&std::fs::read(installed.join("package.json")).unwrap()).unwrap();
    assert_eq!((pj["name"].as_str(), pj["version"].as_str()), (Some("@acme/alpha"), Some("1.1.0")));
    let skill_md = std::fs::read_to_string(installed.join("SKILL.md")).unwrap();
    assert!(skill_md.contains("name: alpha") && skill_md.contains("Version 1.1.0."), "{skill_md}");
    assert_eq!(std::fs::read_to_string(installed.join("scripts/run.sh")).unwrap(), "echo hi\n");
    let lock: Value = serde_json::from_slice(&std::fs::read(app.join("package-lock.json")).unwrap()).unwrap();
    assert_eq!(lock["packages"]["node_modules/@acme/alpha"]["integrity"], sri(&bytes), "{lock}");
    let tagged = npm.project(root, "tagged");
    npm.ok(&tagged, None, &["install", "@acme/alpha@stable"]);
    let pj: Value =
        serde_json::from_slice(&std::fs::read(tagged.join("node_modules/@acme/alpha/package.json")).unwrap()).unwrap();
    assert_eq!(pj["version"], "1.0.0");
    // No range picks the yanked version.
    let err = npm.fails(&tagged, None, &["install", "@acme/alpha@1.0.1"]);
    assert!(err.contains("ETARGET") || err.contains("No matching version"), "{err}");
    let out = npm.run(&tagged, None, &["install", "@acme/old@0.9.0"]);
    let warned = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "a deprecated version still installs: {warned}");
    assert!(warned.contains("deprecated") && warned.contains("use @acme/alpha"), "npm warns: {warned}");

    // Private skills: not found for anonymous callers and outsiders, found for members.
    for token in [None, Some(eve.as_str())] {
        let err = npm.fails(&work, token, &["view", "@acme/secret"]);
        assert!(err.contains("E404"), "{err}");
        let err = npm.fails(&npm.project(root, "nope"), token, &["install", "@acme/secret"]);
        assert!(err.contains("E404"), "{err}");
    }
    let secret = npm.view(&work, Some(&mia), "@acme/secret");
    assert_eq!(secret["versions"], json!(["1.0.0"]));
    let members = npm.project(root, "members");
    npm.ok(&members, Some(&mia), &["install", "@acme/secret"]);
    assert!(members.join("node_modules/@acme/secret/SKILL.md").is_file());
    // The answers for a private skill and for one that does not exist are the same.
    let (s_private, b_private) = http_json(serve.addr, "GET", "/@acme%2fsecret", Some(&eve), None);
    let (s_missing, b_missing) = http_json(serve.addr, "GET", "/@acme%2fsecreu", Some(&eve), None);
    assert_eq!((s_private, s_missing), (404, 404));
    assert_eq!(
        b_private["error"].as_str().unwrap().replace("secret", "X"),
        b_missing["error"].as_str().unwrap().replace("secreu", "X")
    );
    let (s, b) = http_json(serve.addr, "GET", "/@acme/secret/-/secret-1.0.0.tgz", None, None);
    assert_eq!(s, 404, "{b}");
    assert_eq!(http_bytes(serve.addr, "/@acme/secret/-/secret-1.0.0.tgz", Some(&mia)).0, 200);
    let (s, b) = http_json(serve.addr, "GET", "/-/package/@acme%2fsecret/dist-tags", None, None);
    assert_eq!(s, 404, "{b}");

    // npm search: hits in npm's shape, private skills neither listed nor counted.
    let hits: Value = serde_json::from_str(&npm.ok(&work, None, &["search", "review", "--json"])).unwrap();
    let names: Vec<&str> = hits.as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["@acme/alpha"], "{hits}");
    assert_eq!(hits[0]["version"], "1.1.0");
    assert_eq!(hits[0]["keywords"], json!(["review"]));
    let hits: Value = serde_json::from_str(&npm.ok(&work, Some(&mia), &["search", "review", "--json"])).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 2, "members find the private skill too: {hits}");
    let (_, anon) = http_json(serve.addr, "GET", "/-/v1/search?text=keywords:review", None, None);
    assert_eq!(anon["total"], 1, "{anon}");
    let (_, member) = http_json(serve.addr, "GET", "/-/v1/search?text=keywords:review", Some(&mia), None);
    assert_eq!(member["total"], 2, "{member}");
    let (_, secret_hits) = http_json(serve.addr, "GET", "/-/v1/search?text=secret", Some(&eve), None);
    assert_eq!((secret_hits["total"].as_i64(), secret_hits["objects"].as_array().map(Vec::len)), (Some(0), Some(0)));
    let o = &member["objects"][0];
    for key in ["name", "version", "description", "keywords", "links"] {
        assert!(!o["package"][key].is_null(), "package.{key} is missing: {o}");
    }
    let score = o["score"]["final"].as_f64().unwrap();
    assert!(score > 0.0 && score <= 1.0, "{o}");
    for part in ["quality", "popularity", "maintenance"] {
        assert!(o["score"]["detail"][part].is_number(), "{o}");
    }
    // Paging with size and from walks every visible skill exactly once.
    let mut walked = Vec::new();
    for from in 0..4 {
        let (s, page) = http_json(serve.addr, "GET", &format!("/-/v1/search?text=&size=1&from={from}"), None, None);
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["total"], 2, "{page}");
        walked.extend(
            page["objects"].as_array().unwrap().iter().map(|o| o["package"]["name"].as_str().unwrap().to_owned()),
        );
    }
    walked.sort();
    assert_eq!(walked, ["@acme/alpha", "@acme/old"]);
    let (_, scoped) = http_json(serve.addr, "GET", "/-/v1/search?text=scope:acme%20old", None, None);
    assert_eq!(scoped["objects"][0]["package"]["name"], "@acme/old", "{scoped}");
    assert_eq!(scoped["objects"][0]["flags"]["deprecated"], "use @acme/alpha", "{scoped}");

    // Packuments carry an ETag: npm's revalidation gets a bodiless 304 until the package changes.
    let packument = format!("{}/@acme%2falpha", serve.url());
    let (s, etag) = conditional_get(&packument, None);
    assert_eq!(s, 200);
    assert_eq!(conditional_get(&packument, Some(&etag)), (304, etag.clone()));
    assert_eq!(conditional_get(&packument, Some("\"stale\", W/\"x\"")).0, 200);
    // `npm install` asks for the abbreviated packument: the same versions and digests, no readme.
    let corgi = Command::new("curl")
        .args(["-s", "-D", "-", "-H", "Accept: application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"])
        .arg(&packument)
        .output()
        .unwrap();
    let corgi = String::from_utf8(corgi.stdout).unwrap();
    let (head, body) = corgi.split_once("\r\n\r\n").unwrap();
    assert!(head.to_ascii_lowercase().contains("content-type: application/vnd.npm.install-v1+json"), "{head}");
    let (abbreviated, full): (Value, Value) =
        (serde_json::from_str(body).unwrap(), http_json(serve.addr, "GET", "/@acme%2falpha", None, None).1);
    assert!(abbreviated.get("readme").is_none() && full["readme"].is_string(), "{abbreviated}");
    assert_eq!(abbreviated["dist-tags"], full["dist-tags"]);
    let dist = |doc: &Value| doc["versions"]["1.1.0"]["dist"]["integrity"].clone();
    assert_eq!((dist(&abbreviated), abbreviated["versions"].as_object().unwrap().len()), (dist(&full), 2));
    assert_eq!(abbreviated["modified"], full["time"]["modified"]);

    // dist-tags are channels: npm dist-tag moves one, and only publishers may.
    npm.ok(&work, Some(&admin), &["dist-tag", "add", "@acme/alpha@1.1.0", "stable"]);
    let (s, moved) = conditional_get(&packument, Some(&etag));
    assert_eq!(s, 200, "a moved dist-tag is a new packument");
    assert_ne!(moved, etag);
    let tags = npm.ok(&work, None, &["dist-tag", "ls", "@acme/alpha"]);
    assert!(tags.contains("stable: 1.1.0") && tags.contains("latest: 1.1.0"), "{tags}");
    let err = npm.fails(&work, Some(&mia), &["dist-tag", "add", "@acme/alpha@1.0.0", "stable"]);
    assert!(err.contains("E403") || err.contains("403"), "{err}");
    assert_eq!(npm.ok(&work, Some(&mia), &["whoami"]).trim(), "mia");
    let (s, b) = http_json(serve.addr, "GET", "/-/whoami", None, None);
    assert_eq!(s, 401, "{b}");

    // Bad input: npm's error shape and a 4xx, never a 500.
    let long_text = format!("/-/v1/search?text={}", "a".repeat(300));
    let cases: &[(&str, &str, u16)] = &[
        ("GET", "/-/v1/search?size=0", 400),
        ("GET", &long_text, 400),
        ("GET", "/-/v1/search?size=251", 400),
        ("GET", "/-/v1/search?size=ten", 400),
        ("GET", "/-/v1/search?from=-1", 400),
        ("GET", "/-/v1/search?from=99999999", 400),
        ("GET", "/-/v1/search?text=keywords:Not%20A%20Tag", 400),
        ("GET", "/-/v1/search?text=scope:BAD_SCOPE", 400),
        ("GET", "/@Not_A_Scope%2falpha", 400),
        ("GET", "/@acme%2fNot_A_Name", 400),
        ("GET", "/@acme", 404),
        ("GET", "/@acme%2falpha%2fextra", 400),
        ("GET", "/@acme/alpha/-/alpha-9.9.9.tgz", 404),
        ("GET", "/@acme/alpha/-/alpha-not.a.version.tgz", 400),
        ("GET", "/@acme/alpha/-/other-1.1.0.tgz", 404),
        ("GET", "/@acme/alpha/-/alpha-%5E1.tgz", 400),
        ("PUT", "/-/package/@acme%2falpha/dist-tags/latest", 400),
        ("PUT", "/-/package/@acme%2falpha/dist-tags/Bad%20Tag", 400),
    ];
    for (method, path, want) in cases {
        let body = json!("1.1.0");
        let (s, b) = http_json(serve.addr, method, path, Some(&admin), Some(&body));
        assert_eq!(s, *want, "{method} {path}: {b}");
        assert!(b["error"].as_str().is_some_and(|e| !e.is_empty()), "{method} {path}: {b}");
    }
    let (s, b) = http_json(serve.addr, "GET", "/@acme%2falpha", Some("not-a-token"), None);
    assert_eq!(s, 401, "{b}");
    assert!(b["error"].is_string(), "{b}");
}

/// A package directory npm can publish: package.json, SKILL.md and a script, and an
/// `.npmrc` with the publisher's token.
fn npm_package(npm: &Npm, root: &Path, dir: &str, pj: Value, skill_name: &str, token: &str) -> PathBuf {
    let dir = root.join(dir);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::write(dir.join("package.json"), serde_json::to_vec_pretty(&pj).unwrap()).unwrap();
    std::fs::write(
        dir.join("SKILL.md"),
        format!("---\nname: {skill_name}\ndescription: Published with npm\nlicense: MIT\n---\n# {skill_name}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("scripts/run.sh"), "echo from npm\n").unwrap();
    std::fs::write(dir.join(".npmrc"), npm.auth_line(token)).unwrap();
    dir
}

#[test]
fn npm_publish_stores_skills_like_an_upload_and_refuses_what_it_must() {
    let Some((dir, serve, admin)) = npm_site() else { return };
    let root = dir.path();
    let eve = token_for(&serve, &admin, "eve", "write");
    let npm = Npm::new(root, &serve);
    let anon = npm.project(root, "anon");

    // A first publish creates the skill; the version is a ToolHive OCI artifact like any other.
    let pj = json!({"name": "@acme/gamma", "version": "1.0.0", "description": "Gamma", "keywords": ["npm", "review"]});
    let pkg = npm_package(&npm, root, "gamma", pj, "gamma", &admin);
    let out = npm.ok(&pkg, None, &["publish", "--access", "public"]);
    assert!(out.contains("@acme/gamma@1.0.0"), "{out}");
    let resolved = serve.json(Some(&admin), &["resolve", "acme/gamma@1.0.0"]);
    assert!(resolved["digest"].as_str().unwrap().starts_with("sha256:"), "{resolved}");
    let view = npm.view(&anon, None, "@acme/gamma");
    assert_eq!(view["versions"], json!(["1.0.0"]));
    assert_eq!(view["license"], "MIT");
    assert_eq!(view["keywords"], json!(["npm", "review"]), "keywords became the new skill's tags");
    let app = npm.project(root, "app");
    npm.ok(&app, None, &["install", "@acme/gamma"]);
    let installed = app.join("node_modules/@acme/gamma");
    assert_eq!(std::fs::read_to_string(installed.join("scripts/run.sh")).unwrap(), "echo from npm\n");
    let pj: Value = serde_json::from_slice(&std::fs::read(installed.join("package.json")).unwrap()).unwrap();
    assert_eq!(pj["skilldex"]["digest"], resolved["digest"], "{pj}");

    // The same version again: 409, and npm says so; nothing changes.
    let err = npm.fails(&pkg, None, &["publish"]);
    assert!(err.contains("409") || err.contains("cannot publish over"), "{err}");
    assert_eq!(serve.json(Some(&admin), &["resolve", "acme/gamma@1.0.0"])["digest"], resolved["digest"]);

    // A new version with a dist-tag: the channel moves too.
    let pj = json!({"name": "@acme/gamma", "version": "1.1.0-rc.1"});
    let rc = npm_package(&npm, root, "gamma-rc", pj, "gamma", &admin);
    npm.ok(&rc, None, &["publish", "--tag", "next"]);
    let view = npm.view(&anon, None, "@acme/gamma");
    assert_eq!(view["dist-tags"]["next"], "1.1.0-rc.1", "{view}");

    // Without `--access public` a new scoped package is restricted, as on npm: a private skill.
    let pj = json!({"name": "@acme/hidden", "version": "0.1.0"});
    let hidden = npm_package(&npm, root, "hidden", pj, "hidden", &admin);
    npm.ok(&hidden, None, &["publish"]);
    assert!(npm.fails(&app, Some(&eve), &["view", "@acme/hidden"]).contains("E404"));
    assert_eq!(npm.view(&app, Some(&admin), "@acme/hidden")["versions"], json!(["0.1.0"]));

    // Someone without a role in the namespace: 403, for new and existing (even private) skills alike.
    for name in ["delta", "hidden", "gamma"] {
        let pj = json!({"name": format!("@acme/{name}"), "version": "9.0.0"});
        let pkg = npm_package(&npm, root, &format!("eve-{name}"), pj, name, &eve);
        let err = npm.fails(&pkg, None, &["publish"]);
        assert!(err.contains("E403"), "{name}: {err}");
    }
    assert!(npm.fails(&app, Some(&admin), &["view", "@acme/delta"]).contains("E404"), "nothing was created");

    // SKILL.md naming another skill: refused by the bundle rules, nothing created.
    let pj = json!({"name": "@acme/epsilon", "version": "1.0.0"});
    let wrong = npm_package(&npm, root, "epsilon", pj, "not-epsilon", &admin);
    let err = npm.fails(&wrong, None, &["publish"]);
    assert!(err.contains("422"), "{err}");
    let (s, _) = http_json(serve.addr, "GET", "/@acme%2fepsilon", Some(&admin), None);
    assert_eq!(s, 404, "a refused first publish leaves no skill behind");

    // Hand-made publish documents: npm's error shape, the right 4xx, nothing stored.
    let good = std::fs::read(installed.join("SKILL.md")).unwrap();
    let tgz = |entries: &[(&str, &[u8])]| {
        gz(&entries.iter().map(|(path, data)| entry(path.as_bytes(), b'0', data, b"")).collect::<Vec<_>>())
    };
    let zeta_pj = br#"{"name":"@acme/zeta","version":"1.0.0"}"#;
    let zeta_md = String::from_utf8(good.clone()).unwrap().replace("gamma", "zeta");
    let zeta = tgz(&[("package/package.json", zeta_pj), ("package/SKILL.md", zeta_md.as_bytes())]);
    let doc = |version: &str, tarball: &[u8], integrity: Option<String>| {
        let data = base64::engine::general_purpose::STANDARD.encode(tarball);
        json!({
            "name": "@acme/zeta",
            "dist-tags": {"latest": version},
            "versions": {version: {"name": "@acme/zeta", "version": version,
                "dist": {"integrity": integrity.unwrap_or_else(|| sri(tarball))}}},
            "_attachments": {format!("@acme/zeta-{version}.tgz"): {"data": data, "length": tarball.len()}},
        })
    };
    let mut two_versions = doc("1.0.0", &zeta, None);
    two_versions["versions"]["1.0.1"] = json!({});
    let mut bad_base64 = doc("1.0.0", &zeta, None);
    bad_base64["_attachments"]["@acme/zeta-1.0.0.tgz"]["data"] = json!("%%%not base64%%%");
    let mut bad_length = doc("1.0.0", &zeta, None);
    bad_length["_attachments"]["@acme/zeta-1.0.0.tgz"]["length"] = json!(3);
    let mut other_name = doc("1.0.0", &zeta, None);
    other_name["name"] = json!("@acme/other");
    let mut bad_access = doc("1.0.0", &zeta, None);
    bad_access["access"] = json!("everyone");
    let escaping =
        tgz(&[("package/package.json", zeta_pj), ("package/SKILL.md", zeta_md.as_bytes()), ("package/../../x", b"x")]);
    let flat = tgz(&[("package.json", zeta_pj), ("SKILL.md", zeta_md.as_bytes())]);
    let mismatched_pj = tgz(&[
        ("package/package.json", br#"{"name":"@acme/zeta","version":"2.0.0"}"#),
        ("package/SKILL.md", zeta_md.as_bytes()),
    ]);
    let cases: Vec<(&str, Value, u16)> = vec![
        ("two versions", two_versions, 400),
        ("bad base64", bad_base64, 400),
        ("wrong length", bad_length, 400),
        ("another name", other_name, 400),
        ("unknown access", bad_access, 400),
        ("integrity mismatch", doc("1.0.0", &zeta, Some(sri(b"other"))), 400),
        ("bad semver", doc("1.0", &zeta, None), 400),
        ("escaping entry", doc("1.0.0", &escaping, None), 422),
        ("no package/ dir", doc("1.0.0", &flat, None), 422),
        ("package.json disagrees", doc("1.0.0", &mismatched_pj, None), 422),
        ("not a tarball", doc("1.0.0", b"plain text", None), 422),
        ("not JSON", json!("{{{"), 400),
    ];
    for (what, body, want) in cases {
        let (s, b) = http_json(serve.addr, "PUT", "/@acme%2fzeta", Some(&admin), Some(&body));
        assert_eq!(s, want, "{what}: {b}");
        assert!(b["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {b}");
    }
    let (s, _) = http_json(serve.addr, "GET", "/@acme%2fzeta", Some(&admin), None);
    assert_eq!(s, 404, "no refused publish left a skill behind");
    let (s, b) = http_json(serve.addr, "PUT", "/@acme%2fzeta", None, Some(&doc("1.0.0", &zeta, None)));
    assert_eq!(s, 401, "{b}");
    let (s, b) = http_json(serve.addr, "PUT", "/@acme%2fzeta", Some(&admin), Some(&doc("1.0.0", &zeta, None)));
    assert_eq!(s, 201, "{b}");
    let (s, b) = http_json(serve.addr, "PUT", "/@acme%2fzeta", Some(&admin), Some(&doc("1.0.0", &zeta, None)));
    assert_eq!(s, 409, "{b}");
    assert!(b["error"].as_str().unwrap().contains("already exists"), "{b}");

    // Four publishes of one new version at once: one is stored, the others get 409.
    let pj_next = br#"{"name":"@acme/zeta","version":"1.1.0"}"#;
    let next = tgz(&[("package/package.json", pj_next), ("package/SKILL.md", zeta_md.as_bytes())]);
    let mut results: Vec<(u16, String)> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    http_json(serve.addr, "PUT", "/@acme%2fzeta", Some(&admin), Some(&doc("1.1.0", &next, None)))
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).map(|(s, b)| (s, b["error"].to_string())).collect()
    });
    results.sort();
    assert_eq!(results.iter().map(|r| r.0).collect::<Vec<_>>(), [201, 409, 409, 409], "{results:?}");
    for (_, error) in &results[1..] {
        assert!(error.contains("being published") || error.contains("already exists"), "{error}");
    }
    let view = npm.view(&anon, Some(&admin), "@acme/zeta");
    assert_eq!(view["versions"], json!(["1.0.0", "1.1.0"]), "{view}");

    // An oversized publish: 413 in npm's shape, read no further than the limit.
    let big = root.join("big.json");
    std::fs::write(&big, vec![b'a'; 72 * 1024 * 1024]).unwrap();
    let out = Command::new("curl")
        .args(["-s", "-X", "PUT", "-H", "content-type: application/json"])
        .args(["-H", &format!("authorization: Bearer {admin}"), "--data-binary"])
        .arg(format!("@{}", big.display()))
        .args(["-w", "\n%{http_code}", &format!("{}/@acme%2fbig", serve.url())])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap();
    assert_eq!(code, "413", "{text}");
    assert!(serde_json::from_str::<Value>(body).unwrap()["error"].is_string(), "{body}");
}

#[test]
fn npm_deprecate_unpublish_and_access_change_the_skill() {
    let Some((dir, serve, admin)) = npm_site() else { return };
    let root = dir.path();
    let pub_token = token_for(&serve, &admin, "pat", "write");
    serve.ok(Some(&admin), &["team", "set-member", "acme", "pat", "--role", "publisher"]);
    let outsider = token_for(&serve, &admin, "olga", "admin");
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        publish_dir(&serve, &admin, root, "omega", version);
    }
    let npm = Npm::new(root, &serve);
    let app = npm.project(root, "app");
    let skill = |token: &str| http_json(serve.addr, "GET", "/api/v1/skills/acme/omega", Some(token), None);

    // Deprecation is a skill's: one version alone is refused and changes nothing.
    let err = npm.fails(&app, Some(&pub_token), &["deprecate", "@acme/omega@1.0.0", "old"]);
    assert!(err.contains("E400") && err.contains("whole skills"), "{err}");
    assert_eq!(skill(&admin).1["deprecated"], false);
    // Every version: the skill is deprecated with npm's message, on every surface.
    npm.ok(&app, Some(&pub_token), &["deprecate", "@acme/omega@*", "use @acme/psi"]);
    let (_, s) = skill(&admin);
    assert_eq!((s["deprecated"].clone(), s["deprecatedMessage"].clone()), (json!(true), json!("use @acme/psi")), "{s}");
    assert_eq!(npm.ok(&app, None, &["view", "@acme/omega@1.0.0", "deprecated"]).trim(), "use @acme/psi");
    // Deprecating again with the message already shown changes nothing; "" undeprecates.
    npm.ok(&app, Some(&pub_token), &["deprecate", "@acme/omega@^1", "use @acme/psi"]);
    npm.ok(&app, Some(&pub_token), &["deprecate", "@acme/omega@*", ""]);
    assert_eq!(skill(&admin).1["deprecated"], false);
    assert_eq!(npm.ok(&app, None, &["view", "@acme/omega@1.0.0", "deprecated"]).trim(), "");
    // Outsiders cannot: 403 with a role-less admin token.
    let err = npm.fails(&app, Some(&outsider), &["deprecate", "@acme/omega@*", "mine now"]);
    assert!(err.contains("E403"), "{err}");

    // Unpublishing a version yanks it: gone from npm and from ranges, still pinned by digest.
    let (_, tarball_before) = http_bytes(serve.addr, "/@acme/omega/-/omega-1.1.0.tgz", None);
    let err = npm.fails(&app, Some(&pub_token), &["unpublish", "@acme/omega@1.1.0"]);
    assert!(err.contains("E403"), "a write token cannot yank: {err}");
    npm.ok(&app, Some(&admin), &["unpublish", "@acme/omega@1.1.0"]);
    assert_eq!(npm.view(&app, None, "@acme/omega")["versions"], json!(["1.0.0", "2.0.0"]));
    let pinned = serve.json(Some(&admin), &["resolve", "acme/omega@1.1.0"]);
    assert_eq!(pinned["yanked"], true, "{pinned}");
    assert_eq!(serve.json(Some(&admin), &["resolve", "acme/omega@^1"])["version"], "1.0.0");
    let (s, tarball_after) = http_bytes(serve.addr, "/@acme/omega/-/omega-1.1.0.tgz", None);
    assert_eq!((s, &tarball_after), (200, &tarball_before), "lockfiles that pin 1.1.0 still install it");
    let err = npm.fails(&app, None, &["install", "@acme/omega@1.1.0"]);
    assert!(err.contains("ETARGET"), "{err}");

    // Access is the skill's visibility.
    assert_eq!(npm.ok(&app, Some(&admin), &["access", "get", "status", "@acme/omega"]).trim(), "@acme/omega: public");
    let err = npm.fails(&app, Some(&outsider), &["access", "set", "status=private", "@acme/omega"]);
    assert!(err.contains("E403"), "{err}");
    npm.ok(&app, Some(&pub_token), &["access", "set", "status=private", "@acme/omega"]);
    assert_eq!(skill(&admin).1["visibility"], "private");
    assert!(npm.fails(&app, None, &["view", "@acme/omega"]).contains("E404"));
    let err = npm.fails(&app, Some(&outsider), &["access", "get", "status", "@acme/omega"]);
    assert!(err.contains("E404"), "a private skill stays unseen: {err}");
    let err = npm.fails(&app, Some(&outsider), &["deprecate", "@acme/omega@*", "x"]);
    assert!(err.contains("E404"), "{err}");
    npm.ok(&app, Some(&pub_token), &["access", "set", "status=public", "@acme/omega"]);
    assert_eq!(skill(&admin).1["visibility"], "public");

    // Bad change documents: npm's error shape, the right 4xx, nothing changed.
    let doc = |versions: Value| json!({"name": "@acme/omega", "versions": versions});
    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        ("unknown version", "/@acme%2fomega", doc(json!({"9.9.9": {}})), 400, "not a published version"),
        ("yanked version", "/@acme%2fomega", doc(json!({"1.1.0": {}, "1.0.0": {}, "2.0.0": {}})), 400, "1.1.0"),
        ("no versions", "/@acme%2fomega/-rev/1", doc(json!({})), 400, "at least one version"),
        ("odd notice", "/@acme%2fomega", doc(json!({"1.0.0": {"deprecated": 5}, "2.0.0": {}})), 400, "string"),
        ("other name", "/@acme%2fomega/-rev/1", json!({"name": "@acme/zz", "versions": {}}), 400, "names"),
        (
            "attachments",
            "/@acme%2fomega/-rev/1",
            json!({"name": "@acme/omega", "versions": {}, "_attachments": {"a": {}}}),
            400,
            "attachments",
        ),
        ("missing skill", "/@acme%2fnope", json!({"name": "@acme/nope", "versions": {"1.0.0": {}}}), 404, "not found"),
    ];
    for (what, path, body, want, says) in cases {
        let (s, b) = http_json(serve.addr, "PUT", path, Some(&admin), Some(&body));
        assert_eq!(s, want, "{what}: {b}");
        assert!(b["error"].as_str().is_some_and(|e| e.contains(says)), "{what}: {b}");
    }
    for (body, says) in
        [(json!({"access": "everyone"}), "public or restricted"), (json!({"publish_requires_tfa": true}), "MFA")]
    {
        let (s, b) = http_json(serve.addr, "POST", "/-/package/@acme%2fomega/access", Some(&admin), Some(&body));
        assert_eq!(s, 400, "{b}");
        assert!(b["error"].as_str().unwrap().contains(says), "{b}");
    }
    assert_eq!(npm.view(&app, None, "@acme/omega")["versions"], json!(["1.0.0", "2.0.0"]), "nothing changed");
    assert_eq!(skill(&admin).1["deprecated"], false);

    // Unpublishing the whole package deletes the skill softly: an owner can restore it.
    let err = npm.fails(&app, Some(&pub_token), &["unpublish", "@acme/omega", "--force"]);
    assert!(err.contains("E403"), "{err}");
    npm.ok(&app, Some(&admin), &["unpublish", "@acme/omega", "--force"]);
    assert!(npm.fails(&app, None, &["view", "@acme/omega"]).contains("E404"));
    assert_eq!(skill(&admin).1["deleted"], true);
    serve.ok(Some(&admin), &["skill", "restore", "acme/omega"]);
    assert_eq!(npm.view(&app, None, "@acme/omega")["versions"], json!(["1.0.0", "2.0.0"]));
}
