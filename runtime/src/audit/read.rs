//! Reading a log's records in order, for exports, reports and followers.
//! Reading does not verify the log: run [`super::verify_dir`] first when it
//! matters. A reader that cannot verify first — one following a live log —
//! can ask [`Records::chained`] for each record's hash and its link to the
//! one before to be checked as it reads.
//!
//! [`records_after`] starts anywhere in the log at a cost that does not grow
//! with what comes before: whole segments are skipped by their names (each
//! is named after its first record), and the place in the segment is found
//! by bisection over byte offsets, reading only the `seq` that opens each
//! line probed. Paging through a log with
//! `records_after(dir, last_seen).take(page)` therefore reads each record
//! about once, however long the log.

use super::record::{GENESIS, Record, chain_hash, split_line};
use super::segment::{self, Segment};
use crate::digest::Sha256Digest;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

/// A record that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {reason}", file.display())]
pub struct ReadError {
    /// The segment file.
    pub file: PathBuf,
    /// The line (1-based; 0 when the file itself cannot be read).
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// Every record of the log in `dir`, oldest first, streamed one segment at
/// a time. A final line without its newline (torn by a crash, never
/// acknowledged, or being written right now) is skipped.
pub fn records(dir: &Path) -> Records {
    records_after(dir, 0)
}

/// The records of the log in `dir` whose sequence number is above `after`,
/// oldest first (every record for `after` = 0). Segments before the one
/// holding record `after + 1` are not opened, and in that one the first
/// line wanted is found by bisection; what is returned is then streamed.
/// As [`records`], a final line without its newline is skipped.
///
/// For a page of at most `n` records after `after`:
/// `records_after(dir, after).take(n)`; ask for `n + 1` to learn whether
/// there are more.
pub fn records_after(dir: &Path, after: u64) -> Records {
    let mut records = Records {
        after,
        segments: VecDeque::new(),
        current: None,
        failed: None,
        chain: None,
    };
    match segment::list(dir) {
        Ok(segments) => {
            // The last segment starting at or before the first record wanted.
            let first = segments
                .partition_point(|s| s.first_seq <= after.saturating_add(1))
                .saturating_sub(1);
            records.segments = segments.into_iter().skip(first).collect();
        }
        Err(error) => {
            records.failed = Some(ReadError {
                file: dir.to_path_buf(),
                line: 0,
                reason: format!("cannot list the log's segments: {error}"),
            });
        }
    }
    records
}

/// The sequence number of the last complete record of the log in `dir`
/// (0 when it has none), read from the end of its last segment holding one.
pub fn last_seq(dir: &Path) -> Result<u64, ReadError> {
    let segments = segment::list(dir).map_err(|error| ReadError {
        file: dir.to_path_buf(),
        line: 0,
        reason: format!("cannot list the log's segments: {error}"),
    })?;
    for segment in segments.iter().rev() {
        let unreadable = |error: std::io::Error| ReadError {
            file: segment.path.clone(),
            line: 0,
            reason: error.to_string(),
        };
        let mut file = File::open(&segment.path).map_err(unreadable)?;
        let end = segment::end(&mut file).map_err(unreadable)?;
        if let Some(line) = end.last_line {
            return leading_seq(&line).ok_or_else(|| ReadError {
                file: segment.path.clone(),
                line: count_lines(&segment.path, end.complete),
                reason: "the last line is not a record: it does not open with its `seq`"
                    .to_string(),
            });
        }
    }
    Ok(0)
}

/// The records of a log, in order: see [`records_after`].
pub struct Records {
    /// Only records above this are returned.
    after: u64,
    /// Segments not opened yet.
    segments: VecDeque<Segment>,
    current: Option<Open>,
    /// An error to return next (reading goes on after it, with the next
    /// line or segment).
    failed: Option<ReadError>,
    /// With [`Records::chained`]: the record the next one must link to
    /// (`None` inside until the first is read).
    chain: Option<Option<Link>>,
}

/// A record as the next one links to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    seq: u64,
    hash: Sha256Digest,
}

impl Records {
    /// Checks, as it reads, that each record's hash is that of its line and
    /// that it follows the record before it (the next sequence number, its
    /// `prev` that record's hash); the first record read follows `after`
    /// when given. A record that does not is returned as an error instead.
    /// What this cannot see — a tail cut off, a chain rebuilt whole, a
    /// checkpoint's signature — is [`super::verify_dir`]'s work.
    pub fn chained(mut self, after: Option<&Record>) -> Records {
        self.chain = Some(after.map(|record| Link {
            seq: record.seq,
            hash: record.hash,
        }));
        self
    }
}

/// The segment being read.
struct Open {
    path: PathBuf,
    reader: BufReader<File>,
    /// The offset of the next line.
    offset: u64,
    /// The number of the next line, when known (not after a bisection).
    line: Option<u64>,
}

impl Records {
    /// Opens the next segment, at the first line above `after`.
    fn open_next(&mut self) -> Result<bool, ReadError> {
        let Some(segment) = self.segments.pop_front() else {
            return Ok(false);
        };
        let unreadable = |error: std::io::Error| ReadError {
            file: segment.path.clone(),
            line: 0,
            reason: error.to_string(),
        };
        let mut file = File::open(&segment.path).map_err(unreadable)?;
        let (offset, line) = if self.after >= segment.first_seq {
            let len = file.metadata().map_err(unreadable)?.len();
            (
                seek_after(&mut file, len, self.after).map_err(unreadable)?,
                None,
            )
        } else {
            (0, Some(1))
        };
        file.seek(SeekFrom::Start(offset)).map_err(unreadable)?;
        self.current = Some(Open {
            path: segment.path,
            reader: BufReader::with_capacity(1 << 16, file),
            offset,
            line,
        });
        Ok(true)
    }

    /// The next record of the current segment, `None` at its end.
    fn next_in_segment(&mut self) -> Option<Result<Record, ReadError>> {
        let open = self.current.as_mut()?;
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = match open.reader.read_until(b'\n', &mut line) {
                Ok(read) => read,
                Err(error) => {
                    // The rest of this segment cannot be read: go on with
                    // the next one.
                    let error = ReadError {
                        file: open.path.clone(),
                        line: open.line.unwrap_or(0),
                        reason: error.to_string(),
                    };
                    self.current = None;
                    return Some(Err(error));
                }
            };
            // The end, or a final line still without its newline.
            if read == 0 || line.last() != Some(&b'\n') {
                return None;
            }
            let at = open.offset;
            open.offset += read as u64;
            let number = open.line;
            open.line = open.line.map(|n| n + 1);
            let body = &line[..line.len() - 1];
            if body.is_empty() {
                continue;
            }
            if leading_seq(body).is_some_and(|seq| seq <= self.after) {
                continue;
            }
            let path = open.path.clone();
            let bad = |reason: String| ReadError {
                line: number.unwrap_or_else(|| count_lines(&path, at) + 1),
                file: path.clone(),
                reason,
            };
            let record = match serde_json::from_slice::<Record>(body) {
                Ok(record) => record,
                Err(e) => return Some(Err(bad(format!("not a valid record: {e}")))),
            };
            if let Some(last) = self.chain.as_mut()
                && let Err(reason) = follows(last, body, &record)
            {
                return Some(Err(bad(reason)));
            }
            return Some(Ok(record));
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(error) = self.failed.take() {
                return Some(Err(error));
            }
            if let Some(record) = self.next_in_segment() {
                return Some(record);
            }
            self.current = None;
            match self.open_next() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => self.failed = Some(error),
            }
        }
    }
}

/// Whether `record`, read from `line`, is sealed as its hash says and
/// follows `last`; `last` becomes it either way, so that one bad record is
/// reported once, not again with the next.
fn follows(last: &mut Option<Link>, line: &[u8], record: &Record) -> Result<(), String> {
    let before = last.replace(Link {
        seq: record.seq,
        hash: record.hash,
    });
    let sealed = split_line(line).is_some_and(|split| {
        chain_hash(&record.prev, split.canonical_without_brace) == record.hash
    });
    if !sealed {
        return Err(format!(
            "record {} does not hash to its `hash`: it was changed after it was written",
            record.seq
        ));
    }
    match before {
        Some(before) if record.seq != before.seq + 1 => Err(format!(
            "record {} follows record {}: records are missing or out of order",
            record.seq, before.seq
        )),
        Some(before) if record.prev != before.hash => Err(format!(
            "record {}'s `prev` is not record {}'s hash: the chain is broken here",
            record.seq, before.seq
        )),
        None if record.seq == 1 && record.prev != GENESIS => {
            Err("record 1's `prev` is not the chain's start (all zeros)".to_string())
        }
        _ => Ok(()),
    }
}

/// The `seq` a line opens with (`{"seq":42,…`), read without parsing the
/// rest.
fn leading_seq(line: &[u8]) -> Option<u64> {
    let digits = line.strip_prefix(b"{\"seq\":")?;
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// How many lines of `path` end before `offset` (for an error's line
/// number after a bisection); 0 when it cannot be read.
fn count_lines(path: &Path, offset: u64) -> u64 {
    let Ok(file) = File::open(path) else { return 0 };
    let mut reader = BufReader::new(file.take(offset));
    let mut count = 0;
    loop {
        let buffer = match reader.fill_buf() {
            Ok([]) | Err(_) => return count,
            Ok(buffer) => buffer,
        };
        count += buffer.iter().filter(|b| **b == b'\n').count() as u64;
        let consumed = buffer.len();
        reader.consume(consumed);
    }
}

/// The first line starting in `[from, before)`: its offset and `seq`.
/// `None` when no line starts there, or the one that does is not laid out
/// as a record (the linear scan then reports it).
fn line_at(file: &mut File, from: u64, before: u64) -> std::io::Result<Option<(u64, u64)>> {
    let mut start = from;
    if from > 0 {
        // Skip the rest of the line `from - 1` belongs to.
        file.seek(SeekFrom::Start(from - 1))?;
        let mut reader = BufReader::with_capacity(4096, &mut *file);
        let mut skipped = Vec::new();
        let read = reader.read_until(b'\n', &mut skipped)?;
        if skipped.last() != Some(&b'\n') {
            return Ok(None);
        }
        start = from - 1 + read as u64;
    }
    if start >= before {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(start))?;
    let mut head = [0u8; 32];
    let mut filled = 0;
    while filled < head.len() {
        let read = file.read(&mut head[filled..])?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    Ok(leading_seq(&head[..filled]).map(|seq| (start, seq)))
}

/// The offset of the first line of `file` (`len` bytes) whose `seq` is
/// above `after`, or of a line near before it: found by bisection, given
/// that `seq` grows along the file.
fn seek_after(file: &mut File, len: u64, after: u64) -> std::io::Result<u64> {
    // `low` starts a line, and no line before it is wanted; the line at
    // `high` (when `high < len`) is wanted.
    let (mut low, mut high) = (0u64, len);
    while high - low > 8192 {
        let middle = low + (high - low) / 2;
        match line_at(file, middle, high)? {
            Some((start, seq)) if seq <= after => low = start,
            Some((start, _)) => high = start,
            // A long line spans the rest: read on from `low`.
            None => break,
        }
    }
    Ok(low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditConfig, AuditLog, Kind};

    fn record(n: u64) -> Record {
        let mut record = Record::event(Kind::InvocationStarted);
        record.principal = Some(format!("tech-{}", n % 5));
        // Lines of varied length, some long.
        record.reason = Some("x".repeat(((n * 7919) % 3000) as usize));
        record
    }

    #[test]
    fn records_after_any_point_are_exactly_those_that_follow() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = AuditConfig::new(dir.path());
        config.max_segment_bytes = 64 << 10;
        let log = AuditLog::open(config).unwrap();
        for chunk in 0..10u64 {
            log.append_all((0..100).map(|n| record(chunk * 100 + n)).collect())
                .unwrap();
        }
        log.close();
        assert!(segment::list(dir.path()).unwrap().len() > 5);
        let all: Vec<u64> = records(dir.path()).map(|r| r.unwrap().seq).collect();
        assert_eq!(all, (1..=1000).collect::<Vec<_>>());
        assert_eq!(last_seq(dir.path()).unwrap(), 1000);
        for after in [0, 1, 2, 99, 100, 101, 377, 512, 998, 999, 1000, 5000] {
            let seqs: Vec<u64> = records_after(dir.path(), after)
                .map(|r| r.unwrap().seq)
                .collect();
            let expected: Vec<u64> = (after + 1..=1000).collect();
            assert_eq!(seqs, expected, "after {after}");
        }
        let page: Vec<u64> = records_after(dir.path(), 640)
            .take(3)
            .map(|r| r.unwrap().seq)
            .collect();
        assert_eq!(page, [641, 642, 643]);
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_a_bad_line_named() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(AuditConfig::new(dir.path())).unwrap();
        log.append_all((0..50).map(record).collect()).unwrap();
        log.close();
        let path = segment::list(dir.path()).unwrap()[0].path.clone();
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(b"{\"seq\":51,\"time\":\"2026");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(records(dir.path()).count(), 50);
        assert_eq!(records_after(dir.path(), 49).count(), 1);
        assert_eq!(last_seq(dir.path()).unwrap(), 50);

        // Line 40 damaged: named with its number, also after a bisection.
        let mut lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
        lines[39] = b"{\"seq\":40,\"garbage".to_vec();
        std::fs::write(&path, lines.join(&b'\n')).unwrap();
        for after in [0, 30, 39] {
            let error = records_after(dir.path(), after)
                .find_map(Result::err)
                .unwrap();
            assert_eq!(error.line, 40, "after {after}: {error}");
            assert!(
                error.to_string().contains(":40: not a valid record"),
                "{error}"
            );
        }
        assert_eq!(records_after(dir.path(), 40).count(), 10);
    }

    #[test]
    fn chained_reading_catches_a_changed_removed_or_unlinked_record() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(AuditConfig::new(dir.path())).unwrap();
        log.append_all((0..20).map(record).collect()).unwrap();
        log.close();
        let all: Vec<Record> = records(dir.path()).map(Result::unwrap).collect();
        let clean = |after: u64, link: Option<&Record>| {
            records_after(dir.path(), after)
                .chained(link)
                .map(|r| r.map(|r| r.seq))
                .collect::<Vec<_>>()
        };
        assert!(clean(0, None).iter().all(Result::is_ok));
        assert!(clean(7, Some(&all[6])).iter().all(Result::is_ok));
        // Linked to the wrong record: the first one read says so.
        let wrong = clean(7, Some(&all[4]));
        let error = wrong[0].as_ref().unwrap_err();
        assert!(error.reason.contains("follows record 5"), "{error}");
        assert!(wrong[1..].iter().all(Result::is_ok));

        let path = segment::list(dir.path()).unwrap()[0].path.clone();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let seqs = |text: String| {
            std::fs::write(&path, text).unwrap();
            records(dir.path())
                .chained(None)
                .map(|r| r.map(|r| r.seq).map_err(|e| (e.line, e.reason)))
                .collect::<Vec<_>>()
        };
        // A word changed in line 5: its hash no longer matches.
        let mut changed = lines.clone();
        let edited = changed[4].replacen("tech-", "tekk-", 1);
        changed[4] = &edited;
        let read = seqs(changed.join("\n") + "\n");
        let (line, reason) = read[4].clone().unwrap_err();
        assert_eq!(line, 5);
        assert!(reason.contains("does not hash"), "{reason}");
        assert!(read.iter().filter(|r| r.is_err()).count() == 1);
        // Line 9 removed: record 10 does not follow record 8.
        let mut removed = lines.clone();
        removed.remove(8);
        let read = seqs(removed.join("\n") + "\n");
        let (line, reason) = read[8].clone().unwrap_err();
        assert_eq!(line, 9);
        assert!(reason.contains("record 10 follows record 8"), "{reason}");
        assert!(read.iter().filter(|r| r.is_err()).count() == 1);
    }
}
