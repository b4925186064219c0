//! Windows: no FIFOs in the file namespace, access by ACL.
//!
//! Files and directories salve creates inherit the access control list of
//! the directory they are made in: under `%ProgramData%\salve`, whose ACL
//! admits only the service's account and administrators, they are private.
//! Reading that ACL back is not done yet: a key file is not refused for
//! being readable by others, and a compile cache is refused outright (its
//! privacy cannot be shown); docs/guides/windows.md says so.

use std::fs::{DirBuilder, File, FileType, Metadata, OpenOptions};
use std::os::windows::fs::FileExt as _;

/// Windows has no FIFO a path beneath a directory can name (its pipes live
/// under `\\.\pipe\`), so opening a file cannot block for a writer.
pub(crate) fn without_blocking(options: &mut OpenOptions) -> &mut OpenOptions {
    options
}

/// [`without_blocking`] for a file opened beneath a granted directory.
pub(crate) fn scoped_without_blocking(
    options: &mut cap_std::fs::OpenOptions,
) -> &mut cap_std::fs::OpenOptions {
    options
}

/// Reads into `buffer` from `offset`. Windows moves the file's cursor; the
/// callers read from a handle they then only append to.
pub(crate) fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<usize> {
    file.seek_read(buffer, offset)
}

/// A file that is neither a regular file, a directory nor a link.
pub(crate) fn special_kind(_kind: &FileType) -> &'static str {
    "special file"
}

/// A new file, private by the ACL it inherits.
pub(crate) fn owner_only_file(options: &mut OpenOptions) -> &mut OpenOptions {
    options
}

/// A new directory, private by the ACL it inherits.
pub(crate) fn owner_only_dir(builder: &mut DirBuilder) -> &mut DirBuilder {
    builder
}

/// Not read from the ACL yet, so never said: a compile cache (native code
/// loaded without re-validation) is refused on Windows until it is.
pub(crate) fn writable_only_by_this_user(_metadata: &Metadata) -> bool {
    false
}

/// Not read from the ACL yet: see the module's documentation.
pub(crate) fn others_may_access(_metadata: &Metadata) -> bool {
    false
}

/// `FILE_FLAG_BACKUP_SEMANTICS`: what `CreateFileW` needs to open a
/// directory at all.
const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;

/// Makes the entries of `dir` (files created, renamed or removed in it)
/// durable: `FlushFileBuffers` on a handle to the directory, which must be
/// opened for writing (as for any handle `FlushFileBuffers` is given).
pub(crate) fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::windows::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .write(true)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(dir)?
        .sync_all()
}

/// Makes the contents of the file at `path`, written and closed, durable:
/// `FlushFileBuffers`, on a handle opened for writing as it must be.
pub(crate) fn sync_file(path: &std::path::Path) -> std::io::Result<()> {
    OpenOptions::new().write(true).open(path)?.sync_all()
}
