//! The SQL both backends share. SQLite and PostgreSQL accept the same `$N` placeholders and
//! the same statements here, so the `Store` implementation is written once and instantiated
//! per backend by `impl_sql_store!`; each backend module supplies only its connection,
//! migrations and full-text search fragments (`SearchSql`).

use std::str::FromStr;

use crate::domain::InvalidValue;
use crate::store::{SkillSort, StoreError};

pub(crate) const USER_COLS: &str = "id, username, email, is_admin, created_at";
pub(crate) const TOKEN_COLS: &str =
    "id, user_id, name, scope, kind, created_at, expires_at, last_used_at, revoked_at, rate_limits";
pub(crate) const TEAM_COLS: &str = "id, slug, display_name, created_at";
pub(crate) const SKILL_COLS: &str = "s.id, s.scope, s.slug, s.display_name, s.description, s.readme, s.visibility, \
     s.tags, s.skill_type, s.kind, s.archived, s.downloads, s.stars, s.latest_version, s.deprecated, s.deprecated_message, \
     s.forked_from, s.deleted_at, s.created_at, s.updated_at";
pub(crate) const UPLOAD_COLS: &str =
    "id, skill_id, version, archive_sha256, archive_size, metadata, created_by, created_at, expires_at";
pub(crate) const OCI_MANIFEST_COLS: &str =
    "repo, digest, media_type, size, artifact_type, subject, annotations, created_at";
pub(crate) const WISH_COLS: &str = "w.id, w.author_id, a.username AS author, w.namespace, w.title, w.body, w.tags, \
     w.status, w.answer, c.username AS closer, w.closed_at, w.created_at";
pub(crate) const WISH_FROM: &str =
    "FROM wishes w JOIN users a ON a.id = w.author_id LEFT JOIN users c ON c.id = w.closed_by";
pub(crate) const COLLECTION_COLS: &str = "c.id, c.owner_id, u.username AS owner, c.namespace, c.name, \
     c.description, c.visibility, c.created_at, c.updated_at";
pub(crate) const COLLECTION_FROM: &str = "FROM collections c LEFT JOIN users u ON u.id = c.owner_id";
pub(crate) const REVIEW_COLS: &str = "r.id, r.author_id, u.username AS author, r.target_type, r.target_id, r.rating, \
     r.body, r.created_at, r.updated_at";
pub(crate) const REVIEW_FROM: &str = "FROM reviews r JOIN users u ON u.id = r.author_id";
pub(crate) const VERSION_COLS: &str = "id, skill_id, version, status, changelog, entry_point, skill_type, install_path, \
     file_count, archive_size, archive_sha256, reference, digest, media_type, file_tree, frontmatter, readme, \
     signature, created_at, published_at, manifest_size, layout, requires";

/// How many ids one `IN (…)` statement binds at most: well below PostgreSQL's 65 535 bound
/// arguments and SQLite's 32 766.
pub(crate) const IDS_PER_STATEMENT: usize = 1000;

/// A backend's full-text search fragments for one query, with `$p` the search argument.
pub(crate) struct SearchSql {
    pub join: String,
    pub filter: String,
    pub rank: String,
    pub arg: String,
}

/// A value bound into dynamically built SQL.
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// Builds SQL with numbered placeholders and remembers what to bind, in order.
#[derive(Default)]
pub(crate) struct SqlBuilder {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl SqlBuilder {
    pub fn new(sql: &str) -> Self {
        Self { sql: sql.to_owned(), args: Vec::new() }
    }
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.sql.push_str(s);
        self
    }
    /// Appends an argument and returns its placeholder (`$3`).
    pub fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }
}

/// The column a listing is ordered by, and whether larger values come first.
pub(crate) fn sort_column(sort: SkillSort) -> (&'static str, bool) {
    match sort {
        SkillSort::Downloads => ("q.downloads", true),
        SkillSort::Stars => ("q.stars", true),
        SkillSort::Updated => ("q.updated_at", true),
        SkillSort::Name => ("q.slug", false),
        SkillSort::Relevance => ("q.rank", true),
    }
}

pub(crate) fn parse_col<T: FromStr<Err = InvalidValue>>(s: &str) -> Result<T, StoreError> {
    s.parse().map_err(|e: InvalidValue| StoreError::Corrupt(e.0))
}

/// A JSON column read as `T`. Data that does not parse is an error naming the column, never
/// a silent default.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(raw: &str, column: &str) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// A value as a JSON column stores it.
pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("JSON values serialize")
}

/// Turns a uniqueness or foreign-key violation into the store's own error.
pub(crate) fn classify(e: sqlx::Error, conflict: &str, missing: &str) -> StoreError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return StoreError::Conflict(conflict.to_owned());
        }
        if d.is_foreign_key_violation() {
            return StoreError::Missing(missing.to_owned());
        }
    }
    StoreError::Database(e)
}

macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use sqlx::Row as _;

        use $crate::domain::{
            new_id, pick_latest, ChannelName, DraftStatus, Millis, Namespace, TeamRole, VersionStatus,
        };
        use $crate::store::sql::{
            classify, json_col, json_text, parse_col, sort_column, Arg, SqlBuilder, IDS_PER_STATEMENT, SKILL_COLS, TEAM_COLS, TOKEN_COLS,
            WISH_COLS, WISH_FROM, COLLECTION_COLS, COLLECTION_FROM, REVIEW_COLS, REVIEW_FROM,
            UPLOAD_COLS, OCI_MANIFEST_COLS, USER_COLS, VERSION_COLS,
        };
        use $crate::store::{
            AccountStore, AuditEntry, AuditStore, Audience, Bearer, WebSession, OidcProvider, OidcIdentity, CatalogStore, OciStore, UploadStore, Channel, Member, NewAudit, NpmDist, NewSkill, NewToken, NewUser, NewVersion, Skill,
            SkillHit, SkillPatch, SkillQuery, SortKey, Store, StoreError, StoreResult, Team, Token, Upload, User, OciManifest,
            Version, UsageStore, UsageEvent, SkillUsage, DayUsage, UsageTotal, Draft, DraftStore, Webhook,
            WebhookStore, Delivery, DeliveryOutcome, Project, ProjectItem, ProjectPlan, ProjectStore,
            CommunityStore, NewWish, Wish, WishQuery, Collection, CollectionContent, Review,
        };
        use $crate::domain::{ReviewRating, ReviewTarget};

        type DbRow = <$db as sqlx::Database>::Row;
        type Tx<'a> = sqlx::Transaction<'a, $db>;

        /// The skills `query` matches (with their `rank`), before sorting and paging. One
        /// filter, so a listing and its count can never disagree about what is visible.
        fn matching_skills(query: &SkillQuery) -> SqlBuilder {
            let mut b = SqlBuilder::default();
            let search = if query.terms.is_empty() {
                None
            } else {
                let p = format!("${}", b.args.len() + 1);
                let s = <$store>::search_sql(&p, &query.terms);
                b.arg(Arg::Text(s.arg.clone()));
                Some(s)
            };
            let rank = search.as_ref().map_or("CAST(0 AS DOUBLE PRECISION)", |s| s.rank.as_str());
            b.push(&format!("SELECT {SKILL_COLS}, {rank} AS rank FROM skills s"));
            if let Some(s) = &search {
                b.push(&format!(" {} WHERE s.deleted_at IS NULL AND {}", s.join, s.filter));
            } else {
                b.push(" WHERE s.deleted_at IS NULL");
            }
            // The SQL form of `service::access::can_see`, kept in agreement by a test.
            match &query.audience {
                Audience::Anonymous => {
                    b.push(" AND s.visibility = 'public'");
                }
                Audience::Member { user_id } => {
                    let p = b.arg(Arg::Text(user_id.clone()));
                    b.push(&format!(
                        " AND (s.visibility = 'public' OR s.scope IN (SELECT t.slug FROM teams t
                           JOIN team_members m ON m.team_id = t.id WHERE m.user_id = {p}))"
                    ));
                }
                Audience::Everyone => {}
            }
            if let Some(scope) = &query.namespace {
                let p = b.arg(Arg::Text(scope.to_string()));
                b.push(&format!(" AND s.scope = {p}"));
            }
            for tag in &query.tags {
                let p = b.arg(Arg::Text(tag.clone()));
                b.push(&format!(" AND EXISTS (SELECT 1 FROM skill_tags st WHERE st.skill_id = s.id AND st.tag = {p})"));
            }
            if let Some(t) = query.skill_type {
                let p = b.arg(Arg::Text(t.as_str().into()));
                b.push(&format!(" AND s.skill_type = {p}"));
            }
            if let Some(k) = query.kind {
                let p = b.arg(Arg::Text(k.as_str().into()));
                b.push(&format!(" AND s.kind = {p}"));
            }
            if query.published_only {
                b.push(" AND s.latest_version IS NOT NULL");
            }
            if let Some(a) = query.archived {
                let p = b.arg(Arg::Bool(a));
                b.push(&format!(" AND s.archived = {p}"));
            }
            if let Some(d) = query.deprecated {
                let p = b.arg(Arg::Bool(d));
                b.push(&format!(" AND s.deprecated = {p}"));
            }
            if !query.namespace_globs.is_empty() {
                // Namespaces hold no `%`, `_` or `\\`, so a glob maps onto LIKE directly.
                let likes: Vec<String> = query
                    .namespace_globs
                    .iter()
                    .map(|g| {
                        let p = b.arg(Arg::Text(g.replace('*', "%").replace('?', "_")));
                        format!("s.scope LIKE {p}")
                    })
                    .collect();
                b.push(&format!(" AND ({})", likes.join(" OR ")));
            }
            b
        }

        fn user_row(r: &DbRow) -> StoreResult<User> {
            Ok(User {
                id: r.try_get("id")?,
                username: parse_col(&r.try_get::<String, _>("username")?)?,
                email: r.try_get("email")?,
                is_admin: r.try_get("is_admin")?,
                created_at: r.try_get("created_at")?,
            })
        }

        fn token_row(r: &DbRow) -> StoreResult<Token> {
            Ok(Token {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                name: r.try_get("name")?,
                scope: parse_col(&r.try_get::<String, _>("scope")?)?,
                kind: parse_col(&r.try_get::<String, _>("kind")?)?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                last_used_at: r.try_get("last_used_at")?,
                revoked_at: r.try_get("revoked_at")?,
                // Written only after parsing, so a value that no longer parses (a class
                // renamed by an upgrade) falls back to the server's budgets.
                rate_limits: r.try_get::<Option<String>, _>("rate_limits")?.and_then(|s| s.parse().ok()),
            })
        }

        /// A query for a token with its user and one row per team the user belongs to (a
        /// single row with no namespace for none): `from` joins `tokens t` to what it
        /// starts from, whose own `extra` columns come along.
        fn bearer_sql(extra: &str, from: &str, filter: &str) -> String {
            let token_cols: Vec<String> = TOKEN_COLS.split(", ").map(|c| format!("t.{c} AS {c}")).collect();
            format!(
                "SELECT {}{extra}, u.username, u.email, u.is_admin, u.created_at AS user_created_at,
                        team.slug AS namespace
                 FROM {from} JOIN users u ON u.id = t.user_id
                 LEFT JOIN team_members m ON m.user_id = u.id LEFT JOIN teams team ON team.id = m.team_id
                 WHERE {filter}",
                token_cols.join(", ")
            )
        }

        /// The token, user and namespaces of `bearer_sql`'s rows.
        fn bearer_rows(rows: &[DbRow]) -> StoreResult<Option<Bearer>> {
            let Some(r) = rows.first() else {
                return Ok(None);
            };
            let token = token_row(r)?;
            let user = User {
                id: token.user_id.clone(),
                username: parse_col(&r.try_get::<String, _>("username")?)?,
                email: r.try_get("email")?,
                is_admin: r.try_get("is_admin")?,
                created_at: r.try_get("user_created_at")?,
            };
            let mut namespaces = Vec::with_capacity(rows.len());
            for row in rows {
                namespaces.extend(row.try_get::<Option<String>, _>("namespace")?);
            }
            Ok(Some(Bearer { token, user, namespaces }))
        }

        fn team_row(r: &DbRow) -> StoreResult<Team> {
            Ok(Team {
                id: r.try_get("id")?,
                namespace: parse_col(&r.try_get::<String, _>("slug")?)?,
                display_name: r.try_get("display_name")?,
                created_at: r.try_get("created_at")?,
            })
        }

        fn skill_row(r: &DbRow) -> StoreResult<Skill> {
            let tags: String = r.try_get("tags")?;
            Ok(Skill {
                id: r.try_get("id")?,
                namespace: parse_col(&r.try_get::<String, _>("scope")?)?,
                name: parse_col(&r.try_get::<String, _>("slug")?)?,
                display_name: r.try_get("display_name")?,
                description: r.try_get("description")?,
                readme: r.try_get("readme")?,
                visibility: parse_col(&r.try_get::<String, _>("visibility")?)?,
                tags: json_col(&tags, "skills.tags")?,
                skill_type: parse_col(&r.try_get::<String, _>("skill_type")?)?,
                kind: parse_col(&r.try_get::<String, _>("kind")?)?,
                archived: r.try_get("archived")?,
                downloads: r.try_get("downloads")?,
                stars: r.try_get("stars")?,
                latest_version: r.try_get("latest_version")?,
                deprecated: r.try_get("deprecated")?,
                deprecated_message: r.try_get("deprecated_message")?,
                forked_from: r.try_get("forked_from")?,
                deleted_at: r.try_get("deleted_at")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn version_row(r: &DbRow) -> StoreResult<Version> {
            Ok(Version {
                id: r.try_get("id")?,
                skill_id: r.try_get("skill_id")?,
                version: r.try_get("version")?,
                status: parse_col(&r.try_get::<String, _>("status")?)?,
                changelog: r.try_get("changelog")?,
                entry_point: r.try_get("entry_point")?,
                skill_type: parse_col(&r.try_get::<String, _>("skill_type")?)?,
                install_path: r.try_get("install_path")?,
                file_count: r.try_get("file_count")?,
                archive_size: r.try_get("archive_size")?,
                archive_sha256: r.try_get("archive_sha256")?,
                reference: r.try_get("reference")?,
                digest: r.try_get("digest")?,
                media_type: r.try_get("media_type")?,
                manifest_size: r.try_get("manifest_size")?,
                layout: r.try_get("layout")?,
                file_tree: json_col(&r.try_get::<String, _>("file_tree")?, "versions.file_tree")?,
                frontmatter: json_col(&r.try_get::<String, _>("frontmatter")?, "versions.frontmatter")?,
                readme: r.try_get("readme")?,
                signature: r
                    .try_get::<Option<String>, _>("signature")?
                    .map(|s| json_col(&s, "versions.signature"))
                    .transpose()?,
                created_at: r.try_get("created_at")?,
                published_at: r.try_get("published_at")?,
                requires: r
                    .try_get::<Option<String>, _>("requires")?
                    .map(|s| json_col(&s, "versions.requires"))
                    .transpose()?,
            })
        }

        fn upload_row(r: &DbRow) -> StoreResult<Upload> {
            Ok(Upload {
                id: r.try_get("id")?,
                skill_id: r.try_get("skill_id")?,
                version: r.try_get("version")?,
                archive_sha256: r.try_get("archive_sha256")?,
                archive_size: r.try_get("archive_size")?,
                metadata: json_col(&r.try_get::<String, _>("metadata")?, "uploads.metadata")?,
                created_by: r.try_get("created_by")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        }

        fn oci_manifest_row(r: &DbRow) -> StoreResult<OciManifest> {
            Ok(OciManifest {
                repo: r.try_get("repo")?,
                digest: r.try_get("digest")?,
                media_type: r.try_get("media_type")?,
                size: r.try_get("size")?,
                artifact_type: r.try_get("artifact_type")?,
                subject: r.try_get("subject")?,
                annotations: r
                    .try_get::<Option<String>, _>("annotations")?
                    .map(|s| json_col(&s, "oci_manifests.annotations"))
                    .transpose()?,
                created_at: r.try_get("created_at")?,
            })
        }

        fn channel_row(r: &DbRow) -> StoreResult<Channel> {
            Ok(Channel { name: r.try_get("name")?, version: r.try_get("version")?, updated_at: r.try_get("updated_at")? })
        }

        fn bind_all<'q>(
            mut q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            args: Vec<Arg>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            for a in args {
                q = match a {
                    Arg::Text(s) => q.bind(s),
                    Arg::Int(i) => q.bind(i),
                    Arg::Float(f) => q.bind(f),
                    Arg::Bool(b) => q.bind(b),
                };
            }
            q
        }

        /// The rows `select` (a query ending in `IN (`) finds for `ids`, asked in slices of
        /// `IDS_PER_STATEMENT`, so no statement passes a backend's limit on bound arguments.
        async fn rows_by_ids(pool: &sqlx::Pool<$db>, select: &str, ids: &[String]) -> StoreResult<Vec<DbRow>> {
            let mut all = Vec::with_capacity(ids.len());
            for ids in ids.chunks(IDS_PER_STATEMENT) {
                let mut b = SqlBuilder::new(select);
                let placeholders: Vec<String> = ids.iter().map(|id| b.arg(Arg::Text(id.clone()))).collect();
                b.push(&placeholders.join(", ")).push(")");
                all.extend(bind_all(sqlx::query(&b.sql), b.args).fetch_all(pool).await?);
            }
            Ok(all)
        }

        /// Holds the team's row until the transaction ends, so two membership changes of one
        /// team cannot each count the other's owner and leave the team with none (PostgreSQL
        /// runs them side by side; SQLite has one writer anyway).
        /// A new user's record, stored in `tx` (a name taken is `Conflict("user")`).
        async fn insert_user(tx: &mut Tx<'_>, new: &NewUser) -> StoreResult<User> {
            let user = User {
                id: new_id(),
                username: new.username.clone(),
                email: new.email.clone(),
                is_admin: new.is_admin,
                created_at: $crate::domain::now_millis(),
            };
            sqlx::query("INSERT INTO users (id, username, email, is_admin, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&user.id)
                .bind(user.username.as_str())
                .bind(&user.email)
                .bind(user.is_admin)
                .bind(user.created_at)
                .execute(&mut **tx)
                .await
                .map_err(|e| classify(e, "user", "user"))?;
            Ok(user)
        }

        async fn lock_team(tx: &mut Tx<'_>, team_id: &str) -> StoreResult<()> {
            sqlx::query("UPDATE teams SET id = id WHERE id = $1").bind(team_id).execute(&mut **tx).await?;
            Ok(())
        }

        async fn count_owners(tx: &mut Tx<'_>, team_id: &str) -> StoreResult<i64> {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM team_members WHERE team_id = $1 AND role = 'owner'")
                .bind(team_id)
                .fetch_one(&mut **tx)
                .await?;
            Ok(row.try_get("n")?)
        }

        async fn replace_tags(tx: &mut Tx<'_>, skill_id: &str, tags: &[String]) -> StoreResult<()> {
            sqlx::query("DELETE FROM skill_tags WHERE skill_id = $1").bind(skill_id).execute(&mut **tx).await?;
            for tag in tags {
                sqlx::query("INSERT INTO skill_tags (skill_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(skill_id)
                    .bind(tag)
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }

        /// Points `latest` (the channel and the skill's column) at the best published version.
        async fn refresh_latest(tx: &mut Tx<'_>, skill_id: &str, at: Millis) -> StoreResult<()> {
            let rows = sqlx::query("SELECT version FROM versions WHERE skill_id = $1 AND status = 'published'")
                .bind(skill_id)
                .fetch_all(&mut **tx)
                .await?;
            let published: Vec<String> = rows.iter().map(|r| r.try_get("version")).collect::<Result<_, _>>()?;
            let latest = pick_latest(published.iter().map(String::as_str));
            sqlx::query(
                "UPDATE channels SET version = $2, updated_at = $3
                 WHERE skill_id = $1 AND name = 'latest' AND version IS DISTINCT FROM $2",
            )
            .bind(skill_id)
            .bind(&latest)
            .bind(at)
            .execute(&mut **tx)
            .await?;
            sqlx::query("UPDATE skills SET latest_version = $2 WHERE id = $1")
                .bind(skill_id)
                .bind(&latest)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        async fn insert_skill(tx: &mut Tx<'_>, new: &NewSkill, at: Millis) -> StoreResult<Skill> {
            let skill = Skill {
                id: new_id(),
                namespace: new.namespace.clone(),
                name: new.name.clone(),
                display_name: new.display_name.clone(),
                description: new.description.clone(),
                readme: new.readme.clone(),
                visibility: new.visibility,
                tags: new.tags.iter().map(|t| t.to_string()).collect(),
                skill_type: new.skill_type,
                kind: new.kind,
                archived: false,
                downloads: 0,
                stars: 0,
                latest_version: None,
                deprecated: false,
                deprecated_message: None,
                forked_from: new.forked_from.clone(),
                deleted_at: None,
                created_at: at,
                updated_at: at,
            };
            let tags = serde_json::to_string(&skill.tags).expect("tags serialize");
            sqlx::query(
                "INSERT INTO skills (id, scope, slug, display_name, description, readme, visibility, tags,
                                     skill_type, kind, forked_from, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
            )
            .bind(&skill.id)
            .bind(skill.namespace.as_str())
            .bind(skill.name.as_str())
            .bind(&skill.display_name)
            .bind(&skill.description)
            .bind(&skill.readme)
            .bind(skill.visibility.as_str())
            .bind(&tags)
            .bind(skill.skill_type.as_str())
            .bind(skill.kind.as_str())
            .bind(&skill.forked_from)
            .bind(at)
            .execute(&mut **tx)
            .await
            .map_err(|e| classify(e, "skill", "namespace"))?;
            replace_tags(tx, &skill.id, &skill.tags).await?;
            sqlx::query("INSERT INTO channels (skill_id, name, version, updated_at) VALUES ($1, 'latest', NULL, $2)")
                .bind(&skill.id)
                .bind(at)
                .execute(&mut **tx)
                .await?;
            Ok(skill)
        }

        async fn insert_version(tx: &mut Tx<'_>, new: &NewVersion, at: Millis) -> StoreResult<Version> {
            let status = new.status.unwrap_or(VersionStatus::Draft);
            let v = Version {
                id: new_id(),
                skill_id: new.skill_id.clone(),
                version: new.version.clone(),
                status,
                changelog: new.changelog.clone(),
                entry_point: new.entry_point.clone().unwrap_or_else(|| "SKILL.md".into()),
                skill_type: new.skill_type.unwrap_or($crate::domain::SkillType::Command),
                install_path: new.install_path.clone(),
                file_count: new.file_count,
                archive_size: new.archive_size,
                archive_sha256: new.archive_sha256.clone(),
                reference: new.reference.clone(),
                digest: new.digest.clone(),
                media_type: new.media_type.clone(),
                manifest_size: new.manifest_size,
                layout: new.layout.clone(),
                file_tree: new.file_tree.clone().unwrap_or_default(),
                frontmatter: new.frontmatter.clone().unwrap_or_default(),
                readme: new.readme.clone(),
                signature: new.signature.clone(),
                created_at: at,
                published_at: (status != VersionStatus::Draft).then_some(at),
                requires: Some(new.requires.clone()),
            };
            let sql = format!(
                "INSERT INTO versions ({VERSION_COLS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
            );
            sqlx::query(&sql)
                .bind(&v.id)
                .bind(&v.skill_id)
                .bind(&v.version)
                .bind(v.status.as_str())
                .bind(&v.changelog)
                .bind(&v.entry_point)
                .bind(v.skill_type.as_str())
                .bind(&v.install_path)
                .bind(v.file_count)
                .bind(v.archive_size)
                .bind(&v.archive_sha256)
                .bind(&v.reference)
                .bind(&v.digest)
                .bind(&v.media_type)
                .bind(json_text(&v.file_tree))
                .bind(json_text(&v.frontmatter))
                .bind(&v.readme)
                .bind(v.signature.as_ref().map(json_text))
                .bind(v.created_at)
                .bind(v.published_at)
                .bind(v.manifest_size)
                .bind(&v.layout)
                .bind(v.requires.as_ref().map(json_text))
                .execute(&mut **tx)
                .await
                .map_err(|e| classify(e, "version", "skill"))?;
            if status == VersionStatus::Published {
                sqlx::query("UPDATE skills SET updated_at = $2 WHERE id = $1")
                    .bind(&v.skill_id)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                refresh_latest(tx, &v.skill_id, at).await?;
            }
            Ok(v)
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                Self::BACKEND
            }

            fn write_marks(&self) -> Option<&$crate::store::WriteMarks> {
                self.marks()
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }

            async fn site_id(&self) -> StoreResult<String> {
                Ok(sqlx::query("SELECT id FROM site").fetch_one(self.reader()).await?.try_get("id")?)
            }

            async fn key_check(&self, candidate: &str) -> StoreResult<String> {
                sqlx::query("UPDATE site SET key_check = $1 WHERE key_check IS NULL")
                    .bind(candidate)
                    .execute(self.writer())
                    .await?;
                Ok(sqlx::query("SELECT key_check FROM site").fetch_one(self.writer()).await?.try_get("key_check")?)
            }

            async fn url_key(&self, candidate: &str) -> StoreResult<String> {
                sqlx::query("UPDATE site SET url_key = $1 WHERE url_key IS NULL")
                    .bind(candidate)
                    .execute(self.writer())
                    .await?;
                Ok(sqlx::query("SELECT url_key FROM site").fetch_one(self.writer()).await?.try_get("url_key")?)
            }

        }

        #[async_trait]
        impl AccountStore for $store {
            async fn count_users(&self) -> StoreResult<i64> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(self.reader()).await?;
                Ok(row.try_get("n")?)
            }

            async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
                let mut tx = self.writer().begin().await?;
                let user = insert_user(&mut tx, new).await?;
                tx.commit().await?;
                Ok(user)
            }

            async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
                let sql = format!("SELECT {USER_COLS} FROM users WHERE username = $1");
                let row = sqlx::query(&sql).bind(username).fetch_optional(self.reader()).await?;
                row.as_ref().map(user_row).transpose()
            }

            async fn list_users(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<User>> {
                let sql = format!("SELECT {USER_COLS} FROM users WHERE username > $1 ORDER BY username LIMIT $2");
                let rows = sqlx::query(&sql).bind(after.unwrap_or("")).bind(limit).fetch_all(self.reader()).await?;
                rows.iter().map(user_row).collect()
            }

            async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
                let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(user_row).transpose()
            }

            async fn create_token(&self, new: &NewToken) -> StoreResult<Token> {
                let token = Token {
                    id: new_id(),
                    user_id: new.user_id.clone(),
                    name: new.name.clone(),
                    scope: new.scope,
                    kind: new.kind,
                    created_at: $crate::domain::now_millis(),
                    expires_at: new.expires_at,
                    last_used_at: None,
                    revoked_at: None,
                    rate_limits: None,
                };
                sqlx::query(
                    "INSERT INTO tokens (id, user_id, name, token_hash, scope, created_at, expires_at, kind)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&token.id)
                .bind(&token.user_id)
                .bind(&token.name)
                .bind(&new.hash)
                .bind(token.scope.as_str())
                .bind(token.created_at)
                .bind(token.expires_at)
                .bind(token.kind.as_str())
                .execute(self.writer())
                .await
                .map_err(|e| classify(e, "token", "user"))?;
                Ok(token)
            }

            async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<Bearer>> {
                // One round trip per authenticated request.
                let sql = bearer_sql("", "tokens t", "t.token_hash = $1");
                let rows = sqlx::query(&sql).bind(hash).fetch_all(self.reader()).await?;
                bearer_rows(&rows)
            }

            async fn token_by_id(&self, id: &str) -> StoreResult<Option<Token>> {
                let sql = format!("SELECT {TOKEN_COLS} FROM tokens WHERE id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(token_row).transpose()
            }

            async fn tokens_of(&self, user_id: &str) -> StoreResult<Vec<Token>> {
                let sql = format!("SELECT {TOKEN_COLS} FROM tokens WHERE user_id = $1 ORDER BY id DESC");
                let rows = sqlx::query(&sql).bind(user_id).fetch_all(self.reader()).await?;
                rows.iter().map(token_row).collect()
            }

            async fn revoke_token(&self, id: &str, at: Millis) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn create_session(&self, s: &WebSession) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO web_sessions (id, token_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&s.id)
                .bind(&s.token_id)
                .bind(&s.csrf)
                .bind(s.created_at)
                .bind(s.expires_at)
                .execute(self.writer())
                .await
                .map_err(|e| classify(e, "session", "token"))?;
                Ok(())
            }

            async fn session_by_hash(&self, hash: &str) -> StoreResult<Option<(WebSession, Bearer)>> {
                let sql = bearer_sql(
                    ", s.csrf AS session_csrf, s.created_at AS session_created_at,
                       s.expires_at AS session_expires_at, s.revoked_at AS session_revoked_at",
                    "web_sessions s JOIN tokens t ON t.id = s.token_id",
                    "s.id = $1",
                );
                let rows = sqlx::query(&sql).bind(hash).fetch_all(self.reader()).await?;
                let (Some(r), Some(bearer)) = (rows.first(), bearer_rows(&rows)?) else {
                    return Ok(None);
                };
                let session = WebSession {
                    id: hash.to_owned(),
                    token_id: bearer.token.id.clone(),
                    csrf: r.try_get("session_csrf")?,
                    created_at: r.try_get("session_created_at")?,
                    expires_at: r.try_get("session_expires_at")?,
                    revoked_at: r.try_get("session_revoked_at")?,
                };
                Ok(Some((session, bearer)))
            }

            async fn revoke_session(&self, hash: &str, at: Millis) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE web_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(hash)
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn live_sessions_of(&self, user_id: &str, now: Millis, limit: i64) -> StoreResult<Vec<(WebSession, String)>> {
                let rows = sqlx::query(
                    "SELECT s.id, s.token_id, s.csrf, s.created_at, s.expires_at, s.revoked_at, t.name
                     FROM web_sessions s JOIN tokens t ON t.id = s.token_id
                     WHERE t.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND t.revoked_at IS NULL
                       AND (t.expires_at IS NULL OR t.expires_at > $2)
                     ORDER BY s.created_at DESC LIMIT $3",
                )
                .bind(user_id)
                .bind(now)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|r| -> StoreResult<(WebSession, String)> {
                        Ok((
                            WebSession {
                                id: r.try_get("id")?,
                                token_id: r.try_get("token_id")?,
                                csrf: r.try_get("csrf")?,
                                created_at: r.try_get("created_at")?,
                                expires_at: r.try_get("expires_at")?,
                                revoked_at: r.try_get("revoked_at")?,
                            },
                            r.try_get("name")?,
                        ))
                    })
                    .collect()
            }

            async fn revoke_session_of(&self, user_id: &str, hash: &str, at: Millis) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE web_sessions SET revoked_at = $3
                     WHERE id = $2 AND revoked_at IS NULL AND token_id IN (SELECT id FROM tokens WHERE user_id = $1)",
                )
                .bind(user_id)
                .bind(hash)
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn purge_sessions(&self, before: Millis) -> StoreResult<u64> {
                // Ended by expiry, by signing out, or by its token's revocation.
                let done = sqlx::query(
                    "DELETE FROM web_sessions WHERE expires_at < $1 OR revoked_at < $1
                        OR token_id IN (SELECT id FROM tokens WHERE revoked_at < $1)",
                )
                    .bind(before)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected())
            }

            async fn bearer_by_token_id(&self, id: &str) -> StoreResult<Option<Bearer>> {
                let sql = bearer_sql("", "tokens t", "t.id = $1");
                let rows = sqlx::query(&sql).bind(id).fetch_all(self.reader()).await?;
                bearer_rows(&rows)
            }

            async fn unlinked_users_by_email(&self, email: &str, limit: i64) -> StoreResult<Vec<User>> {
                let sql = format!(
                    "SELECT {USER_COLS} FROM users WHERE lower(email) = lower($1) AND NOT is_admin
                       AND NOT EXISTS (SELECT 1 FROM oidc_identities i WHERE i.user_id = users.id)
                     ORDER BY username LIMIT $2"
                );
                let rows = sqlx::query(&sql).bind(email).bind(limit).fetch_all(self.reader()).await?;
                rows.iter().map(user_row).collect()
            }

            async fn join_team(&self, team_id: &str, user_id: &str, role: TeamRole, at: Millis) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO team_members (team_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (team_id, user_id) DO NOTHING",
                )
                .bind(team_id)
                .bind(user_id)
                .bind(role.as_str())
                .bind(at)
                .execute(self.writer())
                .await
                .map_err(|e| classify(e, "member", "user"))?;
                Ok(done.rows_affected() > 0)
            }

            async fn oidc_provider(&self, team_id: &str) -> StoreResult<Option<OidcProvider>> {
                let row = sqlx::query(
                    "SELECT issuer, client_id, client_secret, default_role, updated_at FROM oidc_providers WHERE team_id = $1",
                )
                .bind(team_id)
                .fetch_optional(self.reader())
                .await?;
                row.map(|r| -> StoreResult<OidcProvider> {
                    Ok(OidcProvider {
                        issuer: r.try_get("issuer")?,
                        client_id: r.try_get("client_id")?,
                        client_secret: r.try_get("client_secret")?,
                        default_role: parse_col(&r.try_get::<String, _>("default_role")?)?,
                        updated_at: r.try_get("updated_at")?,
                    })
                })
                .transpose()
            }

            async fn set_oidc_provider(&self, team_id: &str, provider: Option<&OidcProvider>) -> StoreResult<bool> {
                let Some(p) = provider else {
                    let done = sqlx::query("DELETE FROM oidc_providers WHERE team_id = $1")
                        .bind(team_id)
                        .execute(self.writer())
                        .await?;
                    return Ok(done.rows_affected() > 0);
                };
                sqlx::query(
                    "INSERT INTO oidc_providers (team_id, issuer, client_id, client_secret, default_role, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (team_id) DO UPDATE SET issuer = excluded.issuer, client_id = excluded.client_id,
                         client_secret = excluded.client_secret, default_role = excluded.default_role,
                         updated_at = excluded.updated_at",
                )
                .bind(team_id)
                .bind(&p.issuer)
                .bind(&p.client_id)
                .bind(&p.client_secret)
                .bind(p.default_role.as_str())
                .bind(p.updated_at)
                .execute(self.writer())
                .await
                .map_err(|e| classify(e, "provider", "team"))?;
                Ok(true)
            }

            async fn oidc_identity(&self, issuer: &str, subject: &str) -> StoreResult<Option<OidcIdentity>> {
                let row = sqlx::query("SELECT user_id, token_id FROM oidc_identities WHERE issuer = $1 AND subject = $2")
                    .bind(issuer)
                    .bind(subject)
                    .fetch_optional(self.writer())
                    .await?;
                row.map(|r| -> StoreResult<OidcIdentity> {
                    Ok(OidcIdentity { user_id: r.try_get("user_id")?, token_id: r.try_get("token_id")? })
                })
                .transpose()
            }

            async fn link_oidc_identity(&self, issuer: &str, subject: &str, user_id: &str) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO oidc_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(issuer)
                .bind(subject)
                .bind(user_id)
                .bind($crate::domain::now_millis())
                .execute(self.writer())
                .await
                .map_err(|e| classify(e, "identity", "user"))?;
                Ok(())
            }

            async fn create_oidc_user(&self, issuer: &str, subject: &str, new: &NewUser) -> StoreResult<User> {
                let mut tx = self.writer().begin().await?;
                let user = insert_user(&mut tx, new).await?;
                sqlx::query(
                    "INSERT INTO oidc_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(issuer)
                .bind(subject)
                .bind(&user.id)
                .bind(user.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| classify(e, "identity", "user"))?;
                tx.commit().await?;
                Ok(user)
            }

            async fn set_oidc_identity_token(
                &self,
                issuer: &str,
                subject: &str,
                token_id: &str,
                previous: Option<&str>,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE oidc_identities SET token_id = $3
                     WHERE issuer = $1 AND subject = $2 AND (token_id = $4 OR (token_id IS NULL AND $4 IS NULL))",
                )
                .bind(issuer)
                .bind(subject)
                .bind(token_id)
                .bind(previous)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn theme(&self) -> StoreResult<Option<(String, Millis)>> {
                let row = sqlx::query("SELECT settings, updated_at FROM site_theme WHERE id = 1")
                    .fetch_optional(self.reader())
                    .await?;
                row.map(|r| -> StoreResult<(String, Millis)> { Ok((r.try_get("settings")?, r.try_get("updated_at")?)) })
                    .transpose()
            }

            async fn set_theme(&self, settings: &str, at: Millis) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO site_theme (id, settings, updated_at) VALUES (1, $1, $2)
                     ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
                )
                .bind(settings)
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn theme_asset_versions(&self) -> StoreResult<Vec<(String, Millis)>> {
                let rows = sqlx::query("SELECT name, updated_at FROM theme_assets").fetch_all(self.reader()).await?;
                rows.iter().map(|r| -> StoreResult<(String, Millis)> { Ok((r.try_get("name")?, r.try_get("updated_at")?)) }).collect()
            }

            async fn theme_asset(&self, name: &str) -> StoreResult<Option<(String, Vec<u8>, Millis)>> {
                use base64::Engine as _;
                let row = sqlx::query("SELECT content_type, data, updated_at FROM theme_assets WHERE name = $1")
                    .bind(name)
                    .fetch_optional(self.reader())
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let data = base64::engine::general_purpose::STANDARD
                    .decode(r.try_get::<String, _>("data")?)
                    .map_err(|e| StoreError::Corrupt(format!("theme asset {name}: {e}")))?;
                Ok(Some((r.try_get("content_type")?, data, r.try_get("updated_at")?)))
            }

            async fn set_theme_asset(&self, name: &str, asset: Option<(&str, &[u8])>, at: Millis) -> StoreResult<bool> {
                use base64::Engine as _;
                let Some((content_type, data)) = asset else {
                    let done = sqlx::query("DELETE FROM theme_assets WHERE name = $1").bind(name).execute(self.writer()).await?;
                    return Ok(done.rows_affected() > 0);
                };
                sqlx::query(
                    "INSERT INTO theme_assets (name, content_type, data, updated_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO UPDATE SET content_type = excluded.content_type, data = excluded.data,
                         updated_at = excluded.updated_at",
                )
                .bind(name)
                .bind(content_type)
                .bind(base64::engine::general_purpose::STANDARD.encode(data))
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(true)
            }

            async fn set_token_rate_limits(&self, id: &str, limits: Option<&str>) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE tokens SET rate_limits = $2 WHERE id = $1")
                    .bind(id)
                    .bind(limits)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn touch_token(&self, id: &str, at: Millis) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE tokens SET last_used_at = $2
                     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
                )
                .bind(id)
                .bind(at)
                .bind(at - crate::store::TOUCH_INTERVAL_MS)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn create_team(&self, namespace: &Namespace, display_name: &str, owner_id: &str) -> StoreResult<Team> {
                let team = Team {
                    id: new_id(),
                    namespace: namespace.clone(),
                    display_name: display_name.to_owned(),
                    created_at: $crate::domain::now_millis(),
                };
                let mut tx = self.writer().begin().await?;
                sqlx::query("INSERT INTO teams (id, slug, display_name, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&team.id)
                    .bind(team.namespace.as_str())
                    .bind(&team.display_name)
                    .bind(team.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| classify(e, "team", "team"))?;
                sqlx::query("INSERT INTO team_members (team_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
                    .bind(&team.id)
                    .bind(owner_id)
                    .bind(team.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| classify(e, "member", "user"))?;
                tx.commit().await?;
                Ok(team)
            }

            async fn list_teams(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<Team>> {
                let sql = format!("SELECT {TEAM_COLS} FROM teams WHERE slug > $1 ORDER BY slug LIMIT $2");
                let rows = sqlx::query(&sql).bind(after.unwrap_or("")).bind(limit).fetch_all(self.reader()).await?;
                rows.iter().map(team_row).collect()
            }

            async fn team_by_namespace(&self, namespace: &str) -> StoreResult<Option<Team>> {
                let sql = format!("SELECT {TEAM_COLS} FROM teams WHERE slug = $1");
                let row = sqlx::query(&sql).bind(namespace).fetch_optional(self.reader()).await?;
                row.as_ref().map(team_row).transpose()
            }

            async fn team_members(&self, team_id: &str) -> StoreResult<Vec<Member>> {
                let rows = sqlx::query(
                    "SELECT u.username, m.role, m.created_at FROM team_members m
                     JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 ORDER BY u.username",
                )
                .bind(team_id)
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Member {
                            username: parse_col(&r.try_get::<String, _>("username")?)?,
                            role: parse_col(&r.try_get::<String, _>("role")?)?,
                            added_at: r.try_get("created_at")?,
                        })
                    })
                    .collect()
            }

            async fn member_role(&self, namespace: &str, user_id: &str) -> StoreResult<Option<TeamRole>> {
                let row = sqlx::query(
                    "SELECT m.role FROM team_members m JOIN teams t ON t.id = m.team_id
                     WHERE t.slug = $1 AND m.user_id = $2",
                )
                .bind(namespace)
                .bind(user_id)
                .fetch_optional(self.reader())
                .await?;
                row.map(|r| parse_col(&r.try_get::<String, _>("role")?)).transpose()
            }

            async fn set_member(&self, team_id: &str, user_id: &str, role: TeamRole, at: Millis) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                lock_team(&mut tx, team_id).await?;
                sqlx::query(
                    "INSERT INTO team_members (team_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(team_id)
                .bind(user_id)
                .bind(role.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(|e| classify(e, "member", "user"))?;
                if count_owners(&mut tx, team_id).await? == 0 {
                    return Err(StoreError::Invariant("a team must keep at least one owner".into()));
                }
                tx.commit().await?;
                Ok(())
            }

            async fn remove_member(&self, team_id: &str, user_id: &str) -> StoreResult<bool> {
                let mut tx = self.writer().begin().await?;
                lock_team(&mut tx, team_id).await?;
                let done = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
                    .bind(team_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                if count_owners(&mut tx, team_id).await? == 0 {
                    return Err(StoreError::Invariant("a team must keep at least one owner".into()));
                }
                tx.commit().await?;
                Ok(true)
            }

        }

        #[async_trait]
        impl CatalogStore for $store {
            async fn create_skill(&self, new: &NewSkill, at: Millis) -> StoreResult<Skill> {
                let mut tx = self.writer().begin().await?;
                let skill = insert_skill(&mut tx, new, at).await?;
                tx.commit().await?;
                Ok(skill)
            }

            async fn remove_unused_skill(&self, id: &str, at: Millis) -> StoreResult<bool> {
                let mut tx = self.writer().begin().await?;
                let gone = sqlx::query(
                    "DELETE FROM skills WHERE id = $1 AND latest_version IS NULL
                       AND NOT EXISTS (SELECT 1 FROM versions WHERE skill_id = $1)
                       AND NOT EXISTS (SELECT 1 FROM publish_claims WHERE skill_id = $1)",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0;
                if gone {
                    // Search indexes follow this sequence; a skill it names that is gone leaves them.
                    sqlx::query("INSERT INTO skill_changes (skill_id, at) VALUES ($1, $2)")
                        .bind(id)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(gone)
            }

            async fn fork_skill(&self, new: &NewSkill, version: Option<&NewVersion>, at: Millis) -> StoreResult<Skill> {
                let mut tx = self.writer().begin().await?;
                let mut skill = insert_skill(&mut tx, new, at).await?;
                if let Some(v) = version {
                    let v = NewVersion { skill_id: skill.id.clone(), ..v.clone() };
                    insert_version(&mut tx, &v, at).await?;
                    skill.latest_version = pick_latest([v.version.as_str()]);
                }
                tx.commit().await?;
                Ok(skill)
            }

            async fn skill(&self, namespace: &str, name: &str) -> StoreResult<Option<Skill>> {
                let sql = format!("SELECT {SKILL_COLS} FROM skills s WHERE s.scope = $1 AND s.slug = $2");
                let row = sqlx::query(&sql).bind(namespace).bind(name).fetch_optional(self.reader()).await?;
                row.as_ref().map(skill_row).transpose()
            }

            async fn skill_by_id(&self, id: &str) -> StoreResult<Option<Skill>> {
                let sql = format!("SELECT {SKILL_COLS} FROM skills s WHERE s.id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(skill_row).transpose()
            }

            async fn skills_by_ids(&self, ids: &[String]) -> StoreResult<Vec<Skill>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let select = format!("SELECT {SKILL_COLS} FROM skills s WHERE s.id IN (");
                rows_by_ids(self.reader(), &select, ids).await?.iter().map(skill_row).collect()
            }

            async fn skill_changes_after(&self, seq: i64, limit: i64) -> StoreResult<Vec<(i64, String, Millis)>> {
                let rows = sqlx::query(
                    "SELECT seq, skill_id, at FROM skill_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(seq)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(|r| Ok((r.try_get("seq")?, r.try_get("skill_id")?, r.try_get("at")?))).collect()
            }

            async fn prune_skill_changes(&self, before: Millis) -> StoreResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM skill_changes WHERE at < $1 AND seq < (SELECT MAX(seq) FROM skill_changes)",
                ).bind(before).execute(self.writer()).await?;
                Ok(done.rows_affected())
            }

            async fn last_skill_change(&self) -> StoreResult<i64> {
                let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM skill_changes")
                    .fetch_one(self.reader())
                    .await?;
                Ok(row.try_get("seq")?)
            }

            async fn skills_after(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<Skill>> {
                let sql = format!(
                    "SELECT {SKILL_COLS} FROM skills s WHERE s.deleted_at IS NULL AND s.id > $1 ORDER BY s.id LIMIT $2"
                );
                let rows = sqlx::query(&sql).bind(after.unwrap_or("")).bind(limit).fetch_all(self.reader()).await?;
                rows.iter().map(skill_row).collect()
            }

            async fn update_skill(&self, id: &str, patch: &SkillPatch, at: Millis) -> StoreResult<Skill> {
                let mut b = SqlBuilder::new("UPDATE skills SET updated_at = ");
                let p = b.arg(Arg::Int(at));
                b.push(&p);
                let set = |b: &mut SqlBuilder, col: &str, a: Arg| {
                    let p = b.arg(a);
                    b.push(&format!(", {col} = {p}"));
                };
                if let Some(v) = &patch.display_name {
                    set(&mut b, "display_name", Arg::Text(v.clone()));
                }
                if let Some(v) = &patch.description {
                    set(&mut b, "description", Arg::Text(v.clone()));
                }
                if let Some(v) = &patch.readme {
                    set(&mut b, "readme", Arg::Text(v.clone()));
                }
                if let Some(v) = patch.visibility {
                    set(&mut b, "visibility", Arg::Text(v.as_str().into()));
                }
                let tags: Option<Vec<String>> = patch.tags.as_ref().map(|v| v.iter().map(|t| t.to_string()).collect());
                if let Some(v) = &tags {
                    set(&mut b, "tags", Arg::Text(serde_json::to_string(v).expect("tags serialize")));
                }
                if let Some(v) = patch.skill_type {
                    set(&mut b, "skill_type", Arg::Text(v.as_str().into()));
                }
                if let Some(v) = patch.kind {
                    set(&mut b, "kind", Arg::Text(v.as_str().into()));
                }
                if let Some(v) = patch.archived {
                    set(&mut b, "archived", Arg::Bool(v));
                }
                if let Some(v) = patch.deprecated {
                    set(&mut b, "deprecated", Arg::Bool(v));
                }
                match &patch.deprecated_message {
                    Some(Some(m)) => set(&mut b, "deprecated_message", Arg::Text(m.clone())),
                    Some(None) => {
                        b.push(", deprecated_message = NULL");
                    }
                    None => {}
                }
                let p = b.arg(Arg::Text(id.to_owned()));
                b.push(&format!(" WHERE id = {p}"));
                let mut tx = self.writer().begin().await?;
                bind_all(sqlx::query(&b.sql), b.args).execute(&mut *tx).await?;
                if let Some(tags) = &tags {
                    replace_tags(&mut tx, id, tags).await?;
                }
                let sql = format!("SELECT {SKILL_COLS} FROM skills s WHERE s.id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await?;
                let skill = row.as_ref().map(skill_row).transpose()?.ok_or_else(|| StoreError::Missing("skill".into()))?;
                tx.commit().await?;
                Ok(skill)
            }

            async fn set_skill_deleted(&self, id: &str, deleted_at: Option<Millis>) -> StoreResult<()> {
                sqlx::query("UPDATE skills SET deleted_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(deleted_at)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn list_skills(&self, query: &SkillQuery) -> StoreResult<Vec<SkillHit>> {
                let mut b = matching_skills(query);
                b.sql = format!("SELECT * FROM ({}) q", b.sql);
                let (col, desc) = sort_column(query.sort);
                if let Some(after) = &query.after {
                    let k = b.arg(match &after.key {
                        SortKey::Int(i) => Arg::Int(*i),
                        SortKey::Text(s) => Arg::Text(s.clone()),
                        SortKey::Float(f) => Arg::Float(*f),
                    });
                    let id = b.arg(Arg::Text(after.id.clone()));
                    let cmp = if desc { "<" } else { ">" };
                    b.push(&format!(" WHERE ({col} {cmp} {k} OR ({col} = {k} AND q.id > {id}))"));
                }
                let lim = b.arg(Arg::Int(query.limit));
                let dir = if desc { "DESC" } else { "ASC" };
                let offset = b.arg(Arg::Int(query.offset));
                b.push(&format!(" ORDER BY {col} {dir}, q.id ASC LIMIT {lim} OFFSET {offset}"));
                let rows = bind_all(sqlx::query(&b.sql), b.args).fetch_all(self.reader()).await?;
                rows.iter()
                    .map(|r| Ok(SkillHit { skill: skill_row(r)?, rank: r.try_get("rank")?, similarity: None }))
                    .collect()
            }

            async fn count_skills(&self, query: &SkillQuery) -> StoreResult<i64> {
                let mut b = matching_skills(query);
                b.sql = format!("SELECT COUNT(*) AS n FROM ({}) q", b.sql);
                let row = bind_all(sqlx::query(&b.sql), b.args).fetch_one(self.reader()).await?;
                Ok(row.try_get("n")?)
            }

            async fn has_star(&self, skill_id: &str, user_id: &str) -> StoreResult<bool> {
                let row = sqlx::query("SELECT 1 AS one FROM stars WHERE skill_id = $1 AND user_id = $2")
                    .bind(skill_id)
                    .bind(user_id)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.is_some())
            }

            async fn set_star(&self, skill_id: &str, user_id: &str, starred: bool, at: Millis) -> StoreResult<i64> {
                let mut tx = self.writer().begin().await?;
                if starred {
                    sqlx::query(
                        "INSERT INTO stars (skill_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(skill_id)
                    .bind(user_id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                } else {
                    sqlx::query("DELETE FROM stars WHERE skill_id = $1 AND user_id = $2")
                        .bind(skill_id)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                let row = sqlx::query(
                    "UPDATE skills SET stars = (SELECT COUNT(*) FROM stars WHERE skill_id = $1) WHERE id = $1
                     RETURNING stars",
                )
                .bind(skill_id)
                .fetch_one(&mut *tx)
                .await?;
                let stars = row.try_get("stars")?;
                tx.commit().await?;
                Ok(stars)
            }

            async fn create_version(&self, new: &NewVersion, at: Millis) -> StoreResult<Version> {
                let mut tx = self.writer().begin().await?;
                let v = insert_version(&mut tx, new, at).await?;
                tx.commit().await?;
                Ok(v)
            }

            async fn versions(&self, skill_id: &str) -> StoreResult<Vec<Version>> {
                let sql = format!("SELECT {VERSION_COLS} FROM versions WHERE skill_id = $1");
                let rows = sqlx::query(&sql).bind(skill_id).fetch_all(self.reader()).await?;
                let mut all: Vec<Version> = rows.iter().map(version_row).collect::<Result<_, _>>()?;
                // Newest release first, by semver precedence rather than by text.
                all.sort_by(|a, b| {
                    let pa = semver::Version::parse(&a.version).ok();
                    let pb = semver::Version::parse(&b.version).ok();
                    pb.cmp(&pa).then_with(|| b.version.cmp(&a.version))
                });
                Ok(all)
            }

            async fn released_version_numbers(&self, skill_id: &str) -> StoreResult<Vec<String>> {
                let rows = sqlx::query(
                    "SELECT version FROM versions WHERE skill_id = $1 AND status = 'published'
                     AND reference IS NOT NULL AND digest IS NOT NULL",
                )
                .bind(skill_id)
                .fetch_all(self.reader())
                .await?;
                Ok(rows.iter().map(|r| r.try_get("version")).collect::<Result<_, _>>()?)
            }

            async fn version(&self, skill_id: &str, version: &str) -> StoreResult<Option<Version>> {
                let sql = format!("SELECT {VERSION_COLS} FROM versions WHERE skill_id = $1 AND version = $2");
                let row = sqlx::query(&sql).bind(skill_id).bind(version).fetch_optional(self.reader()).await?;
                row.as_ref().map(version_row).transpose()
            }

            async fn latest_versions(&self, skill_ids: &[String]) -> StoreResult<Vec<Version>> {
                if skill_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let select = format!(
                    "SELECT {VERSION_COLS} FROM versions v WHERE EXISTS (SELECT 1 FROM skills s
                       WHERE s.id = v.skill_id AND s.latest_version = v.version) AND v.skill_id IN ("
                );
                rows_by_ids(self.reader(), &select, skill_ids).await?.iter().map(version_row).collect()
            }

            async fn set_version_signature(
                &self,
                skill_id: &str,
                version: &str,
                verdict: Option<&serde_json::Value>,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE versions SET signature = $3 WHERE skill_id = $1 AND version = $2")
                    .bind(skill_id)
                    .bind(version)
                    .bind(verdict.map(json_text))
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn stored_versions(&self, namespace: Option<&str>) -> StoreResult<Vec<(Skill, Version)>> {
                let sql = "SELECT v.skill_id FROM versions v JOIN skills s ON s.id = v.skill_id
                     WHERE v.digest IS NOT NULL AND s.deleted_at IS NULL AND (CAST($1 AS TEXT) IS NULL OR s.scope = $1)
                     GROUP BY v.skill_id ORDER BY v.skill_id";
                let ids: Vec<String> = sqlx::query_scalar(sql).bind(namespace).fetch_all(self.reader()).await?;
                let mut out = Vec::new();
                for id in ids {
                    let sql = format!("SELECT {SKILL_COLS} FROM skills s WHERE s.id = $1");
                    let Some(row) = sqlx::query(&sql).bind(&id).fetch_optional(self.reader()).await? else { continue };
                    let skill = skill_row(&row)?;
                    for v in self.versions(&id).await?.into_iter().filter(|v| v.digest.is_some()) {
                        out.push((skill.clone(), v));
                    }
                }
                Ok(out)
            }

            async fn set_version_status(
                &self,
                skill_id: &str,
                version: &str,
                status: VersionStatus,
                at: Millis,
            ) -> StoreResult<Version> {
                let mut tx = self.writer().begin().await?;
                let published_at = (status != VersionStatus::Draft).then_some(at);
                sqlx::query(
                    "UPDATE versions SET status = $3, published_at = COALESCE(published_at, $4)
                     WHERE skill_id = $1 AND version = $2",
                )
                .bind(skill_id)
                .bind(version)
                .bind(status.as_str())
                .bind(published_at)
                .execute(&mut *tx)
                .await?;
                refresh_latest(&mut tx, skill_id, at).await?;
                let sql = format!("SELECT {VERSION_COLS} FROM versions WHERE skill_id = $1 AND version = $2");
                let row = sqlx::query(&sql).bind(skill_id).bind(version).fetch_optional(&mut *tx).await?;
                let v = row.as_ref().map(version_row).transpose()?.ok_or_else(|| StoreError::Missing("version".into()))?;
                tx.commit().await?;
                Ok(v)
            }

            async fn npm_dists(&self, skill_id: &str) -> StoreResult<Vec<(String, NpmDist)>> {
                let rows = sqlx::query(
                    "SELECT d.version_id, d.integrity, d.shasum, d.size FROM npm_dists d
                     JOIN versions v ON v.id = d.version_id WHERE v.skill_id = $1",
                )
                .bind(skill_id)
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|r| {
                        let dist = NpmDist { integrity: r.try_get("integrity")?, shasum: r.try_get("shasum")?, size: r.try_get("size")? };
                        Ok((r.try_get("version_id")?, dist))
                    })
                    .collect()
            }

            async fn put_npm_dist(&self, version_id: &str, dist: &NpmDist) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO npm_dists (version_id, integrity, shasum, size) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                )
                .bind(version_id)
                .bind(&dist.integrity)
                .bind(&dist.shasum)
                .bind(dist.size)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn channels(&self, skill_id: &str) -> StoreResult<Vec<Channel>> {
                let rows = sqlx::query(
                    "SELECT name, version, updated_at FROM channels WHERE skill_id = $1
                     ORDER BY CASE WHEN name = 'latest' THEN 0 ELSE 1 END, name",
                )
                .bind(skill_id)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(channel_row).collect()
            }

            async fn set_channel(&self, skill_id: &str, name: &ChannelName, version: &str, at: Millis) -> StoreResult<Channel> {
                sqlx::query(
                    "INSERT INTO channels (skill_id, name, version, updated_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (skill_id, name) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                )
                .bind(skill_id)
                .bind(name.as_str())
                .bind(version)
                .bind(at)
                .execute(self.writer())
                .await
                .map_err(|e| classify(e, "channel", "skill"))?;
                Ok(Channel { name: name.to_string(), version: Some(version.to_owned()), updated_at: at })
            }

            async fn delete_channel(&self, skill_id: &str, name: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM channels WHERE skill_id = $1 AND name = $2 AND name <> 'latest'")
                    .bind(skill_id)
                    .bind(name)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn versions_by_reference(&self, prefix: &str) -> StoreResult<Vec<Version>> {
                let sql = format!("SELECT {VERSION_COLS} FROM versions WHERE substr(reference, 1, $2) = $1");
                let rows = sqlx::query(&sql)
                    .bind(prefix)
                    .bind(prefix.chars().count() as i32)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(version_row).collect()
            }

            async fn version_references(&self) -> StoreResult<Vec<(String, String)>> {
                let rows = sqlx::query("SELECT id, reference FROM versions WHERE reference IS NOT NULL")
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("reference")?))).collect()
            }

            async fn set_version_reference(&self, version_id: &str, reference: &str) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("UPDATE versions SET reference = $2 WHERE id = $1")
                    .bind(version_id)
                    .bind(reference)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM npm_dists WHERE version_id = $1").bind(version_id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn version_artifacts(&self) -> StoreResult<Vec<(String, Option<String>)>> {
                let rows = sqlx::query("SELECT digest, archive_sha256 FROM versions WHERE digest IS NOT NULL")
                    .fetch_all(self.reader())
                    .await?;
                rows.iter()
                    .map(|r| {
                        let layer: Option<String> = r.try_get("archive_sha256")?;
                        Ok((r.try_get("digest")?, layer.map(|h| format!("sha256:{h}"))))
                    })
                    .collect()
            }

        }

        #[async_trait]
        impl UploadStore for $store {
            async fn put_upload(&self, u: &Upload) -> StoreResult<()> {
                let sql = format!("INSERT INTO uploads ({UPLOAD_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
                sqlx::query(&sql)
                    .bind(&u.id)
                    .bind(&u.skill_id)
                    .bind(&u.version)
                    .bind(&u.archive_sha256)
                    .bind(u.archive_size)
                    .bind(json_text(&u.metadata))
                    .bind(&u.created_by)
                    .bind(u.created_at)
                    .bind(u.expires_at)
                    .execute(self.writer())
                    .await
                    .map_err(|e| classify(e, "upload", "skill"))?;
                Ok(())
            }

            async fn upload_by_id(&self, id: &str) -> StoreResult<Option<Upload>> {
                let sql = format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(upload_row).transpose()
            }

            async fn upload_for(&self, skill_id: &str, version: &str, created_by: &str) -> StoreResult<Option<Upload>> {
                let sql = format!(
                    "SELECT {UPLOAD_COLS} FROM uploads WHERE skill_id = $1 AND version = $2 AND created_by = $3 \
                     ORDER BY created_at DESC, id DESC LIMIT 1"
                );
                let row = sqlx::query(&sql)
                    .bind(skill_id)
                    .bind(version)
                    .bind(created_by)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(upload_row).transpose()
            }

            async fn uploads_of(&self, skill_id: &str, version: &str) -> StoreResult<Vec<String>> {
                let rows = sqlx::query("SELECT id FROM uploads WHERE skill_id = $1 AND version = $2")
                    .bind(skill_id)
                    .bind(version)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
            }

            async fn delete_upload(&self, id: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(self.writer()).await?;
                Ok(())
            }

            async fn claim_version(
                &self,
                skill_id: &str,
                version: &str,
                holder: &str,
                now: Millis,
                until: Millis,
            ) -> StoreResult<bool> {
                // One statement, so two replicas racing for one version cannot both win.
                let claimed = sqlx::query(
                    "INSERT INTO publish_claims (skill_id, version, holder, claimed_until) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (skill_id, version) DO UPDATE SET holder = excluded.holder, \
                     claimed_until = excluded.claimed_until WHERE publish_claims.claimed_until < $5",
                )
                .bind(skill_id)
                .bind(version)
                .bind(holder)
                .bind(until)
                .bind(now)
                .execute(self.writer())
                .await
                .map_err(|e| classify(e, "claim", "skill"))?;
                Ok(claimed.rows_affected() == 1)
            }

            async fn release_version(&self, skill_id: &str, version: &str, holder: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM publish_claims WHERE skill_id = $1 AND version = $2 AND holder = $3")
                    .bind(skill_id)
                    .bind(version)
                    .bind(holder)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn expire_uploads(&self, now: Millis) -> StoreResult<Vec<String>> {
                // An upload being published stays until its publish settles.
                let rows = sqlx::query(
                    "DELETE FROM uploads WHERE expires_at < $1 \
                     AND id NOT IN (SELECT holder FROM publish_claims WHERE claimed_until >= $1) RETURNING id",
                )
                    .bind(now)
                    .fetch_all(self.writer())
                    .await?;
                rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
            }

        }

        #[async_trait]
        impl OciStore for $store {
            async fn oci_link_blob(&self, repo: &str, digest: &str, size: i64, at: Millis) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO oci_blobs (repo, digest, size, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(repo)
                .bind(digest)
                .bind(size)
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn oci_blob(&self, repo: &str, digest: &str) -> StoreResult<Option<i64>> {
                let row = sqlx::query("SELECT size FROM oci_blobs WHERE repo = $1 AND digest = $2")
                    .bind(repo)
                    .bind(digest)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.map(|r| r.try_get("size")).transpose()?)
            }

            async fn oci_put_manifest(&self, m: &OciManifest, blobs: &[(String, i64)], tag: Option<&str>) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                let sql = format!(
                    "INSERT INTO oci_manifests ({OCI_MANIFEST_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
                );
                sqlx::query(&sql)
                    .bind(&m.repo)
                    .bind(&m.digest)
                    .bind(&m.media_type)
                    .bind(m.size)
                    .bind(&m.artifact_type)
                    .bind(&m.subject)
                    .bind(m.annotations.as_ref().map(json_text))
                    .bind(m.created_at)
                    .execute(&mut *tx)
                    .await?;
                // The manifest's own bytes are a blob of the repository too.
                let own = (m.digest.clone(), m.size);
                for (digest, size) in blobs.iter().chain(std::iter::once(&own)) {
                    sqlx::query(
                        "INSERT INTO oci_blobs (repo, digest, size, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(&m.repo)
                    .bind(digest)
                    .bind(size)
                    .bind(m.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(tag) = tag {
                    sqlx::query(
                        "INSERT INTO oci_tags (repo, tag, digest, updated_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
                    )
                    .bind(&m.repo)
                    .bind(tag)
                    .bind(&m.digest)
                    .bind(m.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn oci_manifest(&self, repo: &str, digest: &str) -> StoreResult<Option<OciManifest>> {
                let sql = format!("SELECT {OCI_MANIFEST_COLS} FROM oci_manifests WHERE repo = $1 AND digest = $2");
                let row = sqlx::query(&sql).bind(repo).bind(digest).fetch_optional(self.reader()).await?;
                row.as_ref().map(oci_manifest_row).transpose()
            }

            async fn oci_tag(&self, repo: &str, tag: &str) -> StoreResult<Option<String>> {
                let row = sqlx::query("SELECT digest FROM oci_tags WHERE repo = $1 AND tag = $2")
                    .bind(repo)
                    .bind(tag)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.map(|r| r.try_get("digest")).transpose()?)
            }

            async fn oci_tags(&self, repo: &str, last: Option<&str>, n: i64) -> StoreResult<Vec<String>> {
                let mut b = SqlBuilder::new("SELECT tag FROM oci_tags WHERE repo = ");
                let p = b.arg(Arg::Text(repo.to_owned()));
                b.push(&p);
                if let Some(last) = last {
                    let p = b.arg(Arg::Text(last.to_owned()));
                    b.push(&format!(" AND tag > {p}"));
                }
                let p = b.arg(Arg::Int(n));
                b.push(&format!(" ORDER BY tag LIMIT {p}"));
                let rows = bind_all(sqlx::query(&b.sql), b.args).fetch_all(self.reader()).await?;
                rows.iter().map(|r| Ok(r.try_get("tag")?)).collect()
            }

            async fn oci_referrers(&self, repo: &str, subject: &str) -> StoreResult<Vec<OciManifest>> {
                let sql = format!(
                    "SELECT {OCI_MANIFEST_COLS} FROM oci_manifests WHERE repo = $1 AND subject = $2 ORDER BY created_at, digest"
                );
                let rows = sqlx::query(&sql).bind(repo).bind(subject).fetch_all(self.reader()).await?;
                rows.iter().map(oci_manifest_row).collect()
            }

            async fn oci_delete_manifest(&self, repo: &str, digest: &str) -> StoreResult<bool> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("DELETE FROM oci_tags WHERE repo = $1 AND digest = $2")
                    .bind(repo)
                    .bind(digest)
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM oci_manifests WHERE repo = $1 AND digest = $2")
                    .bind(repo)
                    .bind(digest)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn oci_delete_tag(&self, repo: &str, tag: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM oci_tags WHERE repo = $1 AND tag = $2")
                    .bind(repo)
                    .bind(tag)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn oci_manifest_page(
                &self,
                after: Option<(&str, &str)>,
                limit: i64,
            ) -> StoreResult<Vec<(OciManifest, Vec<String>)>> {
                let (repo, digest) = after.unwrap_or(("", ""));
                let sql = format!(
                    "SELECT m.*, t.tag FROM (SELECT {OCI_MANIFEST_COLS} FROM oci_manifests
                         WHERE repo > $1 OR (repo = $1 AND digest > $2) ORDER BY repo, digest LIMIT $3) m
                     LEFT JOIN oci_tags t ON t.repo = m.repo AND t.digest = m.digest
                     ORDER BY m.repo, m.digest, t.tag"
                );
                let rows = sqlx::query(&sql).bind(repo).bind(digest).bind(limit).fetch_all(self.reader()).await?;
                let mut page: Vec<(OciManifest, Vec<String>)> = Vec::new();
                for r in &rows {
                    let tag: Option<String> = r.try_get("tag")?;
                    let (repo, digest): (String, String) = (r.try_get("repo")?, r.try_get("digest")?);
                    match page.last_mut() {
                        Some((m, tags)) if m.repo == repo && m.digest == digest => tags.extend(tag),
                        _ => page.push((oci_manifest_row(r)?, tag.into_iter().collect())),
                    }
                }
                Ok(page)
            }

            async fn oci_blob_links(&self) -> StoreResult<Vec<(String, String, Millis)>> {
                let rows = sqlx::query("SELECT repo, digest, created_at FROM oci_blobs").fetch_all(self.reader()).await?;
                rows.iter().map(|r| Ok((r.try_get("repo")?, r.try_get("digest")?, r.try_get("created_at")?))).collect()
            }

            async fn oci_unlink_blob(&self, repo: &str, digest: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM oci_blobs WHERE repo = $1 AND digest = $2")
                    .bind(repo)
                    .bind(digest)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

        }

        fn draft_row(r: &DbRow) -> StoreResult<Draft> {
            let tags: String = r.try_get("tags")?;
            let proposal: Option<String> = r.try_get("merge_proposal_slug")?;
            let similarity: Option<f64> = r.try_get("merge_proposal_similarity")?;
            Ok(Draft {
                id: r.try_get("id")?,
                namespace: parse_col(&r.try_get::<String, _>("namespace")?)?,
                slug: parse_col(&r.try_get::<String, _>("slug")?)?,
                description: r.try_get("description")?,
                when_to_use: r.try_get("when_to_use")?,
                tags: json_col(&tags, "drafts.tags")?,
                origin: r.try_get("origin")?,
                notes: r.try_get("notes")?,
                status: parse_col(&r.try_get::<String, _>("status")?)?,
                published_version: r.try_get("published_version")?,
                archive_sha256: r.try_get("archive_sha256")?,
                merge_proposal: proposal.zip(similarity),
                created_by: r.try_get("created_by")?,
                created_at: r.try_get("created_at")?,
                reviewed_at: r.try_get("reviewed_at")?,
            })
        }

        const DRAFT_COLS: &str = "id, namespace, slug, description, when_to_use, tags, origin, notes, status, \
            published_version, archive_sha256, merge_proposal_slug, merge_proposal_similarity, created_by, created_at, \
            reviewed_at";

        #[async_trait]
        impl DraftStore for $store {
            async fn insert_draft(&self, d: &Draft, archive: &[u8]) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO drafts (id, namespace, slug, description, when_to_use, tags, origin, notes, status,
                         archive, archive_sha256, merge_proposal_slug, merge_proposal_similarity, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(&d.id)
                .bind(d.namespace.as_str())
                .bind(d.slug.as_str())
                .bind(&d.description)
                .bind(&d.when_to_use)
                .bind(serde_json::to_string(&d.tags).expect("tags serialize"))
                .bind(&d.origin)
                .bind(&d.notes)
                .bind(d.status.as_str())
                .bind(archive)
                .bind(&d.archive_sha256)
                .bind(d.merge_proposal.as_ref().map(|p| p.0.clone()))
                .bind(d.merge_proposal.as_ref().map(|p| p.1))
                .bind(&d.created_by)
                .bind(d.created_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn drafts(
                &self,
                namespace: &Namespace,
                status: Option<DraftStatus>,
                limit: i64,
            ) -> StoreResult<Vec<Draft>> {
                let rows = match status {
                    Some(status) => {
                        let sql = format!(
                            "SELECT {DRAFT_COLS} FROM drafts WHERE namespace = $1 AND status = $2
                             ORDER BY created_at DESC, id DESC LIMIT $3"
                        );
                        sqlx::query(&sql).bind(namespace.as_str()).bind(status.as_str()).bind(limit)
                            .fetch_all(self.reader()).await?
                    }
                    None => {
                        let sql = format!(
                            "SELECT {DRAFT_COLS} FROM drafts WHERE namespace = $1
                             ORDER BY CASE WHEN status = 'pending' THEN 0 ELSE 1 END, created_at DESC, id DESC LIMIT $2"
                        );
                        sqlx::query(&sql).bind(namespace.as_str()).bind(limit).fetch_all(self.reader()).await?
                    }
                };
                rows.iter().map(draft_row).collect()
            }

            async fn draft(&self, namespace: &Namespace, id: &str) -> StoreResult<Option<Draft>> {
                let sql = format!("SELECT {DRAFT_COLS} FROM drafts WHERE namespace = $1 AND id = $2");
                let row = sqlx::query(&sql).bind(namespace.as_str()).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(draft_row).transpose()
            }

            async fn draft_archive(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
                let row = sqlx::query("SELECT archive FROM drafts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(match row {
                    Some(r) => r.try_get::<Option<Vec<u8>>, _>("archive")?,
                    None => None,
                })
            }

            async fn count_drafts(&self, namespace: &Namespace, status: DraftStatus) -> StoreResult<i64> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM drafts WHERE namespace = $1 AND status = $2")
                    .bind(namespace.as_str())
                    .bind(status.as_str())
                    .fetch_one(self.reader())
                    .await?;
                Ok(row.try_get::<i64, _>("n")?)
            }

            async fn claim_draft(&self, id: &str, until: Millis, now: Millis) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE drafts SET claimed_until = $2
                     WHERE id = $1 AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < $3)",
                )
                .bind(id)
                .bind(until)
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_draft(&self, id: &str) -> StoreResult<()> {
                sqlx::query("UPDATE drafts SET claimed_until = NULL WHERE id = $1").bind(id).execute(self.writer()).await?;
                Ok(())
            }

            async fn publish_draft(&self, id: &str, version: &str, at: Millis) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE drafts SET status = 'published', published_version = $2, reviewed_at = $3, claimed_until = NULL
                     WHERE id = $1",
                )
                .bind(id)
                .bind(version)
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn discard_draft(&self, id: &str, at: Millis, now: Millis) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE drafts SET status = 'discarded', archive = NULL, reviewed_at = $2
                     WHERE id = $1 AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < $3)",
                )
                .bind(id)
                .bind(at)
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl WebhookStore for $store {
            async fn webhook(&self, namespace: &Namespace) -> StoreResult<Option<Webhook>> {
                let row = sqlx::query("SELECT url, secret FROM webhooks WHERE namespace = $1")
                    .bind(namespace.as_str())
                    .fetch_optional(self.reader())
                    .await?;
                row.map(|r| {
                    Ok(Webhook { namespace: namespace.clone(), url: r.try_get("url")?, secret: r.try_get("secret")? })
                })
                .transpose()
            }

            async fn set_webhook(&self, namespace: &Namespace, hook: Option<&Webhook>, at: Millis) -> StoreResult<()> {
                match hook {
                    Some(h) => {
                        sqlx::query(
                            "INSERT INTO webhooks (namespace, url, secret, updated_at) VALUES ($1, $2, $3, $4)
                             ON CONFLICT (namespace) DO UPDATE SET url = $2, secret = $3, updated_at = $4",
                        )
                        .bind(namespace.as_str())
                        .bind(&h.url)
                        .bind(&h.secret)
                        .bind(at)
                        .execute(self.writer())
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM webhooks WHERE namespace = $1")
                            .bind(namespace.as_str())
                            .execute(self.writer())
                            .await?;
                    }
                }
                Ok(())
            }

            async fn enqueue_delivery(&self, d: &Delivery, at: Millis) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, namespace, event, body, status, attempts, next_attempt_at, created_at)
                     VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
                )
                .bind(&d.id)
                .bind(d.namespace.as_str())
                .bind(&d.event)
                .bind(&d.body)
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn claim_deliveries(&self, now: Millis, lease_until: Millis, limit: i64) -> StoreResult<Vec<Delivery>> {
                // At most two of each namespace's due deliveries (its oldest) per batch: a namespace
                // with a silent receiver and a long queue cannot fill every batch.
                let rows = sqlx::query(
                    "SELECT id, namespace, event, body, attempts, created_at, next_attempt_at FROM (
                        SELECT *, ROW_NUMBER() OVER (PARTITION BY namespace ORDER BY next_attempt_at, created_at) AS nth
                        FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1
                     ) due WHERE nth <= 2 ORDER BY next_attempt_at, created_at LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                let mut claimed = Vec::new();
                for r in &rows {
                    let id: String = r.try_get("id")?;
                    let due: Millis = r.try_get("next_attempt_at")?;
                    // Only the worker that moves the time it saw takes it.
                    let taken = sqlx::query(
                        "UPDATE webhook_deliveries SET next_attempt_at = $2
                         WHERE id = $1 AND status = 'pending' AND next_attempt_at = $3",
                    )
                    .bind(&id)
                    .bind(lease_until)
                    .bind(due)
                    .execute(self.writer())
                    .await?;
                    if taken.rows_affected() == 1 {
                        claimed.push(Delivery {
                            id,
                            namespace: parse_col(&r.try_get::<String, _>("namespace")?)?,
                            event: r.try_get("event")?,
                            body: r.try_get("body")?,
                            attempts: r.try_get::<i64, _>("attempts")?,
                            created_at: r.try_get("created_at")?,
                        });
                    }
                }
                Ok(claimed)
            }

            async fn finish_delivery(
                &self,
                id: &str,
                lease: Millis,
                outcome: &DeliveryOutcome,
                at: Millis,
            ) -> StoreResult<bool> {
                let (status, next, error) = match outcome {
                    DeliveryOutcome::Delivered => ("delivered", at, None),
                    DeliveryOutcome::Retry { at: next, error } => ("pending", *next, Some(error.as_str())),
                    DeliveryOutcome::Failed { error } => ("failed", at, Some(error.as_str())),
                };
                let finished = (status != "pending").then_some(at);
                let done = sqlx::query(
                    "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, next_attempt_at = $3,
                         last_error = $4, finished_at = $5
                     WHERE id = $1 AND status = 'pending' AND next_attempt_at = $6",
                )
                .bind(id)
                .bind(status)
                .bind(next)
                .bind(error)
                .bind(finished)
                .bind(lease)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn pending_deliveries(&self) -> StoreResult<i64> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'pending'")
                    .fetch_one(self.reader())
                    .await?;
                Ok(row.try_get::<i64, _>("n")?)
            }
        }

        const PROJECT_COLS: &str =
            "id, namespace, slug, name, description, git_remote, stack_tags, created_at, updated_at";

        fn project_row(r: &DbRow) -> StoreResult<Project> {
            let tags: String = r.try_get("stack_tags")?;
            Ok(Project {
                id: r.try_get("id")?,
                namespace: parse_col(&r.try_get::<String, _>("namespace")?)?,
                slug: r.try_get("slug")?,
                name: r.try_get("name")?,
                description: r.try_get("description")?,
                git_remote: r.try_get("git_remote")?,
                stack_tags: json_col(&tags, "projects.stack_tags")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn wish_row(r: &DbRow) -> StoreResult<Wish> {
            let tags: String = r.try_get("tags")?;
            Ok(Wish {
                id: r.try_get("id")?,
                author_id: r.try_get("author_id")?,
                author: parse_col(&r.try_get::<String, _>("author")?)?,
                namespace: r.try_get::<Option<String>, _>("namespace")?.as_deref().map(parse_col).transpose()?,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
                tags: json_col(&tags, "wishes.tags")?,
                status: parse_col(&r.try_get::<String, _>("status")?)?,
                answer_skill_id: r.try_get("answer")?,
                closed_by: r.try_get::<Option<String>, _>("closer")?.as_deref().map(parse_col).transpose()?,
                closed_at: r.try_get("closed_at")?,
                created_at: r.try_get("created_at")?,
            })
        }

        fn review_row(r: &DbRow) -> StoreResult<Review> {
            Ok(Review {
                id: r.try_get("id")?,
                author_id: r.try_get("author_id")?,
                author: parse_col(&r.try_get::<String, _>("author")?)?,
                target: parse_col(&r.try_get::<String, _>("target_type")?)?,
                target_id: r.try_get("target_id")?,
                rating: parse_col(&r.try_get::<String, _>("rating")?)?,
                body: r.try_get("body")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        /// Collections read with their items (one more query for all of them).
        async fn collections_with_items<'e, E>(executor: E, rows: Vec<DbRow>) -> StoreResult<Vec<Collection>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(Collection {
                    id: r.try_get("id")?,
                    owner_id: r.try_get("owner_id")?,
                    owner: r.try_get::<Option<String>, _>("owner")?.as_deref().map(parse_col).transpose()?,
                    namespace: r.try_get::<Option<String>, _>("namespace")?.as_deref().map(parse_col).transpose()?,
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    visibility: parse_col(&r.try_get::<String, _>("visibility")?)?,
                    skill_ids: Vec::new(),
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                });
            }
            if out.is_empty() {
                return Ok(out);
            }
            let mut b = SqlBuilder::new("SELECT collection_id, skill_id FROM collection_items WHERE collection_id IN (");
            let placeholders: Vec<String> = out.iter().map(|c| b.arg(Arg::Text(c.id.clone()))).collect();
            b.push(&placeholders.join(", ")).push(") ORDER BY collection_id, position");
            for row in bind_all(sqlx::query(&b.sql), b.args).fetch_all(executor).await? {
                let (collection, skill): (String, String) = (row.try_get("collection_id")?, row.try_get("skill_id")?);
                if let Some(c) = out.iter_mut().find(|c| c.id == collection) {
                    c.skill_ids.push(skill);
                }
            }
            Ok(out)
        }

        async fn put_collection_items(tx: &mut Tx<'_>, id: &str, skill_ids: &[String]) -> StoreResult<()> {
            sqlx::query("DELETE FROM collection_items WHERE collection_id = $1").bind(id).execute(&mut **tx).await?;
            for (position, skill) in skill_ids.iter().enumerate() {
                sqlx::query("INSERT INTO collection_items (collection_id, position, skill_id) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(position as i64)
                    .bind(skill)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| classify(e, "collection item", "skill"))?;
            }
            Ok(())
        }

        #[async_trait]
        impl CommunityStore for $store {
            async fn create_collection(
                &self,
                (owner_id, namespace): (Option<&str>, Option<&Namespace>),
                creator: &str,
                content: &CollectionContent,
                at: Millis,
            ) -> StoreResult<Collection> {
                let id = new_id();
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "INSERT INTO collections (id, owner_id, namespace, name, description, visibility, created_by,
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(&id)
                .bind(owner_id)
                .bind(namespace.map(|n| n.as_str()))
                .bind(&content.name)
                .bind(&content.description)
                .bind(content.visibility.as_str())
                .bind(creator)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(|e| classify(e, "collection", "user"))?;
                put_collection_items(&mut tx, &id, &content.skill_ids).await?;
                let sql = format!("SELECT {COLLECTION_COLS} {COLLECTION_FROM} WHERE c.id = $1");
                let rows = sqlx::query(&sql).bind(&id).fetch_all(&mut *tx).await?;
                let created = collections_with_items(&mut *tx, rows).await?;
                tx.commit().await?;
                created.into_iter().next().ok_or_else(|| StoreError::Missing("collection".into()))
            }

            async fn collection(&self, id: &str) -> StoreResult<Option<Collection>> {
                let sql = format!("SELECT {COLLECTION_COLS} {COLLECTION_FROM} WHERE c.id = $1");
                let rows = sqlx::query(&sql).bind(id).fetch_all(self.reader()).await?;
                Ok(collections_with_items(self.reader(), rows).await?.into_iter().next())
            }

            async fn collections(&self, audience: &Audience, after: Option<&str>, limit: i64) -> StoreResult<Vec<Collection>> {
                let mut b = SqlBuilder::new(&format!("SELECT {COLLECTION_COLS} {COLLECTION_FROM} WHERE 1 = 1"));
                match audience {
                    Audience::Anonymous => {
                        b.push(" AND c.visibility = 'public'");
                    }
                    Audience::Member { user_id } => {
                        let p = b.arg(Arg::Text(user_id.clone()));
                        b.push(&format!(
                            " AND (c.visibility = 'public' OR c.owner_id = {p} OR c.namespace IN (SELECT t.slug FROM teams t
                               JOIN team_members m ON m.team_id = t.id WHERE m.user_id = {p}))"
                        ));
                    }
                    Audience::Everyone => {}
                }
                if let Some(after) = after {
                    let p = b.arg(Arg::Text(after.to_owned()));
                    b.push(&format!(" AND c.id > {p}"));
                }
                let p = b.arg(Arg::Int(limit));
                b.push(&format!(" ORDER BY c.id LIMIT {p}"));
                let rows = bind_all(sqlx::query(&b.sql), b.args).fetch_all(self.reader()).await?;
                collections_with_items(self.reader(), rows).await
            }

            async fn replace_collection(&self, id: &str, content: &CollectionContent, at: Millis) -> StoreResult<bool> {
                let mut tx = self.writer().begin().await?;
                let done = sqlx::query(
                    "UPDATE collections SET name = $2, description = $3, visibility = $4, updated_at = $5 WHERE id = $1",
                )
                .bind(id)
                .bind(&content.name)
                .bind(&content.description)
                .bind(content.visibility.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                put_collection_items(&mut tx, id, &content.skill_ids).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn delete_collection(&self, id: &str) -> StoreResult<bool> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("DELETE FROM reviews WHERE target_type = 'collection' AND target_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM collections WHERE id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn create_review(
                &self,
                author_id: &str,
                (target, target_id): (ReviewTarget, &str),
                rating: ReviewRating,
                body: &str,
                at: Millis,
            ) -> StoreResult<Review> {
                let id = new_id();
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "INSERT INTO reviews (id, author_id, target_type, target_id, rating, body, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(&id)
                .bind(author_id)
                .bind(target.as_str())
                .bind(target_id)
                .bind(rating.as_str())
                .bind(body)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(|e| classify(e, "review", "user"))?;
                let sql = format!("SELECT {REVIEW_COLS} {REVIEW_FROM} WHERE r.id = $1");
                let row = sqlx::query(&sql).bind(&id).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                review_row(&row)
            }

            async fn review(&self, id: &str) -> StoreResult<Option<Review>> {
                let sql = format!("SELECT {REVIEW_COLS} {REVIEW_FROM} WHERE r.id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(review_row).transpose()
            }

            async fn reviews_of(
                &self,
                (target, target_id): (ReviewTarget, &str),
                before: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<Review>> {
                let mut b = SqlBuilder::new(&format!("SELECT {REVIEW_COLS} {REVIEW_FROM} WHERE r.target_type = "));
                let p = b.arg(Arg::Text(target.as_str().to_owned()));
                b.push(&p);
                let p = b.arg(Arg::Text(target_id.to_owned()));
                b.push(&format!(" AND r.target_id = {p}"));
                if let Some(before) = before {
                    let p = b.arg(Arg::Text(before.to_owned()));
                    b.push(&format!(" AND r.id < {p}"));
                }
                let p = b.arg(Arg::Int(limit));
                b.push(&format!(" ORDER BY r.id DESC LIMIT {p}"));
                let rows = bind_all(sqlx::query(&b.sql), b.args).fetch_all(self.reader()).await?;
                rows.iter().map(review_row).collect()
            }

            async fn update_review(&self, id: &str, rating: ReviewRating, body: &str, at: Millis) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE reviews SET rating = $2, body = $3, updated_at = $4 WHERE id = $1")
                    .bind(id)
                    .bind(rating.as_str())
                    .bind(body)
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_review(&self, id: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM reviews WHERE id = $1").bind(id).execute(self.writer()).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn create_wish(&self, new: &NewWish, at: Millis) -> StoreResult<Wish> {
                let id = new_id();
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "INSERT INTO wishes (id, author_id, namespace, title, body, tags, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&id)
                .bind(&new.author_id)
                .bind(new.namespace.as_ref().map(|n| n.as_str()))
                .bind(&new.title)
                .bind(&new.body)
                .bind(json_text(&new.tags))
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(|e| classify(e, "wish", "user"))?;
                for tag in &new.tags {
                    sqlx::query("INSERT INTO wish_tags (wish_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(&id)
                        .bind(tag)
                        .execute(&mut *tx)
                        .await?;
                }
                let sql = format!("SELECT {WISH_COLS} {WISH_FROM} WHERE w.id = $1");
                let row = sqlx::query(&sql).bind(&id).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                wish_row(&row)
            }

            async fn wish(&self, id: &str) -> StoreResult<Option<Wish>> {
                let sql = format!("SELECT {WISH_COLS} {WISH_FROM} WHERE w.id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(wish_row).transpose()
            }

            async fn wishes(&self, query: &WishQuery) -> StoreResult<Vec<Wish>> {
                let mut b = SqlBuilder::new(&format!("SELECT {WISH_COLS} {WISH_FROM} WHERE 1 = 1"));
                match &query.audience {
                    Audience::Anonymous => {
                        b.push(" AND w.namespace IS NULL");
                    }
                    Audience::Member { user_id } => {
                        let p = b.arg(Arg::Text(user_id.clone()));
                        b.push(&format!(
                            " AND (w.namespace IS NULL OR w.author_id = {p} OR w.namespace IN (SELECT t.slug FROM teams t
                               JOIN team_members m ON m.team_id = t.id WHERE m.user_id = {p}))"
                        ));
                    }
                    Audience::Everyone => {}
                }
                if let Some(status) = query.status {
                    let p = b.arg(Arg::Text(status.as_str().to_owned()));
                    b.push(&format!(" AND w.status = {p}"));
                }
                if let Some(namespace) = &query.namespace {
                    let p = b.arg(Arg::Text(namespace.as_str().to_owned()));
                    b.push(&format!(" AND w.namespace = {p}"));
                }
                if let Some(tag) = &query.tag {
                    let p = b.arg(Arg::Text(tag.clone()));
                    b.push(&format!(" AND EXISTS (SELECT 1 FROM wish_tags wt WHERE wt.wish_id = w.id AND wt.tag = {p})"));
                }
                if let Some(before) = &query.before {
                    let p = b.arg(Arg::Text(before.clone()));
                    b.push(&format!(" AND w.id < {p}"));
                }
                let p = b.arg(Arg::Int(query.limit));
                b.push(&format!(" ORDER BY w.id DESC LIMIT {p}"));
                let rows = bind_all(sqlx::query(&b.sql), b.args).fetch_all(self.reader()).await?;
                rows.iter().map(wish_row).collect()
            }

            async fn close_wish(&self, id: &str, by: &str, answer_skill_id: Option<&str>, at: Millis) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE wishes SET status = 'closed', closed_by = $2, answer = $3, closed_at = $4
                     WHERE id = $1 AND status = 'open'",
                )
                .bind(id)
                .bind(by)
                .bind(answer_skill_id)
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl ProjectStore for $store {
            async fn create_project(&self, p: &Project) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO projects (id, namespace, slug, name, description, git_remote, stack_tags, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&p.id)
                .bind(p.namespace.as_str())
                .bind(&p.slug)
                .bind(&p.name)
                .bind(&p.description)
                .bind(&p.git_remote)
                .bind(serde_json::to_string(&p.stack_tags).expect("tags serialize"))
                .bind(p.created_at)
                .bind(p.updated_at)
                .execute(self.writer())
                .await
                .map_err(|e| classify(e, "project", "namespace"))?;
                Ok(())
            }

            async fn projects(&self, namespace: &Namespace) -> StoreResult<Vec<(Project, i64)>> {
                let sql = format!(
                    "SELECT {PROJECT_COLS}, (SELECT COUNT(*) FROM project_items i WHERE i.project_id = projects.id) AS items
                     FROM projects WHERE namespace = $1 ORDER BY slug"
                );
                let rows = sqlx::query(&sql).bind(namespace.as_str()).fetch_all(self.reader()).await?;
                rows.iter().map(|r| Ok((project_row(r)?, r.try_get::<i64, _>("items")?))).collect()
            }

            async fn project(&self, namespace: &Namespace, slug: &str) -> StoreResult<Option<Project>> {
                let sql = format!("SELECT {PROJECT_COLS} FROM projects WHERE namespace = $1 AND slug = $2");
                let row = sqlx::query(&sql).bind(namespace.as_str()).bind(slug).fetch_optional(self.reader()).await?;
                row.as_ref().map(project_row).transpose()
            }

            async fn project_by_remote(&self, namespace: &Namespace, remote: &str) -> StoreResult<Option<Project>> {
                let sql = format!("SELECT {PROJECT_COLS} FROM projects WHERE namespace = $1 AND git_remote = $2");
                let row = sqlx::query(&sql).bind(namespace.as_str()).bind(remote).fetch_optional(self.reader()).await?;
                row.as_ref().map(project_row).transpose()
            }

            async fn update_project(&self, p: &Project) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE projects SET name = $2, description = $3, git_remote = $4, stack_tags = $5, updated_at = $6
                     WHERE id = $1",
                )
                .bind(&p.id)
                .bind(&p.name)
                .bind(&p.description)
                .bind(&p.git_remote)
                .bind(serde_json::to_string(&p.stack_tags).expect("tags serialize"))
                .bind(p.updated_at)
                .execute(self.writer())
                .await
                .map_err(|e| classify(e, "project", "project"))?;
                Ok(())
            }

            async fn delete_project(&self, namespace: &Namespace, slug: &str) -> StoreResult<bool> {
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "DELETE FROM project_items WHERE project_id IN
                         (SELECT id FROM projects WHERE namespace = $1 AND slug = $2)",
                )
                .bind(namespace.as_str())
                .bind(slug)
                .execute(&mut *tx)
                .await?;
                let done = sqlx::query("DELETE FROM projects WHERE namespace = $1 AND slug = $2")
                    .bind(namespace.as_str())
                    .bind(slug)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_project_items(&self, project_id: &str, items: &[ProjectItem]) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("DELETE FROM project_items WHERE project_id = $1").bind(project_id).execute(&mut *tx).await?;
                for item in items {
                    sqlx::query(
                        "INSERT INTO project_items (project_id, skill_slug, kind, position) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(project_id)
                    .bind(&item.skill_slug)
                    .bind(item.kind.as_str())
                    .bind(item.position)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn project_items(&self, project_id: &str) -> StoreResult<Vec<ProjectItem>> {
                let rows = sqlx::query(
                    "SELECT skill_slug, kind, position FROM project_items WHERE project_id = $1
                     ORDER BY position, skill_slug",
                )
                .bind(project_id)
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(ProjectItem {
                            skill_slug: r.try_get("skill_slug")?,
                            kind: parse_col(&r.try_get::<String, _>("kind")?)?,
                            position: r.try_get::<i64, _>("position")?,
                        })
                    })
                    .collect()
            }

            async fn set_project_plan(
                &self,
                project_id: &str,
                body: &str,
                sha256: &str,
                at: Millis,
            ) -> StoreResult<ProjectPlan> {
                let row = sqlx::query(
                    "UPDATE projects SET plan = $2, plan_sha256 = $3, plan_version = plan_version + 1,
                         plan_imported_at = $4, updated_at = $4
                     WHERE id = $1 RETURNING plan_version",
                )
                .bind(project_id)
                .bind(body)
                .bind(sha256)
                .bind(at)
                .fetch_optional(self.writer())
                .await?
                .ok_or_else(|| StoreError::Missing("project".into()))?;
                Ok(ProjectPlan {
                    body: body.to_owned(),
                    sha256: sha256.to_owned(),
                    version: row.try_get::<i64, _>("plan_version")?,
                    imported_at: at,
                })
            }

            async fn project_plan(&self, project_id: &str) -> StoreResult<Option<ProjectPlan>> {
                let row = sqlx::query(
                    "SELECT plan, plan_sha256, plan_version, plan_imported_at FROM projects WHERE id = $1",
                )
                .bind(project_id)
                .fetch_optional(self.reader())
                .await?;
                let Some(r) = row else { return Ok(None) };
                let body: Option<String> = r.try_get("plan")?;
                Ok(match body {
                    Some(body) => Some(ProjectPlan {
                        body,
                        sha256: r.try_get::<Option<String>, _>("plan_sha256")?.unwrap_or_default(),
                        version: r.try_get::<i64, _>("plan_version")?,
                        imported_at: r.try_get::<Option<i64>, _>("plan_imported_at")?.unwrap_or_default(),
                    }),
                    None => None,
                })
            }

            async fn set_stack_mappings(
                &self,
                namespace: &Namespace,
                mappings: &[(String, Vec<String>)],
            ) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("DELETE FROM stack_mappings WHERE namespace = $1")
                    .bind(namespace.as_str())
                    .execute(&mut *tx)
                    .await?;
                for (tag, slugs) in mappings {
                    for (position, slug) in slugs.iter().enumerate() {
                        sqlx::query(
                            "INSERT INTO stack_mappings (namespace, stack_tag, skill_slug, position) VALUES ($1, $2, $3, $4)",
                        )
                        .bind(namespace.as_str())
                        .bind(tag)
                        .bind(slug)
                        .bind(position as i64)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn stack_mappings(&self, namespace: &Namespace) -> StoreResult<Vec<(String, Vec<String>)>> {
                let rows = sqlx::query(
                    "SELECT stack_tag, skill_slug FROM stack_mappings WHERE namespace = $1 ORDER BY stack_tag, position",
                )
                .bind(namespace.as_str())
                .fetch_all(self.reader())
                .await?;
                let mut out: Vec<(String, Vec<String>)> = Vec::new();
                for r in &rows {
                    let (tag, slug): (String, String) = (r.try_get("stack_tag")?, r.try_get("skill_slug")?);
                    match out.last_mut() {
                        Some((t, slugs)) if *t == tag => slugs.push(slug),
                        _ => out.push((tag, vec![slug])),
                    }
                }
                Ok(out)
            }
        }

        #[async_trait]
        impl UsageStore for $store {
            async fn record_usage(
                &self,
                skill_id: &str,
                event: UsageEvent,
                counted: bool,
                at: Millis,
            ) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("INSERT INTO usage_events (id, skill_id, event, at) VALUES ($1, $2, $3, $4)")
                    .bind(new_id())
                    .bind(skill_id)
                    .bind(event.as_str())
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                if counted && event == UsageEvent::Download {
                    sqlx::query("UPDATE skills SET downloads = downloads + 1 WHERE id = $1")
                        .bind(skill_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn usage_by_skill(&self, namespace: &Namespace, since: Millis) -> StoreResult<Vec<SkillUsage>> {
                let rows = sqlx::query(
                    "SELECT e.skill_id,
                            SUM(CASE WHEN e.event = 'download' THEN 1 ELSE 0 END) AS downloads,
                            SUM(CASE WHEN e.event = 'view' THEN 1 ELSE 0 END) AS views
                     FROM usage_events e JOIN skills s ON s.id = e.skill_id
                     WHERE s.scope = $1 AND e.at >= $2
                     GROUP BY e.skill_id",
                )
                .bind(namespace.as_str())
                .bind(since)
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(SkillUsage {
                            skill_id: r.try_get("skill_id")?,
                            downloads: r.try_get::<i64, _>("downloads")?,
                            views: r.try_get::<i64, _>("views")?,
                        })
                    })
                    .collect()
            }

            async fn usage_by_day(&self, namespace: &Namespace, since: Millis) -> StoreResult<Vec<DayUsage>> {
                let rows = sqlx::query(
                    "SELECT e.at / 86400000 AS day,
                            SUM(CASE WHEN e.event = 'download' THEN 1 ELSE 0 END) AS downloads,
                            SUM(CASE WHEN e.event = 'view' THEN 1 ELSE 0 END) AS views,
                            COUNT(DISTINCT e.skill_id) AS skills
                     FROM usage_events e JOIN skills s ON s.id = e.skill_id
                     WHERE s.scope = $1 AND e.at >= $2
                     GROUP BY e.at / 86400000
                     ORDER BY day",
                )
                .bind(namespace.as_str())
                .bind(since)
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(DayUsage {
                            day: r.try_get::<i64, _>("day")?,
                            downloads: r.try_get::<i64, _>("downloads")?,
                            views: r.try_get::<i64, _>("views")?,
                            skills: r.try_get::<i64, _>("skills")?,
                        })
                    })
                    .collect()
            }

            async fn usage_totals(&self, namespace: &Namespace) -> StoreResult<Vec<UsageTotal>> {
                let rows = sqlx::query(
                    "SELECT s.id, COUNT(e.id) AS uses, MAX(e.at) AS last_used_at
                     FROM skills s LEFT JOIN usage_events e ON e.skill_id = s.id
                     WHERE s.scope = $1 AND s.deleted_at IS NULL
                     GROUP BY s.id",
                )
                .bind(namespace.as_str())
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(UsageTotal {
                            skill_id: r.try_get("id")?,
                            uses: r.try_get::<i64, _>("uses")?,
                            last_used_at: r.try_get("last_used_at")?,
                        })
                    })
                    .collect()
            }
        }

        const SOURCE_COLS: &str = "id, name, namespace, kind, location, interval_secs, visibility, mirror, credentials, \
            notify_hash, token_id, created_by, created_at, next_run_at, lease_until, status";
        const SOURCE_TAG_COLS: &str = "source_id, repository, tag, digest, outcome, detail, skill, version, seen_at";

        fn source_row(r: &DbRow) -> StoreResult<$crate::store::SourceRow> {
            Ok($crate::store::SourceRow {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                namespace: parse_col(&r.try_get::<String, _>("namespace")?)?,
                kind: r.try_get("kind")?,
                location: r.try_get("location")?,
                interval_secs: r.try_get("interval_secs")?,
                visibility: parse_col(&r.try_get::<String, _>("visibility")?)?,
                mirror: r.try_get("mirror")?,
                credentials: r.try_get("credentials")?,
                notify_hash: r.try_get("notify_hash")?,
                token_id: r.try_get("token_id")?,
                created_by: r.try_get("created_by")?,
                created_at: r.try_get("created_at")?,
                next_run_at: r.try_get("next_run_at")?,
                lease_until: r.try_get("lease_until")?,
                status: r.try_get("status")?,
            })
        }

        fn source_tag_row(r: &DbRow) -> StoreResult<$crate::store::SourceTag> {
            Ok($crate::store::SourceTag {
                source_id: r.try_get("source_id")?,
                repository: r.try_get("repository")?,
                tag: r.try_get("tag")?,
                digest: r.try_get("digest")?,
                outcome: r.try_get("outcome")?,
                detail: r.try_get("detail")?,
                skill: r.try_get("skill")?,
                version: r.try_get("version")?,
                seen_at: r.try_get("seen_at")?,
            })
        }

        #[async_trait]
        impl $crate::store::SourceStore for $store {
            async fn create_source(&self, s: &$crate::store::SourceRow) -> StoreResult<()> {
                sqlx::query(&format!(
                    "INSERT INTO sources ({SOURCE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                ))
                .bind(&s.id)
                .bind(&s.name)
                .bind(s.namespace.as_str())
                .bind(&s.kind)
                .bind(&s.location)
                .bind(s.interval_secs)
                .bind(s.visibility.as_str())
                .bind(s.mirror)
                .bind(&s.credentials)
                .bind(&s.notify_hash)
                .bind(&s.token_id)
                .bind(&s.created_by)
                .bind(s.created_at)
                .bind(s.next_run_at)
                .bind(s.lease_until)
                .bind(&s.status)
                .execute(self.writer())
                .await
                .map_err(|e| classify(e, &format!("a source named `{}` exists", s.name), "no such token"))?;
                Ok(())
            }

            async fn sources(&self) -> StoreResult<Vec<$crate::store::SourceRow>> {
                let rows = sqlx::query(&format!("SELECT {SOURCE_COLS} FROM sources ORDER BY name"))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(source_row).collect()
            }

            async fn source_by_name(&self, name: &str) -> StoreResult<Option<$crate::store::SourceRow>> {
                let row = sqlx::query(&format!("SELECT {SOURCE_COLS} FROM sources WHERE name = $1"))
                    .bind(name)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(source_row).transpose()
            }

            async fn delete_source(&self, id: &str) -> StoreResult<bool> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("DELETE FROM source_tags WHERE source_id = $1").bind(id).execute(&mut *tx).await?;
                let done = sqlx::query("DELETE FROM sources WHERE id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn due_sources(&self, now: Millis) -> StoreResult<Vec<$crate::store::SourceRow>> {
                let rows = sqlx::query(&format!(
                    "SELECT {SOURCE_COLS} FROM sources
                     WHERE next_run_at <= $1 AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_run_at"
                ))
                .bind(now)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(source_row).collect()
            }

            async fn claim_source(&self, id: &str, now: Millis, lease_until: Millis, due_only: bool) -> StoreResult<bool> {
                let done = sqlx::query(
                    // Not due while held: a run asked for meanwhile moves `next_run_at` earlier.
                    "UPDATE sources SET lease_until = $3, next_run_at = $3
                     WHERE id = $1 AND (lease_until IS NULL OR lease_until < $2) AND (NOT $4 OR next_run_at <= $2)",
                )
                .bind(id)
                .bind(now)
                .bind(lease_until)
                .bind(due_only)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn finish_source(&self, id: &str, lease: Millis, status: &str, next_run_at: Millis) -> StoreResult<bool> {
                // A run asked for while this one ran (`source_due_now`) keeps its earlier time.
                let done = sqlx::query(
                    "UPDATE sources SET lease_until = NULL, status = $3,
                        next_run_at = CASE WHEN next_run_at < $2 THEN next_run_at ELSE $4 END
                     WHERE id = $1 AND lease_until = $2",
                )
                .bind(id)
                .bind(lease)
                .bind(status)
                .bind(next_run_at)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn source_due_now(&self, id: &str, now: Millis) -> StoreResult<()> {
                sqlx::query("UPDATE sources SET next_run_at = $2 WHERE id = $1 AND next_run_at > $2")
                    .bind(id)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn source_tag(&self, source_id: &str, repository: &str, tag: &str) -> StoreResult<Option<$crate::store::SourceTag>> {
                let row = sqlx::query(&format!(
                    "SELECT {SOURCE_TAG_COLS} FROM source_tags WHERE source_id = $1 AND repository = $2 AND tag = $3"
                ))
                .bind(source_id)
                .bind(repository)
                .bind(tag)
                .fetch_optional(self.reader())
                .await?;
                row.as_ref().map(source_tag_row).transpose()
            }

            async fn put_source_tag(&self, t: &$crate::store::SourceTag) -> StoreResult<()> {
                sqlx::query(&format!(
                    "INSERT INTO source_tags ({SOURCE_TAG_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (source_id, repository, tag) DO UPDATE SET digest = $4, outcome = $5, detail = $6,
                        skill = $7, version = $8, seen_at = $9"
                ))
                .bind(&t.source_id)
                .bind(&t.repository)
                .bind(&t.tag)
                .bind(&t.digest)
                .bind(&t.outcome)
                .bind(&t.detail)
                .bind(&t.skill)
                .bind(&t.version)
                .bind(t.seen_at)
                .execute(self.writer())
                .await
                .map_err(|e| classify(e, "tag recorded twice", "the source was removed"))?;
                Ok(())
            }

            async fn source_tag_counts(&self, source_id: &str) -> StoreResult<Vec<(String, i64)>> {
                let rows = sqlx::query(
                    "SELECT outcome, COUNT(*) AS n FROM source_tags WHERE source_id = $1 GROUP BY outcome ORDER BY outcome",
                )
                .bind(source_id)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(|r| Ok((r.try_get("outcome")?, r.try_get("n")?))).collect()
            }

            async fn source_problems(&self, source_id: &str, limit: i64) -> StoreResult<Vec<$crate::store::SourceTag>> {
                let rows = sqlx::query(&format!(
                    "SELECT {SOURCE_TAG_COLS} FROM source_tags WHERE source_id = $1 AND outcome IN ('failed', 'moved')
                     ORDER BY seen_at DESC, repository, tag LIMIT $2"
                ))
                .bind(source_id)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(source_tag_row).collect()
            }
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn append_audit(&self, entry: &NewAudit, at: Millis) -> StoreResult<()> {
                sqlx::query("INSERT INTO audit_log (id, at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(new_id())
                    .bind(at)
                    .bind(&entry.actor)
                    .bind(&entry.action)
                    .bind(&entry.target)
                    .bind(entry.detail.to_string())
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn audit_log(&self, before: Option<&str>, limit: i64) -> StoreResult<Vec<AuditEntry>> {
                let mut b = SqlBuilder::new("SELECT id, at, actor, action, target, detail FROM audit_log");
                if let Some(before) = before {
                    let p = b.arg(Arg::Text(before.to_owned()));
                    b.push(&format!(" WHERE id < {p}"));
                }
                let p = b.arg(Arg::Int(limit));
                b.push(&format!(" ORDER BY id DESC LIMIT {p}"));
                let rows = bind_all(sqlx::query(&b.sql), b.args).fetch_all(self.reader()).await?;
                rows.iter()
                    .map(|r| {
                        Ok(AuditEntry {
                            id: r.try_get("id")?,
                            at: r.try_get("at")?,
                            actor: r.try_get("actor")?,
                            action: r.try_get("action")?,
                            target: r.try_get("target")?,
                            detail: json_col(&r.try_get::<String, _>("detail")?, "audit_log.detail")?,
                        })
                    })
                    .collect()
            }
        }

        impl $store {
            /// Applies the numbered migrations this binary carries that the database lacks.
            async fn migrate(&self) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                if let Some(lock) = Self::MIGRATION_LOCK {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS skilldex_migrations (
                        version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                )
                .execute(&mut *tx)
                .await?;
                let rows = sqlx::query("SELECT version FROM skilldex_migrations").fetch_all(&mut *tx).await?;
                let applied: Vec<i64> = rows.iter().map(|r| r.try_get("version")).collect::<Result<_, _>>()?;
                for m in Self::MIGRATIONS {
                    if applied.contains(&m.version) {
                        continue;
                    }
                    tracing::info!(version = m.version, name = m.name, backend = Self::BACKEND, "applying migration");
                    sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO skilldex_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                        .bind(m.version)
                        .bind(m.name)
                        .bind($crate::domain::now_millis())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
