//! Faults injected into every dependency of a running `skilldex serve`: the database
//! restarted under load, the backing registry stopped mid-push and mid-pull, a disk that
//! fills, a webhook receiver that never answers, and the process killed while it updates its
//! search index. Each test asserts a clear error while the fault lasts, recovery afterwards
//! without a restart (where the process lives on), and that nothing acknowledged is lost.
//! (Redis stopping under shared rate limits is in `e2e/limits.rs`.)
//!
//! A test binary of its own: restarting the machine's PostgreSQL would break the tests of
//! other binaries, and `cargo test` runs one test binary at a time.

#[allow(dead_code, unused_macros, unused_imports)]
#[path = "../common.rs"]
mod common;
#[allow(dead_code)]
#[path = "../registry.rs"]
mod registry;

mod database;
mod disk;
mod index;
mod net;
mod registry_outage;
mod webhooks;
