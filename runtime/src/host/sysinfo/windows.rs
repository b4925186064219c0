//! `sysinfo` on Windows: from the system's own APIs, through the `sysinfo`
//! crate (`GetComputerNameExW`, the registry's version keys,
//! `GlobalMemoryStatusEx`, `GetAdaptersAddresses`) and, for disks, `fs4`
//! (`GetDiskFreeSpaceExW` on each drive letter's root: the volume list the
//! `sysinfo` crate reads is empty under Wine, and a drive letter is how a
//! Windows user names a disk anyway).
//!
//! Windows keeps no load average: `load` answers `unavailable` and says so.
//! A disk's file system is not read: `filesystem` is empty.

use crate::bindings::salve::action::sysinfo::{
    DiskUsage, LoadAverage, MemoryInfo, NetworkInterface, OsInfo,
};
use crate::bindings::salve::action::types::HostError;
use ::sysinfo::{Networks, System};

fn unknown(what: &str) -> HostError {
    HostError::Unavailable(format!("Windows did not tell this host's {what}"))
}

pub(super) fn hostname() -> Result<String, HostError> {
    System::host_name().ok_or_else(|| unknown("name"))
}

pub(super) fn os() -> Result<OsInfo, HostError> {
    Ok(OsInfo {
        // Always `Windows`, whatever edition: how an action tells the
        // system it runs on (`salve_sdk::sysinfo::is_windows`).
        name: "Windows".to_string(),
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
    let mut disks = Vec::new();
    for letter in 'A'..='Z' {
        let root = format!("{letter}:\\");
        // A letter with no volume, or a drive with no medium, has no size.
        // One call for all three figures, so that they describe one moment.
        let Ok(stats) = fs4::statvfs(&root) else {
            continue;
        };
        let total = stats.total_space();
        if total == 0 {
            continue;
        }
        let available = stats.available_space().min(total);
        let free = stats.free_space().max(available);
        disks.push(DiskUsage {
            mount_point: root,
            device: format!("{letter}:"),
            filesystem: String::new(),
            total_bytes: total,
            used_bytes: total.saturating_sub(free),
            available_bytes: available,
        });
    }
    Ok(disks)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_host() {
        assert!(!hostname().unwrap().is_empty());
        let os = os().unwrap();
        assert!(!os.name.is_empty(), "{os:?}");
        let memory = memory().unwrap();
        assert!(memory.total_bytes > 0 && memory.available_bytes <= memory.total_bytes);
        assert!(matches!(load(), Err(HostError::Unavailable(_))));
        let disks = disks().unwrap();
        assert!(
            disks.iter().any(|d| d.mount_point.starts_with("C:")),
            "no C: among {disks:?}"
        );
        for disk in &disks {
            assert!(
                disk.used_bytes + disk.available_bytes <= disk.total_bytes,
                "{disk:?}"
            );
        }
        eprintln!("{:?} {:?} {:?}", os, kernel(), network_interfaces());
    }
}
