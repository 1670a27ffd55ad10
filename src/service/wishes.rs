//! Wishes (SkillsMgr's): a signed-in user, or an agent on their behalf, asks for a skill
//! nobody has published yet, site-wide or of one namespace's team. Site-wide wishes are
//! public; a wish addressed to a namespace is seen only by its author, the namespace's
//! members and site administrators, and outsiders learn nothing of it (not found). Those who
//! see a wish and may act on it close it, naming the skill that answers it if there is one.

use serde_json::json;

use super::collections::sees;
use super::{Caller, Error, Result, Wishes, check_length};
use crate::domain::{Namespace, SkillName, Tag, WishStatus, now_millis};
use crate::store::{NewWish, Wish, WishQuery};

/// A wish's title: at least this many characters (SkillsMgr's rule), at most `TITLE_MAX`.
pub const TITLE_MIN: usize = 5;
pub const TITLE_MAX: usize = 200;
/// A wish's body: at least this many characters, at most `BODY_MAX`.
pub const BODY_MIN: usize = 10;
pub const BODY_MAX: usize = 10_000;
/// The most tags a wish carries.
pub const TAGS_MAX: usize = 8;

/// What a new wish says.
#[derive(Debug, Clone)]
pub struct WishInput {
    pub title: String,
    pub body: String,
    pub tags: Vec<Tag>,
    /// The namespace whose team is asked; none for a site-wide wish.
    pub namespace: Option<Namespace>,
}

/// A wish as one caller sees it: the answering skill only when the caller may see it.
#[derive(Debug, Clone)]
pub struct WishView {
    pub wish: Wish,
    pub answer: Option<(Namespace, SkillName)>,
}

/// Which wishes a listing returns.
#[derive(Debug, Clone, Default)]
pub struct WishFilter {
    pub status: Option<WishStatus>,
    pub tag: Option<Tag>,
    pub namespace: Option<Namespace>,
    pub before: Option<String>,
    pub limit: i64,
}

impl Wishes<'_> {
    pub async fn create(&self, caller: &Caller, input: WishInput) -> Result<WishView> {
        let me = caller.require_participate()?;
        let title = input.title.trim();
        let body = input.body.trim();
        check_length("title", title, TITLE_MIN, TITLE_MAX)?;
        check_length("body", body, BODY_MIN, BODY_MAX)?;
        // A repeated tag counts once.
        let mut tags: Vec<String> = Vec::with_capacity(input.tags.len());
        for tag in input.tags.into_iter().map(String::from) {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.len() > TAGS_MAX {
            return Err(Error::Invalid(format!("a wish has at most {TAGS_MAX} tags")));
        }
        if let Some(namespace) = &input.namespace
            && self.core.store.team_by_namespace(namespace.as_str()).await?.is_none()
        {
            return Err(Error::NotFound(format!("namespace `{namespace}` not found")));
        }

        let new = NewWish {
            author_id: me.user.id.clone(),
            namespace: input.namespace,
            title: title.to_owned(),
            body: body.to_owned(),
            tags,
        };
        let wish = self.core.store.create_wish(&new, now_millis()).await?;
        self.core.audit(caller, "wish.create", &wish.id, json!({ "namespace": wish.namespace })).await;
        Ok(WishView { wish, answer: None })
    }

    /// The wishes the caller may see, newest first.
    pub async fn list(&self, caller: &Caller, filter: WishFilter) -> Result<Vec<WishView>> {
        let query = WishQuery {
            audience: caller.audience(),
            status: filter.status,
            tag: filter.tag.map(String::from),
            namespace: filter.namespace,
            before: filter.before,
            limit: filter.limit,
        };
        let wishes = self.core.store.wishes(&query).await?;
        let answers: Vec<String> = wishes.iter().filter_map(|w| w.answer_skill_id.clone()).collect();
        let skills = if answers.is_empty() { Vec::new() } else { self.core.store.skills_by_ids(&answers).await? };
        Ok(wishes
            .into_iter()
            .map(|wish| {
                let answer = wish
                    .answer_skill_id
                    .as_ref()
                    .and_then(|id| skills.iter().find(|s| &s.id == id))
                    .filter(|s| sees(caller, s))
                    .map(|s| (s.namespace.clone(), s.name.clone()));
                WishView { wish: closer_shown_to(caller, wish), answer }
            })
            .collect())
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<WishView> {
        let wish = self.visible(caller, id).await?;
        let answer = match &wish.answer_skill_id {
            Some(skill_id) => self
                .core
                .store
                .skills_by_ids(std::slice::from_ref(skill_id))
                .await?
                .into_iter()
                .find(|s| sees(caller, s))
                .map(|s| (s.namespace, s.name)),
            None => None,
        };
        Ok(WishView { wish: closer_shown_to(caller, wish), answer })
    }

    /// Closes an open wish: by its author, a member of the namespace it is addressed to, or
    /// a site administrator; `answer` names a skill the closer can see. Closing a closed wish
    /// is a conflict.
    pub async fn close(&self, caller: &Caller, id: &str, answer: Option<(&Namespace, &SkillName)>) -> Result<WishView> {
        let me = caller.require_participate()?;
        let wish = self.visible(caller, id).await?;
        let member = match &wish.namespace {
            Some(namespace) => self.core.role_in(caller, namespace.as_str()).await?.is_some(),
            None => false,
        };
        if wish.author_id != me.user.id && !member && !me.user.is_admin {
            return Err(Error::Forbidden(
                "a wish is closed by its author, a member of the namespace it asks, or a site administrator".into(),
            ));
        }
        let answer_skill = match answer {
            Some((namespace, name)) => Some(self.core.visible_skill(caller, namespace, name, false).await?.0),
            None => None,
        };
        let closed = self
            .core
            .store
            .close_wish(id, &me.user.id, answer_skill.as_ref().map(|s| s.id.as_str()), now_millis())
            .await?;
        if !closed {
            return Err(Error::Conflict(format!("wish `{id}` is already closed")));
        }
        let answered = answer_skill.as_ref().map(|s| format!("{}/{}", s.namespace, s.name));
        self.core.audit(caller, "wish.close", id, json!({ "answer": answered })).await;
        self.get(caller, id).await
    }

    /// Wish `id`, if the caller may see it; else not found, as if it did not exist.
    async fn visible(&self, caller: &Caller, id: &str) -> Result<Wish> {
        let not_found = || Error::NotFound(format!("wish `{id}` not found"));
        let wish = self.core.store.wish(id).await?.ok_or_else(not_found)?;
        let seen = match (&wish.namespace, caller) {
            (None, _) => true,
            (Some(_), Caller::Anonymous) => false,
            (Some(namespace), Caller::User(p)) => {
                p.user.is_admin || wish.author_id == p.user.id || p.namespaces.iter().any(|n| n == namespace.as_str())
            }
        };
        if seen { Ok(wish) } else { Err(not_found()) }
    }
}

/// The wish with who closed it only where that tells the caller nothing about a team's
/// members: a site-wide wish, or a caller of the team (or a site administrator, or the
/// closer). An outsider who wished to a team sees that it was closed, not by whom.
fn closer_shown_to(caller: &Caller, mut wish: Wish) -> Wish {
    let shown = match (&wish.namespace, caller) {
        (None, _) => true,
        (Some(_), Caller::Anonymous) => false,
        (Some(namespace), Caller::User(p)) => {
            p.user.is_admin
                || p.namespaces.iter().any(|n| n == namespace.as_str())
                || wish.closed_by.as_ref().is_some_and(|c| c.as_str() == p.user.username.as_str())
        }
    };
    if !shown {
        wish.closed_by = None;
    }
    wish
}
