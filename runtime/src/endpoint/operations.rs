//! The operations a signed request may ask for, what an invocation answers,
//! and the dispatcher that answers each operation.

use crate::capability::CapabilityNames;
use crate::decision::Denial;
use crate::escalation::Escalation;
use crate::manifest::ActionId;
use crate::outcome::Invocation;
use crate::policy::Access;
use crate::session::{
    ClosureReport, EscalationId, InvocationId, SessionId, SessionRequest, UnixMillis,
};
use serde::{Deserialize, Serialize};

use super::{Authenticated, Endpoint, Refusal};

/// What became of an invocation.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum InvokeOutcome {
    /// It was allowed and ran; how it ended is in the invocation.
    Ran {
        /// Its id: the `invocation` of its audit records, for
        /// [`Endpoint::invocation`].
        id: InvocationId,
        /// The approval it used, for a privileged action.
        approval: Option<EscalationId>,
        /// What it did.
        invocation: Invocation,
    },
    /// It was denied; nothing ran.
    Denied {
        /// Why.
        denial: Denial,
    },
    /// It waits for a second approval; nothing ran.
    Escalated {
        /// The pending escalation.
        escalation: Escalation,
        /// Why an earlier approval does not apply, if one exists.
        note: Option<String>,
    },
}

/// What a signed request may ask of the endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Operation {
    /// Request a session.
    RequestSession {
        /// What is asked.
        request: SessionRequest,
    },
    /// Approve a session.
    ApproveSession {
        /// Which.
        session: SessionId,
    },
    /// Close a session with its write-up.
    CloseSession {
        /// Which.
        session: SessionId,
        /// What was done.
        #[serde(default)]
        report: ClosureReport,
    },
    /// Invoke an action in a session.
    Invoke {
        /// Which session.
        session: SessionId,
        /// Which action (its version is the newest the scope allows).
        action: ActionId,
        /// The input, a JSON document.
        input: serde_json::Value,
    },
    /// Approve an escalation.
    ApproveEscalation {
        /// Which.
        escalation: EscalationId,
    },
    /// Deny an escalation.
    DenyEscalation {
        /// Which.
        escalation: EscalationId,
        /// Why.
        reason: String,
    },
    /// Show a session (to its requester, technician, approvers, auditors).
    ShowSession {
        /// Which.
        session: SessionId,
    },
    /// List the sessions the caller may see.
    ListSessions {
        /// Only those not closed.
        #[serde(default)]
        open_only: bool,
    },
    /// Show an escalation with the exact action and input it holds.
    ShowEscalation {
        /// Which.
        escalation: EscalationId,
    },
    /// List the pending escalations (for approvers).
    ListEscalations,
    /// Show an invocation, running or finished, with what it did (so far).
    ShowInvocation {
        /// Which.
        invocation: InvocationId,
    },
    /// List a session's invocations (without their output).
    ListInvocations {
        /// Which session.
        session: SessionId,
    },
    /// Follow an invocation's output as it is written (a streaming
    /// operation: the service answers it on `/v1/stream`).
    FollowInvocation {
        /// Which.
        invocation: InvocationId,
    },
    /// List the installed actions with their capabilities.
    ListCatalog,
    /// Verify the audit log (for auditors).
    VerifyAudit,
    /// Read the audit log's records after `after` (a sequence number), at
    /// most `limit` (and at most 5000) at a time (for auditors).
    ExportAudit {
        /// The last sequence number already read; 0 for the start.
        #[serde(default)]
        after: u64,
        /// How many records at most.
        #[serde(default)]
        limit: Option<usize>,
    },
}

/// How long what a finished invocation did is kept for `show` (the audit
/// log keeps its record for good).
pub(super) const INVOCATION_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

/// Most audit records one export answer carries.
pub(super) const EXPORT_PAGE: usize = 5000;

impl Endpoint {
    /// Logs that `operation`, authenticated, was sent to the streaming
    /// route, which answers only `invoke` and `follow-invocation`; returns
    /// the refusal to answer with.
    pub fn not_streamed(&self, who: &Authenticated, operation: &Operation) -> Refusal {
        let refusal = Refusal::WrongRoute {
            code: "not-streamed",
            message: "only `invoke` and `follow-invocation` are streamed: send other operations to /v1/requests",
        };
        let name = serde_json::to_value(operation)
            .ok()
            .and_then(|v| v.get("op").and_then(|op| op.as_str().map(str::to_string)));
        self.refused_request(who, refusal, |r| {
            r.details = name.map(|op| serde_json::json!({ "operation": op }));
        })
    }

    /// Carries out an authenticated operation and answers in JSON.
    pub fn execute(
        &self,
        who: &Authenticated,
        operation: Operation,
    ) -> Result<serde_json::Value, Refusal> {
        Ok(match operation {
            Operation::RequestSession { request } => json(&self.request_session(who, request)?),
            Operation::ApproveSession { session } => json(&self.approve_session(who, &session)?),
            Operation::CloseSession { session, report } => {
                json(&self.close_session(who, &session, report)?)
            }
            Operation::Invoke {
                session,
                action,
                input,
            } => {
                Endpoint::invoke_answer(&self.invoke(who, &session, &action, &input.to_string())?)
            }
            Operation::ApproveEscalation { escalation } => {
                escalation_answer(&self.approve_escalation(who, &escalation)?, self.now())
            }
            Operation::DenyEscalation { escalation, reason } => {
                escalation_answer(&self.deny_escalation(who, &escalation, reason)?, self.now())
            }
            Operation::ShowSession { session } => json(&self.session(who, &session)?),
            Operation::ListSessions { open_only } => json(&self.sessions(who, open_only)?),
            Operation::ShowEscalation { escalation } => {
                escalation_answer(&self.escalation(who, &escalation)?, self.now())
            }
            Operation::ShowInvocation { invocation } => json(&self.invocation(who, &invocation)?),
            Operation::ListInvocations { session } => json(&self.invocations(who, &session)?),
            Operation::FollowInvocation { invocation } => {
                let refusal = Refusal::WrongRoute {
                    code: "streamed-only",
                    message: "follow-invocation streams its answer: send it to /v1/stream",
                };
                return Err(self.refused_request(who, refusal, |r| {
                    r.invocation = Some(invocation.to_string());
                }));
            }
            Operation::ListEscalations => {
                let now = self.now();
                serde_json::Value::Array(
                    self.pending_escalations(who)?
                        .iter()
                        .map(|e| escalation_answer(e, now))
                        .collect(),
                )
            }
            Operation::ListCatalog => json(&self.catalog_listing()),
            Operation::ExportAudit { after, limit } => {
                self.check_read_audit(who)?;
                let limit = limit.unwrap_or(EXPORT_PAGE).min(EXPORT_PAGE);
                let mut records = Vec::new();
                let mut more = false;
                // Earlier segments and records are skipped without reading
                // them: a page costs its own size, not the log's. Each
                // record is checked as it is read: its hash is its line's,
                // and it follows the one before it (the record `after`
                // included, read for that and not sent).
                let from = after.saturating_sub(1);
                let reading =
                    crate::audit::read::records_after(self.audit.dir(), from).chained(None);
                for record in reading {
                    let record = record.map_err(|e| Refusal::AuditCorrupt(e.to_string()))?;
                    if record.seq <= after {
                        continue;
                    }
                    if records.len() == limit {
                        more = true;
                        break;
                    }
                    records.push(record);
                }
                serde_json::json!({ "records": records, "more": more })
            }
            Operation::VerifyAudit => {
                self.check_read_audit(who)?;
                let key = self.audit.checkpoint_key();
                // The log is being written meanwhile: a write in flight at
                // its end is not a torn line.
                let every = self.audit.checkpoint_every();
                match crate::audit::verify_live(self.audit.dir(), key.as_ref(), every) {
                    Ok(verified) => serde_json::json!({ "ok": true, "verified": verified }),
                    // Where, as `salve audit verify` on the files says it.
                    Err(crate::audit::VerifyError::Corrupt(c)) => serde_json::json!({
                        "ok": false,
                        "file": c.file.display().to_string(),
                        "line": c.line,
                        "seq": c.seq,
                        "error": crate::audit::VerifyError::Corrupt(c).to_string(),
                    }),
                    Err(error) => serde_json::json!({ "ok": false, "error": error.to_string() }),
                }
            }
        })
    }

    /// The answer to an invocation, in JSON: the outcome, and for a denial
    /// its reason in words beside its structured form.
    pub fn invoke_answer(outcome: &InvokeOutcome) -> serde_json::Value {
        let mut answer = json(outcome);
        if let InvokeOutcome::Denied { denial } = outcome {
            answer["reason"] = serde_json::Value::String(denial.to_string());
        }
        answer
    }

    /// The installed actions: id, version, digest, and each capability with
    /// its class and parameters.
    pub fn catalog_listing(&self) -> serde_json::Value {
        let entries: Vec<serde_json::Value> = self
            .catalog
            .entries()
            .map(|entry| {
                let manifest = entry.package.manifest();
                let capabilities: Vec<serde_json::Value> = manifest
                    .capabilities
                    .names()
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "name": c.name(),
                            // As this endpoint's policy classes it: the
                            // policy may class more as privileged.
                            "class": self.policy.class_of(CapabilityNames::empty().with(c)).to_string(),
                            "parameters": manifest.capabilities.parameters(c).unwrap_or_default(),
                        })
                    })
                    .collect();
                serde_json::json!({
                    "id": manifest.id.as_str(),
                    "version": manifest.version.to_string(),
                    "description": manifest.description.to_string(),
                    "digest": entry.package.digest().to_string(),
                    "capabilities": capabilities,
                })
            })
            .collect();
        serde_json::Value::Array(entries)
    }

    /// Whether `who` may read the audit log; a refusal is logged.
    pub fn check_read_audit(&self, who: &Authenticated) -> Result<(), Refusal> {
        self.policy
            .authorize(&who.principal, &Access::ReadAudit { endpoint: &self.id })
            .map_err(|refusal| {
                self.refused_request(who, refusal.into(), |r| {
                    r.endpoint = Some(self.id.clone());
                })
            })
    }
}

/// A value as JSON. The types answered have string keys only, which always
/// serialize.
pub(super) fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

/// An escalation in JSON, with its status now (`pending`, `approved`,
/// `used`, `expired`, `denied`, `voided`).
pub(super) fn escalation_answer(escalation: &Escalation, now: UnixMillis) -> serde_json::Value {
    let mut answer = json(escalation);
    answer["status"] = serde_json::Value::String(escalation.status(now).to_string());
    answer
}
