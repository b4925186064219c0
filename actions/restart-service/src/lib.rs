//! restart-service: restarts one service unit and checks that it came back —
//! the standard fix for a stuck print spooler, resolver or network manager.
//!
//! Capabilities:
//! - `service-status` (standard): reads the unit's state before and after, to
//!   report what changed and to tell whether the restart worked.
//! - `service-control` (privileged): the restart itself.
//!
//! `ssh.service` is deliberately not declared: restarting the remote-access
//! daemon from a remote session is how the session gets lost.

use salve_sdk::service_status::{self, ServiceState};
use salve_sdk::{ActionError, log, service_control};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The full unit name, e.g. `cups.service`.
    service: String,
}

/// The part of a unit's state that tells whether it runs.
#[derive(Serialize)]
struct State {
    active_state: String,
    sub_state: String,
}

impl From<ServiceState> for State {
    fn from(state: ServiceState) -> Self {
        State {
            active_state: state.active_state,
            sub_state: state.sub_state,
        }
    }
}

#[derive(Serialize)]
struct Output {
    service: String,
    before: State,
    after: State,
    /// Whether the unit is `active` after the restart.
    running_after: bool,
}

fn run(input: Input) -> Result<Output, ActionError> {
    let before = State::from(service_status::status(&input.service)?);
    log::info(&format!(
        "{} before restart: {}/{}",
        input.service, before.active_state, before.sub_state
    ));
    service_control::restart(&input.service)?;
    let after = State::from(service_status::status(&input.service)?);
    if after.active_state != "active" {
        return Err(ActionError::new(
            "not-running",
            format!(
                "{} was restarted but is {}/{} afterwards (before: {}/{}); check its logs",
                input.service,
                after.active_state,
                after.sub_state,
                before.active_state,
                before.sub_state
            ),
        ));
    }
    Ok(Output {
        service: input.service,
        before,
        after,
        running_after: true,
    })
}

salve_sdk::action!(run);
