//! The scale-out backend: PostgreSQL, shared by every replica.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::Migration;
use super::sql::SearchSql;

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    const BACKEND: &'static str = "postgres";
    /// Replicas starting together migrate one at a time.
    const MIGRATION_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(5453243)");
    pub(crate) const MIGRATIONS: &'static [Migration] = &[
        Migration { version: 1, name: "init", sql: include_str!("../../migrations/postgres/0001_init.sql") },
        Migration {
            version: 2,
            name: "artifact_details",
            sql: include_str!("../../migrations/shared/0002_artifact_details.sql"),
        },
        Migration { version: 3, name: "uploads", sql: include_str!("../../migrations/shared/0003_uploads.sql") },
        Migration { version: 4, name: "oci_store", sql: include_str!("../../migrations/shared/0004_oci_store.sql") },
        Migration { version: 5, name: "npm_dists", sql: include_str!("../../migrations/shared/0005_npm_dists.sql") },
        Migration {
            version: 6,
            name: "upload_claims",
            sql: include_str!("../../migrations/shared/0006_upload_claims.sql"),
        },
        Migration {
            version: 7,
            name: "publish_claims",
            sql: include_str!("../../migrations/postgres/0007_publish_claims.sql"),
        },
        Migration {
            version: 8,
            name: "skill_changes",
            sql: include_str!("../../migrations/postgres/0008_skill_changes.sql"),
        },
        Migration { version: 9, name: "site", sql: include_str!("../../migrations/postgres/0009_site.sql") },
        Migration {
            version: 10,
            name: "uploads_for_new_skills",
            sql: include_str!("../../migrations/postgres/0010_uploads_for_new_skills.sql"),
        },
        Migration {
            version: 11,
            name: "skill_kind_archived",
            sql: include_str!("../../migrations/postgres/0011_skill_kind_archived.sql"),
        },
        Migration {
            version: 12,
            name: "usage_events",
            sql: include_str!("../../migrations/shared/0012_usage_events.sql"),
        },
        Migration { version: 13, name: "drafts", sql: include_str!("../../migrations/postgres/0013_drafts.sql") },
        Migration { version: 14, name: "webhooks", sql: include_str!("../../migrations/shared/0014_webhooks.sql") },
        Migration { version: 15, name: "projects", sql: include_str!("../../migrations/shared/0015_projects.sql") },
        Migration {
            version: 16,
            name: "version_requires",
            sql: include_str!("../../migrations/shared/0016_version_requires.sql"),
        },
        Migration { version: 17, name: "url_key", sql: include_str!("../../migrations/shared/0017_url_key.sql") },
        Migration { version: 18, name: "agents", sql: include_str!("../../migrations/shared/0018_agents.sql") },
        Migration { version: 19, name: "reviews", sql: include_str!("../../migrations/shared/0019_reviews.sql") },
        Migration {
            version: 20,
            name: "token_rate_limits",
            sql: include_str!("../../migrations/shared/0020_token_rate_limits.sql"),
        },
        Migration {
            version: 21,
            name: "web_sessions",
            sql: include_str!("../../migrations/shared/0021_web_sessions.sql"),
        },
        Migration {
            version: 22,
            name: "published_listings",
            sql: include_str!("../../migrations/shared/0022_published_listings.sql"),
        },
        Migration { version: 23, name: "oidc", sql: include_str!("../../migrations/shared/0023_oidc.sql") },
        Migration { version: 24, name: "theme", sql: include_str!("../../migrations/shared/0024_theme.sql") },
        Migration { version: 25, name: "key_check", sql: include_str!("../../migrations/shared/0025_key_check.sql") },
    ];

    pub async fn connect(url: &str) -> Result<Self, super::StoreError> {
        let pool =
            PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(5)).connect(url).await?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// Reads and writes share the pool, so its traffic says nothing about writes.
    fn marks(&self) -> Option<&super::WriteMarks> {
        None
    }

    fn search_sql(p: &str, terms: &[String]) -> SearchSql {
        SearchSql {
            join: String::new(),
            filter: format!("s.search @@ to_tsquery('english', {p})"),
            rank: format!("ts_rank(s.search, to_tsquery('english', {p}))::float8"),
            arg: terms.iter().map(|t| format!("{t}:*")).collect::<Vec<_>>().join(" & "),
        }
    }
}

impl_sql_store!(PostgresStore, sqlx::Postgres);
