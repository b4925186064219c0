//! A stand-in `systemctl`: a shell script a test writes into a temporary
//! directory and points a runtime at (`RuntimeConfig::service_manager`), so
//! that the real path — the host call, the command line, the cleared
//! environment, the child process, the mapping of its exit status, stderr and
//! deadline — runs as on a host with systemd.
//!
//! It records each call's arguments and the environment it was given (read
//! from `/proc/self/environ`, not from what the shell exports), and answers
//! like systemd from a small state directory the test fills:
//!
//! - `show … UNIT` prints `Key=Value` lines (exit 0): the unit's state if it
//!   is known, else `LoadState=not-found` as systemd does for a unit it has
//!   no file for;
//! - `start`/`restart UNIT` of a known unit exits 0 and makes it
//!   `active/running` (or the state set with [`StandInSystemctl::after_start`]),
//!   `stop` makes it `inactive/dead`;
//! - a verb on an unknown unit exits 5 with systemd's "Unit … not found.";
//! - a unit set to [`StandInSystemctl::fail`] exits 1 with the given stderr;
//! - a unit set to [`StandInSystemctl::hang`] sleeps, as a job that never
//!   finishes.

use salve::host::service_manager::ServiceManager;
use salve::{Runtime, RuntimeConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The environment `systemctl` is run with: nothing of the caller's.
pub const CLEARED_ENVIRONMENT: [&str; 2] = ["LANG=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"];

const SCRIPT: &str = r#"#!/bin/sh
# A stand-in systemctl written by salve's tests.
[ "$1" = --salve-stand-in-ready ] && exit 0
# Its own PATH, whatever it was given: what it was given is recorded as is.
PATH=/usr/bin:/bin
export PATH
dir=$(dirname "$0")
{
    echo call
    for a in "$@"; do printf 'arg %s\n' "$a"; done
    tr '\0' '\n' < /proc/$$/environ | sed 's/^/env /'
    echo end
} >> "$dir/record"
verb=
unit=
for a in "$@"; do
    case "$a" in
    -*) ;;
    *) if [ -z "$verb" ]; then verb=$a; else unit=$a; fi ;;
    esac
done
state="$dir/units/$unit"
case "$verb" in
show)
    if [ -f "$state" ]; then
        cat "$state"
    else
        printf 'Id=%s\nDescription=%s\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\n' "$unit" "$unit"
    fi
    ;;
start|stop|restart)
    if [ -f "$dir/hang/$unit" ]; then
        sleep 30 &
        echo $! > "$dir/hung.pid"
        wait
        exit 0
    fi
    if [ -f "$dir/fail/$unit" ]; then
        cat "$dir/fail/$unit" >&2
        exit 1
    fi
    if [ ! -f "$state" ]; then
        echo "Failed to $verb $unit: Unit $unit not found." >&2
        exit 5
    fi
    if [ "$verb" = stop ]; then
        sed -e 's/^ActiveState=.*/ActiveState=inactive/' -e 's/^SubState=.*/SubState=dead/' -e 's/^MainPID=.*/MainPID=0/' "$state" > "$state.new"
    elif [ -f "$dir/after/$unit" ]; then
        cp "$dir/after/$unit" "$state.new"
    else
        sed -e 's/^ActiveState=.*/ActiveState=active/' -e 's/^SubState=.*/SubState=running/' -e 's/^MainPID=.*/MainPID=4242/' "$state" > "$state.new"
    fi
    mv "$state.new" "$state"
    ;;
*)
    echo "Unknown command verb $verb." >&2
    exit 1
    ;;
esac
"#;

/// One call of the stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Its arguments, without the program.
    pub args: Vec<String>,
    /// Its environment, `KEY=value`, sorted.
    pub env: Vec<String>,
}

impl Call {
    /// The arguments as `&str`s, for comparing with a literal list.
    pub fn args(&self) -> Vec<&str> {
        self.args.iter().map(String::as_str).collect()
    }
}

/// A unit's state as `systemctl show` reports it.
#[derive(Debug, Clone, Copy)]
pub struct UnitState<'a> {
    /// `Description=`.
    pub description: &'a str,
    /// `ActiveState=`.
    pub active_state: &'a str,
    /// `SubState=`.
    pub sub_state: &'a str,
    /// `MainPID=`, 0 for none.
    pub main_pid: u32,
}

impl UnitState<'_> {
    fn show(&self, unit: &str) -> String {
        format!(
            "Id={unit}\nDescription={}\nLoadState=loaded\nActiveState={}\nSubState={}\nMainPID={}\n",
            self.description, self.active_state, self.sub_state, self.main_pid
        )
    }
}

/// The stand-in and its state directory.
pub struct StandInSystemctl {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Default for StandInSystemctl {
    fn default() -> Self {
        Self::new()
    }
}

impl StandInSystemctl {
    /// Writes the stand-in, knowing no unit yet.
    pub fn new() -> StandInSystemctl {
        let dir = tempfile::tempdir().expect("temporary directory");
        for sub in ["units", "after", "fail", "hang"] {
            std::fs::create_dir(dir.path().join(sub)).expect("state directory");
        }
        let path = dir.path().join("systemctl");
        std::fs::write(&path, SCRIPT).expect("write the stand-in");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod the stand-in");
        // A child another test forked while the script was open for writing
        // holds it open until that child execs; until then running the script
        // fails with "text file busy". Once it has run, nothing holds it.
        loop {
            match Command::new(&path).arg("--salve-stand-in-ready").status() {
                Ok(status) => {
                    assert!(status.success(), "the stand-in does not run: {status}");
                    break;
                }
                Err(error) if error.raw_os_error() == Some(nix::libc::ETXTBSY) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(error) => panic!("the stand-in does not run: {error}"),
            }
        }
        StandInSystemctl { dir, path }
    }

    /// The stand-in program.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// systemd reached through the stand-in.
    pub fn service_manager(&self) -> ServiceManager {
        ServiceManager::Systemd {
            systemctl: self.path.clone(),
        }
    }

    /// A runtime whose service manager is the stand-in.
    pub fn runtime(&self) -> Runtime {
        Runtime::new(RuntimeConfig {
            service_manager: Some(self.service_manager()),
            ..RuntimeConfig::default()
        })
        .expect("runtime with the stand-in systemctl")
    }

    /// Makes `unit` known (loaded) in `state`.
    pub fn unit(&self, unit: &str, state: UnitState<'_>) -> &Self {
        std::fs::write(self.dir.path().join("units").join(unit), state.show(unit))
            .expect("unit state");
        self
    }

    /// The state `unit` is in after a `start` or `restart` that succeeded
    /// (`active/running`, main PID 4242, unless set here).
    pub fn after_start(&self, unit: &str, state: UnitState<'_>) -> &Self {
        std::fs::write(self.dir.path().join("after").join(unit), state.show(unit))
            .expect("unit state after start");
        self
    }

    /// Makes `start`, `stop` and `restart` of `unit` exit 1 with `stderr`.
    pub fn fail(&self, unit: &str, stderr: &str) -> &Self {
        std::fs::write(self.dir.path().join("fail").join(unit), stderr).expect("failure");
        self
    }

    /// Makes `start`, `stop` and `restart` of `unit` never finish.
    pub fn hang(&self, unit: &str) -> &Self {
        std::fs::write(self.dir.path().join("hang").join(unit), "").expect("hang");
        self
    }

    /// The process id of the `sleep` the last call that hung started, once
    /// one has: a child of the stand-in, in its process group.
    pub fn hung_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join("hung.pid"))
            .ok()
            .map(|pid| pid.trim().parse().expect("a process id"))
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        let text = std::fs::read_to_string(self.dir.path().join("record")).unwrap_or_default();
        let mut calls = Vec::new();
        let mut current: Option<Call> = None;
        for line in text.lines() {
            match (line, current.as_mut()) {
                ("call", None) => {
                    current = Some(Call {
                        args: Vec::new(),
                        env: Vec::new(),
                    });
                }
                ("end", Some(_)) => {
                    let mut call = current.take().expect("a call");
                    call.env.sort();
                    calls.push(call);
                }
                (line, Some(call)) if line.starts_with("arg ") => {
                    call.args.push(line["arg ".len()..].to_string());
                }
                (line, Some(call)) if line.starts_with("env ") => {
                    call.env.push(line["env ".len()..].to_string());
                }
                (line, _) => panic!("unexpected line in the stand-in's record: {line:?}"),
            }
        }
        assert!(current.is_none(), "a call was recorded only in part");
        calls
    }
}

/// Whether process `pid` has ended (it may be left as a zombie its parent
/// has not reaped yet), waiting up to two seconds for it to.
pub fn process_ended(pid: i32) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let ended = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the command name, which is in parentheses.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
            Err(_) => true,
        };
        if ended || std::time::Instant::now() >= deadline {
            return ended;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The arguments `salve` runs `systemctl show` with for `unit`.
pub fn show_args(unit: &str) -> Vec<&str> {
    vec![
        "--no-pager",
        "--no-ask-password",
        "show",
        "--property=Id,Description,LoadState,ActiveState,SubState,MainPID",
        "--",
        unit,
    ]
}

/// The arguments `salve` runs `systemctl VERB` with for `unit`.
pub fn control_args<'a>(verb: &'a str, unit: &'a str) -> Vec<&'a str> {
    vec!["--no-pager", "--no-ask-password", verb, "--", unit]
}
