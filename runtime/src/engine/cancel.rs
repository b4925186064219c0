//! Cancelling an invocation from outside: its session closed, or the service
//! is stopping. The guest is stopped at its next epoch check (within
//! [`CANCEL_CHECK`]); a host call in progress ends by its own deadline.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How often a running invocation looks at its cancellation.
pub const CANCEL_CHECK: Duration = Duration::from_millis(20);

/// A handle that cancels one invocation, with the reason it gives. Cheap to
/// clone; every clone cancels the same invocation.
#[derive(Debug, Clone, Default)]
pub struct Cancellation(Arc<OnceLock<String>>);

impl Cancellation {
    /// Cancels, saying why (the first reason given is kept).
    pub fn cancel(&self, reason: impl Into<String>) {
        let _ = self.0.set(reason.into());
    }

    /// Why it was cancelled, if it was.
    pub fn reason(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// The trap that ends a cancelled invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the invocation was cancelled: {reason}")]
pub struct Cancelled {
    /// Why.
    pub reason: String,
}
