//! Sources: versions that come in without anyone publishing them by hand. A site
//! administrator names an OCI repository (or a prefix of a registry's repositories) and the
//! namespace it feeds; every run lists the repositories and their tags and hands each semver
//! tag's artifact to the one publish pipeline, which applies the bundle rules and the trust
//! policies as for any publish. What each tag came to is recorded and shown in the source's
//! status: a tag that fails is reported, never skipped in silence, and a tag that moves to
//! other content is reported and never rewrites the version it recorded.
//!
//! A source acts as a token of the administrator who added it, whose secret nobody ever saw:
//! each run authenticates with it like a request would, so revoking it (or the administrator
//! losing their rights) stops the source. Runs are scheduled in the database, held by one
//! replica at a time under a lease. Registry notifications (CNCF distribution's, Harbor's)
//! name the tags just pushed, which are taken at once.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::access::{generate_token, hash_token, require_site_admin};
use super::publish::{ArtifactSource, Mirror, PublishPlan};
use super::{Caller, Error, Result, SkillDraft, Sources};
use crate::domain::{Millis, Namespace, SkillName, TokenKind, TokenScope, Visibility, new_id, now_millis};
use crate::oci::{Credentials, Registries, parse_reference};
use crate::store::{NewToken, SourceRow, SourceTag};

/// Repositories one run looks at, at most.
pub const MAX_REPOSITORIES: usize = 10_000;
/// Tags of one repository one run looks at, at most.
pub const MAX_TAGS: usize = 10_000;
/// Names asked for per page of a catalog or tag list.
const PAGE: usize = 1000;
/// Pages of a registry's catalog one run reads at most.
const MAX_LISTING_PAGES: usize = 100;
/// Tags taken at once.
const TAGS_AT_ONCE: usize = 4;
/// How long one page of a listing may take, unless `serve --source-timeout` says otherwise;
/// one tag (resolve, fetch, check, record) may take twice that.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a replica holds a source for one run; a run that has not finished by then
/// stops (`RUN_TIMEOUT`) well before another may take the source.
const LEASE_MS: Millis = 40 * 60_000;
const RUN_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How many problem tags a source's status lists.
const PROBLEMS_SHOWN: i64 = 100;
/// The shortest interval between scheduled runs.
pub const MIN_INTERVAL_SECS: u64 = 60;
/// The longest interval between scheduled runs: a (leap) year.
pub const MAX_INTERVAL_SECS: u64 = 366 * 24 * 3600;
/// The default interval between scheduled runs: an hour.
pub const DEFAULT_INTERVAL_SECS: u64 = 3600;
/// How long `sync` waits for a run under way before answering 409.
const SYNC_WAIT: Duration = Duration::from_secs(60);
/// How many bytes of catalog documents one run reads in all.
const MAX_CATALOG_TOTAL: usize = 2 * MAX_CATALOG;
/// A notification body's limit.
pub const MAX_NOTIFICATION: usize = 1024 * 1024;
/// How long the sources' metrics are reused: a scrape costs the database nothing more often.
const METRICS_TTL: Duration = Duration::from_secs(10);
/// The most entries one catalog run takes.
pub const MAX_ENTRIES: usize = 20_000;
/// A catalog document's (or one API page's) size limit.
const MAX_CATALOG: usize = 32 * 1024 * 1024;
/// Pages of a catalog API one run reads at most.
const MAX_CATALOG_PAGES: usize = 500;

/// A source to add.
#[derive(Debug, Clone)]
pub struct NewSource {
    pub name: String,
    pub namespace: Namespace,
    /// Where it reads.
    pub location: SourceLocation,
    /// Seconds between runs; 0: only when asked or notified; `None`: an hour.
    pub interval_secs: Option<u64>,
    /// Of the skills the source creates; private unless told.
    pub visibility: Option<Visibility>,
    /// What the registry is read with; anonymous without.
    pub credentials: Option<(String, String)>,
    /// Whether registry notifications may trigger runs (a secret is made and shown once).
    pub notifications: bool,
    /// Copy each artifact, with its signatures, into this server's storage.
    pub mirror: bool,
}

/// Where a source reads.
#[derive(Debug, Clone)]
pub enum SourceLocation {
    /// `registry/repository` or `registry/prefix/*`: every semver tag.
    Oci(String),
    /// A ToolHive upstream registry file (`data.skills[]`) at an `https://` URL, a `file:`
    /// path on the server or in a git repository (`git+…#path`), or a ToolHive skills API
    /// listing (`{"skills": […]}`, paged
    /// by `metadata.nextCursor`), such as another skilldex's.
    Catalog(String),
}

/// A source as its administrators see it: never its credentials or notification secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceInfo {
    pub name: String,
    pub namespace: String,
    /// `oci` or `catalog`.
    pub kind: String,
    /// `registry/repository`, or `registry/prefix/*` for every repository under a prefix; or
    /// a catalog's URL or `file:` path.
    pub location: String,
    /// Seconds between scheduled runs; 0: only when asked or notified.
    pub interval_secs: i64,
    /// Of the skills the source creates.
    pub visibility: String,
    /// Whether artifacts are copied, with their signatures, into this server's storage (and
    /// installed from there).
    pub mirror: bool,
    /// Whether the registry is read with stored credentials (never shown).
    pub credentials: bool,
    /// Whether registry notifications are accepted (the secret is never shown again).
    pub notifications: bool,
    /// Who added it; the source acts as a token of theirs.
    pub created_by: String,
    pub created_at: Millis,
    /// When the next scheduled run is due (absent: none is scheduled).
    pub next_run_at: Option<Millis>,
    /// Whether a run is under way.
    pub running: bool,
    pub status: SourceStatus,
    /// How many tags came to each outcome (`registered`, `exists`, `failed`, `moved`).
    pub tags: BTreeMap<String, i64>,
    /// The tags that need attention (failed or moved), newest first, at most 100.
    pub problems: Vec<TagProblem>,
}

/// How a source's last run went.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    pub last_run_at: Option<Millis>,
    /// When a run last listed everything it should (tags may still have failed).
    pub last_success_at: Option<Millis>,
    /// Why the last run could not list what it should; absent when it could.
    pub last_error: Option<String>,
    pub last_run: RunCounts,
}

/// What one run saw and did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunCounts {
    pub repositories: u64,
    /// Semver tags looked at.
    pub tags: u64,
    /// Versions recorded by this run.
    pub registered: u64,
    /// Tags already recorded at the same digest.
    pub unchanged: u64,
    /// Tags whose version was already recorded otherwise, at the same digest.
    pub exists: u64,
    pub failed: u64,
    /// Tags that now point elsewhere than the version they recorded.
    pub moved: u64,
    /// Tags that are not versions (`latest`, signatures, …).
    pub ignored: u64,
    /// Tags past the per-repository limit, not looked at.
    pub skipped: u64,
    /// Bytes a mirror source copied into this server's storage.
    pub mirrored_bytes: u64,
    pub duration_ms: u64,
}

/// A tag that needs attention.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagProblem {
    pub repository: String,
    pub tag: String,
    /// The digest the tag pointed to when it failed, or the recorded version's for `moved`.
    pub digest: String,
    /// `failed` or `moved`.
    pub outcome: String,
    pub detail: Option<String>,
    pub skill: Option<String>,
    pub version: Option<String>,
    pub seen_at: Millis,
}

/// An added source, with the notification secret when one was made (shown only here).
#[derive(Debug, Clone)]
pub struct AddedSource {
    pub source: SourceInfo,
    pub notify_secret: Option<String>,
}

/// Where an OCI source reads: the registry and either one repository or a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OciLocation {
    registry: String,
    /// The repository, or the prefix without its `/*` (empty: every repository).
    path: String,
    prefix: bool,
}

impl OciLocation {
    fn parse(location: &str) -> Result<Self> {
        let bad = |why: &str| Error::Invalid(format!("`{location}` is not an OCI source location: {why}"));
        let (rest, prefix) = match location.strip_suffix("/*") {
            Some(rest) => (rest, true),
            None => (location, false),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((registry, path)) => (registry, path),
            None if prefix => (rest, ""),
            None => return Err(bad("name the registry and a repository, e.g. ghcr.io/acme/skills/*")),
        };
        if location.contains(['@', '?', '#', ' ', '\\']) || path.contains(':') {
            return Err(bad("no tag or digest: a source takes every semver tag"));
        }
        let probe = if path.is_empty() { format!("{registry}/probe") } else { format!("{registry}/{path}") };
        let parsed = parse_reference(&probe).map_err(|e| bad(&e.to_string()))?;
        if parsed.registry() != registry || parsed.repository() != &probe[registry.len() + 1..] {
            return Err(bad("no tag or digest: a source takes every semver tag"));
        }
        Ok(Self { registry: registry.to_owned(), path: path.to_owned(), prefix })
    }

    fn matches(&self, repository: &str) -> bool {
        if !self.prefix {
            return repository == self.path;
        }
        self.path.is_empty() || repository.strip_prefix(self.path.as_str()).is_some_and(|r| r.starts_with('/'))
    }
}

/// The version a tag names: `1.2.3` or `v1.2.3` (pre-releases and build metadata too).
fn tag_version(tag: &str) -> Option<semver::Version> {
    semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}

/// The `host[:port]` a catalog location reaches (`None` for a `file:` path), once it is a
/// URL this server reads: `https://`, or `http://` for a host the outbound policy names.
fn catalog_host(location: &str) -> Result<Option<String>> {
    let bad = |why: &str| Error::Invalid(format!("`{location}` is not a catalog location: {why}"));
    if location.starts_with("git+") {
        let git = GitCatalog::parse(location)?;
        return match git.url.strip_prefix("file://") {
            Some(_) => Ok(None),
            None => catalog_host(&git.url),
        };
    }
    if let Some(path) = location.strip_prefix("file:") {
        return if path.trim_start_matches("//").starts_with('/') {
            Ok(None)
        } else {
            Err(bad("a file is named by its absolute path, e.g. file:/srv/catalog.json"))
        };
    }
    let url = reqwest::Url::parse(location).map_err(|_| bad("not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() || !url.username().is_empty() {
        return Err(bad("an https:// (or http://) URL without credentials, or a file: path"));
    }
    let host = url.host_str().unwrap_or_default();
    Ok(Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }))
}

/// A catalog file in a git repository: `git+<https or file URL>[?ref=<branch or tag>]#<path>`.
struct GitCatalog {
    url: String,
    reference: Option<String>,
    path: String,
}

impl GitCatalog {
    fn parse(location: &str) -> Result<Self> {
        let bad = |why: &str| Error::Invalid(format!("`{location}` is not a git catalog: {why}"));
        let rest = location.strip_prefix("git+").ok_or_else(|| bad("it starts with git+"))?;
        let (repo, path) =
            rest.split_once('#').ok_or_else(|| bad("name the file after #, e.g. …/catalog.git#registry.json"))?;
        let (url, reference) = match repo.split_once("?ref=") {
            Some((url, r)) => (url, Some(r.to_owned())),
            None => (repo, None),
        };
        // What git is given is the URL as parsed here, so it reaches the host that was checked.
        let url = if url.starts_with("file:///") {
            url.to_owned()
        } else {
            let parsed = reqwest::Url::parse(url).map_err(|_| bad("the repository is not a URL"))?;
            if !matches!(parsed.scheme(), "https" | "http")
                || !parsed.username().is_empty()
                || parsed.password().is_some()
            {
                return Err(bad(
                    "the repository is an https:// (or http://) URL without credentials, or a file:/// URL",
                ));
            }
            parsed.to_string()
        };
        let safe_ref = reference.as_deref().is_none_or(|r| {
            !r.is_empty() && !r.starts_with('-') && r.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
        });
        let safe_path = !path.is_empty()
            && !path.starts_with('/')
            && !path.starts_with('-')
            && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
        if !safe_ref || !safe_path {
            return Err(bad("the ref and the path are plain names inside the repository"));
        }
        Ok(Self { url, reference, path: path.to_owned() })
    }

    /// Reads the file from the repository without checking anything out: a shallow clone of
    /// trees only (https and file transports only, no hooks, through the egress proxy when
    /// there is one), then the file's mode and size from its tree entry, then its content,
    /// within the size limit. A hostile repository's other files are never written to disk.
    fn read(&self, proxy: Option<&str>, timeout: Duration) -> Result<Vec<u8>> {
        let fail = |why: String| Error::Upstream(format!("cannot read the catalog from {}: {why}", self.url));
        let scratch = std::env::temp_dir().join(format!("skilldex-git-{}", crate::domain::new_id()));
        struct Remove(std::path::PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let _remove = Remove(scratch.clone());
        std::fs::create_dir_all(&scratch).map_err(|e| fail(e.to_string()))?;
        let deadline = std::time::Instant::now() + timeout;
        let repo = scratch.join("repo");
        let mut clone: Vec<String> =
            ["clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags", "--no-checkout", "--filter=blob:none"]
                .map(str::to_owned)
                .to_vec();
        if let Some(r) = &self.reference {
            clone.extend(["--branch".to_owned(), r.clone()]);
        }
        clone.extend(["--".to_owned(), self.url.clone(), repo.display().to_string()]);
        run_git(&scratch, &scratch, proxy, &clone, deadline, 0).map_err(fail)?;
        let entry = run_git(
            &scratch,
            &repo,
            proxy,
            &["ls-tree".into(), "HEAD".into(), "--".into(), self.path.clone()],
            deadline,
            4096,
        )
        .map_err(fail)?;
        let entry = String::from_utf8_lossy(&entry);
        // `<mode> <type> <object>\t<path>`
        let mut fields = entry.split_whitespace();
        let (mode, kind, object) = (fields.next(), fields.next(), fields.next());
        let (Some(mode), Some("blob"), Some(object)) = (mode, kind, object) else {
            return Err(fail(format!("it has no file `{}`", self.path)));
        };
        if !matches!(mode, "100644" | "100755") || !object.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fail(format!("`{}` is not a regular file", self.path)));
        }
        let size = run_git(&scratch, &repo, proxy, &["cat-file".into(), "-s".into(), object.to_owned()], deadline, 64)
            .map_err(fail)?;
        let size: u64 =
            String::from_utf8_lossy(&size).trim().parse().map_err(|_| fail("no size for the file".into()))?;
        if size > MAX_CATALOG as u64 {
            return Err(fail(format!("`{}` is over {MAX_CATALOG} bytes", self.path)));
        }
        run_git(&scratch, &repo, proxy, &["cat-file".into(), "blob".into(), object.to_owned()], deadline, MAX_CATALOG)
            .map_err(fail)
    }
}

/// Runs git in `dir` with nothing of this machine's configuration, and at most until
/// `deadline` (then its whole process group is killed); its output, at most `max` bytes.
fn run_git(
    home: &std::path::Path,
    dir: &std::path::Path,
    proxy: Option<&str>,
    args: &[String],
    deadline: std::time::Instant,
    max: usize,
) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read as _;
    use std::os::unix::process::CommandExt as _;
    let mut cmd = std::process::Command::new("git");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(["-c", "protocol.allow=never", "-c", "protocol.https.allow=always", "-c", "protocol.http.allow=always"])
        .args(["-c", "protocol.file.allow=always", "-c", "core.hooksPath=/dev/null", "-c", "core.symlinks=false"]);
    if let Some(proxy) = proxy {
        cmd.args(["-c", &format!("http.proxy={proxy}")]);
    }
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| format!("git could not be started ({e})"))?;
    // Both pipes are drained while git runs, each within its limit.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>, cap: usize| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(p) = pipe {
                let _ = p.take(cap as u64 + 1).read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>), max);
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>), 4096);
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None if std::time::Instant::now() > deadline => {
                // The whole group: git's helpers (remote-https, index-pack) too.
                let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
                let _ = child.kill();
                let _ = child.wait();
                return Err("git took too long".into());
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        return Err(err.lines().find(|l| !l.trim().is_empty()).unwrap_or("git failed").trim().to_owned());
    }
    if out.len() > max {
        return Err(format!("git said more than {max} bytes"));
    }
    Ok(out)
}

/// A catalog document, as far as a source reads it: a file's `data.skills`, or an API
/// page's `skills` and `metadata.nextCursor`. Everything else is skipped unread, and entries
/// past `MAX_ENTRIES` are not kept.
#[derive(Deserialize, Default)]
struct CatalogDoc {
    #[serde(default)]
    data: Option<CatalogData>,
    #[serde(default)]
    skills: Option<CappedEntries>,
    #[serde(default)]
    metadata: Option<CatalogMeta>,
}

#[derive(Deserialize, Default)]
struct CatalogData {
    #[serde(default)]
    skills: Option<CappedEntries>,
}

#[derive(Deserialize, Default)]
struct CatalogMeta {
    #[serde(default, rename = "nextCursor")]
    next_cursor: Option<String>,
}

/// At most `MAX_ENTRIES` entries of a list; the rest are read past without being kept.
#[derive(Default)]
struct CappedEntries(Vec<serde_json::Value>);

impl<'de> Deserialize<'de> for CappedEntries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = CappedEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of skill entries")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<CappedEntries, A::Error> {
                let mut kept = Vec::new();
                while kept.len() < MAX_ENTRIES {
                    match seq.next_element::<serde_json::Value>()? {
                        Some(v) => kept.push(v),
                        None => return Ok(CappedEntries(kept)),
                    }
                }
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(CappedEntries(kept))
            }
        }
        d.deserialize_seq(Visitor)
    }
}

/// The skill entries of a catalog document and, for an API page, the next page's cursor.
fn skills_of(doc: CatalogDoc) -> (Vec<serde_json::Value>, Option<String>) {
    let listed = doc.data.and_then(|d| d.skills).or(doc.skills).unwrap_or_default().0;
    let next = doc.metadata.and_then(|m| m.next_cursor).filter(|c| !c.is_empty());
    (listed, next)
}

/// A source's name: like a namespace, 1–64 characters.
fn check_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "`{name}` is not a source name: 1 to 64 lowercase letters, digits and inner hyphens"
        )))
    }
}

/// One tag a notification or a listing names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedTag {
    pub repository: String,
    pub tag: String,
}

/// The pushed tags in a registry notification: CNCF distribution's envelope
/// (`{"events":[{"action":"push","target":{"repository","tag"}}]}`) or Harbor's webhook
/// (`{"type":"PUSH_ARTIFACT","event_data":{"repository":{"repo_full_name"},"resources":[{"tag"}]}}`).
/// Anything else names none.
pub fn pushed_tags(body: &serde_json::Value) -> Vec<PushedTag> {
    let mut tags = Vec::new();
    for e in body["events"].as_array().into_iter().flatten() {
        let (repo, tag) = (e["target"]["repository"].as_str(), e["target"]["tag"].as_str());
        if e["action"] == "push"
            && let (Some(repository), Some(tag)) = (repo, tag)
        {
            tags.push(PushedTag { repository: repository.to_owned(), tag: tag.to_owned() });
        }
    }
    if body["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("PUSH_ARTIFACT"))
        && let Some(repository) = body["event_data"]["repository"]["repo_full_name"].as_str()
    {
        for r in body["event_data"]["resources"].as_array().into_iter().flatten() {
            if let Some(tag) = r["tag"].as_str() {
                tags.push(PushedTag { repository: repository.to_owned(), tag: tag.to_owned() });
            }
        }
    }
    tags.dedup();
    tags
}

/// A source whose notification secret a request presented.
pub struct Notifier(SourceRow);

/// What became of one tag.
enum Outcome {
    Registered,
    Unchanged,
    Exists,
    Failed,
    Moved,
}

impl Sources<'_> {
    /// Adds a source (site administrators, admin token). It is due at once.
    pub async fn add(&self, caller: &Caller, new: NewSource) -> Result<AddedSource> {
        require_site_admin(caller)?;
        let me = caller.require(TokenScope::Admin)?;
        check_name(&new.name)?;
        let (kind, text, host) = match &new.location {
            SourceLocation::Oci(text) => ("oci", text.clone(), OciLocation::parse(text)?.registry),
            SourceLocation::Catalog(text) => ("catalog", text.clone(), catalog_host(text)?.unwrap_or_default()),
        };
        if !host.is_empty() && !self.core.registries.permits(&host).await {
            return Err(Error::Invalid(format!(
                "the outbound policy does not allow `{host}` (or its name does not resolve): an internal \
                 host needs `--allow-registry {host}` on the server"
            )));
        }
        if kind != "oci" && (new.notifications || new.credentials.is_some()) {
            // A catalog's artifacts are read anonymously, so credentials would never be used.
            return Err(Error::Invalid("registry notifications and credentials are for OCI sources".into()));
        }
        if self.core.store.team_by_namespace(new.namespace.as_str()).await?.is_none() {
            return Err(Error::NotFound(format!("no team owns the namespace `{}`", new.namespace)));
        }
        if new.mirror {
            // Where mirrored artifacts go: refused now rather than at every tag.
            self.core.publishing().storage_repository(&new.namespace, &"probe".parse().expect("a valid name"))?;
        }
        let interval = new.interval_secs.unwrap_or(DEFAULT_INTERVAL_SECS);
        if interval != 0 && interval < MIN_INTERVAL_SECS || interval > MAX_INTERVAL_SECS {
            return Err(Error::Invalid(format!(
                "the interval is 0 (only when asked or notified) or {MIN_INTERVAL_SECS} seconds to a year"
            )));
        }
        if let Some((user, password)) = &new.credentials
            && (user.is_empty() || user.len() > 1024 || password.len() > 16 * 1024 || user.contains(':'))
        {
            return Err(Error::Invalid("credentials need a username (no `:`) and a password of sane length".into()));
        }
        let credentials = new.credentials.as_ref().map(|(username, password)| {
            self.core.site_key.seal(&json!({"username": username, "password": password}).to_string())
        });
        if self.core.store.source_by_name(&new.name).await?.is_some() {
            return Err(Error::Conflict(format!("a source named `{}` exists", new.name)));
        }
        let notify_secret = new.notifications.then(|| format!("sdxn_{}", generate_token()));
        let now = now_millis();
        // Its secret is thrown away: only this source's runs act as it.
        let token = self
            .core
            .store
            .create_token(&NewToken {
                user_id: me.user.id.clone(),
                name: format!("source {}", new.name),
                scope: TokenScope::Write,
                kind: TokenKind::Standard,
                hash: hash_token(&generate_token()),
                expires_at: None,
            })
            .await?;
        let row = SourceRow {
            id: new_id(),
            name: new.name.clone(),
            namespace: new.namespace.clone(),
            kind: kind.into(),
            location: text.clone(),
            interval_secs: interval as i64,
            visibility: new.visibility.unwrap_or(Visibility::Private),
            mirror: new.mirror,
            credentials,
            notify_hash: notify_secret.as_deref().map(hash_token),
            token_id: Some(token.id.clone()),
            created_by: me.user.id.clone(),
            created_at: now,
            next_run_at: now,
            lease_until: None,
            status: serde_json::to_string(&SourceStatus::default()).expect("status serializes"),
        };
        if let Err(e) = self.core.store.create_source(&row).await {
            self.core.store.revoke_token(&token.id, now).await?;
            return Err(e.into());
        }
        let detail = json!({ "namespace": new.namespace, "kind": kind, "location": text, "interval": interval });
        self.core.audit(caller, "source.add", &new.name, detail).await;
        Ok(AddedSource { source: self.info(row).await?, notify_secret })
    }

    pub async fn list(&self, caller: &Caller) -> Result<Vec<SourceInfo>> {
        require_site_admin(caller)?;
        let mut out = Vec::new();
        for row in self.core.store.sources().await? {
            out.push(self.info(row).await?);
        }
        Ok(out)
    }

    pub async fn get(&self, caller: &Caller, name: &str) -> Result<SourceInfo> {
        require_site_admin(caller)?;
        self.info(self.named(name).await?).await
    }

    /// Removes a source and what it found (versions it registered stay) and revokes the
    /// token it acted as.
    pub async fn remove(&self, caller: &Caller, name: &str) -> Result<()> {
        require_site_admin(caller)?;
        let row = self.named(name).await?;
        if !self.core.store.delete_source(&row.id).await? {
            return Err(Error::NotFound(format!("no source named `{name}`")));
        }
        if let Some(token) = &row.token_id {
            self.core.store.revoke_token(token, now_millis()).await?;
        }
        self.core.audit(caller, "source.remove", name, json!({ "location": row.location })).await;
        Ok(())
    }

    /// Runs a source now and waits for the run to end. A run under way (here or on another
    /// replica) is waited for first, so this one sees everything pushed before it was asked.
    pub async fn sync(&self, caller: &Caller, name: &str) -> Result<SourceInfo> {
        require_site_admin(caller)?;
        let mut row = self.named(name).await?;
        let waited = tokio::time::Instant::now();
        let lease = loop {
            let now = now_millis();
            let lease = now + LEASE_MS;
            if self.core.store.claim_source(&row.id, now, lease, false).await? {
                break lease;
            }
            if waited.elapsed() > SYNC_WAIT {
                return Err(Error::Conflict(format!("a run of source `{name}` is still under way; try again later")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        // As it is now that it is held (the run waited for changed its status).
        row = self.named(name).await?;
        // The run goes on to the end even if the request goes away.
        let index = self.core.clone();
        let run = tokio::spawn(async move { index.sources().run_claimed(row, lease, true).await });
        run.await.map_err(|e| Error::Internal(format!("a source run failed: {e}")))??;
        self.info(self.named(name).await?).await
    }

    /// Runs every source that is due and that no other replica holds; how many ran.
    pub async fn run_due(&self) -> Result<usize> {
        let now = now_millis();
        let mut ran = 0;
        for row in self.core.store.due_sources(now).await? {
            let lease = now_millis() + LEASE_MS;
            // Still due: another replica may have run it since the list was read.
            if self.core.store.claim_source(&row.id, now_millis(), lease, true).await? {
                // As it is now that it is held.
                let Some(row) = self.core.store.source_by_name(&row.name).await? else { continue };
                self.run_claimed(row, lease, false).await?;
                ran += 1;
            }
        }
        Ok(ran)
    }

    /// The source a registry notification is for, when it carries the source's secret as a
    /// bearer token; checked before the notification's body is read.
    pub async fn notifier(&self, name: &str, secret: Option<&str>) -> Result<Notifier> {
        let refused = || Error::Unauthenticated(format!("notifications for source `{name}` need its secret"));
        let row = self.core.store.source_by_name(name).await?.ok_or_else(refused)?;
        let (Some(expected), Some(secret)) = (&row.notify_hash, secret) else { return Err(refused()) };
        // Hashes are compared, so how long this takes tells nothing of the secret.
        if *expected != hash_token(secret) {
            return Err(refused());
        }
        Ok(Notifier(row))
    }

    /// Takes the tags a registry notification names, at once; tags outside the source's
    /// repositories, and tags that are not versions, are ignored. Answers how many tags will be
    /// taken; they are taken after the answer, as a run would take them.
    pub async fn notified(&self, Notifier(row): Notifier, body: &serde_json::Value) -> Result<usize> {
        if row.kind != "oci" {
            return Err(Error::Invalid(format!("source `{}` takes no registry notifications", row.name)));
        }
        let location = OciLocation::parse(&row.location)?;
        let tags: Vec<PushedTag> = pushed_tags(body)
            .into_iter()
            .filter(|t| location.matches(&t.repository) && tag_version(&t.tag).is_some())
            .take(MAX_TAGS)
            .collect();
        if tags.is_empty() {
            return Ok(0);
        }
        let taken = tags.len();
        // A few notifications are taken at once; past that, the source is run as soon as a
        // replica is free, which takes them too.
        let Ok(permit) = self.core.notify_slots.clone().try_acquire_owned() else {
            self.core.store.source_due_now(&row.id, now_millis()).await?;
            return Ok(taken);
        };
        let index = self.core.clone();
        // Answered at once; the tags are taken after, as a run would.
        tokio::spawn(async move {
            let _permit = permit;
            let sources = index.sources();
            let run = async {
                let (caller, registries, credentials) = sources.acting(&row).await?;
                let ctx = RunContext {
                    row: &row,
                    caller: &caller,
                    reader: &caller,
                    registries: &registries,
                    credentials,
                    mirrored: Default::default(),
                    retry_failed: true,
                };
                for t in tags {
                    let outcome = sources.take(&ctx, &Item::tag(&location, &t.repository, &t.tag)).await;
                    tracing::info!(source = %row.name, repository = %t.repository, tag = %t.tag, outcome = outcome_name(&outcome), "notified tag taken");
                }
                Ok::<_, Error>(())
            };
            if let Err(e) = run.await {
                tracing::warn!(source = %row.name, error = %e, "could not take notified tags");
            }
        });
        Ok(taken)
    }

    /// With `--source-metrics`, every source's state in Prometheus text format: when it last ran and succeeded,
    /// whether its last run could list everything, and its tags by outcome.
    pub async fn metrics(&self) -> Result<String> {
        if !self.core.show_source_metrics {
            return Ok(String::new());
        }
        {
            let cached = self.core.source_metrics.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, text)) = cached.as_ref().filter(|(at, _)| at.elapsed() < METRICS_TTL) {
                let _ = at;
                return Ok(text.clone());
            }
        }
        let text = self.render_metrics().await?;
        *self.core.source_metrics.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((std::time::Instant::now(), text.clone()));
        Ok(text)
    }

    async fn render_metrics(&self) -> Result<String> {
        use std::fmt::Write as _;
        let rows = self.core.store.sources().await?;
        let mut out = String::new();
        if rows.is_empty() {
            return Ok(out);
        }
        let mut up = String::new();
        let mut last_run = String::new();
        let mut last_success = String::new();
        let mut tags = String::new();
        for row in rows {
            let status: SourceStatus = serde_json::from_str(&row.status).unwrap_or_default();
            let name = &row.name;
            let ok = status.last_run_at.is_some() && status.last_error.is_none();
            let _ = writeln!(up, "skilldex_source_up{{source=\"{name}\"}} {}", u8::from(ok));
            if let Some(t) = status.last_run_at {
                let _ =
                    writeln!(last_run, "skilldex_source_last_run_timestamp_seconds{{source=\"{name}\"}} {}", t / 1000);
            }
            if let Some(t) = status.last_success_at {
                let _ = writeln!(
                    last_success,
                    "skilldex_source_last_success_timestamp_seconds{{source=\"{name}\"}} {}",
                    t / 1000
                );
            }
            for (outcome, n) in self.core.store.source_tag_counts(&row.id).await? {
                let _ = writeln!(tags, "skilldex_source_tags{{source=\"{name}\",outcome=\"{outcome}\"}} {n}");
            }
        }
        for (metric, help, body) in [
            ("skilldex_source_up", "Whether the source's last run listed everything it should.", up),
            ("skilldex_source_last_run_timestamp_seconds", "When the source last ran.", last_run),
            (
                "skilldex_source_last_success_timestamp_seconds",
                "When a run of the source last listed everything.",
                last_success,
            ),
            ("skilldex_source_tags", "The source's tags by what became of them.", tags),
        ] {
            let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} gauge");
            out.push_str(&body);
        }
        Ok(out)
    }

    async fn named(&self, name: &str) -> Result<SourceRow> {
        self.core.store.source_by_name(name).await?.ok_or_else(|| Error::NotFound(format!("no source named `{name}`")))
    }

    async fn info(&self, row: SourceRow) -> Result<SourceInfo> {
        let created_by = match self.core.store.user_by_id(&row.created_by).await? {
            Some(u) => u.username.to_string(),
            None => row.created_by.clone(),
        };
        let tags = self.core.store.source_tag_counts(&row.id).await?.into_iter().collect();
        let problems = self
            .core
            .store
            .source_problems(&row.id, PROBLEMS_SHOWN)
            .await?
            .into_iter()
            .map(|t| TagProblem {
                repository: t.repository,
                tag: t.tag,
                digest: t.digest,
                outcome: t.outcome,
                detail: t.detail,
                skill: t.skill,
                version: t.version,
                seen_at: t.seen_at,
            })
            .collect();
        let status = serde_json::from_str(&row.status).unwrap_or_default();
        Ok(SourceInfo {
            name: row.name,
            namespace: row.namespace.to_string(),
            kind: row.kind,
            location: row.location,
            interval_secs: row.interval_secs,
            visibility: row.visibility.as_str().to_owned(),
            mirror: row.mirror,
            credentials: row.credentials.is_some(),
            notifications: row.notify_hash.is_some(),
            created_by,
            created_at: row.created_at,
            next_run_at: (row.next_run_at < Millis::MAX).then_some(row.next_run_at),
            running: row.lease_until.is_some_and(|l| l > now_millis()),
            status,
            tags,
            problems,
        })
    }

    /// The caller a source acts as, and the registry clients it reads with.
    async fn acting(&self, row: &SourceRow) -> Result<(Caller, Registries, Option<Credentials>)> {
        let stopped = || {
            Error::Forbidden(format!(
                "the token source `{}` acts as was revoked or has expired: remove the source and add it again",
                row.name
            ))
        };
        let token = row.token_id.as_deref().ok_or_else(stopped)?;
        let bearer = self.core.store.bearer_by_token_id(token).await?.ok_or_else(stopped)?;
        let caller = self.core.caller_of(bearer).ok_or_else(stopped)?;
        let credentials = match &row.credentials {
            None => None,
            Some(sealed) => {
                let opened = self.core.site_key.open(sealed).ok_or_else(|| {
                    Error::Internal(format!("the credentials of source `{}` do not open with this site key", row.name))
                })?;
                let v: serde_json::Value = serde_json::from_str(&opened)
                    .map_err(|_| Error::Internal(format!("the credentials of source `{}` are damaged", row.name)))?;
                Some(Credentials::Basic {
                    username: v["username"].as_str().unwrap_or_default().to_owned(),
                    password: v["password"].as_str().unwrap_or_default().to_owned(),
                })
            }
        };
        Ok((caller, self.core.registries.for_caller(credentials.clone()), credentials))
    }

    /// One run of a source this replica holds under `lease`, its outcome recorded.
    async fn run_claimed(&self, row: SourceRow, lease: Millis, retry_failed: bool) -> Result<()> {
        let started = now_millis();
        let mut status: SourceStatus = serde_json::from_str(&row.status).unwrap_or_default();
        let mut counts = RunCounts::default();
        let result = tokio::time::timeout(RUN_TIMEOUT, self.run(&row, &mut counts, retry_failed)).await;
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(if e.is_internal() { e.public_message() } else { e.to_string() }),
            Err(_) => Some(format!("the run took longer than {} minutes and was stopped", RUN_TIMEOUT.as_secs() / 60)),
        };
        let now = now_millis();
        counts.duration_ms = (now - started).max(0) as u64;
        status.last_run_at = Some(started);
        if error.is_none() {
            status.last_success_at = Some(started);
        }
        tracing::info!(source = %row.name, error = error.as_deref().unwrap_or(""), registered = counts.registered,
            failed = counts.failed, moved = counts.moved, tags = counts.tags, "source run ended");
        status.last_error = error;
        status.last_run = counts;
        let next = if row.interval_secs > 0 { now + row.interval_secs * 1000 } else { Millis::MAX };
        let json = serde_json::to_string(&status).expect("status serializes");
        if !self.core.store.finish_source(&row.id, lease, &json, next).await? {
            tracing::warn!(source = %row.name, "a source run ended after its lease was lost");
        }
        // This replica's next scrape shows the run; others' within `METRICS_TTL`.
        *self.core.source_metrics.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    async fn run(&self, row: &SourceRow, counts: &mut RunCounts, retry_failed: bool) -> Result<()> {
        if row.kind == "catalog" {
            return self.run_catalog(row, counts, retry_failed).await;
        }
        let location = OciLocation::parse(&row.location)?;
        let (caller, registries, credentials) = self.acting(row).await?;
        let repositories = self.repositories(&registries, &location).await?;
        counts.repositories = repositories.len() as u64;
        let ctx = RunContext {
            row,
            caller: &caller,
            reader: &caller,
            registries: &registries,
            credentials,
            mirrored: Default::default(),
            retry_failed,
        };
        // One repository that cannot be listed does not keep the others from being taken.
        let mut unlisted = Vec::new();
        for repository in repositories {
            let tags = match self.tags(&registries, &location, &repository, counts).await {
                Ok(tags) => tags,
                Err(e) => {
                    unlisted.push(format!(
                        "{repository}: {}",
                        if e.is_internal() { e.public_message() } else { e.to_string() }
                    ));
                    continue;
                }
            };
            let items = tags.iter().map(|tag| Item::tag(&location, &repository, tag)).collect();
            self.take_all(&ctx, items, counts).await;
        }
        match unlisted.as_slice() {
            [] => Ok(()),
            [one] => Err(Error::Upstream(format!("could not list the tags of {one}"))),
            [first, rest @ ..] => Err(Error::Upstream(format!(
                "could not list the tags of {first} (and {} more repositories)",
                rest.len()
            ))),
        }
    }

    /// One run of a catalog source: every skill entry with an OCI package becomes the version
    /// it names; an entry that cannot (no name, no version, no package, listed twice) is
    /// recorded as failed with why.
    async fn run_catalog(&self, row: &SourceRow, counts: &mut RunCounts, retry_failed: bool) -> Result<()> {
        let (caller, _, _) = self.acting(row).await?;
        let entries = self.catalog_entries(&row.location).await?;
        counts.repositories = 1;
        counts.skipped = entries.len().saturating_sub(MAX_ENTRIES) as u64;
        let mut seen = std::collections::HashSet::new();
        let items: Vec<Item> = entries
            .iter()
            .take(MAX_ENTRIES)
            .enumerate()
            .map(|(i, e)| {
                let mut item = Item::entry(e);
                if !seen.insert((item.repository.clone(), item.tag.clone())) {
                    // Recorded under its place in the catalog, so the first one stands.
                    item.tag = format!("{} (entry {})", item.tag, i + 1);
                    item.version =
                        Err("the catalog lists this name and version twice; the first entry is taken".into());
                }
                item
            })
            .collect();
        // A catalog's artifacts are read anonymously: credentials never go to the hosts a
        // catalog names.
        let registries = self.core.registries.for_caller(None);
        let ctx = RunContext {
            row,
            caller: &caller,
            reader: &Caller::Anonymous,
            registries: &registries,
            credentials: None,
            mirrored: Default::default(),
            retry_failed,
        };
        self.take_all(&ctx, items, counts).await;
        Ok(())
    }

    /// Takes `items`, a few at once, and counts what they came to.
    async fn take_all(&self, ctx: &RunContext<'_>, items: Vec<Item>, counts: &mut RunCounts) {
        let outcomes: Vec<Outcome> = futures_util::stream::iter(items)
            .map(|item| async move { self.take(ctx, &item).await })
            .buffer_unordered(TAGS_AT_ONCE)
            .collect()
            .await;
        for o in outcomes {
            counts.tags += 1;
            match o {
                Outcome::Registered => counts.registered += 1,
                Outcome::Unchanged => counts.unchanged += 1,
                Outcome::Exists => counts.exists += 1,
                Outcome::Failed => counts.failed += 1,
                Outcome::Moved => counts.moved += 1,
            }
        }
        counts.mirrored_bytes = ctx.mirrored.load(std::sync::atomic::Ordering::Relaxed);
    }

    /// The skill entries of a catalog: a file's `data.skills`, or every page of an API's
    /// `skills`.
    async fn catalog_entries(&self, location: &str) -> Result<Vec<serde_json::Value>> {
        let read = |bytes: &[u8]| -> Result<CatalogDoc> {
            serde_json::from_slice(bytes)
                .map_err(|e| Error::Upstream(format!("the catalog at {location} is not JSON: {e}")))
        };
        if location.starts_with("git+") {
            let git = GitCatalog::parse(location)?;
            let proxy = self.core.registries.proxy().map(str::to_owned);
            let timeout = 4 * self.core.source_timeout;
            let bytes = tokio::task::spawn_blocking(move || git.read(proxy.as_deref(), timeout))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
            return Ok(skills_of(read(&bytes)?).0);
        }
        if let Some(path) = location.strip_prefix("file:") {
            let path = std::path::Path::new(path.trim_start_matches("//"));
            let size = tokio::fs::metadata(path)
                .await
                .map_err(|e| Error::Upstream(format!("cannot read the catalog {}: {e}", path.display())))?
                .len();
            if size > MAX_CATALOG as u64 {
                return Err(Error::Upstream(format!("the catalog {} is over {MAX_CATALOG} bytes", path.display())));
            }
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| Error::Upstream(format!("cannot read the catalog {}: {e}", path.display())))?;
            return Ok(skills_of(read(&bytes)?).0);
        }
        let mut entries = Vec::new();
        let mut cursors = std::collections::HashSet::new();
        let mut read_bytes = 0usize;
        let mut url = location.to_owned();
        for _ in 0..MAX_CATALOG_PAGES {
            let page = tokio::time::timeout(self.core.source_timeout, self.core.registries.document(&url, MAX_CATALOG))
                .await
                .map_err(|_| Error::Upstream(format!("{location} did not answer in time")))??;
            read_bytes += page.len();
            if read_bytes > MAX_CATALOG_TOTAL {
                return Err(Error::Upstream(format!("{location} lists more than {MAX_CATALOG_TOTAL} bytes")));
            }
            let (skills, next) = skills_of(read(&page)?);
            let added = skills.len();
            entries.extend(skills);
            // A page that adds nothing, or a cursor met before, ends the listing.
            match next {
                Some(cursor) if entries.len() < MAX_ENTRIES && added > 0 && cursors.insert(cursor.clone()) => {
                    let mut u = reqwest::Url::parse(location).map_err(|e| Error::Invalid(e.to_string()))?;
                    u.query_pairs_mut().append_pair("cursor", &cursor);
                    url = u.to_string();
                }
                _ => break,
            }
        }
        Ok(entries)
    }

    /// The repositories a run looks at: the one named, or the catalog's under the prefix.
    async fn repositories(&self, registries: &Registries, location: &OciLocation) -> Result<Vec<String>> {
        if !location.prefix {
            return Ok(vec![location.path.clone()]);
        }
        let mut found = Vec::new();
        let mut last: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            let page = tokio::time::timeout(
                self.core.source_timeout,
                registries.catalog_page(&location.registry, last.as_deref(), PAGE),
            )
            .await
            .map_err(|_| Error::Upstream(format!("{} did not list its repositories in time", location.registry)))?;
            let (names, next) = page.map_err(|e| match e {
                crate::oci::OciError::NotFound(_) | crate::oci::OciError::Unauthorized(_) => Error::Upstream(format!(
                    "{} does not list its repositories to this source ({e}); name each repository as its own source",
                    location.registry
                )),
                e => Error::from(e),
            })?;
            found.extend(names.into_iter().filter(|n| location.matches(n)));
            if found.len() >= MAX_REPOSITORIES {
                found.truncate(MAX_REPOSITORIES);
                break;
            }
            // Pages must move forward, and there is an end to how many are read.
            match next {
                Some(n) if last.as_ref().is_none_or(|l| n > *l) && pages < MAX_LISTING_PAGES => last = Some(n),
                _ => break,
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// The semver tags of one repository, at most `MAX_TAGS`; the rest are counted.
    async fn tags(
        &self,
        registries: &Registries,
        location: &OciLocation,
        repository: &str,
        counts: &mut RunCounts,
    ) -> Result<Vec<String>> {
        let repo = parse_reference(&format!("{}/{repository}", location.registry))?;
        let mut tags = Vec::new();
        let mut last: Option<String> = None;
        let mut seen = 0usize;
        loop {
            let page =
                tokio::time::timeout(self.core.source_timeout, registries.tags_page(&repo, last.as_deref(), PAGE))
                    .await
                    .map_err(|_| Error::Upstream(format!("{} did not list its tags in time", repo.whole())))??;
            let (names, next) = page;
            seen += names.len();
            for t in names {
                if tag_version(&t).is_none() {
                    counts.ignored += 1;
                } else if tags.len() < MAX_TAGS {
                    tags.push(t);
                } else {
                    counts.skipped += 1;
                }
            }
            match next {
                Some(n) if last.as_ref().is_none_or(|l| n > *l) && seen < 10 * MAX_TAGS => last = Some(n),
                _ => break,
            }
        }
        Ok(tags)
    }

    /// Takes one item (a tag, or a catalog entry): resolves it, and hands a new digest to the
    /// publish pipeline as the version the item names, of the skill the artifact names. Never
    /// fails: what went wrong is recorded with the item.
    async fn take(&self, ctx: &RunContext<'_>, item: &Item) -> Outcome {
        let tag_timeout = 2 * self.core.source_timeout;
        let result = tokio::time::timeout(tag_timeout, self.try_take(ctx, item)).await;
        let (outcome, row) = match result {
            Ok(Ok(taken)) => taken,
            Ok(Err((digest, e))) => {
                let detail = if e.is_internal() { e.public_message() } else { e.to_string() };
                (Outcome::Failed, Some(item.row(&digest, "failed", Some(detail), None)))
            }
            Err(_) => {
                let detail = format!("taking it took longer than {} seconds", tag_timeout.as_secs());
                let kept = self.core.store.source_tag(&ctx.row.id, &item.repository, &item.tag).await;
                // What was recorded stays; only an item with nothing recorded is marked.
                let recorded = kept.ok().flatten().is_some_and(|p| p.outcome != "failed");
                (Outcome::Failed, (!recorded).then(|| item.row("", "failed", Some(detail), None)))
            }
        };
        if let Some(mut row) = row {
            row.source_id = ctx.row.id.clone();
            if let Err(e) = self.core.store.put_source_tag(&row).await {
                tracing::warn!(source = %ctx.row.name, error = %e, "could not record an outcome");
            }
        }
        outcome
    }

    /// The outcome of one item and what to record of it; an error carries the digest seen.
    async fn try_take(
        &self,
        ctx: &RunContext<'_>,
        item: &Item,
    ) -> std::result::Result<(Outcome, Option<SourceTag>), (String, Error)> {
        let version = item.version.as_ref().map_err(|why| (String::new(), Error::Invalid(why.clone())))?;
        let reference = item.reference.as_ref().map_err(|why| (String::new(), Error::Invalid(why.clone())))?;
        let parsed = parse_reference(reference).map_err(|e| (String::new(), e.into()))?;
        let previous = self
            .core
            .store
            .source_tag(&ctx.row.id, &item.repository, &item.tag)
            .await
            .map_err(|e| (String::new(), e.into()))?;
        let recorded =
            previous.as_ref().is_some_and(|p| matches!(p.outcome.as_str(), "registered" | "exists" | "moved"));
        let digest = match ctx.registries.resolve(&parsed).await {
            Ok(digest) => digest,
            // What was recorded is kept when it cannot be read this time.
            Err(e) if recorded => {
                tracing::warn!(source = %ctx.row.name, %reference, error = %e, "could not read a recorded item");
                return Ok((Outcome::Failed, None));
            }
            Err(e) => return Err((String::new(), e.into())),
        };
        let fail = |e: Error| (digest.clone(), e);
        if let Some(prev) = previous.as_ref().filter(|p| p.outcome == "failed" && p.digest == digest)
            && !ctx.retry_failed
        {
            // Still what failed: reported again without reading it again.
            tracing::debug!(source = %ctx.row.name, %reference, detail = prev.detail.as_deref().unwrap_or(""), "unchanged failure");
            return Ok((Outcome::Failed, None));
        }
        if let Some(prev) = &previous
            && recorded
        {
            if prev.digest == digest {
                if prev.outcome == "moved" {
                    // Back where the recorded version is.
                    let back = item.row(&digest, "registered", None, prev.skill.clone());
                    return Ok((Outcome::Unchanged, Some(back)));
                }
                return Ok((Outcome::Unchanged, None));
            }
            let detail = format!(
                "it now points to {digest}; version {version} of {} stays {}",
                prev.skill.as_deref().unwrap_or("the skill"),
                prev.digest
            );
            return Ok((Outcome::Moved, Some(item.row(&prev.digest, "moved", Some(detail), prev.skill.clone()))));
        }
        let pinned = format!("{}/{}@{digest}", parsed.registry(), parsed.repository());
        let publishing = self.core.publishing();
        let fetched = publishing
            .fetch_artifact(ctx.reader, (&pinned, ctx.credentials.as_ref()), &item.hint)
            .await
            .map_err(fail)?;
        let name: SkillName = fetched.bundle.skill.frontmatter.name.clone();
        match &item.expected {
            Some(expected) if *expected == name => {}
            Some(expected) => {
                let why = format!(
                    "`{}` names the skill `{expected}`, but its artifact is the skill `{name}`",
                    item.repository
                );
                return Err(fail(Error::ManifestInvalid(why)));
            }
            None => {
                let why =
                    format!("`{}` does not name a skill (lowercase letters, digits and hyphens)", item.repository);
                return Err(fail(Error::Invalid(why)));
            }
        }
        let skill = format!("{}/{name}", ctx.row.namespace);
        let draft = SkillDraft {
            namespace: ctx.row.namespace.clone(),
            name: name.clone(),
            display_name: None,
            description: None,
            readme: None,
            visibility: Some(ctx.row.visibility),
            tags: None,
            skill_type: None,
            kind: None,
        };
        let mirror = ctx.row.mirror.then(|| Mirror::Registry { credentials: ctx.credentials.clone() });
        let plan =
            PublishPlan::creating(draft, version.to_string(), ArtifactSource::Fetched(Box::new(fetched), mirror));
        match publishing.publish(ctx.caller, plan).await {
            Ok(published) => {
                ctx.mirrored.fetch_add(published.copied.bytes, std::sync::atomic::Ordering::Relaxed);
                Ok((Outcome::Registered, Some(item.row(&digest, "registered", None, Some(skill)))))
            }
            Err(Error::Conflict(msg)) => {
                let store = &self.core.store;
                let recorded =
                    store.skill(ctx.row.namespace.as_str(), name.as_str()).await.map_err(|e| fail(e.into()))?;
                let same = match &recorded {
                    Some(s) => store
                        .version(&s.id, &version.to_string())
                        .await
                        .map_err(|e| fail(e.into()))?
                        .and_then(|v| v.digest),
                    None => None,
                };
                match same {
                    Some(d) if d == digest => {
                        Ok((Outcome::Exists, Some(item.row(&digest, "exists", None, Some(skill)))))
                    }
                    Some(d) => {
                        let detail =
                            format!("version {version} of {skill} is already recorded as {d}; this artifact differs");
                        Err((digest.clone(), Error::Conflict(detail)))
                    }
                    None => Err(fail(Error::Conflict(msg))),
                }
            }
            Err(e) => Err(fail(e)),
        }
    }
}

/// One thing a run takes: a tag of a repository, or an entry of a catalog.
struct Item {
    /// What its outcome is recorded under: the repository, or the entry's name.
    repository: String,
    /// The tag, or the entry's version.
    tag: String,
    /// The version it becomes, or why it cannot become one.
    version: std::result::Result<semver::Version, String>,
    /// `registry/repo:tag` or `registry/repo@digest`, or why there is none.
    reference: std::result::Result<String, String>,
    /// The directory an agentskills-layout artifact keeps its files under.
    hint: String,
    /// The skill the artifact must be (a catalog entry names it).
    expected: Option<SkillName>,
}

impl Item {
    /// Tag `tag` of `repository` in the source's registry.
    fn tag(location: &OciLocation, repository: &str, tag: &str) -> Self {
        Item {
            repository: repository.to_owned(),
            tag: tag.to_owned(),
            version: tag_version(tag).ok_or_else(|| format!("`{tag}` is not a version")),
            reference: Ok(format!("{}/{repository}:{tag}", location.registry)),
            hint: repository.rsplit('/').next().unwrap_or(repository).to_owned(),
            // Named after its repository, as `thv` has it: a repository under a prefix cannot
            // add versions to another skill of the namespace.
            expected: repository.rsplit('/').next().and_then(|n| n.parse().ok()),
        }
    }

    /// A ToolHive skill entry of a catalog: its name and version, and the artifact its OCI
    /// package names (pinned by its digest when it gives one).
    fn entry(entry: &serde_json::Value) -> Self {
        let text = |k: &str| entry[k].as_str().map(str::to_owned);
        let name = text("name").unwrap_or_default();
        let version_text = text("version").unwrap_or_default();
        let expected = name.parse::<SkillName>().ok();
        // A catalog's versions are read as tags are: `1.2.3` or `v1.2.3`.
        let version = match (&expected, tag_version(&version_text)) {
            (None, _) => Err(format!("`{name}` is not a skill name")),
            (_, None) => Err(format!("`{version_text}` is not a version")),
            (_, Some(v)) => Ok(v),
        };
        let package = entry["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["registryType"] == "oci" && p["identifier"].is_string());
        let reference = match package {
            None => Err("it lists no OCI package".to_owned()),
            Some(p) => {
                let identifier = p["identifier"].as_str().unwrap_or_default();
                match (parse_reference(identifier), p["digest"].as_str()) {
                    (Err(e), _) => Err(e.to_string()),
                    (Ok(r), Some(d)) if d.starts_with("sha256:") => {
                        Ok(format!("{}/{}@{d}", r.registry(), r.repository()))
                    }
                    (Ok(_), Some(d)) => Err(format!("`{d}` is not a sha256 digest")),
                    (Ok(r), None) => Ok(r.whole()),
                }
            }
        };
        Item { repository: name.clone(), tag: version_text, version, reference, hint: name, expected }
    }

    fn row(&self, digest: &str, outcome: &str, detail: Option<String>, skill: Option<String>) -> SourceTag {
        SourceTag {
            source_id: String::new(),
            repository: self.repository.clone(),
            tag: self.tag.clone(),
            digest: digest.to_owned(),
            outcome: outcome.to_owned(),
            detail,
            skill,
            version: self.version.as_ref().ok().map(ToString::to_string),
            seen_at: now_millis(),
        }
    }
}

/// What every tag of one run shares.
struct RunContext<'a> {
    row: &'a SourceRow,
    /// Who publishes what the run takes: the source's token.
    caller: &'a Caller,
    /// Who artifacts are read as: the same for a registry the administrator named; nobody
    /// for a catalog's entries, so an entry naming this server's own repositories reads only
    /// what anyone may.
    reader: &'a Caller,
    registries: &'a Registries,
    credentials: Option<Credentials>,
    /// Bytes mirrored so far.
    mirrored: std::sync::atomic::AtomicU64,
    /// Take again what failed at the same digest before (a run someone asked for); scheduled
    /// runs report such items without reading them again.
    retry_failed: bool,
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Registered => "registered",
        Outcome::Unchanged => "unchanged",
        Outcome::Exists => "exists",
        Outcome::Failed => "failed",
        Outcome::Moved => "moved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_one_repository_or_a_prefix() {
        let one = OciLocation::parse("ghcr.io/acme/skills/reviewer").unwrap();
        assert_eq!(one, OciLocation { registry: "ghcr.io".into(), path: "acme/skills/reviewer".into(), prefix: false });
        assert!(one.matches("acme/skills/reviewer"));
        assert!(!one.matches("acme/skills/reviewer2"));
        let prefix = OciLocation::parse("127.0.0.1:5000/acme/skills/*").unwrap();
        assert_eq!(prefix.registry, "127.0.0.1:5000");
        assert!(prefix.matches("acme/skills/a") && prefix.matches("acme/skills/x/y"));
        assert!(!prefix.matches("acme/skillsx/a") && !prefix.matches("acme/skills") && !prefix.matches("other/a"));
        let all = OciLocation::parse("registry.local/*").unwrap();
        assert!(all.prefix && all.path.is_empty() && all.matches("anything/at/all"));
        for bad in [
            "ghcr.io",
            "ghcr.io/acme/skill:1.0.0",
            "ghcr.io/acme/skill@sha256:00",
            "ghcr.io/Acme/x",
            "ghcr.io/a b/*",
            "",
        ] {
            assert!(OciLocation::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_semver_tags_are_versions() {
        assert_eq!(tag_version("1.2.3").unwrap().to_string(), "1.2.3");
        assert_eq!(tag_version("v2.0.0-rc.1").unwrap().to_string(), "2.0.0-rc.1");
        for t in ["latest", "1.2", "sha256-abc.sig", "v", "1.2.3.4"] {
            assert!(tag_version(t).is_none(), "{t}");
        }
    }

    #[test]
    fn notifications_of_distribution_and_harbor_name_their_pushed_tags() {
        let distribution = json!({"events": [
            {"action": "push", "target": {"repository": "acme/a", "tag": "1.0.0", "digest": "sha256:x"}},
            {"action": "pull", "target": {"repository": "acme/b", "tag": "1.0.0"}},
            {"action": "push", "target": {"repository": "acme/c", "digest": "sha256:y"}}
        ]});
        assert_eq!(pushed_tags(&distribution), vec![PushedTag { repository: "acme/a".into(), tag: "1.0.0".into() }]);
        let harbor = json!({"type": "PUSH_ARTIFACT", "event_data": {
            "resources": [{"digest": "sha256:z", "tag": "2.0.0"}],
            "repository": {"name": "b", "namespace": "acme", "repo_full_name": "acme/b"}}});
        assert_eq!(pushed_tags(&harbor), vec![PushedTag { repository: "acme/b".into(), tag: "2.0.0".into() }]);
        assert!(pushed_tags(&json!({"type": "DELETE_ARTIFACT"})).is_empty());
        assert!(pushed_tags(&json!("nonsense")).is_empty());
    }

    #[test]
    fn catalogs_are_read_as_files_or_api_pages_and_capped() {
        let file: CatalogDoc =
            serde_json::from_str(r#"{"version":"1.0.0","data":{"servers":[{"x":1}],"skills":[{"name":"a"}]}}"#)
                .unwrap();
        let (skills, next) = skills_of(file);
        assert_eq!((skills.len(), next), (1, None));
        let page: CatalogDoc =
            serde_json::from_str(r#"{"skills":[{"name":"a"},{"name":"b"}],"metadata":{"count":2,"nextCursor":"c2"}}"#)
                .unwrap();
        let (skills, next) = skills_of(page);
        assert_eq!((skills.len(), next.as_deref()), (2, Some("c2")));
        let huge = format!(r#"{{"skills":[{}0]}}"#, "0,".repeat(MAX_ENTRIES + 10));
        let (skills, _) = skills_of(serde_json::from_str(&huge).unwrap());
        assert_eq!(skills.len(), MAX_ENTRIES, "entries past the limit are read past, not kept");
        assert!(serde_json::from_str::<CatalogDoc>(r#"{"skills":{"not":"a list"}}"#).is_err());
    }

    #[test]
    fn git_catalogs_name_a_plain_file_of_an_https_or_file_repository() {
        let g = GitCatalog::parse("git+https://example.com/acme/catalog.git?ref=main#registry/skills.json").unwrap();
        assert_eq!(
            (g.url.as_str(), g.reference.as_deref(), g.path.as_str()),
            ("https://example.com/acme/catalog.git", Some("main"), "registry/skills.json")
        );
        for bad in [
            "git+https://example.com/r.git",
            "git+https://example.com/r.git#../x.json",
            "git+https://example.com/r.git#/etc/passwd",
            "git+https://example.com/r.git?ref=--upload-pack=x#a.json",
            "git+https://user:pw@example.com/r.git#a.json",
            "git+https://:token@example.com/r.git#a.json",
            "git+ext::sh -c x#a.json",
            "git+ssh://example.com/r.git#a.json",
            "git+https://example.com/r.git#-c",
        ] {
            assert!(GitCatalog::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn source_names_are_slugs() {
        assert!(check_name("acme-ghcr").is_ok());
        for bad in ["", "-a", "a-", "Acme", "a/b", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
