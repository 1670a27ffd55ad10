//! Reviews (SkillsMgr's): one per author and target, a skill or a collection, rated `grande`
//! or `regular`, changed or deleted by its author. A review is exactly as visible as what it
//! reviews: the reviews of a private skill are seen by its namespace's members only. Nobody
//! reviews their own work: a member of a skill's namespace, or a collection's owner.

use serde_json::json;

use super::{Caller, Error, Result, Reviews, check_length};
use crate::domain::{Namespace, ReviewRating, ReviewTarget, SkillName, now_millis};
use crate::store::Review;

/// A review's body: at least this many characters (SkillsMgr's rule), at most `BODY_MAX`.
pub const BODY_MIN: usize = 5;
pub const BODY_MAX: usize = 5_000;

/// What a review is of, as a caller names it.
#[derive(Debug, Clone)]
pub enum TargetRef {
    Package(Namespace, SkillName),
    Collection(String),
}

/// A review with its target named as SkillsMgr names it (`@namespace/name`, or the
/// collection's id).
#[derive(Debug, Clone)]
pub struct ReviewView {
    pub review: Review,
    pub target_name: String,
}

impl Reviews<'_> {
    pub async fn create(
        &self,
        caller: &Caller,
        target: TargetRef,
        rating: ReviewRating,
        body: &str,
    ) -> Result<ReviewView> {
        let me = caller.require_participate()?;
        let body = check_body(body)?;
        let (kind, id, name) = self.target(caller, &target).await?;
        let own = match &target {
            // Membership itself (a site administrator is not a member of every team).
            TargetRef::Package(namespace, _) => {
                self.core.store.member_role(namespace.as_str(), &me.user.id).await?.is_some()
            }
            TargetRef::Collection(cid) => {
                let collection = self.core.collections().visible(caller, cid).await?;
                match (&collection.owner_id, &collection.namespace) {
                    (Some(owner), _) => *owner == me.user.id,
                    (None, Some(ns)) => self.core.store.member_role(ns.as_str(), &me.user.id).await?.is_some(),
                    (None, None) => false,
                }
            }
        };
        if own {
            return Err(Error::OwnWork("authors cannot review their own skills or collections".into()));
        }
        let review =
            self.core.store.create_review(&me.user.id, (kind, &id), rating, body, now_millis()).await.map_err(|e| {
                match Error::from(e) {
                    Error::Conflict(_) => Error::Conflict(format!(
                        "you have reviewed {name} already: change that review (PUT /api/reviews/<id>) or delete it"
                    )),
                    other => other,
                }
            })?;
        self.core.audit(caller, "review.create", &review.id, json!({ "target": name, "rating": rating })).await;
        Ok(ReviewView { review, target_name: name })
    }

    /// The reviews of a target the caller may see, newest first.
    pub async fn list(
        &self,
        caller: &Caller,
        target: TargetRef,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ReviewView>> {
        let (kind, id, name) = self.target(caller, &target).await?;
        let reviews = self.core.store.reviews_of((kind, &id), before, limit).await?;
        Ok(reviews.into_iter().map(|review| ReviewView { review, target_name: name.clone() }).collect())
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<ReviewView> {
        let review = self.core.store.review(id).await?.ok_or_else(|| not_found(id))?;
        let name = self.visible_target(caller, &review).await?.ok_or_else(|| not_found(id))?;
        Ok(ReviewView { review, target_name: name })
    }

    /// Changes a review: its author only.
    pub async fn update(&self, caller: &Caller, id: &str, rating: ReviewRating, body: &str) -> Result<ReviewView> {
        let me = caller.require_participate()?;
        let body = check_body(body)?;
        let ReviewView { review, target_name } = self.get(caller, id).await?;
        if review.author_id != me.user.id {
            return Err(Error::Forbidden("only its author may change a review".into()));
        }
        if !self.core.store.update_review(id, rating, body, now_millis()).await? {
            return Err(not_found(id));
        }
        self.core.audit(caller, "review.update", id, json!({ "target": target_name, "rating": rating })).await;
        self.get(caller, id).await
    }

    /// Deletes a review: its author, or a site administrator (with an admin token).
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let me = caller.require_participate()?;
        let ReviewView { review, target_name } = self.get(caller, id).await?;
        let moderator = caller.require(crate::domain::TokenScope::Admin).is_ok() && me.user.is_admin;
        if review.author_id != me.user.id && !moderator {
            return Err(Error::Forbidden("only its author or a site administrator may delete a review".into()));
        }
        if !self.core.store.delete_review(id).await? {
            return Err(not_found(id));
        }
        self.core.audit(caller, "review.delete", id, json!({ "target": target_name })).await;
        Ok(())
    }

    /// The target's kind, id and name, if the caller may see it; else not found.
    async fn target(&self, caller: &Caller, target: &TargetRef) -> Result<(ReviewTarget, String, String)> {
        match target {
            TargetRef::Package(namespace, name) => {
                let (skill, _) = self.core.visible_skill(caller, namespace, name, false).await?;
                Ok((ReviewTarget::Package, skill.id, format!("@{namespace}/{name}")))
            }
            TargetRef::Collection(id) => {
                let collection = self.core.collections().visible(caller, id).await?;
                Ok((ReviewTarget::Collection, collection.id.clone(), collection.id))
            }
        }
    }

    /// The name of a review's target when the caller may see it.
    async fn visible_target(&self, caller: &Caller, review: &Review) -> Result<Option<String>> {
        Ok(match review.target {
            ReviewTarget::Package => self
                .core
                .store
                .skills_by_ids(std::slice::from_ref(&review.target_id))
                .await?
                .into_iter()
                .find(|s| super::collections::sees(caller, s))
                .map(|s| format!("@{}/{}", s.namespace, s.name)),
            ReviewTarget::Collection => match self.core.collections().visible(caller, &review.target_id).await {
                Ok(c) => Some(c.id),
                Err(Error::NotFound(_)) => None,
                Err(e) => return Err(e),
            },
        })
    }
}

fn check_body(body: &str) -> Result<&str> {
    let body = body.trim();
    check_length("body", body, BODY_MIN, BODY_MAX)?;
    Ok(body)
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("review `{id}` not found"))
}
