//! The endpoint's service manager, used by `service-status` and
//! `service-control` after they have checked the service against the
//! grant: systemd on Linux (`systemd`), the Service Control Manager on
//! Windows (`scm`). Where none is reachable (systemd not running, the SCM
//! refusing a connection), every call answers `unavailable` with a
//! sentence that says why.

use crate::bindings::salve::action::service_status::ServiceState;
use crate::bindings::salve::action::types::HostError;
use crate::capability::ServiceName;
#[cfg(unix)]
use std::path::PathBuf;
use std::time::Duration;

/// How a service manager is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceManager {
    /// systemd, through this `systemctl`.
    #[cfg(unix)]
    Systemd {
        /// The `systemctl` program.
        systemctl: PathBuf,
    },
    /// The Windows Service Control Manager of this computer.
    #[cfg(windows)]
    Scm,
    /// No service manager salve can drive runs on this host.
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

/// Why [`ServiceManager::Absent`] answers nothing.
#[cfg(unix)]
const ABSENT: &str = "no service manager on this host: salve manages services through systemd, which is not running here (/run/systemd/system does not exist)";
#[cfg(windows)]
const ABSENT: &str =
    "no service manager on this host: the Service Control Manager refused salve's connection";

impl ServiceManager {
    /// The service manager of this host: systemd if it is running here
    /// (the test `sd_booted(3)` uses); on Windows the SCM if it accepts a
    /// connection; else [`ServiceManager::Absent`].
    pub fn detect() -> Self {
        #[cfg(unix)]
        return super::systemd::detect();
        #[cfg(windows)]
        return if super::scm::reachable() {
            ServiceManager::Scm
        } else {
            ServiceManager::Absent
        };
    }

    /// The state of `unit`.
    pub fn status(&self, unit: &ServiceName, timeout: Duration) -> Result<ServiceState, HostError> {
        match self {
            #[cfg(unix)]
            ServiceManager::Systemd { systemctl } => {
                super::systemd::status(systemctl, unit, timeout)
            }
            #[cfg(windows)]
            ServiceManager::Scm => super::scm::status(unit, timeout),
            ServiceManager::Absent => Err(HostError::Unavailable(ABSENT.to_string())),
        }
    }

    /// Starts, stops or restarts `unit`, waiting for the job to finish.
    pub fn control(
        &self,
        verb: ServiceVerb,
        unit: &ServiceName,
        timeout: Duration,
    ) -> Result<(), HostError> {
        match self {
            #[cfg(unix)]
            ServiceManager::Systemd { systemctl } => {
                super::systemd::control(systemctl, verb, unit, timeout)
            }
            #[cfg(windows)]
            ServiceManager::Scm => super::scm::control(verb, unit, timeout),
            ServiceManager::Absent => Err(HostError::Unavailable(ABSENT.to_string())),
        }
    }
}
