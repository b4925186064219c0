//! The audit records the endpoint writes: one function per kind of event, so
//! that every record of a kind carries the same fields.

use crate::audit::{Kind, Record};
use crate::decision::Denial;
use crate::escalation::Escalation;
use crate::host::DeniedCall;
use crate::identity::PrincipalId;
use crate::outcome::{Invocation, Outcome};
use crate::session::{ClosedBy, Session};
use serde_json::json;

/// Most bytes of an action's error message kept in its `invocation.finished`
/// record.
const MAX_ERROR_BYTES: usize = 4096;

/// A record about `session`, with its id, ticket and endpoint.
fn about(kind: Kind, session: &Session) -> Record {
    let mut record = Record::event(kind);
    record.session = Some(session.id.to_string());
    record.ticket = Some(session.request.ticket.to_string());
    record.endpoint = Some(session.request.endpoint.clone());
    record
}

/// `session.requested`: the requester, the technician and the whole request.
pub fn session_requested(session: &Session) -> Record {
    let mut record = about(Kind::SessionRequested, session);
    record.principal = Some(session.requester.to_string());
    record.other = Some(session.request.technician.to_string());
    let request = &session.request;
    record.details = Some(json!({
        "problem": request.problem,
        "category": request.category,
        "scope": request.scope,
        "attended": request.attended,
        "idle_minutes": request.idle_minutes,
        "duration_minutes": request.duration_minutes,
        "expires": crate::audit::log::timestamp(millis(session.expires_ms)),
    }));
    record
}

/// `session.approved`.
pub fn session_approved(session: &Session, approver: &PrincipalId) -> Record {
    let mut record = about(Kind::SessionApproved, session);
    record.principal = Some(approver.to_string());
    record.other = Some(session.requester.to_string());
    record
}

/// `session.consented`, with the user as the operating system names them.
pub fn session_consented(session: &Session) -> Record {
    let mut record = about(Kind::SessionConsented, session);
    if let Some((user, _)) = &session.consent {
        record.details = Some(json!({ "uid": user.uid, "user": user.name }));
    }
    record
}

/// `session.closed` (by hand, idle timeout or expiry), with the write-up.
pub fn session_closed(session: &Session) -> Record {
    let mut record = about(Kind::SessionClosed, session);
    if let Some(closure) = &session.closure {
        let how = match &closure.by {
            ClosedBy::Principal { id } => {
                record.principal = Some(id.to_string());
                "principal"
            }
            ClosedBy::IdleTimeout => "idle-timeout",
            ClosedBy::Expiry => "expiry",
        };
        record.details = Some(json!({
            "how": how,
            "resolved": closure.report.resolved,
            "summary": closure.report.summary,
            "follow_up": closure.report.follow_up,
        }));
    }
    record
}

/// `session.reported`: the write-up of a session that closed by itself.
pub fn session_reported(session: &Session, by: &PrincipalId) -> Record {
    let mut record = about(Kind::SessionReported, session);
    record.principal = Some(by.to_string());
    if let Some(closure) = &session.closure {
        record.details = Some(json!({
            "resolved": closure.report.resolved,
            "summary": closure.report.summary,
            "follow_up": closure.report.follow_up,
        }));
    }
    record
}

/// A refused request, session request or change, with its reason.
pub fn refused(kind: Kind, principal: Option<&PrincipalId>, code: &str, reason: String) -> Record {
    let mut record = Record::event(kind);
    record.principal = principal.map(ToString::to_string);
    record.decision = Some("refused".to_string());
    record.reason_code = Some(code.to_string());
    record.reason = Some(refusal_reason(reason));
    record
}

/// Most bytes of a refusal's reason kept in its record.
pub const MAX_REFUSAL_BYTES: usize = 1024;

/// A refusal's reason as it is logged: cut to [`MAX_REFUSAL_BYTES`]. The
/// reason may quote what the client sent (a principal's name, a parser's
/// complaint), and a refusal is logged before anyone is authenticated: no
/// client may make its records as long as its requests.
pub fn refusal_reason(reason: String) -> String {
    match crate::text::clipped(&reason, MAX_REFUSAL_BYTES) {
        std::borrow::Cow::Borrowed(_) => reason,
        std::borrow::Cow::Owned(clipped) => clipped,
    }
}

/// What every record about one invocation carries.
pub struct InvocationFacts<'a> {
    /// The session.
    pub session: &'a Session,
    /// Who invoked.
    pub principal: &'a PrincipalId,
    /// The action.
    pub action: &'a str,
    /// Its version.
    pub version: String,
    /// Its component's sha256.
    pub digest: String,
    /// The input's sha256.
    pub input_digest: String,
    /// The raw input, when the manifest allows recording it.
    pub raw_input: Option<serde_json::Value>,
    /// Where the request came from.
    pub source: Option<&'a str>,
}

impl InvocationFacts<'_> {
    fn record(&self, kind: Kind, decision: &str) -> Record {
        let mut record = about(kind, self.session);
        record.principal = Some(self.principal.to_string());
        record.source = self.source.map(str::to_string);
        record.action = Some(self.action.to_string());
        record.version = Some(self.version.clone());
        record.digest = Some(self.digest.clone());
        record.input_digest = Some(self.input_digest.clone());
        record.decision = Some(decision.to_string());
        record
    }

    /// `invocation.denied`, with the denial's code and reason.
    pub fn denied(&self, denial: &Denial) -> Record {
        let mut record = self.record(Kind::InvocationDenied, "denied");
        record.reason_code = Some(denial.code().to_string());
        record.reason = Some(denial.to_string());
        record
    }

    /// `invocation.escalated`.
    pub fn escalated(&self, escalation: &Escalation, note: Option<&str>) -> Record {
        let mut record = self.record(Kind::InvocationEscalated, "escalated");
        record.escalation = Some(escalation.id.to_string());
        record.reason = Some(match note {
            Some(note) => format!("needs a second approval; {note}"),
            None => "needs a second approval".to_string(),
        });
        record
    }

    /// `invocation.started`, written before the action runs.
    pub fn started(&self, invocation: &str, approval: Option<&str>) -> Record {
        let mut record = self.record(Kind::InvocationStarted, "allowed");
        record.invocation = Some(invocation.to_string());
        record.escalation = approval.map(str::to_string);
        if let Some(input) = &self.raw_input {
            record.details = Some(json!({ "input": input }));
        }
        record
    }

    /// `invocation.finished`, then one `host-call.denied` per refused host
    /// call.
    pub fn finished(&self, invocation_id: &str, invocation: &Invocation) -> Vec<Record> {
        let mut finished = self.record(Kind::InvocationFinished, "allowed");
        finished.invocation = Some(invocation_id.to_string());
        finished.outcome = Some(invocation.outcome.code().to_string());
        finished.duration_us =
            Some(u64::try_from(invocation.duration.as_micros()).unwrap_or(u64::MAX));
        match &invocation.outcome {
            Outcome::Succeeded { output } => {
                finished.output_digest =
                    Some(crate::digest::Sha256Digest::of(output.get().as_bytes()).to_string());
            }
            // The action wrote its error: the log keeps its start (the
            // technician gets it whole).
            Outcome::Failed { code, message } => {
                finished.reason = Some(
                    crate::text::clipped(&format!("{code}: {message}"), MAX_ERROR_BYTES)
                        .into_owned(),
                );
            }
            Outcome::Stopped { message, .. } => finished.reason = Some(message.clone()),
        }
        let mut records = vec![finished];
        records.extend(
            invocation
                .denied_calls
                .iter()
                .map(|call| self.host_call_denied(invocation_id, call)),
        );
        records
    }

    /// `invocation.finished` with outcome `runtime-failed`: it ran, and the
    /// runtime failed under it — what it did is not known.
    pub fn runtime_failed(&self, invocation: &str, reason: &str) -> Record {
        let mut record = self.record(Kind::InvocationFinished, "allowed");
        record.invocation = Some(invocation.to_string());
        record.outcome = Some("runtime-failed".to_string());
        record.reason = Some(reason.to_string());
        record
    }

    /// `invocation.finished` with outcome `not-run`: logged as started, the
    /// runtime then refused to run it.
    pub fn not_run(&self, invocation: &str, reason: &str) -> Record {
        let mut record = self.record(Kind::InvocationFinished, "allowed");
        record.invocation = Some(invocation.to_string());
        record.outcome = Some("not-run".to_string());
        record.reason = Some(reason.to_string());
        record
    }

    fn host_call_denied(&self, invocation: &str, call: &DeniedCall) -> Record {
        let mut record = self.record(Kind::HostCallDenied, "denied");
        record.invocation = Some(invocation.to_string());
        record.reason = Some(call.reason.clone());
        let mut details = json!({
            "capability": call.capability.name(),
            "function": call.function,
            "target": call.target,
        });
        if call.more_not_kept > 0 {
            details["more_not_kept"] = json!(call.more_not_kept);
        }
        record.details = Some(details);
        record
    }
}

/// `escalation.approved`, `escalation.denied` or `escalation.voided`.
pub fn escalation_decided(
    kind: Kind,
    session: &Session,
    escalation: &Escalation,
    by: Option<&PrincipalId>,
    reason: Option<String>,
) -> Record {
    let mut record = about(kind, session);
    record.principal = by.map(ToString::to_string);
    record.other = Some(escalation.invoker.to_string());
    record.escalation = Some(escalation.id.to_string());
    record.action = Some(escalation.key.action.to_string());
    record.version = Some(escalation.key.version.to_string());
    record.digest = Some(escalation.key.digest.to_string());
    record.input_digest = Some(escalation.key.input_digest.to_string());
    record.reason = reason;
    record
}

fn millis(ms: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
