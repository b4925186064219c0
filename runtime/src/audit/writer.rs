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
//! A failed write or sync stops the log (fail-stop): that batch and every
//! later one is answered with [`AuditError::Stopped`]. A failed write is
//! taken back (the file is cut to where it was) because none of it was
//! acknowledged.

use super::checkpoint::Checkpoint;
use super::log::{Appended, AuditConfig, AuditError, timestamp};
use super::record::{Kind, Record};
use super::segment;
use crate::digest::Sha256Digest;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

/// Most records sealed into one write.
const MAX_BATCH: usize = 4096;

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

/// Starts the sealer (which starts the syncer); returns the sealer's
/// handle. Dropping every sender of `jobs` makes it finish: a final
/// checkpoint, every batch synced, both threads gone.
pub fn start(
    config: AuditConfig,
    start: Start,
    jobs: Receiver<Job>,
) -> std::io::Result<JoinHandle<()>> {
    let failed: Failed = Arc::default();
    let (to_sync, written) = mpsc::channel::<Written>();
    let in_sync = Arc::new(AtomicUsize::new(0));
    let syncer = {
        let failed = failed.clone();
        let in_sync = in_sync.clone();
        let copy = config.checkpoint_copy.clone();
        std::thread::Builder::new()
            .name("salve-audit-sync".to_string())
            .spawn(move || sync_loop(&written, &failed, &in_sync, copy.as_deref()))?
    };
    let mut sealer = Sealer {
        config,
        file: Arc::new(start.file),
        size: start.size,
        next_seq: start.next_seq,
        prev: start.prev,
        // A tail left without its checkpoint (by a crash) counts as pending:
        // how many records it holds is not known, only that it has some.
        since_checkpoint: u64::from(!start.checkpointed),
        last_checkpoint: Instant::now(),
        failed,
        to_sync,
        in_sync,
    };
    std::thread::Builder::new()
        .name("salve-audit".to_string())
        .spawn(move || {
            sealer.run(&jobs);
            // Every handle is gone: close with a checkpoint of the final state.
            if sealer.since_checkpoint > 0
                && sealer.config.checkpoint_key.is_some()
                && failure(&sealer.failed).is_none()
            {
                let (reply, answer) = mpsc::sync_channel(1);
                sealer.commit(
                    vec![Job {
                        records: Vec::new(),
                        reply,
                    }],
                    true,
                    true,
                );
                let _ = answer.recv();
            }
            drop(sealer);
            let _ = syncer.join();
        })
}

struct Sealer {
    config: AuditConfig,
    file: Arc<File>,
    size: u64,
    next_seq: u64,
    prev: Sha256Digest,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    failed: Failed,
    to_sync: Sender<Written>,
    /// Batches handed to the syncer and not yet answered.
    in_sync: Arc<AtomicUsize>,
}

impl Sealer {
    /// Whether a checkpoint falls due with time: records were appended
    /// since the last one, and there is a key to sign with.
    fn checkpoint_pending(&self) -> bool {
        self.since_checkpoint > 0
            && self.config.checkpoint_key.is_some()
            && failure(&self.failed).is_none()
    }

    fn run(&mut self, jobs: &Receiver<Job>) {
        // A tail left without its checkpoint (by a crash) is checkpointed
        // before anything else is appended, so that no run of records longer
        // than `checkpoint_every` goes without one.
        if self.checkpoint_pending() {
            self.commit(Vec::new(), true, true);
        }
        loop {
            // With records not yet checkpointed, wait for the next job only
            // until the checkpoint is due: an idle log checkpoints its tail
            // within `checkpoint_interval` of its last record.
            let first = if self.checkpoint_pending() {
                let left = self
                    .config
                    .checkpoint_interval
                    .saturating_sub(self.last_checkpoint.elapsed());
                match jobs.recv_timeout(left) {
                    Ok(job) => job,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.commit(Vec::new(), true, true);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match jobs.recv() {
                    Ok(job) => job,
                    Err(mpsc::RecvError) => return,
                }
            };
            let mut batch = vec![first];
            if self.config.group_commit {
                let mut records = batch[0].records.len();
                while records < MAX_BATCH {
                    match jobs.try_recv() {
                        Ok(job) => {
                            records += job.records.len();
                            batch.push(job);
                        }
                        Err(_) => break,
                    }
                }
            }
            // Every `checkpoint_every` records get theirs as they are
            // sealed; the interval may call for one at the end of the batch.
            let due = self.last_checkpoint.elapsed() >= self.config.checkpoint_interval;
            let alone = batch.len() == 1;
            self.commit(batch, due, alone);
        }
    }

    /// Seals and writes `batch` — with a checkpoint after every
    /// `checkpoint_every` records, and one at its end when `checkpoint`
    /// (`batch` may be empty for a checkpoint alone) — then hands
    /// it to the syncer — or, without group commit, syncs and answers it
    /// here.
    fn commit(&mut self, batch: Vec<Job>, checkpoint: bool, alone: bool) {
        let refuse = |batch: Vec<Job>, reason: &str| {
            for job in batch {
                let _ = job.reply.send(Err(AuditError::Stopped(reason.to_string())));
            }
        };
        if let Some(reason) = failure(&self.failed) {
            return refuse(batch, &reason);
        }
        let written = match self.write(batch, checkpoint) {
            Ok(written) => written,
            Err((batch, reason)) => {
                fail(&self.failed, &reason);
                return refuse(batch, &reason);
            }
        };
        // A lone append with the syncer idle (every earlier batch answered)
        // is synced here, saving a hand-off. Otherwise the syncer takes it:
        // its next sync carries it with everything else written meanwhile.
        let inline = alone && self.in_sync.load(Ordering::Acquire) == 0;
        if self.config.group_commit && !inline {
            self.in_sync.fetch_add(1, Ordering::AcqRel);
            if let Err(mpsc::SendError(written)) = self.to_sync.send(written) {
                self.in_sync.fetch_sub(1, Ordering::AcqRel);
                for (reply, _) in written.answers {
                    let _ = reply.send(Err(AuditError::Closed));
                }
            }
        } else {
            let before = failure(&self.failed);
            sync_and_answer(
                vec![written],
                &self.failed,
                before,
                self.config.checkpoint_copy.as_deref(),
            );
        }
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

    fn write(&mut self, batch: Vec<Job>, checkpoint: bool) -> Result<Written, (Vec<Job>, String)> {
        let count: usize = batch.iter().map(|j| j.records.len()).sum();
        let mut buffer = Vec::with_capacity(count * 512);
        let (mut seq, mut prev) = (self.next_seq, self.prev);
        let mut since = self.since_checkpoint;
        let mut made = Vec::new();
        let now = timestamp(SystemTime::now());
        let mut answers = Vec::with_capacity(batch.len());
        for job in batch {
            let mut appended = Vec::with_capacity(job.records.len());
            for record in job.records {
                match record.seal_into(seq, now.clone(), prev, &mut buffer) {
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
        if checkpoint
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
        if self.to_sync.send(barrier).is_err() {
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
    copy: Option<&std::path::Path>,
) {
    // After a failed sync nothing written can be trusted to reach the disk
    // (the kernel may have dropped the dirty pages): every later batch is
    // refused. A failed *write* does not matter here: the batches that
    // reach the syncer were written whole before it.
    let mut sync_failed: Option<String> = None;
    while let Ok(first) = written.recv() {
        let mut batches = vec![first];
        while let Ok(more) = written.try_recv() {
            batches.push(more);
        }
        let count = batches.len();
        sync_failed = sync_and_answer(batches, failed, sync_failed, copy);
        in_sync.fetch_sub(count, Ordering::AcqRel);
    }
}

/// One `fdatasync` per file for every batch written, then the answers.
/// Returns why syncing failed, if it did (now or before).
fn sync_and_answer(
    batches: Vec<Written>,
    failed: &Failed,
    before: Option<String>,
    copy: Option<&std::path::Path>,
) -> Option<String> {
    let mut result = before.map_or(Ok(()), Err);
    if result.is_ok() {
        let mut synced: Vec<*const File> = Vec::new();
        for batch in &batches {
            let file = Arc::as_ptr(&batch.file);
            if synced.contains(&file) {
                continue;
            }
            synced.push(file);
            if let Err(error) = batch.file.sync_data() {
                let reason = format!("fdatasync failed: {error}");
                fail(failed, &reason);
                result = Err(reason);
                break;
            }
        }
    }
    for batch in batches {
        if result.is_ok() {
            for checkpoint in &batch.checkpoints {
                copy_checkpoint(copy, checkpoint);
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
    result.err()
}

/// Appends a durable checkpoint to the copy kept elsewhere. Failing to keep
/// the copy does not stop the log (the checkpoint is in the log itself).
fn copy_checkpoint(path: Option<&std::path::Path>, checkpoint: &Checkpoint) {
    let Some(path) = path else { return };
    let written = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        let mut line = serde_json::to_vec(checkpoint).map_err(std::io::Error::other)?;
        line.push(b'\n');
        file.write_all(&line)?;
        file.sync_data()
    })();
    if let Err(error) = written {
        tracing::warn!(path = %path.display(), %error, "cannot copy the audit checkpoint");
    }
}
