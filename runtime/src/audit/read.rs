//! Reading a log's records in order, for exports and reports. Reading does
//! not verify the chain: run [`super::verify_dir`] first when it matters.

use super::record::Record;
use super::segment;
use std::path::{Path, PathBuf};

/// A record that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {reason}", file.display())]
pub struct ReadError {
    /// The segment file.
    pub file: PathBuf,
    /// The line.
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// Every record of the log in `dir`, oldest first, one segment in memory at
/// a time. A final line without its newline (torn by a crash, never
/// acknowledged) is skipped.
pub fn records(dir: &Path) -> impl Iterator<Item = Result<Record, ReadError>> + use<> {
    let listed = segment::list(dir).map_err(|error| ReadError {
        file: dir.to_path_buf(),
        line: 0,
        reason: error.to_string(),
    });
    let (segments, failure) = match listed {
        Ok(segments) => (segments, None),
        Err(error) => (Vec::new(), Some(Err(error))),
    };
    failure.into_iter().chain(
        segments
            .into_iter()
            .flat_map(|segment| segment_records(segment.path)),
    )
}

fn segment_records(path: PathBuf) -> Vec<Result<Record, ReadError>> {
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            return vec![Err(ReadError {
                file: path,
                line: 0,
                reason: error.to_string(),
            })];
        }
    };
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    bytes[..complete]
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(index, line)| {
            serde_json::from_slice::<Record>(line).map_err(|e| ReadError {
                file: path.clone(),
                line: index as u64 + 1,
                reason: format!("not a valid record: {e}"),
            })
        })
        .collect()
}
