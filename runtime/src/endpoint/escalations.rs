//! Escalations: the second approval a privileged invocation waits for,
//! approved or denied by a distinct approver; expiry.

use crate::api::v1::{EscalationView, QueuedEscalation};
use crate::audit::{Kind, Record};
use crate::digest::Sha256Digest;
use crate::escalation::{Escalation, EscalationRefusal};
use crate::policy::Policy;
use crate::session::{EscalationId, Session, SessionRefusal, UnixMillis};
use crate::store::Tx;
use std::sync::PoisonError;

use super::{Authenticated, Endpoint, Refusal, events, load_session};

impl Endpoint {
    /// Approves an escalation if it holds the component and input whose
    /// digests the approver was shown; else refuses it (`approval-mismatch`,
    /// logged).
    pub fn approve_escalation_as_shown(
        &self,
        who: &Authenticated,
        id: &EscalationId,
        action: &Sha256Digest,
        input: &Sha256Digest,
    ) -> Result<Escalation, Refusal> {
        self.approve_checked(who, id, |escalation| {
            let differs = |what: &str, shown: &Sha256Digest, held: &Sha256Digest| {
                EscalationRefusal::ApprovalMismatch {
                    id: escalation.id.clone(),
                    what: format!(
                        "the {what} shown (sha256 {shown}) is not the one held (sha256 {held})"
                    ),
                }
            };
            if escalation.key.digest != *action {
                return Err(differs("component", action, &escalation.key.digest));
            }
            if escalation.key.input_digest != *input {
                return Err(differs("input", input, &escalation.key.input_digest));
            }
            Ok(())
        })
    }

    /// Approves an escalation (an embedder holding the record it approves;
    /// over the contract, [`Endpoint::approve_escalation_as_shown`]).
    pub fn approve_escalation(
        &self,
        who: &Authenticated,
        id: &EscalationId,
    ) -> Result<Escalation, Refusal> {
        self.approve_checked(who, id, |_| Ok(()))
    }

    /// Approves an escalation once `check` accepts it as it is stored.
    fn approve_checked(
        &self,
        who: &Authenticated,
        id: &EscalationId,
        check: impl FnOnce(&Escalation) -> Result<(), EscalationRefusal>,
    ) -> Result<Escalation, Refusal> {
        self.change_escalation(who, id, |escalation, session, policy, now| {
            check(escalation)?;
            escalation.approve(&who.principal, session, policy, now)?;
            Ok(events::escalation_decided(
                Kind::EscalationApproved,
                session,
                escalation,
                Some(&who.principal),
                None,
            ))
        })
    }

    /// Denies an escalation.
    pub fn deny_escalation(
        &self,
        who: &Authenticated,
        id: &EscalationId,
        reason: String,
    ) -> Result<Escalation, Refusal> {
        if let Err(unreadable) = crate::text::check_readable("the reason", &reason, 2000) {
            let refusal = Refusal::Session(SessionRefusal::Invalid(unreadable));
            return Err(
                self.refused_change(Some(&who.principal), who.source(), refusal, |r| {
                    r.escalation = Some(id.to_string())
                }),
            );
        }
        self.change_escalation(who, id, |escalation, session, policy, now| {
            escalation.deny(&who.principal, reason.clone(), session, policy, now)?;
            Ok(events::escalation_decided(
                Kind::EscalationDenied,
                session,
                escalation,
                Some(&who.principal),
                Some(reason),
            ))
        })
    }

    pub(super) fn change_escalation(
        &self,
        who: &Authenticated,
        id: &EscalationId,
        change: impl FnOnce(
            &mut Escalation,
            &Session,
            &Policy,
            UnixMillis,
        ) -> Result<Record, EscalationRefusal>,
    ) -> Result<Escalation, Refusal> {
        // The session may be found expired or idle, and closed, on the way:
        // see `change_session_as`.
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        type Changed = Result<Escalation, (EscalationRefusal, Session)>;
        let written = self.store.write(|tx| -> Result<Changed, Refusal> {
            let mut escalation = tx.escalation(id)?.ok_or_else(|| Refusal::NotFound {
                what: "escalation",
                id: id.to_string(),
            })?;
            let mut session = load_session(tx, &escalation.key.session)?;
            if self.refresh(&mut session, now).is_some() {
                self.persist(tx, &session, now, true, Vec::new(), who.source())?;
                escalation = tx.escalation(id)?.unwrap_or(escalation);
            }
            match change(&mut escalation, &session, &self.policy, now) {
                Ok(record) => {
                    tx.put_escalation(&escalation)?;
                    self.log(who.source(), vec![record])?;
                    Ok(Ok(escalation))
                }
                Err(refusal) => Ok(Err((refusal, session))),
            }
        });
        let outcome = match written {
            Ok(outcome) => outcome,
            Err(refusal @ Refusal::NotFound { .. }) => {
                return Err(self.refused_change(
                    Some(&who.principal),
                    who.source(),
                    refusal,
                    |r| {
                        r.escalation = Some(id.to_string());
                    },
                ));
            }
            Err(refusal) => return Err(refusal),
        };
        outcome.map_err(|(refusal, session)| {
            let refusal = Refusal::from(refusal);
            let mut record = events::refused(
                Kind::ChangeRefused,
                Some(&who.principal),
                refusal.code(),
                refusal.to_string(),
            );
            record.session = Some(session.id.to_string());
            record.escalation = Some(id.to_string());
            self.refused(who.source(), record, refusal)
        })
    }

    /// An escalation, for those who may see its session.
    pub fn escalation(
        &self,
        who: &Authenticated,
        id: &EscalationId,
    ) -> Result<Escalation, Refusal> {
        self.store
            .read(|tx| {
                let escalation = tx.escalation(id)?.ok_or_else(|| Refusal::NotFound {
                    what: "escalation",
                    id: id.to_string(),
                })?;
                let session = load_session(tx, &escalation.key.session)?;
                Ok::<_, Refusal>((escalation, session))
            })
            .and_then(|(escalation, session)| {
                self.check_may_view(who, &session)?;
                Ok(escalation)
            })
            .map_err(|refusal| {
                self.refused_request(who, refusal, |r| {
                    r.escalation = Some(id.to_string());
                })
            })
    }

    /// The pending escalations `who` may see (not those expired unapproved).
    pub fn pending_escalations(&self, who: &Authenticated) -> Result<Vec<Escalation>, Refusal> {
        let now = self.now();
        let pending = self.store.read(|tx| {
            let pending = tx.pending_escalations()?;
            pending
                .into_iter()
                .map(|e| Ok((load_session(tx, &e.key.session)?, e)))
                .collect::<Result<Vec<_>, Refusal>>()
        })?;
        Ok(pending
            .into_iter()
            .filter(|(session, e)| e.is_open(now) && self.check_may_view(who, session).is_ok())
            .map(|(_, e)| e)
            .collect())
    }

    /// What waits for an approver on this endpoint, for the fleet's approval
    /// queue: the sessions requested and not yet approved, and the
    /// escalations open now (each with its session's ticket). Not filtered
    /// by a caller: the endpoint publishes its own queue to the fleet, whose
    /// approvers each still need the policy's word to approve.
    pub fn awaiting_approval(&self) -> Result<(Vec<Session>, Vec<QueuedEscalation>), Refusal> {
        let now = self.now();
        let (sessions, escalations) = self.store.read(|tx| {
            let sessions = tx.sessions(true)?;
            let mut escalations = Vec::new();
            for escalation in tx.pending_escalations()? {
                if !escalation.is_open(now) {
                    continue;
                }
                let Some(session) = tx.session(&escalation.key.session)? else {
                    continue;
                };
                escalations.push(QueuedEscalation {
                    escalation: EscalationView::at(escalation, now),
                    ticket: session.request.ticket,
                });
            }
            Ok::<_, Refusal>((sessions, escalations))
        })?;
        let sessions = sessions
            .into_iter()
            .filter(|s| s.state == crate::session::SessionState::Requested && now < s.expires_ms)
            .collect();
        Ok((sessions, escalations))
    }

    /// Logs, once each, the escalations that expired: unapproved past their
    /// deadline, or approved and not used before the approval expired.
    pub(super) fn log_expired_escalations(
        &self,
        tx: &Tx<'_>,
        now: UnixMillis,
    ) -> Result<(), Refusal> {
        let expired = tx.expired_escalations(now)?;
        let mut records = Vec::with_capacity(expired.len());
        for escalation in &expired {
            let session = load_session(tx, &escalation.key.session)?;
            let reason = match &escalation.approval {
                Some(approval) => format!(
                    "approved by {} but not used before the approval expired; invoking again raises a new escalation",
                    approval.by
                ),
                None => {
                    "nobody approved it in time; invoking again raises a new escalation".to_string()
                }
            };
            records.push(events::escalation_decided(
                Kind::EscalationExpired,
                &session,
                escalation,
                None,
                Some(reason),
            ));
            tx.expiry_logged(&escalation.id, now)?;
        }
        self.log(None, records)?;
        Ok(())
    }
}
