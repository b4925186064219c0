//! Segment files: the log is a sequence of files, each named after the
//! sequence number of its first record, so that rotation keeps one chain.

use std::path::{Path, PathBuf};

/// One segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The file.
    pub path: PathBuf,
    /// The sequence number its first record must have.
    pub first_seq: u64,
}

const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl";

/// The file name of the segment whose first record is `first_seq`.
pub fn name(first_seq: u64) -> String {
    format!("{PREFIX}{first_seq:020}{SUFFIX}")
}

/// The segments in `dir`, in order. Other files are ignored.
pub fn list(dir: &Path) -> std::io::Result<Vec<Segment>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(first_seq) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_suffix(SUFFIX))
            .and_then(|number| number.parse::<u64>().ok())
        else {
            continue;
        };
        segments.push(Segment {
            path: entry.path(),
            first_seq,
        });
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}
