//! The invocation's output: stdout, stderr and log messages, captured in
//! memory under one byte budget — the output limit's single enforcement point.
//!
//! A write that would exceed the budget traps the guest with
//! [`OutputLimitExceeded`]; nothing beyond the budget is ever buffered.

use crate::bindings::salve::action::log::Level;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// The guest wrote more than its output limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the action wrote more than its output limit of {limit} bytes")]
pub struct OutputLimitExceeded {
    /// The limit, in bytes.
    pub limit: u64,
}

pub use crate::outcome::LogEntry;

/// One piece of output, as the action writes it: what an
/// [`OutputObserver`] is told while the invocation runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum OutputEvent {
    /// A message from the `log` capability.
    Log(LogEntry),
    /// Bytes written to stdout (lossy UTF-8).
    Stdout {
        /// The text.
        text: String,
    },
    /// Bytes written to stderr (lossy UTF-8).
    Stderr {
        /// The text.
        text: String,
    },
}

/// Told of each piece of output as it is captured (within the budget: what
/// the budget refuses is never reported). Called on the invocation's thread
/// while the guest waits, so it must be quick.
pub trait OutputObserver: Send + Sync {
    /// One piece of output.
    fn output(&self, event: OutputEvent);
}

/// What each log message and each write costs of the output budget besides
/// its bytes: what keeping it costs (an entry, an event for followers), so
/// that a loop of empty messages or writes meets the limit as a flood of
/// bytes does, instead of filling the endpoint's memory for free.
pub const ENTRY_COST: usize = 64;

/// Everything the action wrote, within the budget.
#[derive(Debug, Default)]
pub struct Captured {
    /// Bytes written to stdout.
    pub stdout: Vec<u8>,
    /// Bytes written to stderr.
    pub stderr: Vec<u8>,
    /// Log messages, in order.
    pub logs: Vec<LogEntry>,
    remaining: u64,
    limit: u64,
    exceeded: bool,
}

impl Captured {
    /// Whether a write was refused for exceeding the budget.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// Takes `len` bytes from the budget, or marks the budget exceeded.
    fn spend(&mut self, len: usize) -> Result<(), OutputLimitExceeded> {
        let len = len as u64;
        if len > self.remaining {
            self.exceeded = true;
            return Err(OutputLimitExceeded { limit: self.limit });
        }
        self.remaining -= len;
        Ok(())
    }
}

/// A handle on the invocation's captured output, shared by its stdout and
/// stderr streams and its log capability.
#[derive(Debug, Clone)]
pub struct Output {
    captured: Arc<Mutex<Captured>>,
    started: Instant,
    observer: Option<Arc<dyn OutputObserver>>,
}

impl std::fmt::Debug for dyn OutputObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutputObserver")
    }
}

#[derive(Debug, Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

impl Output {
    /// An empty capture with a budget of `limit` bytes.
    pub fn new(limit: u64, started: Instant) -> Self {
        Output {
            captured: Arc::new(Mutex::new(Captured {
                remaining: limit,
                limit,
                ..Captured::default()
            })),
            started,
            observer: None,
        }
    }

    /// The same capture, also telling `observer` of each piece of output.
    #[must_use]
    pub fn observed(mut self, observer: Option<Arc<dyn OutputObserver>>) -> Self {
        self.observer = observer;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Captured> {
        // A panic while holding this lock cannot leave `Captured` half
        // updated (every update is one push after the budget check), so a
        // poisoned lock is still safe to use.
        self.captured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a log message against the budget: its length and
    /// [`ENTRY_COST`].
    pub fn log(&self, level: Level, message: String) -> Result<(), OutputLimitExceeded> {
        let mut captured = self.lock();
        captured.spend(message.len() + ENTRY_COST)?;
        let at_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let entry = LogEntry {
            at_ms,
            level: level_name(level).to_string(),
            message,
        };
        if let Some(observer) = &self.observer {
            observer.output(OutputEvent::Log(entry.clone()));
        }
        captured.logs.push(entry);
        Ok(())
    }

    /// Counts the action's returned output against the budget.
    pub fn spend_on_result(&self, len: usize) -> Result<(), OutputLimitExceeded> {
        self.lock().spend(len)
    }

    /// The captured output, leaving an empty capture behind.
    pub fn take(&self) -> Captured {
        std::mem::take(&mut *self.lock())
    }

    /// The stream the guest's stdout writes to.
    pub fn stdout(&self) -> impl StdoutStream + 'static {
        CapturedStream {
            output: self.clone(),
            stream: Stream::Stdout,
        }
    }

    /// The stream the guest's stderr writes to.
    pub fn stderr(&self) -> impl StdoutStream + 'static {
        CapturedStream {
            output: self.clone(),
            stream: Stream::Stderr,
        }
    }

    fn write(&self, stream: Stream, bytes: &[u8]) -> Result<(), OutputLimitExceeded> {
        let mut captured = self.lock();
        captured.spend(bytes.len() + ENTRY_COST)?;
        if bytes.is_empty() {
            return Ok(());
        }
        match stream {
            Stream::Stdout => captured.stdout.extend_from_slice(bytes),
            Stream::Stderr => captured.stderr.extend_from_slice(bytes),
        }
        // Told under the lock, so that observers see the output in the
        // order it was captured.
        if let Some(observer) = &self.observer {
            let text = String::from_utf8_lossy(bytes).into_owned();
            observer.output(match stream {
                Stream::Stdout => OutputEvent::Stdout { text },
                Stream::Stderr => OutputEvent::Stderr { text },
            });
        }
        Ok(())
    }

    fn remaining(&self) -> u64 {
        self.lock().remaining
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

/// Largest write permit handed to the guest at once, so a guest cannot make
/// the host plan for a write larger than this.
const MAX_WRITE_PERMIT: u64 = 64 << 10;

#[derive(Debug, Clone)]
struct CapturedStream {
    output: Output,
    stream: Stream,
}

impl IsTerminal for CapturedStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for CapturedStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.output
            .write(self.stream, &bytes)
            .map_err(|e| StreamError::Trap(e.into()))
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always offer at least one byte: a write past the budget must reach
        // `write`, which traps with a clear error, rather than stall here.
        let permit = self.output.remaining().clamp(1, MAX_WRITE_PERMIT);
        Ok(usize::try_from(permit).unwrap_or(1))
    }
}

#[async_trait::async_trait]
impl Pollable for CapturedStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = self.output.write(self.stream, buf);
        Poll::Ready(result.map(|()| buf.len()).map_err(std::io::Error::other))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_budget_for_every_stream() {
        // Three entries and 9 bytes, then one byte left.
        let limit = 3 * ENTRY_COST as u64 + 10;
        let output = Output::new(limit, Instant::now());
        output.write(Stream::Stdout, b"abcd").unwrap();
        output.log(Level::Info, "efg".to_string()).unwrap();
        output.write(Stream::Stderr, b"hi").unwrap();
        assert_eq!(
            output.write(Stream::Stdout, b"xy"),
            Err(OutputLimitExceeded { limit })
        );
        output.spend_on_result(1).unwrap();
        let captured = output.take();
        assert!(captured.exceeded());
        assert_eq!(captured.stdout, b"abcd");
        assert_eq!(captured.stderr, b"hi");
        assert_eq!(captured.logs[0].message, "efg");
        assert_eq!(captured.logs[0].level, "info");
    }

    #[test]
    fn empty_messages_and_writes_cost_their_entry() {
        let output = Output::new(4 * ENTRY_COST as u64, Instant::now());
        for _ in 0..2 {
            output.log(Level::Info, String::new()).unwrap();
            output.write(Stream::Stdout, b"").unwrap();
        }
        assert!(output.log(Level::Info, String::new()).is_err());
        let captured = output.take();
        assert_eq!(captured.logs.len(), 2);
        assert!(captured.stdout.is_empty());
    }
}
