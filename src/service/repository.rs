//! Who may pull from and push to a repository of the embedded OCI store. Repositories are
//! named `<namespace>/<skill>[/…]`; the rules are the index's own: a public skill's
//! repository is readable by anyone, everything else needs a token that can read (pull) or
//! publish to (push) the namespace.

use super::{Caller, Error, Index, Result};
use crate::domain::{Namespace, SkillName, TeamRole, TokenScope, Visibility};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoAccess {
    Pull,
    Push,
}

impl Index {
    pub async fn repository_access(&self, caller: &Caller, repo: &str, access: RepoAccess) -> Result<()> {
        let unknown = || Error::NotFound(format!("repository `{repo}` not found"));
        let mut parts = repo.split('/');
        let namespace: Namespace = parts.next().unwrap_or("").parse().map_err(|_| unknown())?;
        let skill = parts.next().and_then(|s| s.parse::<SkillName>().ok());
        if let (RepoAccess::Pull, Some(slug)) = (access, &skill) {
            let public = self
                .store
                .skill(namespace.as_str(), slug.as_str())
                .await?
                .is_some_and(|s| s.visibility == Visibility::Public && s.deleted_at.is_none());
            if public {
                return Ok(());
            }
        }
        let need = if access == RepoAccess::Pull { TokenScope::Read } else { TokenScope::Write };
        if matches!(caller, Caller::Anonymous) {
            return Err(Error::Unauthenticated("authentication required".into()));
        }
        caller.require(need)?;
        match (self.role_in(caller, namespace.as_str()).await?, access) {
            (Some(_), RepoAccess::Pull) => Ok(()),
            (Some(r), RepoAccess::Push) if r >= TeamRole::Publisher => Ok(()),
            (None, RepoAccess::Pull) => Err(unknown()),
            _ => Err(Error::Forbidden(format!("pushing to `{repo}` needs the publisher role in `{namespace}`"))),
        }
    }
}
