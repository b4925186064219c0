//! What goes around the answers: the reply envelope, the error body, the
//! lines of a streamed answer, the health answer, and the bodies of the
//! end user's local routes.

use crate::host::output::OutputEvent;
use crate::outcome::{InvocationRecord, LogEntry};
use crate::session::SessionId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Every answer's envelope: `{"result": …}` or `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reply<T> {
    /// The operation's answer.
    Result(T),
    /// Why it was refused.
    Error(ErrorBody),
}

/// A refusal on the wire: a stable code (docs/reference/errors.md) and a
/// sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The stable code, e.g. `separation-of-duties`.
    pub code: String,
    /// The sentence that says why, and what to do.
    pub message: String,
}

/// One line of a streamed answer (`/v1/stream`): an event while the action
/// runs, then one last line that is the [`Reply`] `/v1/requests` would give.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum StreamLine<T> {
    /// Something happened while it runs.
    Event(StreamEvent),
    /// The last line: the answer.
    End(Reply<T>),
}

impl<T: DeserializeOwned> StreamLine<T> {
    /// Reads one line: an event if it names one (`"event"`), else the
    /// answer. (Read in two steps rather than as an untagged enum, which
    /// would buffer the invocation's raw JSON output.)
    pub fn parse(line: &[u8]) -> serde_json::Result<StreamLine<T>> {
        #[derive(Deserialize)]
        struct Probe {
            event: Option<serde::de::IgnoredAny>,
        }
        let probe: Probe = serde_json::from_slice(line)?;
        Ok(match probe.event {
            Some(_) => StreamLine::Event(serde_json::from_slice(line)?),
            None => StreamLine::End(serde_json::from_slice(line)?),
        })
    }
}

/// What a streamed answer says while the action runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum StreamEvent {
    /// The invocation started (its record, running).
    Started {
        /// The invocation as it started.
        invocation: Box<InvocationRecord>,
    },
    /// A message from the `log` capability.
    Log(LogEntry),
    /// Text written to stdout.
    Stdout {
        /// The text (lossy UTF-8).
        text: String,
    },
    /// Text written to stderr.
    Stderr {
        /// The text (lossy UTF-8).
        text: String,
    },
    /// The client fell too far behind the output: no more of it is sent
    /// (the answer still is).
    Lagged {
        /// What happened, and where to read the rest.
        message: String,
    },
}

impl From<OutputEvent> for StreamEvent {
    fn from(event: OutputEvent) -> StreamEvent {
        match event {
            OutputEvent::Log(entry) => StreamEvent::Log(entry),
            OutputEvent::Stdout { text } => StreamEvent::Stdout { text },
            OutputEvent::Stderr { text } => StreamEvent::Stderr { text },
        }
    }
}

/// The answer of `GET /v1/health` (not in a [`Reply`]: it is answered to
/// anyone, signed or not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`, or `audit-stopped` (HTTP 503) once the audit log has stopped.
    pub status: HealthStatus,
    /// Why the audit log stopped, if it has.
    pub audit_stopped: Option<String>,
    /// The endpoint's name, which every signed request must carry.
    pub endpoint: String,
    /// The service's version.
    pub version: String,
    /// How many actions are installed.
    pub actions: usize,
    /// How many invocations are running.
    pub running: usize,
    /// The key that signs the audit log's checkpoints.
    pub audit_key: Option<String>,
    /// The audit log's group commit at work.
    pub audit_syncs: AuditSyncs,
    /// The TLS certificate's SHA-256 fingerprint, when the service listens
    /// on TLS.
    pub tls_fingerprint: Option<String>,
    /// For an endpoint on a fleet: whether it is connected to the broker now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_connected: Option<bool>,
}

/// Whether the service is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthStatus {
    /// It answers.
    Ok,
    /// Its audit log has stopped: it refuses every operation (and stops
    /// itself within a second).
    AuditStopped,
}

/// The audit log's syncs since the service started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditSyncs {
    /// How many `fdatasync`s.
    pub syncs: u64,
    /// How many records they made durable.
    pub records: u64,
    /// Records per sync.
    pub records_per_sync: f64,
    /// Mean time of one sync, in microseconds.
    pub mean_sync_us: f64,
}

/// The body of `POST /v1/consent` (local socket only). Other fields are
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    /// The session the user consents to.
    pub session: SessionId,
    /// Only show the session they would consent to; change nothing.
    #[serde(default)]
    pub preview: bool,
}

/// The body of `POST /v1/activity` (local socket only). Other fields are
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRequest {
    /// A session the user consented to.
    pub session: SessionId,
}
