//! Recording request nonces durably, many at a time.
//!
//! Every authenticated request records its nonce before it is acted on, so
//! that a replay is refused even after a restart. One SQLite commit (and its
//! sync) per request would serialize concurrent requests behind the disk;
//! instead, one thread takes every nonce waiting, records them in one
//! transaction, and answers each (group commit). A lone request waits for
//! exactly one commit, as before.

use crate::identity::PrincipalId;
use crate::session::UnixMillis;
use crate::store::{StateStore, StoreError};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};

/// Most nonces recorded in one transaction.
const MAX_BATCH: usize = 1024;

struct Job {
    principal: PrincipalId,
    nonce: String,
    expires_ms: UnixMillis,
    reply: SyncSender<Result<bool, String>>,
}

/// Records nonces in batches. Dropping it stops its thread.
pub struct NonceRecorder {
    /// The batching thread's queue; `None` if the thread could not start,
    /// and then each nonce is recorded on its own.
    submit: Option<Mutex<Sender<Job>>>,
    store: Arc<StateStore>,
}

impl NonceRecorder {
    /// Starts the recorder for `store`.
    pub fn start(store: Arc<StateStore>) -> NonceRecorder {
        let (submit, jobs) = mpsc::channel::<Job>();
        let thread_store = store.clone();
        let started = std::thread::Builder::new()
            .name("salve-nonces".to_string())
            .spawn(move || run(&thread_store, &jobs));
        if let Err(error) = &started {
            tracing::warn!(%error, "cannot start the nonce recorder thread; recording one nonce per commit");
        }
        NonceRecorder {
            submit: started.ok().map(|_| Mutex::new(submit)),
            store,
        }
    }

    /// Records that `principal` used `nonce`, durably; `false` when it was
    /// seen before (a replay).
    pub fn record(
        &self,
        principal: &PrincipalId,
        nonce: &str,
        expires_ms: UnixMillis,
    ) -> Result<bool, StoreError> {
        let Some(submit) = &self.submit else {
            return self
                .store
                .write(|tx| tx.record_nonce(principal, nonce, expires_ms));
        };
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            principal: principal.clone(),
            nonce: nonce.to_string(),
            expires_ms,
            reply,
        };
        let stopped = || StoreError::Corrupt {
            what: "nonce",
            reason: "the nonce recorder has stopped".to_string(),
        };
        submit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .map_err(|_| stopped())?;
        answer
            .recv()
            .map_err(|_| stopped())?
            .map_err(|reason| StoreError::Corrupt {
                what: "nonce",
                reason,
            })
    }
}

fn run(store: &StateStore, jobs: &Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let recorded = store.write(|tx| {
            batch
                .iter()
                .map(|job| tx.record_nonce(&job.principal, &job.nonce, job.expires_ms))
                .collect::<Result<Vec<bool>, StoreError>>()
        });
        match recorded {
            Ok(fresh) => {
                for (job, fresh) in batch.into_iter().zip(fresh) {
                    let _ = job.reply.send(Ok(fresh));
                }
            }
            Err(error) => {
                // Nothing of the batch was committed: every request is refused.
                let reason = error.to_string();
                for job in batch {
                    let _ = job.reply.send(Err(reason.clone()));
                }
            }
        }
    }
}
