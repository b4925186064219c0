//! What the benchmarks share: which file system a directory they write to
//! is on, for the header of their output, so that a figure measured on a
//! tmpfs (where `fdatasync` costs nothing) is never taken for a disk's.

use std::path::Path;

/// `path`, and that its file system is not looked up on Windows.
#[cfg(windows)]
pub fn file_system(path: &Path) -> String {
    format!("{} — file system not identified on Windows", path.display())
}

/// `path`, the type of the file system it is on (from `statfs`'s `f_type`)
/// and, when `/proc/self/mountinfo` says, the device and mount point: e.g.
/// `/tmp/.tmpAbC123 — ext4 (statfs f_type 0xef53), /dev/vda mounted on /`;
/// a tmpfs is said to be in memory.
#[cfg(unix)]
pub fn file_system(path: &Path) -> String {
    use nix::sys::statfs::{self, FsType};
    let known: &[(FsType, &str)] = &[
        (statfs::EXT4_SUPER_MAGIC, "ext2/3/4"),
        (statfs::XFS_SUPER_MAGIC, "xfs"),
        (statfs::BTRFS_SUPER_MAGIC, "btrfs"),
        (statfs::TMPFS_MAGIC, "tmpfs"),
        (statfs::OVERLAYFS_SUPER_MAGIC, "overlay"),
        (statfs::F2FS_SUPER_MAGIC, "f2fs"),
        (statfs::NFS_SUPER_MAGIC, "nfs"),
        (statfs::FUSE_SUPER_MAGIC, "fuse"),
        (statfs::SMB_SUPER_MAGIC, "smb"),
    ];
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut warning = "";
    let kind = match statfs::statfs(&path) {
        Ok(stat) => {
            let kind = stat.filesystem_type();
            let name = known
                .iter()
                .find(|(magic, _)| *magic == kind)
                .map_or("unknown", |(_, name)| name);
            // ext2, ext3 and ext4 share one magic number; mountinfo tells
            // them apart.
            let name = match (name, mount(&path)) {
                ("ext2/3/4", Some((_, fs, _))) if fs.starts_with("ext") => fs,
                (name, _) => name.to_string(),
            };
            if kind == statfs::TMPFS_MAGIC {
                warning = " — in memory, not a disk: fdatasync costs nothing here";
            }
            format!("{name} (statfs f_type {:#x})", kind.0)
        }
        Err(error) => format!("unknown (statfs failed: {error})"),
    };
    match mount(&path) {
        Some((point, _, source)) => format!(
            "{} — {kind}, {source} mounted on {point}{warning}",
            path.display()
        ),
        None => format!("{} — {kind}{warning}", path.display()),
    }
}

/// The mount `path` is under: its mount point, file system type and source,
/// the longest mount point of `/proc/self/mountinfo` that contains `path`.
#[cfg(unix)]
fn mount(path: &Path) -> Option<(String, String, String)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|line| {
            // `id parent major:minor root mount-point options [optional…] - type source super-options`
            let (before, after) = line.split_once(" - ")?;
            let point = before.split(' ').nth(4)?.replace("\\040", " ");
            let mut after = after.split(' ');
            let fs = after.next()?.to_string();
            let source = after.next()?.to_string();
            path.starts_with(&point).then_some((point, fs, source))
        })
        .max_by_key(|(point, _, _)| point.len())
}
