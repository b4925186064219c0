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
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Records queued before an invocation waits for the recorder (so that a
/// stalled disk slows invocations down instead of filling memory).
const QUEUE: usize = 1024;

/// Most records stored in one transaction.
const MAX_BATCH: usize = 256;

/// How long the first record of a batch waits for others: one transaction
/// per invocation cost as much CPU as the invocation itself. (Dropping the
/// recorder waits at most this long for its last batch.)
const GATHER: Duration = Duration::from_millis(50);

type Pending = Arc<Mutex<HashMap<InvocationId, Arc<InvocationRecord>>>>;

/// Stores finished invocations in the background. Dropping it stores what
/// is queued, then stops its thread.
pub struct Recorder {
    queue: Option<SyncSender<Arc<InvocationRecord>>>,
    pending: Pending,
    store: Arc<StateStore>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    /// A recorder into `store`.
    pub fn start(store: Arc<StateStore>) -> Recorder {
        let (queue, records) = sync_channel(QUEUE);
        let pending: Pending = Arc::default();
        let thread = {
            let (store, pending) = (store.clone(), pending.clone());
            std::thread::Builder::new()
                .name("salve-recorder".to_string())
                .spawn(move || run(&store, &records, &pending))
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
            store,
            thread,
        }
    }

    /// Queues `record` to be stored.
    pub fn record(&self, record: Arc<InvocationRecord>) {
        if let Some(queue) = &self.queue {
            lock(&self.pending).insert(record.id.clone(), record.clone());
            if queue.send(record.clone()).is_ok() {
                return;
            }
            lock(&self.pending).remove(&record.id);
        }
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

fn run(store: &StateStore, records: &Receiver<Arc<InvocationRecord>>, pending: &Pending) {
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
        }
    }
}

fn save(store: &StateStore, batch: &[Arc<InvocationRecord>]) {
    if let Err(error) = store.record_invocations(batch) {
        tracing::warn!(%error, invocations = batch.len(), "cannot record what invocations did; the audit log has it");
    }
}
