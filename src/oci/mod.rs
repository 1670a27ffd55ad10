//! OCI artifacts: the layouts skilldex writes and reads, and registry access.

pub mod copy;
pub mod egress;
pub mod fetch;
pub mod layout;
pub mod layout_dir;
pub mod outbound;
pub mod registry;
pub mod signatures;
pub mod store;

pub use fetch::{ArtifactSink, ArtifactSource, FetchError, Fetched, fetch_bundle};
pub use layout::{Artifact, Identity, LayoutKind};
pub use registry::{CredentialSource, Credentials, OciError, Registries, parse_reference};
