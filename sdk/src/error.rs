//! Errors: what a host call answers ([`HostError`]) and what an action answers
//! ([`ActionError`]).

use crate::{ActionError, HostError};

impl ActionError {
    /// An error with a stable kebab-case `code` and a sentence for the
    /// technician.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ActionError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The input is not what the action needs (code `invalid-input`).
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new("invalid-input", message)
    }

    /// The action tried and failed (code `failed`).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new("failed", message)
    }
}

impl HostError {
    /// The stable code of this error's kind, e.g. `denied`.
    pub fn code(&self) -> &'static str {
        match self {
            HostError::Denied(_) => "denied",
            HostError::NotFound(_) => "not-found",
            HostError::Unavailable(_) => "unavailable",
            HostError::TimedOut(_) => "timed-out",
            HostError::Failed(_) => "failed",
        }
    }

    /// The sentence that explains it.
    pub fn message(&self) -> &str {
        match self {
            HostError::Denied(m)
            | HostError::NotFound(m)
            | HostError::Unavailable(m)
            | HostError::TimedOut(m)
            | HostError::Failed(m) => m,
        }
    }
}

/// A failed host call ends the action with the same code and message, so `?`
/// works on every capability call.
impl From<HostError> for ActionError {
    fn from(error: HostError) -> Self {
        ActionError::new(error.code(), error.message().to_string())
    }
}
