//! The tree as a process group: the child leads a group of its own, and
//! `killpg` reaches whatever it started that stayed in it.

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};

/// A spawned child leading its own process group.
pub struct ProcessTree {
    child: Child,
}

impl ProcessTree {
    /// Spawns `command` as the leader of a new process group.
    pub fn spawn(mut command: Command) -> std::io::Result<ProcessTree> {
        let child = command.process_group(0).spawn()?;
        Ok(ProcessTree { child })
    }

    /// The child itself: its pipes, its exit.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Kills every process still in the group, the child included unless
    /// it has exited; a group already gone is fine. The child is not
    /// reaped: wait on it after.
    pub fn kill_all(&mut self) {
        let group = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    }
}
