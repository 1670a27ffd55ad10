//! skilldex: a registry for AI-agent skills. The index (this crate's `store`) holds
//! namespaces, skills, versions and channels; the bytes live as OCI artifacts.

pub mod api;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod domain;
#[cfg(feature = "test-util")]
#[doc(hidden)]
pub mod fuzzing;
pub mod oci;
pub mod oidc;
pub mod policy;
pub mod ratelimit;
pub mod secrets;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod web;
