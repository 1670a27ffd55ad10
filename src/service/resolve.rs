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
                let mut candidates: Vec<(semver::Version, Version)> = self
                    .core
                    .store
                    .versions(&skill.id)
                    .await?
                    .into_iter()
                    .filter(|v| v.status == VersionStatus::Published && stored(v))
                    .filter_map(|v| semver::Version::parse(&v.version).ok().map(|p| (p, v)))
                    .filter(|(p, _)| req.matches(p))
                    .collect();
                candidates.sort_by(|a, b| a.0.cmp(&b.0));
                candidates.pop().map(|(_, v)| v).ok_or_else(|| no_match(format!("`{req}`")))?
            }
        };
        let version = self.core.present(self.core.trust().checked_version(&skill, version).await?);
        let version = ReleasedVersion::of(version)
            .ok_or_else(|| Error::Internal("a resolved version lost its artifact".into()))?;
        Ok(Resolved { skill, version })
    }
}

/// One skill in a dependency closure: who asks for it, how deep, and whether the caller can
/// resolve it (an unpublished, hidden or malformed requirement is kept, unresolved, so a
/// client can warn about it).
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    /// As the `requires:` entry names it (`namespace/name` or, within the same namespace,
    /// `name`).
    pub namespace: Option<Namespace>,
    pub name: String,
    /// The version range asked for; `*` when none.
    pub range: String,
    pub depth: usize,
    /// The version it resolves to for this caller, if any.
    pub resolved: Option<String>,
}

/// How deep a dependency closure is followed.
pub const DEPENDENCY_DEPTH: usize = 10;
/// How many skills a dependency closure lists at most (each costs a resolve).
pub const DEPENDENCY_MAX: usize = 256;

/// A `requires:` entry: `name`, `namespace/name`, each optionally `@range`.
fn parse_requirement(entry: &str, home: &Namespace) -> (Option<Namespace>, String, String) {
    let (target, range) = match entry.split_once('@') {
        Some((t, r)) if !r.trim().is_empty() => (t.trim(), r.trim().to_owned()),
        Some((t, _)) => (t.trim(), "*".to_owned()),
        None => (entry.trim(), "*".to_owned()),
    };
    match target.rsplit_once('/') {
        Some((ns, name)) => match ns.parse() {
            Ok(ns) => (Some(ns), name.to_owned(), range),
            Err(_) => (None, target.to_owned(), range),
        },
        None => (Some(home.clone()), target.to_owned(), range),
    }
}

impl Catalog<'_> {
    /// The transitive closure of the latest version's `requires:`, breadth first, each skill
    /// once (at its shallowest depth), at most `DEPENDENCY_DEPTH` deep. A requirement is
    /// followed only through versions the caller may resolve, so nothing hidden is read.
    pub async fn dependencies(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
    ) -> Result<Vec<Dependency>> {
        let root = self.resolve(caller, namespace, name, None).await?;
        let mut seen: std::collections::HashSet<(String, String)> =
            std::collections::HashSet::from([(namespace.to_string(), name.to_string())]);
        let mut closure = Vec::new();
        let mut frontier = vec![(namespace.clone(), requires_of(&root.version.record))];
        for depth in 1..=DEPENDENCY_DEPTH {
            let mut next = Vec::new();
            for (home, requires) in frontier {
                for entry in requires {
                    if closure.len() >= DEPENDENCY_MAX {
                        return Err(Error::Invalid(format!(
                            "the dependency closure of `{namespace}/{name}` lists more than {DEPENDENCY_MAX} skills"
                        )));
                    }
                    let (ns, dep, range) = parse_requirement(&entry, &home);
                    let key = (ns.as_ref().map(ToString::to_string).unwrap_or_default(), dep.clone());
                    if !seen.insert(key) {
                        continue;
                    }
                    let target = ns.clone().zip(dep.parse::<SkillName>().ok());
                    let spec = (range != "*").then_some(range.as_str());
                    let found = match &target {
                        Some((ns, n)) => self.resolve(caller, ns, n, spec).await.ok(),
                        None => None,
                    };
                    if let (Some(found), Some((ns, _))) = (&found, &target) {
                        next.push((ns.clone(), requires_of(&found.version.record)));
                    }
                    let resolved = found.map(|f| f.version.record.version);
                    closure.push(Dependency { namespace: ns, name: dep, range, depth, resolved });
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        Ok(closure)
    }
}

impl Catalog<'_> {
    /// Refuses requirements that cannot be met: one that names a published skill the caller
    /// may see with a range none of its published versions satisfies is a conflict. A
    /// requirement of a skill not published (yet) is a forward reference, and passes.
    pub async fn check_requirements(&self, caller: &Caller, home: &Namespace, requires: &[String]) -> Result<()> {
        for entry in requires.iter().take(DEPENDENCY_MAX) {
            let (ns, dep, range) = parse_requirement(entry, home);
            let (Some(ns), Ok(name)) = (ns, dep.parse::<SkillName>()) else { continue };
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

/// The `requires:` of a version's SKILL.md.
fn requires_of(v: &Version) -> Vec<String> {
    match v.frontmatter.get("requires") {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_name_a_skill_here_or_elsewhere_with_an_optional_range() {
        let home: Namespace = "acme".parse().unwrap();
        let acme = Some(home.clone());
        assert_eq!(parse_requirement("lint", &home), (acme.clone(), "lint".into(), "*".into()));
        assert_eq!(parse_requirement("lint@1.0.0", &home), (acme, "lint".into(), "1.0.0".into()));
        assert_eq!(parse_requirement("beta/fmt@^2", &home), (Some("beta".parse().unwrap()), "fmt".into(), "^2".into()));
        assert_eq!(parse_requirement("Bad NS/fmt", &home), (None, "Bad NS/fmt".into(), "*".into()));
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
}
