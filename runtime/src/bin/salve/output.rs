//! Writing results to stdout, where a reader that stops early (`salve audit
//! export | head`) ends the command quietly rather than with an error.

use crate::exit::{Exit, ExitWith, Failure};
use std::fmt::Display;
use std::io::Write;

/// Writes `text` and a newline to stdout.
pub fn line(text: impl Display) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(closed_quietly)
        .exit_with(Exit::Failed)
}

/// Exits at once, successfully, if stdout's reader has gone: there is no
/// one left to tell. Any other error is returned.
pub fn closed_quietly(error: std::io::Error) -> std::io::Error {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    error
}
