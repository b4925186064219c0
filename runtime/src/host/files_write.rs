//! `files-write`: writing and deleting files under the granted path
//! prefixes. The check is `HostCtx::scoped` (see `scoped_path`).

use super::HostCtx;
use crate::bindings::salve::action::files_write::Host;
use crate::bindings::salve::action::types::HostError;
use crate::capability::Capability;
use crate::capability::{CapabilityClass, CapabilitySpec};
use crate::engine::{HostData, host_of};
use std::io::Write as _;

/// What `files-write` is: its name, class and link. Its checks are below.
pub(crate) const SPEC: CapabilitySpec = CapabilitySpec {
    name: "files-write",
    class: CapabilityClass::Privileged,
    summary: "write and delete files under the named paths",
    link: |linker| {
        crate::bindings::salve::action::files_write::add_to_linker::<_, HostData>(linker, host_of)
    },
};

const CAPABILITY: Capability = Capability::FilesWrite;

impl HostCtx {
    fn refuse_prefix_itself(&mut self, function: &str, path: &str) -> HostError {
        self.deny(
            CAPABILITY,
            function,
            path,
            format!("`{path}` is a granted path itself: only what lies below it may be written or removed"),
        )
    }
}

impl Host for HostCtx {
    fn write(&mut self, path: String, contents: Vec<u8>) -> Result<(), HostError> {
        let scoped = self.scoped(CAPABILITY, "write", &path)?;
        if scoped.is_prefix {
            return Err(self.refuse_prefix_itself("write", &path));
        }
        tracing::info!(action = %self.action, %path, bytes = contents.len(), "file write");
        let result = (|| {
            // Opened without blocking, and only a regular file is written:
            // a FIFO would otherwise hold the call, past the action's
            // deadline, until someone reads it.
            let mut options = cap_std::fs::OpenOptions::new();
            crate::os::scoped_without_blocking(options.write(true).create(true).truncate(true));
            let mut file = scoped.dir.open_with(&scoped.relative, &options)?;
            if !file.metadata()?.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            file.write_all(&contents)
        })();
        result.map_err(|e| self.scoped_failure(CAPABILITY, "write", &path, &e))
    }

    fn remove(&mut self, path: String) -> Result<(), HostError> {
        let scoped = self.scoped(CAPABILITY, "remove", &path)?;
        if scoped.is_prefix {
            return Err(self.refuse_prefix_itself("remove", &path));
        }
        tracing::info!(action = %self.action, %path, "file remove");
        let result = scoped
            .dir
            .symlink_metadata(&scoped.relative)
            .and_then(|metadata| {
                if metadata.is_dir() {
                    scoped.dir.remove_dir(&scoped.relative)
                } else {
                    scoped.dir.remove_file(&scoped.relative)
                }
            });
        result.map_err(|e| self.scoped_failure(CAPABILITY, "remove", &path, &e))
    }
}
