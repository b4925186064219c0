//! `sysinfo` on Linux: from `/proc`, `/etc/os-release`, `statvfs(3)` and
//! `getifaddrs(3)`.
//!
//! `statvfs` on a network filesystem whose server is gone can block for
//! good, and a blocked host call cannot be interrupted by the invocation's
//! deadline. So each mount is asked from a thread of its own, and `disks`
//! answers with the mounts that replied within [`STATVFS_PATIENCE`]. A mount
//! already being asked by another call is not asked again: the call waits
//! for that answer instead, or, if it has been awaited longer than the
//! patience already (a hung mount), leaves it out at once. So a hung mount
//! holds one thread, not one per call.

use crate::bindings::salve::action::sysinfo::{
    DiskUsage, LoadAverage, MemoryInfo, NetworkInterface, OsInfo,
};
use crate::bindings::salve::action::types::HostError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long `disks` waits for the mounts to answer, all together.
const STATVFS_PATIENCE: Duration = Duration::from_secs(1);

/// Mount points whose `statvfs` is under way.
static ASKING: Asking<Option<nix::sys::statvfs::Statvfs>> = Asking::new();

/// Questions under way, by key, each answered once for every caller
/// waiting on it.
struct Asking<T> {
    slots: Mutex<BTreeMap<String, Arc<Slot<T>>>>,
}

/// One question under way: when it was asked, and its answer once known.
struct Slot<T> {
    asked: Instant,
    answer: Mutex<Option<T>>,
    answered: Condvar,
}

impl<T> Asking<T> {
    const fn new() -> Self {
        Asking {
            slots: Mutex::new(BTreeMap::new()),
        }
    }
}

/// Takes a question's slot out of [`Asking`] once its thread ends, even by
/// a panic: the next call asks again.
struct Done<T: 'static> {
    asking: &'static Asking<T>,
    key: String,
}

impl<T> Drop for Done<T> {
    fn drop(&mut self) {
        self.asking
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// Filesystems that hold no user data; left out of `disks`.
const PSEUDO_FILESYSTEMS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

fn read(path: &str) -> Result<String, HostError> {
    std::fs::read_to_string(path)
        .map_err(|e| HostError::Unavailable(format!("cannot read {path}: {e}")))
}

pub(super) fn hostname() -> Result<String, HostError> {
    Ok(read("/proc/sys/kernel/hostname")?.trim().to_string())
}

pub(super) fn os() -> Result<OsInfo, HostError> {
    let text = read("/etc/os-release").or_else(|_| read("/usr/lib/os-release"))?;
    Ok(parse_os_release(&text))
}

pub(super) fn kernel() -> Result<String, HostError> {
    Ok(read("/proc/sys/kernel/osrelease")?.trim().to_string())
}

pub(super) fn uptime_seconds() -> Result<u64, HostError> {
    parse_uptime(&read("/proc/uptime")?)
}

pub(super) fn load() -> Result<LoadAverage, HostError> {
    parse_loadavg(&read("/proc/loadavg")?)
}

pub(super) fn memory() -> Result<MemoryInfo, HostError> {
    parse_meminfo(&read("/proc/meminfo")?)
}

pub(super) fn disks() -> Result<Vec<DiskUsage>, HostError> {
    let mounts = parse_mounts(&read("/proc/self/mounts")?);
    let points: BTreeSet<String> = mounts.iter().map(|m| m.mount_point.clone()).collect();
    let stats = answered_within(&ASKING, points, STATVFS_PATIENCE, |point| {
        nix::sys::statvfs::statvfs(Path::new(point)).ok()
    });
    let mut disks = Vec::new();
    for mount in mounts {
        let Some(Some(stat)) = stats.get(&mount.mount_point) else {
            continue;
        };
        let fragment = stat.fragment_size();
        let total = stat.blocks().saturating_mul(fragment);
        if total == 0 {
            continue;
        }
        let free = stat.blocks_free().saturating_mul(fragment);
        disks.push(DiskUsage {
            mount_point: mount.mount_point,
            device: mount.device,
            filesystem: mount.filesystem,
            total_bytes: total,
            used_bytes: total.saturating_sub(free),
            available_bytes: stat.blocks_available().saturating_mul(fragment),
        });
    }
    Ok(disks)
}

pub(super) fn network_interfaces() -> Result<Vec<NetworkInterface>, HostError> {
    use nix::net::if_::InterfaceFlags;
    let addresses = nix::ifaddrs::getifaddrs()
        .map_err(|e| HostError::Unavailable(format!("cannot list network interfaces: {e}")))?;
    let mut interfaces: BTreeMap<String, NetworkInterface> = BTreeMap::new();
    for address in addresses {
        let entry = interfaces
            .entry(address.interface_name.clone())
            .or_insert_with(|| NetworkInterface {
                name: address.interface_name.clone(),
                up: false,
                mac: None,
                addresses: Vec::new(),
            });
        entry.up |= address
            .flags
            .contains(InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING);
        let Some(addr) = address.address else {
            continue;
        };
        if let Some(link) = addr.as_link_addr() {
            if let Some(mac) = link.addr().filter(|m| m.iter().any(|b| *b != 0)) {
                entry.mac = Some(
                    mac.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                );
            }
        } else if let Some(v4) = addr.as_sockaddr_in() {
            let prefix = address
                .netmask
                .and_then(|m| m.as_sockaddr_in().map(|m| m.ip().to_bits().count_ones()))
                .unwrap_or(32);
            entry.addresses.push(format!("{}/{prefix}", v4.ip()));
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            let prefix = address
                .netmask
                .and_then(|m| m.as_sockaddr_in6().map(|m| m.ip().to_bits().count_ones()))
                .unwrap_or(128);
            entry.addresses.push(format!("{}/{prefix}", v6.ip()));
        }
    }
    Ok(interfaces.into_values().collect())
}

/// Runs `ask` for each of `keys` on a thread of its own and returns the
/// answers that came within `patience` (all together). A key already being
/// asked (by an earlier call, in `asking`) is not asked again: its answer
/// is awaited, unless it has been awaited for longer than `patience`
/// already. A key whose thread cannot start is left out.
fn answered_within<T: Clone + Send + 'static>(
    asking: &'static Asking<T>,
    keys: BTreeSet<String>,
    patience: Duration,
    ask: impl Fn(&str) -> T + Send + Sync + Clone + 'static,
) -> BTreeMap<String, T> {
    let lock = || asking.slots.lock().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    let mut awaited = Vec::new();
    for key in keys {
        let (slot, new) = {
            let mut slots = lock();
            match slots.get(&key) {
                Some(slot) => (slot.clone(), false),
                None => {
                    let slot = Arc::new(Slot {
                        asked: now,
                        answer: Mutex::new(None),
                        answered: Condvar::new(),
                    });
                    slots.insert(key.clone(), slot.clone());
                    (slot, true)
                }
            }
        };
        if !new {
            if now.duration_since(slot.asked) > patience {
                tracing::debug!(mount = %key, "statvfs of this mount has not returned for a while: left out");
                continue;
            }
            awaited.push((key, slot));
            continue;
        }
        let spawned = std::thread::Builder::new()
            .name("salve-statvfs".to_string())
            .spawn({
                let (key, slot, ask) = (key.clone(), slot.clone(), ask.clone());
                move || {
                    let _done = Done { asking, key };
                    let value = ask(&_done.key);
                    *slot.answer.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
                    slot.answered.notify_all();
                }
            });
        match spawned {
            Ok(_) => awaited.push((key, slot)),
            Err(_) => {
                lock().remove(&key);
            }
        }
    }
    let deadline = now + patience;
    let mut answers = BTreeMap::new();
    let mut late = 0;
    for (key, slot) in awaited {
        let mut answer = slot.answer.lock().unwrap_or_else(PoisonError::into_inner);
        while answer.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            answer = slot
                .answered
                .wait_timeout(answer, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        match answer.as_ref() {
            Some(value) => {
                answers.insert(key, value.clone());
            }
            None => late += 1,
        }
    }
    if late > 0 {
        tracing::warn!(
            late,
            "statvfs of some mounts did not return in time: left out"
        );
    }
    answers
}

fn parse_os_release(text: &str) -> OsInfo {
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            fields.insert(key.trim(), value.to_string());
        }
    }
    OsInfo {
        name: fields.remove("NAME").unwrap_or_else(|| "Linux".to_string()),
        version: fields.remove("VERSION").unwrap_or_default(),
        architecture: std::env::consts::ARCH.to_string(),
    }
}

fn malformed(file: &str) -> HostError {
    HostError::Unavailable(format!("{file} has an unexpected format"))
}

fn parse_uptime(text: &str) -> Result<u64, HostError> {
    let seconds: f64 = text
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| malformed("/proc/uptime"))?;
    // Uptime is non-negative and far below u64::MAX seconds; `as` saturates.
    Ok(seconds as u64)
}

fn parse_loadavg(text: &str) -> Result<LoadAverage, HostError> {
    let mut numbers = text.split_whitespace().map(str::parse::<f64>);
    let mut next = || {
        numbers
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| malformed("/proc/loadavg"))
    };
    Ok(LoadAverage {
        one: next()?,
        five: next()?,
        fifteen: next()?,
    })
}

fn parse_meminfo(text: &str) -> Result<MemoryInfo, HostError> {
    let mut kib = BTreeMap::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        if let Some(value) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        {
            kib.insert(key, value);
        }
    }
    let bytes = |key: &str| {
        kib.get(key)
            .map(|v| v.saturating_mul(1024))
            .ok_or_else(|| malformed("/proc/meminfo"))
    };
    Ok(MemoryInfo {
        total_bytes: bytes("MemTotal")?,
        available_bytes: bytes("MemAvailable")?,
        swap_total_bytes: bytes("SwapTotal").unwrap_or(0),
        swap_free_bytes: bytes("SwapFree").unwrap_or(0),
    })
}

#[derive(Debug, PartialEq)]
struct Mount {
    device: String,
    mount_point: String,
    filesystem: String,
}

/// Mounts from `/proc/self/mounts`, pseudo filesystems left out, one entry per
/// mount point (the last mount over a point is the visible one).
fn parse_mounts(text: &str) -> Vec<Mount> {
    let mut by_point: BTreeMap<String, Mount> = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(device), Some(point), Some(filesystem)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if PSEUDO_FILESYSTEMS.contains(&filesystem) {
            continue;
        }
        let mount_point = unescape_mount_field(point);
        by_point.insert(
            mount_point.clone(),
            Mount {
                device: unescape_mount_field(device),
                mount_point,
                filesystem: filesystem.to_string(),
            },
        );
    }
    by_point.into_values().collect()
}

/// `/proc/self/mounts` writes space, tab, newline and backslash as `\ooo`.
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let octal = field
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok());
            if let Some(byte) = octal {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_that_never_answers_is_left_out_and_not_asked_again() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static ASKING: Asking<usize> = Asking::new();
        let (release, hung) = std::sync::mpsc::channel::<()>();
        let hung = Arc::new(Mutex::new(hung));
        let asked = Arc::new(AtomicUsize::new(0));
        let ask = {
            let (hung, asked) = (hung.clone(), asked.clone());
            move |key: &str| {
                asked.fetch_add(1, Ordering::SeqCst);
                if key == "/nfs" {
                    // Blocks until released, like statvfs of a dead server.
                    let _ = hung.lock().unwrap().recv();
                }
                key.len()
            }
        };
        let keys: BTreeSet<String> = ["/", "/nfs", "/home"].map(String::from).into();
        let patience = Duration::from_secs(2);
        let begun = Instant::now();
        let answers = answered_within(&ASKING, keys.clone(), patience, ask.clone());
        assert!(begun.elapsed() >= patience);
        assert_eq!(answers.keys().collect::<Vec<_>>(), ["/", "/home"]);
        assert_eq!(answers["/home"], 5);
        // Asked again while the first is still blocked, and for longer than
        // the patience: left out at once, not asked twice.
        let begun = Instant::now();
        let answers = answered_within(&ASKING, keys.clone(), patience, ask.clone());
        assert!(begun.elapsed() < patience);
        assert_eq!(answers.len(), 2);
        assert_eq!(asked.load(Ordering::SeqCst), 5);
        // Once it answers, it is asked again.
        release.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while ASKING.slots.lock().unwrap().contains_key("/nfs") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = release.send(());
        let answers = answered_within(&ASKING, keys, patience, ask);
        assert_eq!(answers.len(), 3);
    }

    #[test]
    fn calls_at_the_same_time_share_one_question() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static ASKING: Asking<usize> = Asking::new();
        let asked = Arc::new(AtomicUsize::new(0));
        let ask = {
            let asked = asked.clone();
            move |key: &str| {
                asked.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_secs(1));
                key.len()
            }
        };
        let keys: BTreeSet<String> = ["/", "/home"].map(String::from).into();
        let start = std::sync::Barrier::new(2);
        let answers: Vec<_> = std::thread::scope(|scope| {
            let calls: Vec<_> = (0..2)
                .map(|_| {
                    let (keys, ask, start) = (keys.clone(), ask.clone(), &start);
                    scope.spawn(move || {
                        start.wait();
                        answered_within(&ASKING, keys, Duration::from_secs(5), ask)
                    })
                })
                .collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        });
        // Both calls got every answer, and each mount was asked once: the
        // second call waited for the first one's questions.
        for answer in answers {
            assert_eq!(answer.len(), 2);
        }
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn parses_proc_files() {
        assert_eq!(parse_uptime("12345.67 54321.00\n").unwrap(), 12345);
        let load = parse_loadavg("0.52 0.58 0.59 1/467 12345\n").unwrap();
        assert_eq!((load.one, load.five, load.fifteen), (0.52, 0.58, 0.59));
        let memory = parse_meminfo(
            "MemTotal:       16318480 kB\nMemFree:  1 kB\nMemAvailable:   10000000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
        )
        .unwrap();
        assert_eq!(memory.total_bytes, 16318480 * 1024);
        assert_eq!(memory.available_bytes, 10000000 * 1024);
        assert!(parse_meminfo("nonsense").is_err());
        assert!(parse_loadavg("").is_err());
    }

    #[test]
    fn parses_os_release() {
        let os = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION=\"12 (bookworm)\"\n",
        );
        assert_eq!(os.name, "Debian GNU/Linux");
        assert_eq!(os.version, "12 (bookworm)");
    }

    #[test]
    fn parses_mounts() {
        let mounts = parse_mounts(
            "proc /proc proc rw 0 0\n/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /mnt/my\\040disk xfs rw 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/sdc1 / ext4 rw 0 0\n",
        );
        assert_eq!(
            mounts,
            vec![
                Mount {
                    device: "/dev/sdc1".into(),
                    mount_point: "/".into(),
                    filesystem: "ext4".into()
                },
                Mount {
                    device: "/dev/sdb1".into(),
                    mount_point: "/mnt/my disk".into(),
                    filesystem: "xfs".into()
                },
            ]
        );
    }
}
