//! skill-pool's projects and bootstrap: a namespace's owners describe their repositories
//! (by git remote) and the skills each should load; a session in a repository asks which
//! skills to load and gets the project's own, then the tenant's curated picks for its stack,
//! then skills tagged with it, then skills like it in meaning.

use std::collections::HashMap;

use serde_json::json;
use sha2::Digest as _;

use super::access::require_role;
use super::{Caller, Error, Projects, Result, SearchMode, SkillListRequest};
use crate::domain::{Namespace, SkillKind, SkillName, TeamRole, TokenScope, new_id, now_millis};
use crate::store::{Project, ProjectItem, ProjectPlan, SkillSort};

/// At most this many skills a bootstrap offers.
pub const BOOTSTRAP_MAX: usize = 8;
/// How many candidates each tier contributes before the cap.
const TIER_DEPTH: i64 = 16;
/// Limits on what a project holds.
const ITEMS_MAX: usize = 200;
const NAME_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2000;
const STACK_TAGS_MAX: usize = 20;
const PLAN_MAX: usize = 256 * 1024;
const MAPPINGS_MAX: usize = 500;

/// A git remote as one string per repository: `https://host/path`, whatever the form it was
/// given in (https or http, `ssh://user@host[:port]/path`, scp-style `user@host:path`), with
/// the host lowercased, the path's case kept, and no credentials, `.git` or trailing `/`.
pub fn normalize_remote(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let (host, path) = if let Some((scheme, rest)) = raw.split_once("://") {
        if !matches!(scheme.to_ascii_lowercase().as_str(), "https" | "http" | "ssh" | "git" | "git+ssh") {
            return None;
        }
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        // A port names how to reach the server, not which repository it is.
        let host = match host.strip_prefix('[') {
            Some(v6) => format!("[{}", v6.split_once(']')?.0.to_owned() + "]"),
            None => host.split_once(':').map_or(host, |(h, _)| h).to_owned(),
        };
        (host, path.to_owned())
    } else {
        // scp-style: [user@]host:path
        let (authority, path) = raw.split_once(':')?;
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        (host.to_owned(), path.to_owned())
    };
    let mut path = path.trim_matches('/').to_owned();
    if let Some(p) = path.strip_suffix(".git") {
        path = p.trim_end_matches('/').to_owned();
    }
    let host = host.to_ascii_lowercase();
    let valid_host = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    let valid_path = !path.is_empty() && !path.chars().any(|c| c.is_whitespace() || c == '?' || c == '#');
    (valid_host && valid_path).then(|| format!("https://{host}/{path}"))
}

/// What creating a project, or changing one, says; `None` leaves a field as it is, and
/// `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct ProjectChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub git_remote: Option<Option<String>>,
    pub stack_tags: Option<Vec<String>>,
}

/// What a bootstrap offers, and from which tier each skill came.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    pub stack: Vec<String>,
    pub skills: Vec<String>,
    pub project: Option<Project>,
    pub project_items: Vec<ProjectItem>,
    pub tiers: Tiers,
}

#[derive(Debug, Clone, Default)]
pub struct Tiers {
    pub project: Vec<String>,
    pub curated: Vec<String>,
    pub tagged: Vec<String>,
    pub semantic: Vec<String>,
}

fn check_text(what: &str, text: &str, max: usize) -> Result<()> {
    if text.trim().is_empty() || text.chars().count() > max {
        return Err(Error::Invalid(format!("{what} must be 1–{max} characters")));
    }
    Ok(())
}

fn stack_tag(raw: &str) -> Option<String> {
    let t = raw.trim().to_lowercase();
    (!t.is_empty() && t.len() <= 64).then_some(t)
}

impl Projects<'_> {
    /// Projects are read by the namespace's members and kept by its owners (admin token).
    async fn require(&self, caller: &Caller, namespace: &Namespace, owner: bool) -> Result<()> {
        caller.require(if owner { TokenScope::Admin } else { TokenScope::Read })?;
        let role = self.core.role_in(caller, namespace.as_str()).await?;
        let need = if owner { TeamRole::Owner } else { TeamRole::Reader };
        require_role(role, need, if owner { "managing projects" } else { "reading projects" })
    }

    async fn find(&self, namespace: &Namespace, slug: &str) -> Result<Project> {
        self.core
            .store
            .project(namespace, slug)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no project `{}`", crate::domain::truncate(slug))))
    }

    pub async fn list(&self, caller: &Caller, namespace: &Namespace) -> Result<Vec<(Project, i64)>> {
        self.require(caller, namespace, false).await?;
        Ok(self.core.store.projects(namespace).await?)
    }

    pub async fn get(&self, caller: &Caller, namespace: &Namespace, slug: &str) -> Result<(Project, Vec<ProjectItem>)> {
        self.require(caller, namespace, false).await?;
        let project = self.find(namespace, slug).await?;
        let items = self.core.store.project_items(&project.id).await?;
        Ok((project, items))
    }

    /// Applies `change` to `project`, checking each field.
    fn apply(project: &mut Project, change: ProjectChange) -> Result<()> {
        if let Some(name) = change.name {
            check_text("name", &name, NAME_MAX)?;
            project.name = name.trim().to_owned();
        }
        if let Some(description) = change.description {
            if let Some(d) = &description {
                check_text("description", d, DESCRIPTION_MAX)?;
            }
            project.description = description;
        }
        if let Some(remote) = change.git_remote {
            project.git_remote = match remote.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
                None => None,
                Some(r) => Some(normalize_remote(r).ok_or_else(|| {
                    Error::Invalid(format!("`{}` is not a git remote URL", crate::domain::truncate(r)))
                })?),
            };
        }
        if let Some(tags) = change.stack_tags {
            if tags.len() > STACK_TAGS_MAX {
                return Err(Error::Invalid(format!("at most {STACK_TAGS_MAX} stack tags")));
            }
            let mut clean: Vec<String> = Vec::new();
            for t in tags {
                let t = stack_tag(&t).ok_or_else(|| Error::Invalid("a stack tag must be 1–64 characters".into()))?;
                if !clean.contains(&t) {
                    clean.push(t);
                }
            }
            project.stack_tags = clean;
        }
        Ok(())
    }

    pub async fn create(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        slug: &str,
        change: ProjectChange,
    ) -> Result<Project> {
        self.require(caller, namespace, true).await?;
        let slug = slug.trim();
        if slug.is_empty() {
            return Err(Error::Invalid("slug is required".into()));
        }
        let slug: SkillName = slug.parse()?;
        if change.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(Error::Invalid("name is required".into()));
        }
        let now = now_millis();
        let mut project = Project {
            id: new_id(),
            namespace: namespace.clone(),
            slug: slug.to_string(),
            name: String::new(),
            description: None,
            git_remote: None,
            stack_tags: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        Self::apply(&mut project, change)?;
        self.core.store.create_project(&project).await.map_err(|e| conflict(e, &project))?;
        self.core.audit(caller, "project.create", &format!("{namespace}/{slug}"), json!({})).await;
        Ok(project)
    }

    pub async fn update(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        slug: &str,
        change: ProjectChange,
    ) -> Result<Project> {
        self.require(caller, namespace, true).await?;
        let mut project = self.find(namespace, slug).await?;
        Self::apply(&mut project, change)?;
        project.updated_at = now_millis();
        self.core.store.update_project(&project).await.map_err(|e| conflict(e, &project))?;
        self.core.audit(caller, "project.update", &format!("{namespace}/{slug}"), json!({})).await;
        Ok(project)
    }

    pub async fn delete(&self, caller: &Caller, namespace: &Namespace, slug: &str) -> Result<()> {
        self.require(caller, namespace, true).await?;
        if !self.core.store.delete_project(namespace, slug).await? {
            return Err(Error::NotFound(format!("no project `{}`", crate::domain::truncate(slug))));
        }
        self.core.audit(caller, "project.delete", &format!("{namespace}/{slug}"), json!({})).await;
        Ok(())
    }

    /// Replaces the project's skills, in order; a skill listed twice keeps its last place.
    pub async fn set_items(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        slug: &str,
        items: Vec<(String, SkillKind)>,
    ) -> Result<()> {
        self.require(caller, namespace, true).await?;
        let project = self.find(namespace, slug).await?;
        if items.len() > ITEMS_MAX {
            return Err(Error::Invalid(format!("at most {ITEMS_MAX} items")));
        }
        let mut last: HashMap<(String, SkillKind), i64> = HashMap::new();
        for (position, (skill, kind)) in items.into_iter().enumerate() {
            let skill: SkillName = skill.trim().parse()?;
            last.insert((skill.to_string(), kind), position as i64);
        }
        let mut items: Vec<ProjectItem> =
            last.into_iter().map(|((skill_slug, kind), position)| ProjectItem { skill_slug, kind, position }).collect();
        items.sort_by_key(|i| i.position);
        for (position, item) in items.iter_mut().enumerate() {
            item.position = position as i64;
        }
        self.core.store.set_project_items(&project.id, &items).await?;
        let detail = json!({ "items": items.len() });
        self.core.audit(caller, "project.items", &format!("{namespace}/{slug}"), detail).await;
        Ok(())
    }

    /// Imports a plan (Markdown) as the project's next version.
    pub async fn set_plan(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        slug: &str,
        body: &str,
    ) -> Result<ProjectPlan> {
        self.require(caller, namespace, true).await?;
        let project = self.find(namespace, slug).await?;
        if body.trim().is_empty() || body.len() > PLAN_MAX {
            return Err(Error::Invalid(format!("a plan must be 1 byte to {} KiB of text", PLAN_MAX / 1024)));
        }
        let sha = hex::encode(sha2::Sha256::digest(body.as_bytes()));
        let plan = self.core.store.set_project_plan(&project.id, body, &sha, now_millis()).await?;
        let detail = json!({ "version": plan.version, "sha256": sha });
        self.core.audit(caller, "project.plan", &format!("{namespace}/{slug}"), detail).await;
        Ok(plan)
    }

    /// The project's plan, for its members; `None` when none was imported.
    pub async fn plan(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        slug: &str,
    ) -> Result<(Project, Option<ProjectPlan>)> {
        self.require(caller, namespace, false).await?;
        let project = self.find(namespace, slug).await?;
        let plan = self.core.store.project_plan(&project.id).await?;
        Ok((project, plan))
    }

    /// The project a repository belongs to, by its remote in any of its forms.
    pub async fn resolve(&self, caller: &Caller, namespace: &Namespace, remote: &str) -> Result<Project> {
        self.require(caller, namespace, false).await?;
        let normal = normalize_remote(remote)
            .ok_or_else(|| Error::Invalid(format!("`{}` is not a git remote URL", crate::domain::truncate(remote))))?;
        self.core
            .store
            .project_by_remote(namespace, &normal)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no project for `{normal}`")))
    }

    pub async fn stack_mappings(&self, caller: &Caller, namespace: &Namespace) -> Result<Vec<(String, Vec<String>)>> {
        self.require(caller, namespace, false).await?;
        Ok(self.core.store.stack_mappings(namespace).await?)
    }

    /// Replaces the namespace's curated picks per stack tag.
    pub async fn set_stack_mappings(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        mappings: Vec<(String, Vec<String>)>,
    ) -> Result<()> {
        self.require(caller, namespace, true).await?;
        // Counted before anything is read, so a huge body costs nothing.
        if mappings.len() > MAPPINGS_MAX || mappings.iter().map(|(_, s)| s.len()).sum::<usize>() > MAPPINGS_MAX {
            return Err(Error::Invalid(format!("at most {MAPPINGS_MAX} mappings")));
        }
        let mut clean: Vec<(String, Vec<String>)> = Vec::new();
        for (tag, slugs) in mappings {
            let tag = stack_tag(&tag).ok_or_else(|| Error::Invalid("a stack tag must be 1–64 characters".into()))?;
            let mut seen: Vec<String> = Vec::new();
            for s in slugs {
                let s = s.trim().parse::<SkillName>()?.to_string();
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
            // Tags that differ only in case are one tag.
            match clean.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, slugs)) => {
                    for s in seen {
                        if !slugs.contains(&s) {
                            slugs.push(s);
                        }
                    }
                }
                None => clean.push((tag, seen)),
            }
        }
        self.core.store.set_stack_mappings(namespace, &clean).await?;
        self.core.audit(caller, "project.stack_mappings", namespace.as_str(), json!({ "tags": clean.len() })).await;
        Ok(())
    }

    /// The skills a session should load, at most `BOOTSTRAP_MAX`: the project's own (an
    /// unknown project is passed over), then the curated picks for the stack, then published
    /// skills tagged with it, then (with a model) skills nearest to it in meaning. Without a
    /// `stack`, the project's stack tags are the stack.
    pub async fn bootstrap(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        stack: Vec<String>,
        project: Option<&str>,
    ) -> Result<Bootstrap> {
        self.require(caller, namespace, false).await?;
        let mut seen = std::collections::HashSet::new();
        let stack: Vec<String> = stack.iter().filter_map(|t| stack_tag(t)).filter(|t| seen.insert(t.clone())).collect();
        if stack.len() > STACK_TAGS_MAX {
            return Err(Error::Invalid(format!("at most {STACK_TAGS_MAX} stack tags")));
        }
        let mut out = Bootstrap { stack, ..Default::default() };
        let found = match project {
            Some(slug) => self.core.store.project(namespace, slug).await?,
            None => None,
        };
        if let Some(p) = found {
            out.project_items = self.core.store.project_items(&p.id).await?;
            out.tiers.project = out.project_items.iter().map(|i| i.skill_slug.clone()).collect();
            if out.stack.is_empty() {
                out.stack = p.stack_tags.clone();
            }
            out.project = Some(p);
        }
        if !out.stack.is_empty() {
            let mappings = self.core.store.stack_mappings(namespace).await?;
            let mut curated: Vec<String> =
                mappings.into_iter().filter(|(t, _)| out.stack.contains(t)).flat_map(|(_, s)| s).collect();
            curated.sort();
            curated.dedup();
            curated.truncate(TIER_DEPTH as usize);
            out.tiers.curated = curated;
            out.tiers.tagged = self.tagged(caller, namespace, &out.stack).await?;
            out.tiers.semantic = self.alike(caller, namespace, &out.stack).await?;
        }
        let tiers = [&out.tiers.project, &out.tiers.curated, &out.tiers.tagged, &out.tiers.semantic];
        for slug in tiers.into_iter().flatten() {
            if out.skills.len() == BOOTSTRAP_MAX {
                break;
            }
            if !out.skills.contains(slug) {
                out.skills.push(slug.clone());
            }
        }
        Ok(out)
    }

    /// Published skills carrying any of the tags, most tags shared first, then by name.
    async fn tagged(&self, caller: &Caller, namespace: &Namespace, stack: &[String]) -> Result<Vec<String>> {
        let mut shared: HashMap<String, usize> = HashMap::new();
        for tag in stack {
            let Ok(tag) = tag.parse::<crate::domain::Tag>() else { continue };
            let request = SkillListRequest {
                namespace: Some(namespace.clone()),
                tags: vec![tag],
                kind: Some(SkillKind::Skill),
                published_only: true,
                sort: Some(SkillSort::Name),
                limit: Some(TIER_DEPTH * 4),
                ..Default::default()
            };
            for hit in self.core.catalog().list_skills(caller, request).await?.items {
                *shared.entry(hit.skill.name.to_string()).or_default() += 1;
            }
        }
        let mut tagged: Vec<(String, usize)> = shared.into_iter().collect();
        tagged.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(tagged.into_iter().take(TIER_DEPTH as usize).map(|(s, _)| s).collect())
    }

    /// Published skills nearest in meaning to the stack, when the server has a model.
    async fn alike(&self, caller: &Caller, namespace: &Namespace, stack: &[String]) -> Result<Vec<String>> {
        let words = stack.join(" ");
        if !self.core.semantic_enabled() || !words.chars().any(char::is_alphanumeric) {
            return Ok(Vec::new());
        }
        let request = SkillListRequest {
            q: Some(words.chars().take(super::limits::QUERY).collect()),
            namespace: Some(namespace.clone()),
            kind: Some(SkillKind::Skill),
            published_only: true,
            mode: SearchMode::Semantic,
            sort: Some(SkillSort::Relevance),
            limit: Some(TIER_DEPTH),
            ..Default::default()
        };
        let page = self.core.catalog().list_skills(caller, request).await?;
        Ok(page.items.into_iter().map(|h| h.skill.name.to_string()).collect())
    }
}

/// A taken slug or remote, said as such.
fn conflict(e: crate::store::StoreError, project: &Project) -> Error {
    match e {
        crate::store::StoreError::Conflict(_) => Error::Conflict(format!(
            "a project with slug `{}`{} already exists",
            project.slug,
            project.git_remote.as_deref().map(|r| format!(" or remote `{r}`")).unwrap_or_default()
        )),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_remote;

    #[test]
    fn every_form_of_a_remote_is_one_string() {
        let want = Some("https://github.com/Acme/billing".to_owned());
        for raw in [
            "https://github.com/Acme/billing",
            "https://GitHub.com/Acme/billing.git",
            "https://github.com/Acme/billing/",
            "http://github.com/Acme/billing",
            "https://token@github.com/Acme/billing.git",
            "git@github.com:Acme/billing.git",
            "github.com:Acme/billing",
            "ssh://git@github.com/Acme/billing.git",
            "ssh://git@github.com:22/Acme/billing",
            "git://github.com/Acme/billing.git/",
            "  git@GITHUB.COM:Acme/billing  ",
        ] {
            assert_eq!(normalize_remote(raw), want, "{raw}");
        }
        assert_eq!(normalize_remote("https://github.com/acme/billing"), Some("https://github.com/acme/billing".into()));
        for bad in ["", "billing", "ftp://github.com/a/b", "https://github.com/", "git@github.com:", "https://x y/z"] {
            assert_eq!(normalize_remote(bad), None, "{bad}");
        }
    }
}
