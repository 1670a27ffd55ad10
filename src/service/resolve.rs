//! Resolving `namespace/name@version|range|channel` to one immutable artifact.
//!
//! An exact version pins (and still resolves when yanked, flagged); a channel follows its
//! pointer; anything else is a Cargo-style semver range matched against published,
//! non-yanked versions. Drafts and versions without a stored artifact never resolve.

use super::Catalog;
use super::{Caller, Error, Result};
use crate::domain::{ChannelName, Namespace, SkillName, VersionStatus};
use crate::domain::{ReleasedVersion, Skill, Version};

#[derive(Debug, Clone)]
pub struct Resolved {
    pub skill: Skill,
    pub version: ReleasedVersion,
}

impl Resolved {
    pub fn yanked(&self) -> bool {
        self.version.status == VersionStatus::Yanked
    }
}

/// What a `version=` parameter asks for.
#[derive(Debug, Clone, PartialEq)]
enum Spec {
    Exact(semver::Version),
    Channel(ChannelName),
    Range(semver::VersionReq),
}

fn parse_spec(raw: Option<&str>) -> Result<Spec> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("latest");
    crate::domain::check_version_len(raw)?;
    if let Ok(v) = semver::Version::parse(raw) {
        return Ok(Spec::Exact(v));
    }
    if let Ok(c) = raw.parse::<ChannelName>() {
        return Ok(Spec::Channel(c));
    }
    semver::VersionReq::parse(raw).map(Spec::Range).map_err(|e| {
        Error::Invalid(format!(
            "invalid version `{}`: {e}; use an exact version (1.2.3), a range (^1.2, >=1.0, <2) or a channel (stable)",
            raw.escape_debug()
        ))
    })
}

/// Whether `version` is one `spec` may resolve to, read as resolving reads it: an exact
/// version is that version, a range is Cargo's; a channel or anything else admits none
/// (where a channel points is the server's to say).
pub fn spec_admits(spec: &str, version: &str) -> bool {
    let Ok(version) = semver::Version::parse(version) else { return false };
    match parse_spec(Some(spec)) {
        Ok(Spec::Exact(v)) => v == version,
        Ok(Spec::Range(req)) => req.matches(&version),
        Ok(Spec::Channel(_)) | Err(_) => false,
    }
}

impl Catalog<'_> {
    pub async fn resolve(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        spec: Option<&str>,
    ) -> Result<Resolved> {
        let spec = parse_spec(spec)?;
        let (skill, _) = self.core.visible_skill(caller, namespace, name, false).await?;
        let no_match = |what: String| Error::NotFound(format!("no version of `{namespace}/{name}` matches {what}"));
        let stored = |v: &Version| ReleasedVersion::of(v.clone()).is_some();
        let version = match &spec {
            Spec::Exact(v) => self
                .core
                .store
                .version(&skill.id, &v.to_string())
                .await?
                .filter(stored)
                .ok_or_else(|| no_match(format!("`{v}`")))?,
            Spec::Channel(channel) => {
                let channels = self.core.store.channels(&skill.id).await?;
                let target = channels
                    .into_iter()
                    .find(|c| c.name == channel.as_str())
                    .and_then(|c| c.version)
                    .ok_or_else(|| no_match(format!("channel `{channel}`")))?;
                self.core
                    .store
                    .version(&skill.id, &target)
                    .await?
                    .filter(stored)
                    .ok_or_else(|| no_match(format!("channel `{channel}`")))?
            }
            Spec::Range(req) => {
                let mut candidates: Vec<(semver::Version, String)> = self
                    .core
                    .store
                    .released_version_numbers(&skill.id)
                    .await?
                    .into_iter()
                    .filter_map(|v| semver::Version::parse(&v).ok().map(|p| (p, v)))
                    .filter(|(p, _)| req.matches(p))
                    .collect();
                candidates.sort_by(|a, b| a.0.cmp(&b.0));
                // The best first; one yanked since the numbers were read gives way to the next.
                let mut found = None;
                while let Some((_, number)) = candidates.pop() {
                    let row = self.core.store.version(&skill.id, &number).await?;
                    if let Some(v) = row.filter(|v| v.status == VersionStatus::Published && stored(v)) {
                        found = Some(v);
                        break;
                    }
                }
                found.ok_or_else(|| no_match(format!("`{req}`")))?
            }
        };
        let version = self.core.present(self.core.trust().checked_version(&skill, version).await?);
        let version = ReleasedVersion::of(version)
            .ok_or_else(|| Error::Internal("a resolved version lost its artifact".into()))?;
        Ok(Resolved { skill, version })
    }
}

/// One skill in a dependency closure: what asked for it and how deep, and what it resolves
/// to for the caller, if anything (an unpublished, hidden or malformed requirement is kept,
/// unresolved, so a client can warn about it).
#[derive(Debug, Clone)]
pub struct Dependency {
    /// The requirement as its publisher wrote it.
    pub requirement: String,
    /// `namespace/name` of each skill in the closure whose version declares it, in the order
    /// met (the root's first when it is one of them).
    pub required_by: Vec<String>,
    /// The namespace it names (or, for a ToolHive reference, the one it resolved in).
    pub namespace: Option<Namespace>,
    pub name: String,
    /// The version range asked for (`*` when none); a ToolHive reference's tag or digest.
    pub range: String,
    pub depth: usize,
    pub resolved: Option<Resolved>,
}

/// How deep a dependency closure is followed.
pub const DEPENDENCY_DEPTH: usize = 10;
/// How many skills a dependency closure lists at most.
pub const DEPENDENCY_MAX: usize = 256;
/// How many requirements one version may declare (all sources together).
pub const REQUIREMENTS_MAX: usize = 64;
/// How many requirements one closure resolves at most, repeats included.
const RESOLVES_MAX: usize = 1024;
/// How many of those may be ToolHive references (each reads a repository's versions).
const REFERENCES_MAX: usize = 64;

/// A version's dependency closure, and whether it was cut short by the limits.
#[derive(Debug, Clone, Default)]
pub struct Closure {
    pub dependencies: Vec<Dependency>,
    /// Stopped at `DEPENDENCY_MAX` skills or `RESOLVES_MAX` resolves: more is needed.
    pub truncated: bool,
}

/// A requirement, read.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    /// A skill of this index: `name` (in the declaring skill's namespace) or `namespace/name`,
    /// each optionally `@range`. The namespace is `None` when it is not a valid one.
    Skill { namespace: Option<Namespace>, name: String, range: String },
    /// A ToolHive reference: `registry/repository:tag` or `…@sha256:…`.
    Oci { reference: oci_client::Reference },
}

/// Reads a requirement; `home` is the declaring skill's namespace. An entry whose first
/// segment is a registry host (a dot, a port or `localhost`, as Docker tells them apart) and
/// that has a tag, a digest or a repository path below the host is a ToolHive reference;
/// anything else names a skill (`io.github.acme/lint@^1` is a namespace with dots).
fn parse_requirement(entry: &str, home: &Namespace) -> Requirement {
    let entry = entry.trim();
    if let Some((host, path)) = entry.split_once('/')
        && (host.contains('.') || host.contains(':') || host == "localhost")
        && (host.contains(':') || host == "localhost" || path.contains(':') || path.contains('/'))
        && let Ok(reference) = crate::oci::parse_reference(entry)
    {
        return Requirement::Oci { reference };
    }
    let (target, range) = match entry.split_once('@') {
        Some((t, r)) if !r.trim().is_empty() => (t.trim(), r.trim().to_owned()),
        Some((t, _)) => (t.trim(), "*".to_owned()),
        None => (entry, "*".to_owned()),
    };
    let (namespace, name) = match target.rsplit_once('/') {
        Some((ns, name)) => match ns.parse() {
            Ok(ns) => (Some(ns), name.to_owned()),
            Err(_) => (None, target.to_owned()),
        },
        None => (Some(home.clone()), target.to_owned()),
    };
    Requirement::Skill { namespace, name, range }
}

/// A version's requirements from its frontmatter and its manifest: SKILL.md's `requires:`
/// entries, then ToolHive's references (the `toolhive.requires` metadata, then the
/// `dev.toolhive.skills.requires` annotation), each once, in that order.
fn declared_requirements(frontmatter: &crate::domain::entity::JsonObject, annotated: &[String]) -> Vec<String> {
    use crate::oci::layout::{keys, toolhive_requires};
    let own = match frontmatter.get("requires") {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let metadata = frontmatter
        .get("metadata")
        .and_then(|m| m.get(keys::TH_METADATA_REQUIRES))
        .and_then(|v| v.as_str())
        .map(toolhive_requires)
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    own.into_iter().chain(metadata).chain(annotated.iter().cloned()).filter(|e| seen.insert(e.clone())).collect()
}

/// A version's requirements as the publish pipeline records them: refused beyond
/// `REQUIREMENTS_MAX`, so no version makes every resolve of it expensive.
pub(crate) fn checked_requirements(
    frontmatter: &crate::domain::entity::JsonObject,
    annotated: &[String],
) -> Result<Vec<String>> {
    let all = declared_requirements(frontmatter, annotated);
    if all.len() > REQUIREMENTS_MAX {
        return Err(Error::Invalid(format!(
            "a version may require at most {REQUIREMENTS_MAX} skills (its `requires:` and ToolHive references \
             together); this one requires {}",
            all.len()
        )));
    }
    Ok(all)
}

/// The requirements of a recorded version.
pub(crate) fn requires_of(v: &Version) -> Vec<String> {
    let mut all = v.requires.clone().unwrap_or_else(|| declared_requirements(&v.frontmatter, &[]));
    all.truncate(REQUIREMENTS_MAX);
    all
}

impl Catalog<'_> {
    /// The transitive closure of the latest version's requirements (see [`Self::closure`]).
    pub async fn dependencies(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
    ) -> Result<Vec<Dependency>> {
        let root = self.resolve(caller, namespace, name, None).await?;
        let closure = self.closure(caller, &root).await?;
        if closure.truncated {
            return Err(Error::Invalid(format!(
                "the dependency closure of `{namespace}/{name}` lists more than {DEPENDENCY_MAX} skills"
            )));
        }
        Ok(closure.dependencies)
    }

    /// The transitive closure of a resolved version's requirements, breadth first, each skill
    /// once (at its shallowest depth), at most `DEPENDENCY_DEPTH` deep; cycles end where they
    /// meet a skill already listed. Every requirement is resolved for `caller` through
    /// [`Self::resolve`], so nothing hidden is read or told: a skill the caller may not see is
    /// unresolved, like one that does not exist. Past the limits it stops, `truncated`.
    pub async fn closure(&self, caller: &Caller, root: &Resolved) -> Result<Closure> {
        let key = |s: &Skill| format!("{}/{}", s.namespace, s.name);
        // What makes two requirements one dependency: the skill they resolve to, else the
        // skill they name, else the text.
        let keyed = |d: &Dependency| match (&d.resolved, &d.namespace) {
            (Some(r), _) => key(&r.skill),
            (None, Some(ns)) => format!("{ns}/{}", d.name),
            (None, None) => d.requirement.clone(),
        };
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::from([key(&root.skill)]);
        let mut closure = Vec::new();
        let (mut resolves, mut references) = (0, 0);
        let mut frontier = vec![(root.skill.clone(), requires_of(&root.version.record))];
        for depth in 1..=DEPENDENCY_DEPTH {
            let mut next = Vec::new();
            for (by, requires) in frontier {
                for entry in requires {
                    let reference = matches!(parse_requirement(&entry, &by.namespace), Requirement::Oci { .. });
                    if closure.len() >= DEPENDENCY_MAX
                        || resolves >= RESOLVES_MAX
                        || (reference && references >= REFERENCES_MAX)
                    {
                        return Ok(Closure { dependencies: closure, truncated: true });
                    }
                    resolves += 1;
                    references += usize::from(reference);
                    let mut dep = self.resolve_requirement(caller, &entry, &by).await?;
                    dep.depth = depth;
                    let name_key = keyed(&dep);
                    if !seen.insert(name_key.clone()) {
                        // Met again: one more skill needs it (the root needs nothing of itself).
                        let by = dep.required_by.remove(0);
                        if let Some(known) = closure.iter_mut().find(|d: &&mut Dependency| keyed(d) == name_key)
                            && !known.required_by.contains(&by)
                        {
                            known.required_by.push(by);
                        }
                        continue;
                    }
                    if let Some(found) = &dep.resolved {
                        next.push((found.skill.clone(), requires_of(&found.version.record)));
                    }
                    closure.push(dep);
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        Ok(Closure { dependencies: closure, truncated: false })
    }

    /// One requirement of `by`'s version, resolved for `caller` (depth left at 0).
    async fn resolve_requirement(&self, caller: &Caller, entry: &str, by: &Skill) -> Result<Dependency> {
        let mut dep = Dependency {
            requirement: entry.to_owned(),
            required_by: vec![format!("{}/{}", by.namespace, by.name)],
            namespace: None,
            name: String::new(),
            range: "*".to_owned(),
            depth: 0,
            resolved: None,
        };
        match parse_requirement(entry, &by.namespace) {
            Requirement::Skill { namespace, name, range } => {
                let spec = (range != "*").then_some(range.as_str());
                if let (Some(ns), Ok(skill)) = (&namespace, name.parse::<SkillName>()) {
                    dep.resolved = self.resolve(caller, ns, &skill, spec).await.map(Some).or_else(unresolved)?;
                }
                (dep.namespace, dep.name, dep.range) = (namespace, name, range);
            }
            Requirement::Oci { reference } => {
                dep.name = format!("{}/{}", reference.registry(), reference.repository());
                dep.range = reference.digest().or(reference.tag()).unwrap_or("latest").to_owned();
                dep.resolved = self.resolve_reference(caller, &reference).await?;
                if let Some(r) = &dep.resolved {
                    (dep.namespace, dep.name) = (Some(r.skill.namespace.clone()), r.skill.name.to_string());
                }
            }
        }
        Ok(dep)
    }

    /// The version a ToolHive reference names, when this index records it. A repository
    /// belongs to one skill: in the embedded store, the skill it is named after; elsewhere, the
    /// first skill (not a fork) that recorded a version stored there, so no later registration
    /// by another team takes a reference over. Within it, the version with that digest, or
    /// whose version is the tag (`1.2.0` or `v1.2.0`; `latest` or no tag: its newest published
    /// one), among its versions stored in that repository.
    /// Resolved for `caller` like any other requirement.
    async fn resolve_reference(&self, caller: &Caller, reference: &oci_client::Reference) -> Result<Option<Resolved>> {
        let repository = format!("{}/{}", reference.registry(), reference.repository());
        let owner = if self.core.is_embedded(&repository) {
            let Some((ns, name)) = reference.repository().split_once('/') else { return Ok(None) };
            self.core.store.skill(ns, name).await?
        } else {
            let mut recorded = self.core.store.versions_by_reference(&format!("{repository}@")).await?;
            recorded.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            let mut owner = None;
            let mut checked = std::collections::HashSet::new();
            for v in recorded {
                if !checked.insert(v.skill_id.clone()) {
                    continue;
                }
                if let Some(skill) = self.core.store.skill_by_id(&v.skill_id).await?
                    && skill.forked_from.is_none()
                {
                    owner = Some(skill);
                    break;
                }
            }
            owner
        };
        let Some(skill) = owner else { return Ok(None) };
        // Only versions stored in that repository answer for it: a tag never names a version
        // its owner keeps elsewhere (newest first, as `versions` lists them).
        let prefix = self.core.stored_reference(&format!("{repository}@"));
        let stored: Vec<Version> = self
            .core
            .store
            .versions(&skill.id)
            .await?
            .into_iter()
            .filter(|v| v.reference.as_deref().is_some_and(|r| r.starts_with(&prefix)))
            .collect();
        let named = match (reference.digest(), reference.tag()) {
            (Some(digest), _) => stored.iter().find(|v| v.digest.as_deref() == Some(digest)),
            (None, None | Some("latest")) => stored.iter().find(|v| v.status == VersionStatus::Published),
            (None, Some(tag)) => stored.iter().find(|v| v.version == tag.strip_prefix('v').unwrap_or(tag)),
        };
        let Some(v) = named else { return Ok(None) };
        self.resolve(caller, &skill.namespace, &skill.name, Some(&v.version)).await.map(Some).or_else(unresolved)
    }
}

/// A requirement that does not resolve for the caller (missing, hidden, unmatched, refused by
/// a trust policy, or its registry failing) is kept, unresolved, so one dependency never
/// breaks the answer for the skill that needs it; a failure of this server is an error.
fn unresolved(e: Error) -> Result<Option<Resolved>> {
    if e.is_internal() { Err(e) } else { Ok(None) }
}

impl Catalog<'_> {
    /// Refuses requirements that cannot be met: one that names a published skill the caller
    /// may see with a range none of its published versions satisfies is a conflict. A
    /// requirement of a skill not published (yet) is a forward reference, and passes.
    pub async fn check_requirements(&self, caller: &Caller, home: &Namespace, requires: &[String]) -> Result<()> {
        for entry in requires.iter().take(DEPENDENCY_MAX) {
            let Requirement::Skill { namespace: Some(ns), name, range } = parse_requirement(entry, home) else {
                continue;
            };
            let Ok(name) = name.parse::<SkillName>() else { continue };
            if range == "*" {
                continue;
            }
            let published = match self.get_skill(caller, &ns, &name).await {
                Ok(skill) => skill.latest_version.is_some(),
                Err(Error::NotFound(_)) => false,
                Err(e) => return Err(e),
            };
            if !published {
                continue;
            }
            match self.resolve(caller, &ns, &name, Some(&range)).await {
                Ok(_) => {}
                Err(Error::NotFound(_)) => {
                    return Err(Error::Conflict(format!(
                        "`requires: {entry}` conflicts with the published versions of `{ns}/{name}`: none satisfies `{range}`"
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_name_a_skill_here_or_elsewhere_with_an_optional_range() {
        let home: Namespace = "acme".parse().unwrap();
        let skill = |ns: Option<&str>, name: &str, range: &str| Requirement::Skill {
            namespace: ns.map(|n| n.parse().unwrap()),
            name: name.into(),
            range: range.into(),
        };
        assert_eq!(parse_requirement("lint", &home), skill(Some("acme"), "lint", "*"));
        assert_eq!(parse_requirement("lint@1.0.0", &home), skill(Some("acme"), "lint", "1.0.0"));
        assert_eq!(parse_requirement("beta/fmt@^2", &home), skill(Some("beta"), "fmt", "^2"));
        assert_eq!(parse_requirement("Bad NS/fmt", &home), skill(None, "Bad NS/fmt", "*"));
    }

    #[test]
    fn toolhive_references_are_told_apart_by_their_registry_host() {
        let home: Namespace = "acme".parse().unwrap();
        for oci in ["ghcr.io/org/lint:v1", "localhost:5000/acme/lint@sha256:".to_owned().as_str(), "localhost/a/b"] {
            let oci = if oci.ends_with("sha256:") { format!("{oci}{}", "a".repeat(64)) } else { oci.to_owned() };
            assert!(matches!(parse_requirement(&oci, &home), Requirement::Oci { .. }), "{oci}");
        }
        assert!(matches!(parse_requirement("team-a/lint@^1", &home), Requirement::Skill { .. }));
        // A namespace with dots is a namespace, not a registry host.
        assert_eq!(
            parse_requirement("io.github.acme/lint@^1", &home),
            Requirement::Skill {
                namespace: Some("io.github.acme".parse().unwrap()),
                name: "lint".into(),
                range: "^1".into()
            }
        );
    }

    #[test]
    fn declared_requirements_merge_skilldex_and_toolhive_entries_once() {
        let fm: crate::domain::entity::JsonObject = serde_json::from_value(serde_json::json!({
            "requires": ["lint@^1", "ghcr.io/org/fmt:v2"],
            "metadata": {"toolhive.requires": "ghcr.io/org/fmt:v2\n\n  ghcr.io/org/docs:v1  \n"},
        }))
        .unwrap();
        let annotated = ["ghcr.io/org/docs:v1".to_owned(), "ghcr.io/org/extra:v3".to_owned()];
        assert_eq!(
            declared_requirements(&fm, &annotated),
            ["lint@^1", "ghcr.io/org/fmt:v2", "ghcr.io/org/docs:v1", "ghcr.io/org/extra:v3"]
        );
    }

    #[test]
    fn specs_are_exact_channel_or_range() {
        assert_eq!(parse_spec(None).unwrap(), Spec::Channel("latest".parse().unwrap()));
        assert_eq!(parse_spec(Some("1.2.3")).unwrap(), Spec::Exact("1.2.3".parse().unwrap()));
        assert_eq!(parse_spec(Some("stable")).unwrap(), Spec::Channel("stable".parse().unwrap()));
        assert!(matches!(parse_spec(Some("^1.2")).unwrap(), Spec::Range(_)));
        assert!(matches!(parse_spec(Some(">=1, <2")).unwrap(), Spec::Range(_)));
        assert!(matches!(parse_spec(Some("1.2")).unwrap(), Spec::Range(_)), "Cargo: 1.2 means ^1.2");
        assert!(parse_spec(Some("not a version!")).is_err());
    }

    #[test]
    fn specs_admit_versions_as_resolving_picks_them() {
        assert!(spec_admits("1.0.0", "1.0.0") && !spec_admits("1.0.0", "1.9.0"), "exact is exact");
        assert!(spec_admits("^1", "1.9.0") && !spec_admits("^1", "2.0.0"));
        assert!(spec_admits("*", "0.1.0"));
        assert!(!spec_admits("stable", "1.0.0") && !spec_admits("sha256:ab", "1.0.0"));
    }
}
