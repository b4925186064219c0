//! Restarts a service although its manifest declares only `sysinfo`: the
//! runtime must refuse it before it runs.

use salve_sdk::{ActionError, service_control};
use serde::Deserialize;

#[derive(Deserialize)]
struct Input {
    service: String,
}

fn run(input: Input) -> Result<String, ActionError> {
    service_control::restart(&input.service)?;
    Ok("restarted".to_string())
}

salve_sdk::action!(run);
