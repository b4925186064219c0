//! salve: run vetted IT-support remediation actions in a WebAssembly sandbox.
//!
//! An action is a WebAssembly component plus a manifest (`action.toml`) that
//! declares the capabilities it needs. This library loads a [`Package`],
//! checks the component against its manifest before any of its code runs,
//! and invokes it in a fresh instance with exactly the capabilities it is
//! granted, under hard limits on time, memory and output:
//!
//! ```no_run
//! use salve::{Grant, Package, Runtime, RuntimeConfig};
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let package = Package::open("actions/system-report")?;
//! let action = runtime.load(&package)?;
//! let grant = Grant::declared(package.manifest().capabilities.here());
//! let invocation = runtime.invoke(&action, &grant, "{}")?;
//! println!("{}: {:?}", invocation.outcome.code(), invocation.outcome.output());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Pure modules ([`capability`], [`manifest`], [`limits`], [`grant`]) have no
//! wasmtime or I/O; wasmtime lives in the engine, host implementations of the
//! capabilities in [`host`].
//!
//! # Features
//!
//! - `endpoint` (default): the workflow around the sandbox — sessions,
//!   escalations, the Cedar policy, signed requests and identities, vetting
//!   and trust, the SQLite state store, the audit log, and the
//!   [`endpoint::Endpoint`] that ties them together. Without it the crate is
//!   the sandbox alone ([`Runtime`], [`Package`], [`Grant`], the manifest and
//!   capability model, the [`catalog`]), with no SQLite, Cedar or ed25519.

#[cfg(feature = "endpoint")]
pub mod api;
#[cfg(feature = "endpoint")]
pub mod audit;
mod bindings;
pub mod capability;
pub mod catalog;
#[cfg(feature = "endpoint")]
pub mod clock;
#[cfg(feature = "endpoint")]
pub mod decision;
pub mod digest;
#[cfg(feature = "endpoint")]
pub mod endpoint;
mod engine;
#[cfg(feature = "endpoint")]
pub mod escalation;
pub mod file_error;
#[cfg(feature = "endpoint")]
pub mod fleet;
pub mod grant;
pub mod host;
#[cfg(feature = "endpoint")]
pub mod identity;
pub mod limits;
pub mod manifest;
mod os;
pub mod outcome;
pub mod package;
#[cfg(feature = "endpoint")]
pub mod policy;
#[cfg(feature = "endpoint")]
pub mod random;
#[cfg(feature = "endpoint")]
pub mod replay;
#[cfg(feature = "endpoint")]
pub mod session;
#[cfg(feature = "endpoint")]
pub mod source;
#[cfg(feature = "endpoint")]
pub mod store;
pub mod text;
#[cfg(feature = "endpoint")]
pub mod vetting;

pub use capability::{
    Capabilities, Capability, CapabilityClass, CapabilityNames, DeclaredCapabilities, Os,
};
pub use digest::Sha256Digest;
pub use engine::{
    BASE_WASI, CANCEL_CHECK, CacheDirError, CacheSource, Cancellation, Cancelled, EPOCH_TICK,
    ForbiddenImport, ImportKind, InvokeError, LoadError, LoadedAction, MemoryLimitExceeded,
    Reservation, Runtime, RuntimeConfig, RuntimeError, Sandbox, classify_import,
};
pub use file_error::FileError;
pub use grant::{Grant, GrantSpec, GrantSpecError};
pub use limits::{Limits, ManifestLimits, RuntimeLimits};
pub use manifest::{ActionId, Manifest, ManifestError};
pub use outcome::{Invocation, Outcome, StopReason};
pub use package::{Package, PackageError};
