//! What differs between operating systems in salve's own files: opening a
//! file without blocking on a FIFO, reading at an offset, which files are
//! private to their owner. One module per operating system, with the same
//! functions; the rest of the crate calls these and never `std::os::*`.
//!
//! The host capabilities that reach the system (services, programs,
//! sysinfo, granted directories) keep their per-OS code beside them, in
//! `host/`.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;
