//! The writer behind [`super::AuditLog`]: two threads in a pipeline.
//!
//! The **sealer** takes every record waiting, seals it into the chain and
//! `write`s the batch to the current segment (the page cache). The **syncer**
//! takes every batch written so far, makes it durable with one `fdatasync`,
//! and only then acknowledges each record. While the syncer waits for the
//! disk, the sealer seals and writes the next records, so each sync carries
//! everything that arrived during the one before: the more writers, the
//! larger the batches (group commit), and a lone writer waits for one write
//! and one sync.
//!
//! A lone append on an idle log skips both threads: the appending thread
//! takes the sealer (it is shared, behind a lock) and seals, writes and
//! syncs its records itself ([`Writer::try_inline`]). Handing a record to a
//! sleeping thread and being woken for the answer cost more than the
//! sealing itself (about 55 µs a round trip on the 2-core VM, measured).
//!
//! A failed write or sync stops the log (fail-stop): that batch and every
//! later one is answered with [`AuditError::Stopped`]. A failed write is
//! taken back (the file is cut to where it was) because none of it was
//! acknowledged.

use super::checkpoint::Checkpoint;
use super::copy::CheckpointCopy;
use super::log::{Appended, AuditConfig, AuditError, MAX_RECORD_BYTES, timestamp};
use super::record::{Kind, Record};
use super::segment;
use crate::digest::Sha256Digest;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
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

/// The counters behind [`SyncStats`], shared by every thread that syncs.
#[derive(Default)]
pub struct SyncCounters {
    syncs: AtomicU64,
    records: AtomicU64,
    nanos: AtomicU64,
}

impl SyncCounters {
    /// What they count now.
    pub fn stats(&self) -> SyncStats {
        SyncStats {
            syncs: self.syncs.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            time: Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
        }
    }

    fn count(&self, batches: &[Written], took: Duration) {
        let records: usize = batches
            .iter()
            .map(|b| b.checkpoints.len() + b.answers.iter().map(|(_, a)| a.len()).sum::<usize>())
            .sum();
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records as u64, Ordering::Relaxed);
        self.nanos.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Most records sealed into one write.
const MAX_BATCH: usize = 4096;

/// How often an idle sealer thread looks for records appended inline that
/// will need their timed checkpoint.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Where a caller waits for its answer.
pub type Reply = SyncSender<Result<Vec<Appended>, AuditError>>;

/// What a caller hands the writer: records, and where to send the answer.
pub struct Job {
    pub records: Vec<Record>,
    pub reply: Reply,
}

/// A batch written, waiting for its sync.
struct Written {
    file: Arc<File>,
    answers: Vec<(Reply, Vec<Appended>)>,
    checkpoints: Vec<Checkpoint>,
    /// Told once the batch (and every one before it) is synced, or why not.
    settled: Option<SyncSender<Result<(), String>>>,
}

/// Why the log stopped, shared by both threads.
type Failed = Arc<Mutex<Option<String>>>;

fn failure(failed: &Failed) -> Option<String> {
    failed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

fn fail(failed: &Failed, reason: &str) {
    tracing::error!(%reason, "audit log stopped");
    failed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(|| reason.to_string());
}

/// Where the chain ends when the writer starts.
pub struct Start {
    pub file: File,
    pub size: u64,
    pub next_seq: u64,
    pub prev: Sha256Digest,
    /// Whether the last record is a checkpoint (or the log is empty).
    pub checkpointed: bool,
}

/// The running writer: its sealer thread, and the sealer itself for
/// appends made inline.
pub struct Writer {
    thread: Option<JoinHandle<()>>,
    sealer: Arc<Mutex<Sealer>>,
    /// Jobs sent to the sealer thread and not yet taken by it.
    queued: Arc<AtomicUsize>,
    /// Held around every `fdatasync` and the answers after it.
    sync_gate: SyncGate,
    failed: Failed,
    in_sync: Arc<AtomicUsize>,
    copy: Option<CheckpointCopy>,
    counters: Arc<SyncCounters>,
}

/// One `fdatasync` at a time, the answers after it included, and why one
/// failed if one did: after a failed sync nothing written can be trusted to
/// reach the disk (the kernel may have dropped the dirty pages), so every
/// later batch is refused, whoever syncs it.
type SyncGate = Arc<Mutex<Option<String>>>;

impl Writer {
    /// What the log's syncs have done so far.
    pub fn sync_stats(&self) -> SyncStats {
        self.counters.stats()
    }

    /// Why the log stopped, if it has.
    pub fn stopped(&self) -> Option<String> {
        failure(&self.failed)
    }

    /// Waits, at most `patience`, until every durable checkpoint so far is
    /// in the copy kept elsewhere.
    pub fn flush_copy(&self, patience: std::time::Duration) -> bool {
        self.copy.as_ref().is_none_or(|copy| copy.flush(patience))
    }

    /// The sealer thread, to be joined once the log is closed.
    pub fn take_thread(&mut self) -> Option<JoinHandle<()>> {
        self.thread.take()
    }

    /// Counts a job about to be sent to the sealer thread.
    pub fn queueing(&self) {
        self.queued.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes back the count of a job that could not be sent.
    pub fn not_queued(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// Appends `records` on this thread when the log is idle — nothing
    /// queued for the sealer thread, nothing being sealed or synced — and
    /// answers; otherwise gives them back, to be sent to the sealer thread.
    pub fn try_inline(
        &self,
        records: Vec<Record>,
    ) -> Result<Result<Vec<Appended>, AuditError>, Vec<Record>> {
        if self.queued.load(Ordering::Acquire) > 0 {
            return Err(records);
        }
        let Ok(mut sealer) = self.sealer.try_lock() else {
            return Err(records);
        };
        if sealer.in_sync.load(Ordering::Acquire) > 0 {
            return Err(records);
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let due = sealer.checkpoint_due_by_time();
        // Sealed and written under the sealer; synced outside it, so that
        // the sealer thread can write the next batch meanwhile (its sync,
        // behind the gate, then carries it).
        let written = sealer.write_counted(vec![Job { records, reply }], due);
        drop(sealer);
        if let Some(written) = written {
            let mut gate = self
                .sync_gate
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let before = gate.clone();
            *gate = sync_and_answer(
                vec![written],
                &self.failed,
                before,
                self.copy.as_ref(),
                &self.counters,
            );
            drop(gate);
            self.in_sync.fetch_sub(1, Ordering::AcqRel);
            lock(&self.sealer).rotate_if_full();
        }
        Ok(answer.recv().unwrap_or(Err(AuditError::Closed)))
    }
}

/// Starts the sealer (which starts the syncer). Dropping every sender of
/// `jobs` makes it finish: a final checkpoint, every batch synced, both
/// threads gone.
pub fn start(config: AuditConfig, start: Start, jobs: Receiver<Job>) -> std::io::Result<Writer> {
    let failed: Failed = Arc::default();
    let (to_sync, written) = mpsc::channel::<Written>();
    let in_sync = Arc::new(AtomicUsize::new(0));
    let sync_gate: SyncGate = Arc::default();
    let copy = config
        .checkpoint_copy
        .clone()
        .map(CheckpointCopy::start)
        .transpose()?;
    let counters = Arc::new(SyncCounters::default());
    let syncer = {
        let (failed, in_sync, gate, copy, counters) = (
            failed.clone(),
            in_sync.clone(),
            sync_gate.clone(),
            copy.clone(),
            counters.clone(),
        );
        std::thread::Builder::new()
            .name("salve-audit-sync".to_string())
            .spawn(move || {
                sync_loop(&written, &failed, &in_sync, &gate, copy.as_ref(), &counters);
            })?
    };
    let mut sealer = Sealer {
        config,
        copy: copy.clone(),
        file: Arc::new(start.file),
        size: start.size,
        next_seq: start.next_seq,
        prev: start.prev,
        // A tail left without its checkpoint (by a crash) counts as pending:
        // how many records it holds is not known, only that it has some.
        since_checkpoint: u64::from(!start.checkpointed),
        last_checkpoint: Instant::now(),
        failed: failed.clone(),
        to_sync: Some(to_sync),
        in_sync: in_sync.clone(),
        sync_gate: sync_gate.clone(),
        counters: counters.clone(),
    };
    // A tail left without its checkpoint (by a crash) is checkpointed before
    // anything else is appended, so that no run of records longer than
    // `checkpoint_every` goes without one.
    if sealer.checkpoint_pending() {
        sealer.commit(Vec::new(), true, true);
    }
    let sealer = Arc::new(Mutex::new(sealer));
    let queued = Arc::new(AtomicUsize::new(0));
    let thread = {
        let (sealer, queued) = (sealer.clone(), queued.clone());
        std::thread::Builder::new()
            .name("salve-audit".to_string())
            .spawn(move || {
                run(&sealer, &jobs, &queued);
                // Every handle is gone: close with a checkpoint of the final
                // state.
                let mut last = lock(&sealer);
                if last.since_checkpoint > 0
                    && last.config.checkpoint_key.is_some()
                    && failure(&last.failed).is_none()
                {
                    let (reply, answer) = mpsc::sync_channel(1);
                    last.commit(
                        vec![Job {
                            records: Vec::new(),
                            reply,
                        }],
                        true,
                        true,
                    );
                    let _ = answer.recv();
                }
                // Closed: later appends are refused, and the syncer ends
                // once it has synced what it holds.
                last.to_sync = None;
                drop(last);
                let _ = syncer.join();
            })?
    };
    Ok(Writer {
        thread: Some(thread),
        sealer,
        queued,
        sync_gate,
        failed,
        in_sync,
        copy,
        counters,
    })
}

fn lock(sealer: &Mutex<Sealer>) -> std::sync::MutexGuard<'_, Sealer> {
    // A commit leaves the sealer consistent whatever happens inside it: a
    // failure is recorded in `failed`, and nothing half-done is kept.
    sealer.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sealer thread: takes every job waiting, and commits them as one
/// batch; checkpoints an idle tail on time.
fn run(sealer: &Mutex<Sealer>, jobs: &Receiver<Job>, queued: &AtomicUsize) {
    loop {
        // With records not yet checkpointed, wait for the next job only
        // until the checkpoint is due: an idle log checkpoints its tail
        // within `checkpoint_interval` of the last checkpoint. Records
        // appended inline meanwhile are noticed within `IDLE_POLL`.
        let wait = {
            let sealer = lock(sealer);
            if sealer.checkpoint_pending() {
                sealer
                    .config
                    .checkpoint_interval
                    .saturating_sub(sealer.last_checkpoint.elapsed())
            } else {
                IDLE_POLL
            }
        };
        let first = match jobs.recv_timeout(wait) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let mut sealer = lock(sealer);
                if sealer.checkpoint_pending() && sealer.checkpoint_due_by_time() {
                    sealer.commit(Vec::new(), true, true);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        queued.fetch_sub(1, Ordering::AcqRel);
        let mut sealer = lock(sealer);
        let mut batch = vec![first];
        if sealer.config.group_commit {
            let mut records = batch[0].records.len();
            while records < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => {
                        queued.fetch_sub(1, Ordering::AcqRel);
                        records += job.records.len();
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
        }
        // Every `checkpoint_every` records get theirs as they are sealed;
        // the interval may call for one at the end of the batch.
        let due = sealer.checkpoint_due_by_time();
        let alone = batch.len() == 1;
        sealer.commit(batch, due, alone);
    }
}

struct Sealer {
    config: AuditConfig,
    /// Where durable checkpoints are copied, if anywhere.
    copy: Option<CheckpointCopy>,
    file: Arc<File>,
    size: u64,
    next_seq: u64,
    prev: Sha256Digest,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    failed: Failed,
    /// `None` once the log is closed: the syncer then ends.
    to_sync: Option<Sender<Written>>,
    /// Batches written and not yet answered: with the syncer, or being
    /// synced by an appender inline.
    in_sync: Arc<AtomicUsize>,
    sync_gate: SyncGate,
    counters: Arc<SyncCounters>,
}

impl Sealer {
    /// Whether the interval since the last checkpoint has passed.
    fn checkpoint_due_by_time(&self) -> bool {
        self.last_checkpoint.elapsed() >= self.config.checkpoint_interval
    }

    /// Whether a checkpoint falls due with time: records were appended
    /// since the last one, and there is a key to sign with.
    fn checkpoint_pending(&self) -> bool {
        self.since_checkpoint > 0
            && self.config.checkpoint_key.is_some()
            && failure(&self.failed).is_none()
    }

    /// Seals and writes `batch` — with a checkpoint after every
    /// `checkpoint_every` records, and one at its end when `checkpoint`
    /// (`batch` may be empty for a checkpoint alone) — then hands
    /// it to the syncer — or, without group commit, syncs and answers it
    /// here.
    fn commit(&mut self, batch: Vec<Job>, checkpoint: bool, alone: bool) {
        let Some(to_sync) = self.to_sync.clone() else {
            for job in batch {
                let _ = job.reply.send(Err(AuditError::Closed));
            }
            return;
        };
        let Some(written) = self.write_checked(batch, checkpoint) else {
            return;
        };
        // A lone append with the syncer idle (every earlier batch answered)
        // is synced here, saving a hand-off. Otherwise the syncer takes it:
        // its next sync carries it with everything else written meanwhile.
        let inline = alone && self.in_sync.load(Ordering::Acquire) == 0;
        if self.config.group_commit && !inline {
            self.in_sync.fetch_add(1, Ordering::AcqRel);
            if let Err(mpsc::SendError(written)) = to_sync.send(written) {
                self.in_sync.fetch_sub(1, Ordering::AcqRel);
                for (reply, _) in written.answers {
                    let _ = reply.send(Err(AuditError::Closed));
                }
            }
        } else {
            let mut gate = self
                .sync_gate
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let before = gate.clone();
            *gate = sync_and_answer(
                vec![written],
                &self.failed,
                before,
                self.copy.as_ref(),
                &self.counters,
            );
            drop(gate);
        }
        self.rotate_if_full();
    }

    /// Begins the next segment if the current one is full.
    fn rotate_if_full(&mut self) {
        if self.size >= self.config.max_segment_bytes
            && failure(&self.failed).is_none()
            && let Err(error) = self.rotate()
        {
            fail(
                &self.failed,
                &format!("cannot start a new segment: {error}"),
            );
        }
    }

    /// Seals and writes `batch` (see [`Sealer::commit`]); on a stopped log
    /// or a failed write, refuses every job of it and returns `None`.
    fn write_checked(&mut self, batch: Vec<Job>, checkpoint: bool) -> Option<Written> {
        let refuse = |batch: Vec<Job>, reason: &str| {
            for job in batch {
                let _ = job.reply.send(Err(AuditError::Stopped(reason.to_string())));
            }
        };
        if let Some(reason) = failure(&self.failed) {
            refuse(batch, &reason);
            return None;
        }
        match self.write(batch, checkpoint) {
            Ok(written) => Some(written),
            Err((batch, reason)) => {
                fail(&self.failed, &reason);
                refuse(batch, &reason);
                None
            }
        }
    }

    /// As [`Sealer::write_checked`], for an appender that syncs the batch
    /// itself: it is counted as in flight until the appender is done. A
    /// closed log refuses it.
    fn write_counted(&mut self, batch: Vec<Job>, checkpoint: bool) -> Option<Written> {
        if self.to_sync.is_none() {
            for job in batch {
                let _ = job.reply.send(Err(AuditError::Closed));
            }
            return None;
        }
        let written = self.write_checked(batch, checkpoint)?;
        self.in_sync.fetch_add(1, Ordering::AcqRel);
        Some(written)
    }

    fn write(&mut self, batch: Vec<Job>, checkpoint: bool) -> Result<Written, (Vec<Job>, String)> {
        let count: usize = batch.iter().map(|j| j.records.len()).sum();
        let mut buffer = Vec::with_capacity(count * 512);
        let (mut seq, mut prev) = (self.next_seq, self.prev);
        let mut since = self.since_checkpoint;
        let mut made = Vec::new();
        let now = timestamp(SystemTime::now());
        let mut answers = Vec::with_capacity(batch.len());
        'jobs: for job in batch {
            let mut appended = Vec::with_capacity(job.records.len());
            // Where the job began, to take it back if one of its records is
            // too large.
            let begun = (buffer.len(), seq, prev, since, made.len());
            for record in job.records {
                let at = buffer.len();
                match record.seal_into(seq, now.clone(), prev, &mut buffer) {
                    Ok(_) if buffer.len() - at > MAX_RECORD_BYTES => {
                        let bytes = buffer.len() - at;
                        buffer.truncate(begun.0);
                        (seq, prev, since) = (begun.1, begun.2, begun.3);
                        made.truncate(begun.4);
                        let _ = job.reply.send(Err(AuditError::TooLarge {
                            bytes,
                            limit: MAX_RECORD_BYTES,
                        }));
                        continue 'jobs;
                    }
                    Ok(sealed) => {
                        appended.push(Appended {
                            seq,
                            hash: sealed.hash,
                        });
                        prev = sealed.hash;
                        seq += 1;
                        since += 1;
                        if since >= self.config.checkpoint_every
                            && let Some(signed) =
                                self.seal_checkpoint(&mut seq, &mut prev, &now, &mut buffer)
                        {
                            made.push(signed);
                            since = 0;
                        }
                    }
                    Err(error) => {
                        // Nothing is written: every job of the batch is refused.
                        let reason = format!("cannot encode a record: {error}");
                        let mut jobs: Vec<Job> = answers
                            .into_iter()
                            .map(|(reply, _)| Job {
                                records: Vec::new(),
                                reply,
                            })
                            .collect();
                        jobs.push(Job {
                            records: Vec::new(),
                            reply: job.reply,
                        });
                        return Err((jobs, reason));
                    }
                }
            }
            answers.push((job.reply, appended));
        }
        // A new log's first batch is checkpointed at once: from its start,
        // a log holds the endpoint's signature, and one without any was
        // not written by it.
        if (checkpoint || self.next_seq == 1)
            && since > 0
            && let Some(signed) = self.seal_checkpoint(&mut seq, &mut prev, &now, &mut buffer)
        {
            made.push(signed);
            since = 0;
        }
        if let Err(error) = (&*self.file).write_all(&buffer) {
            // Take back whatever part of the batch reached the file: none of
            // it was acknowledged. If even that fails, reopening the log
            // removes a torn final line.
            let _ = self.file.set_len(self.size);
            let jobs = answers
                .into_iter()
                .map(|(reply, _)| Job {
                    records: Vec::new(),
                    reply,
                })
                .collect();
            return Err((jobs, format!("write failed: {error}")));
        }
        self.size += buffer.len() as u64;
        self.since_checkpoint = since;
        self.next_seq = seq;
        self.prev = prev;
        if !made.is_empty() {
            self.last_checkpoint = Instant::now();
        }
        Ok(Written {
            file: self.file.clone(),
            answers,
            checkpoints: made,
            settled: None,
        })
    }

    /// Seals a checkpoint of the record before `seq` into `buffer`, if there
    /// is a key to sign it with; advances `seq` and `prev` past it.
    fn seal_checkpoint(
        &self,
        seq: &mut u64,
        prev: &mut Sha256Digest,
        now: &str,
        buffer: &mut Vec<u8>,
    ) -> Option<Checkpoint> {
        let key = self.config.checkpoint_key.as_ref()?;
        let signed = Checkpoint::sign(key, *seq - 1, *prev, now.to_string());
        let mut record = Record::event(Kind::Checkpoint);
        record.details = serde_json::to_value(&signed).ok();
        let sealed = record
            .seal_into(*seq, now.to_string(), *prev, buffer)
            .ok()?;
        *prev = sealed.hash;
        *seq += 1;
        Some(signed)
    }

    /// Waits until every batch handed to the syncer is synced (or the log
    /// has stopped).
    fn settle(&mut self) -> Result<(), String> {
        if self.in_sync.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        let (settled, answer) = mpsc::sync_channel(1);
        self.in_sync.fetch_add(1, Ordering::AcqRel);
        let barrier = Written {
            file: self.file.clone(),
            answers: Vec::new(),
            checkpoints: Vec::new(),
            settled: Some(settled),
        };
        let sent = self
            .to_sync
            .as_ref()
            .is_some_and(|to_sync| to_sync.send(barrier).is_ok());
        if !sent {
            self.in_sync.fetch_sub(1, Ordering::AcqRel);
            return Err("the audit sync thread is gone".to_string());
        }
        answer
            .recv()
            .map_err(|_| "the audit sync thread is gone".to_string())?
    }

    /// Begins the next segment. The current one is made durable first:
    /// were the new segment to reach the disk before the last records of
    /// the old one, a crash would leave a log whose chain ends before the
    /// record the new segment is named for.
    fn rotate(&mut self) -> Result<(), String> {
        self.settle()?;
        if let Some(reason) = failure(&self.failed) {
            return Err(reason);
        }
        // Without group commit, or after an inline sync, every batch is
        // synced already; this makes sure of it at the cost of one idle sync
        // per segment.
        self.file
            .sync_data()
            .map_err(|e| format!("fdatasync failed: {e}"))?;
        let path = self.config.dir.join(segment::name(self.next_seq));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        File::open(&self.config.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| {
                format!(
                    "cannot sync the directory {}: {e}",
                    self.config.dir.display()
                )
            })?;
        self.file = Arc::new(file);
        self.size = 0;
        Ok(())
    }
}

fn sync_loop(
    written: &Receiver<Written>,
    failed: &Failed,
    in_sync: &AtomicUsize,
    gate: &Mutex<Option<String>>,
    copy: Option<&CheckpointCopy>,
    counters: &SyncCounters,
) {
    // After a failed sync every later batch is refused (see `SyncGate`). A
    // failed *write* does not matter here: the batches that reach the
    // syncer were written whole before it.
    //
    // The answers go out from a thread of their own: waking dozens of
    // waiting appenders takes about as long as a sync, and the next sync
    // need not wait for it.
    std::thread::scope(|scope| {
        let (to_answer, answering) = mpsc::channel::<(Vec<Written>, Result<(), String>)>();
        let answerer = std::thread::Builder::new()
            .name("salve-audit-ack".to_string())
            .spawn_scoped(scope, move || {
                while let Ok((batches, result)) = answering.recv() {
                    let count = batches.len();
                    answer(batches, &result, copy);
                    in_sync.fetch_sub(count, Ordering::AcqRel);
                }
            });
        while let Ok(first) = written.recv() {
            let mut batches = vec![first];
            while let Ok(more) = written.try_recv() {
                batches.push(more);
            }
            let mut held = gate.lock().unwrap_or_else(PoisonError::into_inner);
            let result = sync(&batches, failed, held.clone(), counters);
            *held = result.clone().err();
            drop(held);
            let count = batches.len();
            match &answerer {
                Ok(_) => {
                    if let Err(mpsc::SendError((batches, result))) =
                        to_answer.send((batches, result))
                    {
                        answer(batches, &result, copy);
                        in_sync.fetch_sub(count, Ordering::AcqRel);
                    }
                }
                Err(_) => {
                    answer(batches, &result, copy);
                    in_sync.fetch_sub(count, Ordering::AcqRel);
                }
            }
        }
    });
}

/// One `fdatasync` per file of `batches` (none after a failure `before`);
/// why syncing failed, if it did (now or before).
fn sync(
    batches: &[Written],
    failed: &Failed,
    before: Option<String>,
    counters: &SyncCounters,
) -> Result<(), String> {
    if let Some(reason) = before {
        return Err(reason);
    }
    let begun = Instant::now();
    let mut synced: Vec<*const File> = Vec::new();
    for batch in batches {
        let file = Arc::as_ptr(&batch.file);
        if synced.contains(&file) {
            continue;
        }
        synced.push(file);
        if let Err(error) = batch.file.sync_data() {
            let reason = format!("fdatasync failed: {error}");
            fail(failed, &reason);
            return Err(reason);
        }
    }
    counters.count(batches, begun.elapsed());
    Ok(())
}

/// Answers every job of `batches` as `result` says; copies their checkpoints
/// elsewhere once they are durable.
fn answer(batches: Vec<Written>, result: &Result<(), String>, copy: Option<&CheckpointCopy>) {
    for batch in batches {
        if let (Ok(()), Some(copy)) = (result, copy) {
            for checkpoint in &batch.checkpoints {
                copy.keep(checkpoint);
            }
        }
        if let Some(settled) = batch.settled {
            let _ = settled.send(result.clone());
        }
        for (reply, appended) in batch.answers {
            let _ = reply.send(
                result
                    .clone()
                    .map(|()| appended)
                    .map_err(AuditError::Stopped),
            );
        }
    }
}

/// One `fdatasync` per file for every batch written, then the answers.
/// Returns why syncing failed, if it did (now or before).
fn sync_and_answer(
    batches: Vec<Written>,
    failed: &Failed,
    before: Option<String>,
    copy: Option<&CheckpointCopy>,
    counters: &SyncCounters,
) -> Option<String> {
    let result = sync(&batches, failed, before, counters);
    answer(batches, &result, copy);
    result.err()
}
