//! What people do with skills: every download and view from every surface is one usage
//! event, and a namespace's owners read them back as a timeline, a top list and a decay
//! report (skills nobody uses any more).

use super::{Caller, Error, Result, Usage};
use crate::domain::{Millis, Namespace, SkillKind, SkillName, TokenScope, now_millis};
use crate::store::{Skill, UsageEvent};

const DAY: Millis = 86_400_000;

/// One skill's use over a window.
#[derive(Debug, Clone)]
pub struct SkillUse {
    pub skill: Skill,
    pub downloads: i64,
    pub views: i64,
}

/// One UTC day of a namespace's use (`day` counts days since 1970-01-01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayUse {
    pub day: i64,
    pub downloads: i64,
    pub views: i64,
    pub skills: i64,
}

/// A skill that has fallen out of use: published, in the catalog, used fewer than the
/// asked number of times in all, and not since the cut-off.
#[derive(Debug, Clone)]
pub struct Decaying {
    pub skill: Skill,
    pub uses: i64,
    /// Its last use, or its publication when it was never used.
    pub last_used_at: Millis,
}

impl Usage<'_> {
    /// Records a use of a skill the caller may see; a failure to record is logged, never
    /// passed on: counting must not cost anyone a download.
    pub async fn record(&self, skill: &Skill, event: UsageEvent) {
        self.save(skill, event, true).await;
    }

    async fn save(&self, skill: &Skill, event: UsageEvent, served: bool) {
        if let Err(e) = self.core.store.record_usage(&skill.id, event, served, now_millis()).await {
            tracing::warn!(error = %e, skill = %skill.id, "a use was not recorded");
        }
    }

    /// A client's report of a use (skill-pool's `POST /v1/usage`): a published skill of
    /// this kind the caller may see, signed in. It feeds the tenant's reports, never the
    /// public download counter, which only what the server served moves.
    pub async fn report(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        name: &SkillName,
        kind: SkillKind,
        event: UsageEvent,
    ) -> Result<()> {
        caller.require(TokenScope::Read)?;
        let (skill, _) = self.core.visible_skill(caller, namespace, name, false).await?;
        if skill.kind != kind || skill.latest_version.is_none() || skill.archived {
            return Err(Error::NotFound(format!("no published {kind} `{namespace}/{name}`")));
        }
        self.save(&skill, event, false).await;
        Ok(())
    }

    /// Usage reports are for a namespace's owners (and site administrators), with an admin
    /// token: they show private skills and who uses what.
    async fn require_owner(&self, caller: &Caller, namespace: &Namespace) -> Result<()> {
        self.core.require_owner(caller, namespace, "reading usage").await
    }

    /// The namespace's skills used in the last `days` days, most used first (ties by name).
    pub async fn top(&self, caller: &Caller, namespace: &Namespace, days: i64, limit: usize) -> Result<Vec<SkillUse>> {
        self.require_owner(caller, namespace).await?;
        let since = now_millis() - days * DAY;
        let used = self.core.store.usage_by_skill(namespace, since).await?;
        let ids: Vec<String> = used.iter().map(|u| u.skill_id.clone()).collect();
        let skills: std::collections::HashMap<String, Skill> =
            self.core.store.skills_by_ids(&ids).await?.into_iter().map(|s| (s.id.clone(), s)).collect();
        let mut rows: Vec<SkillUse> = used
            .into_iter()
            .filter_map(|u| {
                let skill = skills.get(&u.skill_id)?.clone();
                Some(SkillUse { skill, downloads: u.downloads, views: u.views })
            })
            .collect();
        rows.sort_by(|a, b| {
            (b.downloads + b.views).cmp(&(a.downloads + a.views)).then_with(|| a.skill.name.cmp(&b.skill.name))
        });
        rows.truncate(limit);
        Ok(rows)
    }

    /// Each of the last `days` UTC days, oldest first, today included; days without use are
    /// there with zeros.
    pub async fn timeline(&self, caller: &Caller, namespace: &Namespace, days: i64) -> Result<Vec<DayUse>> {
        self.require_owner(caller, namespace).await?;
        let today = now_millis() / DAY;
        let first = today - days + 1;
        let used = self.core.store.usage_by_day(namespace, first * DAY).await?;
        let mut by_day: std::collections::HashMap<i64, DayUse> = used
            .into_iter()
            .map(|d| (d.day, DayUse { day: d.day, downloads: d.downloads, views: d.views, skills: d.skills }))
            .collect();
        Ok((first..=today)
            .map(|day| by_day.remove(&day).unwrap_or(DayUse { day, downloads: 0, views: 0, skills: 0 }))
            .collect())
    }

    /// Published skills of the namespace (of `kind`, in the catalog) used fewer than
    /// `max_uses` times and not in the last `days` days: the least recently used first.
    pub async fn decaying(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        kind: SkillKind,
        days: i64,
        max_uses: i64,
        limit: usize,
    ) -> Result<Vec<(Decaying, crate::store::Version)>> {
        self.require_owner(caller, namespace).await?;
        let cutoff = now_millis() - days * DAY;
        let totals = self.core.store.usage_totals(namespace).await?;
        let ids: Vec<String> = totals.iter().map(|t| t.skill_id.clone()).collect();
        let skills: std::collections::HashMap<String, Skill> =
            self.core.store.skills_by_ids(&ids).await?.into_iter().map(|s| (s.id.clone(), s)).collect();
        let candidates: Vec<(Skill, crate::store::UsageTotal)> = totals
            .into_iter()
            .filter(|t| t.uses < max_uses)
            .filter_map(|t| Some((skills.get(&t.skill_id)?.clone(), t)))
            .filter(|(s, _)| s.kind == kind && !s.archived && s.latest_version.is_some())
            // Downloaded before usage was recorded: when it was last used is unknown, so it
            // is not offered as unused.
            .filter(|(s, t)| t.uses > 0 || s.downloads == 0)
            .collect();
        let ids: Vec<String> = candidates.iter().map(|(s, _)| s.id.clone()).collect();
        let mut latest: std::collections::HashMap<String, crate::store::Version> =
            self.core.store.latest_versions(&ids).await?.into_iter().map(|v| (v.skill_id.clone(), v)).collect();
        let mut rows: Vec<(Decaying, crate::store::Version)> = candidates
            .into_iter()
            .filter_map(|(skill, t)| {
                let version = latest.remove(&skill.id)?;
                let last_used_at = t.last_used_at.unwrap_or(version.published_at.unwrap_or(version.created_at));
                (last_used_at < cutoff).then_some((Decaying { skill, uses: t.uses, last_used_at }, version))
            })
            .collect();
        rows.sort_by(|(a, _), (b, _)| {
            a.last_used_at.cmp(&b.last_used_at).then(a.uses.cmp(&b.uses)).then_with(|| a.skill.name.cmp(&b.skill.name))
        });
        rows.truncate(limit);
        Ok(rows)
    }
}
