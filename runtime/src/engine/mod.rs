//! The WebAssembly engine: the only module that uses wasmtime.
//!
//! A [`Runtime`] owns one wasmtime engine (create one per process), an epoch
//! ticker that enforces deadlines, the compiled-component cache and a
//! concurrency limit. [`Runtime::load`] turns a verified [`Package`] into a
//! [`LoadedAction`] — compiled, its imports checked against its manifest
//! before any of its code runs — and [`Runtime::invoke`] runs it in a fresh
//! instance under a [`Grant`].

mod cache;
mod cancel;
mod imports;
mod invoke;
mod sandbox;
mod ticker;

pub use cache::{CacheDirError, CacheSource};
pub use cancel::{CANCEL_CHECK, Cancellation, Cancelled};
pub use imports::{BASE_WASI, ForbiddenImport, ImportKind, classify as classify_import};
pub use sandbox::{EPOCH_TICK, MemoryLimitExceeded, Sandbox};
pub(crate) use sandbox::{HostData, LinkFn, host as host_of};

use crate::bindings::ActionPre;
use crate::capability::{Capability, CapabilityNames};
use crate::digest::Sha256Digest;
use crate::grant::Grant;
use crate::host::output::OutputObserver;
use crate::host::service_manager::ServiceManager;
use crate::limits::{LimitTooHigh, Limits, RuntimeLimits};
use crate::manifest::Manifest;
use crate::outcome::Invocation;
use crate::package::Package;
use cache::ComponentCache;
use sandbox::StoreState;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use ticker::Ticker;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The one function an action exports.
const RUN_EXPORT: &str = "run";

/// The version of the `salve:action` package this runtime links.
const ACTION_WORLD_VERSION: &str = "0.1.0";

/// How a [`Runtime`] is set up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached across processes; in memory
    /// only when `None`. Must be private to this user.
    pub cache_dir: Option<PathBuf>,
    /// Maxima and defaults for each invocation.
    pub limits: RuntimeLimits,
    /// Invocations that may run at once; more are refused as busy.
    pub max_concurrent: usize,
    /// Largest WebAssembly stack, in bytes (deep recursion stops here).
    pub max_wasm_stack: usize,
    /// Largest input accepted, in bytes.
    pub max_input_bytes: usize,
    /// Use wasmtime's pooling allocator (recommended; falls back to on-demand
    /// allocation when the host cannot reserve the address space).
    pub pooling: bool,
    /// The service manager behind `service-status` and `service-control`;
    /// detected when `None`.
    pub service_manager: Option<ServiceManager>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            limits: RuntimeLimits::default(),
            max_concurrent: 32,
            max_wasm_stack: 512 << 10,
            max_input_bytes: 1 << 20,
            pooling: true,
            service_manager: None,
        }
    }
}

/// Why a runtime could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// wasmtime refused the configuration.
    #[error("cannot create the WebAssembly engine: {0}")]
    Engine(String),
    /// The cache directory is unusable.
    #[error(transparent)]
    CacheDir(#[from] CacheDirError),
}

/// Why a package could not be loaded. Nothing of it has run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The bytes are not a valid component.
    #[error("{action}: the component is not a valid WebAssembly component: {reason}")]
    Compile {
        /// `id@version`.
        action: String,
        /// What wasmtime said.
        reason: String,
    },
    /// The component imports a capability its manifest does not declare.
    #[error(
        "{action} imports `{interface}`, but its manifest does not declare the `{capability}` capability: refused before running. Declare it under [capabilities.{capability}] (and have the package vetted again), or remove the calls that use it"
    )]
    UndeclaredImport {
        /// `id@version`.
        action: String,
        /// The capability.
        capability: Capability,
        /// The import's full name.
        interface: String,
    },
    /// The component imports something no action may have.
    #[error("{action} imports `{}`, which is refused before running: {}", .import.interface, .import.reason)]
    ForbiddenImport {
        /// `id@version`.
        action: String,
        /// The import and why it is refused.
        import: ForbiddenImport,
    },
    /// The component exports something besides `run`. The runtime only
    /// ever calls `run`; anything more is not the action world, and is
    /// refused rather than carried along unexamined.
    #[error(
        "{action} exports `{export}`, but an action exports `run` and nothing else (sdk/wit/action.wit): refused before running"
    )]
    UnexpectedExport {
        /// `id@version`.
        action: String,
        /// The export's name.
        export: String,
    },
    /// The component does not fit the action world this runtime provides:
    /// `run` is missing or has another signature, or an import names
    /// another version of an interface or other types than the runtime's.
    #[error(
        "{action} does not fit the action world this runtime provides (salve:action@{ACTION_WORLD_VERSION}): {reason}. Rebuild it with this version of the salve SDK"
    )]
    WorldMismatch {
        /// `id@version`.
        action: String,
        /// What wasmtime said.
        reason: String,
    },
    /// The manifest asks for more than the runtime allows.
    #[error("{action}: {error}")]
    Limits {
        /// `id@version`.
        action: String,
        /// The limit.
        error: LimitTooHigh,
    },
}

/// Why an invocation did not run. Nothing of it has run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// Too many invocations are running.
    #[error("the runtime is busy: {limit} invocations are already running; try again shortly")]
    Busy {
        /// The concurrency limit.
        limit: usize,
    },
    /// The input is not a JSON document.
    #[error("the input is not valid JSON: {reason}")]
    InvalidInput {
        /// What the JSON parser said.
        reason: String,
    },
    /// The input is larger than the runtime accepts.
    #[error("the input is {size} bytes; the most this runtime accepts is {limit}")]
    InputTooLarge {
        /// The input's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The component needs a capability the grant leaves out.
    #[error(
        "{action} needs the `{capability}` capability, which this invocation was not granted; nothing was run"
    )]
    NotGranted {
        /// `id@version`.
        action: String,
        /// The capability.
        capability: Capability,
    },
    /// The component needs a capability its manifest declares for other
    /// operating systems only: the action does not run on this one.
    #[error(
        "{action} needs the `{capability}` capability, which its manifest does not declare on {os}: the action does not run on this system; nothing was run"
    )]
    NotOnThisSystem {
        /// `id@version`.
        action: String,
        /// The capability.
        capability: Capability,
        /// This system.
        os: crate::Os,
    },
    /// The runtime itself failed while the action ran (a panic in the
    /// host): the action may have run in part, and what it did is not known.
    #[error(
        "{action}: the runtime failed while the action ran, which may have done part of its work: {reason}"
    )]
    RuntimeFailed {
        /// `id@version`.
        action: String,
        /// What failed.
        reason: String,
    },
    /// wasmtime could not prepare the instance.
    #[error("{action}: cannot prepare the sandbox: {reason}")]
    Sandbox {
        /// `id@version`.
        action: String,
        /// What wasmtime said.
        reason: String,
    },
}

/// The embeddable runtime. Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    config: RuntimeConfig,
    services: Arc<ServiceManager>,
    cache: ComponentCache,
    running: AtomicUsize,
    ticker: Ticker,
}

impl Runtime {
    /// Creates the runtime: one engine with epoch interruption, a stack cap
    /// and (if asked) the pooling allocator, and its epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let engine = create_engine(&config)?;
        let cache = ComponentCache::new(&engine, config.cache_dir.clone())?;
        let services = Arc::new(
            config
                .service_manager
                .clone()
                .unwrap_or_else(ServiceManager::detect),
        );
        let ticker = Ticker::start(engine.clone())
            .map_err(|e| RuntimeError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                config,
                services,
                cache,
                running: AtomicUsize::new(0),
                ticker,
            }),
        })
    }

    /// The configuration the runtime was created with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// The service manager this runtime drives.
    pub fn service_manager(&self) -> &ServiceManager {
        &self.inner.services
    }

    /// Compiles (or fetches from the cache) the package's component and checks
    /// its imports against its manifest. No guest code runs.
    pub fn load(&self, package: &Package) -> Result<LoadedAction, LoadError> {
        let manifest = package.manifest();
        let label = manifest.label();
        let limits = self
            .inner
            .config
            .limits
            .resolve(&manifest.limits)
            .map_err(|error| LoadError::Limits {
                action: label.clone(),
                error,
            })?;
        let (component, source) = self
            .inner
            .cache
            .load(&self.inner.engine, package.digest(), package.component())
            .map_err(|e| LoadError::Compile {
                action: label.clone(),
                reason: format!("{e:#}"),
            })?;
        let import_names = imports::names(&component, &self.inner.engine);
        let declared = manifest.capabilities.names_on_any_os();
        let imports = match imports::check(import_names.iter().map(String::as_str), declared) {
            imports::ImportCheck::Allowed(used) => used,
            imports::ImportCheck::Undeclared {
                capability,
                interface,
            } => {
                return Err(LoadError::UndeclaredImport {
                    action: label,
                    capability,
                    interface,
                });
            }
            imports::ImportCheck::Forbidden(import) => {
                return Err(LoadError::ForbiddenImport {
                    action: label,
                    import,
                });
            }
        };
        if let Some(export) = component
            .component_type()
            .exports(&self.inner.engine)
            .map(|(name, _)| name)
            .find(|name| *name != RUN_EXPORT)
        {
            return Err(LoadError::UnexpectedExport {
                action: label,
                export: export.to_string(),
            });
        }
        let action = LoadedAction {
            inner: Arc::new(ActionInner {
                label: label.clone().into(),
                manifest: manifest.clone(),
                digest: package.digest(),
                component,
                import_names,
                imports,
                source,
                prepared: Mutex::new(HashMap::new()),
            }),
            limits,
        };
        // Type-check every import and `run` against the world as linked for
        // the smallest grant that covers the imports: a component of another
        // world version is refused here, not at its first invocation.
        action
            .prepared(&self.inner.engine, imports.with(Capability::Log))
            .map_err(|e| LoadError::WorldMismatch {
                action: label.clone(),
                reason: format!("{e:#}"),
            })?;
        tracing::debug!(action = %label, ?source, "loaded action");
        Ok(action)
    }

    /// Every interface the package's component imports, without judging
    /// them (for inspection: [`Runtime::load`] is what refuses). Compiles the
    /// component, or takes it from the cache; no guest code runs.
    pub fn component_imports(&self, package: &Package) -> Result<Vec<String>, LoadError> {
        let engine = &self.inner.engine;
        let (component, _) = self
            .inner
            .cache
            .load(engine, package.digest(), package.component())
            .map_err(|e| LoadError::Compile {
                action: package.manifest().label(),
                reason: format!("{e:#}"),
            })?;
        Ok(imports::names(&component, engine))
    }

    /// Runs `action` once, in a fresh instance, with `grant`, on `input` (a
    /// JSON document). An `Ok` result means the action ran; how it ended is
    /// its [`Invocation::outcome`]. An `Err` means nothing ran.
    pub fn invoke(
        &self,
        action: &LoadedAction,
        grant: &Grant,
        input: &str,
    ) -> Result<Invocation, InvokeError> {
        self.reserve()?.invoke(action, grant, input)
    }

    /// Takes one of the concurrency slots, or refuses as busy. A caller that
    /// must commit to running before it runs (say, by using up an approval)
    /// reserves first, so that "busy" comes before the commitment.
    pub fn reserve(&self) -> Result<Reservation<'_>, InvokeError> {
        let limit = self.inner.config.max_concurrent;
        let running = &self.inner.running;
        let taken = running.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        });
        match taken {
            Ok(_) => Ok(Reservation { runtime: self }),
            Err(_) => Err(InvokeError::Busy { limit }),
        }
    }

    /// Checks an input as [`Runtime::invoke`] would, without running anything.
    pub fn check_input(&self, input: &str) -> Result<(), InvokeError> {
        invoke::check_input(&self.inner.config, input)
    }
}

/// One of the runtime's concurrency slots, released on drop.
pub struct Reservation<'r> {
    runtime: &'r Runtime,
}

impl Reservation<'_> {
    /// Runs `action` in this slot; see [`Runtime::invoke`].
    pub fn invoke(
        self,
        action: &LoadedAction,
        grant: &Grant,
        input: &str,
    ) -> Result<Invocation, InvokeError> {
        invoke::run(self.runtime, action, grant, input, None, None)
    }

    /// Runs `action` in this slot, telling `observer` of its output as it is
    /// written, and stopping it if `cancellation` is cancelled (within
    /// [`CANCEL_CHECK`]); see [`Runtime::invoke`].
    pub fn invoke_observed(
        self,
        action: &LoadedAction,
        grant: &Grant,
        input: &str,
        observer: Arc<dyn OutputObserver>,
        cancellation: Cancellation,
    ) -> Result<Invocation, InvokeError> {
        invoke::run(
            self.runtime,
            action,
            grant,
            input,
            Some(observer),
            Some(cancellation),
        )
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.runtime.inner.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A compiled action whose imports have been checked. Cheap to clone.
#[derive(Clone)]
pub struct LoadedAction {
    inner: Arc<ActionInner>,
    limits: Limits,
}

struct ActionInner {
    label: Arc<str>,
    manifest: Manifest,
    digest: Sha256Digest,
    component: wasmtime::component::Component,
    import_names: Vec<String>,
    imports: CapabilityNames,
    source: CacheSource,
    /// Pre-instantiated components, by the set of linked capabilities.
    prepared: Mutex<HashMap<CapabilityNames, ActionPre<StoreState>>>,
}

impl LoadedAction {
    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// `id@version`.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// The component's sha256.
    pub fn digest(&self) -> Sha256Digest {
        self.inner.digest
    }

    /// Every interface the component imports, as named in the component.
    pub fn import_names(&self) -> &[String] {
        &self.inner.import_names
    }

    /// The capabilities the component imports (a subset of those declared).
    pub fn imported_capabilities(&self) -> CapabilityNames {
        self.inner.imports
    }

    /// The limits its invocations run under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The same action with limits no looser than `limits`.
    #[must_use]
    pub fn tightened(&self, limits: Limits) -> LoadedAction {
        LoadedAction {
            inner: Arc::clone(&self.inner),
            limits: self.limits.min(limits),
        }
    }

    /// Where the compiled component came from.
    pub fn cache_source(&self) -> CacheSource {
        self.inner.source
    }

    /// The pre-instantiated component for a sandbox linking `linked`.
    fn prepared(
        &self,
        engine: &Engine,
        linked: CapabilityNames,
    ) -> wasmtime::Result<ActionPre<StoreState>> {
        let mut prepared = self
            .inner
            .prepared
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(pre) = prepared.get(&linked) {
            return Ok(pre.clone());
        }
        let mut linker = Linker::new(engine);
        sandbox::link(&mut linker, linked)?;
        let pre = ActionPre::new(linker.instantiate_pre(&self.inner.component)?)?;
        prepared.insert(linked, pre.clone());
        Ok(pre)
    }
}

/// Bytes of each pooled linear memory kept resident between instances and
/// reset with `memset` instead of `madvise`. An `madvise` on a multi-threaded
/// process interrupts every core to flush TLBs; measured here, that made a warm
/// invocation 2-4x slower and two threads slower than one (BENCHMARKS.md).
/// 4 MiB covers a Rust guest's 1 MiB stack and a typical heap.
const KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// Bytes of each pooled table kept resident likewise (a guest's tables hold a
/// few hundred entries).
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;

fn create_engine(config: &RuntimeConfig) -> Result<Engine, RuntimeError> {
    let mut wasm = Config::new();
    wasm.epoch_interruption(true)
        .max_wasm_stack(config.max_wasm_stack)
        .parallel_compilation(true);
    if config.pooling {
        let slots = u32::try_from(config.max_concurrent.max(1)).unwrap_or(u32::MAX);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots.saturating_add(4))
            .total_core_instances(slots.saturating_mul(16))
            .total_memories(slots.saturating_mul(4))
            .total_tables(slots.saturating_mul(8))
            .max_memory_size(usize::try_from(config.limits.max.memory_bytes).unwrap_or(usize::MAX))
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES)
            // Never PAGEMAP_SCAN: wasmtime 48 resets only the dirty pages it
            // finds *present*, so a page the kernel swapped out (swap, zram)
            // keeps the last tenant's bytes for the next one (wasmtime PR
            // #14357). Without it every kept-resident byte is overwritten
            // and the rest is decommitted, which also drops swapped pages.
            .pagemap_scan(wasmtime::Enabled::No);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        match Engine::new(&wasm) {
            Ok(engine) => return Ok(engine),
            Err(error) => {
                tracing::warn!(%error, "pooling allocator unavailable; allocating instances on demand");
                wasm.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            }
        }
    }
    Engine::new(&wasm).map_err(|e| RuntimeError::Engine(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::ACTION_WORLD_VERSION;

    #[test]
    fn the_world_version_named_in_errors_is_the_linked_one() {
        let wit = include_str!("../../wit/action.wit");
        assert!(wit.contains(&format!("package salve:action@{ACTION_WORLD_VERSION};")));
    }
}
