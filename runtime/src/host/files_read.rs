//! `files-read`: reading files and listing directories under the granted
//! path prefixes. The check is `HostCtx::scoped` (see `scoped_path`).

use super::HostCtx;
use crate::bindings::salve::action::files_read::{Entry, EntryKind, Host};
use crate::bindings::salve::action::types::HostError;
use crate::capability::Capability;
use crate::capability::{CapabilityClass, CapabilitySpec};
use crate::engine::{HostData, host_of};
use std::io::{Read, Seek, SeekFrom};
use std::time::UNIX_EPOCH;

/// What `files-read` is: its name, class and link. Its checks are below.
pub(crate) const SPEC: CapabilitySpec = CapabilitySpec {
    name: "files-read",
    class: CapabilityClass::Standard,
    summary: "read files and list directories under the named paths",
    link: |linker| {
        crate::bindings::salve::action::files_read::add_to_linker::<_, HostData>(linker, host_of)
    },
};

/// Most bytes one `read` returns, whatever `max-bytes` the guest asks for:
/// the host allocates the buffer before the guest sees it, so the guest must
/// not choose its size freely.
pub const MAX_READ_BYTES: u64 = 16 << 20;

/// Most entries one `list-dir` returns, for the same reason.
pub const MAX_LIST_ENTRIES: usize = 65_536;

const CAPABILITY: Capability = Capability::FilesRead;

impl Host for HostCtx {
    fn read(&mut self, path: String, offset: u64, max_bytes: u64) -> Result<Vec<u8>, HostError> {
        let scoped = self.scoped(CAPABILITY, "read", &path)?;
        let result = (|| {
            // Opened without blocking: a FIFO (anyone may make one where
            // they may write) would otherwise hold the call, past the
            // action's deadline, until someone writes to it.
            let mut options = cap_std::fs::OpenOptions::new();
            crate::os::scoped_without_blocking(options.read(true));
            let mut file = scoped.dir.open_with(&scoped.relative, &options)?;
            if !file.metadata()?.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            file.seek(SeekFrom::Start(offset))?;
            let mut bytes = Vec::new();
            file.take(max_bytes.min(MAX_READ_BYTES))
                .read_to_end(&mut bytes)?;
            Ok(bytes)
        })();
        result.map_err(|e| self.scoped_failure(CAPABILITY, "read", &path, &e))
    }

    fn list_dir(&mut self, path: String) -> Result<Vec<Entry>, HostError> {
        let scoped = self.scoped(CAPABILITY, "list-dir", &path)?;
        let result = (|| {
            let mut entries = Vec::new();
            for entry in scoped.dir.read_dir(&scoped.relative)? {
                let entry = entry?;
                if entries.len() == MAX_LIST_ENTRIES {
                    return Err(std::io::Error::other(format!(
                        "the directory has more than {MAX_LIST_ENTRIES} entries"
                    )));
                }
                let metadata = entry.metadata()?;
                entries.push(to_entry(
                    entry.file_name().to_string_lossy().into_owned(),
                    &metadata,
                ));
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(entries)
        })();
        result.map_err(|e| self.scoped_failure(CAPABILITY, "list-dir", &path, &e))
    }

    fn stat(&mut self, path: String) -> Result<Entry, HostError> {
        let scoped = self.scoped(CAPABILITY, "stat", &path)?;
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        scoped
            .dir
            .symlink_metadata(&scoped.relative)
            .map(|metadata| to_entry(name, &metadata))
            .map_err(|e| self.scoped_failure(CAPABILITY, "stat", &path, &e))
    }
}

fn to_entry(name: String, metadata: &cap_std::fs::Metadata) -> Entry {
    let file_type = metadata.file_type();
    let kind = if file_type.is_symlink() {
        EntryKind::Symlink
    } else if file_type.is_dir() {
        EntryKind::Directory
    } else if file_type.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    };
    let modified_unix_ms = metadata
        .modified()
        .ok()
        .map(cap_std::time::SystemTime::into_std)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok());
    Entry {
        name,
        kind,
        size_bytes: metadata.len(),
        modified_unix_ms,
    }
}
