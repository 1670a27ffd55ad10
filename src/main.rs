use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: the server's threads (request workers, the
/// embedding model's) each churn through large buffers, and glibc's per-thread arenas keep
/// much of that memory long after it is freed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = skilldex::cli::Cli::parse();
    match cli.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
