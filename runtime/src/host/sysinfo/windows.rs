//! `sysinfo` on Windows: from the system's own APIs, through the `sysinfo`
//! crate (`GetComputerNameExW`, the registry's version keys,
//! `GlobalMemoryStatusEx`, `GetDiskFreeSpaceExW` over the volumes,
//! `GetAdaptersAddresses`).
//!
//! Windows keeps no load average: `load` answers `unavailable` and says so.

use crate::bindings::salve::action::sysinfo::{
    DiskUsage, LoadAverage, MemoryInfo, NetworkInterface, OsInfo,
};
use crate::bindings::salve::action::types::HostError;
use ::sysinfo::{Disks, Networks, System};

fn unknown(what: &str) -> HostError {
    HostError::Unavailable(format!("Windows did not tell this host's {what}"))
}

pub(super) fn hostname() -> Result<String, HostError> {
    System::host_name().ok_or_else(|| unknown("name"))
}

pub(super) fn os() -> Result<OsInfo, HostError> {
    Ok(OsInfo {
        name: System::name().unwrap_or_else(|| "Windows".to_string()),
        version: System::long_os_version()
            .or_else(System::os_version)
            .unwrap_or_default(),
        architecture: std::env::consts::ARCH.to_string(),
    })
}

pub(super) fn kernel() -> Result<String, HostError> {
    System::kernel_version().ok_or_else(|| unknown("kernel version"))
}

pub(super) fn uptime_seconds() -> Result<u64, HostError> {
    Ok(System::uptime())
}

pub(super) fn load() -> Result<LoadAverage, HostError> {
    Err(HostError::Unavailable(
        "Windows keeps no load average".to_string(),
    ))
}

pub(super) fn memory() -> Result<MemoryInfo, HostError> {
    let mut system = System::new();
    system.refresh_memory();
    if system.total_memory() == 0 {
        return Err(unknown("memory"));
    }
    Ok(MemoryInfo {
        total_bytes: system.total_memory(),
        available_bytes: system.available_memory(),
        swap_total_bytes: system.total_swap(),
        swap_free_bytes: system.free_swap(),
    })
}

pub(super) fn disks() -> Result<Vec<DiskUsage>, HostError> {
    let disks = Disks::new_with_refreshed_list();
    Ok(disks
        .list()
        .iter()
        .filter(|disk| disk.total_space() > 0)
        .map(|disk| DiskUsage {
            mount_point: disk.mount_point().to_string_lossy().into_owned(),
            device: disk.name().to_string_lossy().into_owned(),
            filesystem: disk.file_system().to_string_lossy().into_owned(),
            total_bytes: disk.total_space(),
            used_bytes: disk.total_space().saturating_sub(disk.available_space()),
            available_bytes: disk.available_space(),
        })
        .collect())
}

pub(super) fn network_interfaces() -> Result<Vec<NetworkInterface>, HostError> {
    let networks = Networks::new_with_refreshed_list();
    let mut interfaces: Vec<NetworkInterface> = networks
        .iter()
        .map(|(name, data)| {
            let mac = data.mac_address();
            let addresses: Vec<String> = data
                .ip_networks()
                .iter()
                .map(|network| format!("{}/{}", network.addr, network.prefix))
                .collect();
            NetworkInterface {
                name: name.clone(),
                // An adapter Windows lists with an address is up.
                up: !addresses.is_empty(),
                mac: (mac.0 != [0; 6]).then(|| mac.to_string()),
                addresses,
            }
        })
        .collect();
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(interfaces)
}
