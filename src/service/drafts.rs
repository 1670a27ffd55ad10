//! The drafts inbox (skill-pool's): a bundle captured by a hook or a teammate waits for a
//! publisher's review, then becomes a version through the one publish pipeline or is
//! discarded (its content purged). Drafts belong to a namespace's members: outsiders learn
//! nothing of them.

use serde_json::json;

use super::access::require_role;
use super::{ArtifactSource, Caller, Drafts, Error, PublishPlan, Published, Result, SkillDraft};
use crate::domain::{
    DraftStatus, Millis, Namespace, SkillKind, SkillName, Tag, TeamRole, TokenScope, Visibility, new_id, now_millis,
};
use crate::store::Draft;

/// A new draft is proposed as an update of a published skill at least this alike.
pub const MERGE_SIMILARITY: f32 = 0.85;
/// How many skills nearest in meaning a new draft's description is compared with.
const MERGE_CANDIDATES: i64 = 5;
/// The most drafts one listing returns.
pub const LIST_MAX: i64 = 200;
/// How long one publish holds its draft: longer than any publish, and a lease.
const PUBLISH_LEASE_MS: Millis = 15 * 60 * 1000;

/// What a draft is made of: the bundle (checked by the caller against the bundle rules) and
/// what the capturer says of it.
#[derive(Debug, Clone)]
pub struct DraftInput {
    pub slug: SkillName,
    pub description: String,
    pub when_to_use: Option<String>,
    pub tags: Vec<Tag>,
    pub origin: String,
    pub notes: Option<String>,
    pub archive: Vec<u8>,
}

impl Drafts<'_> {
    /// Drafts are read by any member of the namespace (read scope) and reviewed by its
    /// publishers (write scope).
    async fn require(&self, caller: &Caller, namespace: &Namespace, reviewing: bool) -> Result<()> {
        caller.require(if reviewing { TokenScope::Write } else { TokenScope::Read })?;
        let role = self.core.role_in(caller, namespace.as_str()).await?;
        let need = if reviewing { TeamRole::Publisher } else { TeamRole::Reader };
        require_role(role, need, if reviewing { "reviewing drafts" } else { "reading drafts" })
    }

    /// Puts a draft in the inbox, with a merge proposal when it looks like a published skill,
    /// and tells the namespace's webhook.
    pub async fn create(&self, caller: &Caller, namespace: &Namespace, input: DraftInput) -> Result<Draft> {
        self.require(caller, namespace, true).await?;
        let merge_proposal = self.alike(caller, namespace, &input.description).await;
        let draft = Draft {
            id: new_id(),
            namespace: namespace.clone(),
            slug: input.slug,
            description: input.description,
            when_to_use: input.when_to_use,
            tags: input.tags.into_iter().map(String::from).collect(),
            origin: input.origin,
            notes: input.notes,
            status: DraftStatus::Pending,
            published_version: None,
            archive_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&input.archive)),
            merge_proposal,
            created_by: caller.username().unwrap_or_default().to_owned(),
            created_at: now_millis(),
            reviewed_at: None,
        };
        self.core.store.insert_draft(&draft, &input.archive).await?;
        let target = format!("{namespace}/{}", draft.slug);
        self.core.audit(caller, "draft.create", &target, json!({ "draft": draft.id, "origin": draft.origin })).await;
        let text = match &draft.merge_proposal {
            Some((slug, _)) => {
                format!("New draft `{}` in `{namespace}` — looks like an update to existing skill `{slug}`", draft.slug)
            }
            None => format!("New draft `{}` ready for review in `{namespace}`", draft.slug),
        };
        let body = json!({
            "text": text,
            "event": "draft.created",
            "tenant": { "slug": namespace },
            "draft": { "id": draft.id, "slug": draft.slug, "description": draft.description,
                "origin": draft.origin, "merge_proposal_slug": draft.merge_proposal.as_ref().map(|p| &p.0) },
        });
        self.core.webhooks().notify(namespace, "draft.created", body).await;
        Ok(draft)
    }

    /// The published skill of the namespace whose description is nearest in meaning to
    /// `description`, when they are alike enough (and the server has a model): the nearest
    /// skills by meaning, then their descriptions compared with the draft's.
    async fn alike(&self, caller: &Caller, namespace: &Namespace, description: &str) -> Option<(String, f64)> {
        let semantic = self.core.search.as_ref()?.semantic()?.clone();
        if !description.chars().any(char::is_alphanumeric) {
            return None;
        }
        let q: String = description.chars().take(super::limits::QUERY).collect();
        let request = super::SkillListRequest {
            q: Some(q),
            namespace: Some(namespace.clone()),
            published_only: true,
            mode: super::SearchMode::Semantic,
            sort: Some(crate::store::SkillSort::Relevance),
            limit: Some(MERGE_CANDIDATES),
            ..Default::default()
        };
        let candidates = match self.core.catalog().list_skills(caller, request).await {
            Ok(page) => page.items,
            Err(e) => {
                tracing::warn!(error = %e, "the draft was not compared with published skills");
                return None;
            }
        };
        let descriptions: Vec<String> = candidates.iter().map(|h| h.skill.description.clone()).collect();
        let similar = match semantic.similarities(description, &descriptions).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "the draft was not compared with published skills");
                return None;
            }
        };
        candidates
            .iter()
            .zip(similar)
            .filter(|(_, s)| *s >= MERGE_SIMILARITY)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(h, s)| (h.skill.name.to_string(), f64::from(s.min(1.0))))
    }

    /// The namespace's drafts, newest first (pending first when every status is asked for),
    /// at most `LIST_MAX`.
    pub async fn list(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        status: Option<DraftStatus>,
    ) -> Result<Vec<Draft>> {
        self.require(caller, namespace, false).await?;
        Ok(self.core.store.drafts(namespace, status, LIST_MAX).await?)
    }

    pub async fn pending_count(&self, caller: &Caller, namespace: &Namespace) -> Result<i64> {
        self.require(caller, namespace, false).await?;
        Ok(self.core.store.count_drafts(namespace, DraftStatus::Pending).await?)
    }

    /// One draft; outsiders get the same 404 as for one that does not exist.
    pub async fn get(&self, caller: &Caller, namespace: &Namespace, id: &str) -> Result<Draft> {
        let missing = || Error::NotFound(format!("no draft `{}`", crate::domain::truncate(id)));
        let role = self.core.role_in(caller, namespace.as_str()).await?;
        if role.is_none() || caller.require(TokenScope::Read).is_err() {
            return Err(missing());
        }
        self.core.store.draft(namespace, id).await?.ok_or_else(missing)
    }

    /// The draft's SKILL.md, while its bundle is kept.
    pub async fn skill_md(&self, caller: &Caller, namespace: &Namespace, id: &str) -> Result<Vec<u8>> {
        let draft = self.get(caller, namespace, id).await?;
        let archive = self.archive(&draft).await?;
        let bundle = crate::bundle::Bundle::from_archive(&archive, None, &self.core.limits.bundle)?;
        bundle
            .files
            .into_iter()
            .find(|f| f.path == crate::bundle::SKILL_MD)
            .map(|f| f.data)
            .ok_or_else(|| Error::NotFound("the draft has no SKILL.md".into()))
    }

    async fn archive(&self, draft: &Draft) -> Result<Vec<u8>> {
        self.core
            .store
            .draft_archive(&draft.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("draft `{}` was discarded; its content is gone", draft.id)))
    }

    /// Publishes a pending draft as `version` of `slug` (the draft's own by default) through
    /// the one publish pipeline: a new skill is private to the namespace's team. Once only:
    /// a draft being published or already reviewed is refused, and so is a version that
    /// exists.
    pub async fn publish(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        id: &str,
        version: &str,
        slug: Option<SkillName>,
    ) -> Result<(Draft, Published)> {
        let draft = self.get(caller, namespace, id).await?;
        self.require(caller, namespace, true).await?;
        if draft.status != DraftStatus::Pending {
            return Err(Error::Invalid(format!("draft is already {} — cannot publish", draft.status)));
        }
        let now = now_millis();
        if !self.core.store.claim_draft(&draft.id, now + PUBLISH_LEASE_MS, now).await? {
            return Err(Error::Conflict("the draft is being published or was just reviewed".into()));
        }
        let published = self.publish_claimed(caller, &draft, version, slug).await;
        match published {
            Ok(published) => {
                self.core.store.publish_draft(&draft.id, &published.version.version, now_millis()).await?;
                let target = format!("{namespace}/{}", published.skill.name);
                let detail = json!({ "draft": draft.id, "version": published.version.version });
                self.core.audit(caller, "draft.publish", &target, detail).await;
                let draft = self.core.store.draft(namespace, &draft.id).await?.unwrap_or(draft);
                Ok((draft, published))
            }
            Err(e) => {
                // The publish's own error is the answer; the claim lapses by itself if this fails.
                if let Err(release) = self.core.store.release_draft(&draft.id).await {
                    tracing::warn!(error = %release, draft = %draft.id, "a draft claim was not released");
                }
                Err(e)
            }
        }
    }

    async fn publish_claimed(
        &self,
        caller: &Caller,
        draft: &Draft,
        version: &str,
        slug: Option<SkillName>,
    ) -> Result<Published> {
        let archive = self.archive(draft).await?;
        let name = slug.unwrap_or_else(|| draft.slug.clone());
        let tags = draft.tags.iter().filter_map(|t| t.parse::<Tag>().ok()).collect();
        let create = SkillDraft {
            namespace: draft.namespace.clone(),
            name: name.clone(),
            display_name: None,
            description: None,
            readme: None,
            visibility: Some(Visibility::Private),
            tags: Some(tags),
            skill_type: None,
            kind: Some(SkillKind::Skill),
        };
        let plan = PublishPlan::creating(create, version, ArtifactSource::Archive(archive));
        match self.core.publishing().publish(caller, plan).await {
            Err(Error::Conflict(_)) if self.version_exists(caller, draft, &name, version).await => {
                Err(Error::Invalid(format!("{name}@{version} already exists — pick a different version")))
            }
            other => other,
        }
    }

    async fn version_exists(&self, caller: &Caller, draft: &Draft, name: &SkillName, version: &str) -> bool {
        self.core.catalog().resolve(caller, &draft.namespace, name, Some(version)).await.is_ok()
    }

    /// Discards a pending draft and purges its bundle; the row stays (what was captured, and
    /// when it was turned down).
    pub async fn discard(&self, caller: &Caller, namespace: &Namespace, id: &str) -> Result<()> {
        let draft = self.get(caller, namespace, id).await?;
        self.require(caller, namespace, true).await?;
        if !self.core.store.discard_draft(&draft.id, now_millis(), now_millis()).await? {
            return Err(Error::NotFound(format!("no pending draft `{}`", draft.id)));
        }
        let target = format!("{namespace}/{}", draft.slug);
        self.core.audit(caller, "draft.discard", &target, json!({ "draft": draft.id })).await;
        Ok(())
    }
}
