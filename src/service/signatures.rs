//! Signature verdicts: made when a version is published, stored with it, and made again
//! when the policies or trust roots that decided it have changed (lazily at resolve, or
//! for many versions at once by `reevaluate`).

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::Trust;
use super::{Caller, Error, Index, Result};
use crate::domain::{Namespace, SkillName, TokenScope};
use crate::policy::verify::{Subject, evaluate};
use crate::policy::{Candidate, Mode, PolicySet, SignatureStatus, Verdict};
use crate::store::{Skill, Version};

/// What `reevaluate` did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reevaluation {
    /// Versions looked at.
    pub checked: usize,
    /// Versions whose verdict was made again.
    pub reevaluated: usize,
    pub results: Vec<Reevaluated>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reevaluated {
    pub skill: String,
    pub version: String,
    /// The new status, or null when no policy covers the namespace any more.
    pub status: Option<String>,
    pub previous: Option<String>,
}

impl Index {
    pub fn with_policies(self, set: PolicySet) -> Self {
        self.set_policies(set);
        self
    }

    /// Replaces the policy set in force (all at once; requests in flight keep the old one).
    pub fn set_policies(&self, set: PolicySet) {
        *self.policies.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
    }

    pub fn policies(&self) -> Arc<PolicySet> {
        self.policies.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Trust<'_> {
    /// The policy set in force, as shown to site administrators (admin scope).
    pub fn policies_for(&self, caller: &Caller) -> Result<Arc<PolicySet>> {
        require_policy_admin(caller)?;
        Ok(self.core.policies())
    }

    /// The verdict for the artifact `pinned` (`registry/repo@digest`) as version of
    /// `namespace/name`, under the policies now in force; `None` when none covers the
    /// namespace. `manifest` is the top manifest's bytes when the caller has them; `submitted`
    /// are signatures sent with the request, not yet stored next to the artifact.
    pub(super) async fn verdict_for(
        &self,
        namespace: &str,
        name: &str,
        pinned: &str,
        manifest: Option<&[u8]>,
        submitted: &[Candidate],
    ) -> Result<Option<Verdict>> {
        let (reference, source) = self.core.recorded_source(pinned)?;
        self.verdict_in(source, (namespace, name), &reference, manifest, submitted).await
    }

    /// The verdict for the artifact `reference` names in `source`, its signatures looked for
    /// there too.
    async fn verdict_in(
        &self,
        source: &dyn crate::oci::ArtifactSource,
        (namespace, name): (&str, &str),
        reference: &oci_client::Reference,
        manifest: Option<&[u8]>,
        submitted: &[Candidate],
    ) -> Result<Option<Verdict>> {
        let set = self.core.policies();
        let policies = set.applicable(namespace);
        if policies.is_empty() {
            return Ok(None);
        }
        let reference = reference.clone();
        let pinned = reference.whole();
        let digest = reference.digest().ok_or_else(|| Error::Internal(format!("{pinned} is not pinned")))?.to_owned();
        let fetched;
        let (manifest, found) = match manifest {
            Some(m) => (m, crate::oci::signatures::discover(source, &reference, &digest).await),
            None => match source.manifest(&reference).await {
                Ok((bytes, _)) => {
                    fetched = bytes;
                    (fetched.as_slice(), crate::oci::signatures::discover(source, &reference, &digest).await)
                }
                Err(e) => (&[][..], Err(e)),
            },
        };
        let found = found.map(|mut f| {
            f.extend_from_slice(submitted);
            f
        });
        let found = found.map_err(|e| e.to_string());
        Ok(evaluate(&policies, name, Subject { digest: &digest, manifest }, &found).await)
    }

    /// The verdict for `pinned` as `version` of `namespace/name`, refused when an enforcing policy
    /// does not pass it: what every publish path checks before storing anything.
    pub(super) async fn vouched(
        &self,
        (namespace, name): (&Namespace, &SkillName),
        version: &str,
        pinned: &str,
        manifest: Option<&[u8]>,
        submitted: &[Candidate],
    ) -> Result<Option<Verdict>> {
        let verdict = self.verdict_for(namespace.as_str(), name.as_str(), pinned, manifest, submitted).await?;
        self.enforce(&format!("{namespace}/{name}@{version}"), verdict.as_ref())?;
        Ok(verdict)
    }

    /// The same for an artifact held in `source` (an imported layout) rather than where
    /// `pinned` says.
    pub(super) async fn vouched_in(
        &self,
        source: &dyn crate::oci::ArtifactSource,
        (namespace, name): (&Namespace, &SkillName),
        version: &str,
        pinned: &str,
        manifest: Option<&[u8]>,
        submitted: &[Candidate],
    ) -> Result<Option<Verdict>> {
        let reference = crate::oci::parse_reference(pinned)?;
        let verdict =
            self.verdict_in(source, (namespace.as_str(), name.as_str()), &reference, manifest, submitted).await?;
        self.enforce(&format!("{namespace}/{name}@{version}"), verdict.as_ref())?;
        Ok(verdict)
    }

    /// Refuses a version an enforcing policy does not pass; logs what warn mode lets through.
    pub(super) fn enforce(&self, target: &str, verdict: Option<&Verdict>) -> Result<()> {
        let Some(verdict) = verdict else { return Ok(()) };
        for p in verdict.policies.iter().filter(|p| p.status != SignatureStatus::Verified) {
            if p.mode == Mode::Warn {
                tracing::warn!(target, policy = %p.policy, status = p.status.as_str(), reason = %p.reason,
                    "signature check failed; accepted because the policy is in warn mode");
            }
        }
        match verdict.enforced_failure() {
            None => Ok(()),
            Some(p) if p.status == SignatureStatus::Error => Err(Error::Upstream(format!(
                "trust policy `{}` cannot check {target}: {}; nothing was changed",
                p.policy, p.reason
            ))),
            Some(p) => Err(Error::Untrusted(format!(
                "trust policy `{}` refuses {target} ({}): {}",
                p.policy,
                p.status.as_str(),
                p.reason
            ))),
        }
    }

    /// A resolved version with a verdict made under the policies now in force (made again
    /// and stored when they changed), refused when an enforcing policy does not pass.
    pub(super) async fn checked_version(&self, skill: &Skill, mut version: Version) -> Result<Version> {
        let target = format!("{}/{}@{}", skill.namespace, skill.name, version.version);
        let stored = stored_verdict(&version);
        if !is_current(stored.as_ref(), &self.core.policies(), &skill.namespace) {
            let verdict = match &version.reference {
                Some(r) => self.verdict_for(skill.namespace.as_str(), skill.name.as_str(), r, None, &[]).await?,
                None => None,
            };
            let json = verdict.as_ref().map(|v| serde_json::to_value(v).expect("verdict serializes"));
            self.core.store.set_version_signature(&skill.id, &version.version, json.as_ref()).await?;
            version.signature = json;
            self.enforce(&target, verdict.as_ref())?;
            return Ok(version);
        }
        self.enforce(&target, stored.as_ref())?;
        Ok(version)
    }

    /// Makes the verdicts of every stored version (in `namespace`, or everywhere) again where
    /// the policies or trust roots changed since, or all of them with `all`. Site admins only.
    pub async fn reevaluate(&self, caller: &Caller, namespace: Option<&Namespace>, all: bool) -> Result<Reevaluation> {
        require_policy_admin(caller)?;
        let set = self.core.policies();
        let versions = self.core.store.stored_versions(namespace.map(Namespace::as_str)).await?;
        let mut out = Reevaluation { checked: versions.len(), reevaluated: 0, results: Vec::new() };
        for (skill, version) in versions {
            let stored = stored_verdict(&version);
            if !all && is_current(stored.as_ref(), &set, &skill.namespace) {
                continue;
            }
            let Some(reference) = &version.reference else { continue };
            let verdict = self.verdict_for(skill.namespace.as_str(), skill.name.as_str(), reference, None, &[]).await?;
            let json = verdict.as_ref().map(|v| serde_json::to_value(v).expect("verdict serializes"));
            self.core.store.set_version_signature(&skill.id, &version.version, json.as_ref()).await?;
            out.reevaluated += 1;
            out.results.push(Reevaluated {
                skill: format!("{}/{}", skill.namespace, skill.name),
                version: version.version.clone(),
                status: verdict.map(|v| v.status.as_str().to_owned()),
                previous: stored.map(|v| v.status.as_str().to_owned()),
            });
        }
        let detail = json!({ "namespace": namespace.map(Namespace::as_str), "reevaluated": out.reevaluated });
        self.core.audit(caller, "signatures.reevaluate", namespace.map_or("*", Namespace::as_str), detail).await;
        Ok(out)
    }
}

/// The verdict stored with a version; one in a shape this build does not know counts as none,
/// so it is made again under the policies in force.
fn stored_verdict(version: &Version) -> Option<Verdict> {
    version.signature.as_ref().and_then(|s| serde_json::from_value(s.clone()).ok())
}

/// Whether a stored verdict (or its absence) still matches the policies covering `namespace`.
fn is_current(stored: Option<&Verdict>, set: &PolicySet, namespace: &Namespace) -> bool {
    match (stored, set.hashes_for(namespace.as_str())) {
        (Some(v), Some(h)) => v.is_current(&h),
        (None, None) => true,
        _ => false,
    }
}

/// Policies name keys, identities and files: only site administrators see or act on them.
fn require_policy_admin(caller: &Caller) -> Result<()> {
    caller.require(TokenScope::Admin)?;
    if !caller.is_site_admin() {
        return Err(Error::Forbidden("trust policies are for site administrators only".into()));
    }
    Ok(())
}
