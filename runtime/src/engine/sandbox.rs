//! The one place a grant becomes a sandbox.
//!
//! [`Sandbox::new`] turns a grant and limits into everything that confines an
//! invocation: which interfaces are linked, which parameters their host calls
//! are checked against, and the hard limits. [`link`] adds exactly those
//! interfaces to a linker — nothing the host process has (environment,
//! arguments, stdio, filesystem, network) is reachable otherwise — and
//! [`Sandbox::store`] builds the per-invocation store.

use super::cancel::{CANCEL_CHECK, Cancellation, Cancelled};
use crate::bindings::salve::action as wit;
use crate::capability::{Capabilities, CapabilityNames};
use crate::grant::Grant;
use crate::host::HostCtx;
use crate::host::output::{Output, OutputObserver};
use crate::host::service_manager::ServiceManager;
use crate::limits::Limits;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::ClosedInputStream;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// How often the epoch advances; deadlines are enforced to within this.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Table growth allowed per invocation (Rust guests use a few hundred).
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Core instances, tables and memories a component may create.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;

/// Everything that confines one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// The capability interfaces linked (always including `log`).
    pub linked: CapabilityNames,
    /// What each host call is checked against.
    pub parameters: Arc<Capabilities>,
    /// Deadline, memory and output limits.
    pub limits: Limits,
}

impl Sandbox {
    /// The sandbox for `grant` under `limits`.
    pub fn new(grant: &Grant, limits: Limits) -> Sandbox {
        Sandbox {
            linked: grant.names(),
            parameters: grant.shared(),
            limits,
        }
    }

    /// A fresh store for one invocation of `action`, started at `started`.
    pub(crate) fn store(
        &self,
        engine: &Engine,
        action: Arc<str>,
        services: Arc<ServiceManager>,
        started: Instant,
        observer: Option<Arc<dyn OutputObserver>>,
        cancellation: Option<Cancellation>,
    ) -> (Store<StoreState>, Output) {
        let output = Output::new(self.limits.output_bytes, started).observed(observer);
        let wasi = WasiCtxBuilder::new()
            .stdin(ClosedInputStream)
            .stdout(output.stdout())
            .stderr(output.stderr())
            .build();
        let host = HostCtx::new(
            action,
            Arc::clone(&self.parameters),
            started + self.limits.deadline,
            output.clone(),
            services,
        );
        let state = StoreState {
            wasi,
            table: ResourceTable::new(),
            host,
            limiter: Limiter {
                memory_limit: usize::try_from(self.limits.memory_bytes).unwrap_or(usize::MAX),
                memory_used: 0,
            },
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        let ticks = |left: Duration| {
            u64::try_from(left.as_nanos().div_ceil(EPOCH_TICK.as_nanos()))
                .unwrap_or(u64::MAX)
                .saturating_add(1)
        };
        match cancellation {
            None => store.set_epoch_deadline(ticks(self.limits.deadline)),
            Some(cancellation) => {
                // Wake every CANCEL_CHECK to look at the cancellation; the
                // deadline stays where it was.
                let check = ticks(CANCEL_CHECK);
                let deadline = started + self.limits.deadline;
                store.set_epoch_deadline(check.min(ticks(self.limits.deadline)));
                store.epoch_deadline_callback(move |_| {
                    if let Some(reason) = cancellation.reason() {
                        return Err(wasmtime::Error::new(Cancelled {
                            reason: reason.to_string(),
                        }));
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(UpdateDeadline::Interrupt);
                    }
                    Ok(UpdateDeadline::Continue(check.min(ticks(left))))
                });
            }
        }
        (store, output)
    }
}

/// The data of an invocation's store.
pub(crate) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) host: HostCtx,
    limiter: Limiter,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// How the generated bindings reach the host context.
pub(crate) struct HostData;

impl HasData for HostData {
    type Data<'a> = &'a mut HostCtx;
}

/// The host context of a store: what each capability's interface is linked
/// to (see [`crate::capability::CapabilitySpec::link`]).
pub(crate) fn host(state: &mut StoreState) -> &mut HostCtx {
    &mut state.host
}

/// Adds one capability's interface to a linker.
pub(crate) type LinkFn = fn(&mut Linker<StoreState>) -> wasmtime::Result<()>;

/// How the WASI io bindings reach the resource table.
struct IoData;

impl HasData for IoData {
    type Data<'a> = &'a mut ResourceTable;
}

/// Adds the base WASI interfaces and exactly the `linked` capability
/// interfaces to `linker`. One line per interface.
pub(crate) fn link(
    linker: &mut Linker<StoreState>,
    linked: CapabilityNames,
) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync};
    use wasmtime_wasi::random::WasiRandom;

    // The base WASI set (see `imports::BASE_WASI`), against an empty context.
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<_, IoData>(linker, |s| {
        &mut s.table
    })?;
    sync::io::poll::add_to_linker::<_, IoData>(linker, |s| &mut s.table)?;
    sync::io::streams::add_to_linker::<_, IoData>(linker, |s| &mut s.table)?;
    cli::environment::add_to_linker::<_, WasiCli>(linker, <StoreState as WasiCliView>::cli)?;
    cli::exit::add_to_linker::<_, WasiCli>(linker, <StoreState as WasiCliView>::cli)?;
    cli::stdin::add_to_linker::<_, WasiCli>(linker, <StoreState as WasiCliView>::cli)?;
    cli::stdout::add_to_linker::<_, WasiCli>(linker, <StoreState as WasiCliView>::cli)?;
    cli::stderr::add_to_linker::<_, WasiCli>(linker, <StoreState as WasiCliView>::cli)?;
    cli::terminal_input::add_to_linker::<_, WasiCli>(linker, <StoreState as WasiCliView>::cli)?;
    cli::terminal_output::add_to_linker::<_, WasiCli>(linker, <StoreState as WasiCliView>::cli)?;
    cli::terminal_stdin::add_to_linker::<_, WasiCli>(linker, <StoreState as WasiCliView>::cli)?;
    cli::terminal_stdout::add_to_linker::<_, WasiCli>(linker, <StoreState as WasiCliView>::cli)?;
    cli::terminal_stderr::add_to_linker::<_, WasiCli>(linker, <StoreState as WasiCliView>::cli)?;
    clocks::monotonic_clock::add_to_linker::<_, WasiClocks>(
        linker,
        <StoreState as WasiClocksView>::clocks,
    )?;
    clocks::wall_clock::add_to_linker::<_, WasiClocks>(
        linker,
        <StoreState as WasiClocksView>::clocks,
    )?;
    random::random::add_to_linker::<_, WasiRandom>(linker, |s| s.wasi.random())?;
    random::insecure::add_to_linker::<_, WasiRandom>(linker, |s| s.wasi.random())?;
    random::insecure_seed::add_to_linker::<_, WasiRandom>(linker, |s| s.wasi.random())?;

    // The action world: its shared types, then each granted capability.
    wit::types::add_to_linker::<_, HostData>(linker, host)?;
    for capability in linked.iter() {
        (capability.spec().link)(linker)?;
    }
    Ok(())
}

/// The action asked for more linear memory than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the action asked for {asked} bytes of memory; its limit is {limit} bytes")]
pub struct MemoryLimitExceeded {
    /// Total linear memory the growth would have reached.
    pub asked: u64,
    /// The limit.
    pub limit: u64,
}

/// Enforces the memory limit over all of an invocation's linear memories.
struct Limiter {
    memory_limit: usize,
    memory_used: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .memory_used
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.memory_limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                asked: total as u64,
                limit: self.memory_limit as u64,
            }));
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::Capability;
    use crate::limits::RuntimeLimits;

    /// The grant-to-sandbox table: what the manifest declares and the caller
    /// allows decides what is linked and what host calls are checked against.
    #[test]
    fn grant_to_sandbox_table() {
        let declared: Capabilities = toml::from_str(
            r#"
            sysinfo = {}
            files-read = { paths = ["/var/log"] }
            service-control = { services = ["cups.service"] }
            "#,
        )
        .unwrap();
        let limits = RuntimeLimits::default().default;
        let table: &[(&str, &[&str], Option<&str>)] = &[
            // (allowed, linked, files-read parameters)
            ("", &["log"], None),
            ("sysinfo = {}", &["log", "sysinfo"], None),
            (
                r#"files-read = { paths = ["/var/log/apt"] }"#,
                &["log", "files-read"],
                Some("/var/log/apt"),
            ),
            (r#"files-read = { paths = ["/etc"] }"#, &["log"], None),
            (
                r#"service-control = { services = ["ssh.service"] }"#,
                &["log"],
                None,
            ),
            (
                r#"network = { hosts = ["example.com:443"] }"#,
                &["log"],
                None,
            ),
        ];
        for (allowed, linked, files_read) in table {
            let allowed: Capabilities = toml::from_str(allowed).unwrap();
            let sandbox = Sandbox::new(&Grant::intersect(&declared, &allowed), limits);
            let names: Vec<_> = sandbox.linked.iter().map(Capability::name).collect();
            assert_eq!(&names, linked, "allowed: {allowed:?}");
            assert_eq!(
                sandbox.parameters.parameters(Capability::FilesRead),
                files_read.map(|p| vec![p.to_string()]),
            );
            assert_eq!(sandbox.limits, limits);
        }
    }
}
