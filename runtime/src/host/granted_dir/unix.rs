//! Unix: the prefix opened with `openat(O_PATH | O_NOFOLLOW)`, one
//! component at a time from `/`.

use super::Opening;
use cap_std::fs::Dir;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// Opens the directory `prefix` (absolute and normalized), one component at
/// a time from `/`, following no symbolic link. Each is opened `O_PATH`, as
/// `cap-std` opens a directory: searching a directory needs no permission
/// to read it.
pub fn open_granted(prefix: &Path) -> Result<Dir, Opening> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let io = |errno: Errno| Opening::Io(std::io::Error::from(errno));
    let mut dir: OwnedFd = nix::fcntl::open("/", flags, Mode::empty()).map_err(io)?;
    let mut walked = PathBuf::from("/");
    for component in prefix.components() {
        let name = match component {
            Component::RootDir => continue,
            Component::Normal(name) => name,
            // Refused when the grant is parsed; never followed here.
            _ => return Err(io(Errno::EINVAL)),
        };
        walked.push(name);
        dir = match nix::fcntl::openat(&dir, name, flags | OFlag::O_NOFOLLOW, Mode::empty()) {
            Ok(next) => next,
            // A link opened with `O_NOFOLLOW` and `O_DIRECTORY` is
            // `ENOTDIR` (`ELOOP` without `O_DIRECTORY`), as a file would
            // be: tell the two apart by looking at it.
            Err(Errno::ELOOP | Errno::ENOTDIR)
                if std::fs::symlink_metadata(&walked).is_ok_and(|m| m.is_symlink()) =>
            {
                return Err(Opening::Link(walked));
            }
            Err(errno) => return Err(io(errno)),
        };
    }
    Ok(Dir::from_std_file(std::fs::File::from(dir)))
}
