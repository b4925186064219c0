//! Writing results to stdout, where a reader that stops early (`salve audit
//! export | head`) ends the command quietly rather than with an error — with
//! the status a process killed by SIGPIPE has (141), as `cat` would, so
//! that `set -o pipefail` still sees that the output was not all taken.

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

/// The exit status of a process that wrote to a pipe nobody reads.
const CLOSED_PIPE: i32 = 128 + 13;

/// Exits at once, quietly, if stdout's reader has gone: there is no one
/// left to tell. Any other error is returned.
pub fn closed_quietly(error: std::io::Error) -> std::io::Error {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(CLOSED_PIPE);
    }
    error
}

/// Makes the `println!`s of every command end quietly too when stdout's
/// reader has gone (`salve session list | head -1`): the standard library
/// panics there ("failed printing to stdout"), and this hook turns that one
/// panic into a quiet exit (141, as for SIGPIPE). Every other panic is
/// reported as before.
pub fn end_quietly_when_stdout_closes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(CLOSED_PIPE);
        }
        report(info);
    }));
}
