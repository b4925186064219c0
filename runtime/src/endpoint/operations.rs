//! The dispatcher: each operation of the contract ([`crate::api::v1`])
//! carried out and answered; what became of an invocation.

use crate::api::v1::{
    Answer, AuditPage, AuditVerification, CatalogCapability, CatalogEntry, CatalogInput, Category,
    EscalationView, InvokeAnswer, Operation,
};
use crate::capability::CapabilityNames;
use crate::decision::Denial;
use crate::escalation::Escalation;
use crate::outcome::Invocation;
use crate::policy::Access;
use crate::session::{EscalationId, InvocationId};

use super::{Authenticated, Endpoint, Refusal};

/// What became of an invocation (on the wire: [`InvokeAnswer`]).
#[derive(Debug, Clone)]
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
        let operation = operation.name();
        self.refused_request(who, Refusal::NotStreamed { operation }, |r| {
            r.details = Some(serde_json::json!({ "operation": operation }));
        })
    }

    /// Carries out an authenticated operation and answers it.
    pub fn execute(&self, who: &Authenticated, operation: Operation) -> Result<Answer, Refusal> {
        Ok(match operation {
            Operation::RequestSession { request } => {
                Answer::Session(self.request_session(who, request)?)
            }
            Operation::ApproveSession {
                session,
                request_digest,
            } => Answer::Session(self.approve_session_as_shown(who, &session, &request_digest)?),
            Operation::CloseSession { session, report } => {
                Answer::Session(self.close_session(who, &session, report)?)
            }
            Operation::Invoke {
                session,
                action,
                input,
            } => Answer::Invoke(InvokeAnswer::from(&self.invoke(
                who,
                &session,
                &action,
                &input.to_string(),
            )?)),
            Operation::ApproveEscalation {
                escalation,
                action_digest,
                input_digest,
            } => Answer::Escalation(EscalationView::at(
                self.approve_escalation_as_shown(who, &escalation, &action_digest, &input_digest)?,
                self.now(),
            )),
            Operation::DenyEscalation { escalation, reason } => Answer::Escalation(
                EscalationView::at(self.deny_escalation(who, &escalation, reason)?, self.now()),
            ),
            Operation::ShowSession { session } => Answer::Session(self.session(who, &session)?),
            Operation::ListSessions { open_only } => {
                Answer::Sessions(self.sessions(who, open_only)?)
            }
            Operation::ShowEscalation { escalation } => Answer::Escalation(EscalationView::at(
                self.escalation(who, &escalation)?,
                self.now(),
            )),
            Operation::ShowInvocation { invocation } => {
                Answer::Invocation(self.invocation(who, &invocation)?)
            }
            Operation::ListInvocations { session } => {
                Answer::Invocations(self.invocations(who, &session)?)
            }
            Operation::FollowInvocation { invocation } => {
                return Err(self.refused_request(who, Refusal::StreamedOnly, |r| {
                    r.invocation = Some(invocation.to_string());
                }));
            }
            Operation::ListEscalations {} => {
                let now = self.now();
                Answer::Escalations(
                    self.pending_escalations(who)?
                        .into_iter()
                        .map(|e| EscalationView::at(e, now))
                        .collect(),
                )
            }
            Operation::ListCatalog {} => Answer::Catalog(self.catalog_listing()),
            Operation::ListCategories {} => Answer::Categories(
                self.policy
                    .described_categories()
                    .map(|(name, description)| Category {
                        name: name.to_string(),
                        description: description.to_string(),
                    })
                    .collect(),
            ),
            Operation::ExportAudit { after, limit } => {
                Answer::AuditPage(self.export_audit(who, after, limit)?)
            }
            Operation::VerifyAudit {} => Answer::AuditVerification(self.verify_audit(who)?),
        })
    }

    /// A page of the audit log after `after`, at most `limit` records (and
    /// at most [`EXPORT_PAGE`]).
    fn export_audit(
        &self,
        who: &Authenticated,
        after: u64,
        limit: Option<usize>,
    ) -> Result<AuditPage, Refusal> {
        self.check_read_audit(who)?;
        let limit = limit.unwrap_or(EXPORT_PAGE).min(EXPORT_PAGE);
        let mut records = Vec::new();
        let mut more = false;
        // Earlier segments and records are skipped without reading them: a
        // page costs its own size, not the log's. Each record is checked as
        // it is read: its hash is its line's, and it follows the one before
        // it (the record `after` included, read for that and not sent).
        let from = after.saturating_sub(1);
        let reading = crate::audit::read::records_after(self.audit.dir(), from).chained(None);
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
        Ok(AuditPage { records, more })
    }

    /// The audit log verified as it is being written.
    fn verify_audit(&self, who: &Authenticated) -> Result<AuditVerification, Refusal> {
        self.check_read_audit(who)?;
        let key = self.audit.checkpoint_key();
        // The log is being written meanwhile: a write in flight at its end
        // is not a torn line.
        let every = self.audit.checkpoint_every();
        Ok(
            match crate::audit::verify_live(self.audit.dir(), key.as_ref(), every) {
                Ok(verified) => AuditVerification::Verified(Box::new(verified)),
                // Where, as `salve audit verify` on the files says it.
                Err(crate::audit::VerifyError::Corrupt(c)) => AuditVerification::Corrupt {
                    file: c.file.display().to_string(),
                    line: c.line,
                    seq: c.seq,
                    error: crate::audit::VerifyError::Corrupt(c).to_string(),
                },
                Err(error) => AuditVerification::Failed {
                    error: error.to_string(),
                },
            },
        )
    }

    /// The installed actions: id, version, digest, and each capability with
    /// its class (as this endpoint's policy classes it) and parameters.
    pub fn catalog_listing(&self) -> Vec<CatalogEntry> {
        self.catalog
            .entries()
            .map(|entry| {
                let manifest = entry.package.manifest();
                let capabilities = manifest
                    .capabilities
                    .here()
                    .names()
                    .iter()
                    .map(|c| CatalogCapability {
                        name: c,
                        // The policy may class more as privileged.
                        class: self.policy.class_of(CapabilityNames::empty().with(c)),
                        parameters: manifest
                            .capabilities
                            .here()
                            .parameters(c)
                            .unwrap_or_default(),
                    })
                    .collect();
                CatalogEntry {
                    id: manifest.id.clone(),
                    version: manifest.version.clone(),
                    description: manifest.description.to_string(),
                    digest: entry.package.digest(),
                    capabilities,
                    input: Some(CatalogInput {
                        description: manifest.input.description.to_string(),
                        example: manifest
                            .input
                            .example
                            .as_ref()
                            .map(|e| e.as_str().to_string()),
                    }),
                }
            })
            .collect()
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
