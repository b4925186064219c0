//! Opening a granted directory without following a link on the way: the
//! one step of `files-read` and `files-write` that differs between
//! operating systems. One module per operating system, with the same
//! [`open_granted`].

use std::path::PathBuf;

/// Why a granted prefix could not be opened.
#[derive(Debug)]
pub enum Opening {
    /// This component of it is a symbolic link.
    Link(PathBuf),
    /// Anything else (it is missing, not a directory, not readable).
    Io(std::io::Error),
}

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::open_granted;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::open_granted;
