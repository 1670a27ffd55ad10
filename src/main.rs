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
    #[cfg(target_os = "linux")]
    return_freed_memory_sooner();
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

/// Freed pages go back to the system about a second after a burst ends, not jemalloc's
/// default ten, so what a server holds right after a load is close to what it holds at rest.
/// Set for the arenas that exist and as the default of those made later.
#[cfg(target_os = "linux")]
fn return_freed_memory_sooner() {
    use tikv_jemalloc_ctl::{Access, AsName};
    const DECAY_MS: isize = 1000;
    let set = |key: String| format!("{key}\0").as_bytes().name().write(DECAY_MS);
    for kind in ["dirty", "muzzy"] {
        if let Err(e) = set(format!("arenas.{kind}_decay_ms")) {
            eprintln!("warning: the allocator keeps freed memory for its default time: {e}");
            return;
        }
        let made = tikv_jemalloc_ctl::arenas::narenas::read().unwrap_or(0);
        for arena in 0..made {
            // An arena not used yet takes the default when it is.
            let _ = set(format!("arena.{arena}.{kind}_decay_ms"));
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
