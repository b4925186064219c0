//! Running a child process with a deadline and an output cap.
//!
//! The child gets no input, a process tree of its own (a process group on
//! Unix, a job object on Windows: everything it starts is killed with it),
//! and pipes for stdout and stderr that are
//! drained continuously: output past the cap is read and discarded, so a
//! chatty child never blocks on a full pipe.

use super::process_tree::ProcessTree;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use wait_timeout::ChildExt;

/// How long to wait for the output pipes to close after the child ended. A
/// grandchild that escaped the process group can hold them open; what was read
/// by then is kept.
const PIPE_GRACE: Duration = Duration::from_millis(200);

/// The longest a child is waited for, whatever timeout is asked.
const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// What a finished child left behind.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Its stdout, up to the cap.
    pub stdout: Vec<u8>,
    /// Its stderr, up to the cap.
    pub stderr: Vec<u8>,
    /// Whether output past the cap was discarded.
    pub truncated: bool,
    /// Wall-clock time from spawn to exit.
    pub duration: Duration,
}

/// Why a child did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started.
    #[error("could not start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The child was still running at the deadline and was killed.
    #[error("{program} was still running after {}ms and was killed", after.as_millis())]
    TimedOut {
        /// The program.
        program: String,
        /// The time it was given.
        after: Duration,
    },
    /// Waiting for the child failed.
    #[error("waiting for {program} failed: {source}")]
    Wait {
        /// The program.
        program: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// Waits for `child` to exit, but not past `until`; `None` if it is still
/// running then.
///
/// `wait_timeout` waits in whole milliseconds rounded down and may return a
/// fraction of one early; a host call cut short by the invocation's deadline
/// must end at or after that deadline, never before, or the action could
/// answer in the moment left as though its deadline had not passed.
fn wait_until(
    child: &mut std::process::Child,
    until: Instant,
) -> std::io::Result<Option<ExitStatus>> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return child.try_wait();
        }
        // Rounded up to the next millisecond, and one more: the wait rounds
        // down what is left when it starts, and without the margin would
        // spin through the last millisecond.
        let millis = u64::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
        if let Some(status) = child.wait_timeout(Duration::from_millis(millis.saturating_add(1)))? {
            return Ok(Some(status));
        }
    }
}

#[derive(Default)]
struct Capture {
    bytes: Vec<u8>,
    truncated: bool,
}

/// Runs `command` for at most `timeout`, keeping at most `cap` bytes of each of
/// stdout and stderr.
pub fn run(mut command: Command, timeout: Duration, cap: usize) -> Result<Finished, RunError> {
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut tree = ProcessTree::spawn(command).map_err(|source| RunError::Spawn {
        program: program.clone(),
        source,
    })?;
    let child = tree.child();

    let (done_tx, done_rx) = mpsc::channel();
    let mut captures = Vec::new();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ] {
        let capture = Arc::new(Mutex::new(Capture::default()));
        captures.push(Arc::clone(&capture));
        let done = done_tx.clone();
        if let Some(pipe) = pipe {
            let spawned = std::thread::Builder::new()
                .name("salve-drain".to_string())
                .spawn(move || {
                    drain(pipe, &capture, cap);
                    let _ = done.send(());
                });
            if let Err(source) = spawned {
                // No thread to drain it: the program, and whatever it
                // started, is not left running.
                tree.kill_all();
                let child = tree.child();
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Spawn { program, source });
            }
        } else {
            let _ = done.send(());
        }
    }
    drop(done_tx);

    let until = started.checked_add(timeout).unwrap_or(started + MAX_WAIT);
    let waited = wait_until(tree.child(), until);
    // Whatever the child started goes with it; the tree may already be
    // gone, which is fine.
    tree.kill_all();
    let child = tree.child();
    let status = match waited {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.wait();
            return Err(RunError::TimedOut {
                program,
                after: timeout,
            });
        }
        Err(source) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Wait { program, source });
        }
    };
    let duration = started.elapsed();
    let grace_end = Instant::now() + PIPE_GRACE;
    for _ in 0..2 {
        let left = grace_end.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let take = |i: usize| {
        let mut capture = captures[i].lock().unwrap_or_else(PoisonError::into_inner);
        (std::mem::take(&mut capture.bytes), capture.truncated)
    };
    let (stdout, stdout_truncated) = take(0);
    let (stderr, stderr_truncated) = take(1);
    Ok(Finished {
        status,
        stdout,
        stderr,
        truncated: stdout_truncated || stderr_truncated,
        duration,
    })
}

/// Reads `pipe` to its end, keeping the first `cap` bytes.
fn drain(mut pipe: Box<dyn Read + Send>, capture: &Mutex<Capture>, cap: usize) {
    let mut buffer = [0u8; 8192];
    loop {
        let n = match pipe.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut capture = capture.lock().unwrap_or_else(PoisonError::into_inner);
        let room = cap.saturating_sub(capture.bytes.len());
        capture.bytes.extend_from_slice(&buffer[..n.min(room)]);
        capture.truncated |= n > room;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn captures_output_and_status() {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "echo out; echo err >&2; exit 3"]);
        let finished = run(command, Duration::from_secs(5), 1024).unwrap();
        assert_eq!(finished.status.code(), Some(3));
        assert_eq!(finished.stdout, b"out\n");
        assert_eq!(finished.stderr, b"err\n");
        assert!(!finished.truncated);
    }

    #[cfg(unix)]
    #[test]
    fn caps_output_without_blocking_the_child() {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "head -c 1000000 /dev/zero"]);
        let finished = run(command, Duration::from_secs(5), 100).unwrap();
        assert!(finished.status.success());
        assert_eq!(finished.stdout.len(), 100);
        assert!(finished.truncated);
    }

    #[cfg(unix)]
    #[test]
    fn kills_a_child_past_its_deadline_with_its_group() {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "sleep 30 & sleep 30"]);
        let started = Instant::now();
        let error = run(command, Duration::from_millis(200), 100).unwrap_err();
        assert!(matches!(error, RunError::TimedOut { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[cfg(unix)]
    #[test]
    fn a_running_child_is_waited_for_until_its_time_is_up_and_not_less() {
        let mut child = Command::new("/bin/sleep").arg("30").spawn().unwrap();
        // Just short of a whole millisecond left is where a wait that rounds
        // down ends early.
        for micros in [20_990, 35_999, 12_950, 3_900] {
            let until = Instant::now() + Duration::from_micros(micros);
            assert!(wait_until(&mut child, until).unwrap().is_none());
            let now = Instant::now();
            assert!(now >= until, "{:?} early", until - now);
        }
        child.kill().unwrap();
        let _ = child.wait();
    }

    #[cfg(unix)]
    #[test]
    fn a_child_that_ends_in_time_is_not_waited_for_longer() {
        let mut child = Command::new("/bin/true").spawn().unwrap();
        let begun = Instant::now();
        let status = wait_until(&mut child, begun + Duration::from_secs(10)).unwrap();
        assert!(status.is_some_and(|s| s.success()));
        assert!(begun.elapsed() < Duration::from_secs(5));
    }

    #[cfg(windows)]
    #[test]
    fn captures_output_and_status() {
        let mut command = Command::new("cmd.exe");
        command.args(["/d", "/c", "echo out& echo err 1>&2& exit 3"]);
        let finished = run(command, Duration::from_secs(20), 1024).unwrap();
        assert_eq!(finished.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&finished.stdout).trim(), "out");
        assert_eq!(String::from_utf8_lossy(&finished.stderr).trim(), "err");
        assert!(!finished.truncated);
    }

    /// Run by [`a_deadline_ends_everything_the_child_started`] as its child
    /// and grandchild (this test binary, started again with this test's
    /// name): the child starts a grandchild, says so, and waits; the
    /// grandchild leaves a mark if it is still alive after 6 s. Run as an
    /// ordinary test, it does nothing.
    #[test]
    fn tree_member() {
        let Ok(marks) = std::env::var("SALVE_TEST_TREE_MARKS") else {
            return;
        };
        let marks = std::path::PathBuf::from(marks);
        if std::env::var_os("SALVE_TEST_TREE_GRANDCHILD").is_some() {
            std::fs::write(marks.join("grandchild-started"), b"").unwrap();
            std::thread::sleep(Duration::from_secs(6));
            std::fs::write(marks.join("grandchild-survived"), b"").unwrap();
            return;
        }
        let mut grandchild = tree_member_command(&marks);
        grandchild.env("SALVE_TEST_TREE_GRANDCHILD", "1");
        // Outlives the deadline: the grandchild takes 6 s.
        let _ = grandchild.spawn().unwrap().wait();
    }

    fn tree_member_command(marks: &std::path::Path) -> Command {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "host::process::tests::tree_member",
                "--nocapture",
            ])
            .env("SALVE_TEST_TREE_MARKS", marks);
        command
    }

    #[test]
    fn a_deadline_ends_everything_the_child_started() {
        let marks = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let error = run(
            tree_member_command(marks.path()),
            Duration::from_secs(4),
            4096,
        )
        .unwrap_err();
        assert!(matches!(error, RunError::TimedOut { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(8));
        assert!(
            marks.path().join("grandchild-started").exists(),
            "the grandchild did not start within the 4 s: the test proves nothing"
        );
        // Past the moment the grandchild would have left its mark.
        std::thread::sleep(Duration::from_secs(7));
        assert!(
            !marks.path().join("grandchild-survived").exists(),
            "the grandchild outlived the deadline"
        );
    }
}
