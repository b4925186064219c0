//! A child process together with everything it starts, so that a deadline
//! ends them all: a process group on Unix, a job object on Windows. One
//! module per operating system, with the same [`ProcessTree`].

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::ProcessTree;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::ProcessTree;
