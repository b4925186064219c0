//! What an invocation came to.

use crate::capability::Capability;
use crate::digest::Sha256Digest;
use crate::limits::Limits;
#[cfg(feature = "endpoint")]
use crate::session::{EscalationId, InvocationId, SessionId, UnixMillis};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::time::Duration;

/// One finished invocation: how it ended, and everything it left behind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invocation {
    /// `id@version` of the action.
    pub action: String,
    /// The component's sha256.
    pub digest: Sha256Digest,
    /// How it ended.
    pub outcome: Outcome,
    /// From instantiation to the end of `run` (serialized in microseconds).
    #[serde(rename = "duration_us", with = "micros")]
    pub duration: Duration,
    /// The limits it ran under.
    pub limits: Limits,
    /// What it logged.
    pub logs: Vec<LogEntry>,
    /// What it wrote to stdout (lossy UTF-8).
    pub stdout: String,
    /// What it wrote to stderr (lossy UTF-8).
    pub stderr: String,
    /// Host calls refused for lying outside the grant.
    pub denied_calls: Vec<DeniedCall>,
}

/// One message from the action's `log` capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Milliseconds since the invocation started.
    pub at_ms: u64,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The message.
    pub message: String,
}

/// A host call refused because it lies outside the grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeniedCall {
    /// The capability the call belongs to.
    pub capability: Capability,
    /// The function, e.g. `read`.
    pub function: String,
    /// What the call named (a path, a service, a program, a host).
    pub target: String,
    /// Why it was refused. On the last call kept when more were refused, it
    /// also says how many more were not kept.
    pub reason: String,
    /// On the last call kept (the `host::MAX_DENIED_CALLS`th): how many calls
    /// were refused after it and only counted. 0 otherwise.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more_not_kept: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How an invocation ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// `run` returned output.
    Succeeded {
        /// The output, a JSON document.
        output: Box<RawValue>,
    },
    /// `run` returned an action error.
    Failed {
        /// The action's error code.
        code: String,
        /// The action's message.
        message: String,
    },
    /// The sandbox ended the invocation.
    Stopped {
        /// Why.
        reason: StopReason,
        /// A sentence that says what happened.
        message: String,
    },
}

impl<'de> Deserialize<'de> for Outcome {
    /// Read back as it is written (`{"status": "succeeded", "output": …}`),
    /// through a plain struct: serde's tagged enums buffer their content,
    /// which a raw JSON `output` cannot go through.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            status: String,
            output: Option<Box<RawValue>>,
            code: Option<String>,
            message: Option<String>,
            reason: Option<StopReason>,
        }
        let wire = Wire::deserialize(deserializer)?;
        let missing = |field: &'static str| D::Error::missing_field(field);
        Ok(match wire.status.as_str() {
            "succeeded" => Outcome::Succeeded {
                output: wire.output.ok_or_else(|| missing("output"))?,
            },
            "failed" => Outcome::Failed {
                code: wire.code.ok_or_else(|| missing("code"))?,
                message: wire.message.ok_or_else(|| missing("message"))?,
            },
            "stopped" => Outcome::Stopped {
                reason: wire.reason.ok_or_else(|| missing("reason"))?,
                message: wire.message.ok_or_else(|| missing("message"))?,
            },
            other => {
                return Err(D::Error::unknown_variant(
                    other,
                    &["succeeded", "failed", "stopped"],
                ));
            }
        })
    }
}

/// Why the sandbox ended an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// It ran past its wall-clock deadline.
    DeadlineExceeded,
    /// It tried to grow its memory past the limit.
    MemoryLimitExceeded,
    /// It wrote or returned more than the output limit.
    OutputLimitExceeded,
    /// It exhausted the WebAssembly stack (e.g. unbounded recursion).
    StackOverflow,
    /// It panicked.
    Panicked,
    /// It called `exit`.
    Exited,
    /// It returned output that is not JSON.
    InvalidOutput,
    /// Another trap (e.g. an out-of-bounds memory access).
    Trapped,
    /// It was cancelled from outside: its session closed, or the service
    /// stopped.
    Cancelled,
}

impl StopReason {
    /// The stable kebab-case code.
    pub fn code(self) -> &'static str {
        match self {
            StopReason::DeadlineExceeded => "deadline-exceeded",
            StopReason::MemoryLimitExceeded => "memory-limit-exceeded",
            StopReason::OutputLimitExceeded => "output-limit-exceeded",
            StopReason::StackOverflow => "stack-overflow",
            StopReason::Panicked => "panicked",
            StopReason::Exited => "exited",
            StopReason::InvalidOutput => "invalid-output",
            StopReason::Trapped => "trapped",
            StopReason::Cancelled => "cancelled",
        }
    }
}

impl Outcome {
    /// The stable kebab-case code of the outcome: `succeeded`, `failed`, or
    /// the [`StopReason`] code.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Succeeded { .. } => "succeeded",
            Outcome::Failed { .. } => "failed",
            Outcome::Stopped { reason, .. } => reason.code(),
        }
    }

    /// Whether the action succeeded.
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Succeeded { .. })
    }

    /// The output, when the action succeeded.
    pub fn output(&self) -> Option<&RawValue> {
        match self {
            Outcome::Succeeded { output } => Some(output),
            _ => None,
        }
    }
}

mod micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_micros)
    }
}

/// What is known of one invocation: who ran what, when, and — once it has
/// ended — how it ended.
#[cfg(feature = "endpoint")]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvocationRecord {
    /// Its id (the `invocation` of its audit records).
    pub id: InvocationId,
    /// The session it ran in.
    pub session: SessionId,
    /// Who invoked it.
    pub principal: String,
    /// `id@version` of the action.
    pub action: String,
    /// The sha256 of its input.
    pub input_digest: String,
    /// The escalation whose approval it used, for a privileged action.
    pub approval: Option<EscalationId>,
    /// When it started.
    pub started_ms: UnixMillis,
    /// When it ended; `None` while it runs.
    pub finished_ms: Option<UnixMillis>,
    /// `running`, `finished`, `not-run` (the runtime refused it after it
    /// was logged as started), or `interrupted` (the endpoint crashed while
    /// it ran).
    pub status: InvocationStatus,
    /// What it did, once finished.
    pub invocation: Option<Invocation>,
    /// Why it did not run (`not-run`), did not finish (`interrupted`), or
    /// why what it did was not kept.
    pub reason: Option<String>,
}

/// Where an invocation is.
#[cfg(feature = "endpoint")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvocationStatus {
    /// It is running now.
    Running,
    /// It ran; its outcome says how it ended.
    Finished,
    /// The runtime refused it after it was logged as started.
    NotRun,
    /// The endpoint stopped (crashed) while it ran: how it ended is not
    /// known. Found and logged when the endpoint starts again.
    Interrupted,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_back_as_written() {
        let outcomes = [
            Outcome::Succeeded {
                output: RawValue::from_string(r#"{"a": [1, 2]}"#.to_string()).unwrap(),
            },
            Outcome::Failed {
                code: "not-found".into(),
                message: "no such unit".into(),
            },
            Outcome::Stopped {
                reason: StopReason::Cancelled,
                message: "the invocation was cancelled: its session closed".into(),
            },
        ];
        for outcome in outcomes {
            let text = serde_json::to_string(&outcome).unwrap();
            let back: Outcome = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), text);
        }
        assert!(serde_json::from_str::<Outcome>(r#"{"status": "won"}"#).is_err());
        assert!(serde_json::from_str::<Outcome>(r#"{"status": "succeeded"}"#).is_err());
    }
}
