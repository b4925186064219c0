//! The tree as a job object: the child is created suspended, put in a job
//! of its own and only then resumed, so that nothing it starts escapes the
//! job; terminating the job ends them all (`process-wrap` does the Win32
//! part).

use process_wrap::std::{JobObject, StdChildWrapper, StdCommandWrap};
use std::process::{Child, Command};

/// A spawned child in a job object of its own.
pub struct ProcessTree {
    child: Box<dyn StdChildWrapper>,
}

impl ProcessTree {
    /// Spawns `command` in a new job object.
    pub fn spawn(command: Command) -> std::io::Result<ProcessTree> {
        let mut wrapped = StdCommandWrap::from(command);
        wrapped.wrap(JobObject);
        let child = wrapped.spawn()?;
        Ok(ProcessTree { child })
    }

    /// The child itself: its pipes, its exit.
    pub fn child(&mut self) -> &mut Child {
        self.child.inner_mut()
    }

    /// Terminates every process in the job, the child included unless it
    /// has exited. The child is not reaped: wait on it after.
    pub fn kill_all(&mut self) {
        let _ = self.child.start_kill();
    }
}
