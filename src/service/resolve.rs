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

#[cfg(test)]
mod tests {
    use super::*;

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
