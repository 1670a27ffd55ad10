//! Collections: named, ordered lists of skills, owned by a user (personal) or by a namespace's
//! team, public or private. A private collection is seen by its owner (or its namespace's
//! members) and site administrators only; inside any collection, a reader sees only the
//! skills they may see, so a public list never reveals a private skill.

use serde_json::json;

use super::access::require_role;
use super::{Caller, Collections, Error, Result, check_text, limits};
use crate::domain::{Namespace, SkillName, TeamRole, TokenScope, Visibility, now_millis};
use crate::store::{Audience, Collection, CollectionContent, Skill};

/// The most skills one collection lists.
pub const ITEMS_MAX: usize = 200;
/// A collection's name: at most this many characters.
pub const NAME_MAX: usize = 100;

/// Who owns a new collection.
#[derive(Debug, Clone)]
pub enum CollectionOwner {
    /// The caller.
    Me,
    /// A namespace's team (publishers and owners manage it).
    Namespace(Namespace),
}

/// A collection's content, as a caller writes it.
#[derive(Debug, Clone)]
pub struct CollectionInput {
    pub name: String,
    pub description: String,
    /// Private unless said otherwise.
    pub visibility: Option<Visibility>,
    pub skills: Vec<(Namespace, SkillName)>,
}

/// A collection as one caller sees it: only the skills they may see, in order.
#[derive(Debug, Clone)]
pub struct CollectionView {
    pub collection: Collection,
    pub skills: Vec<Skill>,
}

impl Collections<'_> {
    pub async fn create(
        &self,
        caller: &Caller,
        owner: CollectionOwner,
        input: CollectionInput,
    ) -> Result<CollectionView> {
        let me = caller.require(TokenScope::Write)?;
        if let CollectionOwner::Namespace(namespace) = &owner {
            if self.core.store.team_by_namespace(namespace.as_str()).await?.is_none() {
                return Err(Error::NotFound(format!("namespace `{namespace}` not found")));
            }
            let role = self.core.role_in(caller, namespace.as_str()).await?;
            require_role(role, TeamRole::Publisher, "a team's collection")?;
        }
        let content = self.content(caller, input, Visibility::Private).await?;
        let (user, namespace) = match &owner {
            CollectionOwner::Me => (Some(me.user.id.as_str()), None),
            CollectionOwner::Namespace(ns) => (None, Some(ns)),
        };
        let created = self.core.store.create_collection((user, namespace), &me.user.id, &content, now_millis()).await?;
        self.core.audit(caller, "collection.create", &created.id, json!({ "namespace": created.namespace })).await;
        Ok(self.views(caller, vec![created]).await?.remove(0))
    }

    /// The collections the caller may see, by id (a cursor: the last id of the page before).
    pub async fn list(&self, caller: &Caller, after: Option<&str>, limit: i64) -> Result<Vec<CollectionView>> {
        let found = self.core.store.collections(&caller.audience(), after, limit).await?;
        self.views(caller, found).await
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<CollectionView> {
        let collection = self.visible(caller, id).await?;
        Ok(self.views(caller, vec![collection]).await?.remove(0))
    }

    /// Replaces a collection's name, description, visibility and skills.
    pub async fn replace(&self, caller: &Caller, id: &str, input: CollectionInput) -> Result<CollectionView> {
        let collection = self.manageable(caller, id).await?;
        let content = self.content(caller, input, collection.visibility).await?;
        if !self.core.store.replace_collection(id, &content, now_millis()).await? {
            return Err(not_found(id));
        }
        self.core.audit(caller, "collection.update", id, json!({})).await;
        self.get(caller, id).await
    }

    /// Deletes a collection and the reviews of it.
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        self.manageable(caller, id).await?;
        if !self.core.store.delete_collection(id).await? {
            return Err(not_found(id));
        }
        self.core.audit(caller, "collection.delete", id, json!({})).await;
        Ok(())
    }

    /// Collection `id`, if the caller may see it; else not found, as if it did not exist.
    pub(crate) async fn visible(&self, caller: &Caller, id: &str) -> Result<Collection> {
        let collection = self.core.store.collection(id).await?.ok_or_else(|| not_found(id))?;
        if collection.visibility == Visibility::Public || self.owns(caller, &collection).await? {
            Ok(collection)
        } else {
            Err(not_found(id))
        }
    }

    /// Whether the caller is the collection's owner: its user, or a member of its namespace
    /// (any role; site administrators count as members of every namespace).
    pub(crate) async fn owns(&self, caller: &Caller, collection: &Collection) -> Result<bool> {
        let Caller::User(me) = caller else { return Ok(false) };
        Ok(match (&collection.owner_id, &collection.namespace) {
            (Some(owner), _) => *owner == me.user.id || me.user.is_admin,
            (None, Some(ns)) => self.core.role_in(caller, ns.as_str()).await?.is_some(),
            (None, None) => me.user.is_admin,
        })
    }

    /// A collection the caller may change: their own, or their team's with the publisher
    /// role; a standard write token.
    async fn manageable(&self, caller: &Caller, id: &str) -> Result<Collection> {
        let me = caller.require(TokenScope::Write)?;
        let collection = self.visible(caller, id).await?;
        // A site administrator changes another's collection with an admin token only.
        let admin = me.user.is_admin && me.token.scope == TokenScope::Admin;
        let allowed = match (&collection.owner_id, &collection.namespace) {
            (Some(owner), _) => *owner == me.user.id || admin,
            (None, Some(ns)) => self.core.role_in(caller, ns.as_str()).await?.is_some_and(|r| r >= TeamRole::Publisher),
            (None, None) => admin,
        };
        if !allowed {
            return Err(Error::Forbidden(
                "a collection is changed by its owner, or by its team's publishers and owners".into(),
            ));
        }
        Ok(collection)
    }

    /// Checks what a caller writes; every skill must be one they may see, each once.
    async fn content(&self, caller: &Caller, input: CollectionInput, default: Visibility) -> Result<CollectionContent> {
        let name = input.name.trim().to_owned();
        check_text("name", &name, NAME_MAX, false)?;
        check_text("description", &input.description, limits::DESCRIPTION, true)?;
        if input.skills.len() > ITEMS_MAX {
            return Err(Error::Invalid(format!("a collection lists at most {ITEMS_MAX} skills")));
        }
        let mut skill_ids: Vec<String> = Vec::with_capacity(input.skills.len());
        for (namespace, skill) in &input.skills {
            let (found, _) = self.core.visible_skill(caller, namespace, skill, false).await?;
            if skill_ids.contains(&found.id) {
                return Err(Error::Invalid(format!("`{namespace}/{skill}` is listed twice")));
            }
            skill_ids.push(found.id);
        }
        Ok(CollectionContent {
            name,
            description: input.description.trim().to_owned(),
            visibility: input.visibility.unwrap_or(default),
            skill_ids,
        })
    }

    /// The collections with the skills this caller may see, each in its order (one read of
    /// the skills for all of them).
    async fn views(&self, caller: &Caller, collections: Vec<Collection>) -> Result<Vec<CollectionView>> {
        let mut ids: Vec<String> = collections.iter().flat_map(|c| c.skill_ids.iter().cloned()).collect();
        ids.sort();
        ids.dedup();
        let found: std::collections::HashMap<String, Skill> = if ids.is_empty() {
            Default::default()
        } else {
            self.core.store.skills_by_ids(&ids).await?.into_iter().map(|s| (s.id.clone(), s)).collect()
        };
        Ok(collections
            .into_iter()
            .map(|collection| {
                let skills = collection
                    .skill_ids
                    .iter()
                    .filter_map(|id| found.get(id))
                    .filter(|s| sees(caller, s))
                    .cloned()
                    .collect();
                CollectionView { collection, skills }
            })
            .collect())
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("collection `{id}` not found"))
}

/// Whether `caller` may see `skill` where another thing only names it (an item of a
/// collection, a wish's answer): the listing rule, deleted skills left out.
pub(crate) fn sees(caller: &Caller, skill: &Skill) -> bool {
    let role = match caller.audience() {
        Audience::Anonymous => None,
        Audience::Member { .. } => {
            caller.member_namespaces().iter().any(|n| n == skill.namespace.as_str()).then_some(TeamRole::Reader)
        }
        Audience::Everyone => Some(TeamRole::Owner),
    };
    skill.deleted_at.is_none() && super::access::can_see(skill, role)
}
