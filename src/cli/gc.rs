//! `skilldex gc`: remove blobs of the embedded store that nothing references.

use std::time::Duration;

use crate::config::DataArgs;
use crate::oci::store::{EmbeddedStore, UPLOAD_TTL};

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Keep blobs linked or written more recently than this many minutes (uploads in flight).
    #[arg(long, default_value_t = UPLOAD_TTL.as_secs() / 60)]
    pub grace_minutes: u64,
}

pub async fn run(args: GcArgs) -> anyhow::Result<()> {
    let store = args.data.open_store().await?;
    let embedded = EmbeddedStore::open(&args.data.data_dir.join("oci"), store)
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
