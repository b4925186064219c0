//! Appending to the log: durable, batched, fail-stop.
//!
//! One writer thread owns the files. Callers hand it records and wait: it
//! takes every record waiting at that moment, seals them into the chain,
//! writes them with one `write` and one `fdatasync` (group commit), and only
//! then acknowledges each. A record is logged once [`AuditLog::append`]
//! returns `Ok` — never before it is on disk.
//!
//! If a write or sync fails, the log stops: that append and every later one
//! fail with [`AuditError::Stopped`], rather than retrying into silent loss.
//!
//! Opening the log finds its last record. A final line without its newline is
//! a write torn by a crash: it was never acknowledged, so it is removed, and a
//! `log.recovered` record says so.

use super::record::{GENESIS, Kind, Record, chain_hash, split_line};
use super::segment;
use super::writer::{self, Job, Start};
use crate::digest::Sha256Digest;
use crate::identity::{KeyPair, PublicKey};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// How the log is kept.
#[derive(Clone)]
pub struct AuditConfig {
    /// The directory of the segment files.
    pub dir: PathBuf,
    /// A segment is closed and a new one begun past this size.
    pub max_segment_bytes: u64,
    /// A checkpoint is written after this many records…
    pub checkpoint_every: u64,
    /// …or this long after the last one, whichever comes first.
    pub checkpoint_interval: Duration,
    /// The endpoint's key; no checkpoints are written without it.
    pub checkpoint_key: Option<Arc<KeyPair>>,
    /// A file, best on another volume, to which every checkpoint is also
    /// appended (one JSON per line), to check the log against later.
    pub checkpoint_copy: Option<PathBuf>,
    /// Batch concurrent appends into one sync. Off, every record gets its own
    /// `fdatasync` (the benchmark's baseline).
    pub group_commit: bool,
}

impl AuditConfig {
    /// Defaults for a log in `dir`: 64 MiB segments, a checkpoint every 1000
    /// records or minute, group commit on.
    pub fn new(dir: impl Into<PathBuf>) -> AuditConfig {
        AuditConfig {
            dir: dir.into(),
            max_segment_bytes: 64 << 20,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(60),
            checkpoint_key: None,
            checkpoint_copy: None,
            group_commit: true,
        }
    }
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: Sha256Digest,
}

/// Why the log cannot be opened or appended to.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The log cannot be opened.
    #[error("cannot open the audit log in {}: {reason}", dir.display())]
    Open {
        /// Its directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// The log has stopped after a failed write or sync; nothing more is
    /// written until it is reopened.
    #[error(
        "the audit log has stopped after a failed write ({0}); nothing runs until it is fixed and reopened"
    )]
    Stopped(String),
    /// The log is closed.
    #[error("the audit log is closed")]
    Closed,
}

/// The audit log, open for appending. Cheap to share (`Arc`); dropping the
/// last handle flushes and closes it.
pub struct AuditLog {
    checkpoint_key: Option<PublicKey>,
    submit: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
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
        let file = OpenOptions::new()
            .append(true)
            .open(&tail.path)
            .map_err(|e| open_error(format!("{}: {e}", tail.path.display())))?;
        let size = file
            .metadata()
            .map_err(|e| open_error(e.to_string()))?
            .len();
        let (submit, jobs) = mpsc::channel::<Job>();
        let start = Start {
            file,
            size,
            next_seq: tail.last_seq + 1,
            prev: tail.last_hash,
        };
        let removed = tail.removed_bytes;
        let dir = config.dir.clone();
        let handle = writer::start(config.clone(), start, jobs)
            .map_err(|e| open_error(format!("cannot start the writer thread: {e}")))?;
        let log = AuditLog {
            checkpoint_key: config.checkpoint_key.as_ref().map(|k| k.public()),
            submit: Mutex::new(Some(submit)),
            writer: Mutex::new(Some(handle)),
            dir,
        };
        if removed > 0 {
            let mut record = Record::event(Kind::Recovered);
            record.reason = Some(format!(
                "removed {removed} bytes of a final line torn by a crash (never acknowledged)"
            ));
            record.details = Some(
                serde_json::json!({ "segment": tail.path.display().to_string(), "removed_bytes": removed }),
            );
            log.append(record)?;
        }
        Ok(log)
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The public half of the key that signs its checkpoints.
    pub fn checkpoint_key(&self) -> Option<PublicKey> {
        self.checkpoint_key
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
        let (reply, answer) = mpsc::sync_channel(1);
        {
            let submit = self.submit.lock().unwrap_or_else(PoisonError::into_inner);
            let sender = submit.as_ref().ok_or(AuditError::Closed)?;
            sender
                .send(Job { records, reply })
                .map_err(|_| AuditError::Closed)?;
        }
        answer.recv().map_err(|_| AuditError::Closed)?
    }

    /// Writes everything pending, a final checkpoint, and stops the writer.
    pub fn close(&self) {
        let sender = self
            .submit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(sender);
        if let Some(handle) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = handle.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// The current time as a record writes it.
pub fn timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_micros(time).to_string()
}

/// The end of the log, found on opening.
struct Tail {
    /// The segment to append to.
    path: PathBuf,
    last_seq: u64,
    last_hash: Sha256Digest,
    removed_bytes: u64,
}

/// Finds the last record, removing a torn final line. Refuses a log whose
/// last complete record does not verify: appending to it would extend a
/// broken chain.
fn recover(dir: &Path) -> Result<Tail, String> {
    let segments = segment::list(dir).map_err(|e| e.to_string())?;
    let Some(last) = segments.last() else {
        let path = dir.join(segment::name(1));
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| e.to_string())?;
        return Ok(Tail {
            path,
            last_seq: 0,
            last_hash: GENESIS,
            removed_bytes: 0,
        });
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&last.path)
        .map_err(|e| format!("{}: {e}", last.path.display()))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let removed_bytes = (bytes.len() - complete) as u64;
    if removed_bytes > 0 {
        file.set_len(complete as u64).map_err(|e| e.to_string())?;
        file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        tracing::warn!(segment = %last.path.display(), removed_bytes, "removed a torn final audit line");
    }
    let last_line = bytes[..complete]
        .strip_suffix(b"\n")
        .and_then(|b| b.rsplit(|c| *c == b'\n').next());
    let (last_seq, last_hash) = match last_line {
        Some(line) if !line.is_empty() => check_last(line, &last.path)?,
        // An empty last segment: the chain continues from the one before.
        _ => match segments.len().checked_sub(2).map(|i| &segments[i]) {
            Some(previous) => {
                let text = std::fs::read(&previous.path).map_err(|e| e.to_string())?;
                let line = text
                    .strip_suffix(b"\n")
                    .and_then(|b| b.rsplit(|c| *c == b'\n').next())
                    .ok_or_else(|| {
                        format!("{} ends without a complete record", previous.path.display())
                    })?;
                check_last(line, &previous.path)?
            }
            None => (0, GENESIS),
        },
    };
    if last_line.is_none_or(<[u8]>::is_empty) && last.first_seq != last_seq + 1 {
        return Err(format!(
            "{} should start at record {} but is named for record {}",
            last.path.display(),
            last_seq + 1,
            last.first_seq
        ));
    }
    Ok(Tail {
        path: last.path.clone(),
        last_seq,
        last_hash,
        removed_bytes,
    })
}

/// The sequence number and hash of a log's last record, which must verify.
fn check_last(line: &[u8], path: &Path) -> Result<(u64, Sha256Digest), String> {
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
    Ok((record.seq, record.hash))
}
