//! Skills as npm packages: `@namespace/name`, one npm version per published version, the
//! tarball rebuilt from the version's immutable artifact (its files under `package/` and a
//! `package.json` made from SKILL.md), and `npm publish` mapped onto upload publishing.
//! Visibility, resolving and publishing are the same calls every surface makes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde_json::json;
use sha2::Digest as _;

use super::Catalog;
use super::access::require_role;
use super::{Caller, Error, Result};
use crate::bundle::{Bundle, PACKAGE_JSON};
use crate::domain::{Namespace, ReleasedVersion, SkillName, TeamRole, TokenScope, VersionStatus, parse_version};
use crate::store::{Channel, NpmDist, Skill, SkillPatch};

/// How many missing tarball digests one packument computes at a time.
const DIST_CONCURRENCY: usize = 4;

/// A skill as an npm packument describes it: its installable versions (newest first), each
/// with its tarball's digests, and its channels, which are npm's dist-tags.
#[derive(Debug, Clone)]
pub struct NpmPackage {
    pub skill: Skill,
    pub versions: Vec<(ReleasedVersion, NpmDist)>,
    pub channels: Vec<Channel>,
}

/// The npm package name of a skill.
pub fn package_name(namespace: &Namespace, name: &SkillName) -> String {
    format!("@{namespace}/{name}")
}

/// `sha512-<base64>`, as npm's `dist.integrity` (Subresource Integrity) writes it.
pub fn integrity(bytes: &[u8]) -> String {
    format!("sha512-{}", B64.encode(sha2::Sha512::digest(bytes)))
}

fn dist_of(tarball: &[u8]) -> NpmDist {
    NpmDist {
        integrity: integrity(tarball),
        shasum: hex::encode(<sha1::Sha1 as sha1::Digest>::digest(tarball)),
        size: tarball.len() as i64,
    }
}

/// The notice npm shows for every version of a deprecated skill: its message, or a plain one.
pub fn deprecation_notice(skill: &Skill) -> Option<String> {
    skill.deprecated.then(|| {
        let message = skill.deprecated_message.clone().filter(|m| !m.trim().is_empty());
        message.unwrap_or_else(|| format!("{} is deprecated", package_name(&skill.namespace, &skill.name)))
    })
}

/// What npm may install: released and not yanked (a yanked version would otherwise be npm's
/// fallback for ranges).
fn installable(v: &ReleasedVersion) -> bool {
    v.status == VersionStatus::Published
}

/// The `package.json` a version's tarball carries. Only what never changes for a version
/// goes in (tags can change, so they stay in the packument), so the tarball and its
/// integrity never change either.
/// `reference` is spelled without this server's host, which may change.
fn package_json(skill: &Skill, v: &ReleasedVersion, reference: &str, bundle: &Bundle) -> Vec<u8> {
    let fm = &bundle.skill.frontmatter_json;
    let mut pj = json!({
        "name": package_name(&skill.namespace, &skill.name),
        "version": v.version,
        "description": bundle.skill.frontmatter.description,
        "skilldex": { "reference": reference, "digest": v.digest },
    });
    if let Some(license) = fm.get("license").and_then(|l| l.as_str()) {
        pj["license"] = license.into();
    }
    let mut out = serde_json::to_vec_pretty(&pj).expect("package.json serializes");
    out.push(b'\n');
    out
}

impl Catalog<'_> {
    /// The packument of a skill the caller may see: every published version that has an
    /// artifact, with tarball digests, computed once and stored. Drafts never appear, and
    /// neither do yanked versions, so no npm range can pick one (npm would fall back to a
    /// deprecated version); their tarballs still answer, so lockfiles keep working.
    pub async fn npm_package(&self, caller: &Caller, namespace: &Namespace, name: &SkillName) -> Result<NpmPackage> {
        let (skill, _, released) = self.released_versions(caller, namespace, name).await?;
        let versions: Vec<ReleasedVersion> = released.into_iter().filter(installable).collect();
        let mut known: HashMap<String, NpmDist> = self.core.store.npm_dists(&skill.id).await?.into_iter().collect();
        let missing: Vec<ReleasedVersion> = versions.iter().filter(|v| !known.contains_key(&v.id)).cloned().collect();
        let computed: Vec<(String, NpmDist)> = futures_util::stream::iter(missing)
            .map(|v| self.record_npm_dist(&skill, v))
            .buffer_unordered(DIST_CONCURRENCY)
            .try_collect()
            .await?;
        known.extend(computed);
        let versions = versions
            .into_iter()
            .filter_map(|v| {
                let dist = known.remove(&v.id)?;
                Some((v, dist))
            })
            .collect();
        let channels = self.core.store.channels(&skill.id).await?;
        Ok(NpmPackage { skill, versions, channels })
    }

    /// The npm tarball of an exact version the caller may see; counted as a download.
    pub async fn npm_tarball(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        version: &str,
    ) -> Result<Vec<u8>> {
        parse_version(version)?;
        let resolved = self.download(caller, namespace, name, Some(version)).await?;
        self.npm_tarball_of(&resolved.skill, &resolved.version).await
    }

    /// Computes a version's tarball digests and stores them for every later packument.
    async fn record_npm_dist(&self, skill: &Skill, v: ReleasedVersion) -> Result<(String, NpmDist)> {
        let dist = dist_of(&self.npm_tarball_of(skill, &v).await?);
        self.core.store.put_npm_dist(&v.id, &dist).await?;
        Ok((v.id.clone(), dist))
    }

    /// Rebuilds a version's npm tarball from its artifact, fetched by digest and checked.
    async fn npm_tarball_of(&self, skill: &Skill, v: &ReleasedVersion) -> Result<Vec<u8>> {
        let bundle = self.bundle_of(v).await?;
        let reference = self.core.stored_reference(&v.reference);
        Ok(bundle.npm_tarball(&package_json(skill, v, reference.trim_start_matches('/'), &bundle)))
    }

    /// What `npm deprecate` and `npm unpublish <package>@<version>` send back: the packument's
    /// versions as the client wants them, each with its deprecation notice (`None` or empty:
    /// not deprecated). A listed version left out is unpublished, which here means yanked: it
    /// leaves the packument and every range, and lockfiles that pin it keep installing it.
    /// Deprecation is a skill's, so the notices must agree. Everything is checked before
    /// anything changes.
    pub async fn npm_change(
        &self,
        caller: &Caller,
        (namespace, name): (&Namespace, &SkillName),
        wanted: BTreeMap<String, Option<String>>,
    ) -> Result<()> {
        caller.require(TokenScope::Write)?;
        let (skill, role, released) = self.released_versions(caller, namespace, name).await?;
        require_role(role, TeamRole::Publisher, "changing a package")?;
        let package = package_name(namespace, name);
        let listed: Vec<String> = released.iter().filter(|v| installable(v)).map(|v| v.version.clone()).collect();
        if let Some(unknown) = wanted.keys().find(|v| !listed.contains(v)) {
            return Err(Error::Invalid(format!(
                "`{}` is not a published version of {package}",
                unknown.escape_debug()
            )));
        }
        if wanted.is_empty() {
            return Err(Error::Invalid(format!(
                "a package keeps at least one version; to remove {package}, unpublish the whole package"
            )));
        }
        let notices: BTreeSet<Option<&str>> =
            wanted.values().map(|m| m.as_deref().map(str::trim).filter(|m| !m.is_empty())).collect();
        let [notice] = notices.into_iter().collect::<Vec<_>>()[..] else {
            return Err(Error::Invalid(format!(
                "skilldex deprecates whole skills, not single versions: deprecate every version of {package} \
                 (`npm deprecate '{package}@*' <message>`) or none; to keep one version out of ranges, yank it"
            )));
        };
        let removed: Vec<&String> = listed.iter().filter(|v| !wanted.contains_key(*v)).collect();
        if !removed.is_empty() {
            caller.require(TokenScope::Admin)?;
            require_role(role, TeamRole::Owner, "unpublishing (yanking) a version")?;
        }
        if notice != deprecation_notice(&skill).as_deref() {
            let patch = SkillPatch {
                deprecated: Some(notice.is_some()),
                deprecated_message: Some(notice.map(str::to_owned)),
                ..Default::default()
            };
            self.update_skill(caller, namespace, name, patch).await?;
        }
        for version in removed {
            self.set_yanked(caller, namespace, name, version, true).await?;
        }
        Ok(())
    }
}

/// The tarball's own `package.json` must agree with the package and version it is
/// published as, as npm's registry requires.
pub(super) fn check_package_json(raw: &[u8], name: &str, version: &semver::Version) -> Result<()> {
    let bad = |m: String| Error::ManifestInvalid(format!("{PACKAGE_JSON} in the tarball {m}"));
    let pj: serde_json::Value = serde_json::from_slice(raw).map_err(|e| bad(format!("is not JSON: {e}")))?;
    let found_name = pj.get("name").and_then(|n| n.as_str()).unwrap_or_default();
    if found_name != name {
        return Err(bad(format!("names `{}`, not `{name}`", found_name.escape_debug())));
    }
    let found_version = pj.get("version").and_then(|n| n.as_str()).unwrap_or_default();
    if semver::Version::parse(found_version).ok().as_ref() != Some(version) {
        return Err(bad(format!("says version `{}`, not {version}", found_version.escape_debug())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_is_sri_sha512() {
        // The SRI digest of the empty string, as `openssl dgst -sha512 -binary | base64` prints it.
        assert_eq!(
            integrity(b""),
            "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
        );
        assert_eq!(dist_of(b"").shasum, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn package_json_must_match_the_package() {
        let v = semver::Version::new(1, 2, 0);
        assert!(check_package_json(br#"{"name":"@t/s","version":"1.2.0"}"#, "@t/s", &v).is_ok());
        for (raw, says) in [
            (&br#"{"name":"@t/other","version":"1.2.0"}"#[..], "names `@t/other`"),
            (br#"{"name":"@t/s","version":"1.3.0"}"#, "version `1.3.0`"),
            (br#"{"name":"@t/s"}"#, "version ``"),
            (b"[1,2", "is not JSON"),
        ] {
            let e = check_package_json(raw, "@t/s", &v).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }
}
