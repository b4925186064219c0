//! system-report: a snapshot of the endpoint for a ticket's first triage.

use salve_sdk::sysinfo::{self, DiskUsage, LoadAverage, MemoryInfo, NetworkInterface, OsInfo};
use salve_sdk::{ActionError, HostError};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {}

#[derive(Serialize)]
struct Output {
    hostname: String,
    os: OsInfo,
    kernel: String,
    uptime_seconds: u64,
    /// `null` where the system keeps none (Windows).
    load: Option<LoadAverage>,
    memory: MemoryInfo,
    disks: Vec<DiskUsage>,
    network_interfaces: Vec<NetworkInterface>,
}

fn run(_input: Input) -> Result<Output, ActionError> {
    Ok(Output {
        hostname: sysinfo::hostname()?,
        os: sysinfo::os()?,
        kernel: sysinfo::kernel()?,
        uptime_seconds: sysinfo::uptime_seconds()?,
        load: match sysinfo::load() {
            Ok(load) => Some(load),
            Err(HostError::Unavailable(_)) => None,
            Err(error) => return Err(error.into()),
        },
        memory: sysinfo::memory()?,
        disks: sysinfo::disks()?,
        network_interfaces: sysinfo::network_interfaces()?,
    })
}

salve_sdk::action!(run);
