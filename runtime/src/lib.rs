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
//! let grant = Grant::declared(&package.manifest().capabilities);
//! let invocation = runtime.invoke(&action, &grant, "{}")?;
//! println!("{}: {:?}", invocation.outcome.code(), invocation.outcome.output());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Pure modules ([`capability`], [`manifest`], [`limits`], [`grant`]) have no
//! wasmtime or I/O; wasmtime lives in the engine, host implementations of the
//! capabilities in [`host`].

pub mod audit;
pub mod capability;
pub mod catalog;
pub mod clock;
pub mod decision;
pub mod digest;
pub mod endpoint;
mod engine;
pub mod escalation;
pub mod file_error;
pub mod grant;
pub mod host;
pub mod identity;
pub mod limits;
pub mod manifest;
pub mod outcome;
pub mod package;
pub mod policy;
pub mod replay;
pub mod session;
pub mod store;
pub mod text;
pub mod vetting;

pub use capability::{Capabilities, Capability, CapabilityClass, CapabilityNames};
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
