//! End-to-end tests: the real `skilldex` binary, started as a user would start it, driven by
//! its own CLI, raw HTTP and real peers (a CNCF distribution registry, skopeo), on SQLite and
//! PostgreSQL.

mod api_fuzz;
mod cli;
mod common;
mod embedded;
mod foundation;
mod gate;
mod limits;
mod mcp;
mod npm;
mod publish;
mod referrers;
mod registry;
mod signatures;
mod skill_pool;
mod sources;
mod toolhive;
mod transfer;
mod web;
