//! The operations a signed request may ask of an endpoint.

use crate::digest::Sha256Digest;
use crate::manifest::ActionId;
use crate::session::{ClosureReport, EscalationId, InvocationId, SessionId, SessionRequest};
use serde::{Deserialize, Serialize};

/// What a signed request may ask of the endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Operation {
    /// Request a session.
    RequestSession {
        /// What is asked.
        request: SessionRequest,
    },
    /// Approve a session: the one whose request the approver was shown.
    ApproveSession {
        /// Which.
        session: SessionId,
        /// The sha256 of the request the approver was shown
        /// ([`SessionRequest::digest`]): refused (`approval-mismatch`) when
        /// the session holds another.
        request_digest: Sha256Digest,
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
    /// Approve an escalation: the invocation the approver was shown.
    ApproveEscalation {
        /// Which.
        escalation: EscalationId,
        /// The sha256 of the component the approver was shown
        /// (`key.digest`).
        action_digest: Sha256Digest,
        /// The sha256 of the input the approver was shown
        /// (`key.input_digest`): both are refused (`approval-mismatch`) when
        /// the escalation holds another.
        input_digest: Sha256Digest,
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
    ListEscalations {},
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
    ListCatalog {},
    /// List the request categories the policy says justify remote access,
    /// with what each means (for a request form).
    ListCategories {},
    /// Verify the audit log (for auditors).
    VerifyAudit {},
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

impl Operation {
    /// Its name on the wire (`"op"`), e.g. `invoke`.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::RequestSession { .. } => "request-session",
            Operation::ApproveSession { .. } => "approve-session",
            Operation::CloseSession { .. } => "close-session",
            Operation::Invoke { .. } => "invoke",
            Operation::ApproveEscalation { .. } => "approve-escalation",
            Operation::DenyEscalation { .. } => "deny-escalation",
            Operation::ShowSession { .. } => "show-session",
            Operation::ListSessions { .. } => "list-sessions",
            Operation::ShowEscalation { .. } => "show-escalation",
            Operation::ListEscalations {} => "list-escalations",
            Operation::ShowInvocation { .. } => "show-invocation",
            Operation::ListInvocations { .. } => "list-invocations",
            Operation::FollowInvocation { .. } => "follow-invocation",
            Operation::ListCatalog {} => "list-catalog",
            Operation::ListCategories {} => "list-categories",
            Operation::VerifyAudit {} => "verify-audit",
            Operation::ExportAudit { .. } => "export-audit",
        }
    }
}
