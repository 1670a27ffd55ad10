use std::process::ExitCode;

use clap::Parser;

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = skilldex::cli::Cli::parse();
    // Freed memory goes back to the system from a background thread, not only when the
    // process allocates again: a server idle after a burst shrinks (jemalloc has such
    // threads on Linux only).
    #[cfg(target_os = "linux")]
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!("warning: the allocator's background thread did not start: {e}");
    }
    match cli.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(skilldex::cli::exit_of(&e) as u8)
        }
    }
}
