//! `skilldex export` and `skilldex import`: moving skills between sites that share no network.

use anyhow::Context as _;
use serde_json::{Value, json};

use super::output::{Out, note, warn};
use super::{Client, RemoteArgs};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// `namespace/name` (every released version) or `namespace/name@version|range|channel`;
    /// what their versions require comes along.
    #[arg(required = true)]
    pub skills: Vec<String>,
    /// The bundle to write (a tar); never overwritten.
    #[arg(short, long)]
    pub output: std::path::PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// A bundle `skilldex export` wrote.
    pub bundle: std::path::PathBuf,
}

pub async fn export(args: ExportArgs, out: Out) -> anyhow::Result<()> {
    let client = Client::new(&args.remote)?;
    // Refused before asking the server, so nothing is lost to a typo.
    let mut file =
        tokio::fs::OpenOptions::new().write(true).create_new(true).open(&args.output).await.with_context(|| {
            format!("cannot create {} (an existing file is never overwritten)", args.output.display())
        })?;
    let written = client.post_to_file("/api/v1/export", &json!({"skills": args.skills}), &mut file).await;
    let (bytes, note_header) = match written {
        Ok(done) => done,
        Err(e) => {
            drop(file);
            let _ = std::fs::remove_file(&args.output);
            return Err(e);
        }
    };
    let summary = json!({"output": args.output, "bytes": bytes, "summary": note_header});
    out.show(&summary, |_| note(format!("wrote {} ({bytes} bytes; {note_header})", args.output.display())))
}

pub async fn import(args: ImportArgs, out: Out) -> anyhow::Result<()> {
    let client = Client::new(&args.remote)?;
    let file =
        tokio::fs::File::open(&args.bundle).await.with_context(|| format!("cannot read {}", args.bundle.display()))?;
    let summary: Value = client.post_file("/api/v1/import", "application/x-tar", file).await?;
    out.show(&summary, |s| {
        note(format!(
            "imported {} versions of {} skills ({} already here, {} bytes stored)",
            s["imported"], s["skills"], s["unchanged"], s["bytes"]
        ));
        for team in s["teamsCreated"].as_array().into_iter().flatten() {
            warn(format!(
                "created team {} for the namespace it owns; add its members",
                team.as_str().unwrap_or_default()
            ));
        }
    })
}
