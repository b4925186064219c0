//! The writer behind [`super::AuditLog`]: group commit by a leader.
//!
//! An appender seals its records into the chain (under the chain's lock,
//! which is all that orders them) and adds their lines to the batch being
//! gathered. It then waits until a sync has made that batch durable. If no
//! sync is under way, the appender leads one itself: it takes every line
//! gathered so far, `write`s them to the current segment with one call,
//! makes them durable with one `fdatasync`, and wakes every appender whose
//! records that sync carried. While it syncs, other appenders seal and
//! gather the next batch; when it is done, one of them leads the next sync.
//! So every sync carries everything that arrived during the one before (the
//! more appenders, the larger the batches), and a lone appender on an idle
//! log seals, writes and syncs on its own thread, with no hand-off.
//!
//! Taking only what is gathered when a sync begins would split many
//! appenders into two cohorts taking turns: those woken by sync n append
//! while sync n+1, carrying the others, is already under way, so each
//! record would wait about two syncs. So the leader, before it syncs, waits
//! a little (see [`Gathering`]) for as many appenders as the log has seen
//! lately, and one sync carries them all.
//!
//! A thread of its own checkpoints an idle tail on time. A failed write or
//! sync stops the log (fail-stop): every record not yet durable, and every
//! later append, is answered with [`AuditError::Stopped`]. A failed write
//! is taken back (the file is cut to where it was), since none of it was
//! acknowledged.

use super::checkpoint::Checkpoint;
use super::config::{Appended, AuditConfig, AuditError, MAX_RECORD_BYTES, timestamp};
use super::copy::CheckpointCopy;
use super::record::{Kind, Record};
use super::segment;
use crate::digest::Sha256Digest;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// What the log's syncs have done since it opened: how many, how many
/// records they made durable, and how long they took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncStats {
    /// `fdatasync` calls that made records durable.
    pub syncs: u64,
    /// Records (checkpoints included) they made durable.
    pub records: u64,
    /// Time spent in them.
    pub time: Duration,
}

/// The counters behind [`SyncStats`].
#[derive(Default)]
struct SyncCounters {
    syncs: AtomicU64,
    records: AtomicU64,
    nanos: AtomicU64,
}

impl SyncCounters {
    fn stats(&self) -> SyncStats {
        SyncStats {
            syncs: self.syncs.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            time: Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
        }
    }

    fn count(&self, records: usize, took: Duration) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records as u64, Ordering::Relaxed);
        self.nanos.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Longest a leader waits for the appenders it expects (see
/// [`Gathering`]).
const MAX_GATHER: Duration = Duration::from_micros(500);

/// Where the chain ends when the writer starts.
pub struct Start {
    pub file: File,
    pub size: u64,
    pub next_seq: u64,
    pub prev: Sha256Digest,
    /// Whether the last record is a checkpoint (or the log is empty).
    pub checkpointed: bool,
}

/// The chain's head and the batch being gathered: what sealing changes.
struct Chain {
    next_seq: u64,
    prev: Sha256Digest,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    /// Lines sealed and not yet taken by a leader.
    lines: Vec<u8>,
    /// Appenders (jobs) and records, checkpoints included, in `lines`.
    jobs: usize,
    records: usize,
    /// Checkpoints in `lines`, for the copy kept elsewhere.
    checkpoints: Vec<Checkpoint>,
    /// The number the batch in `lines` will be synced as (from 1).
    batch: u64,
    /// Whether nothing has been taken yet from a log that was empty: its
    /// first batch is checkpointed at once.
    new_log: bool,
    /// Appends are refused.
    closed: bool,
    /// A gathering leader waits for this many jobs (0: none waits).
    awaited: usize,
    /// The checkpoint thread waits for a record to be appended (nothing is
    /// pending): the next append wakes it.
    checkpointer_idle: bool,
    /// The checkpoint thread is to end.
    checkpointer_stop: bool,
}

/// The files, touched only by the leader.
struct Io {
    file: File,
    size: u64,
    gathering: Gathering,
}

/// Before it syncs, a leader waits for as many appenders as the log has
/// seen around the last sync — those that sync carried and those gathered
/// meanwhile — at most as long as the last sync took (bounded by
/// [`MAX_GATHER`]). This is the classic group-commit delay (MySQL's
/// `binlog_group_commit_sync_delay` with its `no_delay_count`), sized from
/// what the log sees rather than configured. A lone appender is never
/// delayed: the count is then one, and its own record meets it.
#[derive(Default)]
struct Gathering {
    expected: usize,
    patience: Duration,
}

/// Why the log stopped, if it has.
type Failed = Mutex<Option<String>>;

/// Told why the log stopped, once it has.
pub type StopListener = Box<dyn Fn(&str) + Send + Sync>;

struct Shared {
    config: AuditConfig,
    chain: Mutex<Chain>,
    /// Signalled when a gathering leader has what it waits for.
    gathered: Condvar,
    /// Wakes the checkpoint thread: a record appended to a checkpointed
    /// log, or the writer stopping.
    checkpointer: Condvar,
    io: Mutex<Io>,
    /// Every batch up to this one is durable.
    synced: AtomicU64,
    /// A sync is under way.
    leading: AtomicBool,
    /// Bumped (and every waiting appender woken) when a sync ends. The
    /// appenders wait on it with a futex rather than a condition variable:
    /// woken together, they need no lock to see whether their batch is
    /// durable, so dozens of them return at once instead of one after
    /// another through a mutex.
    ended: AtomicU32,
    failed: Failed,
    /// Told once, with the reason, when the log stops.
    on_stop: Mutex<Vec<StopListener>>,
    /// One append at a time, each with its own sync, without group commit.
    serial: Mutex<()>,
    copy: Option<CheckpointCopy>,
    counters: SyncCounters,
}

/// The running writer.
pub struct Writer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Locks `mutex`, whatever a panicking holder left: every critical section
/// here leaves its state consistent (a failure is recorded in `failed`,
/// and nothing half-done is kept).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the writer and its checkpoint thread. A tail left without its
/// checkpoint (by a crash) is checkpointed before anything else is
/// appended, so that no run of records longer than `checkpoint_every` goes
/// without one.
pub fn start(config: AuditConfig, start: Start) -> std::io::Result<Writer> {
    let copy = config
        .checkpoint_copy
        .clone()
        .map(CheckpointCopy::start)
        .transpose()?;
    let shared = Arc::new(Shared {
        chain: Mutex::new(Chain {
            next_seq: start.next_seq,
            prev: start.prev,
            // How many records such a tail holds is not known, only that
            // it has some.
            since_checkpoint: u64::from(!start.checkpointed),
            last_checkpoint: Instant::now(),
            lines: Vec::new(),
            jobs: 0,
            records: 0,
            checkpoints: Vec::new(),
            batch: 1,
            new_log: start.next_seq == 1,
            closed: false,
            awaited: 0,
            checkpointer_idle: false,
            checkpointer_stop: false,
        }),
        config,
        gathered: Condvar::new(),
        checkpointer: Condvar::new(),
        io: Mutex::new(Io {
            file: start.file,
            size: start.size,
            gathering: Gathering::default(),
        }),
        synced: AtomicU64::new(0),
        leading: AtomicBool::new(false),
        ended: AtomicU32::new(0),
        failed: Mutex::new(None),
        on_stop: Mutex::new(Vec::new()),
        serial: Mutex::new(()),
        copy,
        counters: SyncCounters::default(),
    });
    let pending = {
        let mut chain = lock(&shared.chain);
        shared.checkpoint_pending(&chain) && shared.seal_checkpoint(&mut chain)
    };
    if pending {
        let batch = lock(&shared.chain).batch;
        let _ = shared.wait_durable(batch);
    }
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("salve-audit-checkpoint".to_string())
            .spawn(move || shared.checkpoint_on_time())?
    };
    Ok(Writer {
        shared,
        thread: Mutex::new(Some(thread)),
    })
}

impl Writer {
    /// Appends `records` (consecutive in the log) and returns once they are
    /// durable.
    pub fn append(&self, records: Vec<Record>) -> Result<Vec<Appended>, AuditError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let shared = &self.shared;
        let _serial = (!shared.config.group_commit).then(|| lock(&shared.serial));
        let (batch, appended) = {
            let mut chain = lock(&shared.chain);
            if chain.closed {
                return Err(AuditError::Closed);
            }
            if let Some(reason) = shared.failure() {
                return Err(AuditError::Stopped(reason));
            }
            let appended = shared.seal(&mut chain, records)?;
            if chain.checkpointer_idle {
                // A checkpoint is pending now: the thread keeps its time.
                chain.checkpointer_idle = false;
                shared.checkpointer.notify_one();
            }
            chain.jobs += 1;
            if chain.awaited > 0 && chain.jobs >= chain.awaited {
                shared.gathered.notify_one();
            }
            (chain.batch, appended)
        };
        shared.wait_durable(batch)?;
        Ok(appended)
    }

    /// What the log's syncs have done so far.
    pub fn sync_stats(&self) -> SyncStats {
        self.shared.counters.stats()
    }

    /// The sequence number of the last record sealed (0 for an empty log);
    /// it may not be durable yet.
    pub fn last_seq(&self) -> u64 {
        lock(&self.shared.chain).next_seq.saturating_sub(1)
    }

    /// Why the log stopped, if it has.
    pub fn stopped(&self) -> Option<String> {
        self.shared.failure()
    }

    /// Has `listener` told why the log stopped, once it does (at once if it
    /// has already). It is called on the thread whose write or sync failed:
    /// it must only pass the news on.
    pub fn on_stop(&self, listener: StopListener) {
        let mut listeners = lock(&self.shared.on_stop);
        match self.shared.failure() {
            Some(reason) => listener(&reason),
            None => listeners.push(listener),
        }
    }

    /// Refuses later appends, makes everything appended so far durable with
    /// a final checkpoint, and stops the checkpoint thread. Then waits, at
    /// most `patience`, until every checkpoint is in the copy kept
    /// elsewhere; says whether they all are.
    pub fn close(&self, patience: Duration) -> bool {
        let shared = &self.shared;
        let last = {
            let mut chain = lock(&shared.chain);
            if !chain.closed {
                chain.closed = true;
                if shared.checkpoint_pending(&chain) {
                    shared.seal_checkpoint(&mut chain);
                }
            }
            if chain.lines.is_empty() {
                chain.batch - 1
            } else {
                chain.batch
            }
        };
        let _ = shared.wait_durable(last);
        self.stop_checkpointer();
        shared.copy.as_ref().is_none_or(|copy| copy.flush(patience))
    }
}

impl Writer {
    /// Ends the checkpoint thread and waits for it.
    fn stop_checkpointer(&self) {
        lock(&self.shared.chain).checkpointer_stop = true;
        self.shared.checkpointer.notify_all();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop_checkpointer();
    }
}

impl Shared {
    fn failure(&self) -> Option<String> {
        lock(&self.failed).clone()
    }

    fn fail(&self, reason: &str) {
        tracing::error!(%reason, "audit log stopped");
        let first = {
            let mut failed = lock(&self.failed);
            let first = failed.is_none();
            failed.get_or_insert_with(|| reason.to_string());
            first
        };
        if first {
            for listener in lock(&self.on_stop).iter() {
                listener(reason);
            }
        }
    }

    /// Whether a checkpoint falls due with time: records were appended
    /// since the last one, and there is a key to sign with.
    fn checkpoint_pending(&self, chain: &Chain) -> bool {
        chain.since_checkpoint > 0
            && self.config.checkpoint_key.is_some()
            && self.failure().is_none()
    }

    /// Whether the idle tail's timed checkpoint is due now.
    fn checkpoint_due(&self, chain: &Chain) -> bool {
        !chain.closed
            && chain.last_checkpoint.elapsed() >= self.config.checkpoint_interval
            && self.checkpoint_pending(chain)
    }

    /// Seals `records` into the batch being gathered, with a checkpoint
    /// after every `checkpoint_every` records. A record too large, or one
    /// that cannot be encoded, takes back the whole job.
    fn seal(&self, chain: &mut Chain, records: Vec<Record>) -> Result<Vec<Appended>, AuditError> {
        let begun = (
            chain.lines.len(),
            chain.next_seq,
            chain.prev,
            chain.since_checkpoint,
            chain.checkpoints.len(),
            chain.records,
            chain.last_checkpoint,
        );
        let take_back = |chain: &mut Chain| {
            chain.lines.truncate(begun.0);
            (chain.next_seq, chain.prev, chain.since_checkpoint) = (begun.1, begun.2, begun.3);
            chain.checkpoints.truncate(begun.4);
            chain.records = begun.5;
            chain.last_checkpoint = begun.6;
        };
        let now = timestamp(SystemTime::now());
        let mut appended = Vec::with_capacity(records.len());
        for record in records {
            let at = chain.lines.len();
            match record.seal_into(chain.next_seq, now.clone(), chain.prev, &mut chain.lines) {
                Ok(_) if chain.lines.len() - at > MAX_RECORD_BYTES => {
                    let bytes = chain.lines.len() - at;
                    take_back(chain);
                    return Err(AuditError::TooLarge {
                        bytes,
                        limit: MAX_RECORD_BYTES,
                    });
                }
                Ok(sealed) => {
                    appended.push(Appended {
                        seq: chain.next_seq,
                        hash: sealed.hash,
                    });
                    chain.prev = sealed.hash;
                    chain.next_seq += 1;
                    chain.since_checkpoint += 1;
                    chain.records += 1;
                    if chain.since_checkpoint >= self.config.checkpoint_every {
                        self.seal_checkpoint(chain);
                    }
                }
                Err(error) => {
                    // The chain cannot go on without this record: stop,
                    // as a failed write would.
                    take_back(chain);
                    let reason = format!("cannot encode a record: {error}");
                    self.fail(&reason);
                    return Err(AuditError::Stopped(reason));
                }
            }
        }
        Ok(appended)
    }

    /// Seals a checkpoint of the chain's last record into the batch, if
    /// there is a key to sign it with; says whether it did.
    fn seal_checkpoint(&self, chain: &mut Chain) -> bool {
        let Some(key) = self.config.checkpoint_key.as_ref() else {
            return false;
        };
        let now = timestamp(SystemTime::now());
        let signed = Checkpoint::sign(key, chain.next_seq - 1, chain.prev, now.clone());
        let mut record = Record::event(Kind::Checkpoint);
        record.details = serde_json::to_value(&signed).ok();
        let Ok(sealed) = record.seal_into(chain.next_seq, now, chain.prev, &mut chain.lines) else {
            return false;
        };
        chain.prev = sealed.hash;
        chain.next_seq += 1;
        chain.records += 1;
        chain.since_checkpoint = 0;
        chain.last_checkpoint = Instant::now();
        chain.checkpoints.push(signed);
        true
    }

    /// Waits until batch `batch` is durable, leading syncs while no other
    /// thread does.
    fn wait_durable(&self, batch: u64) -> Result<(), AuditError> {
        loop {
            // Read before the checks: a sync ending after them changes it,
            // and the wait below then returns at once.
            let ended = self.ended.load(Ordering::SeqCst);
            if self.synced.load(Ordering::SeqCst) >= batch {
                return Ok(());
            }
            // Stopped — unless a sync under way may still carry the batch
            // (the log can stop meanwhile, by another append's failure).
            // No leader starts after the log stops, so once none leads,
            // what is synced is final.
            if let Some(reason) = self.failure()
                && !self.leading.load(Ordering::SeqCst)
            {
                if self.synced.load(Ordering::SeqCst) >= batch {
                    return Ok(());
                }
                return Err(AuditError::Stopped(reason));
            }
            if self
                .leading
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                let mut leader = Leader {
                    shared: self,
                    unwinding: true,
                };
                self.lead();
                leader.unwinding = false;
                drop(leader);
                continue;
            }
            atomic_wait::wait(&self.ended, ended);
        }
    }

    /// Takes the batch gathered (waiting for the appenders expected), then
    /// writes, syncs (publishing the batch as durable: its appenders return
    /// once woken) and, if the segment is full, rotates.
    fn lead(&self) {
        let mut io = lock(&self.io);
        if self.failure().is_some() {
            return;
        }
        let (lines, records, checkpoints, batch, next_seq) = {
            let mut chain = lock(&self.chain);
            if self.config.group_commit && chain.jobs < io.gathering.expected {
                let deadline = Instant::now() + io.gathering.patience;
                chain.awaited = io.gathering.expected;
                while chain.jobs < chain.awaited {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    chain = self
                        .gathered
                        .wait_timeout(chain, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                chain.awaited = 0;
            }
            // A new log's first batch is checkpointed at once: from its
            // start, a log holds the endpoint's signature, and one without
            // any was not written by it. A checkpoint due with time ends
            // the batch too.
            let due =
                chain.new_log || chain.last_checkpoint.elapsed() >= self.config.checkpoint_interval;
            if due && chain.since_checkpoint > 0 && !chain.lines.is_empty() {
                self.seal_checkpoint(&mut chain);
            }
            if chain.lines.is_empty() {
                return;
            }
            chain.new_log = false;
            let jobs = std::mem::take(&mut chain.jobs);
            io.gathering.expected = jobs;
            let batch = chain.batch;
            chain.batch += 1;
            (
                std::mem::take(&mut chain.lines),
                std::mem::take(&mut chain.records),
                std::mem::take(&mut chain.checkpoints),
                batch,
                chain.next_seq,
            )
        };
        if let Err(error) = (&io.file).write_all(&lines) {
            // Take back whatever part of the batch reached the file: none of
            // it was acknowledged. If even that fails, reopening the log
            // removes a torn final line, but whole lines of the batch stay:
            // records in the log whose appenders were told it stopped (an
            // invocation "started" that never ran is then closed as
            // interrupted on reopen) — never the other way round.
            let _ = io.file.set_len(io.size);
            self.fail(&format!("write failed: {error}"));
            return;
        }
        let begun = Instant::now();
        if let Err(error) = io.file.sync_data() {
            // Whether any of it reached the disk is unknown; none of it was
            // acknowledged, so it is cut off again. That cut is not synced
            // (the disk has just failed a sync): after a crash the lines
            // may be back, as records nobody was told were logged.
            let _ = io.file.set_len(io.size);
            self.fail(&format!("fdatasync failed: {error}"));
            return;
        }
        let took = begun.elapsed();
        io.size += lines.len() as u64;
        self.counters.count(records, took);
        if let Some(copy) = &self.copy {
            for checkpoint in &checkpoints {
                copy.keep(checkpoint);
            }
        }
        // Durable: acknowledged whatever happens next (a failed rotation
        // stops later appends, not these). Its checkpoints are handed to
        // the copy first, so that a close that sees them durable finds them
        // there.
        self.synced.fetch_max(batch, Ordering::SeqCst);
        // Those gathered while this sync ran are expected back too.
        io.gathering.expected += lock(&self.chain).jobs;
        io.gathering.patience = took.min(MAX_GATHER);
        if io.size >= self.config.max_segment_bytes
            && self.failure().is_none()
            && let Err(reason) = self.rotate(&mut io, next_seq)
        {
            self.fail(&format!("cannot start a new segment: {reason}"));
        }
    }

    /// Begins the segment whose first record is `next_seq`. Everything
    /// written so far is durable: were the new segment to reach the disk
    /// before the last records of the old one, a crash would leave a log
    /// whose chain ends before the record the new segment is named for.
    fn rotate(&self, io: &mut Io, next_seq: u64) -> Result<(), String> {
        let dir = &self.config.dir;
        let path = dir.join(segment::name(next_seq));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        crate::os::sync_dir(dir)
            .map_err(|e| format!("cannot sync the directory {}: {e}", dir.display()))?;
        io.file = file;
        io.size = 0;
        Ok(())
    }

    /// The checkpoint thread: an idle tail is checkpointed within
    /// `checkpoint_interval` of the last checkpoint. With nothing to sign it
    /// sleeps until a record is appended (no timer wakes it). Ends when the
    /// writer stops it.
    fn checkpoint_on_time(&self) {
        let mut chain = lock(&self.chain);
        loop {
            if chain.checkpointer_stop {
                return;
            }
            if chain.closed || !self.checkpoint_pending(&chain) {
                // Nothing to sign until a record comes: sleep until then.
                chain.checkpointer_idle = true;
                chain = self
                    .checkpointer
                    .wait(chain)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let left = self
                .config
                .checkpoint_interval
                .saturating_sub(chain.last_checkpoint.elapsed());
            if !left.is_zero() {
                chain = self
                    .checkpointer
                    .wait_timeout(chain, left)
                    .map_or_else(|e| e.into_inner().0, |(chain, _)| chain);
                continue;
            }
            let batch = if !self.checkpoint_due(&chain) {
                None
            } else if self.seal_checkpoint(&mut chain) {
                Some(chain.batch)
            } else {
                // Due, and cannot be sealed: without it the tail would
                // go unsigned for good, so the log stops rather than
                // try again and again.
                self.fail("cannot seal a checkpoint");
                None
            };
            drop(chain);
            if let Some(batch) = batch {
                let _ = self.wait_durable(batch);
            }
            chain = lock(&self.chain);
        }
    }
}

/// Leadership of the sync under way, given up when dropped (even by a
/// panic): the waiting appenders are woken, those whose records it made
/// durable to return and one of the others to lead the next sync.
struct Leader<'a> {
    shared: &'a Shared,
    /// Still set when dropped: `lead` did not return, it panicked.
    unwinding: bool,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let shared = self.shared;
        // A batch taken and then dropped by a panic is lost, and the chain
        // has moved past it: nothing after it may be acknowledged.
        if self.unwinding {
            shared.fail("the audit writer panicked while syncing");
        }
        shared.leading.store(false, Ordering::SeqCst);
        shared.ended.fetch_add(1, Ordering::SeqCst);
        atomic_wait::wake_all(&shared.ended);
    }
}
