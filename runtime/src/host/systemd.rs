//! The endpoint's service manager: systemd, driven through `systemctl`.
//!
//! Used by `service-status` and `service-control` after they have checked the
//! unit against the grant. Where systemd is not running, every call answers
//! `unavailable` with a sentence that says so.

use super::process;
use crate::capability::ServiceName;
use crate::engine::bindings::salve::action::service_status::ServiceState;
use crate::engine::bindings::salve::action::types::HostError;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Largest `systemctl` output kept; its answers are a few hundred bytes.
const SYSTEMCTL_OUTPUT_CAP: usize = 64 << 10;

/// How a service manager is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceManager {
    /// systemd, through this `systemctl`.
    Systemd {
        /// The `systemctl` program.
        systemctl: PathBuf,
    },
    /// No service manager runs on this host.
    Absent,
}

/// What `service-control` may do to a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceVerb {
    /// `systemctl start`.
    Start,
    /// `systemctl stop`.
    Stop,
    /// `systemctl restart`.
    Restart,
}

impl ServiceVerb {
    /// The `systemctl` verb and WIT function name.
    pub fn name(self) -> &'static str {
        match self {
            ServiceVerb::Start => "start",
            ServiceVerb::Stop => "stop",
            ServiceVerb::Restart => "restart",
        }
    }
}

impl ServiceManager {
    /// systemd if it is running here (the test `sd_booted(3)` uses), else
    /// [`ServiceManager::Absent`].
    pub fn detect() -> Self {
        if !Path::new("/run/systemd/system").is_dir() {
            return ServiceManager::Absent;
        }
        ["/usr/bin/systemctl", "/bin/systemctl"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .map_or(ServiceManager::Absent, |systemctl| {
                ServiceManager::Systemd { systemctl }
            })
    }

    fn systemctl(&self) -> Result<Command, HostError> {
        let ServiceManager::Systemd { systemctl } = self else {
            return Err(HostError::Unavailable(
                "no service manager on this host: salve manages services through systemd, which is not running here (/run/systemd/system does not exist)"
                    .to_string(),
            ));
        };
        let mut command = Command::new(systemctl);
        command
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C")
            .args(["--no-pager", "--no-ask-password"]);
        Ok(command)
    }

    /// The state of `unit`.
    pub fn status(&self, unit: &ServiceName, timeout: Duration) -> Result<ServiceState, HostError> {
        let mut command = self.systemctl()?;
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
    pub fn control(
        &self,
        verb: ServiceVerb,
        unit: &ServiceName,
        timeout: Duration,
    ) -> Result<(), HostError> {
        let mut command = self.systemctl()?;
        command.arg(verb.name()).arg("--").arg(unit.as_str());
        run_systemctl(command, timeout, unit, verb.name()).map(drop)
    }
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
