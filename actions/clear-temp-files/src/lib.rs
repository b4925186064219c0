//! clear-temp-files: removes old files from `/var/tmp` (on Windows
//! `C:\Windows\Temp`), then the directories that removing them left empty —
//! to free space on a full system disk. It runs as a dry run unless told
//! otherwise.
//!
//! The walk never follows symbolic links (a link is itself a candidate, not
//! descended into), stops 16 levels down and after 10 000 entries, and skips
//! `systemd-private-*` directories, which belong to running services (as
//! `systemd-tmpfiles` does) on Linux. A failure on one path (on Windows, a
//! file another program holds open) is recorded and the walk goes on.
//!
//! Capabilities:
//! - `sysinfo` (standard): tells Linux from Windows (the default directory
//!   and the path separator).
//! - `files-read` on `/var/tmp` or `C:\Windows\Temp` (standard): lists
//!   directories and reads each entry's kind, size and modification time.
//! - `files-write` on the same (privileged): removes the old files and the
//!   emptied directories; never the directory itself.

use salve_sdk::files_read::{self, Entry, EntryKind};
use salve_sdk::{ActionError, HostError, files_write, log, sysinfo};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// The directory cleaned unless the input names another, per system.
const LINUX_ROOT: &str = "/var/tmp";
const WINDOWS_ROOT: &str = r"C:\Windows\Temp";
/// Deepest directory level below the root that is listed.
const MAX_DEPTH: usize = 16;
const MAX_ENTRIES: usize = 10_000;
/// Errors beyond this many are only counted, to keep the output small.
const MAX_ERRORS: usize = 100;
const DAY_MS: i64 = 86_400_000;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Input {
    /// Files last modified more than this many days ago are removed.
    older_than_days: u32,
    /// Only report what would be removed.
    dry_run: bool,
    /// The directory to clean; `/var/tmp` (`C:\Windows\Temp`) unless the
    /// package is vetted for another one (the grant decides what may really
    /// be touched).
    directory: Option<String>,
}

impl Default for Input {
    fn default() -> Self {
        Input {
            older_than_days: 7,
            dry_run: true,
            directory: None,
        }
    }
}

#[derive(Serialize)]
struct PathError {
    path: String,
    error: String,
}

/// What was removed, named for what happened.
#[derive(Serialize)]
#[serde(untagged)]
enum Removed {
    Done {
        files_removed: u64,
        directories_removed: u64,
    },
    DryRun {
        would_remove: u64,
        would_remove_directories: u64,
    },
}

#[derive(Serialize)]
struct Output {
    dry_run: bool,
    #[serde(flatten)]
    removed: Removed,
    /// Sizes of the removed files (or those that would be).
    bytes_freed: u64,
    errors: Vec<PathError>,
    errors_omitted: u64,
    /// False when the depth or entry limit left part of the directory unvisited.
    complete: bool,
}

struct Sweep {
    /// `/`, or `\` on Windows.
    separator: char,
    /// Whether `systemd-private-*` directories are skipped (Linux).
    skip_systemd_private: bool,
    cutoff_ms: i64,
    dry_run: bool,
    seen: usize,
    files: u64,
    directories: u64,
    bytes: u64,
    errors: Vec<PathError>,
    errors_omitted: u64,
    complete: bool,
}

impl Sweep {
    fn record(&mut self, path: &str, error: &HostError) {
        if self.errors.len() < MAX_ERRORS {
            let error = format!("{}: {}", error.code(), error.message());
            self.errors.push(PathError {
                path: path.to_string(),
                error,
            });
        } else {
            self.errors_omitted += 1;
        }
    }

    /// Removes `path` (or pretends to, in a dry run); whether it is gone.
    fn remove(&mut self, path: &str) -> bool {
        if self.dry_run {
            return true;
        }
        match files_write::remove(path) {
            Ok(()) => true,
            Err(error) => {
                self.record(path, &error);
                false
            }
        }
    }

    /// Sweeps the `entries` of `dir`, which lies `depth` levels below the root;
    /// returns whether every one of them is gone, i.e. `dir` is now empty.
    fn entries(&mut self, dir: &str, depth: usize, entries: Vec<Entry>) -> bool {
        let mut all_gone = !entries.is_empty();
        for entry in entries {
            if self.seen == MAX_ENTRIES {
                self.complete = false;
                return false;
            }
            self.seen += 1;
            let path = format!("{dir}{}{}", self.separator, entry.name);
            let gone = match entry.kind {
                EntryKind::File | EntryKind::Symlink => {
                    let old = entry.modified_unix_ms.is_some_and(|ms| ms < self.cutoff_ms);
                    let gone = old && self.remove(&path);
                    if gone {
                        self.files += 1;
                        self.bytes += entry.size_bytes;
                    }
                    gone
                }
                EntryKind::Directory
                    if self.skip_systemd_private
                        && depth == 0
                        && entry.name.starts_with("systemd-private-") =>
                {
                    false
                }
                EntryKind::Directory if depth + 1 > MAX_DEPTH => {
                    self.complete = false;
                    false
                }
                EntryKind::Directory => {
                    let gone = self.directory(&path, depth + 1) && self.remove(&path);
                    if gone {
                        self.directories += 1;
                    }
                    gone
                }
                EntryKind::Other => false,
            };
            all_gone &= gone;
        }
        all_gone
    }

    fn directory(&mut self, dir: &str, depth: usize) -> bool {
        match files_read::list_dir(dir) {
            Ok(entries) => self.entries(dir, depth, entries),
            Err(error) => {
                self.record(dir, &error);
                false
            }
        }
    }
}

fn run(input: Input) -> Result<Output, ActionError> {
    if input.older_than_days == 0 {
        return Err(ActionError::invalid_input(
            "older_than_days must be at least 1",
        ));
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| ActionError::failed("the clock is before 1970"))?
        .as_millis();
    let now_ms = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let windows = sysinfo::is_windows()?;
    let directory = input
        .directory
        .unwrap_or_else(|| if windows { WINDOWS_ROOT } else { LINUX_ROOT }.to_string());
    let mut sweep = Sweep {
        separator: if windows { '\\' } else { '/' },
        skip_systemd_private: !windows,
        cutoff_ms: now_ms.saturating_sub(i64::from(input.older_than_days) * DAY_MS),
        dry_run: input.dry_run,
        seen: 0,
        files: 0,
        directories: 0,
        bytes: 0,
        errors: Vec::new(),
        errors_omitted: 0,
        complete: true,
    };
    // The root's listing must work; the root itself is never removed.
    let entries = files_read::list_dir(&directory)?;
    sweep.entries(&directory, 0, entries);

    let verb = if input.dry_run {
        "would remove"
    } else {
        "removed"
    };
    log::info(&format!(
        "{verb} {} files and {} directories ({} bytes) older than {} days from {}; {} errors{}",
        sweep.files,
        sweep.directories,
        sweep.bytes,
        input.older_than_days,
        directory,
        sweep.errors.len() as u64 + sweep.errors_omitted,
        if sweep.complete {
            ""
        } else {
            "; limits reached, walk incomplete"
        },
    ));
    let removed = if input.dry_run {
        Removed::DryRun {
            would_remove: sweep.files,
            would_remove_directories: sweep.directories,
        }
    } else {
        Removed::Done {
            files_removed: sweep.files,
            directories_removed: sweep.directories,
        }
    };
    Ok(Output {
        dry_run: input.dry_run,
        removed,
        bytes_freed: sweep.bytes,
        errors: sweep.errors,
        errors_omitted: sweep.errors_omitted,
        complete: sweep.complete,
    })
}

salve_sdk::action!(run);
