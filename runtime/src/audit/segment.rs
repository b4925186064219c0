//! Segment files: the log is a sequence of files, each named after the
//! sequence number of its first record, so that rotation keeps one chain.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
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

/// The segments in `dir`, in order. Other files are ignored; a file named
/// like a segment that is not a regular file (a FIFO, a device, a symbolic
/// link, a directory) is an error naming it: reading it could block
/// forever or read what is not the log.
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
        let kind = entry.file_type()?;
        if !kind.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is named like an audit segment but is not a regular file (a {}): refused — move it out of the log's directory",
                    entry.path().display(),
                    kind_of(&kind)
                ),
            ));
        }
        segments.push(Segment {
            path: entry.path(),
            first_seq,
        });
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

/// What kind of file `kind` is, in words.
fn kind_of(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "directory"
    } else if kind.is_symlink() {
        "symbolic link"
    } else {
        crate::os::special_kind(kind)
    }
}

/// How a segment file ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// The file's length.
    pub len: u64,
    /// The length of its complete lines: what follows (`len - complete`
    /// bytes) is a final line without its newline, torn by a crash.
    pub complete: u64,
    /// Its last complete line, without the newline; `None` when it has none.
    pub last_line: Option<Vec<u8>>,
}

/// Reads how `file` ends, from its end backwards: the whole file is read
/// only when it is one line.
pub fn end(file: &mut File) -> std::io::Result<End> {
    let len = file.metadata()?.len();
    // `tail` holds the file's bytes from `start` to `len`.
    let mut tail: Vec<u8> = Vec::new();
    let mut start = len;
    let mut chunk: u64 = 16 << 10;
    let mut complete: Option<u64> = None;
    while start > 0 {
        let from = start.saturating_sub(chunk);
        let mut read = vec![0u8; usize::try_from(start - from).map_err(std::io::Error::other)?];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut read)?;
        read.extend_from_slice(&tail);
        tail = read;
        start = from;
        chunk = chunk.saturating_mul(2);
        if complete.is_none() {
            complete = tail
                .iter()
                .rposition(|b| *b == b'\n')
                .map(|i| start + i as u64 + 1);
        }
        if let Some(complete) = complete {
            // The last line starts after the newline before its own.
            let own = usize::try_from(complete - start - 1).map_err(std::io::Error::other)?;
            if let Some(before) = tail[..own].iter().rposition(|b| *b == b'\n') {
                return Ok(End {
                    len,
                    complete,
                    last_line: Some(tail[before + 1..own].to_vec()),
                });
            }
        }
    }
    Ok(match complete {
        Some(complete) => End {
            len,
            complete,
            last_line: Some(
                tail[..usize::try_from(complete - 1).map_err(std::io::Error::other)?].to_vec(),
            ),
        },
        None => End {
            len,
            complete: 0,
            last_line: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn end_of(bytes: &[u8]) -> End {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        end(&mut file).unwrap()
    }

    #[test]
    fn the_end_of_a_segment_is_found_from_its_end() {
        assert_eq!(
            end_of(b""),
            End {
                len: 0,
                complete: 0,
                last_line: None
            }
        );
        assert_eq!(end_of(b"torn").complete, 0);
        assert_eq!(end_of(b"torn").last_line, None);
        assert_eq!(end_of(b"one\n").last_line.as_deref(), Some(&b"one"[..]));
        let two = end_of(b"one\ntwo\ntor");
        assert_eq!((two.len, two.complete), (11, 8));
        assert_eq!(two.last_line.as_deref(), Some(&b"two"[..]));
        // Lines longer than a chunk, and many of them.
        let long = "x".repeat(100_000);
        let text = format!("{long}a\n{long}b\n{long}");
        let found = end_of(text.as_bytes());
        assert_eq!(found.complete as usize, 2 * (long.len() + 2));
        assert_eq!(found.last_line, Some(format!("{long}b").into_bytes()));
        let many: String = (0..10_000).map(|n| format!("line {n}\n")).collect();
        assert_eq!(
            end_of(many.as_bytes()).last_line.as_deref(),
            Some(&b"line 9999"[..])
        );
    }
}
