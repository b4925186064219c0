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
mod granted_dir;
pub mod log;
pub mod network;
pub mod output;
pub mod process;
mod process_tree;
pub mod programs;
#[cfg(windows)]
mod scm;
pub mod scoped_path;
pub mod service_control;
pub mod service_manager;
pub mod service_status;
pub mod sysinfo;
#[cfg(unix)]
mod systemd;

use crate::bindings::salve::action::types::HostError;
use crate::capability::{Capabilities, Capability};
use output::Output;
use service_manager::ServiceManager;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many refused calls one invocation keeps. A guest may loop on
/// refused calls: each is answered, but past this many only counted, so
/// that neither the host's memory nor the invocation's audit records grow
/// with what the guest chooses to do.
pub const MAX_DENIED_CALLS: usize = 64;

/// Most bytes kept of a refused call's target (a path, a unit, a host).
const MAX_TARGET_BYTES: usize = 512;

/// Most bytes kept of why a call was refused.
const MAX_REASON_BYTES: usize = 1024;

pub use crate::outcome::DeniedCall;

/// The host side of one invocation: what its calls are checked against, and
/// where their effects are recorded.
pub struct HostCtx {
    /// What this invocation may use, with parameters.
    grant: Arc<Capabilities>,
    /// When the invocation must be over.
    deadline: Instant,
    /// stdout, stderr and log messages under one budget.
    output: Output,
    /// Calls refused so far, the first [`MAX_DENIED_CALLS`] of them.
    denied: Vec<DeniedCall>,
    /// Calls refused past those, only counted.
    denied_not_kept: u64,
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
            denied_not_kept: 0,
            services,
            action,
        }
    }

    /// The calls refused so far (at most [`MAX_DENIED_CALLS`]), leaving
    /// none behind. When more were refused, the last one says how many in
    /// its `more_not_kept` and its `reason`.
    pub fn take_denied(&mut self) -> Vec<DeniedCall> {
        let mut denied = std::mem::take(&mut self.denied);
        let more = std::mem::take(&mut self.denied_not_kept);
        if more > 0
            && let Some(last) = denied.last_mut()
        {
            last.more_not_kept = more;
            last.reason.push_str(&format!(
                "; {more} more host calls were refused after this one and only counted (an invocation keeps the first {MAX_DENIED_CALLS})"
            ));
        }
        denied
    }

    /// Records a refused call and returns the error the guest sees.
    fn deny(
        &mut self,
        capability: Capability,
        function: &str,
        target: &str,
        reason: String,
    ) -> HostError {
        if self.denied.len() >= MAX_DENIED_CALLS {
            self.denied_not_kept += 1;
            return HostError::Denied(reason);
        }
        // The action chose the target (and the reason may quote it): what is
        // kept of them, and logged, is bounded.
        let target = crate::text::clipped(target, MAX_TARGET_BYTES);
        let reason = crate::text::clipped(&reason, MAX_REASON_BYTES).into_owned();
        tracing::warn!(
            action = %self.action,
            capability = capability.name(),
            function,
            target = %target,
            %reason,
            "host call denied"
        );
        self.denied.push(DeniedCall {
            capability,
            function: function.to_string(),
            target: target.into_owned(),
            reason: reason.clone(),
            more_not_kept: 0,
        });
        if self.denied.len() == MAX_DENIED_CALLS {
            tracing::warn!(
                action = %self.action,
                "{MAX_DENIED_CALLS} host calls denied: further denials of this invocation are only counted"
            );
        }
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
impl crate::bindings::salve::action::types::Host for HostCtx {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_looping_on_refused_calls_keeps_the_first_and_counts_the_rest() {
        let mut host = HostCtx::new(
            Arc::from("hostile@0.1.0"),
            Arc::new(Capabilities::default()),
            Instant::now() + Duration::from_secs(60),
            Output::new(1 << 16, Instant::now()),
            Arc::new(ServiceManager::Absent),
        );
        for n in 0..10_000 {
            let error = host.refuse_outside_grant(
                Capability::FilesRead,
                "read",
                &format!("/etc/secret-{n}"),
                format!("/etc/secret-{n} lies outside the granted paths"),
            );
            // Every call is still answered as refused.
            assert!(matches!(error, HostError::Denied(_)));
        }
        let denied = host.take_denied();
        assert_eq!(denied.len(), MAX_DENIED_CALLS);
        assert_eq!(denied[0].target, "/etc/secret-0");
        assert!(
            denied[..MAX_DENIED_CALLS - 1]
                .iter()
                .all(|c| c.more_not_kept == 0)
        );
        let last = &denied[MAX_DENIED_CALLS - 1];
        assert_eq!(last.target, "/etc/secret-63");
        assert_eq!(last.more_not_kept, 10_000 - 64);
        assert!(
            last.reason
                .ends_with("; 9936 more host calls were refused after this one and only counted (an invocation keeps the first 64)"),
            "{}",
            last.reason
        );
        // Taken: nothing is left, and the count starts again.
        assert!(host.take_denied().is_empty());
        host.refuse_outside_grant(Capability::Sysinfo, "hostname", "", "no".to_string());
        let again = host.take_denied();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].more_not_kept, 0);
    }
}
