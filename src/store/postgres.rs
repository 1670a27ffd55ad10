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
    pub(crate) const MIGRATIONS: &'static [Migration] = super::migrations!("postgres");

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
