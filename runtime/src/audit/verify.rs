//! Verifying a log: every record's hash recomputed from its bytes, every link
//! to the record before, sequence numbers without gaps across segments, and
//! every checkpoint's signature — all by one key: the key the caller gives,
//! else the key of the checkpoint kept elsewhere, else the key of the log's
//! first checkpoint. (A log whose tail was rewritten and re-signed with
//! another key is a broken log, even though each signature verifies.)
//! Checkpoints come at least every `checkpoint_every` records: a longer run
//! without one means checkpoints were removed — which is what rewriting a
//! record and the chain after it requires, since the checkpoints after it no
//! longer match. Only the records after the last checkpoint are left
//! unprotected by the log itself; a checkpoint kept elsewhere covers them.
//! Every line must also be a record as the readers read it (JSON, with a
//! record's fields, each once, and no others): the records a signed
//! checkpoint vouches for are (the endpoint writes nothing else, and their
//! hashes chain up to what it signed), so only the others are parsed — the
//! records before the first checkpoint, after the last one, or in a log
//! without any.
//! Verification only reads.

use super::checkpoint::Checkpoint;
use super::log::DEFAULT_CHECKPOINT_EVERY;
use super::record::{GENESIS, Kind, Record, chain_hash, read_head, split_line};
use super::segment::{self, Segment};
use crate::digest::Sha256Digest;
use crate::identity::PublicKey;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What a verified log holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verified {
    /// How many records.
    pub records: u64,
    /// How many segment files.
    pub segments: usize,
    /// The last record's sequence number (0 for an empty log).
    pub last_seq: u64,
    /// The last record's hash.
    pub last_hash: Sha256Digest,
    /// How many checkpoints were found and their signatures checked.
    pub checkpoints: u64,
    /// Whether those signatures were checked against a key given by the
    /// caller (rather than only against the log's own first checkpoint).
    pub key_checked: bool,
    /// The key that signed every checkpoint: the one given when
    /// `key_checked`, else the first checkpoint's. `None` when the log has
    /// no checkpoint and no key was given.
    pub checkpoint_key: Option<PublicKey>,
    /// The external checkpoint the log was checked against, if any.
    pub against_checkpoint: Option<u64>,
    /// How many records come after the last checkpoint (all of them when
    /// there is none): chained, but not yet vouched for by a signature. A
    /// running endpoint checkpoints its tail within its checkpoint interval
    /// (60 s by default), and at a clean stop.
    pub unvouched: u64,
}

/// The first problem found: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {reason}", file.display())]
pub struct Corruption {
    /// The segment file.
    pub file: PathBuf,
    /// The line (1-based) in that file.
    pub line: u64,
    /// The record's sequence number, when it could be read.
    pub seq: Option<u64>,
    /// What is wrong, and what it means.
    pub reason: String,
}

/// Why a log could not be verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A record is bad.
    #[error("the audit log is corrupt: {0}")]
    Corrupt(Corruption),
    /// There is no log here.
    #[error(
        "no audit log in {}: no audit-*.jsonl segment (the endpoint's is in its data directory's `audit/`, e.g. /var/lib/salve/audit)", dir.display()
    )]
    NoLog {
        /// The directory given.
        dir: PathBuf,
    },
    /// A key was given, but no checkpoint in the log is signed by anyone.
    #[error(
        "none of the {records} records is vouched for by a checkpoint: the endpoint signs one at least every {every} records, within a minute while records wait, and when it stops, so this log was not written by it, or its checkpoints were removed"
    )]
    Unsigned {
        /// How many records the log holds.
        records: u64,
        /// The checkpoint interval in records.
        every: u64,
    },
    /// The log ends before an external checkpoint: records were removed.
    #[error(
        "the audit log was truncated: it ends at record {last_seq}{}, but a checkpoint kept elsewhere shows it reached record {checkpoint_seq}",
        last_file.as_ref().map(|f| format!(" ({})", f.display())).unwrap_or_default()
    )]
    Truncated {
        /// The log's last record.
        last_seq: u64,
        /// The segment holding that record, if the log has any.
        last_file: Option<PathBuf>,
        /// The checkpoint's own record, which the log should reach.
        checkpoint_seq: u64,
    },
    /// The log's record differs from what an external checkpoint vouches for.
    #[error(
        "{}:{line}: record {seq} does not match the checkpoint kept elsewhere: the log has hash {found}, the checkpoint {expected}; the log was rewritten",
        file.display()
    )]
    CheckpointMismatch {
        /// The segment file.
        file: PathBuf,
        /// The line (1-based) in that file.
        line: u64,
        /// The record.
        seq: u64,
        /// Its hash in the log.
        found: Sha256Digest,
        /// The checkpoint's.
        expected: Sha256Digest,
    },
    /// The external checkpoint itself is not valid.
    #[error("the checkpoint given cannot be trusted: {0}")]
    BadCheckpoint(String),
    /// A file cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said (in the message, not chained as
        /// a source, so that it is said once).
        error: std::io::Error,
    },
}

// By hand rather than `#[from]`, which would also make the corruption the
// error's source, and every report say it twice.
impl From<Corruption> for VerifyError {
    fn from(corruption: Corruption) -> VerifyError {
        VerifyError::Corrupt(corruption)
    }
}

/// Where the key every checkpoint must be signed by comes from.
#[derive(Debug, Clone, Copy)]
enum Pin {
    /// The caller gave it.
    Given,
    /// The checkpoint kept elsewhere is signed by it.
    External,
    /// The log's first checkpoint (this record) is signed by it.
    First(u64),
}

/// The state carried from record to record.
struct Chain<'k> {
    expected_seq: u64,
    prev: Sha256Digest,
    /// `prev` as hex, as records write it.
    prev_hex: [u8; 64],
    checkpoints: u64,
    /// The key every checkpoint must be signed by, once known.
    signer: Option<(PublicKey, Pin)>,
    /// A checkpoint kept elsewhere, which the log must contain.
    watch: Option<&'k Checkpoint>,
    watch_found: bool,
    /// Records since the last checkpoint (or the start).
    since_checkpoint: u64,
    /// The most records allowed between two checkpoints.
    checkpoint_every: u64,
    /// Records no checkpoint vouches for yet, not yet read as records.
    unvouched: Unvouched,
    /// The log is being written while it is read: a last line still
    /// without its newline at the end of the last segment is a write in
    /// flight, left out rather than reported.
    live: bool,
    /// Whether the segment being read is the last.
    in_last_segment: bool,
    /// Between a `service.stopped` record and the next `service.started`:
    /// the stop's record.
    stopped: Option<u64>,
}

/// Verifies the log in `dir` (its segments in order), written with the
/// default checkpoint interval ([`DEFAULT_CHECKPOINT_EVERY`] records). Every
/// checkpoint must be signed by one key: `key` when given, else the key of
/// `external`, else the key of the log's first checkpoint. With `external`,
/// the log must also contain that checkpoint's record with that hash.
pub fn verify_dir(
    dir: &Path,
    key: Option<&PublicKey>,
    external: Option<&Checkpoint>,
) -> Result<Verified, VerifyError> {
    verify_dir_with(dir, key, external, DEFAULT_CHECKPOINT_EVERY)
}

/// As [`verify_dir`], for a log written with a checkpoint every
/// `checkpoint_every` records (its [`super::AuditConfig::checkpoint_every`]).
/// Once a checkpoint key is known (given, or read from the first
/// checkpoint), a longer run of records without a checkpoint is a
/// corruption: checkpoints were removed.
pub fn verify_dir_with(
    dir: &Path,
    key: Option<&PublicKey>,
    external: Option<&Checkpoint>,
    checkpoint_every: u64,
) -> Result<Verified, VerifyError> {
    verify(dir, key, external, checkpoint_every, false)
}

/// As [`verify_dir_with`], for a log that its writer may be appending to
/// while it is read (the service verifying its own log): a last line not
/// yet complete is a write in flight, and the log is verified up to it.
pub fn verify_live(
    dir: &Path,
    key: Option<&PublicKey>,
    checkpoint_every: u64,
) -> Result<Verified, VerifyError> {
    verify(dir, key, None, checkpoint_every, true)
}

fn verify(
    dir: &Path,
    key: Option<&PublicKey>,
    external: Option<&Checkpoint>,
    checkpoint_every: u64,
    live: bool,
) -> Result<Verified, VerifyError> {
    let segments = segment::list(dir).map_err(|source| VerifyError::Io {
        path: dir.to_path_buf(),
        error: source,
    })?;
    if let (Some(checkpoint), Some(key)) = (external, key) {
        checkpoint
            .check(Some(key))
            .map_err(VerifyError::BadCheckpoint)?;
    } else if let Some(checkpoint) = external {
        checkpoint.check(None).map_err(VerifyError::BadCheckpoint)?;
    }
    let mut chain = Chain {
        expected_seq: 1,
        prev: GENESIS,
        prev_hex: [b'0'; 64],
        checkpoints: 0,
        signer: match (key, external) {
            (Some(key), _) => Some((*key, Pin::Given)),
            (None, Some(checkpoint)) => Some((checkpoint.key, Pin::External)),
            (None, None) => None,
        },
        watch: external,
        watch_found: false,
        since_checkpoint: 0,
        checkpoint_every: checkpoint_every.max(1),
        unvouched: Unvouched::default(),
        live,
        in_last_segment: false,
        stopped: None,
    };
    if segments.is_empty() {
        return Err(VerifyError::NoLog {
            dir: dir.to_path_buf(),
        });
    }
    // The segment holding the last record read.
    let mut last_file = None;
    for (index, segment) in segments.iter().enumerate() {
        // Readers find a record's segment by the names: each must start
        // with the record it is named for. Only the newest may be empty
        // (just rotated), and only if named for the record that comes next.
        let empty = std::fs::metadata(&segment.path)
            .map_err(|source| VerifyError::Io {
                path: segment.path.clone(),
                error: source,
            })?
            .len()
            == 0;
        if empty && (index + 1 < segments.len() || segment.first_seq != chain.expected_seq) {
            return Err(Corruption {
                file: segment.path.clone(),
                line: 1,
                seq: None,
                reason: format!(
                    "an empty segment named for record {}, where record {} comes next{}: a segment was emptied, or a file was added to mislead readers",
                    segment.first_seq,
                    chain.expected_seq,
                    if index + 1 < segments.len() {
                        ", and not the newest"
                    } else {
                        ""
                    }
                ),
            }
            .into());
        }
        chain.in_last_segment = index + 1 == segments.len();
        let file = std::fs::File::open(&segment.path).map_err(|source| VerifyError::Io {
            path: segment.path.clone(),
            error: source,
        })?;
        let before = chain.expected_seq;
        verify_reader(&segment.path, file, segment, &mut chain)?;
        if chain.expected_seq > before {
            last_file = Some(&segment.path);
        }
    }
    // The records after the last checkpoint: no signature vouches for them.
    chain.unvouched.check(&[])?;
    let last_seq = chain.expected_seq - 1;
    if key.is_some() && chain.checkpoints == 0 && last_seq > 0 {
        return Err(VerifyError::Unsigned {
            records: last_seq,
            every: chain.checkpoint_every,
        });
    }
    if let Some(checkpoint) = external {
        // The checkpoint is the record after the one it vouches for.
        if checkpoint.seq + 1 > last_seq {
            return Err(VerifyError::Truncated {
                last_seq,
                last_file: last_file.cloned(),
                checkpoint_seq: checkpoint.seq + 1,
            });
        }
        if !chain.watch_found {
            return Err(VerifyError::BadCheckpoint(format!(
                "record {} is not in the log",
                checkpoint.seq
            )));
        }
    }
    Ok(Verified {
        records: last_seq,
        segments: segments.len(),
        last_seq,
        last_hash: chain.prev,
        checkpoints: chain.checkpoints,
        key_checked: key.is_some(),
        checkpoint_key: chain.signer.map(|(key, _)| key),
        against_checkpoint: external.map(|c| c.seq),
        unvouched: chain.since_checkpoint,
    })
}

/// Bytes read from a segment at a time; lines are checked where they lie
/// in this buffer, not copied out one by one.
const CHUNK: usize = 1 << 20;

/// The longest line read: past it, a line is not a record (the endpoint
/// writes none this long), and reading stops there rather than holding
/// the rest of the file in memory.
const MAX_LINE: usize = 64 << 20;

fn verify_reader(
    path: &Path,
    mut reader: impl Read,
    segment: &Segment,
    chain: &mut Chain<'_>,
) -> Result<(), VerifyError> {
    let file: Rc<Path> = Rc::from(path);
    let mut buffer = vec![0u8; CHUNK];
    // `buffer[..filled]` holds what was read and not yet checked: whole
    // lines, then the start of the next one.
    let mut filled = 0;
    let mut number = 0u64;
    let checked = loop {
        if filled == buffer.len() {
            if buffer.len() >= MAX_LINE {
                break Err(Corruption {
                    file: path.to_path_buf(),
                    line: number + 1,
                    seq: None,
                    reason: format!("a line longer than {} MiB: not a record", MAX_LINE >> 20),
                }
                .into());
            }
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = match reader.read(&mut buffer[filled..]) {
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                break Err(VerifyError::Io {
                    path: path.to_path_buf(),
                    error: source,
                });
            }
        };
        let unread = filled;
        filled += read;
        let mut start = 0;
        let mut failed = None;
        // Only the bytes just read can hold the next newline.
        for newline in memchr::memchr_iter(b'\n', &buffer[unread..filled]) {
            let end = unread + newline + 1;
            number += 1;
            if let Err(error) = verify_line(&file, number, &buffer, start..end, segment, chain) {
                failed = Some(error);
                break;
            }
            start = end;
        }
        if let Some(error) = failed {
            break Err(error);
        }
        if read == 0 {
            // The end of the file: a last line without its newline is torn
            // (or, in a log being written, still being written).
            if start < filled && !(chain.live && chain.in_last_segment) {
                number += 1;
                break verify_line(&file, number, &buffer, start..filled, segment, chain);
            }
            break Ok(());
        }
        if chain.unvouched.holds_current() {
            // Records kept for a checkpoint lie in this buffer: it is kept
            // with them, and reading goes on in another.
            chain.unvouched.retire(&mut buffer, start..filled);
        } else {
            buffer.copy_within(start..filled, 0);
        }
        filled -= start;
    };
    if checked.is_err() {
        // A record before the bad one, not yet read as a record, may be
        // the first bad one.
        chain.unvouched.check(&buffer)?;
    } else if chain.unvouched.holds_current() {
        // The next segment, or the end of the log, may still need them.
        chain.unvouched.retire(&mut buffer, 0..0);
    }
    checked
}

/// Checks one line (with its newline) of a segment, the `number`th, which
/// lies in `buffer` at `at`.
fn verify_line(
    file: &Rc<Path>,
    number: u64,
    buffer: &[u8],
    at: Range<usize>,
    segment: &Segment,
    chain: &mut Chain<'_>,
) -> Result<(), VerifyError> {
    let line = &buffer[at.clone()];
    let corrupt = |seq: Option<u64>, reason: String| Corruption {
        file: file.to_path_buf(),
        line: number,
        seq,
        reason,
    };
    if line.last() != Some(&b'\n') {
        return Err(corrupt(
            None,
            "the last line is incomplete — a write torn by a crash, never acknowledged (opening the log for writing removes it), or a truncated file".to_string(),
        )
        .into());
    }
    let body = &line[..line.len() - 1];
    if number == 1 && segment.first_seq != chain.expected_seq {
        return Err(corrupt(
            None,
            format!(
                "this segment starts at record {}, but record {} comes next: segments are missing or misnamed",
                segment.first_seq, chain.expected_seq
            ),
        )
        .into());
    }
    let Some(split) = split_line(body) else {
        return Err(corrupt(
            None,
            "not a sealed record: it does not end with its `hash`".to_string(),
        )
        .into());
    };
    let record = read_head(split.canonical_without_brace).ok_or_else(|| {
        corrupt(
            None,
            "not a sealed record: it does not open with its seq, time, kind and code, or its prev does not close it".to_string(),
        )
    })?;
    let seq = Some(record.seq);
    if record.seq != chain.expected_seq {
        return Err(corrupt(
            seq,
            format!(
                "record {} where record {} was expected: records were deleted, inserted or reordered",
                record.seq, chain.expected_seq
            ),
        )
        .into());
    }
    if record.prev != chain.prev_hex {
        return Err(corrupt(
            seq,
            format!(
                "its `prev` is not the hash of record {}: the chain is broken here",
                record.seq - 1
            ),
        )
        .into());
    }
    let computed = chain_hash(&chain.prev, split.canonical_without_brace);
    let mut computed_hex = [0u8; 64];
    hex::encode_to_slice(computed.as_bytes(), &mut computed_hex)
        .map_err(|e| corrupt(seq, e.to_string()))?;
    if split.claimed != computed_hex {
        return Err(corrupt(
            seq,
            "its hash does not match its content: the record was changed".to_string(),
        )
        .into());
    }
    if record.code != u64::from(record.kind.code()) {
        return Err(corrupt(
            seq,
            format!(
                "code {} does not belong to kind {}",
                record.code, record.kind
            ),
        )
        .into());
    }
    if record.kind == Kind::Checkpoint {
        chain.since_checkpoint = 0;
    } else {
        chain.since_checkpoint += 1;
        if chain.since_checkpoint > chain.checkpoint_every && chain.signer.is_some() {
            return Err(corrupt(
                seq,
                format!(
                    "{} records without a checkpoint, where the endpoint signs one every {} records: checkpoints were removed, which rewriting the records before them requires (for a log written with a longer interval, give it)",
                    chain.since_checkpoint, chain.checkpoint_every
                ),
            )
            .into());
        }
    }
    check_lifecycle(record.seq, record.kind, chain).map_err(|reason| corrupt(seq, reason))?;
    let watching = chain.watch.is_some_and(|w| w.seq + 1 == record.seq);
    if record.kind == Kind::Checkpoint || watching {
        // Rare: read the record whole (which checks it is a record).
        let full: Record = serde_json::from_slice(body)
            .map_err(|e| corrupt(seq, format!("not a valid record: {e}")))?;
        let vouching = record.kind == Kind::Checkpoint;
        check_checkpoints(&full, chain).map_err(|e| match e {
            Ok(reason) => VerifyError::Corrupt(corrupt(seq, reason)),
            Err(error) => error,
        })?;
        if vouching {
            // Signed by the key every checkpoint must be signed by: every
            // record before it is as the endpoint wrote it.
            chain.unvouched.clear();
        }
    } else if chain.signer.is_some() {
        // Every line is a record. Once a checkpoint signed by the
        // endpoint's key vouches for this one, it is: the endpoint writes
        // nothing else. Until then it is kept, and checked if none does.
        let body = at.start..at.start + body.len();
        chain
            .unvouched
            .push(file, number, record.seq, body, buffer)?;
    } else {
        check_record(file, number, record.seq, body)?;
    }
    if let Some(watched) = chain.watch
        && watched.seq == record.seq
        && computed != watched.hash
    {
        return Err(VerifyError::CheckpointMismatch {
            file: file.to_path_buf(),
            line: number,
            seq: record.seq,
            found: computed,
            expected: watched.hash,
        });
    }
    chain.prev = computed;
    chain.prev_hex = computed_hex;
    chain.expected_seq += 1;
    Ok(())
}

/// Checks that a record of `kind` may come where it does in the service's
/// runs: between a stop and the next start the endpoint writes only the
/// log's own records and what invocations still running at the stop (stuck
/// in a host call past the grace period) or settled by the next start
/// write as they end: `invocation.finished` and `host-call.denied`.
fn check_lifecycle(seq: u64, kind: Kind, chain: &mut Chain<'_>) -> Result<(), String> {
    match (kind, chain.stopped) {
        (Kind::ServiceStopped, _) => chain.stopped = Some(seq),
        (Kind::ServiceStarted, _) => chain.stopped = None,
        (_, None)
        | (
            Kind::Checkpoint | Kind::Recovered | Kind::InvocationFinished | Kind::HostCallDenied,
            _,
        ) => {}
        (kind, Some(stop)) => {
            return Err(format!(
                "a record of kind `{kind}` after the service stopped (record {stop}) and before it started again: the endpoint writes none there, so it was appended by something else"
            ));
        }
    }
    Ok(())
}

/// Checks that a record's line (without its newline) is a record, read as
/// every reader of the log reads it ([`Record`]: JSON, with a record's
/// fields, each once, and no others); its hash covers every byte of it,
/// but not that. Checking only that it is JSON is not enough: a line with
/// a field no record has (or one twice) would pass and then fail every
/// reader of a log said to verify (found by fuzzing). JSON is UTF-8 text,
/// which is checked first, so that a line that is not says so.
fn check_record(file: &Path, line: u64, seq: u64, body: &[u8]) -> Result<(), Corruption> {
    let corrupt = |reason: String| Corruption {
        file: file.to_path_buf(),
        line,
        seq: Some(seq),
        reason: format!("not a valid record: {reason}"),
    };
    let text = std::str::from_utf8(body).map_err(|e| corrupt(format!("not UTF-8 text ({e})")))?;
    serde_json::from_str::<Record>(text)
        .map(|_| ())
        .map_err(|e| corrupt(e.to_string()))
}

/// Most bytes of records kept for a checkpoint to vouch for: past this,
/// they are read as records there and then.
const MAX_UNVOUCHED_BYTES: usize = 8 << 20;

/// Records since the last checkpoint, kept until the next one vouches for
/// them (they are then what the endpoint wrote: records) or the log ends
/// without one (they are then read as records). Reading each record costs
/// more than hashing it, and a checkpoint covers nearly all.
/// Records are kept where they were read: the reader's buffer holding
/// some is kept too, and the reader goes on in another.
#[derive(Default)]
struct Unvouched {
    /// Buffers the reader moved on from, holding kept records.
    retired: Vec<Vec<u8>>,
    /// Buffers no longer needed, for the reader to go on in.
    spare: Vec<Vec<u8>>,
    records: Vec<Kept>,
    /// How many bytes the kept records hold.
    bytes: usize,
}

/// A record kept: where it was read, and where it lies.
struct Kept {
    file: Rc<Path>,
    line: u64,
    seq: u64,
    /// Which buffer: an index into `retired`, or its length for the
    /// reader's current one.
    buffer: usize,
    range: Range<usize>,
}

impl Unvouched {
    /// Keeps the record at `range` of `current` (the reader's buffer).
    fn push(
        &mut self,
        file: &Rc<Path>,
        line: u64,
        seq: u64,
        range: Range<usize>,
        current: &[u8],
    ) -> Result<(), Corruption> {
        if self.bytes + range.len() > MAX_UNVOUCHED_BYTES {
            self.check(current)?;
        }
        self.bytes += range.len();
        self.records.push(Kept {
            file: file.clone(),
            line,
            seq,
            buffer: self.retired.len(),
            range,
        });
        Ok(())
    }

    /// Whether a record is kept in the reader's current buffer.
    fn holds_current(&self) -> bool {
        self.records
            .last()
            .is_some_and(|kept| kept.buffer == self.retired.len())
    }

    /// Keeps the reader's `current` buffer, replacing it with a spare one
    /// that starts with the bytes at `unread` of the old one.
    fn retire(&mut self, current: &mut Vec<u8>, unread: Range<usize>) {
        let mut next = self.spare.pop().unwrap_or_default();
        let len = current.len();
        if next.len() < len {
            next.resize(len, 0);
        }
        next[..unread.len()].copy_from_slice(&current[unread]);
        self.retired.push(std::mem::replace(current, next));
    }

    /// Reads every record kept as a record (the first that is not is the
    /// error), and forgets them. `current` is the reader's buffer.
    fn check(&mut self, current: &[u8]) -> Result<(), Corruption> {
        for kept in &self.records {
            let buffer = self.retired.get(kept.buffer).map_or(current, Vec::as_slice);
            check_record(&kept.file, kept.line, kept.seq, &buffer[kept.range.clone()])?;
        }
        self.clear();
        Ok(())
    }

    fn clear(&mut self) {
        // Two spares are enough: a checkpoint comes every few hundred KB.
        self.spare.append(&mut self.retired);
        self.spare.truncate(2);
        self.records.clear();
        self.bytes = 0;
    }
}

/// Checks a checkpoint record (its signature, that it vouches for the
/// record before it) and whether it is the external checkpoint expected
/// here. `Err(Ok(reason))` is a corrupt record.
fn check_checkpoints(
    record: &Record,
    chain: &mut Chain<'_>,
) -> Result<(), Result<String, VerifyError>> {
    if record.kind == Kind::Checkpoint {
        let checkpoint = Checkpoint::from_record(record).map_err(Ok)?;
        if checkpoint.seq + 1 != record.seq || checkpoint.hash != record.prev {
            return Err(Ok(
                "the checkpoint does not vouch for the record just before it".to_string(),
            ));
        }
        match chain.signer {
            Some((pinned, pin)) if pinned != checkpoint.key => {
                return Err(Ok(match pin {
                    Pin::Given => format!(
                        "checkpoint of record {} is signed by {}, not by the endpoint's key {pinned}",
                        checkpoint.seq, checkpoint.key
                    ),
                    Pin::External => format!(
                        "checkpoint of record {} is signed by {}, but the checkpoint kept elsewhere is signed by {pinned}: the log, or the checkpoint kept elsewhere, was signed by another key — give --key with the endpoint's key to tell which",
                        checkpoint.seq, checkpoint.key
                    ),
                    Pin::First(first) => format!(
                        "checkpoint of record {} is signed by {}, but the log's first checkpoint (record {first}) is signed by {pinned}: the log from here on was rewritten and re-signed by another key — give --key with the endpoint's key to tell which is genuine",
                        checkpoint.seq, checkpoint.key
                    ),
                }));
            }
            Some(_) => {}
            None => chain.signer = Some((checkpoint.key, Pin::First(record.seq))),
        }
        checkpoint.check(None).map_err(Ok)?;
        chain.checkpoints += 1;
    }
    // The checkpoint kept elsewhere must itself be in the log, right after
    // the record it vouches for: removing it is removing a record.
    if let Some(watched) = chain.watch
        && watched.seq + 1 == record.seq
    {
        if Checkpoint::from_record(record).ok().as_ref() != Some(watched) {
            return Err(Ok(format!(
                "record {} should be the checkpoint kept elsewhere (of record {}), but it is not: the log was rewritten",
                record.seq, watched.seq
            )));
        }
        chain.watch_found = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-segment log of `canonical` records (each without its `prev`,
    /// `hash` and closing brace), chained as the writer chains them.
    fn log_of(dir: &Path, canonical: &[&[u8]]) {
        let mut prev = GENESIS;
        let mut out = Vec::new();
        for part in canonical {
            let mut line = part.to_vec();
            line.extend_from_slice(format!(",\"prev\":\"{prev}\"").as_bytes());
            prev = chain_hash(&prev, &line);
            out.extend_from_slice(&line);
            out.extend_from_slice(format!(",\"hash\":\"{prev}\"}}\n").as_bytes());
        }
        std::fs::write(dir.join(segment::name(1)), out).unwrap();
    }

    #[test]
    fn a_record_with_invalid_utf8_in_a_string_is_not_json() {
        let dir = tempfile::tempdir().unwrap();
        let started: &[u8] = br#"{"seq":1,"time":"2026-12-07T02:58:00.803785Z","kind":"service.started","code":9003"#;
        let good: &[u8] = br#"{"seq":2,"time":"2026-12-07T02:58:01.803785Z","kind":"session.requested","code":2001,"principal":"tom""#;
        log_of(dir.path(), &[started, good]);
        assert_eq!(verify_dir(dir.path(), None, None).unwrap().records, 2);

        // The same record with a byte that is not UTF-8 in a key, then in a
        // value: chained, so that only the bytes are wrong.
        for bad in [
            &b"{\"seq\":2,\"time\":\"2026-12-07T02:58:01.803785Z\",\"kind\":\"session.requested\",\"code\":2001,\"prin\xf0cipal\":\"tom\""[..],
            &b"{\"seq\":2,\"time\":\"2026-12-07T02:58:01.803785Z\",\"kind\":\"session.requested\",\"code\":2001,\"principal\":\"t\xffm\""[..],
        ] {
            log_of(dir.path(), &[started, bad]);
            match verify_dir(dir.path(), None, None) {
                Err(VerifyError::Corrupt(corruption)) => {
                    assert_eq!(corruption.seq, Some(2));
                    assert!(
                        corruption.reason.starts_with("not a valid record: not UTF-8 text"),
                        "{corruption}"
                    );
                }
                other => panic!("{other:?}"),
            }
            assert!(crate::audit::read::records(dir.path()).any(|r| r.is_err()));
        }
    }

    /// Found by fuzzing (`fuzz/seeds/audit/crash-934cea9b…`, the log that
    /// input leaves on disk): a log whose one record held a field no record
    /// has (`""`, and `hash` twice), chained so that only that was wrong,
    /// verified, since only its being JSON was checked; every reader then
    /// refused the record.
    #[test]
    fn a_json_line_that_is_not_a_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let started =
            r#"{"seq":1,"time":"2026-12-07T02:58:00.803785Z","kind":"service.started","code":9003"#;
        let good = format!(r#"{started},"endpoint":"pc-0421""#);
        log_of(dir.path(), &[good.as_bytes()]);
        assert_eq!(verify_dir(dir.path(), None, None).unwrap().records, 1);
        assert!(crate::audit::read::records(dir.path()).all(|r| r.is_ok()));

        // The record the finding left on disk, then its minimized forms: a
        // field no record has, a field twice.
        let found = r#"{"seq":1,"time":"2026%12-07T02:58:00.803785Z","kind":"service.started","code":9003,"":"pc-0421","prev":"5d7efc2564cd82257396416bcbf8760ce2cf33c5330850fa6af4d58335fad1d5","hash":"668ac4305db3f0f3e412bd66a0a357f5a873988411e97b706c6+6a4ab1055b8aa02:58:00.803785Z","kind":"service.started","code":9003,"":"pc-0421","prev":"5d7efc2564cd82257396416bcbf8760ce2cf33c5330850fa6af4d58335fad1d5","hash":"6658335fad1d5","hash":"668ac4305db3f0f3e412bd66a0a357f5a873988411e97b706c6+6a4ab1055b8aa02:58:00.803785Z","kind":"service.started","code":9003,"":"pc-0421""#;
        let key = crate::identity::KeyPair::generate().unwrap().public();
        for (bad, reason) in [
            (found.to_string(), "unknown field ``"),
            (format!(r#"{started},"":"pc-0421""#), "unknown field ``"),
            (
                format!(r#"{started},"endpoint":"pc-0421","endpoint":"pc-0422""#),
                "duplicate field `endpoint`",
            ),
        ] {
            log_of(dir.path(), &[bad.as_bytes()]);
            // Without a key the line is read at once; with one, it waits
            // for a checkpoint to vouch for it, and is read when none does.
            for key in [None, Some(&key)] {
                match verify_dir(dir.path(), key, None) {
                    Err(VerifyError::Corrupt(corruption)) => {
                        assert_eq!((corruption.line, corruption.seq), (1, Some(1)));
                        assert!(
                            corruption
                                .reason
                                .starts_with(&format!("not a valid record: {reason}")),
                            "{corruption}"
                        );
                    }
                    other => panic!("{bad}: {other:?}"),
                }
            }
            assert!(crate::audit::read::records(dir.path()).any(|r| r.is_err()));
        }
    }
}
