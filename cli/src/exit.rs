//! Exit statuses, and errors that carry theirs.

use std::process::ExitCode;

/// The exit statuses `salve --help` documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command, or the action, succeeded.
    Success = 0,
    /// The action ran and reported failure (or a build failed).
    Failed = 1,
    /// Bad usage or bad input.
    Usage = 2,
    /// Refused before running.
    Refused = 3,
    /// The sandbox stopped the action.
    Stopped = 4,
    /// The audit log does not verify.
    Corrupt = 5,
    /// The service could not be reached (not running, wrong socket or
    /// address, TLS handshake or certificate pin failed).
    Unreachable = 6,
    /// The service cannot take the request now (at its concurrency limit,
    /// stopping, its audit log or state store unavailable): nothing was
    /// done; try again later.
    Unavailable = 7,
}

impl Exit {
    /// A stable word for the status, for `--json` errors.
    pub fn code(self) -> &'static str {
        match self {
            Exit::Success => "ok",
            Exit::Failed => "failed",
            Exit::Usage => "usage",
            Exit::Refused => "refused",
            Exit::Stopped => "stopped",
            Exit::Corrupt => "corrupt",
            Exit::Unreachable => "unreachable",
            Exit::Unavailable => "unavailable",
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// An error and the status it exits with.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

pub type CliResult = Result<Exit, Failure>;

/// Attaches an exit status to any error.
pub trait ExitWith<T> {
    fn exit_with(self, exit: Exit) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> ExitWith<T> for Result<T, E> {
    fn exit_with(self, exit: Exit) -> Result<T, Failure> {
        self.map_err(|error| Failure {
            exit,
            error: error.into(),
        })
    }
}
