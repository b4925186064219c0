//! disk-usage: how full each mounted filesystem is, and which ones are at or
//! above a threshold — the first check for "the machine is slow" or "I cannot
//! save my file".
//!
//! Capabilities:
//! - `sysinfo` (standard): the list of mounted filesystems and their sizes.

use salve_sdk::sysinfo::{self, DiskUsage};
use salve_sdk::{ActionError, log};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Input {
    /// A mount at or above this percentage used is listed in `warnings`.
    warn_percent: u8,
}

impl Default for Input {
    fn default() -> Self {
        Input { warn_percent: 90 }
    }
}

#[derive(Serialize)]
struct Mount {
    #[serde(flatten)]
    usage: DiskUsage,
    /// Used space as `df` computes it: used / (used + available), so space
    /// reserved for root counts as full.
    used_percent: f64,
}

#[derive(Serialize)]
struct Output {
    warn_percent: u8,
    mounts: Vec<Mount>,
    /// Mount points at or above `warn_percent`.
    warnings: Vec<String>,
}

fn used_percent(disk: &DiskUsage) -> f64 {
    let usable = disk.used_bytes.saturating_add(disk.available_bytes);
    if usable == 0 {
        return 0.0;
    }
    let percent = disk.used_bytes as f64 * 100.0 / usable as f64;
    (percent * 10.0).round() / 10.0
}

fn run(input: Input) -> Result<Output, ActionError> {
    if !(1..=100).contains(&input.warn_percent) {
        return Err(ActionError::invalid_input(
            "warn_percent must be between 1 and 100",
        ));
    }
    let mounts: Vec<Mount> = sysinfo::disks()?
        .into_iter()
        .map(|usage| Mount {
            used_percent: used_percent(&usage),
            usage,
        })
        .collect();
    let warnings: Vec<String> = mounts
        .iter()
        .filter(|m| m.used_percent >= f64::from(input.warn_percent))
        .map(|m| m.usage.mount_point.clone())
        .collect();
    for mount in &warnings {
        log::warn(&format!(
            "{mount} is at or above {}% used",
            input.warn_percent
        ));
    }
    Ok(Output {
        warn_percent: input.warn_percent,
        mounts,
        warnings,
    })
}

salve_sdk::action!(run);
