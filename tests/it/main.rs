//! In-process tests of the index and its native API, on SQLite and PostgreSQL.

mod common;

mod api_accounts;
mod api_skills;
mod artifact_types;
mod authz_matrix;
mod bad_input;
mod first_version;
mod fuzz_regressions;
mod npm_search;
mod oci_store;
mod ops;
mod outage;
mod policies;
mod publish_paths;
mod rate_limits;
mod registry_gate;
mod requires;
mod search;
mod skill_pool;
mod skill_pool_inbox;
mod skill_pool_projects;
mod skillsmgr;
mod store;
mod toolhive;
mod visibility;
mod web;
