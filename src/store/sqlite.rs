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
    pub(crate) const MIGRATIONS: &'static [Migration] = super::migrations!("sqlite");

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
            // Not `connect_with`: its test connection is released without `after_release`,
            // which would leave one write counted as under way for good.
            .connect_lazy_with(options.clone());
        // Creates the file (the readers open it read-only) through a counted connection.
        drop(write.acquire().await?);
        let read = SqlitePoolOptions::new().max_connections(8).connect_with(options.read_only(true)).await?;
        let store = Self { read, write, marks };
        store.migrate().await?;
        Ok(store)
    }

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    /// The one connection every write goes through, taken with `acquire` or `begin` (never
    /// `try_acquire`, which skips the hook that counts a write as begun).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// Waits for the write counts to settle (a connection is returned by a spawned task).
    async fn settled(store: &SqliteStore) -> Option<u64> {
        for _ in 0..100 {
            if let Some(n) = store.marks.quiet() {
                return Some(n);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    #[tokio::test]
    async fn a_store_with_no_write_under_way_says_so_and_counts_each_write() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let before = settled(&store).await.expect("a freshly opened store has no write under way");

        let held = store.writer().acquire().await.unwrap();
        assert_eq!(store.marks.quiet(), None, "a write is under way while its connection is out");
        drop(held);
        let after_one = settled(&store).await.expect("the write ended");
        assert!(after_one > before, "the write was counted");

        store.url_key("k").await.unwrap();
        let after_two = settled(&store).await.expect("the store's own write ended");
        assert!(after_two > after_one, "a write through the store is counted too");
        assert_eq!(store.write_marks().and_then(WriteMarks::quiet), Some(after_two));
    }
}
