//! The embedded default: one SQLite file. Writes go through a single connection so that
//! transactions never race to upgrade their locks; reads use a small pool (WAL mode).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::sql::SearchSql;
use super::{Migration, WriteMarks};

pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    marks: Arc<WriteMarks>,
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";
    const MIGRATION_LOCK: Option<&'static str> = None;
    pub(crate) const MIGRATIONS: &'static [Migration] = &[
        Migration { version: 1, name: "init", sql: include_str!("../../migrations/sqlite/0001_init.sql") },
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
            sql: include_str!("../../migrations/sqlite/0007_publish_claims.sql"),
        },
        Migration {
            version: 8,
            name: "skill_changes",
            sql: include_str!("../../migrations/sqlite/0008_skill_changes.sql"),
        },
        Migration { version: 9, name: "site", sql: include_str!("../../migrations/sqlite/0009_site.sql") },
        Migration {
            version: 10,
            name: "uploads_for_new_skills",
            sql: include_str!("../../migrations/sqlite/0010_uploads_for_new_skills.sql"),
        },
        Migration {
            version: 11,
            name: "skill_kind_archived",
            sql: include_str!("../../migrations/sqlite/0011_skill_kind_archived.sql"),
        },
        Migration {
            version: 12,
            name: "usage_events",
            sql: include_str!("../../migrations/shared/0012_usage_events.sql"),
        },
        Migration { version: 13, name: "drafts", sql: include_str!("../../migrations/sqlite/0013_drafts.sql") },
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

    /// Opens (creating if needed) the database at a `sqlite://PATH` URL and migrates it.
    pub async fn connect(url: &str) -> Result<Self, super::StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let marks = Arc::new(WriteMarks::default());
        let (connected, acquired, released) = (marks.clone(), marks.clone(), marks.clone());
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            // Counted writes: a connection is counted out when handed to a writer (new or
            // idle) and back in when returned. One never retired by age keeps them even.
            .max_lifetime(None)
            .after_connect(move |_, _| {
                connected.begin();
                Box::pin(async { Ok(()) })
            })
            .before_acquire(move |_, _| {
                acquired.begin();
                Box::pin(async { Ok(true) })
            })
            .after_release(move |conn, _| {
                let released = released.clone();
                Box::pin(async move {
                    // A write cancelled mid-flight may still have its COMMIT queued on the
                    // connection: it is counted as ended only once the connection answers.
                    sqlx::Connection::ping(conn).await?;
                    released.end();
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new().max_connections(8).connect_with(options.read_only(true)).await?;
        let store = Self { read, write, marks };
        store.migrate().await?;
        Ok(store)
    }

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    fn writer(&self) -> &SqlitePool {
        &self.write
    }

    fn marks(&self) -> Option<&WriteMarks> {
        Some(&self.marks)
    }

    fn search_sql(p: &str, terms: &[String]) -> SearchSql {
        SearchSql {
            join: "JOIN skills_fts ON skills_fts.rowid = s.rowid".into(),
            filter: format!("skills_fts MATCH {p}"),
            // bm25 is lower-is-better; negate so every backend ranks higher-is-better.
            // Column weights: name, display name, tags, description, README.
            rank: "(-bm25(skills_fts, 10.0, 8.0, 5.0, 3.0, 1.0))".into(),
            arg: terms.iter().map(|t| format!("\"{t}\"*")).collect::<Vec<_>>().join(" "),
        }
    }
}

impl_sql_store!(SqliteStore, sqlx::Sqlite);
