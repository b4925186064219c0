//! Resolving a path a guest names against granted path prefixes — the single
//! check behind `files-read` and `files-write`.
//!
//! Two layers: the path must be absolute and normalized (no `..`) and lie
//! under a granted prefix, compared by whole components; then the file is
//! opened through a directory handle on that prefix with `cap-std`, which
//! refuses any resolution (a symbolic link, say) that would leave it.
//!
//! The prefix itself is opened one component at a time from the root,
//! following no link (`granted_dir`, per operating system): a grant of
//! `/var/tmp/app` cannot be turned into one of `/etc` by whoever can put a
//! link at `/var/tmp/app`.

use super::{HostCtx, io_failure};
use crate::bindings::salve::action::types::HostError;
use crate::capability::{Capability, PathPrefix};
use cap_std::fs::Dir;
use std::path::PathBuf;

/// A granted path, opened: a handle on its prefix and the part below it.
pub struct Scoped {
    /// The granted prefix, opened as a directory.
    pub dir: Dir,
    /// The path below the prefix; `.` for the prefix itself.
    pub relative: PathBuf,
    /// Whether the path is the prefix itself.
    pub is_prefix: bool,
}

pub use super::granted_dir::{Opening, open_granted};

/// Whether an I/O error is cap-std refusing to leave the directory.
pub fn is_escape(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::PermissionDenied
        && error.to_string().contains("led outside")
}

impl HostCtx {
    /// Checks `path` against the prefixes granted for `capability` and opens
    /// the prefix that holds it (the longest one).
    pub(super) fn scoped(
        &mut self,
        capability: Capability,
        function: &str,
        path: &str,
    ) -> Result<Scoped, HostError> {
        let granted = match capability {
            Capability::FilesWrite => self.grant.files_write.as_ref(),
            _ => self.grant.files_read.as_ref(),
        };
        let prefixes: Vec<PathPrefix> = granted
            .map(|g| g.paths.iter().cloned().collect())
            .unwrap_or_default();
        let normalized = match path.parse::<PathPrefix>() {
            Ok(normalized) => normalized,
            Err(error) => return Err(self.deny(capability, function, path, error.to_string())),
        };
        let holder = prefixes
            .iter()
            .filter(|prefix| prefix.contains(&normalized))
            .max_by_key(|prefix| prefix.as_str().len());
        let Some(prefix) = holder else {
            return Err(self.refuse_outside_grant(
                capability,
                function,
                path,
                format!("`{path}` is outside the paths granted to this action for {capability}"),
            ));
        };
        let relative = prefix.relative(normalized.as_str()).unwrap_or_default();
        let dir = match open_granted(prefix.as_path()) {
            Ok(dir) => dir,
            Err(Opening::Link(link)) => {
                return Err(self.deny(
                    capability,
                    function,
                    path,
                    format!(
                        "`{}` on the way to the granted path {prefix} is a symbolic link, and granted paths are opened without following links: grant the path it leads to instead",
                        link.display()
                    ),
                ));
            }
            Err(Opening::Io(error)) => {
                return Err(io_failure(
                    &format!("cannot open granted path {prefix}"),
                    &error,
                ));
            }
        };
        Ok(Scoped {
            dir,
            is_prefix: relative.is_empty(),
            relative: if relative.is_empty() {
                PathBuf::from(".")
            } else {
                PathBuf::from(relative)
            },
        })
    }

    /// Maps an I/O error of a scoped operation, recording an escape attempt
    /// as a denied call.
    pub(super) fn scoped_failure(
        &mut self,
        capability: Capability,
        function: &str,
        path: &str,
        error: &std::io::Error,
    ) -> HostError {
        if is_escape(error) {
            return self.deny(
                capability,
                function,
                path,
                format!(
                    "`{path}` leads outside the granted paths (through a symbolic link or `..`)"
                ),
            );
        }
        io_failure(&format!("{function} {path}"), error)
    }
}
