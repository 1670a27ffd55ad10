//! `skilldex gc`: remove blobs of the embedded store that nothing references.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::Secret;
use crate::oci::store::{EmbeddedStore, UPLOAD_TTL};

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// The server's data directory.
    #[arg(long, env = "SKILLDEX_DATA_DIR", default_value = "./skilldex-data")]
    pub data_dir: PathBuf,
    /// The index database (default: the data directory's SQLite file).
    #[arg(long, env = "SKILLDEX_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Keep blobs linked or written more recently than this many minutes (uploads in flight).
    #[arg(long, default_value_t = UPLOAD_TTL.as_secs() / 60)]
    pub grace_minutes: u64,
}

pub async fn run(args: GcArgs) -> anyhow::Result<()> {
    let url = args
        .database_url
        .map(|u| u.expose().to_owned())
        .unwrap_or_else(|| crate::config::default_sqlite_url(&args.data_dir));
    let store = crate::store::connect(&url).await.context("cannot open the index database")?;
    let embedded = EmbeddedStore::open(&args.data_dir.join("oci"), store)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the embedded OCI store: {e}"))?;
    let swept = embedded
        .sweep_uploads(Duration::from_secs(args.grace_minutes * 60))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (removed, freed) =
        embedded.gc(Duration::from_secs(args.grace_minutes * 60)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("removed {removed} unreferenced blobs ({freed} bytes) and {swept} abandoned upload files");
    Ok(())
}
