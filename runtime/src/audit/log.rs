//! Appending to the log: durable, batched, fail-stop.
//!
//! Callers seal their records into the chain and wait while one of them
//! writes every record waiting at that moment with one `write` and one
//! `fdatasync` (group commit); only then is each acknowledged (see
//! `writer`). A record is logged once [`AuditLog::append`] returns `Ok` —
//! never before it is on disk.
//!
//! If a write or sync fails, the log stops: that append and every later one
//! fail with [`AuditError::Stopped`], rather than retrying into silent loss.
//!
//! Opening the log finds its last record. A final line without its newline is
//! a write torn by a crash: it was never acknowledged, so it is removed. A
//! trailing segment without records whose name does not follow the chain
//! (a rotation overtaken by a crash) is removed too. A `log.recovered`
//! record says what was repaired.

use super::checkpoint::Checkpoint;
pub use super::config::{
    Appended, AuditConfig, AuditError, DEFAULT_CHECKPOINT_EVERY, MAX_RECORD_BYTES, timestamp,
};
use super::record::{GENESIS, Kind, Record, chain_hash, split_line};
use super::segment;
pub use super::writer::SyncStats;
use super::writer::{self, Start};
use crate::digest::Sha256Digest;
use crate::identity::PublicKey;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The audit log, open for appending. Cheap to share (`Arc`); dropping the
/// last handle flushes and closes it.
pub struct AuditLog {
    checkpoint_key: Option<PublicKey>,
    checkpoint_every: u64,
    writer: writer::Writer,
    dir: PathBuf,
}

impl AuditLog {
    /// Opens (creating if needed) the log in `config.dir` and starts its
    /// writer. Removes a torn final line left by a crash.
    pub fn open(config: AuditConfig) -> Result<AuditLog, AuditError> {
        let open_error = |reason: String| AuditError::Open {
            dir: config.dir.clone(),
            reason,
        };
        std::fs::create_dir_all(&config.dir).map_err(|e| open_error(e.to_string()))?;
        let tail = recover(&config.dir).map_err(open_error)?;
        if !tail.checkpointed {
            refuse_tail_after_stop(&config.dir, tail.last_seq, config.checkpoint_every)
                .map_err(open_error)?;
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&tail.path)
            .map_err(|e| open_error(format!("{}: {e}", tail.path.display())))?;
        let size = file
            .metadata()
            .map_err(|e| open_error(e.to_string()))?
            .len();
        let start = Start {
            file,
            size,
            next_seq: tail.last_seq + 1,
            prev: tail.last_hash,
            checkpointed: tail.checkpointed,
        };
        let repairs = tail.repairs;
        let writer = writer::start(config.clone(), start)
            .map_err(|e| open_error(format!("cannot start the checkpoint thread: {e}")))?;
        let log = AuditLog {
            checkpoint_key: config.checkpoint_key.as_ref().map(|k| k.public()),
            checkpoint_every: config.checkpoint_every,
            writer,
            dir: config.dir.clone(),
        };
        if !repairs.is_empty() {
            let mut record = Record::event(Kind::Recovered);
            record.reason = Some(
                repairs
                    .iter()
                    .map(Repair::describe)
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            record.details = Some(serde_json::json!({
                "repairs": repairs.iter().map(Repair::details).collect::<Vec<_>>(),
            }));
            log.append(record)?;
        }
        Ok(log)
    }

    /// What the log's syncs have done since it opened: how many
    /// `fdatasync` calls made records durable, how many records they
    /// carried (group commit puts every record waiting into one), and the
    /// time spent in them.
    pub fn sync_stats(&self) -> SyncStats {
        self.writer.sync_stats()
    }

    /// Why the log has stopped (fail-stop, after a failed write or sync),
    /// if it has: every append is refused from then on, until the log is
    /// reopened.
    pub fn stopped(&self) -> Option<String> {
        self.writer.stopped()
    }

    /// Has `listener` told, once, why the log stopped: when it does, or at
    /// once if it has. It runs on the thread whose write failed and must
    /// only pass the news on (send it on a channel, say) — a service learns
    /// of a stopped log without polling for it.
    pub fn on_stop(&self, listener: Box<dyn Fn(&str) + Send + Sync>) {
        self.writer.on_stop(listener);
    }

    /// The sequence number of the last record appended (0 for an empty
    /// log): the head an endpoint reports in its presence.
    pub fn last_seq(&self) -> u64 {
        self.writer.last_seq()
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The public half of the key that signs its checkpoints.
    pub fn checkpoint_key(&self) -> Option<PublicKey> {
        self.checkpoint_key
    }

    /// At most how many records come between two checkpoints.
    pub fn checkpoint_every(&self) -> u64 {
        self.checkpoint_every
    }

    /// Appends one record and returns once it is on disk.
    pub fn append(&self, record: Record) -> Result<Appended, AuditError> {
        let mut appended = self.append_all(vec![record])?;
        appended.pop().ok_or(AuditError::Closed)
    }

    /// Appends records together (they are consecutive in the log) and returns
    /// once all are on disk.
    pub fn append_all(&self, records: Vec<Record>) -> Result<Vec<Appended>, AuditError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.writer.append(records)
    }

    /// Writes everything pending and a final checkpoint; later appends are
    /// refused.
    pub fn close(&self) {
        // The last checkpoints reach the copy kept elsewhere too, unless its
        // destination hangs: then the log closes without waiting for it.
        if !self.writer.close(COPY_PATIENCE) {
            tracing::warn!(
                seconds = COPY_PATIENCE.as_secs(),
                "the checkpoint copy kept elsewhere is still being written: closing without it"
            );
        }
    }
}

/// How long closing waits for the last checkpoints to reach their copy.
const COPY_PATIENCE: Duration = Duration::from_secs(10);

/// The key that signed the last checkpoint of the log in `dir`, if it has
/// one: what an endpoint checks before it opens its log with its key, since
/// checkpoints signed by another key would make the log fail verification
/// from there on, for good. (Opening a log with another key is also how one
/// is forged; catching that is `verify`'s work.) The last checkpoint is
/// among the last `2 × checkpoint_every` records: one comes at least every
/// `checkpoint_every`, and a tail left by a crash is checkpointed on reopen.
pub fn last_signer(dir: &Path, checkpoint_every: u64) -> Result<Option<PublicKey>, String> {
    let last = super::read::last_seq(dir).map_err(|e| e.to_string())?;
    let from = last.saturating_sub(checkpoint_every.saturating_mul(2).saturating_add(2));
    let mut signer = None;
    for record in super::read::records_after(dir, from) {
        let record = record.map_err(|e| e.to_string())?;
        if record.kind == Kind::Checkpoint {
            signer = Some(Checkpoint::from_record(&record)?.key);
        }
    }
    Ok(signer)
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// The end of the log, found on opening.
struct Tail {
    /// The segment to append to.
    path: PathBuf,
    last_seq: u64,
    last_hash: Sha256Digest,
    /// Whether the last record is a checkpoint (or there is none): if not,
    /// the tail left by a crash is checkpointed as the writer starts.
    checkpointed: bool,
    /// What opening had to repair after a crash.
    repairs: Vec<Repair>,
}

/// What opening repaired after a crash. Neither loses an acknowledged
/// record: a record is acknowledged only once its line is whole on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Repair {
    /// A final line torn by a crash was cut off.
    Cut { segment: PathBuf, bytes: u64 },
    /// A trailing segment holding no record, whose name does not follow the
    /// chain, was removed (a crash right after it was created, before the
    /// last records of the segment before reached the disk).
    Removed {
        segment: PathBuf,
        named_for: u64,
        expected: u64,
    },
}

impl Repair {
    fn describe(&self) -> String {
        match self {
            Repair::Cut { segment, bytes } => format!(
                "removed {bytes} bytes of a final line torn by a crash (never acknowledged) from {}",
                segment.display()
            ),
            Repair::Removed {
                segment,
                named_for,
                expected,
            } => format!(
                "removed {}, a segment without records named for record {named_for} where record {expected} comes next (created just before a crash)",
                segment.display()
            ),
        }
    }

    fn details(&self) -> serde_json::Value {
        match self {
            Repair::Cut { segment, bytes } => serde_json::json!({
                "segment": segment.display().to_string(),
                "removed_bytes": bytes,
            }),
            Repair::Removed {
                segment,
                named_for,
                expected,
            } => serde_json::json!({
                "segment": segment.display().to_string(),
                "removed_segment": true,
                "named_for": named_for,
                "expected": expected,
            }),
        }
    }
}

/// Syncs the directory, so that files created or removed in it stay so.
fn sync_dir(dir: &Path) -> Result<(), String> {
    crate::os::sync_dir(dir)
        .map_err(|e| format!("cannot sync the directory {}: {e}", dir.display()))
}

/// Cuts a final line without its newline (torn by a crash) off `path`;
/// returns its last complete line and how many bytes were cut.
fn cut_torn_tail(path: &Path) -> Result<(Option<Vec<u8>>, u64), String> {
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(failed)?;
    let end = segment::end(&mut file).map_err(failed)?;
    let torn = end.len - end.complete;
    if torn > 0 {
        file.set_len(end.complete).map_err(failed)?;
        file.sync_all().map_err(failed)?;
        tracing::warn!(segment = %path.display(), removed_bytes = torn, "removed a torn final audit line");
    }
    Ok((end.last_line, torn))
}

/// Finds the last record, repairing what a crash can leave behind: a torn
/// final line (in the last segment, or in the one before when the last
/// holds no record), and a trailing segment without records whose name
/// does not follow the chain. Refuses a log whose last complete record does
/// not verify: appending to it would extend a broken chain.
fn recover(dir: &Path) -> Result<Tail, String> {
    let segments = segment::list(dir).map_err(|e| e.to_string())?;
    if segments.is_empty() {
        let path = dir.join(segment::name(1));
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        sync_dir(dir)?;
        return Ok(Tail {
            path,
            last_seq: 0,
            last_hash: GENESIS,
            checkpointed: true,
            repairs: Vec::new(),
        });
    }
    let mut repairs = Vec::new();
    // From the end back to the last segment holding a record; those after
    // it hold none.
    let mut chain_end = None;
    for (index, segment) in segments.iter().enumerate().rev() {
        let (last_line, cut) = cut_torn_tail(&segment.path)?;
        if cut > 0 {
            repairs.push(Repair::Cut {
                segment: segment.path.clone(),
                bytes: cut,
            });
        }
        if let Some(line) = last_line {
            let (seq, hash, kind) = check_last(&line, &segment.path)?;
            chain_end = Some((index, seq, hash, kind));
            break;
        }
    }
    let (empty_from, last_seq, last_hash) = match chain_end {
        Some((index, seq, hash, _)) => (index + 1, seq, hash),
        None => (0, 0, GENESIS),
    };
    // Records, but not from record 1: the log's beginning is missing, which
    // no crash does, and appending would make a log that fails verification.
    if chain_end.is_some()
        && let Some(first) = segments.first().filter(|s| s.first_seq != 1)
    {
        return Err(format!(
            "{} holds records from record {} on, but no segment starts at record 1: the log's first segments are missing — restore them, or move the directory away to start a new log",
            dir.display(),
            first.first_seq
        ));
    }
    let expected = last_seq + 1;
    // Of the segments without records, one named for the next record is
    // where appending goes on; the others were created by a rotation that
    // a crash overtook.
    let mut next = None;
    for segment in &segments[empty_from..] {
        if segment.first_seq == expected && next.is_none() {
            next = Some(segment.path.clone());
        } else if chain_end.is_some() || segments[empty_from..].iter().any(|s| s.first_seq == 1) {
            std::fs::remove_file(&segment.path)
                .map_err(|e| format!("cannot remove {}: {e}", segment.path.display()))?;
            tracing::warn!(segment = %segment.path.display(), named_for = segment.first_seq, expected, "removed an audit segment without records that does not follow the chain");
            repairs.push(Repair::Removed {
                segment: segment.path.clone(),
                named_for: segment.first_seq,
                expected,
            });
        } else {
            // No record anywhere and no first segment: the log's beginning
            // is missing, which no crash does.
            return Err(format!(
                "{} should start at record 1 but is named for record {}: the log's first segments are missing — restore them, or move the directory away to start a new log",
                segment.path.display(),
                segment.first_seq
            ));
        }
    }
    if repairs.iter().any(|r| matches!(r, Repair::Removed { .. })) {
        sync_dir(dir)?;
    }
    let path = match (next, chain_end) {
        (Some(path), _) => path,
        (None, Some((index, ..))) => segments[index].path.clone(),
        // Without any record, a segment named for record 1 was kept above
        // or an error returned.
        (None, None) => {
            return Err(format!(
                "{} holds no segment to append to; move it away to start a new log",
                dir.display()
            ));
        }
    };
    Ok(Tail {
        path,
        last_seq,
        last_hash,
        checkpointed: chain_end.is_none_or(|(.., kind)| kind == Kind::Checkpoint),
        repairs,
    })
}

/// Refuses a log whose records after its last checkpoint follow a clean
/// stop (the `service.stopped` record that checkpoint vouches for) and
/// could not have been written by the endpoint: between a stop and the next
/// start it writes only the log's own records and how invocations end (one
/// stuck in a host call past the stop's grace period, or one the next start
/// settles: `invocation.finished`, `host-call.denied`). Opening the log
/// would sign a checkpoint over them — vouching for records something else
/// appended. A `service.started` begins the next run: what follows it is
/// that run's, which a crash or a full disk may have ended before its first
/// checkpoint (as `verify` reads it too). Only the last
/// `2 × checkpoint_every` records are read: an endpoint never leaves more
/// after a checkpoint (a longer run is for `verify` to report).
fn refuse_tail_after_stop(dir: &Path, last_seq: u64, checkpoint_every: u64) -> Result<(), String> {
    let from = last_seq.saturating_sub(checkpoint_every.saturating_mul(2).saturating_add(2));
    let mut previous = None;
    // The stop the last checkpoint vouches for, and what came after it.
    let mut stop: Option<(u64, Vec<(u64, Kind)>)> = None;
    for record in super::read::records_after(dir, from) {
        let record = record.map_err(|e| e.to_string())?;
        match (record.kind, &mut stop) {
            (Kind::Checkpoint, _) => {
                stop =
                    (previous == Some(Kind::ServiceStopped)).then(|| (record.seq - 1, Vec::new()))
            }
            (Kind::ServiceStarted, _) => stop = None,
            (kind, Some((_, after))) => after.push((record.seq, kind)),
            _ => {}
        }
        previous = Some(record.kind);
    }
    let Some((stop, after)) = stop else {
        return Ok(());
    };
    match after.iter().find(|(_, kind)| {
        !matches!(
            kind,
            Kind::InvocationFinished | Kind::HostCallDenied | Kind::Recovered
        )
    }) {
        Some((seq, kind)) => Err(format!(
            "record {seq} (`{kind}`) follows the service's clean stop (record {stop}) and its final checkpoint, where the endpoint writes nothing of the kind: it was appended by something else, and opening the log would sign over it — keep the log as evidence (`salve audit verify` names the records) and move it away to start a new one"
        )),
        None => Ok(()),
    }
}

/// The sequence number and hash of a log's last record, which must verify.
fn check_last(line: &[u8], path: &Path) -> Result<(u64, Sha256Digest, Kind), String> {
    let broken = |why: &str| {
        format!(
            "the last record of {} {why}; run `salve audit verify` to find the damage — nothing is appended to a broken chain",
            path.display()
        )
    };
    let split = split_line(line).ok_or_else(|| broken("is not a sealed record"))?;
    let record: Record = serde_json::from_slice(line).map_err(|_| broken("cannot be read"))?;
    if chain_hash(&record.prev, split.canonical_without_brace) != record.hash {
        return Err(broken("does not match its hash"));
    }
    Ok((record.seq, record.hash, record.kind))
}
