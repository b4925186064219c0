//! Windows services through the Service Control Manager (the
//! `windows-service` crate): the state of a service, and starting,
//! stopping and restarting it, waiting until it has reached the state asked
//! for. Used by `ServiceManager::Scm` after the grant check.
//!
//! A service's state is answered in the words `service-status` uses for
//! systemd units, so that an action reads both alike:
//!
//! | SCM | `active-state` | `sub-state` |
//! | --- | --- | --- |
//! | running | `active` | `running` |
//! | stopped, exit code 0 (or never started) | `inactive` | `stopped` |
//! | stopped, another exit code | `failed` | `stopped` |
//! | start or continue pending | `activating` | `start-pending`, `continue-pending` |
//! | stop pending | `deactivating` | `stop-pending` |
//! | paused, pause pending | `active` | `paused`, `pause-pending` |
//!
//! `load-state` is `loaded`, `disabled` (start type disabled) or
//! `not-found`. A service the SCM does not know is a state (`not-found`),
//! not an error, as `systemctl show` answers for a unit it does not know.
//!
//! Every call runs on a thread of its own and is given up at the
//! invocation's deadline: the SCM may hold a `StartService` for as long as
//! a service takes to start (up to 30 s), and a guest's deadline must not
//! wait for it.

use super::service_manager::ServiceVerb;
use crate::bindings::salve::action::service_status::ServiceState as State;
use crate::bindings::salve::action::types::HostError;
use crate::capability::ServiceName;
use std::time::{Duration, Instant};
use windows_service::service::{
    ServiceAccess, ServiceExitCode, ServiceStartType, ServiceState, ServiceStatus,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

/// `ERROR_SERVICE_DOES_NOT_EXIST`.
const DOES_NOT_EXIST: i32 = 1060;
/// `ERROR_SERVICE_ALREADY_RUNNING`.
const ALREADY_RUNNING: i32 = 1056;
/// `ERROR_SERVICE_NOT_ACTIVE`.
const NOT_ACTIVE: i32 = 1062;
/// `ERROR_ACCESS_DENIED`.
const ACCESS_DENIED: i32 = 5;
/// `ERROR_SERVICE_NEVER_STARTED`: the exit code of a service not started
/// since boot.
const NEVER_STARTED: u32 = 1077;

/// How often a pending start or stop is looked at again.
const POLL: Duration = Duration::from_millis(50);

/// Whether the Service Control Manager answers here.
pub(super) fn reachable() -> bool {
    ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT).is_ok()
}

/// The state of `service`.
pub(super) fn status(service: &ServiceName, timeout: Duration) -> Result<State, HostError> {
    let name = service.as_str().to_string();
    within(timeout, "query", service, move || query(&name))
}

/// Starts, stops or restarts `service`, waiting until it is running (or
/// stopped).
pub(super) fn control(
    verb: ServiceVerb,
    service: &ServiceName,
    timeout: Duration,
) -> Result<(), HostError> {
    let name = service.as_str().to_string();
    let deadline = Instant::now() + timeout;
    within(timeout, verb.name(), service, move || {
        drive(verb, &name, deadline)
    })
}

/// Runs `call` on a thread of its own, giving it up after `timeout`.
fn within<T: Send + 'static>(
    timeout: Duration,
    verb: &str,
    service: &ServiceName,
    call: impl FnOnce() -> Result<T, HostError> + Send + 'static,
) -> Result<T, HostError> {
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("salve-scm".to_string())
        .spawn(move || {
            let _ = answer.send(call());
        })
        .map_err(|e| HostError::Unavailable(format!("cannot start a thread for the SCM: {e}")))?;
    answered.recv_timeout(timeout).unwrap_or_else(|_| {
        Err(HostError::TimedOut(format!(
            "{verb} {service}: the Service Control Manager did not finish within {}ms",
            timeout.as_millis()
        )))
    })
}

fn failure(what: &str, name: &str, error: &windows_service::Error) -> HostError {
    let code = match error {
        windows_service::Error::Winapi(io) => io.raw_os_error(),
        _ => None,
    };
    match code {
        Some(DOES_NOT_EXIST) => HostError::NotFound(format!("{what} {name}: no such service")),
        Some(ACCESS_DENIED) => HostError::Failed(format!(
            "{what} {name}: access denied (the service account salve runs as may not do this)"
        )),
        _ => HostError::Failed(format!("{what} {name}: {error}")),
    }
}

fn query(name: &str) -> Result<State, HostError> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(|e| failure("connect to the SCM for", name, &e))?;
    let service = match manager.open_service(
        name,
        ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG,
    ) {
        Ok(service) => service,
        Err(windows_service::Error::Winapi(io)) if io.raw_os_error() == Some(DOES_NOT_EXIST) => {
            return Ok(not_found(name));
        }
        Err(error) => return Err(failure("open", name, &error)),
    };
    let status = service
        .query_status()
        .map_err(|e| failure("query", name, &e))?;
    let config = service
        .query_config()
        .map_err(|e| failure("query the configuration of", name, &e))?;
    let (active, sub) = state_words(&status);
    Ok(State {
        name: name.to_string(),
        description: config.display_name.to_string_lossy().into_owned(),
        load_state: if config.start_type == ServiceStartType::Disabled {
            "disabled"
        } else {
            "loaded"
        }
        .to_string(),
        active_state: active.to_string(),
        sub_state: sub.to_string(),
        main_pid: status.process_id.filter(|pid| *pid != 0),
    })
}

fn not_found(name: &str) -> State {
    State {
        name: name.to_string(),
        description: String::new(),
        load_state: "not-found".to_string(),
        active_state: "inactive".to_string(),
        sub_state: "dead".to_string(),
        main_pid: None,
    }
}

/// The `active-state` and `sub-state` of a service's status (the table
/// in this module's documentation).
fn state_words(status: &ServiceStatus) -> (&'static str, &'static str) {
    let exited_cleanly = matches!(status.exit_code, ServiceExitCode::Win32(0 | NEVER_STARTED));
    match status.current_state {
        ServiceState::Running => ("active", "running"),
        ServiceState::Stopped if exited_cleanly => ("inactive", "stopped"),
        ServiceState::Stopped => ("failed", "stopped"),
        ServiceState::StartPending => ("activating", "start-pending"),
        ServiceState::ContinuePending => ("activating", "continue-pending"),
        ServiceState::StopPending => ("deactivating", "stop-pending"),
        ServiceState::Paused => ("active", "paused"),
        ServiceState::PausePending => ("active", "pause-pending"),
    }
}

fn drive(verb: ServiceVerb, name: &str, deadline: Instant) -> Result<(), HostError> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(|e| failure("connect to the SCM for", name, &e))?;
    let service = manager
        .open_service(
            name,
            ServiceAccess::QUERY_STATUS | ServiceAccess::START | ServiceAccess::STOP,
        )
        .map_err(|e| failure(verb.name(), name, &e))?;
    if matches!(verb, ServiceVerb::Stop | ServiceVerb::Restart) {
        match service.stop() {
            Ok(_) => {}
            Err(windows_service::Error::Winapi(io)) if io.raw_os_error() == Some(NOT_ACTIVE) => {}
            Err(error) => return Err(failure("stop", name, &error)),
        }
        wait_for(&service, name, ServiceState::Stopped, deadline)?;
    }
    if matches!(verb, ServiceVerb::Start | ServiceVerb::Restart) {
        match service.start::<&str>(&[]) {
            Ok(()) => {}
            Err(windows_service::Error::Winapi(io))
                if io.raw_os_error() == Some(ALREADY_RUNNING) => {}
            Err(error) => return Err(failure("start", name, &error)),
        }
        wait_for(&service, name, ServiceState::Running, deadline)?;
    }
    Ok(())
}

/// Waits until `service` is in `wanted`; a service that stops while it
/// should be starting has failed.
fn wait_for(
    service: &windows_service::service::Service,
    name: &str,
    wanted: ServiceState,
    deadline: Instant,
) -> Result<(), HostError> {
    loop {
        let status = service
            .query_status()
            .map_err(|e| failure("query", name, &e))?;
        if status.current_state == wanted {
            return Ok(());
        }
        if wanted == ServiceState::Running && status.current_state == ServiceState::Stopped {
            return Err(HostError::Failed(format!(
                "start {name}: the service stopped again (exit code {:?})",
                status.exit_code
            )));
        }
        if Instant::now() + POLL > deadline {
            // `within` answers the timeout; this thread just ends.
            return Err(HostError::TimedOut(format!(
                "{name} did not reach {wanted:?} in time"
            )));
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use windows_service::service::{ServiceControlAccept, ServiceType};

    fn status(state: ServiceState, exit: u32) -> ServiceStatus {
        ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: ServiceControlAccept::empty(),
            exit_code: ServiceExitCode::Win32(exit),
            checkpoint: 0,
            wait_hint: Duration::ZERO,
            process_id: None,
        }
    }

    #[test]
    fn states_read_as_service_status_words() {
        assert_eq!(
            state_words(&status(ServiceState::Running, 0)),
            ("active", "running")
        );
        assert_eq!(
            state_words(&status(ServiceState::Stopped, 0)),
            ("inactive", "stopped")
        );
        assert_eq!(
            state_words(&status(ServiceState::Stopped, 1077)),
            ("inactive", "stopped")
        );
        assert_eq!(
            state_words(&status(ServiceState::Stopped, 1067)),
            ("failed", "stopped")
        );
        assert_eq!(
            state_words(&status(ServiceState::StopPending, 0)),
            ("deactivating", "stop-pending")
        );
    }
}
