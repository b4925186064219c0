//! Example of writing a new action: "has this machine been rebooted lately?"
//!
//! Build it into a package and run it locally:
//!
//! ```text
//! rustup target add wasm32-wasip2
//! cargo run --release -- action build examples/uptime-check
//! cargo run --release -- run examples/uptime-check --input '{"max_days": 30}' --grant sysinfo
//! ```
//!
//! An action is one typed function: `Input` is decoded from the JSON the
//! technician sends, `Output` is encoded back, and `?` turns a failed host
//! call into the action's error. The capabilities it uses (`sysinfo` here)
//! must be declared in `action.toml`, or the runtime refuses to run it.

use salve_sdk::{ActionError, log, sysinfo};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Uptime above this many days counts as overdue for a reboot.
    max_days: u64,
}

#[derive(Serialize)]
struct Output {
    uptime_days: f64,
    reboot_overdue: bool,
}

fn run(input: Input) -> Result<Output, ActionError> {
    if input.max_days == 0 {
        return Err(ActionError::invalid_input("max_days must be at least 1"));
    }
    let seconds = sysinfo::uptime_seconds()?;
    let uptime_days = seconds as f64 / 86_400.0;
    let reboot_overdue = seconds > input.max_days * 86_400;
    if reboot_overdue {
        log::warn(&format!(
            "up for {uptime_days:.1} days, more than {}",
            input.max_days
        ));
    }
    Ok(Output {
        uptime_days,
        reboot_overdue,
    })
}

salve_sdk::action!(run);
