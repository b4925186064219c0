//! Windows: the prefix opened with `cap-std`, one component at a time from
//! its drive's root (`C:\`), each looked at before it is opened: a symbolic
//! link, a junction or any other name-surrogate reparse point (which the
//! standard library reports as a link) is refused, as Unix refuses a
//! symbolic link. Opened from its parent's handle, one name at a time, a
//! component replaced by a link between the look and the open is still
//! refused by `cap-std` if it leads outside that parent.
//!
//! A prefix must be drive-absolute (`C:\ProgramData\app`); UNC (`\\server`)
//! and verbatim (`\\?\`) prefixes are refused: a grant names a local
//! directory.

use super::Opening;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use std::path::{Component, Path, PathBuf, Prefix};

/// Opens the directory `prefix` (drive-absolute and normalized), one
/// component at a time from its drive's root, following no link.
pub fn open_granted(prefix: &Path) -> Result<Dir, Opening> {
    let invalid = |why: &str| {
        Opening::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: {why}", prefix.display()),
        ))
    };
    let mut components = prefix.components();
    let drive = match components.next() {
        Some(Component::Prefix(p)) => match p.kind() {
            Prefix::Disk(letter) => char::from(letter),
            _ => return Err(invalid("not a path on a local drive (`C:\\…`)")),
        },
        _ => return Err(invalid("not a drive-absolute path (`C:\\…`)")),
    };
    if components.next() != Some(Component::RootDir) {
        return Err(invalid("not a drive-absolute path (`C:\\…`)"));
    }
    let mut walked = PathBuf::from(format!("{drive}:\\"));
    let mut dir = Dir::open_ambient_dir(&walked, ambient_authority()).map_err(Opening::Io)?;
    for component in components {
        let Component::Normal(name) = component else {
            // Refused when the grant is parsed; never followed here.
            return Err(invalid("not a normalized path"));
        };
        walked.push(name);
        let metadata = dir.symlink_metadata(name).map_err(Opening::Io)?;
        if metadata.is_symlink() {
            return Err(Opening::Link(walked));
        }
        dir = dir.open_dir(name).map_err(Opening::Io)?;
    }
    Ok(dir)
}
