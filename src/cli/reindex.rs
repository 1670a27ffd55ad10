//! `skilldex reindex`: rebuild the search index (and the skill vectors) from the database.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::DataArgs;
use crate::service::Index;

#[derive(Debug, clap::Args)]
pub struct ReindexArgs {
    /// The data directory and database (the index is kept in the data directory's `search/`).
    #[command(flatten)]
    pub data: DataArgs,
    /// Compute every skill's vector with this embedding model too (as `serve --embedding-model`).
    #[arg(long, env = "SKILLDEX_EMBEDDING_MODEL", value_name = "DIR")]
    pub embedding_model: Option<PathBuf>,
}

pub async fn run(args: ReindexArgs) -> anyhow::Result<()> {
    let store = args.data.open_store().await?;
    // The server holds the index while it runs: refuse rather than fight over it.
    let engine = super::serve::search_engine(&args.data.data_dir, args.embedding_model.as_deref(), false)
        .context("stop the server using this data directory first (it rebuilds a stale index itself on start)")?;
    let index = Index::new(store).with_search(engine);
    let started = std::time::Instant::now();
    let skills = index.rebuild_search().await?;
    let engine = index.search_engine().expect("set above");
    if let Some(semantic) = engine.semantic() {
        while semantic.pending() > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::task::spawn_blocking(move || engine.flush()).await?;
    println!("search index rebuilt: {skills} skills in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
