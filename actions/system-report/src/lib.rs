//! system-report: a snapshot of the endpoint for a ticket's first triage.

use salve_sdk::ActionError;
use salve_sdk::sysinfo::{self, DiskUsage, LoadAverage, MemoryInfo, NetworkInterface, OsInfo};
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
    load: LoadAverage,
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
        load: sysinfo::load()?,
        memory: sysinfo::memory()?,
        disks: sysinfo::disks()?,
        network_interfaces: sysinfo::network_interfaces()?,
    })
}

salve_sdk::action!(run);
