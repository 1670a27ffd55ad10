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
    #[cfg(not(target_env = "msvc"))]
    skilldex::telemetry::set_heap_reader(heap);
    match cli.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(skilldex::cli::exit_of(&e) as u8)
        }
    }
}

/// jemalloc's counters, refreshed first (they are cached until the epoch advances).
#[cfg(not(target_env = "msvc"))]
fn heap() -> Option<skilldex::telemetry::HeapStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(skilldex::telemetry::HeapStats {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}
