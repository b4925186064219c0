//! Recording what finished invocations did, off their path: one thread
//! gathers the records that finish within `GATHER` of one another and
//! stores them in one transaction. Until a record is stored it is kept
//! here, so that `show` and `follow` find it the moment its invocation has
//! answered. (A crash loses at most what was gathered; the next start
//! rebuilds it from the audit log, without the output.)

use crate::outcome::InvocationRecord;
use crate::session::{InvocationId, SessionId};
use crate::store::StateStore;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Records queued before an invocation waits for the recorder (so that a
/// stalled disk slows invocations down instead of filling memory).
const QUEUE: usize = 1024;

/// Most bytes of output (stdout, stderr, logs, the result) held by the
/// records queued: beyond it, an invocation stores its record itself, so
/// that a slow disk cannot make the queue hold gigabytes of output.
const MAX_QUEUED_BYTES: usize = 64 << 20;

/// Most records stored in one transaction.
const MAX_BATCH: usize = 256;

/// How long the first record of a batch waits for others: one transaction
/// per invocation cost as much CPU as the invocation itself. (Dropping the
/// recorder waits at most this long for its last batch.)
const GATHER: Duration = Duration::from_millis(50);

type Pending = Arc<Mutex<HashMap<InvocationId, Arc<InvocationRecord>>>>;

/// The bytes of output `record` holds (what [`MAX_QUEUED_BYTES`] counts).
fn held_bytes(record: &InvocationRecord) -> usize {
    record.invocation.as_ref().map_or(0, |invocation| {
        let logs: usize = invocation.logs.iter().map(|l| l.message.len()).sum();
        let result = match &invocation.outcome {
            crate::outcome::Outcome::Succeeded { output } => output.get().len(),
            crate::outcome::Outcome::Failed { message, .. }
            | crate::outcome::Outcome::Stopped { message, .. } => message.len(),
        };
        invocation.stdout.len() + invocation.stderr.len() + logs + result
    })
}

/// Stores finished invocations in the background. Dropping it stores what
/// is queued, then stops its thread.
pub struct Recorder {
    queue: Option<SyncSender<Arc<InvocationRecord>>>,
    pending: Pending,
    /// [`held_bytes`] of the records queued.
    queued_bytes: Arc<AtomicUsize>,
    store: Arc<StateStore>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    /// A recorder into `store`.
    pub fn start(store: Arc<StateStore>) -> Recorder {
        let (queue, records) = sync_channel(QUEUE);
        let pending: Pending = Arc::default();
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (store, pending, queued_bytes) =
                (store.clone(), pending.clone(), queued_bytes.clone());
            std::thread::Builder::new()
                .name("salve-recorder".to_string())
                .spawn(move || run(&store, &records, &pending, &queued_bytes))
        };
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(error) => {
                tracing::warn!(%error, "cannot start the invocation recorder thread; recording each invocation as it ends");
                None
            }
        };
        Recorder {
            queue: thread.as_ref().map(|_| queue),
            pending,
            queued_bytes,
            store,
            thread,
        }
    }

    /// Queues `record` to be stored.
    pub fn record(&self, record: Arc<InvocationRecord>) {
        let size = held_bytes(&record);
        let room = self.queued_bytes.fetch_add(size, Ordering::AcqRel) + size <= MAX_QUEUED_BYTES;
        if let Some(queue) = self.queue.as_ref().filter(|_| room) {
            lock(&self.pending).insert(record.id.clone(), record.clone());
            if queue.send(record.clone()).is_ok() {
                return;
            }
            lock(&self.pending).remove(&record.id);
        }
        self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
        save(&self.store, &[record]);
    }

    /// The records of `session` queued and not yet stored.
    pub fn pending_in(&self, session: &SessionId) -> Vec<Arc<InvocationRecord>> {
        lock(&self.pending)
            .values()
            .filter(|r| &r.session == session)
            .cloned()
            .collect()
    }

    /// A record queued and not yet stored.
    pub fn pending(&self, id: &InvocationId) -> Option<Arc<InvocationRecord>> {
        lock(&self.pending).get(id).cloned()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(
    pending: &Pending,
) -> std::sync::MutexGuard<'_, HashMap<InvocationId, Arc<InvocationRecord>>> {
    // Every change is one insert or remove: a panic cannot leave it half done.
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

fn run(
    store: &StateStore,
    records: &Receiver<Arc<InvocationRecord>>,
    pending: &Pending,
    queued_bytes: &AtomicUsize,
) {
    let mut full = false;
    while let Ok(first) = records.recv() {
        // Asleep through the gathering, then taking what came: an
        // invocation that queues its record meanwhile does not wake this
        // thread (waking it cost each invocation as much as its sandbox).
        // After a full batch, more are waiting: no sleep.
        if !full {
            std::thread::sleep(GATHER);
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match records.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        full = batch.len() == MAX_BATCH;
        save(store, &batch);
        let mut pending = lock(pending);
        for record in &batch {
            pending.remove(&record.id);
            queued_bytes.fetch_sub(held_bytes(record), Ordering::AcqRel);
        }
    }
}

fn save(store: &StateStore, batch: &[Arc<InvocationRecord>]) {
    if let Err(error) = store.record_invocations(batch) {
        tracing::warn!(%error, invocations = batch.len(), "cannot record what invocations did; the audit log has it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::RuntimeLimits;
    use crate::outcome::{Invocation, InvocationStatus, Outcome};

    fn finished(stdout_bytes: usize) -> Arc<InvocationRecord> {
        let invocation = Invocation {
            action: "echo@1.0.0".into(),
            digest: crate::digest::Sha256Digest::of(b"echo"),
            outcome: Outcome::Failed {
                code: "x".into(),
                message: "y".into(),
            },
            duration: Duration::from_millis(1),
            limits: RuntimeLimits::default().default,
            logs: Vec::new(),
            stdout: "x".repeat(stdout_bytes),
            stderr: String::new(),
            denied_calls: Vec::new(),
        };
        Arc::new(InvocationRecord {
            id: InvocationId::random().unwrap(),
            session: SessionId::random().unwrap(),
            principal: "tom".into(),
            action: "echo@1.0.0".into(),
            input_digest: "ab".repeat(32),
            approval: None,
            started_ms: 1,
            finished_ms: Some(2),
            status: InvocationStatus::Finished,
            invocation: Some(invocation),
            reason: None,
        })
    }

    #[test]
    fn the_queue_holds_a_bounded_amount_of_output() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(StateStore::open(&dir.path().join("state.db")).unwrap());
        let recorder = Recorder::start(store);
        // Small: queued (counted until the recorder has stored it).
        let small = finished(10);
        recorder.record(small.clone());
        assert!(recorder.queued_bytes.load(Ordering::Acquire) <= held_bytes(&small));
        // Past the bound: stored at once by the caller, never queued.
        let big = finished(MAX_QUEUED_BYTES + 1);
        recorder.record(big.clone());
        assert!(recorder.pending(&big.id).is_none());
        assert!(recorder.queued_bytes.load(Ordering::Acquire) <= held_bytes(&small));
        // Once stored, nothing is counted as queued.
        drop(recorder);
    }
}
