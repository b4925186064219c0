//! collect-logs: the last lines of a few files under `/var/log`, to attach to
//! a ticket without opening a shell on the machine.
//!
//! Each file is read from its end: at most 256 KiB, and less when many files
//! are asked for, so that the whole answer stays within the output limit. A
//! file that is missing or unreadable is reported in its own entry and the
//! others are still collected.
//!
//! Capabilities:
//! - `files-read` on `/var/log` (standard): reads each file's size and tail.

use salve_sdk::files_read::{self, EntryKind};
use salve_sdk::{ActionError, HostError};
use serde::{Deserialize, Serialize};

const LOG_DIR: &str = "/var/log";
const MAX_FILES: usize = 10;
const MAX_TAIL_LINES: u32 = 2000;
/// Most bytes read from the end of one file.
const WINDOW_BYTES: u64 = 256 << 10;
/// Most bytes read over all files, well below the 2 MiB output limit.
const TOTAL_BYTES: u64 = 1536 << 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Names relative to `/var/log`, e.g. `syslog` or `apt/history.log`.
    files: Vec<String>,
    /// How many lines to keep from the end of each file.
    #[serde(default = "default_tail_lines")]
    tail_lines: u32,
    /// The log directory; `/var/log` unless the package is vetted for another
    /// one (the grant decides what may really be read).
    #[serde(default = "default_directory")]
    directory: String,
}

fn default_directory() -> String {
    LOG_DIR.to_string()
}

fn default_tail_lines() -> u32 {
    200
}

#[derive(Serialize)]
struct Collected {
    file: String,
    lines: Vec<String>,
    /// Whether the file holds more than `lines`.
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Output {
    files: Vec<Collected>,
}

/// A relative path below `/var/log`, without `.`, `..` or empty components.
fn is_relative_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// The last `tail_lines` lines of `<directory>/<file>`, reading at most `window`
/// bytes; and whether anything before them was left out.
fn tail(
    directory: &str,
    file: &str,
    tail_lines: usize,
    window: u64,
) -> Result<(Vec<String>, bool), HostError> {
    let path = format!("{directory}/{file}");
    let entry = files_read::stat(&path)?;
    if entry.kind != EntryKind::File {
        return Err(HostError::Failed(format!("{path} is not a regular file")));
    }
    let offset = entry.size_bytes.saturating_sub(window);
    let bytes = files_read::read(&path, offset, window)?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if offset > 0 {
        // The window starts mid-line: drop the partial first line.
        text = text
            .split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default();
    }
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(tail_lines);
    let kept = lines[skip..].iter().map(|l| l.to_string()).collect();
    Ok((kept, offset > 0 || skip > 0))
}

fn run(input: Input) -> Result<Output, ActionError> {
    if input.files.is_empty() || input.files.len() > MAX_FILES {
        return Err(ActionError::invalid_input(format!(
            "name between 1 and {MAX_FILES} files"
        )));
    }
    if let Some(bad) = input.files.iter().find(|f| !is_relative_name(f)) {
        return Err(ActionError::invalid_input(format!(
            "`{bad}` is not a name relative to {}: no leading `/`, `.`, `..` or empty parts",
            input.directory
        )));
    }
    if input.tail_lines > MAX_TAIL_LINES {
        return Err(ActionError::invalid_input(format!(
            "tail_lines must be at most {MAX_TAIL_LINES}"
        )));
    }
    let window = WINDOW_BYTES.min(TOTAL_BYTES / input.files.len() as u64);
    let files = input
        .files
        .into_iter()
        .map(
            |file| match tail(&input.directory, &file, input.tail_lines as usize, window) {
                Ok((lines, truncated)) => Collected {
                    file,
                    lines,
                    truncated,
                    error: None,
                },
                Err(error) => Collected {
                    file,
                    lines: Vec::new(),
                    truncated: false,
                    error: Some(format!("{}: {}", error.code(), error.message())),
                },
            },
        )
        .collect();
    Ok(Output { files })
}

salve_sdk::action!(run);
