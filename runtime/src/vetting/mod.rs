//! The vetted catalog: which packages an endpoint installs and runs.
//!
//! A package is vetted when enough keys the endpoint trusts have signed its
//! manifest ([`signature`], [`trust`]); the manifest carries the
//! component's sha256, so the signatures cover the code too. The installed
//! packages, the highest version ever trusted for each action (rollback
//! protection) and the revocations live in the catalog store
//! ([`installed`]); revocation lists signed by a vetting key can be imported
//! ([`revocation`]).

pub mod installed;
pub mod revocation;
pub mod signature;
pub mod trust;

pub use installed::{CatalogStore, InstallError, Installed, Loadable};
pub use revocation::{Revocation, RevocationList, Revoked};
pub use signature::{PackageSignature, Role, SignatureError, Signatures};
pub use trust::{TrustConfig, Vetted, VettingError};
