//! The CLI as a new user meets it: installs that never destroy, every agent's directory, the
//! lock file and the package-manager verbs, first publishes that leave nothing behind when
//! they fail, login profiles, `--json`, exit codes and progress bars on a terminal only.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::common::{Serve, http_get, serve_with_team, skill_dir};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the CLI in `cwd` (a project) with HOME at `home`, so project and user directories
/// are the test's own.
fn cli_in(serve: &Serve, cwd: &Path, home: &Path, token: Option<&str>, args: &[&str]) -> Output {
    serve
        .command(token, args)
        .current_dir(cwd)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("CODEX_HOME")
        .output()
        .unwrap()
}

fn ok_in(serve: &Serve, cwd: &Path, home: &Path, token: Option<&str>, args: &[&str]) -> String {
    let out = cli_in(serve, cwd, home, token, args);
    assert!(out.status.success(), "skilldex {args:?} failed: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn json_in(serve: &Serve, cwd: &Path, home: &Path, token: Option<&str>, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    serde_json::from_str(&ok_in(serve, cwd, home, token, &args)).unwrap()
}

fn lock(project: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(project.join("skilldex.lock")).unwrap()).unwrap()
}

/// A project directory and a home directory, both empty.
fn workspace(root: &Path) -> (PathBuf, PathBuf) {
    let (project, home) = (root.join("project"), root.join("home"));
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    (project, home)
}

#[test]
fn a_private_skill_installs_for_its_team_and_for_nobody_else() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let (project, home) = workspace(dir.path());
    let skill = skill_dir(dir.path(), "secret", "1.0.0", &[("notes.md", "n\n")]);

    // A first publish is private, and says so.
    let out = serve.cli(Some(&admin), &["publish", skill.to_str().unwrap(), "-n", "acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("it will be private"), "{}", stderr(&out));
    assert_eq!(serve.json(Some(&admin), &["skill", "show", "acme/secret"])["visibility"], "private");

    // Its own team installs it: the pull from the server's registry carries the CLI's token.
    ok_in(&serve, &project, &home, Some(&admin), &["install", "acme/secret"]);
    assert_eq!(std::fs::read_to_string(project.join(".claude/skills/secret/notes.md")).unwrap(), "n\n");
    assert_eq!(serve.json(Some(&admin), &["skill", "show", "acme/secret"])["downloads"], 1, "an install counts");

    // Anyone else learns nothing and gets nothing written.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = cli_in(&serve, &elsewhere, &home, None, &["install", "acme/secret"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("skilldex login"), "the error says what to do: {}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "no directory, no lock file");
}

#[test]
fn installs_never_destroy_what_skilldex_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    serve.ok(Some(&admin), &["team", "create", "backend"]);
    serve.ok(Some(&admin), &["team", "create", "frontend"]);
    let (project, home) = workspace(dir.path());
    let v1 = skill_dir(dir.path(), "code-reviewer", "1.0.0", &[]);
    serve.ok(Some(&admin), &["publish", "--public", v1.to_str().unwrap(), "-n", "backend"]);
    serve.ok(Some(&admin), &["fork", "backend/code-reviewer", "frontend/reviewer-fe"]);

    // A hand-written skill of the same name is refused, and stays as it was.
    let mine = project.join(".claude/skills/code-reviewer");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("SKILL.md"), "my own").unwrap();
    let out = cli_in(&serve, &project, &home, None, &["install", "backend/code-reviewer"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("skilldex did not install it") && stderr(&out).contains("--as NAME"));
    assert_eq!(std::fs::read_to_string(mine.join("SKILL.md")).unwrap(), "my own");
    assert!(!project.join("skilldex.lock").exists());
    std::fs::remove_dir_all(&mine).unwrap();

    // Two skills with one name: the second is refused, then installs beside it with --as.
    ok_in(&serve, &project, &home, None, &["install", "backend/code-reviewer"]);
    let out = cli_in(&serve, &project, &home, None, &["install", "frontend/reviewer-fe"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("holds backend/code-reviewer"), "{}", stderr(&out));
    ok_in(&serve, &project, &home, None, &["install", "frontend/reviewer-fe", "--as", "reviewer-fe"]);
    let pinned = lock(&project);
    let paths: Vec<&str> =
        pinned["skills"].as_array().unwrap().iter().map(|e| e["targets"][0]["path"].as_str().unwrap()).collect();
    assert_eq!(paths, [".claude/skills/code-reviewer", ".claude/skills/reviewer-fe"], "{pinned}");

    // A local edit is reported by list and --check, and kept unless --force.
    std::fs::write(project.join(".claude/skills/code-reviewer/SKILL.md"), "edited").unwrap();
    std::fs::write(project.join(".claude/skills/code-reviewer/extra.md"), "mine").unwrap();
    let listed = json_in(&serve, &project, &home, None, &["list"]);
    let row = listed.as_array().unwrap().iter().find(|r| r["skill"] == "backend/code-reviewer").unwrap();
    assert_eq!(row["status"], serde_json::json!(["modified"]), "{listed}");
    let check = cli_in(&serve, &project, &home, None, &["install", "--check"]);
    assert_eq!(check.status.code(), Some(7), "{}", stderr(&check));
    assert!(stderr(&check).contains("modified: SKILL.md; added: extra.md"), "{}", stderr(&check));
    let out = cli_in(&serve, &project, &home, None, &["install", "backend/code-reviewer"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("modified: SKILL.md"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(project.join(".claude/skills/code-reviewer/SKILL.md")).unwrap(), "edited");
    let out = cli_in(&serve, &project, &home, None, &["uninstall", "code-reviewer"]);
    assert_eq!(out.status.code(), Some(5), "uninstall keeps edits too: {}", stderr(&out));

    // With no skill named, install restores what the lock pins (--force discards the edit).
    ok_in(&serve, &project, &home, None, &["install", "--force"]);
    assert!(!project.join(".claude/skills/code-reviewer/extra.md").exists());
    ok_in(&serve, &project, &home, None, &["install", "--check"]);
    std::fs::remove_dir_all(project.join(".claude/skills/reviewer-fe")).unwrap();
    let check = cli_in(&serve, &project, &home, None, &["install", "--check"]);
    assert_eq!(check.status.code(), Some(7));
    assert!(stderr(&check).contains("reviewer-fe is missing"), "{}", stderr(&check));
    ok_in(&serve, &project, &home, None, &["install"]);
    ok_in(&serve, &project, &home, None, &["install", "--check"]);

    // --dest adds a directory to those the skill is in; a lock file is read from anywhere,
    // its paths relative to its own directory; a missing one is no clean check.
    ok_in(&serve, &project, &home, None, &["install", "backend/code-reviewer", "--dest", "vendor"]);
    let entry = lock(&project)["skills"][0].clone();
    let paths: Vec<&str> = entry["targets"].as_array().unwrap().iter().map(|t| t["path"].as_str().unwrap()).collect();
    assert_eq!(paths, [".claude/skills/code-reviewer", "vendor/code-reviewer"], "{entry}");
    let sub = project.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    ok_in(&serve, &sub, &home, None, &["install", "--check", "--lock-file", "../skilldex.lock"]);
    let missing = cli_in(&serve, &sub, &home, None, &["install", "--check"]);
    assert_eq!(missing.status.code(), Some(3), "{}", stderr(&missing));

    // Uninstall removes only what skilldex wrote, and its lock entry.
    ok_in(&serve, &project, &home, None, &["uninstall", "frontend/reviewer-fe"]);
    assert!(!project.join(".claude/skills/reviewer-fe").exists());
    assert!(project.join(".claude/skills/code-reviewer/SKILL.md").exists());
    assert_eq!(lock(&project)["skills"].as_array().unwrap().len(), 1);
}

#[test]
fn a_lock_file_from_the_first_cli_is_taken_over_without_losing_edits() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let (first, home) = workspace(dir.path());
    let v1 = skill_dir(dir.path(), "demo", "1.0.0", &[("notes.md", "n\n")]);
    serve.ok(Some(&admin), &["publish", "--public", v1.to_str().unwrap(), "-n", "acme"]);
    ok_in(&serve, &first, &home, None, &["install", "acme/demo"]);
    let pinned = lock(&first)["skills"][0].clone();

    // A project as the first CLI left it: a version 1 lock naming one directory, no digests.
    let old = dir.path().join("old");
    std::fs::create_dir_all(old.join(".claude/skills")).unwrap();
    let installed = old.join(".claude/skills/demo");
    std::fs::create_dir_all(&installed).unwrap();
    for f in ["SKILL.md", "notes.md"] {
        std::fs::copy(first.join(".claude/skills/demo").join(f), installed.join(f)).unwrap();
    }
    let v1_lock = serde_json::json!({"version": 1, "skills": [{"skill": "acme/demo", "requested": "latest",
        "version": "1.0.0", "digest": pinned["digest"], "reference": pinned["reference"], "path": ".claude/skills/demo"}]});
    std::fs::write(old.join("skilldex.lock"), v1_lock.to_string()).unwrap();

    // Edited, it is never taken for unchanged: every command that would write refuses.
    std::fs::write(installed.join("notes.md"), "mine\n").unwrap();
    for args in [&["install"][..], &["install", "acme/demo"], &["uninstall", "demo"]] {
        let out = cli_in(&serve, &old, &home, None, args);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stderr(&out));
        assert_eq!(std::fs::read_to_string(installed.join("notes.md")).unwrap(), "mine\n", "{args:?}");
    }
    let status = json_in(&serve, &old, &home, None, &["list"]);
    assert_eq!(status[0]["status"], serde_json::json!(["unverified"]), "{status}");

    // Holding exactly the pinned files, it is adopted: digests recorded, nothing rewritten.
    std::fs::write(installed.join("notes.md"), "n\n").unwrap();
    let before = std::fs::metadata(installed.join("notes.md")).unwrap().modified().unwrap();
    ok_in(&serve, &old, &home, None, &["install"]);
    assert_eq!(std::fs::metadata(installed.join("notes.md")).unwrap().modified().unwrap(), before);
    let adopted = lock(&old);
    assert_eq!(adopted["version"], 2);
    assert!(adopted["skills"][0]["targets"][0]["files"]["notes.md"].as_str().unwrap().starts_with("sha256:"));
    ok_in(&serve, &old, &home, None, &["install", "--check"]);
}

#[test]
fn uploads_go_to_the_server_the_cli_talks_to_not_the_address_it_announces() {
    let dir = tempfile::tempdir().unwrap();
    // A server that believes it is reachable elsewhere (a proxy, a wrong --public-url).
    let serve = Serve::start(dir.path(), &["--public-url", "http://127.0.0.1:9"]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    let v1 = skill_dir(dir.path(), "demo", "1.0.0", &[]);
    let published = serve.json(Some(&admin), &["publish", v1.to_str().unwrap(), "-n", "acme"]);
    assert_eq!(published["status"], "published", "{published}");
}

/// A skill directory whose SKILL.md requires `requires`.
fn skill_requiring(root: &Path, name: &str, requires: &[&str]) -> PathBuf {
    let dir = skill_dir(root, name, "1.0.0", &[]);
    let list: String = requires.iter().map(|r| format!("  - {r}\n")).collect();
    let md =
        format!("---\nname: {name}\ndescription: The {name} skill\nversion: 1.0.0\nrequires:\n{list}---\n# {name}\n");
    std::fs::write(dir.join("SKILL.md"), md).unwrap();
    dir
}

#[test]
fn install_brings_what_a_skill_requires_and_uninstall_takes_away_what_nothing_needs() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    serve.ok(Some(&admin), &["team", "create", "beta"]);
    for v in ["1.0.0", "1.1.0"] {
        let lint = skill_dir(&dir.path().join("lint"), "lint", v, &[]);
        serve.ok(Some(&admin), &["publish", "--public", lint.to_str().unwrap(), "-n", "acme"]);
    }
    let fmt = skill_requiring(dir.path(), "fmt", &["acme/lint@^1"]);
    serve.ok(Some(&admin), &["publish", "--public", fmt.to_str().unwrap(), "-n", "beta"]);
    let secret = skill_dir(dir.path(), "secret", "1.0.0", &[]);
    serve.ok(Some(&admin), &["publish", secret.to_str().unwrap(), "-n", "acme"]);
    let review = skill_requiring(dir.path(), "review", &["lint@^1", "beta/fmt", "secret"]);
    serve.ok(Some(&admin), &["publish", "--public", review.to_str().unwrap(), "-n", "acme"]);

    // Anyone installs the closure they may read, each skill pinned by digest; the private
    // requirement is named in a warning and nothing of it is written.
    let (project, home) = workspace(&dir.path().join("anyone"));
    let out = cli_in(&serve, &project, &home, None, &["install", "acme/review", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("acme/review requires `secret`, which is not installed"), "{}", stderr(&out));
    let installed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = installed.as_array().unwrap().iter().map(|e| e["skill"].as_str().unwrap()).collect();
    assert_eq!(names, ["acme/review", "acme/lint", "beta/fmt"]);
    for name in ["review", "lint", "fmt"] {
        assert!(project.join(".claude/skills").join(name).join("SKILL.md").exists(), "{name}");
    }
    assert!(!project.join(".claude/skills/secret").exists());
    let pinned = lock(&project);
    let lint = pinned["skills"].as_array().unwrap().iter().find(|e| e["skill"] == "acme/lint").unwrap().clone();
    let resolved = serve.json(None, &["resolve", "acme/lint@^1"]);
    assert_eq!((&lint["version"], &lint["digest"]), (&json!("1.1.0"), &resolved["digest"]), "{pinned}");
    assert_eq!(lint["requested"], "^1");
    assert_eq!(lint["dependency"], true);
    assert_eq!(lint["required_by"], json!(["acme/review", "beta/fmt"]));
    ok_in(&serve, &project, &home, None, &["install", "--check"]);

    // Uninstalling the skill takes its dependencies with it.
    let removed = json_in(&serve, &project, &home, None, &["uninstall", "review"]);
    assert_eq!(removed.as_array().unwrap().len(), 3, "{removed}");
    assert_eq!(lock(&project)["skills"], json!([]));
    assert_eq!(std::fs::read_dir(project.join(".claude/skills")).unwrap().count(), 0);

    // A member gets the private one too; a dependency installed by name before is kept at
    // its version (it satisfies ^1) and stays after the skill that needed it goes, and one
    // changed since is kept, and said so.
    let (project, home) = workspace(&dir.path().join("member"));
    ok_in(&serve, &project, &home, Some(&admin), &["install", "acme/lint@1.0.0"]);
    ok_in(&serve, &project, &home, Some(&admin), &["install", "acme/review"]);
    assert!(project.join(".claude/skills/secret/SKILL.md").exists());
    let pinned = lock(&project);
    let lint = pinned["skills"].as_array().unwrap().iter().find(|e| e["skill"] == "acme/lint").unwrap().clone();
    assert_eq!(lint["version"], "1.0.0", "{pinned}");
    assert!(lint.get("dependency").is_none(), "asked for by name: {pinned}");
    std::fs::write(project.join(".claude/skills/fmt/notes.md"), "mine").unwrap();
    let out = cli_in(&serve, &project, &home, Some(&admin), &["uninstall", "review"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("keeping beta/fmt"), "{}", stderr(&out));
    let left: Vec<String> =
        lock(&project)["skills"].as_array().unwrap().iter().map(|e| e["skill"].as_str().unwrap().to_owned()).collect();
    assert_eq!(left, ["acme/lint", "beta/fmt"]);
    assert!(!project.join(".claude/skills/secret").exists() && !project.join(".claude/skills/review").exists());
    assert_eq!(std::fs::read_to_string(project.join(".claude/skills/fmt/notes.md")).unwrap(), "mine");

    // A skill installed by name stays at its version, even one outside the range asked for.
    let lint2 = skill_dir(&dir.path().join("lint"), "lint", "2.0.0", &[]);
    serve.ok(Some(&admin), &["publish", lint2.to_str().unwrap(), "-n", "acme"]);
    let (project, home) = workspace(&dir.path().join("pinned"));
    ok_in(&serve, &project, &home, None, &["install", "acme/lint@2.0.0"]);
    let out = cli_in(&serve, &project, &home, None, &["install", "acme/review"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("acme/lint@2.0.0 was installed by name and is left as it is"), "{}", stderr(&out));
    let pinned = lock(&project);
    let lint = pinned["skills"].as_array().unwrap().iter().find(|e| e["skill"] == "acme/lint").unwrap().clone();
    assert_eq!((&lint["version"], &lint["requested"]), (&json!("2.0.0"), &json!("2.0.0")), "{pinned}");
}

#[test]
fn one_install_serves_every_agent_in_the_project_or_the_home() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let (project, home) = workspace(dir.path());
    let v1 = skill_dir(dir.path(), "demo", "1.0.0", &[]);
    serve.ok(Some(&admin), &["publish", "--public", v1.to_str().unwrap(), "-n", "acme"]);

    let args = ["install", "acme/demo", "-a", "claude-code", "-a", "codex", "-a", "agents", "-a", "amp"];
    ok_in(&serve, &project, &home, None, &args);
    for d in [".claude/skills/demo", ".codex/skills/demo", ".agents/skills/demo"] {
        assert!(project.join(d).join("SKILL.md").exists(), "{d}");
    }
    let pinned = lock(&project);
    let targets = pinned["skills"][0]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3, "amp and the cross-client directory share one: {pinned}");
    let shared = targets.iter().find(|t| t["path"] == ".agents/skills/demo").unwrap();
    assert_eq!(shared["agents"], serde_json::json!(["agents", "amp"]));
    assert!(shared["files"]["SKILL.md"].as_str().unwrap().starts_with("sha256:"));

    // An update goes to every directory the skill was installed into.
    let v2 = skill_dir(dir.path(), "demo", "1.1.0", &[("new.md", "x\n")]);
    serve.ok(Some(&admin), &["publish", v2.to_str().unwrap(), "-n", "acme"]);
    let outdated = json_in(&serve, &project, &home, None, &["outdated"]);
    assert_eq!(outdated[0]["latest"], "1.1.0", "{outdated}");
    ok_in(&serve, &project, &home, None, &["update"]);
    for d in [".claude/skills/demo", ".codex/skills/demo", ".agents/skills/demo"] {
        assert!(project.join(d).join("new.md").exists(), "{d}");
    }
    assert_eq!(json_in(&serve, &project, &home, None, &["outdated"]), serde_json::json!([]));

    // User scope: the agent's directory in the home, recorded in the user lock file.
    ok_in(&serve, &project, &home, None, &["install", "acme/demo@1.0.0", "--global", "-a", "cursor"]);
    assert!(home.join(".cursor/skills/demo/SKILL.md").exists());
    let user_lock: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join(".config/skilldex/skilldex.lock")).unwrap()).unwrap();
    assert_eq!(user_lock["skills"][0]["version"], "1.0.0");
    assert_eq!(lock(&project)["skills"][0]["version"], "1.1.0", "the project lock is untouched");

    let out = cli_in(&serve, &project, &home, None, &["install", "acme/demo", "-a", "no-such-agent"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("claude-code"), "the error lists the agents: {}", stderr(&out));
    // `auto`: the agents this machine has (here Gemini CLI, by its directory in the home).
    let (project2, home2) = workspace(&dir.path().join("second"));
    std::fs::create_dir_all(home2.join(".gemini")).unwrap();
    let installed = json_in(&serve, &project2, &home2, None, &["install", "acme/demo", "-a", "auto"]);
    assert_eq!(installed[0]["targets"][0]["path"], ".gemini/skills/demo", "{installed}");
    assert_eq!(installed[0]["targets"].as_array().unwrap().len(), 1, "{installed}");
    let agents = json_in(&serve, &project, &home, None, &["agents"]);
    assert!(agents.as_array().unwrap().len() >= 20, "{agents}");
}

#[test]
fn a_failed_first_publish_leaves_nothing_and_a_deleted_skill_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &["--max-archive-size", "1"]);
    let admin = std::fs::read_to_string(dir.path().join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "backend"]);

    // Refused by the server (413): no skill, nothing in search.
    let big = skill_dir(dir.path(), "big", "1.0.0", &[]);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..1_500_000)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect();
    std::fs::write(big.join("data.bin"), noise).unwrap();
    let mut publish = serve.command(Some(&admin), &["publish", big.to_str().unwrap(), "-n", "backend"]);
    let out = publish.env("SKILLDEX_MAX_ARCHIVE_SIZE", "8").output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("at most"), "{}", stderr(&out));
    let (status, _) = http_get(serve.addr, "/api/v1/skills/backend/big");
    assert_eq!(status, 404);
    let found = serve.json(Some(&admin), &["search", "big"]);
    assert_eq!(found["data"], serde_json::json!([]), "{found}");

    // A dry run checks and says what would happen, and publishes nothing.
    let small = skill_dir(dir.path(), "small", "1.0.0", &[]);
    let plan = serve.json(Some(&admin), &["publish", small.to_str().unwrap(), "-n", "backend", "--dry-run"]);
    assert_eq!((plan["new"].clone(), plan["visibility"].clone()), (Value::Bool(true), "private".into()));
    assert_eq!(http_get(serve.addr, "/api/v1/skills/backend/small").0, 404);

    // Publishing to a deleted skill says it is deleted and how to restore it.
    let args = ["publish", small.to_str().unwrap(), "-n", "backend", "--public", "--channel", "stable"];
    let published = serve.json(Some(&admin), &[&args[..], &["--changelog", "First cut"]].concat());
    assert_eq!(published["changelog"], "First cut");
    let again = serve.cli(Some(&admin), &["publish", small.to_str().unwrap(), "-n", "backend", "--dry-run"]);
    assert_eq!(again.status.code(), Some(5), "a dry run knows the version exists: {}", stderr(&again));
    assert_eq!(serve.json(None, &["resolve", "backend/small@stable"])["version"], "1.0.0");
    serve.ok(Some(&admin), &["skill", "delete", "backend/small"]);
    let again = skill_dir(&dir.path().join("again"), "small", "1.1.0", &[]);
    let out = serve.cli(Some(&admin), &["publish", again.to_str().unwrap(), "-n", "backend"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("is deleted") && stderr(&out).contains("skill restore"), "{}", stderr(&out));
    serve.ok(Some(&admin), &["skill", "restore", "backend/small"]);
    serve.ok(Some(&admin), &["publish", again.to_str().unwrap(), "-n", "backend"]);
}

#[test]
fn the_lifecycle_runs_without_curl() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let (project, home) = workspace(dir.path());

    // init writes a skill that passes the bundle rules and publishes as is.
    ok_in(&serve, &project, &home, None, &["init", "linter", "--description", "Lints: everything"]);
    let md = std::fs::read_to_string(project.join("linter/SKILL.md")).unwrap();
    assert!(md.contains("name: linter") && md.contains("version: 0.1.0"), "{md}");
    let out = cli_in(&serve, &project, &home, None, &["init", "linter"]);
    assert_eq!(out.status.code(), Some(5), "init never overwrites");
    ok_in(&serve, &project, &home, Some(&admin), &["publish", "linter", "-n", "acme", "--public"]);
    for v in ["0.2.0", "0.3.0"] {
        let d = skill_dir(dir.path(), "linter", v, &[]);
        serve.ok(Some(&admin), &["publish", d.to_str().unwrap(), "-n", "acme"]);
    }

    let versions = serve.json(None, &["versions", "acme/linter"]);
    let listed: Vec<&str> = versions.as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(listed, ["0.3.0", "0.2.0", "0.1.0"]);
    serve.ok(Some(&admin), &["channel", "set", "acme/linter", "stable", "0.2.0"]);
    let channels = serve.json(None, &["channel", "list", "acme/linter"]);
    assert!(channels.as_array().unwrap().iter().any(|c| c["name"] == "stable" && c["version"] == "0.2.0"));

    // Install from the channel, then yank and deprecate: list and resolve say so.
    ok_in(&serve, &project, &home, None, &["install", "acme/linter@stable"]);
    serve.ok(Some(&admin), &["yank", "acme/linter@0.2.0"]);
    let status = json_in(&serve, &project, &home, None, &["list"]);
    assert_eq!(status[0]["status"], serde_json::json!(["yanked"]), "{status}");
    serve.ok(Some(&admin), &["unyank", "acme/linter@0.2.0"]);
    serve.ok(Some(&admin), &["skill", "deprecate", "acme/linter", "--message", "use lint-pro"]);
    let out = serve.cli(None, &["resolve", "acme/linter"]);
    assert!(stderr(&out).contains("deprecated: use lint-pro"), "{}", stderr(&out));
    let status = json_in(&serve, &project, &home, None, &["list"]);
    assert_eq!(status[0]["status"], serde_json::json!(["deprecated"]), "{status}");
    serve.ok(Some(&admin), &["channel", "rm", "acme/linter", "stable"]);
    assert_eq!(serve.cli(None, &["resolve", "acme/linter@stable"]).status.code(), Some(3));

    serve.ok(Some(&admin), &["star", "acme/linter"]);
    serve.ok(Some(&admin), &["skill", "edit", "acme/linter", "--description", "Lints code", "--tag", "lint"]);
    let shown = serve.json(None, &["skill", "show", "acme/linter"]);
    assert_eq!((shown["stars"].clone(), shown["description"].clone()), (1.into(), "Lints code".into()));
    assert_eq!(shown["tags"], serde_json::json!(["lint"]));
    serve.ok(Some(&admin), &["unstar", "acme/linter"]);
    assert_eq!(serve.json(None, &["skill", "show", "acme/linter"])["stars"], 0);
    serve.ok(Some(&admin), &["skill", "edit", "acme/linter", "--visibility", "private"]);
    assert_eq!(serve.cli(None, &["skill", "show", "acme/linter"]).status.code(), Some(3));

    // A unified diff per file, between channels or versions.
    let old = serve.ok(Some(&admin), &["diff", "acme/linter", "0.2.0", "latest"]);
    assert!(
        old.contains("--- a/SKILL.md\n+++ b/SKILL.md") && old.contains("-Version 0.2.0.\n+Version 0.3.0."),
        "{old}"
    );
    let stat = serve.ok(Some(&admin), &["diff", "acme/linter", "0.2.0", "0.3.0", "--stat"]);
    assert!(stat.contains("1 modified"), "{stat}");

    serve.ok(Some(&admin), &["user", "create", "zoe", "--email", "zoe@example.com"]);
    let users = serve.json(Some(&admin), &["user", "list"]);
    let names: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "zoe"]);
    let teams = serve.json(Some(&admin), &["team", "list"]);
    assert_eq!(teams[0]["slug"], "acme");
    assert_eq!(teams[0]["role"], "owner");
    let audit = serve.json(Some(&admin), &["audit", "--limit", "3"]);
    assert_eq!(audit["data"][0]["action"], "user.create", "{audit}");
    assert_eq!(serve.cli(None, &["user", "list"]).status.code(), Some(4), "site admins only");
}

/// Runs `skilldex login …` with `token` on its standard input.
fn login(serve: &Serve, args: &[&str], token: &str) -> Output {
    use std::process::Stdio;
    let mut cmd = serve.command(None, args);
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), format!("{token}\n").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn login_keeps_the_token_private_and_sends_it_only_to_its_server() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let config = dir.path().join("cli-config.yaml");
    let out = login(&serve, &["login", "--with-token"], &admin);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Logged in") && stderr(&out).contains("as admin"), "{}", stderr(&out));
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!shown.contains(&admin), "the token is never echoed");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o600);

    // The profile serves every command; SKILLDEX_SERVER names the same server here.
    assert_eq!(serve.json(None, &["whoami"])["user"]["username"], "admin");
    // Another server named on the command line never receives the profile's token.
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    let (other, _) = serve_with_team(&dir.path().join("other"));
    let mut cmd = serve.command(None, &["whoami", "--server", &other.url()]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("no token: run `skilldex login`"), "{}", stderr(&out));

    // A refused token is not saved.
    let bad = login(&serve, &["login", "--with-token", "--profile", "bad"], "sdx_not_a_token");
    assert_eq!(bad.status.code(), Some(4), "{}", stderr(&bad));
    assert!(!std::fs::read_to_string(&config).unwrap().contains("sdx_not_a_token"));

    // On a terminal the token is asked for and never shown as it is typed.
    let shell = format!(
        "SKILLDEX_SERVER={} SKILLDEX_CONFIG={} {} login --profile typed",
        serve.url(),
        config.display(),
        crate::common::BIN
    );
    let mut typed = std::process::Command::new("script")
        .args(["-qec", &shell, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Typed once the prompt is up (and echo is off), as a person would.
    let mut screen = Vec::new();
    let mut stdout = typed.stdout.take().unwrap();
    while !String::from_utf8_lossy(&screen).contains("Paste a token") {
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&screen));
        screen.extend_from_slice(&buf[..n]);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    std::io::Write::write_all(typed.stdin.as_mut().unwrap(), format!("{admin}\n").as_bytes()).unwrap();
    std::io::Read::read_to_end(&mut stdout, &mut screen).unwrap();
    let status = typed.wait().unwrap();
    let screen = String::from_utf8_lossy(&screen);
    assert!(status.success() && screen.contains("Logged in"), "{screen}");
    assert!(!screen.contains(&admin), "not echoed: {screen}");
    assert!(std::fs::read_to_string(&config).unwrap().contains("typed:"));

    serve.ok(None, &["logout", "--profile", "default"]);
    serve.ok(None, &["logout"]);
    assert!(!std::fs::read_to_string(&config).unwrap().contains(&admin));
    assert_eq!(serve.cli(None, &["whoami"]).status.code(), Some(4));
}

#[test]
fn exit_codes_and_json_tell_scripts_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let v1 = skill_dir(dir.path(), "demo", "1.0.0", &[]);
    serve.ok(Some(&admin), &["publish", "--public", v1.to_str().unwrap(), "-n", "acme"]);

    let code = |token: Option<&str>, args: &[&str]| {
        let out = serve.cli(token, args);
        assert!(out.stdout.is_empty(), "{args:?}: a failure prints no data: {}", String::from_utf8_lossy(&out.stdout));
        out.status.code()
    };
    assert_eq!(code(None, &["resolve", "acme/nope"]), Some(3));
    assert_eq!(code(None, &["publish", v1.to_str().unwrap(), "-n", "acme"]), Some(4));
    assert_eq!(code(Some(&admin), &["publish", v1.to_str().unwrap(), "-n", "acme"]), Some(5));
    assert_eq!(code(None, &["resolve", "acme/demo", "--server", "http://127.0.0.1:9"]), Some(6));
    assert_eq!(code(None, &["resolve"]), Some(2));

    // Data on stdout, in a documented shape; messages on stderr.
    let resolved = serve.json(None, &["resolve", "acme/demo"]);
    for key in ["namespace", "name", "version", "digest", "reference", "yanked", "deprecated"] {
        assert!(resolved.get(key).is_some(), "{key} in {resolved}");
    }
    let human = serve.ok(None, &["resolve", "acme/demo"]);
    assert!(human.starts_with("acme/demo@1.0.0\ndigest     sha256:"), "{human}");

    // allowed-tools keeps parenthesised arguments whole, on every surface.
    let tools = skill_dir(dir.path(), "tools", "1.0.0", &[]);
    let md = std::fs::read_to_string(tools.join("SKILL.md")).unwrap();
    std::fs::write(
        tools.join("SKILL.md"),
        md.replace("allowed-tools: Read Grep", "allowed-tools: Read Grep Bash(git diff:*)"),
    )
    .unwrap();
    serve.ok(Some(&admin), &["publish", "--public", tools.to_str().unwrap(), "-n", "acme"]);
    let (_, body) = http_get(serve.addr, "/registry/default/v0.1/x/dev.toolhive/skills/acme/tools");
    let th: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(th["allowedTools"], serde_json::json!(["Read", "Grep", "Bash(git diff:*)"]), "{th}");
}

#[test]
fn progress_bars_appear_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, admin) = serve_with_team(dir.path());
    let big = skill_dir(dir.path(), "bulky", "1.0.0", &[]);
    // Random letters: about 4.7 bits each after compression, over the 256 KiB a bar needs.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: String = (0..600_000)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            char::from(b'a' + ((x >> 33) % 26) as u8)
        })
        .collect();
    std::fs::write(big.join("words.txt"), noise).unwrap();

    // Under a pseudo-terminal (util-linux `script`), the upload draws a bar on stderr.
    let shell = format!(
        "SKILLDEX_SERVER={} SKILLDEX_TOKEN={admin} SKILLDEX_CONFIG={} {} publish {} -n acme 2>&1",
        serve.url(),
        dir.path().join("none.yaml").display(),
        crate::common::BIN,
        big.display()
    );
    let tty = std::process::Command::new("script").args(["-qec", &shell, "/dev/null"]).output().unwrap();
    let seen = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{seen}");
    assert!(seen.contains("uploading acme/bulky@1.0.0") && seen.contains("KiB"), "a bar on the terminal: {seen}");
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let install = shell.replace(&format!("publish {} -n acme", big.display()), "install acme/bulky@1.0.0");
    let tty = std::process::Command::new("script")
        .args(["-qec", &format!("cd {} && {install}", project.display()), "/dev/null"])
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success() && seen.contains("pulling acme/bulky"), "a bar while pulling: {seen}");

    // Piped, the same publish prints no bar.
    let v2 = skill_dir(dir.path(), "bulky", "1.0.1", &[]);
    std::fs::copy(big.join("words.txt"), v2.join("words.txt")).unwrap();
    let out = serve.cli(Some(&admin), &["publish", v2.to_str().unwrap(), "-n", "acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("uploading"), "{}", stderr(&out));
}

/// The README's CLI tour, run line by line as a new user would paste it (against this
/// test's server instead of port 8080): every line must succeed.
#[test]
fn the_readme_tour_runs_as_written() {
    let readme = include_str!("../README.md");
    let section = readme.split("\n## CLI\n").nth(1).unwrap().split("\n## ").next().unwrap();
    let lines: Vec<&str> = section
        .split("```sh\n")
        .skip(1)
        .flat_map(|block| block.split("```").next().unwrap().lines())
        .filter(|l| !l.trim().is_empty() && !l.starts_with("cargo install"))
        .collect();
    assert!(lines.len() > 30, "the tour has its steps: {lines:?}");
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let bin = Path::new(crate::common::BIN).parent().unwrap().display().to_string();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    for line in lines {
        let line = line.replace("http://127.0.0.1:8080", &serve.url());
        let out = std::process::Command::new("bash")
            .args(["-c", &line])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("HOME", &home)
            .env("SKILLDEX_CONFIG", dir.path().join("tour-config.yaml"))
            .env_remove("SKILLDEX_TOKEN")
            .env_remove("SKILLDEX_SERVER")
            .env_remove("SKILLDEX_PROFILE")
            .env_remove("XDG_CONFIG_HOME")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "README line failed: {line}\n{}", stderr(&out));
    }
}
