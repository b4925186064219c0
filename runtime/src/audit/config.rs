//! How the log is kept, what an append answers and why it fails: the types
//! the log (`log`) and its writer (`writer`) both use.

use crate::digest::Sha256Digest;
use crate::identity::KeyPair;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How many records a checkpoint covers by default, and what a verifier
/// expects unless told otherwise.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

/// How the log is kept.
#[derive(Clone)]
pub struct AuditConfig {
    /// The directory of the segment files.
    pub dir: PathBuf,
    /// A segment is closed and a new one begun past this size.
    pub max_segment_bytes: u64,
    /// A checkpoint is written after every this many records (at least 1)…
    /// A verifier must be told a value other than the default
    /// ([`DEFAULT_CHECKPOINT_EVERY`]): it refuses a longer run without one.
    pub checkpoint_every: u64,
    /// …or this long after the last one, whichever comes first. The writer
    /// keeps the time itself: records appended and then nothing more are
    /// checkpointed once this has passed, without waiting for another
    /// record. An idle log with nothing new writes no checkpoints.
    pub checkpoint_interval: Duration,
    /// The endpoint's key; no checkpoints are written without it.
    pub checkpoint_key: Option<Arc<KeyPair>>,
    /// A file to which every checkpoint is also appended (one JSON object
    /// per line) once it is durable in the log, for `verify
    /// --from-checkpoint` later. The embedder chooses it, and should put it
    /// where whoever could rewrite the log cannot: another volume, a
    /// mounted share, a file a log shipper forwards. Failing to write it is
    /// logged and does not stop the log. By default there is none.
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
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
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
    /// A record too large to be logged: nothing of it is written (the log
    /// goes on). Kept well below what `verify` reads as a record, so that
    /// no record can make the log fail verification.
    #[error("an audit record of {bytes} bytes is larger than the {limit} bytes a record may take")]
    TooLarge {
        /// The record's encoded length.
        bytes: usize,
        /// [`MAX_RECORD_BYTES`].
        limit: usize,
    },
    /// The log is closed.
    #[error("the audit log is closed")]
    Closed,
}

/// Most bytes one record's line may take (16 MiB; `verify` refuses lines
/// over 64 MiB).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// The current time as a record writes it.
pub fn timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_micros(time).to_string()
}
