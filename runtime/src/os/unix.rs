//! Unix (Linux): modes and owners, `O_NONBLOCK`, positioned reads.

use std::fs::{DirBuilder, File, FileType, Metadata, OpenOptions};
use std::os::unix::fs::{
    DirBuilderExt as _, FileExt as _, FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _,
    PermissionsExt as _,
};

/// Opens without blocking: a FIFO (anyone may make one where they may
/// write) would otherwise wait for a writer, or a reader.
pub(crate) fn without_blocking(options: &mut OpenOptions) -> &mut OpenOptions {
    options.custom_flags(nix::libc::O_NONBLOCK)
}

/// [`without_blocking`] for a file opened beneath a granted directory.
pub(crate) fn scoped_without_blocking(
    options: &mut cap_std::fs::OpenOptions,
) -> &mut cap_std::fs::OpenOptions {
    use cap_std::fs::OpenOptionsExt as _;
    options.custom_flags(nix::libc::O_NONBLOCK)
}

/// Reads into `buffer` from `offset`, leaving the file's cursor alone.
pub(crate) fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<usize> {
    file.read_at(buffer, offset)
}

/// A file that is neither a regular file, a directory nor a link, in words.
pub(crate) fn special_kind(kind: &FileType) -> &'static str {
    if kind.is_fifo() {
        "FIFO"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

/// A new file only its owner may read or write (mode 0600).
pub(crate) fn owner_only_file(options: &mut OpenOptions) -> &mut OpenOptions {
    options.mode(0o600)
}

/// A new directory only its owner may use (mode 0700).
pub(crate) fn owner_only_dir(builder: &mut DirBuilder) -> &mut DirBuilder {
    builder.mode(0o700)
}

/// Whether a directory is this process's user's and no one else may write
/// in it.
pub(crate) fn writable_only_by_this_user(metadata: &Metadata) -> bool {
    metadata.permissions().mode() & 0o022 == 0 && metadata.uid() == nix::unistd::geteuid().as_raw()
}

/// Whether anyone but a file's owner may read or write it.
pub(crate) fn others_may_access(metadata: &Metadata) -> bool {
    metadata.permissions().mode() & 0o077 != 0
}

/// Makes the entries of `dir` (files created, renamed or removed in it)
/// durable: `fsync` on the directory.
pub(crate) fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Makes the contents of the file at `path`, written and closed, durable.
pub(crate) fn sync_file(path: &std::path::Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}
