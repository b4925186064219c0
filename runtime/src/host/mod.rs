//! Host implementations of the capability interfaces.
//!
//! One module per capability, named like it (`files_read` implements
//! `files-read`). Each checks every call against the invocation's grant in
//! exactly one place before touching the system; a refused call is recorded
//! as a [`DeniedCall`] and answered with `host-error.denied`.
//!
//! Blocking work (programs, service manager, network) is bounded by the
//! invocation's deadline, so that the deadline also covers time spent in host
//! calls, where epoch interruption cannot reach.

pub mod files_read;
pub mod files_write;
pub mod log;
pub mod network;
pub mod output;
pub mod process;
pub mod programs;
pub mod scoped_path;
pub mod service_control;
pub mod service_status;
pub mod sysinfo;
pub mod systemd;

use crate::capability::{Capabilities, Capability};
use crate::engine::bindings::salve::action::types::HostError;
use output::Output;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use systemd::ServiceManager;

/// A host call refused because it lies outside the grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeniedCall {
    /// The capability the call belongs to.
    pub capability: Capability,
    /// The function, e.g. `read`.
    pub function: String,
    /// What the call named (a path, a service, a program, a host).
    pub target: String,
    /// Why it was refused.
    pub reason: String,
}

/// The host side of one invocation: what its calls are checked against, and
/// where their effects are recorded.
pub struct HostCtx {
    /// What this invocation may use, with parameters.
    grant: Arc<Capabilities>,
    /// When the invocation must be over.
    deadline: Instant,
    /// stdout, stderr and log messages under one budget.
    output: Output,
    /// Calls refused so far.
    denied: Vec<DeniedCall>,
    /// The endpoint's service manager, if it has one.
    services: Arc<ServiceManager>,
    /// `id@version`, for operational logs.
    action: Arc<str>,
}

impl HostCtx {
    /// The host context of an invocation of `action` under `grant`.
    pub fn new(
        action: Arc<str>,
        grant: Arc<Capabilities>,
        deadline: Instant,
        output: Output,
        services: Arc<ServiceManager>,
    ) -> Self {
        HostCtx {
            grant,
            deadline,
            output,
            denied: Vec::new(),
            services,
            action,
        }
    }

    /// The calls refused so far, leaving none behind.
    pub fn take_denied(&mut self) -> Vec<DeniedCall> {
        std::mem::take(&mut self.denied)
    }

    /// Records a refused call and returns the error the guest sees.
    fn deny(
        &mut self,
        capability: Capability,
        function: &str,
        target: &str,
        reason: String,
    ) -> HostError {
        tracing::warn!(
            action = %self.action,
            capability = capability.name(),
            function,
            target,
            %reason,
            "host call denied"
        );
        self.denied.push(DeniedCall {
            capability,
            function: function.to_string(),
            target: target.to_string(),
            reason: reason.clone(),
        });
        HostError::Denied(reason)
    }

    /// Refuses a call whose target lies outside what `capability` grants:
    /// records it, and says what *is* granted.
    fn refuse_outside_grant(
        &mut self,
        capability: Capability,
        function: &str,
        target: &str,
        what: String,
    ) -> HostError {
        let granted = self
            .grant
            .parameters(capability)
            .map(|p| p.join(", "))
            .unwrap_or_default();
        self.deny(
            capability,
            function,
            target,
            format!("{what} (granted: {granted})"),
        )
    }

    /// Time left before the deadline, or `timed-out` when there is none.
    fn remaining(&self) -> Result<Duration, HostError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HostError::TimedOut(
                "the invocation's deadline has passed".to_string(),
            ));
        }
        Ok(left)
    }

    /// The smaller of what the guest asked for and the time left.
    fn timeout(&self, asked_ms: u32) -> Result<Duration, HostError> {
        let asked = Duration::from_millis(u64::from(asked_ms.max(1)));
        Ok(asked.min(self.remaining()?))
    }
}

/// A `HostError::Failed` from an I/O error, with what was being done.
fn io_failure(what: &str, error: &std::io::Error) -> HostError {
    match error.kind() {
        std::io::ErrorKind::NotFound => HostError::NotFound(format!("{what}: {error}")),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            HostError::TimedOut(format!("{what}: {error}"))
        }
        _ => HostError::Failed(format!("{what}: {error}")),
    }
}

/// The shared-types interface has no functions; linking it only makes its
/// types available to the component.
impl crate::engine::bindings::salve::action::types::Host for HostCtx {}
