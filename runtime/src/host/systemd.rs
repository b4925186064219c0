//! systemd, driven through `systemctl`: the service manager on Linux.

use super::process;
use super::service_manager::{ServiceManager, ServiceVerb};
use crate::bindings::salve::action::service_status::ServiceState;
use crate::bindings::salve::action::types::HostError;
use crate::capability::ServiceName;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Largest `systemctl` output kept; its answers are a few hundred bytes.
const SYSTEMCTL_OUTPUT_CAP: usize = 64 << 10;

/// systemd if it is running here (the test `sd_booted(3)` uses), else
/// [`ServiceManager::Absent`].
pub(super) fn detect() -> ServiceManager {
    detect_in(Path::new("/"))
}

/// [`detect`] on the file tree under `root`: systemd if
/// `root/run/systemd/system` is a directory and `root/usr/bin/systemctl`
/// or else `root/bin/systemctl` is a file.
fn detect_in(root: &Path) -> ServiceManager {
    if !root.join("run/systemd/system").is_dir() {
        return ServiceManager::Absent;
    }
    ["usr/bin/systemctl", "bin/systemctl"]
        .into_iter()
        .map(|p| root.join(p))
        .find(|p| p.is_file())
        .map_or(ServiceManager::Absent, |systemctl| {
            ServiceManager::Systemd { systemctl }
        })
}

fn systemctl(systemctl: &Path) -> Command {
    let mut command = Command::new(systemctl);
    command
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C")
        .args(["--no-pager", "--no-ask-password"]);
    command
}

/// The state of `unit`.
pub(super) fn status(
    program: &Path,
    unit: &ServiceName,
    timeout: Duration,
) -> Result<ServiceState, HostError> {
    let mut command = systemctl(program);
    command
        .args([
            "show",
            "--property=Id,Description,LoadState,ActiveState,SubState,MainPID",
            "--",
        ])
        .arg(unit.as_str());
    let stdout = run_systemctl(command, timeout, unit, "show")?;
    Ok(parse_show(unit, &String::from_utf8_lossy(&stdout)))
}

/// Starts, stops or restarts `unit`, waiting for the job to finish.
pub(super) fn control(
    program: &Path,
    verb: ServiceVerb,
    unit: &ServiceName,
    timeout: Duration,
) -> Result<(), HostError> {
    let mut command = systemctl(program);
    command.arg(verb.name()).arg("--").arg(unit.as_str());
    run_systemctl(command, timeout, unit, verb.name()).map(drop)
}

fn run_systemctl(
    command: Command,
    timeout: Duration,
    unit: &ServiceName,
    verb: &str,
) -> Result<Vec<u8>, HostError> {
    match process::run(command, timeout, SYSTEMCTL_OUTPUT_CAP) {
        Ok(finished) if finished.status.success() => Ok(finished.stdout),
        Ok(finished) => {
            let stderr = String::from_utf8_lossy(&finished.stderr);
            let reason = stderr.trim();
            let reason: String = reason.chars().take(500).collect();
            if reason.contains("not found") || reason.contains("not loaded") {
                return Err(HostError::NotFound(format!(
                    "systemctl {verb} {unit}: {reason}"
                )));
            }
            Err(HostError::Failed(format!(
                "systemctl {verb} {unit} failed ({}): {reason}",
                finished.status
            )))
        }
        Err(process::RunError::TimedOut { after, .. }) => Err(HostError::TimedOut(format!(
            "systemctl {verb} {unit} did not finish within {}ms",
            after.as_millis()
        ))),
        Err(error) => Err(HostError::Unavailable(error.to_string())),
    }
}

/// Reads `systemctl show` output (`Key=Value` lines).
fn parse_show(unit: &ServiceName, text: &str) -> ServiceState {
    let mut state = ServiceState {
        name: unit.as_str().to_string(),
        description: String::new(),
        load_state: String::new(),
        active_state: String::new(),
        sub_state: String::new(),
        main_pid: None,
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.to_string();
        match key {
            "Id" if !value.is_empty() => state.name = value,
            "Description" => state.description = value,
            "LoadState" => state.load_state = value,
            "ActiveState" => state.active_state = value,
            "SubState" => state.sub_state = value,
            "MainPID" => state.main_pid = value.parse().ok().filter(|pid| *pid != 0),
            _ => {}
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_systemctl_show() {
        let unit: ServiceName = "cups.service".parse().unwrap();
        let state = parse_show(
            &unit,
            "Id=cups.service\nDescription=CUPS Scheduler\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=812\n",
        );
        assert_eq!(state.description, "CUPS Scheduler");
        assert_eq!(
            (
                state.load_state.as_str(),
                state.active_state.as_str(),
                state.sub_state.as_str()
            ),
            ("loaded", "active", "running")
        );
        assert_eq!(state.main_pid, Some(812));
        let gone = parse_show(&unit, "Id=cups.service\nLoadState=not-found\nMainPID=0\n");
        assert_eq!(gone.load_state, "not-found");
        assert_eq!(gone.main_pid, None);
    }

    /// A stand-in `systemctl` in a temporary directory: it appends its
    /// arguments and the environment it was given to `record` (one call per
    /// line: the arguments, a tab, the environment, each item ended by `|`),
    /// then answers by the unit's name as systemd would.
    fn stand_in() -> (tempfile::TempDir, ServiceManager) {
        let dir = tempfile::tempdir().unwrap();
        let systemctl = dir.path().join("systemctl");
        let record = dir.path().join("record");
        let script = format!(
            r#"#!/bin/sh
[ "$1" = --ready ] && exit 0
PATH=/usr/bin:/bin
{{ for a in "$@"; do printf '%s|' "$a"; done; printf '\t'; tr '\0' '|' < /proc/$$/environ; echo; }} >> '{record}'
for a in "$@"; do unit=$a; done
case "$*" in
*' show '*)
    case "$unit" in
    nobus.service) echo 'Failed to connect to bus: No such file or directory' >&2; exit 1 ;;
    esac
    printf 'Id=%s\nDescription=CUPS Scheduler\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=812\n' "$unit" ;;
*)
    case "$unit" in
    missing.service) echo "Failed to restart $unit: Unit $unit not found." >&2; exit 5 ;;
    unloaded.service) echo "Failed to stop $unit: Unit $unit not loaded." >&2; exit 5 ;;
    broken.service) echo "Job for $unit failed because the control process exited with error code." >&2; exit 1 ;;
    slow.service) sleep 30 ;;
    esac ;;
esac
"#,
            record = record.display()
        );
        std::fs::write(&systemctl, script).unwrap();
        std::fs::set_permissions(
            &systemctl,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        // Another test's child forked while the script was open for writing
        // holds it open until it execs: until then, running it fails with
        // "text file busy".
        while let Err(error) = Command::new(&systemctl).arg("--ready").status() {
            assert_eq!(error.raw_os_error(), Some(nix::libc::ETXTBSY), "{error}");
            std::thread::sleep(Duration::from_millis(10));
        }
        (dir, ServiceManager::Systemd { systemctl })
    }

    /// The stand-in's calls: each one's arguments and (sorted) environment.
    fn calls(dir: &tempfile::TempDir) -> Vec<(Vec<String>, Vec<String>)> {
        let text = std::fs::read_to_string(dir.path().join("record")).unwrap_or_default();
        let items = |part: &str| -> Vec<String> {
            part.split_terminator('|').map(str::to_string).collect()
        };
        text.lines()
            .map(|line| {
                let (args, env) = line.split_once('\t').unwrap();
                let mut env = items(env);
                env.sort();
                (items(args), env)
            })
            .collect()
    }

    fn unit(name: &str) -> ServiceName {
        name.parse().unwrap()
    }

    const SECOND: Duration = Duration::from_secs(1);

    /// The kind and message of the error `result` must be.
    fn error<T: std::fmt::Debug>(result: Result<T, HostError>) -> (&'static str, String) {
        match result.unwrap_err() {
            HostError::Denied(m) => ("denied", m),
            HostError::NotFound(m) => ("not-found", m),
            HostError::Unavailable(m) => ("unavailable", m),
            HostError::TimedOut(m) => ("timed-out", m),
            HostError::Failed(m) => ("failed", m),
        }
    }

    #[test]
    fn detects_systemd_where_it_runs_and_only_there() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        // Neither the marker nor systemctl.
        assert_eq!(detect_in(root), ServiceManager::Absent);
        // systemctl installed, systemd not running (a container).
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("bin/systemctl"), "").unwrap();
        assert_eq!(detect_in(root), ServiceManager::Absent);
        // Running, with systemctl only in /bin.
        std::fs::create_dir_all(root.join("run/systemd/system")).unwrap();
        assert_eq!(
            detect_in(root),
            ServiceManager::Systemd {
                systemctl: root.join("bin/systemctl")
            }
        );
        // /usr/bin comes first.
        std::fs::write(root.join("usr/bin/systemctl"), "").unwrap();
        assert_eq!(
            detect_in(root),
            ServiceManager::Systemd {
                systemctl: root.join("usr/bin/systemctl")
            }
        );
        // A directory by that name is not the program.
        std::fs::remove_file(root.join("usr/bin/systemctl")).unwrap();
        std::fs::remove_file(root.join("bin/systemctl")).unwrap();
        std::fs::create_dir(root.join("usr/bin/systemctl")).unwrap();
        assert_eq!(detect_in(root), ServiceManager::Absent);
        // The marker must be a directory.
        let other = tempfile::tempdir().unwrap();
        let other = other.path();
        std::fs::create_dir_all(other.join("run/systemd")).unwrap();
        std::fs::write(other.join("run/systemd/system"), "").unwrap();
        std::fs::create_dir_all(other.join("usr/bin")).unwrap();
        std::fs::write(other.join("usr/bin/systemctl"), "").unwrap();
        assert_eq!(detect_in(other), ServiceManager::Absent);
        // detect() is the same test on the real root.
        assert_eq!(ServiceManager::detect(), detect_in(Path::new("/")));
    }

    #[test]
    fn status_runs_systemctl_show_with_a_cleared_environment() {
        let (dir, manager) = stand_in();
        let state = manager.status(&unit("cups.service"), SECOND).unwrap();
        assert_eq!(
            (
                state.name.as_str(),
                state.description.as_str(),
                state.load_state.as_str(),
                state.active_state.as_str(),
                state.sub_state.as_str(),
                state.main_pid
            ),
            (
                "cups.service",
                "CUPS Scheduler",
                "loaded",
                "active",
                "running",
                Some(812)
            )
        );
        assert_eq!(
            calls(&dir),
            [(
                vec![
                    "--no-pager".to_string(),
                    "--no-ask-password".to_string(),
                    "show".to_string(),
                    "--property=Id,Description,LoadState,ActiveState,SubState,MainPID".to_string(),
                    "--".to_string(),
                    "cups.service".to_string(),
                ],
                vec![
                    "LANG=C".to_string(),
                    "PATH=/usr/sbin:/usr/bin:/sbin:/bin".to_string()
                ],
            )]
        );
    }

    #[test]
    fn control_runs_the_verb_on_the_unit_with_a_cleared_environment() {
        let (dir, manager) = stand_in();
        let cups = unit("cups.service");
        for verb in [ServiceVerb::Start, ServiceVerb::Stop, ServiceVerb::Restart] {
            manager.control(verb, &cups, SECOND).unwrap();
        }
        let calls = calls(&dir);
        let args: Vec<Vec<&str>> = calls
            .iter()
            .map(|(args, _)| args.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            args,
            [
                [
                    "--no-pager",
                    "--no-ask-password",
                    "start",
                    "--",
                    "cups.service"
                ],
                [
                    "--no-pager",
                    "--no-ask-password",
                    "stop",
                    "--",
                    "cups.service"
                ],
                [
                    "--no-pager",
                    "--no-ask-password",
                    "restart",
                    "--",
                    "cups.service"
                ],
            ]
        );
        for (_, env) in &calls {
            assert_eq!(env, &["LANG=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
        }
    }

    #[test]
    fn systemctl_failures_map_to_not_found_failed_and_timed_out() {
        let (_dir, manager) = stand_in();
        let restart =
            |name: &str, timeout| manager.control(ServiceVerb::Restart, &unit(name), timeout);
        assert_eq!(
            error(restart("missing.service", SECOND)),
            ("not-found", "systemctl restart missing.service: Failed to restart missing.service: Unit missing.service not found.".to_string())
        );
        assert_eq!(
            error(manager.control(ServiceVerb::Stop, &unit("unloaded.service"), SECOND)),
            ("not-found", "systemctl stop unloaded.service: Failed to stop unloaded.service: Unit unloaded.service not loaded.".to_string())
        );
        assert_eq!(
            error(restart("broken.service", SECOND)),
            ("failed", "systemctl restart broken.service failed (exit status: 1): Job for broken.service failed because the control process exited with error code.".to_string())
        );
        assert_eq!(
            error(manager.status(&unit("nobus.service"), SECOND)),
            ("failed", "systemctl show nobus.service failed (exit status: 1): Failed to connect to bus: No such file or directory".to_string())
        );
        let started = std::time::Instant::now();
        assert_eq!(
            error(restart("slow.service", Duration::from_millis(300))),
            (
                "timed-out",
                "systemctl restart slow.service did not finish within 300ms".to_string()
            )
        );
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5),
            "{elapsed:?}"
        );
    }

    #[test]
    fn a_systemctl_that_cannot_start_is_unavailable() {
        let manager = ServiceManager::Systemd {
            systemctl: std::path::PathBuf::from("/nonexistent/salve-test/systemctl"),
        };
        assert_eq!(
            error(manager.control(ServiceVerb::Restart, &unit("cups.service"), SECOND)),
            ("unavailable", "could not start /nonexistent/salve-test/systemctl: No such file or directory (os error 2)".to_string())
        );
    }

    #[test]
    fn absent_manager_says_so() {
        let unit: ServiceName = "cups.service".parse().unwrap();
        let error = ServiceManager::Absent
            .status(&unit, Duration::from_secs(1))
            .unwrap_err();
        assert!(
            matches!(&error, HostError::Unavailable(m) if m.starts_with("no service manager on this host")),
            "{error:?}"
        );
    }
}
