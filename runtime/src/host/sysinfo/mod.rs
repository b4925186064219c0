//! `sysinfo`: read-only facts about the endpoint. No parameters: granted or
//! not. Where the facts come from differs by operating system: one module
//! each, with the same functions (`linux`: `/proc`, `/etc/os-release`,
//! `statvfs(3)`, `getifaddrs(3)`; `windows`: the system's own APIs).

use super::HostCtx;
use crate::bindings::salve::action::sysinfo::{
    DiskUsage, Host, LoadAverage, MemoryInfo, NetworkInterface, OsInfo,
};
use crate::bindings::salve::action::types::HostError;
use crate::capability::{CapabilityClass, CapabilitySpec};
use crate::engine::{HostData, host_of};

#[cfg(unix)]
mod linux;
#[cfg(unix)]
use linux as system;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as system;

/// What `sysinfo` is: its name, class and link. Its checks are below.
pub(crate) const SPEC: CapabilitySpec = CapabilitySpec {
    name: "sysinfo",
    class: CapabilityClass::Standard,
    summary: "read hostname, OS, kernel, uptime, load, memory, disks, network interfaces",
    link: |linker| {
        crate::bindings::salve::action::sysinfo::add_to_linker::<_, HostData>(linker, host_of)
    },
};

impl Host for HostCtx {
    fn hostname(&mut self) -> Result<String, HostError> {
        system::hostname()
    }

    fn os(&mut self) -> Result<OsInfo, HostError> {
        system::os()
    }

    fn kernel(&mut self) -> Result<String, HostError> {
        system::kernel()
    }

    fn uptime_seconds(&mut self) -> Result<u64, HostError> {
        system::uptime_seconds()
    }

    fn load(&mut self) -> Result<LoadAverage, HostError> {
        system::load()
    }

    fn memory(&mut self) -> Result<MemoryInfo, HostError> {
        system::memory()
    }

    fn disks(&mut self) -> Result<Vec<DiskUsage>, HostError> {
        system::disks()
    }

    fn network_interfaces(&mut self) -> Result<Vec<NetworkInterface>, HostError> {
        system::network_interfaces()
    }
}
