//! In-process tests of the index and its native API, on SQLite and PostgreSQL.

mod common;

mod api_accounts;
mod api_skills;
mod authz_matrix;
mod bad_input;
mod ops;
mod store;
