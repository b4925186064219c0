//! service-status: the state of one service unit, and whether it is healthy
//! (active) — to see whether printing, scheduling, networking, remote access,
//! name resolution or time sync is running before changing anything.
//!
//! Capabilities:
//! - `service-status` (standard): reads the unit's state from the service
//!   manager, for the units listed in `action.toml` only.

use salve_sdk::ActionError;
use salve_sdk::service_status::{self, ServiceState};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The full unit name, e.g. `cups.service`.
    service: String,
}

#[derive(Serialize)]
struct Output {
    #[serde(flatten)]
    state: ServiceState,
    /// Whether `active_state` is `active`.
    healthy: bool,
}

fn run(input: Input) -> Result<Output, ActionError> {
    let state = service_status::status(&input.service)?;
    let healthy = state.active_state == "active";
    Ok(Output { state, healthy })
}

salve_sdk::action!(run);
