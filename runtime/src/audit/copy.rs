//! The copy of every checkpoint kept elsewhere (`AuditConfig::checkpoint_copy`):
//! appended by a thread of its own, once each checkpoint is durable in the
//! log. The copy is often on another volume or a network share; a slow or
//! hung destination then delays only the copy, never an append. Failing to
//! keep the copy does not stop the log: the checkpoint is in the log itself.

use super::checkpoint::Checkpoint;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

enum Message {
    Keep(Box<Checkpoint>),
    /// Answered once everything before it is written.
    Flush(Sender<()>),
}

/// Where checkpoints are handed to the copying thread. The thread ends when
/// the last handle is dropped.
#[derive(Clone)]
pub struct CheckpointCopy {
    send: Sender<Message>,
}

impl CheckpointCopy {
    /// Starts the thread that appends checkpoints to `path`.
    pub fn start(path: PathBuf) -> std::io::Result<CheckpointCopy> {
        let (send, messages) = mpsc::channel::<Message>();
        std::thread::Builder::new()
            .name("salve-audit-copy".to_string())
            .spawn(move || {
                while let Ok(message) = messages.recv() {
                    match message {
                        Message::Keep(checkpoint) => append(&path, &checkpoint),
                        Message::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })?;
        Ok(CheckpointCopy { send })
    }

    /// Hands over a checkpoint that is durable in the log.
    pub fn keep(&self, checkpoint: &Checkpoint) {
        let _ = self.send.send(Message::Keep(Box::new(checkpoint.clone())));
    }

    /// Waits, at most `patience`, until every checkpoint handed over so far
    /// is written (or its writing failed); whether it came to that.
    pub fn flush(&self, patience: Duration) -> bool {
        let (done, finished) = mpsc::channel();
        if self.send.send(Message::Flush(done)).is_err() {
            return true;
        }
        finished.recv_timeout(patience).is_ok()
    }
}

/// Appends `checkpoint` as a line to the file at `path` and syncs it.
fn append(path: &Path, checkpoint: &Checkpoint) {
    let written = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let mut line = Vec::new();
        // A line cut short by a crash is ended first, not continued.
        let len = file.metadata()?.len();
        let mut last = [0u8];
        if len > 0 && crate::os::read_at(&file, &mut last, len - 1)? == 1 && last[0] != b'\n' {
            line.push(b'\n');
        }
        serde_json::to_writer(&mut line, checkpoint).map_err(std::io::Error::other)?;
        line.push(b'\n');
        file.write_all(&line)?;
        file.sync_data()
    })();
    if let Err(error) = written {
        tracing::warn!(path = %path.display(), %error, "cannot copy the audit checkpoint");
    }
}
